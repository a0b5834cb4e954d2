/**
 * What trigger mode's premise (every change of the user's rows passes fw-shard's triggers) needs of
 * the source server, checked before a move picks the mode (issue 21). A source that applies a
 * replication stream (the other half of a master-master pair) writes the rows of row-based events
 * through the storage engine, which fires no trigger: `--capture auto` picks re-hash mode and says why,
 * `--capture trigger` is refused with a hint that works.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { raw, sql } from '../../src/db/sql/fragment.js';
import { abortMove, runMove } from '../../src/move/engine.js';
import type { MoveRequest } from '../../src/move/types.js';
import type { ShardId, UserId } from '../../src/topology/index.js';
import { makeDeps } from '../../src/app/deps.js';
import { createMainSchema, expectCode, onBothShards, resetShards, startMoveEnv, type MoveEnv } from '../helpers/move-env.js';

const req = (over: Partial<MoveRequest> = {}): MoveRequest => ({
  userId: '42' as UserId,
  to: 2 as ShardId,
  dryRun: true,
  assumeNoWrites: false,
  chunkTimeMs: 500,
  concurrency: 2,
  cleanup: 'keep',
  capture: 'auto',
  online: { freezeCapMs: 3000, drainMs: 0, maxDeltaPasses: 10, freezeAttempts: 3, readyRows: 200 },
  ...over,
});

describe('trigger mode needs a source whose every write fires the triggers', () => {
  let env: MoveEnv;
  beforeAll(async () => {
    env = await startMoveEnv({ name: 'premise', serverArgs: ['--log-bin=fws-bin', '--binlog-format=ROW'] });
    await createMainSchema(env, [{ id: '42', shard: 1 }]);
    await onBothShards(env, [
      'CREATE TABLE Dots (id BIGINT UNSIGNED NOT NULL PRIMARY KEY, user_id INT UNSIGNED NOT NULL, body VARCHAR(20), KEY by_user (user_id))',
    ]);
    await env.db('a', 'users1').exec(sql`INSERT INTO Dots VALUES (1, 42, 'a'), (2, 42, 'b')`);
  });
  afterAll(async () => {
    await env?.close();
  });

  async function plan(over: Partial<MoveRequest> = {}) {
    const { deps, close } = makeDeps(env.topology, () => undefined);
    try {
      return await runMove(deps, req(over));
    } finally {
      await close();
    }
  }

  it('a source applying a replication stream: auto picks re-hash and says why; trigger is refused; stopped, trigger again', async () => {
    expect((await plan()).plan?.capture?.mode).toBe('trigger');
    // Server a (shard 1) replicates from server b, as one half of a master-master pair would; a filter
    // keeps b's databases out of a, which changes nothing about what the triggers see.
    const a = env.db('a', 'mysql');
    await a.exec(sql`SET GLOBAL server_id = 2`);
    await a.exec(sql`STOP SLAVE`);
    await a.exec(sql`SET GLOBAL replicate_do_db = 'fws_nothing'`);
    await a.exec(sql`${raw(`CHANGE MASTER TO MASTER_HOST = '127.0.0.1', MASTER_PORT = ${env.b.port}, MASTER_USER = 'root', MASTER_PASSWORD = ''`)}`);
    await a.exec(sql`START SLAVE`);
    try {
      for (let i = 0; i < 100; i++) {
        const [r] = await a.rows<{ v: string }>(sql`SELECT VARIABLE_VALUE AS v FROM information_schema.GLOBAL_STATUS WHERE VARIABLE_NAME = 'SLAVES_RUNNING'`);
        if (Number(r?.v) > 0) break;
        await new Promise((res) => setTimeout(res, 50));
      }
      const r = await plan();
      expect(r.ok, JSON.stringify(r.error)).toBe(true);
      expect(r.plan?.capture?.mode).toBe('rehash');
      expect(r.plan?.capture?.reason).toMatch(/the source shard applies a replication stream .* fire no trigger/);
      const refused = await expectCode(plan({ capture: 'trigger' }), 'PRECONDITION');
      expect(refused.message).toMatch(/--capture trigger is not possible: the source shard applies a replication stream/);
      expect(refused.hint).toMatch(/--capture rehash/);
    } finally {
      await a.exec(sql`STOP SLAVE`);
      await a.exec(sql`RESET SLAVE ALL`);
    }
    expect((await plan()).plan?.capture?.mode).toBe('trigger');
  });
});

/**
 * DDL during a move: the schema fingerprint taken at the start stops the move before its flip
 * (SCHEMA_CHANGED, exit 5, the change named), in both capture modes and offline; `fw-shard abort`, the
 * command the hint names, then works, and nothing was flipped.
 */
describe('the schema changes under a move: it stops before the flip', () => {
  let env: MoveEnv;
  const DOTS = 'CREATE TABLE Dots (id BIGINT UNSIGNED NOT NULL PRIMARY KEY, user_id INT UNSIGNED NOT NULL, body VARCHAR(20), KEY by_user (user_id))';
  const NOTES =
    'CREATE TABLE Notes (id BIGINT UNSIGNED NOT NULL, user_id INT UNSIGNED NOT NULL, body VARCHAR(20), PRIMARY KEY (id, user_id), KEY by_user (user_id)) PARTITION BY HASH (user_id) PARTITIONS 2';
  const APP_TRIGGER = 'CREATE TRIGGER app_touch BEFORE UPDATE ON Dots FOR EACH ROW SET NEW.body = NEW.body';
  beforeAll(async () => {
    env = await startMoveEnv({ name: 'ddl' });
    await createMainSchema(env, [{ id: '42', shard: 1 }]);
    await onBothShards(env, [DOTS, NOTES]);
  });
  afterAll(async () => {
    await env?.close();
  });

  async function reset(): Promise<void> {
    await resetShards(env, []);
    for (const [s, d] of [
      ['a', 'users1'],
      ['b', 'users2'],
    ] as const) {
      env.cli(s, d, `DROP TABLE IF EXISTS Dots, Notes, Extra, _Dots_old; ${DOTS}; ${NOTES}; ${APP_TRIGGER}`);
    }
    env.cli('a', 'users1', 'INSERT INTO Dots SELECT seq, 42, CONCAT("dot ", seq) FROM seq_1_to_3000; INSERT INTO Notes SELECT seq, 42, "n" FROM seq_1_to_500');
  }

  /** A move whose `ddl` runs (synchronously, through the mariadb client) at the first delta pass or, offline, at the first verified chunk. */
  async function moveWithDdl(ddl: () => void, over: Partial<MoveRequest>) {
    let done = false;
    const { deps, close } = makeDeps(env.topology, (e) => {
      if (!done && (e.type === 'delta.pass' || e.type === 'chunk.verified')) {
        done = true;
        ddl();
      }
    });
    try {
      return await runMove(deps, req({ dryRun: false, chunkSize: 200, chunkPauseMs: 1, ...over }));
    } finally {
      await close();
    }
  }

  const both = (q: string) => () => {
    env.cli('a', 'users1', q);
    env.cli('b', 'users2', q);
  };
  const cases: { name: string; ddl: () => void; change: RegExp; modes: ('trigger' | 'rehash' | 'offline')[] }[] = [
    {
      name: 'ALTER TABLE ... ADD COLUMN, ALGORITHM=INSTANT, on both shards',
      ddl: both('ALTER TABLE Dots ADD COLUMN extra INT NOT NULL DEFAULT 0, ALGORITHM=INSTANT'),
      change: /table Dots: its columns changed/,
      modes: ['trigger', 'rehash', 'offline'],
    },
    {
      name: "a table swap as pt-online-schema-change does it (new table, copy, atomic RENAME): fw-shard's triggers stay with the old one",
      ddl: () =>
        env.cli('a', 'users1', 'CREATE TABLE _Dots_new LIKE Dots; INSERT INTO _Dots_new SELECT * FROM Dots; RENAME TABLE Dots TO _Dots_old, _Dots_new TO Dots'),
      change: /table Dots: its triggers changed[\s\S]*table Dots: it was rebuilt, truncated, swapped/,
      modes: ['trigger'],
    },
    {
      name: 'TRUNCATE TABLE (fires no trigger)',
      ddl: () => env.cli('a', 'users1', 'TRUNCATE TABLE Notes'),
      change: /table Notes: it was rebuilt, truncated/,
      modes: ['trigger', 'rehash'],
    },
    {
      name: 'partition maintenance: ALTER TABLE ... TRUNCATE PARTITION',
      ddl: () => env.cli('a', 'users1', 'ALTER TABLE Notes TRUNCATE PARTITION p0'),
      change: /table Notes: it was rebuilt, truncated, swapped \(RENAME\) or its partitions changed/,
      modes: ['trigger'],
    },
    {
      name: "an app deploy that drops and re-creates the app's own trigger, identical",
      ddl: () => env.cli('a', 'users1', `DROP TRIGGER app_touch; ${APP_TRIGGER}`),
      change: /table Dots: its triggers changed/,
      modes: ['trigger', 'rehash'],
    },
    {
      name: "fw-shard's own trigger dropped by hand",
      ddl: () => {
        const name = env
          .cli(
            'a',
            'users1',
            "SELECT TRIGGER_NAME FROM information_schema.TRIGGERS WHERE EVENT_OBJECT_TABLE = 'Dots' AND TRIGGER_NAME LIKE 'fw\\_shard\\_%\\_bd'",
          )
          .trim();
        env.cli('a', 'users1', `DROP TRIGGER ${name}`);
      },
      change: /table Dots: its triggers changed/,
      modes: ['trigger'],
    },
    {
      name: 'a table with the owner column created during the move',
      ddl: () => env.cli('a', 'users1', 'CREATE TABLE Extra (id INT PRIMARY KEY, user_id INT UNSIGNED NOT NULL)'),
      change: /table Extra \(with the owner column\) was created/,
      modes: ['trigger'],
    },
  ];
  for (const c of cases) {
    for (const mode of c.modes) {
      it(`${c.name} (${mode})`, async () => {
        await reset();
        const err = await expectCode(
          moveWithDdl(c.ddl, mode === 'offline' ? { assumeNoWrites: true, online: undefined, capture: undefined } : { capture: mode }),
          'SCHEMA_CHANGED',
        );
        expect(err.message).toMatch(c.change);
        expect(err.message).toMatch(/The mapping was NOT flipped/);
        expect(env.cli('a', 'flamework', 'SELECT cluster_id FROM users WHERE id = 42').trim()).toBe('1');
        // The hint's command works in this state.
        const id = /fw-shard abort (\d+)/.exec(err.hint ?? '')?.[1];
        expect(id, err.hint).toBeDefined();
        const { deps, close } = makeDeps(env.topology, () => undefined);
        try {
          const a = await abortMove(deps, { moveId: id! });
          expect(a.ok, JSON.stringify(a.error)).toBe(true);
        } finally {
          await close();
        }
        expect(env.cli('b', 'users2', 'SELECT COUNT(*) FROM Dots WHERE user_id = 42').trim()).toBe('0');
      });
    }
  }
});

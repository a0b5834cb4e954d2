/**
 * What trigger mode's premise (every change of the user's rows passes fw-shard's triggers) needs of
 * the source server, checked before a move picks the mode (issue 21). A source that applies a
 * replication stream (the other half of a master-master pair) writes the rows of row-based events
 * through the storage engine, which fires no trigger: `--capture auto` picks re-hash mode and says why,
 * `--capture trigger` is refused with a hint that works.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { raw, sql } from '../../src/db/sql/fragment.js';
import { abortMove, runMove } from '../../src/move/engine.js';
import type { MoveRequest } from '../../src/move/types.js';
import type { ShardId, UserId } from '../../src/topology/index.js';
import { makeDeps } from '../../src/app/deps.js';
import { FwShardError } from '../../src/errors/index.js';
import { BIN } from '../helpers/reliability.js';
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

  it('binlog_format = STATEMENT on the source: auto picks re-hash and says why (the log is drained at READ COMMITTED)', async () => {
    const a = env.db('a', 'mysql');
    await a.exec(sql`SET GLOBAL binlog_format = 'STATEMENT'`);
    try {
      const r = await plan();
      expect(r.plan?.capture?.mode).toBe('rehash');
      expect(r.plan?.capture?.reason).toMatch(/binlog_format = STATEMENT.*error 1664/);
      const refused = await expectCode(plan({ capture: 'trigger' }), 'PRECONDITION');
      expect(refused.message).toMatch(/binlog_format = STATEMENT/);
    } finally {
      await a.exec(sql`SET GLOBAL binlog_format = 'ROW'`);
    }
    expect((await plan()).plan?.capture?.mode).toBe('trigger');
  });

  it('a prepared XA transaction that wrote before the capture: refused at once, with the commands that end it', async () => {
    // Another user's row, prepared and left (its session gone): it holds until XA COMMIT or XA ROLLBACK.
    env.cli('a', 'users1', "XA START 'fws-test'; INSERT INTO Dots VALUES (99, 43, 'xa'); XA END 'fws-test'; XA PREPARE 'fws-test'");
    try {
      // --dry-run says so before anything is written.
      // The client's session is gone once the server has processed its disconnect: from then on the
      // prepared transaction has no thread (0), which is what fw-shard looks for.
      for (let i = 0; i < 100 && env.cli('a', 'users1', 'SELECT COUNT(*) FROM information_schema.INNODB_TRX WHERE trx_mysql_thread_id = 0').trim() !== '1'; i++)
        await new Promise((r) => setTimeout(r, 50));
      expect((await plan()).plan?.warnings.join('\n')).toMatch(
        /1 prepared XA transaction\(s\) on shard 1 wrote and are still open: the capture will refuse to start/,
      );
      const started = Date.now();
      const err = await expectCode(plan({ dryRun: false, capture: 'trigger' }), 'BUSY');
      expect(Date.now() - started).toBeLessThan(10_000);
      expect(err.message).toMatch(/1 prepared XA transaction\(s\) on .* wrote before the capture/);
      expect(err.hint).toMatch(/XA RECOVER .* XA ROLLBACK 'xid'/);
      expect(err.hint).not.toMatch(/thread 0/);
    } finally {
      env.cli('a', 'users1', "XA ROLLBACK 'fws-test'");
    }
    // Ended: the same command resumes the move.
    const { deps, close } = makeDeps(env.topology, () => undefined);
    try {
      const r = await runMove(deps, req({ dryRun: false, capture: 'trigger' }));
      expect(r.ok, JSON.stringify(r.error)).toBe(true);
    } finally {
      await close();
    }
    expect(env.cli('a', 'flamework', 'SELECT cluster_id FROM users WHERE id = 42').trim()).toBe('2');
  });
});

/**
 * The app's LOAD DATA fires the row triggers like INSERTs do: rows it loads during a trigger-mode move
 * are logged and arrive on the new shard (loaded after the full comparison, so only the log can carry them).
 */
describe("the app's LOAD DATA during a trigger-mode move", () => {
  let env: MoveEnv;
  beforeAll(async () => {
    env = await startMoveEnv({ name: 'loaddata' });
    await createMainSchema(env, [{ id: '42', shard: 1 }]);
    await onBothShards(env, [
      'CREATE TABLE Dots (id BIGINT UNSIGNED NOT NULL PRIMARY KEY, user_id INT UNSIGNED NOT NULL, body VARCHAR(20), KEY by_user (user_id))',
    ]);
    await env.db('a', 'users1').exec(sql`INSERT INTO Dots SELECT 9007199254740993 + 2 * seq, 42, 'seed' FROM seq_1_to_3000`);
  });
  afterAll(async () => {
    await env?.close();
  });

  it('rows loaded after the copy began are on the new shard', async () => {
    const file = join(env.dir, 'dots.tsv');
    writeFileSync(file, Array.from({ length: 50 }, (_, i) => `${9007199264740993n + 2n * BigInt(i)}\t42\tloaded ${i}\n`).join(''));
    let loaded = false;
    const { deps, close } = makeDeps(env.topology, (e) => {
      // After the full comparison: only the change log can carry these rows over.
      if (!loaded && e.type === 'freeze.started') {
        loaded = true;
        execFileSync('mariadb', [
          '--no-defaults',
          '-h127.0.0.1',
          `-P${env.a.port}`,
          '-uroot',
          '--local-infile=1',
          'users1',
          '-e',
          `LOAD DATA LOCAL INFILE '${file}' INTO TABLE Dots`,
        ]);
      }
    });
    try {
      const r = await runMove(deps, req({ dryRun: false, chunkSize: 200, capture: 'trigger' }));
      expect(r.ok, JSON.stringify(r.error)).toBe(true);
    } finally {
      await close();
    }
    expect(loaded).toBe(true);
    expect(env.cli('b', 'users2', "SELECT COUNT(*) FROM Dots WHERE user_id = 42 AND body LIKE 'loaded %'").trim()).toBe('50');
    expect(env.cli('b', 'users2', 'SELECT COUNT(*) FROM Dots WHERE user_id = 42').trim()).toBe('3050');
  });
});

/**
 * A TIMESTAMP in the key and app sessions in other time zones (issue 27): the triggers log the key in
 * a form that means the same row in every session, so fw-shard (at UTC) re-copies the rows the app
 * changed, not other ones or none.
 */
describe('a TIMESTAMP key written by app sessions in other time zones', () => {
  let env: MoveEnv;
  beforeAll(async () => {
    env = await startMoveEnv({ name: 'tzkey' });
    await createMainSchema(env, [{ id: '42', shard: 1 }]);
    await onBothShards(env, [
      'CREATE TABLE Events (user_id INT UNSIGNED NOT NULL, at TIMESTAMP(3) NOT NULL, body VARCHAR(40), PRIMARY KEY (user_id, at))',
      'CREATE TABLE Stamps (id BIGINT UNSIGNED NOT NULL, user_id INT UNSIGNED NOT NULL, at TIMESTAMP NOT NULL, n INT, PRIMARY KEY (at, id), KEY by_user (user_id))',
    ]);
    const src = env.db('a', 'users1');
    await src.exec(sql`INSERT INTO Events SELECT 42, TIMESTAMP('2024-03-31 00:00:00') + INTERVAL seq MINUTE, 'seed' FROM seq_1_to_2000`);
    await src.exec(sql`INSERT INTO Stamps SELECT seq, 42, TIMESTAMP('2024-10-27 00:00:00') + INTERVAL seq MINUTE, 0 FROM seq_1_to_1000`);
  });
  afterAll(async () => {
    await env?.close();
  });

  it('updates, deletes and inserts at +05:00 and -03:30 during the move: old shard and new shard identical', async () => {
    let written = false;
    const app = (tz: string, q: string) => env.cli('a', 'users1', `SET time_zone = '${tz}'; ${q}`);
    const { deps, close } = makeDeps(env.topology, (e) => {
      // After the full comparison (only the log can carry these over), before the freeze.
      if (!written && e.type === 'freeze.started') {
        written = true;
        app('+05:00', "UPDATE Events SET body = 'changed at +05:00' WHERE user_id = 42 AND at BETWEEN '2024-03-31 05:10:00' AND '2024-03-31 05:40:00'");
        app('-03:30', "DELETE FROM Events WHERE user_id = 42 AND at BETWEEN '2024-03-31 01:00:00.000' AND '2024-03-31 01:20:00'");
        app('+05:00', "INSERT INTO Events VALUES (42, '2030-01-01 12:00:00.123', 'new at +05:00')");
        app('-03:30', 'UPDATE Stamps SET n = n + 1, at = at + INTERVAL 1 SECOND WHERE user_id = 42 AND id <= 50');
      }
    });
    try {
      const r = await runMove(deps, req({ dryRun: false, chunkSize: 200, capture: 'trigger' }));
      expect(r.ok, JSON.stringify(r.error)).toBe(true);
    } finally {
      await close();
    }
    expect(written).toBe(true);
    for (const [t, cols] of [
      ['Events', 'user_id, UNIX_TIMESTAMP(at), HEX(body)'],
      ['Stamps', 'id, user_id, UNIX_TIMESTAMP(at), n'],
    ] as const) {
      const q = `SELECT ${cols} FROM ${t} WHERE user_id = 42 ORDER BY 1, 2, 3`;
      expect(env.cli('b', 'users2', q), t).toBe(env.cli('a', 'users1', q));
    }
    expect(env.cli('b', 'users2', "SELECT COUNT(*) FROM Events WHERE body = 'changed at +05:00'").trim()).toBe('31');
    expect(env.cli('b', 'users2', 'SELECT SUM(n) FROM Stamps').trim()).toBe('50');
  });
});

/**
 * The flip waits for the users row behind an app transaction (issue 27): the wait is bounded by the
 * freeze cap, and the source fence goes back to `capturing` at once, so the user is not refused on both
 * shards while it waits; the next attempt flips.
 */
describe('the flip behind an app transaction holding the users row', () => {
  let env: MoveEnv;
  beforeAll(async () => {
    env = await startMoveEnv({ name: 'fliplock' });
    await createMainSchema(env, [{ id: '42', shard: 1 }]);
    await onBothShards(env, [
      'CREATE TABLE Dots (id BIGINT UNSIGNED NOT NULL PRIMARY KEY, user_id INT UNSIGNED NOT NULL, body VARCHAR(20), KEY by_user (user_id))',
    ]);
    await env.db('a', 'users1').exec(sql`INSERT INTO Dots SELECT seq, 42, 'seed' FROM seq_1_to_500`);
  });
  afterAll(async () => {
    await env?.close();
  });

  it('a failed attempt lets the user write on the old shard again; the move then flips', async () => {
    let release: () => void = () => undefined;
    const released = new Promise<void>((r) => (release = r));
    let locked: () => void = () => undefined;
    const isLocked = new Promise<void>((r) => (locked = r));
    const holder = env.db('a', 'flamework').withSession(async (s) => {
      await s.exec(sql`START TRANSACTION`);
      await s.rows(sql`SELECT cluster_id FROM users WHERE id = 42 FOR UPDATE`);
      locked();
      await released;
      await s.exec(sql`COMMIT`);
    });
    await isLocked;
    const lifted: string[] = [];
    let probe = '';
    const { deps, close } = makeDeps(env.topology, (e) => {
      if (e.type !== 'freeze.lifted') return;
      lifted.push(`${e.flipped}: ${e.reason}`);
      if (!e.flipped && lifted.length === 1) {
        // Between the attempts the user writes on the shard it still lives on.
        probe = env.cli('a', 'users1', "UPDATE Dots SET body = 'between attempts' WHERE id = 1; SELECT ROW_COUNT()").trim();
        setTimeout(release, 300);
      }
    });
    const started = Date.now();
    try {
      const r = await runMove(
        deps,
        req({ dryRun: false, capture: 'trigger', online: { freezeCapMs: 1000, drainMs: 0, maxDeltaPasses: 5, freezeAttempts: 5, readyRows: 200 } }),
      );
      expect(r.ok, JSON.stringify(r.error)).toBe(true);
    } finally {
      release();
      await holder;
      await close();
    }
    expect(lifted[0]).toMatch(/^false: the flip waited 1 s for the users row's lock/);
    expect(lifted.at(-1)).toMatch(/^true/);
    expect(probe).toBe('1');
    expect(Date.now() - started).toBeLessThan(20_000);
    expect(env.cli('b', 'users2', 'SELECT body FROM Dots WHERE id = 1').trim()).toBe('between attempts');
    expect(env.cli('a', 'flamework', 'SELECT cluster_id FROM users WHERE id = 42').trim()).toBe('2');
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
  it('a column added after the flip: the cleanup deletes nothing, the move ends, and the hinted commands work', async () => {
    await reset();
    let added = false;
    const { deps, close } = makeDeps(env.topology, (e) => {
      if (!added && e.type === 'mapping.flipped') {
        added = true;
        both('ALTER TABLE Dots ADD COLUMN extra INT NOT NULL DEFAULT 0, ALGORITHM=INSTANT')();
        env.cli('a', 'users1', `SET @fw_shard_writer = CONCAT('fw-shard writer ', CONNECTION_ID()); UPDATE Dots SET extra = 7 WHERE id <= 10`);
      }
    });
    let err: FwShardError;
    try {
      err = await expectCode(runMove(deps, req({ dryRun: false, capture: 'trigger', cleanup: 'now' })), 'SCHEMA_CHANGED');
    } finally {
      await close();
    }
    expect(err.message).toMatch(/its cleanup cannot compare rows:\n  table Dots: its columns changed/);
    expect(env.cli('a', 'flamework', 'SELECT cluster_id FROM users WHERE id = 42').trim()).toBe('2');
    expect(env.cli('a', 'users1', 'SELECT COUNT(*) FROM Dots WHERE user_id = 42').trim()).toBe('3000');
    expect(env.cli('a', 'flamework', 'SELECT state FROM fw_shard_moves ORDER BY id DESC LIMIT 1').trim()).toBe('done');
    // The hint's commands: the rows differing in the new column stay, the identical ones go.
    expect(err.hint).toMatch(/fw-shard verify --user 42 .* fw-shard cleanup --orphans/);
    const cli = (args: string[]) =>
      spawnSync(process.execPath, [BIN, '--config', env.configFile(), ...args], { encoding: 'utf8', env: { ...process.env, CI: '1' } });
    expect(cli(['verify', '--user', '42']).status).not.toBe(70);
    const orphans = cli(['cleanup', '--orphans', '--user', '42']);
    // The ten rows the old shard changed in the new column are not on the user's shard: kept, and said (exit 8).
    expect(orphans.status, orphans.stderr).toBe(8);
    expect(orphans.stderr).toMatch(/shard 1 Dots user 42: 2990 deleted, 10 kept/);
    expect(env.cli('a', 'users1', 'SELECT COUNT(*) FROM Dots WHERE user_id = 42').trim()).toBe('10');
  });

  it('a column added while the cleanup runs: the next range is not deleted, the move ends with the rest kept', async () => {
    await reset();
    let added = false;
    const { deps, close } = makeDeps(env.topology, (e) => {
      if (!added && e.type === 'cleanup.progress') {
        added = true;
        both('ALTER TABLE Dots ADD COLUMN extra INT NOT NULL DEFAULT 0, ALGORITHM=INSTANT')();
      }
    });
    let err: FwShardError;
    try {
      err = await expectCode(runMove(deps, req({ dryRun: false, capture: 'trigger', cleanup: 'now', concurrency: 1 })), 'SCHEMA_CHANGED');
    } finally {
      await close();
    }
    expect(added).toBe(true);
    expect(err.message).toMatch(/its cleanup cannot compare rows/);
    const left = Number(env.cli('a', 'users1', 'SELECT COUNT(*) FROM Dots WHERE user_id = 42').trim());
    expect(left).toBeGreaterThan(0);
    expect(left).toBeLessThan(3000);
    expect(env.cli('a', 'flamework', 'SELECT state FROM fw_shard_moves ORDER BY id DESC LIMIT 1').trim()).toBe('done');
  });

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

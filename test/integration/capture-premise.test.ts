/**
 * What trigger mode's premise (every change of the user's rows passes fw-shard's triggers) needs of
 * the source server, checked before a move picks the mode (issue 21). A source that applies a
 * replication stream (the other half of a master-master pair) writes the rows of row-based events
 * through the storage engine, which fires no trigger: `--capture auto` picks re-hash mode and says why,
 * `--capture trigger` is refused with a hint that works.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { raw, sql } from '../../src/db/sql/fragment.js';
import { runMove } from '../../src/move/engine.js';
import type { MoveRequest } from '../../src/move/types.js';
import type { ShardId, UserId } from '../../src/topology/index.js';
import { makeDeps } from '../../src/app/deps.js';
import { createMainSchema, expectCode, onBothShards, startMoveEnv, type MoveEnv } from '../helpers/move-env.js';

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

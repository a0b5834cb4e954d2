/**
 * Online moves with a live writer: the app keeps inserting, updating and deleting while the user moves;
 * after the move and its cleanup every acknowledged write is on the target with its last value, deleted
 * rows are gone, nothing of the user is left on the source, and no write was acknowledged on the source
 * after the flip. Run with writes landing during the copy, during the delta passes, and at the freeze.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { NumericLiteral, sql } from '../../src/db/sql/fragment.js';
import { runMove } from '../../src/move/engine.js';
import type { MoveRequest } from '../../src/move/types.js';
import type { ShardId, Topology, UserId } from '../../src/topology/index.js';
import type { MoveEvent } from '../../src/events/types.js';
import { makeDeps } from '../../src/cli/deps.js';
import { freePort } from '../../src/sandbox/servers.js';
import { AppSimulator, memcached } from '../helpers/app-simulator.js';
import { createMainSchema, onBothShards, startMoveEnv, type MoveEnv } from '../helpers/move-env.js';

const ROWS = 1500;

describe('online move with a live writer', () => {
  let env: MoveEnv;
  let mc: ChildProcess;
  let mcPort: number;
  let topology: Topology;

  beforeAll(async () => {
    env = await startMoveEnv({ name: 'online' });
    await createMainSchema(env, [
      { id: '42', shard: 1 },
      { id: '43', shard: 1 },
    ]);
    await onBothShards(env, ['CREATE TABLE Dots (id BIGINT UNSIGNED NOT NULL PRIMARY KEY, user_id INT UNSIGNED NOT NULL, body VARCHAR(200), KEY by_user (user_id))']);
    mcPort = await freePort();
    mc = spawn('memcached', ['-l', '127.0.0.1', '-p', String(mcPort), '-U', '0', '-u', 'root'], { stdio: 'ignore' });
    topology = { ...env.topology, memcached: { servers: [`127.0.0.1:${mcPort}`], keys: ['USER-{id}'] } };
    for (let i = 0; i < 100; i++) {
      if (/VERSION/.test(await memcached(mcPort, 'version\r\n').catch(() => ''))) break;
      await new Promise((r) => setTimeout(r, 50));
    }
  });

  beforeEach(async () => {
    await env.db('a', 'flamework').exec(sql`UPDATE users SET cluster_id = 1`);
    await env.db('a', 'flamework').exec(sql`DROP TABLE IF EXISTS fw_shard_moves, fw_shard_move_tables, fw_shard_move_chunks, fw_shard_freezes`);
    await env.db('b', 'users2').exec(sql`DELETE FROM Dots`);
    const src = env.db('a', 'users1');
    await src.exec(sql`DELETE FROM Dots`);
    await src.exec(sql`INSERT INTO Dots SELECT 9007199254740993 + seq * 2, IF(seq % 10 = 0, 43, 42), CONCAT('seed ', seq) FROM seq_1_to_${new NumericLiteral(String(ROWS))}`);
    await env.db('a', 'tickets').exec(sql`ALTER TABLE Tickets64 AUTO_INCREMENT = 9007199254800001`);
    await memcached(mcPort, 'flush_all\r\n').catch(() => '');
  });

  afterAll(async () => {
    mc?.kill('SIGTERM');
    await env?.close();
  });

  const cases: [string, (e: MoveEvent) => boolean][] = [
    ['writes from the start, through the copy', () => true],
    ['writes starting at the first delta pass', (e) => e.type === 'delta.pass'],
    ['writes starting right at the freeze', (e) => e.type === 'freeze.started'],
  ];

  for (const [name, startWhen] of cases) {
    it(`loses no acknowledged write: ${name}`, async () => {
      const app = new AppSimulator(
        '42',
        { main: topology.main, tickets: topology.tickets[0]!, shards: new Map([[1, topology.shards.get(1 as ShardId)!], [2, topology.shards.get(2 as ShardId)!]]) },
        mcPort,
        3,
      );
      const seeded = env.cli('a', 'users1', 'SELECT id FROM Dots WHERE user_id = 42 ORDER BY id').trim().split('\n');
      app.know(seeded);
      const events: MoveEvent[] = [];
      let started = false;
      const startApp = () => {
        if (!started) {
          started = true;
          app.start();
        }
      };
      if (name.includes('from the start')) startApp();
      const { deps, close } = makeDeps(topology, (e) => {
        events.push(e);
        if (startWhen(e)) startApp();
      });
      const req: MoveRequest = {
        userId: '42' as UserId, to: 2 as ShardId, dryRun: false, assumeNoWrites: false, chunkTimeMs: 500, chunkSize: 100, concurrency: 1, cleanup: 'defer',
        chunkPauseMs: 15,
        online: { freezeCapMs: 3000, drainMs: 300, maxDeltaPasses: 10, freezeAttempts: 3, readyRows: 400 },
      };
      let flippedAt = 0;
      try {
        const r = await runMove(deps, req);
        flippedAt = Date.now();
        expect(r.ok, JSON.stringify(r.error)).toBe(true);
        expect(r.mappingFlipped).toBe(true);
        expect(r.freezeMs).toBeGreaterThan(0);
        expect(r.freezeMs).toBeLessThan(3000);
        // Keep writing after the flip (to the target, through a fresh cache read), then stop.
        await new Promise((res) => setTimeout(res, 300));
        await app.stop();
        // The deferred cleanup: the source must be unchanged since the final sync.
        const { runDeferredCleanups } = await import('../../src/move/engine.js');
        const cleaned = await runDeferredCleanups(deps, 0, { assumeNoWrites: false, chunkTimeMs: 500, chunkSize: 100, concurrency: 1, dryRun: false });
        expect(cleaned.map((c) => c.phase)).toEqual(['done']);
      } finally {
        await app.stop();
        await close();
        await app.close();
      }

      expect(app.anomalies).toEqual([]);
      expect(app.acks.length).toBeGreaterThan(20);
      const lifted = events.find((e) => e.type === 'freeze.lifted' && e.flipped);
      expect(lifted).toBeDefined();
      // The target has every acknowledged write with its last value; deleted rows are gone.
      const target = new Map(
        env.cli('b', 'users2', 'SELECT id, body FROM Dots WHERE user_id = 42').trim().split('\n').filter(Boolean).map((l) => l.split('\t') as [string, string]),
      );
      for (const [id, body] of app.expected()) {
        if (body === null) expect(target.has(id), `deleted row ${id} is back`).toBe(false);
        else expect(target.get(id), `row ${id}`).toBe(body);
      }
      // Seeded rows the app never touched are there too.
      const touched = app.expected();
      for (const id of seeded) if (!touched.has(id)) expect(target.has(id), `seed ${id}`).toBe(true);
      // Nothing of the user is left on the source, and no write was acknowledged there after the flip.
      expect(env.cli('a', 'users1', 'SELECT COUNT(*) FROM Dots WHERE user_id = 42').trim()).toBe('0');
      const flipTime = Date.parse(env.cli('a', 'flamework', "SELECT DATE_FORMAT(flipped_at, '%Y-%m-%dT%H:%i:%s.%fZ') FROM fw_shard_moves").trim());
      expect(flipTime).toBeLessThanOrEqual(flippedAt);
      expect(app.acks.filter((a) => a.shard === 1 && a.at > flipTime)).toEqual([]);
      expect(app.acks.some((a) => a.shard === 2)).toBe(true);
      // No freeze left behind; the journal recorded it.
      expect(env.cli('a', 'flamework', 'SELECT COUNT(*) FROM fw_shard_freezes').trim()).toBe('0');
      expect(Number(env.cli('a', 'flamework', 'SELECT TIMESTAMPDIFF(MICROSECOND, freeze_started_at, freeze_ended_at) FROM fw_shard_moves').trim())).toBeGreaterThan(0);
    });
  }
});

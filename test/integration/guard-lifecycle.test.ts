/**
 * Issue 22: online moves leave nothing behind. fw-shard's triggers and tables exist on a shard only
 * while a fence there needs them (src/move/guard-lifecycle.ts); the old shard's rows are deleted by
 * proof, whatever the app did on the new shard after the flip (phases/cleanup.ts); DDL never queues
 * behind the app's transactions. Two real servers; the app's writes go through the mariadb client.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { openDb } from '../../src/db/pool.js';
import { sql } from '../../src/db/sql/fragment.js';
import { runDeferredCleanups, runMove } from '../../src/move/engine.js';
import { Guard } from '../../src/move/guard.js';
import { readGuardStates, tidyGuards } from '../../src/move/guard-lifecycle.js';
import type { MoveRequest } from '../../src/move/types.js';
import type { ShardId, UserId } from '../../src/topology/index.js';
import { shardTablePlans } from '../../src/plan/facts.js';
import { cleanupOrphans, findOrphans } from '../../src/fleet/orphans.js';
import { guardObjects, NOTHING } from '../helpers/guard.js';
import { createMainSchema, expectCode, onBothShards, resetShards, startMoveEnv, type MoveEnv } from '../helpers/move-env.js';

const req = (over: Partial<MoveRequest> = {}): MoveRequest => ({
  userId: '42' as UserId,
  to: 2 as ShardId,
  dryRun: false,
  assumeNoWrites: false,
  chunkTimeMs: 500,
  chunkSize: 50,
  concurrency: 2,
  cleanup: 'now',
  capture: 'trigger',
  chunkPauseMs: 0,
  online: { freezeCapMs: 3000, drainMs: 0, maxDeltaPasses: 10, freezeAttempts: 3, readyRows: 200 },
  ...over,
});
const DAY = 24 * 3600;

describe('the shard-side objects live only while a fence needs them', () => {
  let env: MoveEnv;
  const on = (s: 'a' | 'b') => (q: string) => env.cli(s, s === 'a' ? 'users1' : 'users2', q);
  const count = (s: 'a' | 'b', table: string, user = 42) => Number(on(s)(`SELECT COUNT(*) FROM ${table} WHERE user_id = ${user}`).trim());
  const connect = (e: { port: number; database: string }) => env.db(e.port === env.a.port ? 'a' : 'b', e.database);

  beforeAll(async () => {
    env = await startMoveEnv({ name: 'lifecycle' });
    await createMainSchema(env, [
      { id: '42', shard: 1 },
      { id: '43', shard: 1 },
      { id: '44', shard: 2 },
    ]);
    await onBothShards(env, [
      'CREATE TABLE Dots (id BIGINT UNSIGNED NOT NULL, user_id INT UNSIGNED NOT NULL, body TEXT, PRIMARY KEY (id), KEY by_user (user_id)) ENGINE=InnoDB',
      'CREATE TABLE Sheets (id BIGINT UNSIGNED NOT NULL, user_id INT UNSIGNED NOT NULL, n INT NOT NULL, PRIMARY KEY (id), KEY by_user (user_id)) ENGINE=InnoDB',
    ]);
  }, 60_000);
  afterAll(async () => {
    await env?.close();
  });
  beforeEach(async () => {
    await resetShards(env, ['Dots', 'Sheets']);
    await env.db('a', 'flamework').exec(sql`UPDATE users SET cluster_id = 2 WHERE id = 44`);
    for (const [user, base] of [
      [42, 9007199254740993n],
      [43, 9007199254750993n],
    ] as const) {
      const dots = Array.from({ length: 400 }, (_, i) => `(${base + BigInt(2 * i)}, ${user}, 'dot ${i}')`).join(',');
      const sheets = Array.from({ length: 120 }, (_, i) => `(${base + BigInt(2 * i)}, ${user}, ${i})`).join(',');
      on('a')(`INSERT INTO Dots VALUES ${dots}; INSERT INTO Sheets VALUES ${sheets}`);
    }
    on('b')("INSERT INTO Dots VALUES (9007199254760993, 44, 'on shard 2')");
  });

  it('after a default move: nothing on the new shard, the moved fence on the old one until the retention ends, then nothing anywhere', async () => {
    const { deps, close } = env.deps();
    try {
      const r = await runMove(deps, req());
      expect(r.ok, JSON.stringify(r.error)).toBe(true);
    } finally {
      await close();
    }
    expect(count('b', 'Dots')).toBe(400);
    expect(count('a', 'Dots') + count('a', 'Sheets')).toBe(0);
    // The new shard: no trigger, no table of fw-shard's (no other fence there).
    expect(guardObjects(on('b'))).toEqual(NOTHING);
    // The old shard: the fence refuses a stale app server's write; 2 tables x 3 triggers.
    expect(guardObjects(on('a'))).toEqual({ tables: ['fw_shard_changes', 'fw_shard_fence'], triggers: 6 });
    expect(() => on('a')("INSERT INTO Dots VALUES (1, 42, 'stale app server')")).toThrow(/user moved to another shard/);
    // guard status: why it is there and until when.
    const [s1, s2] = await readGuardStates(env.topology, connect, DAY);
    expect(s2!.tables).toEqual([]);
    expect(s1!.fences).toHaveLength(1);
    const f = s1!.fences[0]!;
    expect([f.state, f.verdict, f.lives]).toEqual(['moved', 'retained', 2]);
    expect(f.why).toMatch(/refuses writes of user 42 to this shard by app servers that still hold its old placement/);
    expect(Date.parse(f.until!) - Date.now()).toBeGreaterThan((DAY - 120) * 1000);
    // The cron job inside the retention keeps it; after it, lifts it and drops everything.
    const inside = await tidyGuards(env.topology, connect, DAY);
    expect(inside.map((t) => [t.shard, t.lifted.length, t.kept.length, t.triggersDropped])).toEqual([
      [1, 0, 1, 0],
      [2, 0, 0, 0],
    ]);
    expect(guardObjects(on('a')).triggers).toBe(6);
    const after = await tidyGuards(env.topology, connect, 0);
    expect(after[0]).toMatchObject({ shard: 1, triggersDropped: 6, tablesDropped: true, busy: [], left: { triggers: 0, tables: [] } });
    expect(after[0]!.lifted.map((x) => `${x.user_id} ${x.state}`)).toEqual(['42 moved']);
    expect(guardObjects(on('a'))).toEqual(NOTHING);
    expect(guardObjects(on('b'))).toEqual(NOTHING);
  });

  it('a shard keeps its triggers while another fence there needs them, and only that long', async () => {
    // Another capture on shard 2 (its fence set as a move would, under the guard lock): move 43 into it.
    const plans = await shardTablePlans(env.topology, connect);
    const g2 = new Guard(env.db('b', 'users2'));
    await g2.withLock(5, async () => {
      await g2.install(plans.get(2)!);
      await g2.setFence('44', '777', 'capturing');
    });
    const { deps, close } = env.deps();
    try {
      const r = await runMove(deps, req({ userId: '43' as UserId }));
      expect(r.ok, JSON.stringify(r.error)).toBe(true);
    } finally {
      await close();
    }
    expect(guardObjects(on('b')).triggers).toBe(6);
    const [, s2] = await readGuardStates(env.topology, connect, DAY);
    expect(s2!.fences.map((f) => [f.user_id, f.verdict])).toEqual([['44', 'unknown']]);
    // Not this journal's move: nothing lifts it by itself (guard status names it), so the triggers stay.
    expect((await tidyGuards(env.topology, connect, 0))[1]).toMatchObject({ triggersDropped: 0, left: { triggers: 6 } });
    await g2.clear('44', '777', { changes: true });
    expect((await tidyGuards(env.topology, connect, 0))[1]).toMatchObject({ triggersDropped: 6, tablesDropped: true });
    expect(guardObjects(on('b'))).toEqual(NOTHING);
  });

  it('the rows the app deleted or changed on the new shard after the flip are still deleted from the old one (the fence proves them)', async () => {
    const { deps, close } = env.deps();
    try {
      const r = await runMove(deps, req({ cleanup: 'defer' }));
      expect(r.ok, JSON.stringify(r.error)).toBe(true);
      // The app on the new shard: deletes 97 Dots, updates 15 Sheets, adds a row.
      on('b')('DELETE FROM Dots WHERE user_id = 42 ORDER BY id LIMIT 97');
      on('b')('UPDATE Sheets SET n = n + 1000 WHERE user_id = 42 ORDER BY id LIMIT 15');
      on('b')("INSERT INTO Dots VALUES (9007199254999999, 42, 'after the flip')");
      const done = await runDeferredCleanups(deps, 0, { assumeNoWrites: true, chunkTimeMs: 500, chunkSize: 50, concurrency: 1, dryRun: false });
      expect(done.map((d) => d.ok)).toEqual([true]);
      expect(done[0]!.nextStep).toMatch(/520 rows were deleted from shard 1, each range proven unchanged since the final verification/);
    } finally {
      await close();
    }
    expect(count('a', 'Dots') + count('a', 'Sheets')).toBe(0);
    expect(count('a', 'Dots', 43)).toBe(400); // another user's rows are untouched
    expect(count('b', 'Dots')).toBe(304);
  });

  it('re-hash mode: ranges that still hash as the final verification recorded are deleted; a row changed on the old shard after the flip is kept (exit 6)', async () => {
    const { deps, close } = env.deps();
    try {
      const r = await runMove(deps, req({ capture: 'rehash', cleanup: 'defer' }));
      expect(r.ok, JSON.stringify(r.error)).toBe(true);
      expect(guardObjects(on('a'))).toEqual(NOTHING);
      on('b')('DELETE FROM Dots WHERE user_id = 42 ORDER BY id LIMIT 60');
      on('b')('UPDATE Sheets SET n = -1 WHERE user_id = 42');
      // A stale app server writes one row on the old shard after the flip (no fence in this mode).
      on('a')("UPDATE Dots SET body = 'stale write' WHERE id = 9007199254741593");
      const err = await expectCode(
        runDeferredCleanups(deps, 0, { assumeNoWrites: true, chunkTimeMs: 500, chunkSize: 50, concurrency: 1, dryRun: false }),
        'DATA_MISMATCH',
      );
      expect(err.message).toMatch(/1 row\(s\) of user 42 were kept on shard 1: 1 changed on shard 1 after the final verification/);
      expect(err.message).toMatch(/id=9007199254741593/);
      expect(err.hint).toMatch(/fw-shard verify --user 42 --json/);
      expect(err.hint).toMatch(/fw-shard cleanup --orphans --user 42/);
      expect(err.hint).not.toMatch(/by hand/);
    } finally {
      await close();
    }
    // Only the row the old shard changed stays: the 60 deleted and 120 updated on the new shard went.
    expect(on('a')('SELECT id, body FROM Dots WHERE user_id = 42').trim()).toBe('9007199254741593\tstale write');
    expect(count('a', 'Sheets')).toBe(0);
  });

  it('cleanup --orphans deletes the rows a kept cleanup left, by the same proof, whatever the app did on the new shard', async () => {
    const { deps, close } = env.deps();
    try {
      const r = await runMove(deps, req({ assumeNoWrites: true, cleanup: 'keep' }));
      expect(r.ok, JSON.stringify(r.error)).toBe(true);
    } finally {
      await close();
    }
    on('b')('DELETE FROM Dots WHERE user_id = 42 ORDER BY id LIMIT 30');
    on('b')('UPDATE Sheets SET n = n + 1 WHERE user_id = 42');
    on('a')("UPDATE Dots SET body = 'stale write' WHERE id = 9007199254741593"); // written on the old shard since
    const report = await findOrphans(env.topology, connect, { userId: '42' });
    expect(report.orphans.map((g) => `${g.shard} ${g.table} ${g.rows}`).sort()).toEqual(['1 Dots 400', '1 Sheets 120']);
    const dry = await cleanupOrphans(env.topology, connect, report, { dryRun: true });
    expect(dry.groups.find((g) => g.table === 'Sheets')!.kept[0]).toMatch(/120 row\(s\) hash as the last move's final verification recorded/);
    expect(count('a', 'Dots') + count('a', 'Sheets')).toBe(520); // a dry run deletes nothing
    const done = await cleanupOrphans(env.topology, connect, report, { dryRun: false });
    expect(done.deleted).toBe('519');
    expect(done.kept).toBe('1');
    expect(on('a')('SELECT id, body FROM Dots WHERE user_id = 42').trim()).toBe('9007199254741593\tstale write');
    expect(count('b', 'Dots')).toBe(370);
  });

  it("dropping the triggers never queues behind the app's transactions: a busy table keeps them, the next cleanup drops them", async () => {
    const plans = await shardTablePlans(env.topology, connect);
    await new Guard(env.db('a', 'users1')).install(plans.get(1)!);
    // An app transaction holds Dots' metadata lock (an open transaction that read it).
    const holder = openDb(env.a.endpoint('users1'));
    let release: () => void = () => undefined;
    const released = new Promise<void>((r) => (release = r));
    let holding: () => void = () => undefined;
    const held = new Promise<void>((r) => (holding = r));
    const session = holder.withSession(async (s) => {
      await s.exec(sql`START TRANSACTION`);
      await s.rows(sql`SELECT COUNT(*) FROM Dots`);
      holding();
      await released;
      await s.exec(sql`COMMIT`);
    });
    try {
      await held;
      const tidy = tidyGuards(env.topology, connect, 0);
      // While the drop is retried, the app's queries of the table run at once (a queued exclusive
      // request would make them wait until it gave up, seconds later).
      await new Promise((r) => setTimeout(r, 300));
      const t0 = Date.now();
      expect(on('a')('SELECT COUNT(*) FROM Dots WHERE user_id = 42').trim()).toBe('400');
      const appQueryMs = Date.now() - t0;
      const [s1] = await tidy;
      expect(appQueryMs).toBeLessThan(1500);
      expect(s1!.busy).toEqual(['Dots']);
      expect(s1!.tablesDropped).toBe(false);
      expect(guardObjects(on('a'))).toEqual({ tables: ['fw_shard_changes', 'fw_shard_fence'], triggers: 3 });
    } finally {
      release();
      await session;
      await holder.close();
    }
    const [again] = await tidyGuards(env.topology, connect, 0);
    expect(again).toMatchObject({ triggersDropped: 3, tablesDropped: true, busy: [] });
    expect(guardObjects(on('a'))).toEqual(NOTHING);
  }, 60_000);
});

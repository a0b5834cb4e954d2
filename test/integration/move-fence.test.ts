/**
 * Trigger mode (issue: online moves at any size): no lost write without app changes. Two real servers.
 * A writer that ignores every guard (plain client, no freeze check, cluster_id read from db_main per
 * write) inserts, updates (also the key), deletes; another keeps the cluster_id it read at the start, so
 * it writes to the old shard after the flip. Afterwards: every acknowledged write is on the target with
 * its last value, every refused write was an error the client saw, nothing of the user changed on the
 * source after the flip. Also: transactions spanning the capture start (REPEATABLE READ and READ
 * COMMITTED), a keyless table, the app's own trigger, a run stopped between `moved` and the flip.
 */
import { spawnSync } from 'node:child_process';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NumericLiteral, sql } from '../../src/db/sql/fragment.js';
import { Connections, openDb, type Db } from '../../src/db/pool.js';
import { abortMove, resumeMove, runMove } from '../../src/move/engine.js';
import type { MoveRequest } from '../../src/move/types.js';
import type { MoveEvent } from '../../src/events/types.js';
import type { ShardId, UserId } from '../../src/topology/index.js';
import { makeDeps } from '../../src/app/deps.js';
import { Guard } from '../../src/move/guard.js';
import { shardTablePlans } from '../../src/plan/facts.js';
import { collectStatus } from '../../src/status/collect.js';
import { guardObjects, NOTHING } from '../helpers/guard.js';
import { createMainSchema, onBothShards, startMoveEnv, type MoveEnv, resetShards } from '../helpers/move-env.js';

const ROOT = resolve(fileURLToPath(import.meta.url), '../../..');
const num = (v: string | bigint) => new NumericLiteral(String(v));
const req = (over: Partial<MoveRequest> = {}): MoveRequest => ({
  userId: '42' as UserId,
  to: 2 as ShardId,
  dryRun: false,
  assumeNoWrites: false,
  chunkTimeMs: 500,
  chunkSize: 200,
  concurrency: 2,
  cleanup: 'keep',
  capture: 'trigger',
  chunkPauseMs: 5,
  online: { freezeCapMs: 3000, drainMs: 0, maxDeltaPasses: 10, freezeAttempts: 3, readyRows: 200 },
  ...over,
});

const errnoOf = (err: unknown) => (err as { errno?: number; cause?: { errno?: number } }).errno ?? (err as { cause?: { errno?: number } }).cause?.errno;

/** A plain client: no freeze check. `stale` keeps the shard it read first; otherwise reads db_main per write. */
class RawWriter {
  readonly acks: { id: string; body: string | null; shard: number; at: number }[] = [];
  readonly keyless: { other: string; shard: number; at: number }[] = [];
  refused = 0;
  readonly errors: string[] = [];
  #running = false;
  #loop: Promise<void> | undefined;
  #live: string[];
  #n = 0;
  #next: bigint;
  #shard: number | null = null;
  constructor(
    private readonly dbs: { main: Db; shards: Map<number, Db> },
    live: string[],
    firstId: bigint,
    private readonly stale: boolean,
  ) {
    this.#live = [...live];
    this.#next = firstId;
  }
  start(): void {
    this.#running = true;
    this.#loop = (async () => {
      while (this.#running) {
        try {
          await this.step();
        } catch (err) {
          if (errnoOf(err) === 1644) this.refused++;
          else this.errors.push((err as Error).message);
        }
        await new Promise((r) => setTimeout(r, 2));
      }
    })();
  }
  async stop(): Promise<void> {
    this.#running = false;
    await this.#loop;
  }
  async shard(): Promise<number> {
    if (this.stale && this.#shard !== null) return this.#shard;
    const [u] = await this.dbs.main.rows<{ c: string }>(sql`SELECT cluster_id AS c FROM users WHERE id = 42`);
    this.#shard = Number(u!.c);
    return this.#shard;
  }
  async step(): Promise<void> {
    const shard = await this.shard();
    const db = this.dbs.shards.get(shard)!;
    const k = this.#n++ % 8;
    if (k < 3 || this.#live.length < 20) {
      const id = (this.#next += 2n).toString();
      const body = `insert ${this.#n} ${this.stale ? 'stale' : 'fresh'}`;
      await db.exec(sql`INSERT INTO Dots (id, user_id, body) VALUES (${num(id)}, 42, ${body})`);
      this.#live.push(id);
      this.acks.push({ id, body, shard, at: Date.now() });
    } else if (k < 5) {
      const id = this.#live[(this.#n * 7919) % this.#live.length]!;
      const body = `update ${this.#n}`;
      const r = await db.exec(sql`UPDATE Dots SET body = ${body} WHERE id = ${num(id)} AND user_id = 42`);
      if (r.affectedRows === 1) this.acks.push({ id, body, shard, at: Date.now() });
    } else if (k === 5) {
      // The key changes: the old id is gone, the new one holds the row.
      const i = (this.#n * 104729) % this.#live.length;
      const old = this.#live[i]!;
      const id = (this.#next += 2n).toString();
      const r = await db.exec(sql`UPDATE Dots SET id = ${num(id)}, body = ${`rekeyed ${this.#n}`} WHERE id = ${num(old)} AND user_id = 42`);
      if (r.affectedRows === 1) {
        this.#live[i] = id;
        this.acks.push({ id: old, body: null, shard, at: Date.now() }, { id, body: `rekeyed ${this.#n}`, shard, at: Date.now() });
      }
    } else if (k === 6) {
      const i = (this.#n * 31) % this.#live.length;
      const id = this.#live[i]!;
      const r = await db.exec(sql`DELETE FROM Dots WHERE id = ${num(id)} AND user_id = 42`);
      if (r.affectedRows === 1) {
        this.#live.splice(i, 1);
        this.acks.push({ id, body: null, shard, at: Date.now() });
      }
    } else {
      const other = String(this.#n);
      await db.exec(sql`INSERT INTO Contacts (user_id, other_id) VALUES (42, ${num(other)})`);
      this.keyless.push({ other, shard, at: Date.now() });
    }
  }
}

describe('trigger mode: the shard fences the moving user, whatever the app does', () => {
  let env: MoveEnv;
  /** The built binary with this file's config. */
  const fwShard = (args: string[]) =>
    spawnSync(process.execPath, [join(ROOT, 'bin/fw-shard'), '--config', env.configFile(), ...args], { encoding: 'utf8', env: { ...process.env, CI: '1' } });
  let seeded: string[] = [];
  const rows = (s: 'a' | 'b', db: string, q: string) => env.cli(s, db, q).trim().split('\n').filter(Boolean);
  const shardOf = () => Number(env.cli('a', 'flamework', 'SELECT cluster_id FROM users WHERE id = 42').trim());

  beforeAll(async () => {
    env = await startMoveEnv({ name: 'fence' });
    await createMainSchema(env, [
      { id: '42', shard: 1 },
      { id: '43', shard: 1 },
    ]);
    await onBothShards(env, [
      'CREATE TABLE Dots (id BIGINT UNSIGNED NOT NULL PRIMARY KEY, user_id INT UNSIGNED NOT NULL, body VARCHAR(200), KEY by_user (user_id))',
      'CREATE TABLE Contacts (user_id INT UNSIGNED NOT NULL, other_id BIGINT UNSIGNED NOT NULL, KEY by_user (user_id))',
      // The app's own trigger on a moved table (an UPDATE trigger: fw-shard's writes never fire it).
      "CREATE TRIGGER app_touch BEFORE UPDATE ON Dots FOR EACH ROW SET NEW.body = IF(NEW.body = 'magic', 'MAGIC', NEW.body)",
    ]);
  });

  async function reset(n: number): Promise<void> {
    await resetShards(env, ['Dots', 'Contacts']);
    const src = env.db('a', 'users1');
    await src.exec(sql`INSERT INTO Dots SELECT 9007199254740993 + seq * 2, IF(seq % 10 = 0, 43, 42), CONCAT('seed ', seq) FROM seq_1_to_${num(String(n))}`);
    await src.exec(sql`INSERT INTO Contacts SELECT 42, seq % 7 FROM seq_1_to_40`);
    seeded = rows('a', 'users1', 'SELECT id FROM Dots WHERE user_id = 42 ORDER BY id');
  }

  afterAll(async () => {
    await env?.close();
  });

  for (const size of [300, 3000]) {
    it(`a user of ${size} rows: a guard-ignoring writer and a stale writer lose nothing, and nothing lands on the old shard`, async () => {
      await reset(size);
      const dbs = {
        main: env.db('a', 'flamework'),
        shards: new Map([
          [1, env.db('a', 'users1')],
          [2, env.db('b', 'users2')],
        ]),
      };
      // Each writer changes rows of its own: a row both wrote would have no known last value (an ack's
      // time, taken when the statement returns, need not follow the server's commit order under load).
      const fresh = new RawWriter(dbs, seeded.slice(50), 9007199254900001n, false);
      const stale = new RawWriter(dbs, seeded.slice(0, 50), 9007199254990001n, true);
      const events: MoveEvent[] = [];
      const { deps, close } = makeDeps(env.topology, (e) => events.push(e));
      fresh.start();
      stale.start();
      let sourceAtFlip = '';
      let flippedAt = 0;
      try {
        const r = await runMove(deps, req());
        flippedAt = Date.now();
        expect(r.ok, JSON.stringify(r.error)).toBe(true);
        expect(r.plan?.capture?.mode).toBe('trigger');
        sourceAtFlip = env.cli(
          'a',
          'users1',
          'SELECT HEX(id), HEX(body) FROM Dots WHERE user_id = 42 ORDER BY id; SELECT COUNT(*) FROM Contacts WHERE user_id = 42',
        );
        expect(r.freezeMs).toBeLessThan(3000);
        await new Promise((res) => setTimeout(res, 400)); // both keep writing after the flip
      } finally {
        await fresh.stop();
        await stale.stop();
        await close();
      }
      expect(fresh.errors).toEqual([]);
      expect(stale.errors).toEqual([]);
      // The stale writer kept aiming at shard 1: every one of those writes after the flip was refused.
      expect(stale.refused).toBeGreaterThan(0);
      expect(stale.acks.filter((a) => a.shard === 1 && a.at > flippedAt)).toEqual([]);
      // Nothing of the user changed on the old shard after the flip.
      expect(
        env.cli('a', 'users1', 'SELECT HEX(id), HEX(body) FROM Dots WHERE user_id = 42 ORDER BY id; SELECT COUNT(*) FROM Contacts WHERE user_id = 42'),
      ).toBe(sourceAtFlip);
      // Every acknowledged write is on the target with its last value.
      const target = new Map(rows('b', 'users2', 'SELECT id, body FROM Dots WHERE user_id = 42').map((l) => l.split('\t') as [string, string]));
      const last = new Map<string, string | null>();
      for (const a of [...fresh.acks, ...stale.acks].sort((x, y) => x.at - y.at)) last.set(a.id, a.body);
      for (const [id, body] of last) {
        if (body === null) expect(target.has(id), `row ${id} was deleted`).toBe(false);
        else expect(target.get(id), `row ${id}`).toBe(body);
      }
      const keylessAcked = fresh.keyless.length + stale.keyless.length;
      expect(Number(env.cli('b', 'users2', 'SELECT COUNT(*) FROM Contacts WHERE user_id = 42').trim())).toBe(40 + keylessAcked);
      expect(fresh.acks.some((a) => a.shard === 2)).toBe(true);
      expect(shardOf()).toBe(2);
      // The old shard's fence stays (for the retention); the target keeps nothing of fw-shard's.
      expect(env.cli('a', 'users1', 'SELECT state FROM fw_shard_fence WHERE user_id = 42').trim()).toBe('moved');
      expect(guardObjects((q) => env.cli('b', 'users2', q))).toEqual(NOTHING);
      expect(env.cli('a', 'users1', 'SELECT COUNT(*) FROM fw_shard_changes WHERE user_id = 42').trim()).toBe('0');
      expect(events.some((e) => e.type === 'freeze.lifted' && e.flipped)).toBe(true);
    });
  }

  for (const isolation of ['REPEATABLE READ', 'READ COMMITTED'] as const) {
    it(`a ${isolation} transaction that wrote before the capture began and commits after is not missed`, async () => {
      await reset(200);
      // The guard is installed ahead of time (fw-shard guard install): creating a trigger would itself wait
      // for the open transaction's metadata lock, which would hide what this test is about.
      const plans = await shardTablePlans(env.topology, (e) => env.db(e.port === env.a.port ? 'a' : 'b', e.database));
      await new Guard(env.db('a', 'users1')).install(plans.get(1)!);
      await new Guard(env.db('b', 'users2')).install(plans.get(2)!);
      const writer = openDb(env.a.endpoint('users1'));
      // It commits at the freeze at the latest (the worst moment: after the full comparison), or after 3 s.
      let atFreeze: () => void = () => undefined;
      const freezeStarted = new Promise<void>((r) => (atFreeze = r));
      try {
        const committed = writer.withSession(async (s) => {
          await s.exec(sql`SET TRANSACTION ISOLATION LEVEL ${isolation === 'READ COMMITTED' ? sql`READ COMMITTED` : sql`REPEATABLE READ`}`);
          await s.exec(sql`START TRANSACTION`);
          await s.exec(sql`INSERT INTO Dots VALUES (9007199254999999, 42, 'long transaction')`);
          await s.exec(sql`UPDATE Dots SET body = 'changed in the long transaction' WHERE id = 9007199254740995`);
          await Promise.race([freezeStarted, new Promise((r) => setTimeout(r, 3000))]);
          await s.exec(sql`COMMIT`);
        });
        await new Promise((r) => setTimeout(r, 100)); // the transaction has written before the move starts
        const { deps, close } = makeDeps(env.topology, (e) => {
          if (e.type === 'freeze.started') atFreeze();
        });
        try {
          const r = await runMove(deps, req({ online: { ...req().online!, readyRows: 0 } }));
          expect(r.ok, JSON.stringify(r.error)).toBe(true);
        } finally {
          await close();
        }
        await committed;
      } finally {
        await writer.close();
      }
      expect(env.cli('b', 'users2', 'SELECT body FROM Dots WHERE id = 9007199254999999').trim()).toBe('long transaction');
      expect(env.cli('b', 'users2', 'SELECT body FROM Dots WHERE id = 9007199254740995').trim()).toBe('changed in the long transaction');
      expect(env.cli('b', 'users2', 'SELECT COUNT(*) FROM Dots WHERE user_id = 42').trim()).toBe(
        env.cli('a', 'users1', 'SELECT COUNT(*) FROM Dots WHERE user_id = 42').trim(),
      );
    });
  }

  it('a run stopped between the fence saying moved and the flip can also be aborted: the user writes on the old shard again', async () => {
    await reset(300);
    const { deps, close } = makeDeps(env.topology, (e) => {
      if (e.type === 'phase.started' && e.phase === 'flip') throw new Error('killed between moved and the flip');
    });
    try {
      await expect(runMove(deps, req())).rejects.toThrow(/killed between moved and the flip/);
      const moveId = env.cli('a', 'flamework', 'SELECT id FROM fw_shard_moves').trim();
      env.cli('a', 'flamework', `UPDATE fw_shard_moves SET runner_host = NULL WHERE id = ${moveId}`);
      const r = await abortMove(deps, { moveId });
      expect(r.phase).toBe('aborted');
    } finally {
      await close();
    }
    expect(shardOf()).toBe(1);
    env.cli('a', 'users1', "UPDATE Dots SET body = 'writable again' WHERE id = 9007199254740995");
    expect(env.cli('a', 'users1', 'SELECT body FROM Dots WHERE id = 9007199254740995').trim()).toBe('writable again');
    expect(env.cli('b', 'users2', 'SELECT COUNT(*) FROM Dots WHERE user_id = 42').trim()).toBe('0');
    // No fence is left on either shard: the abort dropped fw-shard's triggers and tables from both.
    expect(guardObjects((q) => env.cli('a', 'users1', q))).toEqual(NOTHING);
    expect(guardObjects((q) => env.cli('b', 'users2', q))).toEqual(NOTHING);
  });

  it('a run stopped between the fence saying moved and the flip: the user is refused everywhere, status says so, the next run flips', async () => {
    await reset(300);
    let stop = true;
    const { deps, close } = makeDeps(env.topology, (e) => {
      // The cut-over's flip step starts right after the source fence committed `moved`: die there.
      if (stop && e.type === 'phase.started' && e.phase === 'flip') throw new Error('killed between moved and the flip');
    });
    try {
      await expect(runMove(deps, req())).rejects.toThrow(/killed between moved and the flip/);
      expect(shardOf()).toBe(1);
      expect(env.cli('a', 'users1', 'SELECT state FROM fw_shard_fence WHERE user_id = 42').trim()).toBe('moved');
      // Refused on the old shard (moved) and on the new one (incoming) until the flip.
      expect(() => env.cli('a', 'users1', "UPDATE Dots SET body = 'x' WHERE id = 9007199254740995")).toThrow(/1644.*user moved/s);
      expect(() => env.cli('b', 'users2', "UPDATE Dots SET body = 'x' WHERE id = 9007199254740995")).toThrow(/1644.*being moved/s);
      const fences = await new Guard(env.db('a', 'users1')).fences();
      expect(fences.map((f) => f.state)).toEqual(['moved']);
      // status says so loudly (a problem: exit 8) with the command that ends it.
      const conns = new Connections();
      const report = await collectStatus(env.topology, (e) => conns.get(e), { exact: false, now: () => performance.now() }).finally(() => conns.closeAll());
      expect(report.problems.join('\n')).toMatch(
        /user 42 is refused on shard 1, where it still lives: move \d+ stopped between its fence and the flip; fw-shard resume \d+ flips it/,
      );
      const moveId = env.cli('a', 'flamework', 'SELECT id FROM fw_shard_moves').trim();
      // The same through the command line: guard status exits 8 and names the way out.
      const gs = fwShard(['guard', 'status', '--json']);
      expect(gs.status).toBe(8);
      const doc = JSON.parse(gs.stdout) as {
        problems: string[];
        shards: { shard: number; triggers: unknown[]; fences: { state: string; verdict: string }[] }[];
      };
      expect(doc.problems.join('\n')).toMatch(new RegExp(`fw-shard resume ${moveId}`));
      expect(doc.shards.find((x) => x.shard === 1)?.fences.map((f) => f.state)).toEqual(['moved']);
      expect(doc.shards.find((x) => x.shard === 1)?.triggers).toHaveLength(6); // 3 per sharded table
      expect(doc.shards.find((x) => x.shard === 1)?.fences.map((f) => f.verdict)).toEqual(['needed']);
      // While the move is unfinished its fences belong to it: guard remove refuses, with the way out.
      const gr = fwShard(['guard', 'remove', '--user', '42', '--shard', '1']);
      expect(gr.status).toBe(7);
      expect(gr.stderr).toMatch(new RegExp(`fw-shard resume ${moveId}`));
      stop = false;
      env.cli('a', 'flamework', `UPDATE fw_shard_moves SET runner_host = NULL WHERE id = ${moveId}`);
      const r = await resumeMove(deps, moveId, { assumeNoWrites: false, chunkTimeMs: 500, concurrency: 2, dryRun: false, capture: 'trigger' });
      expect(r.ok, JSON.stringify(r.error)).toBe(true);
      expect(r.mappingFlipped).toBe(true);
      expect(shardOf()).toBe(2);
      env.cli('b', 'users2', "UPDATE Dots SET body = 'magic' WHERE id = 9007199254740995");
      expect(env.cli('b', 'users2', 'SELECT body FROM Dots WHERE id = 9007199254740995').trim()).toBe('MAGIC'); // the app's trigger still works
      // Done: the old shard's fence stays (a stale app server is refused), status is healthy again, and
      // an operator can lift the fence by hand for a move back outside fw-shard.
      expect(fwShard(['guard', 'status']).status).toBe(0);
      // Dropping the guard would lift that fence silently: refused unless asked for, naming it.
      const all = fwShard(['guard', 'remove', '--shard', '1', '--yes']);
      expect(all.status, all.stderr).toBe(5);
      expect(all.stderr).toMatch(/would lift 1 fence\(s\) of users moved away, which refuse stale writes to the shard they left: user 42 on shard 1/);
      expect(all.stderr).toMatch(/fw-shard guard remove --shard 1 --yes --lift-moved/);
      expect(env.cli('a', 'users1', 'SELECT state FROM fw_shard_fence WHERE user_id = 42').trim()).toBe('moved');
      const lifted = fwShard(['guard', 'remove', '--user', '42', '--shard', '1']);
      expect(lifted.status, lifted.stderr).toBe(0);
      expect(lifted.stdout).toMatch(/shard 1: fence of user 42 lifted \(it was moved, move \d+\): writes of user 42 to shard 1 are accepted again/);
      expect(env.cli('a', 'users1', 'SELECT COUNT(*) FROM fw_shard_fence').trim()).toBe('0');
    } finally {
      await close();
    }
  });
});

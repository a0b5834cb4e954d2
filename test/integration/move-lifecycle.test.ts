/**
 * The move's lifecycle against two real servers: interruption and abort, deferred and refused cleanup,
 * memcached invalidation, preflight refusals (collision, drift, read_only), and graduation from poor
 * man's federation (shard 1 is db_main itself).
 */
import { Connections } from '../../src/db/pool.js';
import { findOrphans } from '../../src/fleet/orphans.js';
import { renderVerify } from '../../src/report/fleet.js';
import { spawn, type ChildProcess } from 'node:child_process';
import { createConnection } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { raw, sql } from '../../src/db/sql/fragment.js';
import { abortMove, resumeMove, runDeferredCleanups, runMove } from '../../src/move/engine.js';
import { FwShardError } from '../../src/errors/index.js';
import type { MoveRequest } from '../../src/move/types.js';
import type { ShardId, UserId, Topology } from '../../src/topology/index.js';
import { normalizeConfig } from '../../src/config/load.js';
import { makeDeps } from '../../src/app/deps.js';
import { freePort } from '../../src/sandbox/servers.js';
import { createMainSchema, onBothShards, startMoveEnv, type MoveEnv, resetShards, expectCode } from '../helpers/move-env.js';

const DDL = [
  'CREATE TABLE Dots (id BIGINT UNSIGNED NOT NULL PRIMARY KEY, user_id INT UNSIGNED NOT NULL, body VARCHAR(200), KEY by_user (user_id))',
  'CREATE TABLE Faves (user_id INT UNSIGNED NOT NULL, photo_id BIGINT UNSIGNED NOT NULL, UNIQUE KEY by_fave (photo_id, user_id))',
];

const req = (over: Partial<MoveRequest> = {}): MoveRequest => ({
  userId: '42' as UserId,
  to: 2 as ShardId,
  dryRun: false,
  assumeNoWrites: true,
  chunkTimeMs: 500,
  chunkSize: 25,
  concurrency: 2,
  cleanup: 'now',
  ...over,
});

describe('move lifecycle', () => {
  let env: MoveEnv;
  const count = (s: 'a' | 'b', db: string, table: string, user = 42) => Number(env.cli(s, db, `SELECT COUNT(*) FROM ${table} WHERE user_id = ${user}`).trim());
  const shardOf = (user = 42) => Number(env.cli('a', 'flamework', `SELECT cluster_id FROM users WHERE id = ${user}`).trim());

  beforeAll(async () => {
    env = await startMoveEnv({ name: 'lifecycle' });
    await createMainSchema(env, [
      { id: '42', shard: 1 },
      { id: '43', shard: 1 },
    ]);
    await onBothShards(env, DDL);
  });

  beforeEach(async () => {
    await resetShards(env, ['Dots', 'Faves']);
    const src = env.db('a', 'users1');
    await src.exec(sql`INSERT INTO Dots SELECT 9007199254740993 + seq * 2, IF(seq % 4 = 0, 43, 42), CONCAT('dot ', seq) FROM seq_1_to_200`);
    await src.exec(sql`INSERT INTO Faves SELECT seq, 42 FROM seq_1_to_30`);
  });

  afterAll(async () => {
    await env?.close();
  });

  it('stops at a safe point when interrupted, then abort removes the copy and leaves the user in place', async () => {
    const ac = new AbortController();
    const { deps, close } = makeDeps(env.topology, (e) => {
      if (e.type === 'chunk.copied') ac.abort();
    });
    try {
      const err = await expectCode(runMove(deps, req({ concurrency: 1 }), { signal: ac.signal }), 'INTERRUPTED');
      expect(err.exitCode).toBe(130);
      expect(err.message).toMatch(/mapping was NOT flipped/);
      expect(shardOf()).toBe(1);
      expect(count('b', 'users2', 'Dots') + count('b', 'users2', 'Faves')).toBeGreaterThan(0);
      expect(env.cli('a', 'flamework', 'SELECT state, phase FROM fw_shard_moves').trim()).toBe('active\tcopy');

      const ab = await abortMove(deps, { userId: '42' as UserId });
      expect(ab.phase).toBe('aborted');
      expect(count('b', 'users2', 'Dots') + count('b', 'users2', 'Faves')).toBe(0);
      expect(count('a', 'users1', 'Dots')).toBe(150);
      expect(shardOf()).toBe(1);
      expect(env.cli('a', 'flamework', 'SELECT state, active_user IS NULL FROM fw_shard_moves').trim()).toBe('aborted\t1');
      await expectCode(abortMove(deps, { userId: '42' as UserId }), 'MOVE_NOT_FOUND');
      // and the user can be moved afterwards
      const r = await runMove(deps, req());
      expect(r.ok).toBe(true);
      expect(shardOf()).toBe(2);
    } finally {
      await close();
    }
  });

  it('an abort killed half-way is finished by the next resume, even one in online mode', async () => {
    const ac = new AbortController();
    const { deps, close } = makeDeps(env.topology, (e) => {
      if (e.type === 'chunk.copied') ac.abort();
    });
    try {
      const err = await expectCode(runMove(deps, req({ concurrency: 1 }), { signal: ac.signal }), 'INTERRUPTED');
      const moveId = /move (\d+) can be resumed/.exec(err.message)?.[1];
      expect(moveId).toBeDefined();
      // What a SIGKILL inside `fw-shard abort` leaves: the phase says aborting, some copies remain.
      env.cli('a', 'flamework', `UPDATE fw_shard_moves SET phase = 'aborting', runner_host = NULL WHERE id = ${moveId}`);
      expect(count('b', 'users2', 'Dots') + count('b', 'users2', 'Faves')).toBeGreaterThan(0);
      const r = await resumeMove(deps, moveId!, { assumeNoWrites: false, chunkTimeMs: 500, chunkSize: 25, concurrency: 2, dryRun: false });
      expect(r.phase).toBe('aborted');
      expect(r.nextStep).toMatch(/aborted half-way; run the move again to start over/);
      expect(count('b', 'users2', 'Dots') + count('b', 'users2', 'Faves')).toBe(0);
      expect(count('a', 'users1', 'Dots')).toBe(150);
      expect(shardOf()).toBe(1);
      expect(env.cli('a', 'flamework', `SELECT state, phase FROM fw_shard_moves WHERE id = ${moveId}`).trim()).toBe('aborted\taborted');
    } finally {
      await close();
    }
  });

  it('verify: rows whose owner is NULL are listed apart, not as orphans of a user "null"', async () => {
    await onBothShards(env, [
      'DROP TABLE IF EXISTS Notes',
      'CREATE TABLE Notes (id INT UNSIGNED NOT NULL PRIMARY KEY, user_id INT UNSIGNED NULL, body VARCHAR(20))',
    ]);
    try {
      await env.db('a', 'users1').exec(sql`INSERT INTO Notes VALUES (1, 42, 'mine'), (2, NULL, 'nobody'), (3, NULL, 'nobody')`);
      const conns = new Connections();
      const report = await findOrphans(env.topology, (e) => conns.get(e), {}).finally(() => conns.closeAll());
      // (This file's Faves fixture has rows of users 1..30, which do not exist: orphans of its own.)
      expect(report.orphans.filter((g) => g.table === 'Notes')).toEqual([]);
      expect(report.nullOwners).toEqual([{ shard: 1, table: 'Notes', rows: '2' }]);
      expect(renderVerify(report)).toMatch(/not orphans: 2 row\(s\) of Notes on shard 1 have no owner \(NULL\)/);
    } finally {
      await onBothShards(env, ['DROP TABLE IF EXISTS Notes']);
    }
  });

  it('defers the cleanup, refuses abort after the flip, and the deferred cleanup keeps rows that changed', async () => {
    const { deps, close } = makeDeps(env.topology, () => undefined);
    try {
      const r = await runMove(deps, req({ cleanup: 'defer' }));
      expect(r.phase).toBe('cleanup-pending');
      expect(shardOf()).toBe(2);
      expect(count('a', 'users1', 'Dots')).toBe(150); // still there
      const refused = await expectCode(abortMove(deps, { moveId: r.moveId! }), 'ALREADY_FLIPPED');
      expect(refused.hint).toMatch(/--to 1/);

      // A stale app server writes to the old shard after the flip.
      await env.db('a', 'users1').exec(sql`UPDATE Dots SET body = 'stale write' WHERE id = 9007199254740995`);
      const err = await expectCode(
        runDeferredCleanups(deps, 0, { assumeNoWrites: true, chunkTimeMs: 500, chunkSize: 25, concurrency: 1, dryRun: false }),
        'DATA_MISMATCH',
      );
      expect(err.message).toMatch(/id=9007199254740995/);
      expect(err.message).toMatch(/mapping WAS flipped/);
      // Only the changed row is kept (every other row of its range is identical on the target).
      expect(env.cli('a', 'users1', "SELECT COUNT(*) FROM Dots WHERE body = 'stale write'").trim()).toBe('1');
      expect(count('a', 'users1', 'Dots')).toBe(1);
      expect(count('a', 'users1', 'Faves')).toBe(0);
      expect(count('b', 'users2', 'Dots')).toBe(150);
    } finally {
      await close();
    }
  });

  it("the cleanup deletes through the owner index: another user's row locked in the middle of the range does not hold it up", { timeout: 60_000 }, async () => {
    // Every session fw-shard opens waits 1 s for a lock at most (set before they exist).
    await env.db('a', 'mysql').exec(sql`SET GLOBAL innodb_lock_wait_timeout = 1`);
    const { deps, close } = makeDeps(env.topology, () => undefined);
    const holder = env.db('a', 'users1');
    let release!: () => void;
    let holding: Promise<unknown> | undefined;
    try {
      const r = await runMove(deps, req({ cleanup: 'defer', chunkSize: 200 }));
      expect(r.phase).toBe('cleanup-pending');
      // User 43's rows sit between user 42's keys (a quarter of the table). An app transaction holds one
      // of them: a cleanup that read the primary key's range or the whole table would wait, then fail.
      const released = new Promise<void>((res) => (release = res));
      let locked!: () => void;
      const isLocked = new Promise<void>((res) => (locked = res));
      holding = holder.transaction(
        async (s) => {
          await s.rows(sql`SELECT body FROM Dots WHERE id = ${raw('9007199254741393')} FOR UPDATE`);
          locked();
          await released;
        },
        { binary: false },
      );
      await isLocked;
      expect(env.cli('a', 'users1', 'SELECT user_id FROM Dots WHERE id = 9007199254741393').trim()).toBe('43');
      const done = await runDeferredCleanups(deps, 0, { assumeNoWrites: true, chunkTimeMs: 500, chunkSize: 200, concurrency: 1, dryRun: false });
      expect(done.map((d) => d.ok)).toEqual([true]);
      expect(count('a', 'users1', 'Dots')).toBe(0);
      expect(count('a', 'users1', 'Dots', 43)).toBe(50);
    } finally {
      release?.();
      await holding;
      await env.db('a', 'mysql').exec(sql`SET GLOBAL innodb_lock_wait_timeout = 50`);
      await close();
    }
  });

  it('a key collision under another owner: a dry run finds it up front; a move fails that chunk, keeps none of it, and abort undoes the rest', async () => {
    const { deps, close } = makeDeps(env.topology, () => undefined);
    try {
      await env.db('b', 'users2').exec(sql`INSERT INTO Dots VALUES (9007199254740995, 77, 'someone else')`);
      const dry = await expectCode(runMove(deps, req({ dryRun: true })), 'KEY_COLLISION');
      expect(dry.message).toMatch(/Dots: id=9007199254740995 belongs to user_id=77 on shard 2/);
      expect(env.cli('a', 'flamework', "SHOW TABLES LIKE 'fw_shard%'").trim()).toBe('');

      // A real move does not scan for collisions up front: the insert finds it, for free.
      const col = await expectCode(runMove(deps, req()), 'KEY_COLLISION');
      expect(col.message).toMatch(/Dots: id=9007199254740995 belongs to user_id=77 on shard 2/);
      expect(col.message).toMatch(/nothing of that chunk was kept/);
      expect(col.message).toMatch(/mapping was NOT flipped/);
      expect(col.exitCode).toBe(5);
      expect(col.hint).toMatch(/fw-shard resume \d+ continues the move; fw-shard abort \d+ undoes it/);
      // The chunk holding the key was rolled back (the first of Dots: nothing of Dots is there); the
      // stranger's row is untouched, and the user still lives on shard 1.
      expect(count('b', 'users2', 'Dots')).toBe(0);
      expect(env.cli('b', 'users2', 'SELECT user_id, body FROM Dots WHERE id = 9007199254740995').trim()).toBe('77\tsomeone else');
      expect(shardOf()).toBe(1);
      await abortMove(deps, { userId: '42' as UserId });
      expect(count('b', 'users2', 'Faves')).toBe(0);
      expect(count('b', 'users2', 'Dots', 77)).toBe(1);
      await env.db('b', 'users2').exec(sql`DELETE FROM Dots WHERE user_id = 77`);
    } finally {
      await close();
    }
  });

  it('refuses before writing anything: schema drift, read_only target', async () => {
    const { deps, close } = makeDeps(env.topology, () => undefined);
    try {
      await env.db('b', 'users2').exec(sql`ALTER TABLE Dots ADD COLUMN extra INT NULL`);
      const drift = await expectCode(runMove(deps, req()), 'SCHEMA_DRIFT');
      expect(drift.message).toMatch(/table Dots: column extra \(int\(11\)\) exists only on the target/);
      await env.db('b', 'users2').exec(sql`ALTER TABLE Dots DROP COLUMN extra`);

      await env.db('b', 'mysql').exec(sql`SET GLOBAL read_only = 1`);
      try {
        await expectCode(runMove(deps, req()), 'TARGET_READ_ONLY');
      } finally {
        await env.db('b', 'mysql').exec(sql`SET GLOBAL read_only = 0`);
      }
      expect(count('b', 'users2', 'Dots')).toBe(0);
      expect(shardOf()).toBe(1);
      expect(env.cli('a', 'flamework', "SHOW TABLES LIKE 'fw_shard%'").trim()).toBe('');
    } finally {
      await close();
    }
  });

  it('deletes the cached user row from a real memcached after the flip', async () => {
    const port = await freePort();
    const mc: ChildProcess = spawn('memcached', ['-l', '127.0.0.1', '-p', String(port), '-U', '0', '-u', 'root'], { stdio: 'ignore' });
    try {
      await waitPort(port);
      await memcached(port, `set app_USER-42 0 0 5\r\nhello\r\n`);
      await memcached(port, `set app_USER-43 0 0 5\r\nother\r\n`);
      const topology: Topology = { ...env.topology, memcached: { servers: [`127.0.0.1:${port}`], keys: ['USER-{id}'], prefix: 'app' } };
      const { deps, close } = makeDeps(topology, () => undefined);
      try {
        const r = await runMove(deps, req());
        expect(r.ok).toBe(true);
      } finally {
        await close();
      }
      expect(await memcached(port, 'get app_USER-42\r\n')).toBe('END\r\n');
      expect(await memcached(port, 'get app_USER-43\r\n')).toContain('other');
    } finally {
      mc.kill('SIGTERM');
    }
  });

  it("graduates from poor man's federation: shard 1 is db_main, its own tables stay", async () => {
    const main = env.db('a', 'flamework');
    for (const d of DDL) await main.exec(sql`${raw(d)}`);
    await main.exec(sql`CREATE TABLE DotsLookup (dot_id BIGINT UNSIGNED NOT NULL PRIMARY KEY, user_id INT UNSIGNED NOT NULL)`);
    await main.exec(sql`CREATE TABLE users_password_reset (user_id INT UNSIGNED NOT NULL, reset_code VARCHAR(32))`);
    await main.exec(sql`INSERT INTO Dots SELECT seq, 42, 'in db_main' FROM seq_1_to_60`);
    await main.exec(sql`INSERT INTO DotsLookup SELECT seq, 42 FROM seq_1_to_60`);
    await main.exec(sql`INSERT INTO users_password_reset VALUES (42, 'abc')`);
    const rawConfig = {
      defaults: { host: '127.0.0.1', user: 'root', password: '' },
      main: { port: env.a.port, database: 'flamework' },
      shards: { '1': { port: env.a.port, database: 'flamework' }, '2': { port: env.b.port, database: 'users2' } },
      poorMans: { federation: true },
    };
    // Without a list of sharded tables, a move off db_main is refused before anything is written.
    const undeclared = makeDeps(normalizeConfig(rawConfig, { env: {}, baseDir: env.dir, origin: 'test' }).topology, () => undefined);
    try {
      const err = await runMove(undeclared.deps, req({ dryRun: true })).then(
        () => null,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(FwShardError);
      expect((err as FwShardError).code).toBe('TABLES_UNDECLARED');
      expect((err as FwShardError).exitCode).toBe(5);
      expect((err as FwShardError).message).toContain('Dots, DotsLookup, Faves, users_password_reset');
    } finally {
      await undeclared.close();
    }
    // A shard built from every schema file holds DotsLookup too: with the list it still stays.
    await env.db('b', 'users2').exec(sql`CREATE TABLE DotsLookup (dot_id BIGINT UNSIGNED NOT NULL PRIMARY KEY, user_id INT UNSIGNED NOT NULL)`);
    const topology = normalizeConfig({ ...rawConfig, tables: { include: ['Dots', 'Faves'] } }, { env: {}, baseDir: env.dir, origin: 'test' }).topology;
    const { deps, close } = makeDeps(topology, () => undefined);
    try {
      const plan = await runMove(deps, req({ dryRun: true }));
      expect(plan.plan?.sourceIsMain).toBe(true);
      expect(plan.plan?.tables.map((t) => t.name)).toEqual(['Dots', 'Faves']);
      expect(plan.plan?.skippedTables.map((t) => t.name).sort()).toEqual(['DotsLookup', 'users_password_reset']);
      expect(plan.plan?.warnings).toContainEqual(expect.stringMatching(/shard 2 holds tables that belong to db_main: DotsLookup/));
      // The dry run lists every named check it passed, in order, the costly key-collisions among them.
      expect(plan.plan?.checks).toEqual([
        'target-writable',
        'row-hash-available',
        'distinct-databases',
        'main-tables-declared',
        'owner-paths',
        'schema-drift',
        'sharded-tables',
        'innodb',
        'app-triggers',
        'no-split',
        'one-referrer-per-shared-table',
        'foreign-keys',
        'shared-rows-equal',
        'keyless-row-cap',
        'target-holds-no-rows',
        'key-collisions',
      ]);
      const r = await runMove(deps, req());
      expect(r.ok).toBe(true);
      expect(shardOf()).toBe(2);
      expect(count('b', 'users2', 'Dots')).toBe(60);
      expect(count('a', 'flamework', 'Dots')).toBe(0);
      expect(count('a', 'flamework', 'DotsLookup')).toBe(60);
      expect(count('a', 'flamework', 'users_password_reset')).toBe(1);
    } finally {
      await close();
      for (const t of ['Dots', 'Faves', 'DotsLookup', 'users_password_reset']) await main.exec(sql`DROP TABLE ${raw(t)}`);
      await env.db('b', 'users2').exec(sql`DROP TABLE IF EXISTS DotsLookup`);
    }
  });
});

function waitPort(port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const deadline = Date.now() + 5000;
    const tryOnce = () => {
      const s = createConnection({ host: '127.0.0.1', port });
      s.once('connect', () => {
        s.destroy();
        resolve();
      });
      s.once('error', () => {
        s.destroy();
        if (Date.now() > deadline) reject(new Error('memcached did not start'));
        else setTimeout(tryOnce, 50);
      });
    };
    tryOnce();
  });
}

/** One memcached text-protocol exchange (an independent client for the checks). */
function memcached(port: number, command: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = createConnection({ host: '127.0.0.1', port });
    let buf = '';
    s.on('data', (d) => {
      buf += d.toString();
      if (/(END|STORED|DELETED|NOT_FOUND|ERROR)\r\n$/.test(buf)) {
        s.end();
        resolve(buf);
      }
    });
    s.on('error', reject);
    s.write(command);
  });
}

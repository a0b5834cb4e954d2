/**
 * Trigger-mode moves on shards with real replicas (issue 22, "Replicas"). Each shard primary logs in
 * binlog_format ROW, then MIXED, and a replica server replicates it (test/helpers/replication.ts):
 *  - a default online move (trigger mode, the app writing the moving user's and other users' rows on
 *    both shards meanwhile) and its cleanup leave every sharded table on each replica identical to its
 *    primary (CHECKSUM TABLE, the moved user's row counts), replication running without error, and
 *    fw-shard's objects (triggers, fence and change-log rows) on each replica as on its primary;
 *  - `--max-lag 1s` waits while a replica really lags (MASTER_DELAY with writes flowing) and goes on once
 *    the lag is gone;
 *  - with binary logging on, a login with README's grants but not SUPER gets re-hash mode while
 *    log_bin_trust_function_creators = 0 (the reason says so) and trigger mode once it is 1; a replica
 *    login without REPLICA MONITOR makes `--max-lag` wait, saying the replica's lag cannot be read.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeDeps } from '../../src/app/deps.js';
import { runCli } from '../../src/cli/main.js';
import type { CliContext } from '../../src/cli/context.js';
import { Connections } from '../../src/db/pool.js';
import { makeThrottler } from '../../src/move/throttler.js';
import { runMove } from '../../src/move/engine.js';
import { DEFAULT_ONLINE, type MoveAsk } from '../../src/move/types.js';
import type { MoveEvent } from '../../src/events/types.js';
import type { ShardId, Topology, UserId } from '../../src/topology/index.js';
import { AppSimulator } from '../helpers/app-simulator.js';
import { expectNoWriteLost } from '../helpers/online-env.js';
import { sink } from '../helpers/sink.js';
import {
  binlogWritesOf,
  checksums,
  fwShardObjects,
  readmeGrants,
  SHARDED_TABLES,
  SHARDS,
  startReplicatedEnv,
  type ReplicatedEnv,
} from '../helpers/replication.js';

const ROOT = join(import.meta.dirname, '../..');
const DOTS = 2000;
const FAVES = 1000;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** An app writing one user's Dots through memcached and db_main, as test/helpers/app-simulator.ts does. */
function app(topology: Topology, mcPort: number, userId: string, pauseMs: number): AppSimulator {
  return new AppSimulator(
    userId,
    {
      main: topology.main,
      tickets: topology.tickets[0]!,
      shards: new Map([
        [1, topology.shards.get(1 as ShardId)!],
        [2, topology.shards.get(2 as ShardId)!],
      ]),
    },
    mcPort,
    pauseMs,
  );
}

interface Run {
  code: number;
  stdout: string;
  stderr: string;
  events: Record<string, unknown>[];
  doc: Record<string, any> | undefined;
}

/**
 * The command line in process, without a terminal. `watch` sees every NDJSON event line as it is
 * written (with --events), so a test can act while the move runs.
 */
async function fw(r: ReplicatedEnv, config: string, argv: string[], watch?: (e: Record<string, unknown>) => void): Promise<Run> {
  const stdout = sink();
  let seen = 0;
  const lines = () => stdout.text().split('\n');
  const poll = watch
    ? setInterval(() => {
        const all = lines();
        for (; seen < all.length - 1; seen++) if (all[seen]!.startsWith('{"v"')) watch(JSON.parse(all[seen]!) as Record<string, unknown>);
      }, 50)
    : undefined;
  const stderr = sink();
  const ctx: CliContext = { stdout, stderr, stdinIsTTY: false, env: {}, cwd: r.env.dir };
  try {
    const code = await runCli(['--config', config, ...argv], ctx);
    const all = lines().filter(Boolean);
    const events = all.filter((l) => l.startsWith('{"v"')).map((l) => JSON.parse(l) as Record<string, unknown>);
    const last = all.at(-1);
    const doc = argv.includes('--events')
      ? last && !last.startsWith('{"v"')
        ? JSON.parse(last)
        : undefined
      : stdout.text()
        ? JSON.parse(stdout.text())
        : undefined;
    return { code, stdout: stdout.text(), stderr: stderr.text(), events, doc };
  } finally {
    if (poll) clearInterval(poll);
  }
}

/**
 * Every replica has applied all its primary logged, still replicates without error, and holds what its
 * primary holds: each sharded table (CHECKSUM TABLE), the users table, the moved user's row counts, and
 * fw-shard's triggers and fence and change-log rows, whatever the move left of them. Returns the figures.
 */
async function expectReplicasIdentical(r: ReplicatedEnv, userId = '42'): Promise<Record<string, unknown>> {
  await r.catchUp();
  const figures: Record<string, unknown> = {};
  for (const s of SHARDS) {
    const st = r.replicaStatus(s.replica);
    expect(
      { io: st.Slave_IO_Running, sql: st.Slave_SQL_Running, sqlErrno: st.Last_SQL_Errno, ioErrno: st.Last_IO_Errno },
      `${s.replica}: ${st.Last_SQL_Error}`,
    ).toEqual({
      io: 'Yes',
      sql: 'Yes',
      sqlErrno: '0',
      ioErrno: '0',
    });
    const tables = [...SHARDED_TABLES, 'fw_shard_fence', 'fw_shard_changes'];
    const onPrimary = checksums(r, s.primary, s.database, tables);
    const onReplica = checksums(r, s.replica, s.database, tables);
    expect(onReplica, `CHECKSUM TABLE on ${s.replica} (shard ${s.shard})`).toEqual(onPrimary);
    for (const t of SHARDED_TABLES) expect(onPrimary[t], `${t} on shard ${s.shard}`).not.toBe('missing');
    const count = (server: typeof s.primary | typeof s.replica) =>
      SHARDED_TABLES.map((t) => r.cli(server, s.database, `SELECT COUNT(*) FROM ${t} WHERE user_id = ${userId}`).trim()).join(',');
    expect(count(s.replica), `user ${userId}'s rows on ${s.replica}`).toBe(count(s.primary));
    const objects = fwShardObjects(r, s.primary, s.database);
    expect(fwShardObjects(r, s.replica, s.database), `fw-shard objects on ${s.replica}`).toEqual(objects);
    figures[`shard ${s.shard}`] = {
      checksums: onPrimary,
      [`user ${userId} rows (${SHARDED_TABLES.join(',')})`]: count(s.primary),
      triggers: objects.triggers.length,
      fenceRows: objects.fence === 'missing' ? 'missing' : objects.fence.split('\n').filter(Boolean).length,
    };
  }
  const users = (server: 'a' | 'ra') => r.cli(server, 'flamework', 'CHECKSUM TABLE users').trim().split('\t')[1];
  expect(users('ra')).toBe(users('a'));
  return figures;
}

const FORMATS = ['ROW', 'MIXED'] as const;

for (const format of FORMATS) {
  describe(`binlog_format = ${format}, each shard primary with a real replica`, () => {
    let r: ReplicatedEnv;
    beforeAll(async () => {
      r = await startReplicatedEnv(`replicas-${format.toLowerCase()}`, format);
    });
    afterAll(async () => {
      await r?.close();
    });

    it('a default online move (trigger mode) with app writes, then its cleanup: every replica identical to its primary', async () => {
      const seeded = await r.reset(DOTS, FAVES);
      expect(r.cli('a', 'mysql', 'SELECT @@log_bin, @@binlog_format').trim()).toBe(`1\t${format}`);
      await r.catchUp();
      // The moving user, another user on the source shard, one on the target shard.
      const apps = [app(r.topology, r.mcPort, '42', 3), app(r.topology, r.mcPort, '43', 5), app(r.topology, r.mcPort, '44', 5)];
      apps[0]!.know(seeded);
      apps[1]!.know(r.cli('a', 'users1', 'SELECT id FROM Dots WHERE user_id = 43').trim().split('\n'));
      apps[2]!.know(r.cli('b', 'users2', 'SELECT id FROM Dots WHERE user_id = 44').trim().split('\n'));
      const logged = () => Object.fromEntries(SHARDS.map((s) => [`shard ${s.shard}`, binlogWritesOf(r, s.primary, 'Dots')]));
      const loggedBefore = logged();
      const events: MoveEvent[] = [];
      const { deps, close } = makeDeps(r.topology, (e) => events.push(e));
      const ask: MoveAsk = { userId: '42' as UserId, to: 2 as ShardId, dryRun: false, chunkTimeMs: 500, concurrency: 2, online: DEFAULT_ONLINE };
      let flippedAt = 0;
      for (const a of apps) a.start();
      try {
        const res = await runMove(deps, ask);
        flippedAt = Date.now();
        expect(res.ok, JSON.stringify(res.error)).toBe(true);
        expect(res.plan?.capture?.mode, res.plan?.capture?.reason).toBe('trigger');
        expect(res.mappingFlipped).toBe(true);
        expect(res.phase).toBe('done');
        // The app goes on writing after the flip and the cleanup, then stops.
        await sleep(300);
      } finally {
        for (const a of apps) await a.stop();
        await close();
        for (const a of apps) await a.close();
      }
      for (const a of apps) expect(a.anomalies).toEqual([]);
      for (const a of apps) expect(a.acks.length).toBeGreaterThan(5);
      expect(events.some((e) => e.type === 'cleanup.progress')).toBe(true);
      expectNoWriteLost(r.env, apps[0]!.acks, seeded, flippedAt);
      const figures = await expectReplicasIdentical(r);
      // How the primaries logged the writes of Dots during the move (the app's and fw-shard's).
      const loggedAfter = logged();
      const binlog = Object.fromEntries(
        Object.entries(loggedAfter).map(([k, v]) => [
          k,
          { statements: v.statements - loggedBefore[k]!.statements, rowEvents: v.rowEvents - loggedBefore[k]!.rowEvents },
        ]),
      );
      // With fw-shard's triggers on a table, MIXED logs its writes as rows too (the trigger writes an
      // AUTO_INCREMENT column: unsafe as a statement); only ROW never logs them as statements.
      for (const v of Object.values(binlog)) {
        expect(v.rowEvents).toBeGreaterThan(0);
        if (format === 'ROW') expect(v.statements).toBe(0);
      }
      console.log(
        `[${format}] move with writes: ${JSON.stringify({ acks: apps.map((a) => a.acks.length), refused: apps[0]!.refusedWrites, binlogDotsWrites: binlog, ...figures })}`,
      );
    });

    if (format === 'ROW') {
      it('--max-lag 1s waits while a replica of the source really lags (MASTER_DELAY, writes flowing), and completes once the lag is gone', async () => {
        const seeded = await r.reset(DOTS, FAVES);
        await r.catchUp();
        // Another user of the source shard keeps writing; its replica applies every event 4 s late.
        const other = app(r.topology, r.mcPort, '43', 5);
        other.know(r.cli('a', 'users1', 'SELECT id FROM Dots WHERE user_id = 43').trim().split('\n'));
        let lagRemoved = false;
        const removeLag = () => {
          if (lagRemoved) return;
          lagRemoved = true;
          r.cli('ra', 'mysql', 'STOP SLAVE; CHANGE MASTER TO MASTER_DELAY = 0; START SLAVE');
        };
        const lagSeen: number[] = [];
        try {
          r.cli('ra', 'mysql', 'STOP SLAVE; CHANGE MASTER TO MASTER_DELAY = 4; START SLAVE');
          other.start();
          for (let i = 0; i < 100; i++) {
            const lag = Number(r.replicaStatus('ra').Seconds_Behind_Master);
            if (Number.isFinite(lag) && r.replicaStatus('ra').Seconds_Behind_Master !== 'NULL') lagSeen.push(lag);
            if (lag >= 3) break;
            await sleep(100);
          }
          expect(Math.max(...lagSeen), 'Seconds_Behind_Master of the delayed replica').toBeGreaterThanOrEqual(3);

          let throttledAt = 0;
          const order: string[] = [];
          const run = fw(r, r.configFile('root.json'), ['move', '--user', '42', '--to', '2', '--yes', '--events', '--json', '--max-lag', '1s'], (e) => {
            order.push(String(e.type));
            if (e.type === 'throttled' && !throttledAt) {
              throttledAt = Date.now();
              // Waiting for a while, then the operator removes the delay.
              setTimeout(() => {
                lagSeen.push(Number(r.replicaStatus('ra').Seconds_Behind_Master));
                removeLag();
              }, 2500);
            }
          });
          const res = await run;
          expect(res.code, res.stderr).toBe(0);
          expect(res.doc).toMatchObject({ ok: true, phase: 'done', mappingFlipped: true });
          expect(res.doc?.plan?.capture?.mode).toBe('trigger');
          const throttled = res.events.filter((e) => e.type === 'throttled');
          const resumed = res.events.filter((e) => e.type === 'resumed');
          expect(throttled.length).toBeGreaterThan(0);
          expect(String(throttled[0]!.reason)).toMatch(/^replica lag [0-9]+ s on replica 1 of shard 1 \(max 1 s\)$/);
          expect(resumed.length).toBeGreaterThan(0);
          expect(Number(resumed[0]!.throttledMs)).toBeGreaterThanOrEqual(2000);
          // Nothing was copied while it waited: the first resumed comes before the first chunk.
          expect(order.indexOf('resumed')).toBeLessThan(order.indexOf('chunk.copied'));
          expect(lagRemoved).toBe(true);
          console.log(
            `[ROW] --max-lag: ${JSON.stringify({ lagSeenS: lagSeen, throttledEvents: throttled.length, reasons: throttled.map((e) => e.reason), resumed: resumed.map((e) => e.throttledMs) })}`,
          );
        } finally {
          removeLag();
          await other.stop();
          await other.close();
        }
        expect(other.anomalies).toEqual([]);
        expect(r.cli('a', 'flamework', 'SELECT cluster_id FROM users WHERE id = 42').trim()).toBe('2');
        expect(r.cli('b', 'users2', 'SELECT COUNT(*) FROM Dots WHERE user_id = 42').trim()).toBe(String(seeded.length));
        await expectReplicasIdentical(r);
      });
    }

    if (format === 'MIXED') {
      describe('a login without SUPER, with the grants of README "Required privileges"', () => {
        const LOGIN = { user: 'fwleast', password: 'Least-Priv1lege-Pw' };
        const onPrimaries = (statements: string) => {
          r.cli('a', 'mysql', statements);
          r.cli('b', 'mysql', statements);
        };
        beforeAll(async () => {
          // db_main, the shards and the tickets: the README's table-level grants (merged per table, since
          // a table-level GRANT without CREATE on a table that does not exist yet is refused).
          const g = readmeGrants(join(ROOT, 'README.md'));
          const perTable = new Map<string, Set<string>>();
          const add = (server: 'a' | 'b', db: string, list: typeof g.main) => {
            for (const x of list)
              for (const t of x.tables === 'sharded' ? SHARDED_TABLES : x.tables) {
                const k = `${server}\t\`${db}\`.\`${t}\``;
                const set = perTable.get(k) ?? new Set<string>();
                for (const p of x.privileges.split(',')) set.add(p.trim());
                perTable.set(k, set);
              }
          };
          add('a', 'flamework', g.main);
          add('a', 'tickets', g.tickets);
          add('a', 'users1', g.shard);
          add('b', 'users2', g.shard);
          expect(g.main.length).toBeGreaterThan(1);
          expect(g.shard.length).toBeGreaterThan(0);
          const stmts: Record<'a' | 'b', string[]> = { a: [], b: [] };
          for (const [k, privs] of perTable) {
            const [server, target] = k.split('\t') as ['a' | 'b', string];
            stmts[server].push(`GRANT ${[...privs].join(', ')} ON ${target} TO '${LOGIN.user}'@'%'`);
          }
          // README row "online moves in trigger mode, in addition".
          expect(g.triggerMode.database).toMatch(/TRIGGER/);
          expect(g.triggerMode.global).toMatch(/PROCESS/);
          for (const [server, db] of [
            ['a', 'users1'],
            ['b', 'users2'],
          ] as const)
            stmts[server].push(
              `GRANT ${g.triggerMode.database} ON ${db}.* TO '${LOGIN.user}'@'%'`,
              `GRANT ${g.triggerMode.global} ON *.* TO '${LOGIN.user}'@'%'`,
            );
          for (const s of ['a', 'b'] as const) r.cli(s, 'mysql', `CREATE USER '${LOGIN.user}'@'%' IDENTIFIED BY '${LOGIN.password}'; ${stmts[s].join('; ')}`);
          expect(r.cli('a', 'mysql', `SHOW GRANTS FOR '${LOGIN.user}'@'%'`)).not.toMatch(/SUPER|ALL PRIVILEGES|MONITOR|REPLICATION/);
          // The login and its grants replicate to both replicas (which is where --max-lag reads).
          await r.catchUp();
        });
        afterAll(() => {
          if (r) onPrimaries('SET GLOBAL log_bin_trust_function_creators = 0');
        });

        const dryRun = async () => {
          const res = await fw(r, r.configFile('least.json', LOGIN), ['move', '--user', '42', '--to', '2', '--dry-run', '--json']);
          expect(res.code, res.stderr).toBe(0);
          return res.doc?.plan?.capture as { mode: string; reason: string };
        };

        it('log_bin on, log_bin_trust_function_creators = 0: re-hash mode, and the reason names log_bin_trust_function_creators; = 1: trigger mode', async () => {
          await r.reset(DOTS, FAVES);
          onPrimaries('SET GLOBAL log_bin_trust_function_creators = 0');
          const off = await dryRun();
          expect(off.mode).toBe('rehash');
          expect(off.reason).toMatch(/binary logging is on on the source shard and log_bin_trust_function_creators is off/);
          expect(off.reason).toMatch(/binary logging is on on the target shard and log_bin_trust_function_creators is off/);
          expect(off.reason).not.toMatch(/lacks/);
          onPrimaries('SET GLOBAL log_bin_trust_function_creators = 1');
          const on = await dryRun();
          expect(on.mode, on.reason).toBe('trigger');
          console.log(`[MIXED] capture without SUPER: ${JSON.stringify({ trustOff: off, trustOn: on })}`);
        });

        it('a replica login without REPLICA MONITOR: --max-lag waits, naming the privilege; a grant reaches new sessions only: stop, resume, and the move (trigger mode) completes', async () => {
          const seeded = await r.reset(DOTS, FAVES);
          onPrimaries('SET GLOBAL log_bin_trust_function_creators = 1');
          await r.catchUp();
          const config = r.configFile('least.json', LOGIN);
          // What the throttler reads, asked directly (new sessions each time): without the privilege, with
          // REPLICATION CLIENT (on MariaDB 10.5+ the alias of BINLOG MONITOR, which does not allow SHOW
          // REPLICA STATUS), then with REPLICA MONITOR.
          const reasons: Record<string, string | null> = {};
          const reasonNow = async () => {
            const conns = new Connections();
            try {
              return await makeThrottler(r.topologyAs(LOGIN), { maxLagMs: 1000 }, (e) => conns.get(e))!.reason(1, 2);
            } finally {
              await conns.closeAll();
            }
          };
          reasons.none = await reasonNow();
          onPrimaries(`GRANT REPLICATION CLIENT ON *.* TO '${LOGIN.user}'@'%'`);
          await r.catchUp();
          reasons['REPLICATION CLIENT'] = await reasonNow();
          for (const k of ['none', 'REPLICATION CLIENT']) {
            expect(reasons[k], k).toMatch(
              /cannot read the lag of replica 1 of shard 1: .*Access denied; you need \(at least one of\) the SUPER, SLAVE MONITOR privilege/,
            );
            expect(reasons[k], k).toMatch(/cannot read the lag of replica 1 of shard 2: .*Access denied.*SLAVE MONITOR/);
          }

          // The move does not fail: it waits before its first chunk and says why.
          let throttledOnce: () => void = () => undefined;
          const waiting = new Promise<void>((res) => (throttledOnce = res));
          const run = fw(r, config, ['move', '--user', '42', '--to', '2', '--yes', '--events', '--json', '--max-lag', '1s'], (e) => {
            if (e.type === 'throttled') throttledOnce();
          });
          let stopped: Run | undefined;
          try {
            await waiting;
            // Granted while it waits: the replicas' new sessions may read the lag, the move's open ones may not
            // (MariaDB reads a session's global privileges when it connects), so the move keeps waiting.
            onPrimaries(`GRANT REPLICA MONITOR ON *.* TO '${LOGIN.user}'@'%'`);
            await r.catchUp();
            reasons['REPLICA MONITOR'] = await reasonNow();
            expect(reasons['REPLICA MONITOR']).toBeNull();
            await sleep(2500);
            expect(r.cli('a', 'flamework', 'SELECT throttle_reason FROM fw_shard_moves WHERE user_id = 42')).toMatch(
              /cannot read the lag of replica 1 of shard 1: .*SLAVE MONITOR/,
            );
          } finally {
            // What the operator does: stop it at its safe point (it waits there), then resume it.
            stopped = await fw(r, config, ['stop', '--user', '42', '--wait', '30s', '--json']);
          }
          const first = await run;
          expect(stopped.code, stopped.stderr).toBe(0);
          expect(first.code, first.stderr).toBe(130);
          const throttled = first.events.filter((e) => e.type === 'throttled');
          expect(throttled.length).toBeGreaterThan(0);
          for (const e of throttled) expect(String(e.reason)).toMatch(/^cannot read the lag of replica 1 of shard 1: .*SLAVE MONITOR/);
          expect(first.events.filter((e) => e.type === 'chunk.copied')).toEqual([]);
          expect(first.events.some((e) => e.type === 'resumed')).toBe(false);
          const moveId = String(first.events.find((e) => e.type === 'move.started')!.moveId);

          const resumed = await fw(r, config, ['resume', moveId, '--events', '--json', '--max-lag', '1s']);
          expect(resumed.code, resumed.stderr).toBe(0);
          expect(resumed.doc).toMatchObject({ ok: true, phase: 'done', mappingFlipped: true });
          expect(resumed.doc?.plan?.capture?.mode ?? first.doc?.plan?.capture?.mode).toBe('trigger');
          expect(resumed.events.filter((e) => e.type === 'throttled')).toEqual([]);
          // The triggers were created by the login without SUPER (their definer), on primaries and replicas alike.
          expect(r.cli('a', 'users1', "SELECT DISTINCT DEFINER FROM information_schema.TRIGGERS WHERE TRIGGER_NAME LIKE 'fw\\_shard\\_%'").trim()).toBe(
            `${LOGIN.user}@%`,
          );
          expect(r.cli('b', 'users2', 'SELECT COUNT(*) FROM Dots WHERE user_id = 42').trim()).toBe(String(seeded.length));
          const figures = await expectReplicasIdentical(r);
          console.log(
            `[MIXED] replica login privileges: ${JSON.stringify({ reasons, throttledEvents: throttled.length, firstRunExit: first.code, resumeExit: resumed.code, ...figures })}`,
          );
        });
      });
    }
  });
}

/**
 * Pure parts of fleet operations: the throttler's decisions (with a fake probe and clock), apply's exit
 * codes, --until, --max-load parsing, and the fleet SQL builders as exact strings.
 */
import { describe, expect, it } from 'vitest';
import { preview } from '../../src/db/sql/fragment.js';
import { deleteByKeys as deleteRowsByKeysSql, deleteKeylessByHashSql, rowHashesByKeys, userSizesSql } from '../../src/db/sql/rows.js';
import { getLockSql } from '../../src/db/sql/locks.js';
import { globalStatusSql } from '../../src/db/sql/server.js';
import { placementsOfSql } from '../../src/db/sql/mapping.js';
import { nextClockTime } from '../../src/fleet/apply.js';
import { lockNames } from '../../src/fleet/lock.js';
import { applyExitCode } from '../../src/fleet/outcome.js';
import { parseMaxLoad, PollingThrottler, type ThrottleProbe } from '../../src/move/throttler.js';
import type { Endpoint, Topology } from '../../src/topology/index.js';
import { col } from '../helpers/schema-fixtures.js';

const ep = (role: string, port: number, replicas: Endpoint[] = []): Endpoint => ({
  role,
  host: '127.0.0.1',
  port,
  user: 'u',
  database: 'd',
  passwordSource: 'none',
  replicas,
});

function topo(): Topology {
  const r1 = ep('replica 1 of shard 1', 4001);
  return {
    main: ep('db_main', 3000),
    shards: new Map([
      [1, ep('shard 1', 3001, [r1])],
      [2, ep('shard 2', 3002)],
    ]) as unknown as Topology['shards'],
    tickets: [],
    mapping: { cluster: 'main', table: 'users', idColumn: 'id', shardColumn: 'cluster_id' },
    tables: { ownerColumn: 'user_id', exclude: [], owners: {}, keylessRowCap: 100000 },
    poorMansFederation: false,
  };
}

class FakeWorld implements ThrottleProbe {
  files = new Set<string>();
  lag = new Map<string, number | null | 'none'>();
  status = new Map<string, Record<string, number>>();
  query = 0;
  calls = 0;
  pauseFileExists(p: string) {
    return this.files.has(p);
  }
  async replicaLag(e: Endpoint) {
    this.calls++;
    return this.lag.has(e.role) ? this.lag.get(e.role)! : 0;
  }
  async globalStatus(e: Endpoint, names: readonly string[]) {
    this.calls++;
    if (e.role === 'shard 2' && this.status.get('down')) throw new Error('connect ECONNREFUSED');
    return Object.fromEntries(names.map((n) => [n, this.status.get(e.role)?.[n] ?? 1]));
  }
  async throttleQuery() {
    this.calls++;
    return this.query;
  }
}

function clock() {
  let t = 0;
  const sleeps: number[] = [];
  return {
    now: () => t,
    sleep: async (ms: number) => {
      sleeps.push(ms);
      t += ms;
    },
    sleeps,
    advance: (ms: number) => (t += ms),
  };
}

describe('throttler', () => {
  it('names every reason: pause file, throttle query, load on either server, lag of a replica', async () => {
    const w = new FakeWorld();
    const th = new PollingThrottler(
      topo(),
      { pauseFile: '/p', throttleQuery: 'SELECT 1', maxLoad: parseMaxLoad('Threads_running=10'), maxLagMs: 2000 },
      w,
      clock(),
    );
    expect(await th.reason(1, 2)).toBeNull();
    w.files.add('/p');
    w.query = 2;
    w.status.set('shard 2', { Threads_running: 11 });
    w.lag.set('replica 1 of shard 1', 3);
    expect(await th.reason(1, 2)).toBe(
      [
        'Threads_running=11 on shard 2 (max 10)',
        'pause file /p exists (remove it to continue)',
        'replica lag 3 s on replica 1 of shard 1 (max 2 s)',
        'throttle query returned 2',
      ].join('; '),
    );
    w.files.clear();
    w.query = 0;
    w.status.clear();
    w.lag.set('replica 1 of shard 1', null);
    expect(await th.reason(1, 2)).toMatch(/replication is stopped or broken/);
    w.lag.set('replica 1 of shard 1', 'none');
    expect(await th.reason(1, 2)).toMatch(/is not replicating/);
    w.lag.clear();
    w.status.set('down', { x: 1 });
    expect(await th.reason(1, 2)).toMatch(/cannot read the load of shard 2: connect ECONNREFUSED/);
  });

  it('waits while throttled, reporting the reason once (and again when it changes or every 30 s), then resumed with the time', async () => {
    const w = new FakeWorld();
    const c = clock();
    const th = new PollingThrottler(topo(), { pauseFile: '/p', maxLoad: [{ name: 'Threads_running', max: 5 }] }, w, c);
    w.files.add('/p');
    const reports: unknown[] = [];
    let polls = 0;
    const origSleep = c.sleep;
    c.sleep = async (ms: number) => {
      polls++;
      if (polls === 3) w.status.set('shard 1', { Threads_running: 9 });
      if (polls === 5) w.files.delete('/p');
      if (polls === 40) w.status.clear();
      await origSleep(ms);
    };
    await th.wait({ from: 1, to: 2, report: (r) => reports.push(r) });
    expect(reports[0]).toEqual({ throttled: true, reason: 'pause file /p exists (remove it to continue)' });
    expect(reports[1]).toEqual({ throttled: true, reason: 'Threads_running=9 on shard 1 (max 5); pause file /p exists (remove it to continue)' });
    expect(reports[2]).toEqual({ throttled: true, reason: 'Threads_running=9 on shard 1 (max 5)' });
    expect(reports.filter((r) => (r as { reason?: string }).reason === 'Threads_running=9 on shard 1 (max 5)').length).toBe(2); // reminded after 30 s
    expect(reports[reports.length - 1]).toEqual({ throttled: false, ms: 40_000 });
  });

  it('trusts an all-clear for a second (no probe per chunk), but always looks at the pause file', async () => {
    const w = new FakeWorld();
    const c = clock();
    const th = new PollingThrottler(topo(), { pauseFile: '/p', maxLagMs: 1000 }, w, c);
    await th.wait({ from: 1, to: 2, report: () => undefined });
    const n = w.calls;
    await th.wait({ from: 1, to: 2, report: () => undefined });
    expect(w.calls).toBe(n);
    w.files.add('/p');
    expect(await th.reason(1, 2)).toMatch(/pause file/);
    w.files.clear();
    c.advance(1001);
    await th.wait({ from: 1, to: 2, report: () => undefined });
    expect(w.calls).toBeGreaterThan(n);
  });

  it('stops waiting when the signal is aborted', async () => {
    const w = new FakeWorld();
    w.files.add('/p');
    const ac = new AbortController();
    const c = clock();
    c.sleep = async () => ac.abort();
    const th = new PollingThrottler(topo(), { pauseFile: '/p' }, w, c);
    await th.wait({ from: 1, to: 2, signal: ac.signal, report: () => undefined });
    expect(ac.signal.aborted).toBe(true);
  });

  it('parses --max-load', () => {
    expect(parseMaxLoad('25')).toEqual([{ name: 'Threads_running', max: 25 }]);
    expect(parseMaxLoad('Threads_running=25, Threads_connected=500')).toEqual([
      { name: 'Threads_running', max: 25 },
      { name: 'Threads_connected', max: 500 },
    ]);
    expect(() => parseMaxLoad('Threads_running>25')).toThrow(/Threads_running=25/);
  });
});

describe('apply: exit codes and --until', () => {
  const o = (outcome: string, exitCode?: number) =>
    ({ outcome, ...(exitCode !== undefined ? { exitCode } : {}) }) as Parameters<typeof applyExitCode>[0][number];
  it('0 when nothing failed, 9 when some failed, the failing code when all attempted failed, 130 when stopped at a safe point', () => {
    expect(applyExitCode([])).toBe(0);
    expect(applyExitCode([o('done'), o('skipped-done'), o('busy'), o('stale'), o('not-started')])).toBe(0);
    expect(applyExitCode([o('done'), o('failed', 6)])).toBe(9);
    expect(applyExitCode([o('skipped-done'), o('failed', 6)])).toBe(9);
    expect(applyExitCode([o('failed', 5), o('failed', 6), o('busy')])).toBe(5);
    expect(applyExitCode([o('done'), o('interrupted', 130)])).toBe(130);
    expect(applyExitCode([o('failed', 2), o('not-started')])).toBe(2);
  });

  it('--until is the next time the clock shows HH:MM', () => {
    const now = new Date(2026, 0, 10, 23, 0, 0);
    expect(nextClockTime('05:00', now)).toEqual(new Date(2026, 0, 11, 5, 0, 0));
    expect(nextClockTime('23:30', now)).toEqual(new Date(2026, 0, 10, 23, 30, 0));
    expect(nextClockTime('24:00', now)).toEqual(new Date(2026, 0, 11, 0, 0, 0));
    expect(() => nextClockTime('5pm', now)).toThrow(/HH:MM/);
    expect(() => nextClockTime('24:30', now)).toThrow(/HH:MM/);
  });
});

describe('fleet SQL builders', () => {
  const spec = {
    name: 'Dots',
    columns: [col('id'), col('user_id', 'int'), col('body', 'varchar', { charset: 'utf8mb4', collation: 'utf8mb4_general_ci' })],
    owner: col('user_id', 'int'),
    key: [col('id')],
  };

  it('sizes every owner of a table in one GROUP BY', () => {
    expect(preview(userSizesSql(spec))).toBe(
      'SELECT CAST(`user_id` AS CHAR) AS owner, COUNT(*) AS n, COALESCE(SUM(IFNULL(LENGTH(`id`), 0) + IFNULL(LENGTH(`user_id`), 0) + IFNULL(LENGTH(`body`), 0)), 0) AS b FROM `Dots` GROUP BY `user_id`',
    );
  });

  it('reads placements with numeric literals for 64-bit ids', () => {
    expect(preview(placementsOfSql({ cluster: 'main', table: 'users', idColumn: 'id', shardColumn: 'cluster_id' }, ['42', '18446744073709551615']))).toBe(
      'SELECT CAST(`id` AS CHAR) AS uid, `cluster_id` AS shard FROM `users` WHERE `id` IN (42, 18446744073709551615)',
    );
    expect(() => placementsOfSql({ cluster: 'main', table: 'users', idColumn: 'id', shardColumn: 'cluster_id' }, ['1; DROP'])).toThrow(/numeric/);
  });

  it('deletes orphans only by key (or full-row hash) under the owner condition', () => {
    const k = [Buffer.from('9007199254740993'), Buffer.from('7')];
    expect(
      preview(
        deleteRowsByKeysSql(
          spec,
          '42',
          k.map((b) => [b]),
        ),
      ),
    ).toBe('DELETE FROM `Dots` WHERE `user_id` = 42 AND `id` IN (9007199254740993, 7)');
    expect(preview(rowHashesByKeys(spec, '42', [[k[1]!]], true))).toMatch(
      /^SELECT `id`, MD5\(CONCAT_WS\(_binary 0x1f, .*\)\) FROM `Dots`\s+WHERE `user_id` = 42 AND `id` IN \(7\) FOR UPDATE$/s,
    );
    expect(preview(deleteKeylessByHashSql({ ...spec, key: null }, '42', '0123456789abcdef0123456789abcdef', 2))).toMatch(
      /^DELETE FROM `Dots` WHERE `user_id` = 42 AND MD5\(.*\) = '0123456789abcdef0123456789abcdef' LIMIT 2$/s,
    );
    expect(() => deleteKeylessByHashSql(spec, '42', "x' OR 1=1", 1)).toThrow(/MD5/);
  });

  it('names locks per topology, user and shard slot, within 64 characters', () => {
    const t = topo();
    expect(preview(getLockSql(lockNames.topology(t)))).toBe(
      "SELECT GET_LOCK('fw-shard:d', 0) AS got, IS_USED_LOCK('fw-shard:d') AS holder, CONNECTION_ID() AS me",
    );
    expect(lockNames.topology(t, 'nightly')).toBe('fw-shard:nightly');
    expect(lockNames.user(t, '18446744073709551615')).toMatch(/^fw-shard:[0-9a-f]{8}:u:18446744073709551615$/);
    expect(lockNames.shardSlot(t, 3, 1)).toMatch(/^fw-shard:[0-9a-f]{8}:s:3:1$/);
    expect(lockNames.topology(t, 'x'.repeat(80)).length).toBeLessThanOrEqual(64);
  });

  it('validates status variable names', () => {
    expect(preview(globalStatusSql(['Threads_running']))).toBe("SHOW GLOBAL STATUS WHERE Variable_name IN ('Threads_running')");
    expect(() => globalStatusSql(["x' OR '1"])).toThrow(/status variable/);
  });
});

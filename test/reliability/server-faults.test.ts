/**
 * Servers that die or misbehave under a running move, through the built CLI:
 *
 *  - the source or the target shard's server process is killed (SIGKILL) or stopped (SIGTERM) mid-copy
 *    and mid-verify, and db_main's right before the flip (offline: at the flip phase; online: inside the
 *    freeze). fw-shard must fail with the unavailable code (4) and a message naming the server's role and
 *    address; after the server restarts on the same port, running the same command finishes the move;
 *  - every fw-shard connection is killed from another session (KILL CONNECTION) again and again while it
 *    copies: each run either finishes (retried) or stops cleanly with exit 4, and a re-run finishes;
 *  - a concurrent transaction holds locks on the target rows (innodb_lock_wait_timeout=1): the chunk is
 *    retried until the locks go; held for longer than the retries, the move stops cleanly and resumes;
 *  - a concurrent writer deadlocks with a chunk: the chunk is retried.
 *
 * After every recovery: the target holds exactly the user's rows (HEX dump through the mariadb client),
 * the source none, the mapping points at the target, no freeze row is left, the journal says done.
 * Three servers: db_main (+ tickets), shard 1, shard 2, so a dead server is exactly one role.
 */
import { spawn } from 'node:child_process';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { sql } from '../../src/db/sql/fragment.js';
import {
  dumpRows,
  dumpUser,
  emptyDumpOf,
  ensureBuilt,
  mariadb,
  recordFigures,
  runFwShard,
  sleep,
  startFlamework,
  type CliRun,
  type FlameworkCluster,
  type Login,
} from '../helpers/reliability.js';
import { DROP_JOURNAL } from '../helpers/journal.js';

const PW = 'Rel-Faults-pw-7c1e';
const FW_USER = 'fwshard';
const ENV = { FWS_REL_FAULTS_PW: PW };

const DDL = `
  CREATE TABLE Dots (id BIGINT UNSIGNED NOT NULL PRIMARY KEY, user_id INT UNSIGNED NOT NULL, body VARCHAR(200) CHARACTER SET utf8mb4 NULL, KEY by_user (user_id));
  CREATE TABLE Contacts (user_id INT UNSIGNED NOT NULL, contact_id INT UNSIGNED NOT NULL);
  CREATE TABLE Notes (id BIGINT UNSIGNED NOT NULL PRIMARY KEY, user_id INT UNSIGNED NOT NULL, body VARCHAR(100) NULL);`;

describe('server faults under a running move', () => {
  let c: FlameworkCluster;
  let config = '';
  let MAIN: Login;
  let S1: Login;
  let S2: Login;
  let original = '';
  let other44 = '';
  const outcomes: { fault: string; firstExit: number | null; message: string; recoveryRuns: number; lost: number }[] = [];
  const killConnections = { killed: 0, runs: 0, runsFinished: 0, cleanStops: 0 };
  const lockFigures = { lockWaitChunkMs: 0, lockWaitGaveUpExit: -1, deadlocks: 0, deadlockVictim: '' };

  beforeAll(async () => {
    ensureBuilt();
    c = await startFlamework('faults', [{ name: 'main' }, { name: 's1' }, { name: 's2' }], {
      main: 'main',
      shards: { 1: { server: 's1', database: 'users1' }, 2: { server: 's2', database: 'users2' } },
      users: { 42: 1, 44: 2, 45: 2 },
    });
    for (const s of ['main', 's1', 's2']) {
      c.sql(s, 'mysql', `CREATE USER '${FW_USER}'@'%' IDENTIFIED BY '${PW}'; GRANT ALL ON *.* TO '${FW_USER}'@'%';`);
    }
    c.onShards(DDL);
    config = c.writeConfig('faults.json', { user: FW_USER, passwordEnv: 'FWS_REL_FAULTS_PW' });
    MAIN = c.login('main');
    S1 = c.login('s1');
    S2 = c.login('s2');
  }, 120_000);

  afterAll(async () => {
    recordFigures('server-faults', { outcomes, killConnections, lockFigures });
    await c?.close();
  });

  afterEach(async () => {
    // A failed test must not leave a server down for the next one.
    for (const s of Object.values(c.servers)) if (!s.alive()) await s.restart();
  });

  beforeEach(() => {
    // Fresh data: user 42 on shard 1; users 44 and 45 live on shard 2 (their rows interleave with 42's keys).
    mariadb(
      MAIN,
      'flamework',
      `${DROP_JOURNAL};
      UPDATE users SET cluster_id = IF(id = 42, 1, 2);`,
    );
    c.onShards('DROP TABLE IF EXISTS fw_shard_fence, fw_shard_changes; DELETE FROM Dots; DELETE FROM Contacts; DELETE FROM Notes;');
    mariadb(
      S1,
      'users1',
      `
      INSERT INTO Dots SELECT 9007199254740993 + seq * 2, 42, IF(seq % 7 = 0, NULL, CONCAT('dot ', seq, ' 😀')) FROM seq_1_to_240;
      INSERT INTO Contacts SELECT 42, seq % 9 FROM seq_1_to_20;
      INSERT INTO Notes SELECT seq * 2, 42, CONCAT('note ', seq) FROM seq_1_to_60;`,
    );
    mariadb(
      S2,
      'users2',
      `
      INSERT INTO Dots SELECT 9007199254740994 + seq * 2, 44, CONCAT('theirs ', seq) FROM seq_1_to_30;
      INSERT INTO Notes SELECT seq * 2 - 1, 44, CONCAT('odd ', seq) FROM seq_1_to_61;
      INSERT INTO Notes SELECT 1000000 + seq, 45, 'bulk' FROM seq_1_to_3000;`,
    );
    original = dumpUser(S1, 'users1', '42');
    other44 = dumpUser(S2, 'users2', '44');
  });

  const move = (extra: string[] = []) => ['--config', config, 'move', '--user', '42', '--to', '2', '--yes', '--json', '--events', ...extra];
  const OFFLINE = ['--assume-no-writes', '--chunk-size', '20', '--concurrency', '1'];
  const cli = (args: string[], opts: Parameters<typeof runFwShard>[1] = {}) => runFwShard(args, { ...opts, env: { ...ENV, ...(opts?.env ?? {}) } });

  /** Re-run the same command until it exits 0 (at most `max` runs; each must be 0 or a clean 4). */
  async function recover(args: string[], max = 4): Promise<number> {
    for (let i = 1; i <= max; i++) {
      const r = await cli(args);
      if (r.code === 0) return i;
      expect(r.code, `recovery run ${i}: ${r.stderr}`).toBe(4);
    }
    throw new Error(`not recovered after ${max} runs`);
  }

  function expectMovedAndClean(tag: string): number {
    const target = dumpUser(S2, 'users2', '42');
    expect(target === original, `${tag}: the target holds exactly the user's rows`).toBe(true);
    expect(dumpUser(S1, 'users1', '42'), `${tag}: source cleaned`).toBe(emptyDumpOf(original));
    expect(dumpUser(S2, 'users2', '44'), `${tag}: user 44 untouched`).toBe(other44);
    expect(mariadb(MAIN, 'flamework', 'SELECT cluster_id FROM users WHERE id = 42').trim(), tag).toBe('2');
    expect(mariadb(MAIN, 'flamework', 'SELECT COUNT(*) FROM fw_shard_freezes').trim(), `${tag}: freeze rows`).toBe('0');
    expect(mariadb(MAIN, 'flamework', "SELECT CONCAT_WS(',', state, phase, IFNULL(active_user, 'NULL')) FROM fw_shard_moves").trim(), tag).toBe(
      'done,done,NULL',
    );
    return dumpRows(original) - dumpRows(target);
  }

  function expectUnavailable(r: CliRun, role: string, port: number, database: string): string {
    expect(r.code, r.stderr).toBe(4);
    const name = `${role} (127.0.0.1:${port}/${database})`;
    expect(r.stderr).toContain(`fw-shard: error [SERVER_UNAVAILABLE]: ${name}`);
    expect(r.stderr).toContain('The mapping was NOT flipped');
    expect(r.doc?.error?.code).toBe('SERVER_UNAVAILABLE');
    expect(r.doc?.error?.message).toContain(name);
    expect(r.stderr + r.stdout).not.toContain(PW);
    return r.stderr.split('\n').find((l) => l.includes('SERVER_UNAVAILABLE')) ?? '';
  }

  /**
   * Pin a fault point without racing the move: a client on `server` takes LOCK TABLES `table` WRITE, so
   * fw-shard's next statement on that table waits there (metadata lock) until the server dies under it.
   */
  function holdTableLock(server: string, database: string, table: string): { release(): void } {
    const p = c.servers[server]!.port;
    const child = spawn('mariadb', ['--no-defaults', '-h127.0.0.1', `-P${p}`, '-uroot', database, '-e', `LOCK TABLES \`${table}\` WRITE; SELECT SLEEP(60);`], {
      stdio: 'ignore',
    });
    child.on('error', () => undefined);
    // Wait here, blocking (the move runs in this process, so it waits too), until the lock is held: the
    // copy no longer leaves the client the time it needed to connect before the verification read.
    for (let i = 0; ; i++) {
      const held = mariadb(c.login(server), 'mysql', `SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE INFO = 'SELECT SLEEP(60)'`).trim();
      if (Number(held) > 0) break;
      if (i === 500) throw new Error(`the lock on ${table} was not taken within 5 s`);
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 10);
    }
    return { release: () => void child.kill('SIGKILL') };
  }

  /** Wait until a fw-shard session on `server` waits for a table's metadata lock (the fault point is reached). */
  async function untilBlocked(server: string): Promise<void> {
    for (let i = 0; i < 200; i++) {
      const n = mariadb(
        c.login(server),
        'mysql',
        `SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE user = '${FW_USER}' AND state LIKE 'Waiting for table metadata lock%'`,
      ).trim();
      if (Number(n) > 0) return;
      await sleep(20);
    }
    throw new Error(`fw-shard never blocked on ${server}`);
  }

  const deaths: [string, 's1' | 's2', 'kill' | 'stop', 'copy' | 'verify'][] = [
    ['target (shard 2) SIGKILLed mid-copy', 's2', 'kill', 'copy'],
    ['source (shard 1) stopped mid-copy', 's1', 'stop', 'copy'],
    ['source (shard 1) SIGKILLed mid-verify', 's1', 'kill', 'verify'],
    ['target (shard 2) stopped mid-verify', 's2', 'stop', 'verify'],
  ];
  for (const [name, server, how, phase] of deaths) {
    it(`${name}: exit 4 naming the server; after a restart the same command finishes`, async () => {
      let dying: Promise<void> | undefined;
      let lock: { release(): void } | undefined;
      const die = () => (how === 'kill' ? c.servers[server]!.kill() : c.servers[server]!.stop());
      const database = server === 's1' ? 'users1' : 'users2';
      // Mid-copy: the 9th chunk, with 25 ms between chunks and 8 or more still to come. Mid-verify: Contacts
      // (copied first) is locked on the dying server once copied, so the verification waits on it; the
      // server dies under that wait.
      let first: CliRun;
      try {
        first = await cli(move([...OFFLINE, '--sleep-between-chunks', '25ms']), {
          onEvent: (e, n) => {
            if (phase === 'copy' && !dying && e.type === 'chunk.copied' && n > 8) dying = die();
            if (phase === 'verify' && e.type === 'table.copied' && e.table === 'Contacts') lock = holdTableLock(server, database, 'Contacts');
            if (phase === 'verify' && !dying && e.type === 'phase.started' && e.phase === 'verify') dying = untilBlocked(server).then(die);
          },
        });
        await dying;
      } finally {
        lock?.release();
      }
      expect(dying, 'the fault point was reached').toBeDefined();
      const shard = server === 's1' ? 1 : 2;
      const message = expectUnavailable(first, `shard ${shard}`, c.servers[server]!.port, database);
      expect(mariadb(MAIN, 'flamework', 'SELECT CONCAT(phase, ",", (SELECT cluster_id FROM users WHERE id = 42)) FROM fw_shard_moves').trim()).toBe(
        `${phase},1`,
      );
      await c.servers[server]!.restart();
      const runs = await recover(move(OFFLINE));
      outcomes.push({ fault: name, firstExit: first.code, message, recoveryRuns: runs, lost: expectMovedAndClean(name) });
    });
  }

  it('db_main SIGKILLed right before the flip (offline, at the flip phase): exit 4, then resume finishes', async () => {
    let dying: Promise<void> | undefined;
    let lock: { release(): void } | undefined;
    // fw-shard touches the users table only to flip: locked from the first chunk on, the flip's UPDATE waits
    // there, and db_main dies under it.
    let first: CliRun;
    try {
      first = await cli(move(OFFLINE), {
        onEvent: (e) => {
          if (e.type === 'chunk.copied' && !lock) lock = holdTableLock('main', 'flamework', 'users');
          if (e.type === 'phase.started' && e.phase === 'flip' && !dying) dying = untilBlocked('main').then(() => c.servers.main!.kill());
        },
      });
      await dying;
    } finally {
      lock?.release();
    }
    const message = expectUnavailable(first, 'db_main', c.servers.main!.port, 'flamework');
    await c.servers.main!.restart();
    // The flip is one transaction with its journal phase: after the crash both still say "not flipped".
    expect(mariadb(MAIN, 'flamework', 'SELECT CONCAT(phase, ",", (SELECT cluster_id FROM users WHERE id = 42)) FROM fw_shard_moves').trim()).toBe('flip,1');
    const moveId = String(first.events.find((e) => e.moveId)?.moveId);
    const runs = await recover(['--config', config, 'resume', moveId, '--json', ...OFFLINE]);
    outcomes.push({
      fault: 'db_main SIGKILLed right before the flip (offline)',
      firstExit: first.code,
      message,
      recoveryRuns: runs,
      lost: expectMovedAndClean('db_main before flip'),
    });
  });

  it('db_main SIGKILLed inside the freeze, right before the online flip: exit 4; the freeze lapses by itself; resume finishes', async () => {
    let dying: Promise<void> | undefined;
    const online = ['--chunk-size', '40', '--freeze-cap', '1s', '--drain', '300ms'];
    // As above: users is locked from the first chunk, so the flip (under the freeze) waits, and db_main dies there.
    let lock: { release(): void } | undefined;
    let first: CliRun;
    try {
      first = await cli(move(online), {
        onEvent: (e) => {
          if (e.type === 'chunk.copied' && !lock) lock = holdTableLock('main', 'flamework', 'users');
          if (e.type === 'freeze.started' && !dying) dying = untilBlocked('main').then(() => c.servers.main!.kill());
        },
      });
      await dying;
    } finally {
      lock?.release();
    }
    const message = expectUnavailable(first, 'db_main', c.servers.main!.port, 'flamework');
    await c.servers.main!.restart();
    expect(mariadb(MAIN, 'flamework', 'SELECT CONCAT(phase, ",", (SELECT cluster_id FROM users WHERE id = 42)) FROM fw_shard_moves').trim()).toBe('freeze,1');
    // The freeze row survived the crash (it was committed), but it carries its expiry: wait it out.
    const left = mariadb(
      MAIN,
      'flamework',
      'SELECT IFNULL(MAX(TIMESTAMPDIFF(MICROSECOND, NOW(3), frozen_until)) DIV 1000, -1) FROM fw_shard_freezes WHERE user_id = 42',
    ).trim();
    expect(Number(left)).toBeLessThanOrEqual(1000);
    await sleep(Math.max(0, Number(left)) + 50);
    expect(
      mariadb(MAIN, 'flamework', 'SELECT COUNT(*) FROM fw_shard_freezes WHERE user_id = 42 AND frozen_until > NOW(3)').trim(),
      'the app sees no freeze',
    ).toBe('0');
    const runs = await recover(move(online));
    outcomes.push({
      fault: 'db_main SIGKILLed inside the freeze (online)',
      firstExit: first.code,
      message,
      recoveryRuns: runs,
      lost: expectMovedAndClean('db_main in freeze'),
    });
  });

  it('KILL CONNECTION of every fw-shard session, again and again mid-copy: retried, or a clean stop that resumes', async () => {
    const killAll = (login: Login) => {
      const ids = mariadb(login, 'mysql', `SELECT id FROM information_schema.PROCESSLIST WHERE user = '${FW_USER}' AND id <> CONNECTION_ID()`)
        .split('\n')
        .filter(Boolean);
      for (const id of ids) {
        try {
          mariadb(login, 'mysql', `KILL CONNECTION ${id}`);
          killConnections.killed++;
        } catch {
          // already gone
        }
      }
    };
    const servers = [S1, S2, MAIN];
    let round = 0;
    const args = move(['--assume-no-writes', '--chunk-size', '10', '--concurrency', '2', '--sleep-between-chunks', '10ms']);
    for (let run = 1; run <= 8; run++) {
      killConnections.runs++;
      const r = await cli(args, {
        onEvent: (e, n) => {
          // Every 4th event of work: kill every fw-shard session on one server (source, target, db_main in turn).
          if (['chunk.copied', 'chunk.verified', 'cleanup.progress'].includes(e.type) && n % 4 === 0 && round < 40) killAll(servers[round++ % 3]!);
        },
      });
      expect([0, 4], `run ${run}: ${r.stderr}`).toContain(r.code);
      expect(r.stderr).not.toContain('internal error');
      if (r.code === 0) {
        killConnections.runsFinished++;
        break;
      }
      killConnections.cleanStops++;
      expect(r.stderr).toMatch(/\[SERVER_UNAVAILABLE\]: (db_main|shard [12]) \(127\.0\.0\.1:\d+\/\w+\)/);
    }
    expect(killConnections.killed).toBeGreaterThan(5);
    expectMovedAndClean('KILL CONNECTION');
  });

  it('a transaction holding locks on the target rows (lock wait timeout 1 s): the chunk is retried until they are released', async () => {
    mariadb(S2, 'mysql', 'SET GLOBAL innodb_lock_wait_timeout = 1');
    try {
      const holder = c.db('s2', 'users2');
      let release!: () => void;
      const released = new Promise<void>((r) => (release = r));
      let locked!: () => void;
      const isLocked = new Promise<void>((r) => (locked = r));
      // Lock every row and gap of Dots on the target for 2.2 s: inserts of the user's rows must wait.
      const holding = holder.transaction(
        async (s) => {
          await s.rows(sql`SELECT COUNT(*) FROM Dots FOR UPDATE`);
          locked();
          await released;
        },
        { binary: false },
      );
      await isLocked;
      // Contacts is copied first; Dots right after it: its first chunk meets the locks, which go 2.5 s later.
      const r = await cli(move(['--assume-no-writes', '--chunk-size', '60', '--concurrency', '1']), {
        onEvent: (e) => void (e.type === 'table.copied' && e.table === 'Contacts' && setTimeout(release, 2500)),
      });
      release();
      await holding;
      expect(r.code, r.stderr).toBe(0);
      const firstDots = r.events.find((e) => e.type === 'chunk.copied' && e.table === 'Dots');
      lockFigures.lockWaitChunkMs = Number(firstDots?.ms);
      expect(lockFigures.lockWaitChunkMs, 'the first Dots chunk waited out at least one lock wait timeout').toBeGreaterThan(1000);
      expectMovedAndClean('lock wait');
    } finally {
      mariadb(S2, 'mysql', 'SET GLOBAL innodb_lock_wait_timeout = 50');
    }
  });

  it('locks held longer than the retries: a clean, resumable stop (not an internal error), then the move finishes', async () => {
    mariadb(S2, 'mysql', 'SET GLOBAL innodb_lock_wait_timeout = 1');
    try {
      const holder = c.db('s2', 'users2');
      let release!: () => void;
      const released = new Promise<void>((r) => (release = r));
      let locked!: () => void;
      const isLocked = new Promise<void>((r) => (locked = r));
      const holding = holder.transaction(
        async (s) => {
          await s.rows(sql`SELECT COUNT(*) FROM Dots FOR UPDATE`);
          locked();
          await released;
        },
        { binary: false },
      );
      await isLocked;
      let r: CliRun;
      try {
        r = await cli(move(['--assume-no-writes', '--chunk-size', '60', '--concurrency', '1']));
      } finally {
        release();
        await holding;
      }
      lockFigures.lockWaitGaveUpExit = r.code ?? -1;
      expect(r.stderr).not.toContain('internal error');
      expect(r.code, r.stderr).toBe(7);
      expect(r.stderr).toMatch(/shard 2 \(127\.0\.0\.1:\d+\/users2\)/);
      expect(r.stderr).toMatch(/lock/i);
      expect(r.stderr).toContain('The mapping was NOT flipped');
      expect(r.stderr).toMatch(/next step: .*resume/);
    } finally {
      mariadb(S2, 'mysql', 'SET GLOBAL innodb_lock_wait_timeout = 50');
    }
    await recover(move(['--assume-no-writes', '--chunk-size', '60', '--concurrency', '1']));
    expectMovedAndClean('lock wait, gave up, resumed');
  });

  it('a concurrent writer deadlocks with a chunk: the chunk is retried and the move finishes', async () => {
    const deadlocks = () => Number(mariadb(S2, 'mysql', "SHOW GLOBAL STATUS LIKE 'Innodb_deadlocks'").split('\t')[1]);
    const before = deadlocks();
    const writer = c.db('s2', 'users2');
    const probe = c.db('s2', 'users2');
    let moving: Promise<CliRun> | undefined;
    let victim = 'fw-shard';
    // The writer: a big transaction (3000 rows of user 45), then row 31 (user 44) inside the first Notes
    // chunk's range; fw-shard's chunk DELETE scans the range by primary key, locks row 5 and waits on 31;
    // then the writer wants row 5: a deadlock, and InnoDB rolls back the lighter transaction: the chunk.
    await writer
      .transaction(
        async (s) => {
          await s.exec(sql`UPDATE Notes SET body = 'writer' WHERE id > 1000000`); // by primary key: locks only these rows
          await s.exec(sql`UPDATE Notes SET body = 'writer 31' WHERE id = 31`);
          moving = cli(move(['--assume-no-writes', '--chunk-size', '20', '--concurrency', '1']), { timeoutMs: 60_000 });
          // Wait until the chunk's DELETE on Notes is blocked on row 31.
          for (let i = 0; i < 400; i++) {
            const [w] = await probe.rows<{ n: string }>(
              sql`SELECT COUNT(*) AS n FROM information_schema.PROCESSLIST WHERE user = ${FW_USER} AND command = 'Query' AND info LIKE 'DELETE FROM \`Notes\`%' AND time_ms > 100`,
            );
            if (Number(w?.n) > 0) break;
            await sleep(25);
          }
          try {
            await s.exec(sql`UPDATE Notes SET body = 'writer 5' WHERE id = 5`);
          } catch (err) {
            victim = `the writer (${(err as Error).message})`;
            throw err;
          }
        },
        { binary: false },
      )
      .catch(() => undefined);
    const r = await moving!;
    lockFigures.deadlocks = deadlocks() - before;
    lockFigures.deadlockVictim = victim;
    expect(r.code, r.stderr).toBe(0);
    expect(lockFigures.deadlocks, 'a deadlock happened').toBeGreaterThan(0);
    expect(victim).toBe('fw-shard');
    // The writer's transaction committed: its rows on shard 2 are as it left them.
    expect(mariadb(S2, 'users2', "SELECT COUNT(*) FROM Notes WHERE body LIKE 'writer%'").trim()).toBe('3002');
    other44 = dumpUser(S2, 'users2', '44'); // the writer changed two of user 44's rows, on purpose
    expectMovedAndClean('deadlock');
  });
});

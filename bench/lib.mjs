// Shared pieces of the benchmarks (bench/run.mjs, bench/smoke.mjs): servers, data, the contenders,
// the byte-identity check, CPU/memory accounting and statistics. Not part of `npm test`.
import { spawn, execFile } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync, chmodSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startServer } from '../dist/sandbox/servers.js';

export const root = join(dirname(fileURLToPath(import.meta.url)), '..');
export const log = (s) => process.stderr.write(`bench ${new Date().toISOString().slice(11, 19)}: ${s}\n`);

// ---------------------------------------------------------------------------------------------
// Data: three Flamework-shaped tables (~200 bytes a row, ticketed BIGINT ids above 2^53, a user_id
// index, latin1 and utf8mb4 text with bytes 0x80-0xFF and emoji, NULLs).

export const TABLES = [
  {
    name: 'Dots',
    share: 0.5,
    columns: ['id', 'sheet_id', 'user_id', 'created', 'perms', 'details_json', 'index_on'],
    ddl: `CREATE TABLE Dots (id BIGINT UNSIGNED NOT NULL PRIMARY KEY, sheet_id BIGINT UNSIGNED NOT NULL, user_id INT UNSIGNED NOT NULL,
     created INT UNSIGNED NOT NULL, perms TINYINT UNSIGNED NOT NULL, details_json TEXT CHARACTER SET utf8mb4 NOT NULL,
     index_on VARCHAR(255) CHARACTER SET latin1 NOT NULL, KEY by_user (user_id)) ENGINE=InnoDB DEFAULT CHARSET=utf8`,
    select: (id, user) =>
      `${id}, seq DIV 100, ${user}, 1300000000 + seq, seq % 3, CONCAT('{"lat":', seq % 90, '.123456,"lon":', seq % 180, '.654321,"acc":', seq % 16, ',"note":"dot ', seq, ' 😀"}'), CONCAT(X'E9E8FF', REPEAT('x', 70 + seq % 40))`,
  },
  {
    name: 'Sheets',
    share: 0.3,
    columns: ['id', 'user_id', 'created', 'label', 'count_dots', 'mime_type', 'notes'],
    ddl: `CREATE TABLE Sheets (id BIGINT UNSIGNED NOT NULL PRIMARY KEY, user_id INT UNSIGNED NOT NULL, created INT UNSIGNED NOT NULL,
     label VARCHAR(255) CHARACTER SET utf8mb4 NULL, count_dots INT UNSIGNED NOT NULL, mime_type VARCHAR(64) NULL,
     notes VARCHAR(255) NOT NULL, KEY by_user (user_id)) ENGINE=InnoDB DEFAULT CHARSET=utf8`,
    select: (id, user) =>
      `${id}, ${user}, 1300000000 + seq, CONCAT('sheet ', seq, ' — ünïcødé'), seq % 1000, IF(seq % 2, 'text/csv', NULL), REPEAT('n', 130 + seq % 50)`,
  },
  {
    name: 'Checkins',
    share: 0.2,
    columns: ['id', 'user_id', 'venue_id', 'created', 'weather', 'status_id'],
    ddl: `CREATE TABLE Checkins (id BIGINT UNSIGNED NOT NULL PRIMARY KEY, user_id INT UNSIGNED NOT NULL, venue_id BIGINT UNSIGNED NOT NULL,
     created INT UNSIGNED NOT NULL, weather TEXT NULL, status_id TINYINT UNSIGNED NOT NULL, KEY by_user (user_id)) ENGINE=InnoDB DEFAULT CHARSET=utf8`,
    select: (id, user) =>
      `${id}, ${user}, 18446744073709551615 - seq, 1300000000 + seq, IF(seq % 5, CONCAT('{"temp":', seq % 40, ',"sky":"clear ☀"} ', REPEAT('w', 135)), NULL), seq % 4`,
  },
];
export const TABLE_NAMES = TABLES.map((t) => t.name);

/** First ticket id: above 2^53, so ids that are not exact as JS numbers are moved on every run. */
const ID_BASE = '9007199254740993';
/**
 * Ids are `ID_BASE + 8 * slot + stream`: other users' rows take stream 0 and consecutive slots; each
 * benchmark user has its own stream (1..7) and its rows are spread evenly over the others' slots, so a
 * user's rows are interleaved with everyone else's, as tickets handed out over time would be.
 */
export const OTHER_USERS = 1000;
export const OTHER_USER_BASE = 100;

// ---------------------------------------------------------------------------------------------
// SQL through the mariadb CLI (setup, checks, the floor): never through fw-shard's own code.

export function sqlAsync(port, db, statement, { timeoutMs = 0 } = {}) {
  return new Promise((resolve, reject) => {
    execFile(
      'mariadb',
      ['--no-defaults', '-h127.0.0.1', `-P${port}`, '-uroot', '--default-character-set=utf8mb4', '-N', '-B', ...(db ? [db] : []), '-e', statement],
      { maxBuffer: 256 * 1024 * 1024, timeout: timeoutMs },
      (err, stdout, stderr) => {
        if (err) reject(new Error(`mariadb :${port} ${db ?? ''}: ${stderr || err.message}\n  in: ${statement.slice(0, 300)}`));
        else resolve(stdout);
      },
    );
  });
}

export async function rowsOf(port, db, statement) {
  const out = await sqlAsync(port, db, statement);
  return out
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => l.split('\t'));
}

// ---------------------------------------------------------------------------------------------
// Servers

export const SERVER_ARGS = [
  '--innodb-buffer-pool-size=1G',
  '--innodb-log-file-size=512M',
  '--max-allowed-packet=64M',
  '--local-infile=1',
  '--innodb-io-capacity=2000',
  '--innodb-io-capacity-max=4000',
];

export async function startServers(work) {
  mkdirSync(work, { recursive: true });
  chmodSync(work, 0o755);
  const extra = [...SERVER_ARGS, `--secure-file-priv=${work}`];
  const [a, b] = await Promise.all([startServer({ dir: work, name: 'a', extraArgs: extra }), startServer({ dir: work, name: 'b', extraArgs: extra })]);
  return { a, b };
}

/**
 * The topology: db_main (flamework), tickets and the source shards on server A; the target shard
 * (users2, shard 2) alone on server B.
 *   shard 1: users1 (the main source shard), shard 3: small (scaling), shard 4: big (scaling).
 */
export function writeConfig(work, a, b) {
  const file = join(work, 'fw-shard.config.json');
  writeFileSync(
    file,
    JSON.stringify({
      version: 1,
      defaults: { host: '127.0.0.1', user: 'root', password: '' },
      main: { port: a.port, database: 'flamework' },
      shards: {
        1: { port: a.port, database: 'users1' },
        2: { port: b.port, database: 'users2' },
        3: { port: a.port, database: 'small' },
        4: { port: a.port, database: 'big' },
      },
      tickets: [{ port: a.port, database: 'tickets' }],
    }),
    { mode: 0o600 },
  );
  return file;
}

/** The users of the benchmark: id, home shard id, home database, stream (see ID_BASE). */
export function makeUsers({ main, sizes, scaling }) {
  const users = [];
  let stream = 1;
  users.push({ id: 1, shard: 1, db: 'users1', rows: main, stream: stream++ });
  for (const n of sizes) users.push({ id: 10 + stream, shard: 1, db: 'users1', rows: n, stream: stream++ });
  if (scaling) {
    users.push({ id: 50, shard: 3, db: 'small', rows: scaling.userRows, stream: stream++ });
    users.push({ id: 60, shard: 4, db: 'big', rows: scaling.userRows, stream: stream++ });
  }
  if (stream > 8) throw new Error('at most 7 benchmark users');
  return users;
}

/** Create the databases and the pristine copy of every benchmark user's rows (to restore after a cleanup). */
export async function createSchema(a, b, users) {
  const dbs = ['users1', 'small', 'big', 'pristine'];
  await sqlAsync(a.port, null, ['flamework', 'tickets', ...dbs].map((d) => `DROP DATABASE IF EXISTS ${d}; CREATE DATABASE ${d};`).join(' '));
  await sqlAsync(b.port, null, 'DROP DATABASE IF EXISTS users2; CREATE DATABASE users2;');
  await sqlAsync(
    a.port,
    'flamework',
    `CREATE TABLE users (id INT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY, username VARCHAR(255), cluster_id TINYINT UNSIGNED NOT NULL);
     INSERT INTO users VALUES ${users.map((u) => `(${u.id}, 'bench${u.id}', ${u.shard})`).join(', ')};
     INSERT INTO users SELECT ${OTHER_USER_BASE} + seq, CONCAT('other', seq), 1 FROM seq_0_to_${OTHER_USERS - 1};`,
  );
  // A Flamework ticket server (the writer's inserts and fw-shard's move ids), far above the data's ids.
  await sqlAsync(
    a.port,
    'tickets',
    `CREATE TABLE Tickets64 (id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT, stub CHAR(1) NOT NULL DEFAULT '', PRIMARY KEY (id), UNIQUE KEY stub (stub)) ENGINE=InnoDB AUTO_INCREMENT=4611686018427387905`,
  );
  for (const t of TABLES) {
    for (const d of dbs) await sqlAsync(a.port, d, t.ddl);
    await sqlAsync(b.port, 'users2', t.ddl);
  }
}

/**
 * Other users' rows of one shard database: `others` rows in all, over OTHER_USERS users (ids from
 * `userBase`; another base gives another shard its own users).
 */
export async function fillOthers(a, db, others, { userBase = OTHER_USER_BASE } = {}) {
  for (const t of TABLES) {
    const m = Math.round(others * t.share);
    if (m === 0) continue;
    // In slices, so no single transaction grows huge.
    const slice = 1_000_000;
    for (let from = 0; from < m; from += slice) {
      const to = Math.min(m, from + slice) - 1;
      await sqlAsync(
        a.port,
        db,
        `SET unique_checks = 0; INSERT INTO ${t.name} SELECT ${t.select(`${ID_BASE} + 8 * seq`, `${userBase} + seq % ${OTHER_USERS}`)} FROM seq_${from}_to_${to}`,
      );
    }
  }
}

/** A user's rows into `pristine`, spread over the slots of `others` rows of its shard (see ID_BASE). */
export async function fillPristine(a, user, others) {
  for (const t of TABLES) {
    const n = Math.round(user.rows * t.share);
    const m = Math.max(Math.round(others * t.share), n);
    await sqlAsync(
      a.port,
      'pristine',
      `INSERT INTO ${t.name} SELECT ${t.select(`${ID_BASE} + 8 * FLOOR(seq * ${m} / ${n}) + ${user.stream}`, user.id)} FROM seq_0_to_${n - 1}`,
    );
  }
}

/** Put the user's rows back on its home shard (after a move's cleanup), and the mapping. */
export async function restoreUser(a, user) {
  const stmts = [];
  for (const t of TABLES)
    stmts.push(
      `DELETE FROM ${user.db}.${t.name} WHERE user_id = ${user.id}; INSERT INTO ${user.db}.${t.name} SELECT * FROM pristine.${t.name} WHERE user_id = ${user.id};`,
    );
  stmts.push(`UPDATE flamework.users SET cluster_id = ${user.shard} WHERE id = ${user.id};`);
  await sqlAsync(a.port, null, stmts.join('\n'));
}

export async function userRowCount(port, db, userId) {
  let n = 0;
  for (const t of TABLES) n += Number((await rowsOf(port, db, `SELECT COUNT(*) FROM ${t.name} WHERE user_id = ${userId}`))[0][0]);
  return n;
}

export async function truncateTarget(b) {
  await sqlAsync(b.port, 'users2', TABLES.map((t) => `TRUNCATE TABLE ${t.name};`).join(' '));
}

/** Average bytes of a user row (sum of column lengths), as fw-shard's plan counts them. */
export async function rowBytes(a, db, userId) {
  let rows = 0;
  let bytes = 0;
  for (const t of TABLES) {
    const [[n, b]] = await rowsOf(
      a.port,
      db,
      `SELECT COUNT(*), SUM(${t.columns.map((c) => `IFNULL(LENGTH(${c}),0)`).join(' + ')}) FROM ${t.name} WHERE user_id = ${userId}`,
    );
    rows += Number(n);
    bytes += Number(b);
  }
  return { rows, bytes, avg: Math.round(bytes / rows) };
}

/**
 * Wait until both servers are quiet (InnoDB purge done, dirty pages flushed), so one contender's
 * leftovers (deleted rows, dirty pages) are not paid by the next. Returns how long it took.
 */
export async function settle(servers, timeoutMs = 60_000) {
  const t0 = Date.now();
  for (const s of servers) {
    await sqlAsync(s.port, null, 'SET GLOBAL innodb_max_dirty_pages_pct_lwm = 0.001, GLOBAL innodb_max_dirty_pages_pct = 0').catch(() => undefined);
  }
  for (;;) {
    let busy = false;
    for (const s of servers) {
      const rows = await rowsOf(
        s.port,
        null,
        `SELECT (SELECT VARIABLE_VALUE FROM information_schema.GLOBAL_STATUS WHERE VARIABLE_NAME = 'INNODB_HISTORY_LIST_LENGTH'),
                (SELECT VARIABLE_VALUE FROM information_schema.GLOBAL_STATUS WHERE VARIABLE_NAME = 'INNODB_BUFFER_POOL_PAGES_DIRTY')`,
      );
      const [hist, dirty] = rows[0].map((x) => Number(x === 'NULL' ? 0 : x));
      if (hist > 2000 || dirty > 500) busy = true;
    }
    if (!busy || Date.now() - t0 > timeoutMs) break;
    await sleep(250);
  }
  for (const s of servers) {
    await sqlAsync(s.port, null, 'SET GLOBAL innodb_max_dirty_pages_pct = 90, GLOBAL innodb_max_dirty_pages_pct_lwm = 0').catch(() => undefined);
  }
  return Date.now() - t0;
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// ---------------------------------------------------------------------------------------------
// The byte-identity check: every column's bytes (HEX, so no charset conversion can hide a
// difference), NULL told apart, per row; hashed per table on both servers.

function rowDigest(t) {
  return `CAST(CONV(LEFT(MD5(CONCAT_WS('|', ${t.columns.map((c) => `IFNULL(HEX(${c}),'N')`).join(', ')})), 16), 16, 10) AS UNSIGNED)`;
}

export async function userDigest(port, db, userId) {
  const out = {};
  await Promise.all(
    TABLES.map(async (t) => {
      const [[n, h]] = await rowsOf(port, db, `SELECT COUNT(*), COALESCE(BIT_XOR(${rowDigest(t)}), 0) FROM ${t.name} WHERE user_id = ${userId}`);
      out[t.name] = `${n}:${h}`;
    }),
  );
  return out;
}

/** Which columns differ (per-column digests keyed by id), to name what an unfaithful copy got wrong. */
export async function columnDiff(srcPort, srcDb, dstPort, dstDb, userId, tables) {
  const diffs = [];
  for (const t of TABLES.filter((x) => tables.includes(x.name))) {
    const q = `SELECT COUNT(*), ${t.columns.map((c) => `BIT_XOR(CAST(CONV(LEFT(MD5(CONCAT(id, '|', IFNULL(HEX(${c}),'N'))), 16), 16, 10) AS UNSIGNED))`).join(', ')} FROM ${t.name} WHERE user_id = ${userId}`;
    const [[s], [d]] = await Promise.all([rowsOf(srcPort, srcDb, q), rowsOf(dstPort, dstDb, q)]);
    if (s[0] !== d[0]) diffs.push(`${t.name}: ${d[0]} rows on the target, ${s[0]} on the source`);
    t.columns.forEach((c, i) => {
      if (s[i + 1] !== d[i + 1]) diffs.push(`${t.name}.${c}`);
    });
  }
  return diffs;
}

export function sameDigest(x, y) {
  return TABLE_NAMES.every((n) => x[n] === y[n]);
}

// ---------------------------------------------------------------------------------------------
// CPU accounting: the servers' CPU from /proc, the clients' from rusage.

const TICK_MS = 10; // USER_HZ 100
export function procCpuMs(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) * TICK_MS;
  } catch {
    return NaN;
  }
}

export function cpuMeter(servers) {
  const start = servers.map((s) => procCpuMs(s.pid));
  return () => servers.map((s, i) => procCpuMs(s.pid) - start[i]);
}

/**
 * Run a shell pipeline; wall time and the children's CPU (bash's `times`). Throws on a non-zero exit.
 */
export function timeShell(script, { env } = {}) {
  return new Promise((resolve, reject) => {
    const t0 = process.hrtime.bigint();
    const child = spawn('bash', ['-c', `set -o pipefail\n${script}\nrc=$?\ntimes >&2\nexit $rc`], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, ...env },
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    child.on('exit', (code) => {
      const ms = Number(process.hrtime.bigint() - t0) / 1e6;
      const times = err.trim().split('\n').slice(-1)[0] ?? '';
      const m = /(\d+)m([\d.]+)s\s+(\d+)m([\d.]+)s/.exec(times);
      const cpuMs = m ? Math.round((Number(m[1]) * 60 + Number(m[2]) + Number(m[3]) * 60 + Number(m[4])) * 1000) : NaN;
      if (code !== 0) return reject(new Error(`exit ${code}: ${err.slice(-3000)}`));
      resolve({ ms, cpuMs, stdout: out, stderr: err.split('\n').slice(0, -3).join('\n') });
    });
  });
}

// ---------------------------------------------------------------------------------------------
// The contenders. Each returns { ms (the figure compared), ... }.

const USAGE_PRELOAD = join(root, 'bench', 'usage-preload.mjs');

/**
 * `fw-shard move` as an operator runs it (a child process), with --json --events. Peak RSS and CPU
 * come from the process's own rusage at exit (bench/usage-preload.mjs).
 */
export function fwShardMove(configFile, userId, { online = false, extraArgs = [], work }) {
  return new Promise((resolve, reject) => {
    const usageFile = join(work, `usage-${process.pid}-${Date.now()}.json`);
    const nodeArgs = ['--import', USAGE_PRELOAD, ...(process.env.FWS_NODEARGS ? process.env.FWS_NODEARGS.split(' ') : [])];
    const args = [
      join(root, 'bin/fw-shard'),
      '--config',
      configFile,
      'move',
      '--user',
      String(userId),
      '--to',
      '2',
      '--yes',
      '--json',
      '--events',
      '--no-tui',
      ...(online ? [] : ['--assume-no-writes']),
      ...extraArgs,
    ];
    const t0 = process.hrtime.bigint();
    const child = spawn(process.execPath, [...nodeArgs, ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, FWS_BENCH_USAGE_FILE: usageFile, CI: '1' },
    });
    let out = '';
    let err = '';
    let hwmKb = 0;
    const poll = setInterval(() => {
      try {
        const m = /VmHWM:\s+(\d+)/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'));
        if (m) hwmKb = Math.max(hwmKb, Number(m[1]));
      } catch {
        /* exited */
      }
    }, 100);
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    child.on('exit', (code) => {
      clearInterval(poll);
      const wallMs = Number(process.hrtime.bigint() - t0) / 1e6;
      let usage = {};
      try {
        usage = JSON.parse(readFileSync(usageFile, 'utf8'));
        rmSync(usageFile, { force: true });
      } catch {
        /* none */
      }
      const events = [];
      const lines = out.split('\n');
      let i = 0;
      for (; i < lines.length; i++) {
        if (!lines[i].startsWith('{"v":')) break;
        events.push(JSON.parse(lines[i]));
      }
      let doc;
      try {
        doc = JSON.parse(lines.slice(i).join('\n'));
      } catch {
        return reject(new Error(`fw-shard move (exit ${code}) printed no JSON document: ${err.slice(-2000)}`));
      }
      if (process.env.FWS_PROF) process.stderr.write(err);
      resolve({ code, wallMs, doc, events, stderr: err, peakRssMb: Math.round((usage.maxRssKb ?? hwmKb) / 1024), cpuMs: usage.cpuMs ?? NaN });
    });
  });
}

/** `fw-shard --config <file> <argv...>` as a child process: resolves with its stdout, rejects on a non-zero exit. */
export function runFwShard(configFile, argv) {
  return new Promise((resolve, reject) => {
    const c = spawn(process.execPath, [join(root, 'bin/fw-shard'), '--config', configFile, ...argv], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, CI: '1' },
    });
    let out = '';
    let err = '';
    c.stdout.on('data', (d) => (out += d));
    c.stderr.on('data', (d) => (err += d));
    c.on('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`fw-shard ${argv.join(' ')}: exit ${code}: ${err.slice(-800)}${out.slice(-800)}`))));
  });
}

export function mysqldumpPipe(a, b, userId, db = 'users1') {
  return timeShell(
    `mariadb-dump --no-defaults -h127.0.0.1 -P${a.port} -uroot --single-transaction --no-create-info --where="user_id=${userId}" ${db} ${TABLE_NAMES.join(' ')} ` +
      `| mariadb --no-defaults -h127.0.0.1 -P${b.port} -uroot users2`,
  );
}

/**
 * pt-archiver as its documentation suggests for copying rows to another server without deleting them:
 * one run per table, 1,000 rows per chunk, written with LOAD DATA LOCAL INFILE (--bulk-insert).
 * `charset` is pt-archiver's --charset (A= in the DSNs); null leaves the driver's default.
 */
export function ptArchiver(a, b, userId, { db = 'users1', charset = 'utf8mb4' } = {}) {
  const cs = charset ? `,A=${charset}` : '';
  const lines = TABLE_NAMES.map(
    (t) =>
      `pt-archiver --source h=127.0.0.1,P=${a.port},u=root,D=${db},t=${t}${cs} --dest h=127.0.0.1,P=${b.port},u=root,D=users2,t=${t},L=1${cs} ` +
      `--where "user_id=${userId}" --limit 1000 --commit-each --bulk-insert --no-delete --no-check-charset --no-version-check --quiet`,
  );
  return timeShell(lines.join('\n') + '\n');
}

/** The floor's input, made beforehand by the source server itself (exact bytes: CHARACTER SET binary). */
export async function prepareFloorFiles(a, work, userId, db = 'users1') {
  const dir = join(work, 'floor');
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  chmodSync(dir, 0o777);
  const files = {};
  for (const t of TABLES) {
    const f = join(dir, `${t.name}.tsv`);
    await sqlAsync(
      a.port,
      db,
      `SELECT ${t.columns.join(', ')} INTO OUTFILE '${f}' CHARACTER SET binary FIELDS TERMINATED BY '\\t' ESCAPED BY '\\\\' LINES TERMINATED BY '\\n' FROM ${t.name} WHERE user_id = ${userId} ORDER BY id`,
    );
    files[t.name] = f;
  }
  return files;
}

/** The floor: LOAD DATA INFILE of those files on the target, `sessions` tables at once. */
export async function floorLoad(b, files, sessions) {
  const t0 = process.hrtime.bigint();
  const queue = TABLES.map((t) => t);
  const one = async () => {
    for (let t = queue.shift(); t; t = queue.shift()) {
      await sqlAsync(
        b.port,
        'users2',
        `LOAD DATA INFILE '${files[t.name]}' INTO TABLE ${t.name} CHARACTER SET binary FIELDS TERMINATED BY '\\t' ESCAPED BY '\\\\' LINES TERMINATED BY '\\n' (${t.columns.join(', ')})`,
      );
    }
  };
  await Promise.all(Array.from({ length: sessions }, one));
  return { ms: Number(process.hrtime.bigint() - t0) / 1e6 };
}

// ---------------------------------------------------------------------------------------------
// Statistics

export function median(xs) {
  const v = xs.filter((x) => Number.isFinite(x)).sort((p, q) => p - q);
  if (v.length === 0) return NaN;
  const m = Math.floor(v.length / 2);
  return v.length % 2 ? v[m] : (v[m - 1] + v[m]) / 2;
}

export function stats(xs, d = 0) {
  const v = xs.filter((x) => Number.isFinite(x));
  if (v.length === 0) return { median: null, min: null, max: null, n: 0, values: [] };
  return { median: round(median(v), d), min: round(Math.min(...v), d), max: round(Math.max(...v), d), n: v.length, values: v.map((x) => round(x, d)) };
}

export function round(x, d = 0) {
  if (!Number.isFinite(x)) return null;
  const p = 10 ** d;
  return Math.round(x * p) / p;
}

export function ensureBuilt() {
  if (!existsSync(join(root, 'dist', 'cli', 'main.js'))) throw new Error('dist/ is missing: run `npm run build` (npm run bench does)');
}

/**
 * bench/writer.mjs writing to `user` at `rate` writes/s (shards: {id: [port, db]}). Resolves once the
 * writer is ready; `stop()` ends it and resolves with its summary document (or null).
 */
export async function startWriter({ mainPort, shards, user, rate }) {
  const writer = spawn(
    process.execPath,
    [join(root, 'bench', 'writer.mjs'), '--main-port', String(mainPort), '--shards', JSON.stringify(shards), '--user', String(user), '--rate', String(rate)],
    { stdio: ['pipe', 'pipe', 'inherit'] },
  );
  const lines = [];
  let buf = '';
  writer.stdout.on('data', (d) => {
    buf += d;
    let i;
    while ((i = buf.indexOf('\n')) >= 0) {
      lines.push(JSON.parse(buf.slice(0, i)));
      buf = buf.slice(i + 1);
    }
  });
  const exited = new Promise((r) => writer.on('exit', r));
  while (lines.length === 0) await sleep(50);
  if (lines[0].fatal) throw new Error(`writer: ${lines[0].fatal}`);
  return {
    async stop() {
      writer.stdin.end('stop\n');
      await exited;
      return lines[1] ?? null;
    },
  };
}

/**
 * The freeze of an online move, from its `--events` stream: the attempt that flipped (or the last one),
 * the wait before its final sync (re-hash mode: the drain; trigger mode: in-flight writes), the final
 * sync (the last delta pass under the freeze), and from its end to the flip and to the lift.
 */
export function freezeBreakdown(events) {
  const at = (e) => Date.parse(e.at);
  const lifted = events.filter((e) => e.type === 'freeze.lifted');
  const lift = lifted.find((e) => e.flipped) ?? lifted.at(-1);
  const started = lift ? events.filter((e) => e.type === 'freeze.started' && at(e) <= at(lift)).at(-1) : undefined;
  const finalPass = lift && started ? events.filter((e) => e.type === 'delta.pass' && at(e) <= at(lift) && at(e) >= at(started)).at(-1) : undefined;
  const flipped = events.find((e) => e.type === 'mapping.flipped');
  return {
    attempts: lifted.length,
    flippedAttempt: Boolean(lift?.flipped),
    waitMs: finalPass && started ? at(finalPass) - finalPass.ms - at(started) : null,
    finalSyncMs: finalPass?.ms ?? null,
    toFlipMs: finalPass && flipped ? at(flipped) - at(finalPass) : null,
    toLiftMs: finalPass && lift ? at(lift) - at(finalPass) : null,
    passes: events
      .filter((e) => e.type === 'delta.pass')
      .map((e) => ({ pass: e.pass, rangesChanged: e.rangesChanged, rowsRecopied: Number(e.rowsRecopied), ms: e.ms })),
  };
}

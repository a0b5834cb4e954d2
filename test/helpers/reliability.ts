/**
 * Shared tools of the reliability campaign (test/reliability/): a seeded PRNG, the built CLI driven as a
 * child process with hooks on its NDJSON events (to SIGKILL it, or to break a server, at chosen points),
 * independent views of the databases through the `mariadb` command-line client (HEX dumps of every column,
 * CHECKSUM TABLE snapshots), sandbox clusters of several server processes, and a figures file that
 * RESULTS.md is written from.
 *
 * Nothing here uses fw-shard's own SQL to check fw-shard: dumps and checksums go through the mariadb CLI,
 * identifiers are read from information_schema as HEX and quoted here, independently of src/db.
 */
import { BYPASS } from './guard.js';
import { spawn, execFileSync } from 'node:child_process';
import { appendFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startServer, type SandboxServer } from '../../src/sandbox/servers.js';
import { openDb, type Db } from '../../src/db/pool.js';
import { prng } from '../../src/sandbox/data.js';

export const ROOT = resolve(fileURLToPath(import.meta.url), '../../..');
export const BIN = join(ROOT, 'bin/fw-shard');

// ------------------------------------------------------------------------------------------------
// Seeded randomness: every trial's choices come from its own recorded seed.

/** mulberry32 (the sandbox's seeded generator): the same seed gives the same kill points. */
export const mulberry32 = prng;

export class Rng {
  readonly #next: () => number;
  constructor(readonly seed: number) {
    this.#next = mulberry32(seed);
  }
  next(): number {
    return this.#next();
  }
  /** An integer in [lo, hi], both included. */
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.#next() * (hi - lo + 1));
  }
  pick<T>(xs: readonly T[]): T {
    return xs[Math.floor(this.#next() * xs.length)]!;
  }
  chance(p: number): boolean {
    return this.#next() < p;
  }
}

/** The seed of trial `i` of a campaign seeded with `seed` (recorded with each trial). */
export function trialSeed(seed: number, i: number): number {
  return (Math.imul(seed ^ 0x5bd1e995, 0x01000193) + Math.imul(i + 1, 0x9e3779b9)) >>> 0;
}

// ------------------------------------------------------------------------------------------------
// The built CLI, as a child process.

/** The binary runs dist/: build it once when it is missing or older than src/. */
export function ensureBuilt(): void {
  const distMain = join(ROOT, 'dist/cli/main.js');
  if (existsSync(distMain) && statSync(distMain).mtimeMs >= newest(join(ROOT, 'src'))) return;
  execFileSync(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', ROOT], { stdio: 'ignore' });
}

function newest(dir: string): number {
  let t = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    t = Math.max(t, e.isDirectory() ? newest(p) : statSync(p).mtimeMs);
  }
  return t;
}

export interface CliEvent {
  v: number;
  type: string;
  moveId: string | null;
  at: string;
  phase?: string;
  table?: string;
  [k: string]: unknown;
}

export interface CliRun {
  /** A kill was asked for (it may have come too late: the process had already exited). */
  killRequested: boolean;
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  events: CliEvent[];
  /** The event after which the process was killed (undefined: it was not killed). */
  killedAfter: CliEvent | undefined;
  pid: number;
  ms: number;
  /** The final --json document, when there is one. */
  doc: Record<string, any> | undefined;
}

export interface EventControl {
  /** SIGKILL the process now, or after `delayMs` (it keeps running meanwhile). */
  kill(delayMs?: number): void;
  readonly pid: number;
}

export interface RunOptions {
  env?: Record<string, string | undefined>;
  cwd?: string;
  /** Called for every NDJSON event line, in order (n counts from 1). */
  onEvent?: (e: CliEvent, n: number, ctl: EventControl) => void;
  /** Called once the child exists (for `ps` checks while it runs). */
  onSpawn?: (pid: number) => void;
  timeoutMs?: number;
}

/** Run `node bin/fw-shard ...args`; stdin is not a terminal, CI=1 keeps the live view off. */
export function runFwShard(args: string[], opts: RunOptions = {}): Promise<CliRun> {
  const t0 = Date.now();
  return new Promise((done, fail) => {
    const env: Record<string, string> = {};
    for (const [k, v] of Object.entries({ ...process.env, CI: '1', NO_COLOR: '1', ...(opts.env ?? {}) })) if (v !== undefined) env[k] = v;
    const child = spawn(process.execPath, [BIN, ...args], { cwd: opts.cwd ?? ROOT, stdio: ['ignore', 'pipe', 'pipe'], env });
    const pid = child.pid ?? 0;
    let stdout = '';
    let stderr = '';
    let buf = '';
    let n = 0;
    const events: CliEvent[] = [];
    let killedAfter: CliEvent | undefined;
    let current: CliEvent | undefined;
    let exited = false;
    let killRequested = false;
    const ctl: EventControl = {
      pid,
      kill(delayMs = 0) {
        if (killedAfter || exited) return;
        killRequested = true;
        killedAfter = current;
        const k = () => {
          if (!exited) child.kill('SIGKILL');
          else killedAfter = undefined; // it finished first: not a kill after all
        };
        if (delayMs > 0) setTimeout(k, delayMs);
        else k();
      },
    };
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      stderr += `\n[test harness: killed after ${opts.timeoutMs ?? 60_000} ms without exiting]\n`;
    }, opts.timeoutMs ?? 60_000);
    opts.onSpawn?.(pid);
    child.stdout.on('data', (d: Buffer) => {
      const s = d.toString();
      stdout += s;
      buf += s;
      let i;
      while ((i = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        if (!line.startsWith('{"v":')) continue;
        const e = JSON.parse(line) as CliEvent;
        events.push(e);
        n++;
        current = e;
        if (!killedAfter && opts.onEvent) opts.onEvent(e, n, ctl);
      }
    });
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', fail);
    child.on('close', (code, signal) => {
      // not 'exit': only then has all of stdout and stderr been read
      exited = true;
      clearTimeout(timer);
      // Let the pipes drain.
      setImmediate(() =>
        done({
          killRequested,
          code,
          signal,
          stdout,
          stderr,
          events,
          killedAfter: signal === 'SIGKILL' ? killedAfter : undefined,
          pid,
          ms: Date.now() - t0,
          doc: finalDoc(stdout),
        }),
      );
    });
  });
}

/**
 * The final --json document on stdout: one line after NDJSON event lines (--events), or pretty-printed
 * without them.
 */
export function finalDoc(stdout: string): Record<string, any> | undefined {
  const last = stdout.trimEnd().split('\n').at(-1) ?? '';
  if (last.startsWith('{"schemaVersion"')) {
    try {
      return JSON.parse(last);
    } catch {
      return undefined;
    }
  }
  const start = stdout.startsWith('{\n') ? 0 : stdout.lastIndexOf('\n{\n') + 1;
  if (start === 0 && !stdout.startsWith('{\n')) return undefined;
  try {
    return JSON.parse(stdout.slice(start));
  } catch {
    return undefined;
  }
}

// ------------------------------------------------------------------------------------------------
// Independent views of a server through the mariadb command-line client.

export interface Login {
  port: number;
  user?: string;
  password?: string;
}

/** Run statements through the mariadb client; tab-separated rows, NULL as "NULL", bytes as latin1. */
export function mariadb(login: Login, database: string, statements: string): string {
  const args = [
    '--no-defaults',
    '-h127.0.0.1',
    `-P${login.port}`,
    `-u${login.user ?? 'root'}`,
    '--batch',
    '--raw',
    '--skip-column-names',
    '--default-character-set=binary',
  ];
  if (login.password) args.push(`-p${login.password}`);
  return execFileSync('mariadb', [...args, database, '-e', statements], {
    encoding: 'latin1',
    maxBuffer: 256 * 1024 * 1024,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

/** Quote an identifier for the mariadb client (test-side, independent of src/db). */
export function q(name: string): string {
  return '`' + name.replace(/`/g, '``') + '`';
}

/** The base tables of a database with their columns, names decoded from HEX (hostile names survive). */
export function tablesOf(login: Login, database: string): { name: string; columns: string[] }[] {
  const out = mariadb(
    login,
    'information_schema',
    `SELECT HEX(TABLE_NAME), HEX(COLUMN_NAME) FROM COLUMNS WHERE TABLE_SCHEMA = '${database}' AND TABLE_NAME IN (SELECT TABLE_NAME FROM TABLES WHERE TABLE_SCHEMA = '${database}' AND TABLE_TYPE = 'BASE TABLE') ORDER BY TABLE_NAME, ORDINAL_POSITION`,
  );
  const byTable = new Map<string, string[]>();
  for (const line of out.split('\n').filter(Boolean)) {
    const [t, c] = line.split('\t') as [string, string];
    const name = Buffer.from(t, 'hex').toString('utf8');
    if (!byTable.has(name)) byTable.set(name, []);
    byTable.get(name)!.push(Buffer.from(c, 'hex').toString('utf8'));
  }
  return [...byTable].map(([name, columns]) => ({ name, columns }));
}

/**
 * Every row of `owner` = `userId` in every table that has the owner column: HEX of every column (NULL
 * stays NULL, so NULL, '' and 0 differ), ordered by every column, so duplicates of keyless tables count.
 * Tables starting with fw_shard_ are skipped.
 */
export function dumpUser(login: Login, database: string, userId: string, owner = 'user_id', tables?: { name: string; columns: string[] }[]): string {
  const statements: string[] = [];
  for (const t of tables ?? tablesOf(login, database)) {
    if (t.name.startsWith('fw_shard_') || !t.columns.includes(owner)) continue;
    const cols = t.columns.map((c) => `HEX(${q(c)})`);
    const order = cols.map((_, i) => String(i + 1)).join(', ');
    // One client run for every table: a header row, then the rows.
    statements.push(`SELECT CONCAT('## ', HEX(${quoteString(t.name)}))`);
    statements.push(`SELECT ${cols.join(', ')} FROM ${q(t.name)} WHERE ${q(owner)} = ${userId} ORDER BY ${order}`);
  }
  if (statements.length === 0) return '';
  return mariadb(login, database, statements.join(';\n'))
    .split('\n')
    .map((l) => (l.startsWith('## ') ? `## ${Buffer.from(l.slice(3), 'hex').toString('utf8')}` : l))
    .join('\n');
}

/** A string literal for the mariadb client (test-side). */
export function quoteString(s: string): string {
  return "'" + s.replace(/\\/g, '\\\\').replace(/'/g, "''") + "'";
}

/** Row count of a user's dump (lines that are rows, not table headers). */
export function dumpRows(dump: string): number {
  return dump.split('\n').filter((l) => l !== '' && !l.startsWith('## ')).length;
}

/** An empty dump of the same tables (what a cleaned source looks like). */
export function emptyDumpOf(dump: string): string {
  return dump
    .split('\n')
    .filter((l) => l.startsWith('## '))
    .map((l) => `${l}\n`)
    .join('');
}

/**
 * Every table of the given databases with CHECKSUM TABLE ... EXTENDED (and the list of tables): equal
 * snapshots before and after mean nothing was written (and no table appeared or vanished).
 */
export function checksums(login: Login, databases: readonly string[]): string {
  const tables = mariadb(
    login,
    'information_schema',
    `SELECT CONCAT('\`', REPLACE(TABLE_SCHEMA, '\`', '\`\`'), '\`.\`', REPLACE(TABLE_NAME, '\`', '\`\`'), '\`') FROM TABLES WHERE TABLE_SCHEMA IN (${databases.map((d) => `'${d}'`).join(', ')}) ORDER BY TABLE_SCHEMA, TABLE_NAME`,
  )
    .split('\n')
    .filter(Boolean);
  if (tables.length === 0) return '(no tables)';
  return tables.join('\n') + '\n--\n' + mariadb(login, 'mysql', `CHECKSUM TABLE ${tables.join(', ')} EXTENDED`);
}

// ------------------------------------------------------------------------------------------------
// Sandbox clusters: several real server processes started for one test file.

export interface Cluster {
  dir: string;
  servers: Record<string, SandboxServer>;
  login(server: string): Login;
  /** A root Db (for setup); closed by close(). */
  db(server: string, database: string): Db;
  /** Statements through the mariadb client as root. */
  sql(server: string, database: string, statements: string): string;
  close(): Promise<void>;
}

export async function startCluster(prefix: string, specs: { name: string; args?: string[] }[]): Promise<Cluster> {
  const dir = mkdtempSync(join(tmpdir(), `fws-rel-${prefix}-`));
  const started = await Promise.allSettled(specs.map((s) => startServer({ dir, name: s.name, extraArgs: s.args ?? [] })));
  const servers: Record<string, SandboxServer> = {};
  started.forEach((r, i) => {
    if (r.status === 'fulfilled') servers[specs[i]!.name] = r.value;
  });
  const dbs: Db[] = [];
  const cluster: Cluster = {
    dir,
    servers,
    login: (s) => ({ port: servers[s]!.port }),
    db(s, database) {
      const d = openDb(servers[s]!.endpoint(database, `test ${s}`));
      dbs.push(d);
      return d;
    },
    sql: (s, database, statements) => mariadb({ port: servers[s]!.port }, database, statements),
    async close() {
      await Promise.allSettled(dbs.splice(0).map((d) => d.close()));
      await Promise.allSettled(Object.values(servers).map((s) => s.stop()));
      rmSync(dir, { recursive: true, force: true });
    },
  };
  const failed = started.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) {
    await cluster.close();
    throw failed.reason;
  }
  return cluster;
}

/** Write a file readable by its owner only (configs hold no passwords here, but habits matter). */
export function writePrivate(path: string, text: string, mode = 0o600): string {
  writeFileSync(path, text);
  chmodSync(path, mode);
  return path;
}

// ------------------------------------------------------------------------------------------------
// Figures for RESULTS.md: each test file appends one JSON line per result to FW_SHARD_RELIABILITY_FIGURES
// (default: a file under the OS temp dir), and prints a summary.

export function figuresFile(): string {
  const f = process.env.FW_SHARD_RELIABILITY_FIGURES ?? join(tmpdir(), 'fw-shard-reliability-figures.ndjson');
  mkdirSync(resolve(f, '..'), { recursive: true });
  return f;
}

export function recordFigures(suite: string, figures: Record<string, unknown>): void {
  const line = JSON.stringify({ suite, at: new Date().toISOString(), ...figures });
  appendFileSync(figuresFile(), line + '\n');
  console.log(`[reliability] ${line}`);
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

// ------------------------------------------------------------------------------------------------
// A Flamework-shaped cluster: db_main (users, tickets) on one server, shards on others, a fw-shard login.

export interface FlameworkCluster extends Cluster {
  /** Server holding db_main (`flamework`) and the ticket server database (`tickets`). */
  mainServer: string;
  /** Shard id → server name and database. */
  shards: Record<number, { server: string; database: string }>;
  /** A JSON config file for fw-shard; `over` is merged over the generated document (shallow per key). */
  writeConfig(
    name: string,
    opts?: { user?: string; passwordEnv?: string; password?: string; defaults?: Record<string, unknown>; over?: Record<string, unknown> },
  ): string;
  /** Run the same statements on every shard's database (as root). */
  onShards(statements: string): void;
}

/**
 * Start the servers, create db_main (`flamework`: users(id, username, cluster_id)), a ticket server
 * (`tickets`: Tickets64 issuing ids above 2^53) and the shard databases. `users` are placed as given.
 */
export async function startFlamework(
  prefix: string,
  servers: { name: string; args?: string[] }[],
  layout: { main: string; shards: Record<number, { server: string; database: string }>; users: Record<string, number> },
): Promise<FlameworkCluster> {
  const c = await startCluster(prefix, servers);
  c.sql(
    layout.main,
    'mysql',
    `CREATE DATABASE flamework; CREATE DATABASE tickets;
    CREATE TABLE flamework.users (id INT UNSIGNED NOT NULL AUTO_INCREMENT, username VARCHAR(255), cluster_id TINYINT UNSIGNED NOT NULL, PRIMARY KEY (id));
    CREATE TABLE tickets.Tickets64 (id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT, stub CHAR(1) NOT NULL DEFAULT '', PRIMARY KEY (id), UNIQUE KEY stub (stub)) ENGINE=MyISAM AUTO_INCREMENT=9007199254740993;
    ${Object.entries(layout.users)
      .map(([id, shard]) => `INSERT INTO flamework.users VALUES (${id}, 'user${id}', ${shard});`)
      .join('\n')}`,
  );
  for (const s of Object.values(layout.shards)) c.sql(s.server, 'mysql', `CREATE DATABASE IF NOT EXISTS ${q(s.database)}`);
  const cluster: FlameworkCluster = {
    ...c,
    mainServer: layout.main,
    shards: layout.shards,
    writeConfig(name, opts = {}) {
      const port = (s: string) => c.servers[s]!.port;
      const login: Record<string, unknown> = { host: '127.0.0.1', user: opts.user ?? 'root' };
      if (opts.passwordEnv) login.passwordEnv = opts.passwordEnv;
      else login.password = opts.password ?? '';
      const doc: Record<string, unknown> = {
        version: 1,
        defaults: { ...login, ...(opts.defaults ?? {}) },
        main: { port: port(layout.main), database: 'flamework' },
        shards: Object.fromEntries(Object.entries(layout.shards).map(([id, s]) => [id, { port: port(s.server), database: s.database }])),
        tickets: [{ port: port(layout.main), database: 'tickets' }],
        ...(opts.over ?? {}),
      };
      return writePrivate(join(c.dir, name), JSON.stringify(doc, null, 2));
    },
    onShards(statements) {
      // As fw-shard's own sessions: its shard-side triggers refuse a moved user's writes otherwise.
      for (const s of Object.values(layout.shards)) c.sql(s.server, s.database, BYPASS + statements);
    },
  };
  return cluster;
}

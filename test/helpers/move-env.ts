/**
 * Two real server processes for move tests: `a` holds db_main and shard 1, `b` holds shard 2. Tests
 * run the engine through the same wiring as the CLI (makeDeps) against them.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { startServer, type SandboxServer } from '../../src/sandbox/servers.js';
import { normalizeConfig } from '../../src/config/load.js';
import type { Topology } from '../../src/topology/index.js';
import { makeDeps } from '../../src/app/deps.js';
import { openDb, type Db } from '../../src/db/pool.js';
import { ident, sql, raw } from '../../src/db/sql/fragment.js';
import { dropGuard } from './guard.js';
import { dropJournalSql } from './journal.js';
import { expect } from 'vitest';
import { FwShardError } from '../../src/errors/index.js';
import type { MoveEvent } from '../../src/events/types.js';

/**
 * One statement through the mariadb command-line client as root (independent of fw-shard's code):
 * raw bytes, no column names, latin1 so that every byte comes back as it is.
 */
export function mariadbClient(port: number, database: string, statement: string): string {
  return execFileSync(
    'mariadb',
    [
      '--no-defaults',
      '-h127.0.0.1',
      `-P${port}`,
      '-uroot',
      '--batch',
      '--raw',
      '--skip-column-names',
      '--default-character-set=binary',
      database,
      '-e',
      statement,
    ],
    { encoding: 'latin1', maxBuffer: 256 * 1024 * 1024 },
  );
}

export interface MoveEnv {
  dir: string;
  a: SandboxServer;
  b: SandboxServer;
  topology: Topology;
  /** A root Db on a server's database (for setup and independent checks). */
  db(server: 'a' | 'b', database: string): Db;
  /** Run a statement through the mariadb command-line client (independent of fw-shard's code). */
  cli(server: 'a' | 'b', database: string, statement: string): string;
  /** The topology as a config file; `extra` is merged in at the top level (e.g. `{ tables: {...} }`). */
  configFile(extra?: Record<string, unknown>): string;
  deps(events?: MoveEvent[]): ReturnType<typeof makeDeps>;
  close(): Promise<void>;
}

export async function startMoveEnv(opts: { name: string; serverArgs?: string[] }): Promise<MoveEnv> {
  const dir = mkdtempSync(join(tmpdir(), `fws-${opts.name}-`));
  const [a, b] = await Promise.all([
    startServer({ dir, name: 'a', extraArgs: opts.serverArgs ?? [] }),
    startServer({ dir, name: 'b', extraArgs: opts.serverArgs ?? [] }),
  ]);
  const dbs: Db[] = [];
  const raw0 = {
    defaults: { host: '127.0.0.1', user: 'root', password: '' },
    main: { port: a.port, database: 'flamework' },
    shards: { '1': { port: a.port, database: 'users1' }, '2': { port: b.port, database: 'users2' } },
    tickets: [{ port: a.port, database: 'tickets' }],
  };
  const boot = openDb(a.endpoint('mysql'));
  for (const d of ['flamework', 'users1', 'tickets']) await boot.exec(sql`CREATE DATABASE ${raw('`' + d + '`')}`);
  await boot.close();
  const bootB = openDb(b.endpoint('mysql'));
  await bootB.exec(sql`CREATE DATABASE users2`);
  await bootB.close();
  const topology = normalizeConfig(raw0, { env: {}, baseDir: dir, origin: 'test' }).topology;
  const env: MoveEnv = {
    dir,
    a,
    b,
    topology,
    db(server, database) {
      const d = openDb((server === 'a' ? a : b).endpoint(database));
      dbs.push(d);
      return d;
    },
    cli(server, database, statement) {
      return mariadbClient((server === 'a' ? a : b).port, database, statement);
    },
    configFile(extra) {
      const file = join(dir, 'fw-shard.config.json');
      execFileSync('sh', ['-c', `cat > ${file} && chmod 600 ${file}`], { input: JSON.stringify({ ...raw0, ...extra }) });
      return file;
    },
    deps(events) {
      return makeDeps(topology, (e) => events?.push(e));
    },
    async close() {
      await Promise.allSettled(dbs.map((d) => d.close()));
      await Promise.allSettled([a.stop(), b.stop()]);
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return env;
}

/** The Flamework users table and a ticket table, on server a. */
export async function createMainSchema(env: MoveEnv, users: { id: string; shard: number }[]): Promise<void> {
  const main = env.db('a', 'flamework');
  await main.exec(
    sql`CREATE TABLE users (id INT UNSIGNED NOT NULL AUTO_INCREMENT, username VARCHAR(255), cluster_id TINYINT UNSIGNED NOT NULL, PRIMARY KEY (id))`,
  );
  for (const u of users) await main.exec(sql`INSERT INTO users (id, username, cluster_id) VALUES (${u.id}, ${'user' + u.id}, ${u.shard})`);
  const t = env.db('a', 'tickets');
  await t.exec(
    sql`CREATE TABLE Tickets64 (id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT, stub CHAR(1) NOT NULL DEFAULT '', PRIMARY KEY (id), UNIQUE KEY stub (stub)) ENGINE=MyISAM AUTO_INCREMENT=9007199254740993`,
  );
}

/** Run the same DDL on both shards. */
export async function onBothShards(env: MoveEnv, ddl: string[]): Promise<void> {
  for (const [server, db] of [
    ['a', 'users1'],
    ['b', 'users2'],
  ] as const) {
    const d = env.db(server, db);
    for (const s of ddl) await d.exec(sql`${raw(s)}`);
  }
}

/**
 * A test's reset: every user back on shard 1, no journal and no guard objects, and `tables` emptied on
 * both shards (the test then puts its own rows in).
 */
export async function resetShards(env: MoveEnv, tables: readonly string[]): Promise<void> {
  await env.db('a', 'flamework').exec(sql`UPDATE users SET cluster_id = 1`);
  await env.db('a', 'flamework').exec(dropJournalSql());
  await dropGuard(env.db('a', 'users1'), env.db('b', 'users2'));
  for (const [s, d] of [
    ['a', 'users1'],
    ['b', 'users2'],
  ] as const)
    for (const t of tables) await env.db(s, d).exec(sql`DELETE FROM ${ident(t)}`);
}

/** The promise fails with an FwShardError of this code; returns it for further checks. */
export async function expectCode(p: Promise<unknown>, code: string): Promise<FwShardError> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(FwShardError);
    expect((err as FwShardError).code, (err as Error).message).toBe(code);
    return err as FwShardError;
  }
  throw new Error(`expected ${code}, but it succeeded`);
}

/**
 * Every column of a user's rows of one table as hex, in a total order (all columns), through the
 * mariadb client rather than fw-shard's own SQL: two shards hold the same rows iff their dumps are equal.
 */
export function userHexDump(env: MoveEnv, server: 'a' | 'b', database: string, table: string, userId = '42'): string {
  const cols = env
    .cli(
      server,
      database,
      `SELECT COLUMN_NAME FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = '${table}' ORDER BY ORDINAL_POSITION`,
    )
    .trim()
    .split('\n');
  const hex = cols.map((c) => `IFNULL(HEX(\`${c}\`), 'NULL')`).join(', ');
  return env.cli(server, database, `SELECT ${hex} FROM \`${table}\` WHERE user_id = ${userId} ORDER BY ${hex}`);
}

/** Run `fn` with the engine's ports for `topology` (events dropped), closed afterwards. */
export async function withDeps<T>(topology: Topology, fn: (deps: ReturnType<typeof makeDeps>['deps']) => Promise<T>): Promise<T> {
  const { deps, close } = makeDeps(topology, () => undefined);
  try {
    return await fn(deps);
  } finally {
    await close();
  }
}

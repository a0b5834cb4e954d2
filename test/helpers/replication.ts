/**
 * Shard primaries with real replicas, for the replication tests (test/integration/replicas.test.ts).
 *
 * The two servers of a MoveEnv (test/helpers/move-env.ts: `a` holds db_main, shard 1 and the tickets,
 * `b` holds shard 2) run with a binary log in the given binlog_format, and each has a replica server of
 * its own (`ra` replicates all of `a`, `rb` all of `b`, by GTID from the first event of the binary log),
 * so the source and the target shard each have a real replica. The topology names them as the shards'
 * replicas (config `shards.N.replicas`), as an operator would for `--max-lag`, and a memcached process
 * serves the app's cached users row (test/helpers/app-simulator.ts).
 *
 * Everything started here is stopped by close(), also when the start failed half-way.
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { normalizeConfig } from '../../src/config/load.js';
import { ident, NumericLiteral, raw, sql } from '../../src/db/sql/fragment.js';
import { freePort, startServer, type SandboxServer } from '../../src/sandbox/servers.js';
import type { Topology } from '../../src/topology/index.js';
import { memcached } from './app-simulator.js';
import { dropGuard } from './guard.js';
import { dropJournalSql } from './journal.js';
import { createMainSchema, mariadbClient, onBothShards, startMoveEnv, type MoveEnv } from './move-env.js';

export type Primary = 'a' | 'b';
export type Replica = 'ra' | 'rb';
export const REPLICA_OF: Record<Primary, Replica> = { a: 'ra', b: 'rb' };
/** The shard databases and where they live: shard 1 on a (and ra), shard 2 on b (and rb). */
export const SHARDS = [
  { shard: 1, primary: 'a', replica: 'ra', database: 'users1' },
  { shard: 2, primary: 'b', replica: 'rb', database: 'users2' },
] as const;
/** The sharded tables of these tests. */
export const SHARDED_TABLES = ['Dots', 'Faves'] as const;

export interface ReplicatedEnv {
  env: MoveEnv;
  binlogFormat: 'ROW' | 'MIXED';
  ra: SandboxServer;
  rb: SandboxServer;
  mcPort: number;
  /** The topology with memcached and each shard's replica (as root). */
  topology: Topology;
  /** The same topology with another login for every server (its replicas included). */
  topologyAs(login: { user: string; password: string }): Topology;
  /** A config file for this topology (for runCli), with another login for every server when given. */
  configFile(name: string, login?: { user: string; password: string }): string;
  /** A statement through the mariadb client on any of the four servers. */
  cli(server: Primary | Replica, database: string, statement: string): string;
  /** Wait until both replicas applied everything their primary logged so far (MASTER_GTID_WAIT). */
  catchUp(timeoutS?: number): Promise<void>;
  /** SHOW SLAVE STATUS of a replica, as column → value. */
  replicaStatus(r: Replica): Record<string, string>;
  /**
   * Users 42 and 43 on shard 1 and 44 on shard 2, no journal and no guard objects, an empty cache; the
   * moving user 42 has `dots` Dots (and 43 a tenth as many) and `faves` Faves; 44 has a few rows on
   * shard 2. Returns user 42's Dots ids.
   */
  reset(dots: number, faves: number): Promise<string[]>;
  close(): Promise<void>;
}

export async function startReplicatedEnv(name: string, binlogFormat: 'ROW' | 'MIXED'): Promise<ReplicatedEnv> {
  // Both primaries log with server_id 1: each replica reads one primary only, and has an id of its own.
  const env = await startMoveEnv({ name, serverArgs: ['--log-bin=fws-bin', '--server-id=1', `--binlog-format=${binlogFormat}`] });
  const started: SandboxServer[] = [];
  let mc: ChildProcess | undefined;
  let mcPort = 0;
  const stopAll = async () => {
    mc?.kill('SIGTERM');
    await Promise.allSettled(started.map((s) => s.stop()));
    await env.close();
  };
  try {
    const replicas = await Promise.allSettled(
      (['ra', 'rb'] as const).map((r, i) =>
        startServer({ dir: env.dir, name: r, extraArgs: [`--server-id=${11 + i}`, '--relay-log=relay', '--skip-slave-start'] }).then((s) => {
          started.push(s);
          return s;
        }),
      ),
    );
    const failed = replicas.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
    const ra = started.find((s) => s.name === 'ra')!;
    const rb = started.find((s) => s.name === 'rb')!;
    const port = { a: env.a.port, b: env.b.port, ra: ra.port, rb: rb.port };
    const cli = (server: Primary | Replica, database: string, statement: string) => mariadbClient(port[server], database, statement);

    // Replicate everything each primary logged since it started (its CREATE DATABASEs included).
    for (const [p, r] of Object.entries(REPLICA_OF) as [Primary, Replica][]) {
      cli(
        r,
        'mysql',
        `SET GLOBAL gtid_slave_pos = ''; CHANGE MASTER TO MASTER_HOST = '127.0.0.1', MASTER_PORT = ${port[p]}, MASTER_USER = 'root', MASTER_PASSWORD = '', MASTER_USE_GTID = slave_pos, MASTER_CONNECT_RETRY = 1; START SLAVE`,
      );
    }

    mcPort = await freePort();
    mc = spawn('memcached', ['-l', '127.0.0.1', '-p', String(mcPort), '-U', '0', '-u', 'root'], { stdio: 'ignore' });
    for (let i = 0; i < 100; i++) {
      if (/VERSION/.test(await memcached(mcPort, 'version\r\n').catch(() => ''))) break;
      await new Promise((r) => setTimeout(r, 50));
    }

    const rawConfig = (login?: { user: string; password: string }) => ({
      defaults: { host: '127.0.0.1', user: login?.user ?? 'root', password: login?.password ?? '' },
      main: { port: env.a.port, database: 'flamework' },
      shards: {
        '1': { port: env.a.port, database: 'users1', replicas: [{ host: '127.0.0.1', port: ra.port }] },
        '2': { port: env.b.port, database: 'users2', replicas: [{ host: '127.0.0.1', port: rb.port }] },
      },
      tickets: [{ port: env.a.port, database: 'tickets' }],
      memcached: { servers: [`127.0.0.1:${mcPort}`], keys: ['USER-{id}'] },
    });
    const topology = normalizeConfig(rawConfig(), { env: {}, baseDir: env.dir, origin: 'test' }).topology;

    await createMainSchema(env, [
      { id: '42', shard: 1 },
      { id: '43', shard: 1 },
      { id: '44', shard: 2 },
    ]);
    await onBothShards(env, [
      'CREATE TABLE Dots (id BIGINT UNSIGNED NOT NULL PRIMARY KEY, user_id INT UNSIGNED NOT NULL, body VARCHAR(200), KEY by_user (user_id))',
      'CREATE TABLE Faves (user_id INT UNSIGNED NOT NULL, dot_id BIGINT UNSIGNED NOT NULL, note VARCHAR(100), created DATETIME(3) NOT NULL, PRIMARY KEY (user_id, dot_id))',
    ]);

    const renv: ReplicatedEnv = {
      env,
      binlogFormat,
      ra,
      rb,
      mcPort,
      topology,
      topologyAs: (login) => normalizeConfig(rawConfig(login), { env: {}, baseDir: env.dir, origin: 'test' }).topology,
      configFile(fileName, login) {
        const file = join(env.dir, fileName);
        writeFileSync(file, JSON.stringify(rawConfig(login)), { mode: 0o600 });
        return file;
      },
      cli,
      async catchUp(timeoutS = 30) {
        for (const [p, r] of Object.entries(REPLICA_OF) as [Primary, Replica][]) {
          const pos = cli(p, 'mysql', 'SELECT @@GLOBAL.gtid_binlog_pos').trim();
          const res = cli(r, 'mysql', `SELECT MASTER_GTID_WAIT('${pos}', ${timeoutS})`).trim();
          if (res !== '0') {
            const st = renv.replicaStatus(r);
            throw new Error(
              `${r} did not reach ${p}'s ${pos} within ${timeoutS} s (MASTER_GTID_WAIT ${res}): ` +
                `Slave_SQL_Running ${st.Slave_SQL_Running}, Last_SQL_Errno ${st.Last_SQL_Errno}: ${st.Last_SQL_Error}; Last_IO_Error: ${st.Last_IO_Error}`,
            );
          }
        }
      },
      replicaStatus(r) {
        const out = execFileSync('mariadb', ['--no-defaults', '-h127.0.0.1', `-P${port[r]}`, '-uroot', '--batch', '--raw', '-e', 'SHOW SLAVE STATUS'], {
          encoding: 'utf8',
        });
        const [head, row] = out.split('\n');
        const cols = (head ?? '').split('\t');
        const vals = (row ?? '').split('\t');
        return Object.fromEntries(cols.map((c, i) => [c, vals[i] ?? '']));
      },
      async reset(dots, faves) {
        const main = env.db('a', 'flamework');
        await main.exec(sql`UPDATE users SET cluster_id = IF(id = 44, 2, 1)`);
        await main.exec(dropJournalSql());
        await dropGuard(env.db('a', 'users1'), env.db('b', 'users2'));
        for (const [s, d] of [
          ['a', 'users1'],
          ['b', 'users2'],
        ] as const)
          for (const t of SHARDED_TABLES) await env.db(s, d).exec(sql`DELETE FROM ${ident(t)}`);
        const src = env.db('a', 'users1');
        const n = (v: number) => new NumericLiteral(String(v));
        // User 42: `dots` Dots; user 43: one in ten more. Ids above 2^53, as ticket servers hand out.
        await src.exec(
          sql`INSERT INTO Dots SELECT 9007199254740993 + seq * 2, IF(seq % 11 = 0, 43, 42), CONCAT('seed ', seq) FROM seq_1_to_${n(Math.round(dots * 1.1))}`,
        );
        await src.exec(
          sql`INSERT INTO Faves SELECT IF(seq % 5 = 0, 43, 42), 9007199254740993 + seq * 2, CONCAT('fave ', seq), TIMESTAMP('2024-01-01') + INTERVAL seq SECOND FROM seq_1_to_${n(Math.round(faves * 1.25))}`,
        );
        const dst = env.db('b', 'users2');
        await dst.exec(sql`INSERT INTO Dots SELECT 8000000000000001 + seq, 44, CONCAT('other ', seq) FROM seq_1_to_50`);
        await dst.exec(sql`INSERT INTO Faves SELECT 44, 8000000000000001 + seq, 'other', NOW(3) FROM seq_1_to_50`);
        await env.db('a', 'tickets').exec(sql`${raw('ALTER TABLE Tickets64 AUTO_INCREMENT = 9007199254900001')}`);
        await memcached(mcPort, 'flush_all\r\n').catch(() => '');
        return cli('a', 'users1', 'SELECT id FROM Dots WHERE user_id = 42 ORDER BY id').trim().split('\n');
      },
      close: stopAll,
    };
    return renv;
  } catch (err) {
    await stopAll();
    throw err;
  }
}

/** CHECKSUM TABLE of each table (`missing` where it does not exist). */
export function checksums(r: ReplicatedEnv, server: Primary | Replica, database: string, tables: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const t of tables) {
    const line = r.cli(server, database, `CHECKSUM TABLE \`${t}\``).trim();
    const v = line.split('\t')[1];
    out[t] = v === undefined || v === 'NULL' || v === '' ? 'missing' : v;
  }
  return out;
}

/**
 * fw-shard's objects in a shard database: its triggers (name, table, event, timing and body) and the
 * rows of fw_shard_fence and fw_shard_changes (`missing` where the table does not exist).
 */
export function fwShardObjects(r: ReplicatedEnv, server: Primary | Replica, database: string): { triggers: string[]; fence: string; changes: string } {
  const triggers = r
    .cli(
      server,
      database,
      "SELECT CONCAT_WS(' ', TRIGGER_NAME, DEFINER, EVENT_OBJECT_TABLE, ACTION_TIMING, EVENT_MANIPULATION, SHA1(ACTION_STATEMENT)) FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = DATABASE() AND TRIGGER_NAME LIKE 'fw\\_shard\\_%' ORDER BY TRIGGER_NAME",
    )
    .trim()
    .split('\n')
    .filter(Boolean);
  const tableRows = (table: string, cols: string) => {
    const exists = r.cli(server, database, `SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = '${table}'`).trim();
    return exists === '1' ? r.cli(server, database, `SELECT ${cols} FROM ${table} ORDER BY 1`) : 'missing';
  };
  return {
    triggers,
    fence: tableRows('fw_shard_fence', "user_id, state, move_id, DATE_FORMAT(updated_at, '%Y-%m-%d %H:%i:%s.%f')"),
    changes: tableRows('fw_shard_changes', 'seq, user_id, table_name, HEX(k), HEX(r)'),
  };
}

/**
 * The GRANTs of README "Required privileges" for db_main, the shards and the ticket servers, read from
 * the README itself (so the test follows the document): `privileges` on `tables` (`sharded`: the
 * sharded tables); and the row "online moves in trigger mode": `triggerMode.database` on each shard
 * database, `triggerMode.global` on `*.*`.
 */
export type ReadmeGrants = Record<'main' | 'shard' | 'tickets', { privileges: string; tables: string[] | 'sharded' }[]> & {
  triggerMode: { database: string; global: string };
};

export function readmeGrants(readmePath: string): ReadmeGrants {
  const readme = readFileSync(readmePath, 'utf8');
  const start = readme.indexOf('## Required privileges');
  const section = readme.slice(start, readme.indexOf('\n## ', start + 1));
  const out: ReadmeGrants = { main: [], shard: [], tickets: [], triggerMode: { database: '', global: '' } };
  for (const row of section.split('\n').filter((l) => l.startsWith('| ') && !l.startsWith('| where'))) {
    const [, where, what] = row.split('|').map((s) => s.trim());
    if (/^online moves in trigger mode/.test(where!)) {
      out.triggerMode = {
        database: /on each shard database \([^)]*\):\s*([A-Z][A-Z, ]*[A-Z])/.exec(what!)?.[1] ?? '',
        global: /globally:\s*([A-Z][A-Z, ]*[A-Z])/.exec(what!)?.[1] ?? '',
      };
      continue;
    }
    const key = /^db_main/.test(where!) ? 'main' : /^every shard/.test(where!) ? 'shard' : /^ticket/.test(where!) ? 'tickets' : null;
    if (!key) continue;
    // "`A, B` on `t1`, `t2`, and `C` on `t1`": each privilege list with the tables named after it.
    for (const part of what!.replace(/\([^)]*\)/g, '').split(/;|,?\s+and\s+(?=`)/)) {
      const m = /`([A-Z ,]+)`\s+on\s+(.+)/.exec(part.trim());
      if (!m || /information_schema/.test(m[2]!)) continue;
      const target = m[2]!.trim();
      const tables =
        target === 'the sharded tables' ? 'sharded' : target === 'the users table' ? ['users'] : [...target.matchAll(/`([^`]+)`/g)].map((x) => x[1]!);
      out[key].push({ privileges: m[1]!, tables });
    }
  }
  return out;
}

/**
 * How a primary logged the writes of a table so far: statements (Query events that write it; DDL
 * aside) and row events (its Table_map events). In MIXED, a statement that fires a trigger writing an
 * AUTO_INCREMENT column (fw-shard's change log) is unsafe and logged as rows.
 */
export function binlogWritesOf(r: ReplicatedEnv, server: Primary, table: string): { statements: number; rowEvents: number } {
  let statements = 0;
  let rowEvents = 0;
  for (const log of r.cli(server, 'mysql', 'SHOW BINARY LOGS').trim().split('\n').filter(Boolean)) {
    const file = log.split('\t')[0]!;
    for (const line of r.cli(server, 'mysql', `SHOW BINLOG EVENTS IN '${file}'`).split('\n')) {
      const [, , type, , , info = ''] = line.split('\t');
      if (type === 'Query' && new RegExp(`^(INSERT|UPDATE|DELETE|REPLACE)\\b.*\\b${table}\\b`, 'is').test(info.replace(/^use `[^`]*`; /, ''))) statements++;
      if (type === 'Table_map' && new RegExp(`\\(\\w+\\.${table}\\)$`).test(info)) rowEvents++;
    }
  }
  return { statements, rowEvents };
}

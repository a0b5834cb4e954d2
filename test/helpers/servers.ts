/**
 * Real MariaDB servers for one test file: `useServers(n)` starts them in beforeAll (in parallel, in a
 * temp dir under os.tmpdir()) and stops them and removes the dir in afterAll. Each server is a
 * SandboxServer, so tests can also kill() one (crash) and restart() it on the same port.
 *
 *   const t = useServers(2, { extraArgs: (i) => [`--auto-increment-offset=${i + 1}`] });
 *   it('...', async () => { const db = t.db(0); await db.exec(sql`SELECT 1`); t.server(1).kill(); });
 *
 * Every Db handed out by `db()` is closed in afterAll, before the servers stop.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll } from 'vitest';
import { openDb, type Db } from '../../src/db/pool.js';
import { startServer, type SandboxServer } from '../../src/sandbox/servers.js';

export interface TestServers {
  /** The temp dir holding every server's datadir and logs (removed in afterAll). */
  readonly dir: string;
  readonly servers: readonly SandboxServer[];
  /** Server `i` (0-based); throws before beforeAll has run. */
  server(i: number): SandboxServer;
  /** A root Db on server `i` over TCP (database `mysql` unless given); closed in afterAll. */
  db(i: number, database?: string): Db;
}

export interface UseServersOptions {
  /** Directory-name prefix under os.tmpdir(), default "fw-shard-test-". */
  prefix?: string;
  /** Server names (default s0, s1, ...). */
  names?: readonly string[];
  /** Extra server options for server `i`. */
  extraArgs?: (i: number) => string[];
}

/** Start `count` servers before the file's tests run; stop them all after. */
export function useServers(count: number, opts: UseServersOptions = {}): TestServers {
  let dir = '';
  const servers: SandboxServer[] = [];
  const dbs: Db[] = [];

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), opts.prefix ?? 'fw-shard-test-'));
    const results = await Promise.allSettled(
      Array.from({ length: count }, (_, i) => startServer({ dir, name: opts.names?.[i] ?? `s${i}`, extraArgs: opts.extraArgs?.(i) ?? [] })),
    );
    for (const r of results) if (r.status === 'fulfilled') servers.push(r.value);
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) {
      // afterAll still runs and stops the ones that did start.
      throw failed.reason;
    }
  });

  afterAll(async () => {
    await Promise.allSettled(dbs.splice(0).map((d) => d.close()));
    await Promise.allSettled(servers.map((s) => s.stop()));
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const server = (i: number): SandboxServer => {
    const s = servers[i];
    if (!s) throw new Error(`useServers: server ${i} is not running (did beforeAll fail?)`);
    return s;
  };

  return {
    get dir() {
      return dir;
    },
    servers,
    server,
    db(i: number, database = 'mysql'): Db {
      const d = openDb(server(i).endpoint(database, `test server ${i}`));
      dbs.push(d);
      return d;
    },
  };
}

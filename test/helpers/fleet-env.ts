/**
 * A sandbox of real server processes for fleet tests (`sandboxUp`: db_main, N shards, two ticket
 * servers), with ways to look at it independently of fw-shard (the mariadb client), to run the built
 * CLI against it, and to wire the engine in-process.
 *
 *   const f = useFleet({ shards: 4, users: 16, rowsPerUser: 60 });
 *   it('...', async () => { const r = await f.env.run(['plan', '--balance']); ... });
 */
import { BYPASS } from './guard.js';
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll } from 'vitest';
import { loadConfig } from '../../src/config/load.js';
import { makeDeps } from '../../src/app/deps.js';
import { openDb, type Db } from '../../src/db/pool.js';
import type { MoveEvent } from '../../src/events/types.js';
import type { ThrottleSettings } from '../../src/move/throttler.js';
import { sandboxDown, sandboxUp, type SandboxUpOptions, type SandboxUpResult } from '../../src/sandbox/index.js';
import { rootEndpoint } from '../../src/sandbox/servers.js';
import type { Topology } from '../../src/topology/index.js';

export const ROOT = resolve(fileURLToPath(import.meta.url), '../../..');
export const BIN = join(ROOT, 'bin/fw-shard');

export interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** NDJSON events seen on stdout (with --events). */
  events: Record<string, unknown>[];
}

export interface FleetEnv {
  dir: string;
  up: SandboxUpResult;
  configPath: string;
  topology: Topology;
  port(process: string): number;
  /** A statement through the mariadb client on a sandbox process ('main', 'shard1', ...). */
  sql(process: string, database: string, statement: string): string;
  db(process: string, database: string): Db;
  /** The built CLI with --config; `onEvent` may kill it (returns true to SIGKILL). */
  run(
    args: string[],
    opts?: { config?: string; onEvent?: (e: Record<string, unknown>) => boolean | void; onStderr?: (text: string) => void },
  ): Promise<Run> & { child: import('node:child_process').ChildProcess };
  deps(events?: MoveEvent[] | ((e: MoveEvent) => void), throttle?: ThrottleSettings): ReturnType<typeof makeDeps>;
  /** cluster_id of a user in db_main. */
  shardOf(userId: string): number;
  /** user ids per shard, from db_main. */
  usersOn(shard: number): string[];
}

export function runBin(
  args: string[],
  opts: { cwd?: string; env?: Record<string, string>; onEvent?: (e: Record<string, unknown>) => boolean | void; onStderr?: (text: string) => void } = {},
) {
  const child = spawn(process.execPath, [BIN, ...args], {
    cwd: opts.cwd ?? ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, CI: '1', ...(opts.env ?? {}) },
  });
  const p = new Promise<Run>((done) => {
    let stdout = '';
    let stderr = '';
    let buf = '';
    const events: Record<string, unknown>[] = [];
    let killed = false;
    child.stdout!.on('data', (d: Buffer) => {
      stdout += d.toString();
      buf += d.toString();
      let i;
      while ((i = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        if (!line.startsWith('{"v":1')) continue;
        const e = JSON.parse(line) as Record<string, unknown>;
        events.push(e);
        if (!killed && opts.onEvent?.(e) === true) {
          killed = true;
          child.kill('SIGKILL');
        }
      }
    });
    child.stderr!.on('data', (d: Buffer) => {
      stderr += d.toString();
      opts.onStderr?.(d.toString());
    });
    // 'close', not 'exit': only then has all of stdout and stderr been read.
    child.on('close', (code, signal) => done({ code, signal, stdout, stderr, events }));
  });
  return Object.assign(p, { child });
}

/** The JSON document at the end of a --json run's stdout (after any NDJSON events). */
export function lastJson(stdout: string): Record<string, unknown> {
  // After --events the document is one line (NDJSON); alone it is pretty-printed.
  const last = stdout.trimEnd().split('\n').at(-1) ?? '';
  if (last.startsWith('{"schemaVersion"')) return JSON.parse(last) as Record<string, unknown>;
  const start = stdout.lastIndexOf('\n{\n');
  const text = start >= 0 ? stdout.slice(start + 1) : stdout.slice(stdout.indexOf('{'));
  return JSON.parse(text) as Record<string, unknown>;
}

export function useFleet(opts: Omit<SandboxUpOptions, 'dir'>): { env: FleetEnv } {
  const h = { env: undefined as unknown as FleetEnv };
  let root = '';
  const dbs: Db[] = [];
  beforeAll(async () => {
    root = mkdtempSync(join(tmpdir(), 'fws-fleet-'));
    const dir = join(root, 'sandbox');
    const up = await sandboxUp({ dir, ...opts });
    const { topology } = loadConfig({ config: up.configPath, env: {}, cwd: dir });
    const port = (name: string) => {
      const p = up.state.processes.find((x) => x.name === name);
      if (!p) throw new Error(`no sandbox process ${name}`);
      return p.port;
    };
    // As fw-shard's own sessions (BYPASS): its shard-side triggers would refuse a moved user's writes.
    const sqlOn = (name: string, database: string, statement: string) =>
      execFileSync(
        'mariadb',
        ['--no-defaults', '-h127.0.0.1', `-P${port(name)}`, '-uroot', '--batch', '--raw', '--skip-column-names', database, '-e', BYPASS + statement],
        { encoding: 'utf8' },
      );
    h.env = {
      dir,
      up,
      configPath: up.configPath,
      topology,
      port,
      sql: sqlOn,
      db(name, database) {
        const d = openDb(rootEndpoint(port(name), database, name));
        dbs.push(d);
        return d;
      },
      run(args, o = {}) {
        return runBin(['--config', o.config ?? up.configPath, ...args], o);
      },
      deps(events, throttle) {
        const sink = typeof events === 'function' ? events : (e: MoveEvent) => events?.push(e);
        return makeDeps(topology, sink, throttle);
      },
      shardOf(userId) {
        return Number(sqlOn('main', 'flamework', `SELECT cluster_id FROM users WHERE id = ${Number(userId)}`).trim());
      },
      usersOn(shard) {
        return sqlOn('main', 'flamework', `SELECT id FROM users WHERE cluster_id = ${shard} ORDER BY id`).split('\n').filter(Boolean);
      },
    };
  });
  afterAll(async () => {
    await Promise.allSettled(dbs.splice(0).map((d) => d.close()));
    if (root) {
      await sandboxDown(join(root, 'sandbox')).catch(() => undefined);
      rmSync(root, { recursive: true, force: true });
    }
  });
  return h;
}

/**
 * A sandbox on disk and in the process table: its state file, its marker, the processes it started
 * (probed, and stopped by `sandbox down`), and `sandbox status`.
 */
import { existsSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { openDb } from '../db/pool.js';
import { pingSql } from '../db/sql/server.js';
import { FwShardError } from '../errors/index.js';
import { type DataSummary } from './data.js';
import { findProcessesUnder, isProcessAlive, rootEndpoint, stopProcess, tcpReachable } from './servers.js';

/** Default sandbox directory, relative to the working directory. */
export const DEFAULT_SANDBOX_DIR = '.sandbox';
export const STATE_FILE = 'sandbox.json';
export const CONFIG_FILE = 'fw-shard.config.yaml';
/** Present in every directory this module created; nothing without it (and non-empty) is ever deleted. */
export const MARKER_FILE = '.fw-shard-sandbox';

export interface SandboxUpOptions {
  /** Sandbox directory (created); default `.sandbox` in the cwd is the CLI's business. */
  dir: string;
  /** Number of shard servers (federated mode), default 2. Ignored in poor man's mode (always 1). */
  shards?: number;
  /** Users to create, default 12. */
  users?: number;
  /** About this many rows per user over the five shard tables, default 200. */
  rowsPerUser?: number;
  /** One server, one database `flamework` holding everything (Flamework's poor man's federation + ticketing). */
  poorMans?: boolean;
  /**
   * Poor man's mode only: empty real shard servers (shards 2, 3, ...) to graduate onto, default 2. With
   * any, the config is the graduation one: poor man's federation off, shard 1 = db_main. 0: pure poor man's.
   */
  realShards?: number;
  /** Seed for the sample data, default 1. */
  seed?: number;
}

export type ProcessRole = 'main' | 'shard' | 'tickets' | 'memcached';

/** One process the sandbox started. */
export interface ProcessState {
  /** Directory name under DIR and the name in messages: main, shard1, tickets2, memcached. */
  name: string;
  role: ProcessRole;
  /** What it serves in Flamework terms: ["db_main"], ["shard 2"], ["db_main", "shard 1", "tickets 1"]. */
  serves: string[];
  /** For role shard: the shard id (cluster_id). */
  shard?: number;
  pid: number;
  host: '127.0.0.1';
  port: number;
  /** MariaDB only. */
  socket?: string;
  /** MariaDB only. */
  datadir?: string;
  /** The application database on this server (MariaDB only). */
  database?: string;
  logFile: string;
  /** A path in the process's command line; the pid is only signalled while it still carries it. */
  marker: string;
  command: string;
}

/** The content of `DIR/sandbox.json`. */
export interface SandboxState {
  schemaVersion: 1;
  kind: 'fw-shard-sandbox';
  dir: string;
  mode: 'federated' | 'poor-mans';
  /** False until schema, data and config are all written. */
  ready: boolean;
  /** While not ready: the pid of the process running `up` (a second `up` must not tear it down). */
  upPid?: number;
  createdAt: string;
  readyAt?: string;
  options: { shards: number; users: number; rowsPerUser: number; poorMans: boolean; seed: number; realShards?: number };
  server: { binary: string; version: string };
  configPath: string;
  processes: ProcessState[];
  data?: DataSummary;
  notes: string[];
}

export interface SandboxUpResult {
  /** True when a live sandbox was found and nothing was changed. */
  alreadyRunning: boolean;
  /** True when a dead or half-made sandbox was cleaned first. */
  recreated: boolean;
  state: SandboxState;
  configPath: string;
  elapsedMs: number;
  /** Wall time per step (start servers, schema, data), ms. */
  timings: Record<string, number>;
}

interface ProcessStatus extends ProcessState {
  /** The process exists and is still ours. */
  alive: boolean;
  /** It answers: `SELECT 1` for MariaDB, a TCP connect for memcached. */
  responding: boolean;
}

export interface SandboxStatus {
  dir: string;
  /** DIR/sandbox.json exists. */
  exists: boolean;
  ready: boolean;
  /** Every process alive and responding (and the sandbox finished loading). */
  healthy: boolean;
  configPath: string | null;
  mode: SandboxState['mode'] | null;
  processes: ProcessStatus[];
  data: DataSummary | null;
}

interface SandboxDownResult {
  dir: string;
  /** There was a sandbox (or a leftover) at DIR. */
  existed: boolean;
  stopped: { name: string; pid: number; how: 'gone' | 'SIGTERM' | 'SIGKILL' }[];
  removed: boolean;
}

// ---------------------------------------------------------------------------------------------------
// state file

/** Read DIR/sandbox.json, or null when there is none (or it is unreadable: treated as a leftover). */
export function readSandboxState(dir: string): SandboxState | null {
  const p = join(resolve(dir), STATE_FILE);
  if (!existsSync(p)) return null;
  try {
    const s = JSON.parse(readFileSync(p, 'utf8')) as SandboxState;
    return s && s.kind === 'fw-shard-sandbox' && Array.isArray(s.processes) ? s : null;
  } catch {
    return null;
  }
}

export function writeState(state: SandboxState): void {
  const p = join(state.dir, STATE_FILE);
  const tmp = `${p}.${process.pid}.tmp`;
  writeFileSync(tmp, JSON.stringify(state, null, 2) + '\n', { mode: 0o600 });
  renameSync(tmp, p); // atomic: a reader never sees half a file
}

/** Whether a pid exists at all (for the `up` in progress; it is a node process, not ours to signal). */
export function pidExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export function isSandboxDir(dir: string): boolean {
  return existsSync(join(dir, MARKER_FILE)) || existsSync(join(dir, STATE_FILE));
}

// ---------------------------------------------------------------------------------------------------
// probing and teardown

async function withTimeout<T>(p: Promise<T>, ms: number, fallback: T): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const t = new Promise<T>((res) => (timer = setTimeout(() => res(fallback), ms)));
  try {
    return await Promise.race([p, t]);
  } finally {
    clearTimeout(timer);
  }
}

export async function probeProcess(p: ProcessState): Promise<ProcessStatus> {
  const alive = isProcessAlive(p.pid, p.marker);
  let responding = false;
  if (alive) {
    if (p.role === 'memcached') {
      responding = await tcpReachable(p.port, 2000);
    } else {
      const db = openDb(rootEndpoint(p.port, 'mysql', `sandbox ${p.name}`));
      try {
        responding = await withTimeout(
          db.rows(pingSql()).then(
            () => true,
            () => false,
          ),
          5000,
          false,
        );
      } finally {
        await db.close();
      }
    }
  }
  return { ...p, alive, responding };
}

/** Stop every process of the sandbox at `dir` (recorded or found by its command line) and remove `dir`. */
export async function teardown(dir: string, state: SandboxState | null): Promise<SandboxDownResult['stopped']> {
  const targets = new Map<number, { name: string; pid: number; marker: string; socket?: string }>();
  for (const p of state?.processes ?? []) {
    targets.set(p.pid, { name: p.name, pid: p.pid, marker: p.marker, ...(p.socket ? { socket: p.socket } : {}) });
  }
  // Processes spawned by an `up` that died before recording them.
  for (const f of findProcessesUnder(dir)) {
    if (!targets.has(f.pid)) targets.set(f.pid, { name: `pid ${f.pid}`, pid: f.pid, marker: f.marker });
  }
  const stopped = await Promise.all(
    [...targets.values()].map(async (t) => {
      const how = await stopProcess(t.pid, t.marker);
      // A socket placed under /tmp (long DIR) is outside DIR: remove it here.
      if (t.socket?.startsWith('/tmp/fws-')) rmSync(t.socket, { force: true });
      return { name: t.name, pid: t.pid, how };
    }),
  );
  rmSync(dir, { recursive: true, force: true });
  return stopped;
}

// ---------------------------------------------------------------------------------------------------
// status and down

/** What is at `dir`: every recorded process, whether it is alive and answering. Never changes anything. */
export async function sandboxStatus(dir: string): Promise<SandboxStatus> {
  const abs = resolve(dir);
  const state = readSandboxState(abs);
  if (!state) {
    return { dir: abs, exists: false, ready: false, healthy: false, configPath: null, mode: null, processes: [], data: null };
  }
  const processes = await Promise.all(state.processes.map(probeProcess));
  return {
    dir: abs,
    exists: true,
    ready: state.ready,
    healthy: state.ready && processes.length > 0 && processes.every((p) => p.alive && p.responding),
    configPath: existsSync(state.configPath) ? state.configPath : null,
    mode: state.mode,
    processes,
    data: state.data ?? null,
  };
}

/**
 * Stop every process the sandbox at `dir` started (SIGTERM, then SIGKILL after 20 s) and remove `dir`.
 * Refuses a non-empty directory that is not a sandbox. Nothing at `dir` is not an error.
 */
export async function sandboxDown(dir: string): Promise<SandboxDownResult> {
  const abs = resolve(dir);
  if (!existsSync(abs)) return { dir: abs, existed: false, stopped: [], removed: false };
  if (!isSandboxDir(abs) && readdirSync(abs).length > 0) {
    throw new FwShardError('SANDBOX', `${abs} is not a sandbox directory (no ${STATE_FILE}); refusing to delete it`, {
      hint: 'Check --dir.',
    });
  }
  const stopped = await teardown(abs, readSandboxState(abs));
  return { dir: abs, existed: true, stopped, removed: !existsSync(abs) };
}

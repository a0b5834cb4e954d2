/**
 * The sandbox's processes, whatever they run: finding an executable, a free port, whether a pid is
 * still the process it was (its marker on the command line), stopping it and waiting for it to go,
 * the processes under a directory, a log's tail, a TCP port that answers.
 */
import { accessSync, constants, existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { createServer, createConnection } from 'node:net';
import { basename, delimiter, join, resolve } from 'node:path';
import { FwShardError } from '../errors/index.js';

const STOP_GRACE_MS = 20_000;

const SEARCH_DIRS = ['/usr/sbin', '/usr/bin', '/usr/local/sbin', '/usr/local/bin', '/usr/local/mysql/bin'];

/** Find an executable by name on PATH, then in the usual system directories. */
export function findExecutable(names: readonly string[], env: Readonly<Record<string, string | undefined>> = process.env): string | undefined {
  const dirs = [...(env.PATH ?? '').split(delimiter).filter(Boolean), ...SEARCH_DIRS];
  for (const name of names) {
    for (const d of dirs) {
      const p = join(d, name);
      try {
        accessSync(p, constants.X_OK);
        if (statSync(p).isFile()) return p;
      } catch {
        // not here
      }
    }
  }
  return undefined;
}

/** Ports this process has handed out recently: bind(0) may return a port just released by another call. */
const handedOut = new Set<number>();

/** A loopback TCP port that is free right now (bind port 0, read it, release it). */
export async function freePort(): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const port = await new Promise<number>((res, rej) => {
      const srv = createServer();
      srv.unref();
      srv.once('error', rej);
      srv.listen(0, '127.0.0.1', () => {
        const addr = srv.address();
        const p = typeof addr === 'object' && addr ? addr.port : 0;
        srv.close(() => res(p));
      });
    });
    if (port > 0 && !handedOut.has(port)) {
      handedOut.add(port);
      return port;
    }
  }
  throw new FwShardError('SANDBOX', 'could not find a free loopback port');
}

/** The program's arguments from /proc, or undefined when the process is gone or is a zombie (empty cmdline). */
function procArgs(pid: number): string[] | undefined {
  try {
    const raw = readFileSync(`/proc/${pid}/cmdline`, 'latin1');
    if (raw.length === 0) return undefined;
    return raw.split('\0').filter((a) => a.length > 0);
  } catch {
    return undefined;
  }
}

const hasProc = existsSync('/proc/self/cmdline');

/**
 * True while `pid` runs a program one of whose arguments contains `marker` (the datadir, or a pid file
 * path). Without /proc (not Linux) it falls back to "the pid exists", which cannot detect pid reuse.
 */
export function isProcessAlive(pid: number, marker: string): boolean {
  if (!Number.isInteger(pid) || pid <= 1) return false;
  if (hasProc) {
    const args = procArgs(pid);
    if (!args) return false;
    // Zombies keep their cmdline only until they exit; a 'Z' state means it has exited.
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
      const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
      if (state === 'Z' || state === 'X') return false;
    } catch {
      return false;
    }
    // Exact match of an argument or of an option's value: /x/main/data must not match /x/main/data2.
    return args.some((a) => a === marker || a.slice(a.indexOf('=') + 1) === marker);
  }
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * Stop a process we started, identified by pid and the marker in its command line: SIGTERM, wait up to
 * `graceMs`, then SIGKILL. Never signals a pid whose command line no longer carries the marker.
 * Returns how it ended.
 */
export async function stopProcess(
  pid: number,
  marker: string,
  opts: { graceMs?: number; signal?: 'SIGTERM' | 'SIGKILL' } = {},
): Promise<'gone' | 'SIGTERM' | 'SIGKILL'> {
  if (!isProcessAlive(pid, marker)) return 'gone';
  const first = opts.signal ?? 'SIGTERM';
  try {
    process.kill(pid, first);
  } catch {
    return 'gone';
  }
  const grace = first === 'SIGKILL' ? 10_000 : (opts.graceMs ?? STOP_GRACE_MS);
  if (await waitGone(pid, marker, grace)) return first;
  if (first === 'SIGKILL') throw new FwShardError('SANDBOX', `process ${pid} did not exit after SIGKILL`);
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    return first;
  }
  if (await waitGone(pid, marker, 10_000)) return 'SIGKILL';
  throw new FwShardError('SANDBOX', `process ${pid} did not exit after SIGKILL`);
}

async function waitGone(pid: number, marker: string, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (!isProcessAlive(pid, marker)) return true;
    await sleep(40);
  }
  return !isProcessAlive(pid, marker);
}

/**
 * Processes of ours still running under `dir`: mariadbd/mysqld/memcached whose arguments name a path
 * inside `dir` (datadir, pid file). Used to clean up after a crashed `up` that never recorded a pid.
 * Linux only (returns [] without /proc).
 */
export function findProcessesUnder(dir: string): { pid: number; marker: string }[] {
  if (!hasProc) return [];
  const prefix = resolve(dir) + '/';
  const found: { pid: number; marker: string }[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^[0-9]+$/.test(entry)) continue;
    const pid = Number(entry);
    if (pid === process.pid) continue;
    const args = procArgs(pid);
    if (!args || args.length === 0) continue;
    const prog = basename(args[0]!);
    if (!['mariadbd', 'mysqld', 'memcached'].includes(prog)) continue;
    for (const a of args.slice(1)) {
      const value = a.includes('=') ? a.slice(a.indexOf('=') + 1) : a;
      if (value.startsWith(prefix)) {
        found.push({ pid, marker: value });
        break;
      }
    }
  }
  return found;
}

/** The last `lines` lines of a log file ('' if it does not exist). */
export function tailFile(path: string, lines = 20): string {
  try {
    const text = readFileSync(path, 'utf8');
    return text
      .split('\n')
      .slice(-lines - 1)
      .join('\n')
      .trim();
  } catch {
    return '';
  }
}

/** True when something accepts TCP connections on 127.0.0.1:port within `ms`. */
export function tcpReachable(port: number, ms = 1000): Promise<boolean> {
  return new Promise((res) => {
    const sock = createConnection({ host: '127.0.0.1', port });
    const done = (ok: boolean) => {
      sock.destroy();
      res(ok);
    };
    sock.setTimeout(ms, () => done(false));
    sock.once('connect', () => done(true));
    sock.once('error', () => done(false));
  });
}

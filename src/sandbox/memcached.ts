/**
 * The sandbox's memcached, when the machine has one: started beside the servers so that moves delete
 * a real cached user row (the sandbox works without it).
 */
import { mkdirSync, openSync, closeSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { FwShardError } from '../errors/index.js';
import { findExecutable, freePort, isProcessAlive, tcpReachable } from './servers.js';

import type { ProcessState, SandboxState } from './state.js';

/** memcached when it is installed (its port), else a note in the state. */
export async function startOptionalMemcached(state: SandboxState, record: (p: ProcessState) => void, log: (line: string) => void): Promise<number | undefined> {
  const mc = findExecutable(['memcached']);
  if (mc) {
    const p = await startMemcached(mc, state.dir, record);
    log(`  memcached 127.0.0.1:${p.port}  pid ${p.pid}`);
    return p.port;
  }
  const note = 'memcached is not installed: the sandbox has no cache (apt-get install memcached to test cache invalidation)';
  state.notes.push(note);
  log(`note: ${note}`);
  return undefined;
}

async function startMemcached(bin: string, dir: string, record: (p: ProcessState) => void): Promise<{ port: number; pid: number }> {
  const home = join(dir, 'memcached');
  mkdirSync(home, { recursive: true });
  const pidFile = join(home, 'memcached.pid');
  const logFile = join(home, 'memcached.log');
  const port = await freePort();
  // -P names a path inside DIR in the command line: that is how the pid is recognised later.
  const args = ['-l', '127.0.0.1', '-p', String(port), '-U', '0', '-m', '16', '-c', '256', '-P', pidFile];
  if (process.getuid?.() === 0) args.push('-u', 'root'); // memcached refuses to run as root otherwise
  const out = openSync(logFile, 'a');
  let pid: number;
  try {
    const child = spawn(bin, args, { detached: true, stdio: ['ignore', out, out] });
    child.unref();
    pid = child.pid ?? 0;
  } finally {
    closeSync(out);
  }
  if (!pid) throw new FwShardError('SANDBOX', `could not start ${bin}`);
  record({ name: 'memcached', role: 'memcached', serves: ['cache'], pid, host: '127.0.0.1', port, logFile, marker: pidFile, command: bin });
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    if (await tcpReachable(port, 500)) return { port, pid };
    if (!isProcessAlive(pid, pidFile)) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new FwShardError('SANDBOX', `memcached did not start on 127.0.0.1:${port}`, { hint: `See ${logFile}.` });
}

/**
 * This process as a move's runner: its host, pid, OS user and command line. The command line goes
 * into the journal (who ran a move), so it is recorded without passwords.
 */
import { hostname, userInfo } from 'node:os';
import { topologySecrets } from '../hooks/runner.js';
import type { Runner } from '../move/index.js';
import type { Topology } from '../topology/index.js';

const SECRET_FLAG = /pass|pwd|secret|token/i;
const HIDDEN = '***';

/**
 * `fw-shard ARGS`, each argument quoted when it needs to be; the value of any flag named like a password
 * (`--password x`, `--db-pass=x`) and any argument holding one of the topology's passwords are hidden.
 */
export function commandLine(args: readonly string[], secrets: readonly string[]): string {
  const out: string[] = [];
  let hideNext = false;
  for (const a of args) {
    let shown = a;
    if (hideNext) shown = HIDDEN;
    else if (/^--?[^=]+=/.test(a) && SECRET_FLAG.test(a.slice(0, a.indexOf('=')))) shown = `${a.slice(0, a.indexOf('='))}=${HIDDEN}`;
    hideNext = !hideNext && /^--?[A-Za-z]/.test(a) && !a.includes('=') && SECRET_FLAG.test(a);
    for (const s of secrets) if (s && shown.includes(s)) shown = shown.split(s).join(HIDDEN);
    out.push(/^[\w@%+=:,./-]+$/.test(shown) ? shown : `'${shown.replace(/'/g, `'\\''`)}'`);
  }
  return ['fw-shard', ...out].join(' ');
}

function osUser(env: Readonly<Record<string, string | undefined>>): string | null {
  try {
    return userInfo().username;
  } catch {
    return env.USER ?? env.LOGNAME ?? null; // no passwd entry for the uid (containers)
  }
}

export function thisRunner(topology: Topology): Runner {
  return {
    host: hostname(),
    pid: process.pid,
    user: osUser(process.env),
    command: commandLine(process.argv.slice(2), topologySecrets(topology)),
    isAlive(pid: number) {
      try {
        process.kill(pid, 0);
        return true;
      } catch (err) {
        return (err as NodeJS.ErrnoException).code === 'EPERM';
      }
    },
  };
}

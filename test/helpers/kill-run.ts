/** Run the fw-shard CLI with --events and SIGKILL it when an event matches: the crash campaigns' runner. */
import { spawn } from 'node:child_process';
import { resolve } from 'node:path';
import type { MoveEnv } from './move-env.js';

export const BIN = resolve(__dirname, '../../bin/fw-shard');

export interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Run the CLI; when `killWhen` matches an NDJSON event, SIGKILL it on the spot. */
export function runCli(
  env: MoveEnv,
  args: string[],
  killWhen?: (e: { type: string; phase?: string; table?: string }, n: number) => boolean,
  config: string = env.configFile(),
): Promise<Run & { killed: boolean }> {
  return new Promise((done) => {
    const child = spawn(process.execPath, [BIN, '--config', config, ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, CI: '1' },
    });
    let stdout = '';
    let stderr = '';
    let buf = '';
    let n = 0;
    let killed = false;
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
      buf += d.toString();
      let i;
      while ((i = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        if (!killWhen || killed || !line.startsWith('{"v":1')) continue;
        const e = JSON.parse(line) as { type: string };
        n++;
        if (killWhen(e, n)) {
          killed = true;
          child.kill('SIGKILL');
        }
      }
    });
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    // 'close', not 'exit': only then has all of stdout and stderr been read.
    child.on('close', (code, signal) => done({ code, signal, stdout, stderr, killed }));
  });
}

/**
 * Shell completion in a real bash (issue 23): the script `fw-shard completion bash` prints is sourced in
 * an interactive bash inside tmux, and TAB completes a subcommand's flag, a command, and a flag's
 * fixed values. The man page and the fish/zsh scripts come from the same tree (unit-tested).
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const BIN = resolve(__dirname, '../../bin/fw-shard');
const SOCKET = `fw-shard-completion-${process.pid}`;
const dir = mkdtempSync(join(tmpdir(), 'fws-completion-'));

function tmux(...args: string[]): string {
  const r = spawnSync('tmux', ['-L', SOCKET, '-f', '/dev/null', ...args], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`tmux ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}
const screen = () => tmux('capture-pane', '-p', '-t', 'c');
async function waitFor(what: string, probe: () => boolean, timeoutMs = 10_000): Promise<void> {
  const t0 = Date.now();
  while (!probe()) {
    if (Date.now() - t0 > timeoutMs) throw new Error(`timed out waiting for ${what}:\n${screen()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

afterAll(() => {
  spawnSync('tmux', ['-L', SOCKET, 'kill-server']);
  // The killed bash may still be writing in its HOME (dir) for a moment: retried, not raced.
  rmSync(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 });
});

describe('fw-shard completion bash, in a real bash', () => {
  it('TAB completes a flag of a subcommand, a command, and a flag value', async () => {
    const script = spawnSync(process.execPath, [BIN, 'completion', 'bash'], { encoding: 'utf8' });
    expect(script.status, script.stderr).toBe(0);
    const file = join(dir, 'fw-shard.bash');
    writeFileSync(file, script.stdout);
    tmux(
      'new-session',
      '-d',
      '-x',
      '120',
      '-y',
      '20',
      '-s',
      'c',
      'env -i PATH=/usr/bin:/bin TERM=xterm HISTFILE=/dev/null HOME=' + dir + ' bash --norc --noprofile -i',
    );
    tmux('send-keys', '-t', 'c', `PS1='$ '; source ${file}; echo sourced`, 'Enter');
    await waitFor('the script to load', () => screen().includes('sourced'));
    // A flag of `guard remove`: one match, completed in place.
    tmux('send-keys', '-t', 'c', 'fw-shard guard remove --lif', 'Tab');
    await waitFor('--lift-moved', () => /fw-shard guard remove --lift-moved/.test(screen()));
    tmux('send-keys', '-t', 'c', 'C-u');
    // A flag's fixed values: TAB TAB lists them.
    tmux('send-keys', '-t', 'c', 'fw-shard move --capture ', 'Tab', 'Tab');
    await waitFor('the capture modes', () => /auto\s+rehash\s+trigger/.test(screen()));
    tmux('send-keys', '-t', 'c', 'C-u');
    // A command: `plan` is the only one starting with "pl".
    tmux('send-keys', '-t', 'c', 'fw-shard pl', 'Tab');
    await waitFor('plan', () => /\$ fw-shard plan\s*$/m.test(screen()));
  });
});

/**
 * End to end, in a real terminal: the built binary runs inside tmux (80×30) against a sandbox; the
 * screen is captured mid-move and at the end (progress bars, phase marks, the summary), Ctrl-C is
 * pressed mid-copy (stops at a safe point, says so), and the same kind of command without a terminal
 * writes plain timestamped lines and no escape codes. Hooks run from --hooks-dir with the move's facts;
 * a failing on-start refuses the move before anything is written.
 *
 * Needs tmux (installed by .ci/run) and the MariaDB binaries the sandbox uses.
 */
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const BIN = resolve(__dirname, '../../bin/fw-shard');
const SOCKET = `fw-shard-e2e-${process.pid}`;
const ESC = '\x1b';

let dir = '';
let config = '';

function tmux(...args: string[]): string {
  const r = spawnSync('tmux', ['-L', SOCKET, '-f', '/dev/null', ...args], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`tmux ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

/** Start `args` (fw-shard arguments) in a new detached tmux session; the pane stays after it exits. */
function startInTmux(session: string, args: string[]): void {
  const cmd = ['env', '-u', 'CI', '-u', 'NO_COLOR', 'TERM=xterm-256color', process.execPath, BIN, '--config', config, ...args]
    .map((a) => `'${a.replace(/'/g, `'\\''`)}'`)
    .join(' ');
  // tmux runs this with the default shell; the pane stays (sleep) so the end can be read.
  tmux('new-session', '-d', '-x', '80', '-y', '30', '-s', session, `${cmd}; echo "[exit $?]"; sleep 300`);
}

/** The pane's text, scrollback included (what a person would see scrolling up). */
const screen = (session: string) => tmux('capture-pane', '-p', '-t', session, '-S', '-300');

async function waitFor<T>(what: string, probe: () => T | undefined | false, timeoutMs = 20_000, everyMs = 30): Promise<T> {
  const t0 = Date.now();
  for (;;) {
    const v = probe();
    if (v) return v;
    if (Date.now() - t0 > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** Run the binary without a terminal (pipes): stdout, stderr, exit code. */
function runPlain(args: string[], env: Record<string, string> = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((done) => {
    const child = spawn(process.execPath, [BIN, '--config', config, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('close', (code) => done({ code, stdout, stderr })); // after stdout and stderr are fully read
  });
}

const MOVE = ['--yes', '--assume-no-writes', '--chunk-size', '100', '--sleep-between-chunks', '30ms'];

describe('progress output end to end (tmux + sandbox)', () => {
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'fw-shard-tui-'));
    const up = spawnSync(process.execPath, [BIN, 'sandbox', 'up', '--dir', join(dir, 'sbx'), '--users', '4', '--rows-per-user', '3000'], {
      encoding: 'utf8',
      timeout: 90_000,
    });
    if (up.status !== 0) throw new Error(`sandbox up failed: ${up.stderr}`);
    config = join(dir, 'sbx', 'fw-shard.config.yaml');
  }, 120_000);

  afterAll(() => {
    spawnSync('tmux', ['-L', SOCKET, 'kill-server']);
    if (dir) {
      spawnSync(process.execPath, [BIN, 'sandbox', 'down', '--dir', join(dir, 'sbx')], { timeout: 60_000 });
      rmSync(dir, { recursive: true, force: true });
    }
  }, 90_000);

  it('on a terminal: live bars and phase marks mid-move, then every phase done and the summary', async () => {
    startInTmux('move1', ['move', '--user', '1', '--to', '2', ...MOVE]);
    // mid-move: the copy running, with per-table progress bars
    const mid = await waitFor('a progress bar', () => {
      const s = screen('move1');
      return s.includes('▸ copy') && s.includes('█') ? s : undefined;
    });
    expect(mid).toMatch(/^move \d+ · user 1 · shard 1 → 2 · offline$/m);
    expect(mid).toMatch(/^✔ preflight +[0-9.]+ m?s$/m);
    expect(mid).toMatch(/^ {2}\S+ +█*░* +\d+%$/m);
    expect(mid).toMatch(/\d[\d,]*\/[\d,]+ rows · [0-9.]+k? rows\/s/);
    expect(mid).toMatch(/chunk 100/);
    expect(mid).toMatch(/^· verify$/m);

    const end = await waitFor('the end', () => {
      const s = screen('move1');
      return s.includes('[exit ') ? s : undefined;
    });
    expect(end).toContain('[exit 0]');
    for (const p of ['preflight', 'copy', 'verify', 'flip', 'cleanup']) expect(end).toMatch(new RegExp(`^✔ ${p} +[0-9.]+ (ms|s)$`, 'm'));
    expect(end).toMatch(/^ {2}✔ Dots +[\d,]+ rows · \d+ chunks/m);
    expect(end).toMatch(/^ {2}✔ Dots +verified: 1 matched, 0 mismatched$/m);
    expect(end).toContain('✔ mapping flipped: user 1 now lives on shard 2');
    expect(end).toMatch(/^✔ Moved user 1 to shard 2 in [0-9.]+ s \(done\)$/m);
    expect(end).toMatch(/ranges verified, 0 mismatched/);
    // the live part was replaced by the summary: no running or pending phases left on screen
    expect(end).not.toMatch(/^▸ /m);
    expect(end).not.toMatch(/^· (verify|flip|cleanup)$/m);
    // stdout's result follows the summary, and is said once (stdout is this terminal too)
    expect(end).toMatch(/done: user 1 lives on shard 2; \d+ rows were deleted/);
    expect(end.split('done: user 1 lives on shard 2')).toHaveLength(2);
  }, 40_000);

  it('Ctrl-C mid-copy stops at the next safe point and says so; without a terminal the rerun resumes in plain lines', async () => {
    startInTmux('move2', ['move', '--user', '2', '--to', '1', '--yes', '--assume-no-writes', '--chunk-size', '100', '--sleep-between-chunks', '60ms']);
    await waitFor('a progress bar', () => screen('move2').includes('█'));
    tmux('send-keys', '-t', 'move2', 'C-c');
    const end = await waitFor('the end', () => {
      const s = screen('move2');
      return s.includes('[exit ') ? s : undefined;
    });
    expect(end).toContain('[exit 130]');
    expect(end).toMatch(/^■ SIGINT: stopping at the next safe point… \(never inside the flip; Ctrl-C again\s+exits at once\)$/m);
    expect(end).toMatch(/■ SIGINT: stopped at a safe point in copy after [0-9.]+ m?s/);
    expect(end).toMatch(/^■ copy +\d+ ms \(stopped\)$/m);
    expect(end).toContain('The mapping was NOT flipped: user 2 still lives on shard 2.');
    expect(end).toMatch(/Next: fw-shard resume \d+/);

    // the same command without a terminal: plain, timestamped lines on stderr, no escape codes anywhere
    const r = await runPlain(['move', '--user', '2', '--to', '1', ...MOVE]);
    expect(r.code).toBe(0);
    expect(r.stdout + r.stderr).not.toContain(ESC);
    const lines = r.stderr.trimEnd().split('\n');
    for (const l of lines) expect(l).toMatch(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ (fw-shard|move \d+): /);
    expect(r.stderr).toMatch(/move \d+: resuming user 2 from shard 2 to shard 1 \(offline\)/);
    for (const p of ['copy', 'verify', 'flip', 'cleanup']) expect(r.stderr).toMatch(new RegExp(`: ${p} started\\n[^]*: ${p} finished in [0-9.]+ s`));
    expect(lines.at(-1)).toMatch(
      /: finished \(done\) in [0-9.]+ s, \d+ rows copied, 0 mismatch\(es\): user 2 lives on shard 1; \d+ rows were deleted from shard 2, each range proven unchanged since the final verification\. Nothing left to do\.$/,
    );
    expect(r.stdout).toMatch(/^table +rows +chunks +mismatches$/m);
  }, 40_000);

  it('--hooks-dir: hooks get the facts; a failing on-start refuses the move before anything is written', async () => {
    const hooks = join(dir, 'hooks');
    mkdirSync(hooks);
    const log = join(dir, 'hooks.log');
    for (const h of ['on-start', 'on-flip', 'on-success']) {
      writeFileSync(
        join(hooks, h),
        `#!/bin/sh\necho "${h} user=$FW_SHARD_USER_ID from=$FW_SHARD_FROM to=$FW_SHARD_TO move=$FW_SHARD_MOVE_ID rows=$FW_SHARD_ROWS_COPIED/$FW_SHARD_ROWS_TOTAL flipped=$FW_SHARD_MAPPING_FLIPPED" >> "${log}"\n`,
      );
      chmodSync(join(hooks, h), 0o755);
    }
    const ok = await runPlain(['move', '--user', '3', '--to', '2', ...MOVE, '--hooks-dir', hooks, '--json']);
    expect(ok.code).toBe(0);
    const id = (JSON.parse(ok.stdout) as { moveId: string }).moveId;
    const calls = readFileSync(log, 'utf8').trimEnd().split('\n');
    expect(calls[0]).toMatch(/^on-start user=3 from=1 to=2 move= rows=0\/\d+ flipped=0$/);
    expect(calls[1]).toMatch(new RegExp(`^on-flip user=3 from=1 to=2 move=${id} rows=(\\d+)/\\1 flipped=1$`));
    expect(calls[2]).toMatch(new RegExp(`^on-success user=3 from=1 to=2 move=${id} rows=(\\d+)/\\1 flipped=1$`));

    writeFileSync(join(hooks, 'on-start'), '#!/bin/sh\necho "change freeze: no moves today" >&2\nexit 1\n');
    const refused = await runPlain(['move', '--user', '4', '--to', '1', ...MOVE], { FW_SHARD_HOOKS_DIR: hooks });
    expect(refused.code).toBe(5);
    expect(refused.stderr).toContain('error [PRECONDITION]: the on-start hook refused the move: hook on-start exited 1: change freeze: no moves today');
    expect(refused.stderr).toContain('Nothing was written.');
    const moves = await runPlain(['moves', '--json']);
    expect((JSON.parse(moves.stdout) as { moves: { user_id: string }[] }).moves.filter((m) => m.user_id === '4')).toEqual([]);
  }, 40_000);
});

/**
 * A reader that goes away never breaks a command. `fw-shard <cmd> --help | head`: the built binary exits 0
 * without an EPIPE stack trace. A real move whose stdout and stderr readers close (`| head -2`), whose
 * process gets SIGHUP or SIGPIPE, or whose terminal is closed under its live view, carries on to its end:
 * exit 0, the journal says done, and the user's rows are on the target shard.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { raw, sql } from '../../src/db/sql/fragment.js';
import { createMainSchema, onBothShards, startMoveEnv, type MoveEnv } from '../helpers/move-env.js';

const BIN = join(resolve(fileURLToPath(import.meta.url), '../../..'), 'bin/fw-shard');
const ROWS = 2000;

/** Single-quoted for sh. */
const q = (a: string) => `'${a.replace(/'/g, `'\\''`)}'`;

describe('a closed output pipe', () => {
  it.each(['', 'move', 'status', 'config import', 'plan'])('fw-shard %s --help | true exits 0, without EPIPE', (cmd) => {
    for (let i = 0; i < 5; i++) {
      const r = spawnSync('bash', ['-c', `"${BIN}" ${cmd} --help | true; exit \${PIPESTATUS[0]}`], { encoding: 'utf8' });
      expect(r.stderr).not.toMatch(/EPIPE|Unhandled/);
      expect(r.status).toBe(0);
    }
  });
});

async function waitFor<T>(what: string, probe: () => T | undefined | false, timeoutMs = 60_000): Promise<T> {
  const t0 = Date.now();
  for (;;) {
    const v = probe();
    if (v) return v;
    if (Date.now() - t0 > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('a move whose output goes away carries on to its end', () => {
  let env: MoveEnv;
  let config = '';
  const users = ['41', '42', '43', '44'] as const;

  beforeAll(async () => {
    env = await startMoveEnv({ name: 'lost-output' });
    await createMainSchema(
      env,
      users.map((id) => ({ id, shard: 1 })),
    );
    await onBothShards(env, [
      'CREATE TABLE Dots (id BIGINT UNSIGNED NOT NULL PRIMARY KEY, user_id INT UNSIGNED NOT NULL, body VARCHAR(100), KEY by_user (user_id))',
    ]);
    // ROWS rows per user, interleaved, so every chunk of one user's rows skips the others'.
    await env
      .db('a', 'users1')
      .exec(sql`INSERT INTO Dots SELECT seq, ${users[0]} + seq % ${users.length}, CONCAT('dot ', seq) FROM seq_1_to_${raw(String(ROWS * users.length))}`);
    config = env.configFile();
  }, 120_000);

  afterAll(async () => {
    spawnSync('tmux', ['-L', `fw-shard-lost-${process.pid}`, 'kill-server']);
    await env?.close();
  });

  /** Enough chunks (and a pause after each) that the move takes a few seconds: the readers are gone long before it ends. */
  const moveArgs = (user: string) =>
    ['--config', config, 'move', '--user', user, '--to', '2', '--yes', '--chunk-size', '40', '--sleep-between-chunks', '20ms'].map(q).join(' ');

  function expectMoved(user: string): void {
    expect(env.cli('a', 'flamework', `SELECT state, phase FROM fw_shard_moves WHERE user_id = ${user}`).trim()).toBe('done\tdone');
    expect(env.cli('a', 'flamework', `SELECT cluster_id FROM users WHERE id = ${user}`).trim()).toBe('2');
    expect(env.cli('b', 'users2', `SELECT COUNT(*) FROM Dots WHERE user_id = ${user}`).trim()).toBe(String(ROWS));
    expect(env.cli('a', 'users1', `SELECT COUNT(*) FROM Dots WHERE user_id = ${user}`).trim()).toBe('0');
  }

  it('2>&1 | head -2: exit 0, the journal says done, the rows are on the target', () => {
    const r = spawnSync('bash', ['-c', `"${BIN}" ${moveArgs('41')} --no-tui 2>&1 | head -2; exit \${PIPESTATUS[0]}`], { encoding: 'utf8' });
    expect(r.stdout.split('\n')).toHaveLength(3); // head's two lines
    expect(r.status, r.stderr).toBe(0);
    expectMoved('41');
  });

  it('stdout (NDJSON events) and stderr each through their own | head -2', () => {
    // stderr → the first head (its lines go to this test's stderr), stdout → the second head.
    const script = `{ "$BIN" ${moveArgs('42')} --events --json 2>&1 1>&3 3>&- | head -2 >&2; exit \${PIPESTATUS[0]}; } 3>&1 | head -2; exit \${PIPESTATUS[0]}`;
    const r = spawnSync('bash', ['-c', script], { encoding: 'utf8', env: { ...process.env, BIN } });
    expect(
      r.stdout
        .trimEnd()
        .split('\n')
        .map((l) => (JSON.parse(l) as { v: number }).v),
    ).toEqual([1, 1]);
    expect(r.stderr.trimEnd().split('\n')).toHaveLength(2);
    expect(r.status, r.stderr).toBe(0);
    expectMoved('42');
  });

  it('SIGHUP and SIGPIPE mid-copy: the move goes on, says why, and exits 0', async () => {
    const child = spawn('bash', ['-c', `exec "$BIN" ${moveArgs('43')} --no-tui`], { env: { ...process.env, BIN }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.stdout.resume();
    const ended = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((done) => child.on('close', (code, signal) => done({ code, signal })));
    await waitFor('the copy', () => /copy Dots: \d+\/\d+ rows/.test(stderr));
    child.kill('SIGHUP');
    await waitFor('the SIGHUP warning', () => stderr.includes('SIGHUP'), 10_000);
    child.kill('SIGPIPE');
    expect(await ended, stderr).toEqual({ code: 0, signal: null });
    expect(stderr).toMatch(/warning: SIGHUP: the terminal went away; the run carries on to its end/);
    expect(stderr).toMatch(/finished \(done\)/);
    expectMoved('43');
  });

  it('the terminal closed under the live view (tmux session killed mid-copy): the move finishes, exit 0', async () => {
    const socket = `fw-shard-lost-${process.pid}`;
    const result = join(env.dir, 'tty-exit.json');
    // The wrapper outlives the terminal (it handles SIGHUP) only to record how fw-shard ended.
    const wrapper = join(env.dir, 'record-exit.mjs');
    writeFileSync(
      wrapper,
      `import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
process.on('SIGHUP', () => {});
const c = spawn(process.execPath, process.argv.slice(3), { stdio: 'inherit' });
c.on('exit', (code, signal) => writeFileSync(process.argv[2], JSON.stringify({ code, signal })));
`,
    );
    const cmd = `env -u CI -u NO_COLOR TERM=xterm-256color ${q(process.execPath)} ${q(wrapper)} ${q(result)} ${q(BIN)} ${moveArgs('44')}`;
    const tmux = (...args: string[]) => spawnSync('tmux', ['-L', socket, '-f', '/dev/null', ...args], { encoding: 'utf8' });
    expect(tmux('new-session', '-d', '-x', '80', '-y', '30', '-s', 'tty', cmd).status).toBe(0);
    await waitFor('a progress bar', () => (tmux('capture-pane', '-p', '-t', 'tty').stdout ?? '').includes('█'), 30_000);
    expect(existsSync(result)).toBe(false);
    tmux('kill-server');
    const ended = await waitFor('fw-shard to end', () => existsSync(result) && readFileSync(result, 'utf8'));
    expect(JSON.parse(ended)).toEqual({ code: 0, signal: null });
    expectMoved('44');
  }, 90_000);
});

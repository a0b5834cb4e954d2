/**
 * Hooks: real executables written to a temp dir. The facts arrive in FW_SHARD_* variables (never a
 * password), a failing on-start refuses the move, and a failing later hook only warns.
 */
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FwShardError } from '../../src/errors/index.js';
import { createHookRunner, hookFor, type HookRunner } from '../../src/hooks/runner.js';
import { loadEvents } from '../helpers/events.js';

let dir = '';
let out = '';
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'fw-shard-hooks-'));
  out = join(dir, 'out');
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

/** A hook that appends its name and its environment (one VAR=value a line) to `out`, then runs `tail`. */
function hook(name: string, tail = 'exit 0', mode = 0o755) {
  const path = join(dir, name);
  writeFileSync(path, `#!/bin/sh\n{ echo "== ${name}"; env | sort; } >> "${out}"\n${tail}\n`);
  chmodSync(path, mode);
}

/** Each hook run's environment, in order. */
function runs(): { hook: string; env: Record<string, string> }[] {
  if (!existsSync(out)) return [];
  return readFileSync(out, 'utf8')
    .split(/^== /m)
    .filter(Boolean)
    .map((block) => {
      const [name, ...lines] = block.split('\n');
      const env: Record<string, string> = {};
      for (const l of lines) {
        const i = l.indexOf('=');
        if (i > 0) env[l.slice(0, i)] = l.slice(i + 1);
      }
      return { hook: name!.trim(), env };
    });
}

function runner(extra: Partial<Parameters<typeof createHookRunner>[0]> = {}): { r: HookRunner; warnings: string[] } {
  const warnings: string[] = [];
  const r = createHookRunner({
    dir,
    env: {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      HOME: '/home/ops',
      MYSQL_PWD: 'pw1',
      DB_PASSWORD: 'pw2',
      SLACK_CHANNEL: '#moves',
      INNOCENT: 'has-s3cret-inside',
      FW_SHARD_CONFIG: '/etc/fw-shard.yaml',
    },
    secrets: ['s3cret'],
    warn: (m) => warnings.push(m),
    host: 'ops1',
    ...extra,
  });
  return { r, warnings };
}

describe('on-start', () => {
  it('runs before anything is written, with the facts and without passwords', async () => {
    hook('on-start');
    const { r } = runner();
    await r.beforeStart({ userId: '42', from: 1, to: 2, totalRows: '3000' });
    const [run] = runs();
    expect(run!.hook).toBe('on-start');
    expect(run!.env).toMatchObject({
      FW_SHARD_HOOK: 'on-start',
      FW_SHARD_USER_ID: '42',
      FW_SHARD_FROM: '1',
      FW_SHARD_TO: '2',
      FW_SHARD_ROWS_TOTAL: '3000',
      FW_SHARD_PHASE: 'preflight',
      FW_SHARD_MOVE_ID: '',
      FW_SHARD_RUNNER_HOST: 'ops1',
      SLACK_CHANNEL: '#moves',
      FW_SHARD_CONFIG: '/etc/fw-shard.yaml',
      HOME: '/home/ops',
    });
    // never a password: not by name, not by value
    expect(run!.env.MYSQL_PWD).toBeUndefined();
    expect(run!.env.DB_PASSWORD).toBeUndefined();
    expect(run!.env.INNOCENT).toBeUndefined();
    expect(JSON.stringify(run!.env)).not.toMatch(/pw1|pw2|s3cret/);
  });

  it('a non-zero exit refuses the move, naming the hook and what it said on stderr', async () => {
    hook('on-start', 'echo "moves are frozen until 18:00" >&2; exit 3');
    const { r } = runner();
    const err = await r.beforeStart({ userId: '42', from: 1, to: 2, totalRows: '3000' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(FwShardError);
    const e = err as FwShardError;
    expect(e.code).toBe('PRECONDITION');
    expect(e.exitCode).toBe(5);
    expect(e.message).toBe('the on-start hook refused the move: hook on-start exited 3: moves are frozen until 18:00');
    expect(e.hint).toMatch(/^Nothing was written\./);
  });

  it('a hook that hangs is stopped at the timeout and refuses the move', async () => {
    hook('on-start', 'sleep 10');
    const { r } = runner({ timeoutMs: 300 });
    const t0 = Date.now();
    const err = (await r.beforeStart({ userId: '42', from: 1, to: 2, totalRows: '1' }).catch((e: unknown) => e)) as FwShardError;
    expect(err.message).toMatch(/hook on-start timed out/);
    expect(Date.now() - t0).toBeLessThan(3000);
  });

  it('an on-start that is not executable refuses (a gate that cannot run must not be skipped)', async () => {
    hook('on-start', 'exit 0', 0o644);
    const { r } = runner();
    const err = (await r.beforeStart({ userId: '42', from: 1, to: 2, totalRows: '1' }).catch((e: unknown) => e)) as FwShardError;
    expect(err.code).toBe('PRECONDITION');
    expect(err.message).toMatch(/is not executable/);
  });

  it('no on-start hook: nothing to ask', async () => {
    const { r } = runner();
    await expect(r.beforeStart({ userId: '42', from: 1, to: 2, totalRows: '1' })).resolves.toBeUndefined();
  });

  it('a missing --hooks-dir is a usage error up front', () => {
    expect(() => createHookRunner({ dir: join(dir, 'nope'), env: {}, warn: () => undefined })).toThrow(/--hooks-dir .*: no such directory/);
  });
});

describe('event hooks', () => {
  it('run in event order with the facts of the moment, in the background', async () => {
    for (const h of ['on-phase', 'on-flip', 'on-success', 'on-failure']) hook(h);
    const { r, warnings } = runner();
    await r.beforeStart({ userId: '4', from: 2, to: 1, totalRows: '3317' });
    for (const e of loadEvents('offline-move')) r.sink(e);
    await r.drain();
    expect(warnings).toEqual([]);
    const all = runs();
    expect(all.map((x) => (x.hook === 'on-phase' ? `${x.env.FW_SHARD_PHASE}:${x.env.FW_SHARD_PHASE_STATE}` : x.hook))).toEqual([
      'preflight:started',
      'preflight:finished',
      'copy:started',
      'copy:finished',
      'verify:started',
      'verify:finished',
      'flip:started',
      'flip:finished',
      'on-flip',
      'cleanup:started',
      'cleanup:finished',
      'on-success',
    ]);
    const copyDone = all[3]!.env;
    expect(copyDone).toMatchObject({ FW_SHARD_PHASE_MS: '672', FW_SHARD_ROWS_COPIED: '3317', FW_SHARD_ROWS_TOTAL: '3317', FW_SHARD_MAPPING_FLIPPED: '0' });
    const flip = all.find((x) => x.hook === 'on-flip')!.env;
    expect(flip).toMatchObject({
      FW_SHARD_HOOK: 'on-flip',
      FW_SHARD_EVENT: 'mapping.flipped',
      FW_SHARD_MOVE_ID: '9007199254749250',
      FW_SHARD_USER_ID: '4',
      FW_SHARD_FROM: '2',
      FW_SHARD_TO: '1',
      FW_SHARD_MODE: 'offline',
      FW_SHARD_MAPPING_FLIPPED: '1',
    });
    expect(JSON.parse(flip.FW_SHARD_EVENT_JSON!)).toMatchObject({ type: 'mapping.flipped', userId: '4' });
    const ok = all.at(-1)!.env;
    expect(ok).toMatchObject({
      FW_SHARD_FINAL_PHASE: 'done',
      FW_SHARD_NEXT_STEP: 'done: user 4 lives on shard 1; 3317 rows were deleted from shard 2 after verification.',
    });
    expect(Number(ok.FW_SHARD_ELAPSED_MS)).toBe(1983);
    expect(ok.MYSQL_PWD).toBeUndefined();
  });

  it('on-failure gets the error code, the message and the next step', async () => {
    hook('on-failure');
    const { r } = runner();
    for (const e of loadEvents('failed-verify')) r.sink(e);
    await r.drain();
    const [run] = runs();
    expect(run!.env).toMatchObject({
      FW_SHARD_HOOK: 'on-failure',
      FW_SHARD_ERROR_CODE: 'DATA_MISMATCH',
      FW_SHARD_MAPPING_FLIPPED: '0',
      FW_SHARD_PHASE: 'verify',
    });
    expect(run!.env.FW_SHARD_NEXT_STEP).toMatch(/fw-shard resume 9007199254740995\.$/);
  });

  it('throttle and freeze hooks get why and how long', async () => {
    hook('on-throttle');
    hook('on-freeze');
    hook('on-delta');
    const { r } = runner();
    for (const e of loadEvents('online-move')) r.sink(e);
    await r.drain();
    const all = runs();
    expect(
      all.filter((x) => x.hook === 'on-throttle').map((x) => [x.env.FW_SHARD_THROTTLED, x.env.FW_SHARD_THROTTLE_REASON ?? x.env.FW_SHARD_THROTTLED_MS]),
    ).toEqual([
      ['1', 'replica lag on shard 2: 3.2 s > 1 s'],
      ['0', '4000'],
    ]);
    expect(
      all.filter((x) => x.hook === 'on-freeze').map((x) => [x.env.FW_SHARD_FREEZE_STATE, x.env.FW_SHARD_FREEZE_MS ?? x.env.FW_SHARD_FREEZE_CAP_MS]),
    ).toEqual([
      ['started', '5000'],
      ['lifted', '812'],
    ]);
    expect(all.filter((x) => x.hook === 'on-delta')).toHaveLength(2);
  });

  it('a failing hook is only a warning: later hooks still run, and the sink never waits or throws', async () => {
    hook('on-flip', 'echo "chat is down" >&2; exit 1');
    hook('on-phase', 'sleep 0.1');
    hook('on-success');
    const { r, warnings } = runner();
    const t0 = Date.now();
    for (const e of loadEvents('offline-move')) r.sink(e);
    expect(Date.now() - t0).toBeLessThan(200);
    await r.drain();
    expect(warnings).toEqual(['hook on-flip exited 1: chat is down (the move goes on)']);
    expect(runs().at(-1)!.hook).toBe('on-success');
  }, 20_000);

  it('a hanging hook is killed at the timeout and reported', async () => {
    hook('on-flip', 'sleep 10');
    const { r, warnings } = runner({ timeoutMs: 200 });
    for (const e of loadEvents('offline-move')) r.sink(e);
    await r.drain();
    expect(warnings).toEqual(['hook on-flip timed out (the move goes on)']);
  });

  it('maps events to hooks', () => {
    const names = new Set(loadEvents('online-move').map(hookFor));
    expect([...names].sort()).toEqual([null, 'on-delta', 'on-flip', 'on-freeze', 'on-phase', 'on-success', 'on-throttle'].sort());
  });
});

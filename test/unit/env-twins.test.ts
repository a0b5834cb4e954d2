/**
 * Every option of every command has its FW_SHARD_* environment twin (issue 25: the README says every
 * flag has one), but those that say what a command acts on or give the operator's consent (NO_TWIN, each
 * with its reason); a flag spelled the same on two commands has the same twin; and a twin works.
 */
import type { Command, Option } from 'commander';
import { describe, expect, it } from 'vitest';
import { buildProgram } from '../../src/cli/main.js';
import type { CliContext } from '../../src/cli/context.js';
import { NO_TWIN, readsOwnTwin } from '../../src/cli/env-twins.js';

const ctx = { stdout: process.stdout, stderr: process.stderr, stdinIsTTY: false, env: {}, cwd: '/' } as unknown as CliContext;

function options(): { command: string; option: Option }[] {
  const out: { command: string; option: Option }[] = [];
  const walk = (c: Command, path: string[]) => {
    for (const option of c.options) out.push({ command: path.join(' ') || 'fw-shard', option });
    for (const sub of c.commands) walk(sub, [...path, sub.name()]);
  };
  walk(
    buildProgram(ctx, () => undefined),
    [],
  );
  return out;
}

describe('environment twins', () => {
  const all = options();

  it('every option has an FW_SHARD_* twin, but what a command acts on and consent', () => {
    const missing = all
      .filter(({ option: o }) => !o.envVar && !readsOwnTwin(o.description) && !(o.long! in NO_TWIN))
      .map((x) => `${x.command} ${x.option.long}`);
    expect(missing).toEqual([]);
    for (const { option: o } of all) if (o.envVar) expect(o.envVar).toMatch(/^FW_SHARD_[A-Z0-9_]+$/);
    // Each exemption is used, and none of them has a twin anywhere.
    for (const long of Object.keys(NO_TWIN).filter((l) => l !== '--help')) {
      const uses = all.filter(({ option: o }) => o.long === long);
      expect(uses.length, `${long} is in NO_TWIN but no command has it`).toBeGreaterThan(0);
      expect(uses.filter((u) => u.option.envVar && !(long === '--drain' && u.command !== 'plan')).map((u) => u.command)).toEqual([]);
    }
    expect(all.find((x) => x.command === 'move' && x.option.long === '--online')?.option.envVar).toBe('FW_SHARD_ONLINE');
    expect(all.find((x) => x.command === 'move' && x.option.long === '--user')?.option.envVar).toBeUndefined();
  });

  it('a flag spelled the same on two commands has the same twin (apply --concurrency counts moves, not tables)', () => {
    const byFlag = new Map<string, Set<string>>();
    for (const { command, option: o } of all) {
      if (!o.envVar || (command === 'apply' && o.long === '--concurrency') || (o.long === '--drain' && command === 'plan')) continue;
      (byFlag.get(o.long!) ?? byFlag.set(o.long!, new Set()).get(o.long!)!).add(o.envVar);
    }
    for (const [flag, twins] of byFlag) expect([...twins], flag).toHaveLength(1);
  });

  it('a twin sets the option when the flag is not given, and the flag wins over it', async () => {
    const saved = { ...process.env };
    try {
      process.env.FW_SHARD_FREEZE_CAP = '9s';
      process.env.FW_SHARD_JSON = '1';
      const program = buildProgram(ctx, () => undefined);
      const move = program.commands.find((c) => c.name() === 'move')!;
      move.action(() => undefined);
      await program.parseAsync(['node', 'fw-shard', 'move', '--user', '42', '--to', '2', '--drain', '1s'], { from: 'node' });
      expect(move.opts()).toMatchObject({ freezeCap: '9s', json: true, drain: '1s' });
      const again = buildProgram(ctx, () => undefined);
      const m2 = again.commands.find((c) => c.name() === 'move')!;
      m2.action(() => undefined);
      await again.parseAsync(['node', 'fw-shard', 'move', '--user', '42', '--to', '2', '--freeze-cap', '1s'], { from: 'node' });
      expect(m2.opts().freezeCap).toBe('1s');
    } finally {
      process.env = saved;
    }
  });
});

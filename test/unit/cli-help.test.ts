/**
 * Every command's --help, as an operator reads it: the options parsed out of the rendered text (wrapped
 * lines joined), no option's text naming its environment variable twice, and cleanup offering only
 * the flags it reads.
 */
import type { Command } from 'commander';
import { describe, expect, it } from 'vitest';
import { buildProgram } from '../../src/cli/main.js';
import type { CliContext } from '../../src/cli/context.js';

const ctx = { stdout: process.stdout, stderr: process.stderr, stdinIsTTY: false, env: {}, cwd: '/' } as unknown as CliContext;

/** Every command and subcommand, by its full name ("config import"). */
function commands(): [string, Command][] {
  const out: [string, Command][] = [];
  const walk = (c: Command, path: string[]) => {
    for (const sub of c.commands) {
      const name = [...path, sub.name()];
      out.push([name.join(' '), sub]);
      walk(sub, name);
    }
  };
  walk(
    buildProgram(ctx, () => undefined),
    [],
  );
  return out;
}

/** The "Options:" section of a help text: one entry per option, its continuation lines joined. */
function optionEntries(help: string): { flags: string; text: string }[] {
  const lines = help.split('\n');
  const start = lines.indexOf('Options:');
  if (start < 0) return [];
  const entries: { flags: string; text: string }[] = [];
  for (const line of lines.slice(start + 1)) {
    if (!line.startsWith('  ')) break; // the next section
    const m = /^ {2}(-\S.*?)(?: {2,}(.*))?$/.exec(line);
    if (m) entries.push({ flags: m[1]!, text: m[2] ?? '' });
    else entries.at(-1)!.text += ` ${line.trim()}`;
  }
  return entries;
}

const longFlag = (flags: string) => /--[a-z-]+/.exec(flags)![0];

describe('--help of every command', () => {
  const all = commands();

  it('finds the commands and their options', () => {
    expect(all.map(([n]) => n)).toEqual(expect.arrayContaining(['move', 'resume', 'cleanup', 'abort', 'config import', 'sandbox up', 'apply']));
    expect(optionEntries(all.find(([n]) => n === 'move')![1].helpInformation()).map((e) => longFlag(e.flags))).toContain('--no-tui');
  });

  it.each(all)('%s: no option names its environment variable twice', (_name, cmd) => {
    for (const e of optionEntries(cmd.helpInformation())) {
      expect(e.text.split('(env:').length - 1, `${e.flags}: ${e.text}`).toBeLessThanOrEqual(1);
    }
  });

  it('cleanup offers exactly the flags it reads (no freeze, delta, chunk-size or live-view flags)', () => {
    const cleanup = all.find(([n]) => n === 'cleanup')![1];
    expect(optionEntries(cleanup.helpInformation()).map((e) => longFlag(e.flags))).toEqual([
      '--orphans',
      '--dry-run',
      '--user',
      '--shard',
      '--older-than',
      '--fence-retention',
      '--metrics-file',
      '--max-lag',
      '--max-load',
      '--throttle-query',
      '--pause-file',
      '--json',
      '--events',
      '--hooks-dir',
      '--sleep-between-chunks',
      '--allow-triggers',
      '--help',
    ]);
  });
});

/**
 * Completion scripts and the man page are generated from the commander tree (issue 23): every command
 * and flag of the CLI is in them, with no hand-kept list to drift.
 */
import type { Command } from 'commander';
import { describe, expect, it } from 'vitest';
import { buildProgram } from '../../src/cli/main.js';
import type { CliContext } from '../../src/cli/context.js';
import { completionScript, manPage } from '../../src/cli/completion.js';

const ctx = { stdout: process.stdout, stderr: process.stderr, stdinIsTTY: false, env: {}, cwd: '/' } as unknown as CliContext;
const program = buildProgram(ctx, () => undefined);
const commands = (c: Command, path: string[] = []): { path: string; command: Command }[] =>
  c.commands.flatMap((s) => [{ path: [...path, s.name()].join(' '), command: s }, ...commands(s, [...path, s.name()])]);

describe('completion and man page', () => {
  it('the bash script knows every command path and its flags; zsh loads it through bashcompinit', () => {
    const bash = completionScript(program, 'bash');
    for (const { path, command } of commands(program)) {
      const flags = command.options
        .map((o) => o.long)
        .filter(Boolean)
        .join(' ');
      expect(bash, path).toContain(`["${path}"]="${flags}"`);
    }
    expect(bash).toContain('--capture) COMPREPLY=($(compgen -W "auto trigger rehash" -- "$cur")); return ;;');
    expect(bash).toMatch(/--metrics-file[^)]*\) COMPREPLY=\(\$\(compgen -f/);
    expect(completionScript(program, 'zsh')).toMatch(/^#compdef fw-shard\nautoload -U \+X bashcompinit && bashcompinit\n# fw-shard completion for bash/);
  });

  it('fish: a completion line per command and flag, flags with fixed values offer them', () => {
    const fish = completionScript(program, 'fish');
    expect(fish).toContain("complete -c fw-shard -n '__fish_use_subcommand' -a 'move'");
    expect(fish).toContain("complete -c fw-shard -n '__fish_seen_subcommand_from move' -l capture -x -a 'auto trigger rehash'");
    expect(fish).toMatch(/complete -c fw-shard -n '__fish_seen_subcommand_from remove' -l lift-moved -d/);
  });

  it('the man page has every command, every option with its environment twin, and the exit codes', () => {
    const man = manPage(program, '0.1.0', '2026-12-08');
    expect(man).toMatch(/^\.TH FW-SHARD 1 "2026-12-08" "fw-shard 0\.1\.0" "User Commands"$/m);
    for (const { path } of commands(program)) expect(man, path).toContain(`.SS fw\\-shard ${path.replace(/-/g, '\\-')}`);
    expect(man).toContain('(environment: FW_SHARD_FREEZE_CAP)');
    expect(man).toMatch(/\.SH EXIT STATUS\n0 ok, 2 usage/);
  });
});

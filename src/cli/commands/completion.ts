/**
 * `fw-shard completion bash|zsh|fish`: the shell completion script, generated from this CLI's own
 * commands and flags (src/cli/completion.ts); the man page comes from the same tree at build time.
 */
import { ExitCode } from '../../errors/index.js';
import { parseChoice } from '../../config/units.js';
import { completionScript, SHELLS } from '../completion.js';
import { action } from '../action.js';
import { out, type Register } from '../context.js';

export const registerCompletion: Register = (program, ctx, setExit) => {
  program
    .command('completion')
    .description('print the shell completion script (bash, zsh or fish) for fw-shard')
    .argument('<shell>', SHELLS.join(', '))
    .addHelpText(
      'after',
      `
Examples:
  $ fw-shard completion bash > /etc/bash_completion.d/fw-shard
  $ echo 'source <(fw-shard completion bash)' >> ~/.bashrc
  $ fw-shard completion zsh > "\${fpath[1]}/_fw-shard"
  $ fw-shard completion fish > ~/.config/fish/completions/fw-shard.fish`,
    )
    .action(
      action(ctx, setExit, async (_opts: Record<string, never>, shell: string) => {
        out(ctx, completionScript(program, parseChoice(shell, 'shell', SHELLS)));
        return ExitCode.ok;
      }),
    );
};

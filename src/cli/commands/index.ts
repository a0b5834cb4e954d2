import type { Command } from 'commander';
import type { CliContext, GlobalOptions } from '../context.js';

/** Every command module exports one of these. */
export type Register = (program: Command, ctx: CliContext, setExit: (code: number) => void, globals: () => GlobalOptions) => void;

const registrations: Register[] = [];

export function registerCommands(program: Command, ctx: CliContext, setExit: (code: number) => void, globals: () => GlobalOptions): void {
  for (const r of registrations) r(program, ctx, setExit, globals);
}

import type { Command } from 'commander';
import type { CliContext, GlobalOptions, Register } from '../context.js';
import { registerConfig } from './config.js';
import { registerStatus } from './status.js';
import { registerMove } from './move.js';
import { registerMoves, registerStop } from './journal.js';
import { registerSandbox } from './sandbox.js';
import { registerFleet } from './fleet.js';
import { registerRun } from './run.js';
import { registerGuard } from './guard.js';
import { registerCompletion } from './completion.js';

const registrations: Register[] = [
  registerStatus,
  registerMove,
  registerMoves,
  registerStop,
  registerConfig,
  registerSandbox,
  registerFleet,
  registerRun,
  registerGuard,
  registerCompletion,
];

export function registerCommands(program: Command, ctx: CliContext, setExit: (code: number) => void, globals: () => GlobalOptions): void {
  for (const r of registrations) r(program, ctx, setExit, globals);
}

import { FwShardError, ExitCode } from '../errors/index.js';
import type { CliContext } from './context.js';

/** The one place errors become stderr text and exit codes. */
export function reportErrorText(ctx: CliContext, err: unknown): number {
  if (err instanceof FwShardError) {
    ctx.stderr.write(`fw-shard: error [${err.code}]: ${err.message}\n`);
    if (err.hint) ctx.stderr.write(`  next step: ${err.hint}\n`);
    return err.exitCode;
  }
  const e = err as Error;
  ctx.stderr.write(`fw-shard: internal error (a bug, please report it): ${e?.stack ?? String(err)}\n`);
  return ExitCode.internal;
}

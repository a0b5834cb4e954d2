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

/**
 * The JSON document for a failure with --json, so scripts always get one document on stdout. A failed
 * move's partial result (how far it got) goes first, when there is one.
 */
export function errorDocument(err: unknown, partial?: object | null): Record<string, unknown> {
  const error =
    err instanceof FwShardError
      ? { code: err.code, message: err.message, ...(err.hint ? { nextStep: err.hint } : {}) }
      : { code: 'INTERNAL', message: String((err as Error)?.message ?? err) };
  return { ...(partial ?? { ok: false }), ok: false, error };
}

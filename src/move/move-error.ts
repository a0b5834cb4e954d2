/** A move that failed part way: the error the operator sees, with how far the move got. */
import { FwShardError } from '../errors/index.js';
import type { MoveResult } from './types.js';

/**
 * Thrown by the engine when a started move fails: the failure's own code, exit code and details, the
 * message with whether the mapping was flipped, and the partial result (`--json` prints it).
 */
export class MoveFailedError extends FwShardError {
  readonly partialResult: MoveResult;
  /** The failure as raised inside the move (its type says what it was, e.g. a BusyError's reason). */
  readonly failure: FwShardError;
  constructor(failure: FwShardError, message: string, hint: string, partialResult: MoveResult) {
    super(failure.code, message, { hint, ...(failure.details ? { details: failure.details } : {}), cause: failure });
    this.name = 'MoveFailedError';
    this.failure = failure;
    this.partialResult = partialResult;
  }
}

/** The partial result a failed move carries, or null. */
export function partialResultOf(err: unknown): MoveResult | null {
  return err instanceof MoveFailedError ? err.partialResult : null;
}

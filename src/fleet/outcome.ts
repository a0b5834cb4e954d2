/**
 * What happened to each move of a plan, and the exit code of the whole run (pure; unit tested).
 *
 * Exit codes: 0 when no move failed (done, resumed, skipped as already done, claimed by another runner,
 * stale or not started before the window closed); 9 when some failed and some succeeded; the failing
 * move's own code when every move that was attempted failed; 130 when nothing failed but a move was
 * stopped at a safe point (signal or stop file: re-running resumes it).
 */
import { ExitCode } from '../errors/index.js';

export type MoveOutcomeKind =
  /** moved by this run */
  | 'done'
  /** an unfinished move of the user was finished by this run */
  | 'resumed'
  /** the user was already on the planned shard */
  | 'skipped-done'
  /** another runner holds the user (or the user has an unfinished move elsewhere): not a failure */
  | 'busy'
  /** the user is no longer where the plan found it (moved since, or deleted): skipped */
  | 'stale'
  | 'failed'
  /** stopped at a safe point (signal, stop file): resumable */
  | 'interrupted'
  /** never started: --until, --max-moves, the stop file, a signal, or a usage error stopped the run first */
  | 'not-started';

const OUTCOME_KINDS: readonly MoveOutcomeKind[] = ['done', 'resumed', 'skipped-done', 'busy', 'stale', 'failed', 'interrupted', 'not-started'];

export interface MoveOutcome {
  seq: number;
  userId: string;
  from: number;
  to: number;
  outcome: MoveOutcomeKind;
  moveId: string | null;
  /** FwShardError code of a failure (INTERNAL for a bug). */
  code?: string;
  exitCode?: number;
  message?: string;
  startedAt?: string;
  finishedAt?: string;
  ms?: number;
}

export function countOutcomes(outcomes: readonly Pick<MoveOutcome, 'outcome'>[]): Record<MoveOutcomeKind, number> {
  const c = Object.fromEntries(OUTCOME_KINDS.map((k) => [k, 0])) as Record<MoveOutcomeKind, number>;
  for (const o of outcomes) c[o.outcome]++;
  return c;
}

export function applyExitCode(outcomes: readonly Pick<MoveOutcome, 'outcome' | 'exitCode'>[]): number {
  const c = countOutcomes(outcomes);
  const succeeded = c.done + c.resumed + c['skipped-done'];
  if (c.failed > 0) {
    if (succeeded > 0) return ExitCode.partial;
    return outcomes.find((o) => o.outcome === 'failed')?.exitCode ?? ExitCode.internal;
  }
  if (c.interrupted > 0) return ExitCode.interrupted;
  return ExitCode.ok;
}

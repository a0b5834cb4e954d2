/**
 * The move as a state machine: the journal's phases are a closed set, and a run may only take the
 * transitions listed here. A phase this version does not know (a journal written by a newer fw-shard,
 * a hand edit) is refused with a clear message instead of being guessed at.
 *
 *   offline: copy → verify → flip → flipped → cleanup | cleanup-pending → cleanup → done
 *   online:  copy → delta ⇄ freeze → flipped → (same as offline)
 *   abort:   copy | delta | freeze | verify | flip | aborting → aborting → aborted
 */
import { FwShardError } from '../errors/index.js';

export const JOURNAL_PHASES = ['copy', 'delta', 'freeze', 'verify', 'flip', 'flipped', 'cleanup-pending', 'cleanup', 'done', 'aborting', 'aborted'] as const;
export type JournalPhase = (typeof JOURNAL_PHASES)[number];

/** Phases in which the mapping already points at the target: no abort, no re-copy. */
export const FLIPPED_PHASES: ReadonlySet<JournalPhase> = new Set<JournalPhase>(['flipped', 'cleanup-pending', 'cleanup', 'done']);
/** Phases from which an abort may start (or, for `aborting`, be finished). */
const ABORTABLE: readonly JournalPhase[] = ['copy', 'delta', 'freeze', 'verify', 'flip', 'aborting'];

/**
 * Allowed transitions. Both modes share one table: a move journaled in one mode may be resumed in the
 * other (an offline `verify` resumed online goes on to `delta`; an online `delta` resumed offline goes
 * on to `verify`), and every phase may be entered again by a resumed run.
 */
const NEXT: Record<JournalPhase, readonly JournalPhase[]> = {
  copy: ['copy', 'delta', 'verify', 'aborting'],
  delta: ['delta', 'freeze', 'verify', 'aborting'],
  freeze: ['delta', 'flipped', 'aborting'],
  verify: ['verify', 'flip', 'delta', 'aborting'],
  flip: ['verify', 'flipped', 'delta', 'aborting'],
  flipped: ['cleanup', 'cleanup-pending', 'done'],
  'cleanup-pending': ['cleanup-pending', 'cleanup', 'done'],
  cleanup: ['cleanup', 'done'],
  done: [],
  aborting: ['aborting', 'aborted'],
  aborted: [],
};

export function isJournalPhase(s: string): s is JournalPhase {
  return (JOURNAL_PHASES as readonly string[]).includes(s);
}

/** The journal's phase string, or a refusal naming the move. */
export function parsePhase(s: string, moveId: string): JournalPhase {
  if (isJournalPhase(s)) return s;
  throw new FwShardError('PRECONDITION', `move ${moveId} is in phase "${s}", which this version of fw-shard does not know`, {
    hint: `Run the fw-shard version that started the move to finish it (fw-shard moves --all shows it); phases known here: ${JOURNAL_PHASES.join(', ')}.`,
  });
}

export function canTransition(from: JournalPhase, to: JournalPhase): boolean {
  return NEXT[from].includes(to);
}

export function canAbort(phase: JournalPhase): boolean {
  return ABORTABLE.includes(phase);
}

/** What a run does next, from the journal's phase and the run's mode. */
export type Step = 'copy' | 'cutover' | 'verify' | 'cleanup' | 'finish-abort' | 'none';

export function stepFrom(phase: JournalPhase, online: boolean): Step {
  switch (phase) {
    case 'copy':
      return 'copy';
    case 'delta':
    case 'freeze':
      // A freeze left by a killed runner has expired or will: start again from the delta passes.
      return online ? 'cutover' : 'verify';
    case 'verify':
    case 'flip':
      // Offline, a run that stopped after its verification verifies again: anything may have written
      // to either shard while no runner was watching.
      return online ? 'cutover' : 'verify';
    case 'flipped':
    case 'cleanup-pending':
    case 'cleanup':
      return 'cleanup';
    case 'aborting':
      return 'finish-abort';
    case 'done':
    case 'aborted':
      return 'none';
    default:
      return assertNever(phase);
  }
}

export function assertNever(x: never): never {
  throw new Error(`unexpected phase ${String(x)}`);
}

/**
 * The next steps the engine prints for a move in a given state, in one place: each names commands that
 * work in that state (test/integration/move-states.test.ts runs them). Before the flip a move can be
 * resumed or aborted; after it, only finished (abort is refused: the user's writes live on the target).
 */
import { LOCK_IDLE_SECONDS } from './lease.js';
import { FLIPPED_PHASES, isJournalPhase } from './phase.js';

/**
 * The lease of a runner of an fw-shard from before the runner lock (src/move/lease.ts; it keeps no lock)
 * is taken over once its heartbeat is this old. A runner that holds the lock is alive exactly while it
 * holds it, whatever its heartbeat.
 */
export const STALE_SECONDS = 30;
/** A runner beats every 5 s: one silent longer than this may be frozen, or its host gone. */
const HEARTBEAT_SILENT_SECONDS = 10;

/** Whether a journal phase is past the flip (an unknown phase counts as flipped: never suggest abort then). */
function pastFlip(phase: string): boolean {
  return !isJournalPhase(phase) || FLIPPED_PHASES.has(phase);
}

/** What the wording of a running move knows about it (a journal row). */
interface RunningMove {
  id: string;
  phase: string;
  runner_host: string | null;
  runner_pid: number | null;
  heartbeat_age_s: string | null;
}

/**
 * BUSY: a live runner has the move. The one wording of "a move is running", shared by the lease refusal,
 * the race between two `move` commands and undo. A runner that holds the move's runner lock is stopped
 * with `fw-shard stop`; `next` is what works once it stopped (by default resume, or abort before the
 * flip). `legacy`: the runner is an fw-shard from before the lock, which does not look for stop requests
 * and is alive while its heartbeat is fresh.
 */
export function runningMoveHint(move: RunningMove, opts: { legacy?: boolean; next?: string | undefined } = {}): string {
  const id = move.id;
  const age = move.heartbeat_age_s === null ? null : Number(move.heartbeat_age_s);
  if (opts.legacy) {
    const left = Math.max(1, STALE_SECONDS - (age ?? 0));
    const then = opts.next ?? `fw-shard resume ${id} takes the move over`;
    const local = opts.next === undefined ? '; at once when it died on this host' : '';
    return `That runner is an older fw-shard, which does not look for stop requests: fw-shard moves shows it; stop it where it runs (Ctrl-C). It counts as gone ${STALE_SECONDS} s after its last heartbeat (in ${left} s${local}): then ${then}.`;
  }
  const next = opts.next ?? (pastFlip(move.phase) ? `fw-shard resume ${id}` : `fw-shard resume ${id}, or fw-shard abort ${id}`);
  const hung =
    age !== null && age > HEARTBEAT_SILENT_SECONDS && move.runner_host
      ? ` Its heartbeat is ${age} s old: it may be frozen (SIGSTOP) or its host gone; the server drops its lock ${LOCK_IDLE_SECONDS} s after its last sign of life (retry then), or kill it (kill ${move.runner_pid ?? '?'} on ${move.runner_host}) and the move is free at once.`
      : '';
  return `Let it finish (fw-shard moves ${id} shows its progress), or stop it at its next safe point: fw-shard stop ${id}; then ${next}.${hung}`;
}

/** The user has an unfinished move to another shard than the one asked for. */
export function unfinishedMoveHint(move: { id: string; phase: string; user_id: string }, wantedTo: number): string {
  if (pastFlip(move.phase)) {
    return `Move ${move.id} is past its flip (the user lives on its target now): finish it with fw-shard resume ${move.id} --cleanup now, then fw-shard move --user ${move.user_id} --to ${wantedTo}.`;
  }
  return `Finish it with fw-shard resume ${move.id}, or undo it with fw-shard abort ${move.id}, before moving the user elsewhere.`;
}

/** `abort` of a move past its flip: finish it, then move the user back. */
export function alreadyFlippedHint(moveId: string, userId: string, from: number): string {
  return `Finish it with fw-shard resume ${moveId} --cleanup now (the old rows are deleted only where identical on the new shard), then move the user back: fw-shard move --user ${userId} --to ${from}.`;
}

/** A move that failed with an error that has no next step of its own. */
export function failedMoveHint(moveId: string, flipped: boolean): string {
  return flipped
    ? `fw-shard resume ${moveId} finishes the move (the mapping was flipped, so it can no longer be aborted).`
    : `fw-shard resume ${moveId} continues the move; fw-shard abort ${moveId} undoes it.`;
}

/** A move that ended (done or aborted) asked to run or abort again. */
export function endedMoveHint(move: { id: string; state: string; user_id: string; from_shard: number }): string {
  return move.state === 'done'
    ? `fw-shard moves --all shows it. To move user ${move.user_id} back: fw-shard move --user ${move.user_id} --to ${move.from_shard}.`
    : 'fw-shard moves --all shows it.';
}

/**
 * The user's rows still change while an offline move verifies them: stop the writes and resume, or
 * continue the move online (a resumed move keeps its journaled mode unless told).
 */
export function writesDuringVerifyHint(moveId: string, online: boolean, shared: readonly string[] = []): string {
  // A shared table's row that another user's rows refer to on the target is kept there, never rewritten:
  // if it differs (edited by another user during the move, or the copies went apart), no re-copy mends it.
  if (shared.length > 0)
    return (
      `The mapping was not flipped. ${shared.join(', ')} ${shared.length > 1 ? 'are' : 'is'} shared (tables.shared): a row another user's rows refer to on the target is kept as it is there, ` +
      `so a difference in one (another user edited it during the move, or the two shards' copies went apart) is not the user's to copy. ` +
      `Make the rows named equal on both shards (or wait for that user's writes to stop), then fw-shard resume ${moveId}.`
    );
  return online
    ? `The mapping was not flipped. Something is writing to the user's rows, or the shards differ in a way fw-shard cannot copy; once that is fixed, fw-shard resume ${moveId}.`
    : `The mapping was not flipped. Something is writing to the user's rows: stop it and run fw-shard resume ${moveId}, or continue the move online with fw-shard resume ${moveId} --online.`;
}

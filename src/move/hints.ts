/**
 * The next steps the engine prints for a move in a given state, in one place: each names commands that
 * work in that state (test/integration/move-states.test.ts runs them). Before the flip a move can be
 * resumed or aborted; after it, only finished (abort is refused: the user's writes live on the target).
 */
import { FLIPPED_PHASES, isJournalPhase } from './phase.js';

/** Seconds without a heartbeat after which a runner's lease may be taken over. */
export const STALE_SECONDS = 30;

/** Whether a journal phase is past the flip (an unknown phase counts as flipped: never suggest abort then). */
function pastFlip(phase: string): boolean {
  return !isJournalPhase(phase) || FLIPPED_PHASES.has(phase);
}

/**
 * BUSY: another runner holds the move (its heartbeat is fresh). The one wording of "a move is running",
 * shared by the lease refusal and the race between two `move` commands.
 */
export function runningMoveHint(moveId: string): string {
  return `Another runner is working on move ${moveId}; fw-shard moves shows its progress. If that runner died, fw-shard resume ${moveId} takes the move over ${STALE_SECONDS} s after its last heartbeat.`;
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
export function writesDuringVerifyHint(moveId: string, online: boolean): string {
  return online
    ? `The mapping was not flipped. Something is writing to the user's rows, or the shards differ in a way fw-shard cannot copy; once that is fixed, fw-shard resume ${moveId}.`
    : `The mapping was not flipped. Something is writing to the user's rows: stop it and run fw-shard resume ${moveId}, or continue the move online with fw-shard resume ${moveId} --online.`;
}

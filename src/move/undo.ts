/**
 * `fw-shard undo ID` (Vitess' ReverseTraffic): move a user back to the shard a flipped move took it
 * from, while that shard still holds the user's rows (the move ran with --cleanup defer or keep).
 *
 * The undo is a move of its own, journaled (`undo_of` on the undo, `undone_by` on the move it undoes)
 * and online like any other, from the move's target back to its source. It differs from a plain move
 * back in three places, all keyed on MoveRun.undoOf:
 *  - its copy starts from the rows the old shard kept: ranges are compared by hash and only what
 *    differs is written (phases/resync.ts): the app's changes since the flip, rows it deleted since,
 *    and rows a stale app server changed on the old shard (the new shard is the truth);
 *  - its flip ends the undone move in the same transaction (MoveRun.flip): that move's deferred cleanup
 *    can never delete the rows that are live again. From the undo's start, the undone move gives its
 *    unfinished-move slot to the undo and cannot enter its cleanup (Journal.createUndo, enterCleanup);
 *  - its abort keeps the old shard's rows and gives the undone move back as it was (engine abortUndo).
 * Delta passes or the change log, the freeze, the final comparison after fw-shard's last write, the
 * compare-and-set flip, the cache deletion and the cleanup of the new shard are those of every move.
 */
import { FwShardError } from '../errors/index.js';
import { mappingEndpoint, type ShardId, type UserId } from '../topology/index.js';
import { journalOptions, type RunOptions } from './engine.js';
import { execute } from './run-steps.js';
import { moveResult } from './results.js';
import { Inspector } from './inspector.js';
import { JournalReader, type MoveRow } from './journal.js';
import { MoveRun } from './move-run.js';
import { runningMoveHint } from './hints.js';
import { FLIPPED_PHASES, parsePhase } from './phase.js';
import { guards } from './capture.js';
import { preflight } from './phases/preflight.js';
import { MoveContext, RunContext } from './run-context.js';
import type { MoveDeps, MoveRequest, MoveResult, MoveTimings } from './types.js';

export type UndoRequest = Omit<MoveRequest, 'userId' | 'to'>;

/** What decides whether a move can be undone, read from the journal and the mapping. */
export interface UndoFacts {
  move: MoveRow;
  /** The move's undo, if one was started (undone_by). */
  undo: MoveRow | undefined;
  /** The user's shard now (null: the user is gone). */
  placement: number | null;
  /** The user's unfinished move, if any. */
  active: MoveRow | undefined;
  /** A move of the user after this one that was not aborted. */
  later: MoveRow | undefined;
}

/** Why the move cannot be undone (with the command that works in that state), or null. */
export function undoRefusal(f: UndoFacts): FwShardError | null {
  const { move, undo } = f;
  const u = move.user_id;
  const oldShard = Number(move.from_shard);
  const newShard = Number(move.to_shard);
  const moveBack = `fw-shard move --user ${u} --to ${oldShard}`;
  if (undo) {
    if (undo.state === 'active') {
      return new FwShardError('BUSY', `move ${move.id} is already being undone by move ${undo.id} (phase ${undo.phase})`, {
        hint: `fw-shard resume ${undo.id} finishes the undo; fw-shard abort ${undo.id} gives move ${move.id} back as it was.`,
      });
    }
    return new FwShardError('PRECONDITION', `move ${move.id} was undone already, by move ${undo.id}`, { hint: 'fw-shard moves --all shows both.' });
  }
  if (move.state === 'aborted') {
    return new FwShardError('PRECONDITION', `move ${move.id} was aborted: user ${u} never left shard ${oldShard}; there is nothing to undo`, {
      hint: 'fw-shard moves --all shows it.',
    });
  }
  const phase = parsePhase(move.phase, move.id);
  if (!FLIPPED_PHASES.has(phase)) {
    return new FwShardError('PRECONDITION', `move ${move.id} has not flipped (phase ${phase}): user ${u} still lives on shard ${oldShard}`, {
      hint: `fw-shard abort ${move.id} removes its copy from shard ${newShard}; the user stays on shard ${oldShard}.`,
    });
  }
  if (move.state === 'active' && phase === 'cleanup') {
    return new FwShardError(
      'PRECONDITION',
      `the cleanup of move ${move.id} has started deleting user ${u}'s rows on shard ${oldShard}: there is no kept copy to undo from`,
      {
        hint: `fw-shard resume ${move.id} finishes the cleanup; then ${moveBack} moves the user back (a plain move: everything is copied).`,
      },
    );
  }
  if (move.state === 'done' && move.cleanup_mode !== 'keep') {
    return new FwShardError(
      'PRECONDITION',
      `the cleanup of move ${move.id} deleted user ${u}'s rows on shard ${oldShard} (--cleanup ${move.cleanup_mode}): there is no kept copy to undo from`,
      { hint: `${moveBack} moves the user back (a plain move: everything is copied).` },
    );
  }
  if (f.active && f.active.id !== move.id) {
    return new FwShardError(
      'BUSY',
      `user ${u} has an unfinished move ${f.active.id} (shard ${f.active.from_shard} to shard ${f.active.to_shard}, phase ${f.active.phase})`,
      { hint: `Finish it (fw-shard resume ${f.active.id}) or abort it (fw-shard abort ${f.active.id}) first.` },
    );
  }
  if (f.placement === null) {
    return new FwShardError('USER_NOT_FOUND', `user ${u} no longer exists in the mapping`, {
      hint: 'Check the user id (fw-shard moves --all shows the move).',
    });
  }
  if (f.placement !== newShard || f.later) {
    return new FwShardError(
      'PRECONDITION',
      `user ${u} has moved since move ${move.id}: it lives on shard ${f.placement}, ${f.later ? `moved there by move ${f.later.id}` : `not on shard ${newShard} where move ${move.id} put it`}`,
      { hint: `Only the user's last move can be undone. ${moveBack} moves the user from where it is now; fw-shard moves --all lists its moves.` },
    );
  }
  // A live runner (it holds the move's runner lock, or an older fw-shard's heartbeat is fresh) may be
  // starting the cleanup; Journal.createUndo checks the lock again as it starts.
  if (f.active?.id === move.id && move.runner_alive === true) {
    return new FwShardError(
      'BUSY',
      `move ${move.id} is being run by ${move.runner_host} pid ${move.runner_pid ?? '?'} (heartbeat ${move.heartbeat_age_s ?? '?'} s ago): its cleanup may be starting`,
      {
        hint: runningMoveHint(move, {
          legacy: move.runner_liveness === 'heartbeat',
          next: `fw-shard undo ${move.id} again (refused if its cleanup deleted rows)`,
        }),
      },
    );
  }
  return null;
}

/** `fw-shard undo ID`: move the user of a flipped move back onto its kept rows. */
export async function undoMove(deps: MoveDeps, moveId: string, req: UndoRequest, opts: RunOptions = {}): Promise<MoveResult> {
  const mapping = new Inspector(deps.connect(mappingEndpoint(deps.topology)));
  const reader = new JournalReader(mapping.db);
  const timings: MoveTimings = {};
  const started = deps.clock.now().getTime();
  const facts = async (): Promise<UndoFacts> => {
    const move = await reader.get(moveId);
    if (!move) throw new FwShardError('MOVE_NOT_FOUND', `no move ${moveId} in the journal`, { hint: 'fw-shard moves --all lists the moves.' });
    const { undoneBy } = await reader.undoLinks(moveId);
    const [undo, placement, active, later] = await Promise.all([
      undoneBy === null ? undefined : reader.get(undoneBy),
      mapping.placement(deps.topology.mapping, move.user_id),
      reader.activeForUser(move.user_id),
      reader.laterMoveOfUser(move.user_id, moveId),
    ]);
    return { move, undo, placement, active, later };
  };
  const first = await facts();
  const refused = undoRefusal(first);
  if (refused) throw refused;

  const { move } = first;
  const userId = move.user_id as UserId;
  const from = Number(move.to_shard) as ShardId; // the undo copies from the move's target...
  const to = Number(move.from_shard) as ShardId; // ...back to its source
  for (const s of [from, to]) {
    if (!deps.topology.shards.has(s)) {
      throw new FwShardError('PRECONDITION', `move ${moveId} involves shard ${s}, which is no longer in the topology`, {
        hint: `Put shard ${s} back in the config to undo the move.`,
      });
    }
  }
  const full: MoveRequest = { ...req, userId, to };
  const ctx = new MoveContext(deps, full, userId, from, to, opts.signal);
  const pf = await ctx.timed('preflight', timings, () => preflight(ctx, { resuming: false, keptRows: true }));
  if (req.dryRun) {
    return moveResult({
      moveId: null,
      userId,
      from,
      to,
      phase: 'preflight',
      dryRun: true,
      undoOf: moveId,
      plan: pf.plan,
      timings,
      nextStep: `dry run: nothing was written. Without --dry-run, user ${userId} moves back to shard ${to}, copying only the rows that differ from those move ${moveId} kept there.`,
    });
  }
  ctx.checkAborted();
  await deps.beforeStart?.({ userId, from, to, totalRows: pf.plan.totalRows });
  await ctx.journal.ensureTables();
  // Trigger mode: the undo's `incoming` fence replaces the undone move's `moved` fence on the old shard;
  // an abort of the undo puts it back.
  const fence = await guards(ctx).target.fenceOf(userId);
  const targetFence = fence?.moveId === moveId && fence.state === 'moved' ? 'moved' : null;
  const id = await ctx.journal.createUndo(
    { userId, from, to, phase: 'copy', cleanupMode: req.cleanup, options: journalOptions(full, { undo: { of: moveId, targetFence }, rowHash: pf.rowHash }) },
    moveId,
  );
  if (id === null) {
    // The move changed between the checks and the start (a cleanup claimed it, another undo started).
    throw (
      undoRefusal(await facts()) ??
      new FwShardError('BUSY', `move ${moveId} changed while its undo was starting`, { hint: `Run fw-shard undo ${moveId} again.` })
    );
  }
  for (const t of pf.plan.tables) await ctx.journal.addTable(id, t.name, t.rows);
  const run = new RunContext(ctx, id);
  await run.journal.claim((await run.journal.get(id))!); // the undo's own runner lock, like every run's
  return execute(new MoveRun(run, pf, 'copy', false, started, timings, moveId));
}

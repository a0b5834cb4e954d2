/**
 * `fw-shard abort` (before the flip): remove what was copied to the target and end the move. Deletes
 * only on the target, and only while the mapping still points at the source; an undo's abort keeps the
 * old shard's rows and gives the undone move back as it was.
 */
import { FwShardError } from '../errors/index.js';
import { mappingEndpoint, type ShardId, type UserId } from '../topology/index.js';
import { JournalReader } from './journal.js';
import { MoveContext, RunContext } from './run-context.js';
import { canAbort, parsePhase } from './phase.js';
import { ownershipLevels, planNamedTables } from './owner-paths.js';
import { type MoveDeps, type MoveRequest, type MoveResult, type MoveTimings } from './types.js';
import { parseJournalOptions, type JournalOptionsValue } from './mode.js';
import { guards } from './capture.js';
import { alreadyFlippedHint, endedMoveHint } from './hints.js';
import { outcomeOf, retireQuietly } from './run-steps.js';
import type { RunOptions } from './engine.js';
import { DEFAULT_CHUNK_TIME_MS } from '../config/defaults.js';
import { moveResult } from './results.js';

/** `fw-shard abort`: before the flip, remove what was copied to the target and end the move. */
export async function abortMove(deps: MoveDeps, ref: { moveId?: string; userId?: UserId }, opts: RunOptions = {}): Promise<MoveResult> {
  const reader = new JournalReader(deps.connect(mappingEndpoint(deps.topology)));
  const move = ref.moveId ? await reader.get(ref.moveId) : await reader.activeForUser(ref.userId!);
  if (!move) {
    throw new FwShardError('MOVE_NOT_FOUND', ref.moveId ? `no move ${ref.moveId} in the journal` : `user ${ref.userId} has no unfinished move`, {
      hint: 'fw-shard moves lists the unfinished moves.',
    });
  }
  if (move.state !== 'active')
    throw new FwShardError('PRECONDITION', `move ${move.id} is already ${move.state}; nothing to abort`, { hint: endedMoveHint(move) });
  const from = Number(move.from_shard) as ShardId;
  const to = Number(move.to_shard) as ShardId;
  if (!canAbort(parsePhase(move.phase, move.id))) {
    throw new FwShardError(
      'ALREADY_FLIPPED',
      `move ${move.id} already flipped user ${move.user_id} to shard ${to}; aborting now would lose the writes made there since`,
      { hint: alreadyFlippedHint(move.id, move.user_id, from) },
    );
  }
  const req: MoveRequest = {
    userId: move.user_id as UserId,
    to,
    dryRun: false,
    assumeNoWrites: true,
    chunkTimeMs: DEFAULT_CHUNK_TIME_MS,
    concurrency: 1,
    cleanup: 'keep',
  };
  const ctx = new RunContext(new MoveContext(deps, req, move.user_id as UserId, from, to, opts.signal), move.id);
  await ctx.journal.claim(move);
  return completeAbort(ctx, {});
}

/**
 * Remove what was copied to the target and end the move as aborted. Deletes only on the target, and only
 * while the mapping still points at the source: the target's rows of the user are then fw-shard's copies,
 * which nothing reads. The journal says `aborting` first, so a killed abort is finished by the next run.
 */
export async function completeAbort(ctx: RunContext, timings: MoveTimings): Promise<MoveResult> {
  const { deps, moveId, userId, from, to } = ctx;
  let outcome = 'failed';
  try {
    const placed = await ctx.mapping.insp.placement(deps.topology.mapping, userId);
    if (placed === to) {
      throw new FwShardError('ALREADY_FLIPPED', `user ${userId} is mapped to shard ${to} already; refusing to delete its rows there`, {
        hint: 'Check the mapping by hand: the journal says the flip did not happen.',
      });
    }
    await ctx.journal.setPhase(moveId, 'aborting');
    // Trigger mode: stop capturing on the source and lift the incoming fence on the target.
    const g = guards(ctx);
    // Also a `moved` fence of this move (a run stopped before its flip): the mapping still points at the
    // source (checked above), nothing was accepted anywhere since, so the user goes on writing there.
    await g.source.clear(userId, moveId, { states: ['capturing', 'frozen', 'moved'], changes: true });
    await g.target.clear(userId, moveId, { states: ['incoming'], changes: false });
    const { undoOf } = await ctx.journal.undoLinks(moveId);
    if (undoOf !== null) {
      const nextStep = await abortUndo(ctx, undoOf);
      return moveResult({ moveId, userId, from, to, phase: 'aborted', undoOf, timings, nextStep });
    }
    const tables = await ctx.journal.tables(moveId);
    const schema = await ctx.target.insp.schema();
    const { plans, skipped } = planNamedTables(
      schema,
      deps.topology.tables,
      tables.map((r) => r.table_name),
    );
    for (const why of skipped) ctx.emit({ type: 'warning', message: `abort: rows of ${why.split(':')[0]} on shard ${to} are not looked for (${why})` });
    let deleted = 0;
    await ctx.timed('abort', timings, async () => {
      // Tables owned through a parent first: their rows are found through the parent's (owner-paths.ts).
      for (const level of ownershipLevels(plans).reverse()) for (const t of level) deleted += await ctx.target.applier.deleteAllUserRows(t, userId);
    });
    await ctx.journal.finish(moveId, 'aborted', 'aborted');
    outcome = 'aborted';
    await retireQuietly(ctx, 'source');
    await retireQuietly(ctx, 'target');
    return moveResult({
      moveId,
      userId,
      from,
      to,
      phase: 'aborted',
      timings,
      nextStep: `aborted: user ${userId} stays on shard ${from}; ${deleted} copied rows were removed from shard ${to}.`,
    });
  } catch (err) {
    outcome = outcomeOf(err);
    throw err;
  } finally {
    await ctx.journal.release(moveId, outcome).catch(() => undefined);
  }
}

/**
 * The abort of an undo: the target is the old shard of the move it undoes, and the user's rows there are
 * that move's kept rows (the resync may have brought some closer to the source): they stay. The undone
 * move gets back what the undo took, in one transaction with the abort (its unfinished-move slot and so
 * its deferred cleanup, which compares every row with the user's shard before deleting it), and its
 * `moved` fence on the old shard (trigger mode) is put back.
 */
async function abortUndo(ctx: RunContext, undoOf: string): Promise<string> {
  const { userId, from, to, moveId } = ctx;
  const self = await ctx.journal.get(moveId);
  if (undoFacts(self?.options).targetFence === 'moved') await guards(ctx).target.setFence(userId, undoOf, 'moved');
  await ctx.journal.abortUndo(moveId, undoOf);
  const undone = await ctx.journal.get(undoOf);
  const pending = undone?.state === 'active' ? ` (phase ${undone.phase}: fw-shard cleanup deletes them once due)` : ' (kept)';
  return `aborted: user ${userId} stays on shard ${from}; its rows on shard ${to} stay as move ${undoOf} left them${pending}, and move ${undoOf} is as it was before the undo.`;
}

/** What an undo records about its start in its journal options. */
function undoFacts(options: JournalOptionsValue | undefined): { targetFence: string | null } {
  const o = parseJournalOptions(options ?? null) as { undo?: { targetFence?: string | null } };
  return { targetFence: o.undo?.targetFence ?? null };
}

/**
 * The move engine's entry points: a request resolved into a run (runMove, resumeMove, the deferred
 * cleanups), which run-steps.ts executes, and the abort (abort.ts). A move is preflight → copy →
 * (verify | delta → freeze) → flip → cleanup, each phase recording its intent in the journal before it
 * acts, with a cancellation check between chunks and phases (never inside the flip).
 *
 * Invariants:
 *  - no source row is deleted unless its exact bytes are on the target at that moment (compared under a
 *    lock on the source row, src/move/phases/cleanup.ts);
 *  - the last comparison of every table before the flip comes after fw-shard's last write;
 *  - the mapping flips only after a full verification, by compare-and-set, in one transaction with the
 *    journal's `flipped` phase;
 *  - a failure leaves a resumable move; every error says whether the mapping was flipped.
 */
import { FwShardError } from '../errors/index.js';
import { mappingEndpoint, type ShardId, type UserId } from '../topology/index.js';
import { Inspector } from './inspector.js';
import { JournalReader, type MoveRow } from './journal.js';
import { MoveContext, RunContext } from './run-context.js';
import { MoveRun } from './move-run.js';
import { FLIPPED_PHASES, parsePhase, stepFrom } from './phase.js';
import { preflight } from './phases/preflight.js';
import { type MoveAsk, type MoveDeps, type MoveRequest, type MoveResult, type MoveTimings, type PendingCleanup } from './types.js';
import { continuedRequest, journaledMode, journalOptionsAfter, journalOptionsText, modeChanges } from './mode.js';
import { endedMoveHint, runningMoveHint, unfinishedMoveHint } from './hints.js';
import { execute, outcomeOf } from './run-steps.js';
import { completeAbort } from './abort.js';
import { moveResult } from './results.js';

export { abortMove } from './abort.js';

export interface RunOptions {
  signal?: AbortSignal;
}

/** `fw-shard move`: start a move, or continue the user's unfinished one to the same shard. */
export async function runMove(deps: MoveDeps, ask: MoveAsk, opts: RunOptions = {}): Promise<MoveResult> {
  const req: MoveRequest = { ...ask, assumeNoWrites: ask.assumeNoWrites ?? false, cleanup: ask.cleanup ?? 'now' };
  const mapping = new Inspector(deps.connect(mappingEndpoint(deps.topology)));
  const reader = new JournalReader(mapping.db);
  const timings: MoveTimings = {};
  const started = deps.clock.now().getTime();

  const active = await reader.activeForUser(req.userId);
  if (active) {
    if (Number(active.to_shard) !== req.to) {
      throw new FwShardError(
        'BUSY',
        `user ${req.userId} already has an unfinished move (${active.id}) from shard ${active.from_shard} to shard ${active.to_shard}, in phase ${active.phase}`,
        { hint: unfinishedMoveHint(active, req.to) },
      );
    }
    if (req.dryRun) return describeActive(active, req);
    return continueMove(deps, active, ask, opts, timings, started);
  }

  const from = await mapping.placement(deps.topology.mapping, req.userId);
  if (from === null) {
    throw new FwShardError('USER_NOT_FOUND', `user ${req.userId} does not exist in ${deps.topology.mapping.table} on ${mapping.db.endpoint.role}`, {
      hint: 'Check the user id (and mapping.table / mapping.idColumn in the config).',
    });
  }
  if (!deps.topology.shards.has(from as ShardId)) {
    throw new FwShardError('PRECONDITION', `user ${req.userId} is mapped to shard ${from}, which is not in the topology`, {
      hint: `Add shard ${from} to the config (fw-shard status lists users mapped to unknown shards).`,
    });
  }
  if (from === req.to) {
    return moveResult({
      moveId: null,
      userId: req.userId,
      from,
      to: req.to,
      phase: 'none',
      nothingToDo: true,
      timings,
      nextStep: `nothing to do: user ${req.userId} is already on shard ${req.to}`,
    });
  }

  const ctx = new MoveContext(deps, req, req.userId, from as ShardId, req.to, opts.signal);
  const pf = await ctx.timed('preflight', timings, () => preflight(ctx, { resuming: false }));
  if (req.dryRun) {
    return moveResult({
      moveId: null,
      userId: req.userId,
      from,
      to: req.to,
      phase: 'preflight',
      dryRun: true,
      plan: pf.plan,
      timings,
      nextStep: `dry run: nothing was written. Run the same command without --dry-run to move user ${req.userId}.`,
    });
  }
  ctx.checkAborted();
  await deps.beforeStart?.({ userId: req.userId, from, to: req.to, totalRows: pf.plan.totalRows });

  await ctx.journal.ensureTables();

  const created = await ctx.journal.create({
    // One id source, fw-shard's own: the journal's AUTO_INCREMENT (never the app's tickets, which are
    // the app's to spend, and which a refused login made us mix with journal ids that then collided).
    id: null,
    userId: req.userId,
    from,
    to: req.to,
    phase: 'copy',
    cleanupMode: req.cleanup,
    options: journalOptions(req, { capture: req.assumeNoWrites ? null : pf.capture.mode, rowHash: pf.rowHash }),
  });
  if (created.existing) {
    // Another runner created a move for this user between our check and our insert.
    if (Number(created.existing.to_shard) !== req.to) {
      throw new FwShardError(
        'BUSY',
        `user ${req.userId} is being moved to shard ${created.existing.to_shard} by another runner (move ${created.existing.id})`,
        { hint: runningMoveHint(created.existing) },
      );
    }
    return continueMove(deps, created.existing, ask, opts, timings, started);
  }
  for (const t of pf.plan.tables) await ctx.journal.addTable(created.id, t.name, t.rows);
  const run = new RunContext(ctx, created.id);
  await run.journal.claim((await run.journal.get(created.id))!);
  return execute(new MoveRun(run, pf, 'copy', false, started, timings));
}

/** The request's settings as the journal records them (`options`), with what a mode adds. */
export function journalOptions(req: MoveRequest, extra: Record<string, unknown> = {}): string {
  return JSON.stringify({
    chunkTimeMs: req.chunkTimeMs,
    chunkSize: req.chunkSize ?? null,
    concurrency: req.concurrency,
    assumeNoWrites: req.assumeNoWrites,
    ...extra,
  });
}

/** `fw-shard resume ID`. */
export async function resumeMove(deps: MoveDeps, moveId: string, ask: Omit<MoveAsk, 'userId' | 'to'>, opts: RunOptions = {}): Promise<MoveResult> {
  return resumeJournaled(deps, moveId, ask, opts, true);
}

/** `resume`, or (recordCleanup false) a deferred cleanup run by `fw-shard cleanup`, which leaves the journaled mode alone. */
async function resumeJournaled(
  deps: MoveDeps,
  moveId: string,
  ask: Omit<MoveAsk, 'userId' | 'to'>,
  opts: RunOptions,
  recordCleanup: boolean,
): Promise<MoveResult> {
  const reader = new JournalReader(deps.connect(mappingEndpoint(deps.topology)));
  const move = await reader.get(moveId);
  if (!move) throw new FwShardError('MOVE_NOT_FOUND', `no move ${moveId} in the journal`, { hint: 'fw-shard moves --all lists the moves.' });
  if (move.state !== 'active') {
    throw new FwShardError('PRECONDITION', `move ${moveId} is already ${move.state}; nothing to resume`, { hint: endedMoveHint(move) });
  }
  return continueMove(
    deps,
    move,
    { ...ask, userId: move.user_id as UserId, to: Number(move.to_shard) as ShardId },
    opts,
    {},
    deps.clock.now().getTime(),
    recordCleanup,
  );
}

/**
 * Continue an unfinished move from its journal, in the mode the journal recorded unless the ask says
 * otherwise explicitly (src/move/mode.ts); a change is recorded and reported as a warning.
 */
async function continueMove(
  deps: MoveDeps,
  move: MoveRow,
  ask: MoveAsk,
  opts: RunOptions,
  timings: MoveTimings,
  started: number,
  recordCleanup = true,
): Promise<MoveResult> {
  const journaled = journaledMode(move);
  const req = continuedRequest(journaled, ask, move.user_id as UserId, Number(move.to_shard) as ShardId);
  const from = Number(move.from_shard) as ShardId;
  for (const s of [from, req.to]) {
    if (!deps.topology.shards.has(s)) {
      throw new FwShardError('PRECONDITION', `move ${move.id} involves shard ${s}, which is no longer in the topology`, {
        hint: `Put shard ${s} back in the config to resume or abort the move.`,
      });
    }
  }
  const phase = parsePhase(move.phase, move.id);
  const ctx = new RunContext(new MoveContext(deps, req, move.user_id as UserId, from, req.to, opts.signal), move.id);
  // The claim also runs ensureTables: a journal made by an older version gets the tables and columns added since.
  await ctx.journal.claim(move);
  // Checked after the claim: an undo starts only on a move nobody holds (it takes the move's runner lock
  // to start, Journal.createUndo), so either it started before and is seen here, or it fails BUSY.
  const links = await ctx.journal.undoLinks(move.id);
  if (links.undoneBy !== null) {
    await ctx.journal.release(move.id, 'failed PRECONDITION').catch(() => undefined);
    throw new FwShardError('PRECONDITION', `move ${move.id} is being undone by move ${links.undoneBy}: its rows on shard ${from} are the undo's to keep`, {
      hint: `fw-shard resume ${links.undoneBy} finishes the undo; fw-shard abort ${links.undoneBy} gives move ${move.id} back as it was.`,
    });
  }
  if (stepFrom(phase, ctx.online) === 'finish-abort') {
    // An abort was killed half-way: finish it (no preflight: nothing is copied any more).
    const done = await completeAbort(ctx, timings);
    return { ...done, nextStep: `${done.nextStep} Move ${move.id} had been aborted half-way; run the move again to start over.` };
  }
  let pf;
  try {
    pf = await ctx.timed('preflight', timings, () => preflight(ctx, { resuming: true, rowHash: journaled.rowHash }));
    for (const t of pf.plan.tables) await ctx.journal.addTable(move.id, t.name, t.rows); // tables added since (no-op otherwise)
  } catch (err) {
    // The run ends before it started: give the move back (a long-lived caller, apply, must not keep it).
    await ctx.journal.release(move.id, outcomeOf(err)).catch(() => undefined);
    throw err;
  }
  const run = new MoveRun(ctx, pf, phase, true, started, timings, links.undoOf);
  const now = {
    assumeNoWrites: req.assumeNoWrites,
    capture: req.assumeNoWrites ? undefined : pf.capture.mode,
    cleanup: recordCleanup ? req.cleanup : journaled.cleanup,
  };
  const options = journalOptionsAfter(move.options, now);
  run.modeChanges.push(...modeChanges(journaled, now));
  if (options !== journalOptionsText(move.options) || now.cleanup !== journaled.cleanup) await ctx.journal.setMode(move.id, now.cleanup, options);
  return execute(run);
}

function describeActive(move: MoveRow, req: MoveRequest): MoveResult {
  const phase = parsePhase(move.phase, move.id);
  return moveResult({
    moveId: move.id,
    userId: req.userId,
    from: Number(move.from_shard),
    to: req.to,
    phase,
    mappingFlipped: FLIPPED_PHASES.has(phase),
    dryRun: true,
    timings: {},
    nextStep: `dry run: move ${move.id} of this user is unfinished (phase ${phase}); running without --dry-run resumes it.`,
  });
}

/** Deferred cleanups not due yet under `olderThanSeconds` (what `fw-shard cleanup` says instead of nothing). */
export async function pendingCleanups(deps: MoveDeps, olderThanSeconds: number): Promise<PendingCleanup[]> {
  const reader = new JournalReader(deps.connect(mappingEndpoint(deps.topology)));
  return (await reader.cleanupWaiting(olderThanSeconds)).map((m) => ({
    moveId: m.id,
    userId: m.user_id,
    from: Number(m.from_shard),
    to: Number(m.to_shard),
    flippedAt: m.flipped_at,
    eligibleAt: m.eligible_at,
    eligibleInMs: Math.max(0, Number(m.eligible_in_ms)),
  }));
}

/** `fw-shard cleanup`: finish deferred cleanups whose flip is older than `olderThanSeconds`. */
export async function runDeferredCleanups(
  deps: MoveDeps,
  olderThanSeconds: number,
  base: Omit<MoveAsk, 'userId' | 'to' | 'cleanup'>,
  opts: RunOptions = {},
): Promise<MoveResult[]> {
  const reader = new JournalReader(deps.connect(mappingEndpoint(deps.topology)));
  const due = await reader.cleanupDue(olderThanSeconds);
  const out: MoveResult[] = [];
  let firstError: unknown;
  for (const m of due) {
    if (opts.signal?.aborted) break;
    // A move being undone keeps its rows: its old shard is about to hold the live ones again.
    if ((await reader.undoLinks(m.id)).undoneBy !== null) continue;
    // One move whose cleanup kept rows (or failed) does not hold back the others: the first error is
    // raised once every due move had its turn.
    try {
      // The deletes run in the move's own mode (a cleanup does not depend on it): nothing to record.
      out.push(await resumeJournaled(deps, m.id, { ...base, assumeNoWrites: undefined, capture: undefined, cleanup: 'now' }, opts, false));
    } catch (err) {
      if (err instanceof FwShardError && err.code === 'INTERRUPTED') throw err;
      firstError ??= err;
    }
  }
  if (firstError !== undefined) throw firstError;
  return out;
}

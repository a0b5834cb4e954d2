/**
 * The move engine: preflight → copy → (verify | delta → freeze) → flip → cleanup, each phase recording its intent in the
 * journal before it acts, with a cancellation check between chunks and phases (never inside the flip).
 *
 * Invariants:
 *  - no source row is deleted unless its exact bytes are on the target at that moment (compared under a
 *    lock on the source row, src/move/phases/cleanup.ts);
 *  - the last comparison of every table before the flip comes after fw-shard's last write;
 *  - the mapping flips only after a full verification, by compare-and-set, in one transaction with the
 *    journal's `flipped` phase;
 *  - a failure leaves a resumable move; every error says whether the mapping was flipped.
 */
import { MoveFailedError } from './move-error.js';
import { FwShardError } from '../errors/index.js';
import { mappingEndpoint, type ShardId, type UserId } from '../topology/index.js';
import { copyStartedSql } from '../db/sql/journal.js';
import { Inspector } from './inspector.js';
import { JournalReader, type MoveRow } from './journal.js';
import { MoveContext, RunContext, stopCauseOf } from './run-context.js';
import { MoveRun } from './move-run.js';
import { assertNever, canAbort, FLIPPED_PHASES, parsePhase, stepFrom } from './phase.js';
import { preflight } from './phases/preflight.js';
import { copyTables } from './phases/copy.js';
import { resyncTables } from './phases/resync.js';
import { verifyAll } from './phases/verify.js';
import { cleanupSource, NO_PROOFS, type CleanupProofs } from './phases/cleanup.js';
import { fenceOfLockedSql } from '../db/sql/guard.js';
import { ownershipLevels, planNamedTables } from './owner-paths.js';
import type { WriteSettings } from './phases/sync.js';
import { DEFAULT_ONLINE, type MoveAsk, type MoveDeps, type MoveRequest, type MoveResult, type PendingCleanup } from './types.js';
import {
  continuedRequest,
  journaledMode,
  journalOptionsAfter,
  journalOptionsText,
  modeChanges,
  parseJournalOptions,
  type JournalOptionsValue,
} from './mode.js';
import { onlineCutover } from './phases/cutover.js';
import { fenceCutover, flipMoved, guards, startCapture } from './phases/fence-cutover.js';
import { checkSchema, sourceTriggersAsRecorded } from './schema-guard.js';
import { retireIfUnused } from './guard-lifecycle.js';
import { liftFreezeSql } from '../db/sql/freeze.js';
import { alreadyFlippedHint, endedMoveHint, failedMoveHint, runningMoveHint, unfinishedMoveHint } from './hints.js';

export interface RunOptions {
  signal?: AbortSignal;
}

/** `fw-shard move`: start a move, or continue the user's unfinished one to the same shard. */
export async function runMove(deps: MoveDeps, ask: MoveAsk, opts: RunOptions = {}): Promise<MoveResult> {
  const req: MoveRequest = { ...ask, assumeNoWrites: ask.assumeNoWrites ?? false, cleanup: ask.cleanup ?? 'now' };
  const mapping = new Inspector(deps.connect(mappingEndpoint(deps.topology)));
  const reader = new JournalReader(mapping.db);
  const timings: Record<string, number> = {};
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
    return {
      ok: true,
      moveId: null,
      userId: req.userId,
      from,
      to: req.to,
      phase: 'none',
      mappingFlipped: false,
      nothingToDo: true,
      tables: [],
      timings,
      nextStep: `nothing to do: user ${req.userId} is already on shard ${req.to}`,
    };
  }

  const ctx = new MoveContext(deps, req, req.userId, from as ShardId, req.to, opts.signal);
  const pf = await ctx.timed('preflight', timings, () => preflight(ctx, { resuming: false }));
  if (req.dryRun) {
    return {
      ok: true,
      moveId: null,
      userId: req.userId,
      from,
      to: req.to,
      phase: 'preflight',
      mappingFlipped: false,
      dryRun: true,
      plan: pf.plan,
      tables: pf.plan.tables,
      timings,
      nextStep: `dry run: nothing was written. Run the same command without --dry-run to move user ${req.userId}.`,
    };
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
  timings: Record<string, number>,
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

/** How a run ended, for the journal's trace of runs. */
function outcomeOf(err: unknown, result?: MoveResult, signal?: AbortSignal): string {
  if (result) return result.phase;
  if (!(err instanceof FwShardError)) return 'failed INTERNAL';
  if (err.code === 'INTERRUPTED') return signal && stopCauseOf(signal)?.kind === 'stop-request' ? 'stopped (stop request)' : 'stopped';
  return `failed ${err.code}`;
}

/**
 * Run the move from its journal phase to its end, one step of the state machine (src/move/phase.ts) at a
 * time, with a cancellation check between steps (never inside the flip).
 */
export async function execute(run: MoveRun): Promise<MoveResult> {
  const { ctx } = run;
  let result: MoveResult | undefined;
  let error: unknown;
  ctx.emit({ type: 'move.started', userId: ctx.userId, from: ctx.from, to: ctx.to, mode: ctx.online ? 'online' : 'offline', resumed: run.resumed });
  for (const change of run.modeChanges) ctx.emit({ type: 'warning', message: `move ${run.moveId}: ${change} (recorded in the journal)` });
  for (const t of run.pf.plan.tables) ctx.emit({ type: 'table.planned', table: t.name, rows: t.rows, key: t.key });
  if (run.resumed) {
    // A runner killed inside its freeze leaves the row behind until it expires: lift it now.
    await ctx.mapping.db.exec(liftFreezeSql(ctx.userId, run.moveId)).catch(() => undefined);
  }
  try {
    for (;;) {
      const step = stepFrom(run.phase, ctx.online);
      switch (step) {
        case 'copy':
          await copyStep(run);
          break;
        case 'cutover':
          await cutoverStep(run);
          break;
        case 'verify':
          await verifyAndFlipStep(run);
          break;
        case 'cleanup':
          return (result = await finishCleanup(run));
        case 'finish-abort':
          throw new Error(`move ${run.moveId}: an unfinished abort is completed before the run starts (continueMove)`);
        case 'none':
          return (result = run.result(true, `move ${run.moveId} is ${run.phase}`));
        default:
          return assertNever(step);
      }
    }
  } catch (err) {
    error = err;
    throw await failed(run, err);
  } finally {
    await ctx.journal.release(run.moveId, outcomeOf(error, result, ctx.signal)).catch(() => undefined);
  }
}

async function copyStep(run: MoveRun): Promise<void> {
  const { ctx } = run;
  await run.enter('copy', copyStartedSql());
  // Trigger mode: capture the user's changes from before the first row is read.
  if (ctx.online && run.pf.capture.mode === 'trigger') await startCapture(ctx, run.pf.tables);
  // The schema the plan was made from, fw-shard's triggers included: recorded, or compared on a resume.
  await checkSchema(run);
  await copyUncopied(run);
  await run.enter(ctx.online ? 'delta' : 'verify');
}

/**
 * Copy every table the journal does not have as copied (copyTables skips the others). Also run before
 * the delta passes and the verification of a resumed move: a table added to the selection since (a
 * deploy, tables.include) must be copied and recorded before anything compares or flips.
 */
async function copyUncopied(run: MoveRun): Promise<void> {
  const { ctx } = run;
  const rows = new Map((await ctx.journal.tables(run.moveId)).map((r) => [r.table_name, r]));
  if (run.phase === 'copy' || !run.pf.tables.every((t) => rows.get(t.name)?.status === 'copied')) {
    // An undo starts from the rows the target kept: it copies only what differs (phases/resync.ts).
    const copy = run.undoOf === null ? copyTables : resyncTables;
    await ctx.timed('copy', run.timings, () => copy(ctx, run.pf.tables, writeSettings(run), rows, run.reports));
  }
  if (run.undoOf !== null) run.rowsCopied = (await ctx.journal.tables(run.moveId)).reduce((n, r) => n + BigInt(r.rows_copied), 0n).toString();
}

/** Online: delta passes, the freeze, the final sync and the flip (src/move/phases/cutover.ts). */
async function cutoverStep(run: MoveRun): Promise<void> {
  const { ctx } = run;
  ctx.checkAborted();
  const online = ctx.req.online ?? DEFAULT_ONLINE;
  const g = guards(ctx);
  const fence = await g.source.fenceOf(ctx.userId);
  if (fence?.state === 'moved' && fence.moveId === run.moveId) {
    // A run stopped between the source fence's `moved` and the flip: the user is refused on both shards
    // until the mapping flips. The target holds what was verified under the freeze; flip it now.
    await flipMoved(run, () => invalidateCache(ctx));
    return;
  }
  await run.enter('delta');
  if (run.pf.capture.mode === 'trigger') {
    if (fence?.state !== 'capturing' || fence.moveId !== run.moveId) await startCapture(ctx, run.pf.tables);
    else await Promise.all([g.source.install(run.pf.tables), g.target.install(run.pf.tables)]); // tables added since
    await checkSchema(run);
    await copyUncopied(run);
    const out = await ctx.timed('delta', run.timings, () => fenceCutover(run, writeSettings(run), online, run.pf.capture.mariadb, () => invalidateCache(ctx)));
    run.freezeMs = out.freezeMs;
    run.deltaPasses = out.deltaPasses;
    run.timings.freezeMs = out.freezeMs;
    return;
  }
  // Re-hash mode: a capture left by an earlier run in trigger mode is not needed (and must not refuse
  // writes); a `moved` fence of another move on the shard the user lives on is stale and would refuse
  // every write of the user there.
  if (fence && fence.moveId === run.moveId) await g.source.clear(ctx.userId, run.moveId, { states: ['capturing', 'frozen'], changes: true });
  if (fence?.state === 'moved' && fence.moveId !== run.moveId) {
    ctx.emit({
      type: 'warning',
      message: `shard ${ctx.from} had a stale fence of user ${ctx.userId} (state moved, move ${fence.moveId}) although the user lives there: removed`,
    });
    await g.source.clear(ctx.userId, fence.moveId, { states: ['moved'], changes: true });
  }
  await g.target.clear(ctx.userId, run.moveId, { states: ['incoming'], changes: false });
  await retireQuietly(ctx, 'source');
  await retireQuietly(ctx, 'target');
  await copyUncopied(run);
  const out = await ctx.timed('delta', run.timings, () => onlineCutover(run, writeSettings(run), online, () => invalidateCache(ctx)));
  run.freezeMs = out.freezeMs;
  run.deltaPasses = out.deltaPasses;
  run.timings.freezeMs = out.freezeMs;
}

/** Offline: the final verification, then the flip. */
async function verifyAndFlipStep(run: MoveRun): Promise<void> {
  const { ctx } = run;
  ctx.checkAborted();
  await run.enter('verify');
  await checkSchema(run);
  await copyUncopied(run);
  await ctx.timed('verify', run.timings, () => verifyAll(ctx, run.pf.tables, writeSettings(run), run.reports));
  await checkSchema(run);
  ctx.checkAborted();
  await run.enter('flip');
  // From here to the flip's commit there is no cancellation check: the flip is one transaction.
  await ctx.timed('flip', run.timings, () => run.flip());
  ctx.emit({ type: 'mapping.flipped', userId: ctx.userId, from: ctx.from, to: ctx.to });
  await invalidateCache(ctx);
}

function writeSettings(run: MoveRun): WriteSettings {
  const { pf } = run;
  return {
    sqlMode: pf.sqlMode,
    maxBytes: Math.max(64 * 1024, Math.min(4 * 1024 * 1024, Math.floor(pf.maxPacket / 4))),
    skipDuplicates: run.ctx.online,
    target: String(run.ctx.to),
  };
}

/** Record the failure in the journal and the event stream; return the error the caller sees. */
async function failed(run: MoveRun, err: unknown): Promise<unknown> {
  const { ctx } = run;
  const e = err instanceof FwShardError ? err : null;
  const message = err instanceof Error ? err.message : String(err);
  const flipped = run.mappingFlipped;
  // A run that lost the move to another runner leaves the journal to that runner.
  const lostIt = ['lock-lost', 'lock-silent'].includes(stopCauseOf(ctx.signal)?.kind ?? '');
  if (!lostIt) await ctx.journal.setError(run.moveId, `${e?.code ?? 'INTERNAL'}: ${message}`).catch(() => undefined);
  await run.loadTotals(); // the partial result counts the whole move too
  const hint = e?.hint ?? failedMoveHint(run.moveId, flipped);
  ctx.emit({ type: 'move.failed', code: e?.code ?? 'INTERNAL', message, mappingFlipped: flipped, nextStep: hint });
  if (!e) return err;
  const flippedNote = flipped
    ? `The mapping WAS flipped: user ${ctx.userId} now lives on shard ${ctx.to}.`
    : `The mapping was NOT flipped: user ${ctx.userId} still lives on shard ${ctx.from}.`;
  return new MoveFailedError(e, `${message}\n${flippedNote}`, hint, run.result(false, e.hint ?? '', { code: e.code, message }));
}

async function finishCleanup(run: MoveRun): Promise<MoveResult> {
  const { ctx } = run;
  // A deferred cleanup that `fw-shard cleanup` started and was stopped half-way is finished, not deferred again.
  const mode = run.phase === 'cleanup' && ctx.req.cleanup === 'defer' ? 'now' : ctx.req.cleanup;
  // The mapping points at the target now: no fence there may refuse the app (this move's `incoming`, or
  // the `moved` of an earlier move of the user away from this shard).
  await guards(ctx).target.clear(ctx.userId, null, { states: ['incoming', 'moved'], changes: false });
  // The target's triggers and tables go now unless another fence there needs them (guard-lifecycle.ts).
  await retireQuietly(ctx, 'target');
  if (mode === 'keep') {
    await run.end('done');
    return run.finished(`done: user ${ctx.userId} lives on shard ${ctx.to}; its rows on shard ${ctx.from} were kept (--cleanup keep).`);
  }
  if (mode === 'defer') {
    await run.enter('cleanup-pending');
    return run.finished(
      `user ${ctx.userId} lives on shard ${ctx.to}. Its rows on shard ${ctx.from} are deleted by \`fw-shard cleanup --older-than 15m\` (run it from cron, after cached user rows have expired).`,
    );
  }
  ctx.checkAborted();
  // The comparison before each delete hashes the columns the plan has: they must still be the table's,
  // checked before the cleanup and before each range's delete. Otherwise the move ends as with
  // --cleanup keep would (what was not deleted stays, the user lives on the target) and says so.
  const columnsStill = () => checkSchema(run, { only: ['columns', 'keys'] });
  const endKeeping = async (err: unknown): Promise<never> => {
    if (err instanceof FwShardError && err.code === 'SCHEMA_CHANGED') await run.end('done');
    throw err;
  };
  await columnsStill().catch(endKeeping);
  await run.enterCleanup();
  const outcome = await ctx.timed('cleanup', run.timings, () => cleanupSource(ctx, run.pf.tables, columnsStill, cleanupProofs(run))).catch(endKeeping);
  // The source's fence stays `moved` for the retention (guard-lifecycle.ts): a stale app server's late
  // write is refused rather than orphaned; `fw-shard cleanup` lifts it afterwards.
  await guards(ctx).source.clear(ctx.userId, run.moveId, { states: ['capturing'], changes: true });
  // From here the move is over (the user lives on the target; every row proven was deleted here).
  // Rows kept are orphans now: reported, listed by verify, never deleted without a proof or a comparison.
  await run.end('done');
  const kept = outcome.stale.rows + outcome.unproven.rows;
  if (kept > 0n) {
    const staleNote =
      outcome.stale.rows > 0n
        ? `${outcome.stale.rows} changed on shard ${ctx.from} after the final verification (writes that reached the old shard after the flip: a stale app server?) and differ from shard ${ctx.to}`
        : '';
    const unprovenNote =
      outcome.unproven.rows > 0n
        ? `${outcome.unproven.rows} in ranges no proof covers (a table a cascading foreign key can change, or a fence lifted before this cleanup) differ from shard ${ctx.to}`
        : '';
    throw new FwShardError(
      'DATA_MISMATCH',
      `move ${run.moveId} is done, but ${kept} row(s) of user ${ctx.userId} were kept on shard ${ctx.from}: ${[staleNote, unprovenNote].filter(Boolean).join('; ')}. ${outcome.rowsDeleted} rows were deleted (${outcome.rowsProven} proven unchanged since the final verification):\n  ${[...outcome.stale.lines, ...outcome.unproven.lines].join('\n  ')}`,
      {
        hint:
          `User ${ctx.userId} lives on shard ${ctx.to}; the rows kept on shard ${ctx.from} are orphans now: fw-shard verify --user ${ctx.userId} --json lists them with their keys. ` +
          `A row there that holds a write the user needs is read with the key shown and written on shard ${ctx.to} by the app; then fw-shard cleanup --orphans --user ${ctx.userId} deletes every row identical on shard ${ctx.to}.`,
        details: { rowsKept: kept.toString(), stale: outcome.stale.rows.toString(), unproven: outcome.unproven.rows.toString() },
      },
    );
  }
  const proven =
    outcome.rowsProven > 0n && outcome.rowsProven < outcome.rowsDeleted ? ` (${outcome.rowsProven} of them proven unchanged since the final verification)` : '';
  return run.finished(
    `done: user ${ctx.userId} lives on shard ${ctx.to}; ${outcome.rowsDeleted} rows were deleted from shard ${ctx.from}${proven}${
      outcome.rowsProven === outcome.rowsDeleted && outcome.rowsDeleted > 0n
        ? ', each range proven unchanged since the final verification'
        : ' after comparison with shard ' + ctx.to
    }${outcome.sharedStayed > 0n ? `; ${outcome.sharedStayed} shared row(s) stayed there, where other users' rows refer to them` : ''}.`,
  );
}

/**
 * The cleanup's fence proof (phases/cleanup.ts): trigger mode only, and only for tables no cascading
 * foreign key can change without a trigger.
 */
function cleanupProofs(run: MoveRun): CleanupProofs {
  const { ctx } = run;
  if (!ctx.online || run.pf.capture.mode !== 'trigger') return NO_PROOFS;
  const cascaded = new Set([...run.pf.cascades.edges.map((e) => e.child), ...run.pf.cascades.wholeUnderFreeze.keys()]);
  // The recorded fingerprint, read once for the whole cleanup rather than once per range.
  let recorded: Promise<string | null> | undefined;
  return {
    fenced: (t) =>
      cascaded.has(t.name)
        ? undefined
        : async (s) => {
            // No fence table (dropped by hand): nothing refuses the user's writes there, nothing is proven.
            const [f] = await s.rows<{ state: unknown; move_id: unknown }>(fenceOfLockedSql(ctx.userId)).catch(() => []);
            if (!f || String(f.state) !== 'moved' || String(f.move_id) !== run.moveId) return false;
            return sourceTriggersAsRecorded(run, s, t.name, await (recorded ??= ctx.journal.schemaFingerprint(run.moveId)));
          },
  };
}

/**
 * Drop fw-shard's objects from one shard of the move if no fence there needs them. Never fails the move:
 * a busy table or a missing grant leaves them for `fw-shard cleanup`, and says so.
 */
async function retireQuietly(ctx: RunContext, side: 'source' | 'target'): Promise<void> {
  const shard = side === 'source' ? ctx.from : ctx.to;
  try {
    const r = await retireIfUnused(guards(ctx)[side]);
    if (r.busy.length > 0)
      ctx.emit({
        type: 'warning',
        message: `shard ${shard}: fw-shard's triggers on ${r.busy.join(', ')} stay for now (the table was busy: dropping them would have made the app's queries wait); fw-shard cleanup drops them later`,
      });
  } catch (err) {
    ctx.emit({
      type: 'warning',
      message: `shard ${shard}: fw-shard's triggers and tables could not be dropped (${(err as Error).message}); fw-shard cleanup drops them later`,
    });
  }
}

async function invalidateCache(ctx: RunContext): Promise<void> {
  if (!ctx.deps.cache) return;
  try {
    const keys = await ctx.deps.cache.invalidateUser(ctx.userId);
    ctx.emit({ type: 'cache.invalidated', keys });
  } catch (err) {
    ctx.emit({
      type: 'warning',
      message: `could not delete the cached user row from memcached (${(err as Error).message}): app servers may keep writing to shard ${ctx.from} until it expires; the cleanup will refuse to delete rows that changed`,
    });
  }
}

function describeActive(move: MoveRow, req: MoveRequest): MoveResult {
  const phase = parsePhase(move.phase, move.id);
  return {
    ok: true,
    moveId: move.id,
    userId: req.userId,
    from: Number(move.from_shard),
    to: req.to,
    phase,
    mappingFlipped: FLIPPED_PHASES.has(phase),
    dryRun: true,
    tables: [],
    timings: {},
    nextStep: `dry run: move ${move.id} of this user is unfinished (phase ${phase}); running without --dry-run resumes it.`,
  };
}

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
  const req: MoveRequest = { userId: move.user_id as UserId, to, dryRun: false, assumeNoWrites: true, chunkTimeMs: 500, concurrency: 1, cleanup: 'keep' };
  const ctx = new RunContext(new MoveContext(deps, req, move.user_id as UserId, from, to, opts.signal), move.id);
  await ctx.journal.claim(move);
  return completeAbort(ctx, {});
}

/**
 * Remove what was copied to the target and end the move as aborted. Deletes only on the target, and only
 * while the mapping still points at the source: the target's rows of the user are then fw-shard's copies,
 * which nothing reads. The journal says `aborting` first, so a killed abort is finished by the next run.
 */
async function completeAbort(ctx: RunContext, timings: Record<string, number>): Promise<MoveResult> {
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
      return { ok: true, moveId, userId, from, to, phase: 'aborted', mappingFlipped: false, undoOf, tables: [], timings, nextStep };
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
    return {
      ok: true,
      moveId,
      userId,
      from,
      to,
      phase: 'aborted',
      mappingFlipped: false,
      tables: [],
      timings,
      nextStep: `aborted: user ${userId} stays on shard ${from}; ${deleted} copied rows were removed from shard ${to}.`,
    };
  } catch (err) {
    outcome = outcomeOf(err);
    throw err;
  } finally {
    await ctx.journal.release(moveId, outcome).catch(() => undefined);
  }
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
export function undoFacts(options: JournalOptionsValue | undefined): { targetFence: string | null } {
  const o = parseJournalOptions(options ?? null) as { undo?: { targetFence?: string | null } };
  return { targetFence: o.undo?.targetFence ?? null };
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

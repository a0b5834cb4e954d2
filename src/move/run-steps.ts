/**
 * The runner of one move (gh-ost's Migrator): `execute` takes a MoveRun from the phase the journal
 * records to its end, step by step (copy, the cut-over of its mode, verify and flip, the cleanup), and
 * turns a failure into the typed error that says whether the mapping was flipped. The entry points that
 * resolve a request into a run are in engine.ts; the abort is in abort.ts.
 *
 * Invariants (the engine's, kept here):
 *  - no source row is deleted unless its exact bytes are on the target at that moment (compared under a
 *    lock on the source row, src/move/phases/cleanup.ts);
 *  - the last comparison of every table before the flip comes after fw-shard's last write;
 *  - the mapping flips only after a full verification, by compare-and-set, in one transaction with the
 *    journal's `flipped` phase.
 */
import { MoveFailedError } from './move-error.js';
import { FwShardError } from '../errors/index.js';
import { copyStartedSql } from '../db/sql/journal.js';
import { RunContext, stopCauseOf } from './run-context.js';
import { MoveRun } from './move-run.js';
import { assertNever, stepFrom } from './phase.js';
import { copyTables } from './phases/copy.js';
import { resyncTables } from './phases/resync.js';
import { verifyAll } from './phases/verify.js';
import { cleanupSource, NO_PROOFS, type CleanupProofs } from './phases/cleanup.js';
import { fenceOfLockedSql } from '../db/sql/guard.js';
import type { WriteSettings } from './phases/sync.js';
import { DEFAULT_ONLINE, type MoveResult } from './types.js';
import { onlineCutover } from './phases/cutover.js';
import { fenceCutover } from './phases/fence-cutover.js';
import { flipMoved, guards, startCapture } from './capture.js';
import { checkSchema, sourceTriggersAsRecorded } from './schema-guard.js';
import { retireIfUnused } from './guard-lifecycle.js';
import { liftFreezeSql } from '../db/sql/freeze.js';
import { failedMoveHint } from './hints.js';

/** How a run ended, for the journal's trace of runs. */
export function outcomeOf(err: unknown, result?: MoveResult, signal?: AbortSignal): string {
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
  if (run.undoOf !== null) run.recordRowsCopied((await ctx.journal.tables(run.moveId)).reduce((n, r) => n + BigInt(r.rows_copied), 0n).toString());
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
    run.recordCutover(out);
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
  run.recordCutover(out);
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
export async function retireQuietly(ctx: RunContext, side: 'source' | 'target'): Promise<void> {
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

/**
 * The move engine: preflight → copy → verify → flip → cleanup, each phase recording its intent in the
 * journal before it acts, with a cancellation check between chunks and phases (never inside the flip).
 *
 * Invariants:
 *  - no source row is deleted unless the same range was verified equal on the target and still hashes
 *    as it did then;
 *  - the mapping flips only after a full verification, by compare-and-set, in one transaction with the
 *    journal's `flipped` phase;
 *  - a failure leaves a resumable move; every error says whether the mapping was flipped.
 */
import { FwShardError } from '../errors/index.js';
import { mappingEndpoint, type ShardId, type UserId } from '../topology/index.js';
import { nextTicketSql } from '../db/sql/journal.js';
import { copyStartedSql, flippedAtSql } from '../db/sql/journal.js';
import { Inspector } from './inspector.js';
import { FLIPPED_PHASES, JournalReader, type MoveRow } from './journal.js';
import { RunContext } from './run-context.js';
import { preflight, type Preflight } from './phases/preflight.js';
import { copyTables } from './phases/copy.js';
import { verifyAll } from './phases/verify.js';
import { cleanupSource } from './phases/cleanup.js';
import { planTable } from './table-plan.js';
import type { Settings } from './phases/sync.js';
import { DEFAULT_ONLINE, type CleanupMode, type MoveDeps, type MoveRequest, type MoveResult, type TableReport } from './types.js';
import { onlineCutover } from './phases/cutover.js';
import { liftFreezeSql } from '../db/sql/freeze.js';

const HEARTBEAT_MS = 5000;

export interface RunOptions {
  signal?: AbortSignal;
}

/** `fw-shard move`: start a move, or continue the user's unfinished one to the same shard. */
export async function runMove(deps: MoveDeps, req: MoveRequest, opts: RunOptions = {}): Promise<MoveResult> {
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
        { hint: `Finish it with fw-shard resume ${active.id}, or undo it with fw-shard abort ${active.id}, before moving the user elsewhere.` },
      );
    }
    if (req.dryRun) return describeActive(active, req);
    return continueMove(deps, active, req, opts, timings, started);
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
      ok: true, moveId: null, userId: req.userId, from, to: req.to, phase: 'none', mappingFlipped: false, nothingToDo: true,
      tables: [], timings, nextStep: `nothing to do: user ${req.userId} is already on shard ${req.to}`,
    };
  }

  const ctx = new RunContext(deps, req, req.userId, from as ShardId, req.to, opts.signal);
  const pf = await ctx.timed('preflight', timings, () => preflight(ctx, { resuming: false }));
  if (req.dryRun) {
    return {
      ok: true, moveId: null, userId: req.userId, from, to: req.to, phase: 'preflight', mappingFlipped: false, dryRun: true,
      plan: pf.plan, tables: pf.plan.tables, timings,
      nextStep: `dry run: nothing was written. Run the same command without --dry-run to move user ${req.userId}.`,
    };
  }
  ctx.checkAborted();
  await deps.beforeStart?.({ userId: req.userId, from, to: req.to, totalRows: pf.plan.totalRows });

  await ctx.journal.ensureTables();
  const ticket = await nextTicket(deps);
  const created = await ctx.journal.create({
    id: ticket, userId: req.userId, from, to: req.to, phase: 'copy', cleanupMode: req.cleanup,
    options: JSON.stringify({ chunkTimeMs: req.chunkTimeMs, chunkSize: req.chunkSize ?? null, concurrency: req.concurrency, assumeNoWrites: req.assumeNoWrites }),
  });
  if (created.existing) {
    // Another runner created a move for this user between our check and our insert.
    if (Number(created.existing.to_shard) !== req.to) {
      throw new FwShardError('BUSY', `user ${req.userId} is being moved to shard ${created.existing.to_shard} by another runner (move ${created.existing.id})`, {
        hint: 'Let it finish; fw-shard moves shows it.',
      });
    }
    return continueMove(deps, created.existing, req, opts, timings, started);
  }
  ctx.moveId = created.id;
  for (const t of pf.plan.tables) await ctx.journal.addTable(created.id, t.name, t.rows);
  return execute(ctx, pf, 'copy', false, timings, started);
}

/** `fw-shard resume ID`. */
export async function resumeMove(deps: MoveDeps, moveId: string, req: Omit<MoveRequest, 'userId' | 'to' | 'cleanup'> & { cleanup?: CleanupMode }, opts: RunOptions = {}): Promise<MoveResult> {
  const reader = new JournalReader(deps.connect(mappingEndpoint(deps.topology)));
  const move = await reader.get(moveId);
  if (!move) throw new FwShardError('MOVE_NOT_FOUND', `no move ${moveId} in the journal`, { hint: 'fw-shard moves --all lists the moves.' });
  if (move.state !== 'active') {
    throw new FwShardError('PRECONDITION', `move ${moveId} is already ${move.state}`, { hint: 'Nothing to resume; fw-shard moves --all shows its outcome.' });
  }
  const full: MoveRequest = { ...req, userId: move.user_id as UserId, to: Number(move.to_shard) as ShardId, cleanup: req.cleanup ?? (move.cleanup_mode as CleanupMode) };
  return continueMove(deps, move, full, opts, {}, deps.clock.now().getTime());
}

async function continueMove(deps: MoveDeps, move: MoveRow, req: MoveRequest, opts: RunOptions, timings: Record<string, number>, started: number): Promise<MoveResult> {
  const from = Number(move.from_shard) as ShardId;
  for (const s of [from, req.to]) {
    if (!deps.topology.shards.has(s)) {
      throw new FwShardError('PRECONDITION', `move ${move.id} involves shard ${s}, which is no longer in the topology`, { hint: `Put shard ${s} back in the config to resume or abort the move.` });
    }
  }
  const ctx = new RunContext(deps, req, move.user_id as UserId, from, req.to, opts.signal);
  ctx.moveId = move.id;
  await ctx.journal.claim(move);
  const pf = await ctx.timed('preflight', timings, () => preflight(ctx, { resuming: true }));
  for (const t of pf.plan.tables) await ctx.journal.addTable(move.id, t.name, t.rows); // tables added since (no-op otherwise)
  return execute(ctx, pf, move.phase, true, timings, started);
}

// Online moves go copy → delta → freeze → flipped; offline ones copy → verify → flip → flipped.
const ORDER = ['copy', 'delta', 'freeze', 'verify', 'flip', 'flipped', 'cleanup-pending', 'cleanup', 'done'];
const reached = (phase: string, p: string) => ORDER.indexOf(phase) >= ORDER.indexOf(p);

async function execute(ctx: RunContext, pf: Preflight, phase: string, resumed: boolean, timings: Record<string, number>, started: number): Promise<MoveResult> {
  const { journal } = ctx;
  const moveId = ctx.moveId!;
  const reports = new Map<string, TableReport>(pf.plan.tables.map((t) => [t.name, { ...t }]));
  const settings: Settings = { sqlMode: pf.sqlMode, maxBytes: Math.max(64 * 1024, Math.min(4 * 1024 * 1024, Math.floor(pf.maxPacket / 4))) };
  let mappingFlipped = FLIPPED_PHASES.has(phase);
  let current = phase;
  const heartbeat = setInterval(() => void journal.heartbeat(moveId).catch(() => undefined), HEARTBEAT_MS);
  heartbeat.unref?.();
  ctx.emit({ type: 'move.started', userId: ctx.userId, from: ctx.from, to: ctx.to, mode: ctx.req.assumeNoWrites ? 'offline' : 'online', resumed });
  for (const t of pf.plan.tables) ctx.emit({ type: 'table.planned', table: t.name, rows: t.rows, key: t.key });
  if (resumed) {
    // A runner killed inside its freeze leaves the row behind until it expires: lift it now.
    await ctx.mapping.db.exec(liftFreezeSql(ctx.userId, moveId)).catch(() => undefined);
  }
  const result = (ok: boolean, nextStep: string, error?: { code: string; message: string }): MoveResult => {
    timings.totalMs = ctx.nowMs() - started;
    return {
      ok, moveId, userId: ctx.userId, from: ctx.from, to: ctx.to, phase: current, mappingFlipped, resumed,
      plan: pf.plan, tables: [...reports.values()], timings, nextStep, ...(error ? { error } : {}),
      ...(freezeMs !== undefined ? { freezeMs } : {}), ...(deltaPasses !== undefined ? { deltaPasses } : {}),
    };
  };
  let freezeMs: number | undefined;
  let deltaPasses: number | undefined;
  try {
    if (!reached(phase, 'delta')) {
      current = 'copy';
      await journal.setPhase(moveId, 'copy', copyStartedSql());
      const rows = new Map((await journal.tables(moveId)).map((r) => [r.table_name, r]));
      await ctx.timed('copy', timings, () => copyTables(ctx, pf.tables, settings, rows, reports));
    }
    if (ctx.online && !reached(phase, 'flipped')) {
      // A freeze left by a killed runner (phase 'freeze') has expired or will: start from the delta passes.
      ctx.checkAborted();
      current = 'delta';
      await journal.setPhase(moveId, 'delta');
      const online = ctx.req.online ?? DEFAULT_ONLINE;
      const out = await ctx.timed('delta', timings, () => onlineCutover(ctx, pf.tables, settings, online, () => invalidateCache(ctx)));
      freezeMs = out.freezeMs;
      deltaPasses = out.deltaPasses;
      timings.freezeMs = out.freezeMs;
      mappingFlipped = true;
      current = 'flipped';
    }
    // Offline, a run that stopped after its verification (phase 'flip') verifies again: anything may have
    // written to either shard while no runner was watching.
    if (!ctx.online && !reached(phase, 'flipped')) {
      ctx.checkAborted();
      current = 'verify';
      await journal.setPhase(moveId, 'verify');
      await ctx.timed('verify', timings, () => verifyAll(ctx, pf.tables, settings, reports));
    }
    if (!ctx.online && !reached(phase, 'flipped')) {
      ctx.checkAborted();
      current = 'flip';
      await journal.setPhase(moveId, 'flip');
      // From here to the flip's commit there is no cancellation check: the flip is one transaction.
      await ctx.timed('flip', timings, () => ctx.mapping.app.flip(ctx.deps.topology.mapping, ctx.userId, ctx.from, ctx.to, moveId, flippedAtSql()));
      mappingFlipped = true;
      current = 'flipped';
      ctx.emit({ type: 'mapping.flipped', userId: ctx.userId, from: ctx.from, to: ctx.to });
      await invalidateCache(ctx);
    }
    if (current === 'flipped' || phase === 'flipped' || phase === 'cleanup-pending' || phase === 'cleanup') {
      return await finishCleanup(ctx, pf, phase, timings, result, (p) => (current = p));
    }
    return result(true, `move ${moveId} is ${current}`);
  } catch (err) {
    const e = err instanceof FwShardError ? err : null;
    const message = err instanceof Error ? err.message : String(err);
    await journal.setError(moveId, `${e?.code ?? 'INTERNAL'}: ${message}`).catch(() => undefined);
    const nextStep = e?.hint ?? `fw-shard resume ${moveId} continues the move; fw-shard abort ${moveId} undoes it${mappingFlipped ? ' (not possible after the flip)' : ''}.`;
    ctx.emit({ type: 'move.failed', code: e?.code ?? 'INTERNAL', message, mappingFlipped, nextStep });
    if (e) {
      const flippedNote = mappingFlipped
        ? `The mapping WAS flipped: user ${ctx.userId} now lives on shard ${ctx.to}.`
        : `The mapping was NOT flipped: user ${ctx.userId} still lives on shard ${ctx.from}.`;
      throw new FwShardError(e.code, `${message}\n${flippedNote}`, {
        hint: e.hint ?? `fw-shard resume ${moveId} continues the move; fw-shard abort ${moveId} undoes it${mappingFlipped ? ' (not possible after the flip)' : ''}.`,
        details: { ...(e.details ?? {}), partialResult: result(false, e.hint ?? '', { code: e.code, message }) },
      });
    }
    throw err;
  } finally {
    clearInterval(heartbeat);
    await journal.release(moveId).catch(() => undefined);
  }
}

async function finishCleanup(
  ctx: RunContext,
  pf: Preflight,
  phase: string,
  timings: Record<string, number>,
  result: (ok: boolean, next: string, error?: { code: string; message: string }) => MoveResult,
  setCurrent: (p: string) => void,
): Promise<MoveResult> {
  const moveId = ctx.moveId!;
  const mode = ctx.req.cleanup;
  if (mode === 'keep') {
    await ctx.journal.finish(moveId, 'done', 'done');
    setCurrent('done');
    const nextStep = `done: user ${ctx.userId} lives on shard ${ctx.to}; its rows on shard ${ctx.from} were kept (--cleanup keep).`;
    const done = result(true, nextStep);
    ctx.emit({ type: 'move.finished', phase: 'done', mappingFlipped: true, ms: done.timings.totalMs ?? 0, nextStep });
    return done;
  }
  if (mode === 'defer') {
    if (phase !== 'cleanup-pending') await ctx.journal.setPhase(moveId, 'cleanup-pending');
    setCurrent('cleanup-pending');
    const nextStep = `user ${ctx.userId} lives on shard ${ctx.to}. Its rows on shard ${ctx.from} are deleted by \`fw-shard cleanup --older-than 15m\` (run it from cron, after cached user rows have expired).`;
    const done = result(true, nextStep);
    ctx.emit({ type: 'move.finished', phase: 'cleanup-pending', mappingFlipped: true, ms: done.timings.totalMs ?? 0, nextStep });
    return done;
  }
  ctx.checkAborted();
  setCurrent('cleanup');
  await ctx.journal.setPhase(moveId, 'cleanup');
  const outcome = await ctx.timed('cleanup', timings, () => cleanupSource(ctx, pf.tables));
  const verifyHint = `fw-shard verify --user ${ctx.userId} lists them`;
  if (outcome.stale.lines.length > 0) {
    // The move is over (the user lives on the target; every row proven there was deleted here). The
    // rows kept are orphans now: reported loudly, listed by verify, never deleted without a comparison.
    await ctx.journal.finish(moveId, 'done', 'done');
    setCurrent('done');
    throw new FwShardError(
      'DATA_MISMATCH',
      `move ${moveId} is done, but rows of user ${ctx.userId} on shard ${ctx.from} changed after the final verification (writes that reached the old shard after the flip: a stale app server?) and are not on shard ${ctx.to}; ${outcome.stale.rows + outcome.superseded.rows} row(s) were kept there, ${outcome.rowsDeleted} rows proven on shard ${ctx.to} were deleted:\n  ${[...outcome.stale.lines, ...outcome.superseded.lines].join('\n  ')}`,
      {
        hint: `User ${ctx.userId} lives on shard ${ctx.to}; the rows kept on shard ${ctx.from} are orphans now (${verifyHint}). Copy over by hand any write that exists only there; fw-shard cleanup --orphans --user ${ctx.userId} then deletes those identical on shard ${ctx.to}.`,
        details: { rowsKept: (outcome.stale.rows + outcome.superseded.rows).toString() },
      },
    );
  }
  if (outcome.superseded.lines.length > 0) {
    ctx.emit({
      type: 'warning',
      message: `${outcome.superseded.rows} row(s) of user ${ctx.userId} changed on shard ${ctx.to} since the final verification (the app's writes after the flip), so their old versions were not proven there and stay on shard ${ctx.from}:\n  ${outcome.superseded.lines.join('\n  ')}`,
    });
    await ctx.journal.finish(moveId, 'done', 'done');
    setCurrent('done');
    const nextStep = `done: user ${ctx.userId} lives on shard ${ctx.to}; ${outcome.rowsDeleted} rows were deleted from shard ${ctx.from} after comparison with shard ${ctx.to}; ${outcome.superseded.rows} old version(s) of rows changed on shard ${ctx.to} since the flip were kept on shard ${ctx.from} (${verifyHint}).`;
    const done = result(true, nextStep);
    ctx.emit({ type: 'move.finished', phase: 'done', mappingFlipped: true, ms: done.timings.totalMs ?? 0, nextStep });
    return done;
  }
  await ctx.journal.finish(moveId, 'done', 'done');
  setCurrent('done');
  const nextStep = `done: user ${ctx.userId} lives on shard ${ctx.to}; ${outcome.rowsDeleted} rows were deleted from shard ${ctx.from} after comparison with shard ${ctx.to}.`;
  const done = result(true, nextStep);
  ctx.emit({ type: 'move.finished', phase: 'done', mappingFlipped: true, ms: done.timings.totalMs ?? 0, nextStep });
  return done;
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

/** A move id from the ticket servers, as every Flamework id; null (the journal's own counter) without them. */
async function nextTicket(deps: MoveDeps): Promise<string | null> {
  const servers = [...deps.topology.tickets].sort(() => Math.random() - 0.5);
  for (const e of servers) {
    try {
      const r = await deps.connect(e).exec(nextTicketSql());
      if (r.insertId && r.insertId !== '0') return r.insertId;
    } catch {
      // try the next ticket server; without any, the journal numbers the move itself
    }
  }
  return null;
}

function describeActive(move: MoveRow, req: MoveRequest): MoveResult {
  return {
    ok: true, moveId: move.id, userId: req.userId, from: Number(move.from_shard), to: req.to, phase: move.phase,
    mappingFlipped: FLIPPED_PHASES.has(move.phase), dryRun: true, tables: [], timings: {},
    nextStep: `dry run: move ${move.id} of this user is unfinished (phase ${move.phase}); running without --dry-run resumes it.`,
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
  if (move.state !== 'active') throw new FwShardError('PRECONDITION', `move ${move.id} is already ${move.state}; nothing to abort`);
  const from = Number(move.from_shard) as ShardId;
  const to = Number(move.to_shard) as ShardId;
  if (FLIPPED_PHASES.has(move.phase)) {
    throw new FwShardError('ALREADY_FLIPPED', `move ${move.id} already flipped user ${move.user_id} to shard ${to}; aborting now would lose the writes made there since`, {
      hint: `Finish it (fw-shard resume ${move.id} --cleanup keep keeps the old rows), then move the user back: fw-shard move --user ${move.user_id} --to ${from}.`,
    });
  }
  const req: MoveRequest = { userId: move.user_id as UserId, to, dryRun: false, assumeNoWrites: true, chunkTimeMs: 500, concurrency: 1, cleanup: 'keep' };
  const ctx = new RunContext(deps, req, move.user_id as UserId, from, to, opts.signal);
  ctx.moveId = move.id;
  await ctx.journal.claim(move);
  const timings: Record<string, number> = {};
  try {
    // The mapping must still point at the source: rows on the target are then only our copies.
    const placed = await ctx.mapping.insp.placement(deps.topology.mapping, move.user_id);
    if (placed === to) {
      throw new FwShardError('ALREADY_FLIPPED', `user ${move.user_id} is mapped to shard ${to} already; refusing to delete its rows there`, {
        hint: 'Check the mapping by hand: the journal says the flip did not happen.',
      });
    }
    await ctx.journal.setPhase(move.id, 'aborting');
    const tables = await ctx.journal.tables(move.id);
    const schema = await ctx.target.insp.schema();
    let deleted = 0;
    await ctx.timed('abort', timings, async () => {
      for (const row of tables) {
        const info = schema.get(row.table_name);
        if (!info) continue;
        const owner = deps.topology.tables.owners[row.table_name] ?? deps.topology.tables.ownerColumn;
        deleted += await ctx.target.app.deleteAllUserRows(planTable(info, owner), move.user_id);
      }
    });
    await ctx.journal.finish(move.id, 'aborted', 'aborted');
    return {
      ok: true, moveId: move.id, userId: move.user_id, from, to, phase: 'aborted', mappingFlipped: false, tables: [], timings,
      nextStep: `aborted: user ${move.user_id} stays on shard ${from}; ${deleted} copied rows were removed from shard ${to}.`,
    };
  } finally {
    await ctx.journal.release(move.id).catch(() => undefined);
  }
}

/** `fw-shard cleanup`: finish deferred cleanups whose flip is older than `olderThanSeconds`. */
export async function runDeferredCleanups(deps: MoveDeps, olderThanSeconds: number, base: Omit<MoveRequest, 'userId' | 'to' | 'cleanup'>, opts: RunOptions = {}): Promise<MoveResult[]> {
  const reader = new JournalReader(deps.connect(mappingEndpoint(deps.topology)));
  const due = await reader.cleanupDue(olderThanSeconds);
  const out: MoveResult[] = [];
  for (const m of due) {
    if (opts.signal?.aborted) break;
    out.push(await resumeMove(deps, m.id, { ...base, cleanup: 'now' }, opts));
  }
  return out;
}

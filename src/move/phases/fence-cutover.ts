/**
 * Online cut-over in trigger mode: the user's changes are captured inside the source shard (a change
 * log written by fw-shard's triggers in the writer's own transaction) and the user is fenced there, so
 * the freeze costs what changed, not what the user owns, and no write can land on the old shard after
 * the flip whatever the app does.
 *
 *  1. Capture starts before the copy (startCapture): the target's fence says `incoming` (the app's
 *     writes of the user are refused there), the source's says `capturing`, and fw-shard waits until
 *     every transaction that wrote before that has ended, so the copy sees all of them.
 *  2. Log passes: the committed changes are applied (delete by key on the target, copy the source's
 *     current rows) and removed from the log, until a pass is small.
 *  3. One full comparison of every range on both servers, outside the freeze (deltaPass final), so
 *     that what the copy and the log passes wrote is proven; from its start on, every key taken from the
 *     log is remembered (S).
 *  4. The freeze (Guard.holdFreeze): the fence row is held `frozen`, which waits for the user's in-flight
 *     writes and no longer; the rest of the log is applied; every key of S is compared row by row on both
 *     servers (keyless tables whole); then the fence becomes `moved` and commits.
 *  5. The flip (compare-and-set on the mapping); the target's fence is lifted; the cached user row goes.
 *
 * Why comparing S is enough: a key outside S did not change on the source since step 3 compared its
 * range (every committed change is in the log, and nothing is taken from the log unseen), and nothing
 * but fw-shard writes the user's rows on the target (the incoming fence; fw-shard's own sessions are
 * the only ones its triggers let through). A crash after `moved` and before the flip leaves the user
 * refused on both shards until the next run flips it (resumeMovedFence).
 */
import { FwShardError } from '../../errors/index.js';
import { isLockWaitOrDeadlock, isLockWaitTimeout } from '../../db/errors.js';
import { freezeEndedSql } from '../../db/sql/journal.js';
import { pingSql } from '../../db/sql/server.js';
import type { KeyTuple } from '../../db/sql/rows.js';
import type { MoveRun } from '../move-run.js';
import type { RunContext } from '../run-context.js';
import type { TablePlan } from '../table-plan.js';
import type { OnlineOptions } from '../types.js';
import { DeadlineExceeded, deltaPass } from './delta.js';
import { compareRange, recopyRange, type WriteSettings } from './sync.js';
import { showKey } from '../keys.js';
import { cascadeLevels, NO_CASCADES, type CascadeGraph } from '../cascades.js';
import { expandCascades, foreignParented, keyId, type BatchEntry } from './cascade-expand.js';
import { checkSchema } from '../schema-guard.js';
import { flipMoved, guards } from '../capture.js';

const LOG_BATCH = 2000;

/** Keys taken from the log since the last full comparison, per table; a keyless table is compared whole. */
class TouchedKeys {
  readonly keys = new Map<string, Map<string, KeyTuple>>();
  readonly keyless = new Set<string>();
  add(table: string, key: KeyTuple | null): void {
    if (key === null) {
      this.keyless.add(table);
      return;
    }
    let m = this.keys.get(table);
    if (!m) this.keys.set(table, (m = new Map()));
    m.set(key.map((b) => b.toString('hex')).join(':'), key);
  }
  get size(): number {
    let n = this.keyless.size;
    for (const m of this.keys.values()) n += m.size;
    return n;
  }
}

/**
 * Step 2: apply the committed changes of the log to the target and delete exactly those log rows.
 * Ranges of tables written this way get their records marked dirty: the full comparison re-records them.
 */
export async function applyLog(
  ctx: RunContext,
  tables: readonly TablePlan[],
  s: WriteSettings,
  touched: TouchedKeys | null,
  cascades: CascadeGraph = NO_CASCADES,
  /** Rows re-synced with every pass whatever the log says (cascade-expand.ts foreignParented). */
  sticky: ReadonlyMap<string, BatchEntry> = new Map(),
): Promise<{ changes: number; rows: number }> {
  const g = guards(ctx);
  const byName = new Map(tables.map((t) => [t.name, t]));
  const rank = new Map(cascadeLevels(cascades, tables).flatMap((level, i) => level.map((t) => [t.name, i] as const)));
  let changes = 0;
  let rows = 0;
  for (let first = true; ; first = false) {
    const batch = await g.source.readChanges(ctx.userId, LOG_BATCH);
    if (batch.length === 0 && !(first && sticky.size > 0)) break;
    const perTable = new Map<string, BatchEntry>();
    if (first) for (const [name, e] of sticky) perTable.set(name, { keys: new Map(e.keys), whole: e.whole, refs: [] });
    for (const c of batch) {
      let e = perTable.get(c.table);
      if (!e) perTable.set(c.table, (e = { keys: new Map(), whole: false, refs: [] }));
      if (c.key === null) e.whole = true;
      else e.keys.set(keyId(c.key), c.key);
      if (c.refs) e.refs.push(c.refs);
    }
    // The child rows the batch's changes cascaded into (no trigger fired for them), read before any
    // of the batch is applied: the target still holds each parent row as fw-shard last synced it.
    await expandCascades(ctx, cascades, byName, perTable);
    for (const [name, e] of perTable) {
      if (e.whole) touched?.add(name, null);
      for (const k of e.keys.values()) touched?.add(name, k);
    }
    // Parents before children (cascades.ts says why).
    for (const [name, e] of [...perTable].sort(([a], [b]) => (rank.get(a) ?? 0) - (rank.get(b) ?? 0))) {
      const t = byName.get(name);
      if (!t) continue; // a table no longer selected: its changes do not move
      await ctx.journal.markDirty(ctx.moveId, t.name);
      if (e.whole || !t.key) {
        rows += await recopyRange(ctx, t, s, null, null);
        continue;
      }
      const keys = [...e.keys.values()];
      for (let i = 0; i < keys.length; i += 500) {
        const part = keys.slice(i, i + 500);
        const current = await ctx.source.insp.readKeys(t, ctx.userId, part);
        await ctx.target.applier.replaceKeys(t, ctx.userId, part, current, s);
        rows += current.length;
      }
    }
    if (batch.length > 0) await g.source.deleteChanges(batch.map((c) => c.seq));
    changes += batch.length;
    if (batch.length < LOG_BATCH) break;
  }
  return { changes, rows };
}

/** Step 4's check: every touched key identical on both servers (or absent from both); keyless tables whole. */
async function compareTouched(ctx: RunContext, tables: readonly TablePlan[], touched: TouchedKeys): Promise<string[]> {
  const bad: string[] = [];
  for (const t of tables) {
    if (touched.keyless.has(t.name) || (!t.key && touched.keys.has(t.name))) {
      if (!(await compareRange(ctx, t, null, null)).equal) bad.push(`${t.name} (compared whole, differs)`);
      continue;
    }
    const keys = [...(touched.keys.get(t.name)?.values() ?? [])];
    for (let i = 0; i < keys.length; i += 1000) {
      const part = keys.slice(i, i + 1000);
      const [a, b] = await Promise.all([ctx.source.insp.rowHashesOfKeys(t, ctx.userId, part), ctx.target.insp.rowHashesOfKeys(t, ctx.userId, part)]);
      const names = t.key!.map((c) => c.name);
      for (const k of part) {
        const id = k.map((x) => x.toString('hex')).join(':');
        if (a.get(id)?.md5 !== b.get(id)?.md5) bad.push(`${t.name} ${showKey(names, k)}`);
      }
    }
  }
  return bad;
}

interface FenceCutoverOutcome {
  freezeMs: number;
  deltaPasses: number;
}

/** Steps 2 to 5. */
export async function fenceCutover(
  run: MoveRun,
  s: WriteSettings,
  o: OnlineOptions,
  mariadb: boolean,
  invalidateCache: () => Promise<void>,
): Promise<FenceCutoverOutcome> {
  const { ctx, moveId } = run;
  const tables = run.pf.tables;
  const graph = run.pf.cascades;
  const g = guards(ctx);
  let passes = 0;
  let lastReason = '';
  let touched: TouchedKeys | null = null;
  let sticky = new Map<string, BatchEntry>();
  for (let attempt = 1; attempt <= o.freezeAttempts; attempt++) {
    // Log passes until one is small.
    for (let p = 0; p < o.maxDeltaPasses; p++) {
      ctx.checkAborted();
      await checkSchema(run);
      const t0 = ctx.nowMs();
      const d = await applyLog(ctx, tables, s, touched, graph, sticky);
      passes++;
      run.deltaPassed(passes, d.changes, String(d.rows), ctx.nowMs() - t0);
      if (d.changes <= o.readyRows) break;
      await ctx.pause();
    }
    if (touched === null) {
      // Step 3, once per run: the full comparison (re-copying what differs, re-recording every range).
      const fresh = new TouchedKeys();
      // Tables a cascade reaches in ways the log cannot trace are compared whole under the freeze.
      for (const name of graph.wholeUnderFreeze.keys()) fresh.add(name, null);
      const t0 = ctx.nowMs();
      const full = await deltaPass(ctx, tables, s, { final: true, order: cascadeLevels(graph, tables) });
      passes++;
      run.deltaPassed(passes, full.rangesChanged, full.rowsRecopied.toString(), ctx.nowMs() - t0);
      touched = fresh;
      sticky = await foreignParented(ctx, graph, new Map(tables.map((x) => [x.name, x])));
      // What changed while the comparison ran is in the log: applied (and remembered) before the freeze.
      await applyLog(ctx, tables, s, touched, graph, sticky);
    }
    // Tables compared whole under the freeze change unseen by the log: re-synced by range first.
    const whole = tables.filter((t) => graph.wholeUnderFreeze.has(t.name));
    if (whole.length > 0) await deltaPass(ctx, whole, s, { final: false });
    await Promise.all([ctx.source.db.rows(pingSql()), ctx.target.db.rows(pingSql()), ctx.mapping.db.rows(pingSql())]);
    ctx.checkAborted();

    await run.freezeStarting();
    const frozenAt = ctx.nowMs();
    const deadline = frozenAt + o.freezeCapMs;
    ctx.emit({ type: 'freeze.started', attempt, capMs: o.freezeCapMs });
    let reason = 'final sync done';
    let moved = false;
    const t = touched;
    try {
      const held = await g.source.holdFreeze(ctx.userId, moveId, o.freezeCapMs, mariadb, async () => {
        const syncStarted = ctx.nowMs();
        const d = await applyLog(ctx, tables, s, t, graph, sticky);
        passes++;
        run.deltaPassed(passes, d.changes, String(d.rows), ctx.nowMs() - syncStarted);
        // Tables owned through a parent: a parent's change (an account handed to another user, or to
        // this one) changes which of their rows are the user's without a trigger of theirs firing, and
        // an app changes parents all the time. So they are re-synced range by range under the freeze,
        // after the log's parents (owner-paths.ts), not only compared.
        const owned = tables.filter((x) => x.via?.length);
        if (owned.length > 0) {
          const f = await deltaPass(ctx, owned, s, { final: true, deadline }).catch((err: unknown) =>
            err instanceof DeadlineExceeded ? null : Promise.reject(err),
          );
          if (f === null || !f.verified) {
            reason =
              f === null ? 'the final sync did not finish inside the freeze cap' : `rows differ after the final sync (${f.unstable.slice(0, 5).join('; ')})`;
            return false;
          }
        }
        const bad = await compareTouched(ctx, tables, t);
        if (bad.length > 0) {
          reason = `rows differ after the final sync (${bad.slice(0, 5).join('; ')})`;
          return false;
        }
        // The schema the comparisons assumed, fw-shard's triggers included, still holds at the last moment.
        await checkSchema(run);
        if (ctx.nowMs() > deadline) {
          reason = 'the final sync did not finish inside the freeze cap';
          return false;
        }
        return true;
      });
      moved = held.moved;
    } catch (err) {
      if (!isLockWaitTimeout(err) && !(err instanceof FwShardError && err.code === 'BUSY')) {
        await run.enter('delta', freezeEndedSql()).catch(() => undefined);
        throw err;
      }
      reason = 'an in-flight write of the user outlasted the freeze cap';
    }
    if (moved) {
      const flipWait = Math.max(1, (deadline - ctx.nowMs()) / 1000);
      if (await ctx.timed('flip', run.timings, () => flipOrUnmove(run, invalidateCache, flipWait))) {
        await run.enter('flipped', freezeEndedSql());
        const ms = ctx.nowMs() - frozenAt;
        await run.freezeEnded(ms, true, reason);
        return { freezeMs: ms, deltaPasses: passes };
      }
      reason = `the flip waited ${Math.ceil(flipWait)} s for the users row's lock (an app transaction holds it): the user's fence went back to capturing`;
    }
    await run.enter('delta', freezeEndedSql());
    await run.freezeEnded(ctx.nowMs() - frozenAt, false, reason);
    lastReason = reason;
  }
  throw new FwShardError('BUSY', `could not cut user ${ctx.userId} over inside a ${o.freezeCapMs} ms freeze: ${lastReason}`, {
    hint: `The copy is kept and the user's writes go on. Retry later (fw-shard resume ${moveId}), at a quieter time, or with a longer --freeze-cap.`,
  });
}

/**
 * The flip after the fence said `moved`, its wait for the users row bounded by the freeze cap. If it
 * does not happen, the fence goes back to `capturing` at once (the user is never left refused on both
 * shards by a lock wait) and the attempt is retried; an outcome that is not known (the connection lost
 * at COMMIT) is read again on a fresh connection first. True: flipped.
 */
async function flipOrUnmove(run: MoveRun, invalidateCache: () => Promise<void>, lockWaitSeconds: number): Promise<boolean> {
  const { ctx } = run;
  try {
    await flipMoved(run, invalidateCache, lockWaitSeconds);
    return true;
  } catch (err) {
    const shard = await ctx.mapping.insp.placement(ctx.deps.topology.mapping, ctx.userId);
    if (shard === ctx.to) {
      // It committed after all: lift the target's fence now; the next run finds the journal flipped.
      await guards(ctx).target.clear(ctx.userId, null, { states: ['incoming', 'moved'], changes: false });
      throw err;
    }
    await guards(ctx).source.unmove(ctx.userId, ctx.moveId);
    if (isLockWaitOrDeadlock(err)) return false;
    throw err;
  }
}

/**
 * Online moves, delta passes: the user kept writing to the source while the bulk was copied. Every
 * range recorded in the journal holds the hash of what the target has for it; a range whose source
 * hash differs changed since it was copied (inserts, including beyond the last key since the last
 * range is open-ended, updates and deletes alike) and is copied again. Works on any server, needs no
 * triggers, binary log or extra privileges; its cost is one hash of the user's source rows per pass.
 */
import { decodeKey } from '../keys.js';
import type { TablePlan } from '../table-plan.js';
import type { RunContext } from '../run-context.js';
import { forEachTable } from './for-each-table.js';
import { compareRange, isDirty, recopyRange, sameHash, targetChangedError, type WriteSettings } from './sync.js';
import type { RangeHash } from '../inspector.js';
import type { KeyTuple } from '../../db/sql/rows.js';

interface DeltaOutcome {
  rangesChanged: number;
  rowsRecopied: bigint;
  /** Final pass only: every range equal on both sides, compared after the last write of the pass. */
  verified: boolean;
  /** Final pass only: ranges that still differed after a re-copy (someone writes despite the freeze). */
  unstable: string[];
  /** Time spent working (pauses between ranges excluded): what the final pass under the freeze will take. */
  activeMs: number;
}

/**
 * One pass over every recorded range; a range whose source no longer hashes as its record changed
 * since fw-shard copied it and is repaired. Before fw-shard rewrites a range on the target, the target
 * must still hold what fw-shard wrote there (the record): otherwise something else writes the user's
 * rows on the target, and the move stops naming them rather than overwrite them.
 *
 * With `final` (under the freeze) every range is compared on both servers at once, live; if the pass
 * wrote anything, every table is then compared whole on both servers once more, so the last comparison
 * of each table comes after the last write to any table (nothing that a write to one table set off in
 * another, such as a cascade or a trigger, can go unseen).
 */
export async function deltaPass(
  ctx: RunContext,
  tables: TablePlan[],
  s: WriteSettings,
  opts: { final: boolean; deadline?: number; /** Groups of tables that run one after another (parents before children: cascades.ts). */ order?: TablePlan[][] },
): Promise<DeltaOutcome> {
  const out: DeltaOutcome = { rangesChanged: 0, rowsRecopied: 0n, verified: true, unstable: [], activeMs: 0 };
  const started = ctx.nowMs();
  let paused = 0;
  for (const group of opts.order ?? [tables]) await forEachTable(group, ctx.req.concurrency, passTable);
  async function passTable(t: TablePlan): Promise<void> {
    const chunks = await ctx.journal.chunks(ctx.moveId, t.name);
    if (chunks.length === 0 && opts.final) {
      // No range records (never expected once copied): nothing stands in, compare the whole table.
      if (!(await compareRange(ctx, t, null, null)).equal) {
        out.verified = false;
        out.unstable.push(`${t.name} (no range records; differs)`);
      }
      return;
    }
    for (const c of chunks) {
      ctx.checkAborted();
      if (opts.deadline !== undefined && ctx.nowMs() > opts.deadline) throw new DeadlineExceeded();
      const lo = decodeKey(c.lo);
      const hi = decodeKey(c.hi);
      const recorded = { count: String(c.row_count), hash: String(c.hash) };
      const dirty = isDirty(recorded.hash);
      let source: RangeHash;
      let target: RangeHash | null = null;
      if (opts.final) ({ source, target } = await compareRange(ctx, t, lo, hi));
      else source = await ctx.source.insp.hash(t, ctx.userId, lo, hi);
      if (!dirty && sameHash(source, recorded) && (target === null || sameHash(target, recorded))) {
        if (!opts.final) await pauseCounted();
        continue;
      }
      target ??= await ctx.target.insp.hash(t, ctx.userId, lo, hi);
      // (Not for a table owned through a parent: fw-shard's own writes of the parents change which of its
      // rows the target counts as the user's: Applier deleteStranded.)
      if (!dirty && !sameHash(target, recorded) && !t.via?.length) throw await targetChangedError(ctx, t, [{ lo, hi }]);
      if (sameHash(source, target)) {
        // Nothing to copy (fw-shard's own unfinished rewrite had finished after all): record it.
        await ctx.journal.updateChunk(ctx.moveId, t.name, c.seq, target.count, target.hash);
        continue;
      }
      out.rangesChanged++;
      await ctx.journal.markDirty(ctx.moveId, t.name, c.seq);
      out.rowsRecopied += BigInt(await repairRange(ctx, t, s, lo, hi));
      const cmp = await compareRange(ctx, t, lo, hi);
      await ctx.journal.updateChunk(ctx.moveId, t.name, c.seq, cmp.target.count, cmp.target.hash);
      if (opts.final && !cmp.equal) {
        out.verified = false;
        out.unstable.push(`${t.name} range ${c.seq}`);
      }
      if (!opts.final) await pauseCounted();
    }
  }
  if (opts.final && out.rangesChanged > 0 && out.verified) {
    // Written during this pass: compare every table again, whole, after the last write.
    await forEachTable(tables, ctx.req.concurrency, async (t) => {
      if (opts.deadline !== undefined && ctx.nowMs() > opts.deadline) throw new DeadlineExceeded();
      const whole = await compareRange(ctx, t, null, null);
      if (!whole.equal) {
        out.verified = false;
        out.unstable.push(`${t.name} (differs after the final sync)`);
      }
    });
  }
  // With tables in parallel the pauses overlap; this errs on the side of a longer estimate.
  out.activeMs = Math.max(0, ctx.nowMs() - started - Math.floor(paused / Math.max(1, Math.min(ctx.req.concurrency, tables.length))));
  return out;

  async function pauseCounted(): Promise<void> {
    const p0 = ctx.nowMs();
    await ctx.pause();
    paused += ctx.nowMs() - p0;
  }
}

export class DeadlineExceeded extends Error {
  constructor() {
    super('the final sync did not finish inside the freeze cap');
  }
}

/**
 * Bring one changed range up to date. A write usually touches a row or two of a range of thousands, so
 * compare per-row hashes (key + MD5, computed by each server) and re-copy only the rows that differ;
 * when much of the range changed (or the table has no key) re-copy the whole range instead. Returns
 * the number of rows copied.
 */
export async function repairRange(ctx: RunContext, t: TablePlan, s: WriteSettings, lo: KeyTuple | null, hi: KeyTuple | null): Promise<number> {
  if (!t.key) return recopyRange(ctx, t, s, lo, hi);
  const [src, tgt] = await Promise.all([ctx.source.insp.rowHashes(t, ctx.userId, lo, hi), ctx.target.insp.rowHashes(t, ctx.userId, lo, hi)]);
  const changed: KeyTuple[] = [];
  for (const [id, row] of src) {
    const other = tgt.get(id);
    if (!other || other.md5 !== row.md5) changed.push(row.key!);
  }
  for (const [id, row] of tgt) if (!src.has(id)) changed.push(row.key!);
  if (changed.length > Math.max(50, src.size / 4)) return recopyRange(ctx, t, s, lo, hi);
  // Rows read now; a key deleted on the source since the hashes were taken is simply not re-inserted.
  const rows = await ctx.source.insp.readKeys(t, ctx.userId, changed);
  await ctx.target.applier.replaceKeys(t, ctx.userId, changed, rows, s);
  return rows.length;
}

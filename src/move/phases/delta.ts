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
import { forEachTable } from './copy.js';
import { compareRange, recopyRange, type Settings } from './sync.js';
import type { KeyTuple } from '../../db/sql/rows.js';

export interface DeltaOutcome {
  rangesChanged: number;
  rowsRecopied: bigint;
  /** Final pass only: every range equal on both sides and the target's whole hash equal to the record. */
  verified: boolean;
  /** Final pass only: ranges that still differed after a re-copy (someone writes despite the freeze). */
  unstable: string[];
  /** Time spent working (pauses between ranges excluded): what the final pass under the freeze will take. */
  activeMs: number;
}

/**
 * One pass over every recorded range. With `final` (under the freeze) each re-copied range is checked
 * equal on both sides at once, and the target's whole hash per table is compared with the record: a
 * full verification whose cost is one hash of the user per side.
 */
export async function deltaPass(ctx: RunContext, tables: TablePlan[], s: Settings, opts: { final: boolean; deadline?: number }): Promise<DeltaOutcome> {
  const out: DeltaOutcome = { rangesChanged: 0, rowsRecopied: 0n, verified: true, unstable: [], activeMs: 0 };
  const started = ctx.nowMs();
  let paused = 0;
  await forEachTable(ctx, tables, ctx.req.concurrency, async (t) => {
    const chunks = await ctx.journal.chunks(ctx.moveId!, t.name);
    // Hashed on the (otherwise idle) target while the source ranges are checked; taken again if a
    // range of this table had to be re-copied meanwhile.
    let targetWhole = opts.final ? ctx.target.insp.hash(t, ctx.userId, null, null) : null;
    targetWhole?.catch(() => undefined);
    let recopied = false;
    let count = 0n;
    let hash = 0n;
    for (const c of chunks) {
      ctx.checkAborted();
      if (opts.deadline !== undefined && ctx.nowMs() > opts.deadline) throw new DeadlineExceeded();
      const lo = decodeKey(c.lo);
      const hi = decodeKey(c.hi);
      let recorded = { count: String(c.row_count), hash: String(c.hash) };
      const now = await ctx.source.insp.hash(t, ctx.userId, lo, hi);
      if (now.count !== recorded.count || now.hash !== recorded.hash) {
        out.rangesChanged++;
        recopied = true;
        out.rowsRecopied += BigInt(await repairRange(ctx, t, s, lo, hi));
        const cmp = await compareRange(ctx, t, lo, hi);
        recorded = cmp.target;
        await ctx.journal.updateChunk(ctx.moveId!, t.name, c.seq, recorded.count, recorded.hash);
        if (opts.final && !cmp.equal) {
          out.verified = false;
          out.unstable.push(`${t.name} range ${c.seq}`);
        }
      }
      count += BigInt(recorded.count);
      hash += BigInt(recorded.hash);
      if (!opts.final) {
        const p0 = ctx.nowMs();
        await ctx.pause();
        paused += ctx.nowMs() - p0;
      }
    }
    if (targetWhole) {
      if (recopied) targetWhole = ctx.target.insp.hash(t, ctx.userId, null, null);
      const w = await targetWhole;
      // The target must hold exactly what the record says: nothing else may write there before the flip.
      if (w.count !== count.toString() || w.hash !== hash.toString()) {
        out.verified = false;
        out.unstable.push(`${t.name} (target differs from the record)`);
      }
    }
  });
  // With tables in parallel the pauses overlap; this errs on the side of a longer estimate.
  out.activeMs = Math.max(0, ctx.nowMs() - started - Math.floor(paused / Math.max(1, Math.min(ctx.req.concurrency, tables.length))));
  return out;
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
async function repairRange(ctx: RunContext, t: TablePlan, s: Settings, lo: KeyTuple | null, hi: KeyTuple | null): Promise<number> {
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
  await ctx.target.app.replaceKeys(t, ctx.userId, changed, rows, s.sqlMode, s.maxBytes);
  return rows.length;
}

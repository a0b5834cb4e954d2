/**
 * Phase 5, cleanup: delete the user's rows from the source shard, range by range, each only if it
 * still hashes exactly as at the final verification (so a write that slipped past, or one from an app
 * process that still had the old shard cached, is never deleted: it is reported instead).
 */
import { decodeKey } from '../keys.js';
import type { TablePlan } from '../table-plan.js';
import type { RunContext } from '../run-context.js';
import { describeDifference } from './sync.js';

export interface CleanupOutcome {
  rowsDeleted: bigint;
  /** Ranges that changed since the final verification, with the rows that differ from the target. */
  kept: string[];
}

export async function cleanupSource(ctx: RunContext, tables: TablePlan[]): Promise<CleanupOutcome> {
  const out: CleanupOutcome = { rowsDeleted: 0n, kept: [] };
  await ctx.throttle(); // the first range waits for the throttler too (later ones wait in pause())
  for (const t of tables) {
    const chunks = await ctx.journal.chunks(ctx.moveId!, t.name);
    let deleted = 0n;
    let keptHere = 0;
    for (const c of chunks) {
      if (c.cleaned) continue;
      ctx.checkAborted();
      const lo = decodeKey(c.lo);
      const hi = decodeKey(c.hi);
      const r = await ctx.source.app.deleteRangeIfUnchanged(t, ctx.userId, lo, hi, { count: String(c.row_count), hash: String(c.hash) });
      if ('changed' in r) {
        keptHere++;
        const diff = await describeDifference(ctx, t, lo, hi);
        out.kept.push(`${t.name}: ${r.changed.count} source rows changed after the final verification and were kept (${diff.text})`);
        continue;
      }
      deleted += BigInt(r.deleted);
      await ctx.journal.chunkCleaned(ctx.moveId!, t.name, c.seq);
      ctx.emit({ type: 'cleanup.progress', table: t.name, rowsDeleted: deleted.toString() });
      await ctx.pause();
    }
    out.rowsDeleted += deleted;
    await ctx.journal.tableCleaned(ctx.moveId!, t.name, keptHere ? 'kept-changed' : 'cleaned');
  }
  return out;
}

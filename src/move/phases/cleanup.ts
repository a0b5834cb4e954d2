/**
 * Phase 5, cleanup: delete the user's rows from the source shard, range by range, each range only after
 * comparing it with the same range on the target at that moment (both hashed, the source range locked),
 * never because the source is unchanged since an earlier check. Rows whose bytes are not on the target
 * now are kept and reported: a write that reached the old shard after the flip (a stale app server), or
 * a row that changed on the target since the final verification (the app's writes there since the flip,
 * or something other than fw-shard). The range record only tells those two apart in the report.
 */
import { showKey } from '../keys.js';
import { decodeKey } from '../keys.js';
import type { TablePlan } from '../table-plan.js';
import type { RunContext } from '../run-context.js';
import type { KeptRow } from '../inspector.js';
import { isDirty, sameHash } from './sync.js';
import { forEachTable } from './for-each-table.js';

export interface CleanupOutcome {
  rowsDeleted: bigint;
  /**
   * Rows kept in ranges that changed on the source after the final verification: writes that reached
   * the old shard after the flip, which may exist nowhere else. Per table and range, with the keys.
   */
  stale: { rows: bigint; lines: string[] };
  /**
   * Rows kept in ranges the source still holds as verified, whose target rows changed since (the app's
   * writes after the flip, normally): old versions, but not proven on the target now, so not deleted.
   */
  superseded: { rows: bigint; lines: string[] };
}

const LIST = 10;

/** `beforeRange`: run before each range's delete (the engine checks the schema there: schema-guard.ts). */
export async function cleanupSource(ctx: RunContext, tables: TablePlan[], beforeRange: () => Promise<void> = async () => undefined): Promise<CleanupOutcome> {
  const out: CleanupOutcome = { rowsDeleted: 0n, stale: { rows: 0n, lines: [] }, superseded: { rows: 0n, lines: [] } };
  await ctx.throttle(); // the first range waits for the throttler too (later ones wait in pause())
  // Tables at once (--concurrency, as the copy), ranges of a table one after another.
  await forEachTable(tables, ctx.req.concurrency, async (t, stop) => {
    const chunks = await ctx.journal.chunks(ctx.moveId, t.name);
    let deleted = 0n;
    let keptHere = 0;
    for (const c of chunks) {
      if (c.cleaned) continue;
      ctx.checkAborted();
      if (stop()) return; // another table failed: its error is the run's
      const lo = decodeKey(c.lo);
      const hi = decodeKey(c.hi);
      await beforeRange();
      const r = await ctx.source.applier.deleteRangeIfOnTarget(t, ctx.userId, lo, hi, ctx.target.insp);
      deleted += BigInt(r.deleted);
      if (r.kept.length > 0) {
        keptHere += r.kept.length;
        // A dirty record (trigger mode: ranges the log passes rewrote) says nothing about the source, which
        // its `moved` fence has kept still since the final sync: those rows count as changed on the target.
        const sourceChanged = !isDirty(String(c.hash)) && !sameHash(r.source, { count: String(c.row_count), hash: String(c.hash) });
        const bucket = sourceChanged ? out.stale : out.superseded;
        bucket.rows += BigInt(r.kept.length);
        bucket.lines.push(`${t.name}: ${describeKept(t, r.kept, ctx.to)}`);
      }
      // The range is done: what was proven on the target is gone, the rest stays (listed above).
      await ctx.journal.chunkCleaned(ctx.moveId, t.name, c.seq);
      ctx.emit({ type: 'cleanup.progress', table: t.name, rowsDeleted: deleted.toString() });
      await ctx.pause();
    }
    out.rowsDeleted += deleted;
    await ctx.journal.tableCleaned(ctx.moveId, t.name, keptHere ? 'kept-changed' : 'cleaned');
  });
  return out;
}

function describeKept(t: TablePlan, kept: KeptRow[], to: number): string {
  const names = t.key?.map((c) => c.name) ?? [];
  const part = (why: KeptRow['why'], label: string) => {
    const rows = kept.filter((k) => k.why === why);
    if (rows.length === 0) return null;
    const shown = rows.slice(0, LIST).map((k) => (k.key ? showKey(names, k.key) : 'a keyless row'));
    return `${label}: ${shown.join('; ')}${rows.length > LIST ? `; and ${rows.length - LIST} more` : ''}`;
  };
  return [`${kept.length} row(s) kept`, part('missing', `not on shard ${to}`), part('different', `different on shard ${to}`)].filter(Boolean).join(', ');
}

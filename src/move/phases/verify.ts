/**
 * Phase 3, final verification of the whole user, with the user's writes stopped: the source is cut
 * into ranges of VERIFY_RANGE keys (pt-table-checksum style nibbling), each range hashed on both
 * shards and re-copied if it differs. The source hash of every range is recorded in the journal: the
 * cleanup deletes a range only if the source still hashes the same.
 */
import type { KeyTuple } from '../../db/sql/rows.js';
import { encodeKey } from '../keys.js';
import type { TablePlan } from '../table-plan.js';
import type { RunContext } from '../run-context.js';
import type { TableReport } from '../types.js';
import { forEachTable } from './copy.js';
import { compareRange, ensureEqual, type Settings } from './sync.js';

export const VERIFY_RANGE = 10_000;

export async function verifyAll(ctx: RunContext, tables: TablePlan[], s: Settings, reports: Map<string, TableReport>): Promise<void> {
  // A fixed --chunk-size also bounds the verification ranges (and so the cleanup's deletes).
  const rangeRows = ctx.req.chunkSize ?? VERIFY_RANGE;
  await forEachTable(ctx, tables, ctx.req.concurrency, async (t) => {
    const rep = reports.get(t.name)!;
    // Fast path: one hash of the whole user per side. If both equal the sum of the chunk hashes recorded
    // during the copy, nothing changed since, and those chunks are what the cleanup will re-check.
    ctx.checkAborted();
    const [whole, recorded] = await Promise.all([compareRange(ctx, t, null, null), ctx.journal.chunkTotals(ctx.moveId!, t.name)]);
    if (whole.equal && recorded.chunks > 0 && whole.source.count === recorded.count && whole.source.hash === recorded.hash) {
      ctx.emit({ type: 'chunk.verified', table: t.name, ok: true, rows: whole.source.count });
      return;
    }
    // Otherwise re-verify in ranges, re-copying what differs, and record fresh range hashes.
    const chunks: { lo: string | null; hi: string | null; count: string; hash: string }[] = [];
    let lo: KeyTuple | null = null;
    for (;;) {
      ctx.checkAborted();
      const hi: KeyTuple | null = t.key ? await ctx.source.insp.keyAt(t, ctx.userId, lo, rangeRows - 1) : null;
      const { hash, mismatches } = await ensureEqual(ctx, t, s, lo, hi);
      rep.mismatches += mismatches;
      chunks.push({ lo: encodeKey(lo), hi: encodeKey(hi), count: hash.count, hash: hash.hash });
      ctx.emit({ type: 'chunk.verified', table: t.name, ok: true, rows: hash.count });
      if (hi === null) break;
      lo = hi;
      await ctx.pause();
    }
    await ctx.journal.replaceChunks(ctx.moveId!, t.name, chunks);
  });
}

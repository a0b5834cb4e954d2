/**
 * Phase 3 (offline moves), final verification of the whole user: every table compared on both shards,
 * live, after the last write fw-shard made to the target.
 *
 * A round compares each table's whole-user hash on the source and on the target at the same time:
 *  - the target must still hold what fw-shard wrote (the sum of the range records): otherwise something
 *    else wrote there, and the move stops naming the rows (DATA_MISMATCH) instead of overwriting them;
 *  - a table that differs from the source (the operator's writes did not stop) is re-verified in ranges
 *    of VERIFY_RANGE keys (pt-table-checksum style nibbling), each re-copied until equal, and its range
 *    records are replaced.
 * A round that re-copied anything is followed by another round over every table, so the last comparison
 * of each table happened after the last write of any table (a write to one table must not go unseen in
 * another one compared earlier). Only a round without writes ends the verification.
 */
import { FwShardError } from '../../errors/index.js';
import { isShared, type KeyTuple } from '../../db/sql/rows.js';
import { encodeKey } from '../keys.js';
import { writesDuringVerifyHint } from '../hints.js';
import type { TablePlan } from '../table-plan.js';
import type { RunContext } from '../run-context.js';
import type { TableReport } from '../types.js';
import { forEachTable } from './for-each-table.js';
import { compareRange, ensureEqual, rangesChangedOnTarget, sameHash, targetChangedError, type WriteSettings } from './sync.js';

export const VERIFY_RANGE = 10_000;
/** Rounds that may re-copy before the verification gives up (the user's writes did not stop). */
const MAX_ROUNDS = 4;

export async function verifyAll(ctx: RunContext, tables: TablePlan[], s: WriteSettings, reports: Map<string, TableReport>): Promise<void> {
  for (let round = 1; ; round++) {
    const wrote = await verifyRound(ctx, tables, s, reports);
    if (wrote.length === 0) return;
    if (round >= MAX_ROUNDS) {
      throw new FwShardError(
        'DATA_MISMATCH',
        `user ${ctx.userId}'s rows kept changing on shard ${ctx.from} during the verification (${wrote.join(', ')} re-copied in each of ${MAX_ROUNDS} rounds)`,
        {
          hint: writesDuringVerifyHint(
            ctx.moveId,
            ctx.online,
            tables.filter((t) => isShared(t) && wrote.includes(t.name)).map((t) => t.name),
          ),
        },
      );
    }
  }
}

/** One comparison of every table; returns the tables it had to re-copy (empty: verified). */
async function verifyRound(ctx: RunContext, tables: TablePlan[], s: WriteSettings, reports: Map<string, TableReport>): Promise<string[]> {
  // A fixed --chunk-size also bounds the verification ranges (and so the cleanup's deletes).
  const rangeRows = ctx.req.chunkSize ?? VERIFY_RANGE;
  const wrote: string[] = [];
  await forEachTable(tables, ctx.req.concurrency, async (t) => {
    const rep = reports.get(t.name)!;
    ctx.checkAborted();
    const [whole, recorded] = await Promise.all([compareRange(ctx, t, null, null), ctx.journal.chunkTotals(ctx.moveId, t.name)]);
    // The record is what fw-shard last wrote to the target: a target that differs from it was written
    // by someone else. (Dirty records belong to a rewrite fw-shard itself did not finish.)
    if (recorded.chunks > 0 && recorded.dirty === 0 && !sameHash(whole.target, recorded)) {
      const ranges = await rangesChangedOnTarget(ctx, t);
      if (ranges.length > 0) throw await targetChangedError(ctx, t, ranges);
    }
    if (whole.equal && recorded.dirty === 0 && sameHash(whole.source, recorded)) {
      ctx.emit({ type: 'chunk.verified', table: t.name, ok: true, rows: whole.source.count });
      return;
    }
    // Re-verify in ranges, re-copying what differs, and record fresh range hashes. The records are
    // marked dirty first: a crash half-way must not make our own re-copies look like a stranger's.
    await ctx.journal.markDirty(ctx.moveId, t.name);
    const chunks: { lo: string | null; hi: string | null; count: string; hash: string }[] = [];
    let lo: KeyTuple | null = null;
    let recopied = 0;
    for (;;) {
      ctx.checkAborted();
      const hi: KeyTuple | null = t.key ? await ctx.source.insp.keyAt(t, ctx.userId, lo, rangeRows - 1) : null;
      const { hash, mismatches } = await ensureEqual(ctx, t, s, lo, hi);
      rep.mismatches += mismatches;
      recopied += mismatches;
      chunks.push({ lo: encodeKey(lo), hi: encodeKey(hi), count: hash.count, hash: hash.hash });
      ctx.emit({ type: 'chunk.verified', table: t.name, ok: true, rows: hash.count });
      if (hi === null) break;
      lo = hi;
      await ctx.pause();
    }
    await ctx.journal.replaceChunks(ctx.moveId, t.name, chunks);
    if (recopied > 0) wrote.push(t.name);
  });
  return wrote;
}

/**
 * The copy phase of an undo (`fw-shard undo`, src/move/undo.ts). The target is the old shard of the
 * move being undone, which still holds the user's rows as that move left them (plus whatever a stale app
 * server wrote there since). Instead of copying everything, each range of the source is compared with
 * the same range on the target by hash, and only what differs is copied: the rows that differ (changed
 * or inserted on the source since, or deleted there since: deleted on the target too), or the whole
 * range when much of it differs. The source is the truth: rows changed on the target behind fw-shard's
 * back are overwritten here, before any range record exists. Each range is then recorded as what the
 * target holds, as the copy records its chunks, so the delta passes, the final sync under the freeze,
 * the flip and the cleanup run unchanged from these records.
 */
import type { KeyTuple } from '../../db/sql/rows.js';
import { decodeKey, encodeKey } from '../keys.js';
import type { MoveTableRow } from '../journal.js';
import type { TablePlan } from '../table-plan.js';
import type { RunContext } from '../run-context.js';
import type { TableReport } from '../types.js';
import { forEachUncopied } from './for-each-table.js';
import { repairRange } from './delta.js';
import { compareRange, type WriteSettings } from './sync.js';
import { VERIFY_RANGE } from './verify.js';

export async function resyncTables(
  ctx: RunContext,
  tables: TablePlan[],
  s: WriteSettings,
  journalRows: Map<string, MoveTableRow>,
  reports: Map<string, TableReport>,
): Promise<void> {
  await forEachUncopied(ctx, tables, journalRows, reports, (t, row, rep, stop) => resyncTable(ctx, t, s, row, rep, stop));
}

/**
 * Ranges of VERIFY_RANGE source keys (or --chunk-size), each checkpointed in the journal like a copied
 * chunk: rows_copied counts the rows written, which is what changed since the undone move's flip.
 * Keyless tables are one range; the last range of a keyed table is open-ended, and the first starts
 * below every key, so rows the target holds beyond the source's keys are compared (and deleted) too.
 */
async function resyncTable(
  ctx: RunContext,
  t: TablePlan,
  s: WriteSettings,
  row: MoveTableRow | undefined,
  rep: TableReport,
  stop: () => boolean,
): Promise<void> {
  const rangeRows = ctx.req.chunkSize ?? VERIFY_RANGE;
  let lo: KeyTuple | null = decodeKey(row?.last_key);
  let written = BigInt(row?.rows_copied ?? '0');
  let chunks = row?.chunks ?? 0;
  for (;;) {
    ctx.checkAborted();
    if (stop()) return;
    const started = ctx.nowMs();
    const hi: KeyTuple | null = t.key ? await ctx.source.insp.keyAt(t, ctx.userId, lo, rangeRows - 1) : null;
    const cmp = await compareRange(ctx, t, lo, hi);
    let held = cmp.target;
    let n = 0;
    if (!cmp.equal) {
      n = await repairRange(ctx, t, s, lo, hi);
      // Online, the source may have changed meanwhile: record what the target holds; the delta passes catch up.
      held = await ctx.target.insp.hash(t, ctx.userId, lo, hi);
    }
    written += BigInt(n);
    await ctx.journal.checkpointChunk(
      ctx.moveId,
      t.name,
      { status: hi === null ? 'copied' : 'copying', lastKey: encodeKey(hi ?? lo), rowsCopied: written.toString(), chunks: chunks + 1, mismatches: 0 },
      { seq: chunks, lo: encodeKey(lo), hi: encodeKey(hi), count: held.count, hash: held.hash },
    );
    chunks++;
    rep.chunks = chunks;
    ctx.emit({ type: 'chunk.verified', table: t.name, ok: true, rows: cmp.source.count });
    if (n > 0) {
      ctx.emit({ type: 'chunk.copied', table: t.name, rows: n, rowsCopied: written.toString(), rowsTotal: rep.rows, chunkSize: n, ms: ctx.nowMs() - started });
    }
    if (hi === null) break;
    lo = hi;
    await ctx.pause();
  }
  ctx.emit({ type: 'table.copied', table: t.name, rowsCopied: written.toString(), chunks });
}

/**
 * Phase 2, copy: per table, keyset pagination on the chunking key (`WHERE owner = ? AND key > last
 * ORDER BY key LIMIT n`), each chunk written to the target in one transaction, hashed on both sides,
 * and checkpointed in the journal. Tables run concurrently; chunks of a table in order.
 */
import type { KeyTuple } from '../../db/sql/rows.js';
import { keyPositions } from '../../db/sql/rows.js';
import { nextChunkSize } from '../chunk-size.js';
import { decodeKey, encodeKey, keyOfRow } from '../keys.js';
import type { MoveTableRow } from '../journal.js';
import type { TablePlan } from '../table-plan.js';
import type { RunContext } from '../run-context.js';
import type { TableReport } from '../types.js';
import { compareRange, ensureEqual, type WriteSettings } from './sync.js';
import { forEachTable } from './for-each-table.js';

const FIRST_CHUNK = 1000;

export async function copyTables(
  ctx: RunContext,
  tables: TablePlan[],
  s: WriteSettings,
  journalRows: Map<string, MoveTableRow>,
  reports: Map<string, TableReport>,
): Promise<void> {
  await forEachTable(tables, ctx.req.concurrency, async (t, stop) => {
    const row = journalRows.get(t.name);
    const rep = reports.get(t.name)!;
    if (row?.status === 'copied') {
      rep.chunks = row.chunks;
      rep.mismatches = row.mismatches;
      return;
    }
    await ctx.throttle(); // a table's first chunk waits for the throttler too (later ones wait in pause())
    if (!t.key) return copyKeyless(ctx, t, s, rep);
    await copyKeyed(ctx, t, s, row, rep, stop);
  });
}

async function copyKeyless(ctx: RunContext, t: TablePlan, s: WriteSettings, rep: TableReport): Promise<void> {
  ctx.checkAborted();
  const started = ctx.nowMs();
  const rows = await ctx.source.insp.readRange(t, ctx.userId, null, null);
  await ctx.target.applier.replaceRange(t, ctx.userId, null, null, rows, s);
  // Online, the source may change under us: record what the target holds; the delta passes catch up.
  const { hash, mismatches } = ctx.online ? { hash: (await compareRange(ctx, t, null, null)).target, mismatches: 0 } : await ensureEqual(ctx, t, s, null, null);
  rep.chunks = 1;
  rep.mismatches += mismatches;
  await ctx.journal.checkpointChunk(
    ctx.moveId,
    t.name,
    { status: 'copied', lastKey: null, rowsCopied: String(rows.length), chunks: 1, mismatches: rep.mismatches },
    { seq: 0, lo: null, hi: null, count: hash.count, hash: hash.hash },
  );
  ctx.emit({
    type: 'chunk.copied',
    table: t.name,
    rows: rows.length,
    rowsCopied: String(rows.length),
    rowsTotal: rep.rows,
    chunkSize: rows.length,
    ms: ctx.nowMs() - started,
  });
  ctx.emit({ type: 'table.copied', table: t.name, rowsCopied: String(rows.length), chunks: 1 });
}

/**
 * The chunk loop, pipelined: the next chunk is read from the source while the current one is written
 * to the target, and the source side of the current chunk is hashed at the same time as the write.
 */
async function copyKeyed(ctx: RunContext, t: TablePlan, s: WriteSettings, row: MoveTableRow | undefined, rep: TableReport, stop: () => boolean): Promise<void> {
  const positions = keyPositions(t);
  let lo: KeyTuple | null = decodeKey(row?.last_key);
  let copied = BigInt(row?.rows_copied ?? '0');
  let chunks = row?.chunks ?? 0;
  let mismatches = row?.mismatches ?? 0;
  let size = ctx.req.chunkSize ?? FIRST_CHUNK;
  // The read-ahead may fail while the current chunk is still being written (the source went away): it is
  // awaited later, so mark it handled now, or Node's unhandled-rejection rule kills the process (exit 1)
  // before the error reaches the engine and becomes a clean, resumable exit 4.
  const readAhead = (from: KeyTuple | null, n: number) => {
    const p = ctx.source.insp.readChunk(t, ctx.userId, from, n);
    p.catch(() => undefined);
    return p;
  };
  let pending = readAhead(lo, size);
  let pendingSize = size;
  try {
    for (;;) {
      ctx.checkAborted();
      if (stop()) return;
      const started = ctx.nowMs();
      const rows = await pending;
      const last = rows.length < pendingSize;
      // The final chunk is open-ended, so it also clears anything on the target beyond the last key
      // (left by a chunk that committed before a crash but whose checkpoint did not).
      const hi: KeyTuple | null = last ? null : keyOfRow(rows[rows.length - 1]!, positions);
      if (!last) {
        pending = readAhead(hi, size);
        pendingSize = size;
      }
      // Offline, the source side of the chunk is hashed while the target is written. Online it is not:
      // the first delta pass compares every range's source hash with this record anyway.
      const [sourceHash] = await Promise.all([
        ctx.online ? null : ctx.source.insp.hash(t, ctx.userId, lo, hi),
        ctx.target.applier.replaceRange(t, ctx.userId, lo, hi, rows, s),
      ]);
      const targetHash = await ctx.target.insp.hash(t, ctx.userId, lo, hi);
      // The record is what the target holds for the range. Offline it must equal the source now;
      // online a difference is a write that landed meanwhile, which the delta passes will copy.
      let verified = targetHash;
      if (sourceHash && (sourceHash.count !== targetHash.count || sourceHash.hash !== targetHash.hash)) {
        const eq = await ensureEqual(ctx, t, s, lo, hi);
        mismatches += eq.mismatches;
        verified = eq.hash;
      }
      copied += BigInt(rows.length);
      await ctx.journal.checkpointChunk(
        ctx.moveId,
        t.name,
        { status: last ? 'copied' : 'copying', lastKey: encodeKey(hi ?? lo), rowsCopied: copied.toString(), chunks: chunks + 1, mismatches },
        { seq: chunks, lo: encodeKey(lo), hi: encodeKey(hi), count: verified.count, hash: verified.hash },
      );
      chunks++;
      const ms = ctx.nowMs() - started;
      ctx.emit({ type: 'chunk.copied', table: t.name, rows: rows.length, rowsCopied: copied.toString(), rowsTotal: rep.rows, chunkSize: pendingSize, ms });
      if (ctx.req.chunkSize === undefined) size = nextChunkSize(size, ms, ctx.req.chunkTimeMs, rows.length);
      rep.chunks = chunks;
      rep.mismatches = mismatches;
      if (last) break;
      lo = hi;
      await ctx.pause();
    }
  } finally {
    // Never leave a read-ahead's rejection unobserved when we stop early.
    pending.catch(() => undefined);
  }
  ctx.emit({ type: 'table.copied', table: t.name, rowsCopied: copied.toString(), chunks });
}

/**
 * Phase 2, copy: per table, keyset pagination on the chunking key (`WHERE owner = ? AND key > last
 * ORDER BY key LIMIT n`), each chunk written to the target in one transaction, recorded with its range
 * hash (summed from the read itself in 'crc-mul' moves, else hashed on the target), and checkpointed in
 * the journal. Tables run concurrently; chunks of a table in order.
 */
import type { KeyTuple } from '../../db/sql/rows.js';
import { encodeRowsTsv } from '../../db/sql/rows.js';
import { byteBoundedSize, CHUNK_BYTES, nextChunkSize } from '../chunk-size.js';
import { decodeKey, encodeKey } from '../keys.js';
import { chunkBuffer, type CopyChunk } from '../inspector.js';
import type { MoveTableRow } from '../journal.js';
import type { TablePlan } from '../table-plan.js';
import type { RunContext } from '../run-context.js';
import type { TableReport } from '../types.js';
import { compareRange, ensureEqual, type WriteSettings } from './sync.js';
import { forEachUncopied } from './for-each-table.js';
import { collectYoungGarbage } from '../memory.js';

const FIRST_CHUNK = 1000;

export async function copyTables(
  ctx: RunContext,
  tables: TablePlan[],
  s: WriteSettings,
  journalRows: Map<string, MoveTableRow>,
  reports: Map<string, TableReport>,
): Promise<void> {
  await forEachUncopied(ctx, tables, journalRows, reports, async (t, row, rep, stop) => {
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
 * to the target. Chunks are bounded by rows (time-targeted) and by bytes (CHUNK_BYTES): a read stops at
 * the byte budget, and the next chunk is sized from the rows' average length.
 */
async function copyKeyed(ctx: RunContext, t: TablePlan, s: WriteSettings, row: MoveTableRow | undefined, rep: TableReport, stop: () => boolean): Promise<void> {
  let lo: KeyTuple | null = decodeKey(row?.last_key);
  let copied = BigInt(row?.rows_copied ?? '0');
  let chunks = row?.chunks ?? 0;
  const mismatches = row?.mismatches ?? 0;
  // The first chunk's size comes from the plan's bytes per row (table statistics): a user of 1 MB rows
  // starts with a few rows, not a thousand.
  let size = byteBoundedSize(ctx.req.chunkSize ?? FIRST_CHUNK, Number(rep.bytes) / Math.max(1, Number(rep.rows)));
  // Lines while the target takes LOAD DATA (the server builds them, no per-field work here); raw rows
  // for INSERTs once it refused LOCAL INFILE.
  // Two buffers, taken in turn: a chunk is read into one while the one before is written from the other
  // (it is written before the next read starts). A new buffer per chunk left dead ones for the garbage
  // collector to find only after 64 MB of them (V8's external memory step): the RSS grew with the user.
  const buffers: Buffer[] = [];
  let reads = 0;
  const read = (from: KeyTuple | null, n: number): Promise<CopyChunk> => {
    const lines = ctx.target.applier.loadsData;
    const into = lines ? (buffers[reads++ % 2] ??= Buffer.allocUnsafe(chunkBuffer(CHUNK_BYTES))) : undefined;
    return ctx.source.insp.readCopyChunk(t, ctx.userId, from, n, CHUNK_BYTES, lines, into);
  };
  // The read-ahead may fail while the current chunk is still being written (the source went away): it is
  // awaited later, so mark it handled now, or Node's unhandled-rejection rule kills the process (exit 1)
  // before the error reaches the engine and becomes a clean, resumable exit 4.
  const readAhead = (from: KeyTuple | null, n: number) => {
    const p = read(from, n);
    p.catch(() => undefined);
    return p;
  };
  let pending = readAhead(lo, size);
  let pendingSize = size;
  let recording: Promise<void> = Promise.resolve();
  try {
    for (;;) {
      ctx.checkAborted();
      if (stop()) return await recording;
      const started = ctx.nowMs();
      const chunk = await pending;
      const n = chunk.count;
      const last = !chunk.cut && n < pendingSize;
      // The final chunk is open-ended, so it also clears anything on the target beyond the last key
      // (left by a chunk that committed before a crash but whose checkpoint did not).
      const hi: KeyTuple | null = last ? null : chunk.lastKey;
      if (!last) {
        pending = readAhead(hi, size);
        pendingSize = size;
      }
      const asRead = await writeChunk(ctx, t, s, lo, hi, chunk);
      collectYoungGarbage();
      const bytes = chunk.bytes;
      const ms = ctx.nowMs() - started;
      // The range record (what fw-shard wrote over the range: the rows as read, whose hash a 'crc-mul'
      // read brings along, when they were written as read; else the target's hash of the range now) is
      // checkpointed while the next chunk is written: one chunk behind, in order, so the journal's last
      // key only ever follows chunks that are recorded. (A chunk written but not recorded when the run
      // stops is written again by the next run: the copy of a range is idempotent.) The source is not
      // hashed here: the verification (offline) or the first delta pass (online) compares every table
      // with the source live, after the last write, and re-copies what differs.
      await recording;
      // (Owned through a parent: the target may have kept fewer rows than were read, those whose parent
      // is not there yet: Applier straysBefore. Its own hash is the record.)
      const range = {
        lo,
        hi,
        seq: chunks,
        rows: n,
        bytes,
        last,
        chunkSize: pendingSize,
        hash: asRead && chunk.lines && !t.via?.length ? chunk.hash : undefined,
      };
      copied += BigInt(n);
      const total = copied;
      recording = (async () => {
        // The rows as read ('crc-mul': summed from the read), which the chunk's transaction wrote over
        // the range; otherwise the target is hashed.
        const verified = range.hash ?? (await ctx.target.insp.hash(t, ctx.userId, range.lo, range.hi));
        await ctx.journal.checkpointChunk(
          ctx.moveId,
          t.name,
          {
            status: range.last ? 'copied' : 'copying',
            lastKey: encodeKey(range.hi ?? range.lo),
            rowsCopied: total.toString(),
            chunks: range.seq + 1,
            mismatches,
          },
          { seq: range.seq, lo: encodeKey(range.lo), hi: encodeKey(range.hi), count: verified.count, hash: verified.hash },
        );
        rep.chunks = range.seq + 1;
        ctx.emit({
          type: 'chunk.copied',
          table: t.name,
          rows: range.rows,
          rowsCopied: total.toString(),
          rowsTotal: rep.rows,
          chunkSize: range.chunkSize,
          ms,
          bytes: range.bytes,
        });
      })();
      recording.catch(() => undefined); // awaited next round or below; never unobserved meanwhile
      chunks++;
      if (ctx.req.chunkSize === undefined) size = nextChunkSize(size, ms, ctx.req.chunkTimeMs, n);
      if (n > 0) size = byteBoundedSize(size, bytes / n);
      rep.mismatches = mismatches;
      if (last) break;
      lo = hi;
      await ctx.pause();
    }
    await recording;
  } finally {
    // Never leave a read-ahead's rejection unobserved when we stop early, and let the last record land
    // before the run goes on to stop (its own failure, if any, comes second to the one stopping us).
    pending.catch(() => undefined);
    await recording.catch(() => undefined);
  }
  ctx.emit({ type: 'table.copied', table: t.name, rowsCopied: copied.toString(), chunks });
}

/**
 * Write one chunk's rows over the target's (lo, hi]. True when what was written is the chunk as read:
 * false when rows of it were read again (a long value's row, or every row for INSERTs), which the
 * source may have changed in between, so that the read's hash need not be what the target holds.
 */
async function writeChunk(ctx: RunContext, t: TablePlan, s: WriteSettings, lo: KeyTuple | null, hi: KeyTuple | null, chunk: CopyChunk): Promise<boolean> {
  const { applier } = ctx.target;
  if (!chunk.lines) {
    await applier.replaceRange(t, ctx.userId, lo, hi, chunk.rows, s);
    return true;
  }
  // Rows with a long value come without a line (tsvLine): read those raw and escape them here.
  const tsv = chunk.long.length > 0 ? Buffer.concat([chunk.tsv, encodeRowsTsv(t, await ctx.source.insp.readKeys(t, ctx.userId, chunk.long))]) : chunk.tsv;
  // The same rows raw, read only for INSERTs or to name a collision.
  let reread = chunk.long.length > 0;
  const raw = () => {
    reread = true;
    return ctx.source.insp.readRange(t, ctx.userId, lo, hi);
  };
  await applier.replaceRangeLines(t, ctx.userId, lo, hi, tsv, chunk.count, raw, s);
  return !reread;
}

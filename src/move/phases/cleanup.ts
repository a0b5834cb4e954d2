/**
 * Phase 5, cleanup: delete the user's rows from the source shard, range by range, each range only once
 * its rows are proven: the same bytes were on the target when the final verification compared both
 * shards, and the source has not changed since. Either proof is checked in the range's own transaction,
 * with the range locked (Applier.deleteRangeIfOnTarget):
 *
 *  - the record: the range still hashes as the final verification recorded it (any mode; a record the
 *    log passes of trigger mode rewrote is dirty and proves nothing);
 *  - the fence (trigger mode): since the freeze compared every changed row on both shards, the source
 *    fence has said `moved` for this move (read under a shared lock, so it stays until the delete
 *    commits) and fw-shard's triggers on the table are the ones the move recorded (their creation time
 *    included): every write of the user there was refused. Not for a table that a cascading foreign key
 *    can change without a trigger (a child in cascades.ts's graph): a cascade from another user's row
 *    reaches it unrefused.
 *
 * A proven range is deleted whatever the app did on the new shard since the flip (rows it deleted or
 * changed there are old versions here). Any other range is compared with the target now: rows identical
 * there are deleted, the others kept and reported. The record tells which of those changed on the source
 * after the final verification (writes that reached the old shard after the flip: a stale app server).
 */
import { showKey } from '../keys.js';
import { decodeKey } from '../keys.js';
import type { TablePlan } from '../table-plan.js';
import type { RunContext } from '../run-context.js';
import type { KeptRow } from '../inspector.js';
import { isDirty, sameHash } from './sync.js';
import type { Session } from '../../db/pool.js';
import { forEachTable } from './for-each-table.js';
import { isShared } from '../../db/sql/rows.js';

interface CleanupOutcome {
  rowsDeleted: bigint;
  /** Of rowsDeleted: rows deleted by a proof (the record or the fence), without comparing them with the target now. */
  rowsProven: bigint;
  /** Rows of shared tables left in place because other owners' rows on the old shard refer to them (not kept: not the user's alone). */
  sharedStayed: bigint;
  /**
   * Rows kept in ranges that changed on the source after the final verification: writes that reached
   * the old shard after the flip, which may exist nowhere else. Per table and range, with the keys.
   */
  stale: { rows: bigint; lines: string[] };
  /**
   * Rows kept in ranges no proof covers (trigger mode, a table a cascade can change, or a fence lifted
   * before a deferred cleanup ran) and that differ from the target now: not known to be old versions.
   */
  unproven: { rows: bigint; lines: string[] };
}

const LIST = 10;

/** How the cleanup may prove ranges of a table without the target (see the file's header). */
export interface CleanupProofs {
  /** Tables for which the fence proves the source (trigger mode, no cascade into them): the check, run in the range's transaction. */
  fenced(table: TablePlan): ((s: Session) => Promise<boolean>) | undefined;
}

export const NO_PROOFS: CleanupProofs = { fenced: () => undefined };

/** `beforeRange`: run before each range's delete (the engine checks the schema there: schema-guard.ts). */
export async function cleanupSource(
  ctx: RunContext,
  tables: TablePlan[],
  beforeRange: () => Promise<void> = async () => undefined,
  proofs: CleanupProofs = NO_PROOFS,
): Promise<CleanupOutcome> {
  const out: CleanupOutcome = { rowsDeleted: 0n, rowsProven: 0n, sharedStayed: 0n, stale: { rows: 0n, lines: [] }, unproven: { rows: 0n, lines: [] } };
  await ctx.throttle(); // the first range waits for the throttler too (later ones wait in pause())
  // Tables at once (--concurrency, as the copy), ranges of a table one after another.
  // Tables owned through a parent go first: deleted first, a parent row would hide the rows hanging off
  // it (they are found through it). A child that keeps rows keeps its parents too, so that what stays
  // can still be found, compared and cleaned by `cleanup --orphans`.
  const keeping = new Set<string>();
  await forEachTable(
    tables,
    ctx.req.concurrency,
    async (t, stop) => {
      const chunks = await ctx.journal.chunks(ctx.moveId, t.name);
      const child = tables.find((c) => c.via?.[0]?.parent === t.name && keeping.has(c.name));
      if (child) {
        keeping.add(t.name);
        const rows = chunks.filter((c) => !c.cleaned).reduce((n, c) => n + BigInt(c.row_count), 0n);
        out.unproven.rows += rows;
        out.unproven.lines.push(`${t.name}: ${rows} row(s) kept, since rows of ${child.name} hanging off them were kept`);
        await ctx.journal.tableCleaned(ctx.moveId, t.name, 'kept-changed');
        return;
      }
      const fenced = proofs.fenced(t);
      let deleted = 0n;
      let keptHere = 0;
      for (const c of chunks) {
        if (c.cleaned) continue;
        ctx.checkAborted();
        if (stop()) return; // another table failed: its error is the run's
        const lo = decodeKey(c.lo);
        const hi = decodeKey(c.hi);
        await beforeRange();
        const record = isDirty(String(c.hash)) ? null : { count: String(c.row_count), hash: String(c.hash) };
        const r = await ctx.source.applier.deleteRangeIfOnTarget(t, ctx.userId, lo, hi, ctx.target.insp, { record, ...(fenced ? { fenced } : {}) });
        deleted += BigInt(r.deleted);
        if (isShared(t)) out.sharedStayed += BigInt(r.source.count) - BigInt(r.deleted) - BigInt(r.kept.length);
        if (r.proven) out.rowsProven += BigInt(r.deleted);
        if (r.kept.length > 0) {
          keptHere += r.kept.length;
          // A clean record the source no longer hashes to: the source changed after the final verification.
          const bucket = record && !sameHash(r.source, record) ? out.stale : out.unproven;
          bucket.rows += BigInt(r.kept.length);
          bucket.lines.push(`${t.name}: ${describeKept(t, r.kept, ctx.to)}`);
        }
        // The range is done: what was proven is gone, the rest stays (listed above).
        await ctx.journal.chunkCleaned(ctx.moveId, t.name, c.seq);
        ctx.emit({ type: 'cleanup.progress', table: t.name, rowsDeleted: deleted.toString() });
        await ctx.pause();
      }
      out.rowsDeleted += deleted;
      if (keptHere) keeping.add(t.name);
      await ctx.journal.tableCleaned(ctx.moveId, t.name, keptHere ? 'kept-changed' : 'cleaned');
    },
    { childrenFirst: true },
  );
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

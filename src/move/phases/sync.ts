/**
 * Comparing one key range of one table on both shards, naming the rows that differ, and re-copying
 * the range until it matches (bounded). Shared by the copy and the final verification.
 */
import { FwShardError } from '../../errors/index.js';
import { isShared, type KeyTuple } from '../../db/sql/rows.js';
import type { RangeHash } from '../inspector.js';
import type { WriteSettings } from '../applier.js';
import { decodeKey, showKey } from '../keys.js';
import { writesDuringVerifyHint } from '../hints.js';
import type { TablePlan } from '../table-plan.js';
import type { RunContext } from '../run-context.js';

const MAX_RECOPIES = 3;

export type { WriteSettings } from '../applier.js';

export async function compareRange(
  ctx: RunContext,
  t: TablePlan,
  lo: KeyTuple | null,
  hi: KeyTuple | null,
): Promise<{ equal: boolean; source: RangeHash; target: RangeHash }> {
  const [source, target] = await Promise.all([ctx.source.insp.hash(t, ctx.userId, lo, hi), ctx.target.insp.hash(t, ctx.userId, lo, hi)]);
  return { equal: source.count === target.count && source.hash === target.hash, source, target };
}

/** Row-level drill-down: which keys are missing on the target, extra there, or different. */
async function describeDifference(ctx: RunContext, t: TablePlan, lo: KeyTuple | null, hi: KeyTuple | null): Promise<{ text: string; keys: string[] }> {
  const [s, d] = await Promise.all([ctx.source.insp.rowHashes(t, ctx.userId, lo, hi), ctx.target.insp.rowHashes(t, ctx.userId, lo, hi)]);
  const names = t.key?.map((c) => c.name) ?? [];
  const missing: string[] = [];
  const extra: string[] = [];
  const different: string[] = [];
  const label = (k: KeyTuple | null, md5: string) => (k ? showKey(names, k) : `row md5 ${md5}`);
  for (const [id, sv] of s) {
    const dv = d.get(id);
    if (!dv) missing.push(label(sv.key, sv.md5));
    else if (dv.md5 !== sv.md5 || dv.n !== sv.n) different.push(label(sv.key, sv.md5));
  }
  for (const [id, dv] of d) if (!s.has(id)) extra.push(label(dv.key, dv.md5));
  const parts: string[] = [];
  const list = (xs: string[]) => xs.slice(0, 10).join('; ') + (xs.length > 10 ? `; and ${xs.length - 10} more` : '');
  if (missing.length) parts.push(`missing on target: ${list(missing)}`);
  if (extra.length) parts.push(`extra on target: ${list(extra)}`);
  if (different.length) parts.push(`different: ${list(different)}`);
  return { text: parts.join(' | ') || 'hashes differ but no row differs (re-check)', keys: [...missing, ...extra, ...different] };
}

/** Copy the source's (lo, hi] range of the table onto the target, replacing what is there. */
export async function recopyRange(ctx: RunContext, t: TablePlan, s: WriteSettings, lo: KeyTuple | null, hi: KeyTuple | null): Promise<number> {
  const rows = await ctx.source.insp.readRange(t, ctx.userId, lo, hi);
  await ctx.target.applier.replaceRange(t, ctx.userId, lo, hi, rows, s);
  return rows.length;
}

/**
 * Make sure (lo, hi] is identical on both sides: compare; on a mismatch name the rows, re-copy, and
 * compare again, at most MAX_RECOPIES times. Returns the source hash and how many mismatches were seen.
 * Throws DATA_MISMATCH if the range still differs: the caller never flips after that.
 */
export async function ensureEqual(
  ctx: RunContext,
  t: TablePlan,
  s: WriteSettings,
  lo: KeyTuple | null,
  hi: KeyTuple | null,
): Promise<{ hash: RangeHash; mismatches: number }> {
  let cmp = await compareRange(ctx, t, lo, hi);
  let mismatches = 0;
  while (!cmp.equal) {
    mismatches++;
    const diff = await describeDifference(ctx, t, lo, hi);
    ctx.emit({ type: 'chunk.verified', table: t.name, ok: false, rows: cmp.source.count, detail: diff.text });
    if (mismatches > MAX_RECOPIES) {
      throw new FwShardError(
        'DATA_MISMATCH',
        `table ${t.name}: user ${ctx.userId}'s rows still differ between shard ${ctx.from} and shard ${ctx.to} after ${MAX_RECOPIES} re-copies: ${diff.text}`,
        {
          hint: writesDuringVerifyHint(ctx.moveId, ctx.online, isShared(t) ? [t.name] : []),
          details: { table: t.name, keys: diff.keys.slice(0, 50) },
        },
      );
    }
    await recopyRange(ctx, t, s, lo, hi);
    cmp = await compareRange(ctx, t, lo, hi);
  }
  return { hash: cmp.source, mismatches };
}

/** A range record that fw-shard was rewriting when it stopped (see markChunksDirtySql): no usable hash. */
export const isDirty = (hash: string): boolean => hash.startsWith('-');

export const sameHash = (a: RangeHash, b: RangeHash): boolean => a.count === b.count && a.hash === b.hash;

/**
 * The target no longer holds what fw-shard wrote to these ranges: something else writes the user's rows
 * there. Re-copying would overwrite that write (an acknowledged write, maybe), and flipping would hide it,
 * so the move stops and names the rows.
 */
export async function targetChangedError(ctx: RunContext, t: TablePlan, ranges: { lo: KeyTuple | null; hi: KeyTuple | null }[]): Promise<FwShardError> {
  const texts: string[] = [];
  const keys: string[] = [];
  for (const r of ranges.slice(0, 5)) {
    const d = await describeDifference(ctx, t, r.lo, r.hi);
    texts.push(d.text);
    keys.push(...d.keys);
  }
  if (ranges.length > 5) texts.push(`and ${ranges.length - 5} more range(s)`);
  if (isShared(t)) {
    // A shared row: another user's rows on the target may refer to it, and that user's app may write it.
    return new FwShardError(
      'DATA_MISMATCH',
      `table ${t.name} (shared): rows on shard ${ctx.to} that user ${ctx.userId}'s rows refer to changed after fw-shard copied them (${texts.join(' | ')}): another user's rows there may refer to them too, and that user's app may have written them`,
      { hint: writesDuringVerifyHint(ctx.moveId, ctx.online, [t.name]), details: { table: t.name, keys: keys.slice(0, 50) } },
    );
  }
  return new FwShardError(
    'DATA_MISMATCH',
    `table ${t.name}: user ${ctx.userId}'s rows on shard ${ctx.to} changed behind fw-shard's back after it copied them (${texts.join(' | ')}): something other than fw-shard writes them there (an app server that already routes the user to shard ${ctx.to}, a trigger, a person)`,
    {
      hint: `Nothing was flipped or deleted. Find what writes user ${ctx.userId}'s rows on shard ${ctx.to} and stop it; the rows named differ there from shard ${ctx.from} (save what matters). Then fw-shard abort ${ctx.moveId} removes the copy from shard ${ctx.to} (the user stays on shard ${ctx.from}), and the move can start again.`,
      details: { table: t.name, keys: keys.slice(0, 50) },
    },
  );
}

/** Recorded ranges of the table whose target hash is no longer the record (dirty ones are skipped). */
export async function rangesChangedOnTarget(ctx: RunContext, t: TablePlan): Promise<{ lo: KeyTuple | null; hi: KeyTuple | null }[]> {
  const out: { lo: KeyTuple | null; hi: KeyTuple | null }[] = [];
  for (const c of await ctx.journal.chunks(ctx.moveId, t.name)) {
    if (isDirty(String(c.hash))) continue;
    const lo = decodeKey(c.lo);
    const hi = decodeKey(c.hi);
    const now = await ctx.target.insp.hash(t, ctx.userId, lo, hi);
    if (!sameHash(now, { count: String(c.row_count), hash: String(c.hash) })) out.push({ lo, hi });
  }
  return out;
}

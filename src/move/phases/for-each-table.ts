/** Tables of a phase run side by side: copy, delta passes and verification share this loop. */
import PQueue from 'p-queue';
import type { MoveTableRow } from '../journal.js';
import type { RunContext } from '../run-context.js';
import type { TablePlan } from '../table-plan.js';
import type { TableReport } from '../types.js';
import { ownershipLevels } from '../owner-paths.js';

/**
 * Run `work` for every table with at most `concurrency` at once; the first failure stops the rest at their
 * next safe point. Tables owned through a parent wait for their parents (owner-paths.ts ownershipLevels):
 * a target finds a child's rows through its parent's rows, which must be written first. `childrenFirst`
 * (the source's cleanup) turns that round: a parent deleted first would hide its children's rows.
 */
export async function forEachTable(
  tables: TablePlan[],
  concurrency: number,
  work: (t: TablePlan, stop: () => boolean) => Promise<void>,
  opts: { childrenFirst?: boolean } = {},
): Promise<void> {
  const levels = ownershipLevels(tables);
  if (opts.childrenFirst) levels.reverse();
  let failed = false;
  for (const level of levels) {
    if (failed) break;
    const queue = new PQueue({ concurrency: Math.max(1, concurrency) });
    const results = await Promise.allSettled(
      level.map((t) =>
        queue.add(async () => {
          if (failed) return;
          try {
            await work(t, () => failed);
          } catch (err) {
            failed = true;
            throw err;
          }
        }),
      ),
    );
    const firstError = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (firstError) throw firstError.reason;
  }
}

/**
 * The copy's table loop (the copy, and an undo's resync): a table the journal has as copied keeps its
 * counts and is skipped; the others run `work` once the throttler lets them start (later chunks wait in
 * ctx.pause()).
 */
export async function forEachUncopied(
  ctx: RunContext,
  tables: TablePlan[],
  journalRows: Map<string, MoveTableRow>,
  reports: Map<string, TableReport>,
  work: (t: TablePlan, row: MoveTableRow | undefined, rep: TableReport, stop: () => boolean) => Promise<void>,
): Promise<void> {
  await forEachTable(tables, ctx.req.concurrency, async (t, stop) => {
    const row = journalRows.get(t.name);
    const rep = reports.get(t.name)!;
    if (row?.status === 'copied') {
      rep.chunks = row.chunks;
      rep.mismatches = row.mismatches;
      return;
    }
    await ctx.throttle();
    await work(t, row, rep, stop);
  });
}

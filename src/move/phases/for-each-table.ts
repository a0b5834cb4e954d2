/** Tables of a phase run side by side: copy, delta passes and verification share this loop. */
import PQueue from 'p-queue';
import type { TablePlan } from '../table-plan.js';

/** Run `work` for every table with at most `concurrency` at once; the first failure stops the rest at their next safe point. */
export async function forEachTable(tables: TablePlan[], concurrency: number, work: (t: TablePlan, stop: () => boolean) => Promise<void>): Promise<void> {
  const queue = new PQueue({ concurrency: Math.max(1, concurrency) });
  let failed = false;
  const results = await Promise.allSettled(
    tables.map((t) =>
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

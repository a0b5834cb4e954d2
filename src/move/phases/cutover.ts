/**
 * Online cut-over: delta passes until the remaining delta is small (the readiness gate), then a short
 * freeze bounded by a hard cap: set the freeze, delete the cached user row, wait for in-flight requests
 * to drain, final delta with full verification, the compare-and-set flip (valid only while the freeze
 * is), delete the cached row again, lift the freeze. If the final sync cannot finish inside the cap the
 * freeze is lifted and the delta passes resume; after a bounded number of attempts the move gives up
 * with the retry-later code. It never flips unverified.
 */
import { checkSchema } from '../schema-guard.js';
import { FreezeExpiredError, FwShardError } from '../../errors/index.js';
import { freezeEndedSql } from '../../db/sql/journal.js';
import { liftFreezeSql, setFreezeSql } from '../../db/sql/freeze.js';
import { pingSql } from '../../db/sql/server.js';
import type { MoveRun } from '../move-run.js';
import type { MoveContext } from '../run-context.js';
import type { OnlineOptions } from '../types.js';
import { DeadlineExceeded, deltaPass } from './delta.js';
import type { WriteSettings } from './sync.js';

/** Time kept in hand for the flip transaction itself. */
const FLIP_MARGIN_MS = 250;

interface CutoverOutcome {
  freezeMs: number;
  deltaPasses: number;
}

export async function onlineCutover(run: MoveRun, s: WriteSettings, o: OnlineOptions, invalidateCache: () => Promise<void>): Promise<CutoverOutcome> {
  const { ctx, moveId } = run;
  const tables = run.pf.tables;
  let passes = 0;
  let lastReason = '';
  for (let attempt = 1; attempt <= o.freezeAttempts; attempt++) {
    await checkSchema(run);
    // Delta passes until a pass re-copies little enough to finish inside the freeze.
    let ready = false;
    for (let p = 0; p < o.maxDeltaPasses; p++) {
      const t0 = ctx.nowMs();
      const d = await deltaPass(ctx, tables, s, { final: false });
      passes++;
      run.deltaPassed(passes, d.rangesChanged, d.rowsRecopied.toString(), ctx.nowMs() - t0);
      // Ready when little is left, or when a whole pass (what the final sync under the freeze will
      // redo) takes well under the time the freeze leaves after the drain.
      const budget = (o.freezeCapMs - Math.min(o.drainMs, o.freezeCapMs)) / 2;
      if (d.rowsRecopied <= BigInt(o.readyRows) || d.activeMs <= budget) {
        ready = true;
        break;
      }
    }
    if (!ready) {
      lastReason = `after ${o.maxDeltaPasses} delta passes the user's writes still changed more than ${o.readyRows} rows per pass, and a pass took longer than half the freeze`;
      break;
    }
    // Readiness gate: every server involved answers now.
    await Promise.all([ctx.source.db.rows(pingSql()), ctx.target.db.rows(pingSql()), ctx.mapping.db.rows(pingSql())]);
    ctx.checkAborted();

    await run.freezeStarting();
    await ctx.mapping.db.exec(setFreezeSql(ctx.userId, moveId, o.freezeCapMs));
    const frozenAt = ctx.nowMs();
    const deadline = frozenAt + o.freezeCapMs - FLIP_MARGIN_MS;
    ctx.emit({ type: 'freeze.started', attempt, capMs: o.freezeCapMs });
    let flipped = false;
    let reason = 'final sync done';
    try {
      await invalidateCache();
      await sleepUnless(ctx, Math.min(o.drainMs, Math.max(0, deadline - ctx.nowMs())));
      const syncStarted = ctx.nowMs();
      const final = await deltaPass(ctx, tables, s, { final: true, deadline });
      passes++;
      run.deltaPassed(passes, final.rangesChanged, final.rowsRecopied.toString(), ctx.nowMs() - syncStarted);
      if (!final.verified) {
        reason = `rows kept changing during the freeze (${final.unstable.slice(0, 5).join(', ')}): is every app server checking fw_shard_freezes before it writes?`;
      } else if (ctx.nowMs() > deadline) {
        reason = 'the final sync did not finish inside the freeze cap';
      } else {
        // The schema the final sync compared against still holds.
        await checkSchema(run);
        try {
          await run.flip(true);
          flipped = true;
          ctx.emit({ type: 'mapping.flipped', userId: ctx.userId, from: ctx.from, to: ctx.to });
          await invalidateCache();
        } catch (err) {
          if (!(err instanceof FreezeExpiredError)) throw err;
          reason = 'the freeze expired before the flip';
        }
      }
    } catch (err) {
      if (!(err instanceof DeadlineExceeded)) throw err;
      reason = err.message;
    } finally {
      // Lift the freeze whatever happened (an error, an interrupt); if we die here it expires by itself.
      await ctx.mapping.db.exec(liftFreezeSql(ctx.userId, moveId)).catch(() => undefined);
      await run.enter(flipped ? 'flipped' : 'delta', freezeEndedSql()).catch(() => undefined);
      await run.freezeEnded(ctx.nowMs() - frozenAt, flipped, reason);
    }
    if (flipped) return { freezeMs: ctx.nowMs() - frozenAt, deltaPasses: passes };
    lastReason = reason;
  }
  throw new FwShardError('BUSY', `could not cut user ${ctx.userId} over inside a ${o.freezeCapMs} ms freeze: ${lastReason}`, {
    hint: `The copy is kept. Retry later (fw-shard resume ${moveId}), at a quieter time, or with a longer --freeze-cap.`,
  });
}

async function sleepUnless(ctx: MoveContext, ms: number): Promise<void> {
  const step = 50;
  for (let waited = 0; waited < ms; waited += step) {
    ctx.checkAborted();
    await new Promise((r) => setTimeout(r, Math.min(step, ms - waited)));
  }
}

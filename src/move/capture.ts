/**
 * The capture pair of a trigger-mode run: the guards of its two shards, the start of the capture
 * (objects, fences, the wait for older writers) and the flip once the source fence says `moved`.
 * Shared by the cut-over (phases/fence-cutover.ts), the runner (run-steps.ts), the abort and the undo.
 */
import { Guard } from './guard.js';
import type { MoveContext, RunContext } from './run-context.js';
import type { MoveRun } from './move-run.js';
import type { TablePlan } from './table-plan.js';

/** How long a capture start waits for another fw-shard's guard change on the same shard. */
const GUARD_LOCK_WAIT_S = 30;

/** How long the capture start waits for transactions that wrote before it. */
const OLDER_WRITERS_WAIT_MS = 30_000;

export function guards(ctx: MoveContext): { source: Guard; target: Guard } {
  return { source: new Guard(ctx.source.db), target: new Guard(ctx.target.db) };
}

/** Step 1: objects on both shards, the fences, and the wait for older writers on the source. */
export async function startCapture(ctx: RunContext, tables: readonly TablePlan[]): Promise<void> {
  const g = guards(ctx);
  await g.source.refusePreparedXa();
  // Each shard's objects and its fence under that shard's guard lock: "no fence left, drop the guard"
  // (guard-lifecycle.ts) cannot run between them.
  await g.target.withLock(GUARD_LOCK_WAIT_S, async () => {
    await g.target.install(tables);
    await g.target.setFence(ctx.userId, ctx.moveId, 'incoming');
  });
  const past = await g.source.withLock(GUARD_LOCK_WAIT_S, async () => {
    await g.source.install(tables);
    const current = await g.source.fenceOf(ctx.userId);
    if (current?.state === 'moved' && current.moveId === ctx.moveId) return true; // past the freeze already
    await g.source.setFence(ctx.userId, ctx.moveId, 'capturing');
    return false;
  });
  if (past) return;
  const since = await g.source.serverNow();
  await g.source.waitOlderWriters(since, OLDER_WRITERS_WAIT_MS, ctx.signal);
  ctx.emit({ type: 'warning', message: `capturing user ${ctx.userId}'s changes on shard ${ctx.from} (trigger mode)` });
}

/**
 * After the source fence says `moved`: flip the mapping (compare-and-set), lift the target's fence,
 * delete the cached user row. Also what a run does first when it finds this move's fence `moved` (a
 * crash between the two): the user is refused on both shards until then.
 */
export async function flipMoved(run: MoveRun, invalidateCache: () => Promise<void>, lockWaitSeconds?: number): Promise<void> {
  const { ctx } = run;
  if (run.phase !== 'flipped') {
    await run.flip(false, lockWaitSeconds);
    ctx.emit({ type: 'mapping.flipped', userId: ctx.userId, from: ctx.from, to: ctx.to });
  }
  await guards(ctx).target.clear(ctx.userId, null, { states: ['incoming', 'moved'], changes: false });
  await invalidateCache();
}

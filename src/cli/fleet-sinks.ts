import { EVENTS_VERSION, type MoveEvent } from '../events/types.js';
import type { FleetEvent } from '../fleet/events.js';
import type { PlanDocumentMove } from '../plan/plan-file.js';
import { fleetLine } from '../report/fleet.js';
import { plainRenderer } from '../report/plain.js';
import { log, type CliContext } from './context.js';

/** Plain lines on stderr for fleet events and each move's own events (prefixed with the move), NDJSON on stdout with --events. */
export function fleetSinks(
  ctx: CliContext,
  opts: { events?: boolean },
): { onEvent(e: FleetEvent): void; onMoveEvent(m: PlanDocumentMove, e: MoveEvent): void } {
  const perMove = new Map<number, (e: MoveEvent) => void>();
  return {
    onEvent(e) {
      if (opts.events) ctx.stdout.write(JSON.stringify({ v: EVENTS_VERSION, ...e }) + '\n');
      const line = fleetLine(e);
      if (line) log(ctx, line);
    },
    onMoveEvent(m, e) {
      ctx.metrics?.observe(e);
      if (opts.events) ctx.stdout.write(JSON.stringify({ v: EVENTS_VERSION, ...e, plan: { seq: m.seq, userId: m.userId } }) + '\n');
      let r = perMove.get(m.seq);
      if (!r) {
        r = plainRenderer((line) => log(ctx, `[#${m.seq} user ${m.userId}] ${line}`));
        perMove.set(m.seq, r);
      }
      r(e);
    },
  };
}

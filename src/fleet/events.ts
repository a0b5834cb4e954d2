/**
 * Events of a fleet run (`apply`, `run`), next to the per-move events of src/events. Plain serialisable
 * data; renderers (plain lines, NDJSON) consume them. Throttling is reported per move by the engine's
 * own `throttled`/`resumed` events, and before a move starts by `fleet.throttled`/`fleet.resumed`.
 */
import type { MoveOutcomeKind } from './outcome.js';

interface Base {
  at: string;
}
interface MoveRef {
  seq: number;
  userId: string;
  from: number;
  to: number;
}

export type FleetEvent =
  | (Base & { type: 'fleet.started'; moves: number; concurrency: number; perShard: number; until: string | null; runner: string })
  | (Base & MoveRef & { type: 'fleet.move.started' })
  | (Base &
      MoveRef & {
        type: 'fleet.move.finished';
        outcome: MoveOutcomeKind;
        moveId: string | null;
        ms: number;
        code?: string;
        message?: string;
      })
  | (Base & MoveRef & { type: 'fleet.throttled'; reason: string })
  | (Base & MoveRef & { type: 'fleet.resumed'; throttledMs: number })
  | (Base & { type: 'fleet.waiting'; reason: string })
  | (Base & { type: 'fleet.stopping'; reason: StopCause; detail: string })
  | (Base & { type: 'fleet.finished'; counts: Record<MoveOutcomeKind, number>; exitCode: number });

export type StopCause = 'until' | 'stop-file' | 'max-moves' | 'signal' | 'usage';

export type FleetEventInput = FleetEvent extends infer E ? (E extends unknown ? Omit<E, 'at'> : never) : never;

/**
 * The typed, versioned event stream a move emits. Plain serialisable data only: ISO times, ids as
 * strings. Every renderer (plain lines, NDJSON, the TUI) consumes these and nothing else.
 */
export const EVENTS_VERSION = 1;

export type Phase = 'preflight' | 'copy' | 'delta' | 'verify' | 'freeze' | 'flip' | 'cleanup' | 'abort';

/**
 * The whole move over every run (the first and each resume), from its journal: what `--json`
 * (`totals`) and the final summaries report, where the events of one run only know that run.
 */
export interface MoveTotals {
  /** Rows the copy phase copied to the target, every table, every run. */
  rowsCopied: string;
  /** Rows the delta (or log) passes copied again. */
  rowsRecopied: string;
  /** Rows the cleanup deleted from the source (after comparing them with the target). */
  rowsDeleted: string;
  deltaPasses: number;
  /** Every freeze attempt in order; `stopped`: the run stopped inside it (ms unknown). */
  freezes: { startedAt: string; ms: number | null; outcome: 'flipped' | 'lifted' | 'stopped' }[];
  /** How long the user was frozen in all (the sum of the attempts' ms). */
  freezeMsTotal: number;
}

interface Base {
  at: string;
  moveId: string | null;
}

export type MoveEvent =
  | (Base & { type: 'move.started'; userId: string; from: number; to: number; mode: string; resumed: boolean })
  | (Base & { type: 'phase.started'; phase: Phase })
  | (Base & { type: 'phase.finished'; phase: Phase; ms: number })
  | (Base & { type: 'table.planned'; table: string; rows: string; key: string | null })
  | (Base & {
      type: 'chunk.copied';
      table: string;
      rows: number;
      rowsCopied: string;
      rowsTotal: string;
      chunkSize: number;
      ms: number;
      /** Bytes of the chunk's values (the sum of their lengths), where the copy measured them. */
      bytes?: number;
    })
  | (Base & { type: 'chunk.verified'; table: string; ok: boolean; rows: string; detail?: string })
  | (Base & { type: 'table.copied'; table: string; rowsCopied: string; chunks: number })
  | (Base & { type: 'delta.pass'; pass: number; rangesChanged: number; rowsRecopied: string; ms: number })
  | (Base & { type: 'throttled'; reason: string })
  | (Base & { type: 'resumed'; throttledMs: number })
  | (Base & { type: 'freeze.started'; attempt: number; capMs: number })
  | (Base & { type: 'freeze.lifted'; ms: number; flipped: boolean; reason: string })
  | (Base & { type: 'mapping.flipped'; userId: string; from: number; to: number })
  | (Base & { type: 'cache.invalidated'; keys: string[] })
  | (Base & { type: 'cleanup.progress'; table: string; rowsDeleted: string })
  | (Base & { type: 'warning'; message: string })
  /**
   * The move was asked to stop at the next safe point: emitted by the CLI on SIGINT/SIGTERM (`signal` names
   * it), and by the engine on a stop request from `fw-shard stop` (`signal`: "stop request (..., by USER@HOST)").
   */
  | (Base & { type: 'stop.requested'; signal: string })
  /** `nextStep`: what the operator should do now (always set by the engine; optional for older producers). */
  | (Base & { type: 'move.finished'; phase: string; mappingFlipped: boolean; ms: number; nextStep?: string; totals?: MoveTotals })
  | (Base & { type: 'move.failed'; code: string; message: string; mappingFlipped: boolean; nextStep?: string });

/** Distributes an event type over the union, so callers can build one without `at`/`moveId`. */
type DistributiveOmit<T, K extends keyof T> = T extends unknown ? Omit<T, K> : never;
export type EventInput = DistributiveOmit<MoveEvent, 'at' | 'moveId'>;

export type EventSink = (e: MoveEvent) => void;

/**
 * The state a run's events fold into (reducer.ts reduce), as every renderer reads it: phases, tables,
 * the log, the throttle and freeze, the outcome. Versioned (RUN_STATE_VERSION): hooks and --events
 * consumers see it as JSON.
 */
import type { MoveTotals, Phase } from './types.js';

const RUN_STATE_VERSION = 1;

export type PhaseStatus = 'running' | 'done' | 'failed' | 'stopped';

export interface PhaseState {
  name: Phase;
  status: PhaseStatus;
  /** When the phase (last) started. */
  startedAt: string;
  /** Sum of the finished runs' durations; null while the first run is still going. */
  ms: number | null;
}

export interface TableState {
  name: string;
  rowsCopied: string;
  /** Rows the preflight counted; '0' when unknown. */
  rowsTotal: string;
  chunks: number;
  /** Rows asked for in the last chunk (adapts with --chunk-time). */
  chunkSize: number | null;
  /** Rows per second since this run's first chunk of the table (wall clock, pauses included). */
  rate: number | null;
  /** Estimated ms until the table is copied, from `rate`; null when unknown or done. */
  etaMs: number | null;
  copied: boolean;
  /** Ranges or chunks found equal on both shards, and the rows they hold. */
  verifiedChunks: number;
  verifiedRows: string;
  /** Ranges found different (each one was re-copied). */
  mismatched: number;
  lastMismatch: string | null;
  rowsDeleted: string;
  /** For the rate: rows already copied before this run's first chunk, and when that chunk started (epoch ms). */
  baseRows: number;
  baseAtMs: number | null;
}

type Outcome = 'running' | 'finished' | 'failed' | 'stopped';

/**
 * The phase a milestone happened in (the innermost one running then; null between phases). The TUI
 * prints such a milestone under its phase's line.
 */
interface Within {
  within: Phase | null;
}

/** Milestones, in order: what the TUI prints once and never redraws, and what a summary lists. */
export type LogEntry =
  | { kind: 'phase'; at: string; phase: Phase; status: Exclude<PhaseStatus, 'running'>; ms: number | null }
  | ({ kind: 'table.copied'; at: string; table: string; rows: string; chunks: number; rate: number | null } & Within)
  | ({ kind: 'table.verified'; at: string; table: string; chunks: number; mismatched: number } & Within)
  | ({ kind: 'mismatch'; at: string; table: string; detail: string } & Within)
  | ({ kind: 'throttled'; at: string; reason: string } & Within)
  | ({ kind: 'resumed'; at: string; ms: number } & Within)
  | ({ kind: 'delta'; at: string; pass: number; rangesChanged: number; rowsRecopied: string; ms: number } & Within)
  | ({ kind: 'freeze'; at: string; ms: number; flipped: boolean; reason: string } & Within)
  | { kind: 'flipped'; at: string; userId: string; from: number; to: number }
  | ({ kind: 'cache'; at: string; keys: string[] } & Within)
  | { kind: 'warning'; at: string; message: string }
  | { kind: 'stop'; at: string; signal: string };

export interface RunState {
  version: typeof RUN_STATE_VERSION;
  // header facts (known from move.started; preflight events come before it)
  moveId: string | null;
  userId: string | null;
  from: number | null;
  to: number | null;
  mode: string | null;
  resumed: boolean;
  startedAt: string | null;
  updatedAt: string | null;
  /** The phase running now, if any. */
  current: Phase | null;
  phases: PhaseState[];
  tables: TableState[];
  throttle: { active: boolean; reason: string | null; since: string | null; episodes: number; totalMs: number };
  freeze: {
    active: boolean;
    startedAt: string | null;
    attempt: number;
    capMs: number | null;
    lastMs: number | null;
    lastReason: string | null;
    lastFlipped: boolean | null;
  };
  delta: { passes: number; lastRangesChanged: number | null; lastRowsRecopied: string | null; rowsRecopied: string };
  flipped: boolean;
  flippedAt: string | null;
  cacheKeys: string[];
  warnings: string[];
  /** Set when Ctrl-C (or SIGTERM) asked the run to stop at the next safe point. */
  stopping: { signal: string; at: string } | null;
  outcome: Outcome;
  /** The journal phase the run ended in (done, cleanup-pending) on success. */
  finalPhase: string | null;
  error: { code: string; message: string } | null;
  nextStep: string | null;
  /** Wall time from the first event to the last (ms), once the run ended. */
  totalMs: number | null;
  /** The whole move over every run (from move.finished), where the events above know only this run. */
  moveTotals: MoveTotals | null;
  log: LogEntry[];
}

export function initialRunState(): RunState {
  return {
    version: RUN_STATE_VERSION,
    moveId: null,
    userId: null,
    from: null,
    to: null,
    mode: null,
    resumed: false,
    startedAt: null,
    updatedAt: null,
    current: null,
    phases: [],
    tables: [],
    throttle: { active: false, reason: null, since: null, episodes: 0, totalMs: 0 },
    freeze: { active: false, startedAt: null, attempt: 0, capMs: null, lastMs: null, lastReason: null, lastFlipped: null },
    delta: { passes: 0, lastRangesChanged: null, lastRowsRecopied: null, rowsRecopied: '0' },
    flipped: false,
    flippedAt: null,
    cacheKeys: [],
    warnings: [],
    stopping: null,
    outcome: 'running',
    finalPhase: null,
    error: null,
    nextStep: null,
    totalMs: null,
    moveTotals: null,
    log: [],
  };
}

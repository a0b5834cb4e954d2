/**
 * The one pure reducer from move events to a run state. Every renderer (the ink TUI, plain lines, the
 * hooks' environment) reads this state, so the screen, the log and the hooks can never disagree.
 *
 * Invariants:
 *  - `reduce` never mutates its input and reads no clock: every time comes from the events' `at`;
 *  - `log` is append-only (the TUI prints it through <Static>, which relies on that);
 *  - row counts stay decimal strings (64-bit exact); only rates and ETAs are JS numbers (approximate).
 */
import type { MoveEvent, MoveTotals, Phase } from './types.js';

export const RUN_STATE_VERSION = 1;

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

export type Outcome = 'running' | 'finished' | 'failed' | 'stopped';

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

function newTable(name: string): TableState {
  return {
    name,
    rowsCopied: '0',
    rowsTotal: '0',
    chunks: 0,
    chunkSize: null,
    rate: null,
    etaMs: null,
    copied: false,
    verifiedChunks: 0,
    verifiedRows: '0',
    mismatched: 0,
    lastMismatch: null,
    rowsDeleted: '0',
    baseRows: 0,
    baseAtMs: null,
  };
}

function withTable(s: RunState, name: string, f: (t: TableState) => TableState): TableState[] {
  const i = s.tables.findIndex((t) => t.name === name);
  if (i < 0) return [...s.tables, f(newTable(name))];
  const out = s.tables.slice();
  out[i] = f(s.tables[i]!);
  return out;
}

function withPhase(s: RunState, name: Phase, f: (p: PhaseState | undefined) => PhaseState): PhaseState[] {
  const i = s.phases.findIndex((p) => p.name === name);
  if (i < 0) return [...s.phases, f(undefined)];
  const out = s.phases.slice();
  out[i] = f(s.phases[i]);
  return out;
}

const big = (x: string | undefined): bigint => {
  try {
    return BigInt(x || '0');
  } catch {
    return 0n;
  }
};
const ms = (iso: string): number => {
  const t = Date.parse(iso);
  return Number.isNaN(t) ? 0 : t;
};

/** Rows per second since the table's first chunk in this run, and the ETA that gives. */
function rateOf(t: TableState, copied: string, atMs: number): { rate: number | null; etaMs: number | null } {
  if (t.baseAtMs === null) return { rate: null, etaMs: null };
  const elapsed = atMs - t.baseAtMs;
  const done = Number(copied) - t.baseRows;
  if (elapsed <= 0 || done <= 0) return { rate: null, etaMs: null };
  const rate = (done * 1000) / elapsed;
  const left = Number(big(t.rowsTotal) - big(copied));
  return { rate, etaMs: left > 0 ? Math.round((left / rate) * 1000) : 0 };
}

/** The running phase started last (flip runs inside delta online), or null. */
function innermostRunning(s: RunState): Phase | null {
  let found: PhaseState | null = null;
  for (const p of s.phases) if (p.status === 'running' && (found === null || p.startedAt >= found.startedAt)) found = p;
  return found?.name ?? null;
}

/** Fold one event into the run state. Pure. */
export function reduce(state: RunState, e: MoveEvent): RunState {
  // A different move in the same stream (e.g. `fw-shard cleanup` finishing several): start over.
  let s = state;
  if (e.moveId !== null && s.moveId !== null && e.moveId !== s.moveId) s = initialRunState();
  s = { ...s, updatedAt: e.at, startedAt: s.startedAt ?? e.at, moveId: s.moveId ?? e.moveId };
  const log = (entry: LogEntry): LogEntry[] => [...s.log, entry];
  const within = innermostRunning(s);

  switch (e.type) {
    case 'move.started':
      return { ...s, moveId: e.moveId ?? s.moveId, userId: e.userId, from: e.from, to: e.to, mode: e.mode, resumed: e.resumed };

    case 'phase.started':
      return {
        ...s,
        current: e.phase,
        phases: withPhase(s, e.phase, (p) => ({ name: e.phase, status: 'running', startedAt: e.at, ms: p?.ms ?? null })),
      };

    case 'phase.finished': {
      const prev = s.phases.find((p) => p.name === e.phase);
      const total = (prev?.ms ?? 0) + e.ms;
      const entries: LogEntry[] = [];
      // The final verification's result per table, once the phase is over.
      if (e.phase === 'verify') {
        for (const t of s.tables) {
          if (t.verifiedChunks > 0 || t.mismatched > 0)
            entries.push({ kind: 'table.verified', at: e.at, table: t.name, chunks: t.verifiedChunks, mismatched: t.mismatched, within: 'verify' });
        }
      }
      entries.push({ kind: 'phase', at: e.at, phase: e.phase, status: 'done', ms: e.ms });
      return {
        ...s,
        current: s.current === e.phase ? null : s.current,
        phases: withPhase(s, e.phase, (p) => ({ name: e.phase, status: 'done', startedAt: p?.startedAt ?? e.at, ms: total })),
        log: [...s.log, ...entries],
      };
    }

    case 'table.planned':
      return { ...s, tables: withTable(s, e.table, (t) => ({ ...t, rowsTotal: e.rows })) };

    case 'chunk.copied': {
      const atMs = ms(e.at);
      return {
        ...s,
        tables: withTable(s, e.table, (t) => {
          const base =
            t.baseAtMs === null ? { baseRows: Number(e.rowsCopied) - e.rows, baseAtMs: atMs - e.ms } : { baseRows: t.baseRows, baseAtMs: t.baseAtMs };
          const next = { ...t, ...base, rowsCopied: e.rowsCopied, rowsTotal: e.rowsTotal || t.rowsTotal, chunks: t.chunks + 1, chunkSize: e.chunkSize };
          return { ...next, ...rateOf(next, e.rowsCopied, atMs) };
        }),
      };
    }

    case 'table.copied': {
      const prev = s.tables.find((t) => t.name === e.table);
      const rate = prev ? (rateOf(prev, e.rowsCopied, ms(e.at)).rate ?? prev.rate) : null;
      const tables = withTable(s, e.table, (t) => ({ ...t, rowsCopied: e.rowsCopied, chunks: e.chunks, copied: true, etaMs: 0, rate }));
      return { ...s, tables, log: log({ kind: 'table.copied', at: e.at, table: e.table, rows: e.rowsCopied, chunks: e.chunks, rate, within }) };
    }

    case 'chunk.verified':
      if (e.ok) {
        return {
          ...s,
          tables: withTable(s, e.table, (t) => ({ ...t, verifiedChunks: t.verifiedChunks + 1, verifiedRows: (big(t.verifiedRows) + big(e.rows)).toString() })),
        };
      }
      return {
        ...s,
        tables: withTable(s, e.table, (t) => ({ ...t, mismatched: t.mismatched + 1, lastMismatch: e.detail ?? null })),
        log: log({ kind: 'mismatch', at: e.at, table: e.table, detail: e.detail ?? '', within }),
      };

    case 'delta.pass':
      return {
        ...s,
        delta: {
          passes: s.delta.passes + 1,
          lastRangesChanged: e.rangesChanged,
          lastRowsRecopied: e.rowsRecopied,
          rowsRecopied: (big(s.delta.rowsRecopied) + big(e.rowsRecopied)).toString(),
        },
        log: log({ kind: 'delta', at: e.at, pass: e.pass, rangesChanged: e.rangesChanged, rowsRecopied: e.rowsRecopied, ms: e.ms, within }),
      };

    case 'throttled':
      // A changed reason while already throttled updates the reason without counting a new episode.
      return {
        ...s,
        throttle: {
          ...s.throttle,
          active: true,
          reason: e.reason,
          since: s.throttle.active ? s.throttle.since : e.at,
          episodes: s.throttle.episodes + (s.throttle.active ? 0 : 1),
        },
        log: s.throttle.active && s.throttle.reason === e.reason ? s.log : log({ kind: 'throttled', at: e.at, reason: e.reason, within }),
      };

    case 'resumed':
      // Every worker that waited reports the end of the wait: the first one ends the episode.
      if (!s.throttle.active) return s;
      return {
        ...s,
        throttle: { ...s.throttle, active: false, since: null, totalMs: s.throttle.totalMs + e.throttledMs },
        log: log({ kind: 'resumed', at: e.at, ms: e.throttledMs, within }),
      };

    case 'freeze.started':
      return { ...s, freeze: { ...s.freeze, active: true, startedAt: e.at, attempt: e.attempt, capMs: e.capMs } };

    case 'freeze.lifted':
      return {
        ...s,
        freeze: { ...s.freeze, active: false, startedAt: null, lastMs: e.ms, lastReason: e.reason, lastFlipped: e.flipped },
        log: log({ kind: 'freeze', at: e.at, ms: e.ms, flipped: e.flipped, reason: e.reason, within }),
      };

    case 'mapping.flipped':
      return {
        ...s,
        flipped: true,
        flippedAt: e.at,
        userId: s.userId ?? e.userId,
        from: s.from ?? e.from,
        to: s.to ?? e.to,
        log: log({ kind: 'flipped', at: e.at, userId: e.userId, from: e.from, to: e.to }),
      };

    case 'cache.invalidated':
      return { ...s, cacheKeys: [...s.cacheKeys, ...e.keys], log: log({ kind: 'cache', at: e.at, keys: e.keys, within }) };

    case 'cleanup.progress':
      return { ...s, tables: withTable(s, e.table, (t) => ({ ...t, rowsDeleted: e.rowsDeleted })) };

    case 'warning':
      return { ...s, warnings: [...s.warnings, e.message], log: log({ kind: 'warning', at: e.at, message: e.message }) };

    case 'stop.requested':
      if (s.stopping) return s;
      return { ...s, stopping: { signal: e.signal, at: e.at }, log: log({ kind: 'stop', at: e.at, signal: e.signal }) };

    case 'move.finished':
      return {
        ...s,
        outcome: 'finished',
        finalPhase: e.phase,
        flipped: s.flipped || e.mappingFlipped,
        nextStep: e.nextStep ?? null,
        moveTotals: e.totals ?? s.moveTotals,
        current: null,
        throttle: { ...s.throttle, active: false },
        freeze: { ...s.freeze, active: false },
        totalMs: ms(e.at) - ms(s.startedAt ?? e.at),
      };

    case 'move.failed': {
      const stopped = e.code === 'INTERRUPTED';
      const status: PhaseStatus = stopped ? 'stopped' : 'failed';
      const running = s.phases.filter((p) => p.status === 'running');
      return {
        ...s,
        outcome: stopped ? 'stopped' : 'failed',
        flipped: s.flipped || e.mappingFlipped,
        error: { code: e.code, message: e.message },
        nextStep: e.nextStep ?? (s.moveId ? `fw-shard resume ${s.moveId} continues the move.` : null),
        current: null,
        phases: s.phases.map((p) => (p.status === 'running' ? { ...p, status, ms: (p.ms ?? 0) + ms(e.at) - ms(p.startedAt) } : p)),
        throttle: { ...s.throttle, active: false },
        freeze: { ...s.freeze, active: false },
        totalMs: ms(e.at) - ms(s.startedAt ?? e.at),
        log: [...s.log, ...running.map((p): LogEntry => ({ kind: 'phase', at: e.at, phase: p.name, status, ms: (p.ms ?? 0) + ms(e.at) - ms(p.startedAt) }))],
      };
    }

    default:
      // Unknown (newer) event types are ignored, never fatal: old renderers keep working.
      return s;
  }
}

/** Fold a whole recorded sequence. */
export function reduceAll(events: Iterable<MoveEvent>, from: RunState = initialRunState()): RunState {
  let s = from;
  for (const e of events) s = reduce(s, e);
  return s;
}

/** Totals over every table (for summaries and hooks); rows copied and deleted over every run once the move says. */
export function totals(s: RunState): {
  rowsCopied: string;
  rowsTotal: string;
  chunks: number;
  verifiedChunks: number;
  mismatched: number;
  rowsDeleted: string;
} {
  let copied = 0n;
  let total = 0n;
  let deleted = 0n;
  let chunks = 0;
  let verified = 0;
  let mismatched = 0;
  for (const t of s.tables) {
    copied += big(t.rowsCopied);
    total += big(t.rowsTotal);
    deleted += big(t.rowsDeleted);
    chunks += t.chunks;
    verified += t.verifiedChunks;
    mismatched += t.mismatched;
  }
  const whole = s.moveTotals;
  return {
    rowsCopied: whole?.rowsCopied ?? copied.toString(),
    rowsTotal: total.toString(),
    chunks,
    verifiedChunks: verified,
    mismatched,
    rowsDeleted: whole?.rowsDeleted ?? deleted.toString(),
  };
}

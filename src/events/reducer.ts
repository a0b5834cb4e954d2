/**
 * The one pure reducer from move events to a run state. Every renderer (the ink TUI, plain lines, the
 * hooks' environment) reads this state, so the screen, the log and the hooks can never disagree.
 *
 * Invariants:
 *  - `reduce` never mutates its input and reads no clock: every time comes from the events' `at`;
 *  - `log` is append-only (the TUI prints it through <Static>, which relies on that);
 *  - row counts stay decimal strings (64-bit exact); only rates and ETAs are JS numbers (approximate).
 */
import type { MoveEvent, Phase } from './types.js';
import { initialRunState, type LogEntry, type PhaseState, type PhaseStatus, type RunState, type TableState } from './run-state.js';

export * from './run-state.js';
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

/** The log with one more entry. */
const appendLog = (s: RunState, entry: LogEntry): LogEntry[] => [...s.log, entry];

/** Fold one event into the run state. Pure. */
export function reduce(state: RunState, e: MoveEvent): RunState {
  // A different move in the same stream (e.g. `fw-shard cleanup` finishing several): start over.
  let s = state;
  if (e.moveId !== null && s.moveId !== null && e.moveId !== s.moveId) s = initialRunState();
  s = { ...s, updatedAt: e.at, startedAt: s.startedAt ?? e.at, moveId: s.moveId ?? e.moveId };
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

    case 'phase.finished':
      return onPhaseFinished(s, e);

    case 'table.planned':
      return { ...s, tables: withTable(s, e.table, (t) => ({ ...t, rowsTotal: e.rows })) };

    case 'chunk.copied':
      return onChunkCopied(s, e);

    case 'table.copied':
      return onTableCopied(s, e, within);

    case 'chunk.verified':
      return onChunkVerified(s, e, within);

    case 'delta.pass':
      return onDeltaPass(s, e, within);

    case 'throttled':
      return onThrottled(s, e, within);

    case 'resumed':
      return onResumed(s, e, within);

    case 'freeze.started':
      return { ...s, freeze: { ...s.freeze, active: true, startedAt: e.at, attempt: e.attempt, capMs: e.capMs } };

    case 'freeze.lifted':
      return {
        ...s,
        freeze: { ...s.freeze, active: false, startedAt: null, lastMs: e.ms, lastReason: e.reason, lastFlipped: e.flipped },
        log: appendLog(s, { kind: 'freeze', at: e.at, ms: e.ms, flipped: e.flipped, reason: e.reason, within }),
      };

    case 'mapping.flipped':
      return {
        ...s,
        flipped: true,
        flippedAt: e.at,
        userId: s.userId ?? e.userId,
        from: s.from ?? e.from,
        to: s.to ?? e.to,
        log: appendLog(s, { kind: 'flipped', at: e.at, userId: e.userId, from: e.from, to: e.to }),
      };

    case 'cache.invalidated':
      return { ...s, cacheKeys: [...s.cacheKeys, ...e.keys], log: appendLog(s, { kind: 'cache', at: e.at, keys: e.keys, within }) };

    case 'cleanup.progress':
      return { ...s, tables: withTable(s, e.table, (t) => ({ ...t, rowsDeleted: e.rowsDeleted })) };

    case 'warning':
      return { ...s, warnings: [...s.warnings, e.message], log: appendLog(s, { kind: 'warning', at: e.at, message: e.message }) };

    case 'stop.requested':
      if (s.stopping) return s;
      return { ...s, stopping: { signal: e.signal, at: e.at }, log: appendLog(s, { kind: 'stop', at: e.at, signal: e.signal }) };

    case 'move.finished':
      return onMoveFinished(s, e);

    case 'move.failed':
      return onMoveFailed(s, e);
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

/** The phase's time adds up over runs; the final verification's result per table is logged once it is over. */
function onPhaseFinished(s: RunState, e: Extract<MoveEvent, { type: 'phase.finished' }>): RunState {
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

function onChunkCopied(s: RunState, e: Extract<MoveEvent, { type: 'chunk.copied' }>): RunState {
  const atMs = ms(e.at);
  return {
    ...s,
    tables: withTable(s, e.table, (t) => {
      const base = t.baseAtMs === null ? { baseRows: Number(e.rowsCopied) - e.rows, baseAtMs: atMs - e.ms } : { baseRows: t.baseRows, baseAtMs: t.baseAtMs };
      const next = { ...t, ...base, rowsCopied: e.rowsCopied, rowsTotal: e.rowsTotal || t.rowsTotal, chunks: t.chunks + 1, chunkSize: e.chunkSize };
      return { ...next, ...rateOf(next, e.rowsCopied, atMs) };
    }),
  };
}

function onTableCopied(s: RunState, e: Extract<MoveEvent, { type: 'table.copied' }>, within: Phase | null): RunState {
  const prev = s.tables.find((t) => t.name === e.table);
  const rate = prev ? (rateOf(prev, e.rowsCopied, ms(e.at)).rate ?? prev.rate) : null;
  const tables = withTable(s, e.table, (t) => ({ ...t, rowsCopied: e.rowsCopied, chunks: e.chunks, copied: true, etaMs: 0, rate }));
  return { ...s, tables, log: appendLog(s, { kind: 'table.copied', at: e.at, table: e.table, rows: e.rowsCopied, chunks: e.chunks, rate, within }) };
}

function onChunkVerified(s: RunState, e: Extract<MoveEvent, { type: 'chunk.verified' }>, within: Phase | null): RunState {
  if (e.ok) {
    return {
      ...s,
      tables: withTable(s, e.table, (t) => ({ ...t, verifiedChunks: t.verifiedChunks + 1, verifiedRows: (big(t.verifiedRows) + big(e.rows)).toString() })),
    };
  }
  return {
    ...s,
    tables: withTable(s, e.table, (t) => ({ ...t, mismatched: t.mismatched + 1, lastMismatch: e.detail ?? null })),
    log: appendLog(s, { kind: 'mismatch', at: e.at, table: e.table, detail: e.detail ?? '', within }),
  };
}

function onDeltaPass(s: RunState, e: Extract<MoveEvent, { type: 'delta.pass' }>, within: Phase | null): RunState {
  return {
    ...s,
    delta: {
      passes: s.delta.passes + 1,
      lastRangesChanged: e.rangesChanged,
      lastRowsRecopied: e.rowsRecopied,
      rowsRecopied: (big(s.delta.rowsRecopied) + big(e.rowsRecopied)).toString(),
    },
    log: appendLog(s, { kind: 'delta', at: e.at, pass: e.pass, rangesChanged: e.rangesChanged, rowsRecopied: e.rowsRecopied, ms: e.ms, within }),
  };
}

function onThrottled(s: RunState, e: Extract<MoveEvent, { type: 'throttled' }>, within: Phase | null): RunState {
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
    log: s.throttle.active && s.throttle.reason === e.reason ? s.log : appendLog(s, { kind: 'throttled', at: e.at, reason: e.reason, within }),
  };
}

function onResumed(s: RunState, e: Extract<MoveEvent, { type: 'resumed' }>, within: Phase | null): RunState {
  // Every worker that waited reports the end of the wait: the first one ends the episode.
  if (!s.throttle.active) return s;
  return {
    ...s,
    throttle: { ...s.throttle, active: false, since: null, totalMs: s.throttle.totalMs + e.throttledMs },
    log: appendLog(s, { kind: 'resumed', at: e.at, ms: e.throttledMs, within }),
  };
}

function onMoveFinished(s: RunState, e: Extract<MoveEvent, { type: 'move.finished' }>): RunState {
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
}

function onMoveFailed(s: RunState, e: Extract<MoveEvent, { type: 'move.failed' }>): RunState {
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

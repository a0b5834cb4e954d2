/**
 * The engine's ports and values. The engine is a library: it gets everything it touches injected here,
 * never prints, never reads process.*, and returns a MoveResult that the CLI turns into output.
 */
import type { Db } from '../db/pool.js';
import type { CacheInvalidator } from '../cache/memcached.js';
import type { EventSink, MoveTotals, Phase } from '../events/types.js';
import type { Endpoint, ShardId, Topology, UserId } from '../topology/index.js';
import type { JournalPhase } from './phase.js';
import type { ForeignKeyReport } from './foreign-keys.js';
import { DEFAULT_ONLINE_SETTINGS } from '../config/defaults.js';
import type { TablePlan } from './table-plan.js';
import type { CaptureMode } from './capture-choice.js';
import type { RowHash } from '../db/sql/rows.js';
import type { CascadeGraph } from './cascades.js';

export interface Runner {
  host: string;
  pid: number;
  /** The OS user running fw-shard (null when the system cannot tell). */
  user: string | null;
  /** The command line, passwords removed: the journal's trace of who ran a move (fw_shard_move_runs). */
  command: string;
  /** Whether a process on this host is alive (a dead runner's lease may be taken over at once). */
  isAlive(pid: number): boolean;
}

/**
 * Asked before every chunk: resolves when copying may go on. While it waits it reports why through
 * `report` (shown by every renderer), and it gives up waiting when `signal` is aborted.
 */
export interface Throttler {
  wait(ctx: {
    from: number;
    to: number;
    signal?: AbortSignal;
    report(e: { throttled: true; reason: string } | { throttled: false; ms: number }): void;
  }): Promise<void>;
}

export interface MoveDeps {
  topology: Topology;
  /** One Db per endpoint, shared for the whole run; the caller closes them. */
  connect(e: Endpoint): Db;
  cache?: CacheInvalidator;
  events: EventSink;
  clock: { now(): Date };
  runner: Runner;
  throttler?: Throttler;
  /**
   * Called once a new move has passed preflight and before it writes anything (gh-ost's on-startup
   * hook): throwing refuses the move. Other lifecycle hooks consume the event stream instead.
   */
  beforeStart?: (facts: { userId: string; from: number; to: number; totalRows: string }) => Promise<void>;
}

export const CLEANUP_MODES = ['now', 'defer', 'keep'] as const;
export type CleanupMode = (typeof CLEANUP_MODES)[number];

export interface MoveRequest {
  userId: UserId;
  to: ShardId;
  dryRun: boolean;
  /** The operator guarantees the user's writes are stopped for the whole move (offline mode). */
  assumeNoWrites: boolean;
  chunkTimeMs: number;
  /** Fixed chunk size (rows); disables time targeting. */
  chunkSize?: number;
  concurrency: number;
  cleanup: CleanupMode;
  /** --sleep-between-chunks: pause (ms) after each chunk or range of every phase. */
  chunkPauseMs?: number;
  /** Online moves (the default, unless assumeNoWrites): delta passes, then a short bounded freeze. */
  online?: OnlineOptions;
  /** --allow-triggers: move tables that carry the app's triggers fw-shard's writes would fire. */
  allowTriggers?: boolean;
  /** --allow-foreign-keys: move although foreign keys cross the edge of the moved tables (references would dangle). */
  allowForeignKeys?: boolean;
  /** --capture: how an online move captures the user's changes (default auto: trigger when allowed). */
  capture?: CaptureAsk;
}

export type CaptureAsk = 'auto' | 'trigger' | 'rehash';

/**
 * What the operator asked for. The mode fields left out (offline or online, capture, cleanup) mean: a new
 * move's default (online, auto, now), or, for a move being continued, what its journal recorded. Given,
 * they override the journal, and the override is recorded (src/move/mode.ts).
 */
export type MoveAsk = Omit<MoveRequest, 'assumeNoWrites' | 'cleanup'> & { assumeNoWrites?: boolean; cleanup?: CleanupMode };

export interface OnlineOptions {
  /** Hard cap on the freeze (set → lifted), default 5000. */
  freezeCapMs: number;
  /** Wait after setting the freeze for in-flight requests to finish, default 2000. */
  drainMs: number;
  /** Delta passes before each freeze attempt at most, default 10. */
  maxDeltaPasses: number;
  /** Freeze attempts before giving up with the retry-later code, default 3. */
  freezeAttempts: number;
  /** The readiness gate: freeze only once a delta pass re-copied at most this many rows, default 5000. */
  readyRows: number;
}

/** What a request without online settings gets: the flags' defaults (src/config/defaults.ts). */
export const DEFAULT_ONLINE: OnlineOptions = { ...DEFAULT_ONLINE_SETTINGS };

export interface TableReport {
  name: string;
  rows: string;
  bytes: string;
  key: string | null;
  ownerIndexed: boolean;
  chunks: number;
  mismatches: number;
  warnings: string[];
}

export interface MovePlan {
  userId: string;
  from: number;
  to: number;
  sourceIsMain: boolean;
  tables: TableReport[];
  skippedTables: { name: string; reason: string }[];
  /** The foreign keys of the moved tables on both shards, and how fw-shard treats each (src/move/foreign-keys.ts). */
  foreignKeys: ForeignKeyReport[];
  totalRows: string;
  totalBytes: string;
  /** Bytes from the tables' statistics (a real move), or counted row by row (a dry run). */
  bytesEstimated?: boolean;
  warnings: string[];
  /** The preflight's named checks this run passed, in order (src/move/phases/preflight-checks.ts). */
  checks?: string[];
  /** Online moves: trigger (fence and change log on the shards) or rehash (db_main freeze), and why. */
  capture?: {
    mode: 'trigger' | 'rehash';
    reason: string;
    /** Trigger mode: how cascading foreign keys are traced, and which tables are compared whole under the freeze. */
    cascades?: string[];
  };
}

/** A deferred cleanup that `fw-shard cleanup --older-than` does not run yet, and when it will. */
export interface PendingCleanup {
  moveId: string;
  userId: string;
  from: number;
  to: number;
  flippedAt: string | null;
  /** flipped_at + --older-than, by db_main's clock. */
  eligibleAt: string;
  eligibleInMs: number;
}

/** Milliseconds of a run: per phase (`copyMs`: RunContext.timed), the freeze of the attempt that flipped, the whole run. */
export type MoveTimings = Partial<Record<`${Phase}Ms` | 'totalMs', number>>;

export interface MoveResult {
  ok: boolean;
  moveId: string | null;
  userId: string;
  from: number | null;
  to: number;
  /** The last phase reached: a journal phase, or before the journal: 'none' (nothing to do), 'preflight' (dry run). */
  phase: JournalPhase | 'none' | 'preflight';
  mappingFlipped: boolean;
  nothingToDo?: boolean;
  dryRun?: boolean;
  resumed?: boolean;
  plan?: MovePlan;
  tables: TableReport[];
  timings: MoveTimings;
  /**
   * Online moves: how long the user was frozen (freeze set → lifted) in the attempt that flipped, in
   * whichever run that was. Every attempt, and their sum, are in `totals`.
   */
  freezeMs?: number;
  /** Online moves: delta passes of the whole move, over every run. */
  deltaPasses?: number;
  /** The whole move over every run (the first and each resume), from the journal. */
  totals?: MoveTotals;
  /** `fw-shard undo`: the move this one undid (moved the user back from). */
  undoOf?: string;
  /** `fw-shard undo`: rows its copy wrote (what differed on the old shard); the rest were already there. */
  rowsCopied?: string;
  nextStep: string;
  error?: { code: string; message: string };
}

/** What the preflight found (phases/preflight.ts): the plan, the tables as planned, and how the run copies and captures. */
export interface Preflight {
  plan: MovePlan;
  tables: TablePlan[];
  sqlMode: string;
  maxPacket: number;
  /** Online moves: how the user's changes are captured (src/move/guard.ts chooseCapture). */
  capture: { mode: CaptureMode; reason: string; mariadb: boolean };
  /** The range hash of the move (set on every table plan): the journaled one, or the best both servers have. */
  rowHash: RowHash;
  /** The source's cascading foreign keys among the moved tables (trigger mode traces them: src/move/cascades.ts). */
  cascades: CascadeGraph;
}

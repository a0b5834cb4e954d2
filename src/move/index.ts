/**
 * The engine's front door: everything outside src/move reaches the engine through this module, so what
 * the engine can do is read here, and a module of src/move can be split or renamed without touching its
 * callers (eslint's no-restricted-imports refuses a deeper path from outside).
 *
 * The entry points move one user and run the journal's lifecycle: start (runMove), resume, abort, undo,
 * stop, and the deferred cleanups with their pending list. Journal reading, the guard's state and the
 * table planning that fleet, plan and status commands share come next; then the public types.
 */

// Entry points: one user's move and its lifecycle.
export { pendingCleanups, resumeMove, runDeferredCleanups, runMove, type RunOptions } from './engine.js';
export { abortMove } from './abort.js';
export { undoMove, type UndoRequest } from './undo.js';
export { stopMove, type StopResult } from './stop.js';
export { MoveFailedError, partialResultOf } from './move-error.js';

// The journal, read (status, verify, fleet commands).
export { JournalReader, type ChunkRow, type MoveRow, type MoveRunRow, type MoveTableRow } from './journal.js';
export { parseJournalOptions } from './mode.js';
export { decodeKey, showKey } from './keys.js';
export { isDirty } from './phases/sync.js';

// The guard (fences and triggers on the shards): its state, its tidying, its install.
export { Guard, readFences } from './guard.js';
export { readGuardStates, retentionSeconds, showSeconds, tidyGuards, type JudgedFence, type ShardGuardState, type ShardTidy } from './guard-lifecycle.js';

// Tables: which move, how each is read and compared (plan sizes, orphans, status drift).
export { diffTables, estimatedBytes, indexDifferences, planTable, type TablePlan } from './table-plan.js';
export { mainTablesOnShard, selectionWarnings, selectTables, undeclaredTablesError } from './table-selection.js';
export { linkChildren } from './owner-paths.js';
export { Inspector, parseRowHashes } from './inspector.js';
export { showForeignKey } from './foreign-keys.js';

// The throttler the runner is built with.
export { makeThrottler, parseMaxLoad, type ThrottleSettings } from './throttler.js';

// Public types.
export {
  CLEANUP_MODES,
  type CleanupMode,
  type MoveAsk,
  type MoveDeps,
  type MovePlan,
  type MoveResult,
  type MoveTimings,
  type OnlineOptions,
  type PendingCleanup,
  type Runner,
} from './types.js';

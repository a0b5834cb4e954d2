/**
 * One home for the defaults an operator can change by a flag, its environment twin or a playbook key:
 * the option builders (src/cli/options.ts), the request builders (src/app/move-request.ts, playbooks)
 * and the engine's own fallback (src/move/types.ts DEFAULT_ONLINE) all read them here, in the words
 * the help shows ("5s"), so the help, a request built without the flag and the engine agree.
 */
import { parseDuration } from './units.js';

export const FLAG_DEFAULTS = {
  /** online: hard cap on how long the user is frozen. */
  freezeCap: '5s',
  /** online: wait after freezing for in-flight requests. */
  drain: '2s',
  maxDeltaPasses: '10',
  freezeAttempts: '3',
  readyRows: '5000',
  /** Target time per chunk: the chunk size adapts to it. */
  chunkTime: '500ms',
  /** Tables copied at once within one move. */
  tableConcurrency: '2',
} as const;

/** The online settings the defaults above mean, as numbers (what a request carries). */
export const DEFAULT_ONLINE_SETTINGS = {
  freezeCapMs: parseDuration(FLAG_DEFAULTS.freezeCap, '--freeze-cap'),
  drainMs: parseDuration(FLAG_DEFAULTS.drain, '--drain'),
  maxDeltaPasses: Number(FLAG_DEFAULTS.maxDeltaPasses),
  freezeAttempts: Number(FLAG_DEFAULTS.freezeAttempts),
  readyRows: Number(FLAG_DEFAULTS.readyRows),
} as const;

/** FLAG_DEFAULTS.chunkTime in milliseconds. */
export const DEFAULT_CHUNK_TIME_MS = parseDuration(FLAG_DEFAULTS.chunkTime, '--chunk-time');

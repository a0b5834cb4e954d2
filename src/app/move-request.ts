/**
 * Building what the engine is asked to do from the operator's words (flags, env twins, playbook keys):
 * one place for the move request, the online settings and the throttle settings, so `move`, `resume`,
 * `cleanup`, `apply` and `run` read them the same way.
 */
import { FLAG_DEFAULTS } from '../config/defaults.js';
import { parseChoice, parseDuration, parsePositiveInt } from '../config/units.js';
import { usage } from '../errors/index.js';
import { CLEANUP_MODES, type CleanupMode, type MoveAsk, type OnlineOptions, parseMaxLoad, type ThrottleSettings } from '../move/index.js';

interface OnlineFlags {
  freezeCap?: string;
  drain?: string;
  maxDeltaPasses?: string;
  freezeAttempts?: string;
  readyRows?: string;
}

function onlineSettings(opts: OnlineFlags): OnlineOptions {
  return {
    freezeCapMs: parseDuration(opts.freezeCap ?? FLAG_DEFAULTS.freezeCap, '--freeze-cap'),
    drainMs: parseDuration(opts.drain ?? FLAG_DEFAULTS.drain, '--drain'),
    maxDeltaPasses: parsePositiveInt(opts.maxDeltaPasses ?? FLAG_DEFAULTS.maxDeltaPasses, '--max-delta-passes', 1000),
    freezeAttempts: parsePositiveInt(opts.freezeAttempts ?? FLAG_DEFAULTS.freezeAttempts, '--freeze-attempts', 100),
    readyRows: parsePositiveInt(opts.readyRows ?? FLAG_DEFAULTS.readyRows, '--ready-rows', 100_000_000),
  };
}

export interface ThrottleFlags {
  maxLag?: string;
  maxLoad?: string;
  throttleQuery?: string;
  pauseFile?: string;
}

/**
 * The throttle settings asked for, or undefined when none was given. `names` words the errors: the
 * flags by default, a playbook's guardrail keys for `run`.
 */
export function throttleSettings(
  o: ThrottleFlags,
  names: { maxLag: string; maxLoad: string } = { maxLag: '--max-lag', maxLoad: '--max-load' },
): ThrottleSettings | undefined {
  const s: ThrottleSettings = {
    ...(o.maxLag ? { maxLagMs: parseDuration(o.maxLag, names.maxLag) } : {}),
    ...(o.maxLoad ? { maxLoad: parseMaxLoad(o.maxLoad, names.maxLoad) } : {}),
    ...(o.throttleQuery ? { throttleQuery: o.throttleQuery } : {}),
    ...(o.pauseFile ? { pauseFile: o.pauseFile } : {}),
  };
  return Object.keys(s).length ? s : undefined;
}

export interface RequestFlags extends OnlineFlags {
  assumeNoWrites?: boolean;
  /** resume/move: continue a move journaled offline online (a new move is online without it). */
  online?: boolean;
  chunkTime: string;
  chunkSize?: string;
  sleepBetweenChunks?: string;
  allowTriggers?: boolean;
  allowForeignKeys?: boolean;
  capture?: 'auto' | 'trigger' | 'rehash';
}

export type RequestSettings = Omit<MoveAsk, 'userId' | 'to' | 'cleanup' | 'dryRun'>;

/**
 * Everything in a move request but the user, the target, the cleanup mode and dry-run. `tables` is the
 * tables-at-once flag: `--concurrency` for one move, `--table-concurrency` for apply. The mode
 * (--assume-no-writes or --online, --capture) is set only when given: a continued move keeps its
 * journaled mode otherwise (src/move/mode.ts).
 */
export function requestSettings(opts: RequestFlags, tables: { text: string; flag: string }): RequestSettings {
  if (opts.assumeNoWrites && opts.online) throw usage('give --assume-no-writes or --online, not both');
  return {
    ...(opts.assumeNoWrites ? { assumeNoWrites: true } : opts.online ? { assumeNoWrites: false } : {}),
    chunkTimeMs: parseDuration(opts.chunkTime, '--chunk-time'),
    ...(opts.chunkSize !== undefined ? { chunkSize: parsePositiveInt(opts.chunkSize, '--chunk-size', 1_000_000) } : {}),
    concurrency: parsePositiveInt(tables.text, tables.flag, 64),
    ...(opts.sleepBetweenChunks ? { chunkPauseMs: parseDuration(opts.sleepBetweenChunks, '--sleep-between-chunks') } : {}),
    online: onlineSettings(opts),
    ...(opts.allowTriggers ? { allowTriggers: true } : {}),
    ...(opts.allowForeignKeys ? { allowForeignKeys: true } : {}),
    ...(opts.capture ? { capture: opts.capture } : {}),
  };
}

export function cleanupModeOf(text: string, flag = '--cleanup'): CleanupMode {
  return parseChoice(text, flag, CLEANUP_MODES);
}

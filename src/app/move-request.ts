/**
 * Building what the engine is asked to do from the operator's words (flags, env twins, playbook keys):
 * one place for the move request, the online settings and the throttle settings, so `move`, `resume`,
 * `cleanup`, `apply` and `run` read them the same way.
 */
import { parseChoice, parseDuration, parsePositiveInt } from '../config/units.js';
import type { CleanupMode, MoveRequest, OnlineOptions } from '../move/types.js';
import { parseMaxLoad, type ThrottleSettings } from '../move/throttler.js';

export interface OnlineFlags {
  freezeCap?: string;
  drain?: string;
  maxDeltaPasses?: string;
  freezeAttempts?: string;
  readyRows?: string;
}

export function onlineSettings(opts: OnlineFlags): OnlineOptions {
  return {
    freezeCapMs: parseDuration(opts.freezeCap ?? '5s', '--freeze-cap'),
    drainMs: parseDuration(opts.drain ?? '2s', '--drain'),
    maxDeltaPasses: parsePositiveInt(opts.maxDeltaPasses ?? '10', '--max-delta-passes', 1000),
    freezeAttempts: parsePositiveInt(opts.freezeAttempts ?? '3', '--freeze-attempts', 100),
    readyRows: parsePositiveInt(opts.readyRows ?? '5000', '--ready-rows', 100_000_000),
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
  chunkTime: string;
  chunkSize?: string;
  sleepBetweenChunks?: string;
  allowTriggers?: boolean;
  allowForeignKeys?: boolean;
  capture?: 'auto' | 'trigger' | 'rehash';
}

export type RequestSettings = Omit<MoveRequest, 'userId' | 'to' | 'cleanup' | 'dryRun'>;

/**
 * Everything in a move request but the user, the target, the cleanup mode and dry-run. `tables` is the
 * tables-at-once flag: `--concurrency` for one move, `--table-concurrency` for apply.
 */
export function requestSettings(opts: RequestFlags, tables: { text: string; flag: string }): RequestSettings {
  return {
    assumeNoWrites: Boolean(opts.assumeNoWrites),
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

export const CLEANUP_MODES = ['now', 'defer', 'keep'] as const;

export function cleanupModeOf(text: string, flag = '--cleanup'): CleanupMode {
  return parseChoice(text, flag, CLEANUP_MODES);
}

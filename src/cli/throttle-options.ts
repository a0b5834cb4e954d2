/**
 * The throttle flags shared by every command that writes (move, resume, cleanup, apply, run), and their
 * environment twins. See src/move/throttler.ts for what each checks.
 */
import { Option, type Command } from 'commander';
import { parseMaxLoad, type ThrottleSettings } from '../move/throttler.js';
import { parseDuration } from '../config/units.js';

export function throttleOptions(cmd: Command): Command {
  return cmd
    .addOption(new Option('--max-lag <duration>', "wait while a configured replica of the source's or target's shard lags more than this (or is not replicating)").env('FW_SHARD_MAX_LAG'))
    .addOption(new Option('--max-load <status=n>', 'wait while a global status counter on the source or target server exceeds this, e.g. Threads_running=25').env('FW_SHARD_MAX_LOAD'))
    .addOption(new Option('--throttle-query <sql>', 'wait while this query on db_main returns a number above 0 (gh-ost style)').env('FW_SHARD_THROTTLE_QUERY'))
    .addOption(new Option('--pause-file <path>', 'wait while this file exists (touch it to pause, rm it to go on)').env('FW_SHARD_PAUSE_FILE'));
}

interface ThrottleFlags {
  maxLag?: string;
  maxLoad?: string;
  throttleQuery?: string;
  pauseFile?: string;
}

/** The settings the flags ask for, or undefined when none was given. */
export function throttleSettings(opts: object): ThrottleSettings | undefined {
  const o = opts as ThrottleFlags;
  const s: ThrottleSettings = {
    ...(o.maxLag ? { maxLagMs: parseDuration(o.maxLag, '--max-lag') } : {}),
    ...(o.maxLoad ? { maxLoad: parseMaxLoad(o.maxLoad) } : {}),
    ...(o.throttleQuery ? { throttleQuery: o.throttleQuery } : {}),
    ...(o.pauseFile ? { pauseFile: o.pauseFile } : {}),
  };
  return Object.keys(s).length ? s : undefined;
}

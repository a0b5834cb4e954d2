/** The online-move flags, shared by move/resume/cleanup and apply so they mean the same everywhere. */
import { Option, type Command } from 'commander';
import type { OnlineOptions } from '../move/types.js';
import { parseDuration, parsePositiveInt } from '../config/units.js';

export interface OnlineFlags {
  freezeCap?: string;
  drain?: string;
  maxDeltaPasses?: string;
  freezeAttempts?: string;
  readyRows?: string;
}

export function onlineOptions(cmd: Command): Command {
  return cmd
    .addOption(new Option('--freeze-cap <duration>', 'online: hard cap on how long the user is frozen').default('5s').env('FW_SHARD_FREEZE_CAP'))
    .addOption(new Option('--drain <duration>', 'online: wait after freezing for in-flight requests').default('2s').env('FW_SHARD_DRAIN'))
    .addOption(new Option('--max-delta-passes <n>', 'online: delta passes before each freeze attempt').default('10').env('FW_SHARD_MAX_DELTA_PASSES'))
    .addOption(new Option('--freeze-attempts <n>', 'online: freeze attempts before giving up (exit 7, retry later)').default('3').env('FW_SHARD_FREEZE_ATTEMPTS'))
    .addOption(new Option('--ready-rows <n>', 'online: freeze once a delta pass re-copies at most this many rows').default('5000').env('FW_SHARD_READY_ROWS'));
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

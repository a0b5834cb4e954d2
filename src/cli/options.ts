/**
 * Flag declarations shared by several commands, so a flag means the same everywhere: the online-move
 * flags (move, resume, cleanup, apply) and the throttle flags (every command that writes). Their values
 * become settings in src/app/move-request.ts; see src/move/throttler.ts for what each throttle checks.
 */
import { Option, type Command } from 'commander';
import { FLAG_DEFAULTS } from '../config/defaults.js';

export function onlineOptions(cmd: Command): Command {
  return cmd
    .addOption(
      new Option('--freeze-cap <duration>', 'online: hard cap on how long the user is frozen').default(FLAG_DEFAULTS.freezeCap).env('FW_SHARD_FREEZE_CAP'),
    )
    .addOption(new Option('--drain <duration>', 'online: wait after freezing for in-flight requests').default(FLAG_DEFAULTS.drain).env('FW_SHARD_DRAIN'))
    .addOption(
      new Option('--max-delta-passes <n>', 'online: delta passes before each freeze attempt')
        .default(FLAG_DEFAULTS.maxDeltaPasses)
        .env('FW_SHARD_MAX_DELTA_PASSES'),
    )
    .addOption(
      new Option('--freeze-attempts <n>', 'online: freeze attempts before giving up (exit 7, retry later)')
        .default(FLAG_DEFAULTS.freezeAttempts)
        .env('FW_SHARD_FREEZE_ATTEMPTS'),
    )
    .addOption(
      new Option('--ready-rows <n>', 'online: freeze once a delta pass re-copies at most this many rows')
        .default(FLAG_DEFAULTS.readyRows)
        .env('FW_SHARD_READY_ROWS'),
    )
    .addOption(
      new Option(
        '--capture <mode>',
        'online: trigger (fence and change log on the shards), rehash (re-hash passes, freeze in db_main), or auto (trigger where the servers allow it; the default for a new move; a resumed move keeps the capture it started with)',
      )
        .choices(['auto', 'trigger', 'rehash'])
        .env('FW_SHARD_CAPTURE'),
    );
}

/**
 * `move` and `resume`: the mode of a move being continued is the journal's; --assume-no-writes or
 * --online given explicitly changes it (recorded, with a warning).
 */
export function modeOptions(cmd: Command): Command {
  return cmd
    .addOption(assumeNoWritesOption())
    .addOption(
      new Option('--online', 'continue a move journaled offline online (a new move is online without it)').conflicts('assumeNoWrites').env('FW_SHARD_ONLINE'),
    );
}

/**
 * Chunk sizing, declared once for every command that copies (move, resume, undo, apply): a target time
 * per chunk the size adapts to, or a fixed size.
 */
export function chunkOptions(cmd: Command, time = 'target time per chunk; the chunk size adapts to it'): Command {
  return cmd
    .addOption(new Option('--chunk-time <duration>', time).default(FLAG_DEFAULTS.chunkTime).env('FW_SHARD_CHUNK_TIME'))
    .addOption(new Option('--chunk-size <rows>', 'fixed rows per chunk (disables --chunk-time)').env('FW_SHARD_CHUNK_SIZE'));
}

/** Offline mode (move, resume, and undo, which is a new move: online without it). */
export function assumeNoWritesOption(): Option {
  return new Option('--assume-no-writes', "offline mode: the operator has stopped the user's writes for the whole move (no delta passes, no freeze)").env(
    'FW_SHARD_ASSUME_NO_WRITES',
  );
}

/** Every command that does work: its metrics for node_exporter's textfile collector (metrics-file.ts). */
export function metricsOption(): Option {
  return new Option(
    '--metrics-file <path>',
    "write what the command did (Prometheus text format, atomically) to this file, for node_exporter's textfile collector",
  );
}

export function throttleOptions(cmd: Command): Command {
  return cmd
    .addOption(metricsOption())
    .addOption(
      new Option('--max-lag <duration>', "wait while a configured replica of the source's or target's shard lags more than this (or is not replicating)").env(
        'FW_SHARD_MAX_LAG',
      ),
    )
    .addOption(
      new Option('--max-load <status=n>', 'wait while a global status counter on the source or target server exceeds this, e.g. Threads_running=25').env(
        'FW_SHARD_MAX_LOAD',
      ),
    )
    .addOption(new Option('--throttle-query <sql>', 'wait while this query on db_main returns a number above 0 (gh-ost style)').env('FW_SHARD_THROTTLE_QUERY'))
    .addOption(new Option('--pause-file <path>', 'wait while this file exists (touch it to pause, rm it to go on)').env('FW_SHARD_PAUSE_FILE'));
}

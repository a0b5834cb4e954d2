import { Option, type Command } from 'commander';
import { createInterface } from 'node:readline/promises';
import { cleanupModeOf, requestSettings, throttleSettings, type RequestFlags, type RequestSettings, type ThrottleFlags } from '../../app/move-request.js';
import { parseDuration } from '../../config/units.js';
import { FLAG_DEFAULTS } from '../../config/defaults.js';
import { ExitCode, FwShardError } from '../../errors/index.js';
import {
  abortMove,
  type CleanupMode,
  type MoveAsk,
  type MoveDeps,
  type MoveResult,
  partialResultOf,
  pendingCleanups,
  resumeMove,
  retentionSeconds,
  runDeferredCleanups,
  runMove,
  tidyGuards,
  undoMove,
  type UndoRequest,
} from '../../move/index.js';
import { renderDeferredCleanups, renderMoveResult, renderPlan } from '../../report/move.js';
import { parseShardId, parseUserId } from '../../topology/index.js';
import type { LoadedTopology } from '../../app/topology.js';
import { action } from '../action.js';
import { loadTopologyResolved, log, out, printJson, type CliContext, type Register } from '../context.js';
import { assumeNoWritesOption, chunkOptions, metricsOption, modeOptions, onlineOptions, throttleOptions } from '../options.js';
import { renderTidy } from '../../report/guard.js';
import { orphanFlagsGiven, orphanOptions, runOrphanCleanup } from '../orphan-cleanup.js';
import { errorDocument, reportErrorText } from '../report-error.js';
import { withRunSession, type SessionFlags } from '../run-session.js';
import { moveRef } from '../move-ref.js';

interface CommonOpts extends RequestFlags, ThrottleFlags, SessionFlags {
  concurrency: string;
  cleanup?: string;
}

/** cleanup's flags: runOptions, --older-than and --orphans' own. */
type CleanupOpts = Pick<RequestFlags, 'sleepBetweenChunks' | 'allowTriggers'> &
  ThrottleFlags &
  Omit<SessionFlags, 'tui'> & { olderThan: string; fenceRetention?: string; orphans?: boolean; dryRun?: boolean; user?: string; shard?: string };

const ONE_TABLE = { text: '1', flag: '--concurrency' };

/**
 * What every run of the engine reads (move, resume and cleanup's deferred cleanups): the output, the
 * hooks, the throttle and the pause between chunks (cleanup pauses between the ranges it deletes), and
 * --allow-triggers (cleanup's deletes fire triggers too).
 */
function runOptions(cmd: Command): Command {
  return throttleOptions(cmd)
    .addOption(new Option('--json', 'print one JSON document on stdout (the result, or the error)'))
    .addOption(new Option('--events', 'stream NDJSON events on stdout before the final --json document'))
    .addOption(
      new Option('--hooks-dir <dir>', 'run the executables there on lifecycle events (on-start, on-flip, on-success, on-failure, ...)').env(
        'FW_SHARD_HOOKS_DIR',
      ),
    )
    .addOption(new Option('--sleep-between-chunks <duration>', 'pause after every chunk (gentler on busy servers)').env('FW_SHARD_SLEEP_BETWEEN_CHUNKS'))
    .addOption(
      new Option('--allow-triggers', "move tables whose triggers fire on fw-shard's copies and deletes (refused by default)").env('FW_SHARD_ALLOW_TRIGGERS'),
    );
}

/** move and resume: runOptions, and what copying reads (the online flags, chunk sizing, the live view). */
function commonOptions(cmd: Command): Command {
  return chunkOptions(runOptions(onlineOptions(cmd)))
    .addOption(new Option('--no-tui', 'plain progress lines on stderr even on a terminal (the env twin takes any value)').env('FW_SHARD_NO_TUI'))
    .addOption(new Option('--concurrency <n>', 'tables copied at once').default(FLAG_DEFAULTS.tableConcurrency).env('FW_SHARD_CONCURRENCY'))
    .addOption(
      new Option(
        '--allow-foreign-keys',
        'move although foreign keys link moved tables with tables that stay, so references would dangle (refused by default)',
      ).env('FW_SHARD_ALLOW_FOREIGN_KEYS'),
    );
}

function baseRequest(opts: CommonOpts): RequestSettings {
  return requestSettings(opts, { text: opts.concurrency, flag: '--concurrency' });
}

/** --cleanup when given (a continued move keeps its journaled mode otherwise). */
function cleanupAsked(opts: CommonOpts): { cleanup?: CleanupMode } {
  return opts.cleanup !== undefined ? { cleanup: cleanupModeOf(opts.cleanup) } : {};
}

/** Run an engine call in a run session; print its result, or with --json the error document (with the partial result). */
async function runEngine(
  ctx: CliContext,
  opts: CommonOpts,
  loaded: LoadedTopology,
  call: (deps: MoveDeps, signal: AbortSignal) => Promise<MoveResult>,
  confirm?: (deps: MoveDeps) => Promise<boolean>,
): Promise<number> {
  try {
    const r = await withRunSession(ctx, opts, loaded.topology, throttleSettings(opts), call, confirm);
    if (r === undefined) return ExitCode.ok; // not confirmed, or nothing to do: said already
    if (opts.json) printJson(ctx, { ...r }, opts);
    else out(ctx, renderMoveResult(r));
    return ExitCode.ok;
  } catch (err) {
    if (opts.json && err instanceof FwShardError) {
      printJson(ctx, errorDocument(err, partialResultOf(err)), opts);
      return reportErrorText(ctx, err);
    }
    throw err;
  }
}

async function confirm(ctx: CliContext, question: string): Promise<boolean> {
  const rl = createInterface({ input: process.stdin, output: ctx.stderr });
  try {
    const answer = await rl.question(question);
    return /^y(es)?$/i.test(answer.trim());
  } finally {
    rl.close();
  }
}

/**
 * Without --yes: refuse without a terminal (cron must say what it means); on one, show the plan of a dry
 * run (which writes nothing) and ask. False: nothing is to be done (said on stdout or stderr).
 */
function confirmation(ctx: CliContext, what: 'move' | 'undo', dryRun: (deps: MoveDeps) => Promise<MoveResult>): (deps: MoveDeps) => Promise<boolean> {
  if (!ctx.stdinIsTTY || !ctx.stderr.isTTY) {
    throw new FwShardError('USAGE', `refusing to ${what} without confirmation: no terminal to ask on`, {
      hint: 'Pass --yes (cron and scripts must say what they mean), or --dry-run to see the plan.',
    });
  }
  return (deps) => confirmed(ctx, what, dryRun, deps);
}

async function confirmed(ctx: CliContext, what: 'move' | 'undo', dryRun: (deps: MoveDeps) => Promise<MoveResult>, deps: MoveDeps): Promise<boolean> {
  const plan = await dryRun(deps);
  if (plan.nothingToDo) {
    out(ctx, plan.nextStep);
    return false;
  }
  log(ctx, plan.plan ? renderPlan(plan.plan) : plan.nextStep);
  if (await confirm(ctx, `Proceed with the ${what}? [y/N] `)) return true;
  log(ctx, what === 'move' ? 'Not moved.' : 'Not undone.');
  return false;
}

export const registerMove: Register = (program, ctx, setExit, globals) => {
  registerMoveCommand(program, ctx, setExit, globals);
  registerResume(program, ctx, setExit, globals);
  registerAbort(program, ctx, setExit, globals);
  registerUndo(program, ctx, setExit, globals);
  registerCleanup(program, ctx, setExit, globals);
};

/** `fw-shard move`: one user to another shard (asks first on a terminal). */
const registerMoveCommand: Register = (program, ctx, setExit, globals) => {
  commonOptions(
    modeOptions(program.command('move'))
      .description("move one user's rows to another shard: copy in chunks, verify, flip cluster_id, clean up")
      .requiredOption('--user <id>', 'the user id (users.id)')
      .requiredOption('--to <shard>', 'the target shard id (1..255)')
      .option('--dry-run', 'run the preflight checks and print the plan; write nothing')
      .option('-y, --yes', 'do not ask for confirmation (required without a terminal)')
      .addOption(
        new Option(
          '--cleanup <mode>',
          'now (the default): delete the source rows after the flip; defer: leave them for `fw-shard cleanup`; keep: never delete',
        ).env('FW_SHARD_CLEANUP'),
      ),
  )
    .addHelpText(
      'after',
      `
Examples:
  $ fw-shard move --user 42 --to 23 --dry-run          what would move, with exact row counts
  $ fw-shard move --user 42 --to 23 --yes                 online: the user keeps writing; frozen ~2 s at the end
  $ fw-shard move --user 42 --to 23 --yes --cleanup defer --json
  $ fw-shard move --user 42 --to 23 --yes --assume-no-writes   offline: you stopped the user's writes

Running the same command again after a crash or Ctrl-C resumes the move from the journal, in the mode
it was started with (offline or online, capture, cleanup); a flag given explicitly changes it.`,
    )
    .action(
      action(ctx, setExit, async (opts: CommonOpts & { user: string; to: string; dryRun?: boolean; yes?: boolean }) => {
        const loaded = await loadTopologyResolved(ctx, globals());
        const userId = parseUserId(opts.user);
        const to = parseShardId(opts.to, loaded.topology, '--to');
        const req: MoveAsk = { ...baseRequest(opts), userId, to, ...cleanupAsked(opts), dryRun: Boolean(opts.dryRun) };
        const ask = !req.dryRun && !opts.yes ? confirmation(ctx, 'move', (deps) => runMove(deps, { ...req, dryRun: true })) : undefined;
        return runEngine(ctx, opts, loaded, (deps, signal) => runMove(deps, req, { signal }), ask);
      }),
    );
};

/** `fw-shard resume MOVE-ID`: continue an unfinished move from the journal. */
const registerResume: Register = (program, ctx, setExit, globals) => {
  commonOptions(
    modeOptions(program.command('resume'))
      .description('continue an unfinished move from the journal')
      .argument('<move-id>', 'the move id (fw-shard moves lists them)')
      .addOption(new Option('--cleanup <mode>', 'change the cleanup mode recorded for the move (now, defer, keep)')),
  )
    .addHelpText(
      'after',
      `
The move continues in the mode its journal recorded: offline (--assume-no-writes) or online, its
capture, its cleanup mode. --assume-no-writes, --online, --capture or --cleanup given explicitly change
it; the change is recorded in the journal and printed as a warning.

Examples:
  $ fw-shard resume 9007199254741001
  $ fw-shard resume 9007199254741001 --online           a move started offline continues online
  $ fw-shard resume 9007199254741001 --cleanup now      a deferred cleanup, now`,
    )
    .action(
      action(ctx, setExit, async (opts: CommonOpts, id: string) => {
        const loaded = await loadTopologyResolved(ctx, globals());
        if (!/^[0-9]+$/.test(id)) throw new FwShardError('USAGE', `move id must be digits, got '${id}'`);
        return runEngine(ctx, opts, loaded, (deps, signal) => resumeMove(deps, id, { ...baseRequest(opts), dryRun: false, ...cleanupAsked(opts) }, { signal }));
      }),
    );
};

/** `fw-shard abort`: undo an unfinished move before its flip. */
const registerAbort: Register = (program, ctx, setExit, globals) => {
  program
    .command('abort')
    .description('undo an unfinished move before its flip: delete what was copied to the target')
    .argument('[move-id]', 'the move id')
    .option('--user <id>', "abort this user's unfinished move")
    .option('--json', 'print one JSON document on stdout')
    .addOption(metricsOption())
    .addOption(new Option('--no-tui', 'plain progress lines on stderr even on a terminal').env('FW_SHARD_NO_TUI'))
    .addOption(
      new Option('--hooks-dir <dir>', 'run the executables there on lifecycle events (on-phase, on-success, on-failure, ...)').env('FW_SHARD_HOOKS_DIR'),
    )
    .addHelpText(
      'after',
      '\nExamples:\n  $ fw-shard abort 9007199254741001\n  $ fw-shard abort --user 42\n\nAfter the flip, abort refuses: move the user back instead. A move that is running is BUSY (exit 7): fw-shard stop ID first.',
    )
    .action(
      action(ctx, setExit, async (opts: { user?: string; json?: boolean; tui?: boolean; hooksDir?: string }, id?: string) => {
        const loaded = await loadTopologyResolved(ctx, globals());
        const ref = moveRef(id, opts.user);
        return runEngine(ctx, { ...opts, chunkTime: FLAG_DEFAULTS.chunkTime, concurrency: '1' }, loaded, (deps, signal) => abortMove(deps, ref, { signal }));
      }),
    );
};

/** `fw-shard undo MOVE-ID`: move the user of a flipped move back onto the rows its old shard kept. */
const registerUndo: Register = (program, ctx, setExit, globals) => {
  commonOptions(
    program
      .command('undo')
      .description("after a move's flip, move the user back to the old shard, which kept its rows (--cleanup defer or keep): only what changed is copied")
      .argument('<move-id>', 'the flipped move to undo (fw-shard moves --all lists them)')
      .addOption(assumeNoWritesOption())
      .option('--dry-run', 'run the checks and print the plan; write nothing')
      .option('-y, --yes', 'do not ask for confirmation (required without a terminal)')
      .addOption(
        new Option(
          '--cleanup <mode>',
          "after the undo's flip, the new shard's rows: now: delete them; defer: leave them for `fw-shard cleanup`; keep: never delete",
        )
          .default('now')
          .env('FW_SHARD_CLEANUP'),
      ),
  )
    .addHelpText(
      'after',
      `
Examples:
  $ fw-shard undo 9007199254741001 --dry-run
  $ fw-shard undo 9007199254741001 --yes                  online, like a move; the undone move's cleanup is cancelled

Refused (with the command to run instead) before the flip (fw-shard abort), after the move's cleanup
deleted rows on the old shard (fw-shard move --user ID --to OLD), when the user has moved since, or while
another move of the user is unfinished. A killed undo is finished by fw-shard resume, or undone by
fw-shard abort (the old shard's rows stay; the undone move's deferred cleanup is pending again).`,
    )
    .action(
      action(ctx, setExit, async (opts: CommonOpts & { dryRun?: boolean; yes?: boolean }, id: string) => {
        const loaded = await loadTopologyResolved(ctx, globals());
        if (!/^[0-9]+$/.test(id)) throw new FwShardError('USAGE', `move id must be digits, got '${id}'`);
        const base = baseRequest(opts);
        // An undo is a new move: online unless --assume-no-writes says otherwise.
        const req: UndoRequest = {
          ...base,
          assumeNoWrites: base.assumeNoWrites ?? false,
          cleanup: cleanupModeOf(opts.cleanup ?? 'now'),
          dryRun: Boolean(opts.dryRun),
        };
        const ask = !req.dryRun && !opts.yes ? confirmation(ctx, 'undo', (deps) => undoMove(deps, id, { ...req, dryRun: true })) : undefined;
        return runEngine(ctx, opts, loaded, (deps, signal) => undoMove(deps, id, req, { signal }), ask);
      }),
    );
};

/** `fw-shard cleanup`: deferred cleanups, or with --orphans leftover rows. */
const registerCleanup: Register = (program, ctx, setExit, globals) => {
  runOptions(
    orphanOptions(program.command('cleanup'))
      .description(
        "delete the source rows of moves flipped with --cleanup defer, once caches have expired; with --orphans, leftover rows identical on their user's shard",
      )
      .addOption(new Option('--older-than <duration>', 'only moves flipped at least this long ago').default('15m'))
      .addOption(
        new Option('--fence-retention <duration>', "lift moved users' fences older than this (default: config guard.retention, else 24h)").env(
          'FW_SHARD_FENCE_RETENTION',
        ),
      ),
  )
    .addHelpText(
      'after',
      "\nExamples (cron):\n  */10 * * * *  fw-shard cleanup --older-than 15m\n  0 6 * * *     fw-shard cleanup --orphans --dry-run    (list leftovers; without --dry-run deletes those identical on the user's shard)\n",
    )
    .action(
      action(ctx, setExit, async (opts: CleanupOpts) => {
        const loaded = await loadTopologyResolved(ctx, globals());
        if (opts.orphans || orphanFlagsGiven(opts)) return runOrphanCleanup(ctx, loaded, opts);
        const olderMs = parseDuration(opts.olderThan, '--older-than');
        // Several moves in one run (cron): always plain lines, never the one-move TUI.
        const olderThanSeconds = Math.floor(olderMs / 1000);
        const retention = retentionSeconds(loaded.topology, opts.fenceRetention);
        const { results, pending, guard } = await withRunSession(
          ctx,
          { ...opts, tui: false },
          loaded.topology,
          throttleSettings(opts),
          async (deps, signal) => ({
            // Deleting follows the journal's ranges one at a time: no chunk sizing, no copy concurrency.
            results: await runDeferredCleanups(
              deps,
              olderThanSeconds,
              { ...requestSettings({ ...opts, chunkTime: FLAG_DEFAULTS.chunkTime }, ONE_TABLE), dryRun: false },
              { signal },
            ),
            pending: await pendingCleanups(deps, olderThanSeconds),
            // Then fw-shard's objects on the shards: fences no longer needed lifted, and where none is
            // left, the triggers and tables dropped (src/move/guard-lifecycle.ts).
            guard: await tidyGuards(loaded.topology, deps.connect, retention),
          }),
        );
        if (opts.json) printJson(ctx, { ok: true, cleaned: results.map((r) => ({ ...r })), pending, guard }, opts);
        else {
          const text = renderDeferredCleanups(results, pending, opts.olderThan);
          const tidy = renderTidy(guard);
          out(ctx, tidy.length > 0 && results.length === 0 && pending.length === 0 ? tidy.join('\n') : [text, ...tidy].join('\n'));
        }
        return ExitCode.ok;
      }),
    );
};

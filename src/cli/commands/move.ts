import { Option, type Command } from 'commander';
import { createInterface } from 'node:readline/promises';
import { abortMove, resumeMove, runDeferredCleanups, runMove } from '../../move/engine.js';
import { JournalReader } from '../../move/journal.js';
import type { CleanupMode, MoveRequest, MoveResult } from '../../move/types.js';
import { Connections } from '../../db/pool.js';
import { ExitCode, FwShardError } from '../../errors/index.js';
import type { EventSink, MoveEvent } from '../../events/types.js';
import { plainRenderer } from '../../report/plain.js';
import { renderMoveResult, renderPlan } from '../../report/move.js';
import { renderTable } from '../../report/table.js';
import { mappingEndpoint, parseShardId, parseUserId } from '../../topology/index.js';
import { loadTopology, log, out, printJson, type CliContext } from '../context.js';
import { interruptSignal, makeDeps } from '../deps.js';
import { parseChoice, parseDuration, parsePositiveInt } from '../parse.js';
import { reportErrorText } from '../report-error.js';
import { action } from './action.js';
import type { Register } from './index.js';

interface CommonOpts {
  json?: boolean;
  events?: boolean;
  chunkTime: string;
  chunkSize?: string;
  concurrency: string;
  cleanup?: string;
  assumeNoWrites?: boolean;
  sleepBetweenChunks?: string;
}

function commonOptions(cmd: Command): Command {
  return cmd
    .addOption(new Option('--json', 'print one JSON document on stdout (the result, or the error)'))
    .addOption(new Option('--events', 'stream NDJSON events on stdout before the final --json document'))
    .addOption(new Option('--chunk-time <duration>', 'target time per chunk; the chunk size adapts to it').default('500ms').env('FW_SHARD_CHUNK_TIME'))
    .addOption(new Option('--chunk-size <rows>', 'fixed rows per chunk (disables --chunk-time)').env('FW_SHARD_CHUNK_SIZE'))
    .addOption(new Option('--concurrency <n>', 'tables copied at once').default('2').env('FW_SHARD_CONCURRENCY'))
    .addOption(new Option('--assume-no-writes', "the user's writes are stopped by the operator for the whole move (required until online moves exist)").env('FW_SHARD_ASSUME_NO_WRITES'))
    .addOption(new Option('--sleep-between-chunks <duration>', 'pause after every chunk (gentler on busy servers)').env('FW_SHARD_SLEEP_BETWEEN_CHUNKS'));
}

function baseRequest(opts: CommonOpts): Omit<MoveRequest, 'userId' | 'to' | 'cleanup' | 'dryRun'> {
  return {
    assumeNoWrites: Boolean(opts.assumeNoWrites),
    chunkTimeMs: parseDuration(opts.chunkTime, '--chunk-time'),
    ...(opts.chunkSize !== undefined ? { chunkSize: parsePositiveInt(opts.chunkSize, '--chunk-size', 1_000_000) } : {}),
    concurrency: parsePositiveInt(opts.concurrency, '--concurrency', 64),
    ...(opts.sleepBetweenChunks ? { chunkPauseMs: parseDuration(opts.sleepBetweenChunks, '--sleep-between-chunks') } : {}),
  };
}

/** Events go to plain lines on stderr, and to stdout as NDJSON with --events. */
function sinkFor(ctx: CliContext, opts: CommonOpts): EventSink {
  const plain = plainRenderer((line) => log(ctx, line));
  return (e: MoveEvent) => {
    if (opts.events) ctx.stdout.write(JSON.stringify({ v: 1, ...e }) + '\n');
    plain(e);
  };
}

function resultDoc(r: MoveResult): Record<string, unknown> {
  return { ...r };
}

/** Run an engine call with signals, output and the error→exit mapping shared by move/resume/abort. */
async function runEngine(ctx: CliContext, opts: CommonOpts, topologyLoaded: ReturnType<typeof loadTopology>, call: (deps: ReturnType<typeof makeDeps>['deps'], signal: AbortSignal) => Promise<MoveResult>): Promise<number> {
  const { deps, close } = makeDeps(topologyLoaded.topology, sinkFor(ctx, opts));
  const intr = interruptSignal((sig) => log(ctx, `fw-shard: ${sig} received: stopping at the next safe point (never inside the flip); press Ctrl-C again to exit at once`));
  try {
    const r = await call(deps, intr.signal);
    if (opts.json) printJson(ctx, resultDoc(r));
    else out(ctx, renderMoveResult(r));
    return ExitCode.ok;
  } catch (err) {
    if (opts.json && err instanceof FwShardError) {
      const partial = (err.details?.partialResult as MoveResult | undefined) ?? null;
      printJson(ctx, { ...(partial ?? { ok: false }), ok: false, error: { code: err.code, message: err.message, ...(err.hint ? { nextStep: err.hint } : {}) } });
      return reportErrorText(ctx, err);
    }
    throw err;
  } finally {
    intr.dispose();
    await close();
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

export const registerMove: Register = (program: Command, ctx, setExit, globals) => {
  commonOptions(
    program
      .command('move')
      .description("move one user's rows to another shard: copy in chunks, verify, flip cluster_id, clean up")
      .requiredOption('--user <id>', 'the user id (users.id)')
      .requiredOption('--to <shard>', 'the target shard id (1..255)')
      .option('--dry-run', 'run the preflight checks and print the plan; write nothing')
      .option('-y, --yes', 'do not ask for confirmation (required without a terminal)')
      .addOption(new Option('--cleanup <mode>', 'now: delete the source rows after the flip; defer: leave them for `fw-shard cleanup`; keep: never delete').default('now').env('FW_SHARD_CLEANUP')),
  )
    .addHelpText(
      'after',
      `
Examples:
  $ fw-shard move --user 42 --to 23 --dry-run          what would move, with exact row counts
  $ fw-shard move --user 42 --to 23 --assume-no-writes --yes
  $ fw-shard move --user 42 --to 23 --assume-no-writes --yes --cleanup defer --json

Running the same command again after a crash or Ctrl-C resumes the move from the journal.`,
    )
    .action(
      action(ctx, setExit, async (opts: CommonOpts & { user: string; to: string; dryRun?: boolean; yes?: boolean }) => {
        const loaded = loadTopology(ctx, globals());
        const userId = parseUserId(opts.user);
        const to = parseShardId(opts.to, loaded.topology, '--to');
        const cleanup = parseChoice(opts.cleanup ?? 'now', '--cleanup', ['now', 'defer', 'keep'] as const);
        const req: MoveRequest = { ...baseRequest(opts), userId, to, cleanup, dryRun: Boolean(opts.dryRun) };
        if (!req.dryRun && !opts.yes) {
          if (!ctx.stdinIsTTY || !ctx.stderr.isTTY) {
            throw new FwShardError('USAGE', 'refusing to move without confirmation: no terminal to ask on', {
              hint: 'Pass --yes (cron and scripts must say what they mean), or --dry-run to see the plan.',
            });
          }
          // Show the plan first (a dry run writes nothing), then ask.
          const { deps, close } = makeDeps(loaded.topology, () => undefined);
          try {
            const plan = await runMove(deps, { ...req, dryRun: true });
            if (plan.nothingToDo) {
              out(ctx, plan.nextStep);
              return ExitCode.ok;
            }
            log(ctx, plan.plan ? renderPlan(plan.plan) : plan.nextStep);
          } finally {
            await close();
          }
          if (!(await confirm(ctx, 'Proceed with the move? [y/N] '))) {
            log(ctx, 'Not moved.');
            return ExitCode.ok;
          }
        }
        return runEngine(ctx, opts, loaded, (deps, signal) => runMove(deps, req, { signal }));
      }),
    );

  commonOptions(
    program
      .command('resume')
      .description('continue an unfinished move from the journal')
      .argument('<move-id>', 'the move id (fw-shard moves lists them)')
      .addOption(new Option('--cleanup <mode>', 'override the cleanup mode recorded for the move (now, defer, keep)')),
  )
    .addHelpText('after', '\nExamples:\n  $ fw-shard resume 9007199254741001 --assume-no-writes\n')
    .action(
      action(ctx, setExit, async (opts: CommonOpts, id: string) => {
        const loaded = loadTopology(ctx, globals());
        if (!/^[0-9]+$/.test(id)) throw new FwShardError('USAGE', `move id must be digits, got '${id}'`);
        const cleanup = opts.cleanup ? parseChoice(opts.cleanup, '--cleanup', ['now', 'defer', 'keep'] as const) : undefined;
        return runEngine(ctx, opts, loaded, (deps, signal) =>
          resumeMove(deps, id, { ...baseRequest(opts), dryRun: false, ...(cleanup ? { cleanup } : {}) }, { signal }),
        );
      }),
    );

  program
    .command('abort')
    .description('undo an unfinished move before its flip: delete what was copied to the target')
    .argument('[move-id]', 'the move id')
    .option('--user <id>', "abort this user's unfinished move")
    .option('--json', 'print one JSON document on stdout')
    .addHelpText('after', '\nExamples:\n  $ fw-shard abort 9007199254741001\n  $ fw-shard abort --user 42\n\nAfter the flip, abort refuses: move the user back instead.')
    .action(
      action(ctx, setExit, async (opts: { user?: string; json?: boolean }, id?: string) => {
        const loaded = loadTopology(ctx, globals());
        if ((id === undefined) === (opts.user === undefined)) throw new FwShardError('USAGE', 'give either a move id or --user ID');
        if (id !== undefined && !/^[0-9]+$/.test(id)) throw new FwShardError('USAGE', `move id must be digits, got '${id}'`);
        const ref = id !== undefined ? { moveId: id } : { userId: parseUserId(opts.user!) };
        return runEngine(ctx, { ...opts, chunkTime: '500ms', concurrency: '1' }, loaded, (deps, signal) => abortMove(deps, ref, { signal }));
      }),
    );

  commonOptions(
    program
      .command('cleanup')
      .description('delete the source rows of moves flipped with --cleanup defer, once caches have expired')
      .addOption(new Option('--older-than <duration>', 'only moves flipped at least this long ago').default('15m')),
  )
    .addHelpText('after', '\nExamples (cron):\n  */10 * * * *  fw-shard cleanup --older-than 15m --assume-no-writes\n')
    .action(
      action(ctx, setExit, async (opts: CommonOpts & { olderThan: string }) => {
        const loaded = loadTopology(ctx, globals());
        const olderMs = parseDuration(opts.olderThan, '--older-than');
        const { deps, close } = makeDeps(loaded.topology, sinkFor(ctx, opts));
        const intr = interruptSignal(() => log(ctx, 'fw-shard: stopping after the current range'));
        try {
          const results = await runDeferredCleanups(deps, Math.floor(olderMs / 1000), { ...baseRequest(opts), dryRun: false }, { signal: intr.signal });
          if (opts.json) printJson(ctx, { ok: true, cleaned: results.map(resultDoc) });
          else out(ctx, results.length ? results.map((r) => r.nextStep).join('\n') : 'nothing to clean up');
          return ExitCode.ok;
        } finally {
          intr.dispose();
          await close();
        }
      }),
    );

  program
    .command('moves')
    .description('the move journal: unfinished moves (or all with --all)')
    .option('--all', 'include finished and aborted moves')
    .option('--json', 'print one JSON document on stdout')
    .addHelpText('after', '\nExamples:\n  $ fw-shard moves\n  $ fw-shard moves --all --json\n')
    .action(
      action(ctx, setExit, async (opts: { all?: boolean; json?: boolean }) => {
        const { topology } = loadTopology(ctx, globals());
        const conns = new Connections();
        try {
          const reader = new JournalReader(conns.get(mappingEndpoint(topology)));
          const moves = await reader.list(Boolean(opts.all));
          if (opts.json) {
            const withTables = await Promise.all(moves.map(async (m) => ({ ...m, tables: await reader.tables(m.id) })));
            printJson(ctx, { ok: true, moves: withTables });
          } else if (moves.length === 0) {
            out(ctx, opts.all ? 'no moves in the journal' : 'no unfinished moves');
          } else {
            out(
              ctx,
              renderTable(
                ['move', 'user', 'from → to', 'state', 'phase', 'runner', 'created', 'error'],
                moves.map((m) => [m.id, m.user_id, `${m.from_shard} → ${m.to_shard}`, m.state, m.phase, m.runner_host ? `${m.runner_host}:${m.runner_pid}` : '-', m.created_at, (m.error ?? '').split('\n')[0]!.slice(0, 60)]),
              ),
            );
          }
          return ExitCode.ok;
        } finally {
          await conns.closeAll();
        }
      }),
    );
};

export type { CleanupMode };

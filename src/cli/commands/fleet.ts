/**
 * Fleet commands: `plan` (a pure plan from exact sizes), `apply` (run a plan's moves, several at once)
 * and `verify` (orphan rows). The `--orphans` mode of `cleanup` is src/cli/orphan-cleanup.ts; playbooks
 * (`run`) are in run.ts.
 */
import { readFileSync, writeFileSync, existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { Option } from 'commander';
import { withFleetSession } from '../run-session.js';
import { cleanupModeOf, requestSettings, throttleSettings, type RequestFlags, type ThrottleFlags } from '../../app/move-request.js';
import { parseChoice, parsePositiveInt, parseSize } from '../../config/units.js';
import { FLAG_DEFAULTS } from '../../config/defaults.js';
import { Connections } from '../../db/pool.js';
import { ExitCode, FwShardError, usage } from '../../errors/index.js';
import { applyPlan, nextClockTime, type ApplyRequest } from '../../fleet/apply.js';
import { findOrphans } from '../../fleet/orphans.js';
import { planFleet } from '../../plan/plan-fleet.js';
import { checkPlanAgainstTopology, parsePlanDocument } from '../../plan/plan-file.js';
import { METRICS, type Metric, type PlanOptions } from '../../plan/planner.js';
import { renderApplySummary, renderPlanDocument, renderVerify } from '../../report/fleet.js';
import { parseShardId, type Topology } from '../../topology/index.js';
import { action } from '../action.js';
import { loadTopologyResolved, log, out, printJson, warn, type Register } from '../context.js';
import { fleetSinks } from '../fleet-sinks.js';
import { chunkOptions, onlineOptions, throttleOptions } from '../options.js';
import { scopeOf } from '../orphan-cleanup.js';

/** "2,3,4" → shard ids known to the topology. */
function parseShardList(text: string, topology: Topology, flag: string): number[] {
  const parts = text
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  if (parts.length === 0) throw usage(`${flag} needs shard ids, e.g. ${flag} 2,3,4`);
  return [...new Set(parts.map((p) => parseShardId(p, topology, flag) as number))].sort((a, b) => a - b);
}

interface PlanFlags {
  balance?: boolean;
  drain?: string;
  graduate?: boolean;
  from?: string;
  to?: string;
  by: string;
  maxMoves?: string;
  maxBytes?: string;
  threshold: string;
  out?: string;
  exact?: boolean;
  json?: boolean;
}

interface ApplyFlags extends RequestFlags, ThrottleFlags {
  json?: boolean;
  events?: boolean;
  concurrency: string;
  perShard: string;
  until?: string;
  maxMoves?: string;
  stopFile?: string;
  cleanup?: string;
  tableConcurrency: string;
}

export const registerFleet: Register = (program, ctx, setExit, globals) => {
  registerPlan(program, ctx, setExit, globals);
  registerApply(program, ctx, setExit, globals);
  registerVerify(program, ctx, setExit, globals);
};

/**
 * `fw-shard plan` flags → the planner's options, given db_main's own shards. Everything that does not
 * need the servers is checked at once; the rest when the facts are in.
 */
function planOptionsFromFlags(opts: PlanFlags, t: Topology): (mains: number[]) => PlanOptions {
  const modes = [opts.balance, opts.drain !== undefined, opts.graduate].filter(Boolean).length;
  if (modes !== 1) throw usage('give exactly one of --balance, --drain SHARD, --graduate --to 2,3,4', 'fw-shard plan --help shows examples.');
  const by = parseChoice(opts.by, '--by', METRICS) as Metric;
  const from = opts.from !== undefined ? parseShardList(opts.from, t, '--from') : undefined;
  const to = opts.to !== undefined ? parseShardList(opts.to, t, '--to') : undefined;
  const maxMoves = opts.maxMoves !== undefined ? parsePositiveInt(opts.maxMoves, '--max-moves', 10_000_000) : undefined;
  const maxBytes = opts.maxBytes !== undefined ? parseSize(opts.maxBytes) : undefined;
  const threshold = Number(opts.threshold);
  if (!/^[0-9]+(\.[0-9]+)?$/.test(opts.threshold) || threshold > 100) throw usage(`--threshold must be a percentage from 0 to 100, got '${opts.threshold}'`);
  if (opts.graduate && !to) throw usage('--graduate needs --to: the real shards to graduate onto, e.g. --to 2,3,4');
  return (mains) => {
    let mode: PlanOptions['mode'] = 'balance';
    let sources = from;
    if (opts.drain !== undefined) {
      mode = 'drain';
      if (from) throw usage('--drain names the shards to empty; --from is for --balance');
      sources = parseShardList(opts.drain, t, '--drain');
    } else if (opts.graduate) {
      mode = 'graduate';
      sources = from ?? mains;
      if (sources.length === 0) throw usage("--graduate: no shard is db_main's own database (poor man's federation); to empty a real shard use --drain");
    }
    return {
      mode,
      by,
      thresholdPct: threshold,
      ...(sources ? { from: sources } : {}),
      ...(to ? { to } : {}),
      ...(maxMoves !== undefined ? { maxMoves } : {}),
      ...(maxBytes !== undefined ? { maxBytes } : {}),
    };
  };
}

/** `fw-shard plan`: a plan from exact per-user sizes; writes nothing. */
const registerPlan: Register = (program, ctx, setExit, globals) => {
  program
    .command('plan')
    .description('compute which users to move where (balance, drain, graduate) from exact per-user sizes; writes nothing')
    .option('--balance', 'even out the shards')
    .option('--drain <shards>', 'move every user off these shards (to the least loaded others)')
    .option('--graduate', "move users off db_main's own database (poor man's federation) onto --to")
    .option('--from <shards>', 'balance: only move users off these shards')
    .option('--to <shards>', 'only move users onto these shards (graduate: required)')
    .addOption(
      new Option('--by <metric>', 'what to balance')
        .choices(METRICS as string[])
        .default('bytes')
        .env('FW_SHARD_PLAN_BY'),
    )
    .addOption(new Option('--max-moves <n>', 'at most this many moves').env('FW_SHARD_MAX_MOVES'))
    .addOption(new Option('--max-bytes <size>', 'at most this much data moved in total (500M, 20G)').env('FW_SHARD_MAX_BYTES'))
    .addOption(new Option('--threshold <pct>', 'balance: a shard within this percentage of the average is balanced').default('10').env('FW_SHARD_THRESHOLD'))
    .option(
      '--exact',
      'exact sizes: read every row of every sharded table (the default counts rows from the owner indexes and takes bytes from table statistics)',
    )
    .option('--out <file>', 'write the plan (versioned JSON) to this file, for fw-shard apply')
    .option('--json', 'print the plan document on stdout instead of the table')
    .addHelpText(
      'after',
      `
Examples:
  $ fw-shard plan --balance --out plan.json                 even out all shards by bytes
  $ fw-shard plan --balance --by users --max-moves 20
  $ fw-shard plan --drain 3 --out drain-3.json              empty shard 3 before retiring it
  $ fw-shard plan --graduate --to 2,3,4 --max-moves 100     poor man's federation → real shards

Every move in a plan improves the balance, so applying only part of it still leaves the fleet better.`,
    )
    .action(
      action(ctx, setExit, async (opts: PlanFlags) => {
        const loaded = await loadTopologyResolved(ctx, globals());
        const optionsFor = planOptionsFromFlags(opts, loaded.topology);
        const conns = new Connections();
        try {
          const { doc, facts } = await planFleet({
            topology: loaded.topology,
            connect: (e) => conns.get(e),
            createdAt: new Date(),
            refused: (message) => usage(message),
            optionsFor,
            sizes: opts.exact ? 'exact' : 'estimated',
          });
          for (const [shard, n] of facts.strayRows)
            if (n > 0n) warn(ctx, `shard ${shard} holds ${n} rows of users who live elsewhere or do not exist (not counted; fw-shard verify lists them)`);
          for (const [shard, n] of facts.unknownShardUsers)
            warn(ctx, `${n} users are mapped to shard ${shard}, which is not in the topology (left out of the plan)`);
          if (opts.out) {
            writeFileSync(resolve(ctx.cwd, opts.out), JSON.stringify(doc, null, 2) + '\n');
            log(ctx, `plan written to ${opts.out}: apply it with fw-shard apply ${opts.out}`);
          }
          if (opts.json) printJson(ctx, { ok: true, ...doc });
          else out(ctx, renderPlanDocument(doc));
          return ExitCode.ok;
        } finally {
          await conns.closeAll();
        }
      }),
    );
};

/** `fw-shard apply PLAN`: run a plan's moves. */
const registerApply: Register = (program, ctx, setExit, globals) => {
  throttleOptions(
    chunkOptions(onlineOptions(program.command('apply')), 'target time per chunk')
      .description("run a plan's moves: several at once, each shard in at most --per-shard moves, resumable, shareable between runners")
      .argument('<plan>', 'the plan file (fw-shard plan --out)')
      .addOption(new Option('--concurrency <n>', 'moves at once (this runner)').default('1').env('FW_SHARD_APPLY_CONCURRENCY'))
      .addOption(new Option('--per-shard <n>', 'moves a shard takes part in at once, across all runners').default('1').env('FW_SHARD_PER_SHARD'))
      .addOption(new Option('--until <HH:MM>', 'start no move after this local time (running moves finish)').env('FW_SHARD_UNTIL'))
      .addOption(new Option('--max-moves <n>', 'start at most this many moves').env('FW_SHARD_MAX_MOVES'))
      .addOption(new Option('--stop-file <path>', 'when this file appears: start no more moves, stop running ones at a safe point').env('FW_SHARD_STOP_FILE'))
      .addOption(
        new Option('--assume-no-writes', "offline mode: the operator has stopped the users' writes for the whole run").env('FW_SHARD_ASSUME_NO_WRITES'),
      )
      .addOption(new Option('--cleanup <mode>', 'now (the default) | defer | keep (as for move)').env('FW_SHARD_CLEANUP'))
      .addOption(
        new Option('--table-concurrency <n>', 'tables copied at once within each move').default(FLAG_DEFAULTS.tableConcurrency).env('FW_SHARD_CONCURRENCY'),
      )
      .addOption(new Option('--sleep-between-chunks <duration>', 'pause after every chunk').env('FW_SHARD_SLEEP_BETWEEN_CHUNKS'))
      .option('--json', 'print the summary as one JSON document on stdout')
      .option('--events', 'stream NDJSON events on stdout (fleet and per-move) before the --json document'),
  )
    .addHelpText(
      'after',
      `
Examples:
  $ fw-shard apply plan.json                   online moves (the default): the app keeps writing
  $ fw-shard apply plan.json --concurrency 4 --per-shard 2 --until 05:00 --stop-file /run/fw-shard.stop
  $ fw-shard apply plan.json --max-lag 5s --max-load Threads_running=25 --pause-file /run/fw-shard.pause
  $ fw-shard apply plan.json --assume-no-writes   offline: only when the users' writes are stopped

Re-running the same apply skips moves already done and resumes unfinished ones. Several runners
(hosts) may apply the same plan at once: each move is claimed by one of them.
Exit codes: 0 every move done (or already done, or claimed by another runner), 9 some failed, the failing
move's own code when all failed, 130 stopped at a safe point (signal, stop file).`,
    )
    .action(
      action(ctx, setExit, async (opts: ApplyFlags, file: string) => {
        const loaded = await loadTopologyResolved(ctx, globals());
        const path = resolve(ctx.cwd, file);
        if (!existsSync(path))
          throw new FwShardError('PLAN_INVALID', `plan file ${file} does not exist`, { hint: 'Make one with fw-shard plan ... --out FILE.' });
        const plan = parsePlanDocument(readFileSync(path, 'utf8'), file);
        checkPlanAgainstTopology(plan, loaded.topology, file);
        const request: ApplyRequest = {
          ...requestSettings(opts, { text: opts.tableConcurrency, flag: '--table-concurrency' }),
          ...(opts.cleanup !== undefined ? { cleanup: cleanupModeOf(opts.cleanup) } : {}),
        };
        const concurrency = parsePositiveInt(opts.concurrency, '--concurrency', 64);
        const perShard = parsePositiveInt(opts.perShard, '--per-shard', 64);
        const maxMoves = opts.maxMoves !== undefined ? parsePositiveInt(opts.maxMoves, '--max-moves', 10_000_000) : undefined;
        const until = opts.until !== undefined ? nextClockTime(opts.until, new Date()) : undefined;
        const sinks = fleetSinks(ctx, opts);
        const onSignal = (sig: string) => log(ctx, `fw-shard: ${sig} received: no new moves; running moves stop at their next safe point (resumable)`);
        return withFleetSession(loaded.topology, throttleSettings(opts), onSignal, async ({ deps, lockDb, signal }) => {
          const summary = await applyPlan(
            plan,
            {
              concurrency,
              perShard,
              request,
              ...(until ? { until } : {}),
              ...(maxMoves !== undefined ? { maxMoves } : {}),
              ...(opts.stopFile ? { stopFile: resolve(ctx.cwd, opts.stopFile) } : {}),
            },
            { deps, lockDb, ...sinks, signal },
          );
          if (opts.json) printJson(ctx, { ok: summary.exitCode === ExitCode.ok, plan: file, ...summary }, opts);
          else out(ctx, renderApplySummary(summary));
          return summary.exitCode;
        });
      }),
    );
};

/** `fw-shard verify`: find orphan rows (read-only). */
const registerVerify: Register = (program, ctx, setExit, globals) => {
  program
    .command('verify')
    .description("find orphan rows: rows on shards other than their user's, and rows whose user does not exist (read-only)")
    .option('--user <id>', 'only this user')
    .option('--shard <n>', 'only the users of this shard (their rows elsewhere), and rows on it of users that do not exist')
    .option('--json', 'print one JSON document on stdout')
    .addHelpText(
      'after',
      `
Examples:
  $ fw-shard verify                 every shard, every user
  $ fw-shard verify --shard 3
  $ fw-shard verify --user 42 --json

Exit codes: 0 no orphan rows, 8 orphan rows found (fw-shard cleanup --orphans --dry-run shows what
it would delete).`,
    )
    .action(
      action(ctx, setExit, async (opts: { user?: string; shard?: string; json?: boolean }) => {
        const loaded = await loadTopologyResolved(ctx, globals());
        const scope = scopeOf(opts, loaded.topology);
        const conns = new Connections();
        try {
          const report = await findOrphans(loaded.topology, (e) => conns.get(e), scope);
          const code = report.orphans.length ? ExitCode.unhealthy : ExitCode.ok;
          if (opts.json) printJson(ctx, { ok: code === ExitCode.ok, ...report });
          else out(ctx, renderVerify(report));
          return code;
        } finally {
          await conns.closeAll();
        }
      }),
    );
};

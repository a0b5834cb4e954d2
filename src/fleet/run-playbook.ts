/**
 * Running a validated playbook, step after step, as a library. The CLI (`fw-shard run`) takes the
 * per-topology lock around it, builds the ports and prints the results.
 *
 * Guardrails apply to every step: outside `window` nothing runs (exit 0, said on stderr), and apply
 * steps start no move after the window's end; `maxMoves`/`maxBytes` cap plans and applies; the
 * throttle settings (`maxLag`, `maxLoad`, `throttleQuery`, `pauseFile`) are in the deps' throttler;
 * `stopFile` stops apply steps. The first step that does not exit 0 ends the run with its code.
 */
import type { Db } from '../db/pool.js';
import { ExitCode, FwShardError } from '../errors/index.js';
import type { MoveEvent } from '../events/types.js';
import { type MoveDeps, type MoveResult, runDeferredCleanups } from '../move/index.js';
import { planFleet } from '../plan/plan-fleet.js';
import { checkPlanAgainstTopology, parsePlanDocument, type PlanDocument, type PlanDocumentMove } from '../plan/plan-file.js';
import type { PlanOptions } from '../plan/planner.js';
import type { ShardId } from '../topology/index.js';
import { parseDuration, parseSize } from '../config/units.js';
import { DEFAULT_CHUNK_TIME_MS, FLAG_DEFAULTS } from '../config/defaults.js';
import { applyPlan, type ApplySummary } from './apply.js';
import type { FleetEvent } from './events.js';
import { cleanupOrphans, findOrphans, type OrphanCleanupReport, type VerifyReport } from './orphans.js';
import { shardListOf, windowState, type Playbook, type PlanStep, type Step } from './playbook.js';

interface PlaybookEnv {
  /** With the guardrails' throttler already in place. */
  deps: MoveDeps;
  /** A dedicated handle on the mapping server for the apply steps' locks. */
  lockDb: Db;
  signal?: AbortSignal;
  readFile(path: string): string;
  writeFile(path: string, text: string): void;
  fileExists(path: string): boolean;
  onEvent(e: FleetEvent): void;
  onMoveEvent(m: PlanDocumentMove, e: MoveEvent): void;
  log(line: string): void;
}

type StepOutput =
  | { kind: 'plan'; plan: PlanDocument }
  | { kind: 'apply'; summary: ApplySummary }
  | { kind: 'cleanup'; results: MoveResult[] }
  | { kind: 'verify'; report: VerifyReport }
  | { kind: 'cleanupOrphans'; report: VerifyReport; cleanup: OrphanCleanupReport };

interface StepResult {
  index: number;
  kind: Step['kind'];
  line: number;
  exitCode: number;
  summary: string;
  output?: StepOutput;
  error?: { code: string; message: string; nextStep?: string };
}

export interface PlaybookResult {
  name: string;
  exitCode: number;
  /** Set when nothing ran (outside the window). */
  skipped?: string;
  steps: StepResult[];
}

/** Turn a plan step (and the guardrails) into planner options; shard ids are checked against the topology. */
function planOptionsOf(
  p: PlanStep,
  pb: Pick<Playbook, 'guardrails'>,
  deps: Pick<MoveDeps, 'topology'>,
  mainShards: number[],
): PlanOptions & { maxBytes?: bigint } {
  const g = pb.guardrails;
  const from = shardListOf(p.from);
  const to = shardListOf(p.to);
  const drain = shardListOf(p.drain);
  for (const s of [...(from ?? []), ...(to ?? []), ...(drain ?? [])]) {
    if (!deps.topology.shards.has(s as ShardId)) throw new FwShardError('UNKNOWN_SHARD', `shard ${s} is not in the topology`);
  }
  const maxMoves = min(p.maxMoves, g.maxMoves);
  const maxBytesRaw = p.maxBytes ?? g.maxBytes;
  const mode: PlanOptions['mode'] = p.balance ? 'balance' : p.drain !== undefined ? 'drain' : 'graduate';
  const opts: PlanOptions = {
    mode,
    by: p.by ?? 'bytes',
    ...(mode === 'drain' ? { from: drain! } : mode === 'graduate' ? { from: from ?? mainShards } : from ? { from } : {}),
    ...(to ? { to } : {}),
    ...(maxMoves !== undefined ? { maxMoves } : {}),
    ...(maxBytesRaw !== undefined ? { maxBytes: parseSize(maxBytesRaw) } : {}),
    ...(p.threshold !== undefined ? { thresholdPct: p.threshold } : {}),
  };
  return opts;
}

const min = (a?: number, b?: number) => (a === undefined ? b : b === undefined ? a : Math.min(a, b));

export async function runPlaybook(pb: Playbook, env: PlaybookEnv): Promise<PlaybookResult> {
  const { deps } = env;
  const now = deps.clock.now();
  const g = pb.guardrails;
  let until: Date | undefined;
  if (g.window) {
    const w = windowState(g.window, now);
    if (!w.inside) {
      return { name: pb.name, exitCode: ExitCode.ok, skipped: `outside its window ${g.window} (local time): nothing was run`, steps: [] };
    }
    until = w.end;
  }
  const results: StepResult[] = [];
  const run: RunState = { until, lastPlan: null };
  for (const [index, step] of pb.steps.entries()) {
    if (env.signal?.aborted) break;
    const base = { index, kind: step.kind, line: step.line };
    try {
      const r = await runStep(step, pb, env, run);
      results.push({ ...base, ...r });
      if (r.exitCode !== ExitCode.ok) break;
    } catch (err) {
      if (!(err instanceof FwShardError)) throw err;
      results.push({
        ...base,
        exitCode: err.exitCode,
        summary: `failed: [${err.code}] ${err.message.split('\n')[0]}`,
        error: { code: err.code, message: err.message, ...(err.hint ? { nextStep: err.hint } : {}) },
      });
      break;
    }
  }
  const last = results[results.length - 1];
  return { name: pb.name, exitCode: last?.exitCode ?? (env.signal?.aborted ? ExitCode.interrupted : ExitCode.ok), steps: results };
}

/** What the steps of one playbook run share: the end of its window, and the plan the last plan step made. */
interface RunState {
  until: Date | undefined;
  lastPlan: PlanDocument | null;
}

/** One step of a playbook, run; a refusal is thrown (runPlaybook records it as the step's result). */
async function runStep(step: Step, pb: Playbook, env: PlaybookEnv, run: RunState): Promise<Omit<StepResult, 'index' | 'kind' | 'line'>> {
  const { deps } = env;
  const g = pb.guardrails;
  const { until } = run;
  switch (step.kind) {
    case 'plan': {
      const { doc } = await planFleet({
        topology: deps.topology,
        connect: deps.connect,
        optionsFor: (mains) => planOptionsOf(step.opts, pb, deps, mains),
        createdAt: deps.clock.now(),
        refused: (message) => new FwShardError('USAGE', `plan step (line ${step.line}): ${message}`),
        sizes: step.opts.exact ? 'exact' : 'estimated',
      });
      if (step.opts.out) env.writeFile(step.opts.out, JSON.stringify(doc, null, 2) + '\n');
      run.lastPlan = doc;
      return {
        exitCode: ExitCode.ok,
        summary: `plan (${doc.request.mode} by ${doc.request.by}): ${doc.moves.length} move(s), ${doc.totals.bytes} bytes; stopped because ${doc.stoppedBecause}${step.opts.out ? `; written to ${step.opts.out}` : ''}`,
        output: { kind: 'plan', plan: doc },
      };
    }
    case 'apply': {
      const a = step.opts;
      const plan = a.plan ? parsePlanDocument(env.readFile(a.plan), a.plan) : run.lastPlan!;
      checkPlanAgainstTopology(plan, deps.topology, a.plan ?? 'the plan');
      const maxMoves = min(a.maxMoves, g.maxMoves);
      const summary = await applyPlan(
        plan,
        {
          concurrency: a.concurrency ?? g.concurrency ?? 1,
          perShard: a.perShard ?? g.perShard ?? 1,
          ...(until ? { until } : {}),
          ...(maxMoves !== undefined ? { maxMoves } : {}),
          ...(g.stopFile ? { stopFile: g.stopFile } : {}),
          request: {
            ...(a.assumeNoWrites !== undefined ? { assumeNoWrites: a.assumeNoWrites } : {}),
            chunkTimeMs: parseDuration(a.chunkTime ?? FLAG_DEFAULTS.chunkTime, 'chunkTime'),
            ...(a.chunkSize !== undefined ? { chunkSize: a.chunkSize } : {}),
            concurrency: a.tableConcurrency ?? Number(FLAG_DEFAULTS.tableConcurrency),
            ...(a.cleanup !== undefined ? { cleanup: a.cleanup } : {}),
          },
        },
        {
          deps,
          lockDb: env.lockDb,
          onEvent: env.onEvent,
          onMoveEvent: env.onMoveEvent,
          fileExists: env.fileExists,
          ...(env.signal ? { signal: env.signal } : {}),
        },
      );
      const c = summary.counts;
      return {
        exitCode: summary.exitCode,
        summary: `apply: ${c.done + c.resumed} moved, ${c['skipped-done']} already done, ${c.busy} claimed by another runner, ${c.stale} stale, ${c.failed} failed, ${c.interrupted} interrupted, ${c['not-started']} not started${summary.stoppedBecause ? ` (stopped: ${summary.stoppedBecause})` : ''}`,
        output: { kind: 'apply', summary },
      };
    }
    case 'cleanup': {
      const secs = Math.floor(parseDuration(step.opts.olderThan ?? '15m', 'olderThan') / 1000);
      const results = await runDeferredCleanups(
        deps,
        secs,
        { assumeNoWrites: false, chunkTimeMs: DEFAULT_CHUNK_TIME_MS, concurrency: Number(FLAG_DEFAULTS.tableConcurrency), dryRun: false },
        env.signal ? { signal: env.signal } : {},
      );
      return { exitCode: ExitCode.ok, summary: `cleanup: ${results.length} deferred cleanup(s) finished`, output: { kind: 'cleanup', results } };
    }
    case 'verify': {
      const v = step.opts;
      const report = await findOrphans(deps.topology, deps.connect, {
        ...(v.shard !== undefined ? { shard: v.shard } : {}),
        ...(v.user !== undefined ? { userId: String(v.user) } : {}),
      });
      const found = report.orphans.length > 0;
      const fail = found && (v.failOnOrphans ?? true);
      return {
        exitCode: fail ? ExitCode.unhealthy : ExitCode.ok,
        summary: found
          ? `verify: ${report.totals.rows} orphan row(s) of ${report.totals.users} user(s) in ${report.orphans.length} group(s)${report.inFlight.length ? `; ${report.inFlight.length} group(s) of moves in flight` : ''}`
          : `verify: no orphan rows on ${report.shardsChecked.length} shard(s)${report.inFlight.length ? ` (${report.inFlight.length} group(s) of moves in flight)` : ''}`,
        output: { kind: 'verify', report },
      };
    }
    case 'cleanupOrphans': {
      const v = step.opts;
      const report = await findOrphans(deps.topology, deps.connect, {
        ...(v.shard !== undefined ? { shard: v.shard } : {}),
        ...(v.user !== undefined ? { userId: String(v.user) } : {}),
      });
      const cleanup = await cleanupOrphans(deps.topology, deps.connect, report, { dryRun: v.dryRun ?? false, ...(env.signal ? { signal: env.signal } : {}) });
      return {
        exitCode: ExitCode.ok,
        summary: `cleanup --orphans${cleanup.dryRun ? ' (dry run)' : ''}: ${cleanup.deleted} row(s) ${cleanup.dryRun ? 'would be ' : ''}deleted, ${cleanup.kept} kept`,
        output: { kind: 'cleanupOrphans', report, cleanup },
      };
    }
  }
}

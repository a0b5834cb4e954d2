/**
 * `fw-shard run playbooks/NAME.yaml [--set key=value]`: validate a playbook completely (YAML, keys,
 * params, shard ids), take the per-topology lock (a second run exits 7), then run its steps.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { type Command } from 'commander';
import { ExitCode, FwShardError } from '../../errors/index.js';
import { lockNames, withLock } from '../../fleet/lock.js';
import { loadPlaybook, parseSets, shardListOf, type Playbook } from '../../fleet/playbook.js';
import { runPlaybook } from '../../fleet/run-playbook.js';
import type { ThrottleSettings } from '../../move/index.js';
import { throttleSettings } from '../../app/move-request.js';
import { renderApplySummary, renderPlanDocument, renderPlaybookResult, renderVerify, renderOrphanCleanup } from '../../report/fleet.js';
import { type ShardId, type Topology } from '../../topology/index.js';
import { loadTopologyResolved, log, out, printJson } from '../context.js';
import { action } from '../action.js';
import { fleetSinks } from '../fleet-sinks.js';
import type { Register } from '../context.js';
import { withFleetSession } from '../run-session.js';
import { metricsOption } from '../options.js';

/** Checks that need the topology: every shard a step names exists. */
function checkAgainstTopology(pb: Playbook, t: Topology): void {
  const problems: string[] = [];
  for (const s of pb.steps) {
    const ids: number[] = [];
    if (s.kind === 'plan') ids.push(...(shardListOf(s.opts.drain) ?? []), ...(shardListOf(s.opts.from) ?? []), ...(shardListOf(s.opts.to) ?? []));
    if ((s.kind === 'verify' || s.kind === 'cleanupOrphans') && s.opts.shard !== undefined) ids.push(s.opts.shard);
    for (const id of ids) {
      if (!t.shards.has(id as ShardId))
        problems.push(
          `${pb.source}:${s.line}: ${s.kind}: shard ${id} is not in the topology (known: ${[...t.shards.keys()].sort((a, b) => a - b).join(', ')})`,
        );
    }
  }
  if (problems.length) throw new FwShardError('PLAYBOOK_INVALID', `${pb.source} names unknown shards; nothing was run:\n  ${problems.join('\n  ')}`);
}

/** The playbook's throttle guardrails, read like the flags they stand for. */
function throttleOf(pb: Playbook): ThrottleSettings | undefined {
  return throttleSettings(pb.guardrails, { maxLag: 'maxLag', maxLoad: 'maxLoad' });
}

export const registerRun: Register = (program: Command, ctx, setExit, globals) => {
  program
    .command('run')
    .description('run a playbook (playbooks/*.yaml): validated first, one run per topology at a time')
    .argument('<playbook>', 'the playbook file')
    .option('--set <key=value>', 'override a param of the playbook (repeatable)', (v: string, prev: string[] = []) => [...prev, v])
    .option('--check', 'only validate the playbook (and its shards against the config); run nothing')
    .option('--json', "print one JSON document on stdout with every step's result")
    .option('--events', 'stream NDJSON events on stdout before the --json document')
    .addOption(metricsOption())
    .addHelpText(
      'after',
      `
Examples:
  $ fw-shard run playbooks/nightly-balance.yaml
  $ fw-shard run playbooks/drain-shard.yaml --set shard=3
  $ fw-shard run playbooks/graduate.yaml --set to=2,3,4 --check

Exit codes: those of the step that stopped the run (0 all steps fine; 7 another run holds the lock;
9 some moves failed; 8 verify found orphan rows; 3 the playbook is invalid, every problem with its line).`,
    )
    .action(
      action(ctx, setExit, async (opts: { set?: string[]; check?: boolean; json?: boolean; events?: boolean }, file: string) => {
        const path = resolve(ctx.cwd, file);
        if (!existsSync(path)) throw new FwShardError('PLAYBOOK_INVALID', `playbook ${file} does not exist`);
        const pb = loadPlaybook(readFileSync(path, 'utf8'), file, parseSets(opts.set ?? []));
        const loaded = await loadTopologyResolved(ctx, globals());
        checkAgainstTopology(pb, loaded.topology);
        if (opts.check) {
          if (opts.json) printJson(ctx, { ok: true, playbook: pb.name, steps: pb.steps.map((s) => s.kind), params: pb.params, guardrails: pb.guardrails });
          else out(ctx, `${file}: valid playbook ${pb.name} (${pb.steps.map((s) => s.kind).join(' → ')})`);
          return ExitCode.ok;
        }
        const sinks = fleetSinks(ctx, opts);
        const at = (p: string) => resolve(ctx.cwd, p);
        const onSignal = (sig: string) => log(ctx, `fw-shard: ${sig} received: stopping at the next safe point`);
        return withFleetSession(loaded.topology, throttleOf(pb), onSignal, async ({ deps, lockDb, signal }) => {
          const lockName = lockNames.topology(loaded.topology, pb.lock);
          const result = await withLock(lockDb, lockName, () => {
            log(ctx, `fw-shard: running playbook ${pb.name} (${file}) holding lock '${lockName}'`);
            return runPlaybook(pb, {
              deps,
              lockDb,
              signal,
              readFile: (p) => readFileSync(at(p), 'utf8'),
              writeFile: (p, text) => writeFileSync(at(p), text),
              fileExists: (p) => existsSync(at(p)),
              ...sinks,
              log: (line) => log(ctx, line),
            });
          });
          if (result.skipped) log(ctx, `fw-shard: playbook ${pb.name}: ${result.skipped}`);
          if (opts.json) {
            printJson(ctx, { ok: result.exitCode === ExitCode.ok, playbook: pb.name, ...result });
          } else {
            for (const s of result.steps) {
              const o = s.output;
              if (o?.kind === 'plan') out(ctx, renderPlanDocument(o.plan, { maxMovesShown: 20 }));
              else if (o?.kind === 'apply') out(ctx, renderApplySummary(o.summary));
              else if (o?.kind === 'verify') out(ctx, renderVerify(o.report));
              else if (o?.kind === 'cleanupOrphans') out(ctx, renderOrphanCleanup(o.cleanup));
              if (s.error)
                log(
                  ctx,
                  `fw-shard: error [${s.error.code}] in step ${s.index + 1} (line ${s.line}): ${s.error.message}${s.error.nextStep ? `\n  next step: ${s.error.nextStep}` : ''}`,
                );
            }
            out(ctx, renderPlaybookResult(result));
          }
          return result.exitCode;
        });
      }),
    );
};

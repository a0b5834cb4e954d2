/**
 * `fw-shard guard install | status | remove`: the shard-side objects of online moves in trigger mode
 * (src/move/guard.ts). A move installs what is missing by itself; these commands let an operator do it
 * ahead of time, see the fences, and take them away.
 */
import { Option, type Command } from 'commander';
import { Connections } from '../../db/pool.js';
import { ExitCode, FwShardError } from '../../errors/index.js';
import { retentionSeconds, showSeconds } from '../../move/index.js';
import { guardStatus, installGuards, liftFence, removeGuards } from '../../fleet/guard-admin.js';
import { renderDropped, renderGuardStates, renderInstalled, renderLifted } from '../../report/guard.js';
import { parseShardId, parseUserId, type Endpoint, type ShardId, type Topology } from '../../topology/index.js';
import { loadTopologyResolved, out, printJson, type CliContext, type GlobalOptions, type Register } from '../context.js';
import { action } from '../action.js';

interface GuardOpts {
  shard?: string;
  user?: string;
  json?: boolean;
  yes?: boolean;
  liftMoved?: boolean;
  fenceRetention?: string;
}

/** Load the topology, run `fn` with one connection per server, close them all. */
async function withTopology<T>(ctx: CliContext, globals: () => GlobalOptions, fn: (topology: Topology, conns: Connections) => Promise<T>): Promise<T> {
  const { topology } = await loadTopologyResolved(ctx, globals());
  const conns = new Connections();
  try {
    return await fn(topology, conns);
  } finally {
    await conns.closeAll();
  }
}

function shardsOf(topology: Topology, opts: GuardOpts): ShardId[] {
  if (opts.shard === undefined) return [...topology.shards.keys()].sort((a, b) => a - b);
  return [parseShardId(opts.shard, topology, '--shard')];
}

export const registerGuard: Register = (program: Command, ctx, setExit, globals) => {
  const guard = program
    .command('guard')
    .description('the shard-side fence, change log and triggers of online moves (trigger mode)')
    .addHelpText(
      'after',
      `
Examples:
  $ fw-shard guard install               create fw_shard_fence, fw_shard_changes and the triggers on every shard
  $ fw-shard guard status --shard 1      fences (moving and moved users), pending changes, triggers
  $ fw-shard guard remove --user 42 --shard 1   lift user 42's fence on shard 1 (a move back by hand)
  $ fw-shard guard remove --shard 3 --yes       drop fw-shard's triggers and tables from shard 3
  $ fw-shard guard remove --shard 1 --yes --lift-moved   the same where moved users' fences still refuse stale writes

A moved user's fence stays on the old shard for the retention (config guard.retention, default 24h)
so that a stale app server's late write is refused (error 1644, SQLSTATE 45000) rather than lost.
fw-shard cleanup (the cron job) lifts it after that, and drops the triggers and tables of every shard
where no fence is left: with no move running or in retention, nothing of fw-shard's stays on a shard.`,
    );

  guard
    .command('install')
    .description(
      "create fw-shard's fence and change tables and its triggers on the shards (what a move does by itself; fw-shard cleanup drops them again where no fence needs them)",
    )
    .option('--shard <n>', 'only this shard')
    .option('--json', 'print one JSON document on stdout')
    .action(
      action(ctx, setExit, async (opts: GuardOpts) => {
        return withTopology(ctx, globals, async (topology, conns) => {
          const result = await installGuards(topology, (e) => conns.get(e), shardsOf(topology, opts));
          if (opts.json) printJson(ctx, { ok: true, shards: result });
          else for (const line of renderInstalled(result)) out(ctx, line);
          return ExitCode.ok;
        });
      }),
    );

  guard
    .command('status')
    .description(
      "fw-shard's objects on each shard: fences, why each is kept and until when, pending changes, triggers; a fence that refuses the user where it lives is a problem (exit 8)",
    )
    .option('--shard <n>', 'only this shard')
    .addOption(
      new Option('--fence-retention <duration>', "how long a moved user's fence is kept (default: config guard.retention, else 24h)").env(
        'FW_SHARD_FENCE_RETENTION',
      ),
    )
    .option('--json', 'print one JSON document on stdout')
    .action(
      action(ctx, setExit, async (opts: GuardOpts) => {
        return withTopology(ctx, globals, async (topology, conns) => {
          const retention = retentionSeconds(topology, opts.fenceRetention);
          const { states, problems } = await guardStatus(
            topology,
            (e) => conns.get(e),
            retention,
            opts.shard === undefined ? undefined : shardsOf(topology, opts),
          );
          if (opts.json) printJson(ctx, { ok: problems.length === 0, retentionSeconds: retention, shards: states, problems });
          else {
            out(ctx, renderGuardStates(states, showSeconds(retention)));
            for (const p of problems) out(ctx, `PROBLEM: ${p}`);
          }
          return problems.length ? ExitCode.unhealthy : ExitCode.ok;
        });
      }),
    );

  guard
    .command('remove')
    .description("lift one user's fence (--user), or drop fw-shard's triggers and tables from the shards (--yes)")
    .option('--shard <n>', 'only this shard')
    .option('--user <id>', "only this user's fence")
    .option('--yes', 'drop the triggers and tables (without --user)')
    .option('--lift-moved', "with --yes: also lift the fences of users moved away, which refuse stale app servers' writes to this shard")
    .option('--json', 'print one JSON document on stdout')
    .action(
      action(ctx, setExit, async (opts: GuardOpts) => {
        return withTopology(ctx, globals, async (topology, conns) => {
          const connect = (e: Endpoint) => conns.get(e);
          let done: string[];
          if (opts.user !== undefined) done = renderLifted(await liftFence(topology, connect, parseUserId(opts.user), shardsOf(topology, opts)));
          else {
            if (!opts.yes)
              throw new FwShardError('USAGE', 'guard remove without --user drops the triggers and tables: pass --yes to confirm', {
                hint: 'fw-shard guard remove --shard N --yes',
              });
            const again = (shard?: number) =>
              `fw-shard guard remove ${shard !== undefined ? `--shard ${shard} ` : opts.shard ? `--shard ${opts.shard} ` : ''}--yes`;
            done = renderDropped(await removeGuards(topology, connect, shardsOf(topology, opts), { liftMoved: opts.liftMoved === true, again }));
          }
          if (opts.json) printJson(ctx, { ok: true, done });
          else for (const d of done) out(ctx, d);
          return ExitCode.ok;
        });
      }),
    );
};

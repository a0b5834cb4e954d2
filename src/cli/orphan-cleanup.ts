/** The `--orphans` mode of `fw-shard cleanup`: its flags, its scope and the run. */
import { type Command, Option } from 'commander';
import { Connections } from '../db/pool.js';
import { ExitCode, usage } from '../errors/index.js';
import { cleanupOrphans, findOrphans, type VerifyScope } from '../fleet/orphans.js';
import { renderOrphanCleanup } from '../report/fleet.js';
import { parseShardId, parseUserId, type Topology } from '../topology/index.js';
import type { LoadedTopology } from '../app/topology.js';
import { log, out, printJson, type CliContext } from './context.js';
import { interruptSignal } from './interrupt.js';

export function orphanOptions(cmd: Command): Command {
  return cmd
    .addOption(
      new Option(
        '--orphans',
        "instead: delete leftover rows on shards other than their user's, where the same row is identical on the user's shard (anything else is listed, never deleted)",
      ),
    )
    .addOption(new Option('--dry-run', 'with --orphans: show what would be deleted and kept; write nothing'))
    .addOption(new Option('--user <id>', 'with --orphans: only this user'))
    .addOption(new Option('--shard <n>', 'with --orphans: only the users of this shard (and rows on it of users that do not exist)'));
}

/** --user or --shard (not both): whose rows verify and cleanup --orphans look at. */
export function scopeOf(opts: { user?: string; shard?: string }, topology: Topology): VerifyScope {
  if (opts.user !== undefined && opts.shard !== undefined) throw usage('give --user or --shard, not both');
  return {
    ...(opts.user !== undefined ? { userId: parseUserId(opts.user) } : {}),
    ...(opts.shard !== undefined ? { shard: parseShardId(opts.shard, topology, '--shard') as number } : {}),
  };
}

/** `cleanup --dry-run/--user/--shard` only mean something with --orphans. */
export function orphanFlagsGiven(flags: object): boolean {
  const o = flags as { dryRun?: boolean; user?: string; shard?: string };
  return Boolean(o.dryRun) || o.user !== undefined || o.shard !== undefined;
}

/** `fw-shard cleanup --orphans [--dry-run]`: exit 0 when nothing is left over, 8 when rows had to be kept. */
export async function runOrphanCleanup(
  ctx: CliContext,
  loaded: LoadedTopology,
  opts: { orphans?: boolean; json?: boolean; dryRun?: boolean; user?: string; shard?: string },
): Promise<number> {
  if (!opts.orphans)
    throw usage(
      '--dry-run, --user and --shard of cleanup go with --orphans',
      'fw-shard cleanup --orphans --dry-run lists orphan rows; plain fw-shard cleanup finishes deferred cleanups.',
    );
  const scope = scopeOf(opts, loaded.topology);
  const conns = new Connections();
  const intr = interruptSignal(() => log(ctx, 'fw-shard: stopping after the current group of rows'));
  try {
    const report = await findOrphans(loaded.topology, (e) => conns.get(e), scope);
    const cleanup = await cleanupOrphans(loaded.topology, (e) => conns.get(e), report, {
      dryRun: Boolean(opts.dryRun),
      signal: intr.signal,
      onProgress: (g) =>
        log(
          ctx,
          `cleanup --orphans: shard ${g.shard} ${g.table} user ${g.userId}: ${g.deleted} ${opts.dryRun ? 'would be deleted' : 'deleted'}, ${g.keptRows} kept`,
        ),
    });
    const code = BigInt(cleanup.kept) > 0n ? ExitCode.unhealthy : ExitCode.ok;
    if (opts.json) printJson(ctx, { ok: code === ExitCode.ok, ...cleanup, inFlight: report.inFlight });
    else out(ctx, renderOrphanCleanup(cleanup));
    if (report.inFlight.length) log(ctx, `note: ${report.inFlight.length} group(s) belong to users with an unfinished move and were left alone`);
    return code;
  } finally {
    intr.dispose();
    await conns.closeAll();
  }
}

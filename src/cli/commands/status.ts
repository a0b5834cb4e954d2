import { Option, type Command } from 'commander';
import { Connections } from '../../db/pool.js';
import { collectStatus, statusError } from '../../status/collect.js';
import { renderStatus } from '../../report/status.js';
import { ExitCode } from '../../errors/index.js';
import { loadTopologyResolved, log, out, printJson } from '../context.js';
import { action } from '../action.js';
import { parseDuration } from '../../config/units.js';
import { checkWatch, watchStatus } from '../status-watch.js';
import type { Register } from '../context.js';

export const registerStatus: Register = (program: Command, ctx, setExit, globals) => {
  program
    .command('status')
    .description('servers, shards (users, rows, bytes, schema drift), ticket servers and unfinished moves')
    .option('--json', 'print one JSON document on stdout')
    .option('--exact', 'count rows exactly instead of information_schema estimates (slower)')
    .option('--watch', 'redraw the status live on the terminal, with the progress of unfinished moves (Ctrl-C quits)')
    .addOption(new Option('--interval <duration>', 'with --watch: time between refreshes').default('2s').env('FW_SHARD_WATCH_INTERVAL'))
    .addHelpText(
      'after',
      `
Examples:
  $ fw-shard status
  $ fw-shard status --json --exact | jq '.shards[] | {id, users, rows}'
  $ fw-shard status --watch --interval 1s      live, on a terminal

Exit codes: 0 all well, 4 a server is unreachable, 8 something is unsafe (ticket overlap,
users mapped to an unknown shard, schema drift), 3 config error.`,
    )
    .action(
      action(ctx, setExit, async (opts: { json?: boolean; exact?: boolean; watch?: boolean; interval: string }) => {
        if (opts.watch) {
          const intervalMs = parseDuration(opts.interval, '--interval');
          checkWatch(ctx, { ...opts, intervalMs });
          return watchStatus(ctx, (await loadTopologyResolved(ctx, globals())).topology, { exact: Boolean(opts.exact), intervalMs });
        }
        const { topology } = await loadTopologyResolved(ctx, globals());
        const conns = new Connections();
        try {
          const report = await collectStatus(topology, (e) => conns.get(e), { exact: Boolean(opts.exact), now: () => performance.now() });
          const err = statusError(report);
          if (opts.json) printJson(ctx, { ok: !err, ...report });
          else out(ctx, renderStatus(report));
          if (err) log(ctx, `fw-shard: status found ${report.problems.length} problem(s): ${report.problems[0] ?? ''} (exit ${err.exitCode})`);
          return err ? err.exitCode : ExitCode.ok;
        } finally {
          await conns.closeAll();
        }
      }),
    );
};

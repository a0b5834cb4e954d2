/**
 * `fw-shard moves` and `fw-shard stop`: the journal read (every move, or one with its tables and runs),
 * and a running move asked to stop at its next safe point.
 */
import { Option } from 'commander';
import { makeDeps } from '../../app/deps.js';
import { parseDuration } from '../../config/units.js';
import { Connections } from '../../db/pool.js';
import { ExitCode, FwShardError } from '../../errors/index.js';
import { JournalReader, stopMove } from '../../move/index.js';
import { renderMoveDetail, renderMovesTable } from '../../report/moves.js';
import { mappingEndpoint, parseUserId } from '../../topology/index.js';
import { action } from '../action.js';
import { loadTopologyResolved, log, out, printJson, type Register } from '../context.js';
import { moveRef } from '../move-ref.js';

/** `fw-shard moves`: the move journal, or one move in detail. */
export const registerMoves: Register = (program, ctx, setExit, globals) => {
  program
    .command('moves')
    .description('the move journal: unfinished moves (or all with --all), with progress, runner and stop requests; one move in detail with its id')
    .argument('[move-id]', 'show this move in detail: its tables and every run (who, where, which command)')
    .option('--all', 'include finished and aborted moves')
    .option('--user <id>', "only this user's moves")
    .option('--json', 'print one JSON document on stdout (each move with its tables and runs)')
    .addHelpText(
      'after',
      `
Examples:
  $ fw-shard moves
  $ fw-shard moves --user 42 --all
  $ fw-shard moves 9007199254741001          one move: tables, runs (who ran it, from where)
  $ fw-shard moves --all --json

The runner column says whether the move's runner is alive (it holds the move's runner lock on db_main)
or gone (the move waits: fw-shard resume ID).`,
    )
    .action(
      action(ctx, setExit, async (opts: { all?: boolean; user?: string; json?: boolean }, id?: string) => {
        const { topology } = await loadTopologyResolved(ctx, globals());
        if (id !== undefined && !/^[0-9]+$/.test(id)) throw new FwShardError('USAGE', `move id must be digits, got '${id}'`);
        const userId = opts.user === undefined ? undefined : parseUserId(opts.user);
        const conns = new Connections();
        try {
          const reader = new JournalReader(conns.get(mappingEndpoint(topology)));
          const one = id === undefined ? undefined : await reader.get(id);
          if (id !== undefined && !one)
            throw new FwShardError('MOVE_NOT_FOUND', `no move ${id} in the journal`, { hint: 'fw-shard moves --all lists the moves.' });
          const moves = one ? [one] : await reader.list(Boolean(opts.all), 200, userId);
          if (opts.json) {
            const full = await Promise.all(moves.map(async (m) => ({ ...m, tables: await reader.tables(m.id), runs: await reader.runs(m.id) })));
            printJson(ctx, { ok: true, moves: full });
          } else if (one) {
            out(ctx, renderMoveDetail(one, await reader.tables(one.id), await reader.runs(one.id)));
          } else if (moves.length === 0) {
            const whose = userId === undefined ? '' : ` of user ${userId}`;
            out(ctx, opts.all ? `no moves${whose} in the journal` : `no unfinished moves${whose}`);
          } else {
            out(ctx, renderMovesTable(moves));
          }
          return ExitCode.ok;
        } finally {
          await conns.closeAll();
        }
      }),
    );
};

/** `fw-shard stop`: ask a move running elsewhere to stop at its next safe point. */
export const registerStop: Register = (program, ctx, setExit, globals) => {
  program
    .command('stop')
    .description('ask a running move (another terminal, cron, another host) to stop at its next safe point, as Ctrl-C there would')
    .argument('[move-id]', 'the move id')
    .option('--user <id>', "stop this user's unfinished move")
    .addOption(new Option('--wait <duration>', 'wait this long for the runner to stop (0: only record the request)').default('60s'))
    .option('--json', 'print one JSON document on stdout')
    .addHelpText(
      'after',
      `
Examples:
  $ fw-shard stop 9007199254741001
  $ fw-shard stop --user 42 --wait 0

The runner stops at its next safe point (between chunks, never inside the flip), ends with exit 130
and says it stopped because of a stop request; fw-shard resume ID continues the move.
Exit codes: 0 stopped (or, with --wait 0, requested), 5 NOT_RUNNING (finished, or its runner is gone:
nothing to stop), 7 still running after --wait (the request stays), 2 no such move.`,
    )
    .action(
      action(ctx, setExit, async (opts: { user?: string; wait: string; json?: boolean }, id?: string) => {
        const loaded = await loadTopologyResolved(ctx, globals());
        const ref = moveRef(id, opts.user);
        const waitMs = parseDuration(opts.wait, '--wait');
        const { deps, close } = makeDeps(loaded.topology, () => undefined);
        try {
          if (waitMs > 0) log(ctx, `asking the move to stop at its next safe point; waiting up to ${opts.wait}...`);
          const r = await stopMove(deps, ref, { waitMs });
          if (opts.json) printJson(ctx, { ...r });
          else out(ctx, r.nextStep);
          return ExitCode.ok;
        } finally {
          await close();
        }
      }),
    );
};

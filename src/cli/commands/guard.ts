/**
 * `fw-shard guard install | status | remove`: the shard-side objects of online moves in trigger mode
 * (src/move/guard.ts). A move installs what is missing by itself; these commands let an operator do it
 * ahead of time, see the fences, and take them away.
 */
import type { Command } from 'commander';
import { Connections } from '../../db/pool.js';
import { ExitCode, FwShardError } from '../../errors/index.js';
import { Guard, type FenceRow } from '../../move/guard.js';
import { JournalReader } from '../../move/journal.js';
import { shardTablePlans } from '../../plan/facts.js';
import { renderTable } from '../../report/table.js';
import { mappingEndpoint, parseShardId, parseUserId, type ShardId, type Topology } from '../../topology/index.js';
import { placementsOfSql } from '../../db/sql/mapping.js';
import { loadTopologyResolved, out, printJson, type CliContext, type GlobalOptions, type Register } from '../context.js';
import { action } from '../action.js';

interface GuardOpts {
  shard?: string;
  user?: string;
  json?: boolean;
  yes?: boolean;
  liftMoved?: boolean;
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

A moved user's fence stays on the old shard so that a stale app server's late write is refused
(error 1644, SQLSTATE 45000) rather than lost.`,
    );

  guard
    .command('install')
    .description("create fw-shard's fence and change tables and its triggers on the shards (what a move would do)")
    .option('--shard <n>', 'only this shard')
    .option('--json', 'print one JSON document on stdout')
    .action(
      action(ctx, setExit, async (opts: GuardOpts) => {
        return withTopology(ctx, globals, async (topology, conns) => {
          const plans = await shardTablePlans(topology, (e) => conns.get(e));
          const result: { shard: number; created: string[]; tables: number }[] = [];
          for (const id of shardsOf(topology, opts)) {
            const tables = plans.get(id) ?? [];
            const { created } = await new Guard(conns.get(topology.shards.get(id)!)).install(tables);
            result.push({ shard: id, created, tables: tables.length });
          }
          if (opts.json) printJson(ctx, { ok: true, shards: result });
          else for (const r of result) out(ctx, `shard ${r.shard}: ${r.tables} sharded table(s) guarded; ${r.created.length} trigger(s) created`);
          return ExitCode.ok;
        });
      }),
    );

  guard
    .command('status')
    .description('fences and their age, pending changes, and the triggers on each shard; a fence that refuses the user where it lives is a problem (exit 8)')
    .option('--shard <n>', 'only this shard')
    .option('--json', 'print one JSON document on stdout')
    .action(
      action(ctx, setExit, async (opts: GuardOpts) => {
        return withTopology(ctx, globals, async (topology, conns) => {
          const mapDb = conns.get(mappingEndpoint(topology));
          const active = new Map((await new JournalReader(mapDb).list(false, 100_000)).map((m) => [String(m.user_id), m]));
          const shards: { shard: number; triggers: number; fences: (FenceRow & { lives: number | null })[]; pending: Record<string, string> }[] = [];
          const problems: string[] = [];
          for (const id of shardsOf(topology, opts)) {
            const g = new Guard(conns.get(topology.shards.get(id)!));
            const fences = await g.fences();
            const users = fences.map((f) => String(f.user_id));
            const placed = users.length ? await mapDb.rows<{ uid: string; shard: string | number }>(placementsOfSql(topology.mapping, users)) : [];
            const lives = new Map(placed.map((p) => [String(p.uid), Number(p.shard)]));
            const rows = fences.map((f) => ({ ...f, lives: lives.get(String(f.user_id)) ?? null }));
            for (const f of rows) {
              if (f.state === 'moved' && f.lives === id) {
                problems.push(
                  active.has(String(f.user_id))
                    ? `user ${f.user_id} is refused on shard ${id} where it still lives (move ${f.move_id} stopped between its fence and the flip): fw-shard resume ${f.move_id}`
                    : `user ${f.user_id} lives on shard ${id} but a fence there refuses its writes (move ${f.move_id}): fw-shard guard remove --user ${f.user_id} --shard ${id}`,
                );
              }
            }
            shards.push({ shard: id, triggers: (await g.triggers()).length, fences: rows, pending: Object.fromEntries(await g.pendingChanges()) });
          }
          if (opts.json) printJson(ctx, { ok: problems.length === 0, shards, problems });
          else {
            for (const s of shards) {
              out(ctx, `shard ${s.shard}: ${s.triggers} fw-shard trigger(s), ${s.fences.length} fence(s)`);
              if (s.fences.length) {
                out(
                  ctx,
                  renderTable(
                    ['user', 'state', 'move', 'lives on', 'age', 'pending changes'],
                    s.fences.map((f) => [
                      String(f.user_id),
                      f.state,
                      String(f.move_id),
                      f.lives === null ? '(no user)' : String(f.lives),
                      `${f.age_s} s`,
                      s.pending[String(f.user_id)] ?? '0',
                    ]),
                  ),
                );
              }
            }
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
          const active = new Map((await new JournalReader(conns.get(mappingEndpoint(topology))).list(false, 100_000)).map((m) => [String(m.user_id), m]));
          const done: string[] = [];
          if (opts.user !== undefined) {
            const user = parseUserId(opts.user);
            const m = active.get(user);
            if (m)
              throw new FwShardError('BUSY', `user ${user} has an unfinished move (${m.id}); its fences belong to it`, {
                hint: `Finish it (fw-shard resume ${m.id}) or abort it (fw-shard abort ${m.id}).`,
              });
            for (const id of shardsOf(topology, opts)) {
              const g = new Guard(conns.get(topology.shards.get(id)!));
              const fence = await g.fenceOf(user);
              await g.clear(user, null, { changes: true });
              done.push(
                fence === null
                  ? `shard ${id}: user ${user} had no fence`
                  : `shard ${id}: fence of user ${user} lifted (it was ${fence.state}, move ${fence.moveId})${
                      fence.state === 'moved' ? `: writes of user ${user} to shard ${id} are accepted again, stale app servers' included` : ''
                    }`,
              );
            }
          } else {
            if (!opts.yes)
              throw new FwShardError('USAGE', 'guard remove without --user drops the triggers and tables: pass --yes to confirm', {
                hint: 'fw-shard guard remove --shard N --yes',
              });
            if (active.size > 0) {
              throw new FwShardError('BUSY', `${active.size} move(s) are unfinished; their capture needs the guard`, {
                hint: 'Let them finish (fw-shard moves), then run this again.',
              });
            }
            // A `moved` fence refuses a stale app server's write to the shard the user left: dropping the
            // tables lifts it silently, so that is said, and only done when asked for.
            const moved: string[] = [];
            for (const id of shardsOf(topology, opts))
              for (const f of await new Guard(conns.get(topology.shards.get(id)!)).fences())
                if (f.state === 'moved') moved.push(`user ${f.user_id} on shard ${id} (move ${f.move_id}, ${f.age_s} s ago)`);
            if (moved.length > 0 && !opts.liftMoved) {
              throw new FwShardError(
                'PRECONDITION',
                `dropping fw-shard's tables would lift ${moved.length} fence(s) of users moved away, which refuse stale writes to the shard they left: ${moved.slice(0, 10).join(', ')}${moved.length > 10 ? ', ...' : ''}`,
                {
                  hint: `Nothing was dropped. Add --lift-moved to drop them too (fw-shard guard remove ${opts.shard ? `--shard ${opts.shard} ` : ''}--yes --lift-moved), once no app server can still hold the old placement.`,
                },
              );
            }
            for (const id of shardsOf(topology, opts)) {
              const dropped = await new Guard(conns.get(topology.shards.get(id)!)).remove({ dropTables: true });
              const lifted = moved.filter((m) => m.includes(` on shard ${id} `)).length;
              done.push(
                `shard ${id}: ${dropped.length} trigger(s) and fw-shard's tables dropped${lifted > 0 ? `, ${lifted} moved user(s)' fence(s) lifted` : ''}`,
              );
            }
          }
          if (opts.json) printJson(ctx, { ok: true, done });
          else for (const d of done) out(ctx, d);
          return ExitCode.ok;
        });
      }),
    );
};

/**
 * `fw-shard guard install | status | remove` as use cases: what each does to the shards, returned as a
 * report the CLI renders (src/report/guard.ts). Refusals are typed errors with the next step; nothing
 * is half-done: a lift or a drop that would take away what a running move or a moved user's fence
 * needs is refused before anything is touched.
 */
import type { Db, ReadDb } from '../db/pool.js';
import { FwShardError } from '../errors/index.js';
import { Guard, JournalReader, readGuardStates, type MoveRow, type ShardGuardState } from '../move/index.js';
import { shardTablePlans } from '../plan/facts.js';
import { mappingEndpoint, type Endpoint, type ShardId, type Topology } from '../topology/index.js';

export interface GuardInstalled {
  shard: number;
  created: string[];
  tables: number;
}

/** Create what is missing of fw-shard's fence and change tables and triggers on `shards`. */
export async function installGuards(topology: Topology, connect: (e: Endpoint) => Db, shards: readonly ShardId[]): Promise<GuardInstalled[]> {
  const plans = await shardTablePlans(topology, connect);
  const out: GuardInstalled[] = [];
  for (const id of shards) {
    const tables = plans.get(id) ?? [];
    const { created } = await new Guard(connect(topology.shards.get(id)!)).install(tables);
    out.push({ shard: id, created, tables: tables.length });
  }
  return out;
}

/** Each shard's objects and fences, judged; the fences that refuse a user where it lives are problems. */
export async function guardStatus(
  topology: Topology,
  connect: (e: Endpoint) => Db,
  retentionSeconds: number,
  shards?: readonly ShardId[],
): Promise<{ states: ShardGuardState[]; problems: string[] }> {
  const states = await readGuardStates(topology, connect, retentionSeconds, shards ? [...shards] : undefined);
  const problems = states.flatMap((s) => s.fences.map((f) => f.problem).filter((p): p is string => p !== null));
  return { states, problems };
}

export interface FenceLifted {
  shard: number;
  user: string;
  /** The fence that was there, or null. */
  was: { state: string; moveId: string } | null;
}

/** Lift one user's fence on `shards`: refused while the user has an unfinished move (the fences are its). */
export async function liftFence(topology: Topology, connect: (e: Endpoint) => Db, user: string, shards: readonly ShardId[]): Promise<FenceLifted[]> {
  const m = (await unfinished(topology, connect)).get(user);
  if (m)
    throw new FwShardError('BUSY', `user ${user} has an unfinished move (${m.id}); its fences belong to it`, {
      hint: `Finish it (fw-shard resume ${m.id}) or abort it (fw-shard abort ${m.id}).`,
    });
  const out: FenceLifted[] = [];
  for (const id of shards) {
    const g = new Guard(connect(topology.shards.get(id)!));
    const fence = await g.fenceOf(user);
    await g.clear(user, null, { changes: true });
    out.push({ shard: id, user, was: fence });
  }
  return out;
}

export interface GuardDropped {
  shard: number;
  triggers: number;
  /** Fences of users moved away that went with the tables (--lift-moved). */
  liftedMoved: number;
}

/**
 * Drop fw-shard's triggers and tables from `shards`. Refused while a move is unfinished (its capture
 * needs them), and, unless `liftMoved`, while users moved away still have a fence there (it refuses
 * stale app servers' writes to the shard they left). `again`: the command that repeats it, for hints.
 */
export async function removeGuards(
  topology: Topology,
  connect: (e: Endpoint) => Db,
  shards: readonly ShardId[],
  opts: { liftMoved: boolean; again: (shard?: number) => string },
): Promise<GuardDropped[]> {
  const active = await unfinished(topology, connect);
  if (active.size > 0) {
    throw new FwShardError('BUSY', `${active.size} move(s) are unfinished; their capture needs the guard`, {
      hint: 'Let them finish (fw-shard moves), then run this again.',
    });
  }
  // A `moved` fence refuses a stale app server's write to the shard the user left: dropping the tables
  // lifts it silently, so that is said, and only done when asked for.
  const moved: { shard: number; text: string }[] = [];
  for (const id of shards)
    for (const f of await new Guard(connect(topology.shards.get(id)!)).fences())
      if (f.state === 'moved') moved.push({ shard: id, text: `user ${f.user_id} on shard ${id} (move ${f.move_id}, ${f.age_s} s ago)` });
  if (moved.length > 0 && !opts.liftMoved) {
    const shown = moved.slice(0, 10).map((m) => m.text);
    throw new FwShardError(
      'PRECONDITION',
      `dropping fw-shard's tables would lift ${moved.length} fence(s) of users moved away, which refuse stale writes to the shard they left: ${shown.join(', ')}${moved.length > 10 ? ', ...' : ''}`,
      { hint: `Nothing was dropped. Add --lift-moved to drop them too (${opts.again()} --lift-moved), once no app server can still hold the old placement.` },
    );
  }
  const out: GuardDropped[] = [];
  for (const id of shards) {
    const g = new Guard(connect(topology.shards.get(id)!));
    const r = await g.withLock(10, () => g.remove({ dropTables: true }));
    if (r.busy.length > 0) {
      throw new FwShardError(
        'BUSY',
        `shard ${id}: ${r.dropped.length} trigger(s) dropped, but ${r.busy.join(', ')} stayed busy (open transactions hold the table): its triggers${r.tablesDropped ? '' : " and fw-shard's tables"} are still there`,
        { hint: `Run the same command again in a moment (${opts.again(id)}${opts.liftMoved ? ' --lift-moved' : ''}).` },
      );
    }
    out.push({ shard: id, triggers: r.dropped.length, liftedMoved: moved.filter((m) => m.shard === id).length });
  }
  return out;
}

/** The unfinished moves, by user. */
async function unfinished(topology: Topology, connect: (e: Endpoint) => ReadDb): Promise<Map<string, MoveRow>> {
  return new Map((await new JournalReader(connect(mappingEndpoint(topology))).list(false, 100_000)).map((m) => [String(m.user_id), m]));
}

/**
 * The life of fw-shard's objects on a shard (trigger mode): they exist only while a fence there needs
 * them, so a shard with no move running and none in retention carries nothing of fw-shard's.
 *
 *  - A move creates the tables and its tables' triggers, and sets its fence, holding the shard
 *    database's guard lock (Guard.withLock: a named lock of the shard's server); "no fence left, drop
 *    everything" holds the same lock. So a drop never runs between another move's install and its fence.
 *  - A fence is needed while its move is unfinished (its capture, its freeze, its flip). A `moved` fence
 *    of a finished move stays for the retention (config `guard.retention`, default 24 h): it refuses the
 *    writes of app servers that still hold the user's old placement (a cached user row, a long-running
 *    worker) instead of letting them land where nobody reads them. Any other fence of a finished or
 *    aborted move is left over, and so is a `moved` fence on the shard where the user lives again.
 *  - After the flip the move drops the target's triggers and tables at once if no fence there needs
 *    them (retireIfUnused); `fw-shard cleanup` (the cron job) lifts what is no longer needed on every
 *    shard and drops the rest the same way (tidyGuards); `fw-shard guard status` says what exists and why.
 *  - Every DDL statement is tried without waiting for the app's transactions on the table (Guard.ddl):
 *    a busy table keeps its triggers until the next try, and the app's queries never queue behind it.
 *    Fences of other users are never touched by a drop: the triggers go only where no fence is left.
 */
import type { Db } from '../db/pool.js';
import { parseDuration } from '../config/units.js';
import { placementsOfSql } from '../db/sql/mapping.js';
import { databaseId, mappingEndpoint, type Endpoint, type ShardId, type Topology } from '../topology/index.js';
import { Guard, type FenceRow } from './guard.js';
import { JournalReader, type MoveRow } from './journal.js';
import { deleteFenceSql, deleteUserChangesSql } from '../db/sql/guard.js';

/** A moved user's fence stays this long on the old shard by default (config `guard.retention`). */
const DEFAULT_FENCE_RETENTION_SECONDS = 24 * 3600;

const fenceRetentionOf = (t: Topology): number => t.guard?.retentionSeconds ?? DEFAULT_FENCE_RETENTION_SECONDS;

/** --fence-retention, else config guard.retention, else the default: in seconds. */
export function retentionSeconds(topology: Topology, flag: string | undefined): number {
  return flag === undefined ? fenceRetentionOf(topology) : Math.floor(parseDuration(flag, '--fence-retention') / 1000);
}

type FenceVerdict =
  /** its move is unfinished */
  | 'needed'
  /** a moved user's fence, kept until `until` */
  | 'retained'
  /** no longer needed: `fw-shard cleanup` lifts it */
  | 'expired'
  /** not fw-shard's to judge (its move is not in this journal) */
  | 'unknown';

export interface JudgedFence extends FenceRow {
  /** The shard the mapping places the user on (null: no such user). */
  lives: number | null;
  verdict: FenceVerdict;
  why: string;
  /** retained: when `fw-shard cleanup` may lift it (ISO, UTC). */
  until: string | null;
  /** It refuses the user's writes on the shard where the user lives. */
  problem: string | null;
}

/** What one fence is for, from its move's journal row, where the user lives, and the retention. */
function judgeFence(f: FenceRow, shards: readonly number[], move: MoveRow | undefined, lives: number | null, retentionS: number, nowMs: number): JudgedFence {
  const here = lives !== null && shards.includes(lives);
  const shard = shards[0]!;
  const base = { ...f, lives, until: null, problem: null };
  if (!move) {
    return {
      ...base,
      verdict: 'unknown',
      why: `move ${f.move_id} is not in this journal (another install's fw-shard, or a journal that was dropped): kept`,
      problem: null,
    };
  }
  if (move.state === 'active') {
    const needed: JudgedFence = {
      ...base,
      verdict: 'needed',
      why: `move ${move.id} (phase ${move.phase}) is unfinished: its ${f.state === 'moved' ? 'flip' : 'capture'} needs it`,
    };
    if (f.state === 'moved' && here)
      needed.problem = `user ${f.user_id} is refused on shard ${shard} where it still lives (move ${move.id} stopped between its fence and the flip): fw-shard resume ${move.id}`;
    return needed;
  }
  if (f.state === 'moved' && !here && move.state === 'done') {
    const left = Math.max(0, retentionS - Number(f.age_s));
    if (left > 0) {
      return {
        ...base,
        verdict: 'retained',
        why: `refuses writes of user ${f.user_id} to this shard by app servers that still hold its old placement (move ${move.id} is done; user on shard ${lives ?? '?'})`,
        until: new Date(nowMs + left * 1000).toISOString().replace(/\.\d+Z$/, 'Z'),
      };
    }
    return { ...base, verdict: 'expired', why: `move ${move.id} is done and its retention (${showSeconds(retentionS)}) is over` };
  }
  const judged: JudgedFence = { ...base, verdict: 'expired', why: `left over by move ${move.id}, which is ${move.state}` };
  if (f.state === 'moved' && here)
    judged.problem = `user ${f.user_id} lives on shard ${shard} but a fence there refuses its writes (move ${move.id}, ${move.state}): fw-shard cleanup lifts it`;
  return judged;
}

export function showSeconds(s: number): string {
  if (s % 86400 === 0 && s > 0) return `${s / 86400}d`;
  if (s % 3600 === 0 && s > 0) return `${s / 3600}h`;
  if (s % 60 === 0 && s > 0) return `${s / 60}m`;
  return `${s}s`;
}

/** The shards of a topology grouped by database (poor man's federation may name one database twice). */
function shardDatabases(topology: Topology, only?: readonly ShardId[]): { shards: number[]; endpoint: Endpoint }[] {
  const groups = new Map<string, { shards: number[]; endpoint: Endpoint }>();
  for (const [id, e] of [...topology.shards].sort(([a], [b]) => a - b)) {
    if (only && !only.includes(id)) continue;
    const k = databaseId(e);
    const g = groups.get(k);
    if (g) g.shards.push(id);
    else groups.set(k, { shards: [id], endpoint: e });
  }
  return [...groups.values()];
}

export interface ShardGuardState {
  shard: number;
  /** Other shard ids naming the same database. */
  alsoShards: number[];
  tables: string[];
  triggers: { name: string; tbl: string }[];
  fences: JudgedFence[];
  pending: Record<string, string>;
}

async function judgeAll(topology: Topology, connect: (e: Endpoint) => Db, shards: number[], fences: FenceRow[], retentionS: number): Promise<JudgedFence[]> {
  if (fences.length === 0) return [];
  const mapDb = connect(mappingEndpoint(topology));
  const reader = new JournalReader(mapDb);
  const users = [...new Set(fences.map((f) => String(f.user_id)))];
  const placed = await mapDb.rows<{ uid: string; shard: string | number }>(placementsOfSql(topology.mapping, users));
  const lives = new Map(placed.map((p) => [String(p.uid), Number(p.shard)]));
  const moves = new Map<string, MoveRow | undefined>();
  for (const id of new Set(fences.map((f) => String(f.move_id)))) moves.set(id, await reader.get(id));
  const now = Date.now();
  return fences.map((f) => judgeFence(f, shards, moves.get(String(f.move_id)), lives.get(String(f.user_id)) ?? null, retentionS, now));
}

/** What exists on each shard, and why (`fw-shard guard status`): read only. */
export async function readGuardStates(
  topology: Topology,
  connect: (e: Endpoint) => Db,
  retentionS: number,
  only?: readonly ShardId[],
): Promise<ShardGuardState[]> {
  const out: ShardGuardState[] = [];
  for (const { shards, endpoint } of shardDatabases(topology, only)) {
    const g = new Guard(connect(endpoint));
    const [tables, triggers, fences, pending] = await Promise.all([g.tables(), g.triggers(), g.fences(), g.pendingChanges()]);
    out.push({
      shard: shards[0]!,
      alsoShards: shards.slice(1),
      tables,
      triggers,
      fences: await judgeAll(topology, connect, shards, fences, retentionS),
      pending: Object.fromEntries(pending),
    });
  }
  return out;
}

export interface ShardTidy {
  shard: number;
  /** Fences lifted, with why. */
  lifted: JudgedFence[];
  /** Fences kept, with why (and until when). */
  kept: JudgedFence[];
  triggersDropped: number;
  tablesDropped: boolean;
  /** Tables whose triggers could not be dropped without waiting (busy): the next run tries again. */
  busy: string[];
  /** fw-shard objects left on the shard after this run (triggers -1: could not be read). */
  left: { triggers: number; tables: string[] };
  /** Why this shard could not be tidied (the others were). */
  error?: string;
}

/**
 * `fw-shard cleanup`: on every shard database, lift the fences no longer needed (judgeFence) and,
 * where no fence is left, drop fw-shard's triggers and tables. Holds each database's guard lock.
 */
export async function tidyGuards(topology: Topology, connect: (e: Endpoint) => Db, retentionS: number, only?: readonly ShardId[]): Promise<ShardTidy[]> {
  const out: ShardTidy[] = [];
  for (const { shards, endpoint } of shardDatabases(topology, only)) {
    const g = new Guard(connect(endpoint));
    out.push(
      await g
        .withLock(10, async () => {
          const judged = await judgeAll(topology, connect, shards, await g.fences(), retentionS);
          const lifted: JudgedFence[] = [];
          for (const f of judged) {
            if (f.verdict !== 'expired') continue;
            // Exactly the row judged: a fence set again meanwhile (another move of the user) stays.
            const r = await g.db.exec(deleteFenceSql(String(f.user_id), String(f.move_id), [f.state]));
            if (r.affectedRows !== 1) continue;
            if (f.state !== 'moved') await g.db.exec(deleteUserChangesSql(String(f.user_id)));
            lifted.push(f);
          }
          const r = await retireLocked(g, 10);
          return {
            shard: shards[0]!,
            lifted,
            kept: judged.filter((f) => !lifted.includes(f)),
            triggersDropped: r.dropped,
            tablesDropped: r.tablesDropped,
            busy: r.busy,
            left: { triggers: (await g.triggers()).length, tables: await g.tables() },
          };
        })
        // One shard that cannot be tidied (a login without TRIGGER there, a server down) does not hold
        // back the others: said, and left for the next run.
        .catch(async (err: unknown) => ({
          shard: shards[0]!,
          lifted: [],
          kept: [],
          triggersDropped: 0,
          tablesDropped: false,
          busy: [],
          left: await Promise.all([g.triggers(), g.tables()]).then(
            ([t, tb]) => ({ triggers: t.length, tables: tb }),
            () => ({ triggers: -1, tables: [] }),
          ),
          error: err instanceof Error ? err.message : String(err),
        })),
    );
  }
  return out;
}

/**
 * Drop fw-shard's triggers and tables from a shard where no fence is left (after a move's flip, on its
 * target; after an abort, on both shards). Never throws for a busy table: `fw-shard cleanup` retries.
 */
export async function retireIfUnused(g: Guard): Promise<{ retired: boolean; dropped: number; busy: string[] }> {
  return g.withLock(10, async () => {
    const r = await retireLocked(g, 10);
    return { retired: r.tablesDropped, dropped: r.dropped, busy: r.busy };
  });
}

async function retireLocked(g: Guard, attempts?: number): Promise<{ dropped: number; tablesDropped: boolean; busy: string[] }> {
  const tables = await g.tables();
  if (tables.length === 0 && (await g.triggers()).length === 0) return { dropped: 0, tablesDropped: false, busy: [] };
  if ((await g.fences()).length > 0) return { dropped: 0, tablesDropped: false, busy: [] };
  // A pending change with no fence belongs to no capture: nothing reads it any more.
  const r = await g.remove({ dropTables: true, ...(attempts !== undefined ? { attempts } : {}) });
  return { dropped: r.dropped.length, tablesDropped: r.tablesDropped, busy: r.busy };
}

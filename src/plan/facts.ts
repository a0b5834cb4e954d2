/**
 * The facts a plan is computed from: every user of the mapping with its rows and bytes on its shard
 * (one GROUP BY per sharded table and shard). Read-only by construction: it gets ReadDb handles.
 *
 * Sizes are `exact` (every value's length summed: every row of every sharded table read, on the
 * primaries) or `estimated` (`plan`'s default): rows counted from the owner index, bytes the rows times
 * the table's average row length from its statistics. A table with no index to count from is read
 * whole either way, and said so (notes).
 *
 * Rows on a shard whose owner is mapped elsewhere (or to nobody) are not part of any user's size: they
 * cannot be moved, and `fw-shard verify` reports them. Their total is returned as `strayRows`.
 */
import type { ReadDb } from '../db/pool.js';
import { allPlacementsSql } from '../db/sql/mapping.js';
import { userCountsSql, userSizesSql } from '../db/sql/rows.js';
import { readSchema, type TableInfo } from '../db/sql/schema.js';
import { FwShardError } from '../errors/index.js';
import { estimatedBytes, linkChildren, planTable, selectTables, type TablePlan, undeclaredTablesError } from '../move/index.js';
import { databaseId, mappingEndpoint, type Endpoint, type ShardId, type Topology } from '../topology/index.js';
import type { ShardFacts, UserSize } from './planner.js';

export type SizeMode = 'exact' | 'estimated';

export interface FleetFacts {
  shards: ShardFacts[];
  sizes: SizeMode;
  /** What the sizes cost where it is more than an index read (a table without an owner index). */
  notes: string[];
  /** Per shard: rows found there whose owner lives on another shard or does not exist. */
  strayRows: Map<number, bigint>;
  /** Users mapped to shards that are not in the topology. */
  unknownShardUsers: Map<number, number>;
}

/** The sharded tables of every shard, as the move engine selects them (db_main's own tables stay out). */
export type ShardTable = TablePlan & { info: TableInfo };

export async function shardTablePlans(topology: Topology, connect: (e: Endpoint) => ReadDb): Promise<Map<number, ShardTable[]>> {
  const mainDb = databaseId(topology.main);
  const schemas = new Map<number, Map<string, TableInfo>>();
  await Promise.all(
    [...topology.shards].map(async ([id, e]) => {
      schemas.set(id, await readSchema(connect(e)));
    }),
  );
  const realShards = [...topology.shards].filter(([, e]) => databaseId(e) !== mainDb).map(([id]) => id);
  const reference = realShards.find((id) => schemas.has(id));
  const out = new Map<number, ShardTable[]>();
  for (const [id, e] of topology.shards) {
    const schema = schemas.get(id)!;
    const isMain = databaseId(e) === mainDb;
    const refSchema = reference !== undefined ? schemas.get(reference)! : schema;
    const sel = selectTables(schema, refSchema, topology.tables, { sourceIsMain: isMain, mappingTable: isMain ? topology.mapping.table : null });
    // A plan, verify or orphan cleanup that counted db_main's own tables as the user's would act on them.
    if (sel.undeclared) throw undeclaredTablesError('from', id, sel.undeclared);
    out.set(id, linkChildren(sel.selected.map(({ name, owner, path }) => ({ ...planTable(schema.get(name)!, path ?? owner), info: schema.get(name)! }))));
  }
  return out;
}

/** Every user's shard according to the mapping table. */
export async function readPlacements(topology: Topology, connect: (e: Endpoint) => ReadDb): Promise<Map<string, number>> {
  const rows = await connect(mappingEndpoint(topology)).rows<{ uid: string; shard: string | number }>(allPlacementsSql(topology.mapping));
  return new Map(rows.map((r) => [String(r.uid), Number(r.shard)]));
}

/** Per-user sizes on every shard of the topology: exact by default (verify, tests), estimated for plans. */
export async function collectFleetFacts(topology: Topology, connect: (e: Endpoint) => ReadDb, sizes: SizeMode = 'exact'): Promise<FleetFacts> {
  const mainDb = databaseId(topology.main);
  const placements = await readPlacements(topology, connect);
  const plans = await shardTablePlans(topology, connect);
  const perShard = new Map<number, Map<string, UserSize>>([...topology.shards.keys()].map((id) => [id, new Map()]));
  const unknownShardUsers = new Map<number, number>();
  for (const [uid, shard] of placements) {
    const m = perShard.get(shard);
    if (m) m.set(uid, { userId: uid, rows: 0n, bytes: 0n });
    else unknownShardUsers.set(shard, (unknownShardUsers.get(shard) ?? 0) + 1);
  }
  const strayRows = new Map<number, bigint>();
  const notes: string[] = [];
  await Promise.all(
    [...topology.shards].map(async ([id, e]) => {
      const db = connect(e);
      const users = perShard.get(id)!;
      let stray = 0n;
      for (const t of plans.get(id) ?? []) {
        let rows: { owner: string; n: string | number; b?: string | number }[];
        if (sizes === 'estimated' && !t.via?.length && !t.ownerIndexed)
          notes.push(
            `shard ${id}: ${t.name} has no index starting with ${t.owner.name}: its rows are counted by reading the whole table (ALTER TABLE ${t.name} ADD INDEX (${t.owner.name}))`,
          );
        try {
          rows = await db.rows(sizes === 'exact' ? userSizesSql(t) : userCountsSql(t));
        } catch (err) {
          throw new FwShardError('PRECONDITION', `${e.role}: cannot size table ${t.name}: ${(err as Error).message}`, { cause: err });
        }
        for (const r of rows) {
          const u = users.get(String(r.owner));
          if (u) {
            u.rows += BigInt(r.n);
            u.bytes += r.b !== undefined ? BigInt(r.b) : estimatedBytes(t.info, BigInt(r.n));
          } else {
            stray += BigInt(r.n);
          }
        }
      }
      strayRows.set(id, stray);
    }),
  );
  const shards: ShardFacts[] = [...topology.shards.keys()]
    .sort((a, b) => a - b)
    .map((id) => ({ id, isMain: databaseId(topology.shards.get(id as ShardId)!) === mainDb, users: [...perShard.get(id)!.values()] }));
  return { shards, sizes, notes: notes.sort(), strayRows, unknownShardUsers };
}

/**
 * `fw-shard status`: what an operator paged at 3 a.m. wants to see. Read-only by construction: it
 * receives ReadDb handles only.
 */
import type { ReadDb } from '../db/pool.js';
import { readSchema, type TableInfo } from '../db/sql/schema.js';
import { pingSql, readServerFacts } from '../db/sql/server.js';
import { countTableSql } from '../db/sql/rows.js';
import { ticketTablesSql, topOfColumnSql } from '../db/sql/tickets.js';
import { placementsOfSql, usersPerShardSql } from '../db/sql/mapping.js';
import { diffTables, indexDifferences, JournalReader, mainTablesOnShard, type MoveRow, readFences, selectionWarnings, selectTables } from '../move/index.js';
import { activeFreezesSql } from '../db/sql/freeze.js';
import { FwShardError } from '../errors/index.js';
import { databaseId, isPoorMansOnly, mappingEndpoint, shardsOnMain, type Endpoint, type ShardId, type Topology } from '../topology/index.js';
import { idColumnOf, ticketedColumn, ticketOverlapMessage } from './ticketed.js';

interface ServerStatus {
  role: string;
  host: string;
  port: number;
  database: string;
  reachable: boolean;
  version?: string;
  readOnly?: boolean;
  rttMs?: number;
  error?: string;
}

interface ShardStatus {
  id: number;
  server: string;
  isMain: boolean;
  reachable: boolean;
  users: string;
  tables: { name: string; rows: string; bytes: string }[];
  rows: string;
  bytes: string;
  exact: boolean;
  drift: string[];
}

interface TicketStatus {
  role: string;
  reachable: boolean;
  increment?: number;
  offset?: number;
  next32?: string | null;
  next64?: string | null;
}

export interface StatusReport {
  poorMans: 'none' | 'partial' | 'only';
  /** The mapping table as used: `Users` in older apps; `detected` when the config did not name it. */
  mapping: { table: string; server: string; shardColumn: string; source: 'config' | 'default' | 'detected' };
  servers: ServerStatus[];
  shards: ShardStatus[];
  unknownShardUsers: { shard: number; users: string }[];
  tickets: TicketStatus[];
  activeMoves: MoveRow[];
  /** Users frozen by an online move right now (their writes wait). */
  frozen: { user_id: string; move_id: string; remaining_ms: string }[];
  problems: string[];
  warnings: string[];
  healthy: boolean;
  anyDown: boolean;
}

function allEndpoints(t: Topology): Endpoint[] {
  const list: Endpoint[] = [t.main];
  if (t.accounts) list.push(t.accounts);
  for (const e of t.shards.values()) list.push(e);
  list.push(...t.tickets);
  for (const e of [...list]) list.push(...e.replicas);
  const seen = new Set<string>();
  return list.filter((e) => {
    const k = `${e.role}`;
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}

async function probe(db: ReadDb, now: () => number): Promise<ServerStatus> {
  const e = db.endpoint;
  const base = { role: e.role, host: e.socket ?? e.host, port: e.port, database: e.database };
  try {
    await db.rows(pingSql()); // the first one also opens the connection
    const t0 = now();
    await db.rows(pingSql());
    const rttMs = Math.round((now() - t0) * 10) / 10;
    const facts = await readServerFacts(db);
    return { ...base, reachable: true, version: facts.version, readOnly: facts.readOnly, rttMs };
  } catch (err) {
    return { ...base, reachable: false, error: err instanceof Error ? err.message : String(err) };
  }
}

/** What status found wrong (problems make it unhealthy) or worth saying (warnings), in the order found. */
interface Findings {
  problems: string[];
  warnings: string[];
}

export async function collectStatus(topology: Topology, connect: (e: Endpoint) => ReadDb, opts: { exact: boolean; now: () => number }): Promise<StatusReport> {
  const f: Findings = { problems: [], warnings: [] };
  const { problems, warnings } = f;
  const endpoints = allEndpoints(topology);
  const servers = await Promise.all(endpoints.map((e) => probe(connect(e), opts.now)));
  const up = new Map(servers.map((s) => [s.role, s.reachable]));
  for (const s of servers) if (!s.reachable) problems.push(`${s.role} (${s.host}:${s.port}) is unreachable: ${s.error}`);

  const mapEp = mappingEndpoint(topology);
  const { usersByShard, activeMoves, frozen } = up.get(mapEp.role)
    ? await readMappingServer(topology, mapEp, connect(mapEp), f)
    : { usersByShard: new Map<number, string>(), activeMoves: [], frozen: [] };
  const unknownShardUsers = [...usersByShard].filter(([s]) => !topology.shards.has(s as ShardId)).map(([shard, users]) => ({ shard, users }));
  for (const u of unknownShardUsers) {
    problems.push(`${u.users} users are mapped to shard ${u.shard}, which is not in the topology: the app cannot reach their data`);
  }

  const schemas = await readShardSchemas(topology, connect, up, f);
  const mainDb = databaseId(topology.main);
  const realShards = [...topology.shards].filter(([, e]) => databaseId(e) !== mainDb).map(([id]) => id);
  const reference = realShards.find((id) => schemas.has(id)) ?? [...schemas.keys()][0];
  const shards: ShardStatus[] = [];
  for (const [id, e] of topology.shards) {
    shards.push(await shardStatus(topology, connect, { id, e, schemas, reference, usersByShard, exact: opts.exact }, f));
  }

  await checkFences(topology, connect, up, activeMoves, f);

  const tickets = await readTicketServers(topology, connect, up);
  const live = tickets.filter((t) => t.reachable && t.increment !== undefined);
  checkTicketLayout(live, f);
  checkTicketOverlap(live, await largestShardIds(topology, schemas, connect), f);
  if (topology.tickets.length === 0) warnings.push("no ticket servers configured: move ids come from the journal's own counter");

  const onMain = shardsOnMain(topology);
  const poorMans: StatusReport['poorMans'] = isPoorMansOnly(topology) ? 'only' : onMain.length > 0 ? 'partial' : 'none';
  if (poorMans === 'only')
    warnings.push("poor man's federated: every shard is db_main itself; add real shards and `fw-shard move` users onto them to graduate");
  const anyDown = servers.some((s) => !s.reachable);
  for (const fr of frozen) warnings.push(`user ${fr.user_id} is frozen by move ${fr.move_id} for another ${fr.remaining_ms} ms`);
  const mapping = {
    table: topology.mapping.table,
    server: mapEp.role,
    shardColumn: topology.mapping.shardColumn,
    source: topology.mapping.tableSource ?? 'config',
  };
  return { poorMans, mapping, servers, shards, unknownShardUsers, tickets, activeMoves, frozen, problems, warnings, healthy: problems.length === 0, anyDown };
}

/** From the mapping server: users per shard, unfinished moves, frozen users. */
async function readMappingServer(
  topology: Topology,
  mapEp: Endpoint,
  mapDb: ReadDb,
  f: Findings,
): Promise<{ usersByShard: Map<number, string>; activeMoves: MoveRow[]; frozen: StatusReport['frozen'] }> {
  const usersByShard = new Map<number, string>();
  try {
    for (const r of await mapDb.rows<{ shard: string | number; users: string | number }>(usersPerShardSql(topology.mapping))) {
      usersByShard.set(Number(r.shard), String(r.users));
    }
  } catch (err) {
    f.problems.push(`cannot read the mapping table ${topology.mapping.table} on ${mapEp.role}: ${(err as Error).message}`);
  }
  const activeMoves = await new JournalReader(mapDb).list(false).catch(() => []);
  const frozen = await mapDb.rows<{ user_id: string; move_id: string; remaining_ms: string }>(activeFreezesSql()).catch(() => []);
  return { usersByShard, activeMoves, frozen };
}

/** Schemas of every reachable shard, for sizes and drift. */
async function readShardSchemas(
  topology: Topology,
  connect: (e: Endpoint) => ReadDb,
  up: Map<string, boolean>,
  f: Findings,
): Promise<Map<number, Map<string, TableInfo>>> {
  const schemas = new Map<number, Map<string, TableInfo>>();
  await Promise.all(
    [...topology.shards].map(async ([id, e]) => {
      if (!up.get(e.role)) return;
      try {
        schemas.set(id, await readSchema(connect(e)));
      } catch (err) {
        f.problems.push(`${e.role}: cannot read its schema: ${(err as Error).message}`);
      }
    }),
  );
  return schemas;
}

/** One shard: its users, tables, sizes (exact with --exact), and drift against the reference shard. */
async function shardStatus(
  topology: Topology,
  connect: (e: Endpoint) => ReadDb,
  a: {
    id: number;
    e: Endpoint;
    schemas: Map<number, Map<string, TableInfo>>;
    reference: number | undefined;
    usersByShard: Map<number, string>;
    exact: boolean;
  },
  f: Findings,
): Promise<ShardStatus> {
  const { id, e, schemas, reference } = a;
  const { problems, warnings } = f;
  const isMain = databaseId(e) === databaseId(topology.main);
  const schema = schemas.get(id);
  const st: ShardStatus = {
    id,
    server: `${e.host}:${e.port}/${e.database}`,
    isMain,
    reachable: Boolean(schema),
    users: a.usersByShard.get(id) ?? '0',
    tables: [],
    rows: '0',
    bytes: '0',
    exact: a.exact,
    drift: [],
  };
  if (!schema) return st;
  const refSchema = reference !== undefined ? (schemas.get(reference) ?? schema) : schema;
  const sel = selectTables(schema, refSchema, topology.tables, { sourceIsMain: isMain, mappingTable: isMain ? topology.mapping.table : null });
  if (sel.undeclared) {
    warnings.push(
      `shard ${id} is db_main's own database, and the config does not say which tables are sharded: moves off it are refused ` +
        `until tables.include lists them (fw-shard config import --schema schema/db_users.schema); tables with ${topology.tables.ownerColumn} there: ${sel.undeclared.join(', ') || '(none)'}`,
    );
  } else if (!isMain) {
    warnings.push(...selectionWarnings(sel.unowned, mainTablesOnShard(schema, topology.tables, topology.mapping.table), id, id));
  }
  let rows = 0n;
  let bytes = 0n;
  for (const { name } of sel.selected) {
    const info = schema.get(name)!;
    let n = info.rowsEstimate;
    if (a.exact) {
      const [r] = await connect(e).rows<{ n: string }>(countTableSql(name));
      n = String(r?.n ?? '0');
    }
    st.tables.push({ name, rows: n, bytes: info.bytesEstimate });
    rows += BigInt(n);
    bytes += BigInt(info.bytesEstimate);
    if (reference !== undefined && reference !== id) {
      const other = refSchema.get(name);
      const side = (d: string) => d.replace(/source/g, `shard ${reference}`).replace(/target/g, `shard ${id}`);
      if (other) for (const d of diffTables(other, info)) st.drift.push(`${name}: ${side(d)}`);
      if (other) for (const d of indexDifferences(other, info)) warnings.push(`index difference on shard ${id}: ${name}: ${side(d)} (moves are allowed)`);
    }
  }
  if (reference !== undefined && reference !== id) {
    for (const m of sel.missingOnTarget) st.drift.push(`${m}: exists here but not on shard ${reference}`);
    const refSel = selectTables(refSchema, schema, topology.tables, { sourceIsMain: false, mappingTable: null });
    for (const m of refSel.missingOnTarget) st.drift.push(`${m}: missing here (exists on shard ${reference})`);
  }
  st.rows = rows.toString();
  st.bytes = bytes.toString();
  for (const d of st.drift) problems.push(`schema drift on shard ${id}: ${d}`);
  return st;
}

/** Each ticket server's auto_increment layout and next ids. */
async function readTicketServers(topology: Topology, connect: (e: Endpoint) => ReadDb, up: Map<string, boolean>): Promise<TicketStatus[]> {
  const tickets: TicketStatus[] = [];
  for (const e of topology.tickets) {
    const ts: TicketStatus = { role: e.role, reachable: Boolean(up.get(e.role)) };
    tickets.push(ts);
    if (!ts.reachable) continue;
    const db = connect(e);
    const facts = await readServerFacts(db);
    ts.increment = facts.autoIncrementIncrement;
    ts.offset = facts.autoIncrementOffset;
    for (const r of await db.rows<{ name: string; next_id: string | null }>(ticketTablesSql())) {
      if (r.name === 'Tickets32') ts.next32 = r.next_id === null ? null : String(r.next_id);
      if (r.name === 'Tickets64') ts.next64 = r.next_id === null ? null : String(r.next_id);
    }
  }
  return tickets;
}

/** Odd/even: ticket servers must not share an offset, and each must step over all of them. */
function checkTicketLayout(live: TicketStatus[], f: Findings): void {
  const { problems } = f;
  if (live.length <= 1) return;
  const offsets = new Map<number, string[]>();
  for (const t of live) offsets.set(t.offset!, [...(offsets.get(t.offset!) ?? []), t.role]);
  for (const [off, roles] of offsets) {
    if (roles.length > 1) problems.push(`ticket servers ${roles.join(' and ')} share auto_increment_offset ${off}: they can issue the same id`);
  }
  for (const t of live) {
    if (t.increment! < live.length) {
      problems.push(
        `${t.role} has auto_increment_increment ${t.increment} with ${live.length} ticket servers: ids can collide (set it to at least ${live.length})`,
      );
    }
  }
}

/**
 * A ticket server only ever issues ids of its own residue (offset mod increment): with an odd/even
 * pair each side's next id is normally below the other side's latest, which is harmless. The danger
 * is an existing id of the server's own residue at or above its next id.
 */
function checkTicketOverlap(live: TicketStatus[], topIds: Awaited<ReturnType<typeof largestShardIds>>, f: Findings): void {
  const { problems, warnings } = f;
  for (const t of live) {
    if (!t.next64) continue;
    const inc = BigInt(Math.max(1, t.increment!));
    const residue = BigInt(t.offset!) % inc;
    // The largest id of each checked column that this server could issue again.
    const seen = new Set<string>();
    for (const hit of topIds) {
      const where = `${hit.table}.${hit.column}`;
      if (seen.has(where) || hit.value % inc !== residue) continue;
      seen.add(where);
      if (BigInt(t.next64) > hit.value) continue;
      const line = ticketOverlapMessage({
        role: t.role,
        next: t.next64,
        value: hit.value.toString(),
        shard: hit.shard,
        table: hit.table,
        column: hit.column,
        ticketed: hit.ticketed,
      });
      if (hit.ticketed === 'declared') problems.push(line);
      else warnings.push(line);
    }
  }
}

/** The largest values of the ticketed id columns of the sharded tables (src/status/ticketed.ts), largest first. */
async function largestShardIds(
  topology: Topology,
  schemas: Map<number, Map<string, TableInfo>>,
  connect: (e: Endpoint) => ReadDb,
): Promise<{ value: bigint; shard: number; table: string; column: string; ticketed: 'declared' | 'assumed' }[]> {
  const found: { value: bigint; shard: number; table: string; column: string; ticketed: 'declared' | 'assumed' }[] = [];
  const owner = topology.tables.ownerColumn;
  for (const [id, schema] of schemas) {
    const e = topology.shards.get(id as ShardId)!;
    for (const t of schema.values()) {
      if (!t.columns.some((c) => c.name === (topology.tables.owners[t.name] ?? owner))) continue;
      if (topology.tables.include && !topology.tables.include.includes(t.name)) continue;
      const column = idColumnOf(t);
      if (column === null) continue;
      const ticketed = ticketedColumn(t.name, column, topology.tables);
      if (ticketed === 'no') continue;
      try {
        for (const r of await connect(e).rows<{ m: string }>(topOfColumnSql(t.name, column, 64))) {
          found.push({ value: BigInt(r.m), shard: id, table: t.name, column, ticketed });
        }
      } catch {
        // a table we cannot read is reported elsewhere
      }
    }
  }
  return found.sort((a, b) => (a.value > b.value ? -1 : a.value < b.value ? 1 : 0));
}

export function statusError(report: StatusReport): FwShardError | null {
  if (report.anyDown) return new FwShardError('SERVER_UNAVAILABLE', 'some servers are unreachable');
  if (!report.healthy) return new FwShardError('UNHEALTHY', 'status found problems');
  return null;
}

/**
 * Trigger mode's fences (src/move/guard.ts): a fence that refuses a user on the shard where it lives is a
 * problem (a move stopped between the source fence's `moved` and the flip, or a fence left by hand), and
 * a capture without its move is a leftover that logs the user's writes for nothing.
 */
async function checkFences(topology: Topology, connect: (e: Endpoint) => ReadDb, up: Map<string, boolean>, activeMoves: MoveRow[], f: Findings): Promise<void> {
  const active = new Map(activeMoves.map((m) => [String(m.id), m]));
  const mapDb = connect(mappingEndpoint(topology));
  for (const [id, e] of topology.shards) {
    if (!up.get(e.role)) continue;
    const fences = await readFences(connect(e)).catch(() => []);
    if (fences.length === 0) continue;
    const placed = await mapDb
      .rows<{ uid: string; shard: string | number }>(
        placementsOfSql(
          topology.mapping,
          fences.map((x) => String(x.user_id)),
        ),
      )
      .catch(() => []);
    const lives = new Map(placed.map((p) => [String(p.uid), Number(p.shard)]));
    for (const fe of fences) {
      const user = String(fe.user_id);
      const move = active.get(String(fe.move_id));
      const here = lives.get(user) === id;
      if (fe.state === 'moved' && here) {
        f.problems.push(
          move
            ? `user ${user} is refused on shard ${id}, where it still lives: move ${move.id} stopped between its fence and the flip; fw-shard resume ${move.id} flips it`
            : `user ${user} lives on shard ${id} but fw-shard's fence there refuses its writes (move ${fe.move_id}): fw-shard guard remove --user ${user} --shard ${id}`,
        );
      } else if (fe.state === 'incoming' && !move) {
        (here ? f.problems : f.warnings).push(
          `user ${user}'s writes are refused on shard ${id} by a fence of move ${fe.move_id}, which is not running: fw-shard guard remove --user ${user} --shard ${id}`,
        );
      } else if ((fe.state === 'capturing' || fe.state === 'frozen') && !move) {
        f.warnings.push(
          `shard ${id} still captures user ${user}'s changes for move ${fe.move_id}, which is not running: fw-shard guard remove --user ${user} --shard ${id}`,
        );
      }
    }
  }
}

/**
 * Orphan rows (`fw-shard verify`, `fw-shard cleanup --orphans`): rows on a shard whose owner lives on
 * another shard (leftovers of an interrupted or kept cleanup, or writes that went to a stale shard) and
 * rows whose owner does not exist at all.
 *
 * Invariants:
 *  - `findOrphans` only reads (it gets ReadDb handles);
 *  - users with an unfinished move are the engine's business: reported as in flight, never touched;
 *  - `cleanupOrphans` first deletes the ranges the last move away from the shard proved: rows that still
 *    hash as that move's final verification recorded (the bytes its target had then, unchanged since),
 *    each range locked in the deleting transaction, after re-reading the user's placement;
 *  - then it deletes a stray row only when the same key holds an identical row (same row hash)
 *    for the same user on the user's current shard, both re-hashed while the stray row is locked in the
 *    deleting transaction, after re-reading the user's placement; keyless tables delete at most as many copies
 *    of a row as the current shard holds. Anything else is listed, never deleted. Rows of users that do
 *    not exist are never deleted.
 */
import type { Db, ReadDb } from '../db/pool.js';
import { placementsOfSql } from '../db/sql/mapping.js';
import {
  countKeylessByHashForUpdateSql,
  deleteByKeys,
  deleteRange,
  hashRange,
  deleteKeylessByHashSql,
  rowHashesByKeys,
  userBytes,
  userSizesSql,
  isShared,
  type KeyTuple,
} from '../db/sql/rows.js';
import { FwShardError } from '../errors/index.js';
import {
  type ChunkRow,
  decodeKey,
  diffTables,
  Inspector,
  isDirty,
  JournalReader,
  parseJournalOptions,
  parseRowHashes,
  showKey,
  type TablePlan,
} from '../move/index.js';
import type { RowHash } from '../db/sql/rows.js';
import { readPlacements, shardTablePlans } from '../plan/facts.js';
import { mappingEndpoint, type Endpoint, type ShardId, type Topology } from '../topology/index.js';

interface StrayGroup {
  /** Where the rows are. */
  shard: number;
  table: string;
  userId: string;
  rows: string;
  bytes: string;
  /** elsewhere: the user lives on `currentShard`; no-user: the mapping has no such user. */
  kind: 'elsewhere' | 'no-user';
  currentShard: number | null;
  /** The user has an unfinished move (its rows on two shards are expected until it ends). */
  activeMove?: { id: string; phase: string; from: number; to: number };
}

export interface VerifyScope {
  userId?: string;
  shard?: number;
}

export interface VerifyReport {
  scope: VerifyScope;
  shardsChecked: number[];
  tablesChecked: number;
  orphans: StrayGroup[];
  /**
   * Rows whose owner column is NULL: they belong to no user, so they are no user's orphans either (no
   * move put them there, none will take them away). Listed apart, never counted as a problem or deleted.
   */
  nullOwners: { shard: number; table: string; rows: string }[];
  inFlight: StrayGroup[];
  totals: { groups: number; rows: string; users: number; noUserRows: string };
}

export async function findOrphans(topology: Topology, connect: (e: Endpoint) => ReadDb, scope: VerifyScope): Promise<VerifyReport> {
  const mapDb = connect(mappingEndpoint(topology));
  let placements: Map<string, number>;
  if (scope.userId !== undefined) {
    const rows = await mapDb.rows<{ uid: string; shard: string | number }>(placementsOfSql(topology.mapping, [scope.userId]));
    placements = new Map(rows.map((r) => [String(r.uid), Number(r.shard)]));
  } else {
    placements = await readPlacements(topology, connect);
  }
  if (scope.shard !== undefined && !topology.shards.has(scope.shard as ShardId)) {
    throw new FwShardError('UNKNOWN_SHARD', `--shard ${scope.shard}: no such shard in the topology`);
  }
  const active = new Map((await new JournalReader(mapDb).list(false, 100_000)).map((m) => [String(m.user_id), m]));
  const plans = await shardTablePlans(topology, connect);
  const groups: StrayGroup[] = [];
  const nullOwners: VerifyReport['nullOwners'] = [];
  let tablesChecked = 0;
  const shardIds = [...topology.shards.keys()].sort((a, b) => a - b);
  await Promise.all(
    shardIds.map(async (x) => {
      const db = connect(topology.shards.get(x)!);
      for (const t of plans.get(x) ?? []) {
        // A shared table's rows are nobody's alone: the rows referring to them are the orphans (and
        // once those are cleaned, a move's cleanup or abort would keep what another owner refers to).
        if (isShared(t)) continue;
        tablesChecked++;
        let rows: { owner: string | null; n: string | number; b: string | number }[];
        if (scope.userId !== undefined) {
          const [r] = await db.rows<{ n: string | number; b: string | number }>(userBytes(t, scope.userId));
          rows = r && Number(r.n) > 0 ? [{ owner: scope.userId, n: r.n, b: r.b }] : [];
        } else {
          rows = await db.rows(userSizesSql(t));
        }
        for (const r of rows) {
          if (r.owner === null) {
            if (scope.userId === undefined && (scope.shard === undefined || scope.shard === x)) nullOwners.push({ shard: x, table: t.name, rows: String(r.n) });
            continue;
          }
          const owner = String(r.owner);
          const home = placements.get(owner);
          if (home === x) continue;
          const g: StrayGroup = {
            shard: x,
            table: t.name,
            userId: owner,
            rows: String(r.n),
            bytes: String(r.b),
            kind: home === undefined ? 'no-user' : 'elsewhere',
            currentShard: home ?? null,
          };
          const m = active.get(owner);
          if (m) g.activeMove = { id: m.id, phase: m.phase, from: Number(m.from_shard), to: Number(m.to_shard) };
          if (scope.shard !== undefined) {
            const mine = g.kind === 'elsewhere' ? g.currentShard === scope.shard : g.shard === scope.shard;
            if (!mine) continue;
          }
          groups.push(g);
        }
      }
    }),
  );
  const order = (a: StrayGroup, b: StrayGroup) => a.shard - b.shard || a.table.localeCompare(b.table) || cmpId(a.userId, b.userId);
  const orphans = groups.filter((g) => !g.activeMove).sort(order);
  const inFlight = groups.filter((g) => g.activeMove).sort(order);
  return {
    scope,
    shardsChecked: shardIds,
    tablesChecked,
    orphans,
    nullOwners: nullOwners.sort((a, b) => a.shard - b.shard || a.table.localeCompare(b.table)),
    inFlight,
    totals: {
      groups: orphans.length,
      rows: orphans.reduce((a, g) => a + BigInt(g.rows), 0n).toString(),
      users: new Set(orphans.map((g) => g.userId)).size,
      noUserRows: orphans
        .filter((g) => g.kind === 'no-user')
        .reduce((a, g) => a + BigInt(g.rows), 0n)
        .toString(),
    },
  };
}

const cmpId = (a: string, b: string) => a.length - b.length || (a < b ? -1 : a > b ? 1 : 0);

interface OrphanCleanupGroup extends StrayGroup {
  /** Rows deleted (or, with dryRun, that would be). */
  deleted: string;
  /** Rows kept, with why, by key (at most 20 listed). */
  kept: string[];
  keptRows: string;
}

export interface OrphanCleanupReport {
  dryRun: boolean;
  groups: OrphanCleanupGroup[];
  deleted: string;
  kept: string;
}

const PAGE = 1000;
const LIST = 20;

/**
 * Delete the stray rows of `report` that are identical on their user's current shard. `connect` hands
 * out writers; nothing is written with `dryRun`.
 */
export async function cleanupOrphans(
  topology: Topology,
  connect: (e: Endpoint) => Db,
  report: VerifyReport,
  opts: { dryRun: boolean; signal?: AbortSignal; onProgress?: (g: OrphanCleanupGroup) => void },
): Promise<OrphanCleanupReport> {
  const mapping = new Inspector(connect(mappingEndpoint(topology)));
  const journal = new JournalReader(mapping.db);
  const plans = await shardTablePlans(topology, connect);
  const out: OrphanCleanupGroup[] = [];
  // Tables owned through a parent first: the rows hanging off a parent are found through it (owner-paths.ts).
  const depth = (g: StrayGroup) => plans.get(g.shard)?.find((t) => t.name === g.table)?.via?.length ?? 0;
  for (const g of [...report.orphans].sort((a, b) => depth(b) - depth(a))) {
    if (opts.signal?.aborted) break;
    const r: OrphanCleanupGroup = { ...g, deleted: '0', kept: [], keptRows: g.rows };
    out.push(r);
    if (g.kind === 'no-user' || g.currentShard === null) {
      r.kept.push(`user ${g.userId} does not exist: nothing to compare with, kept (look at these rows by hand)`);
      continue;
    }
    const xPlan = plans.get(g.shard)?.find((t) => t.name === g.table);
    const yPlan = plans.get(g.currentShard)?.find((t) => t.name === g.table);
    if (!xPlan || !yPlan) {
      r.kept.push(`table ${g.table} is not a sharded table on shard ${g.currentShard}: kept`);
      continue;
    }
    const drift = diffTables(yPlan.info, xPlan.info);
    if (drift.length) {
      r.kept.push(`table ${g.table} differs between shard ${g.shard} and shard ${g.currentShard} (${drift[0]}): kept`);
      continue;
    }
    const x = connect(topology.shards.get(g.shard as ShardId)!);
    const y = connect(topology.shards.get(g.currentShard as ShardId)!);
    const stillThere = async () => {
      const [placed, act] = await Promise.all([mapping.placement(topology.mapping, g.userId), journal.activeForUser(g.userId)]);
      return placed === g.currentShard && !act;
    };
    // First what the last move away from this shard proved (its final verification's records), then
    // the rest compared with the user's shard row by row.
    const proven = await provenByRecords(xPlan, x, g, await recordsOfLastMove(journal, g, xPlan.name), opts.dryRun, stillThere);
    const res = xPlan.key ? await keyed(xPlan, x, y, g, opts.dryRun, stillThere) : await keyless(xPlan, x, y, g, opts.dryRun, stillThere);
    // A dry run deleted nothing, so the pass after counted the proven rows again: said apart.
    if (opts.dryRun && proven > 0n)
      res.kept.unshift(
        `${proven} row(s) hash as the last move's final verification recorded: deleted without --dry-run, whatever shard ${g.currentShard} holds`,
      );
    else res.deleted += proven;
    r.deleted = res.deleted.toString();
    r.keptRows = res.keptRows.toString();
    r.kept.push(...res.kept.slice(0, LIST));
    if (res.kept.length > LIST) r.kept.push(`... and ${res.kept.length - LIST} more`);
    opts.onProgress?.(r);
  }
  return {
    dryRun: opts.dryRun,
    groups: out,
    deleted: out.reduce((a, g) => a + BigInt(g.deleted), 0n).toString(),
    kept: out.reduce((a, g) => a + BigInt(g.keptRows), 0n).toString(),
  };
}

/**
 * The chunk records of the last finished move that touched `g.shard` for the user, if that move took
 * the user away from it: ranges whose rows still hash as its final verification recorded are the same
 * bytes the new shard had then, unchanged since (phases/cleanup.ts). Dirty records prove nothing.
 */
async function recordsOfLastMove(journal: JournalReader, g: StrayGroup, table: string): Promise<{ chunks: ChunkRow[]; rowHash: RowHash | null }> {
  const moves = (await journal.list(true, 1000, g.userId)).filter(
    (m) => m.state === 'done' && (Number(m.from_shard) === g.shard || Number(m.to_shard) === g.shard),
  );
  const last = moves.sort((a, b) => (BigInt(b.id) > BigInt(a.id) ? 1 : BigInt(b.id) < BigInt(a.id) ? -1 : 0))[0];
  if (!last || Number(last.from_shard) !== g.shard || Number(last.to_shard) !== g.currentShard) return { chunks: [], rowHash: null };
  // The records were hashed with that move's range hash (journaled with it).
  return { chunks: (await journal.chunks(last.id, table)).filter((c) => !isDirty(String(c.hash))), rowHash: parseJournalOptions(last.options).rowHash ?? null };
}

/** Delete the ranges whose rows hash as recorded, each in one transaction with the range locked; returns the rows. */
async function provenByRecords(
  plan: TablePlan,
  x: Db,
  g: StrayGroup,
  records: { chunks: ChunkRow[]; rowHash: RowHash | null },
  dryRun: boolean,
  stillThere: () => Promise<boolean>,
): Promise<bigint> {
  if (records.rowHash === null) return 0n;
  const t: TablePlan = { ...plan, rowHash: records.rowHash };
  const chunks = records.chunks;
  let n = 0n;
  for (const c of chunks) {
    const lo = decodeKey(c.lo);
    const hi = decodeKey(c.hi);
    if (dryRun) {
      const h = await new Inspector(x).hash(t, g.userId, lo, hi);
      if (h.count !== '0' && h.count === String(c.row_count) && h.hash === String(c.hash)) n += BigInt(h.count);
      continue;
    }
    if (!(await stillThere())) return n;
    n += BigInt(
      await x.transaction(
        async (s) => {
          const [r] = await s.rows<{ n: unknown; h: unknown }>(hashRange(t, g.userId, lo, hi, true));
          const count = String(r?.n ?? '0');
          if (count === '0' || count !== String(c.row_count) || String(r?.h) !== String(c.hash)) return 0;
          const d = await s.execBinary(deleteRange(t, g.userId, lo, hi));
          if (d.affectedRows !== Number(count)) throw new Error(`range of ${t.name} changed while locked: ${d.affectedRows} deleted, ${count} hashed`);
          return d.affectedRows;
        },
        { binary: true, repeatableRead: true },
      ),
    );
  }
  return n;
}

interface Tally {
  deleted: bigint;
  keptRows: bigint;
  kept: string[];
}

async function keyed(t: TablePlan, x: Db, y: Db, g: StrayGroup, dryRun: boolean, stillThere: () => Promise<boolean>): Promise<Tally> {
  const xi = new Inspector(x);
  const yi = new Inspector(y);
  const names = t.key!.map((c) => c.name);
  const tally: Tally = { deleted: 0n, keptRows: 0n, kept: [] };
  let lo: KeyTuple | null = null;
  for (;;) {
    const hi = await xi.keyAt(t, g.userId, lo, PAGE - 1);
    const [hx, hy] = await Promise.all([xi.rowHashes(t, g.userId, lo, hi), yi.rowHashes(t, g.userId, lo, hi)]);
    const same = new Map<string, { key: KeyTuple; md5: string }>();
    for (const [id, v] of hx) {
      const w = hy.get(id);
      if (w && w.md5 === v.md5) same.set(id, { key: v.key!, md5: v.md5 });
      else {
        tally.keptRows++;
        tally.kept.push(`${showKey(names, v.key)}: ${w ? `differs from the row on shard ${g.currentShard}` : `not on shard ${g.currentShard}`}, kept`);
      }
    }
    if (same.size > 0) {
      if (dryRun) tally.deleted += BigInt(same.size);
      else if (!(await stillThere())) {
        tally.keptRows += BigInt(same.size);
        tally.kept.push(`user ${g.userId} moved or started a move meanwhile: ${same.size} rows kept`);
      } else {
        const keys = [...same.values()].map((v) => v.key);
        const deleted = await x.transaction(
          async (s) => {
            // Re-hash under a row lock, and compare with the user's shard again at that moment: a row that
            // changed on either side since it was compared is not deleted.
            const nk = names.length;
            const locked = parseRowHashes(await s.rawRows(rowHashesByKeys(t, g.userId, keys, true)), nk);
            const home = parseRowHashes(
              await y.rawRows(
                rowHashesByKeys(
                  t,
                  g.userId,
                  [...locked.values()].map((v) => v.key!),
                  false,
                ),
              ),
              nk,
            );
            const still: KeyTuple[] = [];
            for (const [id, v] of locked) {
              if (same.get(id)?.md5 === v.md5 && home.get(id)?.md5 === v.md5) still.push(v.key!);
            }
            if (still.length === 0) return 0;
            const d = await s.execBinary(deleteByKeys(t, g.userId, still));
            return d.affectedRows;
          },
          { binary: true },
        );
        tally.deleted += BigInt(deleted);
        if (deleted < same.size) {
          tally.keptRows += BigInt(same.size - deleted);
          tally.kept.push(`${same.size - deleted} rows changed while being compared: kept`);
        }
      }
    }
    if (hi === null) break;
    lo = hi;
  }
  return tally;
}

async function keyless(t: TablePlan, x: Db, y: Db, g: StrayGroup, dryRun: boolean, stillThere: () => Promise<boolean>): Promise<Tally> {
  const [hx, hy] = await Promise.all([new Inspector(x).rowHashes(t, g.userId, null, null), new Inspector(y).rowHashes(t, g.userId, null, null)]);
  const tally: Tally = { deleted: 0n, keptRows: 0n, kept: [] };
  if (!dryRun && !(await stillThere())) {
    const n = [...hx.values()].reduce((a, v) => a + v.n, 0);
    return { deleted: 0n, keptRows: BigInt(n), kept: [`user ${g.userId} moved or started a move meanwhile: ${n} rows kept`] };
  }
  for (const [md5, v] of hx) {
    const onCurrent = hy.get(md5)?.n ?? 0;
    const k = Math.min(v.n, onCurrent);
    if (k < v.n) {
      tally.keptRows += BigInt(v.n - k);
      tally.kept.push(`row md5 ${md5}: ${v.n} here, ${onCurrent} on shard ${g.currentShard}: ${v.n - k} kept`);
    }
    if (k === 0) continue;
    if (dryRun) {
      tally.deleted += BigInt(k);
      continue;
    }
    const deleted = await x.transaction(
      async (s) => {
        const [c] = await s.rows<{ n: string | number }>(countKeylessByHashForUpdateSql(t, g.userId, md5));
        const now = Number(c?.n ?? 0);
        // Delete at most as many copies as the current shard holds, and never more than were compared.
        const n = Math.min(k, now);
        if (n <= 0) return 0;
        return (await s.execBinary(deleteKeylessByHashSql(t, g.userId, md5, n))).affectedRows;
      },
      { binary: true },
    );
    tally.deleted += BigInt(deleted);
    if (deleted < k) tally.keptRows += BigInt(k - deleted);
  }
  return tally;
}

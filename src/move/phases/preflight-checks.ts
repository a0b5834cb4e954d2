/**
 * The preflight's refusals as named checks (Spirit's check registry is the model): each is a small unit
 * with a name, the stage of the preflight whose facts it reads, and the runs it applies to; the preflight
 * (preflight.ts) runs each stage's checks in order, and `--dry-run` lists those passed (plan.checks).
 * A check refuses by throwing its typed error, with the next step; none writes anything.
 */
import { FwShardError } from '../../errors/index.js';
import { databaseId, describeEndpoint } from '../../topology/index.js';
import type { ForeignKeyInfo, TableInfo, TriggerInfo } from '../../db/sql/schema.js';
import { isShared, needsCrc32c, type KeyTuple, type RowHash } from '../../db/sql/rows.js';
import type { TablePlan } from '../table-plan.js';
import { stayingUnowned, undeclaredTablesError, type Selection } from '../table-selection.js';
import { findOtherReferrers, findSplits } from '../owner-paths.js';
import { COLLISIONS_LISTED, describeCollision, keyCollisionError, keyColumns } from '../collisions.js';
import { showKey } from '../keys.js';
import { UnhashableRow, type Inspector, type RowHashes } from '../inspector.js';
import type { MoveContext } from '../run-context.js';
import type { ServerFacts } from '../../db/sql/server.js';

/** What the preflight knows when a stage's checks run (later stages know more). */
export interface CheckState {
  ctx: MoveContext;
  opts: PreflightOptions;
  facts: { source: ServerFacts; target: ServerFacts };
  schemas: { source: Map<string, TableInfo>; target: Map<string, TableInfo> };
  /** The range hash the move will use, and the best both servers can compute. */
  rowHash: RowHash;
  available: RowHash;
  /** From the 'tables' stage on. */
  sel?: Selection;
  sourceIsMain?: boolean;
  targetIsMain?: boolean;
  tables?: TablePlan[];
  drift?: string[];
  /** From the 'keys' stage on: the source's foreign keys. */
  foreignKeys?: ForeignKeyInfo[];
  /** From the 'rows' stage on: the user's rows (and bytes) per table, in `tables` order. */
  stats?: { rows: string; bytes: string }[];
}

export interface PreflightOptions {
  resuming: boolean;
  /** An undo (src/move/undo.ts): the target holds the user's rows from before the move it undoes. */
  keptRows?: boolean;
  /** A continued move's journaled range hash. */
  rowHash?: RowHash;
}

/** servers: the servers' facts; tables: the tables that move; keys: the foreign keys; rows: the user's rows. */
type CheckStage = 'servers' | 'tables' | 'keys' | 'rows';

/**
 * every: every preflight (new, resumed, undo, deferred cleanup); new: a move that has written nothing
 * yet (a resumed move passed it when it started, and wrote what it would find); new-copy: a new move
 * that is not an undo (an undo starts from the rows the old shard kept); dry-run: a new move's dry run
 * (checks whose cost the operator asked for).
 */
type CheckRuns = 'every' | 'new' | 'new-copy' | 'dry-run';

interface PreflightCheck {
  name: string;
  stage: CheckStage;
  runs: CheckRuns;
  check(st: CheckState): void | Promise<void>;
}

/** Whether checks that apply to `runs` run in this kind of run. */
export const appliesTo = (runs: CheckRuns, run: { resuming: boolean; keptRows?: boolean; dryRun?: boolean }): boolean =>
  runs === 'every' || (!run.resuming && (runs === 'new' || (runs === 'new-copy' && !run.keptRows) || (runs === 'dry-run' && run.dryRun === true)));

const applies = (runs: CheckRuns, st: CheckState): boolean => appliesTo(runs, { ...st.opts, dryRun: st.ctx.req.dryRun === true });

/** Run the checks of one stage that apply to this run, in order; the names of those passed are added to `passed`. */
export async function runChecks(stage: CheckStage, st: CheckState, passed: string[]): Promise<void> {
  for (const c of PREFLIGHT_CHECKS) {
    if (c.stage !== stage || !applies(c.runs, st)) continue;
    await c.check(st);
    passed.push(c.name);
  }
}

const tablesOf = (st: CheckState): TablePlan[] => st.tables ?? [];

export const PREFLIGHT_CHECKS: readonly PreflightCheck[] = [
  { name: 'target-writable', stage: 'servers', runs: 'every', check: targetWritable },
  { name: 'row-hash-available', stage: 'servers', runs: 'every', check: rowHashAvailable },
  { name: 'distinct-databases', stage: 'servers', runs: 'every', check: distinctDatabases },
  { name: 'main-tables-declared', stage: 'tables', runs: 'every', check: mainTablesDeclared },
  { name: 'owner-paths', stage: 'tables', runs: 'every', check: ownerPaths },
  { name: 'schema-drift', stage: 'tables', runs: 'every', check: schemaDrift },
  { name: 'sharded-tables', stage: 'tables', runs: 'every', check: shardedTables },
  { name: 'innodb', stage: 'tables', runs: 'every', check: (st) => checkEngines(st.ctx, tablesOf(st), st.schemas.source, st.schemas.target) },
  { name: 'app-triggers', stage: 'tables', runs: 'every', check: (st) => checkTriggers(st.ctx, tablesOf(st)) },
  {
    name: 'no-split',
    stage: 'keys',
    runs: 'new',
    check: (st) =>
      refuseSplits(
        st.ctx,
        st.schemas.source,
        tablesOf(st),
        st.foreignKeys ?? [],
        st.sourceIsMain || st.targetIsMain ? st.ctx.deps.topology.mapping.table : null,
      ),
  },
  {
    name: 'one-referrer-per-shared-table',
    stage: 'keys',
    runs: 'new',
    check: (st) => refuseOtherReferrers(st.ctx, st.schemas.source, tablesOf(st), st.foreignKeys ?? []),
  },
  { name: 'shared-rows-equal', stage: 'rows', runs: 'new', check: (st) => checkSharedRows(st.ctx, tablesOf(st)) },
  { name: 'keyless-row-cap', stage: 'rows', runs: 'every', check: keylessRowCap },
  { name: 'target-holds-no-rows', stage: 'rows', runs: 'new-copy', check: targetHoldsNoRows },
  { name: 'key-collisions', stage: 'rows', runs: 'dry-run', check: (st) => checkCollisions(st.ctx, tablesOf(st)) },
];

function targetWritable(st: CheckState): void {
  if (!st.facts.target.readOnly) return;
  throw new FwShardError('TARGET_READ_ONLY', `${describeEndpoint(st.ctx.target.endpoint)} is read_only: nothing can be copied to it`, {
    hint: 'Point the shard at its primary, or SET GLOBAL read_only = 0 if the server is meant to take writes.',
  });
}

function rowHashAvailable(st: CheckState): void {
  if (!needsCrc32c(st.rowHash) || st.available === 'crc-mul') return;
  const { ctx } = st;
  const id = ctx.moveId ?? 'ID';
  throw new FwShardError(
    'PRECONDITION',
    `move ${id} hashes its ranges with CRC32C, which ${describeEndpoint(ctx.source.endpoint)} (${st.facts.source.version}) or ${describeEndpoint(ctx.target.endpoint)} (${st.facts.target.version}) does not have`,
    {
      hint: `The move started on MariaDB 10.8 or later on both shards: run fw-shard resume ${id} once both are again; before its flip, fw-shard abort ${id} also ends it.`,
    },
  );
}

function distinctDatabases(st: CheckState): void {
  const { ctx } = st;
  if (databaseId(ctx.source.endpoint) !== databaseId(ctx.target.endpoint)) return;
  throw new FwShardError(
    'PRECONDITION',
    `shard ${ctx.from} and shard ${ctx.to} are the same database (${databaseId(ctx.source.endpoint)}): moving between them would change nothing but the mapping`,
    { hint: 'Give the target shard its own database in the config (fw-shard config show).' },
  );
}

/** db_main's own tables never move: off or onto db_main, only the declared sharded tables do. */
function mainTablesDeclared(st: CheckState): void {
  if (st.sel?.undeclared) throw undeclaredTablesError(st.sourceIsMain ? 'from' : 'to', st.sourceIsMain ? st.ctx.from : st.ctx.to, st.sel.undeclared);
}

function ownerPaths(st: CheckState): void {
  const problems = st.sel?.pathProblems ?? [];
  if (problems.length === 0) return;
  throw new FwShardError('OWNERSHIP', `tables owned through a parent cannot be followed:\n  ${problems.join('\n  ')}`, {
    hint: 'Nothing was written. Fix tables.through in the config (or the index named) on every shard, then run the move again.',
    details: { problems },
  });
}

function schemaDrift(st: CheckState): void {
  const drift = st.drift ?? [];
  if (drift.length === 0) return;
  throw new FwShardError('SCHEMA_DRIFT', `the shards' schemas differ:\n  ${drift.join('\n  ')}`, {
    hint: `Apply the missing ALTERs so shard ${st.ctx.from} and shard ${st.ctx.to} match (compare SHOW CREATE TABLE), then run the move again.`,
    details: { drift },
  });
}

function shardedTables(st: CheckState): void {
  if (tablesOf(st).length > 0) return;
  throw new FwShardError('PRECONDITION', `no sharded tables found on shard ${st.ctx.from} (tables with a ${st.ctx.deps.topology.tables.ownerColumn} column)`, {
    hint: 'Check tables.ownerColumn, tables.include and tables.exclude in the config.',
  });
}

function keylessRowCap(st: CheckState): void {
  const cap = BigInt(st.ctx.deps.topology.tables.keylessRowCap);
  tablesOf(st).forEach((t, i) => {
    const rows = st.stats?.[i]?.rows ?? '0';
    if (t.key || BigInt(rows) <= cap) return;
    throw new FwShardError(
      'KEYLESS_TOO_LARGE',
      `table ${t.name} has neither a primary nor a NOT NULL unique key, and user ${st.ctx.userId} has ${rows} rows in it: more than the ${cap} rows fw-shard copies as one unit`,
      { hint: `Add a primary key to ${t.name} on every shard, or raise tables.keylessRowCap if one transaction of that size is acceptable.` },
    );
  });
}

/** The target must not already hold rows of this user: they could only be leftovers, and the copy would overwrite them without anyone having looked. */
async function targetHoldsNoRows(st: CheckState): Promise<void> {
  const { ctx } = st;
  const tables = tablesOf(st);
  const onTarget = await Promise.all(tables.map((t) => ctx.target.insp.countUserRows(t, ctx.userId)));
  const held = tables.map((t, i) => [t.name, onTarget[i]!] as const).filter(([, n]) => n > 0n);
  if (held.length === 0) return;
  throw new FwShardError(
    'PRECONDITION',
    `shard ${ctx.to} already holds rows of user ${ctx.userId} (${held.map(([n, c]) => `${n}: ${c}`).join(', ')}), left over from an earlier move or a stale write`,
    {
      hint: `Inspect them; fw-shard verify --user ${ctx.userId} lists leftovers and fw-shard cleanup --orphans removes those identical to the user's current shard.`,
    },
  );
}

const COLLISION_BATCH = 5000;

/**
 * A dry run's exact collision check: for every unique key that does not contain the owner column, look
 * up the user's values on the target under other owners, in batches.
 */
async function checkCollisions(ctx: MoveContext, tables: TablePlan[]): Promise<void> {
  const found: string[] = [];
  const where = `on shard ${ctx.to}`;
  for (const t of tables) {
    for (const k of t.collisionKeys) {
      const cols = keyColumns(t, k);
      let lo: KeyTuple | null = null;
      for (;;) {
        ctx.checkAborted();
        const rows = t.key
          ? await ctx.source.insp.columnsChunk(t, cols, ctx.userId, lo, COLLISION_BATCH)
          : await ctx.source.insp.readRange(t, ctx.userId, null, null).then((rs) => rs.map((r) => cols.map((c) => r[t.columns.indexOf(c)] ?? null)));
        const tuples = rows.filter((r) => cols.every((_, i) => r[i] !== null)).map((r) => cols.map((_, i) => r[i] as Buffer));
        for (const h of await ctx.target.insp.foreignOwners(t, cols, ctx.userId, tuples)) found.push(describeCollision(t, cols, h, where));
        if (!t.key || rows.length < COLLISION_BATCH || found.length >= COLLISIONS_LISTED) break;
        lo = rows[rows.length - 1]!.slice(cols.length) as Buffer[];
      }
    }
  }
  if (found.length > 0) {
    throw keyCollisionError(
      ctx.userId,
      where,
      found,
      'These ids were not issued by the ticket servers (or were reused). Resolve the rows by hand; nothing was written.',
    );
  }
}

/**
 * A shared table's rows the user reaches that the target holds already are not the move's to rewrite,
 * unless only the user's rows refer to them there (its own earlier copies, as an undo finds them):
 * another user's rows may refer to them, and a row nobody refers to is still a row fw-shard did not
 * write. So they must be the same rows, byte for byte: ids
 * that name one thing on every shard (ticketed, or the item's own id, such as a tweet's). A same key
 * with other contents is two things with one id, or two copies that went apart: the move refuses,
 * naming them, before anything is written.
 */
async function checkSharedRows(ctx: MoveContext, tables: TablePlan[]): Promise<void> {
  const differ: string[] = [];
  let count = 0;
  for (const t of tables.filter(isShared)) {
    const names = t.key!.map((c) => c.name);
    let lo: KeyTuple | null = null;
    for (;;) {
      ctx.checkAborted();
      const chunk: { hashes: RowHashes; last: KeyTuple | null; n: number } = await named(
        ctx.source.insp,
        t,
        ctx.source.insp.rowHashesChunk(t, ctx.userId, lo, SHARED_BATCH),
      );
      const keys = [...chunk.hashes.values()].map((h) => h.key!);
      const theirs = await named(ctx.target.insp, t, ctx.target.insp.sharedRowsKept(t, ctx.userId, keys));
      for (const [id, mine] of chunk.hashes) {
        const other = theirs.get(id);
        if (!other || other.md5 === mine.md5) continue;
        count++;
        if (differ.length < COLLISIONS_LISTED) differ.push(`${t.name}: ${showKey(names, mine.key!)}`);
      }
      if (chunk.n < SHARED_BATCH || !chunk.last) break;
      lo = chunk.last;
    }
  }
  if (count === 0) return;
  throw new FwShardError(
    'KEY_COLLISION',
    `${count} shared row(s) that user ${ctx.userId}'s rows refer to are on shard ${ctx.to} already with other contents (rows the move did not write, which it neither overwrites nor deletes):\n  ${differ.join('\n  ')}${count > differ.length ? `\n  and ${count - differ.length} more` : ''}`,
    {
      hint: `Nothing was written. A shared row's id must name the same row on every shard (ticketed ids, or the item's own id). Make those rows on shard ${ctx.to} equal to shard ${ctx.from}'s (or give them new ids), then run the move again.`,
      details: { sharedRows: differ },
    },
  );
}
const SHARED_BATCH = 1000;

/** A row a server cannot hash (longer than its max_allowed_packet), named as the copy names it. */
const named = <T>(insp: Inspector, t: TablePlan, p: Promise<T>): Promise<T> =>
  p.catch(async (err: unknown) => Promise.reject(err instanceof UnhashableRow ? await insp.unhashable(t, err) : err));

/**
 * No silent split (owner-paths.ts findSplits): a table that stays although it references a moved table
 * refuses the move, with the tables.through line that would move it, or tables.exclude to say it is
 * not the user's.
 */
function refuseSplits(ctx: MoveContext, schema: ReadonlyMap<string, TableInfo>, tables: TablePlan[], fks: ForeignKeyInfo[], mappingTable: string | null): void {
  const moved = tables.map((t) => schema.get(t.name)!);
  const staying = stayingUnowned(schema, ctx.deps.topology.tables, new Set(tables.map((t) => t.name)), mappingTable);
  const splits = findSplits(staying, moved, fks, ctx.source.endpoint.database);
  if (splits.length === 0) return;
  const lines = splits.map((s) => `${s.table}.${s.column} references ${s.references} (${s.why}) but ${s.table} does not move`);
  throw new FwShardError(
    'OWNERSHIP',
    `moving user ${ctx.userId} would leave rows that hang off its moved rows on shard ${ctx.from}, where the app no longer reads them:\n  ${lines.join('\n  ')}`,
    {
      hint:
        `Nothing was written. If those rows are the user's, declare how in the config: tables: { through: { ${splits.map((s) => s.through).join(', ')} } }; ` +
        `if they are not, list the table${splits.length > 1 ? 's' : ''} in tables.exclude (${[...new Set(splits.map((s) => s.table))].join(', ')}). Then run the move again.`,
      details: { splits },
    },
  );
}

/** A shared table referred to by more than its declared referrer (owner-paths.ts findOtherReferrers): refused. */
function refuseOtherReferrers(ctx: MoveContext, schema: ReadonlyMap<string, TableInfo>, tables: TablePlan[], fks: ForeignKeyInfo[]): void {
  const shared = tables.filter(isShared).map((t) => ({ table: t.name, link: t.via![0]! }));
  if (shared.length === 0) return;
  const lines = findOtherReferrers(
    shared,
    tables.map((t) => schema.get(t.name)!),
    fks,
    ctx.source.endpoint.database,
  );
  if (lines.length === 0) return;
  throw new FwShardError(
    'OWNERSHIP',
    `a shared table is referred to by more than the column tables.shared names, so the move would copy too few of its rows and its cleanup could delete rows still referred to:\n  ${lines.join('\n  ')}`,
    {
      hint: 'Nothing was written. fw-shard follows one referring column per shared table. Leave the table out of tables.shared (and the move: tables.exclude) until its rows are referred to through one column, or drop the extra references.',
      details: { referrers: lines },
    },
  );
}

/**
 * The app's triggers fire on fw-shard's own writes too: INSERT and DELETE triggers on the target run for
 * every row copied or re-copied (and their effects are neither copied nor verified; a BEFORE trigger
 * that rewrites NEW makes the copy differ), DELETE triggers on the source run for every row the cleanup
 * deletes. Such tables are refused unless --allow-triggers (pt-online-schema-change refuses too). UPDATE
 * triggers and the source's INSERT triggers only see the app's writes. fw-shard's own are fw_shard_*.
 */
async function checkTriggers(ctx: MoveContext, tables: TablePlan[]): Promise<void> {
  const moved = new Set(tables.map((t) => t.name));
  const [onSource, onTarget] = await Promise.all([ctx.source.insp.triggers(), ctx.target.insp.triggers()]);
  const firing: string[] = [];
  const what = (shard: number, tr: TriggerInfo) =>
    tr.event === 'INSERT'
      ? `runs for every row fw-shard copies to shard ${shard}; what it does is neither copied nor verified${tr.timing === 'BEFORE' ? ', and if it changes the row the copy cannot match' : ''}`
      : `runs for every row fw-shard deletes on shard ${shard} (${shard === ctx.to ? 're-copies and abort' : 'cleanup'})`;
  for (const tr of onTarget) {
    if (moved.has(tr.table) && !tr.name.startsWith('fw_shard_') && tr.event !== 'UPDATE')
      firing.push(`${tr.name}: ${tr.timing} ${tr.event} on ${tr.table} on shard ${ctx.to} ${what(ctx.to, tr)}`);
  }
  for (const tr of onSource) {
    if (moved.has(tr.table) && !tr.name.startsWith('fw_shard_') && tr.event === 'DELETE')
      firing.push(`${tr.name}: ${tr.timing} ${tr.event} on ${tr.table} on shard ${ctx.from} ${what(ctx.from, tr)}`);
  }
  if (firing.length === 0 || ctx.req.allowTriggers) return;
  throw new FwShardError('PRECONDITION', `the app's triggers would fire on fw-shard's own writes:\n  ${firing.join('\n  ')}`, {
    hint: 'Nothing was written. Drop or disable those triggers for the move, or pass --allow-triggers if what they do to copied and deleted rows is harmless (the verification still compares every row).',
    details: { triggers: firing },
  });
}

/**
 * Only InnoDB keeps the promises the copy and the cleanup rely on: a chunk's delete-and-insert is one
 * transaction, the cleanup locks the source range it compares (FOR UPDATE), the verification reads a
 * consistent snapshot. On MyISAM, Aria or MEMORY those are no-ops, so "delete only what is verified
 * equal at that moment" cannot hold. fw-shard's own tables never move, so they are not looked at.
 */
function checkEngines(ctx: MoveContext, tables: TablePlan[], sSchema: Map<string, TableInfo>, tSchema: Map<string, TableInfo>): void {
  const found: { table: string; shard: number; server: string; engine: string }[] = [];
  for (const [shard, side, schema] of [
    [ctx.from, ctx.source, sSchema],
    [ctx.to, ctx.target, tSchema],
  ] as const) {
    for (const t of tables) {
      const engine = schema.get(t.name)?.engine ?? null;
      if (engine?.toLowerCase() !== 'innodb') found.push({ table: t.name, shard, server: describeEndpoint(side.endpoint), engine: engine ?? '(unknown)' });
    }
  }
  if (found.length === 0) return;
  const names = [...new Set(found.map((f) => f.table))];
  throw new FwShardError(
    'UNSUPPORTED_ENGINE',
    `sharded tables not on InnoDB: fw-shard needs transactions, row locks and consistent snapshots to delete only what it verified, and this engine has none of them:\n  ${found
      .map((f) => `table ${f.table} on ${f.server}: ENGINE=${f.engine}`)
      .join('\n  ')}`,
    {
      hint: `Nothing was written. Convert each on every shard (ALTER TABLE ${names[0]} ENGINE=InnoDB${names.length > 1 ? ', and the same for ' + names.slice(1).join(', ') : ''}), or, if a table is not per-user, leave it out of the move: tables.exclude in the config.`,
      details: { tables: found },
    },
  );
}

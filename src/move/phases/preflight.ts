/**
 * Phase 1, preflight: writes nothing. Finds everything that would make the move fail half-way and
 * refuses up front (Citus#6754's lesson: check before moving, not at 60%).
 */
import { FwShardError } from '../../errors/index.js';
import { databaseId, describeEndpoint } from '../../topology/index.js';
import type { ForeignKeyInfo, TableInfo, TriggerInfo } from '../../db/sql/schema.js';
import { chooseRowHash, isShared, needsCrc32c, type KeyTuple, type RowHash } from '../../db/sql/rows.js';
import { diffTables, indexDifferences, planTable, type TablePlan } from '../table-plan.js';
import { mainTablesOnShard, selectionWarnings, selectTables, stayingUnowned, undeclaredTablesError } from '../table-selection.js';
import { findOtherReferrers, findSplits, linkChildren } from '../owner-paths.js';
import { COLLISIONS_LISTED, describeCollision, keyCollisionError, keyColumns } from '../collisions.js';
import { showKey } from '../keys.js';
import { UnhashableRow, type Inspector, type RowHashes } from '../inspector.js';
import type { MovePlan } from '../types.js';
import type { MoveContext } from '../run-context.js';
import { chooseCapture, Guard, readGuardFacts, type CaptureMode } from '../guard.js';
import { classifyForeignKeys, showForeignKey, type ForeignKeyReport } from '../foreign-keys.js';
import { cascadeGraph, describeCascades, type CascadeGraph } from '../cascades.js';

export interface Preflight {
  plan: MovePlan;
  tables: TablePlan[];
  sqlMode: string;
  maxPacket: number;
  /** Online moves: how the user's changes are captured (src/move/guard.ts chooseCapture). */
  capture: { mode: CaptureMode; reason: string; mariadb: boolean };
  /** The range hash of the move (set on every table plan): the journaled one, or the best both servers have. */
  rowHash: RowHash;
  /** The source's cascading foreign keys among the moved tables (trigger mode traces them: src/move/cascades.ts). */
  cascades: CascadeGraph;
}

const COLLISION_BATCH = 5000;

/**
 * `keptRows`: an undo (src/move/undo.ts), whose target still holds the user's rows from before the move
 * it undoes. They are its starting point (phases/resync.ts), not leftovers to refuse.
 * `rowHash`: a continued move's journaled range hash (its records were hashed with it).
 */
export async function preflight(ctx: MoveContext, opts: { resuming: boolean; keptRows?: boolean; rowHash?: RowHash }): Promise<Preflight> {
  const { topology } = ctx.deps;
  const source = ctx.source;
  const target = ctx.target;

  const [sFacts, tFacts, sSchema, tSchema] = await Promise.all([source.insp.facts(), target.insp.facts(), source.insp.schema(), target.insp.schema()]);
  if (tFacts.readOnly) {
    throw new FwShardError('TARGET_READ_ONLY', `${describeEndpoint(target.endpoint)} is read_only: nothing can be copied to it`, {
      hint: 'Point the shard at its primary, or SET GLOBAL read_only = 0 if the server is meant to take writes.',
    });
  }
  const available = chooseRowHash(sFacts.version, tFacts.version);
  const rowHash = opts.rowHash ?? available;
  if (needsCrc32c(rowHash) && available !== 'crc-mul') {
    const id = ctx.moveId ?? 'ID';
    throw new FwShardError(
      'PRECONDITION',
      `move ${id} hashes its ranges with CRC32C, which ${describeEndpoint(source.endpoint)} (${sFacts.version}) or ${describeEndpoint(target.endpoint)} (${tFacts.version}) does not have`,
      {
        hint: `The move started on MariaDB 10.8 or later on both shards: run fw-shard resume ${id} once both are again; before its flip, fw-shard abort ${id} also ends it.`,
      },
    );
  }
  if (databaseId(source.endpoint) === databaseId(target.endpoint)) {
    throw new FwShardError(
      'PRECONDITION',
      `shard ${ctx.from} and shard ${ctx.to} are the same database (${databaseId(source.endpoint)}): moving between them would change nothing but the mapping`,
      { hint: 'Give the target shard its own database in the config (fw-shard config show).' },
    );
  }

  // db_main, and db_accounts when it holds the mapping: databases with tables of their own.
  const mainDbs = new Set([databaseId(ctx.mapping.endpoint), databaseId(topology.main)]);
  const sourceIsMain = mainDbs.has(databaseId(source.endpoint));
  const targetIsMain = mainDbs.has(databaseId(target.endpoint));
  const sel = selectTables(sSchema, tSchema, topology.tables, {
    sourceIsMain,
    targetIsMain,
    mappingTable: sourceIsMain || targetIsMain ? topology.mapping.table : null,
  });
  // db_main's own tables never move: off or onto db_main, only the declared sharded tables do.
  if (sel.undeclared) throw undeclaredTablesError(sourceIsMain ? 'from' : 'to', sourceIsMain ? ctx.from : ctx.to, sel.undeclared);
  if (sel.pathProblems.length > 0) {
    throw new FwShardError('OWNERSHIP', `tables owned through a parent cannot be followed:\n  ${sel.pathProblems.join('\n  ')}`, {
      hint: 'Nothing was written. Fix tables.through in the config (or the index named) on every shard, then run the move again.',
      details: { problems: sel.pathProblems },
    });
  }
  const drift: string[] = sel.missingOnTarget.map((t) => `table ${t} exists on shard ${ctx.from} but not on shard ${ctx.to}`);
  const tables: TablePlan[] = [];
  const indexNotes: string[] = [];
  for (const { name, owner, path } of sel.selected) {
    const s = sSchema.get(name)!;
    const t = tSchema.get(name)!;
    for (const d of diffTables(s, t)) drift.push(`table ${name}: ${d}`);
    for (const d of indexDifferences(s, t)) indexNotes.push(`${name}: ${d} (allowed: the copy is unaffected)`);
    tables.push({ ...planTable(s, path ?? owner), rowHash });
  }
  linkChildren(tables);
  if (drift.length > 0) {
    throw new FwShardError('SCHEMA_DRIFT', `the shards' schemas differ:\n  ${drift.join('\n  ')}`, {
      hint: `Apply the missing ALTERs so shard ${ctx.from} and shard ${ctx.to} match (compare SHOW CREATE TABLE), then run the move again.`,
      details: { drift },
    });
  }
  if (tables.length === 0) {
    throw new FwShardError('PRECONDITION', `no sharded tables found on shard ${ctx.from} (tables with a ${topology.tables.ownerColumn} column)`, {
      hint: 'Check tables.ownerColumn, tables.include and tables.exclude in the config.',
    });
  }

  checkEngines(ctx, tables, sSchema, tSchema);
  await checkTriggers(ctx, tables);
  const { reports: foreignKeys, onSource } = await checkForeignKeys(ctx, tables, opts.resuming, (fks) => {
    // Before the foreign keys' own refusal: a table that stays behind referencing moved ones is rows of
    // the user left where the app no longer reads them, whatever --allow-foreign-keys says.
    if (!opts.resuming) refuseSplits(ctx, sSchema, tables, fks, sourceIsMain || targetIsMain ? topology.mapping.table : null);
    if (!opts.resuming) refuseOtherReferrers(ctx, sSchema, tables, fks);
  });
  // Before anything is written (a resumed move wrote the rows compared here itself).
  if (!opts.resuming) await checkSharedRows(ctx, tables);
  const cascades = cascadeGraph(onSource, tables, source.endpoint.database);

  // Row counts are exact (an index-only COUNT on the owner index). Bytes are exact only in a dry run,
  // where the operator asked for the plan: elsewhere they are the user's rows times the table's average
  // row length, which costs nothing, where the exact figure reads every byte of the user once more.
  const exact = ctx.req.dryRun === true;
  const stats = await Promise.all(
    tables.map((t) =>
      exact ? source.insp.userStats(t, ctx.userId) : source.insp.countUserRows(t, ctx.userId).then((n) => estimateBytes(sSchema.get(t.name)!, n)),
    ),
  );
  const cap = BigInt(topology.tables.keylessRowCap);
  const warnings: string[] = [];
  tables.forEach((t, i) => {
    if (!t.key && BigInt(stats[i]!.rows) > cap) {
      throw new FwShardError(
        'KEYLESS_TOO_LARGE',
        `table ${t.name} has neither a primary nor a NOT NULL unique key, and user ${ctx.userId} has ${stats[i]!.rows} rows in it: more than the ${cap} rows fw-shard copies as one unit`,
        { hint: `Add a primary key to ${t.name} on every shard, or raise tables.keylessRowCap if one transaction of that size is acceptable.` },
      );
    }
    for (const w of t.warnings) warnings.push(`${t.name}: ${w}`);
  });
  warnings.push(...indexNotes);
  for (const f of foreignKeys)
    if (f.dangles)
      warnings.push(`foreign key ${f.name} on shard ${f.shard} (${f.table} -> ${f.references}) leaves references dangling (allowed by --allow-foreign-keys)`);
  warnings.push(...selectionWarnings(sel.unowned, targetIsMain ? [] : mainTablesOnShard(tSchema, topology.tables, topology.mapping.table), ctx.from, ctx.to));

  if (!opts.resuming && !opts.keptRows) {
    // The target must not already hold rows of this user: they could only be leftovers, and the copy
    // would overwrite them without anyone having looked.
    const onTarget = await Promise.all(tables.map((t) => target.insp.countUserRows(t, ctx.userId)));
    const held = tables.map((t, i) => [t.name, onTarget[i]!] as const).filter(([, n]) => n > 0n);
    if (held.length > 0) {
      throw new FwShardError(
        'PRECONDITION',
        `shard ${ctx.to} already holds rows of user ${ctx.userId} (${held.map(([n, c]) => `${n}: ${c}`).join(', ')}), left over from an earlier move or a stale write`,
        {
          hint: `Inspect them; fw-shard verify --user ${ctx.userId} lists leftovers and fw-shard cleanup --orphans removes those identical to the user's current shard.`,
        },
      );
    }
  }
  // A key of the user's that another owner already holds on the target fails its chunk on insert
  // (KEY_COLLISION, nothing of the chunk kept: src/move/applier.ts), at no cost to the move. A dry run
  // looks for them up front, the exact (and costly) way: every key of the user sent to the target.
  if (!opts.resuming && exact) await checkCollisions(ctx, tables);

  const plan: MovePlan = {
    userId: ctx.userId,
    from: ctx.from,
    to: ctx.to,
    sourceIsMain,
    tables: tables.map((t, i) => ({
      name: t.name,
      rows: stats[i]!.rows,
      bytes: stats[i]!.bytes,
      key: t.key ? `${t.keyName}(${t.key.map((c) => c.name).join(', ')})` : null,
      ownerIndexed: t.ownerIndexed,
      chunks: 0,
      mismatches: 0,
      warnings: t.warnings,
    })),
    skippedTables: sel.skipped,
    foreignKeys,
    totalRows: stats.reduce((a, s) => a + BigInt(s.rows), 0n).toString(),
    totalBytes: stats.reduce((a, s) => a + BigInt(s.bytes), 0n).toString(),
    bytesEstimated: !exact,
    warnings,
  };
  const capture = ctx.online ? await decideCapture(ctx, tables) : { mode: 'rehash' as const, reason: 'offline move: no capture', mariadb: true };
  if (capture.mode === 'trigger') {
    // The capture cannot start while one is open (phases/fence-cutover.ts): said here, where nothing was written yet.
    const xa = await new Guard(source.db).preparedXa();
    if (xa > 0)
      warnings.push(
        `${xa} prepared XA transaction(s) on shard ${ctx.from} wrote and are still open: the capture will refuse to start until they end (XA RECOVER lists them; XA COMMIT or XA ROLLBACK 'xid')`,
      );
  }
  plan.capture = { mode: capture.mode, reason: capture.reason, ...(capture.mode === 'trigger' ? { cascades: describeCascades(cascades) } : {}) };
  return { plan, tables, sqlMode: sFacts.sqlMode, maxPacket: Math.min(sFacts.maxAllowedPacket, tFacts.maxAllowedPacket), capture, rowHash, cascades };
}

/** The user's bytes in a table from its statistics: rows times the average row length (data and indexes). */
function estimateBytes(info: TableInfo, rows: bigint): { rows: string; bytes: string } {
  const tableRows = BigInt(info.rowsEstimate);
  const avg = tableRows > 0n ? BigInt(info.bytesEstimate) / tableRows : 0n;
  return { rows: rows.toString(), bytes: (rows * avg).toString() };
}

async function decideCapture(ctx: MoveContext, tables: TablePlan[]): Promise<Preflight['capture']> {
  const [s, t] = await Promise.all([readGuardFacts(ctx.source.db), readGuardFacts(ctx.target.db)]);
  return { ...chooseCapture(ctx.req.capture ?? 'auto', tables, s, t), mariadb: s.mariadb };
}

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
 * The app's triggers fire on fw-shard's own writes too: INSERT and DELETE triggers on the target run for
 * every row copied or re-copied (and their effects are neither copied nor verified; a BEFORE trigger
 * that rewrites NEW makes the copy differ), DELETE triggers on the source run for every row the cleanup
 * deletes. Such tables are refused unless --allow-triggers (pt-online-schema-change refuses too). UPDATE
 * triggers and the source's INSERT triggers only see the app's writes. fw-shard's own are fw_shard_*.
 */
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

/**
 * The foreign keys of the moved tables on both shards, each with how fw-shard treats it
 * (src/move/foreign-keys.ts). Those whose references would dangle after the move refuse it unless
 * --allow-foreign-keys (fw-shard never moves a table outside the selection, so it cannot mend them).
 */
async function checkForeignKeys(
  ctx: MoveContext,
  tables: TablePlan[],
  resuming: boolean,
  before: (onSource: ForeignKeyInfo[]) => void,
): Promise<{ reports: ForeignKeyReport[]; onSource: ForeignKeyInfo[] }> {
  const moved = new Set(tables.map((t) => t.name));
  const [onSource, onTarget] = await Promise.all([ctx.source.insp.foreignKeys(), ctx.target.insp.foreignKeys()]);
  before(onSource);
  const all = [
    ...classifyForeignKeys(onSource, { shard: ctx.from, side: 'source', database: ctx.source.endpoint.database, moved }),
    ...classifyForeignKeys(onTarget, { shard: ctx.to, side: 'target', database: ctx.target.endpoint.database, moved }),
  ];
  const dangling = all.filter((f) => f.dangles);
  // A journaled move passed this check when it started (or was allowed to): resuming it (and a deferred
  // cleanup, which has no such flag) only lists them.
  if (dangling.length === 0 || ctx.req.allowForeignKeys || resuming) return { reports: all, onSource };
  throw new FwShardError(
    'FOREIGN_KEYS',
    `foreign keys link moved tables with tables that stay, so references would dangle after the move:\n  ${dangling.map(showForeignKey).join('\n  ')}`,
    {
      hint:
        'Nothing was written. Move the other table with the user too (tables.include, tables.owners in the config), or drop the foreign key (a federated schema cannot keep it), ' +
        "or pass --allow-foreign-keys if those references may dangle (every moved row is still copied and verified byte for byte; fw-shard's writes never cascade).",
      details: { foreignKeys: dangling },
    },
  );
}

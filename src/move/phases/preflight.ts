/**
 * Phase 1, preflight: writes nothing. Finds everything that would make the move fail half-way and
 * refuses up front (Citus#6754's lesson: check before moving, not at 60%). The refusals are named
 * checks (preflight-checks.ts); this file gathers what they read, stage by stage, and builds the plan.
 */
import { databaseId } from '../../topology/index.js';
import type { ForeignKeyInfo } from '../../db/sql/schema.js';
import { chooseRowHash } from '../../db/sql/rows.js';
import { diffTables, estimatedBytes, indexDifferences, planTable, type TablePlan } from '../table-plan.js';
import { mainTablesOnShard, selectionWarnings, selectTables } from '../table-selection.js';
import { linkChildren } from '../owner-paths.js';
import type { MovePlan, Preflight } from '../types.js';

export type { Preflight } from '../types.js';
import type { MoveContext } from '../run-context.js';
import { chooseCapture, Guard, readGuardFacts } from '../guard.js';
import { classifyForeignKeys, showForeignKey, type ForeignKeyReport } from '../foreign-keys.js';
import { cascadeGraph, describeCascades } from '../cascades.js';
import { FwShardError } from '../../errors/index.js';
import { runChecks, type CheckState, type PreflightOptions } from './preflight-checks.js';

export type { PreflightOptions } from './preflight-checks.js';

/**
 * `opts.keptRows`: an undo (src/move/undo.ts), whose target still holds the user's rows from before the
 * move it undoes. They are its starting point (phases/resync.ts), not leftovers to refuse.
 * `opts.rowHash`: a continued move's journaled range hash (its records were hashed with it).
 *
 * Four stages, each reading more of the servers; after each, the named checks of that stage that apply
 * to this run (preflight-checks.ts) refuse or pass. The plan lists the checks passed.
 */
export async function preflight(ctx: MoveContext, opts: PreflightOptions): Promise<Preflight> {
  const { topology } = ctx.deps;
  const source = ctx.source;
  const target = ctx.target;
  const passed: string[] = [];

  const [sFacts, tFacts, sSchema, tSchema] = await Promise.all([source.insp.facts(), target.insp.facts(), source.insp.schema(), target.insp.schema()]);
  const available = chooseRowHash(sFacts.version, tFacts.version);
  const rowHash = opts.rowHash ?? available;
  const st: CheckState = { ctx, opts, facts: { source: sFacts, target: tFacts }, schemas: { source: sSchema, target: tSchema }, rowHash, available };
  await runChecks('servers', st, passed);

  // db_main, and db_accounts when it holds the mapping: databases with tables of their own.
  const mainDbs = new Set([databaseId(ctx.mapping.endpoint), databaseId(topology.main)]);
  const sourceIsMain = mainDbs.has(databaseId(source.endpoint));
  const targetIsMain = mainDbs.has(databaseId(target.endpoint));
  const sel = selectTables(sSchema, tSchema, topology.tables, {
    sourceIsMain,
    targetIsMain,
    mappingTable: sourceIsMain || targetIsMain ? topology.mapping.table : null,
  });
  const drift: string[] = sel.missingOnTarget.map((t) => `table ${t} exists on shard ${ctx.from} but not on shard ${ctx.to}`);
  const tables: TablePlan[] = [];
  const indexNotes: string[] = [];
  if (!sel.undeclared && sel.pathProblems.length === 0) {
    for (const { name, owner, path } of sel.selected) {
      const s = sSchema.get(name)!;
      const t = tSchema.get(name)!;
      for (const d of diffTables(s, t)) drift.push(`table ${name}: ${d}`);
      for (const d of indexDifferences(s, t)) indexNotes.push(`${name}: ${d} (allowed: the copy is unaffected)`);
      tables.push({ ...planTable(s, path ?? owner), rowHash });
    }
  }
  linkChildren(tables);
  Object.assign(st, { sel, sourceIsMain, targetIsMain, tables, drift });
  await runChecks('tables', st, passed);

  const { reports: foreignKeys, onSource } = await checkForeignKeys(ctx, tables, opts.resuming, async (fks) => {
    // Before the foreign keys' own refusal: a table that stays behind referencing moved ones is rows of
    // the user left where the app no longer reads them, whatever --allow-foreign-keys says.
    st.foreignKeys = fks;
    await runChecks('keys', st, passed);
  });
  passed.push('foreign-keys');
  const cascades = cascadeGraph(onSource, tables, source.endpoint.database);

  // Row counts are exact (an index-only COUNT on the owner index). Bytes are exact only in a dry run,
  // where the operator asked for the plan: elsewhere they are the user's rows times the table's average
  // row length, which costs nothing, where the exact figure reads every byte of the user once more.
  const exact = ctx.req.dryRun === true;
  const stats = await Promise.all(
    tables.map((t) =>
      exact
        ? source.insp.userStats(t, ctx.userId)
        : source.insp.countUserRows(t, ctx.userId).then((n) => ({ rows: n.toString(), bytes: estimatedBytes(sSchema.get(t.name)!, n).toString() })),
    ),
  );
  st.stats = stats;
  // A key of the user's that another owner already holds on the target fails its chunk on insert
  // (KEY_COLLISION, nothing of the chunk kept: src/move/applier.ts), at no cost to the move. A dry run
  // looks for them up front (key-collisions), the exact (and costly) way: every key sent to the target.
  await runChecks('rows', st, passed);

  const warnings: string[] = tables.flatMap((t) => t.warnings.map((w) => `${t.name}: ${w}`));
  warnings.push(...indexNotes);
  for (const f of foreignKeys)
    if (f.dangles)
      warnings.push(`foreign key ${f.name} on shard ${f.shard} (${f.table} -> ${f.references}) leaves references dangling (allowed by --allow-foreign-keys)`);
  warnings.push(...selectionWarnings(sel.unowned, targetIsMain ? [] : mainTablesOnShard(tSchema, topology.tables, topology.mapping.table), ctx.from, ctx.to));

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
    checks: passed,
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

async function decideCapture(ctx: MoveContext, tables: TablePlan[]): Promise<Preflight['capture']> {
  const [s, t] = await Promise.all([readGuardFacts(ctx.source.db), readGuardFacts(ctx.target.db)]);
  return { ...chooseCapture(ctx.req.capture ?? 'auto', tables, s, t), mariadb: s.mariadb };
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
  before: (onSource: ForeignKeyInfo[]) => Promise<void>,
): Promise<{ reports: ForeignKeyReport[]; onSource: ForeignKeyInfo[] }> {
  const moved = new Set(tables.map((t) => t.name));
  const [onSource, onTarget] = await Promise.all([ctx.source.insp.foreignKeys(), ctx.target.insp.foreignKeys()]);
  await before(onSource);
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

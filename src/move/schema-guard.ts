/**
 * The schema is part of a move's proof: the moved tables' fingerprints on both shards are taken when
 * the move starts (after its capture is installed), journaled, and compared at every later run's start,
 * before each log pass and, under the freeze, right before the source fence says `moved` (rehash mode and
 * offline moves: right before the flip). Any change stops the move before the flip (SCHEMA_CHANGED,
 * exit 5), because the column list, keys, foreign keys and triggers read at preflight are what copy,
 * capture, comparisons and cleanup rely on:
 *
 * - columns (ALTER TABLE ... ADD COLUMN, ALGORITHM=INSTANT too): writes to a new column are neither
 *   copied nor compared;
 * - keys and foreign keys: the chunking key, the owner index, what trigger mode traces (cascades.ts);
 * - triggers, fw-shard's own included, with their creation time: a trigger dropped and created again,
 *   even identical, let writes through unlogged in between;
 * - the storage identity (InnoDB's table ids, one per partition): a table rebuilt, TRUNCATEd (which
 *   fires no trigger), swapped by RENAME (gh-ost, pt-online-schema-change: the triggers stay with the
 *   old table), or its partitions truncated, exchanged or reorganised. Without PROCESS the creation
 *   times stand in (weaker: an in-place TRUNCATE on some versions keeps them);
 * - the set of tables with the owner column (a table created during the move is in no plan), when the
 *   selection is by owner column (with tables.include a new table is not moved anyway).
 *
 * OPTIMIZE TABLE and other rebuilds also change the table id, so they stop a move too: a false alarm
 * costs an abort and a new move; a missed change costs data.
 */
import { createHash } from 'node:crypto';
import type { ReadDb } from '../db/pool.js';
import { isPrivilegeMissing, isUnknownTable } from '../db/errors.js';
import * as F from '../db/sql/fingerprint.js';
import { FwShardError } from '../errors/index.js';
import type { MoveRun } from './move-run.js';

interface TableFingerprint {
  columns: string;
  keys: string;
  foreignKeys: string;
  triggers: string;
  storage: string;
}

/** What the fingerprint reads and how it hashes it: fingerprints of another version are not compared (re-recorded). */
const FINGERPRINT_VERSION = 3;

interface SchemaFingerprint {
  version?: number;
  storage: 'table-id' | 'create-time';
  tables: Record<string, TableFingerprint>;
  /** Base tables with the owner column, null when not watched. */
  ownerTables: string[] | null;
}

interface MoveFingerprints {
  source: SchemaFingerprint;
  target: SchemaFingerprint;
}

const PARTS: readonly (keyof TableFingerprint)[] = ['columns', 'keys', 'foreignKeys', 'triggers', 'storage'];
const WHAT: Record<keyof TableFingerprint, string> = {
  columns: 'its columns changed (added, dropped or altered)',
  keys: 'its keys changed',
  foreignKeys: 'its foreign keys changed',
  triggers: 'its triggers changed (dropped, created or replaced; fw-shard checks its own too)',
  storage: 'it was rebuilt, truncated, swapped (RENAME) or its partitions changed',
};

const digest = (lines: readonly string[]) => createHash('sha1').update(lines.join('\n')).digest('hex').slice(0, 16);

/** Rows as canonical lines per table: every field but the table's name, in the query's order. */
type Row = Record<string, unknown> & { t: string };
function linesByTable(rows: readonly Row[], skip: readonly string[] = []): Map<string, string[]> {
  const m = new Map<string, string[]>();
  for (const r of rows) {
    const line = Object.entries(r)
      .filter(([k]) => k !== 't' && !skip.includes(k))
      .map(([, v]) => (v === null || v === undefined ? '\\N' : Buffer.isBuffer(v) ? v.toString('hex') : String(v)))
      .join('|');
    m.set(String(r.t), [...(m.get(String(r.t)) ?? []), line]);
  }
  return m;
}

/** The fingerprint of `tables` in the endpoint's database: five queries at most, side by side; `only`: the parts read. */
async function readSchemaFingerprint(
  db: ReadDb,
  tables: readonly string[],
  /** ownTriggers false: fw-shard's own triggers are left out (moves that do not rely on them: guard-lifecycle.ts drops them meanwhile). */
  opts: { ownerColumn: string | null; only?: readonly (keyof TableFingerprint)[]; ownTriggers?: boolean },
): Promise<SchemaFingerprint> {
  const want = (p: keyof TableFingerprint) => !opts.only || opts.only.includes(p);
  const none = Promise.resolve([] as Row[]);
  const schema = db.endpoint.database;
  const [columns, keys, triggers, storage, owners] = await Promise.all([
    want('columns') ? db.rows<Row>(F.fingerprintColumnsSql(schema, tables)) : none,
    want('keys') || want('foreignKeys')
      ? db.rows<Row & { part: string }>(F.fingerprintKeysSql(schema, tables))
      : Promise.resolve([] as (Row & { part: string })[]),
    want('triggers') ? db.rows<Row>(F.fingerprintTriggersSql(schema, tables, opts.ownTriggers ?? true)) : none,
    want('storage') ? readStorage(db, schema, tables) : Promise.resolve({ kind: 'table-id' as const, byTable: new Map<string, string[]>() }),
    opts.ownerColumn === null || opts.only ? Promise.resolve(null) : db.rows<{ t: string }>(F.ownerTablesSql(schema, opts.ownerColumn)),
  ]);
  const c = linesByTable(columns);
  const k = linesByTable(keys.filter((r) => r.part === 'keys'));
  const f = linesByTable(keys.filter((r) => r.part === 'foreignKeys'));
  const t = linesByTable(triggers);
  const out: SchemaFingerprint = {
    version: FINGERPRINT_VERSION,
    storage: storage.kind,
    tables: {},
    ownerTables: owners === null ? null : owners.map((r) => String(r.t)).filter((n) => !n.startsWith('fw_shard_')),
  };
  for (const name of [...tables].sort()) {
    out.tables[name] = {
      columns: digest(c.get(name) ?? []),
      keys: digest(k.get(name) ?? []),
      foreignKeys: digest(f.get(name) ?? []),
      triggers: digest(t.get(name) ?? []),
      storage: digest(storage.byTable.get(name) ?? []),
    };
  }
  return out;
}

async function readStorage(
  db: ReadDb,
  schema: string,
  tables: readonly string[],
): Promise<{ kind: SchemaFingerprint['storage']; byTable: Map<string, string[]> }> {
  for (const mysql8 of [false, true]) {
    try {
      const rows = await db.rows<Row>(F.fingerprintStorageSql(schema, tables, mysql8));
      return { kind: 'table-id', byTable: linesByTable(rows) };
    } catch (err) {
      if (isUnknownTable(err) && !mysql8) continue; // MySQL 8 has INNODB_TABLES instead
      // 1109 as well: a login without PROCESS may see the table as unknown.
      if (!isPrivilegeMissing(err) && !isUnknownTable(err)) throw err;
      break;
    }
  }
  return { kind: 'create-time', byTable: linesByTable(await db.rows<Row>(F.fingerprintCreateTimesSql(schema, tables))) };
}

/** What changed, one readable line per change (empty: nothing); `only`: the parts compared (default all, and the owner tables). */
export function diffSchemaFingerprints(before: SchemaFingerprint, after: SchemaFingerprint, only?: readonly (keyof TableFingerprint)[]): string[] {
  const out: string[] = [];
  for (const [name, b] of Object.entries(before.tables)) {
    const a = after.tables[name];
    if (!a || a.columns === digest([])) {
      out.push(`table ${name} no longer exists`);
      continue;
    }
    for (const p of only ?? PARTS) if (a[p] !== b[p]) out.push(`table ${name}: ${WHAT[p]}`);
  }
  if (before.ownerTables && after.ownerTables && !only) {
    for (const t of after.ownerTables) if (!before.ownerTables.includes(t)) out.push(`table ${t} (with the owner column) was created`);
    for (const t of before.ownerTables) if (!after.ownerTables.includes(t) && !(t in before.tables)) out.push(`table ${t} (with the owner column) was dropped`);
  }
  return out;
}

/** After the flip: the cleanup deletes nothing while the columns it would compare are not the table's. */
function cleanupSchemaChangedError(moveId: string, userId: string, side: string, changes: readonly string[]): FwShardError {
  return new FwShardError(
    'SCHEMA_CHANGED',
    `the schema of the moved tables changed on the ${side} shard since move ${moveId} started, so its cleanup cannot compare rows:\n  ${changes.join('\n  ')}`,
    {
      hint: `The user lives on the new shard; nothing was deleted from the old one. fw-shard verify --user ${userId} lists the rows left there and fw-shard cleanup --orphans deletes those identical on the user's shard, compared with the schema as it is now.`,
      details: { changes: [...changes] },
    },
  );
}

/** The typed refusal: the move stops before its flip; abort it, then move again once the change is done. */
function schemaChangedError(moveId: string, side: string, changes: readonly string[]): FwShardError {
  return new FwShardError('SCHEMA_CHANGED', `the schema of the moved tables changed on the ${side} shard during move ${moveId}:\n  ${changes.join('\n  ')}`, {
    hint:
      `Nothing was flipped. Let the schema change finish on every shard, then fw-shard abort ${moveId} (it deletes only the copy on the target) ` +
      'and run the move again: it plans the new schema from the start.',
    details: { changes: [...changes] },
  });
}

/**
 * Take both shards' fingerprints of the run's tables and compare them with the journaled ones (the
 * first run of a move, or one begun by an older fw-shard, records them). A table added to the plan
 * since (a resumed move copies it: engine.ts copyUncopied) is recorded, not refused.
 */
export async function checkSchema(run: Pick<MoveRun, 'ctx' | 'moveId' | 'pf'>, opts: { only?: readonly (keyof TableFingerprint)[] } = {}): Promise<void> {
  const { ctx, moveId } = run;
  const names = run.pf.tables.map((t) => t.name);
  const topo = ctx.deps.topology.tables;
  const ownerColumn = topo.include && topo.include.length > 0 ? null : topo.ownerColumn;
  // fw-shard's own triggers are part of the proof only of a move that relies on them.
  const ownTriggers = ctx.online && run.pf.capture.mode === 'trigger';
  const [source, target] = await Promise.all([
    readSchemaFingerprint(ctx.source.db, names, { ownerColumn, ownTriggers, ...(opts.only ? { only: opts.only } : {}) }),
    readSchemaFingerprint(ctx.target.db, names, { ownerColumn, ownTriggers, ...(opts.only ? { only: opts.only } : {}) }),
  ]);
  const recorded = await ctx.journal.schemaFingerprint(moveId);
  if (opts.only && recorded === null) return; // nothing to compare with (a move begun by an older fw-shard)
  const before = recorded === null ? null : (JSON.parse(recorded) as MoveFingerprints);
  if (before !== null && before.source.version !== FINGERPRINT_VERSION) {
    // Recorded by another fw-shard version, which read or hashed otherwise: not comparable. Taken anew
    // (a cleanup-only check has no full fingerprint to record, and skips).
    ctx.emit({ type: 'warning', message: `move ${moveId}'s schema fingerprint was recorded by another fw-shard version: recorded anew now` });
    if (!opts.only) await ctx.journal.setSchemaFingerprint(moveId, JSON.stringify({ source, target } satisfies MoveFingerprints));
    return;
  }
  if (before !== null) {
    for (const [side, b, a] of [
      ['source', before.source, source],
      ['target', before.target, target],
    ] as const) {
      const changes = diffSchemaFingerprints(b, a, opts.only).filter((line) => !names.some((n) => line === `table ${n} (with the owner column) was created`));
      if (changes.length > 0) {
        const where = side === 'source' ? `source (shard ${ctx.from})` : `target (shard ${ctx.to})`;
        throw opts.only ? cleanupSchemaChangedError(moveId, ctx.userId, where, changes) : schemaChangedError(moveId, where, changes);
      }
    }
    if (names.every((n) => n in before.source.tables)) return;
    for (const n of names) {
      before.source.tables[n] ??= source.tables[n]!;
      before.target.tables[n] ??= target.tables[n]!;
    }
    before.source.ownerTables = source.ownerTables;
    before.target.ownerTables = target.ownerTables;
    await ctx.journal.setSchemaFingerprint(moveId, JSON.stringify(before));
    return;
  }
  await ctx.journal.setSchemaFingerprint(moveId, JSON.stringify({ source, target } satisfies MoveFingerprints));
}

/**
 * Whether `table`'s triggers on the source are exactly those the move recorded (fw-shard's own with
 * their creation time, so one dropped and created again does not pass): the cleanup's fence proof
 * (phases/cleanup.ts). Read through `s`, the cleanup range's own session; false where nothing
 * comparable was recorded.
 */
export async function sourceTriggersAsRecorded(
  run: Pick<MoveRun, 'ctx' | 'moveId'>,
  s: Pick<ReadDb, 'rows'>,
  table: string,
  /** The journaled fingerprint, read once by the caller (it does not change during a cleanup). */
  recorded: string | null,
): Promise<boolean> {
  if (recorded === null) return false;
  const before = JSON.parse(recorded) as MoveFingerprints;
  const want = before.source.version === FINGERPRINT_VERSION ? before.source.tables[table]?.triggers : undefined;
  if (want === undefined) return false;
  const rows = await s.rows<Row>(F.fingerprintTriggersSql(run.ctx.source.db.endpoint.database, [table]));
  // A binary session returns text as bytes: the recorded digest was taken from text.
  const text = rows.map((r) => Object.fromEntries(Object.entries(r).map(([k, v]) => [k, Buffer.isBuffer(v) ? v.toString('utf8') : v])) as Row);
  return digest(linesByTable(text).get(table) ?? []) === want;
}

/**
 * Foreign keys of the moved tables, on the source and on the target, and what becomes of them (pure).
 *
 * fw-shard's data sessions run with foreign_key_checks = 0 (src/db/pool.ts), so its own copies, re-copies
 * and deletes are neither refused by a foreign key nor cascade through one, whatever order the tables
 * and chunks go in; every moved table is verified byte for byte on its own. Between two moved tables
 * that is all there is to say. A key that crosses the edge of the move is different: the move itself
 * is fine, but afterwards a reference dangles:
 *
 * - on the target, a moved table referencing one that does not move: the user's rows arrive pointing at
 *   parent rows the target may not have (the app's later writes of them fail with error 1452);
 * - on the source, a table that does not move referencing a moved one: its rows that point at the
 *   user's rows stay behind, and dangle once the cleanup deletes those (no cascade fires).
 *
 * Those two refuse the move unless --allow-foreign-keys; the other two directions are listed only.
 */
import type { ForeignKeyInfo } from '../db/sql/schema.js';

export interface ForeignKeyReport {
  /** The shard whose schema holds the key, and whether it is the move's source or target. */
  shard: number;
  side: 'source' | 'target';
  name: string;
  /** The referencing table (`db.table` when it lives in another database) and its columns. */
  table: string;
  columns: string[];
  /** The referenced table and columns. */
  references: string;
  refColumns: string[];
  onDelete: string;
  onUpdate: string;
  /** within: both tables move; to-unmoved: a moved table references one that stays; from-unmoved: the reverse. */
  kind: 'within' | 'to-unmoved' | 'from-unmoved';
  /** A reference would dangle after the move: refused unless --allow-foreign-keys. */
  dangles: boolean;
  /** How fw-shard treats it, and what it means after the move. */
  treatment: string;
}

interface ForeignKeyScope {
  shard: number;
  side: 'source' | 'target';
  /** The shard's database: tables of any other database never move. */
  database: string;
  /** The tables that move with the user. */
  moved: ReadonlySet<string>;
}

const isOwn = (name: string) => name.startsWith('fw_shard_');

export function classifyForeignKeys(fks: readonly ForeignKeyInfo[], scope: ForeignKeyScope): ForeignKeyReport[] {
  const out: ForeignKeyReport[] = [];
  const name = (db: string, t: string) => (db === scope.database ? t : `${db}.${t}`);
  for (const fk of fks) {
    if (isOwn(fk.table) || isOwn(fk.refTable)) continue;
    const childMoves = fk.schema === scope.database && scope.moved.has(fk.table);
    const parentMoves = fk.refSchema === scope.database && scope.moved.has(fk.refTable);
    if (!childMoves && !parentMoves) continue;
    const table = name(fk.schema, fk.table);
    const references = name(fk.refSchema, fk.refTable);
    const kind = childMoves && parentMoves ? 'within' : childMoves ? 'to-unmoved' : 'from-unmoved';
    const dangles = (kind === 'to-unmoved' && scope.side === 'target') || (kind === 'from-unmoved' && scope.side === 'source');
    out.push({
      shard: scope.shard,
      side: scope.side,
      name: fk.name,
      table,
      columns: fk.columns,
      references,
      refColumns: fk.refColumns,
      onDelete: fk.onDelete,
      onUpdate: fk.onUpdate,
      kind,
      dangles,
      treatment: treatment(kind, scope, table, references, fk),
    });
  }
  return out;
}

function treatment(kind: ForeignKeyReport['kind'], scope: ForeignKeyScope, table: string, references: string, fk: ForeignKeyInfo): string {
  const on = `shard ${scope.shard}`;
  if (kind === 'within') {
    return (
      `both tables move: fw-shard writes with foreign_key_checks = 0, so table and chunk order does not matter and ON DELETE ${fk.onDelete} / ` +
      `ON UPDATE ${fk.onUpdate} does not fire for its copies, re-copies and deletes; each table is verified byte for byte on its own`
    );
  }
  if (kind === 'to-unmoved') {
    return scope.side === 'target'
      ? `${table} moves but ${references} does not: the user's rows arrive on ${on} with their ${fk.columns.join(', ')} values unchanged, and those pointing at ` +
          `a row ${on}'s ${references} lacks dangle there (written with foreign_key_checks = 0, nothing refuses them); the app's later writes of such a row on ${on} fail with error 1452`
      : `${references} stays on ${on}; the cleanup's deletes of ${table} rows only remove references to it, nothing dangles`;
  }
  return scope.side === 'source'
    ? `${table} does not move but references ${references}, which does: its rows pointing at the user's ${references} rows stay on ${on} ` +
        `and dangle once the cleanup deletes those (ON DELETE ${fk.onDelete} does not fire for fw-shard's deletes); if they are the user's data, they are left behind`
    : `${table} stays on ${on}; fw-shard's re-copies and abort there do not cascade into it (foreign_key_checks = 0)`;
}

/** One line of the plan: `shard 2: Items(album_id) -> Albums(id) [fk, ON DELETE CASCADE]: treatment`. */
export function showForeignKey(f: ForeignKeyReport): string {
  return `shard ${f.shard} (${f.side}): ${f.table}(${f.columns.join(', ')}) -> ${f.references}(${f.refColumns.join(', ')}) [${f.name}, ON DELETE ${f.onDelete}, ON UPDATE ${f.onUpdate}]: ${f.treatment}`;
}

/**
 * Builders for reading, writing, hashing and deleting one user's rows of one table (and, for the
 * planner and the orphan cleanup, every owner's rows of a table).
 *
 * Invariants:
 *  - every column is read in a form that writes back to the same bits: FLOAT/DOUBLE through
 *    CAST(.. AS DOUBLE) (MariaDB prints FLOAT with 6 digits, which does not round-trip), all else as
 *    the server's text/bytes on a binary connection;
 *  - key bounds on numeric columns are unquoted numeric literals (a quoted string makes the server
 *    compare as DOUBLE, wrong above 2^53); string bounds are converted to the column's own charset and
 *    collation, so `>` agrees with ORDER BY;
 *  - a range is (lo, hi]: lo exclusive, hi inclusive; null means unbounded.
 *
 * What a spec is and whose a row is live in row-spec.ts, a row's bytes (writes, images, hashes) in
 * row-bytes.ts: both are re-exported here, so callers import rows.ts alone.
 */
import type { ColumnInfo } from './schema.js';
import { ident, join, raw, sql, type Sql } from './fragment.js';
import {
  boundLiteral,
  isShared,
  keptForOthers,
  keyAfter,
  ownerCondition,
  ownerLiteral,
  ownerOfRow,
  parentSpec,
  readExpr,
  type KeyTuple,
  type RowSpec,
} from './row-spec.js';
import { rowHash64, rowHashTerm, rowImage, rowLength, tsvLine, UNHASHABLE_ROW } from './row-bytes.js';

export * from './row-spec.js';
export * from './row-bytes.js';

export function rangeCondition(spec: RowSpec, userId: string, lo: KeyTuple | null, hi: KeyTuple | null): Sql {
  const parts: Sql[] = [ownerCondition(spec, userId)];
  if (spec.key && lo) parts.push(keyAfter(spec.key, lo));
  if (spec.key && hi) parts.push(spec.key.length === 1 ? sql`NOT (${keyAfter(spec.key, hi)})` : sql`NOT ${keyAfter(spec.key, hi)}`);
  return join(parts, ' AND ');
}

function orderByKey(spec: RowSpec): Sql {
  return spec.key ? sql` ORDER BY ${join(spec.key.map((c) => ident(c.name)))}` : sql``;
}

/** Positions of the key columns in `spec.columns` (to read a row's key from a copied row). */
export function keyPositions(spec: RowSpec): number[] {
  return (spec.key ?? []).map((k) => spec.columns.findIndex((c) => c.name === k.name));
}

/** SELECT `what` of the user's rows in (lo, hi], in key order: the shape of every row read. */
function selectUserRows(spec: RowSpec, what: Sql, userId: string, lo: KeyTuple | null, hi: KeyTuple | null, page?: { limit: number; offset?: number }): Sql {
  const limit = page === undefined ? sql`` : page.offset ? sql` LIMIT ${page.limit} OFFSET ${page.offset}` : sql` LIMIT ${page.limit}`;
  return sql`SELECT ${what} FROM ${ident(spec.name)} WHERE ${rangeCondition(spec, userId, lo, hi)}${orderByKey(spec)}${limit}`;
}

const allColumns = (spec: RowSpec) => join(spec.columns.map(readExpr));
function keyColumns(spec: RowSpec): Sql {
  if (!spec.key) throw new Error(`table ${spec.name} is keyless: it has no chunking key`);
  return join(spec.key.map((c) => ident(c.name)));
}

/** The next chunk of rows after `lo`, in key order, every column in its exact form. */
export function selectChunk(spec: RowSpec, userId: string, lo: KeyTuple | null, limit: number): Sql {
  return selectUserRows(spec, allColumns(spec), userId, lo, null, { limit });
}

/** All of the user's rows in (lo, hi] (keyless tables: all of them), in key order. */
export function selectRange(spec: RowSpec, userId: string, lo: KeyTuple | null, hi: KeyTuple | null, limit?: number): Sql {
  return selectUserRows(spec, allColumns(spec), userId, lo, hi, limit === undefined ? undefined : { limit });
}

/** The key `offset` rows after lo (the upper bound of a verification range), pt-table-checksum style. */
export function selectKeyAt(spec: RowSpec, userId: string, lo: KeyTuple | null, offset: number): Sql {
  return selectUserRows(spec, keyColumns(spec), userId, lo, null, { limit: 1, offset });
}

/**
 * The one expansion of "one of these keys": `k IN (...)` for a single-column key, an OR of equalities
 * for a composite one (row-constructor IN does not use indexes on every server). Bare: the caller
 * decides the parentheses.
 */
function keyAlternatives(key: readonly ColumnInfo[], tuples: readonly KeyTuple[]): Sql {
  if (tuples.length === 0) throw new Error('no keys to match');
  if (key.length === 1) return sql`${ident(key[0]!.name)} IN (${join(tuples.map((t) => boundLiteral(key[0]!, t[0]!)))})`;
  return join(
    tuples.map(
      (t) =>
        sql`(${join(
          key.map((c, i) => sql`${ident(c.name)} = ${boundLiteral(c, t[i]!)}`),
          ' AND ',
        )})`,
    ),
    ' OR ',
  );
}

/** keyAlternatives, parenthesized when it is an OR, to stand in an AND. */
function keyIn(key: readonly ColumnInfo[], tuples: readonly KeyTuple[]): Sql {
  return key.length === 1 ? keyAlternatives(key, tuples) : sql`(${keyAlternatives(key, tuples)})`;
}

function chunkKey(spec: RowSpec): readonly ColumnInfo[] {
  if (!spec.key) throw new Error(`table ${spec.name} is keyless: it has no chunking key`);
  return spec.key;
}

/** `owner = user AND key IN (...)`: the user's rows with exactly these keys. */
function userKeysCondition(spec: RowSpec, userId: string, tuples: readonly KeyTuple[]): Sql {
  return sql`${ownerCondition(spec, userId)} AND ${keyIn(chunkKey(spec), tuples)}`;
}

/** The user's rows with these keys, every column in its exact form (delta repair of single rows). */
export function selectByKeys(spec: RowSpec, userId: string, tuples: readonly KeyTuple[]): Sql {
  return sql`SELECT ${allColumns(spec)} FROM ${ident(spec.name)} WHERE ${userKeysCondition(spec, userId, tuples)}`;
}

/** The rows a write covers: the user's rows in (lo, hi], or those with these keys. */
export type RowScope = { lo: KeyTuple | null; hi: KeyTuple | null } | { keys: readonly KeyTuple[] };

/** The scope's key condition alone (whoever owns the rows). */
function scopeKeys(spec: RowSpec, scope: RowScope): Sql {
  if ('keys' in scope) return keyIn(chunkKey(spec), scope.keys);
  const parts: Sql[] = [];
  if (spec.key && scope.lo) parts.push(keyAfter(spec.key, scope.lo));
  if (spec.key && scope.hi) parts.push(spec.key.length === 1 ? sql`NOT (${keyAfter(spec.key, scope.hi)})` : sql`NOT ${keyAfter(spec.key, scope.hi)}`);
  return parts.length > 0 ? join(parts, ' AND ') : sql`TRUE`;
}

/**
 * "The row's owner cannot be found on this server" (a parent on the path is missing), columns bare; a
 * shared table's row: no row of the parent whose owner can be found refers to it.
 */
function unreached(spec: RowSpec): Sql {
  if (!isShared(spec)) return sql`${ownerOfRow(spec, null)} IS NULL`;
  const l = spec.via![0]!;
  return sql`NOT EXISTS (SELECT 1 FROM ${ident(l.parent)} fw_r WHERE fw_r.${ident(l.parentKey.name)} = ${ident(spec.name)}.${ident(l.column.name)} AND ${ownerOfRow(
    parentSpec(spec),
    'fw_r',
  )} IS NOT NULL)`;
}

/** Keys of the rows in the scope whose owner cannot be found on this server (a parent on the path is missing). */
export function strayKeysSql(spec: RowSpec, scope: RowScope): Sql {
  return sql`SELECT ${keyColumns(spec)} FROM ${ident(spec.name)} WHERE ${scopeKeys(spec, scope)} AND ${unreached(spec)}`;
}

/** Delete the rows in the scope whose owner cannot be found on this server, but those with the keys in `except`. */
export function deleteStraysSql(spec: RowSpec, scope: RowScope, except: readonly KeyTuple[]): Sql {
  const keep = except.length > 0 ? sql` AND NOT ${keyIn(chunkKey(spec), except)}` : sql``;
  return sql`DELETE FROM ${ident(spec.name)} WHERE ${scopeKeys(spec, scope)} AND ${unreached(spec)}${keep}`;
}

/** The values of one column of the user's rows in (lo, hi] (the parent keys a range write is about to replace). */
export function columnInRange(spec: RowSpec, col: ColumnInfo, userId: string, lo: KeyTuple | null, hi: KeyTuple | null): Sql {
  return sql`SELECT ${ident(col.name)} FROM ${ident(spec.name)} WHERE ${rangeCondition(spec, userId, lo, hi)}`;
}

/** The values of one column of the user's rows with these keys. */
export function columnOfKeys(spec: RowSpec, col: ColumnInfo, userId: string, tuples: readonly KeyTuple[]): Sql {
  return sql`SELECT ${ident(col.name)} FROM ${ident(spec.name)} WHERE ${userKeysCondition(spec, userId, tuples)}`;
}

/**
 * Rows of a table owned through a parent that hang off these parent keys but are no longer the
 * user's: a write took their parent row away from the user (deleted it, or gave it to another owner).
 * They were the user's (their parent was), so on a target they are the user's leftovers. `what`:
 * the columns to read (SELECT), or null for the DELETE.
 */
export function strandedSql(child: RowSpec, parentKeys: readonly Buffer[], userId: string, what: ColumnInfo | null): Sql {
  const link = child.via?.[0];
  if (!link) throw new Error(`table ${child.name} is not owned through a parent`);
  const hanging = sql`${ident(link.column.name)} IN (${join(parentKeys.map((v) => boundLiteral(link.parentKey, v)))})`;
  // A shared row is stranded once no row of the parent refers to it at all (the user's other rows may).
  const gone = isShared(child)
    ? sql`NOT EXISTS (SELECT 1 FROM ${ident(link.parent)} fw_r WHERE fw_r.${ident(link.parentKey.name)} = ${ident(child.name)}.${ident(link.column.name)})`
    : sql`NOT (${ownerCondition(child, userId)})`;
  const where = sql`${hanging} AND ${gone}`;
  return what ? sql`SELECT ${ident(what.name)} FROM ${ident(child.name)} WHERE ${where}` : sql`DELETE FROM ${ident(child.name)} WHERE ${where}`;
}

/** Delete the user's rows with exactly these keys (delta repair; the orphan cleanup, by key only, never by range). */
export function deleteByKeys(spec: RowSpec, userId: string, tuples: readonly KeyTuple[]): Sql {
  return sql`DELETE FROM ${ident(spec.name)} WHERE ${userKeysCondition(spec, userId, tuples)}${keptForOthers(spec, userId)}`;
}

/** Keys of the user's rows in (lo, hi] that a delete would take: of a shared table, those no other owner's row refers to. */
export function deletableKeysSql(spec: RowSpec, userId: string, lo: KeyTuple | null, hi: KeyTuple | null): Sql {
  return sql`SELECT ${keyColumns(spec)} FROM ${ident(spec.name)} WHERE ${rangeCondition(spec, userId, lo, hi)}${keptForOthers(spec, userId)}`;
}

/**
 * How many rows deleteByKeys (`keys`) or deleteRange (lo, hi] would delete, locked: for a shared table,
 * fewer than the user's rows there (rows others refer to stay), which the cleanup's exact count needs.
 */
export function countDeletableSql(spec: RowSpec, userId: string, scope: RowScope): Sql {
  const where = 'keys' in scope ? userKeysCondition(spec, userId, scope.keys) : rangeCondition(spec, userId, scope.lo, scope.hi);
  return sql`SELECT COUNT(*) AS n FROM ${ident(spec.name)} WHERE ${where}${keptForOthers(spec, userId)} FOR UPDATE`;
}

/**
 * Delete the user's rows in (lo, hi]. A range delete goes through the owner index when there is one:
 * left to itself, the optimizer takes the primary key's range (lo, hi], or the whole table, for a user
 * with many rows, which reads, and under REPEATABLE READ locks, every other user's rows among the
 * user's keys (the app's writes of those users would wait for the cleanup). Index hints
 * need the multiple-table form of DELETE (MySQL 8 and MariaDB alike), which has no LIMIT.
 */
export function deleteRange(spec: RowSpec, userId: string, lo: KeyTuple | null, hi: KeyTuple | null, limit?: number): Sql {
  const t = ident(spec.name);
  const where = sql`${rangeCondition(spec, userId, lo, hi)}${keptForOthers(spec, userId)}`;
  if (limit !== undefined) return sql`DELETE FROM ${t} WHERE ${where} LIMIT ${limit}`;
  if (spec.ownerIndex) return sql`DELETE ${t} FROM ${t} FORCE INDEX (${ident(spec.ownerIndex)}) WHERE ${where}`;
  return sql`DELETE FROM ${t} WHERE ${where}`;
}

/**
 * The next chunk after `lo` as [key columns..., row length, tsvLine] per row, in key order; with a
 * 'crc-mul' range hash also the row's term of it (rowHashTerm, decimal digits), so that the client sums
 * the chunk's range hash from the read itself (no second read of the rows on either server).
 */
export function selectChunkTsv(spec: RowSpec, userId: string, lo: KeyTuple | null, limit: number): Sql {
  const term = rowHashTerm(spec);
  return selectUserRows(spec, sql`${keyColumns(spec)}, ${rowLength(spec)}, ${tsvLine(spec)}${term ? sql`, ${term}` : sql``}`, userId, lo, null, { limit });
}

/**
 * Count and order-independent 64-bit hash sum of the user's rows in (lo, hi]. SUM (a DECIMAL, never
 * overflowing) rather than BIT_XOR, so duplicate rows of a keyless table do not cancel out.
 */
export function hashRange(spec: RowSpec, userId: string, lo: KeyTuple | null, hi: KeyTuple | null, forUpdate = false): Sql {
  // Locking, it goes through the owner index, so that it locks the user's rows only (see deleteRange).
  const via = forUpdate && spec.ownerIndex ? sql` FORCE INDEX (${ident(spec.ownerIndex)})` : sql``;
  return sql`SELECT COUNT(*) AS n, COALESCE(SUM(IFNULL(${rowHash64(spec)}, ${raw(UNHASHABLE_ROW.toString())})), 0) AS h FROM ${ident(spec.name)}${via} WHERE ${rangeCondition(
    spec,
    userId,
    lo,
    hi,
  )}${forUpdate ? raw(' FOR UPDATE') : raw('')}`;
}

/** Key columns plus a per-row hash, for drilling down into a mismatched range. */
export function rowHashes(spec: RowSpec, userId: string, lo: KeyTuple | null, hi: KeyTuple | null): Sql {
  const keyCols = spec.key ? spec.key.map((c) => sql`${ident(c.name)}`) : [];
  return selectUserRows(spec, join([...keyCols, sql`MD5(${rowImage(spec)})`]), userId, lo, hi);
}

/** Key columns and the row hash of the user's next `limit` rows after `lo` (a shared table's identity check). */
export function rowHashesChunk(spec: RowSpec, userId: string, lo: KeyTuple | null, limit: number): Sql {
  return selectUserRows(spec, join([...chunkKey(spec).map((c) => sql`${ident(c.name)}`), sql`MD5(${rowImage(spec)})`]), userId, lo, null, { limit });
}

/**
 * Key columns and the row hash of a shared table's rows with these keys that are not the user's alone
 * (another owner's row refers to them, or none does): on a target, rows a move must not rewrite, only
 * find equal. The user's alone are its own earlier copies (an undo finds them on the old shard).
 */
export function sharedHashesKeptSql(spec: RowSpec, userId: string, keys: readonly KeyTuple[]): Sql {
  const key = chunkKey(spec);
  return sql`SELECT ${join([...key.map((c) => sql`${ident(c.name)}`), sql`MD5(${rowImage(spec)})`])} FROM ${ident(spec.name)}
             WHERE ${keyIn(key, keys)} AND NOT (${ownerCondition(spec, userId)}${keptForOthers(spec, userId)})`;
}

/** Which of these key tuples exist on the server under an owner other than the user (collisions). */
export function foreignKeysIn(spec: RowSpec, keyCols: readonly ColumnInfo[], userId: string, tuples: readonly KeyTuple[]): Sql {
  const match = keyAlternatives(keyCols, tuples);
  const owner = ownerOfRow(spec, null);
  return sql`SELECT ${join(keyCols.map((c) => ident(c.name)))}, ${owner} FROM ${ident(spec.name)}
             WHERE (${match}) AND NOT (${owner} <=> ${ownerLiteral(spec.owner, userId)}) LIMIT 20`;
}

/** Keys of the user's rows whose `cols` equal one of `tuples` (child rows a foreign key's cascade reached: src/move/cascades.ts). */
export function userKeysWhereColumnsIn(spec: RowSpec, cols: readonly ColumnInfo[], userId: string, tuples: readonly KeyTuple[]): Sql {
  return sql`SELECT ${keyColumns(spec)} FROM ${ident(spec.name)}
             WHERE ${ownerCondition(spec, userId)} AND (${keyAlternatives(cols, tuples)})`;
}

/**
 * Keys of the user's rows of `child` whose foreign key (`cols`, all non-NULL) references no row of the
 * user in `parent` (`refCols`): rows that hang off another user's row (cascades.ts, foreignParented).
 */
export function foreignParentedKeysSql(
  child: RowSpec,
  cols: readonly ColumnInfo[],
  parent: Pick<RowSpec, 'name' | 'owner' | 'via'>,
  refCols: readonly ColumnInfo[],
  userId: string,
  limit: number,
): Sql {
  const c = (x: ColumnInfo) => sql`c.${ident(x.name)}`;
  const match = join(
    refCols.map((r, i) => sql`p.${ident(r.name)} = ${c(cols[i]!)}`),
    ' AND ',
  );
  return sql`SELECT ${join(chunkKey(child).map(c))} FROM ${ident(child.name)} c
             WHERE ${ownerCondition(child, userId, 'c')} AND ${join(
               cols.map((x) => sql`${c(x)} IS NOT NULL`),
               ' AND ',
             )}
               AND NOT EXISTS (SELECT 1 FROM ${ident(parent.name)} p WHERE ${match} AND ${ownerCondition(parent, userId, 'p')})
             LIMIT ${limit}`;
}

/** The key, then the values of `cols`, of the user's rows with these keys. */
export function columnsOfKeys(spec: RowSpec, cols: readonly ColumnInfo[], userId: string, keys: readonly KeyTuple[]): Sql {
  return sql`SELECT ${join([...chunkKey(spec), ...cols].map((c) => ident(c.name)))} FROM ${ident(spec.name)} WHERE ${userKeysCondition(spec, userId, keys)}`;
}

/** The user's values of an arbitrary column list after `lo` in chunk-key order (collision checks on unique keys). */
export function selectColumnsChunk(spec: RowSpec, cols: readonly ColumnInfo[], userId: string, lo: KeyTuple | null, limit: number): Sql {
  return selectUserRows(spec, join([...cols, ...(spec.key ?? [])].map((c) => ident(c.name))), userId, lo, null, { limit });
}

export function countUserRows(spec: Pick<RowSpec, 'name' | 'owner' | 'via'>, userId: string): Sql {
  return sql`SELECT COUNT(*) AS n FROM ${ident(spec.name)} WHERE ${ownerCondition(spec, userId)}`;
}

/** Exact bytes of the user's rows (sum of column lengths), for the plan's size column. */
export function userBytes(spec: RowSpec, userId: string): Sql {
  const lengths = rowLength(spec);
  return sql`SELECT COUNT(*) AS n, COALESCE(SUM(${lengths}), 0) AS b FROM ${ident(spec.name)} WHERE ${ownerCondition(spec, userId)}`;
}

/** Row count and exact bytes (sum of column lengths, as `userBytes`) of every owner of one table. */
export function userSizesSql(spec: RowSpec): Sql {
  const lengths = rowLength(spec);
  if ((spec.via ?? []).length === 0) {
    const owner = ident(spec.owner.name);
    return sql`SELECT CAST(${owner} AS CHAR) AS owner, COUNT(*) AS n, COALESCE(SUM(${lengths}), 0) AS b FROM ${ident(spec.name)} GROUP BY ${owner}`;
  }
  if (isShared(spec)) {
    // A shared row counts for every owner whose rows refer to it (what a move of each would copy), once
    // per owner: the distinct (owner, value) pairs of the referrer, joined with the rows.
    const l = spec.via![0]!;
    return sql`SELECT CAST(fw_refs.o AS CHAR) AS owner, COUNT(*) AS n, COALESCE(SUM(fw_rows.b), 0) AS b
               FROM (SELECT DISTINCT ${ownerOfRow(parentSpec(spec), 'fw_r')} AS o, fw_r.${ident(l.parentKey.name)} AS k FROM ${ident(l.parent)} fw_r) fw_refs
               JOIN (SELECT ${ident(l.column.name)} AS k, ${lengths} AS b FROM ${ident(spec.name)}) fw_rows ON fw_rows.k = fw_refs.k
               GROUP BY fw_refs.o`;
  }
  // Owned through a parent: each row's owner looked up along the path (NULL: a row whose parent is gone).
  return sql`SELECT CAST(o AS CHAR) AS owner, COUNT(*) AS n, COALESCE(SUM(b), 0) AS b FROM (SELECT ${ownerOfRow(spec, null)} AS o, ${lengths} AS b FROM ${ident(
    spec.name,
  )}) fw_rows GROUP BY o`;
}

/**
 * Rows per owner of one table, counted from an index where there is one (the owner index, the link
 * column's of a table owned through a parent, the referrer's of a shared table): what a plan estimates
 * sizes from (`plan` without --exact). No value is read; bytes come from the table's statistics.
 */
export function userCountsSql(spec: RowSpec): Sql {
  if (isShared(spec)) {
    const l = spec.via![0]!;
    return sql`SELECT CAST(fw_refs.o AS CHAR) AS owner, COUNT(*) AS n
               FROM (SELECT DISTINCT ${ownerOfRow(parentSpec(spec), 'fw_r')} AS o, fw_r.${ident(l.parentKey.name)} AS k FROM ${ident(l.parent)} fw_r) fw_refs
               GROUP BY fw_refs.o`;
  }
  if ((spec.via ?? []).length === 0) {
    const owner = ident(spec.owner.name);
    return sql`SELECT CAST(${owner} AS CHAR) AS owner, COUNT(*) AS n FROM ${ident(spec.name)} GROUP BY ${owner}`;
  }
  return sql`SELECT CAST(o AS CHAR) AS owner, COUNT(*) AS n FROM (SELECT ${ownerOfRow(spec, null)} AS o FROM ${ident(spec.name)}) fw_rows GROUP BY o`;
}

/** Every row of a table, counted (status --exact). */
export const countTableSql = (table: string) => sql`SELECT COUNT(*) AS n FROM ${ident(table)}`;

// ------------------------------------------------------------------------------------------------
// The orphan cleanup: re-hash a stray shard's rows by key under a lock, then delete those still
// identical; an orphan row is deleted only by its key (or, keyless, by its full-row hash), never by a range.

/** Key columns and the row hash of the user's rows with these keys (locked until the transaction ends with `forUpdate`). */
export function rowHashesByKeys(spec: RowSpec, userId: string, keys: readonly KeyTuple[], forUpdate: boolean): Sql {
  const keyCols = chunkKey(spec).map((c) => sql`${ident(c.name)}`);
  return sql`SELECT ${join([...keyCols, sql`MD5(${rowImage(spec)})`])} FROM ${ident(spec.name)}
             WHERE ${ownerCondition(spec, userId)} AND ${keyIn(chunkKey(spec), keys)}${forUpdate ? sql` FOR UPDATE` : sql``}`;
}

/** Keyless tables: delete at most `limit` of the user's rows whose full-row hash is `md5` (hex). */
export function deleteKeylessByHashSql(spec: RowSpec, userId: string, md5: string, limit: number): Sql {
  if (!/^[0-9a-f]{32}$/.test(md5)) throw new Error(`not an MD5 hex digest: ${md5}`);
  return sql`DELETE FROM ${ident(spec.name)} WHERE ${ownerCondition(spec, userId)} AND MD5(${rowImage(spec)}) = ${md5} LIMIT ${limit}`;
}

/** Keyless tables: how many of the user's rows hash to `md5`, locked. */
export function countKeylessByHashForUpdateSql(spec: RowSpec, userId: string, md5: string): Sql {
  if (!/^[0-9a-f]{32}$/.test(md5)) throw new Error(`not an MD5 hex digest: ${md5}`);
  return sql`SELECT COUNT(*) AS n FROM ${ident(spec.name)} WHERE ${ownerCondition(spec, userId)} AND MD5(${rowImage(spec)}) = ${md5} FOR UPDATE`;
}

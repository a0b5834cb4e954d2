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
 */
import type { ColumnInfo } from './schema.js';
import { ident, join, NumericLiteral, quoteString, raw, sql, toBinary, type BinaryStatement, type RawValue, type Sql } from './fragment.js';

export interface RowSpec {
  name: string;
  columns: readonly ColumnInfo[];
  /** The owner column: of this table, or, for a table owned through a parent (`via`), of the path's last table. */
  owner: ColumnInfo;
  /**
   * Owned through a parent (tables.through, src/move/owner-paths.ts): the table has no owner column, and
   * a row is the user's when `via[0].column` equals the key of one of the user's rows of `via[0].parent`,
   * which may itself be owned through `via[1]`, and so on. Unset or empty: `owner` is this table's column.
   */
  via?: readonly OwnerLink[];
  /**
   * The tables owned through this one (their via[0].parent is this table): on a target, a write that
   * takes a parent row away from the user takes the rows hanging off it too (Applier, strandedSql).
   */
  children?: readonly RowSpec[];
  key: readonly ColumnInfo[] | null;
  /**
   * An index that serves `owner = ? AND key in (lo, hi]` as one range (table-plan.ts), when there is
   * one: range deletes are made to use it (see deleteRange).
   */
  ownerIndex?: string | null;
  /** Unique keys without the owner column (their values could belong to another owner), when known. */
  collisionKeys?: readonly { columns: readonly string[] }[];
  /** How range hashes (hashRange) are computed; the move journals it (see RowHash). Unset: 'md5-text'. */
  rowHash?: RowHash;
}

/**
 * The function of a range hash (hashRange), fixed for a move when it starts and kept in its journal,
 * since its range records are compared with fresh hashes until its cleanup ends:
 *  - 'crc-mul': the product of the row's CRC32 and CRC32C (of its bytes, rowImage), below 2^64:
 *    MariaDB ≥ 10.8 on both servers (CRC32C). The CRCs read the bytes at a fraction of MD5's cost (MD5's
 *    cost is mostly per call, whatever the input's length: measured in bench/SPEED.md). Their product,
 *    not the two side by side: CRCs are XOR-linear, so the same edit of two rows (one column set to one
 *    value) changes both rows' CRCs by the same mask, and summed side by side they cancel out far more
 *    often than 2^-64 (test/integration/row-hash.test.ts has such a pair); the product's change depends
 *    on the CRCs' values too, and the sum, a DECIMAL, never wraps. An adversarial review (scaled-down
 *    CRCs, exact probabilities and simulations) put a changed range that sums as unchanged at ~2^-62
 *    for the same edit of several rows and ~2^-59 for a row replaced by another (products of two 32-bit
 *    numbers are unevenly spread), against 2^-64 for MD5 prefixes. Never multiply the pair by a constant
 *    modulo 2^64 instead: that is linear again.
 *  - 'crc64': CRC32 and CRC32C of the same bytes side by side (CRC32 << 32 | CRC32C): the moves
 *    journaled by the release before 'crc-mul' (weak as said above), which keep it to the end; never
 *    chosen for a new move.
 *  - 'md5': the first 64 bits of the MD5 of the row's bytes: MySQL, and MariaDB before 10.8.
 *  - 'md5-text': as 'md5', of an image whose text values the server converted to one character set
 *    (image with asText): the moves journaled by fw-shard before the others, which keep it to the end.
 */
export type RowHash = 'crc-mul' | 'crc64' | 'md5' | 'md5-text';
export const ROW_HASHES: readonly RowHash[] = ['crc-mul', 'crc64', 'md5', 'md5-text'];

/** Whether the servers must have CRC32C (MariaDB ≥ 10.8) to compute this range hash. */
export const needsCrc32c = (h: RowHash): boolean => h === 'crc-mul' || h === 'crc64';

/** The range hash both servers can compute, from their VERSION(): CRC32C came with MariaDB 10.8. */
export function chooseRowHash(...versions: readonly string[]): RowHash {
  const crc32c = (v: string) => {
    const m = /^(\d+)\.(\d+)/.exec(v);
    return /mariadb/i.test(v) && m !== null && (Number(m[1]) > 10 || (Number(m[1]) === 10 && Number(m[2]) >= 8));
  };
  return versions.every(crc32c) ? 'crc-mul' : 'md5';
}

/** A key tuple as raw bytes (one Buffer per key column). */
export type KeyTuple = readonly Buffer[];

const NUMERIC = new Set(['tinyint', 'smallint', 'mediumint', 'int', 'integer', 'bigint', 'decimal', 'numeric', 'year']);
const FLOATING = new Set(['float', 'double', 'real']);

/** The expression a column is read (and hashed) through. */
export function readExpr(c: ColumnInfo): Sql {
  return FLOATING.has(c.dataType) ? sql`CAST(${ident(c.name)} AS DOUBLE)` : sql`${ident(c.name)}`;
}

/** A literal for comparing against column `c`, from the raw bytes the server sent for it. */
export function boundLiteral(c: ColumnInfo, bytes: Buffer): Sql {
  if (NUMERIC.has(c.dataType)) return sql`${new NumericLiteral(bytes.toString('latin1'))}`;
  if (c.charset && c.collation) {
    return sql`CONVERT(${bytes} USING ${raw(safeName(c.charset))}) COLLATE ${raw(safeName(c.collation))}`;
  }
  return sql`${bytes}`;
}

/** One step of an ownership path: this table's `column` holds `parentKey` (unique there) of a row of `parent`. */
export interface OwnerLink {
  column: ColumnInfo;
  parent: string;
  parentKey: ColumnInfo;
  /**
   * A shared table's link (tables.shared, only ever via[0]): `parentKey` is not unique, several rows of
   * the parent, of several owners, refer to one row here. The row is the user's to copy when one of the
   * user's parent rows refers to it; it is deleted only where no other owner's row does (otherRefersSql).
   */
  shared?: boolean;
}

/** A shared table (tables.shared): its rows are reached by several owners' rows (OwnerLink.shared). */
export const isShared = (spec: Pick<RowSpec, 'via'>): boolean => spec.via?.[0]?.shared === true;

/** The spec of a path's first parent (its link and the rest of the path): the referrer of a shared table. */
export function parentSpec(spec: Pick<RowSpec, 'name' | 'owner' | 'via'>): Pick<RowSpec, 'name' | 'owner' | 'via'> {
  const via = spec.via ?? [];
  return { name: via[0]!.parent, owner: spec.owner, via: via.slice(1) };
}

/**
 * A shared table's rows (columns qualified by the table's name) are kept on this server when a row of
 * the parent that is not the user's refers to them: `AND` this onto every delete of the user's rows.
 * `IS NOT TRUE`: a referrer whose own owner cannot be found (NULL) counts as another's. Empty for
 * tables that are not shared.
 */
function keptForOthers(spec: Pick<RowSpec, 'name' | 'owner' | 'via'>, userId: string): Sql {
  if (!isShared(spec)) return sql``;
  const l = spec.via![0]!;
  return sql` AND NOT EXISTS (SELECT 1 FROM ${ident(l.parent)} fw_r WHERE fw_r.${ident(l.parentKey.name)} = ${ident(spec.name)}.${ident(l.column.name)} AND (${ownerCondition(
    parentSpec(spec),
    userId,
    'fw_r',
  )}) IS NOT TRUE)`;
}

/**
 * "The row is the user's", for the table's own rows (columns unqualified): `owner = user`, or, owned
 * through a parent, `column IN (SELECT key FROM parent WHERE <the parent's condition>)`, nested along
 * the path. The subqueries read the parents through their keys and owner indexes (preflight requires
 * an index starting with each link column and with the root's owner column).
 */
export function ownerCondition(spec: Pick<RowSpec, 'name' | 'owner' | 'via'>, userId: string, alias: string | null = null): Sql {
  const via = spec.via ?? [];
  const at = (i: number, q: string | null): Sql => {
    // Owned through a parent, the table's own columns are qualified by its name: inside the lookups a
    // bare name could be a parent's column.
    const col = (name: string) => (q !== null ? sql`${raw(q)}.${ident(name)}` : via.length > 0 ? sql`${ident(spec.name)}.${ident(name)}` : sql`${ident(name)}`);
    if (i === via.length) return sql`${col(spec.owner.name)} = ${ownerLiteral(spec.owner, userId)}`;
    const l = via[i]!;
    const p = `fw_p${i + 1}`;
    return sql`${col(l.column.name)} IN (SELECT ${raw(p)}.${ident(l.parentKey.name)} FROM ${ident(l.parent)} ${raw(p)} WHERE ${at(i + 1, p)})`;
  };
  return at(0, alias);
}

/**
 * The owner of one row, as a scalar: the owner column itself, or the lookup along the path, innermost
 * first (NULL when a parent is missing: the row is nobody's). `row` qualifies the table's own columns
 * (a trigger's NEW/OLD, or an alias); null leaves them bare.
 */
export function ownerOfRow(spec: Pick<RowSpec, 'name' | 'owner' | 'via'>, row: string | null): Sql {
  const via = spec.via ?? [];
  if (via.length === 0) return row === null ? sql`${ident(spec.owner.name)}` : sql`${raw(row)}.${ident(spec.owner.name)}`;
  // Qualified even bare (by the table's name): inside the lookups a bare name could be a parent's column.
  const own = (name: string): Sql => (row === null ? sql`${ident(spec.name)}.${ident(name)}` : sql`${raw(row)}.${ident(name)}`);
  let v: Sql = own(via[0]!.column.name);
  via.forEach((l, i) => {
    const p = `fw_o${i + 1}`;
    const pick = i + 1 < via.length ? via[i + 1]!.column.name : spec.owner.name;
    v = sql`(SELECT ${raw(p)}.${ident(pick)} FROM ${ident(l.parent)} ${raw(p)} WHERE ${raw(p)}.${ident(l.parentKey.name)} = ${v})`;
  });
  return v;
}

/** The owner value (user id digits) as a literal fitting the owner column's type. */
export function ownerLiteral(c: ColumnInfo, userId: string): Sql {
  return NUMERIC.has(c.dataType) ? sql`${new NumericLiteral(userId)}` : sql`${userId}`;
}

function safeName(s: string): string {
  if (!/^[A-Za-z0-9_]+$/.test(s)) throw new Error(`unexpected charset or collation name ${s}`);
  return s;
}

/** `key > tuple`, expanded (row-constructor comparisons do not use indexes on every server). */
export function keyAfter(key: readonly ColumnInfo[], tuple: KeyTuple): Sql {
  const build = (i: number): Sql => {
    const c = key[i]!;
    const v = boundLiteral(c, tuple[i]!);
    if (i === key.length - 1) return sql`${ident(c.name)} > ${v}`;
    return sql`(${ident(c.name)} > ${v} OR (${ident(c.name)} = ${v} AND ${build(i + 1)}))`;
  };
  return build(0);
}

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
 * Multi-row INSERTs of raw rows, split so no statement exceeds `maxBytes` of values. Values are sent as
 * quoted byte strings on the binary connection: the server converts them to each column's type exactly
 * as it would text from mysqldump, without any charset conversion.
 */
export function insertRows(spec: RowSpec, rows: readonly RawValue[][], maxBytes: number): BinaryStatement[] {
  // The hot path of the copy: built straight into the wire form, one pass, no per-value objects.
  // A shared row already there (another owner's rows refer to it) is the same row: kept, not a collision.
  const head = toBinary(
    sql`INSERT${isShared(spec) ? raw(' IGNORE') : raw('')} INTO ${ident(spec.name)} (${join(spec.columns.map((c) => ident(c.name)))}) VALUES `,
  );
  const plain = spec.columns.map((c) => FIXED_TEXT.has(c.dataType)); // digits and dates: nothing to escape
  const out: BinaryStatement[] = [];
  let cur = head;
  let any = false;
  for (const row of rows) {
    let r = any ? ',(' : '(';
    for (let i = 0; i < row.length; i++) {
      const v = row[i];
      if (i > 0) r += ',';
      if (v === null || v === undefined) r += 'NULL';
      else if (plain[i]) r += "'" + v.toString('latin1') + "'";
      else r += quoteString(v.toString('latin1'));
    }
    r += ')';
    // Flush before a row that would cross the limit, so a big row travels alone rather than on top
    // of others (a statement holds more than maxBytes only when one row does).
    if (any && cur.length + r.length > maxBytes) {
      out.push({ binary: cur });
      cur = head;
      r = '(' + r.slice(2);
    }
    cur += r;
    any = true;
  }
  if (any) out.push({ binary: cur });
  return out;
}

/**
 * LOAD DATA LOCAL INFILE of raw rows: the fastest way into InnoDB (no SQL to parse per value). The data
 * is sent with CHARACTER SET binary, so no byte is transcoded; NULL is \N; tab, newline, backslash and
 * NUL are escaped. Servers that refuse LOCAL INFILE get multi-row INSERTs instead (the Applier, src/move/applier.ts).
 */
export function loadDataSql(spec: RowSpec): Sql {
  return sql`LOAD DATA LOCAL INFILE 'fw-shard-rows' INTO TABLE ${ident(spec.name)} CHARACTER SET binary FIELDS TERMINATED BY '\\t' ESCAPED BY '\\\\' LINES TERMINATED BY '\\n' (${join(
    spec.columns.map((c) => ident(c.name)),
  )})`;
}

/** The byte after the backslash for each byte LOAD DATA input must escape (NUL, tab, newline, backslash). */
const TSV_ESCAPE = new Map<number, number>([
  [0x00, 0x30],
  [0x09, 0x74],
  [0x0a, 0x6e],
  [0x5c, 0x5c],
]);
const NULL_FIELD = Buffer.from('\\N', 'latin1');

/**
 * The rows as LOAD DATA input (see loadDataSql), byte for byte: no value becomes a string (a value of
 * 32 MB stays a Buffer, copied once into the output).
 */
export function encodeRowsTsv(spec: RowSpec, rows: readonly RawValue[][]): Buffer {
  const plain = spec.columns.map((c) => FIXED_TEXT.has(c.dataType));
  // First the size: every value, its escapes, a separator or newline after each.
  let size = 0;
  for (const row of rows) {
    for (let i = 0; i < row.length; i++) {
      const v = row[i];
      size += 1 + (v === null || v === undefined ? NULL_FIELD.length : v.length + (plain[i] ? 0 : escapes(v)));
    }
  }
  const out = Buffer.allocUnsafe(size);
  let at = 0;
  for (const row of rows) {
    for (let i = 0; i < row.length; i++) {
      const v = row[i];
      if (v === null || v === undefined) at += NULL_FIELD.copy(out, at);
      else if (plain[i] || escapes(v) === 0) at += v.copy(out, at);
      else {
        for (let k = 0; k < v.length; k++) {
          const b = v[k]!;
          const e = TSV_ESCAPE.get(b);
          if (e === undefined) out[at++] = b;
          else {
            out[at++] = 0x5c;
            out[at++] = e;
          }
        }
      }
      out[at++] = i === row.length - 1 ? 0x0a : 0x09;
    }
  }
  return out;
}

/** How many bytes of `v` LOAD DATA input must escape. */
function escapes(v: Buffer): number {
  let n = 0;
  for (let k = 0; k < v.length; k++) {
    const b = v[k]!;
    if (b === 0x00 || b === 0x09 || b === 0x0a || b === 0x5c) n++;
  }
  return n;
}

/**
 * One row as a line of LOAD DATA input (see loadDataSql), built by the server: every column read
 * through readExpr, then, for types whose text can hold them, backslash, NUL, tab and newline escaped
 * (byte for byte: binary strings, so no charset is involved), NULL as \N, fields joined by tab, a
 * newline at the end. The same bytes encodeRowsTsv makes from the raw row, without any per-field work
 * in JavaScript. NULL for a row with a value longer than LINE_VALUE_MAX: the server's REPLACE moves
 * the rest of the value at every byte it escapes, so long values are escaped by the client instead
 * (the caller reads those rows raw).
 */
export function tsvLine(spec: RowSpec): Sql {
  const escaped = spec.columns.filter((c) => !FIXED_TEXT.has(c.dataType));
  const field = (c: ColumnInfo) => {
    const v = readExpr(c);
    const text = FIXED_TEXT.has(c.dataType)
      ? v
      : sql`REPLACE(REPLACE(REPLACE(REPLACE(CAST(${v} AS BINARY), X'5C', X'5C5C'), X'00', X'5C30'), X'09', X'5C74'), X'0A', X'5C6E')`;
    return c.nullable ? sql`IFNULL(${text}, X'5C4E')` : text;
  };
  const line = sql`CONCAT(CONCAT_WS(X'09', ${join(spec.columns.map(field))}), X'0A')`;
  if (escaped.length === 0) return line;
  const longest = escaped.length === 1 ? valueLength(escaped[0]!) : sql`GREATEST(${join(escaped.map(valueLength))})`;
  return sql`IF(${longest} > ${new NumericLiteral(String(LINE_VALUE_MAX))}, NULL, ${line})`;
}

/** Values longer than this are escaped by the client (see tsvLine). */
export const LINE_VALUE_MAX = 8192;

const valueLength = (c: ColumnInfo) => sql`IFNULL(LENGTH(${ident(c.name)}), 0)`;

/** Bytes of the row's values (the sum of their lengths): the plan's sizes and the copy's byte budget. */
function rowLength(spec: RowSpec): Sql {
  return join(spec.columns.map(valueLength), ' + ');
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
 * The row's term of a 'crc-mul' range hash (what hashRange sums for it): below 2^64, NULL when the row
 * cannot be hashed (its image is longer than max_allowed_packet; it counts UNHASHABLE_ROW there). Null
 * for the other kinds: only 'crc-mul' moves read it with the copy.
 */
export function rowHashTerm(spec: RowSpec): Sql | null {
  if (spec.rowHash !== 'crc-mul') return null;
  const image = rowImage(spec);
  return sql`(CRC32(${image}) * CRC32C(${image}))`;
}

/**
 * Per-row hash input, injective: the ISNULL bitmap of the nullable columns, the lengths of the values
 * that may contain the separator, then every value, so NULL, '' and 0 differ. Text values as their bytes
 * (CAST AS BINARY): never converted to another character set, which costs server CPU and is not
 * injective (latin1's undefined bytes all become '?' in utf8).
 */
export function rowImage(spec: RowSpec): Sql {
  return image(spec, false);
}

/**
 * The image of rowImage, or (`asText`) that of the 'md5-text' range hash (moves journaled before the
 * others): every column in the bitmap, every length through IFNULL, and text values as read, which the
 * server converts to one character set.
 */
function image(spec: RowSpec, asText: boolean): Sql {
  const exprs = spec.columns.map((c) => (asText || FIXED_TEXT.has(c.dataType) ? readExpr(c) : sql`CAST(${ident(c.name)} AS BINARY)`));
  const flagged = asText ? spec.columns : spec.columns.filter((c) => c.nullable);
  const nulls = flagged.length
    ? [
        sql`CONCAT(${join(
          flagged.map((c) => sql`ISNULL(${ident(c.name)})`),
          ', ',
        )})`,
      ]
    : [];
  const lengths = spec.columns.filter((c) => !FIXED_TEXT.has(c.dataType)).map((c) => (asText || c.nullable ? valueLength(c) : sql`LENGTH(${ident(c.name)})`));
  const lengthPart = lengths.length ? [sql`CONCAT_WS(_binary ',', ${join(lengths, ', ')})`] : [];
  return sql`CONCAT_WS(_binary 0x1f, ${join([...nulls, ...lengthPart, ...exprs], ', ')})`;
}

/** Types whose text form never contains the 0x1f separator. */
const FIXED_TEXT = new Set([...NUMERIC, ...FLOATING, 'date', 'datetime', 'timestamp', 'time']);

/** The row's 64-bit hash as an unsigned integer (NULL when its image is longer than max_allowed_packet). */
function rowHash64(spec: RowSpec): Sql {
  switch (spec.rowHash ?? 'md5-text') {
    case 'crc-mul':
      return rowHashTerm(spec)!;
    case 'crc64': {
      const image = rowImage(spec);
      return sql`((CRC32(${image}) << 32) | CRC32C(${image}))`;
    }
    case 'md5':
      return sql`CAST(CONV(LEFT(MD5(${rowImage(spec)}), 16), 16, 10) AS UNSIGNED)`;
    case 'md5-text':
      return sql`CAST(CONV(LEFT(MD5(${image(spec, true)}), 16), 16, 10) AS UNSIGNED)`;
  }
}

/**
 * What a row the server cannot hash adds to a range's hash sum: 2^96. Its image is longer than the
 * server's max_allowed_packet, so CONCAT_WS gives NULL (warning 1301) and SUM would silently leave the
 * row out, on both servers alike. 2^96 is more than any sum of real 64-bit hashes of fewer than 2^32 rows,
 * so a sum at or above it says that the range holds such a row (see isUnhashable).
 */
export const UNHASHABLE_ROW = 2n ** 96n;
export const isUnhashable = (hashSum: string): boolean => /^[0-9]+$/.test(hashSum) && BigInt(hashSum) >= UNHASHABLE_ROW;

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

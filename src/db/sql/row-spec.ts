/**
 * What a row spec is (RowSpec: a table's columns, key and owner, or its path to one) and whose a row is:
 * the owner condition along a path (ownerCondition), the owner of one row (ownerOfRow), what a delete of
 * a shared table keeps (keptForOthers), and the literals every bound and owner is compared with.
 * src/db/sql/rows.ts builds the statements on these, and re-exports them.
 *
 * Invariants:
 *  - every column is read in a form that writes back to the same bits: FLOAT/DOUBLE through
 *    CAST(.. AS DOUBLE) (MariaDB prints FLOAT with 6 digits, which does not round-trip), all else as
 *    the server's text/bytes on a binary connection;
 *  - key bounds on numeric columns are unquoted numeric literals (a quoted string makes the server
 *    compare as DOUBLE, wrong above 2^53); string bounds are converted to the column's own charset and
 *    collation, so `>` agrees with ORDER BY.
 */
import type { ColumnInfo } from './schema.js';
import { ident, NumericLiteral, raw, sql, type Sql } from './fragment.js';

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

export const NUMERIC = new Set(['tinyint', 'smallint', 'mediumint', 'int', 'integer', 'bigint', 'decimal', 'numeric', 'year']);
export const FLOATING = new Set(['float', 'double', 'real']);

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
export function keptForOthers(spec: Pick<RowSpec, 'name' | 'owner' | 'via'>, userId: string): Sql {
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

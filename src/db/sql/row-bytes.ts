/**
 * A row's bytes on their way and under comparison: the INSERT and LOAD DATA forms the copy writes (no
 * byte transcoded), the LOAD DATA line the source server builds, the row image every hash reads and the
 * hash kinds a move journals. src/db/sql/rows.ts re-exports them.
 */
import type { ColumnInfo } from './schema.js';
import { ident, join, NumericLiteral, quoteString, raw, sql, toBinary, type BinaryStatement, type RawValue, type Sql } from './fragment.js';
import { FLOATING, isShared, NUMERIC, readExpr, type RowSpec } from './row-spec.js';

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
export function rowLength(spec: RowSpec): Sql {
  return join(spec.columns.map(valueLength), ' + ');
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
export function rowHash64(spec: RowSpec): Sql {
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

/**
 * SQL as data. A query is a frozen list of text parts and typed values, built with the `sql` tag; values
 * are never spliced in as text by the builders. The two formatters at the bottom turn it into the bytes
 * sent to the server:
 *  - `toText` for the utf8mb4 "meta" connections (information_schema, journal, mapping);
 *  - `toBinary` for the binary-charset "data" connections that copy rows byte for byte.
 *
 * Why not mysql2's `?` placeholders: its client-side formatter scans the statement text for `?`, which
 * breaks on identifiers that contain a question mark (hostile but legal table names). Here identifiers
 * and values are separate parts from the start, so nothing is ever scanned.
 */

/** A column value exactly as read from the server: raw bytes, or NULL. */
export type RawValue = Buffer | null;

/** A numeric literal written unquoted (key bounds): comparing an integer column with a quoted string
 *  makes MySQL compare as DOUBLE, which is wrong above 2^53. Validated to be a plain decimal number. */
export class NumericLiteral {
  readonly text: string;
  constructor(text: string) {
    if (!/^-?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?$/.test(text)) throw new Error(`not a numeric literal: ${JSON.stringify(text)}`);
    this.text = text;
  }
}

export type Value = string | number | bigint | boolean | null | Buffer | NumericLiteral;

export interface Sql {
  readonly parts: readonly string[];
  readonly values: readonly Value[];
}

class Raw {
  constructor(readonly text: string) {}
}

/** Quote an identifier for MySQL/MariaDB: wrap in backticks and double every backtick inside. */
export function quoteIdent(name: string): string {
  if (name.length === 0) throw new Error('empty identifier');
  if (name.includes('\0')) throw new Error('identifier contains NUL');
  return '`' + name.replace(/`/g, '``') + '`';
}

/** An identifier fragment (table or column name from information_schema). */
export function ident(...names: string[]): Raw {
  return new Raw(names.map(quoteIdent).join('.'));
}

/** A trusted SQL fragment (keywords built by this module's callers, never user text). */
export function raw(text: string): Raw {
  return new Raw(text);
}

type Interp = Value | Raw | Sql;

function isSql(x: unknown): x is Sql {
  return typeof x === 'object' && x !== null && 'parts' in x && 'values' in x && Array.isArray((x as Sql).parts);
}

/** Tagged template: `sql\`SELECT ${ident(c)} FROM t WHERE id = ${v}\``. Nested Sql values are inlined. */
export function sql(strings: TemplateStringsArray, ...args: Interp[]): Sql {
  const parts: string[] = [strings[0] ?? ''];
  const values: Value[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    const next = strings[i + 1] ?? '';
    if (a instanceof Raw) {
      parts[parts.length - 1] += a.text + next;
    } else if (isSql(a)) {
      parts[parts.length - 1] += a.parts[0] ?? '';
      for (let j = 0; j < a.values.length; j++) {
        values.push(a.values[j] as Value);
        parts.push(a.parts[j + 1] ?? '');
      }
      parts[parts.length - 1] += next;
    } else {
      values.push(a as Value);
      parts.push(next);
    }
  }
  return Object.freeze({ parts: Object.freeze(parts), values: Object.freeze(values) });
}

/** Join fragments with a separator (e.g. column lists, OR-ed conditions). */
export function join(items: readonly (Sql | Raw)[], sep = ', '): Sql {
  const parts: string[] = [''];
  const values: Value[] = [];
  items.forEach((item, idx) => {
    if (idx > 0) parts[parts.length - 1] += sep;
    if (item instanceof Raw) {
      parts[parts.length - 1] += item.text;
      return;
    }
    parts[parts.length - 1] += item.parts[0] ?? '';
    for (let j = 0; j < item.values.length; j++) {
      values.push(item.values[j] as Value);
      parts.push(item.parts[j + 1] ?? '');
    }
  });
  return Object.freeze({ parts: Object.freeze(parts), values: Object.freeze(values) });
}

// ---------------------------------------------------------------------------------------------------
// Formatting. The escaping below assumes the session does not have NO_BACKSLASH_ESCAPES; src/db strips
// that flag from every session sql_mode it sets, since it changes only how literals parse.

const ESCAPES: Record<string, string> = {
  '\0': '\\0',
  '\b': '\\b',
  '\t': '\\t',
  '\n': '\\n',
  '\r': '\\r',
  '\x1a': '\\Z',
  "'": "\\'",
  '"': '\\"',
  '\\': '\\\\',
};
// Control characters are what these escape: no-control-regex does not apply.
// eslint-disable-next-line no-control-regex
const ESCAPE_RE = /[\0\b\t\n\r\x1a'"\\]/g;
// eslint-disable-next-line no-control-regex
const ESCAPE_TEST = /[\0\b\t\n\r\x1a'"\\]/;
const escapeChar = (c: string) => ESCAPES[c] ?? c;

/** Quote a string whose characters are code units to be sent as-is. */
export function quoteString(s: string): string {
  // Most values need no escaping: test first (cheap, native) before building a new string.
  return ESCAPE_TEST.test(s) ? "'" + s.replace(ESCAPE_RE, escapeChar) + "'" : "'" + s + "'";
}

/**
 * A statement already encoded for a binary connection: one latin1 code unit per byte on the wire.
 * Produced only by builders in src/db/sql (the row copier's hot path), never from free text.
 */
export interface BinaryStatement {
  readonly binary: string;
}

function literal(v: Value, asBytes: boolean): string {
  if (v === null) return 'NULL';
  if (v instanceof NumericLiteral) return v.text;
  if (typeof v === 'number') {
    if (!Number.isSafeInteger(v)) throw new Error(`refusing a non-integer or unsafe JS number in SQL: ${v}`);
    return String(v);
  }
  if (typeof v === 'bigint') return v.toString();
  if (typeof v === 'boolean') return v ? '1' : '0';
  if (Buffer.isBuffer(v)) {
    // Raw bytes: on a binary connection each latin1 code unit is one byte on the wire. On a text
    // connection a Buffer is written as a hex literal (only used for BLOB-ish meta values).
    return asBytes ? quoteString(v.toString('latin1')) : `X'${v.toString('hex')}'`;
  }
  return asBytes ? quoteString(Buffer.from(v, 'utf8').toString('latin1')) : quoteString(v);
}

/** The statement for a utf8mb4 connection (a JS string, encoded as UTF-8 by the driver). */
export function toText(q: Sql): string {
  let out = q.parts[0] ?? '';
  for (let i = 0; i < q.values.length; i++) out += literal(q.values[i] as Value, false) + (q.parts[i + 1] ?? '');
  return out;
}

/**
 * The statement for a binary-charset connection: a string of latin1 code units, one per byte on the
 * wire (mysql2 encodes queries with the connection's encoding, which is 'binary' for charset BINARY).
 * Text parts (keywords, quoted identifiers) are UTF-8 encoded first, so non-ASCII names survive.
 */
export function toBinary(q: Sql): string {
  // eslint-disable-next-line no-control-regex -- ASCII includes the control characters
  const enc = (s: string) => (/^[\x00-\x7f]*$/.test(s) ? s : Buffer.from(s, 'utf8').toString('latin1'));
  let out = enc(q.parts[0] ?? '');
  for (let i = 0; i < q.values.length; i++) out += literal(q.values[i] as Value, true) + enc(q.parts[i + 1] ?? '');
  return out;
}

/** For tests: the statement as sent on a text connection, values inlined. */
export function preview(q: Sql): string {
  return toText(q);
}

/**
 * Key tuples (raw bytes of the chunking key's columns) as they are stored in the journal: a JSON array
 * of base64 strings. Bytes in, the same bytes out: no 64-bit id ever becomes a JS number.
 */
import type { RawValue } from '../db/sql/fragment.js';
import type { KeyTuple } from '../db/sql/rows.js';

export function encodeKey(k: KeyTuple | null): string | null {
  return k === null ? null : JSON.stringify(k.map((b) => b.toString('base64')));
}

export function decodeKey(s: string | null | undefined): KeyTuple | null {
  if (s === null || s === undefined || s === '') return null;
  let arr: unknown;
  try {
    arr = JSON.parse(s);
  } catch {
    arr = null;
  }
  if (!Array.isArray(arr) || !arr.every((x) => typeof x === 'string' && /^[A-Za-z0-9+/]*={0,2}$/.test(x) && x.length % 4 === 0)) {
    throw new Error(`corrupt key checkpoint in the journal: ${s}`);
  }
  return arr.map((x: string) => Buffer.from(x, 'base64'));
}

/** The key tuple of a copied row, given the key columns' positions in the row. */
export function keyOfRow(row: readonly RawValue[], positions: readonly number[]): KeyTuple {
  return positions.map((p) => {
    const v = row[p];
    if (v === null || v === undefined) throw new Error('NULL in a chunking key column');
    return v;
  });
}

/** Readable form for messages: `id=9007199254740993` or `(photo_id, user_id)=(5, 7)`. */
export function showKey(names: readonly string[], k: KeyTuple | null): string {
  if (k === null) return '(all)';
  const vals = k.map((b) => (/^[\x20-\x7e]*$/.test(b.toString('latin1')) ? b.toString('latin1') : `0x${b.toString('hex')}`));
  return names.length === 1 ? `${names[0]}=${vals[0]}` : `(${names.join(', ')})=(${vals.join(', ')})`;
}

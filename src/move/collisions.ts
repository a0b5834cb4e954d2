/**
 * Key collisions: the user's value of a unique key (one without the owner column) that another owner
 * already holds on the target. Ticketed ids never collide; anything else might. Found on insert (a
 * chunk's duplicate-key warning, src/move/applier.ts) at no cost to the move, or up front by a dry run.
 */
import type { RawValue } from '../db/sql/fragment.js';
import type { KeyTuple, RowSpec } from '../db/sql/rows.js';
import type { ColumnInfo } from '../db/sql/schema.js';
import { FwShardError } from '../errors/index.js';
import { showKey } from './keys.js';

/** At most this many collisions are named in a message. */
export const COLLISIONS_LISTED = 20;

/** The columns of a unique key, in key order. */
export function keyColumns(spec: RowSpec, k: { columns: readonly string[] }): ColumnInfo[] {
  return k.columns.map((n) => spec.columns.find((c) => c.name === n)).filter((c): c is ColumnInfo => c !== undefined);
}

/** The non-NULL values of `cols` in `rows` (full rows, in spec.columns order): NULLs never collide. */
export function keyTuples(spec: RowSpec, cols: readonly ColumnInfo[], rows: readonly RawValue[][]): KeyTuple[] {
  const at = cols.map((c) => spec.columns.indexOf(c));
  return rows.map((r) => at.map((i) => r[i] ?? null)).filter((v): v is Buffer[] => v.every((x) => x !== null));
}

/** One line per hit of R.foreignKeysIn: the key's values, then the owner holding them. */
export function describeCollision(spec: RowSpec, cols: readonly ColumnInfo[], hit: readonly RawValue[], where: string): string {
  return `${spec.name}: ${showKey(
    cols.map((c) => c.name),
    hit.slice(0, cols.length) as Buffer[],
  )} belongs to ${spec.owner.name}=${(hit[cols.length] as Buffer).toString('latin1')} ${where}`;
}

export function keyCollisionError(userId: string, where: string, found: readonly string[], hint?: string): FwShardError {
  const text = `user ${userId}'s keys already exist ${where} under other owners:\n  ${found.slice(0, COLLISIONS_LISTED).join('\n  ')}`;
  return new FwShardError('KEY_COLLISION', text, { ...(hint ? { hint } : {}), details: { collisions: [...found] } });
}

/**
 * What a write of the Applier does along ownership paths (tables.through, tables.shared): the parent
 * keys a write takes from the user, the rows left hanging off them (deleted in the same transaction,
 * level by level), the rows written before their parent reached the target, and how many rows a
 * delete of a shared table may take. src/move/owner-paths.ts says why each is needed.
 */
import type { Session } from '../db/pool.js';
import * as R from '../db/sql/rows.js';
import type { KeyTuple, RowSpec } from '../db/sql/rows.js';

/** Per column that tables owned through `spec` link to: its values in the user's rows about to be cleared (none without such tables). */
export async function clearedParentKeys(s: Session, spec: RowSpec, userId: string, scope: R.RowScope): Promise<Map<string, Buffer[]>> {
  const out = new Map<string, Buffer[]>();
  for (const child of spec.children ?? []) {
    const col = child.via![0]!.parentKey;
    if (out.has(col.name)) continue;
    const rows = await s.rawRows('keys' in scope ? R.columnOfKeys(spec, col, userId, scope.keys) : R.columnInRange(spec, col, userId, scope.lo, scope.hi));
    out.set(
      col.name,
      rows.map((r) => r[0]).filter((v): v is Buffer => v !== null && v !== undefined),
    );
  }
  return out;
}

/**
 * After a write to a table others are owned through: the rows of those tables that hung off parent
 * rows the write took away from the user (deleted, or given to another owner) are the user's no more,
 * and on this (target) server they are only fw-shard's earlier copies. They go in the same transaction,
 * and so, level by level, do the rows hanging off them. Without this they would stay behind unseen:
 * every later comparison looks for the user's rows through the parents.
 */
export async function deleteStranded(s: Session, spec: RowSpec, userId: string, parentKeys: Map<string, Buffer[]>): Promise<void> {
  for (const child of spec.children ?? []) {
    const keys = parentKeys.get(child.via![0]!.parentKey.name) ?? [];
    for (let i = 0; i < keys.length; i += STRANDED_BATCH) {
      const batch = keys.slice(i, i + STRANDED_BATCH);
      const below = new Map<string, Buffer[]>();
      for (const grandchild of child.children ?? []) {
        const col = grandchild.via![0]!.parentKey;
        if (below.has(col.name)) continue;
        const rows = await s.rawRows(R.strandedSql(child, batch, userId, col));
        below.set(
          col.name,
          rows.map((r) => r[0]).filter((v): v is Buffer => v !== null && v !== undefined),
        );
      }
      await s.execBinary(R.strandedSql(child, batch, userId, null));
      await deleteStranded(s, child, userId, below);
    }
  }
}
const STRANDED_BATCH = 1000;

/**
 * A table owned through a parent: the keys, in the write's scope, of rows whose owner cannot be found on
 * this server before the write (null: nothing to watch, the table has its owner column or no key). A
 * row fw-shard writes whose parent is not on the target yet (the copy of a child meets rows whose parent
 * the source got after the parent's copy) would be nobody's there: unseen by every comparison, and in
 * the way of the row's later copy. Such rows are taken out again in the same transaction (deleteStraysSql),
 * these earlier ones excepted: fw-shard did not write them in this transaction. The comparisons that
 * follow copy the row once its parent is there.
 */
export async function straysBefore(s: Session, spec: RowSpec, scope: R.RowScope): Promise<KeyTuple[] | null> {
  if (!spec.via?.length || !spec.key) return null;
  const rows = await s.rawRows(R.strayKeysSql(spec, scope));
  return rows.map((r) => r.map((v) => v ?? Buffer.alloc(0)));
}

/** A key's id as parseRowHashes forms it (hex of each column, joined by ':'). */
export const keyId = (k: readonly (Buffer | null)[]): string => k.map((b) => (b ?? Buffer.alloc(0)).toString('hex')).join(':');

/** How many of the user's rows in the scope a delete would take (a shared table keeps those others refer to), locked. */
export async function deletable(s: Session, spec: RowSpec, userId: string, scope: R.RowScope): Promise<number> {
  const [r] = await s.rows<{ n: unknown }>(R.countDeletableSql(spec, userId, scope));
  return Number(r?.n ?? 0);
}

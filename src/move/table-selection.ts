/**
 * Which tables move with a user: pure function of the two schemas and the config.
 *
 * A table is sharded when it has the owner column (default `user_id`, per-table overrides), is not the
 * mapping table or fw-shard's journal, and passes include/exclude. When the source shard is db_main
 * itself (poor man's federation), db_main's own tables (users_password_reset, lookups such as
 * DotsLookup) also carry user_id but must stay: there, only tables that also exist on the target move,
 * and the others are listed as skipped. On a real shard a table missing on the target is drift.
 */
import type { TableInfo } from '../db/sql/schema.js';
import { MOVES, MOVE_CHUNKS, MOVE_TABLES } from '../db/sql/journal.js';
import { FREEZES } from '../db/sql/freeze.js';
import type { TableSelection } from '../topology/index.js';

export interface Selection {
  selected: { name: string; owner: string }[];
  skipped: { name: string; reason: string }[];
  /** Tables that should move but are missing on the target. */
  missingOnTarget: string[];
}

export function selectTables(
  source: ReadonlyMap<string, TableInfo>,
  target: ReadonlyMap<string, TableInfo>,
  sel: TableSelection,
  opts: { sourceIsMain: boolean; mappingTable: string | null },
): Selection {
  const out: Selection = { selected: [], skipped: [], missingOnTarget: [] };
  const internal = new Set([MOVES, MOVE_TABLES, MOVE_CHUNKS, FREEZES]);
  for (const t of [...source.values()].sort((a, b) => (a.name < b.name ? -1 : 1))) {
    if (internal.has(t.name)) continue;
    if (opts.mappingTable !== null && t.name === opts.mappingTable) continue;
    const owner = sel.owners[t.name] ?? sel.ownerColumn;
    if (!t.columns.some((c) => c.name === owner)) continue;
    if (sel.include && !sel.include.includes(t.name)) {
      out.skipped.push({ name: t.name, reason: 'not in tables.include' });
      continue;
    }
    if (sel.exclude.includes(t.name)) {
      out.skipped.push({ name: t.name, reason: 'in tables.exclude' });
      continue;
    }
    if (!target.has(t.name)) {
      if (opts.sourceIsMain) {
        out.skipped.push({ name: t.name, reason: "db_main's own table (not on the target shard)" });
      } else {
        out.missingOnTarget.push(t.name);
      }
      continue;
    }
    out.selected.push({ name: t.name, owner });
  }
  for (const name of sel.include ?? []) {
    if (!source.has(name)) out.skipped.push({ name, reason: 'in tables.include but not on the source shard' });
  }
  return out;
}

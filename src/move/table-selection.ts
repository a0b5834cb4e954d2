/**
 * Which tables move with a user: pure function of the two schemas and the config.
 *
 * A table is sharded when it has the owner column (default `user_id`, per-table overrides), is not the
 * mapping table or fw-shard's journal, and passes include/exclude.
 *
 * db_main (any database that holds the mapping) is different. In poor man's federation, and in the
 * graduation state (shard 1 = db_main), db_main also holds the app's own tables: users_password_reset,
 * lookups such as DotsLookup that map object ids to user_id, ApiKeys, Venues shared by every user...
 * Many carry user_id, and a shard built by loading every schema file has them too. Such a table must
 * never be copied off db_main (the cleanup would delete the originals) nor onto it (the copy deletes the
 * user's range on the target first). So when the source or the target holds the mapping, only tables
 * the config names as sharded (`tables.include`, which `config import --schema db_users.schema` writes)
 * move; without that list the move refuses (`undeclared` lists the candidates). Between real shards
 * nothing changes.
 */
import type { TableInfo } from '../db/sql/schema.js';
import { MOVES, MOVE_CHUNKS, MOVE_PASSES, MOVE_TABLES } from '../db/sql/journal.js';
import { FREEZES } from '../db/sql/freeze.js';
import { CHANGES, FENCE } from '../db/sql/guard.js';
import { FwShardError } from '../errors/index.js';
import type { TableSelection } from '../topology/index.js';
import { resolveOwnerPath, type OwnerPath } from './owner-paths.js';

export interface Selection {
  /** `path`: owned through a parent (tables.through). */
  selected: { name: string; owner: string; path?: OwnerPath }[];
  /** tables.through entries that cannot be followed (owner-paths.ts resolveOwnerPath): the move refuses. */
  pathProblems: string[];
  skipped: { name: string; reason: string }[];
  /** Tables that should move but are missing on the target. */
  missingOnTarget: string[];
  /**
   * Set when the source or target holds the mapping and no `tables.include` says which tables are
   * sharded: the tables that have the owner column (candidates). A move must refuse; `selected` is then
   * only the old best guess (tables present on both sides), good for sizes in `status`, never for a move.
   */
  undeclared: string[] | null;
  /** Tables on the source with no owner column that nothing excludes: they never move. Real shards only. */
  unowned: string[];
}

const INTERNAL = new Set([MOVES, MOVE_TABLES, MOVE_CHUNKS, MOVE_PASSES, FREEZES, FENCE, CHANGES]);

/**
 * Tables that belong to db_main in every Flamework app: the users table (both spellings), password
 * resets, tickets. Found on a real shard, they show it was built from every schema file.
 */
const MAIN_ONLY = /^(users|Users|users_password_reset|UsersPasswordReset|Tickets32|Tickets64)$/;
/** db_main lookup tables (DotsLookup, SheetsLookup, FlickrPhotosLookup...): object id → user_id. */
const LOOKUP = /Lookup$/;

interface SelectOptions {
  /** The source database holds the mapping (db_main or db_accounts): poor man's or graduation. */
  sourceIsMain: boolean;
  /** The target database holds the mapping (a move back onto db_main). */
  targetIsMain?: boolean;
  /** The mapping table's name, when either side holds it (never moved). */
  mappingTable: string | null;
}

export function selectTables(
  source: ReadonlyMap<string, TableInfo>,
  target: ReadonlyMap<string, TableInfo>,
  sel: TableSelection,
  opts: SelectOptions,
): Selection {
  const mainInvolved = opts.sourceIsMain || opts.targetIsMain === true;
  const out: Selection = { selected: [], pathProblems: [], skipped: [], missingOnTarget: [], undeclared: null, unowned: [] };
  const through: string[] = [];
  const candidates: string[] = [];
  for (const t of [...source.values()].sort((a, b) => (a.name < b.name ? -1 : 1))) {
    if (INTERNAL.has(t.name)) continue;
    if (opts.mappingTable !== null && t.name === opts.mappingTable) continue;
    const owner = sel.owners[t.name] ?? sel.ownerColumn;
    if (sel.through?.[t.name] && !t.columns.some((c) => c.name === owner)) {
      // Declared owned through a parent: that is a declaration of a sharded table (tables.include need not list it).
      if (sel.exclude.includes(t.name)) out.skipped.push({ name: t.name, reason: 'in tables.exclude' });
      else if (!target.has(t.name)) out.missingOnTarget.push(t.name);
      else through.push(t.name);
      continue;
    }
    if (!t.columns.some((c) => c.name === owner)) {
      const excluded = sel.exclude.includes(t.name) || (sel.include !== undefined && !sel.include.includes(t.name));
      if (!mainInvolved && !excluded && !MAIN_ONLY.test(t.name)) out.unowned.push(t.name);
      continue;
    }
    if (sel.include && !sel.include.includes(t.name)) {
      out.skipped.push({ name: t.name, reason: 'not in tables.include' });
      continue;
    }
    if (sel.exclude.includes(t.name)) {
      out.skipped.push({ name: t.name, reason: 'in tables.exclude' });
      continue;
    }
    if (mainInvolved && !sel.include) candidates.push(t.name);
    if (!target.has(t.name)) {
      // Without a declared list, a table db_main has and the shard lacks is taken for db_main's own.
      if (mainInvolved && !sel.include) {
        out.skipped.push({ name: t.name, reason: "db_main's own table (not on the target shard)" });
      } else {
        out.missingOnTarget.push(t.name);
      }
      continue;
    }
    out.selected.push({ name: t.name, owner });
  }
  const moved = new Set([...out.selected.map((s) => s.name), ...through]);
  for (const name of through) {
    const { path, problems } = resolveOwnerPath(name, source, sel, moved);
    out.pathProblems.push(...problems);
    if (path) out.selected.push({ name, owner: path.owner.name, path });
  }
  out.selected.sort((a, b) => (a.name < b.name ? -1 : 1));
  for (const name of sel.include ?? []) {
    if (!source.has(name)) out.skipped.push({ name, reason: 'in tables.include but not on the source shard' });
  }
  if (mainInvolved && !sel.include) out.undeclared = candidates;
  return out;
}

/**
 * Tables on a real shard that look like db_main's own: the mapping table (any case of `users`),
 * password resets, ticket tables, `*Lookup` tables, and, when `tables.include` is set, any other table
 * with the owner column that the list does not name. They never move; their presence means the shard
 * was built from every schema file (flamework-tools' setup-db.sh does that), and an app configured
 * wrongly could read them there.
 */
export function mainTablesOnShard(schema: ReadonlyMap<string, TableInfo>, sel: TableSelection, mappingTable: string): string[] {
  const out: string[] = [];
  for (const t of [...schema.values()].sort((a, b) => (a.name < b.name ? -1 : 1))) {
    if (INTERNAL.has(t.name)) continue;
    if (t.name === mappingTable || t.name.toLowerCase() === mappingTable.toLowerCase() || MAIN_ONLY.test(t.name) || LOOKUP.test(t.name)) {
      if (!sel.include?.includes(t.name)) out.push(t.name);
      continue;
    }
    const owner = sel.owners[t.name] ?? sel.ownerColumn;
    if (sel.include && !sel.include.includes(t.name) && !sel.through?.[t.name] && !sel.exclude.includes(t.name) && t.columns.some((c) => c.name === owner))
      out.push(t.name);
  }
  return out;
}

/**
 * The source's tables that stay and have no owner column, less tables.exclude, fw-shard's own, the
 * mapping table and db_main's known own tables (MAIN_ONLY, *Lookup): those a split check looks at
 * (owner-paths.ts findSplits).
 */
export function stayingUnowned(
  source: ReadonlyMap<string, TableInfo>,
  sel: TableSelection,
  moved: ReadonlySet<string>,
  mappingTable: string | null,
): TableInfo[] {
  return [...source.values()].filter((t) => {
    if (moved.has(t.name) || INTERNAL.has(t.name) || t.name === mappingTable || MAIN_ONLY.test(t.name) || LOOKUP.test(t.name)) return false;
    if (sel.exclude.includes(t.name)) return false;
    return !t.columns.some((c) => c.name === (sel.owners[t.name] ?? sel.ownerColumn));
  });
}

/** The refusal of a move that involves db_main while the config does not say which tables are sharded. */
export function undeclaredTablesError(side: 'from' | 'to', shard: number, candidates: readonly string[]): FwShardError {
  const list = candidates.length > 0 ? candidates.join(', ') : '(none)';
  return new FwShardError(
    'TABLES_UNDECLARED',
    `shard ${shard} is db_main's own database (poor man's federation or graduation), and the config does not say which tables are sharded: ` +
      `moving ${side === 'from' ? 'off' : 'onto'} it could take db_main's own tables (lookups, password resets, shared tables) with the user. ` +
      `Tables with the owner column there: ${list}`,
    {
      hint:
        'List the sharded tables in tables.include: `fw-shard config import --flamework-config config.php --schema schema/db_users.schema` ' +
        "writes them from the app's own schema file, or write `tables: { include: [Dots, Sheets] }` by hand. Nothing was written.",
      details: { candidates: [...candidates] },
    },
  );
}

/** Warning lines about tables that never move, shared by preflight and `status`. */
export function selectionWarnings(unowned: readonly string[], mainTables: readonly string[], from: number, to: number): string[] {
  const out: string[] = [];
  if (unowned.length > 0) {
    out.push(
      `shard ${from} has tables with no owner column that never move: ${unowned.join(', ')} ` +
        '(rows owned through another table stay behind; set tables.owners, or tables.exclude to silence this)',
    );
  }
  if (mainTables.length > 0) {
    out.push(
      `shard ${to} holds tables that belong to db_main: ${mainTables.join(', ')}; fw-shard never moves them, ` +
        'and the app must keep reading them from db_main (drop them from the shard once you are sure)',
    );
  }
  return out;
}

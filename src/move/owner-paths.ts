/**
 * Rows a user owns through a parent, and the tables that would be split from them. Pure: schemas and
 * config in, decisions and problems out (the preflight turns problems into a refusal).
 *
 * A Flamework app hangs per-user tables off other per-user tables: smol.archive's `smol_archive` has no
 * `user_id`, its rows belong to the user through `account_id -> smol_account.id`. `tables.through`
 * declares such a link (`smol_archive: account_id -> smol_account.id`); the parent may itself be
 * owned through another (chains). Every statement on the user's rows then says "the row is the user's"
 * as `account_id IN (SELECT id FROM smol_account WHERE user_id = ?)` (rows.ts ownerCondition), and
 * the triggers look the owner up the same way (rows.ts ownerOfRow).
 *
 * What each link needs, refused otherwise: the parent moves with the user; its key is unique (a
 * primary or unique key of exactly that column: one parent row per value, so one owner); the child has
 * an index starting with the link column (every statement finds the user's rows through it, as through
 * the owner index of a table with the owner column); the link column and the key have the same type
 * family (numeric with numeric, text with text: a mixed comparison is done in DOUBLE, wrong above 2^53).
 *
 * No silent split: a table that stays behind although it references a moved table (a foreign key, or
 * a column named after the moved table's key: `account_id` beside `smol_account`) would leave rows of
 * the user on the old shard, where the app no longer reads them. Unless it is declared (moved through
 * a parent, or in tables.exclude: not the user's), the move refuses, naming the line to add.
 */
import type { ColumnInfo, ForeignKeyInfo, TableInfo } from '../db/sql/schema.js';
import type { OwnerLink } from '../db/sql/rows.js';
import type { TableSelection, ThroughLink } from '../topology/index.js';
import { chooseKey, planTable, type TablePlan } from './table-plan.js';
import { referenceNames } from '../config/naming.js';

const showThrough = (table: string, l: ThroughLink): string => `${table}: ${l.column} -> ${l.parent}.${l.key}`;

export interface OwnerPath {
  via: OwnerLink[];
  /** The owner column of the path's last table. */
  owner: ColumnInfo;
}

const NUMERIC = new Set(['tinyint', 'smallint', 'mediumint', 'int', 'integer', 'bigint', 'decimal', 'numeric', 'year']);
const family = (c: ColumnInfo) => (NUMERIC.has(c.dataType) ? 'number' : /char|binary|text|blob/.test(c.dataType) ? 'text' : c.dataType);

/**
 * The path of one table declared in tables.through, checked link by link; `problems` says what is
 * wrong in words that name the table, the column and the fix. `moved`: the tables that move.
 */
export function resolveOwnerPath(
  table: string,
  schema: ReadonlyMap<string, TableInfo>,
  sel: TableSelection,
  moved: ReadonlySet<string>,
): { path: OwnerPath | null; problems: string[] } {
  const problems: string[] = [];
  const via: OwnerLink[] = [];
  const seen = new Set<string>([table]);
  let at = table;
  for (;;) {
    const link = sel.through?.[at];
    const info = schema.get(at);
    if (!info) {
      problems.push(`table ${at} (on the path of ${table}) is not on the source shard`);
      return { path: null, problems };
    }
    if (!link) {
      const ownerName = sel.owners[at] ?? sel.ownerColumn;
      const owner = info.columns.find((c) => c.name === ownerName);
      if (!owner) {
        problems.push(`table ${at}, the end of ${table}'s path, has no owner column ${ownerName} and no tables.through entry`);
        return { path: null, problems };
      }
      return problems.length > 0 ? { path: null, problems } : { path: { via, owner }, problems };
    }
    if (link.shared) {
      if (at !== table) {
        problems.push(`tables.shared ${showShared(at, link)}: ${table} is owned through ${at}, whose rows are shared; rows cannot hang off shared rows`);
        return { path: null, problems };
      }
      const shared = sharedLink(table, info, link, schema, moved, problems);
      if (shared) via.push(shared);
      if (!schema.has(link.parent)) return { path: null, problems };
      seen.add(link.parent);
      at = link.parent;
      continue;
    }
    const column = info.columns.find((c) => c.name === link.column);
    const parent = schema.get(link.parent);
    if (!column) problems.push(`tables.through ${showThrough(at, link)}: ${at} has no column ${link.column}`);
    if (!parent) {
      problems.push(`tables.through ${showThrough(at, link)}: table ${link.parent} is not on the source shard`);
      return { path: null, problems };
    }
    if (!moved.has(link.parent)) {
      problems.push(
        `tables.through ${showThrough(at, link)}: ${link.parent} does not move with the user (tables.include / tables.exclude), so ${at} cannot either`,
      );
    }
    const key = parent.columns.find((c) => c.name === link.key);
    if (!key) problems.push(`tables.through ${showThrough(at, link)}: ${link.parent} has no column ${link.key}`);
    else if (!parent.keys.some((k) => k.unique && !k.hasPrefix && k.columns.length === 1 && k.columns[0] === link.key)) {
      problems.push(
        `tables.through ${showThrough(at, link)}: ${link.parent}.${link.key} is not unique (one row of ${link.parent} per value, so one owner): ` +
          `ALTER TABLE ${link.parent} ADD UNIQUE (${link.key}), or link through its primary key`,
      );
    }
    if (column && !info.keys.some((k) => k.columns[0] === link.column)) {
      problems.push(
        `tables.through ${showThrough(at, link)}: no index of ${at} starts with ${link.column}, through which the user's rows are found: ALTER TABLE ${at} ADD INDEX (${link.column})`,
      );
    }
    if (column && key && family(column) !== family(key)) {
      problems.push(
        `tables.through ${showThrough(at, link)}: ${at}.${link.column} is ${column.type} but ${link.parent}.${link.key} is ${key.type} (compared as DOUBLE, wrong above 2^53)`,
      );
    }
    if (column && key) via.push({ column, parent: link.parent, parentKey: key });
    if (seen.has(link.parent)) {
      problems.push(`tables.through: the path of ${table} comes back to ${link.parent} (a cycle)`);
      return { path: null, problems };
    }
    seen.add(link.parent);
    at = link.parent;
  }
}

const showShared = (table: string, l: ThroughLink): string => `${table}: ${l.column} <- ${l.parent}.${l.key}`;

/**
 * The link of a shared table (tables.shared `id <- smol_archive.item_id`), checked: the referrer moves;
 * the shared table's column is its unique key (one row per value, found by it); the referrer has an
 * index starting with its column (the copy finds the user's shared rows, and every delete the other
 * owners' referring rows, through it); the two have the same type family.
 */
function sharedLink(
  table: string,
  info: TableInfo,
  link: ThroughLink,
  schema: ReadonlyMap<string, TableInfo>,
  moved: ReadonlySet<string>,
  problems: string[],
): OwnerLink | null {
  const line = `tables.shared ${showShared(table, link)}`;
  const column = info.columns.find((c) => c.name === link.column);
  const parent = schema.get(link.parent);
  const chunkKey = chooseKey(info, link.column);
  if (!column) problems.push(`${line}: ${table} has no column ${link.column}`);
  else if (!info.keys.some((k) => k.unique && !k.hasPrefix && k.columns.length === 1 && k.columns[0] === link.column)) {
    problems.push(
      `${line}: ${table}.${link.column} is not unique (a shared row is found by its key): ALTER TABLE ${table} ADD UNIQUE (${link.column}), or name its primary key`,
    );
  } else if (!chunkKey || chunkKey.columns.length !== 1 || chunkKey.columns[0] !== link.column) {
    // Rows are copied, compared and kept by the table's chunking key (its primary key): a same item
    // under another key on the target would be skipped as a duplicate of link.column, never compared.
    problems.push(
      `${line}: ${table}'s rows are identified by its key (${chunkKey?.columns.join(', ') ?? 'none'}), not by ${link.column}: a shared table must be keyed by the column its referrers hold (its primary key)`,
    );
  }
  if (!parent) {
    problems.push(`${line}: table ${link.parent} is not on the source shard`);
    return null;
  }
  if (!moved.has(link.parent))
    problems.push(`${line}: ${link.parent} does not move with the user (tables.include / tables.exclude), so ${table} cannot either`);
  const key = parent.columns.find((c) => c.name === link.key);
  if (!key) problems.push(`${line}: ${link.parent} has no column ${link.key}`);
  else if (!parent.keys.some((k) => k.columns[0] === link.key)) {
    problems.push(
      `${line}: no index of ${link.parent} starts with ${link.key}, through which the rows referring to a shared row are found: ALTER TABLE ${link.parent} ADD INDEX (${link.key})`,
    );
  }
  if (column && key && family(column) !== family(key)) {
    problems.push(`${line}: ${table}.${link.column} is ${column.type} but ${link.parent}.${link.key} is ${key.type} (compared as DOUBLE, wrong above 2^53)`);
  }
  return column && key ? { column, parent: link.parent, parentKey: key, shared: true } : null;
}

interface SplitTable {
  table: string;
  column: string;
  references: string;
  /** The line of config that would declare it moved with the user. */
  through: string;
  /** `foreign key NAME` or `column name`. */
  why: string;
}

/**
 * Tables that stay although they reference a moved table: by a foreign key, or by a column named after
 * the moved table's single-column primary key (referenceNames). `candidates`: the source's tables that
 * do not move and have no owner column, less those in tables.exclude and db_main's known own tables.
 */
export function findSplits(
  candidates: readonly TableInfo[],
  movedTables: readonly TableInfo[],
  foreignKeys: readonly ForeignKeyInfo[],
  database: string,
): SplitTable[] {
  const out: SplitTable[] = [];
  const moved = new Map(movedTables.map((t) => [t.name, t]));
  for (const t of candidates) {
    const found = new Map<string, SplitTable>();
    for (const fk of foreignKeys) {
      if (fk.schema !== database || fk.table !== t.name || fk.refSchema !== database || !moved.has(fk.refTable)) continue;
      if (fk.columns.length !== 1) continue;
      const through = `${t.name}: ${fk.columns[0]} -> ${fk.refTable}.${fk.refColumns[0]}`;
      found.set(fk.columns[0]!, {
        table: t.name,
        column: fk.columns[0]!,
        references: `${fk.refTable}.${fk.refColumns[0]}`,
        through,
        why: `foreign key ${fk.name}`,
      });
    }
    for (const m of moved.values()) {
      const pk = m.keys.find((k) => k.name === 'PRIMARY');
      if (!pk || pk.columns.length !== 1) continue;
      const names = new Set(referenceNames(m.name, pk.columns[0]!));
      for (const c of t.columns) {
        if (found.has(c.name) || !names.has(c.name.toLowerCase())) continue;
        found.set(c.name, {
          table: t.name,
          column: c.name,
          references: `${m.name}.${pk.columns[0]}`,
          through: `${t.name}: ${c.name} -> ${m.name}.${pk.columns[0]}`,
          why: `column ${c.name}, named after ${m.name}.${pk.columns[0]}`,
        });
      }
    }
    out.push(...found.values());
  }
  return out;
}

/**
 * Moved tables that refer to a shared table besides its declared referrer (a foreign key into it, or a
 * column named after its key). The move would not see their references: it would copy only the rows
 * the declared referrer reaches, and its cleanup would delete rows they still refer to. One referring
 * column per shared table is what fw-shard supports; such a schema is refused, naming each one.
 */
export function findOtherReferrers(
  shared: readonly { table: string; link: OwnerLink }[],
  movedTables: readonly TableInfo[],
  foreignKeys: readonly ForeignKeyInfo[],
  database: string,
): string[] {
  const out: string[] = [];
  const moved = new Set(movedTables.map((t) => t.name));
  for (const { table, link } of shared) {
    const declared = (t: string, c: string) => t === link.parent && c === link.parentKey.name;
    const seen = new Set<string>();
    const add = (t: string, c: string, why: string) => {
      if (declared(t, c) || seen.has(`${t}.${c}`)) return;
      seen.add(`${t}.${c}`);
      out.push(
        `${t}.${c} refers to the shared ${table}.${link.column.name} (${why}), but tables.shared names only ${link.parent}.${link.parentKey.name} as what refers to it`,
      );
    };
    for (const fk of foreignKeys) {
      if (fk.schema === database && fk.refSchema === database && fk.refTable === table && moved.has(fk.table) && fk.columns.length === 1)
        add(fk.table, fk.columns[0]!, `foreign key ${fk.name}`);
    }
    const names = new Set(referenceNames(table, link.column.name));
    for (const t of movedTables) {
      if (t.name === table) continue;
      for (const c of t.columns) if (names.has(c.name.toLowerCase())) add(t.name, c.name, `column ${c.name}, named after ${table}.${link.column.name}`);
    }
  }
  return out;
}

/**
 * Tables in the order rows must be written to a target: every parent before the tables owned through
 * it (a child's rows are found there through its parent's rows, so a parent written later would leave
 * the child's earlier rows unseen). Groups run one after another; tables of a group side by side.
 */
export function ownershipLevels<T extends { name: string; via?: readonly OwnerLink[] }>(tables: readonly T[]): T[][] {
  const depth = (t: T) => t.via?.length ?? 0;
  const levels: T[][] = [];
  for (const t of tables) (levels[depth(t)] ??= []).push(t);
  return levels.filter((l) => l !== undefined && l.length > 0);
}

/** Give each plan the plans owned through it (RowSpec.children: the Applier's deleteStranded follows them). */
export function linkChildren<T extends { name: string; via?: readonly OwnerLink[]; children?: readonly unknown[] }>(plans: T[]): T[] {
  for (const p of plans) {
    const children = plans.filter((c) => c.via?.[0]?.parent === p.name);
    if (children.length > 0) p.children = children;
  }
  return plans;
}

/**
 * Plans for tables a journal names, from one server's schema (an abort's target, an orphan sweep):
 * owned through a parent where the config says so and the table has no owner column. Tables missing
 * there, or whose path cannot be followed there, are left out (`skipped`, with why).
 */
export function planNamedTables(
  schema: ReadonlyMap<string, TableInfo>,
  sel: TableSelection,
  names: readonly string[],
): { plans: TablePlan[]; skipped: string[] } {
  const moved = new Set(names);
  const plans: TablePlan[] = [];
  const skipped: string[] = [];
  for (const name of names) {
    const info = schema.get(name);
    if (!info) continue;
    const owner = sel.owners[name] ?? sel.ownerColumn;
    if (info.columns.some((c) => c.name === owner) || !sel.through?.[name]) {
      if (info.columns.some((c) => c.name === owner)) plans.push(planTable(info, owner));
      else skipped.push(`${name}: no owner column ${owner}`);
      continue;
    }
    const { path, problems } = resolveOwnerPath(name, schema, sel, moved);
    if (path) plans.push(planTable(info, path));
    else skipped.push(...problems);
  }
  return { plans: linkChildren(plans), skipped };
}

/**
 * Pure decisions about one sharded table: which columns are copied, which key pages the copy, and what
 * the operator should be warned about. No I/O here.
 */
import type { ColumnInfo, KeyInfo, TableInfo } from '../db/sql/schema.js';
import type { OwnerLink, RowHash } from '../db/sql/rows.js';
import type { OwnerPath } from './owner-paths.js';

/** Everything the row builders in src/db/sql/rows.ts need to know about a table. */
interface TableSpec {
  name: string;
  /** Copied and hashed columns, in table order (generated columns excluded). */
  columns: ColumnInfo[];
  owner: ColumnInfo;
  /** Owned through a parent (tables.through): the path to the owner column (rows.ts RowSpec.via). */
  via?: readonly OwnerLink[];
  /** The tables owned through this one (owner-paths.ts linkChildren; rows.ts RowSpec.children). */
  children?: readonly TableSpec[];
  /** Columns of the chunking key (primary or NOT NULL unique), or null: copied as one unit. */
  key: ColumnInfo[] | null;
  /** The move's range hash (set by the preflight; rows.ts RowHash). */
  rowHash?: RowHash;
}

export interface TablePlan extends TableSpec {
  keyName: string | null;
  /** An index whose first column is the owner column exists. */
  ownerIndexed: boolean;
  /** The index that serves (owner, chunk key) ranges, if any (range deletes use it: rows.ts deleteRange). */
  ownerIndex: string | null;
  autoIncrementColumn: string | null;
  /** Unique keys that do not contain the owner column: the user's values could collide with another owner's. */
  collisionKeys: KeyInfo[];
  warnings: string[];
}

const KEYABLE = new Set([
  'tinyint',
  'smallint',
  'mediumint',
  'int',
  'integer',
  'bigint',
  'decimal',
  'numeric',
  'char',
  'varchar',
  'binary',
  'varbinary',
  'date',
  'datetime',
  'timestamp',
  'time',
  'year',
]);

/** Keys usable for keyset pagination: unique, every column NOT NULL, no prefix, comparable types. */
function keyCandidates(t: TableInfo): KeyInfo[] {
  const byName = new Map(t.columns.map((c) => [c.name, c]));
  return t.keys.filter(
    (k) =>
      k.unique &&
      !k.hasPrefix &&
      k.columns.every((n) => {
        const c = byName.get(n);
        return c !== undefined && !c.nullable && !c.generated && KEYABLE.has(c.dataType);
      }),
  );
}

/**
 * Pick the chunking key: PRIMARY first; otherwise the unique key that starts with the owner column
 * (its index serves `WHERE owner = ? AND rest > ?` directly), then the shortest one.
 */
export function chooseKey(t: TableInfo, ownerColumn: string): KeyInfo | null {
  const cands = keyCandidates(t);
  const primary = cands.find((k) => k.name === 'PRIMARY');
  if (primary) return primary;
  const sorted = [...cands].sort((a, b) => {
    const ao = a.columns[0] === ownerColumn ? 0 : 1;
    const bo = b.columns[0] === ownerColumn ? 0 : 1;
    return ao - bo || a.columns.length - b.columns.length || a.name.localeCompare(b.name);
  });
  return sorted[0] ?? null;
}

/**
 * `ownedBy`: the table's owner column, or its path to one (owner-paths.ts). For a path, the link column
 * stands where the owner column would: the chunking key and the owner index are chosen for it.
 */
export function planTable(t: TableInfo, ownedBy: string | OwnerPath): TablePlan {
  const path = typeof ownedBy === 'string' ? null : ownedBy;
  const ownerColumn = path ? path.via[0]!.column.name : (ownedBy as string);
  const owner = path ? path.owner : t.columns.find((c) => c.name === ownerColumn);
  if (!owner) throw new Error(`table ${t.name} has no owner column ${ownerColumn}`);
  const columns = t.columns.filter((c) => !c.generated);
  const key = chooseKey(t, ownerColumn);
  const byName = new Map(t.columns.map((c) => [c.name, c]));
  const ownerIndexed = t.keys.some((k) => k.columns[0] === ownerColumn);
  // An index that serves `owner = ? AND key in (lo, hi]` as one range: (owner) when the key is the
  // primary key (InnoDB appends it to every secondary index), or (owner, key...) spelled out.
  const keyCols = key?.columns ?? [];
  const ownerIndex =
    key && keyCols[0] !== ownerColumn
      ? (t.keys.find(
          (k) =>
            !k.hasPrefix &&
            k.columns[0] === ownerColumn &&
            ((k.columns.length === 1 && key.name === 'PRIMARY') ||
              (k.columns.length === keyCols.length + 1 && keyCols.every((c, i) => k.columns[i + 1] === c))),
        )?.name ?? null)
      : null;
  const auto = t.columns.find((c) => c.autoIncrement)?.name ?? null;
  const warnings: string[] = [];
  if (!ownerIndexed) {
    warnings.push(`no index starts with ${ownerColumn}: every chunk scans the table's key range (correct, but slower on a big shard)`);
  }
  if (!key) {
    warnings.push("no primary or NOT NULL unique key: the user's rows are copied and verified as one unit");
  }
  if (auto) {
    warnings.push(`column ${auto} is AUTO_INCREMENT: its values are per-shard, not ticketed, and may collide on the target`);
  }
  return {
    name: t.name,
    columns,
    owner,
    ...(path ? { via: path.via } : {}),
    key: key ? key.columns.map((n) => byName.get(n)!) : null,
    keyName: key?.name ?? null,
    ownerIndexed,
    ownerIndex,
    autoIncrementColumn: auto,
    // A shared table's unique values are other owners' too by design: a same key there is the same row
    // (proven identical by the preflight, compared by every verification), never a collision.
    collisionKeys: path?.via[0]?.shared ? [] : t.keys.filter((k) => k.unique && !k.columns.includes(ownerColumn)),
    warnings,
  };
}

/**
 * A user's bytes in a table from its statistics, without reading a row: the rows times the table's
 * average row length (data and indexes). What a move's preflight and a plan's estimated sizes use.
 */
export function estimatedBytes(info: TableInfo, rows: bigint): bigint {
  const tableRows = BigInt(info.rowsEstimate);
  const avg = tableRows > 0n ? BigInt(info.bytesEstimate) / tableRows : 0n;
  return rows * avg;
}

/**
 * Differences between the same table on two servers that make a copy unsafe, as readable lines (empty
 * when the copy is safe). Columns are compared as a set of (name, type, nullability, charset/collation,
 * default, generated): their order does not matter, since every statement names its columns (a shard
 * upgraded through ALTERs has them in another order than one created from today's schema). Keys matter
 * only when the target is stricter: a unique key there that no unique key of the source implies could
 * refuse rows that are valid on the source. Other key differences are {@link indexDifferences}.
 */
export function diffTables(source: TableInfo, target: TableInfo): string[] {
  const out: string[] = [];
  const tcols = new Map(target.columns.map((c) => [c.name, c]));
  const scols = new Map(source.columns.map((c) => [c.name, c]));
  for (const c of source.columns) {
    const o = tcols.get(c.name);
    if (!o) {
      out.push(`column ${c.name} (${c.type}) is missing on the target`);
      continue;
    }
    const a = describeColumn(c);
    const b = describeColumn(o);
    if (a !== b) out.push(`column ${c.name}: source ${a}, target ${b}`);
  }
  for (const c of target.columns) if (!scols.has(c.name)) out.push(`column ${c.name} (${c.type}) exists only on the target`);
  for (const k of target.keys) {
    if (k.unique && !impliedBy(k, source.keys)) {
      out.push(`key ${keyText(k)} exists only on the target: rows valid on the source could be refused there (no unique key of the source covers it)`);
    }
  }
  return out;
}

/**
 * Key differences that do not make the copy unsafe (warnings): keys missing on the target or only
 * on it but not stricter, names that differ, prefixes. The copy stays correct; lookups may be slower.
 */
export function indexDifferences(source: TableInfo, target: TableInfo): string[] {
  const out: string[] = [];
  const sig = (k: KeyInfo) => `${k.unique ? 'U' : ''}(${k.columns.join(',')})${k.hasPrefix ? 'p' : ''}`;
  const tsigs = new Set(target.keys.map(sig));
  const ssigs = new Set(source.keys.map(sig));
  for (const k of source.keys) if (!tsigs.has(sig(k))) out.push(`key ${keyText(k)} is missing on the target`);
  for (const k of target.keys) {
    if (ssigs.has(sig(k))) continue;
    if (k.unique && !impliedBy(k, source.keys)) continue; // a refusal: see diffTables
    out.push(`key ${keyText(k)} exists only on the target`);
  }
  return out;
}

const keyText = (k: KeyInfo) => `${k.unique ? 'UNIQUE ' : ''}${k.name}(${k.columns.join(',')})${k.hasPrefix ? ' with prefix' : ''}`;

/** A unique key is implied by another unique key whose columns are a subset of its own (no prefixes). */
function impliedBy(k: KeyInfo, keys: readonly KeyInfo[]): boolean {
  return keys.some((o) => o.unique && !o.hasPrefix && o.columns.every((c) => k.columns.includes(c)));
}

function describeColumn(c: ColumnInfo): string {
  return (
    `${c.type}${c.nullable ? ' NULL' : ' NOT NULL'}${c.charset ? ` ${c.charset}` : ''}${c.collation ? `/${c.collation}` : ''}` +
    `${c.defaultValue !== null && c.defaultValue !== undefined ? ` DEFAULT ${c.defaultValue}` : ''}${c.generated ? ' generated' : ''}`
  );
}

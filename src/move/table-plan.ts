/**
 * Pure decisions about one sharded table: which columns are copied, which key pages the copy, and what
 * the operator should be warned about. No I/O here.
 */
import type { ColumnInfo, KeyInfo, TableInfo } from '../db/sql/schema.js';

/** Everything the row builders in src/db/sql/rows.ts need to know about a table. */
export interface TableSpec {
  name: string;
  /** Copied and hashed columns, in table order (generated columns excluded). */
  columns: ColumnInfo[];
  owner: ColumnInfo;
  /** Columns of the chunking key (primary or NOT NULL unique), or null: copied as one unit. */
  key: ColumnInfo[] | null;
}

export interface TablePlan extends TableSpec {
  keyName: string | null;
  /** An index whose first column is the owner column exists. */
  ownerIndexed: boolean;
  autoIncrementColumn: string | null;
  /** Unique keys that do not contain the owner column: the user's values could collide with another owner's. */
  collisionKeys: KeyInfo[];
  warnings: string[];
}

const KEYABLE = new Set([
  'tinyint', 'smallint', 'mediumint', 'int', 'integer', 'bigint', 'decimal', 'numeric',
  'char', 'varchar', 'binary', 'varbinary',
  'date', 'datetime', 'timestamp', 'time', 'year',
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

export function planTable(t: TableInfo, ownerColumn: string): TablePlan {
  const owner = t.columns.find((c) => c.name === ownerColumn);
  if (!owner) throw new Error(`table ${t.name} has no owner column ${ownerColumn}`);
  const columns = t.columns.filter((c) => !c.generated);
  const key = chooseKey(t, ownerColumn);
  const byName = new Map(t.columns.map((c) => [c.name, c]));
  const ownerIndexed = t.keys.some((k) => k.columns[0] === ownerColumn);
  const auto = t.columns.find((c) => c.autoIncrement)?.name ?? null;
  const warnings: string[] = [];
  if (!ownerIndexed) {
    warnings.push(`no index starts with ${ownerColumn}: every chunk scans the table's key range (correct, but slower on a big shard)`);
  }
  if (!key) {
    warnings.push('no primary or NOT NULL unique key: the user\'s rows are copied and verified as one unit');
  }
  if (auto) {
    warnings.push(`column ${auto} is AUTO_INCREMENT: its values are per-shard, not ticketed, and may collide on the target`);
  }
  return {
    name: t.name,
    columns,
    owner,
    key: key ? key.columns.map((n) => byName.get(n)!) : null,
    keyName: key?.name ?? null,
    ownerIndexed,
    autoIncrementColumn: auto,
    collisionKeys: t.keys.filter((k) => k.unique && !k.columns.includes(ownerColumn)),
    warnings,
  };
}

/** Differences between the same table on two servers, as readable lines (empty when identical). */
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
  const sorder = source.columns.map((c) => c.name).join(',');
  const torder = target.columns.map((c) => c.name).join(',');
  if (out.length === 0 && sorder !== torder) out.push(`column order differs: source (${sorder}), target (${torder})`);
  const keyText = (k: KeyInfo) => `${k.unique ? 'UNIQUE ' : ''}${k.name}(${k.columns.join(',')})${k.hasPrefix ? ' with prefix' : ''}`;
  const tkeys = new Map(target.keys.map((k) => [k.name, keyText(k)]));
  const skeys = new Map(source.keys.map((k) => [k.name, keyText(k)]));
  for (const [name, text] of skeys) {
    const o = tkeys.get(name);
    if (o === undefined) out.push(`key ${text} is missing on the target`);
    else if (o !== text) out.push(`key ${name}: source ${text}, target ${o}`);
  }
  for (const [name, text] of tkeys) if (!skeys.has(name)) out.push(`key ${text} exists only on the target`);
  return out;
}

function describeColumn(c: ColumnInfo): string {
  return `${c.type}${c.nullable ? ' NULL' : ' NOT NULL'}${c.charset ? ` ${c.charset}` : ''}${c.collation ? `/${c.collation}` : ''}${c.generated ? ' generated' : ''}`;
}

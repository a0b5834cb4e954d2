/**
 * Reading table structure from information_schema. Table and column names used anywhere else in
 * fw-shard come from here, never from free text.
 */
import type { ReadDb } from '../pool.js';
import { sql } from './fragment.js';

export interface ColumnInfo {
  name: string;
  position: number;
  /** COLUMN_TYPE, e.g. "bigint(20) unsigned" */
  type: string;
  /** DATA_TYPE, lower case, e.g. "bigint" */
  dataType: string;
  nullable: boolean;
  charset: string | null;
  collation: string | null;
  /** Generated (virtual/stored) columns are neither copied nor hashed: the server derives them. */
  generated: boolean;
  autoIncrement: boolean;
  defaultValue: string | null;
}

export interface KeyInfo {
  name: string;
  unique: boolean;
  columns: string[];
  /** Some part is a prefix (e.g. KEY (title(10))). */
  hasPrefix: boolean;
}

export interface TableInfo {
  name: string;
  engine: string | null;
  rowsEstimate: string;
  bytesEstimate: string;
  columns: ColumnInfo[];
  keys: KeyInfo[];
}

interface TableRow {
  TABLE_NAME: string;
  ENGINE: string | null;
  TABLE_ROWS: string | null;
  DATA_LENGTH: string | null;
  INDEX_LENGTH: string | null;
}
interface ColumnRow {
  TABLE_NAME: string;
  COLUMN_NAME: string;
  ORDINAL_POSITION: string | number;
  COLUMN_TYPE: string;
  DATA_TYPE: string;
  IS_NULLABLE: string;
  CHARACTER_SET_NAME: string | null;
  COLLATION_NAME: string | null;
  EXTRA: string | null;
  COLUMN_DEFAULT: string | null;
}
interface StatRow {
  TABLE_NAME: string;
  INDEX_NAME: string;
  NON_UNIQUE: string | number;
  SEQ_IN_INDEX: string | number;
  COLUMN_NAME: string;
  SUB_PART: string | number | null;
}

export const listTablesSql = (schema: string) =>
  sql`SELECT TABLE_NAME, ENGINE, TABLE_ROWS, DATA_LENGTH, INDEX_LENGTH FROM information_schema.TABLES
      WHERE TABLE_SCHEMA = ${schema} AND TABLE_TYPE = 'BASE TABLE' ORDER BY TABLE_NAME`;

export const listColumnsSql = (schema: string) =>
  sql`SELECT TABLE_NAME, COLUMN_NAME, ORDINAL_POSITION, COLUMN_TYPE, DATA_TYPE, IS_NULLABLE, CHARACTER_SET_NAME,
             COLLATION_NAME, EXTRA, COLUMN_DEFAULT
      FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ${schema} ORDER BY TABLE_NAME, ORDINAL_POSITION`;

export const listKeysSql = (schema: string) =>
  sql`SELECT TABLE_NAME, INDEX_NAME, NON_UNIQUE, SEQ_IN_INDEX, COLUMN_NAME, SUB_PART
      FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = ${schema} ORDER BY TABLE_NAME, INDEX_NAME, SEQ_IN_INDEX`;

/** Every base table of the endpoint's database with its columns and keys (three queries). */
export async function readSchema(db: ReadDb): Promise<Map<string, TableInfo>> {
  const schema = db.endpoint.database;
  const [tables, columns, keys] = await Promise.all([
    db.rows<TableRow>(listTablesSql(schema)),
    db.rows<ColumnRow>(listColumnsSql(schema)),
    db.rows<StatRow>(listKeysSql(schema)),
  ]);
  const out = new Map<string, TableInfo>();
  for (const t of tables) {
    out.set(t.TABLE_NAME, {
      name: t.TABLE_NAME,
      engine: t.ENGINE,
      rowsEstimate: String(t.TABLE_ROWS ?? '0'),
      bytesEstimate: (BigInt(t.DATA_LENGTH ?? '0') + BigInt(t.INDEX_LENGTH ?? '0')).toString(),
      columns: [],
      keys: [],
    });
  }
  for (const c of columns) {
    const t = out.get(c.TABLE_NAME);
    if (!t) continue; // a view
    const extra = (c.EXTRA ?? '').toUpperCase();
    t.columns.push({
      name: c.COLUMN_NAME,
      position: Number(c.ORDINAL_POSITION),
      type: c.COLUMN_TYPE.toLowerCase(),
      dataType: c.DATA_TYPE.toLowerCase(),
      nullable: c.IS_NULLABLE === 'YES',
      charset: c.CHARACTER_SET_NAME,
      collation: c.COLLATION_NAME,
      generated: /GENERATED|VIRTUAL|PERSISTENT|STORED/.test(extra),
      autoIncrement: extra.includes('AUTO_INCREMENT'),
      defaultValue: c.COLUMN_DEFAULT,
    });
  }
  for (const k of keys) {
    const t = out.get(k.TABLE_NAME);
    if (!t) continue;
    let key = t.keys.find((x) => x.name === k.INDEX_NAME);
    if (!key) {
      key = { name: k.INDEX_NAME, unique: String(k.NON_UNIQUE) === '0', columns: [], hasPrefix: false };
      t.keys.push(key);
    }
    key.columns.push(k.COLUMN_NAME);
    if (k.SUB_PART !== null && k.SUB_PART !== undefined) key.hasPrefix = true;
  }
  return out;
}

/** Triggers of the endpoint's database (fw-shard's own are named fw_shard_*). */
export const listTriggersSql = (schema: string) =>
  sql`SELECT TRIGGER_NAME, EVENT_OBJECT_TABLE, ACTION_TIMING, EVENT_MANIPULATION FROM information_schema.TRIGGERS
      WHERE TRIGGER_SCHEMA = ${schema} ORDER BY EVENT_OBJECT_TABLE, TRIGGER_NAME`;

export interface TriggerInfo {
  name: string;
  table: string;
  timing: 'BEFORE' | 'AFTER';
  event: 'INSERT' | 'UPDATE' | 'DELETE';
}

export async function readTriggers(db: ReadDb): Promise<TriggerInfo[]> {
  const rows = await db.rows<{ TRIGGER_NAME: string; EVENT_OBJECT_TABLE: string; ACTION_TIMING: string; EVENT_MANIPULATION: string }>(
    listTriggersSql(db.endpoint.database),
  );
  return rows.map((r) => ({
    name: r.TRIGGER_NAME,
    table: r.EVENT_OBJECT_TABLE,
    timing: r.ACTION_TIMING as TriggerInfo['timing'],
    event: r.EVENT_MANIPULATION as TriggerInfo['event'],
  }));
}

/**
 * Foreign keys that touch the endpoint's database: its tables' own, and those of other databases that
 * reference its tables. One row per column, in the key's column order.
 */
export const listForeignKeysSql = (schema: string) =>
  sql`SELECT k.CONSTRAINT_NAME, k.TABLE_SCHEMA, k.TABLE_NAME, k.COLUMN_NAME, k.REFERENCED_TABLE_SCHEMA, k.REFERENCED_TABLE_NAME,
             k.REFERENCED_COLUMN_NAME, r.UPDATE_RULE, r.DELETE_RULE
      FROM information_schema.KEY_COLUMN_USAGE k
      JOIN information_schema.REFERENTIAL_CONSTRAINTS r
        ON r.CONSTRAINT_SCHEMA = k.CONSTRAINT_SCHEMA AND r.TABLE_NAME = k.TABLE_NAME AND r.CONSTRAINT_NAME = k.CONSTRAINT_NAME
      WHERE k.REFERENCED_TABLE_NAME IS NOT NULL AND (k.TABLE_SCHEMA = ${schema} OR k.REFERENCED_TABLE_SCHEMA = ${schema})
      ORDER BY k.TABLE_SCHEMA, k.TABLE_NAME, k.CONSTRAINT_NAME, k.ORDINAL_POSITION`;

export interface ForeignKeyInfo {
  name: string;
  /** The referencing (child) table and its database. */
  schema: string;
  table: string;
  columns: string[];
  /** The referenced (parent) table and its database. */
  refSchema: string;
  refTable: string;
  refColumns: string[];
  /** RESTRICT, CASCADE, SET NULL, NO ACTION, SET DEFAULT */
  onUpdate: string;
  onDelete: string;
}

interface ForeignKeyRow {
  CONSTRAINT_NAME: string;
  TABLE_SCHEMA: string;
  TABLE_NAME: string;
  COLUMN_NAME: string;
  REFERENCED_TABLE_SCHEMA: string;
  REFERENCED_TABLE_NAME: string;
  REFERENCED_COLUMN_NAME: string;
  UPDATE_RULE: string;
  DELETE_RULE: string;
}

export async function readForeignKeys(db: ReadDb): Promise<ForeignKeyInfo[]> {
  const out = new Map<string, ForeignKeyInfo>();
  for (const r of await db.rows<ForeignKeyRow>(listForeignKeysSql(db.endpoint.database))) {
    const id = JSON.stringify([r.TABLE_SCHEMA, r.TABLE_NAME, r.CONSTRAINT_NAME]);
    let fk = out.get(id);
    if (!fk) {
      fk = {
        name: r.CONSTRAINT_NAME,
        schema: r.TABLE_SCHEMA,
        table: r.TABLE_NAME,
        columns: [],
        refSchema: r.REFERENCED_TABLE_SCHEMA,
        refTable: r.REFERENCED_TABLE_NAME,
        refColumns: [],
        onUpdate: r.UPDATE_RULE,
        onDelete: r.DELETE_RULE,
      };
      out.set(id, fk);
    }
    fk.columns.push(r.COLUMN_NAME);
    fk.refColumns.push(r.REFERENCED_COLUMN_NAME);
  }
  return [...out.values()];
}

/**
 * What a move's schema fingerprint reads (src/move/schema-guard.ts): for the moved tables of one
 * database, everything whose change would make the move's plan, its capture or its comparisons wrong.
 * Plain rows, hashed by the caller; each query covers every table at once.
 */
import { join, sql, type Sql } from './fragment.js';

const inTables = (tables: readonly string[]): Sql => join(tables.map((t) => sql`${t}`));

/** Columns, as a set (order does not matter to fw-shard's statements, which name every column). */
export const fingerprintColumnsSql = (schema: string, tables: readonly string[]) =>
  sql`SELECT TABLE_NAME AS t, CONCAT_WS('|', COLUMN_NAME, COLUMN_TYPE, IS_NULLABLE, IFNULL(CHARACTER_SET_NAME, ''), IFNULL(COLLATION_NAME, ''),
             IFNULL(COLUMN_DEFAULT, '~'), EXTRA, IFNULL(GENERATION_EXPRESSION, '')) AS v
      FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ${schema} AND TABLE_NAME IN (${inTables(tables)}) ORDER BY TABLE_NAME, COLUMN_NAME`;

/** Every index column. */
export const fingerprintKeysSql = (schema: string, tables: readonly string[]) =>
  sql`SELECT TABLE_NAME AS t, CONCAT_WS('|', INDEX_NAME, NON_UNIQUE, SEQ_IN_INDEX, COLUMN_NAME, IFNULL(SUB_PART, '')) AS v
      FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = ${schema} AND TABLE_NAME IN (${inTables(tables)}) ORDER BY TABLE_NAME, INDEX_NAME, SEQ_IN_INDEX`;

/** Foreign keys of the tables (their actions decide what trigger mode traces: src/move/cascades.ts). */
export const fingerprintForeignKeysSql = (schema: string, tables: readonly string[]) =>
  sql`SELECT k.TABLE_NAME AS t, CONCAT_WS('|', k.CONSTRAINT_NAME, k.COLUMN_NAME, k.REFERENCED_TABLE_SCHEMA, k.REFERENCED_TABLE_NAME, k.REFERENCED_COLUMN_NAME,
             r.UPDATE_RULE, r.DELETE_RULE) AS v
      FROM information_schema.KEY_COLUMN_USAGE k
      JOIN information_schema.REFERENTIAL_CONSTRAINTS r
        ON r.CONSTRAINT_SCHEMA = k.CONSTRAINT_SCHEMA AND r.TABLE_NAME = k.TABLE_NAME AND r.CONSTRAINT_NAME = k.CONSTRAINT_NAME
      WHERE k.TABLE_SCHEMA = ${schema} AND k.TABLE_NAME IN (${inTables(tables)}) AND k.REFERENCED_TABLE_NAME IS NOT NULL
      ORDER BY k.TABLE_NAME, k.CONSTRAINT_NAME, k.ORDINAL_POSITION`;

/**
 * Every trigger, fw-shard's included, with its creation time: a trigger dropped and created again,
 * even identical, left writes unseen in between.
 */
export const fingerprintTriggersSql = (schema: string, tables: readonly string[]) =>
  sql`SELECT EVENT_OBJECT_TABLE AS t, CONCAT_WS('|', TRIGGER_NAME, ACTION_TIMING, EVENT_MANIPULATION, ACTION_ORDER, MD5(ACTION_STATEMENT),
             DATE_FORMAT(CREATED, '%Y-%m-%d %H:%i:%s.%f')) AS v
      FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = ${schema} AND EVENT_OBJECT_TABLE IN (${inTables(tables)}) ORDER BY EVENT_OBJECT_TABLE, TRIGGER_NAME`;

/**
 * The storage identity: InnoDB's table ids (one per partition), which change when a table is rebuilt,
 * truncated, swapped by RENAME or its partitions are changed. NAME is `db/table` or `db/table#P#p0`,
 * in the server's file-name encoding (see decodeInnodbName). MariaDB: INNODB_SYS_TABLES; MySQL 8:
 * INNODB_TABLES (written, untested here). Needs PROCESS (trigger mode already does).
 */
export const fingerprintStorageSql = (schema: string, mysql8: boolean) =>
  mysql8
    ? sql`SELECT NAME AS name, TABLE_ID AS id FROM information_schema.INNODB_TABLES WHERE NAME LIKE ${`${encodeInnodbName(schema)}/%`}`
    : sql`SELECT NAME AS name, TABLE_ID AS id FROM information_schema.INNODB_SYS_TABLES WHERE NAME LIKE ${`${encodeInnodbName(schema)}/%`}`;

/** Without PROCESS: the tables' and partitions' creation times, a weaker stand-in. */
export const fingerprintCreateTimesSql = (schema: string, tables: readonly string[]) =>
  sql`SELECT TABLE_NAME AS t, CONCAT_WS('|', IFNULL(PARTITION_NAME, ''), IFNULL(DATE_FORMAT(CREATE_TIME, '%Y-%m-%d %H:%i:%s'), '')) AS v
      FROM information_schema.PARTITIONS WHERE TABLE_SCHEMA = ${schema} AND TABLE_NAME IN (${inTables(tables)}) ORDER BY TABLE_NAME, PARTITION_NAME`;

/** Base tables of the database that have the owner column: one created during a move is not in its plan. */
export const ownerTablesSql = (schema: string, owner: string) =>
  sql`SELECT c.TABLE_NAME AS t FROM information_schema.COLUMNS c
      JOIN information_schema.TABLES b ON b.TABLE_SCHEMA = c.TABLE_SCHEMA AND b.TABLE_NAME = c.TABLE_NAME AND b.TABLE_TYPE = 'BASE TABLE'
      WHERE c.TABLE_SCHEMA = ${schema} AND c.COLUMN_NAME = ${owner} ORDER BY c.TABLE_NAME`;

/** The server's file-name encoding of an identifier: [A-Za-z0-9_] stay, anything else is @ and 4 hex digits. */
export function encodeInnodbName(s: string): string {
  return [...s].map((ch) => (/[A-Za-z0-9_]/.test(ch) ? ch : `@${ch.codePointAt(0)!.toString(16).padStart(4, '0')}`)).join('');
}
/** `db/table#P#p0` back to the table's name and its partition (null: not partitioned). */
export function decodeInnodbName(name: string): { table: string; partition: string | null } {
  const rest = name.slice(name.indexOf('/') + 1);
  const m = /^(.*?)#[Pp]#(.*)$/.exec(rest);
  const decode = (x: string) => x.replace(/@([0-9a-f]{4})/g, (_, h: string) => String.fromCharCode(parseInt(h, 16)));
  return m ? { table: decode(m[1]!), partition: decode(m[2]!) } : { table: decode(rest), partition: null };
}

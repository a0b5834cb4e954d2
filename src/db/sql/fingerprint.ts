/**
 * What a move's schema fingerprint reads (src/move/schema-guard.ts): for the moved tables of one
 * database, everything whose change would make the move's plan, its capture or its comparisons wrong.
 * Plain rows, hashed by the caller; each query covers every table at once, narrowed by constants
 * (information_schema reads every table of the server for a join it cannot narrow).
 */
import { join, sql, type Sql } from './fragment.js';

/** `IN (...)` of names; `IN (NULL)` (matching nothing, still valid SQL) for none. */
const nameList = (names: readonly string[]): Sql => (names.length === 0 ? sql`NULL` : join(names.map((n) => sql`${n}`)));

/** Columns, with everything that defines them (EXTRA: auto_increment, INVISIBLE, VIRTUAL/STORED, ON UPDATE). */
export const fingerprintColumnsSql = (schema: string, tables: readonly string[]) =>
  sql`SELECT TABLE_NAME AS t, COLUMN_NAME AS name, COLUMN_TYPE AS type, IS_NULLABLE AS nullable, CHARACTER_SET_NAME AS charset,
             COLLATION_NAME AS collation, COLUMN_DEFAULT AS dflt, EXTRA AS extra, GENERATION_EXPRESSION AS expr
      FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ${schema} AND TABLE_NAME IN (${nameList(tables)}) ORDER BY TABLE_NAME, COLUMN_NAME`;

/**
 * Every index column (STATISTICS), every foreign key column with what it references (KEY_COLUMN_USAGE)
 * and every foreign key's actions (REFERENTIAL_CONSTRAINTS), in one result; `part` says which. Three
 * branches rather than a join: information_schema narrows each by its own constants, where the join of
 * the last two read every table of the server (60 ms with 1,000 of them; measured under the freeze).
 */
export const fingerprintKeysSql = (schema: string, tables: readonly string[]) =>
  sql`SELECT TABLE_NAME AS t, 'keys' AS part, INDEX_NAME AS name, SEQ_IN_INDEX AS seq, COLUMN_NAME AS col, NON_UNIQUE AS a, SUB_PART AS b, INDEX_TYPE AS c
      FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = ${schema} AND TABLE_NAME IN (${nameList(tables)})
      UNION ALL
      SELECT TABLE_NAME, 'foreignKeys', CONSTRAINT_NAME, ORDINAL_POSITION, COLUMN_NAME, REFERENCED_TABLE_SCHEMA, REFERENCED_TABLE_NAME, REFERENCED_COLUMN_NAME
      FROM information_schema.KEY_COLUMN_USAGE
      WHERE TABLE_SCHEMA = ${schema} AND TABLE_NAME IN (${nameList(tables)}) AND REFERENCED_TABLE_NAME IS NOT NULL
      UNION ALL
      SELECT TABLE_NAME, 'foreignKeys', CONSTRAINT_NAME, 0, NULL, UPDATE_RULE, DELETE_RULE, NULL
      FROM information_schema.REFERENTIAL_CONSTRAINTS WHERE CONSTRAINT_SCHEMA = ${schema} AND TABLE_NAME IN (${nameList(tables)})
      ORDER BY t, part, name, seq`;

/**
 * Every trigger, fw-shard's included, with its creation time (CREATED: 10 ms steps): a trigger dropped
 * and created again, even identical, left writes unseen in between. information_schema shows only the
 * triggers of tables the login has the TRIGGER privilege on (trigger mode needs it anyway).
 */
/** fw-shard's own trigger names, as a LIKE pattern (the underscores escaped). */
const OWN_TRIGGERS = 'fw\\_shard\\_%';

export const fingerprintTriggersSql = (schema: string, tables: readonly string[], own = true) =>
  sql`SELECT EVENT_OBJECT_TABLE AS t, TRIGGER_NAME AS name, ACTION_TIMING AS timing, EVENT_MANIPULATION AS event, ACTION_ORDER AS ord,
             MD5(ACTION_STATEMENT) AS body, DATE_FORMAT(CREATED, '%Y-%m-%d %H:%i:%s.%f') AS created
      FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = ${schema} AND EVENT_OBJECT_TABLE IN (${nameList(tables)})${own ? sql`` : sql` AND TRIGGER_NAME NOT LIKE ${OWN_TRIGGERS}`}
      ORDER BY EVENT_OBJECT_TABLE, TRIGGER_NAME`;

/**
 * The storage identity: InnoDB's TABLE_ID of each table or partition, which a rebuild, TRUNCATE, a
 * RENAME swap or partition maintenance changes (MariaDB 10.11: TRUNCATE, TRUNCATE/EXCHANGE/REORGANIZE
 * PARTITION, OPTIMIZE and ALTER ... FORCE all give new ids; INSTANT ADD COLUMN and ADD INDEX do not).
 * Needs PROCESS. NAME is `db/table`, `db/table#P#p0` or `db/table#P#p0#SP#p0sp0` in the server's file-name
 * encoding (`@002d` for '-', `@0p` for 'é'): nothing is decoded here, the server encodes each wanted name
 * itself (CONVERT ... USING filename) and a row belongs to a table when NAME is that `db/table` or starts
 * with it and the partition separator (no LIKE: `_` would be a wildcard). Each row carries the name asked
 * for. MariaDB: INNODB_SYS_TABLES; MySQL 8: INNODB_TABLES (written, untested here, CONVERT ... USING
 * filename included).
 */
export const fingerprintStorageSql = (schema: string, tables: readonly string[], mysql8: boolean) => {
  const names =
    tables.length === 0
      ? sql`SELECT NULL AS t`
      : join(
          tables.map((n) => sql`SELECT ${n} AS t`),
          ' UNION ALL ',
        );
  const source = mysql8 ? sql`information_schema.INNODB_TABLES` : sql`information_schema.INNODB_SYS_TABLES`;
  return sql`SELECT w.t AS t, s.NAME AS name, s.TABLE_ID AS id
      FROM (SELECT n.t, CONCAT(CAST(CONVERT(${schema} USING filename) AS BINARY), '/', CAST(CONVERT(n.t USING filename) AS BINARY)) AS base
            FROM (${names}) n) w
      JOIN ${source} s ON s.NAME = w.base OR LEFT(s.NAME, LENGTH(w.base) + 3) IN (CONCAT(w.base, '#P#'), CONCAT(w.base, '#p#'))
      ORDER BY w.t, s.NAME`;
};

/** Without PROCESS: the creation time of each table and partition (whole seconds; TRUNCATE keeps it). */
export const fingerprintCreateTimesSql = (schema: string, tables: readonly string[]) =>
  sql`SELECT TABLE_NAME AS t, PARTITION_NAME AS part, SUBPARTITION_NAME AS sub, DATE_FORMAT(CREATE_TIME, '%Y-%m-%d %H:%i:%s') AS created
      FROM information_schema.PARTITIONS WHERE TABLE_SCHEMA = ${schema} AND TABLE_NAME IN (${nameList(tables)})
      ORDER BY TABLE_NAME, PARTITION_NAME, SUBPARTITION_NAME`;

/**
 * Tables of the database that hold rows (base tables, MariaDB's system-versioned ones too) and have the
 * owner column. The schema is a constant on both sides: joined on it, TABLES read every database.
 */
export const ownerTablesSql = (schema: string, owner: string) =>
  sql`SELECT c.TABLE_NAME AS t FROM information_schema.COLUMNS c
      JOIN information_schema.TABLES b ON b.TABLE_NAME = c.TABLE_NAME
      WHERE c.TABLE_SCHEMA = ${schema} AND b.TABLE_SCHEMA = ${schema} AND c.COLUMN_NAME = ${owner} AND b.TABLE_TYPE IN ('BASE TABLE', 'SYSTEM VERSIONED')
      ORDER BY c.TABLE_NAME`;

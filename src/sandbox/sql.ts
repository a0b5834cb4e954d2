/**
 * SQL for the local sandbox: the Flamework-style schema (db_main, ticket servers, per-user shard tables)
 * and the bulk inserts that fill it. Every table name is qualified with its database, so one connection
 * per server serves every database on it (poor man's mode puts them all in one database anyway).
 *
 * The shapes follow the reference (flamework.md §3): utf8 (utf8mb3) tables as Flamework ships them, with
 * per-column exceptions that make a mover's life hard on purpose: utf8mb4 text with emoji, latin1 columns
 * holding bytes 0x80-0xFF, a BLOB with NUL/tab/newline/backslash bytes, a table without an index on
 * user_id, one without a primary key and one without any key at all (with duplicate rows).
 */
import { ident, join, raw, sql, type Sql, type Value } from '../db/sql/fragment.js';

/** The per-user tables every shard holds, in load order. */
export const SHARD_TABLES = ['Sheets', 'Dots', 'FlickrPhotos', 'FlickrFaves', 'FlickrContacts'] as const;
export type ShardTable = (typeof SHARD_TABLES)[number];

/** Tickets64 starts just above 2^53 so every 64-bit ticket is beyond a JS number's exact range. */
const TICKETS64_START = '9007199254740993';

/** `CREATE DATABASE` with Flamework's default charset (utf8, i.e. utf8mb3). */
export function createDatabase(db: string): Sql {
  // Flamework's schema files declare DEFAULT CHARSET=utf8 per table; the database default matches.
  return sql`CREATE DATABASE IF NOT EXISTS ${ident(db)} DEFAULT CHARACTER SET utf8 COLLATE utf8_general_ci`;
}

/** db_main: `users` exactly as upstream db_main.schema, the password reset table, and a lookup table. */
export function mainTables(db: string): Sql[] {
  return [
    sql`CREATE TABLE ${ident(db, 'users')} (
  id INT(11) UNSIGNED NOT NULL AUTO_INCREMENT,
  username VARCHAR(255) DEFAULT NULL,
  email VARCHAR(255) DEFAULT NULL,
  deleted INT(10) UNSIGNED NOT NULL,
  created INT(10) UNSIGNED NOT NULL,
  password CHAR(64) DEFAULT NULL,
  conf_code CHAR(24) DEFAULT NULL,
  confirmed INT(10) UNSIGNED NOT NULL,
  cluster_id TINYINT(3) UNSIGNED NOT NULL,
  PRIMARY KEY (id),
  UNIQUE KEY by_email (email),
  UNIQUE KEY by_username (username, deleted)
) ENGINE=InnoDB AUTO_INCREMENT=1 DEFAULT CHARSET=utf8`,
    sql`CREATE TABLE ${ident(db, 'users_password_reset')} (
  user_id INT(11) UNSIGNED NOT NULL,
  reset_code CHAR(32) CHARACTER SET latin1 DEFAULT NULL,
  created INT(10) UNSIGNED NOT NULL,
  UNIQUE KEY by_code (reset_code),
  KEY by_user (user_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8`,
    // A lookup on db_main (object id -> user): carries user_id but must never be moved.
    sql`CREATE TABLE ${ident(db, 'DotsLookup')} (
  dot_id BIGINT(20) UNSIGNED NOT NULL,
  user_id INT(11) UNSIGNED NOT NULL,
  PRIMARY KEY (dot_id),
  KEY by_user (user_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8`,
  ];
}

/** The ticket tables exactly as upstream db_tickets.schema (MyISAM, one row per table, unique stub). */
export function ticketTables(db: string): Sql[] {
  return [
    sql`CREATE TABLE ${ident(db, 'Tickets32')} (
  id INT(11) UNSIGNED NOT NULL AUTO_INCREMENT,
  stub CHAR(1) NOT NULL DEFAULT '',
  PRIMARY KEY (id),
  UNIQUE KEY stub (stub)
) ENGINE=MyISAM`,
    sql`CREATE TABLE ${ident(db, 'Tickets64')} (
  id BIGINT(20) UNSIGNED NOT NULL AUTO_INCREMENT,
  stub CHAR(1) NOT NULL DEFAULT '',
  PRIMARY KEY (id),
  UNIQUE KEY stub (stub)
) ENGINE=MyISAM AUTO_INCREMENT=${raw(TICKETS64_START)}`,
  ];
}

/** The per-user tables of every shard. */
export function shardTables(db: string): Sql[] {
  return [
    sql`CREATE TABLE ${ident(db, 'Sheets')} (
  id BIGINT(20) UNSIGNED NOT NULL,
  user_id INT(11) UNSIGNED NOT NULL,
  created INT(10) UNSIGNED NOT NULL,
  label VARCHAR(255) CHARACTER SET utf8mb4 DEFAULT NULL,
  mime_type VARCHAR(64) DEFAULT NULL,
  PRIMARY KEY (id),
  KEY by_user (user_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8`,
    sql`CREATE TABLE ${ident(db, 'Dots')} (
  id BIGINT(20) UNSIGNED NOT NULL,
  sheet_id BIGINT(20) UNSIGNED NOT NULL,
  user_id INT(11) UNSIGNED NOT NULL,
  created INT(10) UNSIGNED NOT NULL,
  perms TINYINT(3) UNSIGNED NOT NULL,
  details_json TEXT CHARACTER SET utf8mb4 DEFAULT NULL,
  index_on VARCHAR(255) CHARACTER SET latin1 NOT NULL,
  PRIMARY KEY (id),
  KEY by_user (user_id, perms)
) ENGINE=InnoDB DEFAULT CHARSET=utf8`,
    // No index on user_id (parallel-flickr): a mover has to scan or chunk by PK.
    sql`CREATE TABLE ${ident(db, 'FlickrPhotos')} (
  id BIGINT(20) UNSIGNED NOT NULL,
  user_id INT(11) UNSIGNED NOT NULL,
  exif BLOB DEFAULT NULL,
  title VARCHAR(255) NOT NULL,
  deleted INT(11) UNSIGNED NOT NULL,
  PRIMARY KEY (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8`,
    // No primary key; a unique key instead.
    sql`CREATE TABLE ${ident(db, 'FlickrFaves')} (
  user_id INT(11) UNSIGNED NOT NULL,
  photo_id BIGINT(20) UNSIGNED NOT NULL,
  owner_id INT(11) UNSIGNED NOT NULL,
  date_faved INT(11) UNSIGNED NOT NULL,
  UNIQUE KEY by_fave (photo_id, user_id),
  KEY by_user (user_id, date_faved)
) ENGINE=InnoDB DEFAULT CHARSET=utf8`,
    // No keys at all, and exact duplicate rows exist.
    sql`CREATE TABLE ${ident(db, 'FlickrContacts')} (
  user_id INT(11) UNSIGNED NOT NULL,
  contact_id INT(11) UNSIGNED NOT NULL,
  contact_nsid VARCHAR(20) NOT NULL,
  rel TINYINT(3) UNSIGNED NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8`,
  ];
}

/** Columns in insert order, per table. */
export const COLUMNS = {
  users: ['username', 'email', 'deleted', 'created', 'password', 'conf_code', 'confirmed', 'cluster_id'],
  users_password_reset: ['user_id', 'reset_code', 'created'],
  DotsLookup: ['dot_id', 'user_id'],
  Sheets: ['id', 'user_id', 'created', 'label', 'mime_type'],
  Dots: ['id', 'sheet_id', 'user_id', 'created', 'perms', 'details_json', 'index_on'],
  FlickrPhotos: ['id', 'user_id', 'exif', 'title', 'deleted'],
  FlickrFaves: ['user_id', 'photo_id', 'owner_id', 'date_faved'],
  FlickrContacts: ['user_id', 'contact_id', 'contact_nsid', 'rel'],
} as const satisfies Record<string, readonly string[]>;

/**
 * One multi-row INSERT. Values are typed: strings are text (sent as UTF-8 on the utf8mb4 connection),
 * Buffers are bytes (sent as X'..' literals, so latin1/BLOB columns get exactly those bytes).
 */
export function insertRows(db: string, table: string, columns: readonly string[], rows: readonly (readonly Value[])[]): Sql {
  if (rows.length === 0) throw new Error('insertRows: no rows');
  const cols = join(columns.map((c) => ident(c)));
  const tuples = join(rows.map((r) => sql`(${join(r.map((v) => sql`${v}`))})`));
  return sql`INSERT INTO ${ident(db, table)} (${cols}) VALUES ${tuples}`;
}

/** Flamework's ticket: `REPLACE INTO Tickets64 (stub) VALUES ('a')`; the id is the statement's insert id. */
export function replaceTicket(db: string, bits: 32 | 64): Sql {
  return sql`REPLACE INTO ${ident(db, bits === 64 ? 'Tickets64' : 'Tickets32')} (stub) VALUES ('a')`;
}

/**
 * Poor man's ticketing (lib_dbtickets.php): the ticket connection is db_main's, and every ticket is
 * taken after these two session settings, so poor man's tickets are always odd.
 */
export function poorMansTicketSession(): Sql[] {
  return [sql`SET @@auto_increment_increment=2`, sql`SET @@auto_increment_offset=1`];
}

/** User ids (as strings: never a JS number) by username, after the multi-row insert. */
export function selectUserIds(db: string): Sql {
  // Hazard: `ORDER BY id` would sort by the CAST alias, i.e. as text ("10" before "9").
  return sql`SELECT CAST(u.id AS CHAR) AS id, u.username, u.cluster_id FROM ${ident(db, 'users')} AS u ORDER BY u.id`;
}

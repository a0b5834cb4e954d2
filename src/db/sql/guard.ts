/**
 * The shard-side guard (online moves in trigger mode): objects fw-shard creates in each shard database
 * it moves users from or to.
 *
 *  - `fw_shard_fence`: one row per moving or moved user. `capturing` (changes are logged), `frozen`
 *    (held, uncommitted, by the mover during the cut-over: writers of the user wait on the row lock),
 *    `moved` (every write of the user is refused: it lives elsewhere now), `incoming` (on the target
 *    until the flip: the app's writes of the user are refused there).
 *  - `fw_shard_changes`: the moving user's changed keys, logged by the triggers in the writer's own
 *    transaction. A queue: fw-shard reads what is committed, applies it, deletes exactly those rows.
 *  - three triggers per sharded table (BEFORE INSERT/UPDATE/DELETE), named
 *    fw_shard_<table hash>_<body hash>_{bi,bu,bd}: a body that changes (another fw-shard version, a
 *    table whose cascading foreign keys changed) gets new names, so the new triggers are created
 *    before the old ones are dropped and no write goes unseen in between (Guard.install).
 *    A user without a fence row costs one primary-key lookup per written row. fw-shard's own data
 *    sessions pass through untouched: they set @fw_shard_writer to WRITER_MARK, which names their own
 *    connection, so a session that merely happens to set the variable (or a proxy that carries it to
 *    another connection) is fenced and logged like any other.
 */
import { createHash } from 'node:crypto';
import { ident, join, NumericLiteral, quoteIdent, quoteString, raw, sql, toText, type Sql } from './fragment.js';
import type { ColumnInfo } from './schema.js';
import { isShared, ownerOfRow, parentSpec, type OwnerLink } from './rows.js';

export const FENCE = 'fw_shard_fence';
export const CHANGES = 'fw_shard_changes';
const TRIGGER_PREFIX = 'fw_shard_';

/**
 * The value of @fw_shard_writer that lets a session through fw-shard's triggers: tied to the session's
 * own connection id (an expression, evaluated by the server in the session that sets it).
 */
export const WRITER_MARK = "CONCAT('fw-shard writer ', CONNECTION_ID())";

export type FenceState = 'capturing' | 'frozen' | 'moved' | 'incoming';

/** The messages the app sees (SQLSTATE 45000, error 1644): documented in the README. */
export const MOVED_MESSAGE = 'fw-shard: user moved to another shard; re-read its cluster_id and retry there';
export const MOVING_MESSAGE = 'fw-shard: user is being moved; retry in a moment';

const n = (v: string) => new NumericLiteral(v);

export const createFenceSql = () => sql`CREATE TABLE IF NOT EXISTS ${ident(FENCE)} (
  user_id BIGINT UNSIGNED NOT NULL,
  state ENUM('capturing','frozen','moved','incoming') NOT NULL,
  move_id BIGINT UNSIGNED NOT NULL,
  updated_at DATETIME(3) NOT NULL,
  PRIMARY KEY (user_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COMMENT 'fw-shard: users moving from, moved from, or moving to this shard'`;

export const createChangesSql = () => sql`CREATE TABLE IF NOT EXISTS ${ident(CHANGES)} (
  seq BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
  user_id BIGINT UNSIGNED NOT NULL,
  table_name VARCHAR(64) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
  k VARBINARY(6144) NULL COMMENT 'hex of each key column as the server prints it, comma-separated; NULL: keyless table',
  r VARBINARY(6144) NULL COMMENT 'tables referenced by cascading foreign keys: hex of each referenced column (N: NULL), comma-separated',
  PRIMARY KEY (seq),
  KEY by_user (user_id, seq)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COMMENT 'fw-shard: changed keys of users being moved'`;

/** The column fw_shard_changes.r, which older guards lack (Guard.install adds it). */
export const changesRefColumnSql = (schema: string) =>
  sql`SELECT COUNT(*) AS n FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ${schema} AND TABLE_NAME = ${CHANGES} AND COLUMN_NAME = 'r'`;
export const addChangesRefColumnSql = () =>
  sql`ALTER TABLE ${ident(CHANGES)} ADD COLUMN r VARBINARY(6144) NULL COMMENT 'tables referenced by cascading foreign keys: hex of each referenced column (N: NULL), comma-separated'`;

interface GuardedTable {
  name: string;
  owner: ColumnInfo;
  /** Owned through a parent: the owner is looked up along the path (rows.ts ownerOfRow). */
  via?: readonly OwnerLink[];
  key: readonly ColumnInfo[] | null;
  /** Referenced by a cascading foreign key of a moved table: these columns are logged too (src/move/cascades.ts). */
  refs?: readonly ColumnInfo[];
  /** The table's columns (a shared table's UPDATE fence lets a write that changes nothing through). */
  columns?: readonly ColumnInfo[];
}

const sha = (s: string, n: number) => createHash('sha1').update(s).digest('hex').slice(0, n);

/**
 * Trigger names are short whatever the table's name (identifiers stop at 64 characters): a hash of
 * the table's name, and one of the three bodies, so that triggers of another shape never share a name.
 */
export function triggerNames(t: GuardedTable): { bi: string; bu: string; bd: string } {
  const h = sha(t.name, 16);
  const b = sha(triggerBodies(t).join('\n'), 8);
  return { bi: `${TRIGGER_PREFIX}${h}_${b}_bi`, bu: `${TRIGGER_PREFIX}${h}_${b}_bu`, bd: `${TRIGGER_PREFIX}${h}_${b}_bd` };
}

/** fw-shard trigger names of a table, whatever their shape (this version's or an older one's). */
export const isTriggerOfTable = (trigger: string, table: string): boolean => trigger.startsWith(`${TRIGGER_PREFIX}${sha(table, 16)}_`);

/**
 * One column's logged form: the hex of its text, except for TIMESTAMP, whose text depends on the
 * writer's time_zone (a session at +05:00, or SYSTEM on a host that is not at UTC, would log another
 * instant than fw-shard's UTC sessions read): `T` and its UNIX_TIMESTAMP, the same in every session
 * (decodeLoggedValue in src/move/guard.ts turns it back into UTC text; 0 is the zero date).
 */
function valueExpr(row: 'NEW' | 'OLD', c: ColumnInfo): string {
  const v = `${row}.${quoteIdent(c.name)}`;
  return c.dataType === 'timestamp' ? `CONCAT('T', UNIX_TIMESTAMP(${v}))` : `HEX(CONVERT(${v} USING binary))`;
}

/** The logged form of a row's key: each key column's logged form (valueExpr), comma-separated (see decodeLoggedKey). */
function keyExpr(row: 'NEW' | 'OLD', key: readonly ColumnInfo[] | null): string {
  if (!key) return 'NULL';
  return `CONCAT_WS(',', ${key.map((c) => valueExpr(row, c)).join(', ')})`;
}

/** The logged form of a row's referenced columns: as keyExpr, with N standing for NULL (hex has no N). */
function refsExpr(row: 'NEW' | 'OLD', refs: readonly ColumnInfo[] | undefined): string {
  if (!refs || refs.length === 0) return 'NULL';
  return `CONCAT_WS(',', ${refs.map((c) => `IFNULL(${valueExpr(row, c)}, 'N')`).join(', ')})`;
}

/** The check for one owner value: refuse when moved or moving, log when capturing. */
function fenceBlock(row: 'NEW' | 'OLD', t: GuardedTable, logRows: ('NEW' | 'OLD')[]): string {
  const owner = ownerExpr(row, t);
  const logs = logRows
    .map(
      (r) =>
        `INSERT INTO ${quoteIdent(CHANGES)} (user_id, table_name, k, r) VALUES (${owner}, ${quoteString(t.name)}, ${keyExpr(r, t.key)}, ${refsExpr(r, t.refs)});`,
    )
    .join(' ');
  // A fence table dropped by hand (with the triggers left behind) must not break the app's writes.
  return `SET st = NULL;
    BEGIN
      DECLARE CONTINUE HANDLER FOR SQLSTATE '42S02' SET st = NULL;
      SELECT state INTO st FROM ${quoteIdent(FENCE)} WHERE user_id = ${owner} LOCK IN SHARE MODE;
    END;
    IF st = 'capturing' THEN ${logs}
    ELSEIF st = 'moved' THEN SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = ${quoteString(MOVED_MESSAGE)};
    ELSEIF st IS NOT NULL THEN SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = ${quoteString(MOVING_MESSAGE)};
    END IF;`;
}

/**
 * The row's owner: its owner column, or, owned through a parent, the lookup along the path (NULL when
 * the parent is not there: nobody's row, neither fenced nor logged; a parent's own triggers see it come).
 */
function ownerExpr(row: 'NEW' | 'OLD', t: GuardedTable): string {
  return (t.via ?? []).length === 0 ? `${row}.${quoteIdent(t.owner.name)}` : toText(ownerOfRow(t, row));
}

/** The column whose change is a change of owner: the owner column, or the first link of the path. */
const ownerColumnOf = (t: GuardedTable): string => quoteIdent(t.via?.[0]?.column.name ?? t.owner.name);

function wrapBody(body: string): string {
  return `BEGIN
  DECLARE st VARCHAR(10) DEFAULT NULL;
  IF NOT (@fw_shard_writer <=> ${WRITER_MARK}) THEN
    ${body}
  END IF;
END`;
}

/**
 * A table referenced by cascading foreign keys: its row may be another user's while the rows its
 * cascade changes are the moving user's (a note on someone else's item). Such a change is logged for
 * every user being captured on the shard; reading a `frozen` fence row waits for that freeze to end,
 * so no cascade reaches a moving user's rows between the freeze's comparison and the fence's `moved`.
 */
function othersBlock(t: GuardedTable, rows: ('NEW' | 'OLD')[]): string {
  if (!t.refs || t.refs.length === 0) return '';
  const not = rows.map((r) => `user_id <> ${ownerExpr(r, t)}`).join(' AND ');
  const logs = rows
    .map(
      (r) =>
        `INSERT INTO ${quoteIdent(CHANGES)} (user_id, table_name, k, r) SELECT user_id, ${quoteString(t.name)}, ${keyExpr(r, t.key)}, ${refsExpr(r, t.refs)} ` +
        `FROM ${quoteIdent(FENCE)} WHERE state IN ('capturing', 'frozen') AND ${not} LOCK IN SHARE MODE;`,
    )
    .join(' ');
  return `
    BEGIN
      DECLARE CONTINUE HANDLER FOR SQLSTATE '42S02' BEGIN END;
      ${logs}
    END;`;
}

/**
 * A shared table's fence (tables.shared): a row here is several users' (every user whose rows of the
 * referring table refer to it), so no owner is logged, and the move compares the table whole under the
 * freeze instead (cascades.ts). A write is refused only while the row is fenced users' alone: users
 * being frozen or moved on this shard refer to it and no other user does (a target's incoming users do not
 * count: fw-shard rewrites their rows there anyway; a referrer whose owner is not found counts as
 * another's, as in the cleanup's rows.ts keptForOthers). Such a row is the moving user's to the move,
 * which compares and deletes it; a row another user refers to stays theirs to write on this shard.
 */
function sharedFenceBlock(row: 'NEW' | 'OLD', t: GuardedTable): string {
  const link = t.via![0]!;
  const parent = parentSpec(t);
  const ref = (alias: string) =>
    `FROM ${quoteIdent(link.parent)} ${alias} WHERE ${alias}.${quoteIdent(link.parentKey.name)} = ${row}.${quoteIdent(link.column.name)}`;
  const ownerOf = (alias: string) => toText(ownerOfRow(parent, alias));
  const fenced = `SELECT fw_f.user_id FROM ${quoteIdent(FENCE)} fw_f WHERE fw_f.state IN ('frozen', 'moved')`;
  return `SET st = NULL;
    BEGIN
      DECLARE CONTINUE HANDLER FOR SQLSTATE '42S02' SET st = NULL;
      SELECT state INTO st FROM ${quoteIdent(FENCE)}
        WHERE state IN ('frozen', 'moved') AND user_id IN (SELECT ${ownerOf('fw_r')} ${ref('fw_r')})
          AND NOT EXISTS (SELECT 1 ${ref('fw_o')} AND (${ownerOf('fw_o')} IS NULL OR ${ownerOf('fw_o')} NOT IN (${fenced})))
        ORDER BY state = 'moved' DESC LIMIT 1 LOCK IN SHARE MODE;
    END;
    IF st = 'moved' THEN SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = ${quoteString(MOVED_MESSAGE)};
    ELSEIF st IS NOT NULL THEN SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = ${quoteString(MOVING_MESSAGE)};
    END IF;`;
}

/** The bodies (FOR EACH ROW ...) of the INSERT, UPDATE and DELETE triggers. An UPDATE checks (and logs for) the old owner and, if it changed, the new one. */
function triggerBodies(t: GuardedTable): [string, string, string] {
  if (isShared(t)) {
    // No INSERT fence: a new key has no referrer yet, and the app writes an item before the row that
    // refers to it (INSERT IGNORE, or ON DUPLICATE KEY UPDATE, whose update runs the UPDATE trigger):
    // a BEFORE INSERT trigger fires before the duplicate is found, and a SIGNAL there is not ignored.
    // An UPDATE that changes nothing (ON DUPLICATE KEY UPDATE id = id) is not fenced either.
    const key = quoteIdent(t.via![0]!.column.name);
    const same = (t.columns ?? []).map((c) => `NEW.${quoteIdent(c.name)} <=> OLD.${quoteIdent(c.name)}`).join(' AND ') || 'FALSE';
    return [
      wrapBody(othersBlock(t, ['NEW']) || 'DO 0;'),
      wrapBody(`IF NOT (${same}) THEN ${sharedFenceBlock('OLD', t)}
    IF NOT (NEW.${key} <=> OLD.${key}) THEN ${sharedFenceBlock('NEW', t)} END IF; END IF;${othersBlock(t, ['OLD', 'NEW'])}`),
      wrapBody(sharedFenceBlock('OLD', t) + othersBlock(t, ['OLD'])),
    ];
  }
  const owner = ownerColumnOf(t);
  return [
    wrapBody(fenceBlock('NEW', t, ['NEW']) + othersBlock(t, ['NEW'])),
    wrapBody(`${fenceBlock('OLD', t, ['OLD', 'NEW'])}
    IF NOT (NEW.${owner} <=> OLD.${owner}) THEN ${fenceBlock('NEW', t, ['NEW'])} END IF;${othersBlock(t, ['OLD', 'NEW'])}`),
    wrapBody(fenceBlock('OLD', t, ['OLD']) + othersBlock(t, ['OLD'])),
  ];
}

/** The three triggers of a table, in the order of triggerNames' bi, bu, bd. */
export function createTriggersSql(t: GuardedTable): Sql[] {
  const names = triggerNames(t);
  const [bi, bu, bd] = triggerBodies(t);
  const create = (name: string, event: string, body: string) =>
    sql`CREATE TRIGGER ${ident(name)} BEFORE ${raw(event)} ON ${ident(t.name)} FOR EACH ROW ${raw(body)}`;
  return [create(names.bi, 'INSERT', bi), create(names.bu, 'UPDATE', bu), create(names.bd, 'DELETE', bd)];
}

export const dropTriggerSql = (name: string) => sql`DROP TRIGGER IF EXISTS ${ident(name)}`;

/** fw-shard's triggers in the endpoint's database, with their tables. */
export const guardTriggersSql = (schema: string) =>
  sql`SELECT TRIGGER_NAME AS name, EVENT_OBJECT_TABLE AS tbl FROM information_schema.TRIGGERS
      WHERE TRIGGER_SCHEMA = ${schema} AND TRIGGER_NAME LIKE ${likePrefix(TRIGGER_PREFIX)} ORDER BY EVENT_OBJECT_TABLE, TRIGGER_NAME`;

/**
 * A LIKE pattern for names starting with `prefix`: its `_` and `%` escaped, or LIKE would read them as
 * wildcards (`fw_shard_%` also matches an app's `fw-shard-audit`, which Guard.remove would then drop).
 */
const likePrefix = (prefix: string): string => prefix.replace(/[\\%_]/g, (c) => `\\${c}`) + '%';

/** Set a user's fence (the row is created if needed). */
export const setFenceSql = (userId: string, moveId: string, state: FenceState) =>
  sql`INSERT INTO ${ident(FENCE)} (user_id, state, move_id, updated_at) VALUES (${n(userId)}, ${state}, ${n(moveId)}, NOW(3))
      ON DUPLICATE KEY UPDATE state = VALUES(state), move_id = VALUES(move_id), updated_at = VALUES(updated_at)`;

/** Change the state of this move's fence row only if it is in `from` (compare-and-set). */
export const casFenceSql = (userId: string, moveId: string, from: FenceState, to: FenceState) =>
  sql`UPDATE ${ident(FENCE)} SET state = ${to}, updated_at = NOW(3) WHERE user_id = ${n(userId)} AND move_id = ${n(moveId)} AND state = ${from}`;

export const fenceOfSql = (userId: string) => sql`SELECT state, move_id FROM ${ident(FENCE)} WHERE user_id = ${n(userId)}`;

export const fencesSql = () =>
  sql`SELECT user_id, state, move_id, DATE_FORMAT(updated_at, '%Y-%m-%dT%H:%i:%s.%fZ') AS updated_at,
             TIMESTAMPDIFF(SECOND, updated_at, NOW(3)) AS age_s FROM ${ident(FENCE)} ORDER BY user_id`;

/** Remove a user's fence row (only this move's, unless moveId is null), whatever its state or only in `states`. */
export function deleteFenceSql(userId: string, moveId: string | null, states?: readonly FenceState[]): Sql {
  const parts: Sql[] = [sql`user_id = ${n(userId)}`];
  if (moveId !== null) parts.push(sql`move_id = ${n(moveId)}`);
  if (states) parts.push(sql`state IN (${join(states.map((s) => sql`${s}`))})`);
  return sql`DELETE FROM ${ident(FENCE)} WHERE ${join(parts, ' AND ')}`;
}

/** The user's logged changes that are committed now, oldest first. */
export const readChangesSql = (userId: string, limit: number) =>
  sql`SELECT seq, table_name, k, r FROM ${ident(CHANGES)} WHERE user_id = ${n(userId)} ORDER BY seq LIMIT ${limit}`;

/** Delete exactly the changes that were applied (never by a range of seq: a gap may commit later). */
export const deleteChangesSql = (seqs: readonly string[]) => sql`DELETE FROM ${ident(CHANGES)} WHERE seq IN (${join(seqs.map((s) => sql`${n(s)}`))})`;

export const deleteUserChangesSql = (userId: string) => sql`DELETE FROM ${ident(CHANGES)} WHERE user_id = ${n(userId)}`;
export const countChangesSql = () => sql`SELECT user_id, COUNT(*) AS n FROM ${ident(CHANGES)} GROUP BY user_id`;

/**
 * Transactions that wrote something and began before `since` (server time), other than ours: a write
 * of the user made before its capture began and not yet committed would be missed by the copy.
 * Needs the PROCESS privilege.
 */
export const olderWritersSql = (since: string) =>
  sql`SELECT trx_mysql_thread_id AS thread, DATE_FORMAT(trx_started, '%Y-%m-%dT%H:%i:%s.%fZ') AS started, trx_rows_modified AS rows_modified
      FROM information_schema.INNODB_TRX
      WHERE trx_started <= ${since} AND trx_rows_modified > 0 AND trx_mysql_thread_id <> CONNECTION_ID()`;

/** Prepared XA transactions that wrote (no session: thread 0), each with its start and rows changed. Needs PROCESS. */
export const preparedXaRowsSql = () =>
  sql`SELECT trx_mysql_thread_id AS thread, DATE_FORMAT(trx_started, '%Y-%m-%dT%H:%i:%s.%fZ') AS started, trx_rows_modified AS rows_modified
      FROM information_schema.INNODB_TRX WHERE trx_mysql_thread_id = 0 AND trx_rows_modified > 0`;

/** Every prepared XA transaction of the server (MySQL 8: needs XA_RECOVER_ADMIN; read only where INNODB_TRX lists none). */
export const xaRecoverSql = () => sql`XA RECOVER`;

export const serverNowSql = () => sql`SELECT DATE_FORMAT(NOW(6), '%Y-%m-%d %H:%i:%s.%f') AS now`;

/** Bound a held freeze on the server side: the session (and its transaction) ends if fw-shard stalls. */
export const boundSessionSql = (seconds: number, mariadb: boolean) =>
  mariadb
    ? sql`SET SESSION idle_transaction_timeout = ${seconds}, SESSION innodb_lock_wait_timeout = ${seconds}`
    : sql`SET SESSION wait_timeout = ${seconds}, SESSION innodb_lock_wait_timeout = ${seconds}`;

export const resetSessionSql = (mariadb: boolean) =>
  mariadb
    ? sql`SET SESSION idle_transaction_timeout = DEFAULT, SESSION innodb_lock_wait_timeout = DEFAULT`
    : sql`SET SESSION wait_timeout = DEFAULT, SESSION innodb_lock_wait_timeout = DEFAULT`;

/** What trigger mode needs, read without writing anything (preflight and --dry-run). */
export const guardFactsSql = () =>
  sql`SELECT @@GLOBAL.log_bin AS log_bin, @@GLOBAL.log_bin_trust_function_creators AS trust, VERSION() AS version, @@GLOBAL.binlog_format AS binlog_format`;

/**
 * Whether the server applies a replication stream: the rows of row-based events are written by the
 * storage engine and fire no trigger (unless MariaDB's slave_run_triggers_for_rbr says so), so writes
 * arriving that way (the other half of a master-master pair) would pass the fence and the log unseen.
 * MariaDB: the Slaves_running status (no privilege needed) and the setting.
 */
export const replicationFactsMariadbSql = () =>
  sql`SELECT (SELECT VARIABLE_VALUE FROM information_schema.GLOBAL_STATUS WHERE VARIABLE_NAME = 'SLAVES_RUNNING') AS running,
             @@GLOBAL.slave_run_triggers_for_rbr AS rbr_triggers`;
/** MySQL 8 (written, not tested here): applier threads that are on; needs SELECT on performance_schema. */
export const replicationFactsMysqlSql = () =>
  sql`SELECT COUNT(*) AS running, 'NO' AS rbr_triggers FROM performance_schema.replication_applier_status WHERE SERVICE_STATE = 'ON'`;

/** Which of fw-shard's two tables exist in the endpoint's database. */
export const guardTablesSql = (schema: string) =>
  sql`SELECT TABLE_NAME AS name FROM information_schema.TABLES WHERE TABLE_SCHEMA = ${schema} AND TABLE_NAME IN (${FENCE}, ${CHANGES}) ORDER BY TABLE_NAME`;

export const dropGuardTablesSql = () => sql`DROP TABLE IF EXISTS ${ident(CHANGES)}, ${ident(FENCE)}`;

/**
 * A metadata-lock wait of 0 for fw-shard's DDL: MariaDB fails at once (1205) instead of queueing an
 * exclusive lock request that every later query of the app's table would wait behind; MySQL's minimum
 * is 1 s (0 is raised to it with a warning). Retried later by the caller.
 */
export const noMetadataWaitSql = () => sql`SET SESSION lock_wait_timeout = 0`;
/** A bounded metadata-lock wait (Guard.ddl's last tries), and the server's default again after the statement. */
export const metadataWaitSql = (seconds: number) => sql`SET SESSION lock_wait_timeout = ${seconds}`;
export const defaultMetadataWaitSql = () => sql`SET SESSION lock_wait_timeout = DEFAULT`;

/** The user's fence, read under a shared lock (the cleanup's fence proof: it cannot be lifted until the range's delete commits). */
export const fenceOfLockedSql = (userId: string) => sql`SELECT state, move_id FROM ${ident(FENCE)} WHERE user_id = ${n(userId)} LOCK IN SHARE MODE`;

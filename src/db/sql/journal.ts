/**
 * The move journal: tables fw-shard creates in the database that holds the user→shard mapping (db_main,
 * or db_accounts in forks that keep `users` there), so the flip and its journal entry commit in one
 * transaction. Documented in README "The journal".
 */
import { ident, sql, NumericLiteral, type Sql } from './fragment.js';

export const MOVES = 'fw_shard_moves';
export const MOVE_TABLES = 'fw_shard_move_tables';
export const MOVE_CHUNKS = 'fw_shard_move_chunks';
export const MOVE_PASSES = 'fw_shard_move_passes';

const UNDO_OF = sql`BIGINT UNSIGNED NULL COMMENT 'fw-shard undo: the move this one undoes (it moves the user back)'`;
const UNDONE_BY = sql`BIGINT UNSIGNED NULL COMMENT 'fw-shard undo: the move undoing this one; while set, this move is never cleaned up'`;

export const createMovesSql = () => sql`CREATE TABLE IF NOT EXISTS ${ident(MOVES)} (
  id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
  user_id BIGINT UNSIGNED NOT NULL,
  from_shard TINYINT UNSIGNED NOT NULL,
  to_shard TINYINT UNSIGNED NOT NULL,
  phase VARCHAR(32) NOT NULL,
  state VARCHAR(16) NOT NULL DEFAULT 'active',
  active_user BIGINT UNSIGNED NULL COMMENT 'user_id while the move is unfinished; NULL after: at most one unfinished move per user',
  cleanup_mode VARCHAR(8) NOT NULL DEFAULT 'now',
  options TEXT NULL,
  runner_host VARCHAR(255) NULL,
  runner_pid INT UNSIGNED NULL,
  heartbeat_at DATETIME(3) NULL,
  created_at DATETIME(3) NOT NULL,
  updated_at DATETIME(3) NOT NULL,
  copy_started_at DATETIME(3) NULL,
  flipped_at DATETIME(3) NULL,
  finished_at DATETIME(3) NULL,
  freeze_started_at DATETIME(3) NULL,
  freeze_ended_at DATETIME(3) NULL,
  error TEXT NULL,
  undo_of ${UNDO_OF},
  undone_by ${UNDONE_BY},
  PRIMARY KEY (id),
  UNIQUE KEY one_unfinished_move_per_user (active_user),
  KEY by_user (user_id),
  KEY by_state (state, phase)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4`;

export const createMoveTablesSql = () => sql`CREATE TABLE IF NOT EXISTS ${ident(MOVE_TABLES)} (
  move_id BIGINT UNSIGNED NOT NULL,
  table_name VARCHAR(64) NOT NULL,
  status VARCHAR(16) NOT NULL DEFAULT 'pending',
  last_key TEXT NULL COMMENT 'JSON array of base64 key values: the copy checkpoint',
  rows_total BIGINT UNSIGNED NOT NULL DEFAULT 0,
  rows_copied BIGINT UNSIGNED NOT NULL DEFAULT 0,
  chunks INT UNSIGNED NOT NULL DEFAULT 0,
  mismatches INT UNSIGNED NOT NULL DEFAULT 0,
  rows_cleaned BIGINT UNSIGNED NOT NULL DEFAULT 0,
  PRIMARY KEY (move_id, table_name)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4`;

export const createMoveChunksSql = () => sql`CREATE TABLE IF NOT EXISTS ${ident(MOVE_CHUNKS)} (
  move_id BIGINT UNSIGNED NOT NULL,
  table_name VARCHAR(64) NOT NULL,
  seq INT UNSIGNED NOT NULL,
  lo TEXT NULL,
  hi TEXT NULL,
  row_count BIGINT UNSIGNED NOT NULL,
  hash DECIMAL(65,0) NOT NULL,
  cleaned TINYINT NOT NULL DEFAULT 0,
  PRIMARY KEY (move_id, table_name, seq)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COMMENT 'hash of what fw-shard last wrote to the target per range (-1: being rewritten); equal to the source at the final verification'`;

/**
 * Every delta pass and freeze attempt of a move, over all its runs, so that a resumed move's summary
 * counts the whole move. A new table (not columns), so journals made by older versions get it from
 * CREATE TABLE IF NOT EXISTS alone.
 */
export const createMovePassesSql = () => sql`CREATE TABLE IF NOT EXISTS ${ident(MOVE_PASSES)} (
  id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
  move_id BIGINT UNSIGNED NOT NULL,
  kind VARCHAR(8) NOT NULL COMMENT 'delta: a delta or log pass; freeze: a freeze attempt',
  started_at DATETIME(3) NOT NULL,
  ended_at DATETIME(3) NULL COMMENT 'NULL: the run stopped inside it (or it is running)',
  ms INT UNSIGNED NULL,
  rows_recopied BIGINT UNSIGNED NULL,
  outcome VARCHAR(16) NULL COMMENT 'freeze: flipped or lifted',
  PRIMARY KEY (id),
  KEY by_move (move_id, id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4`;

const id = (v: string) => new NumericLiteral(v);

/**
 * Columns added to fw_shard_moves after its first release: a journal created by an older fw-shard gets
 * them from ensureTables (MySQL 8 has no ADD COLUMN IF NOT EXISTS, so the missing ones are looked up).
 */
export const ADDED_MOVE_COLUMNS: readonly { name: string; definition: Sql }[] = [
  { name: 'undo_of', definition: UNDO_OF },
  { name: 'undone_by', definition: UNDONE_BY },
];

export const moveColumnsSql = () => sql`SELECT COLUMN_NAME AS name FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ${MOVES}`;

export const addMoveColumnSql = (name: string, definition: Sql) => sql`ALTER TABLE ${ident(MOVES)} ADD COLUMN ${ident(name)} ${definition}`;

export interface NewMove {
  id: string | null;
  userId: string;
  from: number;
  to: number;
  phase: string;
  cleanupMode: string;
  options: string;
  runnerHost: string;
  runnerPid: number;
}

export const insertMoveSql = (m: NewMove) => sql`INSERT INTO ${ident(MOVES)}
  (id, user_id, from_shard, to_shard, phase, state, active_user, cleanup_mode, options, runner_host, runner_pid, heartbeat_at, created_at, updated_at)
  VALUES (${m.id === null ? null : id(m.id)}, ${id(m.userId)}, ${m.from}, ${m.to}, ${m.phase}, 'active', ${id(m.userId)}, ${m.cleanupMode}, ${m.options},
          ${m.runnerHost}, ${m.runnerPid}, NOW(3), NOW(3), NOW(3))`;

const MOVE_COLUMNS = sql`id, user_id, from_shard, to_shard, phase, state, cleanup_mode, options, runner_host, runner_pid,
  DATE_FORMAT(heartbeat_at, '%Y-%m-%dT%H:%i:%s.%fZ') AS heartbeat_at,
  DATE_FORMAT(created_at, '%Y-%m-%dT%H:%i:%s.%fZ') AS created_at,
  DATE_FORMAT(updated_at, '%Y-%m-%dT%H:%i:%s.%fZ') AS updated_at,
  DATE_FORMAT(flipped_at, '%Y-%m-%dT%H:%i:%s.%fZ') AS flipped_at,
  DATE_FORMAT(finished_at, '%Y-%m-%dT%H:%i:%s.%fZ') AS finished_at,
  TIMESTAMPDIFF(MICROSECOND, freeze_started_at, freeze_ended_at) DIV 1000 AS freeze_ms,
  TIMESTAMPDIFF(SECOND, heartbeat_at, NOW(3)) AS heartbeat_age_s,
  TIMESTAMPDIFF(SECOND, flipped_at, NOW(3)) AS flipped_age_s,
  error`;

export const selectMoveSql = (moveId: string) => sql`SELECT ${MOVE_COLUMNS} FROM ${ident(MOVES)} WHERE id = ${id(moveId)}`;
export const selectActiveMoveForUserSql = (userId: string) => sql`SELECT ${MOVE_COLUMNS} FROM ${ident(MOVES)} WHERE active_user = ${id(userId)}`;
export const listMovesSql = (all: boolean, limit: number) =>
  all
    ? sql`SELECT ${MOVE_COLUMNS} FROM ${ident(MOVES)} ORDER BY created_at DESC, id DESC LIMIT ${limit}`
    : sql`SELECT ${MOVE_COLUMNS} FROM ${ident(MOVES)} WHERE state = 'active' ORDER BY created_at, id LIMIT ${limit}`;
/**
 * Deferred cleanups that are due: waiting (`cleanup-pending`), or started by an earlier `fw-shard cleanup`
 * that died half-way (phase `cleanup` of a move made with --cleanup defer): the next cron run finishes it.
 */
const DEFERRED_CLEANUP = sql`state = 'active'
      AND (phase = 'cleanup-pending' OR (phase = 'cleanup' AND cleanup_mode = 'defer'))`;
export const cleanupDueSql = (olderThanSeconds: number) =>
  sql`SELECT ${MOVE_COLUMNS} FROM ${ident(MOVES)} WHERE ${DEFERRED_CLEANUP}
      AND flipped_at <= NOW(3) - INTERVAL ${olderThanSeconds} SECOND ORDER BY flipped_at, id`;

/** Deferred cleanups not due yet, each with when it becomes due (by db_main's clock). */
export const cleanupWaitingSql = (olderThanSeconds: number) =>
  sql`SELECT ${MOVE_COLUMNS},
      DATE_FORMAT(flipped_at + INTERVAL ${olderThanSeconds} SECOND, '%Y-%m-%dT%H:%i:%s.%fZ') AS eligible_at,
      TIMESTAMPDIFF(MICROSECOND, NOW(3), flipped_at + INTERVAL ${olderThanSeconds} SECOND) DIV 1000 AS eligible_in_ms
      FROM ${ident(MOVES)} WHERE ${DEFERRED_CLEANUP}
      AND flipped_at > NOW(3) - INTERVAL ${olderThanSeconds} SECOND ORDER BY flipped_at, id`;

/**
 * Take (or keep) the runner lease: succeeds when nobody holds it, when we do, when the holder's
 * heartbeat is older than `staleSeconds`, or when the holder is a dead process on this host.
 */
export const claimMoveSql = (moveId: string, host: string, pid: number, staleSeconds: number, deadPid: number | null) => sql`UPDATE ${ident(
  MOVES,
)} SET runner_host = ${host}, runner_pid = ${pid}, heartbeat_at = NOW(3), updated_at = NOW(3)
  WHERE id = ${id(moveId)} AND state = 'active' AND (
    runner_host IS NULL
    OR (runner_host = ${host} AND runner_pid = ${pid})
    OR heartbeat_at < NOW(3) - INTERVAL ${staleSeconds} SECOND
    OR (runner_host = ${host} AND runner_pid = ${deadPid ?? -1})
  )`;

export const heartbeatSql = (moveId: string, host: string, pid: number) =>
  sql`UPDATE ${ident(MOVES)} SET heartbeat_at = NOW(3) WHERE id = ${id(moveId)} AND runner_host = ${host} AND runner_pid = ${pid}`;

export const releaseSql = (moveId: string, host: string, pid: number) =>
  sql`UPDATE ${ident(MOVES)} SET runner_host = NULL, runner_pid = NULL, updated_at = NOW(3)
      WHERE id = ${id(moveId)} AND runner_host = ${host} AND runner_pid = ${pid}`;

/** Record a phase intent (and optionally its timestamps) before acting on it. */
export const setPhaseSql = (moveId: string, phase: string, extra: Sql = sql``) =>
  sql`UPDATE ${ident(MOVES)} SET phase = ${phase}, updated_at = NOW(3), heartbeat_at = NOW(3)${extra} WHERE id = ${id(moveId)}`;

/** A continued move's mode, changed by the operator's explicit flags (src/move/mode.ts). */
export const setModeSql = (moveId: string, cleanupMode: string, options: string) =>
  sql`UPDATE ${ident(MOVES)} SET cleanup_mode = ${cleanupMode}, options = ${options}, updated_at = NOW(3) WHERE id = ${id(moveId)}`;

export const setErrorSql = (moveId: string, error: string | null) =>
  sql`UPDATE ${ident(MOVES)} SET error = ${error}, updated_at = NOW(3) WHERE id = ${id(moveId)}`;

export const finishMoveSql = (moveId: string, state: 'done' | 'aborted', phase: string) =>
  sql`UPDATE ${ident(MOVES)} SET state = ${state}, phase = ${phase}, active_user = NULL, finished_at = NOW(3), updated_at = NOW(3),
      runner_host = NULL, runner_pid = NULL WHERE id = ${id(moveId)}`;

export const copyStartedSql = () => sql`, copy_started_at = COALESCE(copy_started_at, NOW(3))`;
export const freezeStartedSql = () => sql`, freeze_started_at = NOW(3), freeze_ended_at = NULL`;
export const freezeEndedSql = () => sql`, freeze_ended_at = NOW(3)`;

export const insertMoveTableSql = (moveId: string, table: string, rowsTotal: string) =>
  sql`INSERT IGNORE INTO ${ident(MOVE_TABLES)} (move_id, table_name, rows_total) VALUES (${id(moveId)}, ${table}, ${id(rowsTotal)})`;

export const selectMoveTablesSql = (moveId: string) =>
  sql`SELECT table_name, status, last_key, rows_total, rows_copied, chunks, mismatches, rows_cleaned FROM ${ident(MOVE_TABLES)}
      WHERE move_id = ${id(moveId)} ORDER BY table_name`;

export const checkpointSql = (
  moveId: string,
  table: string,
  c: { status: string; lastKey: string | null; rowsCopied: string; chunks: number; mismatches: number },
) => sql`UPDATE ${ident(MOVE_TABLES)} SET status = ${c.status}, last_key = ${c.lastKey}, rows_copied = ${id(c.rowsCopied)},
  chunks = ${c.chunks}, mismatches = ${c.mismatches} WHERE move_id = ${id(moveId)} AND table_name = ${table}`;

/**
 * rows_cleaned is the sum of the ranges marked cleaned, over every run: a cleanup resumed after a crash
 * skips the ranges an earlier run deleted and must not reset their count.
 */
export const tableCleanedSql = (moveId: string, table: string, status: string) =>
  sql`UPDATE ${ident(MOVE_TABLES)} SET rows_cleaned = (SELECT COALESCE(SUM(row_count), 0) FROM ${ident(MOVE_CHUNKS)}
      WHERE move_id = ${id(moveId)} AND table_name = ${table} AND cleaned = 1), status = ${status} WHERE move_id = ${id(moveId)} AND table_name = ${table}`;

export const deleteChunksSql = (moveId: string, table: string) =>
  sql`DELETE FROM ${ident(MOVE_CHUNKS)} WHERE move_id = ${id(moveId)} AND table_name = ${table}`;

export const insertChunkSql = (moveId: string, table: string, seq: number, lo: string | null, hi: string | null, rowCount: string, hash: string) =>
  sql`REPLACE INTO ${ident(MOVE_CHUNKS)} (move_id, table_name, seq, lo, hi, row_count, hash)
      VALUES (${id(moveId)}, ${table}, ${seq}, ${lo}, ${hi}, ${id(rowCount)}, ${id(hash)})`;

export const selectChunksSql = (moveId: string, table: string) =>
  sql`SELECT seq, lo, hi, row_count, hash, cleaned FROM ${ident(MOVE_CHUNKS)} WHERE move_id = ${id(moveId)} AND table_name = ${table} ORDER BY seq`;

export const chunkTotalsSql = (moveId: string, table: string) =>
  sql`SELECT COUNT(*) AS chunks, COALESCE(SUM(row_count), 0) AS n, COALESCE(SUM(hash), 0) AS h, COALESCE(SUM(hash < 0), 0) AS dirty
      FROM ${ident(MOVE_CHUNKS)} WHERE move_id = ${id(moveId)} AND table_name = ${table}`;

/**
 * Intent before fw-shard rewrites a range on the target: the record (what the target holds) becomes
 * unknown (hash -1) until the new hash is written. A crash in between leaves the range "dirty": it is
 * then compared live and re-synced, never taken for a change made behind fw-shard's back.
 */
export const markChunksDirtySql = (moveId: string, table: string, seq?: number) =>
  sql`UPDATE ${ident(MOVE_CHUNKS)} SET hash = -1 WHERE move_id = ${id(moveId)} AND table_name = ${table}${seq === undefined ? sql`` : sql` AND seq = ${seq}`}`;

export const updateChunkSql = (moveId: string, table: string, seq: number, rowCount: string, hash: string) =>
  sql`UPDATE ${ident(MOVE_CHUNKS)} SET row_count = ${id(rowCount)}, hash = ${id(hash)} WHERE move_id = ${id(moveId)} AND table_name = ${table} AND seq = ${seq}`;

export const chunkCleanedSql = (moveId: string, table: string, seq: number) =>
  sql`UPDATE ${ident(MOVE_CHUNKS)} SET cleaned = 1 WHERE move_id = ${id(moveId)} AND table_name = ${table} AND seq = ${seq}`;

export const insertDeltaPassSql = (moveId: string, ms: number, rowsRecopied: string) =>
  sql`INSERT INTO ${ident(MOVE_PASSES)} (move_id, kind, started_at, ended_at, ms, rows_recopied)
      VALUES (${id(moveId)}, 'delta', NOW(3) - INTERVAL ${ms * 1000} MICROSECOND, NOW(3), ${ms}, ${id(rowsRecopied)})`;

export const insertFreezeSql = (moveId: string) => sql`INSERT INTO ${ident(MOVE_PASSES)} (move_id, kind, started_at) VALUES (${id(moveId)}, 'freeze', NOW(3))`;

export const freezeEndedPassSql = (passId: string, ms: number, outcome: 'flipped' | 'lifted') =>
  sql`UPDATE ${ident(MOVE_PASSES)} SET ended_at = NOW(3), ms = ${ms}, outcome = ${outcome} WHERE id = ${id(passId)}`;

export const selectPassesSql = (moveId: string) =>
  sql`SELECT kind, DATE_FORMAT(started_at, '%Y-%m-%dT%H:%i:%s.%fZ') AS started_at, ms, rows_recopied, outcome
      FROM ${ident(MOVE_PASSES)} WHERE move_id = ${id(moveId)} ORDER BY id`;

/** The flip's time, set in the flip's own transaction (see flipMappingSql in mapping.ts). */
export const flippedAtSql = () => sql`, flipped_at = NOW(3)`;

/** The undo links of a move (kept out of MOVE_COLUMNS: a journal of an older fw-shard lacks them until migrated). */
export const undoLinksSql = (moveId: string) => sql`SELECT undo_of, undone_by FROM ${ident(MOVES)} WHERE id = ${id(moveId)}`;

/** A move of the user started after `moveId` that was not aborted (the user moved again since). */
export const laterMoveOfUserSql = (userId: string, moveId: string) =>
  sql`SELECT ${MOVE_COLUMNS} FROM ${ident(MOVES)} WHERE user_id = ${id(userId)} AND id > ${id(moveId)} AND state <> 'aborted' ORDER BY id LIMIT 1`;

/**
 * The start of an undo takes the undone move out of everyone's hands, in the transaction that creates
 * the undo: its unfinished-move slot is freed for the undo, and only a move whose old rows are all still
 * there qualifies: flipped and waiting for its cleanup (`flipped`, `cleanup-pending`) with no live runner,
 * or finished with --cleanup keep. A cleanup that entered phase `cleanup` (enterCleanupSql) cannot be
 * undone; an undone move cannot enter it.
 */
export const releaseForUndoSql = (moveId: string, staleSeconds: number) =>
  sql`UPDATE ${ident(MOVES)} SET active_user = NULL, runner_host = NULL, runner_pid = NULL, updated_at = NOW(3)
      WHERE id = ${id(moveId)} AND undone_by IS NULL AND (
        (state = 'active' AND phase IN ('flipped', 'cleanup-pending') AND (runner_host IS NULL OR heartbeat_at < NOW(3) - INTERVAL ${staleSeconds} SECOND))
        OR (state = 'done' AND phase = 'done' AND cleanup_mode = 'keep'))`;

export const setUndoneBySql = (moveId: string, undoId: string) =>
  sql`UPDATE ${ident(MOVES)} SET undone_by = ${id(undoId)} WHERE id = ${id(moveId)} AND undone_by IS NULL`;

export const setUndoOfSql = (undoId: string, moveId: string) => sql`UPDATE ${ident(MOVES)} SET undo_of = ${id(moveId)} WHERE id = ${id(undoId)}`;

/** In the undo's flip transaction: the undone move is over, and its cleanup with it (it never runs now). */
export const finishUndoneSql = (moveId: string, undoId: string) =>
  sql`UPDATE ${ident(MOVES)} SET state = 'done', phase = 'done', active_user = NULL, finished_at = COALESCE(finished_at, NOW(3)), updated_at = NOW(3),
      runner_host = NULL, runner_pid = NULL WHERE id = ${id(moveId)} AND undone_by = ${id(undoId)}`;

/** An aborted undo gives the undone move back as it was: unlinked, and (if unfinished) the user's unfinished move again. */
export const restoreUndoneSql = (moveId: string, undoId: string) =>
  sql`UPDATE ${ident(MOVES)} SET undone_by = NULL, active_user = IF(state = 'active', user_id, NULL), updated_at = NOW(3)
      WHERE id = ${id(moveId)} AND undone_by = ${id(undoId)}`;

/** The cleanup's start, refused for a move being undone (its old rows are about to be live again). */
export const enterCleanupSql = (moveId: string) =>
  sql`UPDATE ${ident(MOVES)} SET phase = 'cleanup', updated_at = NOW(3), heartbeat_at = NOW(3) WHERE id = ${id(moveId)} AND undone_by IS NULL`;

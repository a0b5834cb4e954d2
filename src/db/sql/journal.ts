/**
 * The move journal: tables fw-shard creates in the database that holds the user→shard mapping (db_main,
 * or db_accounts in forks that keep `users` there), so the flip and its journal entry commit in one
 * transaction. Documented in README "The journal".
 */
import { ident, join, raw, sql, NumericLiteral, type Sql } from './fragment.js';

export const MOVES = 'fw_shard_moves';
export const MOVE_TABLES = 'fw_shard_move_tables';
export const MOVE_CHUNKS = 'fw_shard_move_chunks';
export const MOVE_PASSES = 'fw_shard_move_passes';
export const MOVE_RUNS = 'fw_shard_move_runs';

const UNDO_OF = `BIGINT UNSIGNED NULL COMMENT 'fw-shard undo: the move this one undoes (it moves the user back)'`;
const UNDONE_BY = `BIGINT UNSIGNED NULL COMMENT 'fw-shard undo: the move undoing this one; while set, this move is never cleaned up'`;

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
  undo_of ${raw(UNDO_OF)},
  undone_by ${raw(UNDONE_BY)},
  runner_lock VARCHAR(64) NULL COMMENT 'the named lock (GET_LOCK) the runner holds on its own connection: held = the runner is alive',
  stop_requested_at DATETIME(3) NULL COMMENT 'fw-shard stop: the runner stops at its next safe point; cleared when a run claims the move',
  stop_requested_by VARCHAR(255) NULL,
  throttle_reason TEXT NULL COMMENT 'why the runner waits right now (throttle, pause file); NULL while it works',
  schema_fp MEDIUMTEXT NULL COMMENT 'the moved tables schema fingerprints on both shards when the move started (JSON): any change stops it before the flip',
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
/**
 * Columns added to fw_shard_moves after its first release, with their definitions as in createMovesSql:
 * a journal made by an older fw-shard gets the missing ones (Journal.ensureTables, one ALTER), and readers
 * select NULL for them until then (moveColumns; JournalReader.undoLinks).
 */
export const ADDED_MOVE_COLUMNS: readonly (readonly [name: string, definition: string])[] = [
  ['undo_of', UNDO_OF],
  ['undone_by', UNDONE_BY],
  ['runner_lock', 'VARCHAR(64) NULL'],
  ['stop_requested_at', 'DATETIME(3) NULL'],
  ['stop_requested_by', 'VARCHAR(255) NULL'],
  ['throttle_reason', 'TEXT NULL'],
  ['schema_fp', 'MEDIUMTEXT NULL'],
];

/** The schema fingerprints a move started with (src/move/schema-guard.ts), JSON; NULL: none recorded yet. */
export const selectSchemaFingerprintSql = (moveId: string) => sql`SELECT schema_fp FROM ${ident(MOVES)} WHERE id = ${id(moveId)}`;
export const setSchemaFingerprintSql = (moveId: string, json: string) => sql`UPDATE ${ident(MOVES)} SET schema_fp = ${json} WHERE id = ${id(moveId)}`;

/** Which of the journal table's columns exist (for the migration and for readers of older journals). */
export const journalColumnsSql = (table: string) =>
  sql`SELECT COLUMN_NAME AS name FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ${table}`;

/** One ALTER for every column missing (MySQL 8 has no ADD COLUMN IF NOT EXISTS: the caller checks first). */
export const addMoveColumnsSql = (columns: readonly (readonly [string, string])[]) =>
  sql`ALTER TABLE ${ident(MOVES)} ${join(columns.map(([name, def]) => sql`ADD COLUMN ${ident(name)} ${raw(def)}`))}`;

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

/** Who ran a move, one row per run (the first, and every resume, abort or cleanup). */
export const createMoveRunsSql = () => sql`CREATE TABLE IF NOT EXISTS ${ident(MOVE_RUNS)} (
  id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
  move_id BIGINT UNSIGNED NOT NULL,
  os_user VARCHAR(64) NULL,
  host VARCHAR(255) NOT NULL,
  pid INT UNSIGNED NOT NULL,
  command TEXT NULL COMMENT 'the command line, passwords removed',
  started_at DATETIME(3) NOT NULL,
  ended_at DATETIME(3) NULL,
  outcome VARCHAR(64) NULL COMMENT 'done, cleanup-pending, aborted, stopped, failed CODE; NULL: running, or the runner died',
  PRIMARY KEY (id),
  KEY by_move (move_id, id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4`;

const id = (v: string) => new NumericLiteral(v);

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

const ISO = '%Y-%m-%dT%H:%i:%s.%fZ';

/**
 * The columns every reader gets. `control`: the journal has the ADDED_MOVE_COLUMNS (an older one reads
 * NULL for them). runner_conn is the connection holding the runner's lock (NULL: no runner alive);
 * rows_copied/rows_total sum the tables' checkpoints.
 */
const moveColumns = (control: boolean) => sql`${ident(MOVES)}.id, user_id, from_shard, to_shard, phase, state, cleanup_mode, options, runner_host, runner_pid,
  DATE_FORMAT(heartbeat_at, ${ISO}) AS heartbeat_at,
  DATE_FORMAT(created_at, ${ISO}) AS created_at,
  DATE_FORMAT(updated_at, ${ISO}) AS updated_at,
  DATE_FORMAT(flipped_at, ${ISO}) AS flipped_at,
  DATE_FORMAT(finished_at, ${ISO}) AS finished_at,
  TIMESTAMPDIFF(MICROSECOND, freeze_started_at, freeze_ended_at) DIV 1000 AS freeze_ms,
  TIMESTAMPDIFF(SECOND, heartbeat_at, NOW(3)) AS heartbeat_age_s,
  TIMESTAMPDIFF(SECOND, flipped_at, NOW(3)) AS flipped_age_s,
  error,
  ${
    control
      ? sql`runner_lock, IF(runner_lock IS NULL, NULL, IS_USED_LOCK(runner_lock)) AS runner_conn,
  DATE_FORMAT(stop_requested_at, ${ISO}) AS stop_requested_at, stop_requested_by, throttle_reason`
      : sql`NULL AS runner_lock, NULL AS runner_conn, NULL AS stop_requested_at, NULL AS stop_requested_by, NULL AS throttle_reason`
  },
  (SELECT COALESCE(SUM(rows_copied), 0) FROM ${ident(MOVE_TABLES)} WHERE move_id = ${ident(MOVES)}.id) AS rows_copied,
  (SELECT COALESCE(SUM(rows_total), 0) FROM ${ident(MOVE_TABLES)} WHERE move_id = ${ident(MOVES)}.id) AS rows_total`;

export const selectMoveSql = (moveId: string, control: boolean) => sql`SELECT ${moveColumns(control)} FROM ${ident(MOVES)} WHERE id = ${id(moveId)}`;
export const selectActiveMoveForUserSql = (userId: string, control: boolean) =>
  sql`SELECT ${moveColumns(control)} FROM ${ident(MOVES)} WHERE active_user = ${id(userId)}`;
/** Unfinished moves (oldest first), or with `all` every move (newest first); `userId`: only that user's. */
export const listMovesSql = (all: boolean, limit: number, control: boolean, userId?: string) => {
  const user = userId === undefined ? sql`` : sql` AND user_id = ${id(userId)}`;
  return all
    ? sql`SELECT ${moveColumns(control)} FROM ${ident(MOVES)} WHERE 1 = 1${user} ORDER BY created_at DESC, id DESC LIMIT ${limit}`
    : sql`SELECT ${moveColumns(control)} FROM ${ident(MOVES)} WHERE state = 'active'${user} ORDER BY created_at, id LIMIT ${limit}`;
};
/**
 * Deferred cleanups that are due: waiting (`cleanup-pending`), or started by an earlier `fw-shard cleanup`
 * that died half-way (phase `cleanup` of a move made with --cleanup defer): the next cron run finishes it.
 */
const DEFERRED_CLEANUP = sql`state = 'active'
      AND (phase = 'cleanup-pending' OR (phase = 'cleanup' AND cleanup_mode = 'defer'))`;
export const cleanupDueSql = (olderThanSeconds: number, control: boolean) =>
  sql`SELECT ${moveColumns(control)} FROM ${ident(MOVES)} WHERE ${DEFERRED_CLEANUP}
      AND flipped_at <= NOW(3) - INTERVAL ${olderThanSeconds} SECOND ORDER BY flipped_at, id`;

/** Deferred cleanups not due yet, each with when it becomes due (by db_main's clock). */
export const cleanupWaitingSql = (olderThanSeconds: number, control: boolean) =>
  sql`SELECT ${moveColumns(control)},
      DATE_FORMAT(flipped_at + INTERVAL ${olderThanSeconds} SECOND, '%Y-%m-%dT%H:%i:%s.%fZ') AS eligible_at,
      TIMESTAMPDIFF(MICROSECOND, NOW(3), flipped_at + INTERVAL ${olderThanSeconds} SECOND) DIV 1000 AS eligible_in_ms
      FROM ${ident(MOVES)} WHERE ${DEFERRED_CLEANUP}
      AND flipped_at > NOW(3) - INTERVAL ${olderThanSeconds} SECOND ORDER BY flipped_at, id`;

/**
 * Take (or keep) the runner lease, by a runner that holds the move's named lock `lock` (src/move/lease.ts):
 * it succeeds when nobody holds the lease, when we do, or when the holder held the lock too (it is gone:
 * we hold the lock now). A holder without a lock (an fw-shard from before the lock) is gone only when its
 * heartbeat is older than `staleSeconds`, or when it is a dead process on this host. A pending stop
 * request was for an earlier run: it is cleared.
 */
export const claimMoveSql = (moveId: string, host: string, pid: number, lock: string, staleSeconds: number, deadPid: number | null) => sql`UPDATE ${ident(
  MOVES,
)} SET runner_host = ${host}, runner_pid = ${pid}, runner_lock = ${lock}, heartbeat_at = NOW(3), updated_at = NOW(3),
  stop_requested_at = NULL, stop_requested_by = NULL, throttle_reason = NULL
  WHERE id = ${id(moveId)} AND state = 'active' AND (
    runner_host IS NULL
    OR (runner_host = ${host} AND runner_pid = ${pid})
    OR runner_lock IS NOT NULL
    OR heartbeat_at < NOW(3) - INTERVAL ${staleSeconds} SECOND
    OR (runner_host = ${host} AND runner_pid = ${deadPid ?? -1})
  )`;

export const heartbeatSql = (moveId: string, host: string, pid: number) =>
  sql`UPDATE ${ident(MOVES)} SET heartbeat_at = NOW(3) WHERE id = ${id(moveId)} AND runner_host = ${host} AND runner_pid = ${pid}`;

export const releaseSql = (moveId: string, host: string, pid: number) =>
  sql`UPDATE ${ident(MOVES)} SET runner_host = NULL, runner_pid = NULL, runner_lock = NULL, throttle_reason = NULL, updated_at = NOW(3)
      WHERE id = ${id(moveId)} AND runner_host = ${host} AND runner_pid = ${pid}`;

/**
 * What the runner looks at every second, on its lock's own connection: whether that connection still
 * holds the lock, whether the journal still names it as the move's runner (a runner that took the lock
 * again after losing its connection may have been taken over meanwhile), and whether someone asked the
 * move to stop.
 */
export const runnerPollSql = (moveId: string, lock: string) =>
  sql`SELECT IS_USED_LOCK(${lock}) = CONNECTION_ID() AS mine, state, runner_host, runner_pid, stop_requested_by,
      DATE_FORMAT(stop_requested_at, ${ISO}) AS stop_requested_at FROM ${ident(MOVES)} WHERE id = ${id(moveId)}`;

/** `fw-shard stop`: ask the running move to stop at its next safe point (only an unfinished move). */
export const requestStopSql = (moveId: string, by: string) =>
  sql`UPDATE ${ident(MOVES)} SET stop_requested_at = NOW(3), stop_requested_by = ${by} WHERE id = ${id(moveId)} AND state = 'active'`;

/** Why the runner waits (throttled, paused), or NULL when it works again. */
export const setThrottleSql = (moveId: string, reason: string | null) => sql`UPDATE ${ident(MOVES)} SET throttle_reason = ${reason} WHERE id = ${id(moveId)}`;

export const insertRunSql = (moveId: string, r: { user: string | null; host: string; pid: number; command: string }) =>
  sql`INSERT INTO ${ident(MOVE_RUNS)} (move_id, os_user, host, pid, command, started_at) VALUES (${id(moveId)}, ${r.user}, ${r.host}, ${r.pid}, ${r.command}, NOW(3))`;

export const endRunSql = (runId: string, outcome: string) =>
  sql`UPDATE ${ident(MOVE_RUNS)} SET ended_at = NOW(3), outcome = ${outcome} WHERE id = ${id(runId)} AND ended_at IS NULL`;

export const selectRunsSql = (moveId: string) =>
  sql`SELECT id, os_user, host, pid, command, DATE_FORMAT(started_at, ${ISO}) AS started_at, DATE_FORMAT(ended_at, ${ISO}) AS ended_at, outcome
      FROM ${ident(MOVE_RUNS)} WHERE move_id = ${id(moveId)} ORDER BY id`;

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
      runner_host = NULL, runner_pid = NULL, runner_lock = NULL, throttle_reason = NULL WHERE id = ${id(moveId)}`;

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

/** The undo links of a move (kept out of moveColumns: a journal of an older fw-shard lacks them until migrated). */
export const undoLinksSql = (moveId: string) => sql`SELECT undo_of, undone_by FROM ${ident(MOVES)} WHERE id = ${id(moveId)}`;

/** A move of the user started after `moveId` that was not aborted (the user moved again since). */
export const laterMoveOfUserSql = (userId: string, moveId: string, control: boolean) =>
  sql`SELECT ${moveColumns(control)} FROM ${ident(MOVES)} WHERE user_id = ${id(userId)} AND id > ${id(moveId)} AND state <> 'aborted' ORDER BY id LIMIT 1`;

/**
 * The start of an undo takes the undone move out of everyone's hands, in the transaction that creates
 * the undo: its unfinished-move slot is freed for the undo, and only a move whose old rows are all still
 * there qualifies: flipped and waiting for its cleanup (`flipped`, `cleanup-pending`) with no live runner,
 * or finished with --cleanup keep. A cleanup that entered phase `cleanup` (enterCleanupSql) cannot be
 * undone; an undone move cannot enter it.
 *
 * Run while the undo holds the move's runner lock (Journal.createUndo): no runner that takes the lock
 * can hold the move then, so a runner recorded with a lock is gone; one of an fw-shard from before the
 * lock (runner_lock NULL) is gone once its heartbeat is `staleSeconds` old, as in claimMoveSql.
 */
export const releaseForUndoSql = (moveId: string, staleSeconds: number) =>
  sql`UPDATE ${ident(MOVES)} SET active_user = NULL, runner_host = NULL, runner_pid = NULL, runner_lock = NULL, updated_at = NOW(3)
      WHERE id = ${id(moveId)} AND undone_by IS NULL AND (
        (state = 'active' AND phase IN ('flipped', 'cleanup-pending')
          AND (runner_host IS NULL OR runner_lock IS NOT NULL OR heartbeat_at < NOW(3) - INTERVAL ${staleSeconds} SECOND))
        OR (state = 'done' AND phase = 'done' AND cleanup_mode = 'keep'))`;

export const setUndoneBySql = (moveId: string, undoId: string) =>
  sql`UPDATE ${ident(MOVES)} SET undone_by = ${id(undoId)} WHERE id = ${id(moveId)} AND undone_by IS NULL`;

export const setUndoOfSql = (undoId: string, moveId: string) => sql`UPDATE ${ident(MOVES)} SET undo_of = ${id(moveId)} WHERE id = ${id(undoId)}`;

/** In the undo's flip transaction: the undone move is over, and its cleanup with it (it never runs now). */
export const finishUndoneSql = (moveId: string, undoId: string) =>
  sql`UPDATE ${ident(MOVES)} SET state = 'done', phase = 'done', active_user = NULL, finished_at = COALESCE(finished_at, NOW(3)), updated_at = NOW(3),
      runner_host = NULL, runner_pid = NULL, runner_lock = NULL WHERE id = ${id(moveId)} AND undone_by = ${id(undoId)}`;

/** An aborted undo gives the undone move back as it was: unlinked, and (if unfinished) the user's unfinished move again. */
export const restoreUndoneSql = (moveId: string, undoId: string) =>
  sql`UPDATE ${ident(MOVES)} SET undone_by = NULL, active_user = IF(state = 'active', user_id, NULL), updated_at = NOW(3)
      WHERE id = ${id(moveId)} AND undone_by = ${id(undoId)}`;

/** The cleanup's start, refused for a move being undone (its old rows are about to be live again). */
export const enterCleanupSql = (moveId: string) =>
  sql`UPDATE ${ident(MOVES)} SET phase = 'cleanup', updated_at = NOW(3), heartbeat_at = NOW(3) WHERE id = ${id(moveId)} AND undone_by IS NULL`;

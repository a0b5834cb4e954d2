/**
 * The freeze: a row in the mapping database that a cooperating app checks before writing a user's
 * data (README "App integration"). It carries an expiry, so a freeze left by a killed fw-shard lifts
 * itself.
 */
import { ident, NumericLiteral, sql } from './fragment.js';

export const FREEZES = 'fw_shard_freezes';

export const createFreezesSql = () => sql`CREATE TABLE IF NOT EXISTS ${ident(FREEZES)} (
  user_id BIGINT UNSIGNED NOT NULL,
  move_id BIGINT UNSIGNED NOT NULL,
  frozen_until DATETIME(3) NOT NULL COMMENT 'the freeze lifts itself at this time (server clock, UTC)',
  created_at DATETIME(3) NOT NULL,
  PRIMARY KEY (user_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COMMENT 'users whose writes must wait: apps check this before writing (fw-shard)'`;

const n = (v: string) => new NumericLiteral(v);

export const setFreezeSql = (userId: string, moveId: string, capMs: number) =>
  sql`INSERT INTO ${ident(FREEZES)} (user_id, move_id, frozen_until, created_at)
      VALUES (${n(userId)}, ${n(moveId)}, NOW(3) + INTERVAL ${capMs * 1000} MICROSECOND, NOW(3))
      ON DUPLICATE KEY UPDATE move_id = VALUES(move_id), frozen_until = VALUES(frozen_until), created_at = VALUES(created_at)`;

export const liftFreezeSql = (userId: string, moveId: string) => sql`DELETE FROM ${ident(FREEZES)} WHERE user_id = ${n(userId)} AND move_id = ${n(moveId)}`;

/** The exact query an app runs before writing a user's rows (documented in the README). */
export const isFrozenSql = (userId: string) => sql`SELECT COUNT(*) AS frozen FROM ${ident(FREEZES)} WHERE user_id = ${n(userId)} AND frozen_until > NOW(3)`;

/** Milliseconds left of this move's freeze by the server's clock (negative or null: expired/gone). */
export const activeFreezesSql = () =>
  sql`SELECT user_id, move_id, TIMESTAMPDIFF(MICROSECOND, NOW(3), frozen_until) DIV 1000 AS remaining_ms FROM ${ident(FREEZES)}
      WHERE frozen_until > NOW(3) ORDER BY user_id`;

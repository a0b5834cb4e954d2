/**
 * The mapping table (Flamework's users.cluster_id): where each user lives, and the flip that moves them.
 * User ids are digit strings end to end (CAST(... AS CHAR) on the way out, unquoted numeric literals on
 * the way in).
 */
import { ident, join, NumericLiteral, sql, type Sql } from './fragment.js';
import type { MappingSpec } from '../../topology/index.js';
import { FREEZES } from './freeze.js';

const id = (v: string) => new NumericLiteral(v);

export const readPlacementSql = (m: MappingSpec, userId: string) =>
  sql`SELECT ${ident(m.shardColumn)} AS shard FROM ${ident(m.table)} WHERE ${ident(m.idColumn)} = ${id(userId)}`;

/**
 * The routing switch: compare-and-set, so a concurrent change of the mapping is never overwritten.
 * With `frozenBy`, it also flips only while that move's freeze is still in force (by the server's
 * clock): a freeze that expired could have let a write reach the source after the final sync.
 */
export const flipMappingSql = (m: MappingSpec, userId: string, from: number, to: number, frozenBy?: string) =>
  sql`UPDATE ${ident(m.table)} SET ${ident(m.shardColumn)} = ${to} WHERE ${ident(m.idColumn)} = ${id(userId)} AND ${ident(m.shardColumn)} = ${from}${
    frozenBy === undefined
      ? sql``
      : sql` AND EXISTS (SELECT 1 FROM ${ident(FREEZES)} WHERE user_id = ${id(userId)} AND move_id = ${id(frozenBy)} AND frozen_until > NOW(3))`
  }`;

export const usersPerShardSql = (m: MappingSpec) =>
  sql`SELECT ${ident(m.shardColumn)} AS shard, COUNT(*) AS users FROM ${ident(m.table)} GROUP BY ${ident(m.shardColumn)} ORDER BY 1`;

/** Every user and its shard. `uid`, not `id`: ORDER BY/GROUP BY on an alias named like the column would use the text. */
export function allPlacementsSql(m: MappingSpec): Sql {
  return sql`SELECT CAST(${ident(m.idColumn)} AS CHAR) AS uid, ${ident(m.shardColumn)} AS shard FROM ${ident(m.table)}`;
}

/** The shard of each of these users (missing users are simply absent from the result). */
export function placementsOfSql(m: MappingSpec, userIds: readonly string[]): Sql {
  if (userIds.length === 0) throw new Error('placementsOfSql: no user ids');
  const ids = join(userIds.map((u) => sql`${new NumericLiteral(u)}`));
  return sql`SELECT CAST(${ident(m.idColumn)} AS CHAR) AS uid, ${ident(m.shardColumn)} AS shard FROM ${ident(m.table)} WHERE ${ident(m.idColumn)} IN (${ids})`;
}

/**
 * Tables of the mapping database named `users` in any case (Flamework's `users`, older apps' `Users`),
 * with whether each has the shard column. Names compare in binary where the case matters.
 */
export const mappingTableCandidatesSql = (schema: string, shardColumn: string) =>
  sql`SELECT t.TABLE_NAME AS name,
             (SELECT COUNT(*) FROM information_schema.COLUMNS c
               WHERE c.TABLE_SCHEMA = t.TABLE_SCHEMA AND BINARY c.TABLE_NAME = BINARY t.TABLE_NAME AND c.COLUMN_NAME = ${shardColumn}) AS has_shard_column
      FROM information_schema.TABLES t
      WHERE t.TABLE_SCHEMA = ${schema} AND LOWER(t.TABLE_NAME) = 'users' AND t.TABLE_TYPE = 'BASE TABLE'
      ORDER BY BINARY t.TABLE_NAME`;

/** The flip's session: its UPDATE waits for the users row's lock at most this long (the freeze's cap), then DEFAULT again. */
export const flipLockWaitSql = (seconds: number) => sql`SET SESSION innodb_lock_wait_timeout = ${Math.max(1, Math.ceil(seconds))}`;
export const defaultLockWaitSql = () => sql`SET SESSION innodb_lock_wait_timeout = DEFAULT`;

/**
 * SQL for fleet operations: exact per-user sizes for the planner, the mapping read in bulk, named locks
 * (runner coordination and the per-topology lock of `fw-shard run`), throttle probes (replica lag,
 * global status, the operator's throttle query) and the keyed reads/deletes of the orphan cleanup.
 *
 * Invariants:
 *  - user ids are digit strings end to end (CAST(... AS CHAR) on the way out, unquoted numeric literals
 *    on the way in);
 *  - an orphan row is deleted only by its key (or, keyless, by its full-row hash), under the owner
 *    condition, never by a range.
 */
import { boundLiteral, ownerLiteral, rowImage, type KeyTuple, type RowSpec } from './rows.js';
import { ident, join, NumericLiteral, raw, sql, type Sql } from './fragment.js';
import type { MappingSpec } from '../../topology/index.js';

/** Row count and exact bytes (sum of column lengths, as `userBytes`) of every owner of one table. */
export function userSizesSql(spec: RowSpec): Sql {
  const lengths = join(spec.columns.map((c) => sql`IFNULL(LENGTH(${ident(c.name)}), 0)`), ' + ');
  const owner = ident(spec.owner.name);
  return sql`SELECT CAST(${owner} AS CHAR) AS owner, COUNT(*) AS n, COALESCE(SUM(${lengths}), 0) AS b FROM ${ident(spec.name)} GROUP BY ${owner}`;
}

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

// ------------------------------------------------------------------------------------------------
// Named locks (server-wide on the mapping server). GET_LOCK with timeout 0 never waits.

export const getLockSql = (name: string) => sql`SELECT GET_LOCK(${name}, 0) AS got, IS_USED_LOCK(${name}) AS holder, CONNECTION_ID() AS me`;
export const releaseLockSql = (name: string) => sql`SELECT RELEASE_LOCK(${name}) AS released`;
export const releaseAllLocksSql = () => sql`SELECT RELEASE_ALL_LOCKS() AS released`;

// ------------------------------------------------------------------------------------------------
// Throttle probes.

/** MariaDB ≥ 10.5 and MySQL ≥ 8.0.22; older servers only know SHOW SLAVE STATUS (see `slaveStatusSql`). */
export const replicaStatusSql = () => sql`SHOW REPLICA STATUS`;
export const slaveStatusSql = () => sql`SHOW SLAVE STATUS`;

/** Global status counters such as Threads_running. Names come from the operator's --max-load, validated as identifiers. */
export function globalStatusSql(names: readonly string[]): Sql {
  for (const n of names) if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(n)) throw new Error(`not a status variable name: ${n}`);
  return sql`SHOW GLOBAL STATUS WHERE Variable_name IN (${join(names.map((n) => sql`${n}`))})`;
}

/**
 * The operator's --throttle-query, as gh-ost runs it: trusted text from the command line or a playbook
 * (never from data), one statement (multipleStatements is off), whose first column of the first row is
 * a number; above zero means "throttle".
 */
export function throttleQuerySql(text: string): Sql {
  return sql`${raw(text)}`;
}

// ------------------------------------------------------------------------------------------------
// Orphan cleanup: re-hash a stray shard's rows by key under a lock, then delete those still identical.

function keyMatch(spec: RowSpec, keys: readonly KeyTuple[]): Sql {
  const key = spec.key;
  if (!key) throw new Error('keyMatch on a keyless table');
  if (keys.length === 0) throw new Error('keyMatch: no keys');
  if (key.length === 1) return sql`${ident(key[0]!.name)} IN (${join(keys.map((t) => boundLiteral(key[0]!, t[0]!)))})`;
  return sql`(${join(
    keys.map((t) => sql`(${join(key.map((c, i) => sql`${ident(c.name)} = ${boundLiteral(c, t[i]!)}`), ' AND ')})`),
    ' OR ',
  )})`;
}

/** Key columns and the row hash of the user's rows with these keys (locked until the transaction ends with `forUpdate`). */
export function rowHashesByKeys(spec: RowSpec, userId: string, keys: readonly KeyTuple[], forUpdate: boolean): Sql {
  const keyCols = spec.key!.map((c) => sql`${ident(c.name)}`);
  return sql`SELECT ${join([...keyCols, sql`MD5(${rowImage(spec)})`])} FROM ${ident(spec.name)}
             WHERE ${ident(spec.owner.name)} = ${ownerLiteral(spec.owner, userId)} AND ${keyMatch(spec, keys)}${forUpdate ? sql` FOR UPDATE` : sql``}`;
}

/** Delete the user's rows with exactly these keys. */
export function deleteRowsByKeysSql(spec: RowSpec, userId: string, keys: readonly KeyTuple[]): Sql {
  return sql`DELETE FROM ${ident(spec.name)} WHERE ${ident(spec.owner.name)} = ${ownerLiteral(spec.owner, userId)} AND ${keyMatch(spec, keys)}`;
}

/** Keyless tables: delete at most `limit` of the user's rows whose full-row hash is `md5` (hex). */
export function deleteKeylessByHashSql(spec: RowSpec, userId: string, md5: string, limit: number): Sql {
  if (!/^[0-9a-f]{32}$/.test(md5)) throw new Error(`not an MD5 hex digest: ${md5}`);
  return sql`DELETE FROM ${ident(spec.name)} WHERE ${ident(spec.owner.name)} = ${ownerLiteral(spec.owner, userId)} AND MD5(${rowImage(
    spec,
  )}) = ${md5} LIMIT ${limit}`;
}

/** Keyless tables: how many of the user's rows hash to `md5`, locked. */
export function countKeylessByHashForUpdateSql(spec: RowSpec, userId: string, md5: string): Sql {
  if (!/^[0-9a-f]{32}$/.test(md5)) throw new Error(`not an MD5 hex digest: ${md5}`);
  return sql`SELECT COUNT(*) AS n FROM ${ident(spec.name)} WHERE ${ident(spec.owner.name)} = ${ownerLiteral(spec.owner, userId)} AND MD5(${rowImage(
    spec,
  )}) = ${md5} FOR UPDATE`;
}

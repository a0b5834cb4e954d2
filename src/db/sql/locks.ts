/** Named locks (server-wide on the mapping server). GET_LOCK with timeout 0 never waits. */
import { sql } from './fragment.js';

export const getLockSql = (name: string) => sql`SELECT GET_LOCK(${name}, 0) AS got, IS_USED_LOCK(${name}) AS holder, CONNECTION_ID() AS me`;
/** GET_LOCK waiting at most `seconds` (the guard lock of a shard database: src/move/guard.ts withLock). */
export const waitForLockSql = (name: string, seconds: number) => sql`SELECT GET_LOCK(${name}, ${seconds}) AS got`;
export const releaseLockSql = (name: string) => sql`SELECT RELEASE_LOCK(${name}) AS released`;
export const releaseAllLocksSql = () => sql`SELECT RELEASE_ALL_LOCKS() AS released`;
/**
 * A lock session that goes quiet this long (its process frozen, its host gone without closing its
 * sockets) is closed by the server, and its locks with it. The holder polls every second, so it never idles.
 */
export const lockSessionIdleSql = (seconds: number) => sql`SET SESSION wait_timeout = ${seconds}`;

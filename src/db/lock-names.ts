/**
 * Names of fw-shard's named locks (GET_LOCK) on the mapping server. The server's names are global to
 * the server, so every name of one topology carries a tag of the mapping database's name: two apps on
 * one server never share locks. Names longer than the server's 64 characters are hashed.
 */
import { createHash } from 'node:crypto';

const MAX_LOCK_NAME = 64;

/** `name`, or a hash of it when it is longer than a lock name may be. */
export function fitLockName(name: string): string {
  if (name.length <= MAX_LOCK_NAME) return name;
  return `fw-shard:${createHash('sha1').update(name).digest('hex').slice(0, 40)}`;
}

/** `fw-shard:<tag of database>:<parts joined by ':'>`, fitted. */
export function taggedLockName(database: string, ...parts: (string | number)[]): string {
  const tag = createHash('sha1').update(database).digest('hex').slice(0, 8);
  return fitLockName(`fw-shard:${tag}:${parts.join(':')}`);
}

/** The lock a move's runner holds for as long as it runs the move (src/move/lease.ts). */
export const moveLockName = (database: string, moveId: string) => taggedLockName(database, 'm', moveId);

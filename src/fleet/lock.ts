/**
 * Named locks on the mapping server (GET_LOCK, server-wide, released by the server when the session
 * ends, so a runner that dies never leaves a lock behind):
 *  - the per-topology lock of `fw-shard run` (`fw-shard:<name>`): two cron runs never overlap;
 *  - per-user and per-shard-slot locks of `fw-shard apply`: several runners on several hosts share one
 *    plan, each move claimed by one runner, each shard in at most --per-shard moves fleet-wide.
 * Locks live on one dedicated session each holder keeps open. They coordinate runners; correctness of a
 * move never depends on them (the journal's UNIQUE active_user key, and the move's own runner lock and
 * lease, src/move/lease.ts, still decide).
 */
import { fitLockName, taggedLockName } from '../db/lock-names.js';
import type { Db, Session } from '../db/pool.js';
import { getLockSql, releaseAllLocksSql, releaseLockSql } from '../db/sql/locks.js';
import { BusyError } from '../errors/index.js';
import type { Topology } from '../topology/index.js';
import { mappingEndpoint } from '../topology/index.js';

/** Every name of one topology is tagged with its mapping database (see src/db/lock-names.ts). */
const db = (topology: Topology) => mappingEndpoint(topology).database;

export const lockNames = {
  /** `fw-shard:<name>`, the playbook's `lock:` or, by default, the mapping database's name. */
  topology: (topology: Topology, name?: string) => fitLockName(`fw-shard:${name ?? db(topology)}`),
  user: (topology: Topology, userId: string) => taggedLockName(db(topology), 'u', userId),
  shardSlot: (topology: Topology, shard: number, slot: number) => taggedLockName(db(topology), 's', shard, slot),
};

/** Locks held on one session. Calls may overlap: the driver queues them on the connection. */
export class NamedLocks {
  readonly #held = new Set<string>();
  constructor(private readonly session: Session) {}

  /** Take `name` without waiting; false when another session holds it. */
  async tryLock(name: string): Promise<boolean> {
    if (this.#held.has(name)) return false; // GET_LOCK is re-entrant per session: never count a lock twice
    const [r] = await this.session.rows<{ got: number | string | null }>(getLockSql(name));
    const got = Number(r?.got) === 1;
    if (got) this.#held.add(name);
    return got;
  }

  async release(name: string): Promise<void> {
    if (!this.#held.delete(name)) return;
    await this.session.rows(releaseLockSql(name)).catch(() => undefined);
  }

  holds(name: string): boolean {
    return this.#held.has(name);
  }
}

/** Run `fn` with a dedicated lock session on `db`; every lock still held is released when it ends. */
export async function withLockSession<T>(db: Db, fn: (locks: NamedLocks) => Promise<T>): Promise<T> {
  return db.withSession(async (s) => {
    const locks = new NamedLocks(s);
    try {
      return await fn(locks);
    } finally {
      await s.rows(releaseAllLocksSql()).catch(() => undefined);
    }
  });
}

/**
 * Run `fn` while holding the named lock on `db`, or fail at once with BUSY (exit 7) when another
 * session holds it.
 */
export async function withLock<T>(db: Db, name: string, fn: () => Promise<T>): Promise<T> {
  return db.withSession(async (s) => {
    const [r] = await s.rows<{ got: number | string | null; holder: number | string | null; me: number | string }>(getLockSql(name));
    if (Number(r?.got) !== 1) {
      throw new BusyError('lock', `another fw-shard run holds the lock '${name}' on ${db.endpoint.role} (connection ${r?.holder ?? '?'})`, {
        hint: 'An earlier run (cron?) is still going: let it finish. The lock is released when that process ends, even if it dies.',
      });
    }
    try {
      return await fn();
    } finally {
      await s.rows(releaseLockSql(name)).catch(() => undefined);
    }
  });
}

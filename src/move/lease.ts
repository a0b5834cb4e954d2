/**
 * The runner lock of one move: a named lock (GET_LOCK) on the mapping server, held on a connection of
 * the runner's own for as long as it runs the move. The server releases it the moment that connection
 * closes, and the kernel closes it the moment the process dies (SIGKILL, OOM, a crash: a dead process
 * that is not reaped yet holds no sockets). So "the lock is held" is "the runner is alive", on every
 * host, with no lease to wait out; the journal's heartbeat is only information (see Journal.claim).
 *
 * Two deaths close no socket: the runner's host vanishing (power, kernel panic, a network partition)
 * and a frozen process (SIGSTOP, a debugger). For those the lock's connection has an idle timeout of
 * LOCK_IDLE_SECONDS (the runner uses it every second while it lives): the server drops the lock then.
 * A frozen runner that wakes up must not write beside the one that took over meanwhile: `silentMs`
 * tells how long it has not confirmed its lock, and the run stops before it writes (RunContext).
 */
import type { DedicatedSession, Db } from '../db/pool.js';
import type { Sql } from '../db/sql/fragment.js';
import { getLockSql, lockSessionIdleSql } from '../db/sql/locks.js';

/** The server drops the lock of a runner silent this long (a vanished host, a frozen process). */
export const LOCK_IDLE_SECONDS = 30;

async function open(db: Db): Promise<DedicatedSession> {
  const s = await db.dedicatedSession();
  try {
    await s.exec(lockSessionIdleSql(LOCK_IDLE_SECONDS));
    return s;
  } catch (err) {
    await s.close();
    throw err;
  }
}

type LockAnswer = { got: number | string | null; holder: number | string | null };

async function tryLock(s: DedicatedSession, name: string): Promise<{ got: boolean; holder: string | null }> {
  const [r] = await s.rows<LockAnswer>(getLockSql(name));
  return { got: Number(r?.got) === 1, holder: r?.holder == null ? null : String(r.holder) };
}

export class RunnerLock {
  #session: DedicatedSession | null;
  /** When the lock was last known to be ours (taken, or confirmed by a query on its connection). */
  #confirmedAt = Date.now();

  private constructor(
    private readonly db: Db,
    readonly name: string,
    session: DedicatedSession,
  ) {
    this.#session = session;
  }

  /** Take the lock without waiting, or say which connection holds it. */
  static async take(db: Db, name: string): Promise<{ lock: RunnerLock } | { lock: null; holder: string | null }> {
    const s = await open(db);
    try {
      const r = await tryLock(s, name);
      if (r.got) return { lock: new RunnerLock(db, name, s) };
      await s.close();
      return { lock: null, holder: r.holder };
    } catch (err) {
      await s.close();
      throw err;
    }
  }

  /**
   * Run `q` on the lock's own connection (so it can ask `IS_USED_LOCK(name) = CONNECTION_ID()`). When
   * that connection was dropped (KILL CONNECTION, a network blip), a new one takes the lock again, unless
   * another session holds it by then: 'lost' (another runner took the move over).
   */
  async rows<T>(q: Sql): Promise<T[] | 'lost'> {
    if (this.#session) {
      try {
        return await this.#session.rows<T>(q);
      } catch {
        await this.#drop();
      }
    }
    if ((await this.retake()) === 'lost') return 'lost';
    return this.#session!.rows<T>(q);
  }

  /** The caller saw that its connection still holds the lock. */
  confirmed(): void {
    this.#confirmedAt = Date.now();
  }

  /** How long the lock has not been confirmed: past LOCK_IDLE_SECONDS the server may have dropped it. */
  silentMs(): number {
    return Date.now() - this.#confirmedAt;
  }

  /** Take the lock again (on a new connection if the old one is gone); 'lost' when another session holds it. */
  async retake(): Promise<'held' | 'lost'> {
    this.#session ??= await open(this.db);
    if ((await tryLock(this.#session, this.name)).got) {
      this.confirmed();
      return 'held';
    }
    await this.#drop();
    return 'lost';
  }

  /** Let go: closing the connection releases the lock. */
  async release(): Promise<void> {
    await this.#drop();
  }

  async #drop(): Promise<void> {
    const s = this.#session;
    this.#session = null;
    await s?.close();
  }
}

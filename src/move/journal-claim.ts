import { moveLockName } from '../db/lock-names.js';
import type { Db } from '../db/pool.js';
import { claimMoveSql, endRunSql, heartbeatSql, insertRunSql, releaseSql, runnerPollSql } from '../db/sql/journal.js';
import { BusyError, FwShardError } from '../errors/index.js';
import { endedMoveHint, runningMoveHint, STALE_SECONDS } from './hints.js';
import { RunnerLock } from './lease.js';
import type { Runner } from './types.js';
import type { MoveRow, RunnerPoll } from './journal-reader.js';

const HEARTBEAT_MS = 5000;
/** How often the run holding a move looks for a stop request and checks that it still holds its lock. */
const POLL_MS = 1000;

/** BUSY: the move's runner lock is held, so its runner is alive (on this host or another). */
export function runningElsewhere(m: MoveRow, role: string, holder: string | null, next?: string): BusyError {
  const who = m.runner_host ? `${m.runner_host} pid ${m.runner_pid ?? '?'}` : 'another runner';
  const age = m.heartbeat_age_s === null ? null : Number(m.heartbeat_age_s);
  return new BusyError(
    'lease',
    `move ${m.id} of user ${m.user_id} is being run by ${who}, which is alive: it holds the move's runner lock on ${role} (connection ${holder ?? '?'})${age === null ? '' : `; heartbeat ${age} s ago`}`,
    { hint: runningMoveHint(m, { next }) },
  );
}

/** BUSY: the lease is held by an fw-shard from before the runner lock, whose heartbeat is fresh. */
function legacyBusy(m: MoveRow): BusyError {
  const age = Number(m.heartbeat_age_s ?? 0);
  const left = Math.max(1, STALE_SECONDS - age);
  return new BusyError(
    'lease',
    `move ${m.id} of user ${m.user_id} is being run by ${m.runner_host ?? '?'} pid ${m.runner_pid ?? '?'}, an fw-shard without the runner lock (heartbeat ${age} s ago): its lease expires in ${left} s`,
    { hint: runningMoveHint(m, { legacy: true }) },
  );
}

/**
 * The live half of the journal: a run's claim on its move. The move's runner lock (lease.ts) and the
 * journal's lease, taken together or refused with BUSY naming the runner that has them; from then on a
 * poll every second (the lock still ours? a stop request?) and a heartbeat every 5 s, until the release
 * records how the run ended. Journal delegates to it; the persistent record is journal.ts.
 */
export class RunnerClaim {
  constructor(
    private readonly wdb: Db,
    private readonly runner: Runner,
    private readonly journal: { get(moveId: string): Promise<MoveRow | undefined>; ensureTables(): Promise<void> },
  ) {}

  #lock: RunnerLock | null = null;
  #runId: string | null = null;
  #watch: ReturnType<typeof setInterval> | null = null;
  #onPoll: ((p: RunnerPoll) => void) | null = null;

  /** Called with every poll of the run that holds the move (RunContext stops the run on a stop request or a lost lock). */
  onPoll(fn: (p: RunnerPoll) => void): void {
    this.#onPoll = fn;
  }

  /**
   * From the claim to the release, every second: poll the runner lock's connection (which keeps it from
   * idling out) for the lock and a stop request; every 5 s, the heartbeat (information for `moves`).
   */
  #startWatch(moveId: string): void {
    let ticks = 0;
    let busy = false;
    this.#watch = setInterval(() => {
      if (busy) return;
      busy = true;
      const beat = ++ticks % (HEARTBEAT_MS / POLL_MS) === 0;
      void (async () => {
        if (beat) await this.heartbeat(moveId);
        const p = await this.poll(moveId);
        this.#onPoll?.(p);
      })()
        .catch(() => undefined) // db_main did not answer: the next tick asks again (RunContext stops a run silent too long)
        .finally(() => (busy = false));
    }, POLL_MS);
    this.#watch.unref?.();
  }

  /**
   * Take the move for this run, or fail with BUSY naming the runner that has it. First the move's runner
   * lock (src/move/lease.ts): while another runner holds it, that runner is alive, wherever it runs. With
   * the lock, the lease in the journal is ours unless its holder is an fw-shard from before the lock (it
   * holds none): that one is taken over when its heartbeat is 30 s old, or at once when it is a dead
   * process on this host. The heartbeat is not a liveness test for a runner that holds the lock: one whose
   * heartbeat stopped but who still holds the lock is hung (SIGSTOP, a debugger), and may wake up and
   * write; it must be killed, not raced. The run is recorded (who, where, which command).
   */
  async claim(move: MoveRow): Promise<void> {
    // Nothing is written before the move is known to be ours to take: a refusal leaves db_main as it was.
    const taken = await RunnerLock.take(this.wdb, moveLockName(this.wdb.endpoint.database, move.id));
    if (!taken.lock) {
      const now = await this.#stillActive(move.id);
      throw runningElsewhere(now ?? move, this.wdb.endpoint.role, taken.holder);
    }
    try {
      const now = (await this.#stillActive(move.id)) ?? move;
      const deadPid = this.#deadLocalPid(now);
      if (this.#legacyHolderAlive(now, deadPid)) throw legacyBusy(now);
      await this.journal.ensureTables();
      const r = await this.wdb.exec(claimMoveSql(move.id, this.runner.host, this.runner.pid, taken.lock.name, STALE_SECONDS, deadPid));
      if (r.affectedRows === 0) throw legacyBusy((await this.#stillActive(move.id)) ?? now);
      this.#runId = (
        await this.wdb.exec(insertRunSql(move.id, { user: this.runner.user, host: this.runner.host, pid: this.runner.pid, command: this.runner.command }))
      ).insertId;
      this.#lock = taken.lock;
      this.#startWatch(move.id);
    } catch (err) {
      await taken.lock.release();
      throw err;
    }
  }

  /** The pid of a runner from before the lock that died on this host (its lease is free at once). */
  #deadLocalPid(m: MoveRow): number | null {
    const local = m.runner_lock === null && m.runner_host === this.runner.host && m.runner_pid !== null;
    return local && !this.runner.isAlive(Number(m.runner_pid)) ? Number(m.runner_pid) : null;
  }

  /** A runner from before the lock (none recorded) that still beats: its lease holds until it is 30 s old. */
  #legacyHolderAlive(m: MoveRow, deadPid: number | null): boolean {
    if (m.runner_lock !== null || m.runner_host === null || deadPid !== null) return false;
    if (m.runner_host === this.runner.host && Number(m.runner_pid) === this.runner.pid) return false;
    return m.heartbeat_age_s !== null && Number(m.heartbeat_age_s) < STALE_SECONDS;
  }

  /** The move as it is now; a move that ended meanwhile cannot be taken. */
  async #stillActive(moveId: string): Promise<MoveRow | undefined> {
    const now = await this.journal.get(moveId);
    if (now && now.state !== 'active') {
      throw new FwShardError('PRECONDITION', `move ${moveId} is already ${now.state}`, { hint: endedMoveHint(now) });
    }
    return now;
  }

  heartbeat(moveId: string): Promise<unknown> {
    return this.wdb.exec(heartbeatSql(moveId, this.runner.host, this.runner.pid));
  }

  /** Every second: whether this run still holds the move's lock, and any stop request (fw-shard stop). */
  async poll(moveId: string): Promise<RunnerPoll> {
    if (!this.#lock) return { lock: 'lost', stop: null };
    const rows = await this.#lock.rows<{
      mine: number | string | null;
      state: string;
      runner_host: string | null;
      runner_pid: number | string | null;
      stop_requested_by: string | null;
      stop_requested_at: string | null;
    }>(runnerPollSql(moveId, this.#lock.name));
    if (rows === 'lost') return { lock: 'lost', stop: null };
    const r = rows[0];
    // Ours only while the journal still names this process (a takeover rewrites it, the end clears it).
    const named = r !== undefined && r.state === 'active' && r.runner_host === this.runner.host && Number(r.runner_pid) === this.runner.pid;
    const lock = !named ? 'lost' : Number(r.mine) === 1 ? 'held' : await this.#lock.retake();
    if (lock === 'held') this.#lock.confirmed();
    return { lock, stop: r?.stop_requested_at ? { by: r.stop_requested_by ?? '?', at: r.stop_requested_at } : null };
  }

  /** How long this run's runner lock has not been confirmed (null: this journal holds none). */
  lockSilentMs(): number | null {
    return this.#lock?.silentMs() ?? null;
  }

  /** End this run: give the lease and the runner lock back, and record how the run ended. */
  async release(moveId: string, outcome = 'ended'): Promise<void> {
    if (this.#watch) clearInterval(this.#watch);
    this.#watch = null;
    const lock = this.#lock;
    const runId = this.#runId;
    this.#lock = null;
    this.#runId = null;
    try {
      await this.wdb.exec(releaseSql(moveId, this.runner.host, this.runner.pid));
      if (runId !== null) await this.wdb.exec(endRunSql(runId, outcome.slice(0, 64)));
    } finally {
      await lock?.release();
    }
  }
}

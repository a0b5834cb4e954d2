/**
 * The move journal in the mapping database. Every phase writes its intent here before it acts, so a
 * crashed, killed or interrupted move can be resumed or aborted from the journal alone.
 */
import { isDuplicateColumn, isDuplicateKey, isNoSuchColumn } from '../db/errors.js';
import { moveLockName } from '../db/lock-names.js';
import type { Db, Session } from '../db/pool.js';
import type { Sql } from '../db/sql/fragment.js';
import {
  ADDED_MOVE_COLUMNS,
  addMoveColumnsSql,
  selectSchemaFingerprintSql,
  setSchemaFingerprintSql,
  checkpointSql,
  chunkCleanedSql,
  createMoveChunksSql,
  createMovePassesSql,
  createMoveRunsSql,
  createMoveTablesSql,
  createMovesSql,
  deleteChunksSql,
  enterCleanupSql,
  finishMoveSql,
  finishUndoneSql,
  freezeEndedPassSql,
  insertChunkSql,
  insertDeltaPassSql,
  insertFreezeSql,
  insertMoveSql,
  insertMoveTableSql,
  journalColumnsSql,
  markChunksDirtySql,
  MOVES,
  releaseForUndoSql,
  requestStopSql,
  restoreUndoneSql,
  setErrorSql,
  setModeSql,
  setPhaseSql,
  setThrottleSql,
  setUndoneBySql,
  setUndoOfSql,
  tableCleanedSql,
  updateChunkSql,
  type NewMove,
} from '../db/sql/journal.js';
import { createFreezesSql } from '../db/sql/freeze.js';
import { FwShardError } from '../errors/index.js';
import { STALE_SECONDS } from './hints.js';
import { RunnerLock } from './lease.js';
import type { Runner } from './types.js';
import type { JournalPhase } from './phase.js';
import { JournalReader, type MoveRow, type RunnerPoll } from './journal-reader.js';
import { RunnerClaim, runningElsewhere } from './journal-claim.js';

export * from './journal-reader.js';

export class Journal extends JournalReader {
  constructor(
    protected readonly wdb: Db,
    private readonly runner: Runner,
  ) {
    super(wdb);
    this.#claim = new RunnerClaim(wdb, runner, this);
  }
  readonly #claim: RunnerClaim;

  /** Called with every poll of the run that holds the move (RunContext stops the run on a stop request or a lost lock). */
  onPoll(fn: (p: RunnerPoll) => void): void {
    this.#claim.onPoll(fn);
  }
  /** Take the move for this run, or fail with BUSY naming the runner that has it (journal-claim.ts). */
  claim(move: MoveRow): Promise<void> {
    return this.#claim.claim(move);
  }
  heartbeat(moveId: string): Promise<unknown> {
    return this.#claim.heartbeat(moveId);
  }
  /** Every second: whether this run still holds the move's lock, and any stop request (fw-shard stop). */
  poll(moveId: string): Promise<RunnerPoll> {
    return this.#claim.poll(moveId);
  }
  /** How long this run's runner lock has not been confirmed (null: this journal holds none). */
  lockSilentMs(): number | null {
    return this.#claim.lockSilentMs();
  }
  /** End this run: give the lease and the runner lock back, and record how the run ended. */
  release(moveId: string, outcome = 'ended'): Promise<void> {
    return this.#claim.release(moveId, outcome);
  }

  /** The schema fingerprints the move started with (JSON), or null where none was recorded (a move begun by an older fw-shard). */
  async schemaFingerprint(moveId: string): Promise<string | null> {
    const [r] = await this.wdb.rows<{ schema_fp: string | null }>(selectSchemaFingerprintSql(moveId));
    return r?.schema_fp ?? null;
  }
  async setSchemaFingerprint(moveId: string, json: string): Promise<void> {
    await this.wdb.exec(setSchemaFingerprintSql(moveId, json));
  }

  async ensureTables(): Promise<void> {
    await this.wdb.exec(createFreezesSql());
    await this.wdb.exec(createMovesSql());
    await this.wdb.exec(createMoveTablesSql());
    await this.wdb.exec(createMoveChunksSql());
    await this.wdb.exec(createMovePassesSql());
    await this.wdb.exec(createMoveRunsSql());
    await this.#addMissingColumns();
  }

  /** A journal made by an older fw-shard gets the columns added since (one ALTER; a concurrent runner's is fine). */
  async #addMissingColumns(): Promise<void> {
    const have = new Set((await this.wdb.rows<{ name: string }>(journalColumnsSql(MOVES))).map((r) => String(r.name).toLowerCase()));
    const missing = ADDED_MOVE_COLUMNS.filter(([c]) => !have.has(c));
    if (missing.length > 0) {
      try {
        await this.wdb.exec(addMoveColumnsSql(missing));
      } catch (err) {
        if (!isDuplicateColumn(err)) throw err;
      }
    }
    this.migrated();
  }

  /**
   * Create the move, or return the user's existing unfinished one (the UNIQUE key on active_user makes
   * the database the arbiter between two runners on two hosts).
   */
  async create(m: Omit<NewMove, 'runnerHost' | 'runnerPid'>): Promise<{ id: string; existing: MoveRow | null }> {
    try {
      const r = await this.wdb.exec(insertMoveSql({ ...m, runnerHost: this.runner.host, runnerPid: this.runner.pid }));
      return { id: m.id ?? r.insertId, existing: null };
    } catch (err) {
      if (isDuplicateKey(err)) {
        const existing = await this.activeForUser(m.userId);
        if (existing) return { id: existing.id, existing };
      }
      throw err;
    }
  }

  /**
   * Create the undo of `undone` and link the two, in one transaction: the undone move gives up its
   * unfinished-move slot (releaseForUndoSql says when it may) and the undo takes it, so no cleanup of
   * the undone move can start from then on. Returns null when the undone move no longer qualifies.
   * Throughout, the undo holds the undone move's runner lock: BUSY while a live runner holds it.
   */
  async createUndo(m: Omit<NewMove, 'runnerHost' | 'runnerPid' | 'id'>, undone: string): Promise<string | null> {
    // The undone move's runner lock, held while the undo starts: a runner that has the move holds it (it
    // is alive: BUSY), and one that claims the move after the start finds it undone (continueMove).
    const taken = await RunnerLock.take(this.wdb, moveLockName(this.wdb.endpoint.database, undone));
    if (!taken.lock) {
      const now = await this.get(undone);
      if (now) throw runningElsewhere(now, this.wdb.endpoint.role, taken.holder, `fw-shard undo ${undone} again`);
      return null;
    }
    try {
      return await this.wdb.transaction(
        async (s) => {
          if ((await s.exec(releaseForUndoSql(undone, STALE_SECONDS))).affectedRows !== 1) return null;
          const created = await s.exec(insertMoveSql({ ...m, id: null, runnerHost: this.runner.host, runnerPid: this.runner.pid }));
          await s.exec(setUndoOfSql(created.insertId, undone));
          await s.exec(setUndoneBySql(undone, created.insertId));
          return created.insertId;
        },
        { binary: false },
      );
    } catch (err) {
      if (!isDuplicateKey(err)) throw err;
      const other = await this.activeForUser(m.userId);
      throw new FwShardError(
        'BUSY',
        `user ${m.userId} has an unfinished move${other ? ` (${other.id}, from shard ${other.from_shard} to shard ${other.to_shard})` : ''}`,
        {
          hint: other
            ? `Finish it (fw-shard resume ${other.id}) or abort it (fw-shard abort ${other.id}) first.`
            : 'fw-shard moves lists the unfinished moves.',
        },
      );
    } finally {
      await taken.lock.release();
    }
  }

  /** End an aborted undo and give the undone move back as it was (restoreUndoneSql), in one transaction. */
  abortUndo(undoId: string, undone: string): Promise<void> {
    return this.wdb.transaction(
      async (s) => {
        await s.exec(finishMoveSql(undoId, 'aborted', 'aborted'));
        await s.exec(restoreUndoneSql(undone, undoId));
      },
      { binary: false },
    );
  }

  /** Enter phase `cleanup`; false when the move is being undone (its cleanup must never run). */
  async enterCleanup(moveId: string): Promise<boolean> {
    try {
      return (await this.wdb.exec(enterCleanupSql(moveId))).affectedRows === 1;
    } catch (err) {
      // A journal without the undo columns has no undo in progress.
      if (!isNoSuchColumn(err)) throw err;
      await this.setPhase(moveId, 'cleanup');
      return true;
    }
  }

  /** Publish why the runner waits (or NULL: it works again), for `moves` and `status`. */
  setThrottle(moveId: string, reason: string | null): Promise<unknown> {
    return this.wdb.exec(setThrottleSql(moveId, reason));
  }

  /** `fw-shard stop`: record the request; false when the move is not unfinished (any more). */
  async requestStop(moveId: string, by: string): Promise<boolean> {
    await this.ensureTables();
    return (await this.wdb.exec(requestStopSql(moveId, by))).affectedRows > 0;
  }

  setPhase(moveId: string, phase: JournalPhase, extra?: Sql): Promise<unknown> {
    return this.wdb.exec(setPhaseSql(moveId, phase, extra));
  }
  setMode(moveId: string, cleanupMode: string, options: string): Promise<unknown> {
    return this.wdb.exec(setModeSql(moveId, cleanupMode, options));
  }
  setError(moveId: string, error: string | null): Promise<unknown> {
    return this.wdb.exec(setErrorSql(moveId, error));
  }
  finish(moveId: string, state: 'done' | 'aborted', phase: 'done' | 'aborted'): Promise<unknown> {
    return this.wdb.exec(finishMoveSql(moveId, state, phase));
  }
  addTable(moveId: string, table: string, rowsTotal: string): Promise<unknown> {
    return this.wdb.exec(insertMoveTableSql(moveId, table, rowsTotal));
  }
  /** The copy checkpoint and the verified source hash of the chunk just copied, in one transaction. */
  checkpointChunk(
    moveId: string,
    table: string,
    c: Parameters<typeof checkpointSql>[2],
    chunk: { seq: number; lo: string | null; hi: string | null; count: string; hash: string },
  ): Promise<unknown> {
    return this.wdb.transaction(
      async (s) => {
        await s.exec(checkpointSql(moveId, table, c));
        await s.exec(insertChunkSql(moveId, table, chunk.seq, chunk.lo, chunk.hi, chunk.count, chunk.hash));
      },
      { binary: false },
    );
  }
  /** Mark the table's cleanup finished; its rows_cleaned counts every run's deletes (from the cleaned ranges). */
  tableCleaned(moveId: string, table: string, status: string): Promise<unknown> {
    return this.wdb.exec(tableCleanedSql(moveId, table, status));
  }
  async replaceChunks(moveId: string, table: string, chunks: { lo: string | null; hi: string | null; count: string; hash: string }[]): Promise<void> {
    await this.wdb.exec(deleteChunksSql(moveId, table));
    let seq = 0;
    for (const c of chunks) await this.wdb.exec(insertChunkSql(moveId, table, seq++, c.lo, c.hi, c.count, c.hash));
  }
  /** Before rewriting ranges on the target (all of the table's, or one): their records become unknown. */
  markDirty(moveId: string, table: string, seq?: number): Promise<unknown> {
    return this.wdb.exec(markChunksDirtySql(moveId, table, seq));
  }
  updateChunk(moveId: string, table: string, seq: number, count: string, hash: string): Promise<unknown> {
    return this.wdb.exec(updateChunkSql(moveId, table, seq, count, hash));
  }
  chunkCleaned(moveId: string, table: string, seq: number): Promise<unknown> {
    return this.wdb.exec(chunkCleanedSql(moveId, table, seq));
  }
  /** A delta (or log) pass ended. */
  deltaPass(moveId: string, ms: number, rowsRecopied: string): Promise<unknown> {
    return this.wdb.exec(insertDeltaPassSql(moveId, ms, rowsRecopied));
  }
  /** A freeze attempt starts; returns its record's id. */
  async freezeStarted(moveId: string): Promise<string> {
    return (await this.wdb.exec(insertFreezeSql(moveId))).insertId;
  }
  freezeEnded(passId: string, ms: number, outcome: 'flipped' | 'lifted'): Promise<unknown> {
    return this.wdb.exec(freezeEndedPassSql(passId, ms, outcome));
  }
}

/**
 * Inside the undo's flip transaction: the undone move ends (and its cleanup with it). Refuses the flip
 * when the link is gone: the undone move's cleanup could then still delete rows that are live again.
 */
export async function finishUndone(s: Session, undone: string, undoId: string): Promise<void> {
  if ((await s.exec(finishUndoneSql(undone, undoId))).affectedRows !== 1) {
    throw new FwShardError('PRECONDITION', `move ${undone} is no longer linked to its undo ${undoId}; nothing was flipped`, {
      hint: `fw-shard moves --all shows both; fw-shard abort ${undoId} gives move ${undone} back as it was.`,
    });
  }
}

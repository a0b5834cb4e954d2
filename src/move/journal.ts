/**
 * The move journal in the mapping database. Every phase writes its intent here before it acts, so a
 * crashed, killed or interrupted move can be resumed or aborted from the journal alone.
 */
import { isDuplicateKey, isNoSuchTable } from '../db/errors.js';
import type { Db, ReadDb } from '../db/pool.js';
import type { Sql } from '../db/sql/fragment.js';
import {
  checkpointSql,
  chunkCleanedSql,
  chunkTotalsSql,
  claimMoveSql,
  cleanupDueSql,
  cleanupWaitingSql,
  createMoveChunksSql,
  createMovePassesSql,
  freezeEndedPassSql,
  insertDeltaPassSql,
  insertFreezeSql,
  selectPassesSql,
  createMoveTablesSql,
  createMovesSql,
  deleteChunksSql,
  finishMoveSql,
  heartbeatSql,
  insertChunkSql,
  insertMoveSql,
  insertMoveTableSql,
  listMovesSql,
  markChunksDirtySql,
  releaseSql,
  selectActiveMoveForUserSql,
  selectChunksSql,
  selectMoveSql,
  selectMoveTablesSql,
  setErrorSql,
  setModeSql,
  setPhaseSql,
  tableCleanedSql,
  updateChunkSql,
  type NewMove,
} from '../db/sql/journal.js';
import { createFreezesSql } from '../db/sql/freeze.js';
import { BusyError, FwShardError } from '../errors/index.js';
import { endedMoveHint, runningMoveHint, STALE_SECONDS } from './hints.js';
import type { Runner } from './types.js';
import type { MoveTotals } from '../events/types.js';
import type { JournalPhase } from './phase.js';

export interface MoveRow {
  id: string;
  user_id: string;
  from_shard: number;
  to_shard: number;
  phase: string;
  state: 'active' | 'done' | 'aborted';
  cleanup_mode: string;
  options: string | null;
  runner_host: string | null;
  runner_pid: number | null;
  heartbeat_at: string | null;
  created_at: string;
  updated_at: string;
  flipped_at: string | null;
  finished_at: string | null;
  freeze_ms: string | null;
  heartbeat_age_s: string | null;
  flipped_age_s: string | null;
  error: string | null;
}

export interface MoveTableRow {
  table_name: string;
  status: string;
  last_key: string | null;
  rows_total: string;
  rows_copied: string;
  chunks: number;
  mismatches: number;
  rows_cleaned: string;
}

export interface ChunkRow {
  seq: number;
  lo: string | null;
  hi: string | null;
  row_count: string;
  hash: string;
  cleaned: number;
}

/** Phases as stored. `flipped` and later mean the mapping points at the target. */

/** Read-only view: `moves`, `status` and dry runs never create tables. */
export class JournalReader {
  constructor(protected readonly db: ReadDb) {}

  protected async maybe<T>(q: Sql): Promise<T[]> {
    try {
      return await this.db.rows<T>(q);
    } catch (err) {
      if (isNoSuchTable(err)) return [];
      throw err;
    }
  }

  async get(moveId: string): Promise<MoveRow | undefined> {
    return (await this.maybe<MoveRow>(selectMoveSql(moveId)))[0];
  }
  async activeForUser(userId: string): Promise<MoveRow | undefined> {
    return (await this.maybe<MoveRow>(selectActiveMoveForUserSql(userId)))[0];
  }
  list(all: boolean, limit = 200): Promise<MoveRow[]> {
    return this.maybe<MoveRow>(listMovesSql(all, limit));
  }
  tables(moveId: string): Promise<MoveTableRow[]> {
    return this.maybe<MoveTableRow>(selectMoveTablesSql(moveId));
  }
  chunks(moveId: string, table: string): Promise<ChunkRow[]> {
    return this.maybe<ChunkRow>(selectChunksSql(moveId, table));
  }
  /** Sums of a table's range records; `dirty` counts ranges fw-shard was rewriting (no usable record). */
  async chunkTotals(moveId: string, table: string): Promise<{ chunks: number; count: string; hash: string; dirty: number }> {
    const [r] = await this.maybe<{ chunks: string; n: string; h: string; dirty: string }>(chunkTotalsSql(moveId, table));
    return { chunks: Number(r?.chunks ?? 0), count: String(r?.n ?? '0'), hash: String(r?.h ?? '0'), dirty: Number(r?.dirty ?? 0) };
  }
  /** The whole move over every run: rows copied and deleted per table, every delta pass and freeze. */
  async totals(moveId: string): Promise<MoveTotals> {
    const [tables, passes] = await Promise.all([
      this.tables(moveId),
      this.maybe<{ kind: string; started_at: string; ms: number | null; rows_recopied: string | null; outcome: string | null }>(selectPassesSql(moveId)),
    ]);
    const sum = (xs: (string | null)[]) => xs.reduce((a, x) => a + BigInt(x ?? '0'), 0n).toString();
    const freezes: MoveTotals['freezes'] = passes
      .filter((p) => p.kind === 'freeze')
      .map((p) => ({
        startedAt: p.started_at,
        ms: p.ms === null ? null : Number(p.ms),
        outcome: p.outcome === 'flipped' || p.outcome === 'lifted' ? p.outcome : 'stopped',
      }));
    const deltas = passes.filter((p) => p.kind === 'delta');
    return {
      rowsCopied: sum(tables.map((t) => t.rows_copied)),
      rowsRecopied: sum(deltas.map((p) => p.rows_recopied)),
      rowsDeleted: sum(tables.map((t) => t.rows_cleaned)),
      deltaPasses: deltas.length,
      freezes,
      freezeMsTotal: freezes.reduce((a, f) => a + (f.ms ?? 0), 0),
    };
  }
  cleanupDue(olderThanSeconds: number): Promise<MoveRow[]> {
    return this.maybe<MoveRow>(cleanupDueSql(olderThanSeconds));
  }
  cleanupWaiting(olderThanSeconds: number): Promise<(MoveRow & { eligible_at: string; eligible_in_ms: string })[]> {
    return this.maybe(cleanupWaitingSql(olderThanSeconds));
  }
}

export class Journal extends JournalReader {
  constructor(
    protected readonly wdb: Db,
    private readonly runner: Runner,
  ) {
    super(wdb);
  }

  async ensureTables(): Promise<void> {
    await this.wdb.exec(createFreezesSql());
    await this.wdb.exec(createMovesSql());
    await this.wdb.exec(createMoveTablesSql());
    await this.wdb.exec(createMoveChunksSql());
    await this.wdb.exec(createMovePassesSql());
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

  /** Take the runner lease or fail with BUSY naming the holder. */
  async claim(move: MoveRow): Promise<void> {
    const deadPid =
      move.runner_host === this.runner.host && move.runner_pid !== null && !this.runner.isAlive(Number(move.runner_pid)) ? Number(move.runner_pid) : null;
    const r = await this.wdb.exec(claimMoveSql(move.id, this.runner.host, this.runner.pid, STALE_SECONDS, deadPid));
    if (r.affectedRows === 0) {
      const now = await this.get(move.id);
      if (now && now.state !== 'active') {
        throw new FwShardError('PRECONDITION', `move ${move.id} is already ${now.state}`, { hint: endedMoveHint(now) });
      }
      throw new BusyError(
        'lease',
        `move ${move.id} of user ${move.user_id} is being run by ${now?.runner_host ?? '?'} pid ${now?.runner_pid ?? '?'} (heartbeat ${now?.heartbeat_age_s ?? '?'} s ago)`,
        { hint: runningMoveHint(move.id) },
      );
    }
  }

  heartbeat(moveId: string): Promise<unknown> {
    return this.wdb.exec(heartbeatSql(moveId, this.runner.host, this.runner.pid));
  }
  release(moveId: string): Promise<unknown> {
    return this.wdb.exec(releaseSql(moveId, this.runner.host, this.runner.pid));
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

/**
 * The move journal, read: its rows (moves, runs, tables, chunks) and the JournalReader that status,
 * verify and the fleet commands read them with. The writes, and the runner lock a running move holds,
 * are Journal (journal.ts), which extends it.
 */
import { isNoSuchColumn, isNoSuchTable } from '../db/errors.js';
import type { ReadDb } from '../db/pool.js';
import type { Sql } from '../db/sql/fragment.js';
import {
  ADDED_MOVE_COLUMNS,
  chunkTotalsSql,
  cleanupDueSql,
  cleanupWaitingSql,
  journalColumnsSql,
  laterMoveOfUserSql,
  listMovesSql,
  MOVES,
  selectActiveMoveForUserSql,
  selectChunksSql,
  selectMoveSql,
  selectMoveTablesSql,
  selectPassesSql,
  selectRunsSql,
  undoLinksSql,
} from '../db/sql/journal.js';
import { STALE_SECONDS } from './hints.js';
import type { MoveTotals } from '../events/types.js';

export interface MoveRow {
  id: string;
  user_id: string;
  from_shard: number;
  to_shard: number;
  phase: string;
  state: 'active' | 'done' | 'aborted';
  cleanup_mode: string;
  /** The move's settings (chunk time, concurrency, ...), as recorded when it started. */
  options: Record<string, unknown> | null;
  runner_host: string | null;
  runner_pid: number | null;
  /** The named lock the runner holds while it runs (NULL: no runner, or one from before the lock). */
  runner_lock: string | null;
  /** The connection holding the runner lock now (NULL: not held). */
  runner_conn: string | null;
  /** Whether the recorded runner is alive (NULL: none recorded), and how that was told. */
  runner_alive: boolean | null;
  runner_liveness: 'lock' | 'heartbeat' | null;
  heartbeat_at: string | null;
  created_at: string;
  updated_at: string;
  flipped_at: string | null;
  finished_at: string | null;
  freeze_ms: string | null;
  heartbeat_age_s: string | null;
  flipped_age_s: string | null;
  error: string | null;
  /** `fw-shard stop` asked the runner to stop at its next safe point (cleared by the next run). */
  stop_requested_at: string | null;
  stop_requested_by: string | null;
  /** Why the runner waits right now (throttled, pause file), NULL while it works. */
  throttle_reason: string | null;
  /** The tables' copy checkpoints, summed. */
  rows_copied: string;
  rows_total: string;
}

/** One run of a move: the first, and each resume, abort or cleanup. */
export interface MoveRunRow {
  id: string;
  os_user: string | null;
  host: string;
  pid: number;
  command: string | null;
  started_at: string;
  ended_at: string | null;
  outcome: string | null;
}

/** What the runner polls every second: is its lock still its own, and did someone ask it to stop? */
export type RunnerPoll = { lock: 'held' | 'lost'; stop: { by: string; at: string } | null };

type RawMoveRow = Omit<MoveRow, 'options' | 'runner_alive' | 'runner_liveness'> & { options: string | null };

/** The stored options are a JSON text: readers get the object (the text itself if it is not JSON). */
function parseOptions(text: string | null): Record<string, unknown> | null {
  if (text === null || text === '') return null;
  try {
    const v: unknown = JSON.parse(text);
    return v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : { value: v };
  } catch {
    return { text };
  }
}

function toMoveRow(r: RawMoveRow): MoveRow {
  const recorded = r.runner_host !== null;
  const byLock = r.runner_lock !== null;
  const alive = !recorded ? null : byLock ? r.runner_conn !== null : r.heartbeat_age_s !== null && Number(r.heartbeat_age_s) <= STALE_SECONDS;
  return { ...r, options: parseOptions(r.options), runner_alive: alive, runner_liveness: recorded ? (byLock ? 'lock' : 'heartbeat') : null };
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

/** `fw-shard undo`: the move a move undoes, and the move undoing it (ids, or null). */
interface UndoLinks {
  undoOf: string | null;
  undoneBy: string | null;
}

const NO_LINKS: UndoLinks = { undoOf: null, undoneBy: null };

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

  #control: Promise<boolean> | undefined;

  /** Whether the journal has the columns added since its first release (an older one is read without them). */
  protected hasControlColumns(): Promise<boolean> {
    this.#control ??= this.maybe<{ name: string }>(journalColumnsSql(MOVES)).then((rows) => {
      const have = new Set(rows.map((r) => String(r.name).toLowerCase()));
      return ADDED_MOVE_COLUMNS.every(([c]) => have.has(c));
    });
    return this.#control;
  }
  /** After the migration: read the new columns from now on. */
  protected migrated(): void {
    this.#control = Promise.resolve(true);
  }

  async #moves(q: (control: boolean) => Sql): Promise<MoveRow[]> {
    return (await this.maybe<RawMoveRow>(q(await this.hasControlColumns()))).map(toMoveRow);
  }

  async get(moveId: string): Promise<MoveRow | undefined> {
    return (await this.#moves((c) => selectMoveSql(moveId, c)))[0];
  }
  async activeForUser(userId: string): Promise<MoveRow | undefined> {
    return (await this.#moves((c) => selectActiveMoveForUserSql(userId, c)))[0];
  }
  /** Unfinished moves, or every move with `all`; only `userId`'s when given. */
  list(all: boolean, limit = 200, userId?: string): Promise<MoveRow[]> {
    return this.#moves((c) => listMovesSql(all, limit, c, userId));
  }
  /** Who ran the move, run by run. */
  runs(moveId: string): Promise<MoveRunRow[]> {
    return this.maybe<MoveRunRow>(selectRunsSql(moveId));
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
    return this.#moves((c) => cleanupDueSql(olderThanSeconds, c));
  }
  async cleanupWaiting(olderThanSeconds: number): Promise<(MoveRow & { eligible_at: string; eligible_in_ms: string })[]> {
    const rows = await this.maybe<RawMoveRow & { eligible_at: string; eligible_in_ms: string }>(
      cleanupWaitingSql(olderThanSeconds, await this.hasControlColumns()),
    );
    return rows.map((r) => ({ ...toMoveRow(r), eligible_at: r.eligible_at, eligible_in_ms: r.eligible_in_ms }));
  }
  /** A journal of an older fw-shard has no undo columns (until ensureTables adds them), hence no links. */
  async undoLinks(moveId: string): Promise<UndoLinks> {
    try {
      const [r] = await this.maybe<{ undo_of: string | null; undone_by: string | null }>(undoLinksSql(moveId));
      return r ? { undoOf: r.undo_of === null ? null : String(r.undo_of), undoneBy: r.undone_by === null ? null : String(r.undone_by) } : NO_LINKS;
    } catch (err) {
      if (isNoSuchColumn(err)) return NO_LINKS;
      throw err;
    }
  }
  async laterMoveOfUser(userId: string, moveId: string): Promise<MoveRow | undefined> {
    return (await this.#moves((c) => laterMoveOfUserSql(userId, moveId, c)))[0];
  }
}

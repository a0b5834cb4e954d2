/**
 * Roles after gh-ost: the Inspector only reads (it receives a ReadDb, so it cannot write: the compiler
 * checks that `status`, `plan`, `verify` and preflight write nothing); the Applier writes.
 */
import { isLocalInfileRefused, isNoSuchColumn, isNoSuchTable, isTransient, retrying } from '../db/errors.js';
import { type Db, type ExecResult, type ReadDb, type Session } from '../db/pool.js';
import type { RawValue, Sql } from '../db/sql/fragment.js';
import * as R from '../db/sql/rows.js';
import { readSchema, readTriggers, type ColumnInfo, type TableInfo, type TriggerInfo } from '../db/sql/schema.js';
import { readServerFacts, showWarningsSql, type ServerFacts } from '../db/sql/server.js';
import { flipMappingSql, readPlacementSql } from '../db/sql/mapping.js';
import { setPhaseSql } from '../db/sql/journal.js';
import { BusyError, FreezeExpiredError, FwShardError } from '../errors/index.js';
import type { MappingSpec } from '../topology/index.js';
import type { KeyTuple, RowSpec } from '../db/sql/rows.js';

export interface RangeHash {
  count: string;
  hash: string;
}

export type RowHashes = Map<string, { key: KeyTuple | null; md5: string; n: number }>;

/** Rows of R.rowHashes (key columns, then the MD5) keyed by the key's bytes; keyless rows by their hash. */
export function parseRowHashes(rows: readonly RawValue[][], nk: number): RowHashes {
  const out: RowHashes = new Map();
  for (const r of rows) {
    const md5 = (r[nk] as Buffer).toString('latin1');
    const key = nk ? (r.slice(0, nk) as Buffer[]) : null;
    const id = key ? key.map((b) => b.toString('hex')).join(':') : md5;
    const prev = out.get(id);
    if (prev) prev.n++;
    else out.set(id, { key, md5, n: 1 });
  }
  return out;
}

/** A source row the cleanup did not delete, and why. */
export interface KeptRow {
  key: KeyTuple | null;
  /** missing: the target has no row with this key; different: it has another version of it. */
  why: 'missing' | 'different';
}

export class Inspector {
  #schema: Promise<Map<string, TableInfo>> | undefined;
  constructor(readonly db: ReadDb) {}

  schema(): Promise<Map<string, TableInfo>> {
    return (this.#schema ??= readSchema(this.db));
  }
  facts(): Promise<ServerFacts> {
    return readServerFacts(this.db);
  }
  triggers(): Promise<TriggerInfo[]> {
    return readTriggers(this.db);
  }

  /** The user's shard according to the mapping table, or null when the user does not exist. */
  async placement(m: MappingSpec, userId: string): Promise<number | null> {
    let rows: { shard: string | number }[];
    try {
      rows = await this.db.rows<{ shard: string | number }>(readPlacementSql(m, userId));
    } catch (err) {
      // No such table or column: the config names a mapping that is not there.
      if (!isNoSuchTable(err) && !isNoSuchColumn(err)) throw err;
      throw new FwShardError('CONFIG_INVALID', `mapping: cannot read ${m.table}.${m.shardColumn} by ${m.idColumn}: ${(err as Error).message}`, {
        hint: 'Check mapping.table, mapping.idColumn and mapping.shardColumn in the config (fw-shard config show), and that main: points at the database holding the users table.',
        cause: err,
      });
    }
    return rows[0] ? Number(rows[0].shard) : null;
  }

  async userStats(spec: R.RowSpec, userId: string): Promise<{ rows: string; bytes: string }> {
    const [r] = await this.db.rows<{ n: string; b: string }>(R.userBytes(spec, userId));
    return { rows: String(r?.n ?? '0'), bytes: String(r?.b ?? '0') };
  }

  async countUserRows(spec: Pick<RowSpec, 'name' | 'owner'>, userId: string): Promise<bigint> {
    const [r] = await this.db.rows<{ n: string }>(R.countUserRows(spec, userId));
    return BigInt(r?.n ?? '0');
  }

  async hash(spec: RowSpec, userId: string, lo: KeyTuple | null, hi: KeyTuple | null): Promise<RangeHash> {
    const [r] = await this.db.rows<{ n: string; h: string }>(R.hashRange(spec, userId, lo, hi));
    return { count: String(r?.n ?? '0'), hash: String(r?.h ?? '0') };
  }

  /** Per-row hashes keyed by the key's bytes (hex-joined), for drill-down. Keyless: keyed by the hash. */
  async rowHashes(spec: RowSpec, userId: string, lo: KeyTuple | null, hi: KeyTuple | null): Promise<RowHashes> {
    return parseRowHashes(await this.db.rawRows(R.rowHashes(spec, userId, lo, hi)), spec.key?.length ?? 0);
  }

  readChunk(spec: RowSpec, userId: string, lo: KeyTuple | null, limit: number): Promise<RawValue[][]> {
    return this.db.rawRows(R.selectChunk(spec, userId, lo, limit));
  }
  readKeys(spec: RowSpec, userId: string, keys: readonly KeyTuple[]): Promise<RawValue[][]> {
    return keys.length === 0 ? Promise.resolve([]) : this.db.rawRows(R.selectByKeys(spec, userId, keys));
  }
  readRange(spec: RowSpec, userId: string, lo: KeyTuple | null, hi: KeyTuple | null): Promise<RawValue[][]> {
    return this.db.rawRows(R.selectRange(spec, userId, lo, hi));
  }

  /** The key `offset` rows after lo, or null when fewer rows remain. */
  async keyAt(spec: RowSpec, userId: string, lo: KeyTuple | null, offset: number): Promise<KeyTuple | null> {
    const rows = await this.db.rawRows(R.selectKeyAt(spec, userId, lo, offset));
    return rows[0] ? (rows[0] as Buffer[]) : null;
  }

  /** Values of `cols` (then the chunk key) of the user's rows after lo. */
  columnsChunk(spec: RowSpec, cols: readonly ColumnInfo[], userId: string, lo: KeyTuple | null, limit: number): Promise<RawValue[][]> {
    return this.db.rawRows(R.selectColumnsChunk(spec, cols, userId, lo, limit));
  }

  /** Rows on this server whose `cols` equal one of `tuples` but belong to another owner. */
  foreignOwners(spec: RowSpec, cols: readonly ColumnInfo[], userId: string, tuples: readonly KeyTuple[]): Promise<RawValue[][]> {
    return tuples.length === 0 ? Promise.resolve([]) : this.db.rawRows(R.foreignKeysIn(spec, cols, userId, tuples));
  }
}

export class Applier {
  constructor(readonly db: Db) {}

  /**
   * Make the target's (lo, hi] range of the user equal to `rows`: delete what is there, insert the rows,
   * in one transaction under the source's sql_mode. Idempotent: re-running a chunk after a crash gives
   * the same result, and rows deleted on the source in that range disappear on the target too.
   */
  async replaceRange(spec: RowSpec, userId: string, lo: KeyTuple | null, hi: KeyTuple | null, rows: readonly RawValue[][], w: WriteSettings): Promise<void> {
    await this.#replace(spec, R.deleteRange(spec, userId, lo, hi), rows, w);
  }

  /** The same for single rows (delta repair): delete these keys of the user, insert the source's rows for them. */
  async replaceKeys(spec: RowSpec, userId: string, keys: readonly KeyTuple[], rows: readonly RawValue[][], w: WriteSettings): Promise<void> {
    if (keys.length === 0) return;
    await this.#replace(spec, R.deleteByKeys(spec, userId, keys), rows, w);
  }

  async #replace(spec: RowSpec, clear: Sql, rows: readonly RawValue[][], w: WriteSettings): Promise<void> {
    const write = (useLoadData: boolean) =>
      this.db.transaction(
        async (s) => {
          await noWarnings(s, spec, await s.execBinary(clear), w);
          if (rows.length === 0) return;
          if (useLoadData) await noWarnings(s, spec, await s.loadData(R.loadDataSql(spec), R.encodeRowsTsv(spec, rows)), w);
          else for (const stmt of R.insertRows(spec, rows, w.maxBytes)) await noWarnings(s, spec, await s.execBinary(stmt), w);
        },
        { sqlMode: w.sqlMode, binary: true },
      );
    await retryTransient(async () => {
      if (this.#loadData) {
        try {
          return await write(true);
        } catch (err) {
          if (!isLocalInfileRefused(err)) throw err;
          this.#loadData = false; // e.g. MySQL 8's default local_infile=OFF: INSERTs from now on
        }
      }
      await write(false);
    });
  }

  /** LOAD DATA LOCAL INFILE until the server refuses it once. */
  #loadData = true;

  /**
   * Cleanup of one source range (lo, hi]: delete the rows whose exact bytes are on the target now.
   * The range is locked on the source (FOR UPDATE) and hashed; the same range is hashed on the target
   * at that moment. Equal: the range is deleted. Otherwise the rows are compared one by one and only
   * those identical on the target are deleted; the others are kept and returned. A keyless range that
   * differs is kept whole. Never decides from a record: only from both servers, now.
   */
  async deleteRangeIfOnTarget(
    spec: RowSpec,
    userId: string,
    lo: KeyTuple | null,
    hi: KeyTuple | null,
    target: Inspector,
  ): Promise<{ deleted: number; kept: KeptRow[]; source: RangeHash }> {
    // Safe to repeat: a committed delete leaves an empty range, which counts as already cleaned.
    return retryTransient(() => this.db.transaction(
      async (s) => {
        const [r] = await s.rows<{ n: Buffer | string; h: Buffer | string }>(R.hashRange(spec, userId, lo, hi, true));
        const source = { count: String(r?.n ?? '0'), hash: String(r?.h ?? '0') };
        if (source.count === '0') return { deleted: 0, kept: [], source }; // already cleaned
        const onTarget = await target.hash(spec, userId, lo, hi);
        if (onTarget.count === source.count && onTarget.hash === source.hash) {
          const d = await s.execBinary(R.deleteRange(spec, userId, lo, hi));
          // The range delete must remove exactly the rows compared: a row that slipped in since (no gap
          // lock would stop it under READ COMMITTED) was never on the target. Roll back and look again.
          if (d.affectedRows !== Number(source.count)) throw new RangeChanged();
          return { deleted: d.affectedRows, kept: [], source };
        }
        const nk = spec.key?.length ?? 0;
        const [mine, theirs] = await Promise.all([s.rawRows(R.rowHashes(spec, userId, lo, hi)).then((rows) => parseRowHashes(rows, nk)), target.rowHashes(spec, userId, lo, hi)]);
        const same: KeyTuple[] = [];
        const kept: KeptRow[] = [];
        for (const [id, row] of mine) {
          const other = theirs.get(id);
          if (spec.key && other && other.md5 === row.md5) same.push(row.key!);
          else kept.push({ key: row.key, why: other ? 'different' : 'missing' });
        }
        if (!spec.key) return { deleted: 0, kept: [...mine.values()].map((v) => ({ key: null, why: theirs.has(v.md5) ? 'different' : 'missing' }) as KeptRow), source };
        const d = same.length ? await s.execBinary(R.deleteByKeys(spec, userId, same)) : { affectedRows: 0 };
        if (d.affectedRows !== same.length) throw new RangeChanged();
        return { deleted: d.affectedRows, kept, source };
      },
      { binary: true, repeatableRead: true },
    ), RANGE_ATTEMPTS);
  }

  /** Abort: remove every row of the user from this (target) table, in batches, without side effects. */
  async deleteAllUserRows(spec: RowSpec, userId: string): Promise<number> {
    let total = 0;
    for (;;) {
      const r = await this.db.transaction((s) => s.execBinary(R.deleteRange(spec, userId, null, null, 5000)), { binary: true });
      total += r.affectedRows;
      if (r.affectedRows < 5000) return total;
    }
  }

  /**
   * The routing switch, in the mapping database: compare-and-set the user's shard and record the phase
   * `flipped` in the same transaction, so the journal can never disagree with the mapping.
   */
  async flip(m: MappingSpec, userId: string, from: number, to: number, moveId: string, extra: Parameters<typeof setPhaseSql>[2], frozen = false): Promise<void> {
    await this.db.transaction(
      async (s) => {
        const r = await s.exec(flipMappingSql(m, userId, from, to, frozen ? moveId : undefined));
        if (r.affectedRows !== 1) {
          const [cur] = await s.rows<{ shard: string }>(readPlacementSql(m, userId));
          if (frozen && cur && Number(cur.shard) === from) {
            throw new FreezeExpiredError(userId);
          }
          throw new FwShardError(
            'MAPPING_CHANGED',
            `user ${userId}'s ${m.shardColumn} is ${cur ? cur.shard : '(user gone)'}, not ${from} as when the move started: someone else changed the mapping; nothing was flipped`,
            { hint: `Find out who changed it. Then abort this move (fw-shard abort --user ${userId}) and start again.` },
          );
        }
        await s.exec(setPhaseSql(moveId, 'flipped', extra));
      },
      { binary: false },
    );
  }
}

/** How the Applier writes user rows. */
export interface WriteSettings {
  /** The source's sql_mode (strictness, zero dates), parse-changing flags removed. */
  sqlMode: string;
  /** Bytes of values per INSERT statement (kept well under max_allowed_packet). */
  maxBytes: number;
  /**
   * Online moves: a duplicate-key warning (LOAD DATA LOCAL skips the row) does not fail the chunk. The
   * row is then missing on the target, so its range differs from the source and the next delta pass
   * copies it again, after the stale copy of the user's own row that held the unique value was repaired
   * (an app that moved a unique value from one row to another while the user moved). The final sync
   * never flips while a range differs. Offline, it fails the chunk like any other warning.
   */
  skipDuplicates: boolean;
}

/** Warnings that say nothing about the data written: notes, and deprecations of syntax or names. */
const HARMLESS_WARNINGS = new Set([1287, 3719, 3778]);
const DUPLICATE_KEY = 1062;

/**
 * A write that raised warnings did not store exactly the bytes sent (a truncation, a charset or FK
 * problem, a duplicate that LOAD DATA skipped): the chunk fails, and its transaction is rolled back.
 */
async function noWarnings(s: Session, spec: RowSpec, r: ExecResult, w: WriteSettings): Promise<void> {
  if (r.warnings === 0) return;
  const shown = await s.rows<Record<string, unknown>>(showWarningsSql()).catch(() => [] as Record<string, unknown>[]);
  const field = (x: Record<string, unknown>, k: string) => {
    const v = x[k] ?? x[k.toLowerCase()];
    return Buffer.isBuffer(v) ? v.toString('utf8') : String(v ?? '');
  };
  const real = shown.filter((x) => field(x, 'Level') !== 'Note' && !HARMLESS_WARNINGS.has(Number(field(x, 'Code'))));
  if (shown.length > 0 && real.length === 0) return;
  if (w.skipDuplicates && real.length > 0 && real.every((x) => Number(field(x, 'Code')) === DUPLICATE_KEY)) return;
  const text = real.map((x) => `${field(x, 'Level')} ${field(x, 'Code')}: ${field(x, 'Message')}`).join('; ');
  throw new FwShardError(
    'WRITE_WARNING',
    `table ${spec.name}: the target server raised ${r.warnings} warning(s) while fw-shard wrote the user's rows, so nothing of that chunk was kept (a row would have been skipped or changed): ${text || 'see SHOW WARNINGS'}`,
    { details: { table: spec.name } },
  );
}

const TRANSIENT_ATTEMPTS = 4;
const RANGE_ATTEMPTS = 4;

/** A cleanup delete removed other rows than those compared: the transaction is rolled back and retried. */
class RangeChanged extends Error {
  constructor() {
    super('the source range changed between its comparison and its delete');
  }
}

/**
 * Run an idempotent transaction again after a dropped connection, a deadlock or a lock wait timeout
 * (a concurrent writer on the same rows), with a growing pause; give up after a few attempts with the
 * last error (the move then stops cleanly and can be resumed).
 */
export async function retryTransient<T>(fn: () => Promise<T>, attempts = TRANSIENT_ATTEMPTS): Promise<T> {
  try {
    return await retrying(fn, { attempts, retryIf: (err) => isTransient(err) || err instanceof RangeChanged, pauseMs: (attempt) => 150 * attempt });
  } catch (err) {
    if (err instanceof RangeChanged) {
      throw new BusyError('source-changing', 'rows kept appearing in a source range while the cleanup was deleting it (a writer on the old shard?); nothing of that range was deleted', {
        hint: 'Find what writes the user\'s rows on the old shard, then run the same command again.',
      });
    }
    throw err;
  }
}

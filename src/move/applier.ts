/**
 * The write side (gh-ost's Applier): the only code that writes user rows. Every write is one
 * transaction, idempotent, retried on a dropped connection, a deadlock or a lock wait, and refused when
 * the server warns (a warning means the bytes stored are not the bytes sent).
 */
import {
  isConnectionLost,
  isDuplicateKeyWarning,
  isForeignKeyViolation,
  isForeignKeyWarning,
  isHarmlessWarning,
  isLocalInfileRefused,
  isPacketTooLarge,
  isPacketWarning,
  isTransient,
  retrying,
} from '../db/errors.js';
import type { Db, ExecResult, Session } from '../db/pool.js';
import type { RawValue, Sql } from '../db/sql/fragment.js';
import * as R from '../db/sql/rows.js';
import type { KeyTuple, RowSpec } from '../db/sql/rows.js';
import { readServerFacts, showWarningsSql } from '../db/sql/server.js';
import { defaultLockWaitSql, flipLockWaitSql, flipMappingSql, readPlacementSql } from '../db/sql/mapping.js';
import { setPhaseSql } from '../db/sql/journal.js';
import { BusyError, FreezeExpiredError, FwShardError } from '../errors/index.js';
import type { MappingSpec } from '../topology/index.js';
import { COLLISIONS_LISTED, describeCollision, keyCollisionError, keyColumns, keyTuples } from './collisions.js';
import { Inspector, parseRowHashes, UnhashableRow, type KeptRow, type RangeHash } from './inspector.js';
import { foreignKeyWriteError, packetTooLargeError } from './write-errors.js';
import { clearedParentKeys, deletable, deleteStranded, keyId, straysBefore } from './applier-paths.js';

/** What proves a range's source rows without comparing them with the target now (deleteRangeIfOnTarget). */
interface RangeProof {
  /** The range's record from the final verification (not a dirty one), or null. */
  record: RangeHash | null;
  /** Trigger mode: true when the source fence and triggers have held since the freeze (run in the range's transaction). */
  fenced?: (s: Session) => Promise<boolean>;
}

export class Applier {
  constructor(readonly db: Db) {}

  /**
   * Make the target's (lo, hi] range of the user equal to `rows`: delete what is there, insert the rows,
   * in one transaction under the source's sql_mode. Idempotent: re-running a chunk after a crash gives
   * the same result, and rows deleted on the source in that range disappear on the target too.
   */
  async replaceRange(spec: RowSpec, userId: string, lo: KeyTuple | null, hi: KeyTuple | null, rows: readonly RawValue[][], w: WriteSettings): Promise<void> {
    await this.#replace(spec, userId, R.deleteRange(spec, userId, lo, hi), rows, w, { lo, hi });
  }

  /**
   * replaceRange for the copy, with `count` rows as LOAD DATA input the source server built (the lines,
   * newlines included, in one Buffer). `rows` reads the same rows raw: for INSERTs (a server that refuses LOCAL
   * INFILE) and for naming collisions; it is called only then.
   */
  async replaceRangeLines(
    spec: RowSpec,
    userId: string,
    lo: KeyTuple | null,
    hi: KeyTuple | null,
    tsv: Buffer,
    count: number,
    rows: () => Promise<readonly RawValue[][]>,
    w: WriteSettings,
  ): Promise<void> {
    await this.#write(spec, userId, R.deleteRange(spec, userId, lo, hi), { count, tsv: () => tsv, rows }, w, { lo, hi });
  }

  /** Whether the copy should bring rows as LOAD DATA lines (until the server refused LOCAL INFILE once). */
  get loadsData(): boolean {
    return this.#loadData;
  }

  /** The same for single rows (delta repair): delete these keys of the user, insert the source's rows for them. */
  async replaceKeys(spec: RowSpec, userId: string, keys: readonly KeyTuple[], rows: readonly RawValue[][], w: WriteSettings): Promise<void> {
    if (keys.length === 0) return;
    await this.#replace(spec, userId, R.deleteByKeys(spec, userId, keys), rows, w, { keys });
  }

  async #replace(spec: RowSpec, userId: string, clear: Sql, rows: readonly RawValue[][], w: WriteSettings, scope: R.RowScope): Promise<void> {
    await this.#write(spec, userId, clear, { count: rows.length, tsv: () => R.encodeRowsTsv(spec, rows), rows: () => Promise.resolve(rows) }, w, scope);
  }

  async #write(spec: RowSpec, userId: string, clear: Sql, p: Payload, w: WriteSettings, scope: R.RowScope): Promise<void> {
    const write = (useLoadData: boolean) =>
      this.db.transaction(
        async (s) => {
          // A duplicate key is a collision when another owner holds the value: never skipped, never
          // overwritten, in any mode. (The user's own stale row holding it is the online case below.)
          const collisions = async () => failOnCollision(s, spec, userId, await p.rows(), w.target ? `on shard ${w.target}` : 'on the target');
          // The parent keys this write may take away from the user, read before it deletes them; and,
          // owned through a parent, the rows whose owner cannot be found here that were there before.
          const parentKeys = await clearedParentKeys(s, spec, userId, scope);
          const strays = await straysBefore(s, spec, scope);
          await noWarnings(s, spec, await s.execBinary(clear), w);
          // A shared row the target has already (another owner's rows refer to it) is skipped: the
          // preflight proved such rows identical, and the comparisons that follow would see one that is not.
          const [iw, dup] = R.isShared(spec) ? [{ ...w, skipDuplicates: true }, undefined] : [w, collisions];
          if (p.count > 0) {
            if (useLoadData) await noWarnings(s, spec, await s.loadData(R.loadDataSql(spec), p.tsv()), iw, dup);
            else for (const stmt of R.insertRows(spec, await p.rows(), w.maxBytes)) await noWarnings(s, spec, await s.execBinary(stmt), iw, dup);
          }
          if (strays) await s.execBinary(R.deleteStraysSql(spec, scope, strays));
          await deleteStranded(s, spec, userId, parentKeys);
        },
        { sqlMode: w.sqlMode, binary: true },
      );
    let viaLoadData = this.#loadData;
    try {
      await retryTransient(async () => {
        if (this.#loadData) {
          try {
            return await write(true);
          } catch (err) {
            if (!isLocalInfileRefused(err)) throw err;
            this.#loadData = false; // e.g. MySQL 8's default local_infile=OFF: INSERTs from now on
          }
        }
        viaLoadData = false;
        await write(false);
      });
    } catch (err) {
      throw await this.#explain(err, spec, userId, p, viaLoadData, w);
    }
  }

  /**
   * A write the server refused for a reason the operator can fix: a packet over max_allowed_packet, a
   * foreign key checked after all. Named, with the next step; anything else is returned as it is.
   */
  async #explain(err: unknown, spec: RowSpec, userId: string, p: Payload, viaLoadData: boolean, w: WriteSettings): Promise<unknown> {
    // The server answers a packet over max_allowed_packet with 1153 and closes the connection, often
    // before the client has finished sending it: the client then sees only the reset. Told apart by size.
    if (isPacketTooLarge(err) || isConnectionLost(err)) {
      // The packet that carried the chunk: the LOAD DATA input, or the largest INSERT statement.
      const rows = await p.rows();
      const sent = viaLoadData ? R.encodeRowsTsv(spec, rows).length : Math.max(0, ...R.insertRows(spec, rows, w.maxBytes).map((q) => q.binary.length));
      const maxPacket = await readServerFacts(this.db).then(
        (f) => f.maxAllowedPacket,
        () => null,
      );
      if (isPacketTooLarge(err) || (maxPacket !== null && sent >= maxPacket)) {
        return packetTooLargeError(this.db.endpoint, spec, userId, rows, sent, maxPacket, err);
      }
    }
    if (isForeignKeyViolation(err)) return foreignKeyWriteError(this.db.endpoint, spec, serverMessage(err), err);
    return err;
  }

  /** LOAD DATA LOCAL INFILE until the server refuses it once. */
  #loadData = true;

  /**
   * The cleanup of one range: delete the user's rows in it from this (source) shard once they are
   * proven, and only then. Proven (`proof`, phases/cleanup.ts says when each applies): the range still
   * hashes as the final verification recorded it (`record`: the same bytes as the target had then),
   * or the source fence and triggers have refused every write of the user since the freeze compared both
   * shards (`fenced`, checked inside this transaction once the range is locked). Otherwise the range is
   * compared with the target now: rows identical there are deleted, the others kept and returned.
   */
  async deleteRangeIfOnTarget(
    spec: RowSpec,
    userId: string,
    lo: KeyTuple | null,
    hi: KeyTuple | null,
    target: Inspector,
    proof: RangeProof = { record: null },
  ): Promise<{ deleted: number; kept: KeptRow[]; source: RangeHash; proven: 'record' | 'fence' | null }> {
    // Safe to repeat: a committed delete leaves an empty range, which counts as already cleaned.
    return retryTransient(
      () =>
        this.db.transaction(
          async (s) => {
            // The source range locked as it is hashed: it cannot change until the delete commits.
            const [r] = await s.rows<{ n: Buffer | string; h: Buffer | string }>(R.hashRange(spec, userId, lo, hi, true));
            const source = { count: String(r?.n ?? '0'), hash: String(r?.h ?? '0') };
            if (source.count === '0') return { deleted: 0, kept: [], source, proven: null }; // already cleaned
            // A row the source cannot hash is never proven equal: nothing of the range is deleted.
            if (R.isUnhashable(source.hash)) throw await new Inspector(this.db).unhashable(spec, new UnhashableRow(null));
            const proven =
              proof.record && proof.record.count === source.count && proof.record.hash === source.hash
                ? 'record'
                : proof.fenced && (await proof.fenced(s))
                  ? 'fence'
                  : null;
            // The target may change after its hash either way (the app writes there now); what is deleted
            // is what was proven, and the source cannot change until the delete commits.
            const onTarget = proven ? null : await target.hash(spec, userId, lo, hi);
            if (proven || (onTarget!.count === source.count && onTarget!.hash === source.hash)) {
              // A shared table's rows that others' rows refer to stay: fewer than those hashed are deleted.
              const expected = R.isShared(spec) ? await deletable(s, spec, userId, { lo, hi }) : Number(source.count);
              const d = await s.execBinary(R.deleteRange(spec, userId, lo, hi));
              // The range delete must remove exactly the rows hashed: a row that slipped in since (no gap
              // lock would stop it under READ COMMITTED) was never proven. Roll back and look again.
              if (d.affectedRows !== expected) throw new RangeChanged();
              return { deleted: d.affectedRows, kept: [], source, proven };
            }
            const nk = spec.key?.length ?? 0;
            const [mine, theirs] = await Promise.all([
              s.rawRows(R.rowHashes(spec, userId, lo, hi)).then((rows) => parseRowHashes(rows, nk)),
              target.rowHashes(spec, userId, lo, hi),
            ]);
            // A shared row another owner's row refers to stays whatever it holds: neither deleted nor kept as the user's.
            const mineAlone = R.isShared(spec) ? new Set((await s.rawRows(R.deletableKeysSql(spec, userId, lo, hi))).map((k) => keyId(k))) : null;
            const same: KeyTuple[] = [];
            const kept: KeptRow[] = [];
            for (const [id, row] of mine) {
              if (mineAlone && !mineAlone.has(id)) continue;
              const other = theirs.get(id);
              if (spec.key && other && other.md5 === row.md5) same.push(row.key!);
              else kept.push({ key: row.key, why: other ? 'different' : 'missing' });
            }
            if (!spec.key)
              return {
                deleted: 0,
                kept: [...mine.values()].map((v) => ({ key: null, why: theirs.has(v.md5) ? 'different' : 'missing' }) as KeptRow),
                source,
                proven: null,
              };
            const expected = R.isShared(spec) && same.length ? await deletable(s, spec, userId, { keys: same }) : same.length;
            const d = same.length ? await s.execBinary(R.deleteByKeys(spec, userId, same)) : { affectedRows: 0 };
            if (d.affectedRows !== expected) throw new RangeChanged();
            return { deleted: d.affectedRows, kept, source, proven: null };
          },
          { binary: true, repeatableRead: true },
        ),
      RANGE_ATTEMPTS,
    );
  }

  /**
   * Abort: remove every row of the user from this (target) table, in batches, without side effects.
   * Tables owned through this one lose the rows hanging off the deleted ones too (deleteStranded); the
   * abort goes children first, so there are none left by then.
   */
  async deleteAllUserRows(spec: RowSpec, userId: string): Promise<number> {
    let total = 0;
    for (;;) {
      const r = await this.db.transaction(
        async (s) => {
          const parentKeys = await clearedParentKeys(s, spec, userId, { lo: null, hi: null });
          const d = await s.execBinary(R.deleteRange(spec, userId, null, null, 5000));
          await deleteStranded(s, spec, userId, parentKeys);
          return d;
        },
        { binary: true },
      );
      total += r.affectedRows;
      if (r.affectedRows < 5000) return total;
    }
  }

  /**
   * The routing switch, in the mapping database: compare-and-set the user's shard and record the phase
   * `flipped` in the same transaction, so the journal can never disagree with the mapping.
   */
  async flip(
    m: MappingSpec,
    userId: string,
    from: number,
    to: number,
    moveId: string,
    extra: Parameters<typeof setPhaseSql>[2],
    frozen = false,
    /** More of the journal that must change with the mapping (an undo ends the move it undoes). */
    also?: (s: Session) => Promise<void>,
    /** How long the UPDATE may wait for the users row's lock (an app transaction holding it); default: the server's. */
    lockWaitSeconds?: number,
  ): Promise<void> {
    const cas = async (s: Session): Promise<void> => {
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
      await also?.(s);
    };
    await this.db.transaction(
      async (s) => {
        if (lockWaitSeconds === undefined) return cas(s);
        await s.exec(flipLockWaitSql(lockWaitSeconds));
        try {
          await cas(s);
        } finally {
          await s.exec(defaultLockWaitSql()).catch(() => undefined);
        }
      },
      { binary: false },
    );
  }
}

/** Rows to write: how many, as LOAD DATA input, and as raw rows (read only if needed). */
interface Payload {
  count: number;
  tsv: () => Buffer;
  rows: () => Promise<readonly RawValue[][]>;
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
  /** Where the rows go, for messages ("shard 2"). */
  target?: string;
}

/**
 * A write that raised warnings did not store exactly the bytes sent (a truncation, a charset or FK
 * problem, a duplicate that LOAD DATA skipped): the chunk fails, and its transaction is rolled back.
 */
async function noWarnings(s: Session, spec: RowSpec, r: ExecResult, w: WriteSettings, onDuplicate?: () => Promise<void>): Promise<void> {
  if (r.warnings === 0) return;
  const shown = await s.rows<Record<string, unknown>>(showWarningsSql()).catch(() => [] as Record<string, unknown>[]);
  const field = (x: Record<string, unknown>, k: string) => {
    const v = x[k] ?? x[k.toLowerCase()];
    return Buffer.isBuffer(v) ? v.toString('utf8') : String(v ?? '');
  };
  const real = shown.filter((x) => field(x, 'Level') !== 'Note' && !isHarmlessWarning(Number(field(x, 'Code'))));
  if (shown.length > 0 && real.length === 0) return;
  if (onDuplicate && real.some((x) => isDuplicateKeyWarning(Number(field(x, 'Code'))))) await onDuplicate();
  if (w.skipDuplicates && real.length > 0 && real.every((x) => isDuplicateKeyWarning(Number(field(x, 'Code'))))) return;
  const text = real.map((x) => `${field(x, 'Level')} ${field(x, 'Code')}: ${field(x, 'Message')}`).join('; ');
  // A row skipped for a foreign key, or a value cut to max_allowed_packet: thrown with the server's
  // number, so #replace names the cause (write-errors.ts) instead of a bare warning.
  const cause = real.find((x) => isForeignKeyWarning(Number(field(x, 'Code'))) || isPacketWarning(Number(field(x, 'Code'))));
  if (cause) throw Object.assign(new Error(field(cause, 'Message')), { errno: Number(field(cause, 'Code')) });
  throw new FwShardError(
    'WRITE_WARNING',
    `table ${spec.name}: the target server raised ${r.warnings} warning(s) while fw-shard wrote the user's rows, so nothing of that chunk was kept (a row would have been skipped or changed): ${text || 'see SHOW WARNINGS'}`,
    { details: { table: spec.name } },
  );
}

/** Keys looked up per statement when a chunk raised a duplicate-key warning. */
const COLLISION_LOOKUP = 1000;

/**
 * After a duplicate-key warning: which of the chunk's unique values belong to another owner on this
 * server (read inside the chunk's transaction). Any: KEY_COLLISION, and the chunk is rolled back.
 */
async function failOnCollision(s: Session, spec: RowSpec, userId: string, rows: readonly RawValue[][], where: string): Promise<void> {
  const found: string[] = [];
  for (const k of spec.collisionKeys ?? []) {
    const cols = keyColumns(spec, k);
    const tuples = keyTuples(spec, cols, rows);
    for (let i = 0; i < tuples.length && found.length < COLLISIONS_LISTED; i += COLLISION_LOOKUP) {
      const hits = await s.rawRows(R.foreignKeysIn(spec, cols, userId, tuples.slice(i, i + COLLISION_LOOKUP)));
      for (const h of hits) found.push(describeCollision(spec, cols, h, where));
    }
  }
  if (found.length === 0) return;
  // No hint of its own: the engine's (resume or abort this move, by id) is the next step.
  throw keyCollisionError(userId, `${where} (nothing of that chunk was kept: resolve those rows by hand)`, found);
}

/** The server's own words in a driver error (or the error wrapping one). */
function serverMessage(err: unknown): string {
  const e = err as { sqlMessage?: unknown; message?: unknown; cause?: { sqlMessage?: unknown; message?: unknown } };
  return String(e.sqlMessage ?? e.cause?.sqlMessage ?? e.cause?.message ?? e.message ?? err);
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
async function retryTransient<T>(fn: () => Promise<T>, attempts = TRANSIENT_ATTEMPTS): Promise<T> {
  try {
    return await retrying(fn, { attempts, retryIf: (err) => isTransient(err) || err instanceof RangeChanged, pauseMs: (attempt) => 150 * attempt });
  } catch (err) {
    if (err instanceof RangeChanged) {
      throw new BusyError(
        'source-changing',
        'rows kept appearing in a source range while the cleanup was deleting it (a writer on the old shard?); nothing of that range was deleted',
        {
          hint: "Find what writes the user's rows on the old shard, then run the same command again.",
        },
      );
    }
    throw err;
  }
}

/**
 * The shard-side guard of online moves (trigger mode): install and remove fw-shard's fence and change
 * tables and triggers on a shard, set and read fences, drain the change log, and hold the freeze.
 * SQL lives in src/db/sql/guard.ts; this is what the engine and `fw-shard guard` call.
 */
import type { Db, ReadDb, Session } from '../db/pool.js';
import * as G from '../db/sql/guard.js';
import { sql, type Sql } from '../db/sql/fragment.js';
import { readForeignKeys } from '../db/sql/schema.js';
import { cascadeGraph } from './cascades.js';
import type { KeyTuple } from '../db/sql/rows.js';
import { FwShardError } from '../errors/index.js';
import type { TablePlan } from './table-plan.js';
import { isLockWaitOrDeadlock, isTableMissingOrDenied } from '../db/errors.js';
import { taggedLockName } from '../db/lock-names.js';
import { releaseLockSql, waitForLockSql } from '../db/sql/locks.js';

export * from './capture-choice.js';

/** A login without grants on fw-shard's guard tables (re-hash mode) gets "denied" where they do not exist. */
const noGuardTable = isTableMissingOrDenied;
/** Tries without waiting of one DDL statement that finds its table busy (Guard.ddl: about 2.5 s in all). */
const DDL_ATTEMPTS = 25;
/** The guard lock of one shard database (a named lock of its server). */
const guardLockName = (database: string) => taggedLockName(database, 'guard');

export interface FenceRow {
  user_id: string;
  state: G.FenceState;
  move_id: string;
  updated_at: string;
  age_s: string;
}

/** The fences on a shard (none where fw-shard's tables do not exist): read-only, for `status` too. */
export function readFences(db: ReadDb): Promise<FenceRow[]> {
  return db.rows<FenceRow>(G.fencesSql()).catch((err) => (noGuardTable(err) ? ([] as FenceRow[]) : Promise.reject(err)));
}

export class Guard {
  constructor(readonly db: Db) {}

  /**
   * Create what is missing: the fence and change tables, and the triggers of `tables`, whose triggers
   * also log the columns that this shard's cascading foreign keys reference (src/move/cascades.ts:
   * read here, from the shard itself, so that no caller can install a shape that does not). Idempotent.
   * fw-shard triggers of a table in another shape (an older version's, other referenced columns) are
   * dropped only once this shape's three exist: both log and fence meanwhile, so no write goes unseen.
   */
  async install(tables: readonly TablePlan[], opts: { attempts?: number } = {}): Promise<{ created: string[]; dropped: string[] }> {
    await this.db.exec(G.createFenceSql());
    await this.db.exec(G.createChangesSql());
    const [col] = await this.db.rows<{ n: string }>(G.changesRefColumnSql(this.db.endpoint.database));
    if (Number(col?.n ?? 0) === 0) await this.ddl(G.addChangesRefColumnSql(), { ...opts, mayWait: true });
    const existing = await this.triggers();
    const refColumns = cascadeGraph(await readForeignKeys(this.db), tables, this.db.endpoint.database).refColumns;
    const created: string[] = [];
    const dropped: string[] = [];
    for (const plan of tables) {
      const refs = refColumns.get(plan.name);
      const t = refs && refs.length > 0 ? { ...plan, refs } : plan;
      const names = G.triggerNames(t);
      const ddl = G.createTriggersSql(t);
      const wanted = [names.bi, names.bu, names.bd];
      for (let i = 0; i < 3; i++) {
        if (existing.some((e) => e.name === wanted[i])) continue;
        await this.ddl(ddl[i]!, { ...opts, mayWait: true }).catch((err) => Promise.reject(busyTable(err, t.name, this.db.endpoint.role)));
        created.push(wanted[i]!);
      }
      for (const e of existing) {
        if (e.tbl !== t.name || !G.isTriggerOfTable(e.name, t.name) || wanted.includes(e.name)) continue;
        await this.ddl(G.dropTriggerSql(e.name), opts);
        dropped.push(e.name);
      }
    }
    return { created, dropped };
  }

  /**
   * DDL needs an exclusive metadata lock on the app's table, and a request that waits for it makes every
   * later query of the table wait behind it. So it is first tried without waiting (src/db/sql/guard.ts
   * noMetadataWaitSql), `attempts` times, 50 to 150 ms apart, catching a moment when no transaction
   * holds the table; with `mayWait` (a move that cannot start otherwise) then at most three times with
   * a wait of 1 s, the longest the app's queries of that table are held up. Then the lock-wait error
   * (1205) goes to the caller, which tries again later.
   */
  private async ddl(statement: Sql, opts: { attempts?: number; mayWait?: boolean } = {}): Promise<void> {
    const tries = [...Array<number>(opts.attempts ?? DDL_ATTEMPTS).fill(0), ...(opts.mayWait ? [1, 1, 1] : [])];
    for (let i = 0; ; i++) {
      try {
        await this.db.withSession(async (s) => {
          await s.exec(tries[i] === 0 ? G.noMetadataWaitSql() : G.metadataWaitSql(tries[i]!));
          try {
            await s.exec(statement);
          } finally {
            await s.exec(G.defaultMetadataWaitSql()).catch(() => undefined);
          }
        });
        return;
      } catch (err) {
        if (i + 1 >= tries.length || !isLockWaitOrDeadlock(err)) throw err;
        await new Promise((r) => setTimeout(r, 50 + Math.floor(Math.random() * 100)));
      }
    }
  }

  /**
   * Drop fw-shard's triggers (of `tables`, or all) and, with `dropTables`, its fence and change tables.
   * The tables go only once no trigger is left (a trigger whose drop found its table busy keeps them).
   */
  async remove(opts: {
    tables?: readonly string[];
    dropTables: boolean;
    attempts?: number;
  }): Promise<{ dropped: string[]; busy: string[]; tablesDropped: boolean }> {
    const rows = await this.triggers();
    const dropped: string[] = [];
    const busy: string[] = [];
    for (const r of rows) {
      if (opts.tables && !opts.tables.includes(r.tbl)) continue;
      if (busy.includes(r.tbl)) continue; // one busy trigger of a table is enough: its others wait for the next try
      try {
        await this.ddl(G.dropTriggerSql(r.name), opts);
        dropped.push(r.name);
      } catch (err) {
        if (!isLockWaitOrDeadlock(err)) throw err;
        busy.push(r.tbl);
      }
    }
    let tablesDropped = false;
    if (opts.dropTables && busy.length === 0 && (!opts.tables || (await this.triggers()).length === 0)) {
      try {
        await this.ddl(G.dropGuardTablesSql(), opts);
        tablesDropped = true;
      } catch (err) {
        if (!isLockWaitOrDeadlock(err)) throw err;
        busy.push(G.FENCE);
      }
    }
    return { dropped, busy: [...new Set(busy)], tablesDropped };
  }

  /** Which of fw-shard's tables exist here. */
  async tables(): Promise<string[]> {
    return (await this.db.rows<{ name: string }>(G.guardTablesSql(this.db.endpoint.database))).map((r) => String(r.name));
  }

  /**
   * Run `fn` holding this shard database's guard lock (src/move/guard-lifecycle.ts says what it makes
   * exclusive). BUSY when another fw-shard holds it longer than `waitSeconds`.
   */
  async withLock<T>(waitSeconds: number, fn: () => Promise<T>): Promise<T> {
    const name = guardLockName(this.db.endpoint.database);
    return this.db.withSession(async (s) => {
      const [r] = await s.rows<{ got: string | number | null }>(waitForLockSql(name, waitSeconds));
      if (Number(r?.got ?? 0) !== 1) {
        throw new FwShardError('BUSY', `another fw-shard is changing its guard on ${this.db.endpoint.role} (lock ${name} held for over ${waitSeconds} s)`, {
          hint: 'Run the same command again in a moment.',
        });
      }
      try {
        return await fn();
      } finally {
        await s.rows(releaseLockSql(name)).catch(() => undefined);
      }
    });
  }

  async triggers(): Promise<{ name: string; tbl: string }[]> {
    return this.db.rows<{ name: string; tbl: string }>(G.guardTriggersSql(this.db.endpoint.database));
  }

  fences(): Promise<FenceRow[]> {
    return readFences(this.db);
  }

  async pendingChanges(): Promise<Map<string, string>> {
    const rows = await this.db.rows<{ user_id: string; n: string }>(G.countChangesSql()).catch((err) => (noGuardTable(err) ? [] : Promise.reject(err)));
    return new Map(rows.map((r) => [String(r.user_id), String(r.n)]));
  }

  async fenceOf(userId: string): Promise<{ state: G.FenceState; moveId: string } | null> {
    try {
      const [r] = await this.db.rows<{ state: G.FenceState; move_id: string }>(G.fenceOfSql(userId));
      return r ? { state: r.state, moveId: String(r.move_id) } : null;
    } catch (err) {
      if (noGuardTable(err)) return null;
      throw err;
    }
  }

  /** This move's `moved` fence back to `capturing` (a flip that did not happen): the user writes here again, logged. */
  async unmove(userId: string, moveId: string): Promise<boolean> {
    return (await this.db.exec(G.casFenceSql(userId, moveId, 'moved', 'capturing'))).affectedRows === 1;
  }

  setFence(userId: string, moveId: string, state: G.FenceState): Promise<unknown> {
    return this.db.exec(G.setFenceSql(userId, moveId, state));
  }

  /** Remove the user's fence row (this move's only, unless moveId is null) and, with `changes`, its logged changes. */
  async clear(userId: string, moveId: string | null, opts: { states?: readonly G.FenceState[]; changes: boolean }): Promise<void> {
    try {
      await this.db.exec(G.deleteFenceSql(userId, moveId, opts.states));
      if (opts.changes) await this.db.exec(G.deleteUserChangesSql(userId));
    } catch (err) {
      if (!noGuardTable(err)) throw err;
    }
  }

  /**
   * Wait until no transaction that wrote something before `since` is open any more: its writes of the
   * user were made before the capture began, and the copy would miss them if they committed later.
   */
  async waitOlderWriters(since: string, timeoutMs: number, signal?: AbortSignal): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const rows = await this.db.rows<{ thread: string; started: string; rows_modified: string }>(G.olderWritersSql(since));
      if (rows.length === 0) return;
      // A prepared XA transaction has no session (thread 0) and ends only by XA COMMIT or XA ROLLBACK:
      // waiting for it is pointless, and its writes, committed later, would fire no trigger.
      const xa = rows.filter((r) => String(r.thread) === '0');
      if (xa.length === rows.length) throw this.preparedXaError(xa);
      if (Date.now() > deadline || signal?.aborted) {
        throw new FwShardError(
          'BUSY',
          `transactions that wrote before the capture of the user's changes began are still open on ${this.db.endpoint.role}: ${rows
            .slice(0, 5)
            .map((r) => `thread ${r.thread} (since ${r.started}, ${r.rows_modified} rows changed)`)
            .join(', ')}`,
          { hint: 'Wait for them to finish (or end them), then run the same command again: the move resumes.' },
        );
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  /**
   * Refuse at once while a prepared XA transaction that wrote is open (run before the capture starts:
   * its metadata locks would also keep the triggers from being created).
   */
  async refusePreparedXa(): Promise<void> {
    if ((await this.preparedXaRows()).length === 0) return;
    // InnoDB refreshes information_schema.INNODB_TRX at most every 100 ms: one just ended may still show.
    await new Promise((r) => setTimeout(r, 250));
    const rows = await this.preparedXaRows();
    if (rows.length > 0) throw this.preparedXaError(rows);
  }

  /**
   * The prepared XA transactions that wrote (INNODB_TRX, thread 0); where it lists none, XA RECOVER's:
   * with the binary log on, MariaDB 10.11 keeps a prepared transaction whose session is gone out of
   * INNODB_TRX (seen in capture-premise's test), and then nothing but XA RECOVER tells of it.
   */
  private async preparedXaRows(): Promise<{ started: string; rows_modified: string }[]> {
    const trx = await this.db.rows<{ started: string; rows_modified: string }>(G.preparedXaRowsSql()).catch(() => []);
    if (trx.length > 0) return trx;
    const recovered = await this.db.rows(G.xaRecoverSql()).catch(() => []);
    return recovered.map(() => ({ started: 'a time XA RECOVER does not say', rows_modified: 'an unknown number of' }));
  }

  private preparedXaError(xa: readonly { started: string; rows_modified: string }[]): FwShardError {
    return new FwShardError(
      'BUSY',
      `${xa.length} prepared XA transaction(s) on ${this.db.endpoint.role} wrote before the capture of the user's changes began (since ${xa
        .slice(0, 3)
        .map((r) => r.started)
        .join(
          ', ',
        )}, ${xa.map((r) => r.rows_modified).join(', ')} rows changed): they end only by XA COMMIT or XA ROLLBACK, and what they commit later would fire no trigger`,
      {
        hint: "Run XA RECOVER on that shard to list their xids, end each with XA COMMIT 'xid' or XA ROLLBACK 'xid' (whoever owns them decides which), then run the same command again: the move resumes.",
      },
    );
  }

  /** How many prepared XA transactions that wrote are open (0 where it cannot be read). */
  async preparedXa(): Promise<number> {
    return (await this.preparedXaRows()).length;
  }

  async serverNow(): Promise<string> {
    const [r] = await this.db.rows<{ now: string }>(G.serverNowSql());
    return String(r!.now);
  }

  /** Committed changes of the user, oldest first, at most `limit`; `refs`: the logged referenced columns' values. */
  async readChanges(userId: string, limit: number): Promise<LoggedChange[]> {
    const rows = await this.db.rows<{ seq: string; table_name: string; k: Buffer | string | null; r: Buffer | string | null }>(G.readChangesSql(userId, limit));
    return rows.map((r) => ({ seq: String(r.seq), table: String(r.table_name), key: decodeLoggedKey(r.k), refs: decodeLoggedRefs(r.r) }));
  }

  /**
   * Delete applied log rows by their seq, at READ COMMITTED (no gap locks: the app's triggers insert new
   * rows of the same user meanwhile), retried after a deadlock or lock wait.
   */
  async deleteChanges(seqs: readonly string[]): Promise<void> {
    for (let i = 0; i < seqs.length; i += 1000) {
      const part = seqs.slice(i, i + 1000);
      await withRetries(5, () =>
        this.db.withSession(async (s) => {
          await s.exec(sql`SET TRANSACTION ISOLATION LEVEL READ COMMITTED`);
          await s.exec(G.deleteChangesSql(part));
        }),
      );
    }
  }

  /**
   * The freeze: a transaction that holds the user's fence row in state `frozen`. Taking it waits for every
   * in-flight write of the user (their triggers hold a shared lock on the row) and no longer; writers that
   * come later wait on the row lock. `work` runs while it is held; if it returns true the fence becomes
   * `moved` and commits (the user's writes are refused here from then on), otherwise it rolls back to
   * `capturing`. The server ends the transaction by itself if fw-shard stalls (idle_transaction_timeout /
   * wait_timeout) or dies (its connection closes).
   */
  async holdFreeze(
    userId: string,
    moveId: string,
    capMs: number,
    mariadb: boolean,
    work: () => Promise<boolean>,
  ): Promise<{ moved: boolean; drainMs: number }> {
    return this.db.withSession(async (s: Session) => {
      const seconds = Math.max(1, Math.ceil(capMs / 1000));
      await s.exec(G.boundSessionSql(seconds, mariadb));
      await s.exec(sql`START TRANSACTION`);
      let open = true;
      try {
        const t0 = Date.now();
        const r = await s.exec(G.casFenceSql(userId, moveId, 'capturing', 'frozen'));
        const drainMs = Date.now() - t0;
        if (r.affectedRows !== 1) {
          throw new FwShardError('PRECONDITION', `user ${userId}'s fence on ${this.db.endpoint.role} is not capturing for move ${moveId}: nothing was frozen`, {
            hint: `fw-shard guard status --shard ... shows the fence; resume the move (fw-shard resume ${moveId}) to set it again.`,
          });
        }
        const ok = await work();
        if (!ok) return { moved: false, drainMs };
        const m = await s.exec(G.casFenceSql(userId, moveId, 'frozen', 'moved'));
        if (m.affectedRows !== 1) throw new Error(`fence of user ${userId} left the frozen state while held`);
        await s.exec(sql`COMMIT`);
        open = false;
        return { moved: true, drainMs };
      } finally {
        if (open) await s.exec(sql`ROLLBACK`).catch(() => undefined);
        await s.exec(G.resetSessionSql(mariadb)).catch(() => undefined);
      }
    });
  }
}

interface LoggedChange {
  seq: string;
  table: string;
  key: KeyTuple | null;
  /** The row's referenced columns (cascades.ts refColumns of its table), null where not logged. */
  refs: (Buffer | null)[] | null;
}

/** The log's form of referenced values back to raw bytes; `N` is NULL. */
export function decodeLoggedRefs(r: Buffer | string | null): (Buffer | null)[] | null {
  if (r === null) return null;
  const text = Buffer.isBuffer(r) ? r.toString('latin1') : r;
  return text.split(',').map((h) => (h === 'N' ? null : decodeLoggedValue(h)));
}

/** The log's key form back to raw key bytes (one Buffer per key column); null for keyless tables. */
export function decodeLoggedKey(k: Buffer | string | null): KeyTuple | null {
  if (k === null) return null;
  const text = Buffer.isBuffer(k) ? k.toString('latin1') : k;
  return text.split(',').map(decodeLoggedValue);
}

/**
 * One logged value back to the bytes fw-shard's own (UTC) sessions read: hex of the text, or `T` and a
 * TIMESTAMP's UNIX_TIMESTAMP (src/db/sql/guard.ts valueExpr) as UTC text with the same fraction.
 */
export function decodeLoggedValue(h: string): Buffer {
  if (!h.startsWith('T')) return Buffer.from(h, 'hex');
  const m = /^T(\d+)(?:\.(\d+))?$/.exec(h);
  if (!m) throw new Error(`unexpected logged TIMESTAMP ${h}`);
  const [, secs, frac] = m;
  const at = secs === '0' ? '0000-00-00 00:00:00' : new Date(Number(secs) * 1000).toISOString().slice(0, 19).replace('T', ' ');
  return Buffer.from(frac ? `${at}.${frac}` : at, 'latin1');
}

/** A trigger that could not be created without waiting for the app's transactions on its table. */
function busyTable(err: unknown, table: string, role: string): unknown {
  if (!isLockWaitOrDeadlock(err)) return err;
  return new FwShardError(
    'BUSY',
    `table ${table} on ${role} stayed busy (open transactions hold it), so fw-shard's trigger could not be created without making the app's queries wait behind it`,
    { hint: 'Nothing of the move was started. Run the same command again in a moment, or at a quieter time (long transactions on that table keep it busy).' },
  );
}

async function withRetries<T>(attempts: number, fn: () => Promise<T>): Promise<T> {
  for (let i = 1; ; i++) {
    try {
      return await fn();
    } catch (err) {
      // A lock wait timeout (the metadata lock of a busy table) or a deadlock.
      if (i >= attempts || !isLockWaitOrDeadlock(err)) throw err;
      await new Promise((r) => setTimeout(r, 200 * i));
    }
  }
}

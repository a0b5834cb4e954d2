/**
 * The only importer of mysql2. Each endpoint gets two small pools:
 *  - meta: utf8mb4, 64-bit integers as strings, dates as strings, for information_schema, the journal
 *    and the mapping table;
 *  - data: charset BINARY, rows as arrays of raw Buffers (typeCast off), for copying and comparing user
 *    rows. Nothing is ever transcoded: latin1 bytes stay latin1 bytes, invalid UTF-8 stays as it was.
 * Every session runs with time_zone '+00:00' so TIMESTAMP values read and written as text are exact
 * (a named zone would make the DST fall-back hour ambiguous).
 */
import { readFileSync } from 'node:fs';
import { Readable } from 'node:stream';
import mysql from 'mysql2/promise';
import type { Connection, ConnectionOptions, Pool, PoolOptions } from 'mysql2/promise';
import type { Endpoint } from '../topology/index.js';
import { describeDbError, isConnectionLost, retrying } from './errors.js';
import { toBinary, toText, type BinaryStatement, type RawValue, type Sql } from './sql/fragment.js';
import { WRITER_MARK } from './sql/guard.js';

export type Row = Record<string, unknown>;

export interface ExecResult {
  affectedRows: number;
  /** As a decimal string: ticket ids exceed 2^53. */
  insertId: string;
  /** The statement's warning count: a write that warned did not store exactly what was sent. */
  warnings: number;
}

/** Read side: what `status`, `plan`, `verify` and the inspector receive. Cannot write. */
export interface ReadDb {
  readonly endpoint: Endpoint;
  rows<T = Row>(q: Sql): Promise<T[]>;
  rawRows(q: Sql): Promise<RawValue[][]>;
  /**
   * rawRows, but stops reading once the rows hold `maxBytes` (at least one row is returned): `cut` says
   * the result had more rows than returned. Bounds memory whatever the rows' sizes.
   */
  rawRowsUpTo(q: Sql, maxBytes: number, sizeOf?: (row: RawValue[]) => number): Promise<{ rows: RawValue[][]; cut: boolean }>;
  /**
   * The same read, each row handed to a handler as it arrives (which returns its size) and not kept: a
   * caller that copies what it needs lets every row die young (no per-row object outlives the read).
   * `attempt` makes the handler, once per attempt (a read cut by a lost connection is retried whole).
   */
  streamRows(q: Sql, maxBytes: number, attempt: () => (row: RawValue[]) => number): Promise<{ count: number; cut: boolean }>;
}

/** A pinned connection, for transactions and session settings. */
export interface Session {
  rows<T = Row>(q: Sql): Promise<T[]>;
  rawRows(q: Sql): Promise<RawValue[][]>;
  exec(q: Sql): Promise<ExecResult>;
  /** Execute on the binary connection (row copies with raw bytes). */
  execBinary(q: Sql | BinaryStatement): Promise<ExecResult>;
  /** A LOAD DATA LOCAL INFILE statement fed with `data`, sent in packets of at most INFILE_PACKET bytes. */
  loadData(q: Sql, data: Buffer): Promise<ExecResult>;
}

/** A connection of its own, outside the pools, for as long as its holder keeps it (a runner's named lock). */
export interface DedicatedSession extends Session {
  /** The server's id of this connection (CONNECTION_ID()). */
  readonly connectionId: string;
  /** Close the connection: the server releases whatever the session held (named locks, transactions). */
  close(): Promise<void>;
}

/** Write side: what the applier receives. */
export interface Db extends ReadDb {
  exec(q: Sql): Promise<ExecResult>;
  /** Run `fn` on one binary-charset connection inside a transaction; committed if it returns. */
  /**
   * Run `fn` on one pinned connection inside a transaction; committed if it returns. `repeatableRead`
   * forces that isolation level (its locking reads then lock gaps too, whatever the server's default).
   */
  transaction<T>(fn: (s: Session) => Promise<T>, opts?: { sqlMode?: string; binary?: boolean; repeatableRead?: boolean }): Promise<T>;
  /** Run `fn` on one pinned connection without a transaction. */
  withSession<T>(fn: (s: Session) => Promise<T>, opts?: { binary?: boolean }): Promise<T>;
  /**
   * A text connection outside the pools, never shared or reused: what it holds lives exactly as long as
   * the connection (or the process), and it never takes a pooled connection away from the run.
   */
  dedicatedSession(): Promise<DedicatedSession>;
  close(): Promise<void>;
}

const READ_ATTEMPTS = 3;

function poolOptions(e: Endpoint, binary: boolean): PoolOptions {
  return {
    ...connectionOptions(e, binary),
    connectionLimit: 6,
    // Session settings (foreign_key_checks = 0 on data sessions, see DATA_SESSION_INIT) must survive a
    // connection's return to the pool: never reset it on release.
    resetOnRelease: false,
    maxIdle: 2,
    idleTimeout: 30_000,
  };
}

function connectionOptions(e: Endpoint, binary: boolean): ConnectionOptions {
  const opts: ConnectionOptions = {
    host: e.host,
    port: e.port,
    user: e.user,
    database: e.database,
    connectTimeout: 5000,
    enableKeepAlive: true,
    supportBigNumbers: true,
    bigNumberStrings: true,
    dateStrings: true,
    decimalNumbers: false,
    multipleStatements: false,
    charset: binary ? 'BINARY' : 'UTF8MB4_GENERAL_CI',
    timezone: 'Z',
  };
  if (e.socket) opts.socketPath = e.socket;
  if (e.password) opts.password = e.password.reveal();
  if (e.tls) {
    const ssl: NonNullable<ConnectionOptions['ssl']> & Record<string, unknown> = { rejectUnauthorized: true };
    if (e.tls.ca) ssl.ca = readFileSync(e.tls.ca, 'utf8');
    if (e.tls.cert) ssl.cert = readFileSync(e.tls.cert, 'utf8');
    if (e.tls.key) ssl.key = readFileSync(e.tls.key, 'utf8');
    // mysql2 checks the host name against the certificate only when told to (ssl.verifyIdentity); a
    // checkServerIdentity option is ignored. Default on, as documented; `verifyIdentity: false` skips it.
    ssl.verifyIdentity = e.tls.verifyIdentity !== false;
    opts.ssl = ssl;
  }
  return opts;
}

/**
 * sql_mode flags that change how statements parse, not what data means: our escaping relies on
 * backslashes, `NOT (a > b)` must not become `(NOT a) > b`, quotes must stay string quotes. They are
 * removed from every session; all other flags (strictness, zero dates...) are kept.
 */
const PARSE_MODES = ['NO_BACKSLASH_ESCAPES', 'HIGH_NOT_PRECEDENCE', 'PIPES_AS_CONCAT', 'ANSI_QUOTES', 'IGNORE_SPACE', 'ANSI'];

function safeSqlMode(mode: string): string {
  return mode
    .split(',')
    .map((m) => m.trim())
    .filter((m) => m && !PARSE_MODES.includes(m.toUpperCase()))
    .join(',');
}

/** The same filter in SQL, for a session's first statement (one round trip). */
function sanitizedModeExpr(source: '@@SESSION.sql_mode' | '@@GLOBAL.sql_mode'): string {
  let e = `CONCAT(',', ${source}, ',')`;
  for (const m of PARSE_MODES) e = `REPLACE(${e}, ',${m},', ',')`;
  return `TRIM(BOTH ',' FROM ${e})`;
}
const SESSION_INIT = `SET SESSION time_zone = '+00:00', SESSION sql_mode = ${sanitizedModeExpr('@@SESSION.sql_mode')}`;
/**
 * Data (binary) sessions only ever touch user rows, and fw-shard's writes there must have no side
 * effects: with foreign_key_checks = 0 InnoDB neither checks nor applies ON DELETE/UPDATE CASCADE or
 * SET NULL (as mysqldump loads), so re-copying a parent range cannot empty or change a child table,
 * and a child chunk copied before its parent is not refused. Every table is verified on its own.
 * @fw_shard_writer (WRITER_MARK, which names this connection) marks the session as fw-shard's for its own triggers (src/db/sql/guard.ts): the
 * shard-side fence never refuses, and the change log never records, fw-shard's own writes.
 */
const DATA_SESSION_INIT = `${SESSION_INIT}, SESSION foreign_key_checks = 0, @fw_shard_writer = ${WRITER_MARK}`;
const SESSION_RESET = `SET SESSION sql_mode = ${sanitizedModeExpr('@@GLOBAL.sql_mode')}`;

class MysqlDb implements Db {
  #meta: Pool | undefined;
  #data: Pool | undefined;
  constructor(readonly endpoint: Endpoint) {}

  #pool(binary: boolean): Pool {
    if (binary) return (this.#data ??= this.#create(true));
    return (this.#meta ??= this.#create(false));
  }

  #create(binary: boolean): Pool {
    const pool = mysql.createPool(poolOptions(this.endpoint, binary));
    // Every session: UTC so TIMESTAMP text is exact; no parse-changing sql_mode flags (see safeSqlMode).
    // The event hands over the callback-style core connection; the command is queued before any other.
    pool.on('connection', (conn) => {
      const core = conn as unknown as { query(sql: string, cb: (err: unknown) => void): void; destroy(): void };
      core.query(binary ? DATA_SESSION_INIT : SESSION_INIT, (err) => {
        if (err) core.destroy();
      });
    });
    return pool;
  }

  async #run<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      throw describeDbError(this.endpoint, err);
    }
  }

  /** Reads are always safe to repeat: a dropped connection (KILL CONNECTION, a restart) is retried. */
  async #read<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await retrying(fn, { attempts: READ_ATTEMPTS, retryIf: isConnectionLost, pauseMs: (attempt) => 100 * attempt });
    } catch (err) {
      throw describeDbError(this.endpoint, err);
    }
  }

  rows<T = Row>(q: Sql): Promise<T[]> {
    return this.#read(async () => (await this.#pool(false).query(toText(q)))[0] as T[]);
  }

  rawRows(q: Sql): Promise<RawValue[][]> {
    return this.#read(async () => (await this.#pool(true).query({ sql: toBinary(q), rowsAsArray: true, typeCast: false }))[0] as unknown as RawValue[][]);
  }

  async rawRowsUpTo(q: Sql, maxBytes: number, sizeOf: (row: RawValue[]) => number = fieldBytes): Promise<{ rows: RawValue[][]; cut: boolean }> {
    let rows: RawValue[][] = [];
    const { cut } = await this.streamRows(q, maxBytes, () => {
      rows = [];
      return (row) => {
        rows.push(row);
        return sizeOf(row);
      };
    });
    return { rows, cut };
  }

  streamRows(q: Sql, maxBytes: number, attempt: () => (row: RawValue[]) => number): Promise<{ count: number; cut: boolean }> {
    return this.#read(async () => {
      const conn = await this.#pool(true).getConnection();
      const core = (conn as unknown as { connection: StreamingConnection }).connection;
      const onRow = attempt();
      return new Promise<{ count: number; cut: boolean }>((resolve, reject) => {
        let count = 0;
        let bytes = 0;
        let settled = false;
        // A query without a callback gets no 'error' of its own when its connection dies (mysql2 tells
        // the connection only): both are listened to, or a killed connection would leave this waiting.
        const settle = (outcome: { count: number; cut: boolean } | { err: unknown }, release: 'release' | 'destroy') => {
          if (settled) return;
          settled = true;
          core.removeListener('error', onConnectionError);
          core.removeListener('end', onConnectionEnd);
          if (release === 'release') conn.release();
          else conn.destroy();
          if ('err' in outcome) reject(outcome.err);
          else resolve(outcome);
        };
        const onConnectionError = (err: unknown) => settle({ err }, 'destroy');
        const onConnectionEnd = () =>
          settle(
            { err: Object.assign(new Error('Connection lost: the server closed the connection'), { code: 'PROTOCOL_CONNECTION_LOST', fatal: true }) },
            'destroy',
          );
        core.on('error', onConnectionError);
        core.on('end', onConnectionEnd);
        const query = core.query({ sql: toBinary(q), rowsAsArray: true, typeCast: false });
        query.on('result', (row: RawValue[]) => {
          if (settled) return;
          count++;
          bytes += onRow(row);
          // Enough: the rest of the result is not read. The connection is mid-result, so it is closed
          // (the pool opens another), never returned.
          if (bytes >= maxBytes) settle({ count, cut: true }, 'destroy');
        });
        query.on('error', (err: unknown) => settle({ err }, 'release'));
        query.on('end', () => settle({ count, cut: false }, 'release'));
      });
    });
  }

  exec(q: Sql): Promise<ExecResult> {
    return this.#run(async () => execResult((await this.#pool(false).query(toText(q)))[0]));
  }

  async withSession<T>(fn: (s: Session) => Promise<T>, opts: { binary?: boolean } = {}): Promise<T> {
    const conn = await this.#run(() => this.#pool(opts.binary ?? false).getConnection());
    try {
      return await fn(this.#session(conn, opts.binary ?? false));
    } finally {
      conn.release();
    }
  }

  async transaction<T>(fn: (s: Session) => Promise<T>, opts: { sqlMode?: string; binary?: boolean; repeatableRead?: boolean } = {}): Promise<T> {
    const binary = opts.binary ?? true;
    const conn = await this.#run(() => this.#pool(binary).getConnection());
    let began = false;
    try {
      if (opts.sqlMode !== undefined) {
        await this.#run(() => conn.query(toText({ parts: ['SET SESSION sql_mode = ', ''], values: [safeSqlMode(opts.sqlMode!)] })));
      }
      // SET TRANSACTION applies to the next transaction only.
      if (opts.repeatableRead) await this.#run(() => conn.query('SET TRANSACTION ISOLATION LEVEL REPEATABLE READ'));
      await this.#run(() => conn.query('START TRANSACTION'));
      began = true;
      const out = await fn(this.#session(conn, binary));
      await this.#run(() => conn.query('COMMIT'));
      began = false;
      return out;
    } catch (err) {
      if (began) {
        try {
          await conn.query('ROLLBACK');
        } catch {
          conn.destroy(); // a connection in an unknown state never goes back to the pool
        }
      }
      throw err;
    } finally {
      if (opts.sqlMode !== undefined) {
        // Put the pooled session back to its default mode.
        try {
          await conn.query(SESSION_RESET);
        } catch {
          conn.destroy();
        }
      }
      conn.release();
    }
  }

  async dedicatedSession(): Promise<DedicatedSession> {
    const conn = await this.#run(() => mysql.createConnection(connectionOptions(this.endpoint, false)));
    try {
      await this.#run(() => conn.query(SESSION_INIT));
      const [rows] = await this.#run(() => conn.query('SELECT CONNECTION_ID() AS id'));
      const connectionId = String((rows as { id: string | number }[])[0]?.id ?? '');
      // A dropped connection must not become an unhandled 'error' event: its next query fails instead.
      conn.on('error', () => undefined);
      return {
        ...this.#session(conn, false),
        connectionId,
        close: async () => {
          await conn.end().catch(() => conn.destroy());
        },
      };
    } catch (err) {
      conn.destroy();
      throw err;
    }
  }

  #session(conn: Connection, binary: boolean): Session {
    const fmt = binary ? toBinary : toText;
    return {
      rows: <T>(q: Sql) => this.#run(async () => (await conn.query(fmt(q)))[0] as T[]),
      rawRows: (q: Sql) => this.#run(async () => (await conn.query({ sql: fmt(q), rowsAsArray: true, typeCast: false }))[0] as unknown as RawValue[][]),
      exec: (q: Sql) => this.#run(async () => execResult((await conn.query(fmt(q)))[0])),
      loadData: (q: Sql, data: Buffer) => {
        if (!binary) throw new Error('loadData on a text session');
        return this.#run(async () =>
          execResult((await conn.query({ sql: toBinary(q), infileStreamFactory: () => Readable.from(packets(data)) } as unknown as string))[0]),
        );
      },
      execBinary: (q: Sql | BinaryStatement) => {
        if (!binary) throw new Error('execBinary on a text session');
        const text = 'binary' in q ? q.binary : toBinary(q);
        return this.#run(async () => execResult((await conn.query(text))[0]));
      },
    };
  }

  async close(): Promise<void> {
    const pools = [this.#meta, this.#data].filter((p): p is Pool => p !== undefined);
    this.#meta = undefined;
    this.#data = undefined;
    await Promise.allSettled(pools.map((p) => p.end()));
  }
}

/** Bytes of a raw row's values. */
export function fieldBytes(row: readonly RawValue[]): number {
  let n = 0;
  for (const v of row) n += v ? v.length : 0;
  return n;
}

/** The core (callback) connection's query, as the streaming read uses it. */
interface StreamingConnection extends NodeJS.EventEmitter {
  query(opts: { sql: string; rowsAsArray: boolean; typeCast: boolean }): NodeJS.EventEmitter;
}

/**
 * LOAD DATA LOCAL data goes out one packet per stream chunk, and the server refuses a packet above its
 * max_allowed_packet: so slices of 1 MB (views, not copies), whatever the size of the chunk or a row.
 */
const INFILE_PACKET = 1024 * 1024;
function* packets(data: Buffer): Generator<Buffer> {
  for (let i = 0; i < data.length; i += INFILE_PACKET) yield data.subarray(i, i + INFILE_PACKET);
}

function execResult(r: unknown): ExecResult {
  const h = r as { affectedRows?: number; insertId?: number | string; warningStatus?: number };
  return { affectedRows: h.affectedRows ?? 0, insertId: String(h.insertId ?? '0'), warnings: h.warningStatus ?? 0 };
}

export function openDb(endpoint: Endpoint): Db {
  return new MysqlDb(endpoint);
}

/** One Db per endpoint role, closed together. */
export class Connections {
  readonly #dbs = new Map<string, Db>();
  get(e: Endpoint): Db {
    let db = this.#dbs.get(e.role);
    if (!db) {
      db = openDb(e);
      this.#dbs.set(e.role, db);
    }
    return db;
  }
  async closeAll(): Promise<void> {
    const all = [...this.#dbs.values()];
    this.#dbs.clear();
    await Promise.allSettled(all.map((d) => d.close()));
  }
}

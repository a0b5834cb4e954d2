/**
 * Roles after gh-ost: the Inspector only reads (it receives a ReadDb, so it cannot write: the compiler
 * checks that `status`, `plan`, `verify` and preflight write nothing); the Applier (applier.ts) writes.
 */
import { isNoSuchColumn, isNoSuchTable } from '../db/errors.js';
import { fieldBytes, type ReadDb } from '../db/pool.js';
import { keyOfRow } from './keys.js';
import type { RawValue } from '../db/sql/fragment.js';
import * as R from '../db/sql/rows.js';
import { readForeignKeys, readSchema, readTriggers, type ColumnInfo, type ForeignKeyInfo, type TableInfo, type TriggerInfo } from '../db/sql/schema.js';
import { readServerFacts, type ServerFacts } from '../db/sql/server.js';
import { readPlacementSql } from '../db/sql/mapping.js';
import { rowHashesByKeys } from '../db/sql/rows.js';
import { FwShardError } from '../errors/index.js';
import { showKey } from './keys.js';
import { unhashableRowError } from './write-errors.js';
import type { MappingSpec } from '../topology/index.js';
import type { KeyTuple, RowSpec } from '../db/sql/rows.js';

/** A row whose MD5 the server gave as NULL: its image is longer than the server's max_allowed_packet. */
export class UnhashableRow extends Error {
  constructor(readonly key: KeyTuple | null) {
    super('a row is longer than max_allowed_packet: the server cannot hash it');
  }
}

export interface RangeHash {
  count: string;
  hash: string;
}

/** A chunk as the copy reads it: LOAD DATA lines in one Buffer, or raw rows (for INSERTs). */
export type CopyChunk = LineChunk | RawChunk;
interface ChunkFacts {
  count: number;
  /** The read stopped at the byte budget: more rows may follow even if fewer than asked came. */
  cut: boolean;
  /** Bytes of the rows' values (for sizing the next chunk). */
  bytes: number;
  /** The key of the last row read (copied, not a view of the network buffer). */
  lastKey: KeyTuple | null;
}
interface LineChunk extends ChunkFacts {
  lines: true;
  tsv: Buffer;
  /** Keys of rows with a value too long for the server to escape (tsvLine): to be read raw. */
  long: KeyTuple[];
  /** The rows' range hash, summed from the read ('crc-mul' moves: R.rowHashTerm); else undefined. */
  hash?: RangeHash;
}
interface RawChunk extends ChunkFacts {
  lines: false;
  rows: RawValue[][];
}

/** The bytes a chunk of `maxBytes` of values is read into: a row that crosses the budget fits too (mostly). */
export const chunkBuffer = (maxBytes: number): number => maxBytes + 64 * 1024;

export type RowHashes = Map<string, { key: KeyTuple | null; md5: string; n: number }>;

/**
 * Rows of R.rowHashes (key columns, then the MD5) keyed by the key's bytes; keyless rows by their hash.
 * A NULL MD5 (a row longer than the server's max_allowed_packet) throws UnhashableRow.
 */
export function parseRowHashes(rows: readonly RawValue[][], nk: number): RowHashes {
  const out: RowHashes = new Map();
  for (const r of rows) {
    if (r[nk] === null || r[nk] === undefined) throw new UnhashableRow(nk ? (r.slice(0, nk) as Buffer[]) : null);
    const md5 = (r[nk] as Buffer).toString('latin1');
    const key = nk ? (r.slice(0, nk) as Buffer[]) : null;
    const id = key ? key.map((b) => b.toString('hex')).join(':') : md5;
    const prev = out.get(id);
    if (prev) prev.n++;
    else out.set(id, { key, md5, n: 1 });
  }
  return out;
}

/**
 * The range hash of rows read with R.rowHashTerm, summed as the server's hashRange sums it. Each term
 * (below 2^64, in decimal digits) is split at its tenth digit from the right into two numbers, summed as
 * numbers (exact below 2^53, so folded into a bigint every 2^18 rows): no per-row bigint or string. No
 * total when a row's term is NULL (its image is longer than this server's max_allowed_packet): whether
 * the target can hash it depends on the target's own limit, so the target is asked.
 */
export class HashSum {
  #rows = 0;
  #high = 0;
  #low = 0;
  #big = 0n;
  #unhashable = false;
  add(term: Buffer | null): void {
    this.#rows++;
    if (term === null) this.#unhashable = true;
    else {
      if (term.length === 0 || term.length > 20) throw new Error(`not a 64-bit number: ${term.toString('latin1')}`);
      const split = Math.max(0, term.length - 10);
      this.#high += digits(term, 0, split);
      this.#low += digits(term, split, term.length);
    }
    if ((this.#rows & 0x3ffff) === 0) this.#fold();
  }
  total(): RangeHash | undefined {
    this.#fold();
    return this.#unhashable ? undefined : { count: String(this.#rows), hash: this.#big.toString() };
  }
  #fold(): void {
    this.#big += BigInt(this.#high) * 10_000_000_000n + BigInt(this.#low);
    this.#high = 0;
    this.#low = 0;
  }
}

/** The value of the decimal digits b[from..to) (at most 10). */
function digits(b: Buffer, from: number, to: number): number {
  let n = 0;
  for (let i = from; i < to; i++) {
    const d = b[i]! - 0x30;
    if (d < 0 || d > 9) throw new Error(`not a 64-bit number: ${b.toString('latin1')}`);
    n = n * 10 + d;
  }
  return n;
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
  /** Foreign keys of the database's tables, and those of other databases that reference them. */
  foreignKeys(): Promise<ForeignKeyInfo[]> {
    return readForeignKeys(this.db);
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
    const out = { count: String(r?.n ?? '0'), hash: String(r?.h ?? '0') };
    // Name the row: the drill-down throws the typed refusal with its key.
    if (R.isUnhashable(out.hash))
      throw await this.rowHashes(spec, userId, lo, hi).then(
        () => this.unhashable(spec, new UnhashableRow(null)),
        (e: unknown) => e,
      );
    return out;
  }

  /** Per-row hashes keyed by the key's bytes (hex-joined), for drill-down. Keyless: keyed by the hash. */
  async rowHashes(spec: RowSpec, userId: string, lo: KeyTuple | null, hi: KeyTuple | null): Promise<RowHashes> {
    const rows = await this.db.rawRows(R.rowHashes(spec, userId, lo, hi));
    try {
      return parseRowHashes(rows, spec.key?.length ?? 0);
    } catch (err) {
      throw err instanceof UnhashableRow ? await this.unhashable(spec, err) : err;
    }
  }

  /** The typed refusal for a row this server cannot hash, naming the server, its setting and the row. */
  async unhashable(spec: RowSpec, e: UnhashableRow): Promise<FwShardError> {
    const maxPacket = await this.facts().then(
      (f) => f.maxAllowedPacket,
      () => null,
    );
    const key =
      e.key && spec.key
        ? showKey(
            spec.key.map((c) => c.name),
            e.key,
          )
        : null;
    return unhashableRowError(this.db.endpoint, spec.name, key, maxPacket);
  }

  /** Per-row hashes of the user's rows with these keys (missing keys are absent from the map). */
  async rowHashesOfKeys(spec: RowSpec, userId: string, keys: readonly KeyTuple[]): Promise<RowHashes> {
    if (keys.length === 0) return new Map();
    return parseRowHashes(await this.db.rawRows(rowHashesByKeys(spec, userId, keys, false)), spec.key?.length ?? 0);
  }

  /** Per-row hashes of the user's next `limit` rows after `lo`, in key order (keyed tables only). */
  async rowHashesChunk(spec: RowSpec, userId: string, lo: KeyTuple | null, limit: number): Promise<{ hashes: RowHashes; last: KeyTuple | null; n: number }> {
    const rows = await this.db.rawRows(R.rowHashesChunk(spec, userId, lo, limit));
    const nk = spec.key?.length ?? 0;
    const last = rows.length > 0 ? (rows[rows.length - 1]!.slice(0, nk) as Buffer[]) : null;
    return { hashes: parseRowHashes(rows, nk), last, n: rows.length };
  }

  /** A shared table's rows with these keys that are not the user's alone here (R.sharedHashesKeptSql). */
  async sharedRowsKept(spec: RowSpec, userId: string, keys: readonly KeyTuple[]): Promise<RowHashes> {
    if (keys.length === 0) return new Map();
    return parseRowHashes(await this.db.rawRows(R.sharedHashesKeptSql(spec, userId, keys)), spec.key?.length ?? 0);
  }

  readChunk(spec: RowSpec, userId: string, lo: KeyTuple | null, limit: number): Promise<RawValue[][]> {
    return this.db.rawRows(R.selectChunk(spec, userId, lo, limit));
  }
  /**
   * The next chunk after lo for the copy: at most `limit` rows and about `maxBytes` of values. With
   * `asLines`, the LOAD DATA lines the server builds (R.selectChunkTsv) copied, as they arrive, into
   * one Buffer, so no per-row object outlives its arrival (the keys of rows with a long value, which
   * come without a line, are kept to be read raw); otherwise raw rows, for INSERTs.
   */
  async readCopyChunk(
    spec: RowSpec,
    userId: string,
    lo: KeyTuple | null,
    limit: number,
    maxBytes: number,
    asLines: boolean,
    /** Where the lines go (reused chunk after chunk: see copy.ts), when it is large enough. */
    into?: Buffer,
  ): Promise<CopyChunk> {
    const nk = spec.key?.length ?? 0;
    // Copies: a view would keep the whole network buffer it points into alive.
    const keyOf = (row: readonly RawValue[], at: readonly number[]) => keyOfRow(row, at).map((b) => Buffer.from(b));
    if (!asLines) {
      const at = R.keyPositions(spec);
      const { rows, cut } = await this.db.rawRowsUpTo(R.selectChunk(spec, userId, lo, limit), maxBytes);
      const last = rows[rows.length - 1];
      return { lines: false, rows, count: rows.length, cut, bytes: rows.reduce((a, r) => a + fieldBytes(r), 0), lastKey: last ? keyOf(last, at) : null };
    }
    const keyAt = Array.from({ length: nk }, (_, i) => i);
    const hashed = R.rowHashTerm(spec) !== null;
    let long: KeyTuple[] = [];
    let bytes = 0;
    let buf: Buffer = Buffer.allocUnsafe(0);
    let used = 0;
    let last: RawValue[] | null = null;
    let sum = new HashSum();
    const { count, cut } = await this.db.streamRows(R.selectChunkTsv(spec, userId, lo, limit), maxBytes, () => {
      // A fresh start for each attempt of the read.
      long = [];
      bytes = 0;
      // Room for the whole budget at once: growing by doubling made a chunk's worth of garbage each time.
      if (buf.length === 0) buf = into && into.length >= chunkBuffer(maxBytes) ? into : Buffer.allocUnsafe(chunkBuffer(maxBytes));
      used = 0;
      last = null;
      sum = new HashSum();
      return (row) => {
        last = row;
        if (hashed) sum.add(row[nk + 2] as Buffer | null);
        const line = row[nk + 1] as Buffer | null;
        if (line === null) {
          long.push(keyOf(row, keyAt));
          const size = Number((row[nk] as Buffer).toString('latin1'));
          bytes += size;
          return size;
        }
        if (used + line.length > buf.length) {
          const bigger = Buffer.allocUnsafe(Math.max(2 * buf.length, used + line.length, 64 * 1024));
          buf.copy(bigger, 0, 0, used);
          buf = bigger;
        }
        used += line.copy(buf, used);
        bytes += line.length;
        return line.length;
      };
    });
    const hash = hashed ? sum.total() : undefined;
    return { lines: true, tsv: buf.subarray(0, used), long, count, cut, bytes, lastKey: last ? keyOf(last, keyAt) : null, ...(hash ? { hash } : {}) };
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

  /** Keys of the user's rows of `child` hanging off a `parent` row that is not the user's (at most `limit`). */
  async foreignParented(
    child: RowSpec,
    cols: readonly ColumnInfo[],
    parent: RowSpec,
    refCols: readonly ColumnInfo[],
    userId: string,
    limit: number,
  ): Promise<KeyTuple[]> {
    return (await this.db.rawRows(R.foreignParentedKeysSql(child, cols, parent, refCols, userId, limit))) as Buffer[][];
  }

  /** Keys of the user's rows whose `cols` equal one of `tuples` (raw bytes; NULL never matches). */
  async keysWhere(spec: RowSpec, cols: readonly ColumnInfo[], userId: string, tuples: readonly KeyTuple[]): Promise<KeyTuple[]> {
    if (tuples.length === 0) return [];
    return (await this.db.rawRows(R.userKeysWhereColumnsIn(spec, cols, userId, tuples))) as Buffer[][];
  }

  /** The values of `cols` of the user's rows with these keys (one array per row found), NULL as null. */
  async columnsOfKeys(spec: RowSpec, cols: readonly ColumnInfo[], userId: string, keys: readonly KeyTuple[]): Promise<(Buffer | null)[][]> {
    if (keys.length === 0) return [];
    const nk = spec.key?.length ?? 0;
    return (await this.db.rawRows(R.columnsOfKeys(spec, cols, userId, keys))).map((r) => r.slice(nk) as (Buffer | null)[]);
  }
}

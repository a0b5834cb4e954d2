/**
 * Deterministic sample data for the sandbox, written the way a Flamework app writes it:
 *  - users get their id from db_main's AUTO_INCREMENT and a shard (`cluster_id`) round robin;
 *  - per-user rows go to the user's shard only, with ids from the ticket servers
 *    (`REPLACE INTO Tickets64 (stub) VALUES ('a')`, the insert id is the ticket), alternating between
 *    the ticket servers;
 *  - a few DotsLookup rows on db_main (a lookup table a mover must leave alone).
 *
 * Invariants: ids are decimal strings end to end (Tickets64 starts above 2^53); the same seed on fresh
 * servers gives the same rows and the same ids; rows go in multi-row INSERTs of `batchRows` rows.
 */
import type { Db, Session } from '../db/pool.js';
import type { Value } from '../db/sql/fragment.js';
import { COLUMNS, insertRows, poorMansTicketSession, replaceTicket, selectUserIds, SHARD_TABLES, type ShardTable } from './sql.js';

/** Every byte from 0x80 to 0xFF: written to one Dots.index_on (latin1) row per user. */
export const LATIN1_HIGH_BYTES: Buffer = Buffer.from(Array.from({ length: 128 }, (_, i) => 0x80 + i));
/** Written to the same Dots row's details_json (utf8mb4): 4-byte characters included. */
export const SENTINEL_DETAILS = '{"name":"sentinel 🐘","note":"café ☕ 𝄞 naïve 日本 🇺🇸","quote":"it\'s \\"x\\""}';
/** Written to each user's first FlickrPhotos.exif (BLOB): NUL, tab, newline, backslash, quotes, CR, ^Z, 0xFF. */
export const EXIF_SENTINEL_BYTES: Buffer = Buffer.from([0x00, 0x09, 0x0a, 0x5c, 0x27, 0x22, 0x0d, 0x1a, 0xff, 0x00, 0x5c, 0x6e]);

interface DataTargets {
  /** db_main: users, users_password_reset, DotsLookup. */
  main: { db: Db; database: string };
  /** Shard id → where its per-user tables are. */
  shards: ReadonlyMap<number, { db: Db; database: string }>;
  /** Ticket servers in round-robin order (odd first). */
  tickets: readonly { db: Db; database: string }[];
  /** Poor man's ticketing: each ticket session runs `SET @@auto_increment_increment=2, offset=1` first. */
  poorMansTicketing: boolean;
}

interface DataOptions {
  users: number;
  /** About this many rows per user (each user gets 80-120 % of it), spread over the five shard tables. */
  rowsPerUser: number;
  seed: number;
  /** Rows per INSERT statement (default 500). */
  batchRows?: number;
}

export interface DataSummary {
  users: number;
  userIds: { first: string; last: string } | null;
  rows: Record<ShardTable, number>;
  rowsTotal: number;
  rowsByShard: Record<string, number>;
  usersByShard: Record<string, number>;
  dotsLookup: number;
  passwordResets: number;
  tickets: { issued32: number; issued64: number; min64: string | null; max64: string | null };
}

/** mulberry32: small, fast, good enough for sample data; deterministic for a given 32-bit seed. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function mix(seed: number, n: number): number {
  let h = (seed ^ Math.imul(n + 1, 0x9e3779b1)) >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b) >>> 0;
  return (h ^ (h >>> 13)) >>> 0;
}

const pick = <T>(r: () => number, xs: readonly T[]): T => xs[Math.floor(r() * xs.length)] as T;
const int = (r: () => number, lo: number, hi: number): number => lo + Math.floor(r() * (hi - lo + 1));

/** How many rows of each table one user gets. Sums to `n`. */
export function splitRows(n: number): Record<ShardTable, number> {
  if (n <= 0) return { Sheets: 0, Dots: 0, FlickrPhotos: 0, FlickrFaves: 0, FlickrContacts: 0 };
  const Sheets = Math.max(1, Math.round(n * 0.04));
  const FlickrPhotos = Math.floor(n * 0.2);
  const FlickrFaves = Math.floor(n * 0.2);
  const FlickrContacts = Math.floor(n * 0.1);
  return { Sheets, Dots: n - Sheets - FlickrPhotos - FlickrFaves - FlickrContacts, FlickrPhotos, FlickrFaves, FlickrContacts };
}

/** Base time for created/date columns: fixed, so the data does not depend on the clock. */
const EPOCH = 1_288_000_000; // 2010-10-25, about when poor man's modes were added

const LABELS = [null, '', 'Café crawl 🗺️', 'Zoë’s sheet', 'plain sheet', 'naïve 日本語 🍣', 'it\'s a "quoted" label'];
const MIMES = [null, '', 'text/csv', 'application/vnd.ms-excel', 'application/json', 'text/plain'];
const NOTES = ['plain note', 'café ☕', 'emoji 🐘🎉', 'music 𝄞', 'tab\there', 'new\nline', 'back\\slash', 'quote \' and "', 'ümlaut ß'];
const TITLES = ['', 'Sunset over the bay', 'Café ☕ at noon', 'Ünïcödé title', "Bob's photo", 'back\\slash \\n', 'tab\tand newline\n'];

function latin1Bytes(r: () => number): Buffer {
  if (r() < 0.05) return Buffer.alloc(0); // '' next to real values
  const len = int(r, 4, 24);
  const b = Buffer.alloc(len);
  for (let i = 0; i < len; i++) b[i] = r() < 0.5 ? int(r, 0x20, 0x7e) : int(r, 0x80, 0xff);
  return b;
}

function exifBytes(r: () => number): Buffer | null {
  const x = r();
  if (x < 0.15) return null;
  if (x < 0.2) return Buffer.alloc(0);
  const len = int(r, 16, 64);
  const b = Buffer.alloc(len);
  const specials = [0x00, 0x09, 0x0a, 0x0d, 0x5c, 0x27, 0x22, 0x1a];
  for (let i = 0; i < len; i++) b[i] = r() < 0.3 ? pick(r, specials) : int(r, 0, 255);
  return b;
}

function hex(r: () => number, len: number): string {
  let s = '';
  for (let i = 0; i < len; i++) s += '0123456789abcdef'[Math.floor(r() * 16)];
  return s;
}

function compareIds(a: string, b: string): number {
  const x = BigInt(a);
  const y = BigInt(b);
  return x < y ? -1 : x > y ? 1 : 0;
}

/** Run `fn` with `n` pinned sessions of one Db. */
async function withSessions<T>(db: Db, n: number, fn: (ss: Session[]) => Promise<T>, acc: Session[] = []): Promise<T> {
  if (acc.length >= n) return fn(acc);
  return db.withSession((s) => withSessions(db, n, fn, [...acc, s]));
}

/**
 * Takes tickets the Flamework way. Tickets alternate between the servers (ticket i goes to server
 * i mod count); on each server several sessions run REPLACEs concurrently, and each server's share is
 * sorted afterwards, so the ids a call returns are the same on every run from fresh servers.
 */
class TicketAllocator {
  #cursor = 0;
  issued32 = 0;
  issued64 = 0;
  min64: string | null = null;
  max64: string | null = null;
  constructor(private readonly servers: readonly { sessions: Session[]; database: string }[]) {}

  async take(n: number, bits: 32 | 64): Promise<string[]> {
    const shares: number[][] = this.servers.map(() => []);
    for (let i = 0; i < n; i++) shares[this.#cursor++ % this.servers.length]!.push(i);
    const out = new Array<string>(n);
    await Promise.all(
      shares.map(async (idx, s) => {
        const ids = await this.#fromServer(s, idx.length, bits);
        idx.forEach((i, k) => (out[i] = ids[k]!));
      }),
    );
    if (bits === 32) this.issued32 += n;
    else {
      this.issued64 += n;
      for (const id of out) {
        if (this.min64 === null || compareIds(id, this.min64) < 0) this.min64 = id;
        if (this.max64 === null || compareIds(id, this.max64) > 0) this.max64 = id;
      }
    }
    return out;
  }

  async #fromServer(s: number, count: number, bits: 32 | 64): Promise<string[]> {
    const { sessions, database } = this.servers[s]!;
    const got: string[] = [];
    const q = replaceTicket(database, bits);
    await Promise.all(
      sessions.map(async (sess, j) => {
        const mine = Math.floor(count / sessions.length) + (j < count % sessions.length ? 1 : 0);
        for (let k = 0; k < mine; k++) {
          const r = await sess.exec(q);
          // insertId is a decimal string from the driver (ids above 2^53 never become numbers).
          if (!/^[1-9][0-9]*$/.test(r.insertId)) throw new Error(`ticket server ${s + 1} returned no insert id for ${q.parts[0]}`);
          got.push(r.insertId);
        }
      }),
    );
    return got.sort(compareIds);
  }
}

/** Buffers rows per (target, table) and flushes them as multi-row INSERTs, one chain per target. */
class BatchWriter {
  #buffers = new Map<string, { db: Db; database: string; table: keyof typeof COLUMNS; rows: Value[][] }>();
  #chains = new Map<Db, Promise<void>>();
  #failed: unknown;
  constructor(private readonly batchRows: number) {}

  async add(db: Db, database: string, table: keyof typeof COLUMNS, row: Value[]): Promise<void> {
    const key = `${database}\0${table}\0${this.#id(db)}`;
    let b = this.#buffers.get(key);
    if (!b) this.#buffers.set(key, (b = { db, database, table, rows: [] }));
    b.rows.push(row);
    if (b.rows.length >= this.batchRows) await this.#flush(b);
  }

  #ids = new Map<Db, number>();
  #id(db: Db): number {
    let n = this.#ids.get(db);
    if (n === undefined) this.#ids.set(db, (n = this.#ids.size));
    return n;
  }

  async #flush(b: { db: Db; database: string; table: keyof typeof COLUMNS; rows: Value[][] }): Promise<void> {
    if (b.rows.length === 0) return;
    const rows = b.rows;
    b.rows = [];
    const prev = this.#chains.get(b.db) ?? Promise.resolve();
    // Inserts to one server run in order; the caller only waits for that server's previous batch,
    // so generation overlaps the previous INSERT and different shards load in parallel.
    const next = prev.then(async () => {
      await b.db.exec(insertRows(b.database, b.table, COLUMNS[b.table], rows));
    });
    next.catch((err) => (this.#failed ??= err));
    this.#chains.set(b.db, next);
    await prev;
    if (this.#failed) throw this.#failed;
  }

  async finish(): Promise<void> {
    for (const b of this.#buffers.values()) await this.#flush(b);
    await Promise.all(this.#chains.values());
    if (this.#failed) throw this.#failed;
  }
}

/**
 * Create `users` users on db_main and about `rowsPerUser` rows each on their shards. The databases must
 * be empty (a fresh sandbox): ids and rows are only reproducible from fresh ticket counters.
 */
export async function loadData(t: DataTargets, o: DataOptions, log: (line: string) => void = () => undefined): Promise<DataSummary> {
  const shardIds = [...t.shards.keys()].sort((a, b) => a - b);
  if (shardIds.length === 0) throw new Error('loadData: no shards');
  if (t.tickets.length === 0) throw new Error('loadData: no ticket servers');
  const batchRows = o.batchRows ?? 500;
  const w = new BatchWriter(batchRows);
  const main = t.main;

  // ---- users on db_main: ids from AUTO_INCREMENT, cluster_id round robin -----------------------------
  const ur = prng(mix(o.seed, 0x5eed));
  const userRows: Value[][] = [];
  for (let i = 0; i < o.users; i++) {
    const n = i + 1;
    const username = n % 5 === 3 ? `zoë${n}` : n % 7 === 4 ? `O'Brien ${n}` : `user${n}`;
    const email = n % 6 === 5 ? null : `user${n}@example.com`;
    const created = EPOCH + n * 86_400;
    const confirmed = n % 3 === 0 ? 0 : created + 600;
    userRows.push([username, email, 0, created, hex(ur, 64), n % 3 === 1 ? null : hex(ur, 24), confirmed, shardIds[i % shardIds.length]!]);
  }
  for (let i = 0; i < userRows.length; i += batchRows) {
    await main.db.exec(insertRows(main.database, 'users', COLUMNS.users, userRows.slice(i, i + batchRows)));
  }
  const users = (await main.db.rows<{ id: string; username: string; cluster_id: number }>(selectUserIds(main.database))).map((u) => ({
    id: String(u.id),
    clusterId: Number(u.cluster_id),
  }));
  if (users.length !== o.users) throw new Error(`expected ${o.users} users in db_main, found ${users.length} (was the database empty?)`);
  log(
    `db_main: ${users.length} users (ids ${users[0]?.id ?? '-'}..${users[users.length - 1]?.id ?? '-'}) over ${shardIds.length} shard${shardIds.length > 1 ? 's' : ''}`,
  );

  const tally: Tally = {
    rows: { Sheets: 0, Dots: 0, FlickrPhotos: 0, FlickrFaves: 0, FlickrContacts: 0 },
    rowsByShard: Object.fromEntries(shardIds.map((s) => [String(s), 0])),
    usersByShard: Object.fromEntries(shardIds.map((s) => [String(s), 0])),
    dotsLookup: 0,
    passwordResets: 0,
  };
  const { rows, rowsByShard, usersByShard } = tally;

  // ---- per-user rows, ids from the ticket servers -----------------------------------------------------
  const ticketDbs = t.tickets;
  // Must stay below the pool's connectionLimit (6, src/db/pool.ts): withSessions holds them all at once
  // and would wait forever for one more.
  const sessionsPerServer = 4;
  const allocator = await openTicketSessions(ticketDbs, sessionsPerServer, t.poorMansTicketing, async (servers) => {
    const alloc = new TicketAllocator(servers);

    const pool: PhotoPool = { photos: [], externalPhoto: 40_000_000_000n }; // Flickr photos of people outside the site (owner_id 0)
    for (const [ui, u] of users.entries()) await loadUser(ui, u, users, { t, o, w, alloc, tally, pool });
    await w.finish();
    return alloc;
  });

  const rowsTotal = SHARD_TABLES.reduce((a, tb) => a + rows[tb], 0);
  log(`shards: ${rowsTotal} rows (${SHARD_TABLES.map((tb) => `${tb} ${rows[tb]}`).join(', ')}); ${allocator.issued64 + allocator.issued32} tickets`);
  return {
    users: users.length,
    userIds: users.length > 0 ? { first: users[0]!.id, last: users[users.length - 1]!.id } : null,
    rows,
    rowsTotal,
    rowsByShard,
    usersByShard,
    dotsLookup: tally.dotsLookup,
    passwordResets: tally.passwordResets,
    tickets: { issued32: allocator.issued32, issued64: allocator.issued64, min64: allocator.min64, max64: allocator.max64 },
  };
}

/** What loadData counts as it goes. */
interface Tally {
  rows: Record<ShardTable, number>;
  rowsByShard: Record<string, number>;
  usersByShard: Record<string, number>;
  dotsLookup: number;
  passwordResets: number;
}

/** Photos seen so far with their owners, for faves of other users' photos; and the next photo of someone outside the site. */
interface PhotoPool {
  photos: { id: string; owner: string }[];
  externalPhoto: bigint;
}

/** One user's rows on its shard (and its DotsLookup and password reset rows on db_main), ids from the ticket servers. */
async function loadUser(
  ui: number,
  u: { id: string; clusterId: number },
  users: readonly { id: string; clusterId: number }[],
  env: { t: DataTargets; o: DataOptions; w: BatchWriter; alloc: TicketAllocator; tally: Tally; pool: PhotoPool },
): Promise<void> {
  const { t, o, w, alloc, tally, pool } = env;
  const main = t.main;
  const shard = t.shards.get(u.clusterId);
  if (!shard) throw new Error(`user ${u.id} has cluster_id ${u.clusterId}, which is not a sandbox shard`);
  tally.usersByShard[String(u.clusterId)]! += 1;
  const r = prng(mix(o.seed, ui + 1));
  const n = o.rowsPerUser <= 0 ? 0 : Math.max(1, Math.round(o.rowsPerUser * (0.8 + 0.4 * r())));
  const split = splitRows(n);
  const base = EPOCH + (ui + 1) * 86_400;
  const put = (table: ShardTable, row: Value[]) => {
    tally.rows[table] += 1;
    tally.rowsByShard[String(u.clusterId)]! += 1;
    return w.add(shard.db, shard.database, table, row);
  };

  // Sheets: Tickets32, as Dotspotting's sheets_create_sheet does.
  const sheetIds = await alloc.take(split.Sheets, 32);
  for (const [k, id] of sheetIds.entries()) {
    // The first two sheets pin NULL next to '' whatever the seed draws.
    const label = k === 0 ? null : k === 1 ? '' : pick(r, LABELS);
    const mime = k === 0 ? '' : k === 1 ? null : pick(r, MIMES);
    await put('Sheets', [id, u.id, base + k, label, mime]);
  }

  // Dots: Tickets64 (ids above 2^53). The first is the byte-exact sentinel.
  const dotIds = await alloc.take(split.Dots, 64);
  for (const [k, id] of dotIds.entries()) {
    const sheet = sheetIds.length > 0 ? pick(r, sheetIds) : '0';
    const x = r();
    // Dot 0 is the sentinel; dots 1 and 2 pin NULL next to '' whatever the seed draws.
    const details =
      k === 0
        ? SENTINEL_DETAILS
        : k === 1 || x < 0.08
          ? null
          : k === 2 || x < 0.13
            ? ''
            : JSON.stringify({ name: `dot ${k}`, note: pick(r, NOTES), lat: (r() * 180 - 90).toFixed(6), lon: (r() * 360 - 180).toFixed(6) });
    const indexOn = k === 0 ? LATIN1_HIGH_BYTES : latin1Bytes(r);
    await put('Dots', [id, sheet, u.id, base + 60 * k, pick(r, [0, 0, 1, 2]), details, indexOn]);
    if (k < 3) {
      // DotsLookup lives on db_main only: object id -> user, no shard number.
      tally.dotsLookup++;
      await w.add(main.db, main.database, 'DotsLookup', [id, u.id]);
    }
  }

  // FlickrPhotos: stand-ins for Flickr's global photo ids, taken from Tickets64 so they never collide.
  const photoIds = await alloc.take(split.FlickrPhotos, 64);
  for (const [k, id] of photoIds.entries()) {
    // Photo 0 is the byte sentinel; photos 1 and 2 pin a NULL and an empty BLOB.
    const exif = k === 0 ? EXIF_SENTINEL_BYTES : k === 1 ? null : k === 2 ? Buffer.alloc(0) : exifBytes(r);
    const title = k === 0 ? '' : pick(r, TITLES);
    await put('FlickrPhotos', [id, u.id, exif, title, r() < 0.9 ? 0 : base + 7 * k]);
  }

  // FlickrFaves: other users' photos first (owner on another shard, possibly), then external ones.
  const faved = new Set<string>();
  const candidates = pool.photos.filter((p) => p.owner !== u.id);
  for (let k = 0; k < split.FlickrFaves; k++) {
    let photo: { id: string; owner: string } | undefined;
    for (let tries = 0; tries < 4 && candidates.length > 0; tries++) {
      const c = pick(r, candidates);
      if (!faved.has(c.id)) {
        photo = c;
        break;
      }
    }
    photo ??= { id: String(pool.externalPhoto++), owner: '0' };
    faved.add(photo.id);
    await put('FlickrFaves', [u.id, photo.id, photo.owner, base + 13 * k]);
  }
  for (const id of photoIds) pool.photos.push({ id, owner: u.id });

  // FlickrContacts: no keys at all; rows 0-1 are one duplicate pair, rows 2-4 a triple.
  const contacts: Value[][] = [];
  for (let k = 0; k < split.FlickrContacts; k++) {
    if (k === 1 || k === 3 || k === 4) {
      contacts.push([...contacts[k === 1 ? 0 : 2]!]);
      continue;
    }
    const other = users[int(r, 0, users.length - 1)]!;
    const nsid = r() < 0.1 ? '' : `${int(r, 10_000_000, 99_999_999)}@N0${int(r, 0, 9)}`;
    contacts.push([u.id, r() < 0.1 ? 0 : other.id, nsid, int(r, 0, 4)]);
  }
  for (const c of contacts) await put('FlickrContacts', c);

  if ((ui + 1) % 4 === 0) {
    tally.passwordResets++;
    await w.add(main.db, main.database, 'users_password_reset', [u.id, hex(r, 32), base + 3600]);
  }
}

async function openTicketSessions<T>(
  servers: readonly { db: Db; database: string }[],
  perServer: number,
  poorMans: boolean,
  fn: (s: { sessions: Session[]; database: string }[]) => Promise<T>,
  acc: { sessions: Session[]; database: string }[] = [],
): Promise<T> {
  if (acc.length === servers.length) return fn(acc);
  const srv = servers[acc.length]!;
  return withSessions(srv.db, perServer, async (sessions) => {
    if (poorMans) {
      // lib_dbtickets.php runs these on the ticket connection before each REPLACE; they are session
      // settings, so once per pinned session has the same effect.
      for (const s of sessions) for (const q of poorMansTicketSession()) await s.exec(q);
    }
    return openTicketSessions(servers, perServer, poorMans, fn, [...acc, { sessions, database: srv.database }]);
  });
}

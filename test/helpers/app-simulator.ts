/**
 * A Flamework-like app writing one user's rows while fw-shard moves the user: every write reads the
 * user's cluster_id through memcached (USER-{id}, filled from db_main on a miss, as lib_users does),
 * checks the freeze first (the query from the README), writes inserts with ticketed ids, updates and
 * deletes to that shard, and records every write it acknowledged.
 */
import { createConnection } from 'node:net';
import { openDb, type Db } from '../../src/db/pool.js';
import { isNoSuchTable } from '../../src/db/errors.js';
import { NumericLiteral, sql } from '../../src/db/sql/fragment.js';

// Ids compared as numbers, never as quoted strings (which the server compares as DOUBLE above 2^53).
const num = (v: string) => new NumericLiteral(v);
import { isFrozenSql } from '../../src/db/sql/freeze.js';
import type { Endpoint } from '../../src/topology/index.js';

export interface Ack {
  id: string;
  /** The row's body after this write; null when the write deleted it. */
  body: string | null;
  shard: number;
  at: number;
}

export class AppSimulator {
  readonly acks: Ack[] = [];
  readonly anomalies: string[] = [];
  frozenWaits = 0;
  /** Writes the shard-side fence refused (an error the app saw; nothing written, nothing acknowledged). */
  refusedWrites = 0;
  #running = false;
  #loop: Promise<void> | undefined;
  #main: Db;
  #tickets: Db;
  #shards: Map<number, Db>;
  #live: string[] = [];
  #n = 0;

  constructor(
    private readonly userId: string,
    endpoints: { main: Endpoint; tickets: Endpoint; shards: Map<number, Endpoint> },
    private readonly memcachedPort: number,
    private readonly pauseMs: number,
  ) {
    this.#main = openDb(endpoints.main);
    this.#tickets = openDb(endpoints.tickets);
    this.#shards = new Map([...endpoints.shards].map(([k, e]) => [k, openDb(e)]));
  }

  /** Seed the list of live row ids (the app knows its user's rows). */
  know(ids: string[]): void {
    this.#live = [...ids];
  }

  start(): void {
    this.#running = true;
    this.#loop = (async () => {
      while (this.#running) {
        try {
          await this.step();
        } catch (err) {
          if (!(await this.refused(err))) this.anomalies.push(`write failed: ${(err as Error).message}`);
        }
        await new Promise((r) => setTimeout(r, this.pauseMs));
      }
    })();
  }

  async stop(): Promise<void> {
    this.#running = false;
    await this.#loop;
  }

  async close(): Promise<void> {
    await Promise.allSettled([this.#main.close(), this.#tickets.close(), ...[...this.#shards.values()].map((d) => d.close())]);
  }

  /**
   * fw-shard's shard-side fence refused the write (SQLSTATE 45000, error 1644): nothing was written and
   * the app saw an error. After "moved" the app deletes its cached user row (as contrib/flamework does)
   * and the next write re-reads cluster_id.
   */
  private async refused(err: unknown): Promise<boolean> {
    const e = err as { errno?: number; cause?: { errno?: number }; message?: string };
    if ((e.errno ?? e.cause?.errno) !== 1644 || !/fw-shard:/.test(String(e.message))) return false;
    this.refusedWrites++;
    if (/moved/.test(String(e.message))) await memcached(this.memcachedPort, `delete USER-${this.userId}\r\n`).catch(() => '');
    return true;
  }

  private async clusterId(): Promise<number> {
    const key = `USER-${this.userId}`;
    const cached = await memcached(this.memcachedPort, `get ${key}\r\n`);
    const m = /^VALUE \S+ \d+ \d+\r\n(\d+)\r\n/.exec(cached);
    if (m) return Number(m[1]);
    const [row] = await this.#main.rows<{ cluster_id: string }>(sql`SELECT cluster_id FROM users WHERE id = ${num(this.userId)}`);
    const shard = Number(row!.cluster_id);
    await memcached(this.memcachedPort, `set ${key} 0 0 ${String(shard).length}\r\n${shard}\r\n`);
    return shard;
  }

  private async frozen(): Promise<boolean> {
    try {
      const [r] = await this.#main.rows<{ frozen: string }>(isFrozenSql(this.userId));
      return Number(r?.frozen ?? 0) > 0;
    } catch (err) {
      if (isNoSuchTable(err)) return false; // no move has ever run
      throw err;
    }
  }

  async step(): Promise<void> {
    if (await this.frozen()) {
      this.frozenWaits++;
      return; // a retryable error for the app: nothing is acknowledged
    }
    const shard = await this.clusterId();
    const db = this.#shards.get(shard)!;
    const k = this.#n++ % 10;
    if (k < 5 || this.#live.length < 10) {
      const t = await this.#tickets.exec(sql`REPLACE INTO Tickets64 (stub) VALUES ('a')`);
      const body = `insert ${this.#n}`;
      await db.exec(sql`INSERT INTO Dots (id, user_id, body) VALUES (${num(t.insertId)}, ${num(this.userId)}, ${body})`);
      this.#live.push(t.insertId);
      this.acks.push({ id: t.insertId, body, shard, at: Date.now() });
    } else if (k < 8) {
      const id = this.#live[(this.#n * 7919) % this.#live.length]!;
      const body = `update ${this.#n}`;
      const r = await db.exec(sql`UPDATE Dots SET body = ${body} WHERE id = ${num(id)} AND user_id = ${num(this.userId)}`);
      if (r.affectedRows !== 1) this.anomalies.push(`update of ${id} on shard ${shard} changed ${r.affectedRows} rows`);
      else this.acks.push({ id, body, shard, at: Date.now() });
    } else {
      const idx = (this.#n * 104729) % this.#live.length;
      const id = this.#live[idx]!;
      const r = await db.exec(sql`DELETE FROM Dots WHERE id = ${num(id)} AND user_id = ${num(this.userId)}`);
      if (r.affectedRows !== 1) this.anomalies.push(`delete of ${id} on shard ${shard} changed ${r.affectedRows} rows`);
      else {
        this.#live.splice(idx, 1);
        this.acks.push({ id, body: null, shard, at: Date.now() });
      }
    }
  }

  /** The last acknowledged state of every row the app wrote. */
  expected(): Map<string, string | null> {
    const m = new Map<string, string | null>();
    for (const a of this.acks) m.set(a.id, a.body);
    return m;
  }
}

/** One memcached text-protocol exchange. */
export function memcached(port: number, command: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = createConnection({ host: '127.0.0.1', port });
    let buf = '';
    s.on('data', (d) => {
      buf += d.toString();
      if (/(END|STORED|DELETED|NOT_FOUND|ERROR|OK|VERSION [^\r]*)\r\n$/.test(buf)) {
        s.end();
        resolve(buf);
      }
    });
    s.on('close', () => resolve(buf));
    s.on('error', reject);
    s.write(command);
  });
}

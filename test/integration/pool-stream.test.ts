/**
 * The copy's streamed read (Db.rawRowsUpTo and Db.streamRows, src/db/pool.ts) against a real server: it stops at its byte
 * budget and leaves the pool usable, and a connection killed under it ends the read (retried, as every
 * read is) instead of leaving it waiting: mysql2 tells only the connection, not a query without a
 * callback, that the connection died.
 */
import { describe, expect, it } from 'vitest';
import { sql } from '../../src/db/sql/fragment.js';
import { useServers } from '../helpers/servers.js';

describe('Db.rawRowsUpTo', () => {
  const t = useServers(1, { prefix: 'fw-shard-stream-' });

  it('returns every row under the budget, stops at it otherwise (never fewer than one row), and the pool goes on', async () => {
    const db = t.db(0);
    const all = await db.rawRowsUpTo(sql`SELECT seq, REPEAT('x', 100) FROM seq_1_to_500`, 1_000_000);
    expect(all.cut).toBe(false);
    expect(all.rows.length).toBe(500);
    const some = await db.rawRowsUpTo(sql`SELECT seq, REPEAT('x', 100) FROM seq_1_to_50000`, 10_000);
    expect(some.cut).toBe(true);
    expect(some.rows.length).toBeGreaterThan(0);
    expect(some.rows.length).toBeLessThan(200);
    const one = await db.rawRowsUpTo(sql`SELECT seq, REPEAT('x', 100000) FROM seq_1_to_50`, 10);
    expect(one).toMatchObject({ cut: true });
    expect(one.rows.length).toBe(1);
    // The connections closed mid-result were replaced: the pool still answers, many times over.
    for (let i = 0; i < 10; i++) expect((await db.rawRowsUpTo(sql`SELECT ${i}`, 100)).rows.length).toBe(1);
  });

  it('streamRows hands each row over once, and a retried read starts its handler over', async () => {
    const db = t.db(0);
    let attempts = 0;
    let seen = 0;
    const r = await db.streamRows(sql`SELECT seq FROM seq_1_to_300`, 1_000_000, () => {
      attempts++;
      seen = 0;
      return (row) => {
        seen++;
        return (row[0] as Buffer).length;
      };
    });
    expect(r).toEqual({ count: 300, cut: false });
    expect(attempts).toBe(1);
    expect(seen).toBe(300);
  });

  it('a connection killed in the middle of the result: the read is retried and ends, it does not hang', async () => {
    const db = t.db(0);
    const admin = t.db(0);
    const started = Date.now();
    const reading = db.rawRowsUpTo(sql`SELECT seq, SLEEP(0.002) FROM seq_1_to_1500`, 100_000_000);
    let killed = 0;
    for (let i = 0; i < 50 && killed === 0; i++) {
      await new Promise((r) => setTimeout(r, 100));
      const ids = await admin.rows<{ ID: string }>(sql`SELECT ID FROM information_schema.PROCESSLIST WHERE INFO LIKE 'SELECT seq, SLEEP%'`);
      for (const { ID } of ids) {
        await admin.exec(sql`KILL CONNECTION ${Number(ID)}`);
        killed++;
      }
    }
    expect(killed).toBe(1);
    const r = await reading;
    expect(r).toMatchObject({ cut: false });
    expect(r.rows.length).toBe(1500);
    expect(Date.now() - started).toBeLessThan(30_000);
  }, 40_000);
});

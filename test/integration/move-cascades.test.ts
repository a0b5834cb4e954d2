/**
 * Trigger mode and changes that fire no trigger (issue 21): InnoDB's foreign-key actions (CASCADE,
 * SET NULL) change child rows inside the engine, unseen by any trigger. The app deletes and renumbers
 * albums and items on the shard the user lived on when the move began, every few ms, during a default
 * online move with `--cleanup keep`; afterwards the old shard (fenced since the flip) and the new one
 * must be identical byte for byte in every table, three levels down. Also: a cascade from a table that
 * does not move makes its child compared whole (said by --dry-run), and a session that merely sets
 * @fw_shard_writer is fenced like any other.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NumericLiteral, sql } from '../../src/db/sql/fragment.js';
import type { Db } from '../../src/db/pool.js';
import { runMove } from '../../src/move/engine.js';
import type { MoveRequest } from '../../src/move/types.js';
import type { ShardId, UserId } from '../../src/topology/index.js';
import { makeDeps } from '../../src/app/deps.js';
import { createMainSchema, onBothShards, resetShards, startMoveEnv, userHexDump, type MoveEnv } from '../helpers/move-env.js';

const num = (v: string | bigint) => new NumericLiteral(String(v));
const errnoOf = (err: unknown) => (err as { errno?: number; cause?: { errno?: number } }).errno ?? (err as { cause?: { errno?: number } }).cause?.errno;
const req = (over: Partial<MoveRequest> = {}): MoveRequest => ({
  userId: '42' as UserId,
  to: 2 as ShardId,
  dryRun: false,
  assumeNoWrites: false,
  chunkTimeMs: 500,
  chunkSize: 300,
  concurrency: 2,
  cleanup: 'keep',
  capture: 'auto',
  chunkPauseMs: 2,
  online: { freezeCapMs: 3000, drainMs: 0, maxDeltaPasses: 10, freezeAttempts: 3, readyRows: 200 },
  ...over,
});

const TABLES = ['NoteLikes', 'ItemNotes', 'AlbumItems', 'Albums'];
const ALBUM0 = 9007199254740993n;
const ITEM0 = 9007199264740993n;
const NOTE0 = 9007199274740993n;

/** The app: every few ms, on shard 1 only, an album deleted or renumbered, an item renumbered, a note deleted. */
class CascadingWriter {
  statements = 0;
  refused = 0;
  readonly errors: string[] = [];
  #running = false;
  #loop: Promise<void> | undefined;
  #n = 0;
  #next = 9007199284740993n;
  constructor(
    private readonly db: Db,
    private readonly albums: bigint,
    private readonly items: bigint,
    private readonly notes: bigint,
  ) {}
  start(): void {
    this.#running = true;
    this.#loop = (async () => {
      while (this.#running) {
        try {
          await this.step();
          this.statements++;
        } catch (err) {
          if (errnoOf(err) === 1644) this.refused++;
          else this.errors.push((err as Error).message);
        }
        await new Promise((r) => setTimeout(r, 4));
      }
    })();
  }
  async stop(): Promise<void> {
    this.#running = false;
    await this.#loop;
  }
  async step(): Promise<void> {
    const k = this.#n++;
    const pick = (base: bigint, count: bigint) => base + 2n * ((BigInt(k) * 7919n) % count);
    const fresh = (this.#next += 2n);
    switch (k % 5) {
      case 0: // two levels of CASCADE, then SET NULL, then CASCADE again
        await this.db.exec(sql`DELETE FROM Albums WHERE id = ${num(pick(ALBUM0, this.albums))} AND user_id = 42`);
        break;
      case 1: // ON UPDATE CASCADE into AlbumItems.album_id
        await this.db.exec(sql`UPDATE Albums SET id = ${num(fresh)} WHERE id = ${num(pick(ALBUM0, this.albums))} AND user_id = 42`);
        break;
      case 2: // ON UPDATE CASCADE into ItemNotes.item_id
        await this.db.exec(sql`UPDATE AlbumItems SET id = ${num(fresh)} WHERE id = ${num(pick(ITEM0, this.items))} AND user_id = 42`);
        break;
      case 3: // ON DELETE SET NULL into ItemNotes, whose likes stay
        await this.db.exec(sql`DELETE FROM AlbumItems WHERE id = ${num(pick(ITEM0 + 2n, this.items))} AND user_id = 42`);
        break;
      default: // ON DELETE CASCADE into NoteLikes
        await this.db.exec(sql`DELETE FROM ItemNotes WHERE id = ${num(pick(NOTE0 + 4n, this.notes))} AND user_id = 42`);
    }
  }
}

describe('trigger mode traces foreign-key cascades, which fire no trigger', () => {
  let env: MoveEnv;
  const dump = (s: 'a' | 'b', db: string, table: string) => userHexDump(env, s, db, table);

  beforeAll(async () => {
    env = await startMoveEnv({ name: 'cascades' });
    await createMainSchema(env, [
      { id: '42', shard: 1 },
      { id: '43', shard: 1 },
    ]);
    await onBothShards(env, [
      'CREATE TABLE Albums (id BIGINT UNSIGNED NOT NULL PRIMARY KEY, user_id INT UNSIGNED NOT NULL, title VARCHAR(100), KEY by_user (user_id))',
      `CREATE TABLE AlbumItems (id BIGINT UNSIGNED NOT NULL PRIMARY KEY, user_id INT UNSIGNED NOT NULL, album_id BIGINT UNSIGNED NOT NULL, note VARCHAR(100),
         KEY by_user (user_id), FOREIGN KEY (album_id) REFERENCES Albums (id) ON DELETE CASCADE ON UPDATE CASCADE)`,
      `CREATE TABLE ItemNotes (id BIGINT UNSIGNED NOT NULL PRIMARY KEY, user_id INT UNSIGNED NOT NULL, item_id BIGINT UNSIGNED NULL, body VARCHAR(100),
         KEY by_user (user_id), FOREIGN KEY (item_id) REFERENCES AlbumItems (id) ON DELETE SET NULL ON UPDATE CASCADE)`,
      `CREATE TABLE NoteLikes (id BIGINT UNSIGNED NOT NULL PRIMARY KEY, user_id INT UNSIGNED NOT NULL, note_id BIGINT UNSIGNED NOT NULL,
         KEY by_user (user_id), FOREIGN KEY (note_id) REFERENCES ItemNotes (id) ON DELETE CASCADE ON UPDATE CASCADE)`,
    ]);
  });

  afterAll(async () => {
    await env?.close();
  });

  async function seed(albums: number, perAlbum: number, notes: number): Promise<void> {
    await resetShards(env, TABLES);
    const src = env.db('a', 'users1');
    await src.exec(
      sql`INSERT INTO Albums (id, user_id, title) SELECT ${num(ALBUM0)} + 2 * (seq - 1), 42, CONCAT('album ', seq) FROM seq_1_to_${num(String(albums))}`,
    );
    await src.exec(
      sql`INSERT INTO AlbumItems SELECT ${num(ITEM0)} + 2 * (seq - 1), 42, ${num(ALBUM0)} + 2 * ((seq - 1) DIV ${num(String(perAlbum))}), CONCAT('item ', seq)
          FROM seq_1_to_${num(String(albums * perAlbum))}`,
    );
    await src.exec(
      sql`INSERT INTO ItemNotes SELECT ${num(NOTE0)} + 2 * (seq - 1), 42, ${num(ITEM0)} + 2 * ((seq * 3) % ${num(String(albums * perAlbum))}), CONCAT('note ', seq)
          FROM seq_1_to_${num(String(notes))}`,
    );
    await src.exec(sql`INSERT INTO NoteLikes SELECT ${num(NOTE0)} + 2 * (seq - 1) + 1, 42, ${num(NOTE0)} + 2 * (seq - 1) FROM seq_1_to_${num(String(notes))}`);
  }

  it('deletes and renumbers that cascade three levels down while the user moves: old and new shard identical, byte for byte', async () => {
    // FW_SHARD_CASCADE_ALBUMS=2000 FW_SHARD_CASCADE_NOTES=20000: the size of issue 21's report (60,000 items).
    const albums = Number(process.env.FW_SHARD_CASCADE_ALBUMS ?? 400);
    const perAlbum = 30;
    const notes = Number(process.env.FW_SHARD_CASCADE_NOTES ?? 4000);
    await seed(albums, perAlbum, notes);
    const writer = new CascadingWriter(env.db('a', 'users1'), BigInt(albums), BigInt(albums * perAlbum), BigInt(notes));
    const { deps, close } = makeDeps(env.topology, () => undefined);
    writer.start();
    try {
      const r = await runMove(deps, req());
      expect(r.ok, JSON.stringify(r.error)).toBe(true);
      expect(r.plan?.capture?.mode).toBe('trigger');
      expect(r.plan?.capture?.cascades?.join('\n')).toMatch(/AlbumItems\(album_id\) -> Albums\(id\)/);
      await new Promise((res) => setTimeout(res, 200)); // the app keeps writing to the old shard: refused
    } finally {
      await writer.stop();
      await close();
    }
    expect(writer.errors).toEqual([]);
    expect(writer.statements).toBeGreaterThan(50);
    expect(writer.refused).toBeGreaterThan(0);
    for (const t of TABLES) {
      const before = dump('a', 'users1', t);
      expect(before.length).toBeGreaterThan(0);
      expect(dump('b', 'users2', t), `${t} differs between the old shard and the new one`).toBe(before);
    }
    // The cascades did happen on the old shard while the move ran.
    const a = (q: string) => Number(env.cli('a', 'users1', q).trim());
    expect(a('SELECT COUNT(*) FROM ItemNotes WHERE user_id = 42 AND item_id IS NULL')).toBeGreaterThan(0);
    expect(a('SELECT COUNT(*) FROM AlbumItems WHERE user_id = 42')).toBeLessThan(albums * perAlbum);
    expect(a('SELECT COUNT(*) FROM NoteLikes WHERE user_id = 42')).toBeLessThan(notes);
    // No orphaned child on the new shard.
    expect(Number(env.cli('b', 'users2', 'SELECT COUNT(*) FROM AlbumItems i LEFT JOIN Albums a ON a.id = i.album_id WHERE a.id IS NULL').trim())).toBe(0);
  });

  it('a cascade from a table that does not move: its child is compared whole under the freeze, and --dry-run says so', async () => {
    await onBothShards(env, [
      'CREATE TABLE Licenses (id INT UNSIGNED NOT NULL PRIMARY KEY, name VARCHAR(20))',
      'INSERT INTO Licenses VALUES (1, "cc-by"), (2, "cc0")',
      'ALTER TABLE Albums ADD COLUMN license_id INT UNSIGNED NULL, ADD FOREIGN KEY (license_id) REFERENCES Licenses (id) ON DELETE SET NULL',
    ]);
    try {
      await seed(50, 4, 100);
      await env.db('a', 'users1').exec(sql`UPDATE Albums SET license_id = 2 WHERE user_id = 42`);
      const topology = { ...env.topology, tables: { ...env.topology.tables, exclude: ['Licenses'] } };
      const dry = makeDeps(topology, () => undefined);
      try {
        const r = await runMove(dry.deps, req({ dryRun: true, allowForeignKeys: true }));
        expect(r.ok, JSON.stringify(r.error)).toBe(true);
        expect(r.plan?.capture?.cascades?.join('\n')).toMatch(
          /Albums: compared whole, live, under the freeze, because ON DELETE SET NULL of Licenses, which does not move/,
        );
      } finally {
        await dry.close();
      }
      // The license goes while the user moves: the albums' SET NULL fires no trigger, and is still carried over.
      let deleted = false;
      const lifted: string[] = [];
      const live = makeDeps(topology, (e) => {
        if (e.type === 'freeze.lifted') lifted.push(`${e.flipped}: ${e.reason}`);
        // After the full comparison, before the freeze: the mariadb client runs synchronously, so the
        // delete has committed when the freeze begins.
        if (e.type === 'freeze.started' && !deleted) {
          deleted = true;
          env.cli('a', 'users1', 'DELETE FROM Licenses WHERE id = 2');
        }
      });
      try {
        const r = await runMove(live.deps, req({ allowForeignKeys: true, online: { ...req().online!, freezeAttempts: 5 } }));
        expect(r.ok, JSON.stringify(r.error)).toBe(true);
      } finally {
        await live.close();
      }
      // The first freeze saw the unlogged change in its whole comparison and did not flip; the next one did.
      expect(lifted[0]).toMatch(/^false: rows differ after the final sync \(Albums \(compared whole, differs\)\)/);
      expect(lifted.at(-1)).toMatch(/^true/);
      expect(env.cli('a', 'users1', 'SELECT COUNT(*) FROM Albums WHERE user_id = 42 AND license_id IS NOT NULL').trim()).toBe('0');
      expect(dump('b', 'users2', 'Albums')).toBe(dump('a', 'users1', 'Albums'));
    } finally {
      await onBothShards(env, ['ALTER TABLE Albums DROP FOREIGN KEY Albums_ibfk_1', 'ALTER TABLE Albums DROP COLUMN license_id', 'DROP TABLE Licenses']);
    }
  });

  it("another user's rows in the middle of a chain: the user's notes on them are carried over when a cascade goes through them", async () => {
    // Album of user 42 holding items of user 43, with notes of user 42 on those items. Deleting the
    // album cascades into 43's items (nothing of 42 logged, and the items are gone from both servers
    // afterwards) and sets 42's notes' item_id NULL.
    await seed(10, 4, 1);
    const src = env.db('a', 'users1');
    await src.exec(sql`UPDATE AlbumItems SET user_id = 43 WHERE album_id = ${num(ALBUM0)}`);
    await src.exec(sql`DELETE FROM ItemNotes`);
    await src.exec(
      sql`INSERT INTO ItemNotes SELECT ${num(NOTE0)} + 2 * (seq - 1), 42, ${num(ITEM0)} + 2 * ((seq - 1) % 4), CONCAT('note ', seq) FROM seq_1_to_8`,
    );
    let deleted = false;
    const { deps, close } = makeDeps(env.topology, (e) => {
      // After the full comparison, before the freeze (synchronous: committed when the freeze begins).
      if (e.type === 'freeze.started' && !deleted) {
        deleted = true;
        env.cli('a', 'users1', `DELETE FROM Albums WHERE id = ${ALBUM0}`);
      }
    });
    try {
      const r = await runMove(deps, req());
      expect(r.ok, JSON.stringify(r.error)).toBe(true);
    } finally {
      await close();
    }
    expect(deleted).toBe(true);
    expect(env.cli('a', 'users1', 'SELECT COUNT(*) FROM ItemNotes WHERE user_id = 42 AND item_id IS NULL').trim()).toBe('8');
    for (const t of TABLES) expect(dump('b', 'users2', t), t).toBe(dump('a', 'users1', t));
  });

  it('a session that merely sets @fw_shard_writer is fenced and logged like any other', async () => {
    await seed(20, 2, 10);
    const { deps, close } = makeDeps(env.topology, () => undefined);
    try {
      expect((await runMove(deps, req())).ok).toBe(true);
    } finally {
      await close();
    }
    let refused: unknown = null;
    try {
      env.cli('a', 'users1', `SET @fw_shard_writer = 1; UPDATE Albums SET title = 'stale' WHERE user_id = 42`);
    } catch (err) {
      refused = err;
    }
    expect(String((refused as { stderr?: string })?.stderr ?? refused)).toMatch(/user moved to another shard/);
    expect(env.cli('a', 'users1', `SELECT COUNT(*) FROM Albums WHERE title = 'stale'`).trim()).toBe('0');
  });
});

/**
 * A move must never lose rows through side effects on the target (issue: a foreign-key cascade emptied
 * a child table while the move said done, and cleanup then deleted the source). Two real servers; per-user
 * parent and child tables joined by a foreign key (ON DELETE CASCADE, ON UPDATE CASCADE, ON DELETE SET
 * NULL); an app renaming the user's albums on the shard cluster_id names while the user moves, online
 * and offline, with every cleanup mode. Then: changes made on the target behind fw-shard's back, before
 * the flip (the move must not flip and must name the rows) and after it (cleanup keeps the source rows).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NumericLiteral, raw, sql } from '../../src/db/sql/fragment.js';
import { isFrozenSql } from '../../src/db/sql/freeze.js';
import { MOVED_MESSAGE, MOVING_MESSAGE } from '../../src/db/sql/guard.js';
import type { Db } from '../../src/db/pool.js';
import { resumeMove, runDeferredCleanups, runMove } from '../../src/move/engine.js';
import { Applier } from '../../src/move/applier.js';
import { Inspector } from '../../src/move/inspector.js';
import { planTable } from '../../src/move/table-plan.js';
import { FwShardError } from '../../src/errors/index.js';
import type { MoveRequest, MoveResult } from '../../src/move/types.js';
import type { MoveEvent } from '../../src/events/types.js';
import type { ShardId, UserId } from '../../src/topology/index.js';
import { makeDeps } from '../../src/app/deps.js';
import { createMainSchema, resetShards, startMoveEnv, type MoveEnv } from '../helpers/move-env.js';

const USER = '9';
const ALBUM0 = 9007199254740993n; // ticketed ids above 2^53

type Variant = { name: string; fk: string; nullable: boolean };
const VARIANTS: Variant[] = [
  { name: 'ON DELETE CASCADE', fk: 'ON DELETE CASCADE', nullable: false },
  { name: 'ON UPDATE CASCADE (delete restricted)', fk: 'ON UPDATE CASCADE', nullable: false },
  { name: 'ON DELETE SET NULL', fk: 'ON DELETE SET NULL', nullable: true },
];

const ddl = (v: Variant) => [
  'DROP TABLE IF EXISTS AlbumItems',
  'DROP TABLE IF EXISTS Albums',
  'CREATE TABLE Albums (id BIGINT UNSIGNED NOT NULL PRIMARY KEY, user_id INT UNSIGNED NOT NULL, title VARCHAR(200) CHARACTER SET utf8mb4, KEY by_user (user_id)) ENGINE=InnoDB',
  `CREATE TABLE AlbumItems (id BIGINT UNSIGNED NOT NULL PRIMARY KEY, user_id INT UNSIGNED NOT NULL, album_id BIGINT UNSIGNED ${v.nullable ? 'NULL' : 'NOT NULL'}, note VARCHAR(200) CHARACTER SET latin1,
     KEY by_user (user_id), FOREIGN KEY (album_id) REFERENCES Albums(id) ${v.fk}) ENGINE=InnoDB`,
];

const req = (over: Partial<MoveRequest> = {}): MoveRequest => ({
  userId: USER as UserId,
  to: 2 as ShardId,
  dryRun: false,
  assumeNoWrites: false,
  chunkTimeMs: 500,
  chunkSize: 5,
  concurrency: 2,
  cleanup: 'now',
  online: { freezeCapMs: 5000, drainMs: 50, maxDeltaPasses: 10, freezeAttempts: 3, readyRows: 5000 },
  ...over,
});

/** The app: renames one of the user's albums on the shard cluster_id names, honouring the freeze. */
class Renamer {
  readonly last = new Map<string, string>();
  writes = 0;
  refused = 0;
  #running = false;
  #loop: Promise<void> | undefined;
  constructor(
    private readonly main: Db,
    private readonly shards: Map<number, Db>,
  ) {}
  start(): void {
    this.#running = true;
    this.#loop = (async () => {
      while (this.#running) {
        const [f] = await this.main.rows<{ frozen: string }>(isFrozenSql(USER)).catch(() => [{ frozen: '0' }]);
        if (Number(f?.frozen ?? 0) === 0) {
          const [u] = await this.main.rows<{ cluster_id: string }>(sql`SELECT cluster_id FROM users WHERE id = ${new NumericLiteral(USER)}`);
          const id = (ALBUM0 + 2n * BigInt(this.writes % 20)).toString();
          const title = `renamed ${this.writes} ☃`;
          // A write the shard-side fence refuses (error 1644) is an error the app sees: not acknowledged.
          const r = await this.shards
            .get(Number(u!.cluster_id))!
            .exec(sql`UPDATE Albums SET title = ${title} WHERE id = ${new NumericLiteral(id)} AND user_id = ${new NumericLiteral(USER)}`)
            .catch((err: { errno?: number; cause?: { errno?: number } }) => {
              if ((err.errno ?? err.cause?.errno) !== 1644) throw err;
              this.refused++;
              return { affectedRows: 0 };
            });
          if (r.affectedRows === 1) this.last.set(id, title);
          this.writes++;
        }
        await new Promise((r) => setTimeout(r, 15));
      }
    })();
  }
  async stop(): Promise<void> {
    this.#running = false;
    await this.#loop;
  }
}

describe('no side effects of fw-shard writes, and no flip or delete without a live comparison', () => {
  let env: MoveEnv;
  let items: string; // user 9's AlbumItems on shard 1 before any move, every column in hex

  /** A table with a unique key that holds the owner (user_id, name) on both shards; 60 rows of the user on the source. */
  const createTags = () => {
    const ddl =
      'CREATE TABLE Tags (id BIGINT UNSIGNED NOT NULL PRIMARY KEY, user_id INT UNSIGNED NOT NULL, name VARCHAR(40) NOT NULL, UNIQUE KEY by_name (user_id, name)) ENGINE=InnoDB';
    for (const [sv, d] of [
      ['a', 'users1'],
      ['b', 'users2'],
    ] as const)
      env.cli(sv, d, `DROP TABLE IF EXISTS Tags; ${ddl}`);
    env.cli('a', 'users1', `INSERT INTO Tags SELECT seq, ${USER}, CONCAT('tag ', seq) FROM seq_1_to_60`);
  };
  const hexRows = (s: 'a' | 'b', db: string, table: string) =>
    env.cli(s, db, `SELECT HEX(id), HEX(user_id), HEX(IFNULL(album_id, 'null')), HEX(IFNULL(note, 'null')) FROM ${table} WHERE user_id = ${USER} ORDER BY id`);
  const albums = (s: 'a' | 'b', db: string) =>
    new Map(
      Buffer.from(env.cli(s, db, `SELECT id, title FROM Albums WHERE user_id = ${USER}`), 'latin1')
        .toString('utf8')
        .trim()
        .split('\n')
        .filter(Boolean)
        .map((l) => l.split('\t') as [string, string]),
    );
  const count = (s: 'a' | 'b', db: string, table: string) => Number(env.cli(s, db, `SELECT COUNT(*) FROM ${table} WHERE user_id = ${USER}`).trim());
  const shardOf = () => Number(env.cli('a', 'flamework', `SELECT cluster_id FROM users WHERE id = ${USER}`).trim());

  async function reset(v: Variant): Promise<void> {
    await resetShards(env, []); // the tables are dropped and made again below, for the variant
    for (const [s, d] of [
      ['a', 'users1'],
      ['b', 'users2'],
    ] as const) {
      const db = env.db(s, d);
      for (const q of ddl(v)) await db.exec(sql`${raw(q)}`);
    }
    const src = env.db('a', 'users1');
    // 20 albums of user 9 (and 5 of user 10), 20 items per album of user 9.
    await src.exec(
      sql`INSERT INTO Albums SELECT ${new NumericLiteral(ALBUM0.toString())} + (seq - 1) * 2, ${new NumericLiteral(USER)}, CONCAT('album ', seq) FROM seq_1_to_20`,
    );
    await src.exec(sql`INSERT INTO Albums SELECT 100 + seq, 10, CONCAT('other ', seq) FROM seq_1_to_5`);
    await src.exec(
      sql`INSERT INTO AlbumItems SELECT 9007199254800001 + seq * 2, ${new NumericLiteral(USER)}, ${new NumericLiteral(ALBUM0.toString())} + ((seq - 1) % 20) * 2, CONCAT('item ', seq, _latin1 x'e9') FROM seq_1_to_400`,
    );
    items = hexRows('a', 'users1', 'AlbumItems');
    expect(items.trim().split('\n')).toHaveLength(400);
  }

  beforeAll(async () => {
    env = await startMoveEnv({ name: 'side-effects' });
    await createMainSchema(env, [
      { id: USER, shard: 1 },
      { id: '10', shard: 1 },
    ]);
  });

  afterAll(async () => {
    await env?.close();
  });

  /** Run a move while the app renames albums: from the start (online) or during the copy only (offline). */
  async function moveWithRenames(over: Partial<MoveRequest>): Promise<{ result: MoveResult; app: Renamer }> {
    const app = new Renamer(
      env.db('a', 'flamework'),
      new Map([
        [1, env.db('a', 'users1')],
        [2, env.db('b', 'users2')],
      ]),
    );
    const offline = over.assumeNoWrites === true;
    const { deps, close } = makeDeps(env.topology, (e: MoveEvent) => {
      // Offline means the operator stopped the writes; here a last burst of renames lands between the
      // copy and the verification, so the verification must re-copy album ranges (whose parent rows a
      // cascade would once have taken the items with).
      if (offline && e.type === 'phase.started' && e.phase === 'verify') {
        env.cli('a', 'users1', `UPDATE Albums SET title = CONCAT('renamed offline ', id, ' ☃') WHERE user_id = ${USER} AND (id DIV 2) % 3 = 0`);
        for (const [id, title] of albums('a', 'users1')) app.last.set(id, title);
      }
    });
    if (!offline) app.start();
    try {
      const result = await runMove(deps, req(over));
      return { result, app };
    } finally {
      await app.stop();
      await close();
    }
  }

  /** Every item byte for byte on the target; every album with its last acknowledged title. */
  function expectTargetComplete(app: Renamer): void {
    expect(hexRows('b', 'users2', 'AlbumItems')).toBe(items);
    const onTarget = albums('b', 'users2');
    expect(onTarget.size).toBe(20);
    for (const [id, title] of app.last) expect(onTarget.get(id), `album ${id}`).toBe(title);
  }

  for (const v of VARIANTS) {
    for (const cleanup of ['now', 'defer', 'keep'] as const) {
      it(`online, ${v.name}, --cleanup ${cleanup}: every child row arrives, the source goes only after`, async () => {
        await reset(v);
        const { result, app } = await moveWithRenames({ cleanup });
        expect(result.ok, result.nextStep).toBe(true);
        expect(app.writes).toBeGreaterThan(0);
        expect(shardOf()).toBe(2);
        expectTargetComplete(app);
        if (cleanup === 'now') {
          expect(count('a', 'users1', 'AlbumItems')).toBe(0);
          // Albums the app renamed on shard 2 between the flip and the cleanup are not proven there any
          // more: their old versions stay on shard 1, and the result says so. Every other one is gone.
          const left = albums('a', 'users1');
          const target = albums('b', 'users2');
          for (const [id, title] of left) expect(target.get(id), `album ${id} kept on shard 1`).not.toBe(title);
          if (left.size > 0) expect(result.nextStep).toMatch(new RegExp(`${left.size} old version\\(s\\).*fw-shard verify --user ${USER}`));
        } else {
          expect(hexRows('a', 'users1', 'AlbumItems')).toBe(items);
        }
        expect(env.cli('a', 'users1', 'SELECT COUNT(*) FROM Albums WHERE user_id = 10').trim()).toBe('5');
      });
    }
  }

  for (const cleanup of ['now', 'defer', 'keep'] as const) {
    it(`offline, ON DELETE CASCADE, renames between copy and verification, --cleanup ${cleanup}: verified re-copies cascade nowhere`, async () => {
      await reset(VARIANTS[0]!);
      const { result, app } = await moveWithRenames({ assumeNoWrites: true, cleanup });
      expect(result.ok, result.nextStep).toBe(true);
      // The verification did re-copy album ranges (the renames after the copy), and no item went with them.
      expect(result.tables.find((t) => t.name === 'Albums')?.mismatches).toBeGreaterThan(0);
      expect(shardOf()).toBe(2);
      expectTargetComplete(app);
      if (cleanup === 'now') expect(count('a', 'users1', 'AlbumItems') + count('a', 'users1', 'Albums')).toBe(0);
      else expect(hexRows('a', 'users1', 'AlbumItems')).toBe(items);
    });
  }

  for (const concurrency of [1, 2]) {
    it(`copies parent and child with --concurrency ${concurrency}, child table first by name, no FK error or skipped row`, async () => {
      await reset(VARIANTS[1]!);
      const { deps, close } = makeDeps(env.topology, () => undefined);
      try {
        const r = await runMove(deps, req({ assumeNoWrites: true, concurrency, chunkSize: 7 }));
        expect(r.ok).toBe(true);
      } finally {
        await close();
      }
      expect(hexRows('b', 'users2', 'AlbumItems')).toBe(items);
      expect(count('b', 'users2', 'Albums')).toBe(20);
    });
  }

  async function expectMismatch(p: Promise<unknown>): Promise<FwShardError> {
    try {
      await p;
    } catch (err) {
      expect(err).toBeInstanceOf(FwShardError);
      expect((err as FwShardError).code, (err as Error).message).toBe('DATA_MISMATCH');
      return err as FwShardError;
    }
    throw new Error('expected DATA_MISMATCH, but the move succeeded');
  }

  for (const mode of ['offline', 'online'] as const) {
    it(`${mode}: rows changed on the target behind fw-shard's back before the flip: no flip, the rows are named`, async () => {
      await reset(VARIANTS[0]!);
      let done = false;
      const { deps, close } = makeDeps(env.topology, (e: MoveEvent) => {
        // Right after the copy: a stray writer deletes one child row and changes another on the target.
        if (!done && e.type === 'phase.started' && (e.phase === 'verify' || e.phase === 'delta')) {
          done = true;
          env.cli(
            'b',
            'users2',
            `SET foreign_key_checks = 0; DELETE FROM AlbumItems WHERE id = 9007199254800003; UPDATE AlbumItems SET note = 'stray' WHERE id = 9007199254800005`,
          );
        }
      });
      try {
        const err = await expectMismatch(runMove(deps, req({ assumeNoWrites: mode === 'offline', capture: 'rehash' })));
        expect(err.message).toMatch(/id=9007199254800003/);
        expect(err.message).toMatch(/id=9007199254800005/);
        expect(err.message).toMatch(/mapping was NOT flipped/);
        expect(err.hint).toMatch(/fw-shard abort \d+/);
      } finally {
        await close();
      }
      expect(shardOf()).toBe(1);
      expect(hexRows('a', 'users1', 'AlbumItems')).toBe(items);
    });
  }

  it("online, trigger mode: the app's writes of the user on the target are refused before the flip, and the move is unharmed", async () => {
    await reset(VARIANTS[0]!);
    let tried = '';
    const { deps, close } = makeDeps(env.topology, (e: MoveEvent) => {
      if (!tried && e.type === 'delta.pass') {
        try {
          env.cli('b', 'users2', `DELETE FROM AlbumItems WHERE id = 9007199254800003`);
          tried = 'written';
        } catch (err) {
          tried = String((err as { stderr?: string }).stderr ?? err);
        }
      }
    });
    try {
      const r = await runMove(deps, req({ capture: 'trigger', cleanup: 'now' }));
      expect(r.ok, r.nextStep).toBe(true);
      expect(r.plan?.capture?.mode).toBe('trigger');
    } finally {
      await close();
    }
    expect(tried).toMatch(/ERROR 1644 .*fw-shard: user is being moved; retry in a moment/);
    expect(hexRows('b', 'users2', 'AlbumItems')).toBe(items);
    expect(count('a', 'users1', 'AlbumItems')).toBe(0);
  });

  it('after the flip: source rows whose target changed are old versions, proven by the final verification: deleted with the rest', async () => {
    await reset(VARIANTS[0]!);
    const { deps, close } = makeDeps(env.topology, () => undefined);
    const base = { assumeNoWrites: true, chunkTimeMs: 500, chunkSize: 5, concurrency: 1, dryRun: false };
    try {
      const r = await runMove(deps, req({ assumeNoWrites: true, cleanup: 'defer' }));
      expect(r.phase).toBe('cleanup-pending');
      // Changed on the target after the flip: one row deleted there, one changed.
      env.cli(
        'b',
        'users2',
        `SET foreign_key_checks = 0; DELETE FROM AlbumItems WHERE id = 9007199254800003; UPDATE AlbumItems SET note = 'changed on 2' WHERE id = 9007199254800005`,
      );
      const before = hexRows('b', 'users2', 'AlbumItems');
      const [done] = await runDeferredCleanups(deps, 0, base);
      expect(done?.ok).toBe(true);
      // The old shard's ranges still hash as the final verification recorded them: the same bytes the
      // new shard had then, unchanged since. What the app did on the new shard afterwards does not matter.
      expect(done?.nextStep).toMatch(/rows were deleted from shard 1, each range proven unchanged since the final verification/);
      expect(count('a', 'users1', 'AlbumItems')).toBe(0);
      expect(count('a', 'users1', 'Albums')).toBe(0);
      // The new shard is untouched by the cleanup.
      expect(hexRows('b', 'users2', 'AlbumItems')).toBe(before);
      expect(env.cli('b', 'users2', `SELECT note FROM AlbumItems WHERE id = 9007199254800005`).trim()).toBe('changed on 2');
      // The move is finished (not stuck) and nothing is due any more.
      expect(env.cli('a', 'flamework', 'SELECT state, phase FROM fw_shard_moves').trim()).toBe('done\tdone');
      expect(await runDeferredCleanups(deps, 0, base)).toEqual([]);
    } finally {
      await close();
    }
  });

  it('after the flip: a write that reached the old shard is kept and reported as an error; the hint works', async () => {
    await reset(VARIANTS[0]!);
    const { deps, close } = makeDeps(env.topology, () => undefined);
    const base = { assumeNoWrites: true, chunkTimeMs: 500, chunkSize: 5, concurrency: 1, dryRun: false };
    try {
      const r = await runMove(deps, req({ assumeNoWrites: true, cleanup: 'defer' }));
      expect(r.phase).toBe('cleanup-pending');
      env.cli('a', 'users1', `UPDATE AlbumItems SET note = 'stale app server' WHERE id = 9007199254800007`);
      const err = await expectMismatch(runDeferredCleanups(deps, 0, base));
      expect(err.message).toMatch(/id=9007199254800007/);
      expect(err.message).toMatch(/mapping WAS flipped/);
      expect(env.cli('a', 'users1', `SELECT note FROM AlbumItems WHERE user_id = ${USER}`).trim()).toBe('stale app server');
      expect(env.cli('a', 'flamework', 'SELECT state, phase FROM fw_shard_moves').trim()).toBe('done\tdone');
      expect(err.hint).toMatch(/fw-shard verify --user 9 --json lists them/);
      expect(await runDeferredCleanups(deps, 0, base)).toEqual([]);
    } finally {
      await close();
    }
  });

  it('a write the target warns about fails its chunk (rolled back, exit 6), never a silently skipped or changed row', async () => {
    await reset(VARIANTS[0]!);
    // A row of the user that appeared on the target during the copy (not fw-shard's) holds the unique
    // name of a row in a later chunk: LOAD DATA LOCAL would skip that row with a warning. Offline, the
    // chunk fails (no other owner holds the value, so it is no collision), nothing of it is kept.
    createTags();
    let planted = false;
    const { deps, close } = makeDeps(env.topology, (e: MoveEvent) => {
      if (!planted && e.type === 'phase.started' && e.phase === 'copy') {
        planted = true;
        env.cli('b', 'users2', `INSERT INTO Tags VALUES (1000, ${USER}, 'tag 30')`);
      }
    });
    try {
      let err: FwShardError | undefined;
      await runMove(deps, req({ assumeNoWrites: true, concurrency: 1 })).catch((e: FwShardError) => (err = e));
      expect(err?.code, err?.message).toBe('WRITE_WARNING');
      expect(err?.exitCode).toBe(6);
      expect(err?.message).toMatch(/table Tags: the target server raised \d+ warning\(s\).*Duplicate entry '9-tag 30'/s);
      expect(err?.message).toMatch(/mapping was NOT flipped/);
      expect(err?.hint).toMatch(/fw-shard (resume|abort) \d+/);
      expect(shardOf()).toBe(1);
      // The chunk (25, 30] was rolled back: none of its rows is on the target.
      expect(env.cli('b', 'users2', `SELECT COUNT(*) FROM Tags WHERE id BETWEEN 26 AND 30`).trim()).toBe('0');
    } finally {
      await close();
      for (const [sv, d] of [
        ['a', 'users1'],
        ['b', 'users2'],
      ] as const)
        env.cli(sv, d, 'DROP TABLE IF EXISTS Tags');
    }
  });

  it('a key another owner holds on the target fails its chunk on insert (KEY_COLLISION, rolled back), never a skipped row', async () => {
    await reset(VARIANTS[0]!);
    // After the move started, someone inserts a row with one of the user's ids under another owner on the
    // target. LOAD DATA LOCAL skips a duplicate key with a warning instead of an error.
    let planted = false;
    const { deps, close } = makeDeps(env.topology, (e: MoveEvent) => {
      if (!planted && e.type === 'phase.started' && e.phase === 'copy') {
        planted = true;
        env.cli('b', 'users2', `SET foreign_key_checks = 0; INSERT INTO AlbumItems VALUES (9007199254800011, 10, 1, 'not yours')`);
      }
    });
    try {
      let err: FwShardError | undefined;
      await runMove(deps, req({ assumeNoWrites: true, concurrency: 1 })).catch((e: FwShardError) => (err = e));
      expect(err?.code, err?.message).toBe('KEY_COLLISION');
      expect(err?.exitCode).toBe(5);
      expect(err?.message).toMatch(/AlbumItems: id=9007199254800011 belongs to user_id=10 on shard 2/);
      expect(err?.message).toMatch(/mapping was NOT flipped/);
      expect(err?.hint).toMatch(/fw-shard (resume|abort) \d+/);
      expect(shardOf()).toBe(1);
      // The chunk that warned was rolled back: no row of it is on the target, the stranger's row is intact.
      expect(env.cli('b', 'users2', 'SELECT COUNT(*) FROM AlbumItems WHERE id BETWEEN 9007199254800003 AND 9007199254800011 AND user_id = 9').trim()).toBe('0');
      expect(env.cli('b', 'users2', 'SELECT user_id, note FROM AlbumItems WHERE id = 9007199254800011').trim()).toBe('10\tnot yours');
      expect(hexRows('a', 'users1', 'AlbumItems')).toBe(items);
    } finally {
      await close();
      env.cli('b', 'users2', 'DELETE FROM AlbumItems WHERE user_id = 10');
    }
  });

  it('online: a unique value the app moves from one row to another never blocks the move', async () => {
    await reset(VARIANTS[0]!);
    createTags();
    const src = env.db('a', 'users1');
    let n = 0;
    let committed = 0;
    let running = true;
    let frozen = false;
    // The app hands the name of a later row to an earlier one: the target's stale copy of the later row
    // still holds the name when the earlier row's range is repaired.
    const app = (async () => {
      while (running) {
        const [hi, lo] = [60 - (n % 25), 1 + (n % 25)];
        // Like any app, it runs a transaction again when the server picks it as a deadlock victim.
        for (let attempt = 0; attempt < 5; attempt++) {
          const ok = await src
            .transaction(
              async (t) => {
                const [row] = await t.rows<{ name: Buffer }>(sql`SELECT name FROM Tags WHERE id = ${hi}`);
                await t.exec(sql`UPDATE Tags SET name = ${`freed ${n}`} WHERE id = ${hi}`);
                await t.exec(sql`UPDATE Tags SET name = ${Buffer.from(row!.name)} WHERE id = ${lo}`);
              },
              { binary: false },
            )
            .then(() => true)
            .catch((err: { message?: string; errno?: number; cause?: { errno?: number }; details?: { errno?: number } }) => {
              const errno = err.errno ?? err.cause?.errno ?? err.details?.errno;
              if (errno === 1213 || errno === 1205) return false;
              // The shard-side fence refuses a transaction still in flight when the freeze begins: the app
              // sees the error, nothing of it is committed, and it would re-read cluster_id (here: it stops).
              // Only then: a refusal before the freeze would be a fault of the fence.
              const fenced = errno === 1644 && [MOVED_MESSAGE, MOVING_MESSAGE].some((m) => err.message?.includes(m));
              if (fenced && frozen) return 'fenced' as const;
              throw err;
            });
          if (ok === true) committed++;
          if (ok === 'fenced') running = false;
          if (ok) break;
        }
        n++;
        await new Promise((r) => setTimeout(r, 10));
      }
    })();
    app.catch(() => undefined); // handled: awaited below, where its error fails the test
    const { deps, close } = makeDeps(env.topology, (e: MoveEvent) => {
      if (e.type !== 'freeze.started') return;
      frozen = true;
      running = false; // the app honours the freeze (and stops)
    });
    try {
      const r = await runMove(deps, req({ cleanup: 'keep', chunkSize: 10 }));
      expect(r.ok, r.nextStep).toBe(true);
      running = false;
      await app;
      expect(committed).toBeGreaterThan(0); // the app's writes did run during the move
      expect(env.cli('b', 'users2', `SELECT id, HEX(name) FROM Tags WHERE user_id = ${USER} ORDER BY id`)).toBe(
        env.cli('a', 'users1', `SELECT id, HEX(name) FROM Tags WHERE user_id = ${USER} ORDER BY id`),
      );
    } finally {
      running = false;
      await app.catch(() => undefined);
      await close();
      for (const [sv, d] of [
        ['a', 'users1'],
        ['b', 'users2'],
      ] as const)
        env.cli(sv, d, 'DROP TABLE IF EXISTS Tags');
    }
  });

  it('a table added to the selection while a move waits in its delta passes is copied and compared before the flip', async () => {
    await reset(VARIANTS[0]!);
    const ac = new AbortController();
    const { deps, close } = makeDeps(env.topology, (e: MoveEvent) => {
      if (e.type === 'delta.pass') ac.abort();
    });
    try {
      let stopped: FwShardError | undefined;
      await runMove(deps, req({ cleanup: 'now' }), { signal: ac.signal }).catch((e: FwShardError) => (stopped = e));
      expect(stopped?.code).toBe('INTERRUPTED');
      const moveId = /move (\d+) can be resumed/.exec(stopped!.message)![1]!;
      // A deploy adds a per-user table meanwhile.
      for (const [sv, d] of [
        ['a', 'users1'],
        ['b', 'users2'],
      ] as const)
        env.cli(
          sv,
          d,
          'DROP TABLE IF EXISTS Notes; CREATE TABLE Notes (id BIGINT UNSIGNED NOT NULL PRIMARY KEY, user_id INT UNSIGNED NOT NULL, body TEXT) ENGINE=InnoDB',
        );
      env.cli('a', 'users1', `INSERT INTO Notes SELECT seq, ${USER}, CONCAT('note ', seq) FROM seq_1_to_30`);
      const notes = env.cli('a', 'users1', `SELECT id, HEX(body) FROM Notes WHERE user_id = ${USER} ORDER BY id`);
      const r = await resumeMove(deps, moveId, { assumeNoWrites: false, chunkTimeMs: 500, chunkSize: 5, concurrency: 2, dryRun: false, online: req().online! });
      expect(r.ok, r.nextStep).toBe(true);
      expect(r.phase).toBe('done');
      expect(env.cli('b', 'users2', `SELECT id, HEX(body) FROM Notes WHERE user_id = ${USER} ORDER BY id`)).toBe(notes);
      expect(count('a', 'users1', 'Notes')).toBe(0);
      expect(hexRows('b', 'users2', 'AlbumItems')).toBe(items);
    } finally {
      await close();
      for (const [sv, d] of [
        ['a', 'users1'],
        ['b', 'users2'],
      ] as const)
        env.cli(sv, d, 'DROP TABLE IF EXISTS Notes');
    }
  });

  it('cleanup: a row inserted into a source range while it is compared is neither deleted nor lost (READ COMMITTED server)', async () => {
    await reset(VARIANTS[0]!);
    env.cli('a', 'mysql', "SET GLOBAL tx_isolation = 'READ-COMMITTED'");
    const { deps, close } = makeDeps(env.topology, () => undefined);
    try {
      const r = await runMove(deps, req({ assumeNoWrites: true, cleanup: 'keep' }));
      expect(r.ok).toBe(true);
      // Clean one range by hand with a target whose hash is slow: a stale app server inserts into the range meanwhile.
      const source = env.db('a', 'users1');
      const target = env.db('b', 'users2');
      const spec = planTable((await new Inspector(source).schema()).get('AlbumItems')!, 'user_id');
      let inserted: Promise<unknown> | undefined;
      const slowTarget = new Inspector({
        endpoint: target.endpoint,
        rows: async (q) => {
          inserted ??= env
            .db('a', 'users1')
            .exec(sql`INSERT INTO AlbumItems VALUES (9007199254800002, ${new NumericLiteral(USER)}, ${new NumericLiteral(ALBUM0.toString())}, 'stale write')`)
            .catch((e: Error) => e);
          await new Promise((res) => setTimeout(res, 300));
          return target.rows(q);
        },
        rawRows: (q) => target.rawRows(q),
        rawRowsUpTo: (q, n) => target.rawRowsUpTo(q, n),
        streamRows: (q, n, attempt) => target.streamRows(q, n, attempt),
      });
      const res = await new Applier(source).deleteRangeIfOnTarget(spec, USER, null, [Buffer.from('9007199254800011')], slowTarget);
      await inserted;
      // Whatever the interleaving: the compared rows went only if proven; the stale write is on shard 1.
      expect(res.deleted).toBeLessThanOrEqual(5);
      expect(env.cli('a', 'users1', 'SELECT note FROM AlbumItems WHERE id = 9007199254800002').trim()).toBe('stale write');
      expect(env.cli('b', 'users2', `SELECT COUNT(*) FROM AlbumItems WHERE user_id = ${USER}`).trim()).toBe('400');
    } finally {
      await close();
      env.cli('a', 'mysql', "SET GLOBAL tx_isolation = 'REPEATABLE-READ'");
    }
  });

  it("the app's triggers on a moved table refuse the move unless allowed", async () => {
    await reset(VARIANTS[0]!);
    env.cli(
      'b',
      'users2',
      `CREATE TABLE Counter (n INT NOT NULL); INSERT INTO Counter VALUES (0);
      CREATE TRIGGER count_items AFTER INSERT ON AlbumItems FOR EACH ROW UPDATE Counter SET n = n + 1`,
    );
    const { deps, close } = makeDeps(env.topology, () => undefined);
    try {
      let refused: FwShardError | undefined;
      await runMove(deps, req({ assumeNoWrites: true })).catch((e: FwShardError) => (refused = e));
      expect(refused?.code).toBe('PRECONDITION');
      expect(refused?.exitCode).toBe(5);
      expect(refused?.message).toMatch(/count_items.*AFTER INSERT.*AlbumItems.*shard 2/s);
      expect(refused?.hint).toMatch(/--allow-triggers/);
      expect(count('b', 'users2', 'AlbumItems')).toBe(0);
      const r = await runMove(deps, req({ assumeNoWrites: true, allowTriggers: true }));
      expect(r.ok).toBe(true);
      expect(hexRows('b', 'users2', 'AlbumItems')).toBe(items);
    } finally {
      await close();
      env.cli('b', 'users2', 'DROP TRIGGER IF EXISTS count_items; DROP TABLE IF EXISTS Counter');
    }
  });
});

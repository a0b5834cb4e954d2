/**
 * Shared rows (issue 26): smol.archive's archived items, `smol_item_twitter`, are referred to by the
 * archive rows of every user who took them (tables.shared `id <- smol_archive.item_id`). A move copies
 * the items the user's rows refer to when the target lacks them, keeps the target's own when they are
 * the same bytes, refuses when they are not, and its cleanup (and abort, undo) never deletes an item
 * another user's rows on that shard still refer to. Checked with the mariadb client, not fw-shard's SQL.
 *
 * The fleet: users 42 and 43 on shard 1, user 44 on shard 2. 42's archive refers to items 1..30, 43's
 * to 25..34 (six shared with 42), items 35..40 are nobody's; 44's archive on shard 2 refers to copies
 * of items 5..8 and to item 50.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NumericLiteral, raw, sql } from '../../src/db/sql/fragment.js';
import { abortMove, runDeferredCleanups, runMove } from '../../src/move/engine.js';
import { undoMove } from '../../src/move/undo.js';
import type { MoveRequest } from '../../src/move/types.js';
import type { ShardId, Topology, UserId } from '../../src/topology/index.js';
import { makeDeps } from '../../src/app/deps.js';
import { Connections } from '../../src/db/pool.js';
import { collectFleetFacts } from '../../src/plan/facts.js';
import { AppWriter } from '../helpers/app-writer.js';
import { withDeps, createMainSchema, expectCode, onBothShards, resetShards, startMoveEnv, type MoveEnv } from '../helpers/move-env.js';

const num = (v: string | bigint | number) => new NumericLiteral(String(v));
const req = (over: Partial<MoveRequest> = {}): MoveRequest => ({
  userId: '42' as UserId,
  to: 2 as ShardId,
  dryRun: false,
  assumeNoWrites: false,
  chunkTimeMs: 500,
  chunkSize: 8,
  concurrency: 2,
  cleanup: 'keep',
  capture: 'auto',
  chunkPauseMs: 2,
  online: { freezeCapMs: 3000, drainMs: 0, maxDeltaPasses: 10, freezeAttempts: 5, readyRows: 200 },
  ...over,
});

const TABLES = ['smol_item_twitter', 'smol_archive', 'smol_account'];
/** Item ids beyond 2^53, as the ticket servers issue them. */
const ITEM0 = 9007199254740993n;
const item = (k: number | bigint) => ITEM0 + BigInt(k);
const THROUGH = {
  smol_archive: { column: 'account_id', parent: 'smol_account', key: 'id' },
  smol_item_twitter: { column: 'id', parent: 'smol_archive', key: 'item_id', shared: true as const },
};
/** Item `seq`'s body, the same on every shard that has it; every tenth is several hundred KB. */
const ITEM_BODY = "IF(seq % 10 = 0, REPEAT(CONCAT('long \u{1F426} ', seq), 30000), CONCAT('tweet ', seq, ' \u{1F426}'))";
const ACCOUNTS = 'SELECT id FROM smol_account WHERE user_id = ';
const ITEMS_OF = (u: string) => `id IN (SELECT item_id FROM smol_archive WHERE account_id IN (${ACCOUNTS}${u}))`;

/** The app on shard 1: user 42 archives new and existing items, drops some, edits items only 42 has; user 43 takes some of 42's items. */
class ItemWriter extends AppWriter {
  #n = 0;
  #next = 9007199294740993n;
  async step(): Promise<void> {
    const k = this.#n++;
    const fresh = () => (this.#next += 2n);
    const mine = k % 5 !== 4;
    if (mine && this.main && !(await this.mayWrite(this.main))) return;
    const account = await this.one(`${ACCOUNTS}42 ORDER BY id LIMIT 1 OFFSET ${k % 3}`);
    const archive = await this.one(`SELECT id FROM smol_archive WHERE account_id IN (${ACCOUNTS}42) ORDER BY id LIMIT 1 OFFSET ${k % 23}`);
    await this.db.transaction(
      async (s) => {
        switch (k % 5) {
          case 0: {
            // A new item, archived (the app writes the item first, as smol.archive does).
            const i = fresh();
            await s.exec(sql`INSERT IGNORE INTO smol_item_twitter (id, body) VALUES (${num(i)}, ${`tweet ${i} \u{1F426}`})`);
            if (account)
              await s.exec(sql`INSERT INTO smol_archive (id, account_id, item_id, note) VALUES (${num(fresh())}, ${num(account)}, ${num(i)}, 'new')`);
            break;
          }
          case 1:
            // An item 43 has archived, archived by 42 too.
            if (account)
              await s.exec(
                sql`INSERT INTO smol_archive (id, account_id, item_id, note) VALUES (${num(fresh())}, ${num(account)}, ${num(item(31 + (k % 4)))}, 'also')`,
              );
            break;
          case 2:
            // An archived item dropped (the item stays: the app never deletes items).
            if (archive) await s.exec(sql`DELETE FROM smol_archive WHERE id = ${num(archive)}`);
            break;
          case 3:
            // An item only 42 has (9..20; shard 2 holds none of them), edited.
            await s.exec(sql`UPDATE smol_item_twitter SET body = ${`edited ${k} \u00e9`} WHERE id = ${num(item(9 + (k % 12)))}`);
            break;
          default:
            // User 43 (not moving, no fence) archives one of 42's items (1..8: never one edited above).
            await s.exec(
              sql`INSERT INTO smol_archive (id, account_id, item_id, note) VALUES (${num(fresh())}, (${raw(ACCOUNTS)}43 LIMIT 1), ${num(item(1 + (k % 8)))}, '43 too')`,
            );
        }
      },
      { binary: false },
    );
  }
}

describe('shared rows (smol.archive items): copied where missing, kept where the same, never deleted while another user refers to them', () => {
  let env: MoveEnv;
  let topology: Topology;
  const dbName = (s: 'a' | 'b') => (s === 'a' ? 'users1' : 'users2');
  const q = (s: 'a' | 'b', statement: string) => env.cli(s, dbName(s), statement);
  const count = (s: 'a' | 'b', statement: string) => Number(q(s, statement).trim());
  /** The items a user's archive refers to on a shard: id, length and SHA-256 of every body's bytes. */
  const items = (s: 'a' | 'b', u = '42') =>
    q(s, `SELECT HEX(id), LENGTH(body), IFNULL(SHA2(body, 256), 'NULL') FROM smol_item_twitter WHERE ${ITEMS_OF(u)} ORDER BY id`);
  const archive = (s: 'a' | 'b', u = '42') =>
    q(s, `SELECT HEX(id), HEX(account_id), HEX(item_id), IFNULL(HEX(note), 'NULL') FROM smol_archive WHERE account_id IN (${ACCOUNTS}${u}) ORDER BY id`);
  /** Archive rows whose item is not on that shard: the app would show a hole. */
  const dangling = (s: 'a' | 'b') => count(s, 'SELECT COUNT(*) FROM smol_archive r LEFT JOIN smol_item_twitter i ON i.id = r.item_id WHERE i.id IS NULL');

  beforeAll(async () => {
    env = await startMoveEnv({ name: 'shared-rows' });
    await createMainSchema(env, [
      { id: '42', shard: 1 },
      { id: '43', shard: 1 },
      { id: '44', shard: 2 },
    ]);
    await onBothShards(env, [
      'CREATE TABLE smol_account (id BIGINT UNSIGNED NOT NULL PRIMARY KEY, user_id INT UNSIGNED NOT NULL, name VARCHAR(100), KEY by_user (user_id))',
      `CREATE TABLE smol_archive (id BIGINT UNSIGNED NOT NULL PRIMARY KEY, account_id BIGINT UNSIGNED NOT NULL, item_id BIGINT UNSIGNED NOT NULL,
         note VARCHAR(200) CHARACTER SET utf8mb4, KEY by_account (account_id), KEY by_item (item_id))`,
      'CREATE TABLE smol_item_twitter (id BIGINT UNSIGNED NOT NULL PRIMARY KEY, body MEDIUMTEXT CHARACTER SET utf8mb4)',
    ]);
    topology = { ...env.topology, tables: { ...env.topology.tables, through: THROUGH } };
  });
  afterAll(async () => {
    await env?.close();
  });

  async function seed(): Promise<void> {
    await resetShards(env, TABLES);
    await env.db('a', 'flamework').exec(sql`UPDATE users SET cluster_id = 2 WHERE id = 44`);
    const src = env.db('a', 'users1');
    await src.exec(sql`INSERT INTO smol_account VALUES (1001, 42, 'a'), (1003, 42, 'b'), (1005, 42, 'c'), (1007, 43, 'd')`);
    // 42: 38 archive rows over items 1..30 (some twice); 43: items 25..34.
    await src.exec(
      sql`INSERT INTO smol_archive SELECT 2000 + seq, 1001 + 2 * (seq % 3), ${num(ITEM0)} + 1 + (seq * 7) % 30, CONCAT('row ', seq) FROM seq_1_to_38`,
    );
    await src.exec(sql`INSERT INTO smol_archive SELECT 3000 + seq, 1001 + 2 * (seq % 3), ${num(ITEM0)} + seq, 'each' FROM seq_1_to_30`);
    await src.exec(sql`INSERT INTO smol_archive SELECT 4000 + seq, 1007, ${num(ITEM0)} + seq, 'of 43' FROM seq_25_to_34`);
    await src.exec(sql`INSERT INTO smol_item_twitter SELECT ${num(ITEM0)} + seq, ${raw(ITEM_BODY)} FROM seq_1_to_40`);
    // Shard 2: user 44 refers to identical copies of items 5..8 and to item 50.
    const dst = env.db('b', 'users2');
    await dst.exec(sql`INSERT INTO smol_account VALUES (1009, 44, 'e')`);
    await dst.exec(sql`INSERT INTO smol_archive SELECT 5000 + seq, 1009, ${num(ITEM0)} + seq, 'of 44' FROM seq_5_to_8`);
    await dst.exec(sql`INSERT INTO smol_archive VALUES (5050, 1009, ${num(item(50))}, 'of 44')`);
    await dst.exec(sql`INSERT INTO smol_item_twitter SELECT ${num(ITEM0)} + seq, ${raw(ITEM_BODY)} FROM seq_5_to_8`);
    await dst.exec(sql`INSERT INTO smol_item_twitter VALUES (${num(item(50))}, 'only on shard 2')`);
  }

  it('config: tables.shared loads as a shared link; in tables.through too, or without the referrer index, the move refuses', async () => {
    const { normalizeConfig } = await import('../../src/config/load.js');
    const raw0 = {
      main: { host: '127.0.0.1', user: 'root', database: 'flamework' },
      shards: { '1': { host: '127.0.0.1', user: 'root', database: 'users1' } },
      tables: { through: { smol_archive: 'account_id -> smol_account.id' }, shared: { smol_item_twitter: 'id <- smol_archive.item_id' } },
    };
    const t = normalizeConfig(raw0, { env: {}, baseDir: env.dir, origin: 'test' }).topology;
    expect(t.tables.through?.smol_item_twitter).toEqual({ column: 'id', parent: 'smol_archive', key: 'item_id', shared: true });
    expect(() =>
      normalizeConfig(
        { ...raw0, tables: { ...raw0.tables, through: { ...raw0.tables.through, smol_item_twitter: 'id -> smol_archive.item_id' } } },
        { env: {}, baseDir: env.dir, origin: 'test' },
      ),
    ).toThrow(/tables\.shared: 'smol_item_twitter' is also in tables\.through/);

    await seed();
    const noIndex = { ...topology, tables: { ...topology.tables, through: { ...THROUGH, smol_item_twitter: { ...THROUGH.smol_item_twitter, key: 'note' } } } };
    const e = await expectCode(
      withDeps(noIndex, (deps) => runMove(deps, req())),
      'OWNERSHIP',
    );
    expect(e.message).toMatch(/no index of smol_archive starts with note.*ALTER TABLE smol_archive ADD INDEX \(note\)/);
    expect(count('b', 'SELECT COUNT(*) FROM smol_account WHERE user_id = 42')).toBe(0);
  });

  it('a same id with other contents on the target, referred to there by another user or by nobody: refused before anything is written (KEY_COLLISION)', async () => {
    await seed();
    env.cli('b', 'users2', `UPDATE smol_item_twitter SET body = 'edited on shard 2' WHERE id = ${item(6)}`);
    const e = await expectCode(
      withDeps(topology, (deps) => runMove(deps, req({ assumeNoWrites: true }))),
      'KEY_COLLISION',
    );
    expect(e.message).toMatch(new RegExp(`1 shared row\\(s\\) .* on shard 2 already with other contents[^]*smol_item_twitter: id=${item(6)}`));
    expect(e.hint).toMatch(/Nothing was written/);
    expect(count('b', 'SELECT COUNT(*) FROM smol_account WHERE user_id = 42')).toBe(0);
    expect(count('a', 'SELECT cluster_id FROM flamework.users WHERE id = 42')).toBe(1);
    // A row nobody on shard 2 refers to is still not fw-shard's to overwrite.
    env.cli('b', 'users2', `UPDATE smol_item_twitter SET body = 'tweet 6 \u{1F426}' WHERE id = ${item(6)}`);
    env.cli('b', 'users2', `INSERT INTO smol_item_twitter VALUES (${item(3)}, 'a leftover')`);
    const e2 = await expectCode(
      withDeps(topology, (deps) => runMove(deps, req({ assumeNoWrites: true }))),
      'KEY_COLLISION',
    );
    expect(e2.message).toMatch(new RegExp(`^1 shared row\\(s\\)[^]*smol_item_twitter: id=${item(3)}$`));
    expect(q('b', `SELECT body FROM smol_item_twitter WHERE id = ${item(3)}`).trim()).toBe('a leftover');
  });

  it("a kept row another user edits on the target during the move: not flipped, and the hint says it is a shared row, not the user's write", async () => {
    await seed();
    let edited = false;
    const { deps, close } = makeDeps(topology, (e) => {
      // Once the items are copied, user 44's app on shard 2 edits an item it shares with 42.
      if (e.type === 'table.copied' && e.table === 'smol_item_twitter' && !edited) {
        edited = true;
        env.cli('b', 'users2', `UPDATE smol_item_twitter SET body = 'edited by 44' WHERE id = ${item(6)}`);
      }
    });
    try {
      const e = await expectCode(runMove(deps, req({ assumeNoWrites: true })), 'DATA_MISMATCH');
      expect(edited).toBe(true);
      expect(e.message).toMatch(/smol_item_twitter/);
      expect(e.hint).toMatch(/smol_item_twitter is shared \(tables\.shared\): a row another user's rows refer to on the target is kept as it is there/);
    } finally {
      await close();
    }
    expect(count('a', 'SELECT cluster_id FROM flamework.users WHERE id = 42')).toBe(1);
    // 44's edit is still there: fw-shard never overwrote it.
    expect(q('b', `SELECT body FROM smol_item_twitter WHERE id = ${item(6)}`).trim()).toBe('edited by 44');
  });

  it('a second table referring to the shared one besides the declared referrer: refused (OWNERSHIP), nothing written', async () => {
    await seed();
    await onBothShards(env, [
      'CREATE TABLE smol_like (id BIGINT UNSIGNED NOT NULL PRIMARY KEY, user_id INT UNSIGNED NOT NULL, item_id BIGINT UNSIGNED NOT NULL, KEY (user_id), CONSTRAINT fk_like FOREIGN KEY (item_id) REFERENCES smol_item_twitter (id))',
    ]);
    try {
      const e = await expectCode(
        withDeps(topology, (deps) => runMove(deps, req({ assumeNoWrites: true }))),
        'OWNERSHIP',
      );
      expect(e.message).toMatch(
        /smol_like\.item_id refers to the shared smol_item_twitter\.id \(foreign key fk_like\), but tables\.shared names only smol_archive\.item_id/,
      );
      expect(count('b', 'SELECT COUNT(*) FROM smol_account WHERE user_id = 42')).toBe(0);
    } finally {
      await onBothShards(env, ['DROP TABLE smol_like']);
    }
  });

  it('offline: the items 42 refers to arrive byte for byte, shard 2 keeps its own; the cleanup keeps what 43 refers to; plan sizes count them', async () => {
    await seed();
    // An item on shard 2 nobody there refers to, the same bytes as shard 1's: a leftover, not in the way.
    await env.db('b', 'users2').exec(sql`INSERT INTO smol_item_twitter SELECT ${num(ITEM0)} + seq, ${raw(ITEM_BODY)} FROM seq_3_to_3`);
    const before = items('a');
    const archiveBefore = archive('a');
    const of44 = items('b', '44');
    const r = await withDeps(topology, (deps) => runMove(deps, req({ assumeNoWrites: true, cleanup: 'now' })));
    expect(r.ok, JSON.stringify(r.error)).toBe(true);
    expect(r.plan?.tables.find((t) => t.name === 'smol_item_twitter')?.rows, 'the plan counts the items 42 refers to').toBe('30');
    expect(items('b')).toBe(before);
    expect(archive('b')).toBe(archiveBefore);
    expect(items('b', '44')).toBe(of44);
    expect(count('b', 'SELECT COUNT(*) FROM smol_item_twitter')).toBe(31); // 1..30 and 50: nothing twice
    // Shard 1: 42's archive gone; items 43 refers to (25..34) and nobody's (35..40) stay; 1..24 gone.
    expect(archive('a')).toBe('');
    expect(q('a', `SELECT GROUP_CONCAT(id - ${ITEM0} ORDER BY id) FROM smol_item_twitter`).trim()).toBe('25,26,27,28,29,30,31,32,33,34,35,36,37,38,39,40');
    expect(r.nextStep).toMatch(/6 shared row\(s\) stayed there, where other users' rows refer to them/);
    expect(dangling('a') + dangling('b')).toBe(0);
    // Sizes per user (plan, status): every item a user refers to, once.
    const conns = new Connections();
    try {
      const facts = await collectFleetFacts(topology, (e) => conns.get(e));
      const size = (shard: number, user: string) => facts.shards.find((s) => s.id === shard)?.users.find((u) => u.userId === user)?.rows;
      expect(size(2, '42')).toBe(BigInt(3 + 68 + 30));
      expect(size(1, '43')).toBe(BigInt(1 + 10 + 10));
      expect(size(2, '44')).toBe(BigInt(1 + 5 + 5));
    } finally {
      await conns.closeAll();
    }
  });

  for (const capture of ['trigger', 'rehash'] as const) {
    it(`online (--capture ${capture}) under writes: the items 42 refers to are the same on both shards; the cleanup leaves nothing dangling`, async () => {
      await seed();
      const writer = new ItemWriter(env.db('a', 'users1'), capture === 'rehash' ? env.db('a', 'flamework') : null);
      const r = await writer.during(() =>
        withDeps(topology, (deps) => runMove(deps, req({ capture, cleanup: 'defer', online: { ...req().online!, drainMs: capture === 'rehash' ? 300 : 0 } }))),
      );
      expect(r.ok, JSON.stringify(r.error)).toBe(true);
      expect(r.plan?.capture?.mode).toBe(capture);
      expect(writer.errors).toEqual([]);
      expect(writer.statements).toBeGreaterThan(30);
      if (capture === 'trigger') {
        expect(writer.refused, 'the old shard refuses 42 after the flip').toBeGreaterThan(0);
        expect(r.plan?.capture?.cascades?.join('\n')).toMatch(/smol_item_twitter: compared whole, live, under the freeze, because it is shared/);
      }
      expect(items('b'), 'the items 42 refers to differ between the shards').toBe(items('a'));
      expect(archive('b')).toBe(archive('a'));
      expect(dangling('b'), 'archive rows on the new shard whose item is not there').toBe(0);
      // Shard 2 holds no item nobody refers to, and 44's are untouched.
      expect(count('b', 'SELECT COUNT(*) FROM smol_item_twitter i WHERE NOT EXISTS (SELECT 1 FROM smol_archive r WHERE r.item_id = i.id)')).toBe(0);
      expect(q('b', `SELECT GROUP_CONCAT(id - ${ITEM0}) FROM smol_item_twitter WHERE ${ITEMS_OF('44')}`).trim()).toBe('5,6,7,8,50');
      if (capture === 'trigger') {
        // The old shard's fence on the items: one only 42 refers to is refused, one 43 refers to too is 43's to edit.
        expect(() => q('a', `UPDATE smol_item_twitter SET body = 'stale' WHERE id = ${item(15)}`)).toThrow(/user moved to another shard/);
        q('a', `UPDATE smol_item_twitter SET body = 'edited by 43' WHERE id = ${item(27)}`);
        expect(q('a', `SELECT body FROM smol_item_twitter WHERE id = ${item(27)}`).trim()).toBe('edited by 43');
        // 43 archiving an item 42 alone refers to there: the app writes the item first (INSERT IGNORE, or
        // ON DUPLICATE KEY UPDATE that changes nothing), then its archive row. Not refused.
        q('a', `INSERT IGNORE INTO smol_item_twitter VALUES (${item(15)}, 'x')`);
        q('a', `INSERT INTO smol_item_twitter VALUES (${item(16)}, 'x') ON DUPLICATE KEY UPDATE id = id`);
        expect(() => q('a', `INSERT INTO smol_item_twitter VALUES (${item(16)}, 'x') ON DUPLICATE KEY UPDATE body = 'stale'`)).toThrow(
          /user moved to another shard/,
        );
      }
      const of43 = items('a', '43');
      // Items nobody refers to on the old shard before the cleanup: 35..40, and those the app itself left when it dropped their archive row.
      const nobodys = () => q('a', 'SELECT id FROM smol_item_twitter i WHERE NOT EXISTS (SELECT 1 FROM smol_archive r WHERE r.item_id = i.id) ORDER BY id');
      const orphansBefore = nobodys();
      const c = await withDeps(topology, (deps) => runDeferredCleanups(deps, 0, req()));
      expect(c.map((x) => x.phase)).toEqual(['done']);
      expect(archive('a')).toBe('');
      expect(items('a', '43'), "43's items, 42's among them, stay on shard 1").toBe(of43);
      expect(dangling('a'), 'archive rows on the old shard whose item the cleanup took').toBe(0);
      // What 42 alone referred to is gone from shard 1: what is left is 43's and what was nobody's already.
      expect(nobodys()).toBe(orphansBefore);
      expect(orphansBefore).toContain(String(item(35)));
      expect(count('a', 'SELECT COUNT(*) FROM smol_item_twitter')).toBe(of43.trim().split('\n').length + orphansBefore.trim().split('\n').length);
    });
  }

  it("abort leaves shard 2 as it was (44's items too); undo brings the items back and takes from shard 2 only what 42 alone referred to", async () => {
    await seed();
    const target = () => q('b', 'SELECT HEX(id), HEX(body) FROM smol_item_twitter ORDER BY id');
    const pristine = target();
    const before = items('a');
    const ac = new AbortController();
    let copied = 0;
    const stopAfterCopy = makeDeps(topology, (e) => {
      if (e.type === 'table.copied' && ++copied === 3) ac.abort();
    });
    try {
      await expectCode(runMove(stopAfterCopy.deps, req({ assumeNoWrites: true, concurrency: 1 }), { signal: ac.signal }), 'INTERRUPTED');
    } finally {
      await stopAfterCopy.close();
    }
    expect(count('b', `SELECT COUNT(*) FROM smol_item_twitter WHERE ${ITEMS_OF('42')}`)).toBe(30);
    const a = await withDeps(topology, (deps) => abortMove(deps, { userId: '42' as UserId }));
    expect(a.phase).toBe('aborted');
    expect(target()).toBe(pristine);
    expect(count('b', 'SELECT COUNT(*) FROM smol_account WHERE user_id = 42')).toBe(0);

    const m = await withDeps(topology, (deps) => runMove(deps, req({ assumeNoWrites: true, cleanup: 'defer' })));
    expect(m.ok, JSON.stringify(m.error)).toBe(true);
    // On the new shard: 42 archives item 50 (44's, only on shard 2) and an item is edited.
    env.cli('b', 'users2', `INSERT INTO smol_archive VALUES (6001, 1001, ${item(50)}, 'after the move')`);
    env.cli('b', 'users2', `UPDATE smol_item_twitter SET body = 'edited on 2' WHERE id = ${item(12)}`);
    const u = await withDeps(topology, (deps) => undoMove(deps, m.moveId!, { ...req({ assumeNoWrites: true, cleanup: 'now' }) }));
    expect(u.ok, JSON.stringify(u.error)).toBe(true);
    expect(items('a')).not.toBe(before);
    expect(q('a', `SELECT body FROM smol_item_twitter WHERE id = ${item(12)}`).trim()).toBe('edited on 2');
    expect(q('a', `SELECT body FROM smol_item_twitter WHERE id = ${item(50)}`).trim()).toBe('only on shard 2');
    expect(dangling('a') + dangling('b')).toBe(0);
    // Shard 2 is as it was before the move: 44's items, nothing of 42's.
    expect(count('b', 'SELECT COUNT(*) FROM smol_account WHERE user_id = 42')).toBe(0);
    expect(target()).toBe(pristine);
  });
});

/**
 * Rows a user owns through a parent (issue 26), on a schema shaped like smol.archive's: the user's
 * accounts in smol_account(user_id), the archive in smol_archive(account_id) with no user_id, and a
 * second level, smol_archive_tags(archive_id). Without tables.through the move refuses, naming the
 * table, the column and the line to add; with it, offline and online moves in both capture modes
 * take every level, under an app writing to every level (accounts deleted with their archive, rows
 * re-linked, accounts handed between users), and leave the old and the new shard identical for the
 * user and nothing unreachable behind; abort and undo follow the path too.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NumericLiteral, sql } from '../../src/db/sql/fragment.js';
import { abortMove, runDeferredCleanups, runMove } from '../../src/move/engine.js';
import { undoMove } from '../../src/move/undo.js';
import type { MoveRequest } from '../../src/move/types.js';
import type { Endpoint, ShardId, Topology, UserId } from '../../src/topology/index.js';
import { makeDeps } from '../../src/app/deps.js';
import { Connections } from '../../src/db/pool.js';
import { cleanupOrphans, findOrphans } from '../../src/fleet/orphans.js';
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
  chunkSize: 40,
  concurrency: 2,
  cleanup: 'keep',
  capture: 'auto',
  chunkPauseMs: 2,
  online: { freezeCapMs: 3000, drainMs: 0, maxDeltaPasses: 10, freezeAttempts: 5, readyRows: 200 },
  ...over,
});

const TABLES = ['smol_archive_tags', 'smol_archive', 'smol_account'];
const THROUGH = {
  smol_archive: { column: 'account_id', parent: 'smol_account', key: 'id' },
  smol_archive_tags: { column: 'archive_id', parent: 'smol_archive', key: 'id' },
};
const ACCOUNT0 = 9007199254740993n;
const ARCHIVE0 = 9007199264740993n;
const TAG0 = 9007199274740993n;

/** The user's rows of each level as hex, found through the parents with the mariadb client (not fw-shard's SQL). */
const OWNED: Record<string, (u: string) => string> = {
  smol_account: (u) => `user_id = ${u}`,
  smol_archive: (u) => `account_id IN (SELECT id FROM smol_account WHERE user_id = ${u})`,
  smol_archive_tags: (u) => `archive_id IN (SELECT id FROM smol_archive WHERE account_id IN (SELECT id FROM smol_account WHERE user_id = ${u}))`,
};
const COLUMNS: Record<string, string[]> = {
  smol_account: ['id', 'user_id', 'name'],
  smol_archive: ['id', 'account_id', 'item_id', 'note', 'body'],
  smol_archive_tags: ['id', 'archive_id', 'tag'],
};

/** The app, on shard 1 only, every few ms: a change at every level of user 42's archive, and now and then an account handed between 42 and 43. */
class ArchiveWriter extends AppWriter {
  #n = 0;
  #next = 9007199284740993n;
  async step(): Promise<void> {
    const k = this.#n++;
    const fresh = () => (this.#next += 2n);
    if (this.main && !(await this.mayWrite(this.main))) return;
    const account = await this.one(`SELECT id FROM smol_account WHERE user_id = 42 ORDER BY id LIMIT 1 OFFSET ${k % 4}`);
    const archive = await this.one(
      `SELECT id FROM smol_archive WHERE account_id IN (SELECT id FROM smol_account WHERE user_id = 42) ORDER BY id LIMIT 1 OFFSET ${k % 17}`,
    );
    // binary: false, an app's session (fw-shard's own data sessions pass its triggers: pool.ts DATA_SESSION_INIT).
    await this.db.transaction(
      async (s) => {
        switch (k % 9) {
          case 0: {
            // A new account with two archived items and a tag.
            const a = fresh();
            const r1 = fresh();
            await s.exec(sql`INSERT INTO smol_account (id, user_id, name) VALUES (${num(a)}, 42, ${`account ${a}`})`);
            await s.exec(
              sql`INSERT INTO smol_archive (id, account_id, item_id, note) VALUES (${num(r1)}, ${num(a)}, 7, 'new \u{1F4F7}'), (${num(fresh())}, ${num(a)}, 8, 'new')`,
            );
            await s.exec(sql`INSERT INTO smol_archive_tags (id, archive_id, tag) VALUES (${num(fresh())}, ${num(r1)}, 'fresh')`);
            break;
          }
          case 1:
            if (account)
              await s.exec(sql`INSERT INTO smol_archive (id, account_id, item_id, note) VALUES (${num(fresh())}, ${num(account)}, ${num(k)}, 'later')`);
            break;
          case 2:
            if (archive) await s.exec(sql`UPDATE smol_archive SET note = ${`edited ${k} \u00e9`} WHERE id = ${num(archive)}`);
            break;
          case 3:
            // An archived item deleted with its tags (the app's own order: children first).
            if (archive) {
              await s.exec(sql`DELETE FROM smol_archive_tags WHERE archive_id = ${num(archive)}`);
              await s.exec(sql`DELETE FROM smol_archive WHERE id = ${num(archive)}`);
            }
            break;
          case 4:
            // An account deleted with its whole archive.
            if (account && k % 3 === 0) {
              await s.exec(sql`DELETE FROM smol_archive_tags WHERE archive_id IN (SELECT id FROM smol_archive WHERE account_id = ${num(account)})`);
              await s.exec(sql`DELETE FROM smol_archive WHERE account_id = ${num(account)}`);
              await s.exec(sql`DELETE FROM smol_account WHERE id = ${num(account)}`);
            }
            break;
          case 5: {
            // An archived item moved to another of the user's accounts.
            const other = await this.one(`SELECT id FROM smol_account WHERE user_id = 42 ORDER BY id DESC LIMIT 1`);
            if (archive && other) await s.exec(sql`UPDATE smol_archive SET account_id = ${num(other)} WHERE id = ${num(archive)}`);
            break;
          }
          case 6:
            if (archive) await s.exec(sql`INSERT INTO smol_archive_tags (id, archive_id, tag) VALUES (${num(fresh())}, ${num(archive)}, ${`t${k}`})`);
            break;
          case 7:
            // An account (with its archive) handed to user 43, or one of 43's to 42: no row of the archive changes.
            if (k % 2 === 0 && account) await s.exec(sql`UPDATE smol_account SET user_id = 43 WHERE id = ${num(account)}`);
            else await s.exec(sql`UPDATE smol_account SET user_id = 42 WHERE user_id = 43 ORDER BY id LIMIT 1`);
            break;
          default:
            if (archive) await s.exec(sql`UPDATE smol_archive_tags SET tag = ${`re${k}`} WHERE archive_id = ${num(archive)}`);
        }
      },
      { binary: false },
    );
  }
}

describe('rows owned through a parent (smol.archive): every level moves, nothing is split', () => {
  let env: MoveEnv;
  let topology: Topology;
  const dump = (s: 'a' | 'b', table: string, user = '42') => {
    const db = s === 'a' ? 'users1' : 'users2';
    const hex = COLUMNS[table]!.map((c) => `IFNULL(HEX(\`${c}\`), 'NULL')`).join(', ');
    return env.cli(s, db, `SELECT ${hex} FROM ${table} WHERE ${OWNED[table]!(user)} ORDER BY ${hex}`);
  };
  const count = (s: 'a' | 'b', q: string) => Number(env.cli(s, s === 'a' ? 'users1' : 'users2', q).trim());
  /** Rows of a level whose parent is not on that shard: left behind where nobody finds them. */
  const unreachable = (s: 'a' | 'b') =>
    count(s, 'SELECT COUNT(*) FROM smol_archive r LEFT JOIN smol_account a ON a.id = r.account_id WHERE a.id IS NULL') +
    count(s, 'SELECT COUNT(*) FROM smol_archive_tags t LEFT JOIN smol_archive r ON r.id = t.archive_id WHERE r.id IS NULL');

  beforeAll(async () => {
    env = await startMoveEnv({ name: 'owner-paths' });
    await createMainSchema(env, [
      { id: '42', shard: 1 },
      { id: '43', shard: 1 },
    ]);
    await onBothShards(env, [
      'CREATE TABLE smol_account (id BIGINT UNSIGNED NOT NULL PRIMARY KEY, user_id INT UNSIGNED NOT NULL, name VARCHAR(100), KEY by_user (user_id))',
      `CREATE TABLE smol_archive (id BIGINT UNSIGNED NOT NULL PRIMARY KEY, account_id BIGINT UNSIGNED NOT NULL, item_id BIGINT UNSIGNED NOT NULL,
         note VARCHAR(200) CHARACTER SET utf8mb4, body MEDIUMBLOB, KEY by_account (account_id), KEY by_item (item_id))`,
      'CREATE TABLE smol_archive_tags (id BIGINT UNSIGNED NOT NULL PRIMARY KEY, archive_id BIGINT UNSIGNED NOT NULL, tag VARCHAR(50) CHARACTER SET latin1, KEY by_archive (archive_id))',
      // The archived items: shared by every archive that took them, owned by nobody (they stay).
      'CREATE TABLE smol_item_twitter (id BIGINT UNSIGNED NOT NULL PRIMARY KEY, body TEXT)',
    ]);
    topology = { ...env.topology, tables: { ...env.topology.tables, through: THROUGH, exclude: ['smol_item_twitter'] } };
  });
  afterAll(async () => {
    await env?.close();
  });

  /** User 42: 3 accounts, 38 archived items, tags on every third; user 43: 1 account, 5 items. */
  async function seed(): Promise<void> {
    await resetShards(env, TABLES);
    const src = env.db('a', 'users1');
    await src.exec(sql`INSERT INTO smol_account SELECT ${num(ACCOUNT0)} + 2 * seq, IF(seq = 4, 43, 42), CONCAT('account ', seq) FROM seq_1_to_4`);
    await src.exec(
      sql`INSERT INTO smol_archive SELECT ${num(ARCHIVE0)} + 2 * seq, ${num(ACCOUNT0)} + 2 * IF(seq > 38, 4, 1 + seq % 3), seq, CONCAT('item ', seq, ' \u{1F426}'),
            IF(seq % 10 = 0, REPEAT(CHAR(0, 9, 10, 92, 255), 20000), NULL) FROM seq_1_to_43`,
    );
    await src.exec(
      sql`INSERT INTO smol_archive_tags SELECT ${num(TAG0)} + 2 * seq, ${num(ARCHIVE0)} + 2 * (1 + (seq * 3) % 43), CONCAT('tag ', seq, ' \u00e9') FROM seq_1_to_30`,
    );
  }

  it('without tables.through the move refuses (exit 5), naming the table, the column and the line to add; one level declared, the next is named', async () => {
    await seed();
    const bare = { ...env.topology, tables: { ...env.topology.tables, exclude: ['smol_item_twitter'] } };
    const e = await expectCode(
      withDeps(bare, (deps) => runMove(deps, req())),
      'OWNERSHIP',
    );
    expect(e.message).toMatch(
      /smol_archive\.account_id references smol_account\.id \(column account_id, named after smol_account\.id\) but smol_archive does not move/,
    );
    expect(e.hint).toMatch(/tables: \{ through: \{ smol_archive: account_id -> smol_account\.id \} \}/);
    expect(e.hint).toMatch(/tables\.exclude \(smol_archive\)/);
    const one = { ...bare, tables: { ...bare.tables, through: { smol_archive: THROUGH.smol_archive } } };
    const e2 = await expectCode(
      withDeps(one, (deps) => runMove(deps, req())),
      'OWNERSHIP',
    );
    expect(e2.message).toMatch(/smol_archive_tags\.archive_id references smol_archive\.id/);
    // Nothing was written.
    expect(count('b', 'SELECT COUNT(*) FROM smol_account')).toBe(0);
    expect(count('a', 'SELECT COUNT(*) FROM flamework.users WHERE cluster_id <> 1')).toBe(0);
    // A link whose column has no index is refused too, with the ALTER to run.
    const noIndex = {
      ...topology,
      tables: { ...topology.tables, through: { ...THROUGH, smol_archive: { column: 'note', parent: 'smol_account', key: 'id' } } },
    };
    const e3 = await expectCode(
      withDeps(noIndex, (deps) => runMove(deps, req())),
      'OWNERSHIP',
    );
    expect(e3.message).toMatch(/no index of smol_archive starts with note.*ALTER TABLE smol_archive ADD INDEX \(note\)/);
  });

  it('offline: every level moves byte for byte; the cleanup takes every level off the old shard; user 43 untouched', async () => {
    await seed();
    const before = TABLES.map((t) => dump('a', t));
    const other = TABLES.map((t) => dump('a', t, '43'));
    const r = await withDeps(topology, (deps) => runMove(deps, req({ assumeNoWrites: true, cleanup: 'now' })));
    expect(r.ok, JSON.stringify(r.error)).toBe(true);
    expect(r.plan?.tables.find((t) => t.name === 'smol_archive')?.rows, 'the plan counts the archive through the accounts').toBe('38');
    TABLES.forEach((t, i) => expect(dump('b', t), t).toBe(before[i]));
    for (const t of TABLES) expect(dump('a', t), `${t}: user 42's rows left on the old shard`).toBe('');
    TABLES.forEach((t, i) => expect(dump('a', t, '43'), t).toBe(other[i]));
    expect(unreachable('a')).toBe(0);
    expect(unreachable('b')).toBe(0);
  });

  for (const capture of ['trigger', 'rehash'] as const) {
    it(`online (--capture ${capture}) under writes to every level: old and new shard identical for the user, nothing unreachable left`, async () => {
      await seed();
      const writer = new ArchiveWriter(env.db('a', 'users1'), capture === 'rehash' ? env.db('a', 'flamework') : null);
      const r = await writer.during(() =>
        withDeps(topology, (deps) => runMove(deps, req({ capture, cleanup: 'defer', online: { ...req().online!, drainMs: capture === 'rehash' ? 300 : 0 } }))),
      );
      expect(r.ok, JSON.stringify(r.error)).toBe(true);
      expect(r.plan?.capture?.mode).toBe(capture);
      expect(writer.errors).toEqual([]);
      expect(writer.statements).toBeGreaterThan(30);
      if (capture === 'trigger') {
        expect(writer.refused, 'the old shard refuses the user after the flip, at every level').toBeGreaterThan(0);
        expect(r.plan?.capture?.cascades?.join('\n')).toMatch(/smol_archive: compared whole, live, under the freeze, because it is owned through smol_account/);
      }
      for (const t of TABLES) expect(dump('b', t), `${t} differs between the old shard and the new one`).toBe(dump('a', t));
      expect(dump('b', 'smol_archive').length).toBeGreaterThan(0);
      expect(unreachable('b'), 'rows on the new shard whose parent is not there').toBe(0);
      // No row of another user came along.
      expect(count('b', 'SELECT COUNT(*) FROM smol_account WHERE user_id <> 42')).toBe(0);
      // The deferred cleanup takes every level off the old shard, children first.
      const c = await withDeps(topology, (deps) => runDeferredCleanups(deps, 0, req()));
      expect(c.map((x) => x.phase)).toEqual(['done']);
      for (const t of TABLES) expect(dump('a', t), `${t}: user 42's rows left on the old shard`).toBe('');
      expect(unreachable('a'), 'rows on the old shard whose parent the cleanup took').toBe(0);
    });
  }

  it('verify finds what a kept cleanup left at every level and cleanup --orphans takes it, children first; the plan counts the archive through the accounts', async () => {
    await seed();
    const tagged = count('a', `SELECT COUNT(*) FROM smol_archive_tags WHERE ${OWNED.smol_archive_tags!('42')}`);
    const tagged43 = count('a', `SELECT COUNT(*) FROM smol_archive_tags WHERE ${OWNED.smol_archive_tags!('43')}`);
    expect(tagged).toBeGreaterThan(0);
    const r = await withDeps(topology, (deps) => runMove(deps, req({ assumeNoWrites: true, cleanup: 'keep' })));
    expect(r.ok, JSON.stringify(r.error)).toBe(true);
    const conns = new Connections();
    try {
      const connect = (e: Endpoint) => conns.get(e);
      const report = await findOrphans(topology, connect, { userId: '42' });
      expect(report.orphans.map((g) => `${g.shard} ${g.table} ${g.rows}`).sort()).toEqual([
        '1 smol_account 3',
        '1 smol_archive 38',
        `1 smol_archive_tags ${tagged}`,
      ]);
      const done = await cleanupOrphans(topology, connect, report, { dryRun: false });
      expect(done.deleted).toBe(String(3 + 38 + tagged));
      for (const t of TABLES) expect(dump('a', t), `${t}: user 42's rows left on the old shard`).toBe('');
      expect(unreachable('a')).toBe(0);
      // Sizes per user and shard (plan, status): the archive and its tags are user 42's, on shard 2; 43's stay on 1.
      const facts = await collectFleetFacts(topology, connect);
      const size = (shard: number, user: string) => facts.shards.find((s) => s.id === shard)?.users.find((u) => u.userId === user)?.rows;
      expect(size(2, '42')).toBe(BigInt(3 + 38 + tagged));
      expect(size(1, '43')).toBe(BigInt(1 + 5 + tagged43));
    } finally {
      await conns.closeAll();
    }
  });

  it('abort before the flip takes every level off the target; undo brings every level back', async () => {
    await seed();
    const before = TABLES.map((t) => dump('a', t));
    const ac = new AbortController();
    let copied = 0;
    const stopAfterCopy = makeDeps(topology, (e) => {
      if (e.type === 'table.copied' && ++copied === 2) ac.abort();
    });
    try {
      await expectCode(runMove(stopAfterCopy.deps, req({ assumeNoWrites: true, concurrency: 1 }), { signal: ac.signal }), 'INTERRUPTED');
    } finally {
      await stopAfterCopy.close();
    }
    // Two levels are on the target: the abort finds the second through the first.
    expect(count('b', 'SELECT COUNT(*) FROM smol_account')).toBe(3);
    expect(count('b', 'SELECT COUNT(*) FROM smol_archive')).toBe(38);
    const a = await withDeps(topology, (deps) => abortMove(deps, { userId: '42' as UserId }));
    expect(a.phase).toBe('aborted');
    for (const t of TABLES) expect(count('b', `SELECT COUNT(*) FROM ${t}`), `${t} on the target after the abort`).toBe(0);
    // The move, then its undo: every level back on shard 1 as it was, nothing left on shard 2.
    const m = await withDeps(topology, (deps) => runMove(deps, req({ assumeNoWrites: true, cleanup: 'defer' })));
    expect(m.ok, JSON.stringify(m.error)).toBe(true);
    // The app on the new shard: an archived item added to an account, one deleted with its tags.
    env.cli('b', 'users2', `INSERT INTO smol_archive VALUES (9007199294740993, ${ACCOUNT0 + 2n}, 99, 'after the move', NULL)`);
    const u = await withDeps(topology, (deps) => undoMove(deps, m.moveId!, { ...req({ assumeNoWrites: true, cleanup: 'now' }) }));
    expect(u.ok, JSON.stringify(u.error)).toBe(true);
    expect(dump('a', 'smol_account')).toBe(before[2]);
    expect(dump('a', 'smol_archive_tags')).toBe(before[0]);
    expect(count('a', 'SELECT COUNT(*) FROM smol_archive WHERE id = 9007199294740993')).toBe(1);
    expect(count('a', `SELECT COUNT(*) FROM smol_archive WHERE ${OWNED.smol_archive!('42')}`)).toBe(39);
    for (const t of TABLES) expect(count('b', `SELECT COUNT(*) FROM ${t}`), `${t} left on shard 2 after the undo`).toBe(0);
  });
});

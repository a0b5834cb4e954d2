/**
 * Crash safety for rows owned through a parent (issue 26): the smol.archive shape (accounts, the
 * archive through the accounts, tags through the archive, and the archived items, shared) declared in
 * the config file's tables.through and tables.shared. SIGKILL the CLI at every phase of an offline and
 * of an online (trigger mode) move, run the same command again: every level ends on the new shard byte
 * for byte, none of the user's rows at any level on the old one, nothing unreachable on either, user
 * 43 untouched, with the items 43 refers to (ten of them 42's too) still on the old shard, and the new
 * shard's own copies of five of 42's items (another user's there) neither doubled nor lost.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { raw, sql } from '../../src/db/sql/fragment.js';
import { createMainSchema, onBothShards, resetShards, startMoveEnv, type MoveEnv } from '../helpers/move-env.js';
import { runCli } from '../helpers/kill-run.js';

const TABLES = ['smol_item_twitter', 'smol_archive_tags', 'smol_archive', 'smol_account'];
const THROUGH = { smol_archive: 'account_id -> smol_account.id', smol_archive_tags: 'archive_id -> smol_archive.id' };
const SHARED = { smol_item_twitter: 'id <- smol_archive.item_id' };
const ITEM0 = 9007199254740993n;
const OWNED: Record<string, string> = {
  smol_item_twitter: 'id IN (SELECT item_id FROM smol_archive WHERE account_id IN (SELECT id FROM smol_account WHERE user_id = 42))',
  smol_account: 'user_id = 42',
  smol_archive: 'account_id IN (SELECT id FROM smol_account WHERE user_id = 42)',
  smol_archive_tags: 'archive_id IN (SELECT id FROM smol_archive WHERE account_id IN (SELECT id FROM smol_account WHERE user_id = 42))',
};
const COLUMNS: Record<string, string> = {
  smol_item_twitter: 'body',
  smol_archive_tags: 'archive_id, tag',
  smol_archive: 'account_id, item_id, note',
  smol_account: 'user_id, name',
};
const base = (online: boolean) => [
  'move',
  '--user',
  '42',
  '--to',
  '2',
  '--yes',
  ...(online ? ['--capture', 'trigger', '--freeze-cap', '3s'] : ['--assume-no-writes']),
  '--chunk-size',
  '30',
  '--events',
  '--json',
  '--sleep-between-chunks',
  '30ms',
];

describe('crash safety of a move owned through parents (SIGKILL at every phase, then the same command)', () => {
  let env: MoveEnv;
  let config = '';
  let original = '';
  const snapshot = (s: 'a' | 'b') =>
    TABLES.map((t) =>
      env.cli(s, s === 'a' ? 'users1' : 'users2', `SELECT id, HEX(CONCAT_WS(',', ${COLUMNS[t]})) FROM ${t} WHERE ${OWNED[t]} ORDER BY id`),
    ).join('--\n');
  const count = (s: 'a' | 'b', q: string) => Number(env.cli(s, s === 'a' ? 'users1' : 'users2', q).trim());
  const unreachable = (s: 'a' | 'b') =>
    count(s, 'SELECT COUNT(*) FROM smol_archive r LEFT JOIN smol_account a ON a.id = r.account_id WHERE a.id IS NULL') +
    count(s, 'SELECT COUNT(*) FROM smol_archive_tags t LEFT JOIN smol_archive r ON r.id = t.archive_id WHERE r.id IS NULL') +
    count(s, 'SELECT COUNT(*) FROM smol_archive r LEFT JOIN smol_item_twitter i ON i.id = r.item_id WHERE i.id IS NULL');

  beforeAll(async () => {
    env = await startMoveEnv({ name: 'crash-paths' });
    await createMainSchema(env, [
      { id: '42', shard: 1 },
      { id: '43', shard: 1 },
    ]);
    await onBothShards(env, [
      'CREATE TABLE smol_account (id BIGINT UNSIGNED NOT NULL PRIMARY KEY, user_id INT UNSIGNED NOT NULL, name VARCHAR(100), KEY by_user (user_id))',
      `CREATE TABLE smol_archive (id BIGINT UNSIGNED NOT NULL PRIMARY KEY, account_id BIGINT UNSIGNED NOT NULL, item_id BIGINT UNSIGNED NOT NULL,
         note VARCHAR(200) CHARACTER SET utf8mb4, KEY by_account (account_id), KEY by_item (item_id))`,
      'CREATE TABLE smol_item_twitter (id BIGINT UNSIGNED NOT NULL PRIMARY KEY, body TEXT CHARACTER SET utf8mb4)',
      'CREATE TABLE smol_archive_tags (id BIGINT UNSIGNED NOT NULL PRIMARY KEY, archive_id BIGINT UNSIGNED NOT NULL, tag VARCHAR(50), KEY by_archive (archive_id))',
    ]);
    config = env.configFile({ tables: { through: THROUGH, shared: SHARED } });
  }, 120_000);

  beforeEach(async () => {
    // User 42: 6 accounts, 240 archive rows (8 chunks) over items 0..99, 120 tags; user 43: 1 account,
    // 20 archive rows over items 90..109. Shard 2: another user's account refers to its copies of items 10..14.
    await resetShards(env, TABLES);
    const src = env.db('a', 'users1');
    await src.exec(sql`INSERT INTO smol_account SELECT 9007199254740993 + 2 * seq, IF(seq = 7, 43, 42), CONCAT('account ', seq) FROM seq_1_to_7`);
    await src.exec(
      sql`INSERT INTO smol_archive SELECT 9007199264740993 + 2 * seq, 9007199254740993 + 2 * IF(seq > 240, 7, 1 + seq % 6),
            ${raw(String(ITEM0))} + IF(seq > 240, seq - 151, seq % 100), CONCAT('item ', seq, ' 🐦') FROM seq_1_to_260`,
    );
    await src.exec(sql`INSERT INTO smol_item_twitter SELECT ${raw(String(ITEM0))} + seq, CONCAT('tweet ', seq, ' 🐦') FROM seq_0_to_109`);
    const dst = env.db('b', 'users2');
    await dst.exec(sql`INSERT INTO smol_account VALUES (1009, 44, 'of another user')`);
    await dst.exec(sql`INSERT INTO smol_archive SELECT 5000 + seq, 1009, ${raw(String(ITEM0))} + seq, 'theirs' FROM seq_10_to_14`);
    await dst.exec(sql`INSERT INTO smol_item_twitter SELECT ${raw(String(ITEM0))} + seq, CONCAT('tweet ', seq, ' 🐦') FROM seq_10_to_14`);
    await src.exec(
      sql`INSERT INTO smol_archive_tags SELECT 9007199274740993 + 2 * seq, 9007199264740993 + 2 * (1 + (seq * 7) % 240), CONCAT('tag ', seq) FROM seq_1_to_120`,
    );
    original = snapshot('a');
  });

  afterAll(async () => {
    await env?.close();
  });

  async function expectFinished(args: string[]): Promise<void> {
    const rerun = await runCli(env, args, undefined, config);
    expect(rerun.code, rerun.stderr).toBe(0);
    const doc = JSON.parse(rerun.stdout.trimEnd().split('\n').at(-1)!) as { ok: boolean; mappingFlipped: boolean };
    expect(doc.ok).toBe(true);
    expect(doc.mappingFlipped).toBe(true);
    expect(snapshot('b')).toBe(original); // every level, nothing lost, nothing duplicated
    expect(snapshot('a')).toBe('--\n--\n--\n'); // every level cleaned off the old shard
    expect(unreachable('a') + unreachable('b')).toBe(0);
    expect(count('a', 'SELECT COUNT(*) FROM smol_archive WHERE account_id = 9007199254741007')).toBe(20); // user 43's archive stays
    // The items: 43's (90..109) stay on the old shard, the rest went; the new shard has 0..99 once each, the other user's among them.
    expect(env.cli('a', 'users1', `SELECT MIN(id - ${ITEM0}), MAX(id - ${ITEM0}), COUNT(*) FROM smol_item_twitter`).trim()).toBe('90\t109\t20');
    expect(env.cli('b', 'users2', `SELECT MIN(id - ${ITEM0}), MAX(id - ${ITEM0}), COUNT(*) FROM smol_item_twitter`).trim()).toBe('0\t99\t100');
    expect(count('b', 'SELECT COUNT(*) FROM smol_archive WHERE account_id = 1009')).toBe(5);
    expect(env.cli('a', 'flamework', 'SELECT cluster_id FROM users WHERE id = 42').trim()).toBe('2');
    expect(env.cli('a', 'flamework', 'SELECT state, phase FROM fw_shard_moves').trim()).toBe('done\tdone');
  }

  const points: [string, boolean, (e: { type: string; phase?: string; table?: string }, n: number) => boolean][] = [
    ['offline, copying the archive', false, (e) => e.type === 'chunk.copied' && e.table === 'smol_archive'],
    ['offline, copying the tags', false, (e) => e.type === 'chunk.copied' && e.table === 'smol_archive_tags'],
    ['offline, copying the shared items', false, (e) => e.type === 'chunk.copied' && e.table === 'smol_item_twitter'],
    ['offline, during verify', false, (e) => e.type === 'chunk.verified' && e.table === 'smol_archive'],
    ['offline, right after the flip', false, (e) => e.type === 'mapping.flipped'],
    ['offline, mid-cleanup', false, (e) => e.type === 'cleanup.progress'],
    ['online, copying the archive', true, (e) => e.type === 'chunk.copied' && e.table === 'smol_archive'],
    ['online, copying the shared items', true, (e) => e.type === 'chunk.copied' && e.table === 'smol_item_twitter'],
    ['online, in a delta pass', true, (e) => e.type === 'delta.pass'],
    ['online, in the freeze', true, (e) => e.type === 'freeze.started'],
    ['online, right after the flip', true, (e) => e.type === 'mapping.flipped'],
  ];
  for (const [name, online, when] of points) {
    it(`survives SIGKILL ${name}`, async () => {
      const args = base(online);
      const first = await runCli(env, args, when, config);
      expect(first.killed, `the kill point was never reached: ${first.stderr}`).toBe(true);
      expect(first.signal).toBe('SIGKILL');
      await expectFinished(args);
    });
  }
});

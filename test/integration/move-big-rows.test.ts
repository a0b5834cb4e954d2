/**
 * Rows of several MB move with default flags: chunks are bounded by bytes as well as rows (a read stops
 * at the byte budget, LOAD DATA input goes out in 1 MB packets), so neither the packet limit nor the
 * copier's memory depends on how big a user's rows are. Rows of 1 MB under the default 16 MB
 * max_allowed_packet, rows of 32 MB with the server's max_allowed_packet at 64 MB.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sql } from '../../src/db/sql/fragment.js';
import { runMove } from '../../src/move/engine.js';
import type { MoveEvent } from '../../src/events/types.js';
import type { MoveRequest } from '../../src/move/types.js';
import type { ShardId, UserId } from '../../src/topology/index.js';
import { CHUNK_BYTES } from '../../src/move/chunk-size.js';
import { createMainSchema, onBothShards, startMoveEnv, type MoveEnv } from '../helpers/move-env.js';

const MB = 1024 * 1024;
const DDL = [
  'CREATE TABLE Blobs (id BIGINT UNSIGNED NOT NULL PRIMARY KEY, user_id INT UNSIGNED NOT NULL, data LONGBLOB, KEY by_user (user_id)) ENGINE=InnoDB',
  'CREATE TABLE Notes (id BIGINT UNSIGNED NOT NULL PRIMARY KEY, user_id INT UNSIGNED NOT NULL, body VARCHAR(100), KEY by_user (user_id)) ENGINE=InnoDB',
];

const req = (userId: string): MoveRequest => ({
  userId: userId as UserId,
  to: 2 as ShardId,
  dryRun: false,
  assumeNoWrites: true,
  chunkTimeMs: 500,
  concurrency: 2,
  cleanup: 'now',
});

describe('rows of several MB move with default flags', () => {
  let env: MoveEnv;
  const digest = (s: 'a' | 'b', db: string, user: string) =>
    env.cli(
      s,
      db,
      `SELECT id, LENGTH(data), MD5(data) FROM Blobs WHERE user_id = ${user} ORDER BY id; SELECT id, body FROM Notes WHERE user_id = ${user} ORDER BY id`,
    );

  beforeAll(async () => {
    env = await startMoveEnv({ name: 'bigrows', serverArgs: ['--max-allowed-packet=64M', '--innodb-log-file-size=256M'] });
    await createMainSchema(env, [
      { id: '42', shard: 1 },
      { id: '43', shard: 1 },
      { id: '44', shard: 1 },
    ]);
    await onBothShards(env, DDL);
    const src = env.db('a', 'users1');
    // Everyone else's rows are small, so the table's average row says little about these users.
    await src.exec(sql`INSERT INTO Blobs SELECT seq, 44, REPEAT('s', 100) FROM seq_1_to_3000`);
    // User 42: 20 rows of 1 MB (bytes that need escaping included), between small ones.
    await src.exec(
      sql`INSERT INTO Blobs SELECT 10000 + seq, 42, IF(seq % 2 = 0, CONCAT(REPEAT(X'005C090A', 262144), RANDOM_BYTES(1024)), 'small') FROM seq_1_to_40`,
    );
    // User 43: 3 rows of 32 MB.
    for (const i of [1, 2, 3]) await src.exec(sql`INSERT INTO Blobs VALUES (${20000 + i}, 43, CONCAT(REPEAT(CONCAT(X'0A', RANDOM_BYTES(1023)), 32 * 1024)))`);
    await src.exec(sql`INSERT INTO Notes SELECT seq, IF(seq % 2 = 0, 42, 43), CONCAT('note ', seq) FROM seq_1_to_500`);
  }, 120_000);

  afterAll(async () => {
    await env?.close();
  });

  for (const [user, size] of [
    ['42', MB],
    ['43', 32 * MB],
  ] as const) {
    it(`user ${user}: rows of ${size / MB} MB, byte for byte, in chunks bounded by ${CHUNK_BYTES / MB} MB`, async () => {
      const before = digest('a', 'users1', user);
      expect(before).toContain(`\t${size + (user === '42' ? 1024 : 0)}\t`);
      const events: MoveEvent[] = [];
      const { deps, close } = env.deps(events);
      try {
        const r = await runMove(deps, req(user));
        expect(r.ok, r.nextStep).toBe(true);
        expect(r.phase).toBe('done');
      } finally {
        await close();
      }
      expect(digest('b', 'users2', user)).toBe(before);
      expect(digest('a', 'users1', user).trim()).toBe('');
      // Every chunk of Blobs stopped within one row of the byte budget: user 42's big rows alternate
      // with small ones (at most ceil(rows / 2) big rows in a chunk), user 43's are all big.
      const chunks = events.filter((e): e is Extract<MoveEvent, { type: 'chunk.copied' }> => e.type === 'chunk.copied' && e.table === 'Blobs');
      expect(chunks.length).toBeGreaterThan(1);
      const bigIn = (rows: number) => (user === '42' ? Math.ceil(rows / 2) : rows);
      for (const c of chunks) expect((bigIn(c.rows) - 1) * size).toBeLessThan(CHUNK_BYTES);
    }, 120_000);
  }
});

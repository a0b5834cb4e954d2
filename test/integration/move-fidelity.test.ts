/**
 * Data fidelity across two server processes: every awkward type must arrive byte-identical, checked by
 * the move's own verification and independently here through the mariadb command-line client.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sql, raw } from '../../src/db/sql/fragment.js';
import { runMove } from '../../src/move/engine.js';
import type { MoveRequest } from '../../src/move/types.js';
import type { ShardId, UserId } from '../../src/topology/index.js';
import type { MoveEvent } from '../../src/events/types.js';
import { createMainSchema, onBothShards, startMoveEnv, type MoveEnv } from '../helpers/move-env.js';

const WEIRD = 'we`ird tab;le -- x';
const Q = (n: string) => '`' + n.replace(/`/g, '``') + '`';

const DDL = [
  `CREATE TABLE ${Q(WEIRD)} (
     id BIGINT UNSIGNED NOT NULL,
     user_id INT UNSIGNED NOT NULL,
     \`select\` DECIMAL(65,30) NULL,
     \`f lt\` FLOAT NULL,
     \`co\`\`l\` DOUBLE NULL,
     dt DATETIME(6) NULL,
     ts TIMESTAMP NULL DEFAULT NULL,
     zd DATE NULL,
     zdt DATETIME NULL,
     l1 VARCHAR(64) CHARACTER SET latin1 NULL,
     u8 VARCHAR(64) CHARACTER SET utf8mb4 NULL,
     b BLOB NULL,
     j JSON NULL,
     bits BIT(10) NULL,
     e ENUM('a','b','c') NULL,
     s SET('x','y','z') NULL,
     str VARCHAR(10) NULL,
     n INT NULL,
     PRIMARY KEY (id), KEY by_user (user_id)
   ) ENGINE=InnoDB DEFAULT CHARSET=utf8`,
  // keyless, with duplicate rows
  'CREATE TABLE Contacts (user_id INT UNSIGNED NOT NULL, contact_id INT UNSIGNED NOT NULL, nsid VARCHAR(20) NULL) ENGINE=InnoDB',
  // no PK, composite NOT NULL unique key, and a string key under a case-insensitive collation
  'CREATE TABLE Faves (user_id INT UNSIGNED NOT NULL, tag VARCHAR(32) NOT NULL, photo_id BIGINT UNSIGNED NOT NULL, UNIQUE KEY by_fave (tag, user_id)) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci',
  // no user_id index
  'CREATE TABLE Photos (id BIGINT UNSIGNED NOT NULL, user_id INT UNSIGNED NOT NULL, title VARCHAR(255) NOT NULL, PRIMARY KEY (id)) ENGINE=InnoDB',
];

function independentDump(env: MoveEnv, server: 'a' | 'b', db: string, user: string): string {
  const cols = [
    'id',
    'user_id',
    '`select`',
    'CAST(`f lt` AS DOUBLE)',
    'CAST(`co``l` AS DOUBLE)',
    'dt',
    'ts',
    'zd',
    'zdt',
    'HEX(l1)',
    'HEX(u8)',
    'HEX(b)',
    'j',
    'HEX(bits)',
    'e',
    's',
    'IFNULL(str, "<NULL>")',
    'IFNULL(n, "<NULL>")',
    'ISNULL(l1)',
    'ISNULL(b)',
  ];
  return [
    env.cli(server, db, `SET time_zone='+00:00'; SELECT ${cols.join(', ')} FROM ${Q(WEIRD)} WHERE user_id = ${user} ORDER BY id`),
    env.cli(server, db, `SELECT user_id, contact_id, IFNULL(nsid, '<NULL>') FROM Contacts WHERE user_id = ${user} ORDER BY contact_id, nsid`),
    env.cli(server, db, `SELECT HEX(tag), photo_id FROM Faves WHERE user_id = ${user} ORDER BY tag`),
    env.cli(server, db, `SELECT id, HEX(title) FROM Photos WHERE user_id = ${user} ORDER BY id`),
  ].join('\n--\n');
}

describe('move: data fidelity between two servers', () => {
  let env: MoveEnv;

  beforeAll(async () => {
    // Non-strict sql_mode (zero dates) and a non-UTC server time zone, as old Flamework installs run.
    env = await startMoveEnv({ name: 'fidelity', serverArgs: ['--sql-mode=NO_ENGINE_SUBSTITUTION', '--default-time-zone=+05:30'] });
    await createMainSchema(env, [
      { id: '42', shard: 1 },
      { id: '43', shard: 1 },
    ]);
    await onBothShards(env, DDL);
    const src = env.db('a', 'users1');
    await src.withSession(async (s) => {
      await s.exec(sql`SET SESSION time_zone = '+05:30', SESSION sql_mode = 'NO_ENGINE_SUBSTITUTION'`);
      const t = raw(Q(WEIRD));
      await s.exec(sql`INSERT INTO ${t} VALUES
        (18446744073709551615, 42, '12345678901234567890123456789012345.123456789012345678901234567891', 1.234567, 0.1, '2024-02-29 23:59:59.999999', '2024-03-31 02:30:00', '0000-00-00', '0000-00-00 00:00:00', X'E9FF80A0', X'F09F9880C3A9', X'00090A5C0D1A27', '{"a": [1, 2.5, "x\\u00e9"]}', b'1010101010', 'b', 'x,z', '', 0),
        (9007199254740993, 42, -0.000000000000000000000000000001, -3.4028234e38, 1.7976931348623157e308, '1000-01-01 00:00:00.000001', '1970-01-01 05:30:01', '2024-00-00', NULL, X'', X'', X'', NULL, b'0', 'a', '', NULL, NULL),
        (9007199254740994, 42, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, '0', 0),
        (1, 43, 1, 1, 1, NULL, NULL, NULL, NULL, 'other', 'other', NULL, NULL, NULL, NULL, NULL, NULL, NULL)`);
      // Enough rows for several chunks at --chunk-size 7.
      await s.exec(
        sql`INSERT INTO ${t} (id, user_id, l1, u8, b, n) SELECT 9007199254741000 + seq, 42, X'FF', '😀', UNHEX(REPEAT('5C00', seq)), seq FROM seq_1_to_40`,
      );
    });
    await src.exec(sql`INSERT INTO Contacts VALUES (42, 5, 'x'), (42, 5, 'x'), (42, 6, NULL), (42, 7, ''), (43, 5, 'x')`);
    await src.exec(sql`INSERT INTO Faves VALUES (42, 'Apple', 1), (42, 'banana', 2), (42, 'Cherry', 3), (42, 'éclair', 4), (42, 'zebra', 5), (43, 'Apple', 9)`);
    await src.exec(sql`INSERT INTO Photos SELECT seq * 3, IF(seq % 3 = 0, 43, 42), CONCAT('photo ', seq) FROM seq_1_to_50`);
  });

  afterAll(async () => {
    await env?.close();
  });

  it('moves every awkward value byte for byte and verifies it', async () => {
    const before = independentDump(env, 'a', 'users1', '42');
    const otherBefore = independentDump(env, 'a', 'users1', '43');
    expect(before).toContain('18446744073709551615');
    expect(before).toContain('E9FF80A0'); // latin1 bytes stay latin1 bytes
    expect(before).toContain('0000-00-00');

    const events: MoveEvent[] = [];
    const { deps, close } = env.deps(events);
    const req: MoveRequest = {
      userId: '42' as UserId,
      to: 2 as ShardId,
      dryRun: false,
      assumeNoWrites: true,
      chunkTimeMs: 500,
      chunkSize: 7,
      concurrency: 2,
      cleanup: 'now',
    };
    try {
      const r = await runMove(deps, req);
      expect(r.ok).toBe(true);
      expect(r.mappingFlipped).toBe(true);
      expect(r.phase).toBe('done');
      const weird = r.tables.find((t) => t.name === WEIRD)!;
      expect(weird.rows).toBe('43');
      expect(weird.chunks).toBeGreaterThan(5);
      expect(r.tables.every((t) => t.mismatches === 0)).toBe(true);
    } finally {
      await close();
    }

    const after = independentDump(env, 'b', 'users2', '42');
    expect(after).toBe(before);
    // Nothing of user 42 is left on the source; user 43 is untouched there and absent on the target.
    expect(independentDump(env, 'a', 'users1', '42').replace(/\s/g, '')).toBe('------');
    expect(independentDump(env, 'a', 'users1', '43')).toBe(otherBefore);
    expect(independentDump(env, 'b', 'users2', '43').replace(/\s/g, '')).toBe('------');
    // The mapping points where the data is.
    expect(env.cli('a', 'flamework', 'SELECT id, cluster_id FROM users ORDER BY id').trim().split('\n')).toEqual(['42\t2', '43\t1']);
    expect(events.some((e) => e.type === 'mapping.flipped')).toBe(true);
  });

  it('moves the same values back through multi-row INSERTs when the target refuses LOCAL INFILE', async () => {
    // MySQL 8's default local_infile=OFF: the copy reads raw rows and writes INSERTs instead of LOAD DATA.
    const before = independentDump(env, 'b', 'users2', '42');
    expect(before).toContain('E9FF80A0');
    await env.db('a', 'mysql').exec(sql`SET GLOBAL local_infile = 0`);
    const { deps, close } = env.deps([]);
    try {
      const r = await runMove(deps, {
        userId: '42' as UserId,
        to: 1 as ShardId,
        dryRun: false,
        assumeNoWrites: true,
        chunkTimeMs: 500,
        chunkSize: 7,
        concurrency: 2,
        cleanup: 'now',
      });
      expect(r.ok).toBe(true);
      expect(r.tables.every((t) => t.mismatches === 0)).toBe(true);
    } finally {
      await close();
      await env.db('a', 'mysql').exec(sql`SET GLOBAL local_infile = 1`);
    }
    expect(independentDump(env, 'a', 'users1', '42')).toBe(before);
    expect(independentDump(env, 'b', 'users2', '42').replace(/\s/g, '')).toBe('------');
  });
});

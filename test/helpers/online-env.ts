/**
 * Shared by the online-move tests (TypeScript writer and PHP writer): two servers, the users table,
 * tickets, a Dots table on both shards, a memcached process; fresh data per test; and the invariants
 * every online move must leave behind.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { expect } from 'vitest';
import { NumericLiteral, sql } from '../../src/db/sql/fragment.js';
import type { Topology } from '../../src/topology/index.js';
import { freePort } from '../../src/sandbox/servers.js';
import { memcached } from './app-simulator.js';
import { dropGuard } from './guard.js';
import { createMainSchema, onBothShards, startMoveEnv, type MoveEnv } from './move-env.js';
import { dropJournalSql } from './journal.js';

export interface OnlineEnv {
  env: MoveEnv;
  topology: Topology;
  mcPort: number;
  /** User 42 (and 43) back on shard 1 with `rows` seeded rows, no journal, an empty target and cache; returns user 42's ids. */
  reset(rows: number): Promise<string[]>;
  close(): Promise<void>;
}

export async function startOnlineEnv(name: string): Promise<OnlineEnv> {
  const env = await startMoveEnv({ name });
  await createMainSchema(env, [
    { id: '42', shard: 1 },
    { id: '43', shard: 1 },
  ]);
  await onBothShards(env, [
    'CREATE TABLE Dots (id BIGINT UNSIGNED NOT NULL PRIMARY KEY, user_id INT UNSIGNED NOT NULL, body VARCHAR(200), KEY by_user (user_id))',
  ]);
  const mcPort = await freePort();
  const mc: ChildProcess = spawn('memcached', ['-l', '127.0.0.1', '-p', String(mcPort), '-U', '0', '-u', 'root'], { stdio: 'ignore' });
  for (let i = 0; i < 100; i++) {
    if (/VERSION/.test(await memcached(mcPort, 'version\r\n').catch(() => ''))) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  const topology: Topology = { ...env.topology, memcached: { servers: [`127.0.0.1:${mcPort}`], keys: ['USER-{id}'] } };
  return {
    env,
    topology,
    mcPort,
    async reset(rows: number) {
      await env.db('a', 'flamework').exec(sql`UPDATE users SET cluster_id = 1`);
      await env.db('a', 'flamework').exec(dropJournalSql());
      await dropGuard(env.db('a', 'users1'), env.db('b', 'users2'));
      await env.db('b', 'users2').exec(sql`DELETE FROM Dots`);
      const src = env.db('a', 'users1');
      await src.exec(sql`DELETE FROM Dots`);
      await src.exec(
        sql`INSERT INTO Dots SELECT 9007199254740993 + seq * 2, IF(seq % 10 = 0, 43, 42), CONCAT('seed ', seq) FROM seq_1_to_${new NumericLiteral(String(rows))}`,
      );
      await env.db('a', 'tickets').exec(sql`ALTER TABLE Tickets64 AUTO_INCREMENT = 9007199254800001`);
      await memcached(mcPort, 'flush_all\r\n').catch(() => '');
      return env.cli('a', 'users1', 'SELECT id FROM Dots WHERE user_id = 42 ORDER BY id').trim().split('\n');
    },
    async close() {
      mc.kill('SIGTERM');
      await env.close();
    },
  };
}

/**
 * After an online move and its cleanup: every acknowledged write is on the target with its last value,
 * deleted rows are gone, untouched seeds are there, nothing of the user is left on the source but old
 * versions of rows the app changed on the target after the flip, no write
 * was acknowledged on the source after the flip, and no freeze is left behind.
 */
export function expectNoWriteLost(
  env: MoveEnv,
  acks: { id: string; body: string | null; shard: number; at: number }[],
  seeded: string[],
  flippedBy: number,
): void {
  const expected = new Map<string, string | null>();
  for (const a of acks) expected.set(a.id, a.body);
  const target = new Map(
    env
      .cli('b', 'users2', 'SELECT id, body FROM Dots WHERE user_id = 42')
      .trim()
      .split('\n')
      .filter(Boolean)
      .map((l) => l.split('\t') as [string, string]),
  );
  for (const [id, body] of expected) {
    if (body === null) expect(target.has(id), `deleted row ${id} is back`).toBe(false);
    else expect(target.get(id), `row ${id}`).toBe(body);
  }
  for (const id of seeded) if (!expected.has(id)) expect(target.has(id), `seed ${id}`).toBe(true);
  const flipTime = Date.parse(env.cli('a', 'flamework', "SELECT DATE_FORMAT(flipped_at, '%Y-%m-%dT%H:%i:%s.%fZ') FROM fw_shard_moves").trim());
  // The cleanup deletes a source row only when its bytes are on the target at that moment: the only
  // rows it may leave are old versions of rows the app changed (or deleted) on the target since the flip.
  const left = env.cli('a', 'users1', 'SELECT id FROM Dots WHERE user_id = 42').trim().split('\n').filter(Boolean);
  for (const id of left) {
    expect(
      acks.some((a) => a.id === id && a.shard === 2 && a.at >= flipTime - 1000),
      `row ${id} left on the source without a change on the target`,
    ).toBe(true);
  }
  expect(flipTime).toBeLessThanOrEqual(flippedBy);
  expect(acks.filter((a) => a.shard === 1 && a.at > flipTime)).toEqual([]);
  expect(acks.some((a) => a.shard === 2)).toBe(true);
  expect(env.cli('a', 'flamework', 'SELECT COUNT(*) FROM fw_shard_freezes').trim()).toBe('0');
  expect(Number(env.cli('a', 'flamework', 'SELECT TIMESTAMPDIFF(MICROSECOND, freeze_started_at, freeze_ended_at) FROM fw_shard_moves').trim())).toBeGreaterThan(
    0,
  );
}

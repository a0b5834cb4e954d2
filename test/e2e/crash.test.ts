/**
 * Crash safety: SIGKILL the fw-shard process during copy, during verify, between flip and cleanup, and
 * during cleanup; re-run the same command; the move must finish with no row lost or duplicated and the
 * mapping pointing where the data is. Also: a second concurrent move of the same user gets the busy code.
 */
import { spawnSync } from 'node:child_process';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { sql } from '../../src/db/sql/fragment.js';
import { createMainSchema, onBothShards, startMoveEnv, type MoveEnv, resetShards } from '../helpers/move-env.js';
import { BIN, runCli, type Run } from '../helpers/kill-run.js';

const DDL = [
  'CREATE TABLE Dots (id BIGINT UNSIGNED NOT NULL PRIMARY KEY, user_id INT UNSIGNED NOT NULL, body VARCHAR(200) CHARACTER SET utf8mb4, KEY by_user (user_id))',
  'CREATE TABLE Contacts (user_id INT UNSIGNED NOT NULL, contact_id INT UNSIGNED NOT NULL)',
];
const MOVE_ARGS = [
  'move',
  '--user',
  '42',
  '--to',
  '2',
  '--yes',
  '--assume-no-writes',
  '--chunk-size',
  '40',
  '--events',
  '--json',
  '--sleep-between-chunks',
  '40ms',
];

function snapshot(env: MoveEnv, server: 'a' | 'b', db: string): string {
  return [
    env.cli(server, db, 'SELECT id, user_id, HEX(body) FROM Dots WHERE user_id = 42 ORDER BY id'),
    env.cli(server, db, 'SELECT user_id, contact_id FROM Contacts WHERE user_id = 42 ORDER BY contact_id'),
  ].join('--\n');
}

describe('crash safety (SIGKILL, then the same command again)', () => {
  let env: MoveEnv;
  let original = '';

  beforeAll(async () => {
    env = await startMoveEnv({ name: 'crash' });
    await createMainSchema(env, [
      { id: '42', shard: 1 },
      { id: '43', shard: 1 },
    ]);
    await onBothShards(env, DDL);
  }, 120_000);

  beforeEach(async () => {
    // Fresh data for every trial: user 42 on shard 1 with 400 rows in Dots (10 chunks) and duplicates in Contacts.
    await resetShards(env, ['Dots', 'Contacts']);
    const src = env.db('a', 'users1');
    await src.exec(sql`INSERT INTO Dots SELECT 9007199254740993 + seq * 2, IF(seq % 5 = 0, 43, 42), CONCAT('dot ', seq, ' 😀') FROM seq_1_to_500`);
    await src.exec(sql`INSERT INTO Contacts VALUES (42, 1), (42, 1), (42, 2), (43, 1)`);
    original = snapshot(env, 'a', 'users1');
  });

  afterAll(async () => {
    await env?.close();
  });

  async function expectFinished(): Promise<void> {
    const rerun = await runCli(env, MOVE_ARGS);
    expect(rerun.code, rerun.stderr).toBe(0);
    // --events --json: NDJSON throughout, the final document the last line.
    const lines = rerun.stdout.trimEnd().split('\n');
    for (const l of lines) expect(() => JSON.parse(l), `not one JSON document per line: ${l.slice(0, 80)}`).not.toThrow();
    const doc = JSON.parse(lines.at(-1)!) as { ok: boolean; phase: string; mappingFlipped: boolean };
    expect(doc.ok).toBe(true);
    expect(doc.mappingFlipped).toBe(true);
    expect(snapshot(env, 'b', 'users2')).toBe(original); // nothing lost, nothing duplicated
    expect(snapshot(env, 'a', 'users1')).toBe('--\n'); // source cleaned
    expect(env.cli('a', 'users1', 'SELECT COUNT(*) FROM Dots WHERE user_id = 43').trim()).toBe('100'); // other users untouched
    expect(env.cli('a', 'flamework', 'SELECT cluster_id FROM users WHERE id = 42').trim()).toBe('2');
    expect(env.cli('a', 'flamework', "SELECT COUNT(*) FROM fw_shard_moves WHERE state = 'active'").trim()).toBe('0');
    expect(env.cli('a', 'flamework', 'SELECT state, phase FROM fw_shard_moves').trim()).toBe('done\tdone');
  }

  const points: [string, (e: { type: string; phase?: string; table?: string }, n: number) => boolean][] = [
    ['mid-copy', (e, n) => e.type === 'chunk.copied' && n > 6],
    ['during verify', (e) => e.type === 'chunk.verified'],
    ['right after the flip', (e) => e.type === 'mapping.flipped'],
    ['mid-cleanup', (e) => e.type === 'cleanup.progress'],
  ];
  for (const [name, when] of points) {
    it(`survives SIGKILL ${name}`, async () => {
      const first = await runCli(env, MOVE_ARGS, when);
      expect(first.killed, `the kill point was never reached: ${first.stderr}`).toBe(true);
      expect(first.signal).toBe('SIGKILL');
      await expectFinished();
    });
  }

  it('refuses a second concurrent move of the same user with the busy code (7)', async () => {
    let second: Run | undefined;
    let other: Run | undefined;
    const slow = MOVE_ARGS.map((a) => (a === '40ms' ? '250ms' : a));
    const first = await runCli(env, slow, (e) => {
      if (e.type === 'chunk.copied' && !second) {
        // While the first runner holds the move: a move of the same user elsewhere, then the same move.
        const r2 = spawnSync(process.execPath, [BIN, '--config', env.configFile(), 'move', '--user', '42', '--to', '1', '--yes', '--assume-no-writes'], {
          encoding: 'utf8',
        });
        other = { code: r2.status, signal: r2.signal, stdout: r2.stdout, stderr: r2.stderr };
        const r = spawnSync(process.execPath, [BIN, '--config', env.configFile(), ...MOVE_ARGS], { encoding: 'utf8' });
        second = { code: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr };
      }
      return false;
    });
    expect(first.code, first.stderr).toBe(0);
    expect(second?.code, second?.stderr).toBe(7);
    expect(second?.stderr).toMatch(/BUSY.*being run by/s);
    // User 42 is still on shard 1 then, but with a move to shard 2 unfinished, --to 1 is refused too.
    expect(other?.code, other?.stderr).toBe(7);
    expect(other?.stderr).toMatch(/unfinished move/);
    expect(snapshot(env, 'b', 'users2')).toBe(original);
  });
});

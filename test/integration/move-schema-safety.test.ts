/**
 * Schemas fw-shard's promises do not hold on (issue 14), against two real servers: foreign keys that
 * link moved tables with tables that stay (listed, refused where a reference would dangle, allowed by
 * --allow-foreign-keys), a foreign key checked after all in fw-shard's session (named, never a generic
 * mismatch), sharded tables not on InnoDB (refused, naming table, server and engine), and a row larger
 * than the target's max_allowed_packet (a typed refusal naming the row, the move resumable).
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { makeDeps } from '../../src/app/deps.js';
import { FwShardError } from '../../src/errors/index.js';
import { runMove } from '../../src/move/engine.js';
import type { MoveRequest } from '../../src/move/types.js';
import type { ShardId, UserId } from '../../src/topology/index.js';
import { createMainSchema, onBothShards, startMoveEnv, type MoveEnv } from '../helpers/move-env.js';

const USER = '9';

const req = (over: Partial<MoveRequest> = {}): MoveRequest => ({
  userId: USER as UserId,
  to: 2 as ShardId,
  dryRun: false,
  assumeNoWrites: true,
  chunkTimeMs: 500,
  chunkSize: 50,
  concurrency: 1,
  cleanup: 'now',
  ...over,
});

describe('schemas a move must refuse or explain', () => {
  let env: MoveEnv;

  async function refusal(p: Promise<unknown>): Promise<FwShardError> {
    const err = await p.then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(FwShardError);
    return err as FwShardError;
  }
  const rowsOn = (s: 'a' | 'b', db: string, table: string) => env.cli(s, db, `SELECT COUNT(*) FROM ${table} WHERE user_id = ${USER}`).trim();

  beforeAll(async () => {
    env = await startMoveEnv({ name: 'schema-safety' });
    await createMainSchema(env, [{ id: USER, shard: 1 }]);
  });
  afterAll(async () => {
    await env?.close();
  });

  beforeEach(() => {
    env.cli(
      'a',
      'flamework',
      'UPDATE users SET cluster_id = 1; DROP TABLE IF EXISTS fw_shard_moves, fw_shard_move_tables, fw_shard_move_chunks, fw_shard_freezes',
    );
    for (const [s, d] of [
      ['a', 'users1'],
      ['b', 'users2'],
    ] as const) {
      const tables = env.cli(s, d, 'SHOW TABLES').trim().split('\n').filter(Boolean);
      if (tables.length) env.cli(s, d, `SET foreign_key_checks = 0; DROP TABLE ${tables.map((t) => '`' + t + '`').join(', ')}`);
    }
  });

  it('sharded tables not on InnoDB are refused on the source and the target, naming table, server and engine', async () => {
    await onBothShards(env, [
      'CREATE TABLE Dots (id BIGINT UNSIGNED NOT NULL PRIMARY KEY, user_id INT UNSIGNED NOT NULL, KEY by_user (user_id)) ENGINE=InnoDB',
      'CREATE TABLE Sheets (id BIGINT UNSIGNED NOT NULL PRIMARY KEY, user_id INT UNSIGNED NOT NULL, KEY by_user (user_id)) ENGINE=InnoDB',
      // Not counted: a table that is not per-user, one the config excludes, fw-shard's own.
      'CREATE TABLE Settings (k VARCHAR(20) NOT NULL PRIMARY KEY, v TEXT) ENGINE=MyISAM',
      'CREATE TABLE Scratch (id INT UNSIGNED NOT NULL PRIMARY KEY, user_id INT UNSIGNED NOT NULL) ENGINE=MEMORY',
      'CREATE TABLE fw_shard_changes (id INT UNSIGNED NOT NULL PRIMARY KEY, user_id INT UNSIGNED NOT NULL) ENGINE=Aria',
    ]);
    env.cli('a', 'users1', `INSERT INTO Dots SELECT seq, ${USER} FROM seq_1_to_20; INSERT INTO Sheets VALUES (1, ${USER})`);
    env.cli('a', 'users1', 'ALTER TABLE Dots ENGINE=MyISAM');
    env.cli('b', 'users2', 'ALTER TABLE Sheets ENGINE=Aria');
    const topology = { ...env.topology, tables: { ...env.topology.tables, exclude: ['Scratch'] } };
    const { deps, close } = makeDeps(topology, () => undefined);
    try {
      const err = await refusal(runMove(deps, req({ dryRun: true })));
      expect(err.code).toBe('UNSUPPORTED_ENGINE');
      expect(err.exitCode).toBe(5);
      expect(err.message).toMatch(/table Dots on shard 1 \(127\.0\.0\.1:\d+\/users1\): ENGINE=MyISAM/);
      expect(err.message).toMatch(/table Sheets on shard 2 \(127\.0\.0\.1:\d+\/users2\): ENGINE=Aria/);
      expect(err.message).not.toMatch(/Settings|Scratch|fw_shard_changes/);
      expect(err.hint).toMatch(/ALTER TABLE Dots ENGINE=InnoDB, and the same for Sheets.*tables\.exclude/);
      expect(rowsOn('b', 'users2', 'Dots')).toBe('0');
      // The next step works: converted, the move goes through.
      env.cli('a', 'users1', 'ALTER TABLE Dots ENGINE=InnoDB');
      env.cli('b', 'users2', 'ALTER TABLE Sheets ENGINE=InnoDB');
      const r = await runMove(deps, req());
      expect(r.ok, r.nextStep).toBe(true);
    } finally {
      await close();
    }
    expect(rowsOn('b', 'users2', 'Dots')).toBe('20');
  });
});

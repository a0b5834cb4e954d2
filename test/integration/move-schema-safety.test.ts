/**
 * Schemas fw-shard's promises do not hold on (issue 14), against two real servers: foreign keys that
 * link moved tables with tables that stay (listed, refused where a reference would dangle, allowed by
 * --allow-foreign-keys), a foreign key checked after all in fw-shard's session (named, never a generic
 * mismatch), sharded tables not on InnoDB (refused, naming table, server and engine), and a row larger
 * than the target's max_allowed_packet or than what the source can hash (a typed refusal naming the
 * row, the move resumable).
 */
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { makeDeps } from '../../src/app/deps.js';
import { runCli } from '../../src/cli/main.js';
import type { CliContext } from '../../src/cli/context.js';
import { openDb } from '../../src/db/pool.js';
import { sql } from '../../src/db/sql/fragment.js';
import { FwShardError } from '../../src/errors/index.js';
import { Applier } from '../../src/move/applier.js';
import { resumeMove, runMove } from '../../src/move/engine.js';
import { Inspector } from '../../src/move/inspector.js';
import { planTable } from '../../src/move/table-plan.js';
import type { MoveRequest } from '../../src/move/types.js';
import type { ShardId, UserId } from '../../src/topology/index.js';
import { createMainSchema, onBothShards, startMoveEnv, type MoveEnv } from '../helpers/move-env.js';
import { sink } from '../helpers/sink.js';
import { DROP_JOURNAL } from '../helpers/journal.js';

const USER = '9';
const md5 = (s: string) => createHash('md5').update(s).digest('hex');

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

const ALBUMS =
  'CREATE TABLE Albums (id BIGINT UNSIGNED NOT NULL PRIMARY KEY, user_id INT UNSIGNED NOT NULL, title VARCHAR(200), KEY by_user (user_id)) ENGINE=InnoDB';
const ITEMS =
  'CREATE TABLE AlbumItems (id BIGINT UNSIGNED NOT NULL PRIMARY KEY, user_id INT UNSIGNED NOT NULL, album_id BIGINT UNSIGNED NOT NULL, KEY by_user (user_id), ' +
  'CONSTRAINT items_album FOREIGN KEY (album_id) REFERENCES Albums (id) ON DELETE CASCADE) ENGINE=InnoDB';

describe('schemas a move must refuse or explain', () => {
  let env: MoveEnv;

  async function run(argv: string[]) {
    const stdout = sink();
    const stderr = sink();
    const ctx: CliContext = { stdout, stderr, stdinIsTTY: false, env: {}, cwd: env.dir };
    const code = await runCli(['--config', env.configFile(), ...argv], ctx);
    return { code, stdout: stdout.text(), stderr: stderr.text() };
  }
  async function refusal(p: Promise<unknown>): Promise<FwShardError> {
    const err = await p.then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(FwShardError);
    return err as FwShardError;
  }
  const shardOf = () => env.cli('a', 'flamework', `SELECT cluster_id FROM users WHERE id = ${USER}`).trim();
  const rowsOn = (s: 'a' | 'b', db: string, table: string) => env.cli(s, db, `SELECT COUNT(*) FROM ${table} WHERE user_id = ${USER}`).trim();

  beforeAll(async () => {
    env = await startMoveEnv({ name: 'schema-safety' });
    await createMainSchema(env, [{ id: USER, shard: 1 }]);
  });
  afterAll(async () => {
    await env?.close();
  });

  beforeEach(() => {
    env.cli('a', 'flamework', `UPDATE users SET cluster_id = 1; ${DROP_JOURNAL}`);
    for (const [s, d] of [
      ['a', 'users1'],
      ['b', 'users2'],
    ] as const) {
      const tables = env.cli(s, d, 'SHOW TABLES').trim().split('\n').filter(Boolean);
      if (tables.length) env.cli(s, d, `SET foreign_key_checks = 0; DROP TABLE ${tables.map((t) => '`' + t + '`').join(', ')}`);
    }
  });

  async function albumsAndItems(): Promise<void> {
    await onBothShards(env, [ALBUMS, ITEMS]);
    env.cli('a', 'users1', `INSERT INTO Albums SELECT seq, ${USER}, CONCAT('album ', seq) FROM seq_1_to_10`);
    env.cli('a', 'users1', `INSERT INTO AlbumItems SELECT 1000 + seq, ${USER}, 1 + seq % 10 FROM seq_1_to_60`);
  }

  it('foreign keys between moved tables are listed in the dry run and --json, and the move goes through', async () => {
    await albumsAndItems();
    const dry = await run(['move', '--user', USER, '--to', '2', '--dry-run']);
    expect(dry.code, dry.stderr).toBe(0);
    expect(dry.stdout).toMatch(
      /foreign key: shard 1 \(source\): AlbumItems\(album_id\) -> Albums\(id\) \[items_album, ON DELETE CASCADE, ON UPDATE RESTRICT\]: both tables move: fw-shard writes with foreign_key_checks = 0/,
    );
    expect(dry.stdout).toMatch(/foreign key: shard 2 \(target\): AlbumItems\(album_id\) -> Albums\(id\) \[items_album/);
    const json = await run(['move', '--user', USER, '--to', '2', '--dry-run', '--json']);
    const doc = JSON.parse(json.stdout) as { plan: { foreignKeys: { shard: number; name: string; kind: string; dangles: boolean; treatment: string }[] } };
    expect(doc.plan.foreignKeys.map((f) => [f.shard, f.name, f.kind, f.dangles])).toEqual([
      [1, 'items_album', 'within', false],
      [2, 'items_album', 'within', false],
    ]);
    expect(doc.plan.foreignKeys[0]!.treatment).toMatch(/does not fire for its copies, re-copies and deletes; each table is verified byte for byte/);
    const { deps, close } = makeDeps(env.topology, () => undefined);
    try {
      const r = await runMove(deps, req({ chunkSize: 7 }));
      expect(r.ok, r.nextStep).toBe(true);
    } finally {
      await close();
    }
    expect(rowsOn('b', 'users2', 'AlbumItems')).toBe('60');
    expect(rowsOn('a', 'users1', 'AlbumItems')).toBe('0');
  });

  it('a moved table referencing one that stays (on the target) refuses the move unless --allow-foreign-keys', async () => {
    // Venues is shared by every user: on each shard, not per-user. Photos references it; shard 2 lacks venue 2.
    await onBothShards(env, [
      'CREATE TABLE Venues (id INT UNSIGNED NOT NULL PRIMARY KEY, name VARCHAR(50)) ENGINE=InnoDB',
      'CREATE TABLE Photos (id BIGINT UNSIGNED NOT NULL PRIMARY KEY, user_id INT UNSIGNED NOT NULL, venue_id INT UNSIGNED NOT NULL, KEY by_user (user_id), ' +
        'CONSTRAINT photo_venue FOREIGN KEY (venue_id) REFERENCES Venues (id)) ENGINE=InnoDB',
    ]);
    env.cli('a', 'users1', `INSERT INTO Venues VALUES (1, 'one'), (2, 'two'); INSERT INTO Photos VALUES (1, ${USER}, 1), (2, ${USER}, 2)`);
    env.cli('b', 'users2', `INSERT INTO Venues VALUES (1, 'one')`);
    const r = await run(['move', '--user', USER, '--to', '2', '--yes']);
    expect(r.code).toBe(5);
    expect(r.stderr).toMatch(/error \[FOREIGN_KEYS\]: foreign keys link moved tables with tables that stay, so references would dangle after the move/);
    expect(r.stderr).toMatch(/shard 2 \(target\): Photos\(venue_id\) -> Venues\(id\) \[photo_venue.*Photos moves but Venues does not.*fail with error 1452/);
    // On the source the same key is harmless (deleting Photos rows only removes references): not refused for it.
    expect(r.stderr).not.toMatch(/shard 1 \(source\): Photos/);
    expect(r.stderr).toMatch(/next step: Nothing was written\..*tables\.include.*--allow-foreign-keys/);
    expect(rowsOn('b', 'users2', 'Photos')).toBe('0');
    expect(shardOf()).toBe('1');

    const ok = await run(['move', '--user', USER, '--to', '2', '--yes', '--allow-foreign-keys', '--assume-no-writes', '--json']);
    expect(ok.code, ok.stderr).toBe(0);
    const doc = JSON.parse(ok.stdout) as { plan: { warnings: string[]; foreignKeys: { shard: number; kind: string; dangles: boolean }[] } };
    expect(doc.plan.foreignKeys.map((f) => [f.shard, f.kind, f.dangles])).toEqual([
      [1, 'to-unmoved', false],
      [2, 'to-unmoved', true],
    ]);
    expect(doc.plan.warnings.join('\n')).toMatch(
      /foreign key photo_venue on shard 2 \(Photos -> Venues\) leaves references dangling \(allowed by --allow-foreign-keys\)/,
    );
    // Byte for byte, dangling reference included; the shared table was not touched on either side.
    expect(env.cli('b', 'users2', `SELECT id, venue_id FROM Photos ORDER BY id`)).toBe('1\t1\n2\t2\n');
    expect(env.cli('b', 'users2', 'SELECT COUNT(*) FROM Venues').trim()).toBe('1');
    expect(env.cli('a', 'users1', 'SELECT COUNT(*) FROM Venues').trim()).toBe('2');
    expect(shardOf()).toBe('2');
  });

  it('a table that stays referencing a moved one (on the source) refuses; excluded tables count as staying', async () => {
    // PhotoNotes is excluded by the config (as if not per-user): its rows point at the user's Photos.
    await onBothShards(env, [
      'CREATE TABLE Photos (id BIGINT UNSIGNED NOT NULL PRIMARY KEY, user_id INT UNSIGNED NOT NULL, KEY by_user (user_id)) ENGINE=InnoDB',
      'CREATE TABLE PhotoNotes (id INT UNSIGNED NOT NULL PRIMARY KEY, user_id INT UNSIGNED NOT NULL, photo_id BIGINT UNSIGNED NOT NULL, ' +
        'CONSTRAINT note_photo FOREIGN KEY (photo_id) REFERENCES Photos (id) ON DELETE CASCADE) ENGINE=InnoDB',
    ]);
    env.cli('a', 'users1', `INSERT INTO Photos VALUES (1, ${USER}), (2, ${USER}); INSERT INTO PhotoNotes VALUES (1, ${USER}, 1)`);
    const topology = { ...env.topology, tables: { ...env.topology.tables, exclude: ['PhotoNotes'] } };
    const { deps, close } = makeDeps(topology, () => undefined);
    try {
      const err = await refusal(runMove(deps, req()));
      expect(err.code).toBe('FOREIGN_KEYS');
      expect(err.exitCode).toBe(5);
      expect(err.message).toMatch(
        /shard 1 \(source\): PhotoNotes\(photo_id\) -> Photos\(id\) \[note_photo, ON DELETE CASCADE.*PhotoNotes does not move but references Photos, which does: .*dangle once the cleanup deletes those \(ON DELETE CASCADE does not fire/,
      );
      expect(err.message).not.toMatch(/shard 2 \(target\): PhotoNotes/);
      expect(rowsOn('b', 'users2', 'Photos')).toBe('0');

      const r = await runMove(deps, req({ allowForeignKeys: true }));
      expect(r.ok, r.nextStep).toBe(true);
    } finally {
      await close();
    }
    // fw-shard's deletes did not cascade: the note stays on shard 1 (dangling, as the refusal said).
    expect(env.cli('a', 'users1', 'SELECT id, photo_id FROM PhotoNotes')).toBe('1\t1\n');
    expect(rowsOn('a', 'users1', 'Photos')).toBe('0');
    expect(rowsOn('b', 'users2', 'Photos')).toBe('2');
  });

  it('a foreign key checked after all in the write session is named as the cause, with what to do', async () => {
    await albumsAndItems();
    // A session whose foreign_key_checks is on again (a proxy that drops session settings): a child row
    // whose album is not on the target is refused. Both write paths: LOAD DATA, and INSERTs.
    const target = openDb(env.b.endpoint('users2'));
    try {
      const spec = planTable((await new Inspector(target).schema()).get('AlbumItems')!, 'user_id');
      const rows = await new Inspector(env.db('a', 'users1')).readRange(spec, USER, null, null);
      for (const loadData of [true, false]) {
        await target.withSession((s) => s.exec(sql`SET SESSION foreign_key_checks = 1`), { binary: true });
        const applier = new Applier(target);
        if (!loadData) env.cli('b', 'mysql', 'SET GLOBAL local_infile = 0');
        try {
          const err = await refusal(applier.replaceRange(spec, USER, null, null, rows, { sqlMode: '', maxBytes: 65536, skipDuplicates: false }));
          expect(err.code, err.message).toBe('FOREIGN_KEYS');
          expect(err.exitCode).toBe(5);
          expect(err.message).toMatch(
            /table AlbumItems: sandbox b \(127\.0\.0\.1:\d+\/users2\) refused fw-shard's write because of foreign key items_album of table AlbumItems: Cannot add or update a child row/,
          );
          expect(err.message).toMatch(/foreign_key_checks = 0, so the checks were on in its session\. Nothing of that chunk was kept/);
          expect(err.message).not.toMatch(/Something is writing/);
          expect(err.hint).toMatch(/not through a proxy that drops session settings.*drop foreign key items_album on AlbumItems.*run the same command again/);
        } finally {
          env.cli('b', 'mysql', 'SET GLOBAL local_infile = 1');
        }
        expect(rowsOn('b', 'users2', 'AlbumItems')).toBe('0');
      }
    } finally {
      await target.close();
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

  it('a row larger than the target max_allowed_packet is a typed refusal naming the row, and the move resumes once it is raised', async () => {
    await onBothShards(env, [
      'CREATE TABLE Blobs (id BIGINT UNSIGNED NOT NULL PRIMARY KEY, user_id INT UNSIGNED NOT NULL, body LONGBLOB, KEY by_user (user_id)) ENGINE=InnoDB',
    ]);
    env.cli(
      'a',
      'users1',
      `INSERT INTO Blobs SELECT seq, ${USER}, REPEAT('x', 100) FROM seq_1_to_20; INSERT INTO Blobs VALUES (21, ${USER}, REPEAT('y', 300000))`,
    );
    const before = env.cli('a', 'users1', `SELECT id, MD5(body) FROM Blobs ORDER BY id`);
    env.cli('b', 'mysql', 'SET GLOBAL max_allowed_packet = 65536');
    try {
      for (const loadData of [true, false]) {
        if (!loadData) env.cli('b', 'mysql', 'SET GLOBAL local_infile = 0');
        const r = await run(['move', '--user', USER, '--to', '2', '--yes', '--assume-no-writes', '--chunk-size', '100', '--json']);
        expect(r.code, r.stderr).toBe(5);
        expect(r.stderr).not.toMatch(/internal error/);
        const doc = JSON.parse(r.stdout) as { ok: boolean; moveId: string; error: { code: string; message: string; nextStep: string } };
        expect(doc.error.code).toBe('PACKET_TOO_LARGE');
        expect(doc.error.message).toMatch(
          /table Blobs: shard 2 \(127\.0\.0\.1:\d+\/users2\) refused a packet of \d+ bytes, larger than its max_allowed_packet \(65536 bytes\): the chunk held 21 row\(s\) of user 9, the largest 300003 bytes \(id=21\)\. Nothing of that chunk was kept/,
        );
        expect(doc.error.message).toMatch(/mapping was NOT flipped/);
        expect(doc.error.nextStep).toMatch(
          /^On shard 2 \(.*\): SET GLOBAL max_allowed_packet = 1048576; and set max_allowed_packet = 1048576 in its server config.*fw-shard resume ID/,
        );
        expect(rowsOn('b', 'users2', 'Blobs')).toBe('0');
        expect(shardOf()).toBe('1');
        // The journal keeps the move resumable; abort it to try the other write path the same way.
        expect(env.cli('a', 'flamework', `SELECT state FROM fw_shard_moves WHERE id = ${doc.moveId}`).trim()).toBe('active');
        if (loadData) expect((await run(['abort', doc.moveId])).code).toBe(0);
      }
      // The next step works: raised (as the hint says), the same move resumes and finishes.
      env.cli('b', 'mysql', 'SET GLOBAL max_allowed_packet = 1048576');
      const id = env.cli('a', 'flamework', `SELECT id FROM fw_shard_moves WHERE state = 'active'`).trim();
      const { deps, close } = makeDeps(env.topology, () => undefined);
      try {
        const r = await resumeMove(deps, id, req());
        expect(r.ok, r.nextStep).toBe(true);
      } finally {
        await close();
      }
      expect(env.cli('b', 'users2', `SELECT id, MD5(body) FROM Blobs ORDER BY id`)).toBe(before);
      expect(rowsOn('a', 'users1', 'Blobs')).toBe('0');
    } finally {
      env.cli('b', 'mysql', 'SET GLOBAL max_allowed_packet = 16777216; SET GLOBAL local_infile = 1');
    }
  });

  it('a row the source cannot hash (longer than its max_allowed_packet) stops the move before the flip, never exit 70', async () => {
    await onBothShards(env, [
      'CREATE TABLE Pages (id BIGINT UNSIGNED NOT NULL PRIMARY KEY, user_id INT UNSIGNED NOT NULL, a LONGBLOB, b LONGBLOB, KEY by_user (user_id)) ENGINE=InnoDB',
    ]);
    // Each value fits in a packet, the row does not: grown by two UPDATEs, as an app does.
    env.cli('a', 'users1', `INSERT INTO Pages SELECT seq, ${USER}, 'small', NULL FROM seq_1_to_5; UPDATE Pages SET a = REPEAT('a', 50000) WHERE id = 3`);
    env.cli('a', 'users1', `UPDATE Pages SET b = REPEAT('b', 50000) WHERE id = 3`);
    env.cli('a', 'mysql', 'SET GLOBAL max_allowed_packet = 65536');
    try {
      const r = await run(['move', '--user', USER, '--to', '2', '--yes', '--assume-no-writes', '--json']);
      expect(r.code, r.stderr).toBe(5);
      const doc = JSON.parse(r.stdout) as { moveId: string; error: { code: string; message: string; nextStep: string } };
      expect(doc.error.code).toBe('PACKET_TOO_LARGE');
      expect(doc.error.message).toMatch(
        /table Pages: the row id=3 of the user on shard 1 \(127\.0\.0\.1:\d+\/users1\) is larger than its max_allowed_packet \(65536 bytes\), so that server cannot hash it/,
      );
      expect(doc.error.message).toMatch(/mapping was NOT flipped/);
      expect(doc.error.nextStep).toMatch(/^On shard 1 .*SET GLOBAL max_allowed_packet/);
      expect(shardOf()).toBe('1');
      expect(rowsOn('a', 'users1', 'Pages')).toBe('5');
      env.cli('a', 'mysql', 'SET GLOBAL max_allowed_packet = 16777216');
      const { deps, close } = makeDeps(env.topology, () => undefined);
      try {
        const done = await resumeMove(deps, doc.moveId, req());
        expect(done.ok, done.nextStep).toBe(true);
      } finally {
        await close();
      }
      expect(env.cli('b', 'users2', 'SELECT id, MD5(a), MD5(b) FROM Pages ORDER BY id')).toBe(
        `1\t${md5('small')}\tNULL\n2\t${md5('small')}\tNULL\n3\t${md5('a'.repeat(50000))}\t${md5('b'.repeat(50000))}\n4\t${md5('small')}\tNULL\n5\t${md5('small')}\tNULL\n`,
      );
    } finally {
      env.cli('a', 'mysql', 'SET GLOBAL max_allowed_packet = 16777216');
    }
  });
});

/**
 * Real Flamework shapes against real servers (issue 16): a Dotspotting-like app graduating from poor
 * man's federation. db_main (server 0) holds `Users` (capital U), DotsLookup, the sharded Dots and
 * Sheets, and the poor man's Tickets64; the new shard 2 (server 1) was built from every schema file, so
 * it has Users and DotsLookup too; FlickrPhotos holds an outside service's ids; a table is owned
 * through another one. The config is the graduation one (federation off, shard 1 = db_main) and does not
 * name the mapping table.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../../src/cli/main.js';
import type { CliContext } from '../../src/cli/context.js';
import { raw, sql } from '../../src/db/sql/fragment.js';
import { sink } from '../helpers/sink.js';
import { useServers } from '../helpers/servers.js';

const s = useServers(2, { prefix: 'fws-real-' });
let dir = '';

const MAIN_DDL = [
  'CREATE TABLE `Users` (`id` INT UNSIGNED NOT NULL PRIMARY KEY, `username` VARCHAR(255) CHARACTER SET latin1, `cluster_id` TINYINT UNSIGNED NOT NULL)',
  'CREATE TABLE `DotsLookup` (`dot_id` BIGINT UNSIGNED NOT NULL PRIMARY KEY, `user_id` INT UNSIGNED NOT NULL, `sheet_id` INT UNSIGNED NOT NULL)',
  "CREATE TABLE `Tickets64` (`id` BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY, `stub` CHAR(1) NOT NULL DEFAULT '', UNIQUE KEY `stub` (`stub`)) ENGINE=MyISAM AUTO_INCREMENT=62",
];
const SHARD_DDL = [
  'CREATE TABLE `Dots` (`id` INT(20) UNSIGNED NOT NULL PRIMARY KEY, `sheet_id` INT UNSIGNED NOT NULL, `user_id` INT UNSIGNED NOT NULL, `details` TEXT NOT NULL, KEY `by_user` (`user_id`))',
  'CREATE TABLE `Sheets` (`id` INT(20) UNSIGNED NOT NULL PRIMARY KEY, `user_id` INT UNSIGNED NOT NULL, `label` VARCHAR(255))',
];

function config(name: string, extra: Record<string, unknown> = {}): string {
  const path = join(dir, name);
  const [a, b] = [s.server(0).port, s.server(1).port];
  writeFileSync(
    path,
    JSON.stringify({
      version: 1,
      defaults: { host: '127.0.0.1', user: 'root', password: '' },
      main: { port: a, database: 'ds_main' },
      shards: { '1': { port: a, database: 'ds_main' }, '2': { port: b, database: 'ds_users2' } },
      tickets: [{ port: a, database: 'ds_main' }],
      ...extra,
    }),
    { mode: 0o600 },
  );
  return path;
}

async function run(argv: string[]) {
  const stdout = sink();
  const stderr = sink();
  const ctx: CliContext = { stdout, stderr, stdinIsTTY: false, env: {}, cwd: dir };
  const code = await runCli(argv, ctx);
  return { code, stdout: stdout.text(), stderr: stderr.text() };
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'fws-real-cfg-'));
  const root0 = s.db(0);
  await root0.exec(sql`CREATE DATABASE ds_main`);
  const main = s.db(0, 'ds_main');
  for (const d of [...MAIN_DDL, ...SHARD_DDL]) await main.exec(sql`${raw(d)}`);
  await main.exec(sql`CREATE TABLE FlickrPhotos (id BIGINT UNSIGNED NOT NULL PRIMARY KEY, user_id INT UNSIGNED NOT NULL)`);
  // Faves on db_main as created from today's schema; on shard 2 as grown by ALTERs: other column order, another index.
  await main.exec(
    sql`CREATE TABLE Faves (id BIGINT UNSIGNED NOT NULL PRIMARY KEY, user_id INT UNSIGNED NOT NULL, note VARCHAR(64) CHARACTER SET latin1 NOT NULL DEFAULT '', KEY by_user (user_id))`,
  );
  await main.exec(sql`INSERT INTO Faves SELECT seq, 42, CONCAT('f', seq) FROM seq_1_to_25`);
  await main.exec(sql`INSERT INTO Users VALUES (42, 'aaron', 1), (43, 'seb', 1)`);
  await main.exec(sql`INSERT INTO Sheets VALUES (11, 42, 'one'), (13, 43, 'two')`);
  await main.exec(sql`INSERT INTO Dots SELECT seq, 11, 42, CONCAT('dot ', seq) FROM seq_101_to_140`);
  await main.exec(sql`INSERT INTO DotsLookup SELECT seq, 42, 11 FROM seq_101_to_140`);

  await s.db(1).exec(sql`CREATE DATABASE ds_users2`);
  const shard = s.db(1, 'ds_users2');
  // Built from every schema file, as flamework-tools' setup-db.sh does.
  for (const d of [...MAIN_DDL.slice(0, 2), ...SHARD_DDL]) await shard.exec(sql`${raw(d)}`);
  await shard.exec(
    sql`CREATE TABLE Faves (note VARCHAR(64) CHARACTER SET latin1 NOT NULL DEFAULT '', user_id INT UNSIGNED NOT NULL, id BIGINT UNSIGNED NOT NULL PRIMARY KEY, KEY by_user_id (user_id, id))`,
  );
  await shard.exec(sql`CREATE TABLE FlickrPhotos (id BIGINT UNSIGNED NOT NULL PRIMARY KEY, user_id INT UNSIGNED NOT NULL)`);
  await shard.exec(sql`CREATE TABLE ArchiveRows (id BIGINT UNSIGNED NOT NULL PRIMARY KEY, account_id INT UNSIGNED NOT NULL)`);
  await shard.exec(sql`INSERT INTO FlickrPhotos VALUES (18446744073709551615, 44)`);
  await shard.exec(sql`INSERT INTO Sheets VALUES (500, 44, 'not a ticket?')`);
});

describe('graduation off db_main on real servers', () => {
  it('status: reads the Users table, says shard 1 is db_main, warns instead of failing on outside ids', async () => {
    const r = await run(['-c', config('plain.json'), 'status', '--exact', '--json']);
    const doc = JSON.parse(r.stdout);
    expect(doc.mapping).toEqual({ table: 'Users', server: 'db_main', shardColumn: 'cluster_id', source: 'detected' });
    expect(doc.poorMans).toBe('partial');
    expect(doc.problems).toEqual([]);
    expect(r.code).toBe(0);
    const warnings = doc.warnings.join('\n');
    expect(warnings).toMatch(/shard 1 is db_main's own database, and the config does not say which tables are sharded: moves off it are refused/);
    expect(warnings).toMatch(/shard 2 holds tables that belong to db_main: DotsLookup, Users/);
    expect(warnings).toMatch(/shard 2 has tables with no owner column that never move: ArchiveRows/);
    expect(warnings).toMatch(/does Sheets\.id hold tickets\? Its id 500 on shard 2 is at or above the next Tickets64 id 62/);
    expect(warnings).not.toMatch(/FlickrPhotos\.id/); // Flickr's own photo ids are no tickets
    const text = await run(['-c', config('plain.json'), 'status']);
    expect(text.stdout).toContain("Mode: graduation: shard 1 is db_main's own database");
    expect(text.stdout).toContain('Mapping: Users.cluster_id on db_main (table name read from the server)');
  });

  it('status: a column declared ticketed turns the same overlap into a problem (exit 8)', async () => {
    const r = await run(['-c', config('ticketed.json', { tables: { include: ['Dots', 'Sheets'], ticketed: ['Sheets.id', 'Dots.id'] } }), 'status', '--json']);
    expect(r.code).toBe(8);
    expect(JSON.parse(r.stdout).problems).toEqual([
      expect.stringMatching(/^tickets 1: next Tickets64 id 62 is not above id 500 already in shard 2 Sheets\.id \(declared ticketed\)/),
      expect.stringMatching(/^tickets 1: next Tickets64 id 62 is not above id 140 already in shard 1 Dots\.id \(declared ticketed\)/),
    ]);
  });

  it('move off db_main without tables.include is refused (exit 5), naming the candidates', async () => {
    const r = await run(['-c', config('plain.json'), 'move', '--user', '42', '--to', '2', '--dry-run', '--json']);
    expect(r.code).toBe(5);
    const doc = JSON.parse(r.stdout);
    expect(doc.error.code).toBe('TABLES_UNDECLARED');
    expect(doc.error.message).toContain('Tables with the owner column there: Dots, DotsLookup, Faves, FlickrPhotos, Sheets');
    expect(doc.error.nextStep).toContain('--schema schema/db_users.schema');
  });

  it("plan --graduate without tables.include is refused the same way (it would count db_main's own rows)", async () => {
    const r = await run(['-c', config('plain.json'), 'plan', '--graduate', '--to', '2', '--json']);
    expect(r.code).toBe(5);
    expect(JSON.parse(r.stdout).error.code).toBe('TABLES_UNDECLARED');
  });

  it('with tables.include the move takes Dots and Sheets only; DotsLookup and Users stay on db_main', async () => {
    const cfg = config('declared.json', { tables: { include: ['Dots', 'Sheets', 'FlickrPhotos', 'Faves'] } });
    const dry = await run(['-c', cfg, 'move', '--user', '42', '--to', '2', '--dry-run', '--json']);
    expect(dry.code).toBe(0);
    const plan = JSON.parse(dry.stdout);
    expect(plan.plan.tables.map((t: { name: string }) => t.name)).toEqual(['Dots', 'Faves', 'FlickrPhotos', 'Sheets']);
    // Column order alone is no drift; an index-only difference is a warning.
    expect(plan.plan.warnings).toContain('Faves: key by_user(user_id) is missing on the target (allowed: the copy is unaffected)');
    expect(plan.plan.warnings.join('\n')).toMatch(/shard 2 holds tables that belong to db_main: DotsLookup, Users/);

    const r = await run(['-c', cfg, 'move', '--user', '42', '--to', '2', '--yes', '--assume-no-writes', '--no-tui', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const count = async (srv: number, db: string, q: string) => Number((await s.db(srv, db).rows<{ n: string }>(sql`${raw(q)}`))[0]!.n);
    expect(await count(1, 'ds_users2', 'SELECT COUNT(*) AS n FROM Dots WHERE user_id = 42')).toBe(40);
    expect(await count(0, 'ds_main', 'SELECT COUNT(*) AS n FROM Dots WHERE user_id = 42')).toBe(0);
    expect(await count(1, 'ds_users2', "SELECT COUNT(*) AS n FROM Faves WHERE user_id = 42 AND note = CONCAT('f', id)")).toBe(25);
    expect(await count(0, 'ds_main', 'SELECT COUNT(*) AS n FROM DotsLookup WHERE user_id = 42')).toBe(40);
    expect(await count(1, 'ds_users2', 'SELECT COUNT(*) AS n FROM DotsLookup')).toBe(0);
    expect(await count(0, 'ds_main', 'SELECT cluster_id AS n FROM Users WHERE id = 42')).toBe(2);
  });
});

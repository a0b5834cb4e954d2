/**
 * Configs read as real Flamework apps write them (issue 16): the graduation config (poor man's
 * federation off, shard 1 = db_main), sharded tables from the app's schema file, memcache settings,
 * and the PHP shapes real config files use (conditionals, `&$GLOBALS['cfg']` aliases, includes).
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { runCli } from '../../src/cli/main.js';
import type { CliContext } from '../../src/cli/context.js';
import { loadFlameworkFiles } from '../../src/config/flamework/loader.js';
import { proposeThrough, schemaShapes, schemaTables } from '../../src/config/flamework/schema-file.js';
import { normalizeConfig } from '../../src/config/load.js';
import { chooseMappingTable } from '../../src/app/mapping-table.js';
import { importFlamework } from '../../src/config/flamework/import.js';
import { cacheKeys, DEFAULT_USER_KEYS, KNOWN_USER_KEYS } from '../../src/cache/keys.js';
import { sink } from '../helpers/sink.js';

const FIXTURES = resolve(fileURLToPath(import.meta.url), '../../fixtures/flamework');
const SECRETS = ['Grad-main-pw', 'Inc-secret-pw'];

async function run(argv: string[], opts: { cwd?: string; env?: Record<string, string> } = {}) {
  const stdout = sink();
  const stderr = sink();
  const ctx: CliContext = { stdout, stderr, stdinIsTTY: false, env: opts.env ?? {}, cwd: opts.cwd ?? FIXTURES };
  const code = await runCli(argv, ctx);
  const result = { code, stdout: stdout.text(), stderr: stderr.text() };
  for (const secret of SECRETS) {
    expect(result.stdout).not.toContain(secret);
    expect(result.stderr).not.toContain(secret);
  }
  return result;
}

describe('schema file: CREATE TABLE names of db_users.schema', () => {
  it('reads names in file order, skipping comments and strings, and leaves db_main tables out with a warning', () => {
    const path = 'graduation/db_users.schema';
    const r = schemaTables(path, readFileSync(join(FIXTURES, path), 'utf8'));
    expect(r.tables).toEqual(['Sheets', 'Dots']);
    expect(r.warnings).toEqual([`${path}:19: users is one of db_main's own tables (is this db_main.schema?); it is not listed as sharded`]);
    expect(schemaTables('x.sql', 'CREATE TABLE `a``b` (x int); CREATE TABLE db.`T2` (y int);').tables).toEqual(['a`b', 'T2']);
    expect(schemaTables('empty.sql', '-- nothing').warnings).toEqual(['empty.sql: no CREATE TABLE statement found']);
  });
});

describe('schema file: columns, primary keys and foreign keys, for tables owned through a parent', () => {
  it('reads each CREATE TABLE of the smol.archive-shaped schema, comments and quoted commas stepped over, and proposes the links', () => {
    const shapes = schemaShapes(readFileSync(join(FIXTURES, 'smol/db_users.schema'), 'utf8'));
    expect(shapes.map((t) => `${t.name}(${t.columns.join(',')}) pk ${t.primaryKey.join(',')}`)).toEqual([
      'smol_account(id,user_id,service,username,created) pk id',
      'smol_archive(id,account_id,item_id,archived) pk id',
      'smol_archive_notes(id,archive_id,body) pk id',
      'smol_item_twitter(id,body) pk id',
    ]);
    expect(shapes[2]!.foreignKeys).toEqual([{ column: 'archive_id', parent: 'smol_archive', key: 'id' }]);
    const { proposals, unowned } = proposeThrough(shapes, 'user_id');
    expect(proposals.map((p) => `${p.table}: ${p.link}`)).toEqual([
      'smol_archive: account_id -> smol_account.id',
      'smol_archive_notes: archive_id -> smol_archive.id',
    ]);
    expect(unowned).toEqual(['smol_item_twitter']);
    // A table with the owner column is never proposed; nothing to link to, nothing proposed.
    expect(proposeThrough(schemaShapes('CREATE TABLE Dots (id INT PRIMARY KEY, user_id INT); CREATE TABLE Venues (id INT PRIMARY KEY)'), 'user_id')).toEqual({
      proposals: [],
      unowned: ['Venues'],
    });
  });
});

describe("graduation config: poor man's federation off, shard 1 = db_main", () => {
  it("is accepted by --flamework-config: shard 1 is db_main's database, shards 2 and 3 real", () => {
    const loaded = loadFlameworkFiles(['graduation/config.php'], { env: {}, cwd: FIXTURES });
    expect(loaded.topology.poorMansFederation).toBe(false);
    expect([...loaded.topology.shards].map(([id, e]) => `${id}:${e.host}:${e.port}/${e.database}`)).toEqual([
      '1:db-main.internal:3306/gradapp',
      '2:db-users-2.internal:3306/gradapp_users2',
      '3:db-users-3.internal:3307/gradapp_users3',
    ]);
  });

  it('config import prints it, with --schema writing tables.include', async () => {
    const r = await run(['config', 'import', '--flamework-config', 'graduation/config.php', '--schema', 'graduation/db_users.schema']);
    expect(r.code).toBe(0);
    const doc = parseYaml(r.stdout);
    expect(doc.shards['1']).toMatchObject({ host: 'db-main.internal', database: 'gradapp', passwordEnv: 'FW_SHARD_USERS_PASSWORD' });
    expect(doc.tables).toEqual({ include: ['Sheets', 'Dots'] });
    expect(r.stderr).toContain("users is one of db_main's own tables");
  });

  it('config import --schema proposes tables.through for tables owned through a parent (smol.archive), and names those that never move', async () => {
    const r = await run(['config', 'import', '--flamework-config', 'graduation/config.php', '--schema', 'smol/db_users.schema']);
    expect(r.code).toBe(0);
    const doc = parseYaml(r.stdout);
    expect(doc.tables).toEqual({
      include: ['smol_account', 'smol_archive', 'smol_archive_notes', 'smol_item_twitter'],
      through: { smol_archive: 'account_id -> smol_account.id', smol_archive_notes: 'archive_id -> smol_archive.id' },
    });
    expect(r.stderr).toContain(
      'smol_archive has no user_id: tables.through smol_archive: account_id -> smol_account.id (from its column account_id, named after smol_account.id); check it',
    );
    expect(r.stderr).toContain(
      'smol_archive_notes has no user_id: tables.through smol_archive_notes: archive_id -> smol_archive.id (from its foreign key on archive_id)',
    );
    expect(r.stderr).toMatch(/smol_item_twitter has no user_id and hangs off no sharded table: it never moves/);
    // The file it wrote is a config fw-shard reads back, links included.
    const back = normalizeConfig(doc, { env: { FW_SHARD_MAIN_PASSWORD: 'x', FW_SHARD_USERS_PASSWORD: 'x' }, baseDir: FIXTURES, origin: 'imported' }).topology;
    expect(back.tables.through?.smol_archive).toEqual({ column: 'account_id', parent: 'smol_account', key: 'id' });
  });

  it('config import without --schema warns that moves off db_main need the list', async () => {
    const r = await run(['config', 'import', '--flamework-config', 'graduation/config.php']);
    expect(r.code).toBe(0);
    expect(parseYaml(r.stdout).tables).toBeUndefined();
    expect(r.stderr).toContain(
      "warning: shard 1 is db_main's own database: moves off it are refused until tables.include lists the sharded tables; re-run with --schema schema/db_users.schema",
    );
  });

  it('config import --schema with a file that has no CREATE TABLE is a usage error', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fw-shard-schema-'));
    writeFileSync(join(dir, 'empty.schema'), '-- nothing here\n');
    const r = await run(['config', 'import', '--flamework-config', join(FIXTURES, 'graduation/config.php'), '--schema', 'empty.schema'], { cwd: dir });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('no CREATE TABLE found in empty.schema');
  });

  it("config show marks shard 1 as db_main's database", async () => {
    const r = await run(['--flamework-config', 'graduation/config.php', 'config', 'show', '--json']);
    expect(r.code).toBe(0);
    const doc = JSON.parse(r.stdout);
    expect(doc.shards.map((s: { id: number; isMainDatabase: boolean }) => [s.id, s.isMainDatabase])).toEqual([
      [1, true],
      [2, false],
      [3, false],
    ]);
    expect(doc.shardsOnMain).toEqual([1]);
    expect(doc.poorMansOnly).toBe(false);
  });
});

describe('mapping table name: users or Users', () => {
  it('takes the one users table (any case) with the shard column; none keeps the default; several is a config error', () => {
    expect(chooseMappingTable([{ name: 'Users', hasShardColumn: true }], 'db_main', 'cluster_id')).toBe('Users');
    expect(
      chooseMappingTable(
        [
          { name: 'users', hasShardColumn: true },
          { name: 'Users', hasShardColumn: false },
        ],
        'db_main',
        'cluster_id',
      ),
    ).toBe('users');
    expect(chooseMappingTable([], 'db_main', 'cluster_id')).toBeNull();
    expect(chooseMappingTable([{ name: 'USERS', hasShardColumn: false }], 'db_main', 'cluster_id')).toBeNull();
    expect(() =>
      chooseMappingTable(
        [
          { name: 'users', hasShardColumn: true },
          { name: 'Users', hasShardColumn: true },
        ],
        'db_main (app)',
        'cluster_id',
      ),
    ).toThrow(/db_main \(app\) has several users tables with a cluster_id column \(users, Users\)/);
  });

  it('config show says when the table is not named in the config', async () => {
    const r = await run(['--flamework-config', 'graduation/config.php', 'config', 'show']);
    expect(r.stdout).toContain(
      'Mapping:    users.id → users.cluster_id on db_main (cluster main); table not named in the config: commands that connect use users or Users, whichever db_main has',
    );
    const j = JSON.parse((await run(['--flamework-config', 'graduation/config.php', 'config', 'show', '--json'])).stdout);
    expect(j.mapping).toMatchObject({ table: 'users', tableSource: 'default' });
  });
});

describe('memcache settings', () => {
  const imp = (text: string) =>
    importFlamework([
      {
        path: 'c.php',
        text: `<?php\n$GLOBALS['cfg']['db_main'] = ['host' => 'h', 'user' => 'u', 'pass' => '', 'name' => 'app'];\n$GLOBALS['cfg']['db_enable_poormans_federation'] = 1;\n${text}\n`,
      },
    ]);

  it('imports memcache_host/port and the prefix when cache_prefixes is on; keys are every known variant', () => {
    const { raw } = importFlamework([{ path: 'graduation/config.php', text: readFileSync(join(FIXTURES, 'graduation/config.php'), 'utf8') }]);
    expect(raw.memcached).toEqual({ servers: ['cache-1.internal:11212'], keys: ['USER-{id}', 'user_{id}'], prefix: 'prod' });
    expect(DEFAULT_USER_KEYS).toEqual([KNOWN_USER_KEYS.flamework, KNOWN_USER_KEYS.parallelFlickr]);
  });

  it('no prefix when the feature is off; a warning when the feature flag is absent (older lib_cache.php)', () => {
    const off = imp(
      `$GLOBALS['cfg']['cache_remote_engine'] = 'memcache'; $GLOBALS['cfg']['memcache_host'] = 'mc'; $GLOBALS['cfg']['memcache_port'] = 11211;\n$GLOBALS['cfg']['enable_feature_cache_prefixes'] = 0; $GLOBALS['cfg']['cache_prefix'] = 'dev';`,
    );
    expect(off.raw.memcached).toEqual({ servers: ['mc:11211'], keys: ['USER-{id}', 'user_{id}'] });
    const absent = imp(
      `$GLOBALS['cfg']['remote_cache_engine'] = 'memcache'; $GLOBALS['cfg']['memcache_host'] = 'mc';\n$GLOBALS['cfg']['cache_prefix'] = 'pf';`,
    );
    expect(absent.raw.memcached).toEqual({ servers: ['mc:11211'], keys: ['USER-{id}', 'user_{id}'], prefix: 'pf' });
    expect(absent.warnings.join('\n')).toMatch(/c\.php:5: cfg\['cache_prefix'\] is 'pf' and enable_feature_cache_prefixes is not set/);
  });

  it('a memcache_host without the memcache engine is not imported, with a warning', () => {
    const r = imp(`$GLOBALS['cfg']['cache_remote_engine'] = ''; $GLOBALS['cfg']['memcache_host'] = 'localhost';`);
    expect(r.raw.memcached).toBeUndefined();
    expect(r.warnings.join('\n')).toMatch(/cfg\['cache_remote_engine'\] is '', not 'memcache': the app caches nothing remotely/);
  });

  it('without a memcached section in a native config, both known key variants are the default', () => {
    const loaded = loadFlameworkFiles(['graduation/config.php'], { env: {}, cwd: FIXTURES });
    expect(loaded.topology.memcached).toEqual({ servers: ['cache-1.internal:11212'], keys: ['USER-{id}', 'user_{id}'], prefix: 'prod' });
    expect(cacheKeys(loaded.topology.memcached!, '42')).toEqual(['prod_USER-42', 'prod_user_42']);
  });
});

describe('PHP config files as real apps write them', () => {
  const readFile = (p: string): string | undefined => {
    try {
      return readFileSync(join(FIXTURES, p), 'utf8');
    } catch {
      return undefined;
    }
  };
  const fileErr = (files: { path: string; text: string }[]): string => {
    try {
      importFlamework(files, { readFile });
    } catch (err) {
      return (err as Error).message;
    }
    throw new Error('expected the import to fail');
  };
  const inline = (text: string) => [
    { path: 'c.php', text: `<?php\n$GLOBALS['cfg']['db_main'] = ['host' => 'h', 'user' => 'u', 'pass' => '', 'name' => 'app'];\n${text}\n` },
  ];

  it("follows $cfg = &$GLOBALS['cfg'] aliases and includes of files next to the config", () => {
    const path = 'includes/config.php';
    const { raw } = importFlamework([{ path, text: readFile(path)! }], { readFile });
    expect(raw.main).toEqual({ host: 'db-main.internal', port: 3306, user: 'inc', password: 'Inc-secret-pw', database: 'incapp' });
    expect(raw.poorMans).toEqual({ federation: true, ticketing: true, slaves: false });
    expect(Object.keys(raw.shards)).toEqual(['1']);
  });

  it('--flamework-config follows the include from disk; the password never shows', async () => {
    const r = await run(['config', 'import', '--flamework-config', 'includes/config.php']);
    expect(r.code).toBe(0);
    expect(parseYaml(r.stdout).main.passwordEnv).toBe('FW_SHARD_MAIN_PASSWORD');
  });

  it('an assignment inside a conditional is an error naming file:line (issue 14: gethostname)', () => {
    const msg = fileErr(inline(`if (gethostname() == 'db-staging') {\n  $GLOBALS['cfg']['db_users']['host'][2] = 'staging';\n}`));
    expect(msg).toContain("c.php:4: cfg['db_users']['host'][2] is set inside an if/else or loop: fw-shard cannot tell whether it runs");
    // settings fw-shard does not read may stay conditional
    expect(() =>
      importFlamework(inline(`$GLOBALS['cfg']['db_enable_poormans_federation'] = 1;\nif (x()) { $GLOBALS['cfg']['site_name'] = 'y'; }`)),
    ).not.toThrow();
  });

  it('an alias set up inside a conditional, or through it, is an error too', () => {
    const msg = fileErr(inline(`if (x()) { $cfg = &$GLOBALS['cfg']; }\n$GLOBALS['cfg']['db_enable_poormans_federation'] = 1;`));
    expect(msg).toContain('c.php:3: cannot read the assignment to cfg: $cfg is made a reference to the config inside an if/else or loop');
    const through = fileErr(inline(`$cfg = &$GLOBALS['cfg'];\nif (x()) { $cfg['db_enable_poormans_federation'] = 1; }`));
    expect(through).toContain("c.php:4: cfg['db_enable_poormans_federation'] is set inside an if/else or loop");
  });

  it('a variable that looks like the config but is no reference: warned, never silently ignored', () => {
    const r = importFlamework(
      inline(`$cfg = $GLOBALS['cfg'];\n$cfg['db_enable_poormans_federation'] = 1;\n$GLOBALS['cfg']['db_enable_poormans_federation'] = 1;`),
    );
    expect(r.warnings).toContain(
      "c.php:4: $cfg['db_enable_poormans_federation'] is assigned, but $cfg is not a reference to $GLOBALS['cfg'] in this file, so PHP does not change the config; ignored",
    );
  });

  it('includes it cannot follow are refused with file:line', () => {
    expect(fileErr(inline(`include 'secrets.php';\n$GLOBALS['cfg']['db_enable_poormans_federation'] = 1;`))).toContain(
      "c.php:3: include 'secrets.php': fw-shard follows only dirname(__FILE__) . '/file.php' and __DIR__ . '/file.php'",
    );
    expect(fileErr(inline(`if (file_exists(__DIR__ . '/local.php')) { include __DIR__ . '/local.php'; }`))).toContain(
      "c.php:3: include __DIR__ . '/local.php' is inside an if/else or loop",
    );
    expect(fileErr(inline(`require __DIR__ . '/missing.php';`))).toContain('c.php:3: require missing.php: cannot read that file');
  });
});

import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { runCli } from '../../src/cli/main.js';
import type { CliContext } from '../../src/cli/context.js';
import { FwShardError } from '../../src/errors/index.js';
import { importFlamework, toPortableConfig, type FlameworkFile } from '../../src/config/flamework/import.js';
import { loadFlameworkFiles } from '../../src/config/flamework/loader.js';
import { PhpArray, evaluatePhp, parsePhpConfig } from '../../src/config/flamework/php.js';
import { configSchema } from '../../src/config/schema.js';
import { sink } from '../helpers/sink.js';

const FIXTURES = resolve(fileURLToPath(import.meta.url), '../../fixtures/flamework');
const UPSTREAM = ['upstream/config.php', 'upstream/secrets.php', 'upstream/config_local_web1.php'];
/** Passwords from the fixtures that must never reach stdout or stderr. */
const SECRETS = ['Main-S3cret!pw', 'Users-S3cret$pw', 'Fed-main-pw', 'Dots-main-pw', 'Dots-users-pw', 'Dots-tickets-pw'];

function fixtures(...paths: string[]): FlameworkFile[] {
  return paths.map((path) => ({ path, text: readFileSync(join(FIXTURES, path), 'utf8') }));
}

/** 1-based line of the first line of `path` containing `marker`. */
function lineOf(path: string, marker: string): number {
  const idx = readFileSync(join(FIXTURES, path), 'utf8')
    .split('\n')
    .findIndex((l) => l.includes(marker));
  if (idx < 0) throw new Error(`marker ${marker} not in ${path}`);
  return idx + 1;
}

function importError(files: FlameworkFile[]): FwShardError {
  try {
    importFlamework(files);
  } catch (err) {
    if (err instanceof FwShardError) return err;
    throw err;
  }
  throw new Error('expected importFlamework to throw');
}

const php = (text: string, path = 'inline.php'): FlameworkFile[] => [{ path, text: `<?php\n${text}\n` }];

const server = (host: string, database: string, user: string, password: string, port = 3306) => ({ host, port, user, password, database });
const noPoorMans = { federation: false, ticketing: false, slaves: false };

describe('PHP subset parser', () => {
  /** Values of every `$GLOBALS['cfg'][...] = ...` statement, evaluated alone (cfg reads give null). */
  const values = (text: string): unknown[] =>
    parsePhpConfig('t.php', `<?php\n${text}`).statements.map((s) => {
      if (s.op !== 'set') return { unset: s.path };
      const v = evaluatePhp(s.value, () => undefined);
      return v instanceof PhpArray ? v.toJS() : v;
    });

  it('decodes single- and double-quoted strings with their own escape rules', () => {
    expect(
      values(String.raw`
        $GLOBALS['cfg']['a'] = 'it\'s \\ \n $x';
        $GLOBALS['cfg']['b'] = "tab\t nl\n \x41\101 \u{e9} \$x \" \\ \q \e";
        $GLOBALS['cfg']['c'] = 'a' . "b" . 3 . true . null;
        $GLOBALS['cfg']['d'] = "bytes \xC3\xA9 are UTF-8";
        $GLOBALS['cfg']['e'] = <<<EOT
          heredoc \t \" {\$x}
          EOT;
        $GLOBALS['cfg']['f'] = <<<'EOT'
        nowdoc \t $x
        EOT;
      `),
    ).toEqual(["it's \\ \\n $x", 'tab\t nl\n AA é $x " \\ \\q \x1b', 'ab31', 'bytes é are UTF-8', 'heredoc \t \\" {$x}', 'nowdoc \\t $x']);
  });

  it('reads integers, booleans and null in any case, and negative numbers', () => {
    expect(values(`$GLOBALS['cfg']['x'] = [0x1F, 0b11, 0o17, 017, 1_000, -5, TRUE, False, NULL, 1.5];`)).toEqual([
      { 0: 31, 1: 3, 2: 15, 3: 15, 4: 1000, 5: -5, 6: true, 7: false, 8: null, 9: 1.5 },
    ]);
  });

  it('builds arrays with PHP key rules: implicit keys, "1" === 1, duplicates (last wins), trailing commas, nesting', () => {
    const [st] = parsePhpConfig(
      't.php',
      `<?php $GLOBALS['cfg']['x'] = array(5 => 'a', 'b', '7' => 'c', 'd', 1 => 'e', 1 => 'f', '01' => 'g', 'n' => ['p' => array(1, 2,),],);`,
    ).statements;
    if (st?.op !== 'set') throw new Error('expected one assignment');
    const arr = evaluatePhp(st.value, () => undefined) as PhpArray;
    expect(arr.keys()).toEqual([5, 6, 7, 8, 1, '01', 'n']);
    expect(arr.toJS()).toEqual({ 5: 'a', 6: 'b', 7: 'c', 8: 'd', 1: 'f', '01': 'g', n: { p: { 0: 1, 1: 2 } } });
  });

  it('keeps the path of every subscript style and records file and line', () => {
    const { statements } = parsePhpConfig(
      'f.php',
      `<?php\n\n$GLOBALS['cfg']["db_users"]['host'][2] = 'h';\n$GLOBALS['cfg']['list'][] = 1;\nunset($GLOBALS['cfg']['db_tickets']);`,
    );
    expect(statements.map(({ file, line, op, path }) => ({ file, line, op, path }))).toEqual([
      { file: 'f.php', line: 3, op: 'set', path: ['db_users', 'host', 2] },
      { file: 'f.php', line: 4, op: 'set', path: ['list', null] },
      { file: 'f.php', line: 5, op: 'unset', path: ['db_tickets'] },
    ]);
  });

  it('skips comments, other statements, strings holding ; or $GLOBALS, inline HTML and function bodies', () => {
    const text = `<html><?php
      # $GLOBALS['cfg']['db_main'] = 1;
      // $GLOBALS['cfg']['db_main'] = 2;
      /* $GLOBALS['cfg']['db_main'] = 3; */
      $s = "; \\$GLOBALS['cfg']['db_main'] = 4;";
      $t = '; $GLOBALS[\\'cfg\\'][\\'db_main\\'] = 5;';
      $u = <<<EOT
        $GLOBALS['cfg']['db_main'] = 6;
        EOT;
      include 'x.php'; if ($GLOBALS['cfg']['db_main']) { echo 'y;'; }
      function f() { $GLOBALS['cfg']['db_main'] = 7; }
      class C { function g() { $GLOBALS['cfg']['db_main'] = 8; } }
      ?> $GLOBALS['cfg']['db_main'] = 9; <?php
      $GLOBALS['cfg']['db_main'] = 10 ?>`;
    const parsed = parsePhpConfig('t.php', text);
    expect(parsed.failures).toEqual([]);
    expect(parsed.statements.map((s) => s.op === 'set' && evaluatePhp(s.value, () => undefined))).toEqual([10]);
  });

  it('marks statements inside if/else blocks and brace-less bodies', () => {
    const { statements } = parsePhpConfig(
      't.php',
      `<?php $GLOBALS['cfg']['a'] = 1; if (x()) { $GLOBALS['cfg']['b'] = 2; } else $GLOBALS['cfg']['c'] = 3; $GLOBALS['cfg']['d'] = 4;
       if (y()): $GLOBALS['cfg']['e'] = 5; endif; $GLOBALS['cfg']['f'] = 6;`,
    );
    expect(statements.map((s) => [s.path[0], s.inBlock])).toEqual([
      ['a', false],
      ['b', true],
      ['c', true],
      ['d', false],
      ['e', true],
      ['f', false],
    ]);
  });

  it('reports statements it cannot read with their known path, and a lexing failure as fatal', () => {
    const parsed = parsePhpConfig(
      't.php',
      `<?php\n$GLOBALS['cfg']['db_main']['host'] = getenv('H');\n$GLOBALS['cfg'][$k]['x'] = 1;\n$GLOBALS['cfg']['a'] .= 'b';`,
    );
    expect(parsed.failures).toEqual([
      { file: 't.php', line: 2, path: ['db_main', 'host'], complete: true, reason: 'a call to getenv()' },
      { file: 't.php', line: 3, path: [], complete: false, reason: 'a key that is not a constant' },
      { file: 't.php', line: 4, path: ['a'], complete: true, reason: "the compound assignment '.='" },
    ]);
    expect(parsePhpConfig('t.php', `<?php\n\n$GLOBALS['cfg']['a'] = 'oops;\n`).fatal).toEqual({
      file: 't.php',
      line: 3,
      reason: 'unterminated single-quoted string',
    });
  });
});

describe('importFlamework', () => {
  it('imports upstream config.php, then secrets.php and config_local override single keys', () => {
    const { raw, warnings, passwords } = importFlamework(fixtures(...UPSTREAM));
    expect(raw).toEqual({
      version: 1,
      main: server('localhost', 'flamework', 'root', 'Main-S3cret!pw'),
      shards: {
        '1': server('localhost', 'user1', 'root', 'Users-S3cret$pw'),
        '2': server('db-users-2.internal', 'user2', 'root', 'Users-S3cret$pw', 3307),
      },
      poorMans: noPoorMans,
    });
    expect(warnings).toEqual([]);
    expect(passwords.map((p) => p.reveal())).toEqual(['Main-S3cret!pw', 'Users-S3cret$pw']);
    expect(configSchema.safeParse(raw).success).toBe(true);
  });

  it('without secrets.php keeps the passwords of config.php', () => {
    const { raw } = importFlamework(fixtures('upstream/config.php'));
    expect(raw.main.password).toBe('root');
    expect(raw.shards['2']).toEqual(server('localhost', 'user2', 'root', 'root'));
  });

  it('imports Dotspotting key-by-key assignments, array-shaped db_tickets with its duplicate key, and slaves', () => {
    const { raw, warnings } = importFlamework(fixtures('dotspotting/config.php'));
    const tickets = (n: number) => server(`dotspotting-dbtickets-${n}.null-island.rds.amazonaws.com`, 'tickets', 'example', 'Dots-tickets-pw');
    expect(raw).toEqual({
      version: 1,
      main: {
        ...server('dotspotting-dbmain.null-island.rds.amazonaws.com', 'dotspotting', 'example', 'Dots-main-pw'),
        replicas: [
          { host: 'dotspotting-dbmain-slave-1.null-island.rds.amazonaws.com', port: 3306 },
          { host: 'dotspotting-dbmain-slave-2.null-island.rds.amazonaws.com', port: 3307 },
        ],
      },
      shards: { '1': server('dotspotting-dbusers-1.null-island.rds.amazonaws.com', 'users', 'example', 'Dots-users-pw') },
      tickets: [tickets(1), tickets(2)],
      poorMans: noPoorMans,
    });
    const nameLine = lineOf('dotspotting/config.php', "['db_tickets']['name']");
    expect(warnings).toEqual([
      `dotspotting/config.php:${nameLine}: cfg['db_tickets']['name'] has no entry for ticket server 2 (Flamework would select no database there); assuming 'tickets'`,
    ]);
  });

  it("poor man's federation overwrites an explicit db_users block with shard 1 = db_main; ticketing makes db_tickets = db_main", () => {
    const { raw } = importFlamework(fixtures('federation/config.php'));
    const main = server('127.0.0.1', 'privatesquare', 'www', 'Fed-main-pw');
    expect(raw).toEqual({
      version: 1,
      main,
      shards: { '1': main },
      tickets: [main],
      poorMans: { federation: true, ticketing: true, slaves: false },
    });
    // normalizeConfig accepts shard 1 = db_main only because poorMans.federation says so.
    const loaded = loadFlameworkFiles(['federation/config.php'], { env: {}, cwd: FIXTURES });
    expect([...loaded.topology.shards.keys()]).toEqual([1]);
    expect(loaded.topology.poorMansFederation).toBe(true);
    expect(loaded.warnings).toEqual([]);
  });

  it("poor man's slaves: db_main itself is not added as a replica, explicit slaves are replaced", () => {
    const { raw } = importFlamework(fixtures('slaves/config.php'));
    expect(raw).toEqual({
      version: 1,
      main: server('db-main', 'app', 'www', ''),
      shards: { '1': server('db-users-1', 'users', 'www', ''), '2': server('db-users-2', 'users', 'www', '') },
      poorMans: { federation: false, ticketing: false, slaves: true },
    });
  });

  it('reads short arrays, host:port, [v6]:port, escapes and concatenation, ignoring comments, strings and function bodies', () => {
    // include_once(__DIR__ . '/lib_helpers.php') is followed: that file only defines functions.
    const { raw, warnings } = importFlamework(fixtures('modern/config.php'), { readFile: (p) => readFileSync(join(FIXTURES, p), 'utf8') });
    expect(raw).toEqual({
      version: 1,
      main: server('db-main.internal', 'app_main', 'app', 'tab\there;AA\u{1F600}\\ \\q', 3307),
      shards: {
        '1': server('users-a.internal', 'users_1', 'app', ''),
        '2': server('users-b.internal', 'users_2', 'app', ''),
        '3': server('fd00::3', 'users_3', 'app', '', 3308),
      },
      tickets: [server('tickets.internal', 'tickets', 'app', '')],
      poorMans: noPoorMans,
    });
    expect(warnings).toEqual([]);
  });

  it('maps db_accounts (whosonfirst) and moves the mapping there, with a warning', () => {
    const { raw, warnings } = importFlamework(fixtures('wof/config.php'));
    const main = server('localhost', 'whosonfirst', 'whosonfirst', '');
    expect(raw).toEqual({
      version: 1,
      main,
      accounts: server('accounts.internal', 'whosonfirst_accounts', 'accounts', ''),
      shards: { '1': main },
      tickets: [main],
      mapping: { cluster: 'accounts' },
      poorMans: { federation: true, ticketing: true, slaves: false },
    });
    expect(warnings).toEqual([
      `wof/config.php:${lineOf('wof/config.php', "['db_accounts']")}: cfg['db_accounts'] is set (the whosonfirst fork): ` +
        'the users table and its cluster_id are read from db_accounts (mapping.cluster: accounts)',
    ]);
  });

  it('follows PHP for whole-block replacement, unset(), append and reads of other cfg values', () => {
    const { raw } = importFlamework([
      ...fixtures('upstream/config.php'),
      ...php(
        [
          `$GLOBALS['cfg']['db_main'] = array('host' => 'm', 'user' => 'u', 'name' => 'main');`, // pass is gone: ''
          `unset($GLOBALS['cfg']['db_users']['host'][2]);`,
          `$GLOBALS['cfg']['db_users']['host'][] = $GLOBALS['cfg']['db_main']['host'] . ':3310';`, // key 3: 2 was used once
          `$GLOBALS['cfg']['db_users']['name'][3] = 'user' . 3;`,
        ].join('\n'),
        'override.php',
      ),
    ]);
    expect(raw.main).toEqual(server('m', 'main', 'u', ''));
    expect(raw.shards).toEqual({ '1': server('localhost', 'user1', 'root', 'root'), '3': server('m', 'user3', 'root', 'root', 3310) });
  });

  it('names file and line for every db_ connection setting it cannot read, all at once', () => {
    const err = importError([...fixtures('broken/config.php'), ...php(`$GLOBALS['cfg']['db_enable_poormans_federation'] = FED;`, 'extra.php')]);
    expect(err.code).toBe('FLAMEWORK_PARSE');
    expect(err.exitCode).toBe(3);
    const hostLine = lineOf('broken/config.php', 'getenv');
    const usersLine = lineOf('broken/config.php', "['db_users'] = array");
    const badLine = lineOf('broken/config.php', "'users-1' 2");
    expect(err.details?.problems).toEqual([
      `broken/config.php:${hostLine}: cannot read the assignment to cfg['db_main']['host']: a call to getenv()`,
      `broken/config.php:${usersLine}: cannot read the assignment to cfg['db_users']: expected ',' or ')' in an array, found '2' (line ${badLine})`,
      `extra.php:2: cannot read the assignment to cfg['db_enable_poormans_federation']: the constant FED`,
    ]);
  });

  it('ignores unreadable non-db assignments and only warns for db_ keys it does not use', () => {
    const { warnings } = importFlamework([
      ...fixtures('upstream/config.php'),
      ...php(`$GLOBALS['cfg']['site_name'] = strtoupper('x');\n$GLOBALS['cfg']['db_profiling'] = DEBUG;\n$GLOBALS['cfg']['db_main']['auto_connect'] = X;`),
    ]);
    expect(warnings).toEqual(["inline.php:3: cannot read the assignment to cfg['db_profiling']: the constant DEBUG; ignored"]);
  });

  it('refuses a connection setting assigned inside an if block, naming file and line', () => {
    const err = importError([...fixtures('upstream/config.php'), ...php(`if (is_dev()) {\n  $GLOBALS['cfg']['db_main']['host'] = 'dev-db';\n}`)]);
    expect(err.message).toContain("inline.php:3: cfg['db_main']['host'] is set inside an if/else or loop: fw-shard cannot tell whether it runs");
  });

  it('rejects shard id 0 naming file and line', () => {
    const err = importError(fixtures('shard-zero/config.php'));
    expect(err.code).toBe('FLAMEWORK_PARSE');
    const line = lineOf('shard-zero/config.php', "['host'] = array(0");
    expect(err.details?.problems).toEqual([
      `shard-zero/config.php:${line}: cfg['db_users']['host'][0] has the shard id 0: shard ids run from 1 to 255 ` +
        '(users.cluster_id is TINYINT UNSIGNED and Flamework treats 0 as "not sharded")',
    ]);
  });

  it('rejects shard ids above 255 and non-numeric ones', () => {
    const err = importError([...fixtures('upstream/config.php'), ...php(`$GLOBALS['cfg']['db_users']['host'] = array(256 => 'a', 'x' => 'b', 1 => 'c');`)]);
    expect(err.details?.problems).toEqual([
      expect.stringMatching(/^inline\.php:2: cfg\['db_users'\]\['host'\]\[256\] has the shard id 256: shard ids run from 1 to 255/),
      expect.stringMatching(/^inline\.php:2: cfg\['db_users'\]\['host'\]\['x'\] has the shard id 'x': shard ids run from 1 to 255/),
    ]);
  });

  it('rejects a missing db_main, and db_users without shards when federation is off', () => {
    expect(importError(php(`$GLOBALS['cfg']['site_name'] = 'x';`)).details?.problems).toEqual([
      "no cfg['db_main'] in any file: the files given must include config.php",
      "no cfg['db_users'] in any file and db_enable_poormans_federation is off: there are no shards",
    ]);
  });
});

describe('toPortableConfig', () => {
  it('replaces every password by passwordEnv per Flamework role, keeping empty ones', () => {
    const { config, env } = toPortableConfig(importFlamework(fixtures('dotspotting/config.php')).raw);
    expect(env).toEqual(['FW_SHARD_MAIN_PASSWORD', 'FW_SHARD_USERS_PASSWORD', 'FW_SHARD_TICKETS_PASSWORD']);
    expect(config.main).toEqual({
      host: 'dotspotting-dbmain.null-island.rds.amazonaws.com',
      port: 3306,
      user: 'example',
      passwordEnv: 'FW_SHARD_MAIN_PASSWORD',
      database: 'dotspotting',
      replicas: [
        { host: 'dotspotting-dbmain-slave-1.null-island.rds.amazonaws.com', port: 3306 },
        { host: 'dotspotting-dbmain-slave-2.null-island.rds.amazonaws.com', port: 3307 },
      ],
    });
    expect(config.shards['1']!.passwordEnv).toBe('FW_SHARD_USERS_PASSWORD');
    expect(config.tickets!.map((t) => t.passwordEnv)).toEqual(['FW_SHARD_TICKETS_PASSWORD', 'FW_SHARD_TICKETS_PASSWORD']);
    expect(JSON.stringify(config)).not.toMatch(/Dots-\w+-pw/);
    expect(configSchema.safeParse(config).success).toBe(true);

    const empty = toPortableConfig(importFlamework(fixtures('slaves/config.php')).raw);
    expect(empty.env).toEqual([]);
    expect(empty.config.main.password).toBe('');
  });

  it("uses db_main's variable for servers poor man's modes copied from db_main", () => {
    const { config, env } = toPortableConfig(importFlamework(fixtures('federation/config.php')).raw);
    expect(env).toEqual(['FW_SHARD_MAIN_PASSWORD']);
    expect([config.main, config.shards['1'], config.tickets![0]].map((s) => s!.passwordEnv)).toEqual(Array(3).fill('FW_SHARD_MAIN_PASSWORD'));
  });
});

describe('fw-shard config (CLI)', () => {
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
  const flamework = (...files: string[]): string[] => files.flatMap((f) => ['--flamework-config', f]);

  it('config import prints portable YAML and lists the variables to set on stderr', async () => {
    const r = await run(['config', 'import', ...flamework(...UPSTREAM)]);
    expect(r.code).toBe(0);
    expect(r.stdout.split('\n')[0]).toBe(`# fw-shard config imported from ${UPSTREAM.join(', ')}`);
    const doc = parseYaml(r.stdout);
    expect(doc).toEqual(toPortableConfig(importFlamework(fixtures(...UPSTREAM)).raw).config);
    expect(doc.main.passwordEnv).toBe('FW_SHARD_MAIN_PASSWORD');
    expect(r.stderr).toBe(
      'Before using this config, set these environment variables to the passwords in the PHP files:\n' +
        "  FW_SHARD_MAIN_PASSWORD   cfg['db_main']['pass']\n" +
        "  FW_SHARD_USERS_PASSWORD  cfg['db_users']['pass']\n",
    );
  });

  it('config import --json prints one document', async () => {
    const r = await run(['config', 'import', '--json', ...flamework('dotspotting/config.php')]);
    expect(r.code).toBe(0);
    const doc = JSON.parse(r.stdout);
    expect(doc.schemaVersion).toBe(1);
    expect(doc.ok).toBe(true);
    expect(doc.passwordEnv).toEqual(['FW_SHARD_MAIN_PASSWORD', 'FW_SHARD_USERS_PASSWORD', 'FW_SHARD_TICKETS_PASSWORD']);
    expect(doc.config.tickets).toHaveLength(2);
    expect(r.stderr).toContain('warning: dotspotting/config.php:');
  });

  it('the imported YAML loads as a native config once the variables are set', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fw-shard-import-'));
    const imported = await run(['config', 'import', ...flamework(...UPSTREAM)]);
    writeFileSync(join(dir, 'fw-shard.config.yaml'), imported.stdout, { mode: 0o600 });
    const env = { FW_SHARD_MAIN_PASSWORD: 'Main-S3cret!pw', FW_SHARD_USERS_PASSWORD: 'Users-S3cret$pw' };
    const r = await run(['config', 'show', '--json'], { cwd: dir, env });
    expect(r.code).toBe(0);
    const doc = JSON.parse(r.stdout);
    expect(doc.main.passwordSource).toBe('env:FW_SHARD_MAIN_PASSWORD');
    expect(doc.shards.map((s: { id: number; passwordSource: string }) => [s.id, s.passwordSource])).toEqual([
      [1, 'env:FW_SHARD_USERS_PASSWORD'],
      [2, 'env:FW_SHARD_USERS_PASSWORD'],
    ]);
  });

  it('config show prints the topology as a table, password sources only', async () => {
    const r = await run([...flamework(...UPSTREAM), 'config', 'show']);
    expect(r.code).toBe(0);
    expect(r.stderr).toBe('');
    const lines = r.stdout.split('\n');
    expect(lines[0]).toBe(`Config: ${UPSTREAM.join(', ')}`);
    expect(lines.slice(2, 6)).toEqual([
      'ROLE     ADDRESS                   DATABASE   USER  PASSWORD  NOTE',
      'db_main  localhost:3306            flamework  root  inline    holds users.cluster_id',
      'shard 1  localhost:3306            user1      root  inline',
      'shard 2  db-users-2.internal:3307  user2      root  inline',
    ]);
    expect(r.stdout).toContain("Poor man's: federation off, ticketing off, slaves off");
  });

  it('config show --json describes shards on db_main and the poor man flags', async () => {
    const r = await run(['config', 'show', '--json', ...flamework('federation/config.php')]);
    expect(r.code).toBe(0);
    const doc = JSON.parse(r.stdout);
    expect(doc).toMatchObject({
      schemaVersion: 1,
      ok: true,
      source: 'federation/config.php',
      main: { role: 'db_main', host: '127.0.0.1', port: 3306, user: 'www', database: 'privatesquare', passwordSource: 'inline', replicas: [] },
      accounts: null,
      shards: [{ id: 1, role: 'shard 1', isMainDatabase: true, sharesDatabaseWith: [] }],
      tickets: [{ role: 'tickets 1', database: 'privatesquare' }],
      mapping: { cluster: 'main', table: 'users', idColumn: 'id', shardColumn: 'cluster_id', server: 'db_main' },
      poorMans: { federation: true, ticketing: true, slaves: false },
      shardsOnMain: [1],
      poorMansOnly: true,
      sharedShardDatabases: [],
      memcached: null,
    });
    expect(JSON.stringify(doc)).not.toContain('password"');
  });

  it('config show on the whosonfirst layout puts the mapping on db_accounts', async () => {
    const r = await run(['config', 'show', ...flamework('wof/config.php')]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^db_accounts +accounts\.internal:3306 +whosonfirst_accounts +accounts +inline +holds users\.cluster_id$/m);
    expect(r.stdout).toContain("Note: every shard is db_main's own database");
    expect(r.stderr).toContain("warning: wof/config.php:12: cfg['db_accounts'] is set");
  });

  it('exits 3 on a config error, naming file and line, with --json too', async () => {
    const r = await run(['config', 'import', ...flamework('broken/config.php')]);
    expect(r.code).toBe(3);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain(`broken/config.php:${lineOf('broken/config.php', 'getenv')}: cannot read the assignment to cfg['db_main']['host']`);

    const j = await run(['config', 'show', '--json', ...flamework('shard-zero/config.php')]);
    expect(j.code).toBe(3);
    expect(JSON.parse(j.stdout)).toMatchObject({ ok: false, error: { code: 'FLAMEWORK_PARSE' } });
  });

  it('exits 3 for an unreadable file and when normalizeConfig rejects the import', async () => {
    const missing = await run(['config', 'import', ...flamework('upstream/config.php', 'nope/secrets.php')]);
    expect(missing.code).toBe(3);
    expect(missing.stderr).toContain('[CONFIG_UNREADABLE]: cannot read Flamework config file nope/secrets.php');

    const dir = mkdtempSync(join(tmpdir(), 'fw-shard-import-'));
    writeFileSync(
      join(dir, 'config.php'),
      `<?php\n$GLOBALS['cfg']['db_main'] = ['host' => 'h', 'user' => 'u', 'pass' => '', 'name' => 'app'];\n` +
        `$GLOBALS['cfg']['db_users'] = ['host' => [1 => 'h2', 2 => 'h2'], 'user' => 'u', 'pass' => '', 'name' => [1 => 'app', 2 => 'app']];\n`,
    );
    const invalid = await run(['config', 'import', '--flamework-config', 'config.php'], { cwd: dir });
    expect(invalid.code).toBe(3);
    expect(invalid.stderr).toContain('[CONFIG_INVALID]: config.php: 1 problem:\n  shards.2: same server and database as shard 1');
  });

  it('config import without --flamework-config is a usage error', async () => {
    const r = await run(['config', 'import']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('config import needs --flamework-config FILE');
  });
});

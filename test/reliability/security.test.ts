/**
 * Security: secrets, hostile identifiers, least privilege. Two sandbox servers: `a` (db_main, the ticket
 * server, shard 1), `b` (shard 2).
 *
 *  - Passwords: a distinctive password (given through an environment variable whose name does not look
 *    secret) never appears in any output of status, config show, moves, plan, verify, move (dry run, real
 *    online move with --events and hooks), errors (wrong password, a refused move), config import of a PHP
 *    file holding it, in the process title while a move runs, in the journal rows, or in the environment
 *    and output of hooks (one hook prints its whole environment and fails, so fw-shard quotes it).
 *  - A config file (or password file) readable by other users draws a warning; a private one does not.
 *  - Hostile identifiers: tables and columns named with backticks, quotes, semicolons, comment markers,
 *    spaces, reserved words, a hostile owner column: the user moves byte for byte, canary tables named like
 *    the injected statements survive, and the general log shows fw-shard sending only the statements it
 *    should, each aimed at a table that exists (so every identifier was escaped, not just quoted).
 *  - Least privilege: the GRANTs of README "Required privileges" are parsed from the README itself, given
 *    to a fresh user on every server, and that user runs a full online move with cleanup, a killed move
 *    then abort, a deferred cleanup, and status/moves/verify.
 */
import { chmodSync, existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ROOT,
  dumpRows,
  dumpUser,
  emptyDumpOf,
  ensureBuilt,
  mariadb,
  q,
  quoteString,
  recordFigures,
  runFwShard,
  startFlamework,
  tablesOf,
  writePrivate,
  type CliRun,
  type FlameworkCluster,
  type Login,
} from '../helpers/reliability.js';
import { DROP_JOURNAL } from '../helpers/journal.js';

const PW = 'Zq7-xK2-fwsecret-Pw9';
const WRONG = 'Wr0ng-Qp4-notthe-pw';
const LEAST_PW = 'L3ast-Priv-Pw-77aa';

const SHARD_DDL = `
  CREATE TABLE Photos (id BIGINT UNSIGNED NOT NULL PRIMARY KEY, user_id INT UNSIGNED NOT NULL, title VARCHAR(200) CHARACTER SET utf8mb4 NULL, KEY by_user (user_id));
  CREATE TABLE Faves (user_id INT UNSIGNED NOT NULL, photo_id BIGINT UNSIGNED NOT NULL, UNIQUE KEY fave (user_id, photo_id));
  CREATE TABLE Contacts (user_id INT UNSIGNED NOT NULL, contact_id INT UNSIGNED NOT NULL);`;

describe('security', () => {
  let c: FlameworkCluster;
  let A: Login;
  let B: Login;
  const figures: Record<string, unknown> = {};

  beforeAll(async () => {
    ensureBuilt();
    c = await startFlamework('sec', [{ name: 'a' }, { name: 'b' }], {
      main: 'a',
      shards: { 1: { server: 'a', database: 'users1' }, 2: { server: 'b', database: 'users2' } },
      users: { 42: 1, 43: 1, 44: 2 },
    });
    A = c.login('a');
    B = c.login('b');
    c.onShards(SHARD_DDL);
    for (const s of ['a', 'b']) c.sql(s, 'mysql', `CREATE USER 'fwsec'@'%' IDENTIFIED BY '${PW}'; GRANT ALL ON *.* TO 'fwsec'@'%';`);
  }, 120_000);

  afterAll(async () => {
    recordFigures('security', figures);
    await c?.close();
  });

  function resetData(): void {
    mariadb(A, 'flamework', DROP_JOURNAL + '; UPDATE users SET cluster_id = IF(id = 44, 2, 1);');
    c.onShards('DROP TABLE IF EXISTS fw_shard_fence, fw_shard_changes; DELETE FROM Photos; DELETE FROM Faves; DELETE FROM Contacts;');
    mariadb(
      A,
      'users1',
      `INSERT INTO Photos SELECT seq, IF(seq % 4 = 0, 43, 42), CONCAT('photo ', seq, ' ✓') FROM seq_1_to_120;
      INSERT INTO Faves SELECT 42, seq FROM seq_1_to_30; INSERT INTO Contacts SELECT 42, seq % 7 FROM seq_1_to_25;
      INSERT INTO Contacts SELECT 43, seq FROM seq_1_to_8;`,
    );
    mariadb(B, 'users2', "INSERT INTO Photos SELECT 100000 + seq, 44, 'theirs' FROM seq_1_to_20; INSERT INTO Faves SELECT 44, seq FROM seq_1_to_5;");
  }

  // ------------------------------------------------------------------------------------------------
  describe('passwords never appear anywhere', () => {
    it('not in any output, error, JSON document, journal row, process title, or hook environment', async () => {
      resetData();
      const config = c.writeConfig('sec.json', { user: 'fwsec', passwordEnv: 'FWS_DB_LOGIN' });
      const env = { FWS_DB_LOGIN: PW, APP_DSN: `mysql://fwsec:${PW}@127.0.0.1/flamework`, FWS_HOOK_OUT: join(c.dir, 'hook-out') };
      mkdirSync(env.FWS_HOOK_OUT);
      // Hooks: every one records its environment and arguments; on-phase also prints them and fails.
      const hooks = join(c.dir, 'hooks');
      mkdirSync(hooks);
      for (const h of ['on-start', 'on-resume', 'on-phase', 'on-delta', 'on-freeze', 'on-flip', 'on-warning', 'on-success', 'on-failure']) {
        const fail = h === 'on-phase' ? 'env >&2; echo "$@" >&2; exit 3' : 'exit 0';
        writeFileSync(join(hooks, h), `#!/bin/sh\nenv > "$FWS_HOOK_OUT/${h}.$$.env"\necho "$@" >> "$FWS_HOOK_OUT/${h}.$$.env"\n${fail}\n`);
        chmodSync(join(hooks, h), 0o755);
      }
      const outputs: { what: string; text: string }[] = [];
      const runs: CliRun[] = [];
      const run = async (what: string, args: string[], extraEnv: Record<string, string> = {}, opts: Parameters<typeof runFwShard>[1] = {}) => {
        const r = await runFwShard(['--config', config, ...args], { ...opts, env: { ...env, ...extraEnv } });
        outputs.push({ what, text: r.stdout + r.stderr });
        runs.push(r);
        return r;
      };
      for (const json of [[], ['--json']]) {
        await run(`status ${json}`, ['status', ...json]);
        await run(`config show ${json}`, ['config', 'show', ...json]);
        await run(`moves ${json}`, ['moves', '--all', ...json]);
        await run(`move --dry-run ${json}`, ['move', '--user', '42', '--to', '2', '--dry-run', ...json]);
        await run(`verify ${json}`, ['verify', ...json]);
        await run(`plan ${json}`, ['plan', '--balance', ...json]);
      }
      // The real move, online, with hooks; the process title is sampled while it runs.
      const titles: string[] = [];
      let sampler: NodeJS.Timeout | undefined;
      const moved = await run(
        'move (online, hooks, events)',
        [
          'move',
          '--user',
          '42',
          '--to',
          '2',
          '--yes',
          '--events',
          '--json',
          '--chunk-size',
          '20',
          '--sleep-between-chunks',
          '5ms',
          '--freeze-cap',
          '2s',
          '--drain',
          '200ms',
          '--hooks-dir',
          hooks,
        ],
        {},
        {
          onSpawn: (pid) => {
            sampler = setInterval(() => {
              try {
                titles.push(execFileSync('ps', ['-o', 'args=', '-p', String(pid)], { encoding: 'utf8' }).trim());
                titles.push(readFileSync(`/proc/${pid}/cmdline`, 'latin1').replace(/\0/g, ' '));
              } catch {
                // exited
              }
            }, 40);
          },
        },
      );
      clearInterval(sampler);
      expect(moved.code, moved.stderr).toBe(0);
      expect(moved.stderr).toMatch(/warning: .*on-phase/); // the failing hook was quoted
      await run('moves after', ['moves', '--all', '--json']);
      // Errors: a refused move, a wrong password (neither password may show), resume of a finished move.
      await run('move refused (already there)', ['move', '--user', '42', '--to', '2', '--yes', '--json']);
      const denied = await run('wrong password', ['move', '--user', '43', '--to', '2', '--dry-run'], { FWS_DB_LOGIN: WRONG });
      expect(denied.code).toBe(4);
      const deniedJson = await run('wrong password --json', ['status', '--json'], { FWS_DB_LOGIN: WRONG });
      expect(deniedJson.code).toBe(4);
      await run('resume done', ['resume', String(moved.doc?.moveId), '--json']);
      // A Flamework PHP config holding the password.
      const php = join(c.dir, 'config.php');
      writeFileSync(
        php,
        `<?php\n$GLOBALS['cfg']['db_main'] = array('host' => '127.0.0.1:${c.servers.a!.port}', 'user' => 'fwsec', 'pass' => '${PW}', 'name' => 'flamework');\n$GLOBALS['cfg']['db_users'] = array('host' => array(1 => '127.0.0.1:${c.servers.a!.port}', 2 => '127.0.0.1:${c.servers.b!.port}'), 'user' => 'fwsec', 'pass' => '${PW}', 'name' => array(1 => 'users1', 2 => 'users2'));\n`,
      );
      for (const args of [
        ['config', 'import'],
        ['config', 'import', '--json'],
        ['config', 'show', '--json'],
        ['status'],
        ['move', '--user', '43', '--to', '2', '--dry-run', '--json'],
      ]) {
        const r = await runFwShard(['--flamework-config', php, ...args], { env: {} });
        outputs.push({ what: `--flamework-config ${args.join(' ')}`, text: r.stdout + r.stderr });
      }
      const journal = mariadb(
        A,
        'flamework',
        'SELECT * FROM fw_shard_moves; SELECT * FROM fw_shard_move_tables; SELECT * FROM fw_shard_move_chunks; SELECT * FROM fw_shard_move_passes; SELECT * FROM fw_shard_move_runs;',
      );
      outputs.push({ what: 'journal rows', text: journal });
      const hookFiles = readdirSync(env.FWS_HOOK_OUT);
      expect(
        hookFiles.some((f) => f.startsWith('on-flip')),
        'hooks ran',
      ).toBe(true);
      for (const f of hookFiles) outputs.push({ what: `hook ${f}`, text: readFileSync(join(env.FWS_HOOK_OUT, f), 'latin1') });
      outputs.push({ what: 'process title', text: titles.join('\n') });
      expect(titles.length, 'the process title was sampled').toBeGreaterThan(0);
      expect(titles.some((t) => t.includes('fw-shard'))).toBe(true);

      const leaks = outputs.filter((o) => o.text.includes(PW) || o.text.includes(WRONG)).map((o) => o.what);
      figures.passwordChecks = { outputsChecked: outputs.length, hookFiles: hookFiles.length, titleSamples: titles.length, leaks };
      expect(leaks).toEqual([]);
      // Hooks did not inherit the password under a harmless name, nor a value that contains it.
      const flipEnv = readFileSync(
        join(
          env.FWS_HOOK_OUT,
          hookFiles.find((f) => f.startsWith('on-flip'))!,
        ),
        'latin1',
      );
      expect(flipEnv).toContain('FWS_HOOK_OUT=');
      expect(flipEnv).not.toContain('FWS_DB_LOGIN=');
      expect(flipEnv).not.toContain('APP_DSN=');
      // config show names the password's source only.
      expect(outputs.find((o) => o.what === 'config show --json')!.text).toContain('env:FWS_DB_LOGIN');
    });

    it('a config file or password file readable by other users draws a warning; a private one does not', async () => {
      const pwFile = writePrivate(join(c.dir, 'pw-open'), PW + '\n', 0o644);
      const open = c.writeConfig('open.json', { user: 'fwsec', defaults: { passwordFile: pwFile } });
      chmodSync(open, 0o644);
      const doc = JSON.parse(readFileSync(open, 'utf8'));
      delete doc.defaults.password;
      writeFileSync(open, JSON.stringify(doc));
      const r = await runFwShard(['--config', open, 'config', 'show']);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stderr).toContain(`warning: config file ${open} is readable by every user on this machine (chmod o-r ${open})`);
      // Said once, under `defaults`, naming the servers that use it (src/config/load.ts).
      expect(r.stderr).toContain(`warning: defaults.passwordFile: ${pwFile} is readable by every user on this machine (the password of main,`);
      expect(r.stderr).toContain(`(chmod o-r ${pwFile})`);
      expect(r.stdout + r.stderr).not.toContain(PW);
      chmodSync(open, 0o600);
      chmodSync(pwFile, 0o600);
      const quiet = await runFwShard(['--config', open, 'config', 'show']);
      expect(quiet.code).toBe(0);
      expect(quiet.stderr).not.toMatch(/readable by every user/);
      figures.permissionWarnings = 'config file 0644 and password file 0644 warned; 0600 quiet';
    });
  });

  // ------------------------------------------------------------------------------------------------
  describe('hostile identifiers', () => {
    // Table → columns (the first is the key unless noted). Names from information_schema, never typed by fw-shard.
    const HOSTILE: { table: string; ddl: string }[] = [
      {
        table: 'a`b',
        ddl: "CREATE TABLE `a``b` (`id` BIGINT UNSIGNED NOT NULL PRIMARY KEY, user_id INT UNSIGNED NOT NULL, `x'y` VARCHAR(50) NULL, `c;DROP TABLE t;--` INT NULL, `/* z */` TEXT NULL, `sp ace` VARCHAR(20) NULL, `select` INT NULL, KEY (user_id))",
      },
      {
        table: 'x\'y"z',
        ddl: 'CREATE TABLE `x\'y"z` (`k``ey` VARCHAR(30) NOT NULL, user_id INT UNSIGNED NOT NULL, `-- c` VARCHAR(30) NULL, `#h` INT NULL, PRIMARY KEY (`k``ey`, user_id))',
      },
      {
        table: 'c;DROP TABLE t;--',
        ddl: "CREATE TABLE `c;DROP TABLE t;--` (user_id INT UNSIGNED NOT NULL, `'); DROP TABLE t; --` VARCHAR(40) NULL, `\\\\` INT NULL)",
      },
      {
        table: 'select',
        ddl: 'CREATE TABLE `select` (`from` INT NOT NULL, user_id INT UNSIGNED NOT NULL, `where` VARCHAR(10) NULL, UNIQUE KEY `order` (user_id, `from`))',
      },
      {
        table: '/* z */ sp ace',
        ddl: 'CREATE TABLE `/* z */ sp ace` (id INT NOT NULL PRIMARY KEY, `own;er` INT UNSIGNED NOT NULL, `*/` VARCHAR(10) NULL, KEY (`own;er`))',
      },
    ];
    const CANARIES = 'CREATE TABLE t (x INT); INSERT INTO t VALUES (1); CREATE TABLE victim (x INT); INSERT INTO victim VALUES (2);';

    it('a schema with hostile table and column names moves byte for byte and runs nothing else', async () => {
      mariadb(A, 'mysql', 'CREATE DATABASE hostile1');
      mariadb(B, 'mysql', 'CREATE DATABASE hostile2');
      for (const [login, db] of [
        [A, 'hostile1'],
        [B, 'hostile2'],
      ] as const) {
        mariadb(login, db, HOSTILE.map((h) => h.ddl).join(';\n') + ';\n' + CANARIES);
      }
      // Data: keys and values just as hostile (quotes, backslashes, NUL, comment markers).
      mariadb(
        A,
        'hostile1',
        `
        INSERT INTO \`a\`\`b\` SELECT seq, IF(seq % 5 = 0, 43, 42), CONCAT('it''s ', seq, ' \\\\ "q"'), seq, CONCAT('/* ', seq, ' */ --'), IF(seq % 2, ' ', NULL), seq FROM seq_1_to_60;
        INSERT INTO \`x'y"z\` SELECT CONCAT('k\`', seq, ''''), 42, CONCAT('-- ', seq), seq FROM seq_1_to_25;
        INSERT INTO \`c;DROP TABLE t;--\` SELECT 42, CONCAT(''')\\; DROP TABLE t; --', seq), seq FROM seq_1_to_10;
        INSERT INTO \`c;DROP TABLE t;--\` SELECT 42, CONCAT(''')\\; DROP TABLE t; --', seq), seq FROM seq_1_to_3;
        INSERT INTO \`select\` SELECT seq, 42, CHAR(0, 39, 96, 92) FROM seq_1_to_15;
        INSERT INTO \`/* z */ sp ace\` SELECT seq, 42, '*/ ;' FROM seq_1_to_12;`,
      );
      const config = c.writeConfig('hostile.json', {
        user: 'fwsec',
        passwordEnv: 'FWS_DB_LOGIN',
        over: {
          shards: { '1': { port: c.servers.a!.port, database: 'hostile1' }, '2': { port: c.servers.b!.port, database: 'hostile2' } },
          tables: { exclude: ['t', 'victim'], owners: { '/* z */ sp ace': 'own;er' } },
        },
      });
      mariadb(A, 'flamework', DROP_JOURNAL + '; UPDATE users SET cluster_id = 1 WHERE id = 42;');
      const schemaA = tablesOf(A, 'hostile1');
      const dump = (login: Login, db: string) =>
        dumpUser(login, db, '42', 'user_id', tablesOf(login, db)) +
        dumpUser(
          login,
          db,
          '42',
          'own;er',
          tablesOf(login, db).filter((t) => t.columns.includes('own;er')),
        );
      const original = dump(A, 'hostile1');
      expect(dumpRows(original)).toBe(48 + 25 + 13 + 15 + 12);
      const ddl = (login: Login, db: string) =>
        schemaA
          .map((t) =>
            mariadb(login, db, `SHOW CREATE TABLE ${q(t.name)}`)
              .split('\t')
              .slice(1)
              .join('\t'),
          )
          .join('\n');
      const ddlBefore = [ddl(A, 'hostile1'), ddl(B, 'hostile2')];

      // The general log of both servers, for fw-shard's session only.
      const logs = { a: join(c.dir, 'general-a.log'), b: join(c.dir, 'general-b.log') };
      for (const [login, f] of [
        [A, logs.a],
        [B, logs.b],
      ] as const)
        mariadb(login, 'mysql', `SET GLOBAL general_log_file = ${quoteString(f)}; SET GLOBAL general_log = 1;`);
      let r: CliRun;
      try {
        r = await runFwShard(
          ['--config', config, 'move', '--user', '42', '--to', '2', '--yes', '--json', '--chunk-size', '7', '--freeze-cap', '2s', '--drain', '100ms'],
          { env: { FWS_DB_LOGIN: PW } },
        );
      } finally {
        for (const login of [A, B]) mariadb(login, 'mysql', 'SET GLOBAL general_log = 0');
      }
      expect(r.code, r.stderr).toBe(0);
      expect(r.doc?.tables?.map((t: { name: string }) => t.name).sort()).toEqual(HOSTILE.map((h) => h.table).sort());

      // Moved byte for byte; source cleaned; canaries and every table definition untouched.
      expect(dump(B, 'hostile2') === original, 'target equals the original').toBe(true);
      expect(dumpRows(dump(A, 'hostile1'))).toBe(0);
      for (const [login, db] of [
        [A, 'hostile1'],
        [B, 'hostile2'],
      ] as const) {
        expect(mariadb(login, db, 'SELECT (SELECT GROUP_CONCAT(x) FROM t), (SELECT GROUP_CONCAT(x) FROM victim)').trim(), `canaries on ${db}`).toBe('1\t2');
      }
      expect([ddl(A, 'hostile1'), ddl(B, 'hostile2')]).toEqual(ddlBefore);
      expect(mariadb(A, 'hostile1', 'SELECT COUNT(*) FROM `a``b` WHERE user_id = 43').trim()).toBe('12');

      // What fw-shard sent: only these kinds of statements, each aimed at a table that exists.
      const statements = [...fwShardStatements(logs.a, 'fwsec'), ...fwShardStatements(logs.b, 'fwsec')];
      const allowed =
        /^(?:(?:SELECT|INSERT INTO|INSERT IGNORE INTO|REPLACE INTO|UPDATE|DELETE FROM|LOAD DATA LOCAL INFILE|SET SESSION|SET TRANSACTION ISOLATION LEVEL (?:REPEATABLE READ|READ COMMITTED)$|START TRANSACTION|COMMIT|ROLLBACK|SHOW (?:GLOBAL |SESSION )?(?:VARIABLES|STATUS))\b|DELETE (`(?:[^`]|``)+`) FROM \1 FORCE INDEX \(`(?:[^`]|``)+`\) WHERE |CREATE TABLE IF NOT EXISTS `fw_shard_(?:moves|move_tables|move_chunks|move_passes|move_runs|freezes|fence|changes)` \(|CREATE TRIGGER `fw_shard_[0-9a-f]{16}_[0-9a-f]{8}_b[iud]` BEFORE (?:INSERT|UPDATE|DELETE) ON `|DROP TRIGGER IF EXISTS `fw_shard_[0-9a-f]{16}_[0-9a-f]{8}_b[iud]`$|DROP TABLE IF EXISTS `fw_shard_changes`, `fw_shard_fence`$|XA RECOVER$)/i;
      const unexpected = statements.filter((s) => !allowed.test(s.trim()));
      const known = new Set([
        ...HOSTILE.map((h) => h.table),
        'users',
        'Tickets64',
        'fw_shard_moves',
        'fw_shard_move_tables',
        'fw_shard_move_chunks',
        'fw_shard_move_passes',
        'fw_shard_move_runs',
        'fw_shard_freezes',
        'fw_shard_fence',
        'fw_shard_changes',
      ]);
      const targets = statements.map(writeTarget).filter((t): t is string => t !== null);
      const strayTargets = [...new Set(targets.filter((t) => !known.has(t)))];
      figures.hostileNames = {
        tables: HOSTILE.map((h) => h.table),
        statementsLogged: statements.length,
        writeStatements: targets.length,
        statementKinds: [...new Set(statements.map((s) => s.trim().split(/\s+/).slice(0, 2).join(' ').toUpperCase()))].sort(),
        unexpected: unexpected.slice(0, 5),
        strayTargets,
      };
      expect(statements.length).toBeGreaterThan(50);
      expect(unexpected).toEqual([]);
      expect(strayTargets).toEqual([]);
      expect(targets.filter((t) => HOSTILE.some((h) => h.table === t)).length, 'writes reached every hostile table').toBeGreaterThan(HOSTILE.length);
      expect(new Set(targets)).toEqual(
        new Set([
          ...HOSTILE.map((h) => h.table),
          'fw_shard_moves',
          'fw_shard_move_tables',
          'fw_shard_move_chunks',
          'fw_shard_move_passes',
          'fw_shard_move_runs',
          'fw_shard_freezes',
          'fw_shard_fence',
          'fw_shard_changes',
          'users',
        ]),
      );
    });
  });

  // ------------------------------------------------------------------------------------------------
  describe('least privilege', () => {
    it("a user with exactly README's GRANTs runs a full online move with cleanup, a killed move then abort, a deferred cleanup, status/moves/verify", async () => {
      resetData();
      const grants = readmeGrants();
      const sharded = ['Photos', 'Faves', 'Contacts'];
      const stmts = (target: 'main' | 'shard' | 'tickets', db: string) =>
        grants[target].flatMap((g) =>
          (g.tables === 'sharded' ? sharded : g.tables).map(
            (t) => `GRANT ${g.privileges} ON ${q(db)}.${q(t === 'the users table' ? 'users' : t)} TO 'fwleast'@'%'`,
          ),
        );
      const onA = [...stmts('main', 'flamework'), ...stmts('shard', 'users1'), ...stmts('tickets', 'tickets')];
      const onB = stmts('shard', 'users2');
      for (const [login, list] of [
        [A, onA],
        [B, onB],
      ] as const) {
        mariadb(login, 'mysql', `DROP USER IF EXISTS 'fwleast'@'%'; CREATE USER 'fwleast'@'%' IDENTIFIED BY '${LEAST_PW}'; ${list.join(';\n')};`);
      }
      const shown = (login: Login) => mariadb(login, 'mysql', "SHOW GRANTS FOR 'fwleast'@'%'").split('\n').filter(Boolean);
      figures.leastPrivilege = { grantsFromReadme: grants, grantsOnMainServer: shown(A), grantsOnShard2Server: shown(B) };
      expect(shown(A).join('\n')).not.toMatch(/ALL PRIVILEGES|ON \*\.\*.*(SELECT|INSERT|UPDATE|DELETE|CREATE)/);

      const config = c.writeConfig('least.json', { user: 'fwleast', passwordEnv: 'FWS_LEAST_PW' });
      const env = { FWS_LEAST_PW: LEAST_PW };
      const fw = (args: string[], opts: Parameters<typeof runFwShard>[1] = {}) => runFwShard(['--config', config, ...args], { ...opts, env });
      const results: Record<string, number | null> = {};

      const original42 = dumpUser(A, 'users1', '42');
      const online = await fw(['move', '--user', '42', '--to', '2', '--yes', '--json', '--chunk-size', '25', '--freeze-cap', '2s', '--drain', '200ms']);
      results['move 42 online, cleanup now'] = online.code;
      expect(online.code, online.stderr).toBe(0);
      expect(online.doc).toMatchObject({ ok: true, phase: 'done', mappingFlipped: true });
      expect(dumpUser(B, 'users2', '42') === original42).toBe(true);
      expect(dumpUser(A, 'users1', '42')).toBe(emptyDumpOf(original42));

      // A move killed mid-copy, then aborted: deletes on the target.
      const killed = await fw(
        ['move', '--user', '43', '--to', '2', '--yes', '--events', '--assume-no-writes', '--chunk-size', '5', '--sleep-between-chunks', '20ms'],
        {
          onEvent: (e, _n, ctl) => void (e.type === 'chunk.copied' && ctl.kill()),
        },
      );
      expect(killed.signal).toBe('SIGKILL');
      const abort = await fw(['abort', '--user', '43', '--json']);
      results['abort --user 43 after a kill'] = abort.code;
      expect(abort.code, abort.stderr).toBe(0);
      expect(dumpRows(dumpUser(B, 'users2', '43'))).toBe(0);

      // Deferred cleanup, offline: user 44 from shard 2 to shard 1.
      const original44 = dumpUser(B, 'users2', '44');
      const defer = await fw(['move', '--user', '44', '--to', '1', '--yes', '--json', '--assume-no-writes', '--cleanup', 'defer']);
      results['move 44 offline, cleanup defer'] = defer.code;
      expect(defer.code, defer.stderr).toBe(0);
      const cleanup = await fw(['cleanup', '--older-than', '0s', '--json']);
      results['cleanup --older-than 0s'] = cleanup.code;
      expect(cleanup.code, cleanup.stderr).toBe(0);
      expect(dumpUser(A, 'users1', '44') === original44).toBe(true);
      expect(dumpRows(dumpUser(B, 'users2', '44'))).toBe(0);

      for (const [name, args] of [
        ['status --json', ['status', '--json']],
        ['moves --all --json', ['moves', '--all', '--json']],
        ['verify --json', ['verify', '--json']],
      ] as const) {
        const r = await fw([...args]);
        results[name] = r.code;
        expect(r.stderr).not.toMatch(/denied|internal error/i);
        expect(r.code, `${name}: ${r.stderr}`).toBe(0);
      }
      (figures.leastPrivilege as Record<string, unknown>).results = results;
      expect(mariadb(A, 'flamework', "SELECT GROUP_CONCAT(state, ':', phase ORDER BY id) FROM fw_shard_moves").trim()).toBe(
        'done:done,aborted:aborted,done:done',
      );
    });

    it('without the trigger-mode grants an online move falls back to re-hash mode and says why; with them (README) it runs in trigger mode', async () => {
      resetData();
      const config = c.writeConfig('least.json', { user: 'fwleast', passwordEnv: 'FWS_LEAST_PW' });
      const env = { FWS_LEAST_PW: LEAST_PW };
      const fw = (args: string[]) => runFwShard(['--config', config, ...args], { env });
      const plan = await fw(['move', '--user', '42', '--to', '2', '--dry-run', '--json']);
      expect(plan.code, plan.stderr).toBe(0);
      expect(plan.doc?.plan?.capture?.mode).toBe('rehash');
      expect(plan.doc?.plan?.capture?.reason).toMatch(/lacks TRIGGER, CREATE, DROP, PROCESS/);
      const refused = await fw(['move', '--user', '42', '--to', '2', '--yes', '--json', '--capture', 'trigger']);
      expect(refused.code).toBe(5);
      expect(refused.doc?.error?.message).toMatch(/--capture trigger is not possible/);
      // The grants of README "Required privileges", row "online moves in trigger mode".
      for (const [login, db] of [
        [A, 'users1'],
        [B, 'users2'],
      ] as const) {
        mariadb(
          login,
          'mysql',
          `GRANT CREATE, DROP, TRIGGER, SELECT, INSERT, UPDATE, DELETE ON ${q(db)}.* TO 'fwleast'@'%'; GRANT PROCESS ON *.* TO 'fwleast'@'%'`,
        );
      }
      const original42 = dumpUser(A, 'users1', '42');
      const online = await fw(['move', '--user', '42', '--to', '2', '--yes', '--json', '--capture', 'trigger', '--chunk-size', '25', '--freeze-cap', '2s']);
      expect(online.code, online.stderr).toBe(0);
      expect(online.doc?.plan?.capture?.mode).toBe('trigger');
      expect(dumpUser(B, 'users2', '42') === original42).toBe(true);
      expect(dumpUser(A, 'users1', '42')).toBe(emptyDumpOf(original42));
      // The same login takes its objects away again: the new shard's right after the flip, the old
      // shard's (the moved fence) once the retention is over.
      const tidy = await fw(['cleanup', '--fence-retention', '0s', '--json']);
      expect(tidy.code, tidy.stderr).toBe(0);
      for (const [login, db] of [
        [A, 'users1'],
        [B, 'users2'],
      ] as const) {
        expect(
          mariadb(
            login,
            db,
            "SELECT COUNT(*) FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = DATABASE() AND TRIGGER_NAME LIKE 'fw\\_shard\\_%'",
          ).trim(),
        ).toBe('0');
        expect(
          mariadb(
            login,
            db,
            "SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME IN ('fw_shard_fence', 'fw_shard_changes')",
          ).trim(),
        ).toBe('0');
      }
      for (const [login, db] of [
        [A, 'users1'],
        [B, 'users2'],
      ] as const) {
        mariadb(
          login,
          'mysql',
          `REVOKE CREATE, DROP, TRIGGER, SELECT, INSERT, UPDATE, DELETE ON ${q(db)}.* FROM 'fwleast'@'%'; REVOKE PROCESS ON *.* FROM 'fwleast'@'%'`,
        );
      }
    });
  });
});

/**
 * The statements one user's sessions sent, from a general log file: entries start with an optional
 * timestamp, a thread id and a command (Connect, Query, Prepare, Execute...); a statement may span lines.
 */
function fwShardStatements(file: string, user: string): string[] {
  if (!existsSync(file)) return [];
  const lines = readFileSync(file, 'latin1').split('\n');
  const head = /^(?:\d{6}\s+\d{1,2}:\d{2}:\d{2})?\s+(\d+) (\w+)\t?(.*)$/;
  const entries: { thread: string; command: string; text: string }[] = [];
  for (const line of lines) {
    const m = head.exec(line);
    if (m && /^(Connect|Query|Prepare|Execute|Quit|Init|Close|Field|Statistics|Ping|Change|Reset|Long)/.test(m[2]!))
      entries.push({ thread: m[1]!, command: m[2]!, text: m[3]! });
    else if (entries.length) entries[entries.length - 1]!.text += '\n' + line;
  }
  const mine = new Set(entries.filter((e) => e.command === 'Connect' && e.text.startsWith(`${user}@`)).map((e) => e.thread));
  return entries.filter((e) => mine.has(e.thread) && ['Query', 'Execute'].includes(e.command)).map((e) => e.text.trim());
}

/** The table a writing statement aims at, read as a quoted identifier (`a``b` → a`b); null for reads. */
function writeTarget(stmt: string): string | null {
  // DELETE `t` FROM `t` FORCE INDEX (...): the multiple-table form names its target first.
  const m = /^(?:INSERT(?: IGNORE)? INTO|REPLACE INTO|UPDATE|DELETE(?: FROM)?|LOAD DATA LOCAL INFILE '[^']*' INTO TABLE|CREATE TABLE IF NOT EXISTS)\s+/i.exec(
    stmt.trim(),
  );
  if (!m) return null;
  const rest = stmt.trim().slice(m[0].length);
  if (rest.startsWith('`')) {
    let name = '';
    for (let i = 1; i < rest.length; i++) {
      if (rest[i] === '`') {
        if (rest[i + 1] === '`') {
          name += '`';
          i++;
        } else return Buffer.from(name, 'latin1').toString('utf8');
      } else name += rest[i];
    }
    return `(unterminated identifier: ${rest.slice(0, 40)})`;
  }
  return /^[A-Za-z0-9_$]+/.exec(rest)?.[0] ?? `(unparsed: ${rest.slice(0, 40)})`;
}

/** README "Required privileges": the rows for db_main, shards and ticket servers, as privilege lists per table. */
function readmeGrants(): Record<'main' | 'shard' | 'tickets', { privileges: string; tables: string[] | 'sharded' }[]> {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('## Required privileges'));
  const rows = section.split('\n').filter((l) => l.startsWith('| ') && !l.startsWith('| where') && !l.startsWith('|---'));
  const out: Record<'main' | 'shard' | 'tickets', { privileges: string; tables: string[] | 'sharded' }[]> = { main: [], shard: [], tickets: [] };
  for (const row of rows) {
    const [, where, what] = row.split('|').map((s) => s.trim());
    const key = /^db_main/.test(where!) ? 'main' : /shard/.test(where!) ? 'shard' : /ticket/.test(where!) ? 'tickets' : null;
    if (!key) continue;
    for (const part of what!.replace(/\([^)]*\)/g, '').split(';')) {
      const m = /`([A-Z ,]+)`\s+on\s+(.+)/.exec(part.trim());
      if (!m) continue;
      const target = m[2]!.trim();
      if (/information_schema/.test(target)) continue;
      const tables =
        target === 'the sharded tables' ? 'sharded' : target === 'the users table' ? ['the users table'] : [...target.matchAll(/`([^`]+)`/g)].map((x) => x[1]!);
      out[key].push({ privileges: m[1]!, tables });
    }
  }
  return out;
}

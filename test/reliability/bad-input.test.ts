/**
 * The bad-input catalogue, continued from test/integration/cli-bad-input.test.ts (whose cases are not
 * repeated here; test/reliability/RESULTS.md lists both): one scenario per case, across flags, config
 * files (YAML, JSON, Flamework PHP), plan files, playbooks and server state, against two sandbox server
 * processes (shard 1 with db_main on `a`, shards 2 and 3 on `b`).
 *
 * Every case checks: the documented exit code, an error that names the problem (its code and words),
 * a next step, nothing on stdout but the one JSON document with --json, and every database unchanged:
 * CHECKSUM TABLE ... EXTENDED of every table on both servers, and the list of tables, equal before and
 * after (so no journal table appeared either).
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../../src/cli/main.js';
import type { CliContext } from '../../src/cli/context.js';
import { sql } from '../../src/db/sql/fragment.js';
import { createMovesSql, createMoveTablesSql, createMoveChunksSql } from '../../src/db/sql/journal.js';
import { createFreezesSql } from '../../src/db/sql/freeze.js';
import {
  ensureBuilt,
  checksums,
  mariadb,
  recordFigures,
  runFwShard,
  startFlamework,
  writePrivate,
  type FlameworkCluster,
  type Login,
} from '../helpers/reliability.js';
import { sink } from '../helpers/sink.js';
import { DROP_JOURNAL } from '../helpers/journal.js';

const RIGHT_PW = 'Bad-Input-right-9q';
const WRONG_PW = 'Bad-Input-wrong-4z';

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

type Kind = 'flags' | 'config' | 'plan file' | 'playbook' | 'server state';

interface Case {
  kind: Kind;
  name: string;
  args: () => string[];
  env?: Record<string, string>;
  setup?: () => void | Promise<void>;
  teardown?: () => void | Promise<void>;
  code: number;
  /** The error code shown as `[CODE]` (undefined: commander's own parse error). */
  errorCode?: string;
  /** Every fragment must appear in stderr (the problem, named). */
  says: (string | RegExp)[];
  /** The next step shown (default: a `next step:` line). */
  next?: RegExp;
  /** Also run with --json: one document on stdout with ok false and this error code. */
  json?: boolean;
  /** Run through the built binary instead of in process. */
  binary?: boolean;
}

describe('bad input: every case a clear message, the documented exit code, every database unchanged', () => {
  let c: FlameworkCluster;
  let A: Login;
  let B: Login;
  let dir = '';
  let good = '';
  let planFile = '';
  const tried: { kind: Kind; name: string; code: number; ok: boolean }[] = [];

  const snapshot = () => checksums(A, ['flamework', 'tickets', 'users1']) + '\n==\n' + checksums(B, ['users2', 'users3']);

  async function cli(argv: string[], env: Record<string, string> = {}): Promise<Run> {
    const stdout = sink();
    const stderr = sink();
    const ctx: CliContext = { stdout, stderr, stdinIsTTY: false, env, cwd: dir };
    const code = await runCli(argv, ctx);
    return { code, stdout: stdout.text(), stderr: stderr.text() };
  }

  beforeAll(async () => {
    ensureBuilt();
    c = await startFlamework('bad', [{ name: 'a' }, { name: 'b' }], {
      main: 'a',
      shards: { 1: { server: 'a', database: 'users1' }, 2: { server: 'b', database: 'users2' }, 3: { server: 'b', database: 'users3' } },
      users: { 42: 1, 43: 2, 44: 2 },
    });
    A = c.login('a');
    B = c.login('b');
    dir = join(c.dir, 'work');
    mkdirSync(dir);
    c.onShards(`
      CREATE TABLE Photos (id BIGINT UNSIGNED NOT NULL PRIMARY KEY, user_id BIGINT UNSIGNED NOT NULL, title VARCHAR(255) NOT NULL, KEY by_user (user_id));
      CREATE TABLE Faves (user_id BIGINT UNSIGNED NOT NULL, photo_id BIGINT UNSIGNED NOT NULL, UNIQUE KEY by_fave (user_id, photo_id));
      CREATE TABLE Contacts (user_id BIGINT UNSIGNED NOT NULL, contact_id BIGINT UNSIGNED NOT NULL);`);
    mariadb(
      A,
      'users1',
      `INSERT INTO Photos SELECT seq, 42, CONCAT('photo ', seq) FROM seq_1_to_5;
      INSERT INTO Faves SELECT 42, seq FROM seq_1_to_3; INSERT INTO Contacts SELECT 42, seq % 5 FROM seq_1_to_12;`,
    );
    mariadb(B, 'users2', "INSERT INTO Photos VALUES (100, 43, 'bob'), (200, 44, 'carol'); INSERT INTO Faves VALUES (43, 100);");
    mariadb(B, 'mysql', `CREATE USER 'fwbad'@'%' IDENTIFIED BY '${RIGHT_PW}'; GRANT ALL ON users2.* TO 'fwbad'@'%'; GRANT ALL ON users3.* TO 'fwbad'@'%';`);
    good = c.writeConfig('good.json');
    // A real plan (drain shard 1), made by fw-shard itself: reading only.
    planFile = join(dir, 'plan.json');
    const p = await cli(['-c', good, 'plan', '--drain', '1', '--out', planFile]);
    expect(p.code, p.stderr).toBe(0);
  }, 120_000);

  afterAll(async () => {
    recordFigures('bad-input', {
      cases: tried.length,
      passed: tried.filter((t) => t.ok).length,
      byKind: Object.fromEntries(
        (['flags', 'config', 'plan file', 'playbook', 'server state'] as Kind[]).map((k) => [k, tried.filter((t) => t.kind === k).length]),
      ),
      list: tried.map((t) => `${t.kind}: ${t.name} → exit ${t.code}${t.ok ? '' : ' (FAILED)'}`),
    });
    await c?.close();
  });

  /** A config file in the work dir, in YAML, with the servers' ports filled in. */
  const yamlConfig = (name: string, body: (p: { a: number; b: number }) => string, mode = 0o600) =>
    writePrivate(join(dir, name), body({ a: c.servers.a!.port, b: c.servers.b!.port }), mode);
  const baseYaml = ({ a, b }: { a: number; b: number }) => `version: 1
defaults: { host: 127.0.0.1, user: root, password: "" }
main: { port: ${a}, database: flamework }
shards:
  1: { port: ${a}, database: users1 }
  2: { port: ${b}, database: users2 }
  3: { port: ${b}, database: users3 }
`;
  const file = (name: string, text: string) => {
    const p = join(dir, name);
    writeFileSync(p, text);
    return p;
  };
  const move = (...extra: string[]) => ['-c', good, 'move', '--user', '42', '--to', '2', '--yes', '--assume-no-writes', ...extra];
  const journal = async (row: { phase: string; state: string; to: number; host?: string }) => {
    const m = c.db('a', 'flamework');
    for (const q of [createFreezesSql(), createMovesSql(), createMoveTablesSql(), createMoveChunksSql()]) await m.exec(q);
    await m.exec(sql`INSERT INTO fw_shard_moves (id, user_id, from_shard, to_shard, phase, state, active_user, cleanup_mode, runner_host, runner_pid, heartbeat_at, created_at, updated_at)
      VALUES (777, 42, 1, ${row.to}, ${row.phase}, ${row.state}, ${row.state === 'active' ? 42 : null}, 'now', ${row.host ?? null}, ${row.host ? 4242 : null}, NOW(3), NOW(3), NOW(3))`);
  };
  const dropJournal = () => void mariadb(A, 'flamework', DROP_JOURNAL);

  const cases: Case[] = [
    // ---- flags
    {
      kind: 'flags',
      name: 'a huge user id (2^64-1) that does not exist: named exactly, not rounded',
      args: () => move('--dry-run').map((a) => (a === '42' ? '18446744073709551615' : a)),
      code: 2,
      errorCode: 'USER_NOT_FOUND',
      says: ['user 18446744073709551615 does not exist in users on db_main'],
      json: true,
    },
    {
      kind: 'flags',
      name: '--user written as a float (1e3)',
      args: () => move().map((a) => (a === '42' ? '1e3' : a)),
      code: 2,
      errorCode: 'USAGE',
      says: ["--user must be a user id (digits only), got '1e3'"],
    },
    {
      kind: 'flags',
      name: '--to a negative shard (-1)',
      args: () => move().map((a) => (a === '2' ? '-1' : a)),
      code: 2,
      says: [/-1/],
      next: /next step: |--help/,
    },
    { kind: 'flags', name: '--chunk-size 0', args: () => move('--chunk-size', '0'), code: 2, errorCode: 'USAGE', says: ['--chunk-size must be between 1 and'] },
    {
      kind: 'flags',
      name: '--concurrency far too high (1000)',
      args: () => move('--concurrency', '1000'),
      code: 2,
      errorCode: 'USAGE',
      says: ['--concurrency must be between 1 and 64, got 1000'],
    },
    {
      kind: 'flags',
      name: '--cleanup with an unknown mode',
      args: () => move('--cleanup', 'sometimes'),
      code: 2,
      errorCode: 'USAGE',
      says: ["--cleanup must be one of now, defer, keep, got 'sometimes'"],
    },
    {
      kind: 'flags',
      name: '--hooks-dir that does not exist',
      args: () => move('--hooks-dir', join(dir, 'no-hooks')),
      code: 2,
      errorCode: 'USAGE',
      says: [/--hooks-dir \S*no-hooks: no such directory/],
    },
    {
      kind: 'flags',
      name: 'resume of a move id that is not in the journal',
      args: () => ['-c', good, 'resume', '999999', '--assume-no-writes'],
      code: 2,
      errorCode: 'MOVE_NOT_FOUND',
      says: ['no move 999999 in the journal'],
      json: true,
    },
    {
      kind: 'flags',
      name: 'abort with both a move id and --user',
      args: () => ['-c', good, 'abort', '777', '--user', '42'],
      code: 2,
      errorCode: 'USAGE',
      says: ['give either a move id or --user ID'],
    },
    {
      kind: 'flags',
      name: 'cleanup --older-than that is not a duration',
      args: () => ['-c', good, 'cleanup', '--older-than', 'yesterday'],
      code: 2,
      errorCode: 'USAGE',
      says: ["--older-than must be a duration like 500ms, 2s, 15m or 1h, got 'yesterday'"],
    },
    {
      kind: 'flags',
      name: 'status --watch without a terminal',
      args: () => ['-c', good, 'status', '--watch'],
      code: 2,
      errorCode: 'USAGE',
      says: [/--watch/, /terminal/],
    },
    {
      kind: 'flags',
      name: 'plan with no mode (neither --balance, --drain nor --graduate)',
      args: () => ['-c', good, 'plan'],
      code: 2,
      errorCode: 'USAGE',
      says: [/--balance|--drain|--graduate/],
    },
    {
      kind: 'flags',
      name: 'verify --shard 256',
      args: () => ['-c', good, 'verify', '--shard', '256'],
      code: 2,
      errorCode: 'UNKNOWN_SHARD',
      says: ['--shard 256 is out of range: shard ids run from 1 to 255'],
    },

    // ---- config
    {
      kind: 'config',
      name: 'malformed JSON config (an unclosed brace): names the line',
      args: () => ['-c', file('broken.json', '{\n  "main": { "database": "flamework" },\n  "shards": { "1": { "database": "users1" }\n'), 'status'],
      code: 3,
      errorCode: 'CONFIG_PARSE',
      says: [/broken\.json:\d+:\d+: /],
    },
    {
      kind: 'config',
      name: 'malformed Flamework PHP config (missing comma in an array)',
      args: () => ['--flamework-config', join(process.cwd(), 'test/fixtures/flamework/broken/config.php'), 'status'],
      code: 3,
      errorCode: 'FLAMEWORK_PARSE',
      says: [/config\.php/],
    },
    {
      kind: 'config',
      name: 'shard id 0 in the config',
      args: () => ['-c', yamlConfig('shard0.yaml', (p) => baseYaml(p) + `  0: { port: ${p.a}, database: users0 }\n`), 'status'],
      code: 3,
      errorCode: 'CONFIG_INVALID',
      says: ['shard ids run from 1 to 255'],
    },
    {
      kind: 'config',
      name: 'shard id 256 in the config',
      args: () => ['-c', yamlConfig('shard256.yaml', (p) => baseYaml(p) + `  256: { port: ${p.a}, database: users256 }\n`), 'status'],
      code: 3,
      errorCode: 'CONFIG_INVALID',
      says: ['shard ids run from 1 to 255'],
    },
    {
      kind: 'config',
      name: 'two shards on the same database',
      args: () => ['-c', yamlConfig('twice.yaml', (p) => baseYaml(p).replace('database: users3', 'database: users2')), 'status'],
      code: 3,
      errorCode: 'CONFIG_INVALID',
      says: ['shards.3: same server and database as shard 2'],
    },
    {
      kind: 'config',
      name: 'passwordEnv naming a variable that is not set',
      args: () => ['-c', yamlConfig('noenv.yaml', (p) => baseYaml(p).replace('password: ""', 'passwordEnv: FWS_BAD_UNSET_PW')), 'status'],
      code: 3,
      errorCode: 'CONFIG_INVALID',
      says: ['passwordEnv: environment variable FWS_BAD_UNSET_PW is not set'],
    },
    {
      kind: 'config',
      name: 'passwordFile that does not exist',
      args: () => ['-c', yamlConfig('nofile.yaml', (p) => baseYaml(p).replace('password: ""', 'passwordFile: /nonexistent/pw')), 'status'],
      code: 3,
      errorCode: 'CONFIG_INVALID',
      says: ['passwordFile: cannot read /nonexistent/pw: ENOENT'],
    },
    {
      kind: 'config',
      name: 'both password and passwordEnv',
      args: () => ['-c', yamlConfig('both.yaml', (p) => baseYaml(p).replace('password: ""', 'password: "", passwordEnv: X')), 'status'],
      env: { X: 'x' },
      code: 3,
      errorCode: 'CONFIG_INVALID',
      says: ['give only one of password, passwordEnv, passwordFile'],
    },
    {
      kind: 'config',
      name: 'a port out of range (70000)',
      args: () => ['-c', yamlConfig('port.yaml', (p) => baseYaml(p).replace(`3: { port: ${p.b}`, '3: { port: 70000')), 'status'],
      code: 3,
      errorCode: 'CONFIG_INVALID',
      says: [/shards\.3\.port/],
    },
    {
      kind: 'config',
      name: 'an unknown config version (2)',
      args: () => ['-c', yamlConfig('v2.yaml', (p) => baseYaml(p).replace('version: 1', 'version: 2')), 'status'],
      code: 3,
      errorCode: 'CONFIG_INVALID',
      says: [/version/],
    },
    {
      kind: 'config',
      name: 'an unknown key inside a shard entry (databse)',
      args: () => ['-c', yamlConfig('typo.yaml', (p) => baseYaml(p).replace('3: { port', '3: { databse: users3, port')), 'status'],
      code: 3,
      errorCode: 'CONFIG_INVALID',
      says: ["shards.3: unknown key 'databse'"],
    },
    {
      kind: 'config',
      name: 'the mapping table named in the config does not exist',
      args: () => ['-c', yamlConfig('mapping.yaml', (p) => baseYaml(p) + 'mapping: { table: Accounts }\n'), 'move', '--user', '42', '--to', '2', '--dry-run'],
      code: 3,
      errorCode: 'CONFIG_INVALID',
      says: [/mapping: cannot read Accounts\.cluster_id by id: db_main \(127\.0\.0\.1:\d+\/flamework\): Table 'flamework\.Accounts' doesn't exist/],
    },
    {
      kind: 'config',
      name: 'a shard database that does not exist on its server',
      args: () => [
        '-c',
        yamlConfig('nodb.yaml', (p) => baseYaml(p).replace('database: users3', 'database: users9')),
        'move',
        '--user',
        '42',
        '--to',
        '3',
        '--dry-run',
      ],
      code: 4,
      errorCode: 'SERVER_UNAVAILABLE',
      says: [/shard 3 \(127\.0\.0\.1:\d+\/users9\)/],
    },
    {
      kind: 'config',
      name: 'wrong password on a shard (not db_main): the shard is named',
      args: () => [
        '-c',
        yamlConfig('shardpw.yaml', (p) =>
          baseYaml(p).replace(`2: { port: ${p.b}, database: users2 }`, `2: { port: ${p.b}, database: users2, user: fwbad, passwordEnv: FWS_BAD_PW }`),
        ),
        'move',
        '--user',
        '42',
        '--to',
        '2',
        '--dry-run',
      ],
      env: { FWS_BAD_PW: WRONG_PW },
      code: 4,
      errorCode: 'ACCESS_DENIED',
      says: [/shard 2 \(127\.0\.0\.1:\d+\/users2\): login refused for user 'fwbad'/, 'password source: env:FWS_BAD_PW'],
    },
    {
      kind: 'config',
      name: 'a host name that does not resolve',
      args: () => [
        '-c',
        yamlConfig('nxhost.yaml', (p) => baseYaml(p).replace(`3: { port: ${p.b}`, '3: { host: no-such-host.invalid, port: 3306')),
        'move',
        '--user',
        '42',
        '--to',
        '3',
        '--dry-run',
      ],
      code: 4,
      errorCode: 'SERVER_UNAVAILABLE',
      says: ['shard 3 (no-such-host.invalid:3306/users3) is unavailable'],
    },

    // ---- plan files
    {
      kind: 'plan file',
      name: 'a plan file that is not JSON',
      args: () => ['-c', good, 'apply', file('corrupt.json', '{"schemaVersion": 1, "kind": "fw-shard-plan", moves: [')],
      code: 3,
      errorCode: 'PLAN_INVALID',
      says: ['corrupt.json: not JSON'],
    },
    {
      kind: 'plan file',
      name: 'a plan file of an unknown version',
      args: () => ['-c', good, 'apply', file('v99.json', JSON.stringify({ schemaVersion: 99, kind: 'fw-shard-plan', moves: [] }))],
      code: 3,
      errorCode: 'PLAN_INVALID',
      says: ['plan schemaVersion 99 is not known to this fw-shard'],
    },
    {
      kind: 'plan file',
      name: 'a plan file that does not exist',
      args: () => ['-c', good, 'apply', 'no-plan.json'],
      code: 3,
      errorCode: 'PLAN_INVALID',
      says: ['plan file no-plan.json does not exist'],
    },
    {
      kind: 'plan file',
      name: 'a plan that moves the same user twice',
      args: () => [
        '-c',
        good,
        'apply',
        file(
          'twice.json',
          mutatePlan((p) => p.moves.push({ ...p.moves[0], seq: p.moves.length + 1 })),
        ),
      ],
      code: 3,
      errorCode: 'PLAN_INVALID',
      says: [/user 42 appears twice in the plan/],
    },
    {
      kind: 'plan file',
      name: 'a plan made for another config (shard 9)',
      args: () => [
        '-c',
        good,
        'apply',
        file(
          'other.json',
          mutatePlan((p) => (p.moves[0].to = 9)),
        ),
      ],
      code: 5,
      errorCode: 'PRECONDITION',
      says: ['moves users to or from shard 9, which is not in the topology'],
    },
    {
      kind: 'plan file',
      name: 'a plan with a field of the wrong type',
      args: () => [
        '-c',
        good,
        'apply',
        file(
          'type.json',
          mutatePlan((p) => (p.moves[0].userId = 42)),
        ),
      ],
      code: 3,
      errorCode: 'PLAN_INVALID',
      says: [/moves\.0\.userId/],
    },

    // ---- playbooks
    {
      kind: 'playbook',
      name: 'a playbook that is not valid YAML',
      args: () => ['-c', good, 'run', file('broken.yaml', 'version: 1\nname: x\nsteps:\n  - plan: { balance: true\n  - apply: {}\n')],
      code: 3,
      errorCode: 'PLAYBOOK_INVALID',
      says: [/broken\.yaml:\d+/],
    },
    {
      kind: 'playbook',
      name: 'a playbook with an unknown step and an unknown key',
      args: () => ['-c', good, 'run', file('unknown.yaml', 'version: 1\nname: x\nsteps:\n  - plan: { balance: true, bye: bytes }\n  - migrate: {}\n')],
      code: 3,
      errorCode: 'PLAYBOOK_INVALID',
      says: [/unknown\.yaml:4/, /bye/, /unknown\.yaml:5/, /migrate/],
    },
    {
      kind: 'playbook',
      name: 'a playbook naming a shard that is not in the topology',
      args: () => ['-c', good, 'run', file('shard9.yaml', 'version: 1\nname: x\nsteps:\n  - plan: { drain: 9 }\n')],
      code: 3,
      errorCode: 'PLAYBOOK_INVALID',
      says: [/shard9\.yaml:4: plan: shard 9 is not in the topology/],
    },
    {
      kind: 'playbook',
      name: 'a required param not given (--set)',
      args: () => ['-c', good, 'run', join(process.cwd(), 'playbooks/drain-shard.yaml')],
      code: 3,
      errorCode: 'PLAYBOOK_INVALID',
      says: [/shard/, /--set/],
    },
    {
      kind: 'playbook',
      name: 'a playbook that does not exist',
      args: () => ['-c', good, 'run', 'nope.yaml'],
      code: 3,
      errorCode: 'PLAYBOOK_INVALID',
      says: ['playbook nope.yaml does not exist'],
    },

    // ---- server state
    {
      kind: 'server state',
      name: 'a read_only target',
      setup: () => void mariadb(B, 'mysql', 'SET GLOBAL read_only = 1'),
      teardown: () => void mariadb(B, 'mysql', 'SET GLOBAL read_only = 0'),
      args: () => move(),
      code: 5,
      errorCode: 'TARGET_READ_ONLY',
      says: [/shard 2 \(127\.0\.0\.1:\d+\/users2\) is read_only/],
      json: true,
    },
    {
      kind: 'server state',
      name: 'schema drift: a column differs on the target',
      setup: () => void mariadb(B, 'users2', 'ALTER TABLE Photos MODIFY title VARCHAR(100) NOT NULL'),
      teardown: () => void mariadb(B, 'users2', 'ALTER TABLE Photos MODIFY title VARCHAR(255) NOT NULL'),
      args: () => move(),
      code: 5,
      errorCode: 'SCHEMA_DRIFT',
      says: [/table Photos: .*title/],
    },
    {
      kind: 'server state',
      name: 'a table missing on the target',
      setup: () => void mariadb(B, 'users2', 'RENAME TABLE Faves TO Faves_elsewhere'),
      teardown: () => void mariadb(B, 'users2', 'RENAME TABLE Faves_elsewhere TO Faves'),
      args: () => move(),
      code: 5,
      errorCode: 'SCHEMA_DRIFT',
      says: ['table Faves exists on shard 1 but not on shard 2'],
    },
    {
      kind: 'server state',
      // A real move finds it on insert, after copying what came before (move-lifecycle tests that path);
      // the dry run looks up every key first and writes nothing.
      name: "a key collision (dry run): one of the user's ids is another user's on the target",
      setup: () => void mariadb(B, 'users2', "INSERT INTO Photos VALUES (3, 44, 'same id')"),
      teardown: () => void mariadb(B, 'users2', 'DELETE FROM Photos WHERE id = 3'),
      args: () => move('--dry-run'),
      code: 5,
      errorCode: 'KEY_COLLISION',
      says: [/Photos: .*id.*3.*belongs to user_id=44 on shard 2/],
    },
    {
      kind: 'server state',
      name: 'a keyless table above the cap (keylessRowCap: 5, 12 rows)',
      args: () => [
        '-c',
        yamlConfig('cap.yaml', (p) => baseYaml(p) + 'tables: { keylessRowCap: 5 }\n'),
        'move',
        '--user',
        '42',
        '--to',
        '2',
        '--yes',
        '--assume-no-writes',
      ],
      code: 5,
      errorCode: 'KEYLESS_TOO_LARGE',
      says: ['table Contacts has neither a primary nor a NOT NULL unique key, and user 42 has 12 rows in it'],
    },
    {
      kind: 'server state',
      name: 'leftover rows of the user on the target',
      setup: () => void mariadb(B, 'users2', "INSERT INTO Photos VALUES (9000, 42, 'leftover')"),
      teardown: () => void mariadb(B, 'users2', 'DELETE FROM Photos WHERE id = 9000'),
      args: () => move(),
      code: 5,
      errorCode: 'PRECONDITION',
      says: ['shard 2 already holds rows of user 42 (Photos: 1)'],
    },
    {
      kind: 'server state',
      name: 'the user is mapped to a shard not in the topology (7)',
      setup: () => void mariadb(A, 'flamework', 'UPDATE users SET cluster_id = 7 WHERE id = 42'),
      teardown: () => void mariadb(A, 'flamework', 'UPDATE users SET cluster_id = 1 WHERE id = 42'),
      args: () => move(),
      code: 5,
      errorCode: 'PRECONDITION',
      says: ['user 42 is mapped to shard 7, which is not in the topology'],
    },
    {
      kind: 'server state',
      name: 'a concurrent move of the same user to another shard',
      setup: () => journal({ phase: 'copy', state: 'active', to: 3, host: 'other-host' }),
      teardown: dropJournal,
      args: () => move(),
      code: 7,
      errorCode: 'BUSY',
      says: ['user 42 already has an unfinished move (777) from shard 1 to shard 3'],
      json: true,
    },
    {
      kind: 'server state',
      name: 'the same move being run by a live runner on another host',
      setup: () => journal({ phase: 'copy', state: 'active', to: 2, host: 'other-host' }),
      teardown: dropJournal,
      args: () => move(),
      code: 7,
      errorCode: 'BUSY',
      says: ['move 777 of user 42 is being run by other-host pid 4242'],
    },
    {
      kind: 'server state',
      name: 'abort of a move that already flipped',
      setup: () => journal({ phase: 'flipped', state: 'active', to: 2 }),
      teardown: dropJournal,
      args: () => ['-c', good, 'abort', '777'],
      code: 5,
      errorCode: 'ALREADY_FLIPPED',
      says: ['move 777 already flipped user 42 to shard 2'],
    },
    {
      kind: 'server state',
      name: 'resume of a move that is already done',
      setup: () => journal({ phase: 'done', state: 'done', to: 2 }),
      teardown: dropJournal,
      args: () => ['-c', good, 'resume', '777'],
      code: 5,
      errorCode: 'PRECONDITION',
      says: ['move 777 is already done'],
    },
    {
      kind: 'server state',
      name: 'abort of a move that does not exist (binary, --json)',
      args: () => ['-c', good, 'abort', '4242', '--json'],
      binary: true,
      code: 2,
      errorCode: 'MOVE_NOT_FOUND',
      says: ['no move 4242 in the journal'],
    },
  ];

  function mutatePlan(f: (p: any) => void): string {
    const p = JSON.parse(readFileSync(planFile, 'utf8'));
    f(p);
    return JSON.stringify(p, null, 2);
  }

  for (const k of cases) {
    it(`${k.kind}: ${k.name} → exit ${k.code}`, async () => {
      let ok = false;
      try {
        await k.setup?.();
        const before = snapshot();
        const args = k.args();
        let r: Run;
        if (k.binary) {
          const b = await runFwShard(args, { env: k.env ?? {}, cwd: dir });
          r = { code: b.code ?? -1, stdout: b.stdout, stderr: b.stderr };
        } else {
          r = await cli(args, k.env);
        }
        expect(r.code, r.stderr).toBe(k.code);
        if (k.errorCode) expect(r.stderr).toContain(`fw-shard: error [${k.errorCode}]: `);
        for (const s of k.says) {
          if (typeof s === 'string') expect(r.stderr).toContain(s);
          else expect(r.stderr).toMatch(s);
        }
        expect(r.stderr, 'a next step').toMatch(k.next ?? /\n {2}next step: \S/);
        expect(r.stderr).not.toMatch(/internal error|\n\s+at /); // no stack traces
        if (args.includes('--json')) {
          const doc = JSON.parse(r.stdout);
          expect(doc).toMatchObject({ schemaVersion: 1, ok: false, error: { code: k.errorCode } });
        } else {
          expect(r.stdout, 'stdout carries results only').toBe('');
        }
        if (k.json) {
          const j = await cli([...args, '--json'], k.env);
          expect(j.code).toBe(k.code);
          expect(JSON.parse(j.stdout)).toMatchObject({
            schemaVersion: 1,
            ok: false,
            error: { code: k.errorCode, message: expect.any(String), nextStep: expect.any(String) },
          });
        }
        expect(snapshot(), 'every database unchanged').toBe(before);
        ok = true;
      } finally {
        await k.teardown?.();
        tried.push({ kind: k.kind, name: k.name, code: k.code, ok });
      }
    });
  }

  it('control: the same move with good input succeeds (so the cases above failed for their reason)', async () => {
    const r = await cli(move('--dry-run', '--json'));
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ ok: true, dryRun: true, from: 1, to: 2 });
  });
});

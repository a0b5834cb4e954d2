/**
 * A catalogue of operator mistakes, one case each, run through the CLI (in process with a fake context,
 * or the built binary) against a MariaDB server this file starts (no server of the machine's is needed). Every case checks the exit
 * code, the message, and that nothing was written: the databases checksum the same before and after
 * and no fw_shard_* journal table appeared.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../../src/cli/main.js';
import type { CliContext } from '../../src/cli/context.js';
import { freePort } from '../../src/sandbox/servers.js';
import { sink } from '../helpers/sink.js';
import { useServers } from '../helpers/servers.js';

// Its own server process, started before this file's other beforeAll and stopped after its tests.
const servers = useServers(1, { prefix: 'fwtbad-server-' });
const port = () => servers.server(0).port;

const ROOT = resolve(fileURLToPath(import.meta.url), '../../..');
const BIN = join(ROOT, 'bin/fw-shard');
const MAIN = 'fwtbad_main';
const S1 = 'fwtbad_s1';
const S2 = 'fwtbad_s2';
const DBS = [MAIN, S1, S2];
const BAD_USER = 'fwtbad_user';
const RIGHT_PW = 'fwtbad-Right-Pw-8x';
const WRONG_PW = 'fwtbad-Wrong-Pw-3q';
const BIG = '18446744073709551615';

/** Run statements as root through the mariadb client (independent of fw-shard's own code). */
function mariadb(statements: string): string {
  return execFileSync('mariadb', ['--no-defaults', '-h127.0.0.1', `-P${port()}`, '-uroot', '--batch', '--raw', '--skip-column-names', '-e', statements], {
    encoding: 'utf8',
  });
}

/** Every table of the three databases with its checksum: equal snapshots mean nothing was written. */
function snapshot(): string {
  const tables = mariadb(
    `SELECT CONCAT('\`', table_schema, '\`.\`', table_name, '\`') FROM information_schema.TABLES WHERE table_schema IN (${DBS.map((d) => `'${d}'`).join(', ')}) ORDER BY table_schema, table_name`,
  )
    .trim()
    .split('\n')
    .filter(Boolean);
  return tables.join('\n') + '\n--\n' + mariadb(`CHECKSUM TABLE ${tables.join(', ')} EXTENDED`);
}

function journalTables(): string[] {
  return mariadb(
    `SELECT CONCAT(table_schema, '.', table_name) FROM information_schema.TABLES WHERE table_name LIKE 'fw\\_shard\\_%' AND table_schema IN (${DBS.map((d) => `'${d}'`).join(', ')})`,
  )
    .trim()
    .split('\n')
    .filter(Boolean);
}

interface Run {
  code: number;
  stdout: string;
  stderr: string;
  ms: number;
}

/** runCli with a fake context: no TTY, env and cwd given. */
async function cli(argv: string[], opts: { env?: Record<string, string>; cwd?: string } = {}): Promise<Run> {
  const stdout = sink();
  const stderr = sink();
  const ctx: CliContext = { stdout, stderr, stdinIsTTY: false, env: opts.env ?? {}, cwd: opts.cwd ?? work };
  const t0 = Date.now();
  const code = await runCli(argv, ctx);
  return { code, stdout: stdout.text(), stderr: stderr.text(), ms: Date.now() - t0 };
}

/** The built binary as a child process, stdin a pipe (not a terminal). */
function bin(argv: string[], opts: { env?: Record<string, string>; cwd?: string } = {}): Run {
  const t0 = Date.now();
  const env: Record<string, string> = { PATH: process.env.PATH ?? '/usr/bin:/bin', ...(opts.env ?? {}) };
  const r = spawnSync(process.execPath, [BIN, ...argv], { cwd: opts.cwd ?? work, env, input: '', encoding: 'utf8', timeout: 30_000 });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr, ms: Date.now() - t0 };
}

/** Run one case and check that the databases are exactly as before. */
async function unchanged<T>(fn: () => Promise<T> | T): Promise<T> {
  const before = snapshot();
  const out = await fn();
  expect(snapshot()).toBe(before);
  expect(journalTables()).toEqual([]);
  return out;
}

/** The newest mtime under a directory. */
function newest(dir: string): number {
  let t = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    t = Math.max(t, e.isDirectory() ? newest(p) : statSync(p).mtimeMs);
  }
  return t;
}

let work = '';
let closedPort = 0;

function writeConfig(name: string, text: string, mode = 0o600): string {
  const p = join(work, name);
  writeFileSync(p, text);
  chmodSync(p, mode);
  return p;
}

const base = (over: { main?: string; s2?: string } = {}) => `defaults: { host: 127.0.0.1, port: ${port()}, user: root, password: "" }
main: { database: ${MAIN}${over.main ?? ''} }
shards:
  1: { database: ${S1} }
  2: { database: ${S2}${over.s2 ?? ''} }
`;

let good = '';

beforeAll(async () => {
  // The binary runs dist/: build it when missing or older than src/.
  const distMain = join(ROOT, 'dist/cli/main.js');
  if (!existsSync(distMain) || statSync(distMain).mtimeMs < newest(join(ROOT, 'src'))) {
    spawnSync(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', ROOT], { stdio: 'ignore' });
  }
  work = mkdtempSync(join(tmpdir(), 'fwtbad-'));
  closedPort = await freePort();
  mariadb(`
    DROP DATABASE IF EXISTS ${MAIN}; DROP DATABASE IF EXISTS ${S1}; DROP DATABASE IF EXISTS ${S2};
    DROP USER IF EXISTS '${BAD_USER}'@'%';
    CREATE DATABASE ${MAIN}; CREATE DATABASE ${S1}; CREATE DATABASE ${S2};
    CREATE TABLE ${MAIN}.users (id BIGINT UNSIGNED NOT NULL, username VARCHAR(64) NOT NULL, cluster_id TINYINT UNSIGNED NOT NULL, PRIMARY KEY (id));
    INSERT INTO ${MAIN}.users VALUES (42, 'alice', 1), (43, 'bob', 2), (${BIG}, 'max', 1);
    CREATE TABLE ${S1}.Photos (id BIGINT UNSIGNED NOT NULL, user_id BIGINT UNSIGNED NOT NULL, title VARCHAR(255) NOT NULL, PRIMARY KEY (id), KEY by_user (user_id));
    CREATE TABLE ${S1}.Faves (user_id BIGINT UNSIGNED NOT NULL, photo_id BIGINT UNSIGNED NOT NULL, UNIQUE KEY by_fave (user_id, photo_id));
    CREATE TABLE ${S1}.Contacts (user_id BIGINT UNSIGNED NOT NULL, contact_id BIGINT UNSIGNED NOT NULL);
    CREATE TABLE ${S2}.Photos LIKE ${S1}.Photos; CREATE TABLE ${S2}.Faves LIKE ${S1}.Faves; CREATE TABLE ${S2}.Contacts LIKE ${S1}.Contacts;
    INSERT INTO ${S1}.Photos VALUES (1, 42, 'a'), (2, 42, 'b'), (9007199254740993, 42, 'c'), (${BIG}, 42, 'd'), (5, 42, 'e'), (6, 44, 'other'), (7, ${BIG}, 'max');
    INSERT INTO ${S1}.Faves VALUES (42, 6), (42, 7), (42, ${BIG}), (44, 1);
    INSERT INTO ${S1}.Contacts VALUES (42, 43), (42, 43), (${BIG}, 42);
    INSERT INTO ${S2}.Photos VALUES (100, 43, 'bob');
    INSERT INTO ${S2}.Faves VALUES (43, 100);
    CREATE USER '${BAD_USER}'@'%' IDENTIFIED BY '${RIGHT_PW}';
    GRANT SELECT ON ${MAIN}.* TO '${BAD_USER}'@'%';
  `);
  good = writeConfig('fw-shard.config.yaml', base());
});

afterAll(() => {
  // The server and its data go with useServers' own afterAll.
  if (work) rmSync(work, { recursive: true, force: true });
});

describe('config mistakes (exit 3)', () => {
  it('no config file anywhere: names the candidates and how to make one', async () => {
    const empty = mkdtempSync(join(work, 'empty-'));
    const r = await unchanged(() => bin(['status'], { cwd: empty }));
    expect(r.code).toBe(3);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain(
      `fw-shard: error [CONFIG_NOT_FOUND]: no config file: none of fw-shard.config.yaml, fw-shard.config.yml, fw-shard.config.json in ${empty}`,
    );
    expect(r.stderr).toContain(
      'next step: Pass --config FILE, set FW_SHARD_CONFIG, or import a Flamework config with `fw-shard config import --flamework-config',
    );
  });

  it('--config pointing at a missing file', async () => {
    const r = await unchanged(() => cli(['--config', 'nope.yaml', 'status']));
    expect(r.code).toBe(3);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain(`[CONFIG_NOT_FOUND]: config file ${join(work, 'nope.yaml')} does not exist`);
    expect(r.stderr).toContain('next step: Check the path given with --config or FW_SHARD_CONFIG.');
  });

  it('FW_SHARD_CONFIG pointing at a missing file', async () => {
    const r = await unchanged(() => cli(['status'], { env: { FW_SHARD_CONFIG: '/nonexistent/fw.yaml' } }));
    expect(r.code).toBe(3);
    expect(r.stderr).toContain('[CONFIG_NOT_FOUND]: config file /nonexistent/fw.yaml does not exist');
  });

  it('a config path that cannot be read (a directory)', async () => {
    mkdirSync(join(work, 'dir.yaml'), { recursive: true });
    const r = await unchanged(() => cli(['-c', 'dir.yaml', 'status']));
    expect(r.code).toBe(3);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain(`[CONFIG_UNREADABLE]: cannot read config file ${join(work, 'dir.yaml')}: EISDIR`);
  });

  it('malformed YAML names the line', async () => {
    const p = writeConfig('broken.yaml', `main: { database: ${MAIN} }\nshards:\n  1: { database: ${S1}\n  2: { database: ${S2} }\n`);
    const r = await unchanged(() => cli(['-c', p, 'move', '--user', '42', '--to', '2', '--dry-run']));
    expect(r.code).toBe(3);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain('[CONFIG_PARSE]: config file is not valid YAML/JSON:');
    expect(r.stderr).toMatch(new RegExp(`${p.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:4:\\d+: `));
    expect(r.stderr).toContain('next step: Fix the syntax at the line shown.');
  });

  it('an unknown key is an error, not a silent default', async () => {
    const p = writeConfig('typo.yaml', base().replace('main: {', 'main: { hots: db1,'));
    const r = await unchanged(() => cli(['-c', p, 'status']));
    expect(r.code).toBe(3);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain(`[CONFIG_INVALID]: ${p}: 1 problem:\n  main: unknown key 'hots'`);
  });

  it('--json still prints one JSON error document on stdout', async () => {
    const p = writeConfig('typo2.yaml', base() + 'tables: { exlude: [Photos] }\n');
    const r = await unchanged(() => cli(['-c', p, 'status', '--json']));
    expect(r.code).toBe(3);
    const doc = JSON.parse(r.stdout);
    expect(doc).toMatchObject({ schemaVersion: 1, ok: false, error: { code: 'CONFIG_INVALID' } });
    expect(doc.error.message).toContain("tables: unknown key 'exlude'");
  });
});

describe('servers that refuse or are gone (exit 4)', () => {
  it('a wrong password names the role, host and port, never the password', async () => {
    const p = writeConfig('badpw.yaml', base({ main: `, user: ${BAD_USER}, passwordEnv: FWTBAD_PW` }));
    const r = await unchanged(() => bin(['-c', p, 'move', '--user', '42', '--to', '2', '--dry-run'], { env: { FWTBAD_PW: WRONG_PW } }));
    expect(r.code).toBe(4);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain(`fw-shard: error [ACCESS_DENIED]: db_main (127.0.0.1:${port()}/${MAIN}): login refused for user '${BAD_USER}'`);
    expect(r.stderr).toContain('password source: env:FWTBAD_PW');
    for (const pw of [WRONG_PW, RIGHT_PW]) expect(r.stdout + r.stderr).not.toContain(pw);

    // status folds it into its report, still without the password
    const s = await unchanged(() => cli(['-c', p, 'status', '--json'], { env: { FWTBAD_PW: WRONG_PW } }));
    expect(s.code).toBe(4);
    const doc = JSON.parse(s.stdout);
    const main = doc.servers.find((x: { role: string }) => x.role === 'db_main');
    expect(main).toMatchObject({ host: '127.0.0.1', port: port(), reachable: false });
    expect(main.error).toContain('login refused');
    for (const pw of [WRONG_PW, RIGHT_PW]) expect(s.stdout + s.stderr).not.toContain(pw);

    // control: the same config with the right password gets past the login
    const ok = await unchanged(() => cli(['-c', p, 'moves'], { env: { FWTBAD_PW: RIGHT_PW } }));
    expect(ok.stderr).not.toContain('ACCESS_DENIED');
    expect(ok.code).toBe(0);
  });

  it('an unreachable db_main (closed port) fails fast with exit 4', async () => {
    const p = writeConfig('closed-main.yaml', base({ main: `, port: ${closedPort}` }));
    const r = await unchanged(() => cli(['-c', p, 'move', '--user', '42', '--to', '2', '--dry-run']));
    expect(r.code).toBe(4);
    expect(r.ms).toBeLessThan(6000);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain(`[SERVER_UNAVAILABLE]: db_main (127.0.0.1:${closedPort}/${MAIN}) is unavailable: ECONNREFUSED`);
    expect(r.stderr).toContain('next step: Check that the server is up and reachable from this host, then run the same command again.');
  });
});

describe('bad arguments (exit 2)', () => {
  it.each([
    ['abc', "--user must be a user id (digits only), got 'abc'"],
    ['-5', "--user must be a user id (digits only), got '-5'"],
    ['18446744073709551616', '--user 18446744073709551616 is out of range (1 to 18446744073709551615)'],
    ['0', '--user 0 is out of range (1 to 18446744073709551615)'],
  ])('move --user %s', async (user, message) => {
    const r = await unchanged(() => cli(['-c', good, 'move', '--user', user, '--to', '2', '--dry-run']));
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain(`fw-shard: error [USAGE]: ${message}`);
  });

  it.each([
    ['0', '--to 0 is out of range: shard ids run from 1 to 255'],
    ['256', '--to 256 is out of range: shard ids run from 1 to 255'],
    ['9', '--to 9: no such shard in the topology (known: 1, 2)'],
    ['two', "--to must be a shard id (a whole number from 1 to 255), got 'two'"],
  ])('move --to %s', async (to, message) => {
    const r = await unchanged(() => cli(['-c', good, 'move', '--user', '42', '--to', to, '--yes', '--assume-no-writes']));
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain(message);
  });

  it('move without a terminal and without --yes says to pass --yes', async () => {
    const r = await unchanged(() => bin(['move', '--user', '42', '--to', '2', '--assume-no-writes']));
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain('[USAGE]: refusing to move without confirmation: no terminal to ask on');
    expect(r.stderr).toContain('next step: Pass --yes (cron and scripts must say what they mean), or --dry-run to see the plan.');
  });

  it('malformed online-move flags are refused before anything is written', async () => {
    for (const [flag, value, text] of [
      ['--freeze-cap', 'soon', '--freeze-cap must be a duration like 500ms, 2s, 15m or 1h'],
      ['--drain', '-1s', '--drain must be a duration'],
      ['--max-delta-passes', '0', '--max-delta-passes must be between 1 and 1000'],
      ['--freeze-attempts', 'x', '--freeze-attempts must be a whole number'],
    ] as const) {
      const r = await unchanged(() => cli(['move', '--user', '42', '--to', '2', '--yes', flag, value]));
      expect(r.code, `${flag} ${value}`).toBe(2);
      expect(r.stdout).toBe('');
      expect(r.stderr).toContain(text);
    }
  });

  it('a user that does not exist', async () => {
    const r = await unchanged(() => cli(['move', '--user', '999', '--to', '2', '--dry-run']));
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain(`[USER_NOT_FOUND]: user 999 does not exist in users on db_main`);
    const j = await unchanged(() => cli(['move', '--user', '999', '--to', '2', '--yes', '--assume-no-writes', '--json']));
    expect(j.code).toBe(2);
    expect(JSON.parse(j.stdout)).toMatchObject({ schemaVersion: 1, ok: false, error: { code: 'USER_NOT_FOUND' } });
  });

  it('abort of a move that does not exist', async () => {
    const r = await unchanged(() => cli(['abort', '123']));
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain('[MOVE_NOT_FOUND]: no move 123 in the journal');
  });

  it('abort --user of a user without an unfinished move', async () => {
    const r = await unchanged(() => cli(['abort', '--user', '42']));
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('[MOVE_NOT_FOUND]: user 42 has no unfinished move');
  });

  it('resume with a move id that is not a number', async () => {
    const r = await unchanged(() => cli(['resume', 'abc', '--assume-no-writes']));
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain("[USAGE]: move id must be digits, got 'abc'");
  });

  it('an unknown option or command is a usage error', async () => {
    const r = await unchanged(() => cli(['move', '--user', '42', '--to', '2', '--dryrun']));
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("unknown option '--dryrun'");
    const c = await unchanged(() => cli(['mvoe']));
    expect(c.code).toBe(2);
  });
});

describe('commands that succeed without writing', () => {
  it('moving a user to the shard it is on: exit 0, nothing to do', async () => {
    const r = await unchanged(() => cli(['move', '--user', '43', '--to', '2', '--yes']));
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('nothing to do: user 43 is already on shard 2\n');
    const big = await unchanged(() => cli(['move', '--user', BIG, '--to', '1', '--dry-run', '--json']));
    expect(big.code).toBe(0);
    expect(JSON.parse(big.stdout)).toMatchObject({ schemaVersion: 1, ok: true, userId: BIG, from: 1, to: 1, nothingToDo: true, mappingFlipped: false });
  });

  it('status exits 0 on a healthy setup', async () => {
    const r = await unchanged(() => cli(['status']));
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stderr).toBe('');
    expect(r.stdout).toContain('All well.');
    expect(r.stdout).toMatch(new RegExp(`db_main\\s+127\\.0\\.0\\.1:${port()}\\s+fwtbad_main\\s+up`));
  });

  it("status exits 4 when a shard's port is closed", async () => {
    const p = writeConfig('closed-shard.yaml', base({ s2: `, port: ${closedPort}` }));
    const r = await unchanged(() => cli(['-c', p, 'status']));
    expect(r.code).toBe(4);
    expect(r.ms).toBeLessThan(6000);
    expect(r.stdout).toContain(`shard 2 (127.0.0.1:${closedPort}) is unreachable`);
    expect(r.stdout).toMatch(new RegExp(`shard 2\\s+127\\.0\\.0\\.1:${closedPort}\\s+${S2}\\s+DOWN`));
    expect(r.stdout).toMatch(new RegExp(`shard 1\\s+127\\.0\\.0\\.1:${port()}\\s+fwtbad_s1\\s+up`));
  });

  it('status --json prints exactly one JSON document (schemaVersion 1) on stdout', async () => {
    const r = await unchanged(() => bin(['status', '--json']));
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toBe('');
    const doc = JSON.parse(r.stdout); // throws on anything but one document
    expect(doc.schemaVersion).toBe(1);
    expect(doc.ok).toBe(true);
    expect(doc.healthy).toBe(true);
    expect(doc.servers.map((s: { role: string; reachable: boolean }) => [s.role, s.reachable])).toEqual([
      ['db_main', true],
      ['shard 1', true],
      ['shard 2', true],
    ]);
    expect(doc.shards.map((s: { id: number; users: string }) => [s.id, s.users])).toEqual([
      [1, '2'],
      [2, '1'],
    ]);
    expect(doc.unknownShardUsers).toEqual([]);
    expect(doc.activeMoves).toEqual([]);
  });

  it('move --dry-run --json: the plan with exact per-table row counts, nothing written', async () => {
    const r = await unchanged(() => cli(['move', '--user', '42', '--to', '2', '--dry-run', '--json']));
    expect(r.code, r.stderr).toBe(0);
    const doc = JSON.parse(r.stdout);
    expect(doc).toMatchObject({ schemaVersion: 1, ok: true, dryRun: true, moveId: null, userId: '42', from: 1, to: 2, mappingFlipped: false });
    const counted = Object.fromEntries(
      mariadb(
        `SELECT 'Contacts', COUNT(*) FROM ${S1}.Contacts WHERE user_id = 42 UNION ALL SELECT 'Faves', COUNT(*) FROM ${S1}.Faves WHERE user_id = 42 UNION ALL SELECT 'Photos', COUNT(*) FROM ${S1}.Photos WHERE user_id = 42`,
      )
        .trim()
        .split('\n')
        .map((l) => l.split('\t')),
    );
    expect(counted).toEqual({ Contacts: '2', Faves: '3', Photos: '5' });
    const plan = doc.plan as { tables: { name: string; rows: string; key: string | null }[]; totalRows: string; sourceIsMain: boolean };
    expect(Object.fromEntries(plan.tables.map((t) => [t.name, t.rows]))).toEqual(counted);
    expect(Object.fromEntries(plan.tables.map((t) => [t.name, t.key]))).toEqual({ Contacts: null, Faves: 'by_fave(user_id, photo_id)', Photos: 'PRIMARY(id)' });
    expect(plan.totalRows).toBe('10');
    expect(plan.sourceIsMain).toBe(false);
    expect(doc.nextStep).toContain('nothing was written');
    // the mapping still says shard 1, and shard 2 holds none of the user's rows
    expect(mariadb(`SELECT cluster_id FROM ${MAIN}.users WHERE id = 42`).trim()).toBe('1');
    expect(
      mariadb(
        `SELECT (SELECT COUNT(*) FROM ${S2}.Photos WHERE user_id = 42) + (SELECT COUNT(*) FROM ${S2}.Faves WHERE user_id = 42) + (SELECT COUNT(*) FROM ${S2}.Contacts WHERE user_id = 42)`,
      ).trim(),
    ).toBe('0');
  });
});

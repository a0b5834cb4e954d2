/**
 * The native config: parse → normalize → validate. Every problem is reported at once as
 * `path: problem`; secrets come from env or files and never show up when a Topology is printed.
 */
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inspect } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { findConfigPath, loadConfig, normalizeConfig, parseConfigSource, parseConfigText, readConfigFile, type Loaded } from '../../src/config/load.js';
import type { KeyLines } from '../../src/config/schema.js';
import { shardsOnMain, type ShardId } from '../../src/topology/index.js';
import { fwError } from '../helpers/schema-fixtures.js';

const dir = mkdtempSync(join(tmpdir(), 'fwt-config-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function file(name: string, text: string, mode = 0o600): string {
  const p = join(dir, name);
  writeFileSync(p, text);
  chmodSync(p, mode);
  return p;
}

const normalize = (raw: unknown, env: Record<string, string | undefined> = {}, lines?: KeyLines): Loaded =>
  normalizeConfig(raw, { env, baseDir: dir, origin: 'fw-shard.config.yaml', ...(lines ? { lines } : {}) });

const problemsOf = (fn: () => unknown): string[] => {
  const e = fwError(fn);
  expect(e.code).toBe('CONFIG_INVALID');
  expect(e.exitCode).toBe(3);
  const problems = e.details?.problems as string[];
  // the message lists the same lines, one per problem
  expect(e.message).toBe(`fw-shard.config.yaml: ${problems.length} problem${problems.length > 1 ? 's' : ''}:\n  ${problems.join('\n  ')}`);
  return problems;
};

const S = (id: number) => id as ShardId;

/** normalize's arguments for a config text, with the lines of its keys. */
const withLines = (text: string): [unknown, Record<string, string | undefined>, KeyLines] => {
  const { raw, lines } = parseConfigSource(text, 'fw-shard.config.yaml');
  return [raw, {}, lines];
};

const YAML_TEXT = `# a typical setup
version: 1
defaults:
  host: db.internal
  user: fwshard
  passwordEnv: FW_PW
main:
  database: flamework
shards:
  1: { host: db1.internal, database: users1 }
  2:
    host: db2.internal
    port: 3307
    database: users2
    user: other
    passwordFile: secrets/db2.pw
    replicas:
      - host: db2-ro.internal
tickets:
  - { host: tickets1.internal, database: tickets }
mapping:
  table: users
tables:
  exclude: [LogArchive]
  owners: { Follows: follower_id }
memcached:
  servers: ["cache1:11211", cache2]
  prefix: www
`;

describe('valid configs', () => {
  const pwFile = file('db2.pw', 'file-pw\n');
  mkdirSync(join(dir, 'secrets'), { recursive: true });
  writeFileSync(join(dir, 'secrets', 'db2.pw'), 'file-pw\n', { mode: 0o600 });

  it('YAML text normalizes into a topology, defaults merged in', () => {
    const { topology, warnings } = normalize(parseConfigText(YAML_TEXT, 'fw-shard.config.yaml'), { FW_PW: 'env-pw' });
    expect(warnings).toEqual([]);
    const m = topology.main;
    expect([m.role, m.host, m.port, m.user, m.database, m.passwordSource, m.password?.reveal()]).toEqual([
      'db_main',
      'db.internal',
      3306,
      'fwshard',
      'flamework',
      'env:FW_PW',
      'env-pw',
    ]);
    expect([...topology.shards.keys()]).toEqual([1, 2]);
    const s1 = topology.shards.get(S(1))!;
    expect([s1.role, s1.host, s1.port, s1.user, s1.database, s1.password?.reveal()]).toEqual(['shard 1', 'db1.internal', 3306, 'fwshard', 'users1', 'env-pw']);
    const s2 = topology.shards.get(S(2))!;
    expect([s2.host, s2.port, s2.user, s2.passwordSource, s2.password?.reveal()]).toEqual([
      'db2.internal',
      3307,
      'other',
      `file:${join(dir, 'secrets/db2.pw')}`,
      'file-pw',
    ]);
    // a replica inherits port, user, password and database from its primary
    expect(s2.replicas).toHaveLength(1);
    const r = s2.replicas[0]!;
    expect([r.role, r.host, r.port, r.user, r.database, r.password?.reveal()]).toEqual([
      'replica 1 of shard 2',
      'db2-ro.internal',
      3307,
      'other',
      'users2',
      'file-pw',
    ]);
    expect(topology.tickets.map((t) => [t.role, t.host, t.database])).toEqual([['tickets 1', 'tickets1.internal', 'tickets']]);
    expect(topology.mapping).toEqual({ cluster: 'main', table: 'users', idColumn: 'id', shardColumn: 'cluster_id', tableSource: 'config' });
    expect(topology.tables).toEqual({ ownerColumn: 'user_id', exclude: ['LogArchive'], owners: { Follows: 'follower_id' }, keylessRowCap: 100_000 });
    expect(topology.memcached).toEqual({ servers: ['cache1:11211', 'cache2'], keys: ['USER-{id}', 'user_{id}'], prefix: 'www' });
    expect(topology.poorMansFederation).toBe(false);
    expect(pwFile).toBeTruthy();
  });

  it('JSON text is accepted too, with the same result', () => {
    const json = JSON.stringify({
      defaults: { host: '127.0.0.1', user: 'root', password: '' },
      main: { database: 'm' },
      shards: { '1': { database: 's1' }, '2': { database: 's2', port: 3310 } },
      mapping: { cluster: 'main', table: 'Users', idColumn: 'user_id', shardColumn: 'shard' },
      tables: { ownerColumn: 'owner_id', include: ['A', 'B'], keylessRowCap: 5 },
    });
    const { topology, warnings } = normalize(parseConfigText(json, 'fw-shard.config.json'));
    expect(warnings).toEqual([]); // an empty inline password is not a secret written down
    expect(topology.shards.get(S(2))!.port).toBe(3310);
    expect(topology.shards.get(S(1))!.password?.reveal()).toBe('');
    expect(topology.mapping).toEqual({ cluster: 'main', table: 'Users', idColumn: 'user_id', shardColumn: 'shard', tableSource: 'config' });
    expect(topology.tables).toEqual({ ownerColumn: 'owner_id', include: ['A', 'B'], exclude: [], owners: {}, keylessRowCap: 5 });
  });

  it('per-server values override defaults; tls merges and resolves paths against the config dir', () => {
    const { topology } = normalize({
      defaults: { host: 'h', port: 3400, user: 'u', tls: { ca: 'ca.pem', verifyIdentity: false } },
      main: { database: 'm', tls: { cert: '/abs/cert.pem', key: 'k.pem' } },
      shards: { '1': { database: 's1', host: 'other', port: 3401, user: 'v' } },
    });
    expect(topology.main.tls).toEqual({ ca: join(dir, 'ca.pem'), cert: '/abs/cert.pem', key: join(dir, 'k.pem'), verifyIdentity: false });
    const s1 = topology.shards.get(S(1))!;
    expect([s1.host, s1.port, s1.user, s1.passwordSource]).toEqual(['other', 3401, 'v', 'none']);
    expect(s1.password).toBeUndefined();
    expect(s1.tls).toEqual({ ca: join(dir, 'ca.pem'), verifyIdentity: false });
  });

  it('a shard on db_main is allowed with poorMans.federation', () => {
    const { topology } = normalize({
      defaults: { host: 'h', user: 'u' },
      main: { database: 'flamework' },
      shards: { '1': { database: 'flamework' }, '2': { database: 'flamework' }, '3': { database: 'users3' } },
      poorMans: { federation: true },
    });
    expect(topology.poorMansFederation).toBe(true);
    expect(shardsOnMain(topology)).toEqual([1, 2]);
  });

  it('mapping.cluster accounts uses the accounts block', () => {
    const { topology } = normalize({
      defaults: { host: 'h', user: 'u' },
      main: { database: 'm' },
      accounts: { database: 'acc' },
      shards: { '1': { database: 's' } },
      mapping: { cluster: 'accounts' },
    });
    expect(topology.accounts?.role).toBe('db_accounts');
    expect(topology.mapping.cluster).toBe('accounts');
  });
});

describe('problems, all at once', () => {
  it('unknown keys at every level', () => {
    const problems = problemsOf(() =>
      normalize({
        verison: 1,
        defaults: { hots: 'x' },
        main: { database: 'm', prot: 1 },
        shards: { '1': { database: 'a', replicas: [{ host: 'r', databse: 'x' }] }, '2': { database: 'b', tls: { verify: true } } },
        mapping: { clustr: 'main' },
        tables: { inculde: [], exclude: [] },
        memcached: { servers: ['c'], prefx: 'x' },
      }),
    );
    // The unknown keys, and (checked on the rest of the document) the semantic problems with them.
    expect(problems).toEqual(
      expect.arrayContaining([
        "defaults: unknown key 'hots' (did you mean 'host'?)",
        "main: unknown key 'prot' (did you mean 'port'?)",
        "shards.1.replicas.0: unknown key 'databse'", // replicas take the database of their primary
        "shards.2.tls: unknown key 'verify'", // no key near enough
        "mapping: unknown key 'clustr' (did you mean 'cluster'?)",
        "tables: unknown key 'inculde' (did you mean 'include'?)",
        "memcached: unknown key 'prefx' (did you mean 'prefix'?)",
        "(top level): unknown key 'verison' (did you mean 'version'?)",
      ]),
    );
    expect(problems).toContain('main.host: missing (and no defaults.host)');
    expect(problems.indexOf("(top level): unknown key 'verison' (did you mean 'version'?)")).toBeLessThan(
      problems.indexOf('main.host: missing (and no defaults.host)'),
    );
  });

  it('unknown keys name the line they are written on, in YAML and in JSON', () => {
    const yaml = `version: 1
defaults: { host: h, user: u, passwrod: x }
main:
  database: m
  prot: 3306
shards:
  1:
    database: a
    replicas:
      - host: r
        PasswordEnv: RPW
        weight: 2
`;
    expect(problemsOf(() => normalize(...withLines(yaml)))).toEqual([
      "defaults: unknown key 'passwrod' (line 2; did you mean 'password'?)",
      "main: unknown key 'prot' (line 5; did you mean 'port'?)",
      "shards.1.replicas.0: unknown keys 'PasswordEnv' (line 11; did you mean 'passwordEnv'?), 'weight' (line 12)",
    ]);
    const json =
      '{\n  "main": { "database": "m", "host": "h", "user": "u" },\n  "shards": {\n    "1": { "database": "a", "host": "h", "user": "u",\n      "tsl": {} }\n  }\n}\n';
    expect(problemsOf(() => normalize(...withLines(json)))).toEqual(["shards.1: unknown key 'tsl' (line 5; did you mean 'tls'?)"]);
  });

  it('loadConfig reads the lines from the file', () => {
    const p = file('typo.yaml', 'defaults: { host: h, user: u }\nmain: { database: m }\nshards:\n  1: { database: a }\nmaping: { table: users }\n');
    expect(fwError(() => loadConfig({ config: p, env: {}, cwd: dir })).message).toContain(
      "(top level): unknown key 'maping' (line 5; did you mean 'mapping'?)",
    );
  });

  it('shard ids 0, 256 and "x" are each reported with why', () => {
    const problems = problemsOf(() =>
      normalize({
        defaults: { host: 'h', user: 'u' },
        main: { database: 'm' },
        shards: { '0': { database: 'a' }, '256': { database: 'b' }, x: { database: 'c' }, '1': { database: 'd' } },
      }),
    );
    expect(problems).toHaveLength(3);
    expect(problems.find((p) => p.startsWith('shards.0: '))).toMatch(/^shards\.0: shard ids run from 1 to 255/);
    expect(problems.find((p) => p.startsWith('shards.256: '))).toMatch(/^shards\.256: shard ids run from 1 to 255/);
    expect(problems.find((p) => p.startsWith('shards.x: '))).toMatch(/^shards\.x: shard ids are whole numbers/);
  });

  it('missing fields, bad values and an empty shard list', () => {
    expect(problemsOf(() => normalize({ main: { host: '', port: 70000 }, shards: {} }))).toEqual([
      'main.host: host must not be empty',
      'main.port: Too big: expected number to be <=65535',
      'main.database: Invalid input: expected string, received undefined',
      'shards: at least one shard is needed',
    ]);
  });

  it('every semantic problem is listed: hosts, passwords, shared databases, mapping, include∩exclude', () => {
    expect(
      problemsOf(() =>
        normalize(
          {
            main: { database: 'flamework', host: 'db', user: 'u' },
            shards: {
              '1': { database: 'a', passwordEnv: 'FWT_UNSET_VARIABLE' },
              '2': { database: 'b', host: 'db', user: 'u', password: 'x', passwordEnv: 'FWT_SET' },
              '3': { database: 'flamework', host: 'db', user: 'u' },
              '4': { database: 'b', host: 'DB', user: 'u', passwordFile: 'no-such-file' },
              '01': { database: 'z', host: 'db', user: 'u' },
            },
            mapping: { cluster: 'accounts' },
            tables: { include: ['Photos', 'Faves'], exclude: ['Faves', 'Logs'] },
          },
          { FWT_SET: 'v' },
        ),
      ),
    ).toEqual([
      'shards.1.host: missing (and no defaults.host)',
      'shards.1.user: missing (and no defaults.user)',
      'shards.1.passwordEnv: environment variable FWT_UNSET_VARIABLE is not set',
      'shards.01: duplicate shard id 1 (also written as another key)',
      'shards.2: give only one of password, passwordEnv, passwordFile',
      `shards.4.passwordFile: cannot read ${join(dir, 'no-such-file')}: ENOENT`,
      'shards.4: same server and database as shard 2 (db:3306/b); each shard needs its own database',
      'mapping.cluster: is accounts, but there is no accounts server block',
      "tables.exclude: 'Faves' is also in tables.include",
    ]);
  });

  it('schema problems and semantic problems are reported together, not one batch after the other', () => {
    const problems = problemsOf(() =>
      normalize({
        main: { database: 'm', host: 'db', user: 'u', prot: 3306 },
        shards: { '1': { database: 's', host: 'db', user: 'u', passwordEnv: 'FWT_UNSET_VARIABLE' } },
        tables: { include: ['A'], exclude: ['A'] },
      }),
    );
    expect(problems).toContain('shards.1.passwordEnv: environment variable FWT_UNSET_VARIABLE is not set');
    expect(problems).toContain("tables.exclude: 'A' is also in tables.include");
    expect(problems.find((p) => p.startsWith('main:'))).toBe("main: unknown key 'prot' (did you mean 'port'?)");
  });
});

describe('passwords', () => {
  it('passwordFile is read relative to the config, one trailing newline stripped', () => {
    file('pw-lf', 'S3cret-file\n');
    file('pw-crlf', 'S3cret-crlf\r\n');
    file('pw-none', 'S3cret-none');
    file('pw-two', 'S3cret-two\n\n');
    const { topology, warnings } = normalize({
      defaults: { host: 'h', user: 'u' },
      main: { database: 'm', passwordFile: 'pw-lf' },
      shards: {
        '1': { database: 'a', passwordFile: 'pw-crlf' },
        '2': { database: 'b', passwordFile: join(dir, 'pw-none') },
        '3': { database: 'c', passwordFile: 'pw-two' },
      },
    });
    expect(warnings).toEqual([]);
    expect(topology.main.password?.reveal()).toBe('S3cret-file');
    expect(topology.main.passwordSource).toBe(`file:${join(dir, 'pw-lf')}`);
    expect(topology.shards.get(S(1))!.password?.reveal()).toBe('S3cret-crlf');
    expect(topology.shards.get(S(2))!.password?.reveal()).toBe('S3cret-none');
    expect(topology.shards.get(S(3))!.password?.reveal()).toBe('S3cret-two\n');
  });

  it('a world-readable passwordFile is warned about', () => {
    const p = file('pw-644', 'pw\n', 0o644);
    const { warnings } = normalize({ defaults: { host: 'h', user: 'u' }, main: { database: 'm', passwordFile: p }, shards: { '1': { database: 'a' } } });
    expect(warnings).toEqual([`main.passwordFile: ${p} is readable by every user on this machine (chmod o-r ${p})`]);
  });

  it('an inline password is accepted with a warning naming where it is written', () => {
    const { topology, warnings } = normalize({
      defaults: { host: 'h', user: 'u' },
      main: { database: 'm', password: 'inline-pw' },
      shards: { '1': { database: 'a', password: '' } },
    });
    expect(topology.main.passwordSource).toBe('inline');
    expect(topology.main.password?.reveal()).toBe('inline-pw');
    expect(warnings).toEqual(['main.password is written inline in the config; prefer passwordEnv or passwordFile']);
  });

  it('defaults give their password to every server that has none', () => {
    const { topology, warnings } = normalize(
      {
        defaults: { host: 'h', user: 'u', password: 'shared-pw' },
        main: { database: 'm' },
        shards: { '1': { database: 'a', passwordEnv: 'PW1' } },
      },
      { PW1: 'own' },
    );
    expect(topology.main.password?.reveal()).toBe('shared-pw');
    expect(topology.shards.get(S(1))!.password?.reveal()).toBe('own');
    expect(warnings).toEqual(['defaults.password is written inline in the config (the password of main); prefer passwordEnv or passwordFile']);
  });

  it('an inline password in defaults is warned about once, naming where it is written and who uses it', () => {
    const { warnings } = normalize({
      defaults: { host: 'h', user: 'u', password: 'shared-pw' },
      main: { database: 'm' },
      shards: { '1': { database: 'a' }, '2': { database: 'b' }, '3': { database: 'c', password: 'own-pw' } },
      tickets: [{ database: 't' }],
    });
    expect(warnings).toEqual([
      'shards.3.password is written inline in the config; prefer passwordEnv or passwordFile',
      'defaults.password is written inline in the config (the password of main, shards.1, shards.2, tickets.0); prefer passwordEnv or passwordFile',
    ]);
    expect(warnings.join('\n')).not.toMatch(/shared-pw|own-pw/);
  });

  it('a passwordEnv variable that is unset or empty is an error naming the variable and the servers, never the value', () => {
    const config = {
      defaults: { host: 'h', user: 'u', passwordEnv: 'FWT_SHARED_PW' },
      main: { database: 'm' },
      shards: { '1': { database: 'a' }, '2': { database: 'b', passwordEnv: 'FWT_PW_2', replicas: [{ host: 'r', passwordEnv: 'FWT_PW_R' }] } },
    };
    expect(problemsOf(() => normalize(config, { FWT_SHARED_PW: '', FWT_PW_2: 'two-secret' }))).toEqual([
      'shards.2.replicas.0.passwordEnv: environment variable FWT_PW_R is not set',
      'defaults.passwordEnv: environment variable FWT_SHARED_PW is empty (the password of main, shards.1)',
    ]);
    const own = problemsOf(() => normalize(config, { FWT_SHARED_PW: 'shared-secret', FWT_PW_2: '', FWT_PW_R: 'r-secret' }));
    expect(own).toEqual(['shards.2.passwordEnv: environment variable FWT_PW_2 is empty']);
    expect(own.join('\n')).not.toMatch(/secret/);
    expect(normalize(config, { FWT_SHARED_PW: 's', FWT_PW_2: 't', FWT_PW_R: 'u' }).topology.shards.get(S(1))!.passwordSource).toBe('env:FWT_SHARED_PW');
  });
});

describe('reading files', () => {
  const VALID = 'defaults: { host: h, user: u }\nmain: { database: m }\nshards:\n  1: { database: a }\n';

  it('a config file readable by every user is warned about; mode 600 is not', () => {
    const open = file('open.yaml', VALID, 0o644);
    expect(readConfigFile(open).warnings).toEqual([`config file ${open} is readable by every user on this machine (chmod o-r ${open})`]);
    const closed = file('closed.yaml', VALID, 0o600);
    expect(readConfigFile(closed).warnings).toEqual([]);
    expect(loadConfig({ config: open, env: {}, cwd: dir }).warnings).toEqual([
      `config file ${open} is readable by every user on this machine (chmod o-r ${open})`,
    ]);
  });

  it('a YAML syntax error names the file, line and column', () => {
    const text = 'main:\n  database: m\n  port: [1, 2\nshards: {}\n';
    const e = fwError(() => parseConfigText(text, '/etc/fw-shard.config.yaml'));
    expect(e.code).toBe('CONFIG_PARSE');
    expect(e.exitCode).toBe(3);
    expect(e.message).toMatch(/^config file is not valid YAML\/JSON:\n {2}\/etc\/fw-shard\.config\.yaml:4:1: /);
    expect(e.hint).toBe('Fix the syntax at the line shown.');
    const p = file('bad.yaml', 'main:\n  database: m\n host: x\n');
    expect(fwError(() => readConfigFile(p)).message).toContain(`${p}:3:1: All mapping items must start at the same column`);
  });

  it('duplicate keys are a syntax error, not a silent override', () => {
    const e = fwError(() => parseConfigText('main: { database: a }\nmain: { database: b }\n', 'c.yaml'));
    expect(e.code).toBe('CONFIG_PARSE');
    expect(e.message).toContain('c.yaml:2:1: Map keys must be unique');
  });

  it('a directory or a missing file as config is CONFIG_UNREADABLE / CONFIG_NOT_FOUND', () => {
    mkdirSync(join(dir, 'adir.yaml'), { recursive: true });
    const e = fwError(() => readConfigFile(join(dir, 'adir.yaml')));
    expect([e.code, e.exitCode]).toEqual(['CONFIG_UNREADABLE', 3]);
    const nf = fwError(() => findConfigPath({ config: 'nope.yaml', env: {}, cwd: dir }));
    expect([nf.code, nf.exitCode, nf.message]).toEqual(['CONFIG_NOT_FOUND', 3, `config file ${join(dir, 'nope.yaml')} does not exist`]);
  });

  it('finds --config, then FW_SHARD_CONFIG, then ./fw-shard.config.{yaml,yml,json}', () => {
    const cwd = mkdtempSync(join(dir, 'cwd-'));
    const none = fwError(() => findConfigPath({ env: {}, cwd }));
    expect(none.code).toBe('CONFIG_NOT_FOUND');
    expect(none.message).toBe(`no config file: none of fw-shard.config.yaml, fw-shard.config.yml, fw-shard.config.json in ${cwd}`);
    writeFileSync(join(cwd, 'fw-shard.config.json'), '{}');
    expect(findConfigPath({ env: {}, cwd })).toBe(join(cwd, 'fw-shard.config.json'));
    writeFileSync(join(cwd, 'fw-shard.config.yml'), '');
    expect(findConfigPath({ env: {}, cwd })).toBe(join(cwd, 'fw-shard.config.yml'));
    writeFileSync(join(cwd, 'fw-shard.config.yaml'), '');
    expect(findConfigPath({ env: {}, cwd })).toBe(join(cwd, 'fw-shard.config.yaml'));
    writeFileSync(join(cwd, 'env.yaml'), '');
    writeFileSync(join(cwd, 'flag.yaml'), '');
    expect(findConfigPath({ env: { FW_SHARD_CONFIG: 'env.yaml' }, cwd })).toBe(join(cwd, 'env.yaml'));
    expect(findConfigPath({ config: 'flag.yaml', env: { FW_SHARD_CONFIG: 'env.yaml' }, cwd })).toBe(join(cwd, 'flag.yaml'));
  });
});

describe('secrets', () => {
  it('no password appears in JSON.stringify, String or util.inspect of a Topology', () => {
    const pwFile = file('secret.pw', 'Fi1e-Secret-Pw\n');
    const { topology } = normalize(
      {
        defaults: { host: 'h', user: 'u' },
        main: { database: 'm', password: 'In1ine-Secret-Pw' },
        accounts: { database: 'acc', passwordEnv: 'FWT_SECRET' },
        shards: { '1': { database: 'a', passwordFile: pwFile, replicas: [{ host: 'r', password: 'Rep1ica-Secret-Pw' }] }, '2': { database: 'b' } },
        tickets: [{ database: 't', passwordEnv: 'FWT_SECRET' }],
      },
      { FWT_SECRET: 'Env-Secret-Pw' },
    );
    const secrets = ['In1ine-Secret-Pw', 'Env-Secret-Pw', 'Fi1e-Secret-Pw', 'Rep1ica-Secret-Pw'];
    // the values are there for the driver...
    expect(topology.main.password?.reveal()).toBe('In1ine-Secret-Pw');
    expect(topology.shards.get(S(1))!.replicas[0]!.password?.reveal()).toBe('Rep1ica-Secret-Pw');
    // ...and nowhere else
    const renderings = [
      JSON.stringify(topology),
      JSON.stringify({ ...topology, shards: [...topology.shards] }),
      JSON.stringify([...topology.shards.values()], null, 2),
      String(topology),
      String(topology.main.password),
      `${topology.main.password}`,
      inspect(topology, { depth: Infinity, showHidden: true, getters: true }),
      inspect(topology.shards, { depth: Infinity }),
      inspect(topology.main.password),
    ];
    for (const text of renderings) for (const s of secrets) expect(text).not.toContain(s);
    expect(JSON.stringify(topology.main)).toContain('"password":"[redacted]"');
    expect(inspect(topology.main)).toContain('[redacted]');
  });
});

/**
 * The sandbox against real MariaDB processes: layout, data fidelity (ids, tickets, bytes), idempotent
 * `up`, `down` leaving nothing behind, poor man's mode, a dead leftover recreated, and a server killed
 * and restarted through the test helper.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.js';
import { openDb, type Db } from '../../src/db/pool.js';
import { ident, preview, sql } from '../../src/db/sql/fragment.js';
import { insertRows, poorMansTicketSession, replaceTicket, SHARD_TABLES } from '../../src/sandbox/sql.js';
import { registerSandbox } from '../../src/cli/commands/sandbox.js';
import type { CliContext } from '../../src/cli/context.js';
import { EXIF_SENTINEL_BYTES, LATIN1_HIGH_BYTES, SENTINEL_DETAILS, splitRows } from '../../src/sandbox/data.js';
import { readSandboxState, sandboxDown, sandboxStatus, sandboxUp, type SandboxState, type SandboxUpResult } from '../../src/sandbox/index.js';
import { findExecutable, findProcessesUnder, isProcessAlive, rootEndpoint } from '../../src/sandbox/servers.js';
import { isPoorMansOnly } from '../../src/topology/index.js';
import { useServers } from '../helpers/servers.js';

const TWO_53 = 2n ** 53n;
/** The sandbox starts memcached only where it is installed. */
const HAS_MEMCACHED = findExecutable(['memcached']) !== undefined;
const hexOf = (b: Buffer) => b.toString('hex').toUpperCase();

/** Bring a sandbox up for a describe block; always bring it down (and delete the temp dir) after. */
function useSandbox(opts: { shards?: number; users: number; rowsPerUser: number; poorMans?: boolean; realShards?: number }) {
  const h = { dir: '', up: undefined as unknown as SandboxUpResult, lines: [] as string[], dbs: [] as Db[] };
  beforeAll(async () => {
    h.dir = join(mkdtempSync(join(tmpdir(), 'fw-shard-sbx-')), 'sandbox');
    h.up = await sandboxUp({ dir: h.dir, ...opts }, (l) => h.lines.push(l));
  });
  afterAll(async () => {
    await Promise.allSettled(h.dbs.splice(0).map((d) => d.close()));
    if (h.dir) {
      await sandboxDown(h.dir).catch(() => undefined);
      rmSync(join(h.dir, '..'), { recursive: true, force: true });
    }
  });
  const db = (name: string): Db => {
    const p = h.up.state.processes.find((x) => x.name === name);
    if (!p) throw new Error(`no process ${name}`);
    const d = openDb(rootEndpoint(p.port, 'mysql', name));
    h.dbs.push(d);
    return d;
  };
  return { h, db };
}

describe('sandbox up (federated: db_main, 2 shards, 2 ticket servers)', () => {
  const { h, db } = useSandbox({ shards: 2, users: 4, rowsPerUser: 50 });
  let state: SandboxState;
  beforeAll(() => {
    state = h.up.state;
  });

  it('starts every server, records it in sandbox.json, and writes a config fw-shard loads', () => {
    expect(h.up.alreadyRunning).toBe(false);
    expect(state.ready).toBe(true);
    expect(state.processes.map((p) => `${p.role}:${p.name}`)).toEqual([
      'main:main',
      'shard:shard1',
      'shard:shard2',
      'tickets:tickets1',
      'tickets:tickets2',
      ...(HAS_MEMCACHED ? ['memcached:memcached'] : []),
    ]);
    for (const p of state.processes) expect(isProcessAlive(p.pid, p.marker), p.name).toBe(true);
    expect(readSandboxState(h.dir)).toEqual(state);

    const { topology } = loadConfig({ config: h.up.configPath, env: {}, cwd: h.dir });
    expect(topology.main.port).toBe(state.processes[0]!.port);
    expect(topology.main.database).toBe('flamework');
    expect([...topology.shards.keys()]).toEqual([1, 2]);
    expect(topology.shards.get(1 as never)!.database).toBe('users1');
    expect(topology.shards.get(2 as never)!.port).toBe(state.processes.find((p) => p.name === 'shard2')!.port);
    expect(topology.tickets.map((t) => t.port)).toEqual(state.processes.filter((p) => p.role === 'tickets').map((p) => p.port));
    expect(isPoorMansOnly(topology)).toBe(false);
    if (HAS_MEMCACHED) {
      const mc = state.processes.find((p) => p.role === 'memcached')!;
      expect(topology.memcached?.servers).toEqual([`127.0.0.1:${mc.port}`]);
    } else {
      expect(topology.memcached).toBeUndefined();
      expect(state.notes.join(' ')).toMatch(/memcached is not installed/);
    }
  });

  it('creates users on db_main with AUTO_INCREMENT ids and cluster_ids round robin over the shards', async () => {
    const users = await db('main').rows<{ id: string; cluster_id: number }>(
      sql`SELECT CAST(id AS CHAR) AS id, cluster_id FROM flamework.users ORDER BY users.id`,
    );
    expect(users.map((u) => u.id)).toEqual(['1', '2', '3', '4']);
    expect(users.map((u) => Number(u.cluster_id))).toEqual([1, 2, 1, 2]);
    // The lookup table lives on db_main only, and points at dots that exist on the owner's shard.
    const lookups = await db('main').rows<{ dot_id: string; user_id: number }>(sql`SELECT CAST(dot_id AS CHAR) AS dot_id, user_id FROM flamework.DotsLookup`);
    expect(lookups.length).toBeGreaterThan(0);
    for (const l of lookups) {
      const shard = `shard${users.find((u) => u.id === String(l.user_id))!.cluster_id}`;
      const [hit] = await db(shard).rows<{ n: string }>(
        sql`SELECT CAST(COUNT(*) AS CHAR) AS n FROM ${ident(`users${shard.slice(5)}`, 'Dots')} WHERE id = ${l.dot_id} AND user_id = ${l.user_id}`,
      );
      expect(hit!.n, `DotsLookup ${l.dot_id}`).toBe('1');
    }
    for (const s of ['shard1', 'shard2']) {
      const t = await db(s).rows(
        sql`SELECT table_name FROM information_schema.tables WHERE table_name IN ('DotsLookup', 'users') AND table_schema NOT IN ('mysql', 'sys', 'performance_schema', 'information_schema')`,
      );
      expect(t, `${s} holds no db_main tables`).toEqual([]);
    }
  });

  it("puts each user's rows on that user's shard only, in every one of the five tables", async () => {
    const users = await db('main').rows<{ id: string; cluster_id: number }>(sql`SELECT CAST(id AS CHAR) AS id, cluster_id FROM flamework.users`);
    for (const shard of [1, 2]) {
      const expected = users
        .filter((u) => Number(u.cluster_id) === shard)
        .map((u) => u.id)
        .sort();
      for (const table of SHARD_TABLES) {
        const owners = await db(`shard${shard}`).rows<{ u: string }>(sql`SELECT DISTINCT CAST(user_id AS CHAR) AS u FROM ${ident(`users${shard}`, table)}`);
        expect(owners.map((o) => o.u).sort(), `users${shard}.${table}`).toEqual(expected);
      }
    }
    // The counts recorded in sandbox.json are what the shards hold.
    for (const table of SHARD_TABLES) {
      let total = 0;
      for (const shard of [1, 2]) {
        const [n] = await db(`shard${shard}`).rows<{ n: string }>(sql`SELECT CAST(COUNT(*) AS CHAR) AS n FROM ${ident(`users${shard}`, table)}`);
        total += Number(n!.n);
      }
      expect(total, table).toBe(state.data!.rows[table]);
    }
  });

  it('takes ticketed ids above 2^53, distinct across shards, from both ticket servers', async () => {
    const ids: string[] = [];
    for (const shard of [1, 2]) {
      for (const table of ['Dots', 'FlickrPhotos']) {
        const rows = await db(`shard${shard}`).rows<{ id: string }>(sql`SELECT CAST(id AS CHAR) AS id FROM ${ident(`users${shard}`, table)}`);
        ids.push(...rows.map((r) => r.id));
      }
    }
    expect(ids.length).toBeGreaterThan(100);
    for (const id of ids) expect(BigInt(id) > TWO_53, id).toBe(true);
    expect(new Set(ids).size).toBe(ids.length);
    const parities = new Set(ids.map((id) => BigInt(id) % 2n));
    expect(parities).toEqual(new Set([0n, 1n]));
    // Tickets32 ids (Sheets) are distinct too.
    const sheets = [
      ...(await db('shard1').rows<{ id: string }>(sql`SELECT CAST(id AS CHAR) AS id FROM users1.Sheets`)),
      ...(await db('shard2').rows<{ id: string }>(sql`SELECT CAST(id AS CHAR) AS id FROM users2.Sheets`)),
    ].map((r) => r.id);
    expect(new Set(sheets).size).toBe(sheets.length);
  });

  it('runs the ticket servers odd (offset 1) and even (offset 2)', async () => {
    for (const [name, parity] of [
      ['tickets1', 1n],
      ['tickets2', 0n],
    ] as const) {
      const [vars] = await db(name).rows<{ inc: string; off: string }>(sql`SELECT @@auto_increment_increment AS inc, @@auto_increment_offset AS off`);
      expect(Number(vars!.inc)).toBe(2);
      expect(Number(vars!.off)).toBe(parity === 1n ? 1 : 2);
      for (const table of ['Tickets64', 'Tickets32']) {
        const rows = await db(name).rows<{ id: string; stub: string; engine?: string }>(
          sql`SELECT CAST(id AS CHAR) AS id, stub FROM ${ident('tickets', table)}`,
        );
        expect(rows.length, `${name}.${table} holds one row`).toBe(1);
        expect(rows[0]!.stub).toBe('a');
        expect(BigInt(rows[0]!.id) % 2n, `${name}.${table} id ${rows[0]!.id}`).toBe(parity);
      }
      const [eng] = await db(name).rows<{ engine: string }>(
        sql`SELECT engine FROM information_schema.tables WHERE table_schema = 'tickets' AND table_name = 'Tickets64'`,
      );
      expect(eng!.engine).toBe('MyISAM');
    }
  });

  it('stores latin1, utf8mb4 and BLOB bytes exactly as written', async () => {
    const users = await db('main').rows<{ id: string; cluster_id: number }>(sql`SELECT CAST(id AS CHAR) AS id, cluster_id FROM flamework.users`);
    const detailsHex = hexOf(Buffer.from(SENTINEL_DETAILS, 'utf8'));
    for (const u of users) {
      const s = Number(u.cluster_id);
      const q = db(`shard${s}`);
      const [dots] = await q.rows<{ latin: string; utf8: string }>(
        sql`SELECT CAST(SUM(HEX(index_on) = ${hexOf(LATIN1_HIGH_BYTES)}) AS CHAR) AS latin, CAST(SUM(HEX(details_json) = ${detailsHex}) AS CHAR) AS utf8 FROM ${ident(`users${s}`, 'Dots')} WHERE user_id = ${u.id}`,
      );
      expect(dots, `user ${u.id}`).toEqual({ latin: '1', utf8: '1' });
      const [photos] = await q.rows<{ n: string }>(
        sql`SELECT CAST(COUNT(*) AS CHAR) AS n FROM ${ident(`users${s}`, 'FlickrPhotos')} WHERE user_id = ${u.id} AND HEX(exif) = ${hexOf(EXIF_SENTINEL_BYTES)}`,
      );
      expect(photos!.n).toBe('1');
    }
    // NULL next to '' (and 0) in the same columns.
    const [mix] = await db('shard1').rows<Record<string, string>>(sql`SELECT
      CAST(SUM(details_json IS NULL) AS CHAR) AS dNull, CAST(SUM(details_json = '') AS CHAR) AS dEmpty,
      CAST(SUM(perms = 0) AS CHAR) AS permsZero FROM users1.Dots`);
    const [ph] = await db('shard1').rows<Record<string, string>>(sql`SELECT
      CAST(SUM(exif IS NULL) AS CHAR) AS eNull, CAST(SUM(LENGTH(exif) = 0) AS CHAR) AS eEmpty, CAST(SUM(title = '') AS CHAR) AS tEmpty FROM users1.FlickrPhotos`);
    for (const [k, v] of Object.entries({ ...mix, ...ph })) expect(Number(v), k).toBeGreaterThan(0);
    // Column charsets as declared.
    const cols = await db('shard1').rows<{ t: string; c: string; cs: string | null }>(
      sql`SELECT table_name AS t, column_name AS c, character_set_name AS cs FROM information_schema.columns WHERE table_schema = 'users1' AND column_name IN ('index_on', 'details_json', 'label', 'title')`,
    );
    const cs = Object.fromEntries(cols.map((c) => [`${c.t}.${c.c}`, c.cs]));
    expect(cs).toEqual({ 'Dots.index_on': 'latin1', 'Dots.details_json': 'utf8mb4', 'Sheets.label': 'utf8mb4', 'FlickrPhotos.title': 'utf8mb3' });
  });

  it('has the awkward keys: FlickrContacts keyless with duplicate rows, FlickrPhotos without a user_id index, FlickrFaves without a PK', async () => {
    const keys = await db('shard1').rows<{ t: string; k: string; c: string }>(
      sql`SELECT table_name AS t, index_name AS k, column_name AS c FROM information_schema.statistics WHERE table_schema = 'users1'`,
    );
    expect(keys.filter((k) => k.t === 'FlickrContacts')).toEqual([]);
    expect(keys.filter((k) => k.t === 'FlickrPhotos' && k.c === 'user_id')).toEqual([]);
    expect(keys.filter((k) => k.t === 'FlickrFaves' && k.k === 'PRIMARY')).toEqual([]);
    for (const s of [1, 2]) {
      const dups = await db(`shard${s}`).rows<{ u: string; c: string }>(
        sql`SELECT CAST(user_id AS CHAR) AS u, CAST(COUNT(*) AS CHAR) AS c FROM ${ident(`users${s}`, 'FlickrContacts')} GROUP BY user_id, contact_id, contact_nsid, rel HAVING COUNT(*) > 1`,
      );
      expect(new Set(dups.map((d) => d.u)).size, `users${s}: every user has duplicate contacts`).toBe(2);
      expect(
        dups.some((d) => d.c === '3'),
        'a triple',
      ).toBe(true);
    }
  });

  it('status reports every process up', async () => {
    const s = await sandboxStatus(h.dir);
    expect(s.healthy).toBe(true);
    expect(s.processes.every((p) => p.alive && p.responding)).toBe(true);
    expect(s.configPath).toBe(h.up.configPath);
  });

  it('up again on the live sandbox changes nothing', async () => {
    const before = readFileSync(join(h.dir, 'sandbox.json'), 'utf8');
    const cfgBefore = readFileSync(h.up.configPath, 'utf8');
    const again = await sandboxUp({ dir: h.dir, shards: 2, users: 4, rowsPerUser: 50 });
    expect(again.alreadyRunning).toBe(true);
    expect(again.state.processes.map((p) => p.pid)).toEqual(state.processes.map((p) => p.pid));
    expect(readFileSync(join(h.dir, 'sandbox.json'), 'utf8')).toBe(before);
    expect(readFileSync(h.up.configPath, 'utf8')).toBe(cfgBefore);
    const [n] = await db('main').rows<{ n: string }>(sql`SELECT CAST(COUNT(*) AS CHAR) AS n FROM flamework.users`);
    expect(n!.n).toBe('4');
  });

  it('down stops every process and removes the directory', async () => {
    await Promise.allSettled(h.dbs.splice(0).map((d) => d.close()));
    const procs = state.processes;
    const r = await sandboxDown(h.dir);
    expect(r.removed).toBe(true);
    expect(r.stopped.map((s) => s.how).sort()).toEqual(procs.map(() => 'SIGTERM'));
    for (const p of procs) expect(isProcessAlive(p.pid, p.marker), `${p.name} pid ${p.pid}`).toBe(false);
    expect(existsSync(h.dir)).toBe(false);
    expect(findProcessesUnder(h.dir)).toEqual([]);
    expect((await sandboxStatus(h.dir)).exists).toBe(false);
    expect((await sandboxDown(h.dir)).existed).toBe(false);
  });
});

describe('sandbox up --poor-mans --real-shards 0 (one server, one database)', () => {
  const { h, db } = useSandbox({ poorMans: true, realShards: 0, users: 4, rowsPerUser: 30 });
  const checksums = (d: Db) =>
    d.rows<{ Table: string; Checksum: string }>(
      sql`CHECKSUM TABLE flamework.users, flamework.DotsLookup, flamework.Sheets, flamework.Dots, flamework.FlickrPhotos, flamework.FlickrFaves, flamework.FlickrContacts`,
    );
  let firstChecksums: { Table: string; Checksum: string }[] = [];

  it('holds db_main, ticket and shard tables together in `flamework`, every user on shard 1', async () => {
    expect(h.up.state.processes.map((p) => p.name)).toEqual(['main', ...(HAS_MEMCACHED ? ['memcached'] : [])]);
    expect(h.up.state.processes[0]!.serves).toEqual(['db_main', 'shard 1', 'tickets 1']);
    const tables = await db('main').rows<{ t: string }>(
      sql`SELECT table_name AS t FROM information_schema.tables WHERE table_schema = 'flamework' ORDER BY table_name`,
    );
    expect(tables.map((t) => t.t).sort()).toEqual(
      ['Dots', 'DotsLookup', 'FlickrContacts', 'FlickrFaves', 'FlickrPhotos', 'Sheets', 'Tickets32', 'Tickets64', 'users', 'users_password_reset'].sort(),
    );
    const clusters = await db('main').rows<{ c: number }>(sql`SELECT DISTINCT cluster_id AS c FROM flamework.users`);
    expect(clusters.map((c) => Number(c.c))).toEqual([1]);

    const { topology, raw } = loadConfig({ config: h.up.configPath, env: {}, cwd: h.dir });
    expect(isPoorMansOnly(topology)).toBe(true);
    expect(raw.poorMans).toEqual({ federation: true, ticketing: true });
    expect(topology.tickets.map((t) => `${t.port}/${t.database}`)).toEqual([`${topology.main.port}/flamework`]);
  });

  it('takes odd tickets through session settings, as lib_dbtickets.php does (the server stays at 1/1)', async () => {
    const ids = (
      await db('main').rows<{ id: string }>(
        sql`SELECT CAST(id AS CHAR) AS id FROM flamework.Dots UNION ALL SELECT CAST(id AS CHAR) FROM flamework.FlickrPhotos`,
      )
    ).map((r) => r.id);
    expect(ids.length).toBeGreaterThan(40);
    expect(new Set(ids).size).toBe(ids.length);
    for (const id of ids) {
      expect(BigInt(id) > TWO_53, id).toBe(true);
      expect(BigInt(id) % 2n, id).toBe(1n);
    }
    const [g] = await db('main').rows<{ inc: string; off: string }>(
      sql`SELECT @@GLOBAL.auto_increment_increment AS inc, @@GLOBAL.auto_increment_offset AS off`,
    );
    expect([Number(g!.inc), Number(g!.off)]).toEqual([1, 1]);
  });

  it('cleans and recreates a dead leftover, with the same data (same seed, fresh ticket counters)', async () => {
    firstChecksums = await checksums(db('main'));
    expect(firstChecksums.every((c) => c.Checksum !== null && c.Checksum !== '0')).toBe(true);
    await Promise.allSettled(h.dbs.splice(0).map((d) => d.close()));
    const old = h.up.state.processes[0]!;
    process.kill(old.pid, 'SIGKILL');
    for (let i = 0; i < 100 && isProcessAlive(old.pid, old.marker); i++) await new Promise((r) => setTimeout(r, 50));
    expect(isProcessAlive(old.pid, old.marker)).toBe(false);
    const st = await sandboxStatus(h.dir);
    expect(st.healthy).toBe(false);

    const lines: string[] = [];
    const again = await sandboxUp({ dir: h.dir, poorMans: true, realShards: 0, users: 4, rowsPerUser: 30 }, (l) => lines.push(l));
    expect(again.alreadyRunning).toBe(false);
    expect(again.recreated).toBe(true);
    expect(lines.some((l) => /dead/.test(l))).toBe(true);
    const now = again.state.processes[0]!;
    expect(now.pid).not.toBe(old.pid);
    expect(isProcessAlive(now.pid, now.marker)).toBe(true);
    h.up = again;
    const [n] = await db('main').rows<{ n: string }>(sql`SELECT CAST(COUNT(*) AS CHAR) AS n FROM flamework.users`);
    expect(n!.n).toBe('4');
    // Deterministic: the recreated sandbox holds exactly the rows of the first one.
    expect(await checksums(db('main'))).toEqual(firstChecksums);
  });
});

describe('sandbox SQL builders (exact text)', () => {
  it('writes multi-row inserts with typed values: text quoted, bytes as hex, NULL bare', () => {
    const q = insertRows(
      'users1',
      'Dots',
      ['id', 'index_on', 'details_json'],
      [
        ['9007199254740993', Buffer.from([0x80, 0xff]), null],
        ['9007199254740995', Buffer.alloc(0), "it's"],
      ],
    );
    expect(preview(q)).toBe(
      "INSERT INTO `users1`.`Dots` (`id`, `index_on`, `details_json`) VALUES ('9007199254740993', X'80ff', NULL), ('9007199254740995', X'', 'it\\'s')",
    );
    expect(preview(replaceTicket('tickets', 64))).toBe("REPLACE INTO `tickets`.`Tickets64` (stub) VALUES ('a')");
    expect(poorMansTicketSession().map(preview)).toEqual(['SET @@auto_increment_increment=2', 'SET @@auto_increment_offset=1']);
  });

  it("splits a user's rows over the five tables without losing any", () => {
    for (const n of [0, 1, 2, 5, 37, 50, 200, 1001]) {
      const s = splitRows(n);
      expect(
        Object.values(s).reduce((a, b) => a + b, 0),
        String(n),
      ).toBe(n);
      for (const v of Object.values(s)) expect(v).toBeGreaterThanOrEqual(0);
    }
  });
});

describe('test helper: a server killed mid-test and restarted on the same port', () => {
  const t = useServers(1);

  it('keeps committed rows across SIGKILL and restart', async () => {
    const srv = t.server(0);
    const db = t.db(0);
    await db.exec(sql`CREATE DATABASE crash`);
    await db.exec(sql`CREATE TABLE crash.t (id BIGINT UNSIGNED PRIMARY KEY) ENGINE=InnoDB`);
    await db.exec(sql`INSERT INTO crash.t VALUES (18446744073709551615)`);
    const port = srv.port;
    const pid = srv.pid;

    await srv.kill();
    expect(srv.alive()).toBe(false);
    await expect(db.rows(sql`SELECT 1`)).rejects.toMatchObject({ code: 'SERVER_UNAVAILABLE' });

    await srv.restart();
    expect(srv.port).toBe(port);
    expect(srv.pid).not.toBe(pid);
    expect(srv.alive()).toBe(true);
    const rows = await db.rows<{ id: string }>(sql`SELECT CAST(id AS CHAR) AS id FROM crash.t`);
    expect(rows).toEqual([{ id: '18446744073709551615' }]);

    await srv.stop();
    expect(srv.alive()).toBe(false);
    await srv.restart(); // afterAll stops it again
    expect(srv.alive()).toBe(true);
  });
});

describe('fw-shard sandbox (command line)', () => {
  function run(args: string[], env: Record<string, string> = {}) {
    const outText: string[] = [];
    const errText: string[] = [];
    const ctx: CliContext = {
      stdout: { write: (s: string) => (outText.push(s), true) } as unknown as CliContext['stdout'],
      stderr: { write: (s: string) => (errText.push(s), true) } as unknown as CliContext['stderr'],
      stdinIsTTY: false,
      env,
      cwd: tmpdir(),
    };
    let code = 0;
    const program = new Command().exitOverride().configureOutput({ writeOut: (s) => outText.push(s), writeErr: (s) => errText.push(s) });
    registerSandbox(
      program,
      ctx,
      (c) => (code = c),
      () => ({}),
    );
    return program.parseAsync(args, { from: 'user' }).then(
      () => ({ code, out: outText.join(''), err: errText.join('') }),
      (e: { exitCode?: number }) => ({ code: e.exitCode ?? -1, out: outText.join(''), err: errText.join('') }),
    );
  }

  it('rejects bad numbers with a usage error (exit 2), as JSON with --json', async () => {
    const dir = join(tmpdir(), 'fw-shard-never-created');
    for (const args of [
      ['--shards', 'abc'],
      ['--shards', '0'],
      ['--users', '-3'],
      ['--rows-per-user', '1.5'],
      ['--poor-mans', '--shards', '3'],
    ]) {
      const r = await run(['sandbox', 'up', '--dir', dir, ...args]);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.err).toMatch(/\[USAGE\]/);
    }
    const j = await run(['sandbox', 'up', '--dir', dir, '--json'], { FW_SHARD_SANDBOX_USERS: 'many' });
    expect(j.code).toBe(2);
    expect(JSON.parse(j.out)).toMatchObject({ schemaVersion: 1, ok: false, error: { code: 'USAGE' } });
    expect(existsSync(dir)).toBe(false);
  });

  it('status and down on a missing sandbox say so and exit 0', async () => {
    const dir = join(tmpdir(), 'fw-shard-no-sandbox-here');
    const s = await run(['sandbox', 'status', '--dir', dir, '--json']);
    expect(s.code).toBe(0);
    expect(JSON.parse(s.out)).toMatchObject({ ok: true, exists: false, healthy: false });
    const d = await run(['sandbox', 'down', '--dir', dir]);
    expect(d.code).toBe(0);
    expect(d.out).toMatch(/No sandbox/);
  });

  it('refuses to delete a directory that is not a sandbox', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fw-shard-not-a-sandbox-'));
    try {
      const keep = join(dir, 'keep.txt');
      await import('node:fs').then((fs) => fs.writeFileSync(keep, 'x'));
      const d = await run(['sandbox', 'down', '--dir', dir]);
      expect(d.code).toBe(5);
      expect(existsSync(keep)).toBe(true);
      const u = await run(['sandbox', 'up', '--dir', dir]);
      expect(u.code).toBe(5);
      expect(existsSync(keep)).toBe(true);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

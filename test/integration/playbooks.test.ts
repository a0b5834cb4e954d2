/**
 * Every shipped playbook run with `fw-shard run` (the built CLI) against sandboxes of real server
 * processes: drain a shard, the per-topology lock (a second run exits 7 while the first waits on a pause
 * file), nightly balance (inside and outside its window), deferred cleanup, the verification sweep, and
 * graduation from poor man's federation onto two new shard servers. Invalid playbooks run nothing.
 */
import { chmodSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { openDb } from '../../src/db/pool.js';
import { SHARD_TABLES, shardTables } from '../../src/sandbox/sql.js';
import { createDatabase } from '../../src/sandbox/sql.js';
import { useServers } from '../helpers/servers.js';
import { lastJson, useFleet } from '../helpers/fleet-env.js';

const PB = (name: string) => join('playbooks', `${name}.yaml`);

describe('playbooks on a federated sandbox (db_main, 4 shards)', () => {
  const f = useFleet({ shards: 4, users: 12, rowsPerUser: 40 });
  const files = (env: typeof f.env) => ['--set', `pauseFile=${join(env.dir, 'pause')}`, '--set', `stopFile=${join(env.dir, 'stop')}`];
  const journal = () =>
    f.env
      .sql('main', 'flamework', "SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = 'flamework' AND TABLE_NAME = 'fw_shard_moves'")
      .trim() === '1'
      ? f.env.sql('main', 'flamework', 'SELECT state, phase, COUNT(*) FROM fw_shard_moves GROUP BY state, phase ORDER BY 1, 2').trim()
      : '';

  it("an invalid playbook runs nothing and names each problem's line (exit 3)", async () => {
    const bad = join(f.env.dir, 'bad.yaml');
    writeFileSync(bad, 'version: 1\nname: bad\nguardrails:\n  maxMoves: 0\nsteps:\n  - plan: {drain: 9}\n  - apply: {assumeNoWrites: yes please}\n');
    const r = await f.env.run(['run', bad]);
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/bad\.yaml:4: guardrails\.maxMoves: /);
    expect(r.stderr).toMatch(/bad\.yaml:7: steps\.1\.apply\.assumeNoWrites: /);
    const unknownShard = await f.env.run(['run', PB('drain-shard'), '--set', 'shard=9']);
    expect(unknownShard.code).toBe(3);
    expect(unknownShard.stderr).toMatch(/drain-shard\.yaml:\d+: plan: shard 9 is not in the topology/);
    expect(journal()).toBe('');
  });

  it('drain-shard.yaml empties a shard', async () => {
    const env = f.env;
    const r = await env.run(['run', PB('drain-shard'), '--set', 'shard=4', ...files(env)]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/playbook drain-shard: exit 0/);
    expect(env.usersOn(4)).toEqual([]);
    expect(env.sql('shard4', 'users4', 'SELECT COUNT(*) FROM Dots').trim()).toBe('0');
    expect(journal()).toBe('done\tdone\t3');
  });

  it('the per-topology lock: a second run exits 7 while the first waits on its pause file, which it says', async () => {
    const env = f.env;
    const pause = join(env.dir, 'pause');
    writeFileSync(pause, '');
    let waiting!: () => void;
    const throttled = new Promise<void>((r) => (waiting = r));
    let err = '';
    const first = env.run(['run', PB('drain-shard'), '--set', 'shard=3', ...files(env)], {
      onStderr: (t) => {
        err += t;
        if (/throttled before starting: pause file/.test(err)) waiting();
      },
    });
    await throttled;
    const second = await env.run(['run', PB('nightly-balance'), '--set', 'window=00:00-24:00', ...files(env)]);
    expect(second.code, second.stderr).toBe(7);
    expect(second.stderr).toMatch(/another fw-shard run holds the lock 'fw-shard:flamework'/);
    // A playbook with its own lock is not held up.
    const sweep = await env.run(['run', PB('verify-sweep')]);
    expect(sweep.code, sweep.stdout).toBe(0);
    rmSync(pause);
    const r = await first;
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/throttled before starting: pause file .* exists \(remove it to continue\)/);
    expect(r.stderr).toMatch(/no longer throttled/);
    expect(env.usersOn(3)).toEqual([]);
  });

  it('nightly-balance.yaml does nothing outside its window, and balances with deferred cleanups inside it', async () => {
    const env = f.env;
    const h = new Date().getHours();
    const hh = (n: number) => String(n % 24).padStart(2, '0');
    const before = journal();
    const outside = await env.run(['run', PB('nightly-balance'), '--set', `window=${hh(h + 2)}:00-${hh(h + 3)}:00`, ...files(env)]);
    expect(outside.code, outside.stderr).toBe(0);
    expect(outside.stderr).toMatch(/outside its window/);
    expect(journal()).toBe(before);

    const r = await env.run(['run', PB('nightly-balance'), '--set', 'window=00:00-24:00', '--set', 'threshold=0', '--json', ...files(env)]);
    expect(r.code, r.stderr).toBe(0);
    const doc = lastJson(r.stdout) as {
      steps: { kind: string; output: { kind: string; summary?: { counts: Record<string, number> }; plan?: { moves: { userId: string; to: number }[] } } }[];
    };
    const moved = doc.steps[1]!.output.summary!.counts.done!;
    expect(moved).toBe(doc.steps[0]!.output.plan!.moves.length);
    expect(moved).toBeGreaterThanOrEqual(3);
    for (const m of doc.steps[0]!.output.plan!.moves) expect(env.shardOf(m.userId)).toBe(m.to);
    expect(env.usersOn(3).length).toBeGreaterThan(0);
    expect(journal()).toMatch(new RegExp(`active\\tcleanup-pending\\t${moved}`));
  });

  it('deferred-cleanup.yaml finishes the deferred cleanups, leaving no orphans', async () => {
    const env = f.env;
    const leftovers = await env.run(['verify', '--json']);
    expect(leftovers.code).toBe(0); // rows of moves in flight are not orphans
    expect((lastJson(leftovers.stdout) as { inFlight: unknown[] }).inFlight.length).toBeGreaterThan(0);
    const r = await env.run(['run', PB('deferred-cleanup'), '--set', 'olderThan=0s', '--set', `pauseFile=${join(env.dir, 'pause')}`]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/cleanup: \d+ deferred cleanup\(s\) finished/);
    expect(journal()).not.toMatch(/cleanup-pending/);
    const v = await env.run(['verify', '--json']);
    expect(v.code).toBe(0);
    expect((lastJson(v.stdout) as { inFlight: unknown[] }).inFlight).toEqual([]);
  });

  it('verify-sweep.yaml exits 0 on a clean fleet and 8 when orphans exist, listing them', async () => {
    const env = f.env;
    const clean = await env.run(['run', PB('verify-sweep')]);
    expect(clean.code, clean.stdout).toBe(0);
    env.sql('shard2', 'users2', "INSERT INTO FlickrContacts VALUES (424242, 1, 'ghost', 0)");
    try {
      const dirty = await env.run(['run', PB('verify-sweep')]);
      expect(dirty.code).toBe(8);
      expect(dirty.stdout).toMatch(/FlickrContacts\s+424242\s+1\s+.*NO SUCH USER/);
      expect(dirty.stdout).toMatch(/user 424242 does not exist/);
      expect(env.sql('shard2', 'users2', 'SELECT COUNT(*) FROM FlickrContacts WHERE user_id = 424242').trim()).toBe('1');
    } finally {
      env.sql('shard2', 'users2', 'DELETE FROM FlickrContacts WHERE user_id = 424242');
    }
  });
});

describe("graduate.yaml: from poor man's federation onto two new shard servers", () => {
  const f = useFleet({ poorMans: true, realShards: 0, users: 6, rowsPerUser: 40 });
  const extra = useServers(2, { prefix: 'fws-grad-' });
  let config = '';
  beforeAll(async () => {
    const ports = [extra.server(0).port, extra.server(1).port];
    for (const [i, port] of ports.entries()) {
      const db = openDb(extra.server(i).endpoint('mysql'));
      try {
        await db.exec(createDatabase(`users${i + 2}`));
        for (const q of shardTables(`users${i + 2}`)) await db.exec(q);
      } finally {
        await db.close();
      }
      void port;
    }
    const main = f.env.port('main');
    config = join(f.env.dir, 'graduate.config.json');
    writeFileSync(
      config,
      JSON.stringify({
        version: 1,
        defaults: { host: '127.0.0.1', user: 'root', password: '' },
        main: { port: main, database: 'flamework' },
        shards: { '1': { port: main, database: 'flamework' }, '2': { port: ports[0], database: 'users2' }, '3': { port: ports[1], database: 'users3' } },
        tickets: [{ port: main, database: 'flamework' }],
        poorMans: { federation: true, ticketing: true },
        tables: { include: [...SHARD_TABLES] },
      }),
    );
    chmodSync(config, 0o600);
  });

  it("moves every user off db_main onto shards 2 and 3; db_main's own tables stay", async () => {
    const env = f.env;
    const own = env.sql('main', 'flamework', 'SELECT (SELECT COUNT(*) FROM DotsLookup), (SELECT COUNT(*) FROM users_password_reset)').trim();
    const rows = Number(env.sql('main', 'flamework', 'SELECT COUNT(*) FROM Dots').trim());
    expect(rows).toBeGreaterThan(0);
    const check = await env.run(['run', PB('graduate'), '--set', 'to=2,3', '--check'], { config });
    expect(check.code, check.stderr).toBe(0);
    const r = await env.run(
      ['run', PB('graduate'), '--set', 'to=2,3', '--set', `pauseFile=${join(env.dir, 'pause')}`, '--set', `stopFile=${join(env.dir, 'stop')}`],
      { config },
    );
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/graduate from db_main's shard 1 onto shard 2, 3: 6 move\(s\)/);
    expect(env.usersOn(1)).toEqual([]);
    expect(env.usersOn(2)).toHaveLength(3);
    expect(env.usersOn(3)).toHaveLength(3);
    expect(env.sql('main', 'flamework', 'SELECT COUNT(*) FROM Dots').trim()).toBe('0');
    expect(env.sql('main', 'flamework', 'SELECT (SELECT COUNT(*) FROM DotsLookup), (SELECT COUNT(*) FROM users_password_reset)').trim()).toBe(own);
    const d2 = openDb(extra.server(0).endpoint('users2'));
    const d3 = openDb(extra.server(1).endpoint('users3'));
    try {
      const n = async (db: typeof d2) => Number((await db.rows<{ n: string }>({ parts: ['SELECT COUNT(*) AS n FROM Dots'], values: [] }))[0]!.n);
      expect((await n(d2)) + (await n(d3))).toBe(rows);
    } finally {
      await d2.close();
      await d3.close();
    }
    // Nothing left to graduate: the next run plans nothing.
    const again = await env.run(['run', PB('graduate'), '--set', 'to=2,3', '--set', `pauseFile=${join(env.dir, 'pause')}`], { config });
    expect(again.code).toBe(0);
    expect(again.stdout).toMatch(/0 move\(s\)/);
  });
});

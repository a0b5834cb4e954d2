/**
 * Fleet operations against a sandbox of real server processes (db_main, four shards, two ticket
 * servers): apply with concurrency and per-shard limits (proved from the journal's timestamps), re-runs
 * skipping what is done, two appliers sharing one plan, a killed runner's move resumed by the next,
 * throttling on a pause file (before a move and between its chunks), --until and the stop file, a
 * failed move among good ones (exit 9), and verify / cleanup --orphans on planted orphans.
 */
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Connections, openDb } from '../../src/db/pool.js';
import type { MoveEvent } from '../../src/events/types.js';
import { applyPlan, type ApplyOptions } from '../../src/fleet/apply.js';
import type { FleetEvent } from '../../src/fleet/events.js';
import type { ThrottleSettings } from '../../src/move/throttler.js';
import { collectFleetFacts } from '../../src/plan/facts.js';
import { planDocument, type PlanDocument, type PlanDocumentMove } from '../../src/plan/plan-file.js';
import { planMoves, type PlanOptions } from '../../src/plan/planner.js';
import { mappingEndpoint } from '../../src/topology/index.js';
import { lastJson, useFleet, type FleetEnv } from '../helpers/fleet-env.js';

const f = useFleet({ shards: 4, users: 16, rowsPerUser: 60 });

async function makePlan(env: FleetEnv, o: PlanOptions): Promise<PlanDocument> {
  const conns = new Connections();
  try {
    const facts = await collectFleetFacts(env.topology, (e) => conns.get(e));
    return planDocument(planMoves(facts.shards, o), { createdAt: new Date().toISOString(), mapping: 'db_main' });
  } finally {
    await conns.closeAll();
  }
}

/** A hand-made plan (a plan file names users and shards; apply does not care how it was made). */
function planOf(moves: { userId: string; from: number; to: number }[]): PlanDocument {
  return {
    schemaVersion: 1,
    kind: 'fw-shard-plan',
    createdAt: new Date().toISOString(),
    mapping: 'db_main',
    request: { mode: 'balance', by: 'bytes', from: null, to: null, maxMoves: null, maxBytes: null, thresholdPct: 10 },
    participants: [1, 2, 3, 4],
    stoppedBecause: 'balanced',
    totals: { moves: moves.length, rows: '0', bytes: '0' },
    shards: [],
    moves: moves.map((m, i) => ({ seq: i + 1, ...m, rows: '0', bytes: '0' })),
    notes: [],
  };
}

interface Applied {
  summary: Awaited<ReturnType<typeof applyPlan>>;
  fleet: FleetEvent[];
  moves: { m: PlanDocumentMove; e: MoveEvent }[];
}

async function apply(
  env: FleetEnv,
  plan: PlanDocument,
  opts: Partial<ApplyOptions> = {},
  hooks: { throttle?: ThrottleSettings; onMove?: (m: PlanDocumentMove, e: MoveEvent) => void; onFleet?: (e: FleetEvent) => void } = {},
): Promise<Applied> {
  const fleet: FleetEvent[] = [];
  const moves: Applied['moves'] = [];
  const { deps, close } = env.deps(() => undefined, hooks.throttle);
  const lockDb = openDb(mappingEndpoint(env.topology));
  try {
    const summary = await applyPlan(
      plan,
      { concurrency: 1, perShard: 1, pollMs: 100, request: { assumeNoWrites: true, chunkTimeMs: 500, concurrency: 2, cleanup: 'now' }, ...opts },
      {
        deps,
        lockDb,
        onEvent: (e) => {
          fleet.push(e);
          hooks.onFleet?.(e);
        },
        onMoveEvent: (m, e) => {
          moves.push({ m, e });
          hooks.onMove?.(m, e);
        },
      },
    );
    return { summary, fleet, moves };
  } finally {
    await lockDb.close();
    await close();
  }
}

const slow = { chunkSize: 8, chunkPauseMs: 60 };
const journalCount = (env: FleetEnv) => Number(env.sql('main', 'flamework', 'SELECT COUNT(*) FROM fw_shard_moves').trim());
const movesPerUser = (env: FleetEnv) =>
  new Map(
    env
      .sql('main', 'flamework', 'SELECT user_id, COUNT(*) FROM fw_shard_moves GROUP BY user_id')
      .split('\n')
      .filter(Boolean)
      .map((l) => l.split('\t') as [string, string])
      .map(([u, n]) => [u, Number(n)]),
  );

describe('fw-shard plan: sizes from the indexes by default, --exact reads every row (issue 23)', () => {
  it('estimated and exact sizes count the same rows; bytes come from statistics; tables without an owner index are named', async () => {
    const env = f.env;
    const conns = new Connections();
    try {
      const exact = await collectFleetFacts(env.topology, (e) => conns.get(e), 'exact');
      const est = await collectFleetFacts(env.topology, (e) => conns.get(e), 'estimated');
      expect(est.sizes).toBe('estimated');
      const rowsOf = (x: typeof exact) => x.shards.flatMap((s) => s.users.map((u) => `${s.id}:${u.userId}:${u.rows}`)).sort();
      expect(rowsOf(est), 'the index count is the exact row count').toEqual(rowsOf(exact));
      const bytes = (x: typeof exact) => x.shards.reduce((n, s) => n + s.users.reduce((m, u) => m + u.bytes, 0n), 0n);
      expect(bytes(est)).toBeGreaterThan(0n);
      // The sandbox's FlickrPhotos and FlickrContacts have no user_id index: said, with the fix.
      expect(est.notes.join('\n')).toMatch(
        /FlickrContacts has no index starting with user_id: its rows are counted by reading the whole table \(ALTER TABLE FlickrContacts ADD INDEX \(user_id\)\)/,
      );
      expect(exact.notes).toEqual([]);
    } finally {
      await conns.closeAll();
    }
    const plain = await env.run(['plan', '--balance', '--json']);
    expect(plain.code, plain.stderr).toBe(0);
    const doc = lastJson(plain.stdout);
    expect(doc.sizes).toBe('estimated');
    expect((doc.notes as string[]).join('\n')).toMatch(/no index starting with user_id/);
    const full = await env.run(['plan', '--balance', '--exact']);
    expect(full.code, full.stderr).toBe(0);
    expect(full.stdout).toMatch(/sizes: exact \(every row of every sharded table read\)/);
  });
});

describe('fw-shard apply', () => {
  it('runs moves several at once, never a shard in two moves at once, and lands every user on its planned shard', async () => {
    const env = f.env;
    const plan = await makePlan(env, { mode: 'drain', by: 'bytes', from: [1, 3], to: [2, 4] });
    expect(plan.moves).toHaveLength(8);
    const r = await apply(env, plan, {
      concurrency: 3,
      perShard: 1,
      request: { assumeNoWrites: true, chunkTimeMs: 500, concurrency: 2, cleanup: 'now', ...slow },
    });
    expect(r.summary.exitCode).toBe(0);
    expect(r.summary.counts.done).toBe(8);
    for (const m of plan.moves) expect(env.shardOf(m.userId)).toBe(m.to);

    // Per shard, the journal's [created, finished] intervals of its moves never overlap.
    const rows = env
      .sql(
        'main',
        'flamework',
        "SELECT from_shard, to_shard, DATE_FORMAT(created_at, '%Y-%m-%d %H:%i:%s.%f'), DATE_FORMAT(finished_at, '%Y-%m-%d %H:%i:%s.%f') FROM fw_shard_moves WHERE state = 'done'",
      )
      .split('\n')
      .filter(Boolean)
      .map((l) => l.split('\t'));
    expect(rows).toHaveLength(8);
    for (const shard of ['1', '2', '3', '4']) {
      const spans = rows
        .filter((x) => x[0] === shard || x[1] === shard)
        .map((x) => [x[2]!, x[3]!] as const)
        .sort((a, b) => a[0].localeCompare(b[0]));
      for (let i = 1; i < spans.length; i++) expect(spans[i]![0] > spans[i - 1]![1], `shard ${shard}: ${JSON.stringify(spans)}`).toBe(true);
    }
    // ...while two moves on disjoint shards did run at the same time.
    let running = 0;
    let most = 0;
    for (const e of r.fleet) {
      if (e.type === 'fleet.move.started') most = Math.max(most, ++running);
      if (e.type === 'fleet.move.finished' && e.ms > 0) running--;
    }
    expect(most).toBe(2);
  });

  it('re-running the same plan skips every move as done and writes nothing', async () => {
    const env = f.env;
    const before = journalCount(env);
    const plan = planOf(
      env
        .usersOn(2)
        .slice(0, 3)
        .map((u) => ({ userId: u, from: 1, to: 2 })),
    );
    const r = await apply(env, plan, { concurrency: 2 });
    expect(r.summary.outcomes.map((o) => o.outcome)).toEqual(['skipped-done', 'skipped-done', 'skipped-done']);
    expect(r.summary.exitCode).toBe(0);
    expect(journalCount(env)).toBe(before);
  });

  it('two appliers (two processes) share one plan: every move is done exactly once', async () => {
    const env = f.env;
    const plan = await makePlan(env, { mode: 'drain', by: 'bytes', from: [2, 4], to: [1, 3] });
    expect(plan.moves.length).toBe(16);
    const file = join(env.dir, 'shared-plan.json');
    writeFileSync(file, JSON.stringify(plan));
    const before = movesPerUser(env);
    const args = [
      'apply',
      file,
      '--json',
      '--assume-no-writes',
      '--concurrency',
      '2',
      '--per-shard',
      '1',
      '--chunk-size',
      '8',
      '--sleep-between-chunks',
      '40ms',
    ];
    const [a, b] = await Promise.all([env.run(args), env.run(args)]);
    expect(a.code, a.stderr).toBe(0);
    expect(b.code, b.stderr).toBe(0);
    const sa = lastJson(a.stdout) as { outcomes: { userId: string; outcome: string }[] };
    const sb = lastJson(b.stdout) as { outcomes: { userId: string; outcome: string }[] };
    const doneBy = new Map<string, number>();
    for (const o of [...sa.outcomes, ...sb.outcomes])
      if (o.outcome === 'done' || o.outcome === 'resumed') doneBy.set(o.userId, (doneBy.get(o.userId) ?? 0) + 1);
    expect(doneBy.size).toBe(16);
    expect([...doneBy.values()].every((n) => n === 1)).toBe(true);
    const after = movesPerUser(env);
    for (const m of plan.moves) {
      expect(env.shardOf(m.userId)).toBe(m.to);
      expect((after.get(m.userId) ?? 0) - (before.get(m.userId) ?? 0), `user ${m.userId}`).toBe(1);
    }
    expect(env.sql('main', 'flamework', "SELECT COUNT(*) FROM fw_shard_moves WHERE state <> 'done'").trim()).toBe('0');
  });

  it('a runner killed mid-move leaves it resumable: the next apply resumes it and finishes the plan', async () => {
    const env = f.env;
    const plan = await makePlan(env, { mode: 'balance', by: 'users', thresholdPct: 0 });
    expect(plan.moves.length).toBeGreaterThanOrEqual(4);
    const file = join(env.dir, 'kill-plan.json');
    writeFileSync(file, JSON.stringify(plan));
    const killed = await env.run(['apply', file, '--events', '--assume-no-writes', '--chunk-size', '5', '--sleep-between-chunks', '100ms'], {
      onEvent: (e) => e.type === 'chunk.copied',
    });
    expect(killed.signal).toBe('SIGKILL');
    const active = env.sql('main', 'flamework', "SELECT user_id, phase FROM fw_shard_moves WHERE state = 'active'").trim().split('\t');
    expect(active[1]).toBe('copy');
    const r = await apply(env, plan, { concurrency: 2 });
    expect(r.summary.exitCode).toBe(0);
    expect(r.summary.outcomes.find((o) => o.userId === active[0])!.outcome).toBe('resumed');
    for (const m of plan.moves) expect(env.shardOf(m.userId)).toBe(m.to);
    const v = await env.run(['verify', '--json']);
    expect(v.code, v.stdout).toBe(0);
  });

  it('throttles on a pause file: nothing starts while it exists, a running move waits between chunks, and both say why', async () => {
    const env = f.env;
    const pause = join(env.dir, 'pause');
    const [u1, u2] = env.usersOn(2);
    // Before a move: the pause file holds it; nothing is written.
    writeFileSync(pause, '');
    let throttledSeen!: () => void;
    const seen = new Promise<void>((r) => (throttledSeen = r));
    const run = apply(
      env,
      planOf([{ userId: u1!, from: 2, to: 3 }]),
      {},
      { throttle: { pauseFile: pause }, onFleet: (e) => e.type === 'fleet.throttled' && throttledSeen() },
    );
    await seen;
    await new Promise((r) => setTimeout(r, 1200));
    const activeMoves = env.sql('main', 'flamework', `SELECT COUNT(*) FROM fw_shard_moves WHERE user_id = ${u1} AND state = 'active'`).trim();
    const placedWhileThrottled = env.shardOf(u1!);
    rmSync(pause);
    const r1 = await run;
    expect(activeMoves).toBe('0');
    expect(placedWhileThrottled).toBe(2);
    expect(r1.summary.outcomes[0]!.outcome).toBe('done');
    expect(env.shardOf(u1!)).toBe(3);
    const t = r1.fleet.find((e) => e.type === 'fleet.throttled') as Extract<FleetEvent, { type: 'fleet.throttled' }>;
    expect(t.reason).toBe(`pause file ${pause} exists (remove it to continue)`);
    const resumed = r1.fleet.find((e) => e.type === 'fleet.resumed') as Extract<FleetEvent, { type: 'fleet.resumed' }>;
    expect(resumed.throttledMs).toBeGreaterThanOrEqual(1000);

    // Between chunks: the file appears after the first chunk; the move waits, then goes on.
    let chunkSeen!: () => void;
    const chunked = new Promise<void>((r) => (chunkSeen = r));
    let armed = true;
    const run2 = apply(
      env,
      planOf([{ userId: u2!, from: 2, to: 3 }]),
      { request: { assumeNoWrites: true, chunkTimeMs: 500, concurrency: 1, cleanup: 'now', chunkSize: 5 } },
      {
        throttle: { pauseFile: pause },
        onMove: (_m, e) => {
          if (e.type === 'chunk.copied' && armed) {
            armed = false;
            writeFileSync(pause, '');
            chunkSeen();
          }
          if (e.type === 'throttled') chunkSeen();
        },
      },
    );
    await chunked;
    await new Promise((r) => setTimeout(r, 300));
    const copied = () =>
      env
        .sql(
          'main',
          'flamework',
          `SELECT SUM(t.rows_copied) FROM fw_shard_move_tables t JOIN fw_shard_moves m ON m.id = t.move_id WHERE m.user_id = ${u2} AND m.state = 'active'`,
        )
        .trim();
    const c1 = copied();
    await new Promise((r) => setTimeout(r, 1200));
    const c2 = copied();
    rmSync(pause);
    const r2 = await run2;
    expect(c2).toBe(c1);
    expect(r2.summary.outcomes[0]!.outcome).toBe('done');
    const th = r2.moves.map((x) => x.e).find((e) => e.type === 'throttled') as Extract<MoveEvent, { type: 'throttled' }>;
    expect(th.reason).toMatch(/pause file .* exists/);
    expect(th.moveId).toMatch(/^[0-9]+$/);
    expect(r2.moves.some((x) => x.e.type === 'resumed')).toBe(true);
    expect(env.shardOf(u2!)).toBe(3);
  });

  it('--until starts nothing after its time; the stop file stops starting moves', async () => {
    const env = f.env;
    const users = env.usersOn(3).slice(0, 3);
    const plan = planOf(users.map((u) => ({ userId: u, from: 3, to: 4 })));
    const late = await apply(env, plan, { until: new Date(Date.now() - 1000) });
    expect(late.summary.outcomes.map((o) => o.outcome)).toEqual(['not-started', 'not-started', 'not-started']);
    expect(late.summary.stoppedBecause).toBe('until');
    expect(late.summary.exitCode).toBe(0);

    const stop = join(env.dir, 'stop');
    const stopped = await apply(env, plan, { stopFile: stop }, { onFleet: (e) => e.type === 'fleet.move.finished' && writeFileSync(stop, '') });
    rmSync(stop, { force: true });
    expect(stopped.summary.outcomes.map((o) => o.outcome)).toEqual(['done', 'not-started', 'not-started']);
    expect(stopped.summary.stoppedBecause).toBe('stop-file');
    expect(stopped.summary.exitCode).toBe(0);
  });

  it('one failed move does not stop the others (exit 9); when every move fails, the exit is its own code', async () => {
    const env = f.env;
    const [bad, good] = env.usersOn(3);
    // A row on the target with one of the bad user's ids, owned by someone else: a key collision.
    const dot = env.sql('shard3', 'users3', `SELECT id FROM Dots WHERE user_id = ${bad} LIMIT 1`).trim();
    env.sql('shard1', 'users1', `INSERT INTO Dots (id, sheet_id, user_id, created, perms, details_json, index_on) VALUES (${dot}, 0, 777777, 0, 0, NULL, '')`);
    try {
      const r = await apply(
        env,
        planOf([
          { userId: bad!, from: 3, to: 1 },
          { userId: good!, from: 3, to: 1 },
        ]),
        { concurrency: 2, perShard: 2 },
      );
      expect(r.summary.outcomes.map((o) => [o.outcome, o.code ?? null])).toEqual([
        ['failed', 'KEY_COLLISION'],
        ['done', null],
      ]);
      expect(r.summary.exitCode).toBe(9);
      const all = await apply(env, planOf([{ userId: bad!, from: 3, to: 1 }]));
      expect(all.summary.exitCode).toBe(5);
      expect(env.shardOf(bad!)).toBe(3);
    } finally {
      env.sql('shard1', 'users1', `DELETE FROM Dots WHERE user_id = 777777`);
    }
  });
});

describe('fw-shard verify and cleanup --orphans', () => {
  it("finds planted orphans; cleanup deletes only rows identical on the user's shard and lists the rest", async () => {
    const env = f.env;
    const clean = await env.run(['verify']);
    expect(clean.code, clean.stdout + clean.stderr).toBe(0);
    // Leftovers: a move that keeps its source rows, then one of them changed, one row the current shard
    // does not have, and a row of a user that does not exist.
    const user = env.usersOn(1)[0]!;
    const mv = await env.run(['move', '--user', user, '--to', '2', '--yes', '--assume-no-writes', '--cleanup', 'keep', '--json']);
    expect(mv.code, mv.stderr).toBe(0);
    const total = Number(
      env
        .sql(
          'shard1',
          'users1',
          `SELECT (SELECT COUNT(*) FROM Dots WHERE user_id = ${user}) + (SELECT COUNT(*) FROM Sheets WHERE user_id = ${user}) + (SELECT COUNT(*) FROM FlickrPhotos WHERE user_id = ${user}) + (SELECT COUNT(*) FROM FlickrFaves WHERE user_id = ${user}) + (SELECT COUNT(*) FROM FlickrContacts WHERE user_id = ${user})`,
        )
        .trim(),
    );
    env.sql('shard1', 'users1', `UPDATE Dots SET perms = 99 WHERE user_id = ${user} ORDER BY id LIMIT 1`);
    env.sql(
      'shard1',
      'users1',
      `INSERT INTO Dots (id, sheet_id, user_id, created, perms, details_json, index_on) VALUES (5, 0, ${user}, 0, 0, 'only here', '')`,
    );
    env.sql('shard4', 'users4', `INSERT INTO Sheets (id, user_id, created, label, mime_type) VALUES (4000000001, 999999, 0, 'nobody', NULL)`);

    const v = await env.run(['verify', '--json']);
    expect(v.code).toBe(8);
    const report = lastJson(v.stdout) as {
      orphans: { shard: number; table: string; userId: string; rows: string; kind: string; currentShard: number | null }[];
    };
    expect(report.orphans.filter((g) => g.userId === user).reduce((a, g) => a + Number(g.rows), 0)).toBe(total + 1);
    expect(report.orphans.every((g) => (g.userId === user ? g.shard === 1 && g.currentShard === 2 && g.kind === 'elsewhere' : g.kind === 'no-user'))).toBe(
      true,
    );
    expect(report.orphans.find((g) => g.userId === '999999')).toMatchObject({ shard: 4, table: 'Sheets', rows: '1' });
    const byShard = await env.run(['verify', '--shard', '2']);
    expect(byShard.code).toBe(8);
    expect(byShard.stdout).toMatch(new RegExp(`\\b${user}\\b`));
    expect(byShard.stdout).not.toMatch(/999999/);

    const dry = await env.run(['cleanup', '--orphans', '--dry-run', '--json']);
    expect(dry.code).toBe(8);
    const d = lastJson(dry.stdout) as { deleted: string; kept: string };
    expect(d).toMatchObject({ deleted: String(total - 1), kept: '3' });
    expect(Number(env.sql('shard1', 'users1', `SELECT COUNT(*) FROM Dots WHERE user_id = ${user}`).trim())).toBeGreaterThan(1);

    const real = await env.run(['cleanup', '--orphans']);
    expect(real.code).toBe(8);
    expect(real.stdout).toMatch(/id=5: not on shard 2, kept/);
    expect(real.stdout).toMatch(/differs from the row on shard 2, kept/);
    expect(real.stdout).toMatch(/user 999999 does not exist/);
    expect(env.sql('shard1', 'users1', `SELECT id, perms FROM Dots WHERE user_id = ${user} ORDER BY id`).trim().split('\n')).toEqual([
      '5\t0',
      expect.stringMatching(/\t99$/),
    ]);
    for (const t of ['Sheets', 'FlickrPhotos', 'FlickrFaves', 'FlickrContacts'])
      expect(env.sql('shard1', 'users1', `SELECT COUNT(*) FROM ${t} WHERE user_id = ${user}`).trim()).toBe('0');
    // The user's live rows were not touched.
    expect(Number(env.sql('shard2', 'users2', `SELECT COUNT(*) FROM Dots WHERE user_id = ${user}`).trim())).toBeGreaterThan(1);
    const after = await env.run(['verify', '--json']);
    expect((lastJson(after.stdout) as { totals: { rows: string } }).totals.rows).toBe('3');
    env.sql('shard1', 'users1', `DELETE FROM Dots WHERE user_id = ${user}`);
    env.sql('shard4', 'users4', 'DELETE FROM Sheets WHERE user_id = 999999');
  });
});

describe('--metrics-file (issue 23)', () => {
  it('a move writes its metrics for the textfile collector; a failing run keeps the last success time', async () => {
    const env = f.env;
    const file = join(env.dir, 'fw-shard.prom');
    const user = env.usersOn(1)[0]!;
    const moved = await env.run(['move', '--user', user, '--to', '2', '--yes', '--assume-no-writes', '--metrics-file', file]);
    expect(moved.code, moved.stderr).toBe(0);
    const first = readFileSync(file, 'utf8');
    expect(first).toMatch(/^fw_shard_last_run_exit_code\{command="move"\} 0$/m);
    expect(first).toMatch(/^fw_shard_moves\{command="move",result="done"\} 1$/m);
    expect(Number(/^fw_shard_rows_copied\{command="move"\} (\d+)$/m.exec(first)?.[1])).toBeGreaterThan(0);
    expect(Number(/^fw_shard_rows_deleted\{command="move"\} (\d+)$/m.exec(first)?.[1])).toBeGreaterThan(0);
    expect(Number(/^fw_shard_bytes_copied\{command="move"\} (\d+)$/m.exec(first)?.[1])).toBeGreaterThan(0);
    const success = /^fw_shard_last_success_timestamp_seconds\{command="move"\} (\S+)$/m.exec(first)?.[1];
    expect(success).toBeDefined();
    // Moving it to a shard that does not exist fails (exit 2): the file says so, and keeps the success time.
    const bad = await env.run(['move', '--user', user, '--to', '99', '--yes', '--metrics-file', file]);
    expect(bad.code).toBe(2);
    const second = readFileSync(file, 'utf8');
    expect(second).toMatch(/^fw_shard_last_run_exit_code\{command="move"\} 2$/m);
    expect(second).toContain(`fw_shard_last_success_timestamp_seconds{command="move"} ${success}`);
    // The user back where it was.
    const back = await env.run(['move', '--user', user, '--to', '1', '--yes', '--assume-no-writes']);
    expect(back.code, back.stderr).toBe(0);
    rmSync(file);
  });
});

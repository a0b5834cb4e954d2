#!/usr/bin/env node
// Issue 22, "steady state costs nothing": what fw-shard's trigger mode costs ANOTHER user's single-row
// writes on the source and the target shard, before, during and after a move. Not part of `npm test`.
// Two real mariadbd processes (bench/lib.mjs); writes bench/results-footprint.json and its own section
// of bench/FENCE.md (the rest of that file is bench/fence.mjs's).
//
//   node bench/footprint.mjs                          # 1M-row user, 3000 samples a phase (~5 min)
//   node bench/footprint.mjs --big 200000 --samples 2000 --rate 200
//
// One loop, the same in every phase, paced at --rate iterations/s, one connection per shard (mysql2,
// text protocol, as an app's driver): INSERT of a new row of another user on the source, UPDATE of that
// row, then the same on the target. Each statement is timed on its own. Phases:
//   1. before any move: no fw-shard object on either shard;
//   2. during a trigger-mode online move of user 1 (--big rows) from shard 1 (server A) to shard 2
//      (server B), default --cleanup now: samples from the copy phase's start (the capture is installed
//      first thing) to the flip are "capture on"; from the flip to the move's exit the move deletes the
//      user's source rows (the target's objects are dropped before that);
//   3. after the move, during the retention: the source keeps its triggers, tables and the `moved` fence;
//   4. after `fw-shard cleanup --fence-retention 0s`: nothing of fw-shard's on any shard (asserted).
// The servers are settled (purge, flush) before phases 1, 3 and 4. No writer of the moved user runs.
import { readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { cpus, tmpdir, loadavg } from 'node:os';
import { join } from 'node:path';
import mysql from 'mysql2/promise';
import * as L from './lib.mjs';

const args = process.argv.slice(2);
const opt = (name, def) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : def;
};
const BIG = Number(opt('big', '1000000'));
const MOVES = Number(opt('moves', '2'));
const OTHERS = Number(opt('others', '200000'));
const SAMPLES = Number(opt('samples', '3000'));
const WARM = Number(opt('warm', '300'));
const RATE = Number(opt('rate', '200'));

/** Another user on each shard: 150 lives on shard 1 (lib's other users), 2150 on shard 2 (added here). */
const SRC_USER = 150;
const TARGET_USER_BASE = 2000;
const DST_USER = 2150;
/** The measured rows' ids: far from the data's and the ticket server's. */
let nextId = 8_000_000_000_000_000_000n;

const SECTION = "## Footprint: another user's writes before, during, after a move";
const SHARD_SCHEMAS = { a: ['users1', 'small', 'big'], b: ['users2'] };

// --report-only: write the FENCE.md section again from bench/results-footprint.json (no servers).
if (args.includes('--report-only')) {
  writeSection(report(JSON.parse(readFileSync(join(L.root, 'bench', 'results-footprint.json'), 'utf8'))));
  process.exit(0);
}

L.ensureBuilt();
const load0 = loadavg();
const work = join(tmpdir(), `fws-footprint-${process.pid}`);
rmSync(work, { recursive: true, force: true });
let servers = null;
let stopping = null;
const stopAll = () =>
  (stopping ??= (async () => {
    if (servers) await Promise.allSettled([servers.a.stop(), servers.b.stop()]);
    rmSync(work, { recursive: true, force: true });
  })());
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => {
    L.log(`${sig}: stopping the servers`);
    stopAll().finally(() => process.exit(130));
  });
}

const result = {
  date: new Date().toISOString(),
  machine: { cpus: cpus().length, loadavgAtStart: load0 },
  settings: { argv: args, bigUserRows: BIG, moves: MOVES, othersPerShard: OTHERS, samplesPerPhase: SAMPLES, warmup: WARM, ratePerSecond: RATE },
  phases: [],
  moves: [],
  cleanups: [],
  assertions: [],
};
const conns = [];

try {
  servers = await L.startServers(work);
  const { a, b } = servers;
  const config = L.writeConfig(work, a, b);
  const users = L.makeUsers({ main: BIG, sizes: Array(MOVES - 1).fill(BIG), scaling: null });
  L.log(`building: ${MOVES} users of ${BIG} rows among ${OTHERS} rows of others on shard 1; ${OTHERS} rows of others on shard 2`);
  await L.createSchema(a, b, users);
  await L.sqlAsync(a.port, 'flamework', `INSERT INTO users SELECT ${TARGET_USER_BASE} + seq, CONCAT('other2-', seq), 2 FROM seq_0_to_${L.OTHER_USERS - 1}`);
  for (const u of users) await L.fillPristine(a, u, OTHERS);
  await L.fillOthers(a, 'users1', OTHERS);
  await L.fillOthers(b, 'users2', OTHERS, { userBase: TARGET_USER_BASE });
  for (const u of users) await L.restoreUser(a, u);

  const src = await mysql.createConnection({ host: '127.0.0.1', port: a.port, user: 'root', database: 'users1' });
  const dst = await mysql.createConnection({ host: '127.0.0.1', port: b.port, user: 'root', database: 'users2' });
  const srcPoll = await mysql.createConnection({ host: '127.0.0.1', port: a.port, user: 'root' });
  const dstPoll = await mysql.createConnection({ host: '127.0.0.1', port: b.port, user: 'root' });
  conns.push(src, dst, srcPoll, dstPoll);

  // ---- 1. before any move ------------------------------------------------------------------------
  let objects = await fwShardObjects(a, b);
  expect('before: no fw-shard object on any shard', isEmpty(objects.source) && isEmpty(objects.target), objects);
  await L.settle([a, b]);
  await sample(src, dst, { count: WARM });
  pushPhase('1 before any move', objects, await sample(src, dst, { count: SAMPLES }));

  // ---- 2. during the move ------------------------------------------------------------------------
  // MOVES users of BIG rows, moved one after the other, each from a clean state (the one before is
  // tidied with `fw-shard cleanup --fence-retention 0s`): their samples are pooled.
  const during = [];
  const afterFlip = [];
  const polls = [];
  for (const [k, u] of users.entries()) {
    if (k > 0) {
      await tidy(config);
      objects = await fwShardObjects(a, b);
      expect(`before move ${k + 1}: nothing of fw-shard on any shard`, isEmpty(objects.source) && isEmpty(objects.target), objects);
    }
    await L.settle([a, b]);
    await sample(src, dst, { count: WARM });
    const r = await oneMove(config, u, src, dst, srcPoll, dstPoll);
    result.moves.push(r.record);
    during.push(...r.during);
    afterFlip.push(...r.afterFlip);
    polls.push(...r.polls);
  }
  const seen = (side, sel) => {
    const v = [...new Set(polls.filter((x) => x[sel]).map((x) => x[side]))];
    return { note: `${v.length ? v.join(' / ') : '?'} triggers seen (polled each second)`, polled: v };
  };
  pushPhase(
    '2 during the move (preflight, trigger install, copy, delta passes, freeze, flip)',
    { source: seen('source', 'during'), target: seen('target', 'during') },
    during,
  );
  pushPhase('2b after the flip, the move deleting the source rows', { source: seen('source', 'afterFlip'), target: seen('target', 'afterFlip') }, afterFlip);
  const lastUser = users.at(-1);

  // ---- 3. after the move, during the retention -----------------------------------------------------
  objects = await fwShardObjects(a, b);
  const perShard = 3 * L.TABLES.length;
  expect(
    `retention: the source keeps ${perShard} triggers, fw_shard_fence, fw_shard_changes and a moved fence`,
    objects.source.triggers === perShard &&
      ['fw_shard_changes', 'fw_shard_fence'].every((t) => objects.source.tables.includes(t)) &&
      objects.source.fences.some((f) => f.state === 'moved' && f.user_id === String(lastUser.id)),
    objects.source,
  );
  expect('after the flip: nothing of fw-shard on the target', isEmpty(objects.target), objects.target);
  await L.settle([a, b]);
  await sample(src, dst, { count: WARM });
  pushPhase('3 after the move, in the retention', objects, await sample(src, dst, { count: SAMPLES }));

  // ---- 4. after fw-shard cleanup --fence-retention 0s -------------------------------------------
  await tidy(config);
  objects = await fwShardObjects(a, b);
  expect('after cleanup --fence-retention 0s: nothing of fw-shard on any shard', isEmpty(objects.source) && isEmpty(objects.target), objects);
  await L.settle([a, b]);
  await sample(src, dst, { count: WARM });
  pushPhase('4 after cleanup --fence-retention 0s', objects, await sample(src, dst, { count: SAMPLES }));
  result.mainJournal = objects.main;
} finally {
  await Promise.allSettled(conns.map((c) => c.end()));
  await stopAll();
  result.machine.loadavgAtEnd = loadavg();
  writeFileSync(join(L.root, 'bench', 'results-footprint.json'), JSON.stringify(result, null, 2) + '\n');
  if (result.phases.length > 0) writeSection(report(result));
}
const failed = result.assertions.filter((x) => !x.ok);
if (failed.length > 0) {
  L.log(`FAILED: ${failed.map((x) => x.what).join('; ')}`);
  process.exitCode = 1;
}

// ---------------------------------------------------------------------------------------------------

/** `fw-shard cleanup --fence-retention 0s`: its JSON into the result. */
async function tidy(config) {
  const out = await L.runFwShard(config, ['cleanup', '--fence-retention', '0s', '--json']);
  try {
    result.cleanups.push(JSON.parse(out));
  } catch {
    result.cleanups.push({ stdout: out.slice(-4000) });
  }
}

/**
 * One trigger-mode online move of `u` to shard 2 (default --cleanup now) while the loop runs; the
 * samples from the move's first event to the flip, and from the flip to its exit.
 */
async function oneMove(config, u, src, dst, srcPoll, dstPoll) {
  let moveDone = false;
  const sampling = sample(src, dst, { until: () => moveDone });
  sampling.catch(() => undefined); // awaited below; a failure is not an unhandled rejection meanwhile
  // What exists while the move runs: fw-shard's triggers on each server, once a second (one query each).
  const polls = [];
  const polling = (async () => {
    const count = `SELECT COUNT(*) AS n FROM information_schema.TRIGGERS WHERE TRIGGER_NAME LIKE 'fw\\_shard\\_%'`;
    while (!moveDone) {
      const t = Date.now();
      const [[[s]], [[d]]] = await Promise.all([srcPoll.query(count), dstPoll.query(count)]);
      polls.push({ at: t, source: Number(s.n), target: Number(d.n) });
      await L.sleep(1000);
    }
  })().catch((err) => L.log(`trigger poll stopped: ${err.message}`));
  await L.sleep(500);
  L.log(`moving user ${u.id} (${u.rows} rows) shard 1 -> 2, --capture trigger`);
  const move = await L.fwShardMove(config, u.id, { work, online: true, extraArgs: ['--capture', 'trigger'] }).finally(() => (moveDone = true));
  const moveEnd = Date.now();
  const samples = await sampling;
  await polling;
  const at = (e) => Date.parse(e.at);
  const first = move.events.find((e) => e.at);
  const flipped = move.events.find((e) => e.type === 'mapping.flipped');
  const record = {
    user: u.id,
    rows: u.rows,
    code: move.code,
    error: move.doc.error?.message?.split('\n')[0] ?? null,
    wallMs: Math.round(move.wallMs),
    timings: move.doc.timings ?? null,
    freezeMs: move.doc.freezeMs ?? null,
    toFlipMs: first && flipped ? at(flipped) - at(first) : null,
    afterFlipMs: flipped ? moveEnd - at(flipped) : null,
    warnings: move.events.filter((e) => e.type === 'warning').map((e) => e.message),
    timeline: move.events
      .filter((e) => ['phase.started', 'mapping.flipped', 'freeze.started', 'freeze.lifted', 'move.finished', 'warning'].includes(e.type))
      .map((e) => ({ at: e.at, type: e.type, ...(e.phase ? { phase: e.phase } : {}), ...(e.message ? { message: e.message } : {}) })),
    triggerPolls: polls,
  };
  L.log(`move of user ${u.id}: exit ${move.code}, ${record.wallMs} ms (to the flip ${record.toFlipMs} ms, flip to exit ${record.afterFlipMs} ms)`);
  if (move.code !== 0 || !first || !flipped) {
    result.moves.push(record);
    throw new Error(`the move failed (exit ${move.code}): ${record.error ?? 'no flip event'}`);
  }
  const during = samples.filter((s) => s.at >= at(first) && s.at < at(flipped));
  const afterFlip = samples.filter((s) => s.at >= at(flipped));
  for (const x of polls) {
    x.during = x.at >= at(first) && x.at < at(flipped);
    x.afterFlip = x.at >= at(flipped);
  }
  record.during = { samples: during.length, ...summarize(during) };
  record.afterFlip = { samples: afterFlip.length, ...summarize(afterFlip) };
  return { record, during, afterFlip, polls };
}

function insertSql(id, user) {
  return `INSERT INTO Dots (id, sheet_id, user_id, created, perms, details_json, index_on) VALUES (${id}, 1, ${user}, UNIX_TIMESTAMP(), 1, '{"note":"footprint"}', 'x')`;
}

async function timed(conn, statement, errors) {
  const t0 = performance.now();
  try {
    await conn.query(statement);
  } catch (err) {
    errors.push(`${err.errno ?? ''} ${err.message}`);
    return NaN;
  }
  return performance.now() - t0;
}

/**
 * The loop: at most `rate` iterations a second (no catch-up burst after a slow one), each an INSERT and
 * an UPDATE of another user on the source, then on the target. `count` iterations, or until `until()`.
 */
async function sample(src, dst, { count, until }) {
  const out = [];
  const interval = 1000 / RATE;
  let next = performance.now();
  while (count !== undefined ? out.length < count : !until()) {
    next += interval;
    const wait = next - performance.now();
    if (wait > 0) await L.sleep(wait);
    else if (wait < -interval) next = performance.now();
    const s = { at: performance.timeOrigin + performance.now(), errors: [] };
    const id = nextId++;
    s.si = await timed(src, insertSql(id, SRC_USER), s.errors);
    s.su = await timed(src, `UPDATE Dots SET perms = perms + 1 WHERE id = ${id}`, s.errors);
    s.ti = await timed(dst, insertSql(id, DST_USER), s.errors);
    s.tu = await timed(dst, `UPDATE Dots SET perms = perms + 1 WHERE id = ${id}`, s.errors);
    out.push(s);
  }
  return out;
}

function quantiles(xs) {
  const v = xs.filter((x) => Number.isFinite(x)).sort((p, q) => p - q);
  if (v.length === 0) return { n: 0, p50: null, p99: null, max: null, mean: null };
  const q = (p) => L.round(v[Math.max(0, Math.ceil(p * v.length) - 1)], 3);
  return { n: v.length, p50: q(0.5), p90: q(0.9), p99: q(0.99), max: L.round(v.at(-1), 3), mean: L.round(v.reduce((s, x) => s + x, 0) / v.length, 3) };
}

function summarize(samples) {
  return {
    source: { insert: quantiles(samples.map((s) => s.si)), update: quantiles(samples.map((s) => s.su)) },
    target: { insert: quantiles(samples.map((s) => s.ti)), update: quantiles(samples.map((s) => s.tu)) },
  };
}

function pushPhase(name, objects, samples) {
  const errors = samples.flatMap((s) => s.errors);
  const p = {
    phase: name,
    loadavg: loadavg(),
    // the time sampled (pooled windows: their gaps not counted)
    seconds: L.round(samples.reduce((t, x, i) => t + (i > 0 && x.at - samples[i - 1].at < 1000 ? x.at - samples[i - 1].at : 0), 0) / 1000, 1),
    objects,
    ...summarize(samples),
    errors: errors.length,
    firstErrors: [...new Set(errors)].slice(0, 5),
  };
  result.phases.push(p);
  const f = (x) => `${x.p50}/${x.p99}`;
  L.log(
    `${name}: ${samples.length} samples in ${p.seconds} s, source INSERT ${f(p.source.insert)} UPDATE ${f(p.source.update)}, target INSERT ${f(p.target.insert)} UPDATE ${f(p.target.update)} ms (p50/p99), ${p.errors} errors, load ${p.loadavg.map((x) => x.toFixed(2)).join(' ')}`,
  );
}

function expect(what, ok, detail) {
  result.assertions.push({ what, ok, detail });
  L.log(`${ok ? 'ok' : 'UNEXPECTED'}: ${what}: ${JSON.stringify(detail)}`);
}

/** fw-shard's objects per server, from information_schema (and the fences, where the table exists). */
async function fwShardObjects(a, b) {
  const one = async (server, schemas) => {
    const inList = schemas.map((s) => `'${s}'`).join(', ');
    const trig = await L.rowsOf(
      server.port,
      null,
      `SELECT TRIGGER_SCHEMA, EVENT_OBJECT_TABLE, TRIGGER_NAME FROM information_schema.TRIGGERS WHERE TRIGGER_NAME LIKE 'fw\\_shard\\_%' ORDER BY 1, 2, 3`,
    );
    const tabs = await L.rowsOf(
      server.port,
      null,
      `SELECT TABLE_SCHEMA, TABLE_NAME FROM information_schema.TABLES WHERE TABLE_NAME LIKE 'fw\\_shard\\_%' AND TABLE_SCHEMA IN (${inList}) ORDER BY 1, 2`,
    );
    const fences = [];
    for (const [schema, table] of tabs) {
      if (table !== 'fw_shard_fence') continue;
      for (const [user_id, state, move_id] of await L.rowsOf(server.port, schema, 'SELECT user_id, state, move_id FROM fw_shard_fence'))
        fences.push({ schema, user_id, state, move_id });
    }
    return {
      triggers: trig.length,
      triggerNames: trig.map(([s, t, n]) => `${s}.${t}.${n}`),
      tables: tabs.map(([, t]) => t),
      tablesQualified: tabs.map(([s, t]) => `${s}.${t}`),
      fences,
    };
  };
  const main = await L.rowsOf(
    a.port,
    null,
    `SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = 'flamework' AND TABLE_NAME LIKE 'fw\\_shard\\_%' ORDER BY 1`,
  );
  return { source: await one(a, SHARD_SCHEMAS.a), target: await one(b, SHARD_SCHEMAS.b), main: main.map(([t]) => t) };
}

function isEmpty(o) {
  return o.triggers === 0 && o.tables.length === 0;
}

function showObjects(o) {
  if (!o) return '-';
  if (o.note) return o.note;
  if (isEmpty(o)) return 'none (0 triggers, 0 tables)';
  const fences = o.fences.map((f) => `${f.state} fence of user ${f.user_id}`).join(', ');
  return `${o.triggers} triggers, ${o.tables.join(' + ')}${fences ? `, ${fences}` : ''}`;
}

/** What each phase is, for its reading. */
function meaning() {
  return {
    1: { source: 'the baseline', target: 'the baseline' },
    2: {
      source: 'the move running: its copy reads and the trigger DDL share the 2 cores and the disk with the app, on top of the triggers',
      target: 'the move running: its copy writes here, on top of the triggers',
    },
    '2b': {
      source: 'the move deleting the moved rows here (triggers and the moved fence still on)',
      target: 'triggers already dropped; the load is the move deleting on the source server',
    },
    3: { source: 'the retention: triggers and the moved fence, no move running', target: 'nothing of fw-shard left after the flip' },
    4: { source: 'nothing of fw-shard left', target: 'nothing of fw-shard left' },
  };
}

/**
 * The source's p50 less the target's in the same phase, against the same in phase 1: the target is the
 * control of phases 1, 3 and 4 (no fw-shard object there), so a drift both servers share cancels out.
 */
function control(p, base) {
  const diff = (q, k) => q.source[k].p50 - q.target[k].p50;
  const f = (v) => `${v >= 0 ? '+' : ''}${v.toFixed(3)}`;
  const ins = diff(p, 'insert') - diff(base, 'insert');
  const upd = diff(p, 'update') - diff(base, 'update');
  return `source − target p50 moved by ${f(ins)} / ${f(upd)} ms since before`;
}

function reading(p, side, base) {
  const x = p[side];
  const b = base[side];
  const key = p.phase.split(' ')[0];
  const what = meaning()[key]?.[side] ?? '';
  if (x.insert.n === 0) return `${what}: no samples`;
  if (p === base) return `${what}${p.errors ? `; ${p.errors} errors` : ''}`;
  const d = (k, q) => {
    const v = x[k][q] - b[k][q];
    return `${v >= 0 ? '+' : ''}${v.toFixed(3)}`;
  };
  const pct = (k) => Math.round(((x[k].p50 - b[k].p50) / b[k].p50) * 100);
  return `${what}: p50 ${d('insert', 'p50')} / ${d('update', 'p50')} ms (${pct('insert')}% / ${pct('update')}%), p99 ${d('insert', 'p99')} / ${d('update', 'p99')} ms against before (INSERT / UPDATE)${side === 'source' ? `; ${control(p, base)}` : ''}${p.errors ? `; ${p.errors} errors` : ''}`;
}

function report(r) {
  const base = r.phases[0];
  const rows = [];
  for (const p of r.phases) {
    for (const side of ['source', 'target']) {
      const x = p[side];
      rows.push(
        `| ${p.phase} | ${side} | ${showObjects(p.objects?.[side])} | ${x.insert.n} | ${x.insert.p50} | ${x.insert.p99} | ${x.update.p50} | ${x.update.p99} | ${p.loadavg[0].toFixed(2)} | ${reading(p, side, base)} |`,
      );
    }
  }
  const ms = (k) => r.moves.map((m) => m[k] ?? '-').join(' / ');
  const ids = r.moves.map((m) => m.user).join(', ');
  const asserts = r.assertions.map((x) => `- ${x.ok ? 'ok' : '**UNEXPECTED**'}: ${x.what}`).join('\n');
  const last = r.phases.at(-1)?.objects;
  const left =
    last?.source?.triggers !== undefined
      ? `after the cleanup, information_schema lists ${last.source.triggers} fw_shard_% triggers and ${last.source.tables.length} fw_shard_% tables on the source server's shard databases (${SHARD_SCHEMAS.a.join(', ')}), ${last.target.triggers} and ${last.target.tables.length} on the target's (${SHARD_SCHEMAS.b.join(', ')}); db_main keeps its journal (${(last.main ?? []).join(', ') || 'none'}), which is not on a shard.`
      : '';
  return `${SECTION}

Generated by \`node bench/footprint.mjs${r.settings.argv?.length ? ' ' + r.settings.argv.join(' ') : ''}\` on ${r.date} (${r.machine.cpus} cores, load at start ${r.machine.loadavgAtStart.map((x) => x.toFixed(2)).join(' ')}, at end ${(r.machine.loadavgAtEnd ?? []).map((x) => x.toFixed(2)).join(' ')}).
Two mariadbd processes on this machine: shard 1 (server A, with db_main) holds ${r.settings.moves} users of ${r.settings.bigUserRows.toLocaleString('en')} rows (${ids}) among ${r.settings.othersPerShard.toLocaleString('en')} rows of others; shard 2 (server B) ${r.settings.othersPerShard.toLocaleString('en')} rows of others.
One loop, at most ${r.settings.ratePerSecond} iterations/s, one mysql2 connection per shard: a single-row INSERT of another user (${SRC_USER} on the source, ${DST_USER} on the target) then an UPDATE of that row by primary key, each statement timed alone; ${r.settings.warmup} iterations of warm-up before each phase (not counted).
Phase 2: \`fw-shard move --user <id> --to 2 --capture trigger\` (default --cleanup now, no writes of the moved user), ${r.settings.moves} moves one after the other, each from a clean state (\`fw-shard cleanup --fence-retention 0s\` between them), samples pooled; split by each move's events: from its first event (preflight; the triggers and fences are installed right after, target then source) to the flip (${ms('toFlipMs')} ms), then from the flip to the move's exit (${ms('afterFlipMs')} ms: the target's objects dropped, then the moved rows deleted on the source). Phase 3 is after the last move. Servers settled (purge, flush) before phases 1, 3 and 4 and before each move. Load: the 1-minute load average at the end of the phase. Latencies in ms. The target has no fw-shard object in phases 1, 3 and 4, so it is the control there: "source − target p50 moved by" is (source − target in this phase) − (source − target before), which cancels a drift both servers share (the client, the machine); in phase 2 the target is busy with the move too, so that figure means little there.

| phase | shard | fw-shard objects on that shard | samples | INSERT p50 | INSERT p99 | UPDATE p50 | UPDATE p99 | load | reading |
|---|---|---|---|---|---|---|---|---|---|
${rows.join('\n')}

Checks (information_schema.TRIGGERS / TABLES, and the fence rows): ${left}
${asserts}

Raw numbers: bench/results-footprint.json (p90, max, mean, error counts, the objects' names, each move's timings, timeline and own percentiles, the cleanups' JSON).
`;
}

/** Replace this section of bench/FENCE.md (up to the next "## " heading), or append it. */
function writeSection(text) {
  const file = join(L.root, 'bench', 'FENCE.md');
  const doc = existsSync(file) ? readFileSync(file, 'utf8') : '';
  const i = doc.indexOf(SECTION);
  let out;
  if (i < 0) out = `${doc.replace(/\n*$/, '\n\n')}${text}`;
  else {
    const j = doc.indexOf('\n## ', i + SECTION.length);
    out = doc.slice(0, i) + text + (j < 0 ? '' : doc.slice(j));
  }
  writeFileSync(file, out);
}

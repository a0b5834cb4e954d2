#!/usr/bin/env node
// Benchmarks of online moves in both capture modes (issue: online moves at any size). Not part of
// `npm test`. Two real mariadbd processes; writes bench/results-fence.json and bench/FENCE.md.
//
//   node bench/fence.mjs                  # 10k and 1M-row users, 2 runs per mode (~10 min)
//   node bench/fence.mjs --big 200000 --runs 1
//
// Measured:
//  - the cost of fw-shard's triggers to the app: single-row INSERT and UPDATE latency of another user,
//    with and without the triggers installed (p50, p99);
//  - online moves at 100 writes/s (bench/writer.mjs) with --capture trigger and --capture rehash: the
//    freeze (from the events: drain, final sync, flip), delta passes, writes refused, rows consistent.
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir, loadavg } from 'node:os';
import { join } from 'node:path';
import * as L from './lib.mjs';
import { openDb } from '../dist/db/pool.js';
import { sql } from '../dist/db/sql/fragment.js';
import { rootEndpoint } from '../dist/sandbox/servers.js';

const args = process.argv.slice(2);
const opt = (name, def) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : def;
};
const BIG = Number(opt('big', '1000000'));
const RUNS = Number(opt('runs', '2'));
const RATE = Number(opt('rate', '100'));
const OPS = Number(opt('ops', '2000'));

L.ensureBuilt();
const work = join(tmpdir(), `fws-fence-${process.pid}`);
rmSync(work, { recursive: true, force: true });
const { a, b } = await L.startServers(work);
const config = L.writeConfig(work, a, b);
const users = L.makeUsers({ main: BIG, sizes: [10_000], scaling: null });
const result = { date: new Date().toISOString(), machine: { cpus: cpus().length, loadavg: loadavg() }, big: BIG, rate: RATE, overhead: {}, online: [] };
const cli = (...argv) =>
  new Promise((res, rej) => {
    const c = spawn(process.execPath, [join(L.root, 'bin/fw-shard'), '--config', config, ...argv], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, CI: '1' },
    });
    let out = '';
    let err = '';
    c.stdout.on('data', (d) => (out += d));
    c.stderr.on('data', (d) => (err += d));
    c.on('exit', (code) => (code === 0 ? res(out) : rej(new Error(`fw-shard ${argv.join(' ')}: exit ${code}: ${err.slice(-800)}`))));
  });

try {
  L.log(`building: users of ${BIG} and 10,000 rows, 200,000 rows of others`);
  await L.createSchema(a, b, users);
  for (const u of users) await L.fillPristine(a, u, 200_000);
  await L.fillOthers(a, 'users1', 200_000);
  for (const u of users) await L.restoreUser(a, u);

  // ---- the triggers' cost to the app: another user's single-row writes --------------------------
  const db = openDb(rootEndpoint(a.port, 'users1', 'bench app'));
  const measure = async (label) => {
    const lat = { insert: [], update: [] };
    for (let i = 0; i < OPS; i++) {
      const id = 8_000_000_000_000_000_000n + BigInt(i) + { warm: 0n, without: 1_000_000n, with: 2_000_000n }[label];
      let t0 = performance.now();
      await db.exec(sql`INSERT INTO Dots (id, sheet_id, user_id, created, perms, details_json, index_on) VALUES (${id}, 1, 150, 0, 1, '{}', 'x')`);
      lat.insert.push(performance.now() - t0);
      t0 = performance.now();
      await db.exec(sql`UPDATE Dots SET perms = perms + 1 WHERE id = ${id}`);
      lat.update.push(performance.now() - t0);
    }
    const q = (xs, p) => Math.round(xs.sort((x, y) => x - y)[Math.floor(p * (xs.length - 1))] * 1000) / 1000;
    return { insert: { p50: q(lat.insert, 0.5), p99: q(lat.insert, 0.99) }, update: { p50: q(lat.update, 0.5), p99: q(lat.update, 0.99) } };
  };
  await measure('warm');
  result.overhead.without = await measure('without');
  await cli('guard', 'install', '--shard', '1');
  result.overhead.with = await measure('with');
  await cli('guard', 'remove', '--shard', '1', '--yes');
  await db.exec(sql`DELETE FROM Dots WHERE user_id = 150 AND id >= 8000000000000000000`);
  await db.close();
  L.log(`trigger overhead: ${JSON.stringify(result.overhead)}`);

  // ---- online moves at RATE writes/s ---------------------------------------------------------------
  for (let run = 1; run <= RUNS; run++) {
    for (const u of run % 2 ? users.slice().reverse() : users) {
      for (const capture of run % 2 ? ['trigger', 'rehash'] : ['rehash', 'trigger']) {
        await L.truncateTarget(b);
        await L.sqlAsync(
          a.port,
          'flamework',
          `UPDATE fw_shard_moves SET state = 'aborted', phase = 'aborted', active_user = NULL WHERE active_user = ${u.id}`,
        ).catch(() => undefined);
        await L.sqlAsync(a.port, 'flamework', `DELETE FROM fw_shard_freezes WHERE user_id = ${u.id}`).catch(() => undefined);
        await L.sqlAsync(a.port, 'users1', `DELETE FROM fw_shard_fence WHERE user_id = ${u.id}; DELETE FROM fw_shard_changes WHERE user_id = ${u.id}`).catch(
          () => undefined,
        );
        await L.sqlAsync(b.port, 'users2', `DELETE FROM fw_shard_fence WHERE user_id = ${u.id}`).catch(() => undefined);
        await L.sqlAsync(
          a.port,
          null,
          `SET @fw_shard_writer = CONCAT('fw-shard writer ', CONNECTION_ID()); ${L.TABLES.map((t) => `DELETE FROM users1.${t.name} WHERE user_id = ${u.id}; INSERT INTO users1.${t.name} SELECT * FROM pristine.${t.name} WHERE user_id = ${u.id};`).join(' ')} UPDATE flamework.users SET cluster_id = 1 WHERE id = ${u.id};`,
        );
        await L.settle([a, b]);
        const r = await onlineRun(u, capture);
        result.online.push({ run, rows: u.rows, capture, ...r });
        L.log(
          `${capture} ${u.rows}: exit ${r.code}${r.error ? ` (${r.error})` : ''}, freeze ${r.freezeMs} ms (wait for writers ${r.drainMs}, final sync ${r.finalSyncMs}, flip ${r.flipMs}), ${r.deltaPasses} passes, total ${r.totalMs} ms, writer ${r.writer?.writesPerSecond} w/s, refused ${r.writer?.refused}+${r.writer?.fenceRefused}, errors ${r.writer?.errors}`,
        );
      }
    }
  }
} finally {
  writeFileSync(join(L.root, 'bench', 'results-fence.json'), JSON.stringify(result, null, 2) + '\n');
  writeFileSync(join(L.root, 'bench', 'FENCE.md'), report(result) + footprintSection());
  await Promise.allSettled([a.stop(), b.stop()]);
  rmSync(work, { recursive: true, force: true });
}

async function onlineRun(u, capture) {
  const writer = await L.startWriter({ mainPort: a.port, shards: { 1: [a.port, 'users1'], 2: [b.port, 'users2'] }, user: u.id, rate: RATE });
  await L.sleep(1000);
  const r = await L.fwShardMove(config, u.id, { work, online: true, extraArgs: ['--capture', capture, '--cleanup', 'keep'] });
  await L.sleep(1000);
  const w = await writer.stop();
  const fb = L.freezeBreakdown(r.events);
  const ok = fb.flippedAttempt;
  return {
    code: r.code,
    error: r.doc.error?.message?.split('\n')[0],
    freezeMs: r.doc.freezeMs ?? null,
    freezeAttempts: fb.attempts,
    drainMs: ok ? fb.waitMs : null,
    finalSyncMs: ok ? fb.finalSyncMs : null,
    flipMs: ok ? fb.toFlipMs : null,
    deltaPasses: fb.passes.length,
    passes: fb.passes.map((p) => ({ changed: p.rangesChanged, rows: p.rowsRecopied, ms: p.ms })),
    totalMs: r.doc.timings?.totalMs ?? null,
    writer: w,
  };
}

function report(r) {
  const rows = r.online.map(
    (o) =>
      `| ${o.capture} | ${o.rows.toLocaleString('en')} | ${o.run} | ${o.code} | ${o.freezeMs ?? '-'} | ${o.drainMs ?? '-'} | ${o.finalSyncMs ?? '-'} | ${o.flipMs ?? '-'} | ${o.deltaPasses} | ${o.totalMs ?? '-'} | ${o.writer?.writesPerSecond ?? '-'} | ${o.writer ? `${o.writer.refused} / ${o.writer.fenceRefused}` : '-'} | ${o.writer?.errors ?? '-'} |`,
  );
  const ov = r.overhead;
  return `# Online moves: trigger mode vs re-hash mode

Generated by \`node bench/fence.mjs\` on ${r.date} (${r.machine.cpus} cores, load ${r.machine.loadavg.map((x) => x.toFixed(2)).join(' ')}): two mariadbd processes on
this machine; users of ${r.big.toLocaleString('en')} and 10,000 rows (five Flamework-shaped tables) among 200,000 rows of others;
bench/writer.mjs writes at ${r.rate}/s (50% inserts, 30% updates, 20% deletes) from 1 s before the move to 1 s after.
Timings come from the move's own events; \`--cleanup keep\`.

## The triggers' cost to the app

Another user's single-row writes on the shard (${OPS} each, one connection), without and with fw-shard's triggers installed:

| | INSERT p50 | INSERT p99 | UPDATE p50 | UPDATE p99 |
|---|---|---|---|---|
| without triggers | ${ov.without?.insert.p50} ms | ${ov.without?.insert.p99} ms | ${ov.without?.update.p50} ms | ${ov.without?.update.p99} ms |
| with triggers | ${ov.with?.insert.p50} ms | ${ov.with?.insert.p99} ms | ${ov.with?.update.p50} ms | ${ov.with?.update.p99} ms |

## Online moves under ${r.rate} writes/s

freeze: from the freeze's start to its lift (trigger mode: the fence row held; re-hash mode: the
db_main row, including --drain 2 s). wait: until the final sync started (trigger mode: in-flight writes
of the user; re-hash mode: the drain sleep). refused: by the db_main freeze check / by the shard's fence
(error 1644, then retried by the app on the new shard).

| capture | rows | run | exit | freeze ms | wait ms | final sync ms | flip ms | passes | total ms | writes/s | refused | errors |
|---|---|---|---|---|---|---|---|---|---|---|---|---|
${rows.join('\n')}
`;
}

/** bench/footprint.mjs's section of FENCE.md (up to the next "## " heading), kept when this script rewrites the file. */
function footprintSection() {
  const file = join(L.root, 'bench', 'FENCE.md');
  const doc = existsSync(file) ? readFileSync(file, 'utf8') : '';
  const i = doc.indexOf("## Footprint: another user's writes");
  if (i < 0) return '';
  const j = doc.indexOf('\n## ', i + 1);
  return '\n' + doc.slice(i, j < 0 ? undefined : j + 1);
}

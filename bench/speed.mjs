#!/usr/bin/env node
// The speed issue's comparison (bench/SPEED.md): a whole offline move of the 1,000,000-row user against
// the mysqldump pipe an operator would script, and against the LOAD DATA floor, contenders alternating
// in every round on the same two servers. Then, from the same data: the cleanup's time against the
// copy's (a move with --cleanup now), peak memory at 10k and 1M rows, and an online move with no
// writes. Writes bench/results-speed.json and prints a summary; bench/SPEED.md is written by hand from it.
//
//   npm run build && node bench/speed.mjs [--runs 3] [--rows 1000000]
import { rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import * as L from './lib.mjs';

const args = process.argv.slice(2);
const opt = (name, def) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : def;
};
const runs = Number(opt('runs', '3'));
const rows = Number(opt('rows', '1000000'));

L.ensureBuilt();
const work = join(tmpdir(), `fws-speed-${process.pid}`);
rmSync(work, { recursive: true, force: true });
const { a, b } = await L.startServers(work);
const config = L.writeConfig(work, a, b);
const users = L.makeUsers({ main: rows, sizes: [10_000] });
const [main, small] = users;
const out = { date: new Date().toISOString(), rows, runs, rounds: [], cleanup: [], memory: [], online: [] };

/** One fw-shard move as a child process: wall clock, its own timings, peak RSS; the target checked. */
async function move(u, extraArgs, { online = false } = {}) {
  const r = await L.fwShardMove(config, u.id, { work, online, extraArgs });
  if (r.code !== 0) throw new Error(`fw-shard exit ${r.code}: ${JSON.stringify(r.doc.error ?? r.doc)}\n${r.stderr.slice(-1500)}`);
  const t = r.doc.timings;
  return {
    wallMs: Math.round(r.wallMs),
    preflightMs: t.preflightMs,
    copyMs: t.copyMs,
    verifyMs: t.verifyMs ?? 0,
    cleanupMs: t.cleanupMs ?? 0,
    totalMs: t.totalMs,
    peakRssMb: r.peakRssMb,
    clientCpuMs: r.cpuMs,
    identical: L.sameDigest(await L.userDigest(b.port, 'users2', u.id), reference[u.id]),
  };
}

async function home(u) {
  await L.truncateTarget(b);
  await L.sqlAsync(
    a.port,
    'flamework',
    `DROP TABLE IF EXISTS fw_shard_moves, fw_shard_move_tables, fw_shard_move_chunks, fw_shard_move_passes, fw_shard_move_runs, fw_shard_freezes`,
  );
  await L.restoreUser(a, u);
  return L.settle([a, b]);
}

const reference = {};
try {
  await L.createSchema(a, b, users);
  for (const u of users) await L.fillPristine(a, u, rows * 2);
  await L.fillOthers(a, 'users1', rows * 2);
  for (const u of users) await L.restoreUser(a, u);
  await L.sqlAsync(a.port, 'users1', 'ANALYZE TABLE Dots, Sheets, Checkins');
  for (const u of users) reference[u.id] = await L.userDigest(a.port, 'pristine', u.id);
  const floorFiles = await L.prepareFloorFiles(a, work, main.id);

  const contenders = {
    'fw-shard move': () => move(main, ['--cleanup', 'keep']),
    'mysqldump pipe': async () => {
      const r = await L.mysqldumpPipe(a, b, main.id);
      return { wallMs: Math.round(r.ms), identical: L.sameDigest(await L.userDigest(b.port, 'users2', main.id), reference[main.id]) };
    },
    'floor (1 session)': async () => ({ wallMs: Math.round((await L.floorLoad(b, floorFiles, 1)).ms) }),
  };
  const names = Object.keys(contenders);
  for (let round = 0; round < runs; round++) {
    const row = { round: round + 1 };
    for (const name of names.map((_, i) => names[(i + round) % names.length])) {
      await home(main);
      const load = loadavg()[0];
      row[name] = { load1: Math.round(load * 10) / 10, ...(await contenders[name]()) };
      L.log(`round ${round + 1}: ${name}: ${JSON.stringify(row[name])}`);
    }
    out.rounds.push(row);
  }

  for (let round = 0; round < Math.max(1, runs - 1); round++) {
    await home(main);
    const r = await move(main, ['--cleanup', 'now']);
    out.cleanup.push(r);
    L.log(`cleanup now: copy ${r.copyMs} ms, cleanup ${r.cleanupMs} ms`);
  }

  for (const u of [small, main]) {
    await home(u);
    const r = await move(u, ['--cleanup', 'keep']);
    out.memory.push({ rows: u.rows, peakRssMb: r.peakRssMb });
    L.log(`memory: ${u.rows} rows: ${r.peakRssMb} MB`);
  }

  await home(main);
  const o = await move(main, ['--cleanup', 'keep'], { online: true });
  out.online.push(o);
  L.log(`online, no writes: ${JSON.stringify(o)}`);
} finally {
  await Promise.allSettled([a.stop(), b.stop()]);
  rmSync(work, { recursive: true, force: true });
}

const med = (xs) => L.median(xs.filter((x) => Number.isFinite(x)));
const ratio = (base, pick = (r) => r.wallMs) => out.rounds.map((r) => pick(r['fw-shard move']) / r[base].wallMs);
out.summary = {
  moveWallMs: med(out.rounds.map((r) => r['fw-shard move'].wallMs)),
  pipeMs: med(out.rounds.map((r) => r['mysqldump pipe'].wallMs)),
  floorMs: med(out.rounds.map((r) => r['floor (1 session)'].wallMs)),
  moveOverPipe: med(ratio('mysqldump pipe')),
  copyVerifyOverFloor: med(ratio('floor (1 session)', (m) => m.copyMs + m.verifyMs)),
  preflightShare: med(out.rounds.map((r) => r['fw-shard move'].preflightMs / r['fw-shard move'].wallMs)),
  cleanupOverCopy: med(out.cleanup.map((c) => c.cleanupMs / c.copyMs)),
  peakRssMb: Object.fromEntries(out.memory.map((m) => [m.rows, m.peakRssMb])),
  allIdentical: [...out.rounds.flatMap((r) => [r['fw-shard move'], r['mysqldump pipe']]), ...out.cleanup, ...out.online].every((x) => x.identical),
};
writeFileSync(new URL('./results-speed.json', import.meta.url), JSON.stringify(out, null, 2) + '\n');
process.stdout.write(JSON.stringify(out.summary, null, 2) + '\n');

#!/usr/bin/env node
// Benchmarks of fw-shard side by side with the tools operators would otherwise use. Not part of
// `npm test`. Builds its own data on two sandbox servers (real mariadbd processes), runs every
// contender several times on the same data, alternating them so they see the same machine load, and
// writes bench/results.json, bench/RESULTS.md and bench/results.png.
//
//   npm run bench                 # the full set (~15 min): 1M-row user, 3 runs per contender
//   npm run bench -- --quick      # smoke: 100k rows, 1 run (bench/smoke.mjs), < 1 min
//   node bench/run.mjs --runs 5 --keep-servers
//
// Contenders (copy of one user's rows from shard 1 on server A to the empty shard 2 on server B):
//   fw-shard     `fw-shard move --assume-no-writes` (copy, verify, flip and cleanup, each timed)
//   mysqldump    `mariadb-dump --single-transaction --no-create-info --where=user_id=N | mariadb`
//   pt-archiver  `pt-archiver --no-delete --where user_id=N --limit 1000 --commit-each --bulk-insert`, one run per table
//   floor        LOAD DATA INFILE on the target of files the source wrote beforehand (1 and 2 sessions)
import { execFileSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { cpus, totalmem, tmpdir, loadavg, release } from 'node:os';
import { join } from 'node:path';
import * as L from './lib.mjs';
import { renderAll } from './report.mjs';

const args = process.argv.slice(2);
const flag = (name) => args.includes(`--${name}`);
const opt = (name, def) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : def;
};

export const FULL = {
  name: 'full',
  main: 1_000_000,
  others: 2_000_000,
  sizes: [100_000, 10_000],
  runs: 3,
  online: { runs: 3, rate: 100, users: [10_000, 1_000_000] },
  scaling: { userRows: 10_000, small: 100_000, big: 10_000_000, runs: 3 },
  out: 'results',
};

export const QUICK = {
  name: 'quick',
  main: 100_000,
  others: 200_000,
  sizes: [10_000],
  runs: 1,
  online: { runs: 1, rate: 100, users: [10_000] },
  scaling: null,
  out: 'smoke-results',
};

export async function runBench(profile) {
  L.ensureBuilt();
  const started = Date.now();
  const work = join(tmpdir(), `fws-bench-${process.pid}`);
  rmSync(work, { recursive: true, force: true });
  L.log(`profile ${profile.name}: starting two servers in ${work}`);
  const { a, b } = await L.startServers(work);
  const config = L.writeConfig(work, a, b);
  const users = L.makeUsers({ main: profile.main, sizes: profile.sizes, scaling: profile.scaling });
  const byRows = (db, n) => users.find((u) => u.db === db && u.rows === n);
  const mainUser = users[0];
  const result = {
    profile: profile.name,
    date: new Date().toISOString(),
    command: profile.name === 'full' ? 'npm run bench' : 'npm run bench -- --quick',
    machine: machineFacts(),
    data: { mainUserRows: profile.main, otherRows: profile.others, tables: L.TABLES.map((t) => ({ name: t.name, share: t.share })) },
    serverArgs: L.SERVER_ARGS,
    main: [],
    sizes: [],
    online: [],
    scaling: [],
    notes: [],
  };
  const cpu = () => L.cpuMeter([a, b]);
  try {
    // ---- data --------------------------------------------------------------------------------
    let t0 = Date.now();
    await L.createSchema(a, b, users);
    for (const u of users) await L.fillPristine(a, u, u.db === 'users1' ? profile.others : u.db === 'small' ? profile.scaling.small : profile.scaling.big);
    await L.fillOthers(a, 'users1', profile.others);
    for (const u of users.filter((x) => x.db === 'users1')) await L.restoreUser(a, u);
    await L.sqlAsync(a.port, 'users1', 'ANALYZE TABLE Dots, Sheets, Checkins');
    result.data.buildMs = Date.now() - t0;
    result.data.rowBytes = await L.rowBytes(a, 'users1', mainUser.id);
    L.log(
      `built users1 in ${Math.round(result.data.buildMs / 1000)} s; user ${mainUser.id}: ${result.data.rowBytes.rows} rows, ${result.data.rowBytes.avg} bytes of values a row`,
    );
    const reference = {};
    for (const u of users) reference[u.id] = await L.userDigest(a.port, 'pristine', u.id);

    // State of the world between runs: the target empty, every user home, servers quiet.
    const home = new Set(users.filter((u) => u.db === 'users1').map((u) => u.id));
    const reset = async (u) => {
      await L.truncateTarget(b);
      if (!home.has(u.id)) {
        await L.sqlAsync(
          a.port,
          'flamework',
          `UPDATE fw_shard_moves SET state = 'aborted', phase = 'aborted', active_user = NULL WHERE active_user = ${u.id}`,
        ).catch(() => undefined);
        await L.sqlAsync(a.port, 'flamework', `DELETE FROM fw_shard_freezes WHERE user_id = ${u.id}`).catch(() => undefined);
        await L.restoreUser(a, u);
        home.add(u.id);
      }
      return L.settle([a, b]);
    };
    const checkTarget = async (u, label, cache) => {
      const got = await L.userDigest(b.port, 'users2', u.id);
      if (L.sameDigest(got, reference[u.id])) return { identical: true };
      const bad = L.TABLE_NAMES.filter((n) => got[n] !== reference[u.id][n]);
      cache[label] ??= await L.columnDiff(a.port, 'pristine', b.port, 'users2', u.id, bad);
      return { identical: false, differs: cache[label] };
    };
    const moveOffline = async (u) => {
      const meter = cpu();
      const r = await L.fwShardMove(config, u.id, { work });
      const serverCpuMs = meter();
      home.delete(u.id);
      if (r.code !== 0)
        throw new Error(`fw-shard move of user ${u.id} failed (exit ${r.code}): ${JSON.stringify(r.doc.error ?? r.doc)}\n${r.stderr.slice(-1500)}`);
      const t = r.doc.timings;
      return {
        ms: t.copyMs + t.verifyMs,
        copyMs: t.copyMs,
        verifyMs: t.verifyMs,
        cleanupMs: t.cleanupMs ?? 0,
        preflightMs: t.preflightMs,
        flipMs: t.flipMs ?? 0,
        totalMs: t.totalMs,
        wallMs: Math.round(r.wallMs),
        clientCpuMs: r.cpuMs,
        serverCpuMs,
        peakRssMb: r.peakRssMb,
        chunks: Object.fromEntries(r.doc.tables.map((x) => [x.name, x.chunks])),
      };
    };

    // ---- 1. the contenders, interleaved --------------------------------------------------------
    const floorFiles = await L.prepareFloorFiles(a, work, mainUser.id);
    const contenders = {
      'fw-shard': async () => {
        const r = await moveOffline(mainUser);
        return { ...r, ...(await checkTarget(mainUser, 'fw-shard', diffCache)) };
      },
      mysqldump: async () => {
        const meter = cpu();
        const r = await L.mysqldumpPipe(a, b, mainUser.id);
        return { ms: Math.round(r.ms), clientCpuMs: r.cpuMs, serverCpuMs: meter(), ...(await checkTarget(mainUser, 'mysqldump', diffCache)) };
      },
      'pt-archiver': async () => {
        const meter = cpu();
        const r = await L.ptArchiver(a, b, mainUser.id, { charset: null });
        return { ms: Math.round(r.ms), clientCpuMs: r.cpuMs, serverCpuMs: meter(), ...(await checkTarget(mainUser, 'pt-archiver', diffCache)) };
      },
      'floor (1 session)': async () => {
        const meter = cpu();
        const r = await L.floorLoad(b, floorFiles, 1);
        return { ms: Math.round(r.ms), clientCpuMs: 0, serverCpuMs: meter(), ...(await checkTarget(mainUser, 'floor', diffCache)) };
      },
      'floor (2 sessions)': async () => {
        const meter = cpu();
        const r = await L.floorLoad(b, floorFiles, 2);
        return { ms: Math.round(r.ms), clientCpuMs: 0, serverCpuMs: meter(), ...(await checkTarget(mainUser, 'floor', diffCache)) };
      },
    };
    const diffCache = {};
    const names = Object.keys(contenders);
    const runs = Number(opt('runs', String(profile.runs)));
    for (let round = 0; round < runs; round++) {
      // Rotate the order every round, so no contender always runs first (or right after another).
      const order = names.map((_, i) => names[(i + round) % names.length]);
      for (const name of order) {
        const settleMs = await reset(mainUser);
        const load = loadavg()[0];
        L.log(`round ${round + 1}/${runs}: ${name} (settled in ${settleMs} ms, load ${load.toFixed(1)})`);
        const r = await contenders[name]();
        result.main.push({ round: round + 1, contender: name, load1: Math.round(load * 10) / 10, ...r });
        L.log(
          `  ${name}: ${r.ms} ms${r.totalMs ? ` (copy ${r.copyMs}, verify ${r.verifyMs}, cleanup ${r.cleanupMs}, total ${r.totalMs}, ${r.peakRssMb} MB)` : ''}${r.identical ? '' : ` NOT IDENTICAL: ${r.differs.join(', ')}`}`,
        );
      }
    }

    // ---- 2. user size: 10k, 100k (and the 1M runs above); peak memory ----------------------------
    for (let round = 0; round < runs; round++) {
      for (const n of profile.sizes) {
        const u = byRows('users1', n);
        await reset(u);
        const r = await moveOffline(u);
        const check = await checkTarget(u, `size ${n}`, diffCache);
        result.sizes.push({ round: round + 1, rows: n, ...r, ...check });
        L.log(`size ${n}: copy+verify ${r.ms} ms, total ${r.totalMs} ms, ${r.peakRssMb} MB`);
      }
    }

    // ---- 3. online: freeze time under 100 writes/s ------------------------------------------------
    const onlineRuns = Number(opt('online-runs', String(profile.online.runs)));
    for (let round = 0; round < onlineRuns; round++) {
      const order = round % 2 ? [...profile.online.users].reverse() : profile.online.users;
      for (const n of order) {
        const u = n === profile.main ? mainUser : byRows('users1', n);
        await reset(u);
        const r = await onlineRun({ a, b, config, work, u, rate: profile.online.rate });
        home.delete(u.id);
        result.online.push({ round: round + 1, rows: n, ...r });
        L.log(
          `online ${n}: exit ${r.code}, freeze ${r.freezeMs} ms (drain ${r.drainMs}, final sync ${r.finalSyncMs}, flip+lift ${r.flipLiftMs}), ${r.deltaPasses} delta passes, ${r.writer?.writesPerSecond} writes/s, ${r.writer?.refused} refused`,
        );
      }
    }

    // ---- 4. scaling with the shard's size: a 10k-row user on a 100k-row and a 10M-row shard -------
    if (profile.scaling) {
      for (const u of users.filter((x) => x.db !== 'users1')) {
        t0 = Date.now();
        await L.fillOthers(a, u.db, u.db === 'small' ? profile.scaling.small : profile.scaling.big);
        await L.restoreUser(a, u);
        await L.sqlAsync(a.port, u.db, 'ANALYZE TABLE Dots, Sheets, Checkins');
        home.add(u.id);
        L.log(`built ${u.db} in ${Math.round((Date.now() - t0) / 1000)} s`);
      }
      const pair = users.filter((x) => x.db !== 'users1');
      for (let round = 0; round < profile.scaling.runs; round++) {
        const order = round % 2 ? [...pair].reverse() : pair;
        for (const u of order) {
          await reset(u);
          const r = await moveOffline(u);
          const check = await checkTarget(u, `scaling ${u.db}`, diffCache);
          const shardRows = (u.db === 'small' ? profile.scaling.small : profile.scaling.big) + u.rows;
          result.scaling.push({ round: round + 1, shard: u.db, shardRows, rows: u.rows, ...r, ...check });
          L.log(`scaling ${u.db}: total ${r.totalMs} ms (wall ${r.wallMs})`);
        }
      }
    }
  } finally {
    result.elapsedMs = Date.now() - started;
    if (flag('keep-servers')) {
      L.log(`servers left running: A :${a.port} (pid ${a.pid}), B :${b.port} (pid ${b.pid}), config ${config}`);
    } else {
      await Promise.allSettled([a.stop(), b.stop()]);
      rmSync(work, { recursive: true, force: true });
    }
  }
  summarize(result);
  return result;
}

/** One online move of `u` while bench/writer.mjs writes to it. */
async function onlineRun({ a, b, config, work, u, rate }) {
  const before = await L.userRowCount(a.port, u.db, u.id);
  const writer = await L.startWriter({ mainPort: a.port, shards: { [u.shard]: [a.port, u.db], 2: [b.port, 'users2'] }, user: u.id, rate });
  await L.sleep(1000); // the app is writing before the move starts
  const r = await L.fwShardMove(config, u.id, { work, online: true });
  await L.sleep(1000); // and goes on writing after it
  const w = await writer.stop();
  const fb = L.freezeBreakdown(r.events);
  const passes = fb.passes;
  const after = { source: await L.userRowCount(a.port, u.db, u.id), target: await L.userRowCount(b.port, 'users2', u.id) };
  const expected = w ? before + w.netRowChange : null;
  const t = r.doc.timings ?? {};
  return {
    code: r.code,
    ok: r.code === 0,
    error: r.doc.error?.message?.split('\n')[0],
    freezeMs: r.doc.freezeMs ?? null,
    deltaPasses: r.doc.deltaPasses ?? passes.length,
    freezeAttempts: fb.attempts,
    drainMs: fb.waitMs,
    finalSyncMs: fb.finalSyncMs,
    flipLiftMs: fb.toLiftMs,
    passes,
    copyMs: t.copyMs,
    deltaPhaseMs: t.deltaMs,
    cleanupMs: t.cleanupMs,
    totalMs: t.totalMs,
    peakRssMb: r.peakRssMb,
    writer: w,
    // The target must hold exactly the user's rows; the source may keep old versions of rows the writer
    // changed on the target after the flip (the cleanup deletes only rows proven on the target).
    rowCheck: { before, expectedAfter: expected, ...after, sourceKept: after.source, consistent: r.code === 0 ? after.target === expected : null },
  };
}

function machineFacts() {
  const v = (cmd, a) => {
    try {
      return execFileSync(cmd, a, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })
        .split('\n')[0]
        .trim();
    } catch {
      return 'not found';
    }
  };
  return {
    cpus: cpus().length,
    cpu: cpus()[0]?.model,
    memGb: Math.round(totalmem() / 2 ** 30),
    kernel: release(),
    node: process.version,
    server: v('mariadbd', ['--version']),
    mysqldump: v('mariadb-dump', ['--version']),
    ptArchiver: v('pt-archiver', ['--version']),
    fwShard: JSON.parse(
      execFileSync('node', ['-e', "process.stdout.write(JSON.stringify(require('./package.json').version))"], { cwd: L.root, encoding: 'utf8' }),
    ),
    gitCommit: v('git', ['-C', L.root, 'rev-parse', '--short', 'HEAD']),
    gitDirty: v('git', ['-C', L.root, 'status', '--porcelain', '--', 'src']) !== '' ? 'src/ has uncommitted changes' : 'clean',
  };
}

/** Medians, spreads and ratios (each run's ratio to fw-shard in the same round, then the median). */
export function summarize(res) {
  const s = { main: {}, sizes: {}, online: {}, scaling: {} };
  const rows = res.data.mainUserRows;
  const byRound = new Map();
  for (const r of res.main) {
    if (!byRound.has(r.round)) byRound.set(r.round, {});
    byRound.get(r.round)[r.contender] = r;
  }
  const contenders = [...new Set(res.main.map((r) => r.contender))];
  for (const c of contenders) {
    const rs = res.main.filter((r) => r.contender === c);
    const ratio = (key) =>
      L.stats(
        rs.map((r) => {
          const fw = byRound.get(r.round)['fw-shard'];
          return fw ? r.ms / fw[key] : NaN;
        }),
        2,
      );
    const e = {
      ms: L.stats(rs.map((r) => r.ms)),
      rowsPerSec: L.stats(rs.map((r) => rows / (r.ms / 1000))),
      vsFwCopyVerify: ratio('ms'),
      clientCpuMs: L.stats(rs.map((r) => r.clientCpuMs)),
      sourceCpuMs: L.stats(rs.map((r) => r.serverCpuMs?.[0])),
      targetCpuMs: L.stats(rs.map((r) => r.serverCpuMs?.[1])),
      identical: rs.every((r) => r.identical),
      differs: [...new Set(rs.flatMap((r) => r.differs ?? []))],
    };
    if (c === 'fw-shard') {
      for (const k of ['copyMs', 'verifyMs', 'cleanupMs', 'preflightMs', 'totalMs', 'wallMs', 'peakRssMb']) e[k] = L.stats(rs.map((r) => r[k]));
      e.copyRowsPerSec = L.stats(rs.map((r) => rows / (r.copyMs / 1000)));
      e.totalRowsPerSec = L.stats(rs.map((r) => rows / (r.totalMs / 1000)));
    }
    s.main[c] = e;
  }
  const floorName = ['floor (1 session)', 'floor (2 sessions)'].filter((n) => s.main[n]).sort((x, y) => s.main[x].ms.median - s.main[y].ms.median)[0];
  s.floor = floorName;
  if (floorName && s.main['fw-shard']) {
    const fwOverFloor = (floor) =>
      L.stats(
        res.main
          .filter((r) => r.contender === 'fw-shard')
          .map((r) => {
            const f = byRound.get(r.round)[floor];
            return f ? r.ms / f.ms : NaN;
          }),
        2,
      );
    s.fwOverFloor = Object.fromEntries(['floor (1 session)', 'floor (2 sessions)'].filter((n) => s.main[n]).map((n) => [n, fwOverFloor(n)]));
  }
  const sizes = [...new Set(res.sizes.map((r) => r.rows))];
  for (const n of sizes)
    s.sizes[n] = sizeStats(
      res.sizes.filter((r) => r.rows === n),
      n,
    );
  if (res.main.some((r) => r.contender === 'fw-shard'))
    s.sizes[rows] = sizeStats(
      res.main.filter((r) => r.contender === 'fw-shard'),
      rows,
    );
  for (const n of [...new Set(res.online.map((r) => r.rows))]) {
    const rs = res.online.filter((r) => r.rows === n);
    const ok = rs.filter((r) => r.ok);
    s.online[n] = {
      runs: rs.length,
      succeeded: ok.length,
      freezeMs: L.stats(ok.map((r) => r.freezeMs)),
      drainMs: L.stats(ok.map((r) => r.drainMs)),
      finalSyncMs: L.stats(ok.map((r) => r.finalSyncMs)),
      flipLiftMs: L.stats(ok.map((r) => r.flipLiftMs)),
      deltaPasses: L.stats(rs.map((r) => r.deltaPasses)),
      freezeAttempts: L.stats(rs.map((r) => r.freezeAttempts)),
      totalMs: L.stats(ok.map((r) => r.totalMs)),
      writesPerSec: L.stats(
        rs.map((r) => r.writer?.writesPerSecond),
        1,
      ),
      attemptsPerSec: L.stats(
        rs.map((r) => r.writer?.attemptsPerSecond),
        1,
      ),
      refused: L.stats(rs.map((r) => r.writer?.refused)),
      refusedWindowMs: L.stats(rs.map((r) => r.writer?.refusedWindowMs)),
      writeP99Ms: L.stats(rs.map((r) => r.writer?.latencyMs?.p99)),
      consistent: ok.every((r) => r.rowCheck.consistent),
      errors: rs.filter((r) => !r.ok).map((r) => r.error),
    };
  }
  for (const shard of [...new Set(res.scaling.map((r) => r.shard))]) {
    const rs = res.scaling.filter((r) => r.shard === shard);
    s.scaling[shard] = { shardRows: rs[0].shardRows, rows: rs[0].rows, ...sizeStats(rs, rs[0].rows) };
  }
  if (s.scaling.small && s.scaling.big) s.scalingRatio = Math.round((s.scaling.big.totalMs.median / s.scaling.small.totalMs.median) * 100) / 100;
  res.summary = s;
  res.goals = goals(res);
}

function sizeStats(rs, n) {
  return {
    runs: rs.length,
    copyVerifyMs: L.stats(rs.map((r) => r.ms)),
    copyMs: L.stats(rs.map((r) => r.copyMs)),
    verifyMs: L.stats(rs.map((r) => r.verifyMs)),
    cleanupMs: L.stats(rs.map((r) => r.cleanupMs)),
    preflightMs: L.stats(rs.map((r) => r.preflightMs)),
    totalMs: L.stats(rs.map((r) => r.totalMs)),
    wallMs: L.stats(rs.map((r) => r.wallMs)),
    rowsPerSecCopyVerify: L.stats(rs.map((r) => n / (r.ms / 1000))),
    rowsPerSecTotal: L.stats(rs.map((r) => n / (r.totalMs / 1000))),
    peakRssMb: L.stats(rs.map((r) => r.peakRssMb)),
    clientCpuMs: L.stats(rs.map((r) => r.clientCpuMs)),
    identical: rs.every((r) => r.identical),
  };
}

function goals(res) {
  const s = res.summary;
  const g = [];
  const fw = s.main['fw-shard'];
  if (fw && s.fwOverFloor) {
    for (const [floor, r] of Object.entries(s.fwOverFloor))
      g.push({ goal: `copy + verify within 1.5x of the LOAD DATA ${floor}`, value: `${r.median}x`, met: r.median <= 1.5 });
  }
  if (fw && s.main['pt-archiver']) {
    const x = L.round(s.main['pt-archiver'].vsFwCopyVerify.median, 2);
    const pt = s.main['pt-archiver'];
    const caveat = pt.identical ? '' : ` (and pt-archiver's copy was not byte-identical: ${pt.differs.join(', ')})`;
    g.push({ goal: "at least twice pt-archiver's speed", value: `pt-archiver takes ${x}x fw-shard's copy+verify time${caveat}`, met: x >= 2 });
  }
  if (fw && s.main.mysqldump)
    g.push({
      goal: 'faster than the mysqldump pipe (context, not a goal of the issue)',
      value: `mysqldump takes ${s.main.mysqldump.vsFwCopyVerify.median}x`,
      met: s.main.mysqldump.vsFwCopyVerify.median >= 1,
    });
  const big = s.sizes[res.data.mainUserRows];
  const small = s.sizes[Math.min(...Object.keys(s.sizes).map(Number))];
  if (big)
    g.push({ goal: `peak memory under 200 MB at ${res.data.mainUserRows} rows`, value: `${big.peakRssMb.max} MB (max of runs)`, met: big.peakRssMb.max < 200 });
  if (big && small && small !== big)
    g.push({
      goal: 'peak memory at the largest user no more than 50 MB above the smallest',
      value: `${big.peakRssMb.median - small.peakRssMb.median} MB (medians ${big.peakRssMb.median} vs ${small.peakRssMb.median})`,
      met: big.peakRssMb.median - small.peakRssMb.median <= 50,
    });
  if (s.scalingRatio !== undefined)
    g.push({
      goal: 'a 10k-row user moves within 20% of the same time on a 10M-row shard as on a 100k-row shard',
      value: `${s.scalingRatio}x (total move time, medians)`,
      met: s.scalingRatio <= 1.2,
    });
  for (const [n, o] of Object.entries(s.online)) {
    g.push({
      goal: `freeze under 500 ms at ${n} rows (drain included, as measured)`,
      value: o.succeeded
        ? `p50 ${o.freezeMs.median} ms, max ${o.freezeMs.max} ms (${o.succeeded}/${o.runs} moves finished)`
        : `no move finished (${o.errors[0] ?? ''})`,
      met: o.succeeded === o.runs && o.freezeMs.max < 500,
    });
    if (o.succeeded)
      g.push({
        goal: `final sync alone under 500 ms at ${n} rows (freeze minus the 2 s drain)`,
        value: `p50 ${o.finalSyncMs.median} ms, max ${o.finalSyncMs.max} ms; flip+lift p50 ${o.flipLiftMs.median} ms`,
        met: o.succeeded === o.runs && o.finalSyncMs.max + o.flipLiftMs.max < 500,
      });
  }
  return g;
}

async function main() {
  if (flag('quick')) {
    await import('./smoke.mjs');
    return;
  }
  const profile = { ...FULL };
  if (opt('rows')) profile.main = Number(opt('rows'));
  const res = await runBench(profile);
  renderAll(res, { out: profile.out });
}

if (import.meta.url === `file://${process.argv[1]}`) {
  main().catch((err) => {
    process.stderr.write(`bench: ${err.stack ?? err}\n`);
    process.exit(1);
  });
}

#!/usr/bin/env node
// Where fw-shard's time goes, phase by phase: one offline move of a user of --rows rows (default 1M,
// with 2x as many rows of other users), reading fw-shard's --events live and sampling the CPU time of
// the fw-shard process and of both server processes (/proc) at every phase boundary. Optionally a
// V8 CPU profile of fw-shard (--cpu-prof DIR). Not part of the benchmark run; for the engineers.
//
//   npm run build && node bench/profile.mjs [--rows 1000000] [--cpu-prof /tmp/prof] [--node-args "--max-old-space-size=128"] [--move-args "--concurrency 1"] [--repeat 1]
import { spawn } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as L from './lib.mjs';

const args = process.argv.slice(2);
const opt = (name, def) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : def;
};
const rows = Number(opt('rows', '1000000'));
const repeat = Number(opt('repeat', '1'));
const cpuProf = opt('cpu-prof');
const moveArgs = (opt('move-args', '') || '').split(' ').filter(Boolean);
const variants = [opt('node-args', ''), ...(opt('compare-node-args') ? [opt('compare-node-args')] : [])];
const envVariants = opt('compare-env') ? [{}, Object.fromEntries([opt('compare-env').split('=')])] : [{}];

L.ensureBuilt();
const work = join(tmpdir(), `fws-profile-${process.pid}`);
rmSync(work, { recursive: true, force: true });
const { a, b } = await L.startServers(work);
const config = L.writeConfig(work, a, b);
const user = L.makeUsers({ main: rows, sizes: [] })[0];
try {
  await L.createSchema(a, b, [user]);
  await L.fillPristine(a, user, rows * 2);
  await L.fillOthers(a, 'users1', rows * 2);
  await L.restoreUser(a, user);
  await L.sqlAsync(a.port, 'users1', 'ANALYZE TABLE Dots, Sheets, Checkins');
  for (let r = 0; r < repeat; r++) {
    for (const nodeArgs of variants) {
      for (const env of envVariants) {
        await L.truncateTarget(b);
        await L.restoreUser(a, user);
        await L.settle([a, b]);
        const phases = await profiledMove(nodeArgs, env);
        print(phases, [nodeArgs, ...Object.entries(env).map(([k, v]) => `${k}=${v}`)].filter(Boolean).join(' '));
      }
    }
  }
} finally {
  await Promise.allSettled([a.stop(), b.stop()]);
  rmSync(work, { recursive: true, force: true });
}

function profiledMove(nodeArgs, env = {}) {
  return new Promise((resolve, reject) => {
    const extra = [...(nodeArgs ? nodeArgs.split(' ') : []), ...(cpuProf ? ['--cpu-prof', `--cpu-prof-dir=${cpuProf}`] : [])];
    const child = spawn(
      process.execPath,
      [
        ...extra,
        join(L.root, 'bin/fw-shard'),
        '--config',
        config,
        'move',
        '--user',
        String(user.id),
        '--to',
        '2',
        '--yes',
        '--assume-no-writes',
        '--json',
        '--events',
        '--no-tui',
        ...moveArgs,
      ],
      {
        stdio: ['ignore', 'pipe', 'pipe'],
        env: { ...process.env, CI: '1', ...env },
      },
    );
    let hwmKb = 0;
    const hwm = () => {
      try {
        hwmKb = Math.max(hwmKb, Number(/VmHWM:\s+(\d+)/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'))[1]));
      } catch {
        /* exited */
      }
    };
    const poll = setInterval(hwm, 100);
    const snap = () => (hwm(), { t: performance.now(), fw: L.procCpuMs(child.pid), src: L.procCpuMs(a.pid), dst: L.procCpuMs(b.pid), hwmKb });
    const marks = [{ name: 'start', ...snap() }];
    let buf = '';
    child.stdout.on('data', (d) => {
      buf += d;
      let i;
      while ((i = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        if (!line.startsWith('{"v":')) continue;
        const e = JSON.parse(line);
        if (e.type === 'phase.started' || e.type === 'phase.finished') marks.push({ name: `${e.type === 'phase.started' ? '>' : '<'}${e.phase}`, ...snap() });
      }
    });
    let err = '';
    child.stderr.on('data', (d) => (err += d));
    child.on('exit', (code) => {
      clearInterval(poll);
      if (code !== 0) return reject(new Error(`fw-shard exit ${code}: ${err.slice(-1500)}`));
      resolve(marks);
    });
  });
}

function print(marks, nodeArgs) {
  process.stdout.write(`\nfw-shard move of ${rows} rows${nodeArgs ? ` (node ${nodeArgs})` : ''}: per phase, wall and CPU seconds\n`);
  process.stdout.write('phase          wall   fw-shard  source  target\n');
  const open = new Map();
  let last = marks[0];
  for (const m of marks.slice(1)) {
    if (m.name.startsWith('>')) open.set(m.name.slice(1), m);
    else {
      const s = open.get(m.name.slice(1)) ?? last;
      const f = (x) => (x / 1000).toFixed(2).padStart(8);
      process.stdout.write(`${m.name.slice(1).padEnd(12)}${f(m.t - s.t)}${f(m.fw - s.fw)}${f(m.src - s.src)}${f(m.dst - s.dst)}\n`);
    }
    last = m;
  }
  const first = marks[0];
  const end = marks.at(-1);
  const f = (x) => (x / 1000).toFixed(2).padStart(8);
  process.stdout.write(`${'all'.padEnd(12)}${f(end.t - first.t)}${f(end.fw - first.fw)}${f(end.src - first.src)}${f(end.dst - first.dst)}\n`);
  process.stdout.write(`peak RSS of fw-shard (VmHWM at the last phase event): ${Math.round(end.hwmKb / 1024)} MB\n`);
}

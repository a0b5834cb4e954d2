#!/usr/bin/env node
// Benchmark: move one user of N rows (default 1,000,000) over three Flamework-shaped tables between two
// local server processes, with 2N rows of another user on the source. Reports copy, verify, cleanup and
// total time, rows/s, and the peak resident memory of the fw-shard process. Writes bench/RESULTS.md and
// bench/results.json. Not part of `npm test`.
//
//   npm run bench                     # 1,000,000 rows, 3 runs
//   npm run bench -- --rows 100000 --runs 1
import { spawn, execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, totalmem, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startServer } from '../dist/sandbox/servers.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const opt = (name, def) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : def;
};
const ROWS = Number(opt('rows', '1000000'));
const RUNS = Number(opt('runs', '3'));
const OTHER = ROWS * 2;
const work = join(tmpdir(), `fws-bench-${process.pid}`);
const log = (s) => process.stderr.write(`bench: ${s}\n`);

const TABLES = [
  // name, share of the user's rows, DDL
  ['Dots', 0.5, `CREATE TABLE Dots (id BIGINT UNSIGNED NOT NULL PRIMARY KEY, sheet_id BIGINT UNSIGNED NOT NULL, user_id INT UNSIGNED NOT NULL,
     created INT UNSIGNED NOT NULL, perms TINYINT UNSIGNED NOT NULL, details_json TEXT CHARACTER SET utf8mb4 NOT NULL,
     index_on VARCHAR(255) CHARACTER SET latin1 NOT NULL, KEY by_user (user_id)) ENGINE=InnoDB DEFAULT CHARSET=utf8`],
  ['Sheets', 0.3, `CREATE TABLE Sheets (id BIGINT UNSIGNED NOT NULL PRIMARY KEY, user_id INT UNSIGNED NOT NULL, created INT UNSIGNED NOT NULL,
     label VARCHAR(255) CHARACTER SET utf8mb4 NULL, count_dots INT UNSIGNED NOT NULL, mime_type VARCHAR(64) NULL,
     notes VARCHAR(255) NOT NULL, KEY by_user (user_id)) ENGINE=InnoDB DEFAULT CHARSET=utf8`],
  ['Checkins', 0.2, `CREATE TABLE Checkins (id BIGINT UNSIGNED NOT NULL PRIMARY KEY, user_id INT UNSIGNED NOT NULL, venue_id BIGINT UNSIGNED NOT NULL,
     created INT UNSIGNED NOT NULL, weather TEXT NULL, status_id TINYINT UNSIGNED NOT NULL, KEY by_user (user_id)) ENGINE=InnoDB DEFAULT CHARSET=utf8`],
];

function fill(table, user, n, idBase) {
  // ~200 bytes a row; ids are ticket-like (odd, above 2^53); latin1 bytes 0x80-0xFF and emoji.
  const id = `${idBase} + seq * 2`;
  switch (table) {
    case 'Dots':
      return `INSERT INTO Dots SELECT ${id}, seq DIV 100, ${user}, 1300000000 + seq, seq % 3, CONCAT('{"lat":', seq % 90, '.123456,"lon":', seq % 180, '.654321,"note":"dot ', seq, ' 😀"}'), CONCAT(X'E9E8FF', REPEAT('x', 40 + seq % 40)) FROM seq_1_to_${n}`;
    case 'Sheets':
      return `INSERT INTO Sheets SELECT ${id}, ${user}, 1300000000 + seq, CONCAT('sheet ', seq, ' — ünïcødé'), seq % 1000, IF(seq % 2, 'text/csv', NULL), REPEAT('n', 100 + seq % 50) FROM seq_1_to_${n}`;
    default:
      return `INSERT INTO Checkins SELECT ${id}, ${user}, 18446744073709551615 - seq, 1300000000 + seq, IF(seq % 5, CONCAT('{"temp":', seq % 40, ',"sky":"clear ☀"} ', REPEAT('w', 100)), NULL), seq % 4 FROM seq_1_to_${n}`;
  }
}

function sqlOn(port, db, statement) {
  execFileSync('mariadb', ['--no-defaults', '-h127.0.0.1', `-P${port}`, '-uroot', '--default-character-set=utf8mb4', db, '-e', statement], { stdio: ['ignore', 'pipe', 'inherit'] });
}

async function prepare(a, b) {
  sqlOn(a.port, 'mysql', 'DROP DATABASE IF EXISTS flamework; DROP DATABASE IF EXISTS users1; CREATE DATABASE flamework; CREATE DATABASE users1');
  sqlOn(b.port, 'mysql', 'DROP DATABASE IF EXISTS users2; CREATE DATABASE users2');
  sqlOn(a.port, 'flamework', "CREATE TABLE users (id INT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY, username VARCHAR(255), cluster_id TINYINT UNSIGNED NOT NULL); INSERT INTO users VALUES (1, 'big', 1), (2, 'others', 1)");
  for (const [, , ddl] of TABLES) {
    sqlOn(a.port, 'users1', ddl);
    sqlOn(b.port, 'users2', ddl);
  }
  let base = 9007199254740993n;
  for (const [name, share] of TABLES) {
    const n = Math.round(ROWS * share);
    const m = Math.round(OTHER * share);
    // interleave the two users' ids, as tickets would
    sqlOn(a.port, 'users1', fill(name, 1, n, base.toString()));
    sqlOn(a.port, 'users1', fill(name, 2, m, (base + 1n).toString()));
    base += BigInt(Math.max(n, m) * 2 + 10);
  }
  sqlOn(a.port, 'users1', 'ANALYZE TABLE Dots, Sheets, Checkins');
}

function runMove(configFile) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...(process.env.FWS_NODEARGS ? process.env.FWS_NODEARGS.split(" ") : []), join(root, 'bin/fw-shard'), '--config', configFile, 'move', '--user', '1', '--to', '2', '--yes', '--assume-no-writes', '--json'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    let peakKb = 0;
    const poll = setInterval(() => {
      try {
        const m = /VmHWM:\s+(\d+)/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'));
        if (m) peakKb = Math.max(peakKb, Number(m[1]));
      } catch { /* exited */ }
    }, 100);
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    child.on('exit', (code) => {
      clearInterval(poll);
      if (code !== 0) return reject(new Error(`move failed (${code}): ${err.slice(-2000)}`));
      if (process.env.FWS_PROF) process.stderr.write(err);
      resolve({ doc: JSON.parse(out), peakMb: Math.round(peakKb / 1024) });
    });
  });
}

const median = (xs) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)];

async function main() {
  rmSync(work, { recursive: true, force: true });
  mkdirSync(work, { recursive: true });
  const serverArgs = ['--innodb-buffer-pool-size=1G', '--max-allowed-packet=64M'];
  log(`starting two servers in ${work}`);
  const [a, b] = await Promise.all([startServer({ dir: work, name: 'a', extraArgs: serverArgs }), startServer({ dir: work, name: 'b', extraArgs: serverArgs })]);
  const configFile = join(work, 'fw-shard.config.json');
  writeFileSync(configFile, JSON.stringify({
    defaults: { host: '127.0.0.1', user: 'root', password: '' },
    main: { port: a.port, database: 'flamework' },
    shards: { 1: { port: a.port, database: 'users1' }, 2: { port: b.port, database: 'users2' } },
  }), { mode: 0o600 });
  const runs = [];
  try {
    for (let i = 0; i < RUNS; i++) {
      log(`run ${i + 1}/${RUNS}: loading ${ROWS} rows of user 1 and ${OTHER} rows of user 2`);
      await prepare(a, b);
      log(`run ${i + 1}/${RUNS}: moving`);
      const { doc, peakMb } = await runMove(configFile);
      const t = doc.timings;
      runs.push({ copyMs: t.copyMs, verifyMs: t.verifyMs, cleanupMs: t.cleanupMs ?? 0, preflightMs: t.preflightMs, totalMs: t.totalMs, peakMb, chunks: doc.tables.map((x) => `${x.name}:${x.chunks}`).join(' ') });
      log(`run ${i + 1}: ${JSON.stringify(runs.at(-1))}`);
    }
  } finally {
    await Promise.allSettled([a.stop(), b.stop()]);
    rmSync(work, { recursive: true, force: true });
  }
  const summary = {};
  for (const k of ['preflightMs', 'copyMs', 'verifyMs', 'cleanupMs', 'totalMs', 'peakMb']) {
    const xs = runs.map((r) => r[k]);
    summary[k] = { median: median(xs), min: Math.min(...xs), max: Math.max(...xs) };
  }
  const version = execFileSync('mariadbd', ['--version'], { encoding: 'utf8' }).trim();
  const result = {
    date: new Date().toISOString(), rows: ROWS, otherRows: OTHER, runs, summary,
    machine: { cpus: cpus().length, cpu: cpus()[0]?.model, memGb: Math.round(totalmem() / 2 ** 30), node: process.version, server: version },
  };
  writeFileSync(join(root, 'bench', `results-move-${ROWS}.json`), JSON.stringify(result, null, 2) + '\n');
  process.stdout.write(JSON.stringify(summary, null, 2) + '\n');
}

main().catch((err) => {
  process.stderr.write(`bench: ${err.stack ?? err}\n`);
  process.exit(1);
});

#!/usr/bin/env node
// The app's writes during an online move, as a Flamework app that honours the freeze makes them (see
// test/helpers/app-simulator.ts and README "App integration"): before every write it checks
// fw_shard_freezes on db_main (a frozen user gets a retryable error: nothing is written), reads the
// user's cluster_id afresh from db_main, and writes to that shard: 50% inserts with ticket ids,
// 30% updates and 20% deletes of random rows of the user's Dots. Paced at --rate writes/s.
//
//   node bench/writer.mjs --main-port P --shards '{"1":[P,"users1"],"2":[P2,"users2"]}' --user 1 --rate 100
//
// Stops when stdin ends (or a line "stop" arrives) and prints one JSON document with what it did.
import { createInterface } from 'node:readline';
import { openDb } from '../dist/db/pool.js';
import { NumericLiteral, sql } from '../dist/db/sql/fragment.js';
import { isFrozenSql } from '../dist/db/sql/freeze.js';
import { rootEndpoint } from '../dist/sandbox/servers.js';

const args = process.argv.slice(2);
const opt = (name, def) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : def;
};
const mainPort = Number(opt('main-port'));
const userId = String(opt('user'));
const rate = Number(opt('rate', '100'));
const shardSpec = JSON.parse(opt('shards'));
const num = (v) => new NumericLiteral(String(v));

const main = openDb(rootEndpoint(mainPort, 'flamework', 'writer main'));
const tickets = openDb(rootEndpoint(Number(opt('tickets-port', String(mainPort))), 'tickets', 'writer tickets'));
const shards = new Map(Object.entries(shardSpec).map(([id, [port, db]]) => [Number(id), openDb(rootEndpoint(port, db, `writer shard ${id}`))]));

const stats = {
  fenceRefused: 0,
  inserts: 0,
  updates: 0,
  deletes: 0,
  refused: 0,
  errors: 0,
  anomalies: [],
  skipped: 0,
  byShard: {},
  latencies: [],
  firstRefusal: null,
  lastRefusal: null,
  insertedNet: 0,
};
let live = [];
let n = 0;

async function frozen() {
  try {
    const [r] = await main.rows(isFrozenSql(userId));
    return Number(r?.frozen ?? 0) > 0;
  } catch (err) {
    if (err?.errno === 1146 || /doesn't exist/.test(String(err?.message))) return false; // no move ever ran
    throw err;
  }
}

async function clusterId() {
  const [r] = await main.rows(sql`SELECT cluster_id FROM users WHERE id = ${num(userId)}`);
  return Number(r.cluster_id);
}

async function step() {
  const t0 = performance.now();
  if (await frozen()) {
    stats.refused++;
    const now = Date.now();
    stats.firstRefusal ??= now;
    stats.lastRefusal = now;
    return; // the app answers 503 Retry-After: 1; nothing was written
  }
  const shard = await clusterId();
  const db = shards.get(shard);
  const k = n++ % 10;
  if (k < 5 || live.length < 10) {
    const t = await tickets.exec(sql`REPLACE INTO Tickets64 (stub) VALUES ('a')`);
    const details = `{"lat":1.5,"lon":2.5,"note":"written during the move ${n} 😀"}`;
    await db.exec(
      sql`INSERT INTO Dots (id, sheet_id, user_id, created, perms, details_json, index_on) VALUES (${num(t.insertId)}, 7, ${num(userId)}, UNIX_TIMESTAMP(), 1, ${details}, 'new')`,
    );
    live.push(t.insertId);
    stats.inserts++;
    stats.insertedNet++;
  } else if (k < 8) {
    const id = live[Math.floor(Math.random() * live.length)];
    const r = await db.exec(
      sql`UPDATE Dots SET perms = perms + 1, details_json = CONCAT(details_json, ' u') WHERE id = ${num(id)} AND user_id = ${num(userId)}`,
    );
    if (r.affectedRows !== 1) stats.anomalies.push(`update of ${id} on shard ${shard} changed ${r.affectedRows} rows`);
    stats.updates++;
  } else {
    const i = Math.floor(Math.random() * live.length);
    const id = live[i];
    const r = await db.exec(sql`DELETE FROM Dots WHERE id = ${num(id)} AND user_id = ${num(userId)}`);
    const j = live.indexOf(id);
    if (j >= 0) {
      live[j] = live[live.length - 1];
      live.pop();
    }
    if (r.affectedRows !== 1) stats.anomalies.push(`delete of ${id} on shard ${shard} changed ${r.affectedRows} rows`);
    stats.deletes++;
    stats.insertedNet--;
  }
  stats.byShard[shard] = (stats.byShard[shard] ?? 0) + 1;
  stats.latencies.push(performance.now() - t0);
}

async function run() {
  const home = await clusterId();
  live = (await shards.get(home).rows(sql`SELECT id FROM Dots WHERE user_id = ${num(userId)}`)).map((r) => String(r.id));
  process.stdout.write(JSON.stringify({ ready: true, liveRows: live.length }) + '\n');
  let stopping = false;
  const rl = createInterface({ input: process.stdin });
  rl.on('line', (l) => {
    if (l.trim() === 'stop') stopping = true;
  });
  rl.on('close', () => (stopping = true));
  const interval = 1000 / rate;
  const started = performance.now();
  let next = started;
  let inflight = 0;
  const pending = new Set();
  while (!stopping) {
    next += interval;
    const wait = next - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    if (inflight >= 8) {
      stats.skipped++; // the app's workers are all busy: this request waits elsewhere; not ours to count
      continue;
    }
    inflight++;
    const p = step()
      .catch((err) => {
        // Trigger mode: the shard refused the write (error 1644): nothing was written; the next step
        // reads cluster_id afresh, as an app does after the "moved" error.
        if ((err?.errno ?? err?.cause?.errno) === 1644) {
          stats.fenceRefused++;
          return;
        }
        stats.errors++;
        if (stats.anomalies.length < 20) stats.anomalies.push(`write failed: ${err.message}`);
      })
      .finally(() => {
        inflight--;
        pending.delete(p);
      });
    pending.add(p);
  }
  await Promise.allSettled([...pending]);
  const seconds = (performance.now() - started) / 1000;
  const lat = stats.latencies.sort((x, y) => x - y);
  const q = (p) => (lat.length ? Math.round(lat[Math.min(lat.length - 1, Math.floor(p * lat.length))] * 10) / 10 : null);
  const writes = stats.inserts + stats.updates + stats.deletes;
  const doc = {
    seconds: Math.round(seconds * 10) / 10,
    writes,
    writesPerSecond: Math.round((writes / seconds) * 10) / 10,
    attemptsPerSecond: Math.round(((writes + stats.refused + stats.errors) / seconds) * 10) / 10,
    inserts: stats.inserts,
    updates: stats.updates,
    deletes: stats.deletes,
    netRowChange: stats.insertedNet,
    refused: stats.refused,
    fenceRefused: stats.fenceRefused,
    refusedWindowMs: stats.firstRefusal ? stats.lastRefusal - stats.firstRefusal : 0,
    skipped: stats.skipped,
    errors: stats.errors,
    byShard: stats.byShard,
    latencyMs: { p50: q(0.5), p99: q(0.99), max: q(1) },
    anomalies: stats.anomalies.slice(0, 20),
  };
  process.stdout.write(JSON.stringify(doc) + '\n');
}

run()
  .catch((err) => {
    process.stdout.write(JSON.stringify({ fatal: String(err?.stack ?? err) }) + '\n');
    process.exitCode = 1;
  })
  .finally(async () => {
    await Promise.allSettled([main.close(), tickets.close(), ...[...shards.values()].map((d) => d.close())]);
  });

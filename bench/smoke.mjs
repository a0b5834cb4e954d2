#!/usr/bin/env node
// Smoke version of the benchmark (`npm run bench -- --quick`, under a minute): a 100k-row user and
// 200k rows of others, one run of every contender, the 10k-row user, one online move under 100
// writes/s. Checks that every contender runs and that fw-shard's copy is byte-identical; prints the
// figures. Writes $TMPDIR/fw-shard-bench-smoke.json (or --out FILE), never RESULTS.md; exits 1 if
// fw-shard's copy is not byte-identical or the online move fails.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import * as L from './lib.mjs';
import { QUICK, runBench } from './run.mjs';
import { markdownReport } from './report.mjs';

const args = process.argv.slice(2);
const i = args.indexOf('--out');
const out = i >= 0 ? args[i + 1] : join(tmpdir(), 'fw-shard-bench-smoke.json');

const res = await runBench(QUICK);
writeFileSync(out, JSON.stringify(res, null, 2) + '\n');
process.stdout.write(markdownReport(res, { analysis: false }) + '\n');
const fw = res.summary.main['fw-shard'];
const problems = [];
if (!fw?.identical) problems.push("fw-shard's copy is not byte-identical");
for (const [n, o] of Object.entries(res.summary.online))
  if (o.succeeded !== o.runs || !o.consistent) problems.push(`online move of ${n} rows: ${o.errors.join('; ') || 'rows inconsistent'}`);
L.log(`smoke done in ${Math.round(res.elapsedMs / 1000)} s; wrote ${out}`);
if (problems.length) {
  L.log(`FAILED: ${problems.join('; ')}`);
  process.exitCode = 1;
}

/**
 * `sandbox up --poor-mans` gives a graduation to try: db_main is shard 1 (every user there, with its
 * own DotsLookup and users_password_reset rows), shards 2 and 3 are empty real servers. The CLI plans
 * the graduation and applies it; db_main's own tables keep every row.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../../src/cli/main.js';
import type { CliContext } from '../../src/cli/context.js';
import { openDb, type Db } from '../../src/db/pool.js';
import { raw, sql } from '../../src/db/sql/fragment.js';
import { SHARD_TABLES } from '../../src/sandbox/sql.js';
import { sandboxDown, sandboxUp, type SandboxUpResult } from '../../src/sandbox/index.js';
import { rootEndpoint } from '../../src/sandbox/servers.js';
import { sink } from '../helpers/sink.js';

let dir = '';
let up: SandboxUpResult;
const dbs: Db[] = [];

beforeAll(async () => {
  dir = join(mkdtempSync(join(tmpdir(), 'fw-shard-grad-')), 'sandbox');
  up = await sandboxUp({ dir, poorMans: true, users: 4, rowsPerUser: 30 });
});
afterAll(async () => {
  await Promise.allSettled(dbs.splice(0).map((d) => d.close()));
  if (dir) {
    await sandboxDown(dir).catch(() => undefined);
    rmSync(join(dir, '..'), { recursive: true, force: true });
  }
});

function db(name: string, database: string): Db {
  const p = up.state.processes.find((x) => x.name === name)!;
  const d = openDb(rootEndpoint(p.port, database, name));
  dbs.push(d);
  return d;
}
const count = async (d: Db, q: string) => Number((await d.rows<{ n: string }>(sql`${raw(q)}`))[0]!.n);

async function run(argv: string[]) {
  const stdout = sink();
  const stderr = sink();
  const ctx: CliContext = { stdout, stderr, stdinIsTTY: false, env: {}, cwd: dir };
  const code = await runCli(['--config', up.configPath, ...argv], ctx);
  return { code, stdout: stdout.text(), stderr: stderr.text() };
}

describe('sandbox up --poor-mans: a graduation ready to try', () => {
  it('starts db_main (shard 1) and two empty real shards; the config is the graduation one', async () => {
    expect(up.state.processes.filter((p) => p.role !== 'memcached').map((p) => `${p.name}:${p.serves.join('+')}`)).toEqual([
      'main:db_main+shard 1+tickets 1',
      'shard2:shard 2',
      'shard3:shard 3',
    ]);
    const show = JSON.parse((await run(['config', 'show', '--json'])).stdout);
    expect(show.shards.map((s: { id: number; isMainDatabase: boolean }) => [s.id, s.isMainDatabase])).toEqual([
      [1, true],
      [2, false],
      [3, false],
    ]);
    expect(show.poorMans).toMatchObject({ federation: false, ticketing: true });
    expect(show.tables.include).toEqual([...SHARD_TABLES]);
    expect(await count(db('shard2', 'users2'), 'SELECT COUNT(*) AS n FROM Dots')).toBe(0);
    const st = await run(['status']);
    expect(st.code, st.stderr).toBe(0);
    expect(st.stdout).toContain("Mode: graduation: shard 1 is db_main's own database");
  });

  it('plan --graduate and apply move every user off db_main; DotsLookup and password resets stay', async () => {
    const main = db('main', 'flamework');
    const lookups = await count(main, 'SELECT COUNT(*) AS n FROM DotsLookup');
    const resets = await count(main, 'SELECT COUNT(*) AS n FROM users_password_reset');
    const dots = await count(main, 'SELECT COUNT(*) AS n FROM Dots');
    expect(lookups).toBeGreaterThan(0);
    const planFile = join(dir, 'graduate.json');
    const plan = await run(['plan', '--graduate', '--to', '2,3', '--out', planFile, '--json']);
    expect(plan.code, plan.stderr).toBe(0);
    expect(JSON.parse(plan.stdout).moves).toHaveLength(4);
    const applied = await run(['apply', planFile, '--assume-no-writes', '--json']);
    expect(applied.code, applied.stderr).toBe(0);
    expect(await count(main, 'SELECT COUNT(*) AS n FROM users WHERE cluster_id = 1')).toBe(0);
    expect(await count(main, 'SELECT COUNT(*) AS n FROM Dots')).toBe(0);
    const moved =
      (await count(db('shard2', 'users2'), 'SELECT COUNT(*) AS n FROM Dots')) + (await count(db('shard3', 'users3'), 'SELECT COUNT(*) AS n FROM Dots'));
    expect(moved).toBe(dots);
    expect(await count(main, 'SELECT COUNT(*) AS n FROM DotsLookup')).toBe(lookups);
    expect(await count(main, 'SELECT COUNT(*) AS n FROM users_password_reset')).toBe(resets);
  });
});

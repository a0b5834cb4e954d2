/**
 * The SIGKILL campaign: the built CLI is killed at seeded random points in every phase of online and
 * offline moves (mid-chunk, between copy and verify, mid-verify, in the delta passes, inside the freeze,
 * right before and right after the flip, after the freeze is lifted, mid-cleanup, in a deferred cleanup),
 * sometimes killed a second time while recovering, then recovered by running the same command again or
 * `fw-shard resume ID`. At the kill and after the recovery it checks, through the mariadb client only:
 *
 *  - at the instant of the kill: exactly one unfinished move; the mapping says shard 2 exactly when the
 *    journal says the flip happened; the shard the mapping points at holds every row of the user;
 *  - a kill inside the freeze leaves a freeze row with an expiry in the future, which stops the app's
 *    writes (the README's query), and which lapses by itself after --freeze-cap;
 *  - after recovery: the target holds exactly the user's original rows (HEX of every column; keyless
 *    duplicates counted), nothing lost and nothing duplicated; the source holds none of them (or all of
 *    them with --cleanup keep); other users untouched on both shards; the mapping points at the target;
 *    no freeze row left; the journal says done with active_user NULL, no runner, every table copied
 *    in full and cleaned in full, every recorded range cleaned.
 *
 * Knobs: FW_SHARD_CAMPAIGN_SEED (default: random, printed), FW_SHARD_CAMPAIGN_TRIALS (default 50),
 * FW_SHARD_CAMPAIGN_ONLY=i,j (replay single trials of a seed). Every trial's seed is in its test name.
 */
import { dropGuard } from '../helpers/guard.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { raw, sql } from '../../src/db/sql/fragment.js';
import type { Db } from '../../src/db/pool.js';
import { createMainSchema, onBothShards, startMoveEnv, type MoveEnv } from '../helpers/move-env.js';
import {
  Rng,
  dumpRows,
  dumpUser,
  emptyDumpOf,
  ensureBuilt,
  mariadb,
  recordFigures,
  runFwShard,
  sleep,
  tablesOf,
  trialSeed,
  type CliEvent,
  type CliRun,
  type EventControl,
  type Login,
} from '../helpers/reliability.js';
import { dropJournalSql } from '../helpers/journal.js';

const SEED = Number(process.env.FW_SHARD_CAMPAIGN_SEED ?? Math.floor(Math.random() * 2 ** 31));
const TRIALS = Number(process.env.FW_SHARD_CAMPAIGN_TRIALS ?? 50);
const ONLY = process.env.FW_SHARD_CAMPAIGN_ONLY ? new Set(process.env.FW_SHARD_CAMPAIGN_ONLY.split(',').map(Number)) : null;
const FREEZE_CAP_MS = 1000;
const FLIPPED = new Set(['flipped', 'cleanup', 'cleanup-pending', 'done']);

const DDL = [
  'CREATE TABLE Dots (id BIGINT UNSIGNED NOT NULL PRIMARY KEY, user_id INT UNSIGNED NOT NULL, body VARCHAR(200) CHARACTER SET utf8mb4 NULL, score FLOAT NULL, created DATETIME(3) NULL, KEY by_user (user_id))',
  'CREATE TABLE Faves (user_id INT UNSIGNED NOT NULL, photo_id BIGINT UNSIGNED NOT NULL, note VARBINARY(64) NULL, UNIQUE KEY fave (user_id, photo_id))',
  'CREATE TABLE Contacts (user_id INT UNSIGNED NOT NULL, contact_id INT UNSIGNED NOT NULL, rel CHAR(3) NULL)',
  'CREATE TABLE Tags (tag VARCHAR(40) CHARACTER SET latin1 NOT NULL, user_id INT UNSIGNED NOT NULL, n INT NULL, PRIMARY KEY (tag, user_id))',
];
const TABLES = ['Contacts', 'Dots', 'Faves', 'Tags'];

type Mode = 'online' | 'offline';
type Cleanup = 'now' | 'defer' | 'keep';

/** A kill point: which event (and how long after it) ends the first run. */
interface Category {
  name: string;
  mode: Mode | 'either';
  cleanup?: Cleanup;
  /** Build the event watcher for this trial (its randomness from the trial's Rng). */
  killer(rng: Rng, sizes: Sizes, chunk: number): (e: CliEvent, ctl: EventControl) => void;
  /** The kill happens in `fw-shard cleanup` of a deferred move, not in the move itself. */
  inDeferredCleanup?: boolean;
  drainMs?: number;
}

interface Sizes {
  Dots: number;
  Faves: number;
  Contacts: number;
  Tags: number;
}

const expectedChunks = (s: Sizes, chunk: number) => Math.floor(s.Dots / chunk) + 1 + Math.floor(s.Faves / chunk) + 1 + Math.floor(s.Tags / chunk) + 1 + 1;

/** Kill on the nth event matching `match`, `delay` ms later (the process keeps running meanwhile). */
function nth(match: (e: CliEvent, seen: CliEvent[]) => boolean, n: number, delay: number) {
  const seen: CliEvent[] = [];
  let count = 0;
  return (e: CliEvent, ctl: EventControl) => {
    seen.push(e);
    if (match(e, seen) && ++count === n) ctl.kill(delay);
  };
}

const CATEGORIES: Category[] = [
  {
    name: 'offline mid-copy (inside a chunk)',
    mode: 'offline',
    killer: (r, s, c) => nth((e) => e.type === 'chunk.copied', r.int(1, expectedChunks(s, c) - 2), r.int(0, 25)),
  },
  {
    name: 'online mid-copy (inside a chunk)',
    mode: 'online',
    killer: (r, s, c) => nth((e) => e.type === 'chunk.copied', r.int(1, expectedChunks(s, c) - 2), r.int(0, 25)),
  },
  {
    name: 'offline between copy and verify',
    mode: 'offline',
    killer: (r) =>
      r.chance(0.5)
        ? nth((e) => e.type === 'phase.finished' && e.phase === 'copy', 1, r.int(0, 3))
        : nth((e) => e.type === 'phase.started' && e.phase === 'verify', 1, 0),
  },
  { name: 'offline mid-verify', mode: 'offline', killer: (r) => nth((e) => e.type === 'chunk.verified', r.int(1, 3), r.int(0, 8)) },
  { name: 'offline right before the flip', mode: 'offline', killer: () => nth((e) => e.type === 'phase.started' && e.phase === 'flip', 1, 0) },
  { name: 'offline right after the flip', mode: 'offline', killer: (r) => nth((e) => e.type === 'mapping.flipped', 1, r.int(0, 2)) },
  {
    name: 'online in the delta passes',
    mode: 'online',
    killer: (r) =>
      r.chance(0.5) ? nth((e) => e.type === 'phase.started' && e.phase === 'delta', 1, r.int(0, 20)) : nth((e) => e.type === 'delta.pass', 1, r.int(0, 5)),
  },
  { name: 'online inside the freeze (expiry checked)', mode: 'online', drainMs: 300, killer: () => nth((e) => e.type === 'freeze.started', 1, 0) },
  {
    name: 'online right before the flip (final sync done, under the freeze)',
    mode: 'online',
    killer: () => nth((e, seen) => e.type === 'delta.pass' && seen.some((x) => x.type === 'freeze.started'), 1, 0),
  },
  { name: 'online right after the flip', mode: 'online', killer: () => nth((e) => e.type === 'mapping.flipped', 1, 0) },
  // With --cleanup keep the move ends right after the freeze is lifted: leave no time to finish first.
  { name: 'online after the freeze was lifted', mode: 'online', cleanup: 'now', killer: (r) => nth((e) => e.type === 'freeze.lifted', 1, r.int(0, 5)) },
  { name: 'mid-cleanup', mode: 'either', cleanup: 'now', killer: (r) => nth((e) => e.type === 'cleanup.progress', r.int(1, 4), r.int(0, 15)) },
  {
    name: 'mid deferred cleanup (fw-shard cleanup)',
    mode: 'either',
    cleanup: 'defer',
    inDeferredCleanup: true,
    killer: (r) => nth((e) => e.type === 'cleanup.progress', r.int(1, 4), r.int(0, 15)),
  },
];

interface TrialFigures {
  trial: number;
  seed: number;
  category: string;
  mode: Mode;
  cleanup: Cleanup;
  kills: number;
  killedAfter: string[];
  recoveredBy: string[];
  busyRetries: number;
  rows: number;
  lost: number;
  duplicated: number;
  freezeExpiryChecked: boolean;
  /** Delayed kills that arrived after the run had finished (not counted as kills). */
  finishedFirst: number;
  /** Time spent in fw-shard processes (the rest: setup, checks, waiting for the freeze to expire). */
  cliMs: number;
  ms: number;
}

/** Lines of a dump as a multiset difference: rows in `a` not matched in `b`. */
function missingFrom(a: string, b: string): number {
  const count = new Map<string, number>();
  let table = '';
  for (const l of b.split('\n')) {
    if (l.startsWith('## ')) table = l;
    else if (l) count.set(table + '|' + l, (count.get(table + '|' + l) ?? 0) + 1);
  }
  let missing = 0;
  table = '';
  for (const l of a.split('\n')) {
    if (l.startsWith('## ')) table = l;
    else if (l) {
      const k = table + '|' + l;
      const n = count.get(k) ?? 0;
      if (n > 0) count.set(k, n - 1);
      else missing++;
    }
  }
  return missing;
}

describe(`SIGKILL campaign (seed ${SEED}, ${TRIALS} trials)`, () => {
  let env: MoveEnv;
  let config = '';
  let A: Login;
  let B: Login;
  let main: Db;
  let s1: Db;
  let s2: Db;
  let schemaA: ReturnType<typeof tablesOf> = [];
  let schemaB: ReturnType<typeof tablesOf> = [];
  const dumpA = (user: string) => dumpUser(A, 'users1', user, 'user_id', schemaA);
  const dumpB = (user: string) => dumpUser(B, 'users2', user, 'user_id', schemaB);
  const figures: TrialFigures[] = [];
  const t0 = Date.now();

  beforeAll(async () => {
    ensureBuilt();
    env = await startMoveEnv({ name: 'campaign' });
    await createMainSchema(env, [
      { id: '42', shard: 1 },
      { id: '43', shard: 1 },
      { id: '44', shard: 2 },
    ]);
    await onBothShards(env, DDL);
    config = env.configFile();
    A = { port: env.a.port };
    B = { port: env.b.port };
    main = env.db('a', 'flamework');
    s1 = env.db('a', 'users1');
    s2 = env.db('b', 'users2');
    schemaA = tablesOf(A, 'users1');
    schemaB = tablesOf(B, 'users2');
  }, 120_000);

  afterAll(async () => {
    const done = figures.length;
    recordFigures('crash-campaign', {
      seed: SEED,
      trials: done,
      kills: figures.reduce((a, f) => a + f.kills, 0),
      secondKills: figures.filter((f) => f.kills > 1).length,
      online: figures.filter((f) => f.mode === 'online').length,
      offline: figures.filter((f) => f.mode === 'offline').length,
      byCategory: Object.fromEntries(CATEGORIES.map((c) => [c.name, figures.filter((f) => f.category === c.name).length])),
      byCleanup: {
        now: figures.filter((f) => f.cleanup === 'now').length,
        defer: figures.filter((f) => f.cleanup === 'defer').length,
        keep: figures.filter((f) => f.cleanup === 'keep').length,
      },
      recoveredByRerun: figures.filter((f) => f.recoveredBy.includes('same command')).length,
      recoveredByResume: figures.filter((f) => f.recoveredBy.includes('resume')).length,
      busyRetries: figures.reduce((a, f) => a + f.busyRetries, 0),
      freezeExpiriesChecked: figures.filter((f) => f.freezeExpiryChecked).length,
      killsThatCameTooLate: figures.reduce((a, f) => a + f.finishedFirst, 0),
      rowsChecked: figures.reduce((a, f) => a + f.rows, 0),
      lost: figures.reduce((a, f) => a + f.lost, 0),
      duplicated: figures.reduce((a, f) => a + f.duplicated, 0),
      seconds: Math.round((Date.now() - t0) / 1000),
      secondsInFwShard: Math.round(figures.reduce((a, f) => a + f.cliMs, 0) / 1000),
      trialsDetail: figures.map(
        (f) => `${f.trial}:${f.seed}:${f.mode}/${f.cleanup}:${f.killedAfter.join('+')}:${f.recoveredBy.join('+')}:${f.cliMs}/${f.ms}ms`,
      ),
    });
    await env?.close();
  });

  /** Fresh data for user 42 (moving, shard 1), 43 (stays on shard 1) and 44 (lives on shard 2). */
  async function reset(rng: Rng): Promise<Sizes> {
    const salt = rng.int(1, 100_000);
    const sizes: Sizes = { Dots: rng.int(80, 160), Faves: rng.int(25, 60), Contacts: rng.int(8, 30), Tags: rng.int(20, 45) };
    await main.exec(dropJournalSql());
    await main.exec(sql`UPDATE users SET cluster_id = IF(id = 44, 2, 1)`);
    await dropGuard(s1, s2);
    for (const d of [s1, s2]) for (const t of TABLES) await d.exec(sql`DELETE FROM ${raw(t)}`);
    const n = (v: number) => raw(String(v));
    const dots = (db: Db, user: number, offset: number, count: number) =>
      db.exec(sql`INSERT INTO Dots SELECT 9007199254740993 + seq * 3 + ${n(offset)}, ${n(user)},
        CASE seq % 7 WHEN 0 THEN NULL WHEN 1 THEN '' ELSE CONCAT('dot ', seq, ' ', ${n(salt)}, ' 😀 é\\t\\n') END,
        IF(seq % 5 = 0, NULL, seq * 1.1 + ${n(salt)}), IF(seq % 9 = 0, NULL, TIMESTAMP('2024-03-31 01:59:59.123') + INTERVAL (seq * 37 + ${n(salt)}) SECOND)
        FROM seq_1_to_${n(count)}`);
    await dots(s1, 42, 0, sizes.Dots);
    await dots(s1, 43, 1, 40);
    await dots(s2, 44, 2, 40);
    const faves = (db: Db, user: number, count: number) =>
      db.exec(
        sql`INSERT INTO Faves SELECT ${n(user)}, 1000 + seq * 2 + ${n(salt % 7)}, IF(seq % 4 = 0, NULL, UNHEX(MD5(CONCAT(seq, ${n(salt)})))) FROM seq_1_to_${n(count)}`,
      );
    await faves(s1, 42, sizes.Faves);
    await faves(s1, 43, 15);
    await faves(s2, 44, 15);
    const contacts = (db: Db, user: number, count: number) =>
      db.exec(
        sql`INSERT INTO Contacts SELECT ${n(user)}, seq % ${n(Math.max(2, Math.floor(count / 2)))}, IF(seq % 3 = 0, NULL, IF(seq % 3 = 1, '', 'fr')) FROM seq_1_to_${n(count)}`,
      );
    await contacts(s1, 42, sizes.Contacts);
    await contacts(s1, 43, 6);
    await contacts(s2, 44, 6);
    const tags = (db: Db, user: number, count: number) =>
      db.exec(
        sql`INSERT INTO Tags SELECT CONCAT('tag-', LPAD(seq, 4, '0'), IF(seq % 4 = 0, _latin1 x'E9', '')), ${n(user)}, IF(seq % 6 = 0, NULL, CAST(seq AS SIGNED) - ${n(salt)}) FROM seq_1_to_${n(count)}`,
      );
    await tags(s1, 42, sizes.Tags);
    await tags(s1, 43, 10);
    await tags(s2, 44, 10);
    return sizes;
  }

  const one = (login: Login, db: string, stmt: string) => mariadb(login, db, stmt).trim();

  /** What must hold at any instant: one unfinished move; mapping and journal agree; the mapped shard has every row. */
  function checkAtKill(original: string, tag: string): void {
    const moves = one(A, 'flamework', "SELECT CONCAT_WS(',', state, phase, IFNULL(active_user, 'NULL')) FROM fw_shard_moves WHERE user_id = 42")
      .split('\n')
      .filter(Boolean);
    expect(moves, `${tag}: journal rows of user 42`).toHaveLength(1);
    const [state, phase, active] = moves[0]!.split(',');
    const shard = one(A, 'flamework', 'SELECT cluster_id FROM users WHERE id = 42');
    if (state === 'done') {
      // The kill landed after the move finished (defer/keep finish right after the flip).
      expect(shard, tag).toBe('2');
      return;
    }
    expect(state, tag).toBe('active');
    expect(active, tag).toBe('42');
    expect(shard === '2', `${tag}: mapping says shard ${shard} while the journal phase is ${phase}`).toBe(FLIPPED.has(phase!));
    if (shard === '1') expect(dumpA('42') === original, `${tag}: source rows intact before the flip`).toBe(true);
    else expect(dumpB('42') === original, `${tag}: target complete after the flip`).toBe(true);
  }

  const frozenByApp = () => one(A, 'flamework', 'SELECT COUNT(*) AS frozen FROM fw_shard_freezes WHERE user_id = 42 AND frozen_until > NOW(3)');

  const trials = Array.from({ length: TRIALS }, (_, i) => i).filter((i) => !ONLY || ONLY.has(i));
  for (const i of trials) {
    const seed = trialSeed(SEED, i);
    const cat = CATEGORIES[i % CATEGORIES.length]!;
    it(`trial ${i} (seed ${seed}): ${cat.name}`, async () => {
      const started = Date.now();
      const rng = new Rng(seed);
      const mode: Mode = cat.mode === 'either' ? rng.pick(['online', 'offline'] as const) : cat.mode;
      const cleanup: Cleanup = cat.cleanup ?? rng.pick(['now', 'now', 'defer', 'keep'] as const);
      const chunk = rng.pick([20, 30, 45]);
      const concurrency = rng.pick([1, 2]);
      const sleepMs = rng.pick([0, 0, 0, 5]);
      // Online trials alternate the two capture modes (shard-side triggers, or re-hash passes).
      const capture = mode === 'online' ? (i % 2 === 0 ? 'trigger' : 'rehash') : 'rehash';
      const sizes = await reset(rng);
      const tag = `seed ${SEED} trial ${i} (trial seed ${seed}, ${mode}${mode === 'online' ? ` --capture ${capture}` : ''}, cleanup ${cleanup}, chunk ${chunk})`;
      const original = dumpA('42');
      const others = { u43: dumpA('43'), u44: dumpB('44') };
      expect(dumpRows(original)).toBe(sizes.Dots + sizes.Faves + sizes.Contacts + sizes.Tags);

      const moveArgs = [
        '--config',
        config,
        'move',
        '--user',
        '42',
        '--to',
        '2',
        '--yes',
        '--events',
        '--json',
        '--chunk-size',
        String(chunk),
        '--concurrency',
        String(concurrency),
        '--cleanup',
        cleanup,
        ...(sleepMs ? ['--sleep-between-chunks', `${sleepMs}ms`] : []),
        ...(mode === 'offline'
          ? ['--assume-no-writes']
          : ['--freeze-cap', `${FREEZE_CAP_MS}ms`, '--drain', `${cat.drainMs ?? 100}ms`, '--freeze-attempts', '5', '--capture', capture]),
      ];
      const resumeArgs = (id: string) => [
        '--config',
        config,
        'resume',
        id,
        '--events',
        '--json',
        '--chunk-size',
        String(chunk),
        '--concurrency',
        String(concurrency),
        ...(mode === 'offline'
          ? ['--assume-no-writes']
          : ['--freeze-cap', `${FREEZE_CAP_MS}ms`, '--drain', '100ms', '--freeze-attempts', '5', '--capture', capture]),
      ];
      const cleanupArgs = ['--config', config, 'cleanup', '--older-than', '0s', '--events', '--json'];
      const f: TrialFigures = {
        trial: i,
        seed,
        category: cat.name,
        mode,
        cleanup,
        kills: 0,
        killedAfter: [],
        recoveredBy: [],
        busyRetries: 0,
        rows: dumpRows(original),
        lost: 0,
        duplicated: 0,
        freezeExpiryChecked: false,
        ms: 0,
        finishedFirst: 0,
        cliMs: 0,
      };
      let moveId = '';
      const run = async (args: string[], o?: Parameters<typeof runFwShard>[1]) => {
        const r = await runFwShard(args, o);
        f.cliMs += r.ms;
        return r;
      };
      let finishedFirst = 0;
      const noteKill = (r: CliRun) => {
        if (r.signal !== 'SIGKILL' && r.killRequested && r.code === 0) {
          // The kill was asked for a few ms after an event, and the run finished within them: a race of the
          // harness, not a kill point. The recovery below then has nothing to do.
          finishedFirst++;
          return;
        }
        expect(r.signal, `${tag}: the kill point was not reached (exit ${r.code}): ${r.stderr.slice(-800)}`).toBe('SIGKILL');
        f.kills++;
        f.killedAfter.push(`${r.killedAfter!.type}${r.killedAfter!.phase ? `(${r.killedAfter!.phase})` : ''}`);
        moveId ||= String(r.events.find((e) => e.moveId)?.moveId ?? '');
        checkAtKill(original, `${tag} after kill #${f.kills} at ${f.killedAfter.at(-1)}`);
      };

      // 1. The first run, killed at the chosen point (or, for deferred cleanups, the move runs through).
      const killer = cat.killer(rng, sizes, chunk);
      if (cat.inDeferredCleanup) {
        const r = await run(moveArgs);
        expect(r.code, `${tag}: ${r.stderr}`).toBe(0);
        expect(r.doc?.phase).toBe('cleanup-pending');
        moveId = String(r.doc?.moveId);
        const c = await run(cleanupArgs, { onEvent: (e, _n, ctl) => killer(e, ctl) });
        noteKill(c);
      } else {
        const r = await run(moveArgs, { onEvent: (e, _n, ctl) => killer(e, ctl) });
        noteKill(r);
      }

      // 2. Killed inside the freeze. Trigger mode: the freeze was an open transaction on the source's fence
      // row, which the server rolled back with the dead runner's connection: a locking read of the row
      // does not wait, and the fence says capturing (or moved, if the kill came after its commit).
      if (cat.drainMs !== undefined && capture === 'trigger') {
        const state = one(A, 'users1', 'SET SESSION innodb_lock_wait_timeout = 3; SELECT state FROM fw_shard_fence WHERE user_id = 42 LOCK IN SHARE MODE');
        expect(['capturing', 'moved'], `${tag}: the fence after the kill`).toContain(state);
        f.freezeExpiryChecked = true;
      }
      // Re-hash mode: the freeze row is there and stops the app; it lapses by itself.
      if (cat.drainMs !== undefined && capture === 'rehash') {
        const [count, remaining] = one(
          A,
          'flamework',
          'SELECT COUNT(*), IFNULL(MAX(TIMESTAMPDIFF(MICROSECOND, NOW(3), frozen_until)) DIV 1000, -1) FROM fw_shard_freezes WHERE user_id = 42',
        ).split('\t');
        expect(count, `${tag}: a freeze row is left by the killed runner`).toBe('1');
        expect(Number(remaining), `${tag}: its expiry is in the future`).toBeGreaterThan(0);
        expect(Number(remaining)).toBeLessThanOrEqual(FREEZE_CAP_MS);
        expect(frozenByApp(), `${tag}: the app sees the user frozen`).toBe('1');
        await sleep(Number(remaining) + 60);
        expect(frozenByApp(), `${tag}: the freeze expired by itself`).toBe('0');
        expect(one(A, 'flamework', 'SELECT cluster_id FROM users WHERE id = 42'), tag).toBe('1');
        f.freezeExpiryChecked = true;
      }

      // 3. Recover: the same command, or resume ID; sometimes killed once more on the way.
      const secondKill = rng.chance(0.2);
      const WORK = new Set(['chunk.copied', 'chunk.verified', 'delta.pass', 'freeze.started', 'mapping.flipped', 'freeze.lifted', 'cleanup.progress']);
      const recoverOnce = async (killAt?: number): Promise<CliRun> => {
        const finished = one(A, 'flamework', "SELECT COUNT(*) FROM fw_shard_moves WHERE state = 'done'") === '1';
        const viaResume = moveId !== '' && rng.chance(0.5) && !finished; // resume of a finished move is refused (exit 5)
        const args = cat.inDeferredCleanup ? cleanupArgs : viaResume ? resumeArgs(moveId) : moveArgs;
        f.recoveredBy.push(cat.inDeferredCleanup ? 'cleanup again' : viaResume ? 'resume' : 'same command');
        const delay = rng.int(0, 10);
        let work = 0; // the second kill lands on the killAt-th event of real work (not on the start-up events)
        return run(args, killAt === undefined ? {} : { onEvent: (e, _n, ctl) => WORK.has(e.type) && ++work === killAt && ctl.kill(delay) });
      };
      if (secondKill) {
        const r = await recoverOnce(rng.int(1, 4));
        if (r.signal === 'SIGKILL') noteKill(r);
        else expect(r.code, `${tag}: ${r.stderr}`).toBe(0);
      }
      let last = await recoverOnce();
      while (last.code === 7 && f.busyRetries < 3) {
        // An online move that could not cut over inside its freeze cap (a loaded machine): retry later, as documented.
        expect(last.stderr, tag).toMatch(/freeze/);
        f.busyRetries++;
        last = await recoverOnce();
      }
      expect(last.code, `${tag}: recovery failed: ${last.stderr.slice(-1500)}`).toBe(0);
      expect(last.doc?.ok, tag).toBe(true);
      if (cleanup === 'defer' && !cat.inDeferredCleanup) {
        const c = await run(cleanupArgs);
        expect(c.code, `${tag}: ${c.stderr}`).toBe(0);
      }

      // 4. Invariants, from an independent dump.
      const target = dumpB('42');
      const source = dumpA('42');
      f.lost = missingFrom(original, target);
      f.duplicated = missingFrom(target, original);
      f.ms = Date.now() - started;
      f.finishedFirst = finishedFirst;
      figures.push(f);
      expect({ lost: f.lost, duplicated: f.duplicated }, tag).toEqual({ lost: 0, duplicated: 0 });
      expect(target === original, `${tag}: target rows byte-identical`).toBe(true);
      expect(source === (cleanup === 'keep' ? original : emptyDumpOf(original)), `${tag}: source ${cleanup === 'keep' ? 'kept' : 'cleaned'}`).toBe(true);
      expect(dumpA('43') === others.u43 && dumpB('44') === others.u44, `${tag}: other users untouched`).toBe(true);
      expect(dumpRows(dumpB('43')) + dumpRows(dumpA('44')), tag).toBe(0);
      expect(one(A, 'flamework', 'SELECT GROUP_CONCAT(id, ":", cluster_id ORDER BY id) FROM users'), tag).toBe('42:2,43:1,44:2');
      expect(one(A, 'flamework', 'SELECT COUNT(*) FROM fw_shard_freezes'), `${tag}: freeze rows left`).toBe('0');
      expect(
        one(A, 'flamework', "SELECT CONCAT_WS(',', state, phase, IFNULL(active_user, 'NULL'), IFNULL(runner_host, 'NULL')) FROM fw_shard_moves"),
        `${tag}: journal`,
      ).toBe('done,done,NULL,NULL');
      const counts: Record<string, number> = { Contacts: sizes.Contacts, Dots: sizes.Dots, Faves: sizes.Faves, Tags: sizes.Tags };
      const tables = one(A, 'flamework', 'SELECT table_name, status, rows_total, rows_copied, rows_cleaned FROM fw_shard_move_tables ORDER BY table_name')
        .split('\n')
        .map((l) => l.split('\t'));
      const cleaned = cleanup !== 'keep';
      expect(tables, `${tag}: journal tables`).toEqual(
        TABLES.map((t) => [t, cleaned ? 'cleaned' : 'copied', String(counts[t]), String(counts[t]), String(cleaned ? counts[t] : 0)]),
      );
      const chunks = one(
        A,
        'flamework',
        'SELECT table_name, SUM(row_count), SUM(cleaned = 0) FROM fw_shard_move_chunks GROUP BY table_name ORDER BY table_name',
      )
        .split('\n')
        .map((l) => l.split('\t'));
      expect(
        chunks.map((c) => [c[0], c[1]]),
        `${tag}: recorded ranges cover every row`,
      ).toEqual(TABLES.map((t) => [t, String(counts[t])]));
      if (cleaned)
        expect(
          chunks.map((c) => c[2]),
          `${tag}: every recorded range cleaned`,
        ).toEqual(TABLES.map(() => '0'));
    });
  }
});

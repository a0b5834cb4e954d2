/**
 * A move's states as an operator meets them, through the command line against two real servers: a
 * resumed move keeps the mode its journal recorded, `--json` counts the whole move across resumes,
 * `cleanup` says when deferred cleanups become due, and every next step printed in a failure state is a
 * command that works there (each hint is run, not only read).
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { runCli } from '../../src/cli/main.js';
import type { CliContext } from '../../src/cli/context.js';
import { makeDeps } from '../../src/app/deps.js';
import { sql } from '../../src/db/sql/fragment.js';
import { hashRange, type RowHash } from '../../src/db/sql/rows.js';
import { readSchema } from '../../src/db/sql/schema.js';
import { decodeKey } from '../../src/move/keys.js';
import { planTable } from '../../src/move/table-plan.js';
import { FwShardError } from '../../src/errors/index.js';
import { runDeferredCleanups, runMove } from '../../src/move/engine.js';
import type { MoveAsk } from '../../src/move/types.js';
import type { ShardId, UserId } from '../../src/topology/index.js';
import { createMainSchema, onBothShards, startMoveEnv, type MoveEnv, resetShards } from '../helpers/move-env.js';
import { sink } from '../helpers/sink.js';

const DDL = [
  'CREATE TABLE Dots (id BIGINT UNSIGNED NOT NULL PRIMARY KEY, user_id INT UNSIGNED NOT NULL, body VARCHAR(200), KEY by_user (user_id))',
  'CREATE TABLE Faves (user_id INT UNSIGNED NOT NULL, photo_id BIGINT UNSIGNED NOT NULL, UNIQUE KEY by_fave (photo_id, user_id))',
];
/** User 42's rows: 150 Dots and 30 Faves (user 43 owns the other 50 Dots). */
const USER_ROWS = 180;
const FIRST_DOT = '9007199254740995';

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

describe('move states', () => {
  let env: MoveEnv;
  let config: string;
  const count = (s: 'a' | 'b', db: string, table: string) => Number(env.cli(s, db, `SELECT COUNT(*) FROM ${table} WHERE user_id = 42`).trim());
  const rowsOf = (s: 'a' | 'b', db: string) => count(s, db, 'Dots') + count(s, db, 'Faves');
  const shardOf = () => Number(env.cli('a', 'flamework', 'SELECT cluster_id FROM users WHERE id = 42').trim());
  const journal = (moveId: string, cols: string) => env.cli('a', 'flamework', `SELECT ${cols} FROM fw_shard_moves WHERE id = ${moveId}`).trim();

  /** The command line in process, without a terminal (as cron runs it). */
  async function fw(argv: string[]): Promise<Run> {
    const stdout = sink();
    const stderr = sink();
    const ctx: CliContext = { stdout, stderr, stdinIsTTY: false, env: {}, cwd: env.dir };
    const code = await runCli(['-c', config, ...argv], ctx);
    return { code, stdout: stdout.text(), stderr: stderr.text() };
  }
  /** The --json document (after --events: the last line). */
  const json = (r: Run): unknown => JSON.parse(r.stdout.includes('\n{"v"') || r.stdout.startsWith('{"v"') ? r.stdout.trim().split('\n').at(-1)! : r.stdout);
  const events = (r: Run) =>
    r.stdout
      .split('\n')
      .filter((l) => l.startsWith('{"v"'))
      .map((l) => JSON.parse(l) as Record<string, unknown>);

  /** A move stopped at a safe point after its first chunk (what Ctrl-C leaves): its id. */
  async function interruptedMove(over: Partial<MoveAsk> = {}): Promise<string> {
    const ac = new AbortController();
    const { deps, close } = makeDeps(env.topology, (e) => {
      if (e.type === 'chunk.copied') ac.abort();
    });
    try {
      const ask: MoveAsk = { userId: '42' as UserId, to: 2 as ShardId, dryRun: false, chunkTimeMs: 500, chunkSize: 25, concurrency: 1, ...over };
      const err = await runMove(deps, ask, { signal: ac.signal }).then(
        () => null,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(FwShardError);
      expect((err as FwShardError).exitCode).toBe(130);
    } finally {
      await close();
    }
    expect(shardOf()).toBe(1);
    return env.cli('a', 'flamework', "SELECT id FROM fw_shard_moves WHERE state = 'active'").trim();
  }

  beforeAll(async () => {
    env = await startMoveEnv({ name: 'states' });
    await createMainSchema(env, [
      { id: '42', shard: 1 },
      { id: '43', shard: 1 },
    ]);
    await onBothShards(env, DDL);
    config = env.configFile();
  });

  beforeEach(() => reset());

  /** User 42 on shard 1 with its rows there, no journal, no guard. */
  async function reset(): Promise<void> {
    await resetShards(env, ['Dots', 'Faves']);
    const src = env.db('a', 'users1');
    await src.exec(sql`INSERT INTO Dots SELECT 9007199254740993 + seq * 2, IF(seq % 4 = 0, 43, 42), CONCAT('dot ', seq) FROM seq_1_to_200`);
    await src.exec(sql`INSERT INTO Faves SELECT 42, seq FROM seq_1_to_30`);
  }

  afterAll(async () => {
    await env?.close();
  });

  describe('resume keeps the mode the journal recorded', () => {
    it('a move journaled offline resumes offline without flags', async () => {
      const id = await interruptedMove({ assumeNoWrites: true });
      expect(JSON.parse(journal(id, 'options'))).toMatchObject({ assumeNoWrites: true, capture: null });

      const first = await fw(['resume', id, '--events', '--json', '--chunk-size', '25']);
      expect(first.code, first.stderr).toBe(0);
      const started = events(first).find((e) => e.type === 'move.started');
      expect(started).toMatchObject({ mode: 'offline', resumed: true });
      expect(events(first).some((e) => e.type === 'delta.pass' || e.type === 'freeze.started')).toBe(false);
      expect(first.stderr).not.toMatch(/journaled/);
      expect(json(first)).toMatchObject({ ok: true, phase: 'done' });
    });

    it('--online on a move journaled offline switches it online, records it and says so', async () => {
      const id = await interruptedMove({ assumeNoWrites: true });
      const r = await fw(['resume', id, '--online', '--capture', 'rehash', '--drain', '100ms', '--events', '--json']);
      expect(r.code, r.stderr).toBe(0);
      expect(events(r).find((e) => e.type === 'move.started')).toMatchObject({ mode: 'online' });
      expect(events(r).some((e) => e.type === 'freeze.started')).toBe(true);
      const warning = events(r).find((e) => e.type === 'warning');
      expect(String(warning?.message)).toMatch(
        new RegExp(`move ${id}: the move was journaled offline \\(--assume-no-writes\\) and continues online, as asked \\(recorded in the journal\\)`),
      );
      expect(JSON.parse(journal(id, 'options'))).toMatchObject({ assumeNoWrites: false, capture: 'rehash' });
      // Both at once is a usage error.
      const both = await fw(['resume', id, '--online', '--assume-no-writes']);
      expect(both.code).toBe(2);
    });

    it('a move journaled online with --capture rehash resumes online in rehash mode, not the trigger mode auto would pick', async () => {
      const id = await interruptedMove({
        capture: 'rehash',
        online: { freezeCapMs: 5000, drainMs: 100, maxDeltaPasses: 10, freezeAttempts: 3, readyRows: 5000 },
      });
      expect(JSON.parse(journal(id, 'options'))).toMatchObject({ assumeNoWrites: false, capture: 'rehash' });
      const r = await fw(['resume', id, '--drain', '100ms', '--events', '--json']);
      expect(r.code, r.stderr).toBe(0);
      expect(events(r).find((e) => e.type === 'move.started')).toMatchObject({ mode: 'online' });
      const doc = json(r) as { plan: { capture: { mode: string } }; deltaPasses: number };
      expect(doc.plan.capture.mode).toBe('rehash');
      expect(doc.deltaPasses).toBeGreaterThan(0);
      // No trigger was installed on either shard.
      expect(env.cli('a', 'users1', "SELECT COUNT(*) FROM information_schema.TRIGGERS WHERE TRIGGER_NAME LIKE 'fw\\_shard\\_%'").trim()).toBe('0');
      expect(env.cli('b', 'users2', "SELECT COUNT(*) FROM information_schema.TRIGGERS WHERE TRIGGER_NAME LIKE 'fw\\_shard\\_%'").trim()).toBe('0');
    });

    it('running the same move command again keeps the journaled cleanup mode and offline mode', async () => {
      const id = await interruptedMove({ assumeNoWrites: true, cleanup: 'defer' });
      const r = await fw(['move', '--user', '42', '--to', '2', '--yes', '--events', '--json']);
      expect(r.code, r.stderr).toBe(0);
      expect(json(r)).toMatchObject({ ok: true, moveId: id, phase: 'cleanup-pending' });
      expect(events(r).find((e) => e.type === 'move.started')).toMatchObject({ mode: 'offline', resumed: true });
      expect(rowsOf('a', 'users1')).toBe(USER_ROWS); // deferred: still there
      expect(journal(id, 'cleanup_mode')).toBe('defer');
    });
  });

  describe('a move keeps the range hash its records were made with', () => {
    /** Re-hash every range record of the move on the target with `kind`, as a run with it would have recorded them. */
    async function rehashRecords(id: string, kind: RowHash): Promise<void> {
      const target = env.db('b', 'users2');
      const schema = await readSchema(target);
      const chunks = await env
        .db('a', 'flamework')
        .rows<{ table_name: string; seq: number; lo: string | null; hi: string | null }>(
          sql`SELECT table_name, seq, lo, hi FROM fw_shard_move_chunks WHERE move_id = ${id}`,
        );
      expect(chunks.length).toBeGreaterThan(0);
      for (const c of chunks) {
        const spec = { ...planTable(schema.get(c.table_name)!, 'user_id'), rowHash: kind };
        const [h] = await target.rows<{ n: string; h: string }>(hashRange(spec, '42', decodeKey(c.lo), decodeKey(c.hi)));
        await env
          .db('a', 'flamework')
          .exec(
            sql`UPDATE fw_shard_move_chunks SET row_count = ${String(h!.n)}, hash = ${String(h!.h)} WHERE move_id = ${id} AND table_name = ${c.table_name} AND seq = ${c.seq}`,
          );
      }
    }

    it("a move journaled before the choice (its records 'md5-text') resumes and verifies with them; a mixed-up record is caught", async () => {
      const id = await interruptedMove({ assumeNoWrites: true });
      // MariaDB 10.11 on both shards: CRC32 and CRC32C.
      expect(JSON.parse(journal(id, 'options'))).toMatchObject({ rowHash: 'crc-mul' });
      // What an older fw-shard leaves: no rowHash in the options, records hashed the 'md5-text' way.
      await env.db('a', 'flamework').exec(sql`UPDATE fw_shard_moves SET options = JSON_REMOVE(options, '$.rowHash') WHERE id = ${id}`);

      // First with the records left as crc-mul sums: the resume must not read them as md5-text sums that
      // match (the target "changed behind fw-shard's back"), so the kind really is what the journal says.
      const mixed = await fw(['resume', id, '--chunk-size', '25']);
      expect(mixed.code, mixed.stderr).toBe(6);
      expect(mixed.stderr).toMatch(/changed behind fw-shard's back/);
      expect(shardOf()).toBe(1);

      await rehashRecords(id, 'md5-text');
      const r = await fw(['resume', id, '--json', '--chunk-size', '25']);
      expect(r.code, r.stderr).toBe(0);
      expect(json(r)).toMatchObject({ ok: true, phase: 'done' });
      expect(JSON.parse(journal(id, 'options')).rowHash).toBeUndefined();
      expect(shardOf()).toBe(2);
      expect(rowsOf('b', 'users2')).toBe(USER_ROWS);
      expect(rowsOf('a', 'users1')).toBe(0);
    });

    it("a move journaled with 'md5' (the kind of MySQL 8 and older MariaDB) copies, verifies and cleans up with it", async () => {
      const id = await interruptedMove({ assumeNoWrites: true });
      // As the preflight journals it where a shard has no CRC32C; its records so far made the md5 way.
      await env.db('a', 'flamework').exec(sql`UPDATE fw_shard_moves SET options = JSON_SET(options, '$.rowHash', 'md5') WHERE id = ${id}`);
      await rehashRecords(id, 'md5');
      // A row changed on the source after its chunk was copied: the md5 verification must find it.
      await env.db('a', 'users1').exec(sql`UPDATE Dots SET body = 'changed after its copy' WHERE id = ${FIRST_DOT}`);
      const r = await fw(['resume', id, '--json', '--chunk-size', '25']);
      expect(r.code, r.stderr).toBe(0);
      expect(json(r)).toMatchObject({ ok: true, phase: 'done' });
      expect(JSON.parse(journal(id, 'options')).rowHash).toBe('md5');
      // Dots' first chunk was copied before the change: the verification saw it differ and re-copied it.
      expect((json(r) as { tables: { name: string; mismatches: number }[] }).tables.find((t) => t.name === 'Dots')?.mismatches).toBe(1);
      expect(shardOf()).toBe(2);
      expect(env.cli('b', 'users2', `SELECT body FROM Dots WHERE id = ${FIRST_DOT}`).trim()).toBe('changed after its copy');
      expect(rowsOf('b', 'users2')).toBe(USER_ROWS);
      expect(rowsOf('a', 'users1')).toBe(0);
    });

    it("a move journaled with 'crc64' (the release before 'crc-mul') resumes, verifies and cleans up with its records", async () => {
      const id = await interruptedMove({ assumeNoWrites: true });
      // What that release journaled: the kind and records made with the two CRCs side by side.
      await env.db('a', 'flamework').exec(sql`UPDATE fw_shard_moves SET options = JSON_SET(options, '$.rowHash', 'crc64') WHERE id = ${id}`);
      await rehashRecords(id, 'crc64');
      const r = await fw(['resume', id, '--json', '--chunk-size', '25']);
      expect(r.code, r.stderr).toBe(0);
      expect(json(r)).toMatchObject({ ok: true, phase: 'done' });
      expect(JSON.parse(journal(id, 'options')).rowHash).toBe('crc64');
      expect(shardOf()).toBe(2);
      expect(rowsOf('b', 'users2')).toBe(USER_ROWS);
      expect(rowsOf('a', 'users1')).toBe(0);
    });
  });

  describe('--json counts the whole move across resumes', () => {
    it("an offline move interrupted mid-copy: rows copied and deleted are the user's rows", async () => {
      const id = await interruptedMove({ assumeNoWrites: true });
      const copiedBefore = Number(env.cli('a', 'flamework', `SELECT SUM(rows_copied) FROM fw_shard_move_tables WHERE move_id = ${id}`).trim());
      expect(copiedBefore).toBeGreaterThan(0);
      expect(copiedBefore).toBeLessThan(USER_ROWS);
      const r = await fw(['resume', id, '--json', '--chunk-size', '25']);
      expect(r.code, r.stderr).toBe(0);
      const doc = json(r) as { totals: { rowsCopied: string; rowsDeleted: string; deltaPasses: number; freezes: unknown[] } };
      expect(doc.totals).toMatchObject({ rowsCopied: String(USER_ROWS), rowsDeleted: String(USER_ROWS), deltaPasses: 0, freezes: [] });
      // The plain summary says the same.
      expect(r.stderr).toMatch(new RegExp(`finished \\(done\\).*, ${USER_ROWS} rows copied`));
      expect(rowsOf('b', 'users2')).toBe(USER_ROWS);
      expect(rowsOf('a', 'users1')).toBe(0);
    });

    it('an online move whose first freeze failed: every freeze attempt and delta pass of both runs', async () => {
      // The first run cannot finish inside a 250 ms freeze (all of it is the flip's margin): exit 7.
      const first = await fw([
        'move',
        '--user',
        '42',
        '--to',
        '2',
        '--yes',
        '--json',
        '--capture',
        'rehash',
        '--freeze-cap',
        '250ms',
        '--freeze-attempts',
        '1',
      ]);
      expect(first.code, first.stderr).toBe(7);
      const failed = json(first) as { moveId: string; totals: { deltaPasses: number; freezes: { outcome: string }[] } };
      expect(failed.totals.freezes.map((f) => f.outcome)).toEqual(['lifted']);
      const passesBefore = failed.totals.deltaPasses;
      expect(passesBefore).toBeGreaterThan(0);

      const r = await fw(['resume', failed.moveId, '--drain', '100ms', '--json']);
      expect(r.code, r.stderr).toBe(0);
      const doc = json(r) as {
        freezeMs: number;
        deltaPasses: number;
        totals: {
          rowsCopied: string;
          rowsDeleted: string;
          deltaPasses: number;
          freezes: { startedAt: string; ms: number; outcome: string }[];
          freezeMsTotal: number;
        };
      };
      expect(doc.totals.freezes.map((f) => f.outcome)).toEqual(['lifted', 'flipped']);
      expect(doc.totals.freezes.every((f) => f.ms >= 0 && /^\d{4}-\d\d-\d\dT/.test(f.startedAt))).toBe(true);
      expect(doc.totals.freezeMsTotal).toBe(doc.totals.freezes[0]!.ms + doc.totals.freezes[1]!.ms);
      expect(doc.freezeMs).toBe(doc.totals.freezes[1]!.ms);
      expect(doc.totals.deltaPasses).toBeGreaterThan(passesBefore);
      expect(doc.deltaPasses).toBe(doc.totals.deltaPasses);
      expect(doc.totals).toMatchObject({ rowsCopied: String(USER_ROWS), rowsDeleted: String(USER_ROWS) });
    });
  });

  it('cleanup with deferred moves not due yet says how many, when each is due, and the command that runs them now', async () => {
    const mv = await fw(['move', '--user', '42', '--to', '2', '--yes', '--json', '--assume-no-writes', '--cleanup', 'defer']);
    expect(mv.code, mv.stderr).toBe(0);
    const { moveId } = json(mv) as { moveId: string };

    const r = await fw(['cleanup']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^nothing to clean up yet: 1 deferred cleanup is waiting until its flip is 15m old/);
    expect(r.stdout).toMatch(new RegExp(`move ${moveId} \\(user 42, shard 1 → 2\\): flipped \\S+Z, due at \\S+Z \\(in 1[45]m \\d\\ds\\)`));
    const doc = json(await fw(['cleanup', '--json']));
    const pending = (doc as { pending: { moveId: string; flippedAt: string; eligibleAt: string }[] }).pending;
    expect(pending.map((p) => p.moveId)).toEqual([moveId]);
    expect(Date.parse(pending[0]!.eligibleAt) - Date.parse(pending[0]!.flippedAt)).toBe(15 * 60 * 1000);
    expect(rowsOf('a', 'users1')).toBe(USER_ROWS);

    // The command it names runs them now.
    const now = /: (fw-shard cleanup --older-than 0s)/.exec(r.stdout)?.[1];
    expect(now).toBeDefined();
    const ran = await fw(commandArgs(now!));
    expect(ran.code, ran.stderr).toBe(0);
    expect(ran.stdout).toMatch(/done: user 42 lives on shard 2/);
    expect(rowsOf('a', 'users1')).toBe(0);
    expect(journal(moveId, 'state')).toBe('done');
    expect((await fw(['cleanup'])).stdout.trim()).toBe('nothing to clean up');
  });

  describe('every next step printed is a command that works in that state', () => {
    /** The hint (`next step:` on stderr) of a failed command. */
    const hintOf = (r: Run) => /next step: (.*)/.exec(r.stderr)?.[1] ?? '';

    /**
     * Run each command a hint names, in order, as the operator would (a `move` gets the --yes a terminal
     * would have asked for); none may be refused.
     */
    async function follow(hint: string, allowed: number[] = [0]): Promise<Run[]> {
      const cmds = commandsIn(hint);
      expect(cmds.length, `no command in: ${hint}`).toBeGreaterThan(0);
      const runs: Run[] = [];
      for (const c of cmds) {
        const args = commandArgs(c);
        const r = await fw(args[0] === 'move' ? [...args, '--yes'] : args);
        expect(allowed, `${c} (from "${hint}") exited ${r.code}:\n${r.stderr}`).toContain(r.code);
        expect(r.stderr).not.toMatch(/not possible|\[USAGE\]|\[ALREADY_FLIPPED\]|\[PRECONDITION\]|internal error/);
        runs.push(r);
      }
      return runs;
    }

    it('unfinished before the flip: moving the user elsewhere names resume and abort, and each works', async () => {
      for (const pick of ['resume', 'abort']) {
        await reset();
        const id = await interruptedMove({ assumeNoWrites: true });
        const busy = await fw(['move', '--user', '42', '--to', '1', '--yes']);
        expect(busy.code).toBe(7);
        const hint = hintOf(busy);
        expect(commandsIn(hint)).toEqual([`fw-shard resume ${id}`, `fw-shard abort ${id}`]);
        await follow(commandsIn(hint).find((c) => c.includes(pick))!);
        expect(journal(id, 'state')).toBe(pick === 'resume' ? 'done' : 'aborted');
      }
    });

    it('flipped with a deferred cleanup: abort and moving elsewhere name resume --cleanup now and the move back, which work', async () => {
      const mv = await fw(['move', '--user', '42', '--to', '2', '--yes', '--json', '--assume-no-writes', '--cleanup', 'defer']);
      const { moveId, nextStep } = json(mv) as { moveId: string; nextStep: string };
      await follow(nextStep); // fw-shard cleanup --older-than 15m: runs, says it is pending

      const busy = await fw(['move', '--user', '42', '--to', '1', '--yes']);
      expect(busy.code).toBe(7);
      expect(hintOf(busy)).not.toMatch(/abort/);
      const refused = await fw(['abort', moveId]);
      expect(refused.code).toBe(5);
      expect(commandsIn(hintOf(refused))).toEqual(commandsIn(hintOf(busy)));
      expect(commandsIn(hintOf(refused))).toEqual([`fw-shard resume ${moveId} --cleanup now`, 'fw-shard move --user 42 --to 1']);
      await follow(hintOf(refused));
      expect(shardOf()).toBe(1);
      expect(rowsOf('a', 'users1')).toBe(USER_ROWS);
      expect(rowsOf('b', 'users2')).toBe(0);
    });

    it('finished and aborted moves: resume and abort name commands that work', async () => {
      const id = await interruptedMove({ assumeNoWrites: true });
      expect((await fw(['abort', id])).code).toBe(0);
      for (const cmd of [
        ['abort', id],
        ['resume', id],
      ]) {
        const r = await fw(cmd);
        expect(r.code).toBe(5);
        expect(commandsIn(hintOf(r))).toEqual(['fw-shard moves --all']);
        await follow(hintOf(r));
      }
      const doneId = (json(await fw(['move', '--user', '42', '--to', '2', '--yes', '--json', '--assume-no-writes'])) as { moveId: string }).moveId;
      for (const cmd of [
        ['resume', doneId],
        ['abort', doneId],
      ]) {
        const r = await fw(cmd);
        expect(r.code).toBe(5);
        expect(commandsIn(hintOf(r))).toEqual(['fw-shard moves --all', 'fw-shard move --user 42 --to 1']);
      }
      await follow(hintOf(await fw(['abort', doneId])));
      expect(shardOf()).toBe(1);
    });

    it('busy while another runner holds the move: the hint shows it, and resume takes over once that runner is gone', async () => {
      const id = await interruptedMove({ assumeNoWrites: true });
      env.cli('a', 'flamework', `UPDATE fw_shard_moves SET runner_host = 'other-host', runner_pid = 4242, heartbeat_at = NOW(3) WHERE id = ${id}`);
      const busy = await fw(['resume', id]);
      expect(busy.code).toBe(7);
      const hint = hintOf(busy);
      expect(commandsIn(hint)).toEqual(['fw-shard moves', `fw-shard resume ${id}`]);
      const [moves] = await follow(commandsIn(hint)[0]!);
      expect(moves!.stdout).toMatch(new RegExp(`${id}.*other-host:4242`));
      // That runner died: 30 s without a heartbeat later, the named resume takes the move over.
      env.cli('a', 'flamework', `UPDATE fw_shard_moves SET heartbeat_at = NOW(3) - INTERVAL 31 SECOND WHERE id = ${id}`);
      await follow(commandsIn(hint)[1]!);
      expect(journal(id, 'state')).toBe('done');
    });

    it('a data mismatch before the flip (the target changed behind fw-shard): the named abort works', async () => {
      const id = await interruptedMove({ assumeNoWrites: true });
      env.cli('b', 'users2', `UPDATE Dots SET body = 'a stranger wrote here' WHERE id = ${FIRST_DOT}`);
      const failed = await fw(['resume', id, '--chunk-size', '25']);
      expect(failed.code, failed.stderr).toBe(6);
      expect(commandsIn(hintOf(failed))).toEqual([`fw-shard abort ${id}`]);
      await follow(hintOf(failed));
      expect(shardOf()).toBe(1);
      expect(rowsOf('b', 'users2')).toBe(0);
    });

    it('a deferred cleanup stopped half-way: the named resume finishes it (not deferred again)', async () => {
      const mv = await fw(['move', '--user', '42', '--to', '2', '--yes', '--json', '--assume-no-writes', '--cleanup', 'defer', '--chunk-size', '25']);
      const { moveId } = json(mv) as { moveId: string };
      const ac = new AbortController();
      const { deps, close } = makeDeps(env.topology, (e) => {
        if (e.type === 'cleanup.progress') ac.abort();
      });
      const err = await runDeferredCleanups(deps, 0, { chunkTimeMs: 500, concurrency: 1, dryRun: false }, { signal: ac.signal })
        .then(
          () => null,
          (e: unknown) => e as FwShardError,
        )
        .finally(close);
      expect(err?.code).toBe('INTERRUPTED');
      expect(journal(moveId, 'phase, cleanup_mode')).toBe('cleanup\tdefer');
      expect(rowsOf('a', 'users1')).toBeGreaterThan(0);
      expect(rowsOf('a', 'users1')).toBeLessThan(USER_ROWS);
      expect(commandsIn(err!.hint!)).toEqual([`fw-shard resume ${moveId}`]);
      const [r] = await follow(err!.hint!);
      expect(r!.stdout).toMatch(/done: user 42 lives on shard 2/);
      expect(rowsOf('a', 'users1')).toBe(0);
      expect(journal(moveId, 'state')).toBe('done');
      // Deletes counted over both runs.
      expect(env.cli('a', 'flamework', `SELECT SUM(rows_cleaned) FROM fw_shard_move_tables WHERE move_id = ${moveId}`).trim()).toBe(String(USER_ROWS));
    });

    it('rows kept by a cleanup after the flip: verify and cleanup --orphans run (exit 8 reports what is left)', async () => {
      const mv = await fw(['move', '--user', '42', '--to', '2', '--yes', '--json', '--assume-no-writes', '--cleanup', 'defer']);
      expect(mv.code, mv.stderr).toBe(0);
      env.cli('a', 'users1', `UPDATE Dots SET body = 'stale write' WHERE id = ${FIRST_DOT}`);
      const kept = await fw(['cleanup', '--older-than', '0s']);
      expect(kept.code).toBe(6);
      expect(commandsIn(hintOf(kept))).toEqual(['fw-shard verify --user 42 --json', 'fw-shard cleanup --orphans --user 42']);
      await follow(hintOf(kept), [0, 8]);
      expect(rowsOf('a', 'users1')).toBe(1); // the changed row stays, listed, never deleted
    });
  });
});

/** The fw-shard commands a hint names, in order: a subcommand, then its flags, values and ids. */
function commandsIn(hint: string): string[] {
  const token = String.raw`(?:--[a-z][a-z-]*|[0-9]+[a-z]*|now|defer|keep)`;
  const re = new RegExp(String.raw`fw-shard ([a-z]+(?: ${token})*)`, 'g');
  return [...hint.matchAll(re)].map((m) => `fw-shard ${m[1]}`);
}

function commandArgs(command: string): string[] {
  return command.replace(/^fw-shard /, '').split(' ');
}

/**
 * `fw-shard undo` against real servers: a move made with --cleanup defer, the app's writes on the new
 * shard after the flip (and a stale app server's on the old one), then the undo: the user is back on the
 * old shard with exactly the new shard's rows (every column's bytes), only what changed was copied, and
 * the original move's deferred cleanup never runs (the silent-loss trap). Then the refusals, a killed
 * undo finished by resume or undone by abort, and an undo with the app writing all along.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { abortMove, resumeMove, runDeferredCleanups, runMove } from '../../src/move/engine.js';
import { undoMove, type UndoRequest } from '../../src/move/undo.js';
import { FwShardError } from '../../src/errors/index.js';
import type { MoveRequest, MoveResult } from '../../src/move/types.js';
import type { ShardId, UserId } from '../../src/topology/index.js';
import type { MoveEvent } from '../../src/events/types.js';
import { makeDeps } from '../../src/app/deps.js';
import { AppSimulator } from '../helpers/app-simulator.js';
import { BYPASS } from '../helpers/guard.js';
import { startOnlineEnv, type OnlineEnv } from '../helpers/online-env.js';
import { expectCode } from '../helpers/move-env.js';
import { sink } from '../helpers/sink.js';
import { runCli } from '../../src/cli/main.js';
import { moveLockName } from '../../src/db/lock-names.js';
import { getLockSql } from '../../src/db/sql/locks.js';
import type { CliContext } from '../../src/cli/context.js';

const ROWS = 3000; // user 42 owns 2700 of them, user 43 the other 300
const ONLINE = { freezeCapMs: 3000, drainMs: 300, maxDeltaPasses: 10, freezeAttempts: 3, readyRows: 400 };

const base = (over: Partial<MoveRequest> = {}): UndoRequest => ({
  dryRun: false,
  assumeNoWrites: false,
  chunkTimeMs: 500,
  chunkSize: 100,
  concurrency: 1,
  cleanup: 'now',
  online: ONLINE,
  ...over,
});
const moveReq = (over: Partial<MoveRequest> = {}): MoveRequest => ({ ...base({ cleanup: 'defer' }), userId: '42' as UserId, to: 2 as ShardId, ...over });

describe('fw-shard undo', () => {
  let online: OnlineEnv;
  const env = () => online.env;
  const sql1 = (s: string) => env().cli('a', 'users1', s);
  const sql2 = (s: string) => env().cli('b', 'users2', s);
  const main = (s: string) => env().cli('a', 'flamework', s).trim();
  const shardOf = () => Number(main('SELECT cluster_id FROM users WHERE id = 42'));
  /** Every column's bytes of user 42's rows on a shard, in key order. */
  const rowsOn = (shard: 1 | 2) => (shard === 1 ? sql1 : sql2)('SELECT id, user_id, HEX(body), body IS NULL FROM Dots WHERE user_id = 42 ORDER BY id');
  const count = (shard: 1 | 2, user = 42) => Number((shard === 1 ? sql1 : sql2)(`SELECT COUNT(*) FROM Dots WHERE user_id = ${user}`).trim());
  const moveRow = (id: string) =>
    main(`SELECT state, phase, IFNULL(undo_of, '-'), IFNULL(undone_by, '-'), IFNULL(active_user, '-') FROM fw_shard_moves WHERE id = ${id}`);

  /** What the app does on the new shard after the flip: updates, deletes, inserts (and a NULL body). */
  function appWritesOnNewShard(): void {
    sql2(
      "UPDATE Dots SET body = CONCAT('changed ', id) WHERE user_id = 42 AND id IN (SELECT id FROM (SELECT id FROM Dots WHERE user_id = 42 ORDER BY id LIMIT 5) x)",
    );
    sql2('UPDATE Dots SET body = NULL WHERE user_id = 42 ORDER BY id DESC LIMIT 1');
    sql2('DELETE FROM Dots WHERE user_id = 42 AND id IN (SELECT id FROM (SELECT id FROM Dots WHERE user_id = 42 ORDER BY id LIMIT 3 OFFSET 1000) x)');
    sql2("INSERT INTO Dots VALUES (9007199254900001, 42, 'new after the flip'), (9007199254900003, 42, 'caf\\xc3\\xa9'), (10, 42, 'below every key')");
  }

  async function moveDeferred(deps: ReturnType<typeof makeDeps>['deps'], over: Partial<MoveRequest> = {}): Promise<string> {
    const r = await runMove(deps, moveReq(over));
    expect(r.phase, r.nextStep).toBe(over.cleanup === 'keep' ? 'done' : 'cleanup-pending');
    expect(shardOf()).toBe(2);
    return r.moveId!;
  }

  beforeAll(async () => {
    online = await startOnlineEnv('undo');
  });

  beforeEach(async () => {
    await online.reset(ROWS);
  });

  afterAll(async () => {
    await online?.close();
  });

  // The undo's own cleanup: now (the new shard's rows go at once), or defer (they stay, identical to the
  // live ones on the old shard: exactly what the original's cleanup would delete there if it ran).
  for (const [capture, cleanup] of [
    ['rehash', 'now'],
    ['trigger', 'defer'],
  ] as const) {
    it(`moves the user back with exactly the new shard's rows, copying only what changed, and the original cleanup never runs (--capture ${capture}, --cleanup ${cleanup})`, async () => {
      const events: MoveEvent[] = [];
      const { deps, close } = makeDeps(online.topology, (e) => events.push(e));
      try {
        const original = await moveDeferred(deps, { capture });
        appWritesOnNewShard();
        // A stale app server (its cached cluster_id still says shard 1) changed and added rows there.
        sql1(
          `${BYPASS}UPDATE Dots SET body = 'stale write' WHERE id = (SELECT id FROM (SELECT id FROM Dots WHERE user_id = 42 ORDER BY id LIMIT 1 OFFSET 2000) x)`,
        );
        sql1(`${BYPASS}INSERT INTO Dots VALUES (9007199254900005, 42, 'stale insert')`);
        const expected = rowsOn(2);
        expect(expected.split('\n').length).toBeGreaterThan(2000);
        const user43 = sql1('SELECT id, HEX(body) FROM Dots WHERE user_id = 43 ORDER BY id');

        events.length = 0;
        const r = await undoMove(deps, original, base({ capture, cleanup }));
        expect(r.ok, JSON.stringify(r.error)).toBe(true);
        expect(r.undoOf).toBe(original);
        expect(r.mappingFlipped).toBe(true);
        expect(r.phase).toBe(cleanup === 'now' ? 'done' : 'cleanup-pending');
        expect(r.plan?.capture?.mode).toBe(capture);
        expect(r.freezeMs).toBeGreaterThan(0);
        expect(shardOf()).toBe(1);
        expect(rowsOn(1)).toBe(expected);
        // --cleanup now: the new shard's rows were deleted after comparison; defer: they are all still there.
        if (cleanup === 'now') expect(count(2)).toBe(0);
        else expect(rowsOn(2)).toBe(expected);
        expect(sql1('SELECT id, HEX(body) FROM Dots WHERE user_id = 43 ORDER BY id')).toBe(user43);

        // Only what changed was copied: 6 updated, 3 inserted, the stale row; never the 2700.
        const copied = Number(r.rowsCopied);
        expect(copied).toBeGreaterThanOrEqual(10);
        expect(copied).toBeLessThan(60);
        expect(main(`SELECT SUM(rows_copied) FROM fw_shard_move_tables WHERE move_id = ${r.moveId}`)).toBe(r.rowsCopied);
        const recopied = events.filter((e) => e.type === 'delta.pass').reduce((n, e) => n + Number(e.type === 'delta.pass' ? e.rowsRecopied : 0), 0);
        expect(copied + recopied).toBeLessThan(100);

        // The trap: the original's deferred cleanup, due long ago, must never delete the live rows.
        main(`UPDATE fw_shard_moves SET flipped_at = NOW(3) - INTERVAL 1 DAY WHERE id = ${original}`);
        const cleaned = await runDeferredCleanups(deps, 0, base());
        // Only the undo's own deferred cleanup runs: it deletes the new shard's rows, never the old one's.
        expect(cleaned.map((c) => c.moveId)).toEqual(cleanup === 'now' ? [] : [r.moveId]);
        expect(rowsOn(1)).toBe(expected);
        expect(count(2)).toBe(0);
        // The journal links both; the original ended in the undo's flip transaction.
        expect(moveRow(r.moveId!)).toBe(`done\tdone\t${original}\t-\t-`);
        expect(moveRow(original)).toBe(`done\tdone\t-\t${r.moveId}\t-`);
        expect(main(`SELECT flipped_at IS NOT NULL FROM fw_shard_moves WHERE id = ${r.moveId}`)).toBe('1');

        await expectCode(resumeMove(deps, original, { ...base(), cleanup: 'now' }), 'PRECONDITION');
        expect(rowsOn(1)).toBe(expected);
        await expectCode(undoMove(deps, original, base()), 'PRECONDITION');

        // The app writes on the old shard again, unrefused: no fence of the user is left there.
        sql1("INSERT INTO Dots VALUES (9007199254900007, 42, 'after the undo')");
        expect(count(1)).toBe(expected.split('\n').filter(Boolean).length + 1);
      } finally {
        await close();
      }
    });
  }

  it('refuses with the command that works: not flipped, cleanup ran, moved since, busy', async () => {
    const { deps, close } = makeDeps(online.topology, () => undefined);
    const offline = { assumeNoWrites: true };
    try {
      // Not flipped: abort is the way back.
      const ac = new AbortController();
      const stopped = makeDeps(online.topology, (e) => e.type === 'chunk.copied' && ac.abort());
      const interrupted = await expectCode(runMove(stopped.deps, moveReq(offline), { signal: ac.signal }), 'INTERRUPTED');
      await stopped.close();
      const unflipped = /move (\d+) can be resumed/.exec(interrupted.message)![1]!;
      const e1 = await expectCode(undoMove(deps, unflipped, base()), 'PRECONDITION');
      expect(e1.exitCode).toBe(5);
      expect(e1.hint).toBe(`fw-shard abort ${unflipped} removes its copy from shard 2; the user stays on shard 1.`);
      await abortMove(deps, { moveId: unflipped });

      // The cleanup deleted the old rows: a plain move back.
      const cleanedUp = (await runMove(deps, moveReq({ ...offline, cleanup: 'now' }))).moveId!;
      const e2 = await expectCode(undoMove(deps, cleanedUp, base()), 'PRECONDITION');
      expect(e2.message).toMatch(/deleted user 42's rows on shard 1/);
      expect(e2.hint).toBe('fw-shard move --user 42 --to 1 moves the user back (a plain move: everything is copied).');
      const back = await runMove(deps, { ...moveReq({ ...offline, cleanup: 'now' }), to: 1 as ShardId });
      expect(back.ok).toBe(true);

      // Deferred, but the mapping was changed since by someone else.
      const deferred = await moveDeferred(deps, offline);
      main('UPDATE users SET cluster_id = 1 WHERE id = 42');
      const e3 = await expectCode(undoMove(deps, deferred, base()), 'PRECONDITION');
      expect(e3.message).toMatch(/user 42 has moved since move \d+: it lives on shard 1/);
      main('UPDATE users SET cluster_id = 2 WHERE id = 42');

      // A runner holds the move (a cleanup starting): busy, exit 7; nothing changed in the journal.
      main(`UPDATE fw_shard_moves SET runner_host = 'elsewhere', runner_pid = 1, heartbeat_at = NOW(3) WHERE id = ${deferred}`);
      const e4 = await expectCode(undoMove(deps, deferred, base()), 'BUSY');
      expect(e4.exitCode).toBe(7);
      expect(moveRow(deferred)).toBe('active\tcleanup-pending\t-\t-\t42');
      main(`UPDATE fw_shard_moves SET runner_host = NULL, runner_pid = NULL WHERE id = ${deferred}`);

      // A live runner holds the move's runner lock (a claim takes it before it writes the journal, which
      // names no runner here): busy as well, naming fw-shard stop; the undo never takes the move.
      const mainDb = env().db('a', 'flamework');
      const holder = await mainDb.dedicatedSession();
      try {
        const [held] = await holder.rows<{ got: number }>(getLockSql(moveLockName(mainDb.endpoint.database, deferred)));
        expect(Number(held!.got)).toBe(1);
        const e4b = await expectCode(undoMove(deps, deferred, base()), 'BUSY');
        expect(e4b.message).toMatch(/which is alive: it holds the move's runner lock/);
        expect(e4b.hint).toContain(`fw-shard stop ${deferred}; then fw-shard undo ${deferred} again`);
        expect(moveRow(deferred)).toBe('active\tcleanup-pending\t-\t-\t42');
      } finally {
        await holder.close();
      }

      // An undo running (here: stopped): a second undo is busy and names it.
      const ac2 = new AbortController();
      const s2 = makeDeps(online.topology, (e) => e.type === 'chunk.verified' && ac2.abort());
      await expectCode(undoMove(s2.deps, deferred, base(offline), { signal: ac2.signal }), 'INTERRUPTED');
      await s2.close();
      const undoId = main(`SELECT undone_by FROM fw_shard_moves WHERE id = ${deferred}`);
      const e5 = await expectCode(undoMove(deps, deferred, base()), 'BUSY');
      expect(e5.hint).toBe(`fw-shard resume ${undoId} finishes the undo; fw-shard abort ${undoId} gives move ${deferred} back as it was.`);
      // The same move command continues the user's unfinished move, here the undo (as resume does).
      const continued = await runMove(deps, { ...moveReq(offline), to: 1 as ShardId });
      expect(continued.moveId).toBe(undoId);
      expect(continued.undoOf).toBe(deferred);
      expect(shardOf()).toBe(1);
      expect(moveRow(deferred)).toBe(`done\tdone\t-\t${undoId}\t-`);
    } finally {
      await close();
    }
  });

  it('a killed undo is finished by resume; meanwhile the original cleanup is held back', async () => {
    const { deps, close } = makeDeps(online.topology, () => undefined);
    try {
      const original = await moveDeferred(deps, { assumeNoWrites: true });
      appWritesOnNewShard();
      const expected = rowsOn(2);
      const ac = new AbortController();
      let ranges = 0;
      const stopped = makeDeps(online.topology, (e) => e.type === 'chunk.verified' && ++ranges === 5 && ac.abort());
      const err = await expectCode(undoMove(stopped.deps, original, base(), { signal: ac.signal }), 'INTERRUPTED');
      await stopped.close();
      expect(err.message).toMatch(/mapping was NOT flipped/);
      const undoId = main(`SELECT undone_by FROM fw_shard_moves WHERE id = ${original}`);
      expect(moveRow(undoId)).toBe(`active\tcopy\t${original}\t-\t42`);

      // The original's cleanup is due, but it is being undone: cron skips it, resume refuses it.
      main(`UPDATE fw_shard_moves SET flipped_at = NOW(3) - INTERVAL 1 DAY WHERE id = ${original}`);
      expect(await runDeferredCleanups(deps, 0, base())).toEqual([]);
      const e = await expectCode(resumeMove(deps, original, { ...base(), cleanup: 'now' }), 'PRECONDITION');
      expect(e.message).toMatch(`being undone by move ${undoId}`);
      expect(count(1)).toBeGreaterThan(2600);

      const r = await resumeMove(deps, undoId, base());
      expect(r.ok).toBe(true);
      expect(r.resumed).toBe(true);
      expect(r.undoOf).toBe(original);
      expect(shardOf()).toBe(1);
      expect(rowsOn(1)).toBe(expected);
      expect(moveRow(original)).toBe(`done\tdone\t-\t${undoId}\t-`);
    } finally {
      await close();
    }
  });

  it("abort of an undo keeps the old shard's rows and gives the original its deferred cleanup back", async () => {
    const { deps, close } = makeDeps(online.topology, () => undefined);
    try {
      const original = await moveDeferred(deps, { capture: 'trigger' });
      // Trigger mode left a `moved` fence of the original on the old shard: stale writes are refused there.
      expect(sql1('SELECT state, move_id FROM fw_shard_fence WHERE user_id = 42').trim()).toBe(`moved\t${original}`);
      appWritesOnNewShard();
      const onNew = rowsOn(2);
      const ac = new AbortController();
      let ranges = 0;
      const stopped = makeDeps(online.topology, (e) => e.type === 'chunk.verified' && ++ranges === 3 && ac.abort());
      await expectCode(undoMove(stopped.deps, original, base({ capture: 'trigger' }), { signal: ac.signal }), 'INTERRUPTED');
      await stopped.close();
      const undoId = main(`SELECT undone_by FROM fw_shard_moves WHERE id = ${original}`);
      const before = count(1);

      const ab = await abortMove(deps, { userId: '42' as UserId });
      expect(ab.moveId).toBe(undoId);
      expect(ab.phase).toBe('aborted');
      expect(ab.nextStep).toMatch(`its rows on shard 1 stay as move ${original} left them`);
      expect(shardOf()).toBe(2);
      expect(rowsOn(2)).toBe(onNew);
      expect(count(1)).toBe(before); // nothing deleted on the old shard
      expect(moveRow(undoId)).toBe(`aborted\taborted\t${original}\t-\t-`);
      expect(moveRow(original)).toBe('active\tcleanup-pending\t-\t-\t42');
      expect(sql1('SELECT state, move_id FROM fw_shard_fence WHERE user_id = 42').trim()).toBe(`moved\t${original}`);

      // The original's deferred cleanup runs again: rows identical on the new shard go, the rest stay.
      const cleaned = await runDeferredCleanups(deps, 0, base()).catch((err: unknown) => err);
      expect(moveRow(original)).toMatch(/^done\tdone\t/);
      const left = rowsOn(1).split('\n').filter(Boolean);
      const newRows = new Set(onNew.split('\n'));
      for (const l of left) expect(newRows.has(l), `row identical on the new shard left behind: ${l}`).toBe(false);
      expect(left.length).toBeLessThan(20);
      expect(rowsOn(2)).toBe(onNew);
      if (cleaned instanceof Error) expect((cleaned as FwShardError).code).toBe('DATA_MISMATCH');
      else expect((cleaned as MoveResult[]).map((c) => c.phase)).toEqual(['done']);
    } finally {
      await close();
    }
  });

  it('fw-shard undo on the command line; a journal of an older fw-shard gets the undo columns', async () => {
    const cli = async (argv: string[]) => {
      const stdout = sink();
      const stderr = sink();
      const ctx: CliContext = { stdout, stderr, stdinIsTTY: false, env: {}, cwd: env().dir };
      const code = await runCli(['--config', env().configFile(), ...argv], ctx);
      return { code, stdout: stdout.text(), stderr: stderr.text() };
    };
    const { deps, close } = makeDeps(online.topology, () => undefined);
    try {
      // A journal made before `undo` existed: no undo columns. Cleanups run without them...
      const first = await moveDeferred(deps, { assumeNoWrites: true });
      main('ALTER TABLE fw_shard_moves DROP COLUMN undo_of, DROP COLUMN undone_by');
      expect((await runDeferredCleanups(deps, 0, base())).map((c) => c.moveId)).toEqual([first]);
      expect(count(1)).toBe(0);
      // ...and the next move adds them.
      const kept = await runMove(deps, { ...moveReq({ assumeNoWrites: true, cleanup: 'keep' }), to: 1 as ShardId });
      expect(
        main(
          "SELECT GROUP_CONCAT(COLUMN_NAME ORDER BY COLUMN_NAME) FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = 'flamework' AND TABLE_NAME = 'fw_shard_moves' AND COLUMN_NAME LIKE 'undo%'",
        ),
      ).toBe('undone_by,undo_of');
      expect(shardOf()).toBe(1);

      // Without a terminal, --yes is required; nothing is written.
      const noYes = await cli(['undo', kept.moveId!]);
      expect(noYes.code).toBe(2);
      expect(noYes.stderr).toMatch(/refusing to undo without confirmation/);
      const dry = await cli(['undo', kept.moveId!, '--dry-run']);
      expect(dry.code).toBe(0);
      expect(dry.stdout).toMatch(/Plan: move user 42 from shard 1 to shard 2/);
      expect(main('SELECT COUNT(*) FROM fw_shard_moves')).toBe('2');

      // The move kept its rows on shard 2 (--cleanup keep): nothing changed since, nothing is copied.
      const r = await cli(['undo', kept.moveId!, '--yes', '--json', '--assume-no-writes', '--chunk-size', '500']);
      expect(r.code, r.stderr).toBe(0);
      const doc = JSON.parse(r.stdout);
      expect(doc).toMatchObject({ ok: true, undoOf: kept.moveId, rowsCopied: '0', from: 1, to: 2, phase: 'done', mappingFlipped: true });
      expect(shardOf()).toBe(2);
      expect(count(1)).toBe(0);
      expect(count(2)).toBe(2700);

      // Refused: exit 5 and the hint on stderr, stdout empty.
      const again = await cli(['undo', kept.moveId!, '--yes']);
      expect(again.code).toBe(5);
      expect(again.stdout).toBe('');
      expect(again.stderr).toMatch(`move ${kept.moveId} was undone already, by move ${doc.moveId}`);
      const cleaned = await cli(['undo', first, '--yes']);
      expect(cleaned.code).toBe(5);
      expect(cleaned.stderr).toMatch('fw-shard move --user 42 --to 1 moves the user back');
    } finally {
      await close();
    }
  });

  for (const capture of ['rehash', 'trigger'] as const) {
    it(`loses no acknowledged write when the app writes all through the undo (--capture ${capture})`, async () => {
      const { topology, mcPort } = online;
      const { deps, close } = makeDeps(topology, () => undefined);
      const app = new AppSimulator(
        '42',
        {
          main: topology.main,
          tickets: topology.tickets[0]!,
          shards: new Map([
            [1, topology.shards.get(1 as ShardId)!],
            [2, topology.shards.get(2 as ShardId)!],
          ]),
        },
        mcPort,
        3,
      );
      try {
        const original = await moveDeferred(deps, { capture });
        app.know(sql2('SELECT id FROM Dots WHERE user_id = 42 ORDER BY id').trim().split('\n'));
        app.start();
        await new Promise((res) => setTimeout(res, 200));
        const r = await undoMove(deps, original, base({ capture, chunkPauseMs: 10 }));
        const flippedAt = Date.now();
        expect(r.ok, JSON.stringify(r.error)).toBe(true);
        await new Promise((res) => setTimeout(res, 200));
        await app.stop();
        expect(app.anomalies).toEqual([]);
        expect(app.acks.filter((a) => a.shard === 2).length).toBeGreaterThan(5);
        expect(app.acks.filter((a) => a.shard === 1).length).toBeGreaterThan(0);
        const undoFlip = Date.parse(main(`SELECT DATE_FORMAT(flipped_at, '%Y-%m-%dT%H:%i:%s.%fZ') FROM fw_shard_moves WHERE id = ${r.moveId}`));
        expect(undoFlip).toBeLessThanOrEqual(flippedAt);
        // No write was acknowledged on the new shard after the undo's flip.
        expect(app.acks.filter((a) => a.shard === 2 && a.at > undoFlip)).toEqual([]);
        // Every acknowledged write is on the old shard with its last value; deleted rows are gone.
        const onOld = new Map(
          sql1('SELECT id, body FROM Dots WHERE user_id = 42')
            .trim()
            .split('\n')
            .map((l) => l.split('\t') as [string, string]),
        );
        for (const [id, body] of app.expected()) {
          if (body === null) expect(onOld.has(id), `deleted row ${id} is back`).toBe(false);
          else expect(onOld.get(id), `row ${id}`).toBe(body);
        }
        // The undo's cleanup deletes a new-shard row only when its bytes are on the old shard: the only
        // rows it may leave are old versions of rows the app changed there since the undo's flip.
        for (const id of sql2('SELECT id FROM Dots WHERE user_id = 42').trim().split('\n').filter(Boolean)) {
          expect(
            app.acks.some((a) => a.id === id && a.shard === 1 && a.at >= undoFlip - 1000),
            `row ${id} left on the new shard without a change on the old one`,
          ).toBe(true);
        }
        expect(main('SELECT COUNT(*) FROM fw_shard_freezes')).toBe('0');
        expect(moveRow(original)).toBe(`done\tdone\t-\t${r.moveId}\t-`);
      } finally {
        await app.stop();
        await close();
        await app.close();
      }
    });
  }
});

/**
 * Operator control of running moves (issue 14), through the built CLI against real servers:
 *  - the runner lock: a runner killed (even one not yet reaped: a zombie) or killed on another host
 *    gives its move up at once, not after the 30 s heartbeat lease; a live one is BUSY, and says how to
 *    stop it;
 *  - `fw-shard stop` from another terminal stops a running move at its next safe point (exit 130,
 *    resumable), and tells a move that is not running apart;
 *  - `moves` and `status` show what a running move does (rows, runner alive, pause, stop request),
 *    `moves --user`, who ran a move (runs), and the options as an object;
 *  - a journal made before these columns is read as it is and upgraded by the next run.
 */
import { spawn } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { sql } from '../../src/db/sql/fragment.js';
import { ADDED_MOVE_COLUMNS } from '../../src/db/sql/journal.js';
import { createMainSchema, onBothShards, startMoveEnv, type MoveEnv, resetShards } from '../helpers/move-env.js';
import { BIN, ensureBuilt, runFwShard, sleep, type CliEvent, type CliRun } from '../helpers/reliability.js';

const DDL = ['CREATE TABLE Dots (id BIGINT UNSIGNED NOT NULL PRIMARY KEY, user_id INT UNSIGNED NOT NULL, body VARCHAR(200), KEY by_user (user_id))'];
/** 400 rows of user 42 in chunks of 40 with a pause after each: a move that runs for a few seconds. */
const SLOW = ['--chunk-size', '40', '--sleep-between-chunks', '300ms'];
const MOVE = ['move', '--user', '42', '--to', '2', '--yes', '--assume-no-writes', ...SLOW];

describe('operator control of running moves', () => {
  let env: MoveEnv;
  const cli = (...args: string[]) => runFwShard(['--config', env.configFile(), ...args], { timeoutMs: 90_000 });
  const journal = (q: string) => env.cli('a', 'flamework', q).trim();
  const json = (r: CliRun) => JSON.parse(r.stdout) as Record<string, any>;

  beforeAll(async () => {
    ensureBuilt();
    env = await startMoveEnv({ name: 'control' });
    await createMainSchema(env, [
      { id: '42', shard: 1 },
      { id: '43', shard: 1 },
    ]);
    await onBothShards(env, DDL);
  }, 120_000);

  beforeEach(async () => {
    await resetShards(env, ['Dots']);
    await env.db('a', 'users1').exec(sql`INSERT INTO Dots SELECT seq, IF(seq % 5 = 0, 43, 42), CONCAT('dot ', seq) FROM seq_1_to_500`);
  });

  afterAll(async () => {
    await env?.close();
  });

  /** The move finished: every row of user 42 on shard 2, none left on shard 1, the mapping flipped. */
  function expectMoved(): void {
    expect(env.cli('b', 'users2', 'SELECT COUNT(*) FROM Dots WHERE user_id = 42').trim()).toBe('400');
    expect(env.cli('a', 'users1', 'SELECT COUNT(*) FROM Dots WHERE user_id = 42').trim()).toBe('0');
    expect(journal('SELECT cluster_id FROM users WHERE id = 42')).toBe('2');
    expect(journal('SELECT state FROM fw_shard_moves')).toBe('done');
  }

  /**
   * Start the move as the child of a parent that never reaps it (sh execs sleep), SIGKILL it once it
   * copies: the process stays a zombie, alive to kill(pid, 0), while its sockets are closed.
   */
  async function killedIntoZombie(): Promise<{ pid: number; holder: () => void }> {
    const script = 'node=$0 bin=$1 cfg=$2; shift 2; "$node" "$bin" --config "$cfg" "$@" --events --json & echo "pid $!" >&2; exec sleep 120';
    const parent = spawn('sh', ['-c', script, process.execPath, BIN, env.configFile(), ...MOVE], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, CI: '1' },
    });
    let pid = 0;
    let stderr = '';
    parent.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
      pid ||= Number(/pid (\d+)/.exec(stderr)?.[1] ?? 0);
    });
    await new Promise<void>((copying, fail) => {
      let buf = '';
      parent.stdout.on('data', (d: Buffer) => {
        buf += d.toString();
        if (buf.includes('"type":"chunk.copied"')) copying();
        if (buf.includes('"schemaVersion"')) fail(new Error(`the move ended before it copied a chunk: ${stderr}`));
      });
    });
    process.kill(pid, 'SIGKILL');
    await sleep(200);
    expect(readFileSync(`/proc/${pid}/stat`, 'utf8').split(' ')[2], 'the killed runner is a zombie (not reaped)').toBe('Z');
    return { pid, holder: () => void parent.kill('SIGKILL') };
  }

  it('a killed runner that is not reaped yet (a zombie) gives its move up at once: the re-run takes over, no 30 s wait', async () => {
    const zombie = await killedIntoZombie();
    try {
      expect(journal('SELECT runner_pid FROM fw_shard_moves')).toBe(String(zombie.pid));
      const moves = json(await cli('moves', '--json')).moves[0];
      expect(moves.runner_alive).toBe(false); // its lock went with its connection
      expect(moves.runner_liveness).toBe('lock');
      const rerun = await cli(...MOVE);
      expect(rerun.code, rerun.stderr).toBe(0);
      expect(rerun.ms).toBeLessThan(20_000); // 400 rows at 300 ms a chunk: a few seconds, not a lease of 30
      expectMoved();
      // The trace of runs: the killed one (no end recorded) and the one that finished it.
      const [m] = json(await cli('moves', '--all', '--json')).moves;
      expect(m.runs).toHaveLength(2);
      expect(m.runs[0]).toMatchObject({ pid: zombie.pid, ended_at: null, outcome: null });
      expect(m.runs[1]).toMatchObject({ outcome: 'done' });
      for (const r of m.runs) expect(r.command).toContain('fw-shard --config');
      expect(m.runs[1].command).toContain('move --user 42 --to 2 --yes --assume-no-writes --chunk-size 40');
    } finally {
      zombie.holder();
    }
  }, 90_000);

  it('a runner killed on another host gives its move up at once too (the lock, not the host, tells)', async () => {
    let id = '';
    const first = await runFwShard(['--config', env.configFile(), ...MOVE, '--events', '--json'], {
      onEvent: (e: CliEvent, _n, ctl) => {
        if (e.type === 'chunk.copied' && !id) {
          id = String(e.moveId);
          ctl.kill();
        }
      },
    });
    expect(first.signal).toBe('SIGKILL');
    // As if that runner had run elsewhere, with a heartbeat as fresh as can be.
    journal(`UPDATE fw_shard_moves SET runner_host = 'web9.example', runner_pid = 4242, heartbeat_at = NOW(3) WHERE id = ${id}`);
    const t0 = Date.now();
    const resumed = await cli('resume', id, ...SLOW);
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(Date.now() - t0).toBeLessThan(20_000);
    expectMoved();
  }, 90_000);

  it('a frozen runner (SIGSTOP) keeps its sockets, so it is alive and BUSY; the server drops its lock after 30 s of silence; woken, it stops without writing', async () => {
    let frozen: Promise<void> | undefined;
    const seen: Record<string, any> = {};
    const first = await runFwShard(['--config', env.configFile(), ...MOVE, '--events', '--json'], {
      timeoutMs: 110_000,
      onEvent: (e: CliEvent, _n, ctl) => {
        if (e.type !== 'chunk.copied' || frozen) return;
        process.kill(ctl.pid, 'SIGSTOP');
        frozen = (async () => {
          const t0 = Date.now();
          seen.busy = await cli(...MOVE);
          // Not a zombie: its lock's connection is open, and nothing answers on it. It idles out.
          for (;;) {
            const m = json(await cli('moves', '--json')).moves[0];
            if (m.runner_alive === false) break;
            if (Date.now() - t0 > 60_000) throw new Error('the frozen runner kept its lock for 60 s');
            await sleep(1000);
          }
          seen.freedAfterMs = Date.now() - t0;
          seen.takeover = await cli(...MOVE);
          process.kill(ctl.pid, 'SIGCONT');
        })();
      },
    });
    await frozen;
    expect(seen.busy.code, seen.busy.stderr).toBe(7);
    expect(seen.busy.stderr).toMatch(/which is alive: it holds the move's runner lock/);
    expect(seen.freedAfterMs).toBeGreaterThan(20_000); // the lock's idle timeout is 30 s from its last poll
    expect(seen.takeover.code, seen.takeover.stderr).toBe(0);
    // Woken, the first runner finds it has not confirmed its lock for longer than it may, and stops
    // before it writes: BUSY, and the move the other runner finished stays as it is.
    expect(first.code, first.stderr).toBe(7);
    expect(first.doc?.error?.message).toMatch(/this runner (could not confirm its|lost the move's) runner lock/);
    expectMoved();
    const [m] = json(await cli('moves', '--all', '--json')).moves;
    expect(m.error).toBeNull();
    expect(m.runs.map((r: { outcome: string | null }) => r.outcome)).toEqual(['failed BUSY', 'done']);
  }, 150_000);

  it('a live runner: resume and abort are BUSY naming it and fw-shard stop; moves shows it alive, its progress and its pause; --user filters', async () => {
    const pause = join(env.dir, 'pause');
    let checks: Promise<void> | undefined;
    const seen: Record<string, any> = {};
    const first = await runFwShard(['--config', env.configFile(), ...MOVE, '--pause-file', pause, '--events', '--json'], {
      timeoutMs: 90_000,
      onEvent: (e: CliEvent) => {
        if (e.type === 'chunk.copied' && Number(e.rowsCopied) >= 80 && !checks) {
          writeFileSync(pause, ''); // the runner waits between chunks while the file exists
          checks = (async () => {
            const id = String(e.moveId);
            await sleep(1500);
            seen.resume = await cli('resume', id);
            seen.abort = await cli('abort', id);
            seen.moves = json(await cli('moves', '--json', '--user', '42'));
            seen.other = await cli('moves', '--user', '43');
            seen.table = await cli('moves');
            seen.status = await cli('status');
            rmSync(pause);
          })();
        }
      },
    });
    await checks;
    expect(first.code, first.stderr).toBe(0);
    expectMoved();
    for (const r of [seen.resume, seen.abort] as CliRun[]) {
      expect(r.code, r.stderr).toBe(7);
      expect(r.stderr).toMatch(/BUSY.*is being run by .* pid \d+, which is alive: it holds the move's runner lock/s);
      expect(r.stderr).toMatch(/fw-shard stop \d+/);
    }
    const m = seen.moves.moves[0];
    expect(m).toMatchObject({ user_id: '42', state: 'active', phase: 'copy', runner_alive: true, runner_liveness: 'lock', rows_total: '400' });
    expect(Number(m.rows_copied)).toBeGreaterThanOrEqual(80);
    expect(m.throttle_reason).toContain(pause);
    // The options are an object, not JSON in a string.
    expect(m.options).toMatchObject({ chunkSize: 40, assumeNoWrites: true });
    expect(m.runs).toHaveLength(1);
    expect(m.runs[0]).toMatchObject({ ended_at: null, outcome: null, pid: first.pid });
    expect(seen.other.stdout.trim()).toBe('no unfinished moves of user 43');
    expect(seen.table.stdout).toMatch(/rows copied +runner/);
    expect(seen.table.stdout).toMatch(new RegExp(`copy +\\d+/400 \\(\\d+%\\) +\\S+:${first.pid} alive +\\S+ +waiting: .*${pause.replace(/[/.]/g, '\\$&')}`));
    expect(seen.status.stdout).toMatch(/Unfinished moves[\s\S]*alive[\s\S]*waiting: /);
    // Once done: no runner, the run recorded as done.
    const done = json(await cli('moves', '--all', '--json', '--user', '42')).moves[0];
    expect(done).toMatchObject({ state: 'done', runner_host: null, runner_alive: null, throttle_reason: null });
    expect(done.runs[0].outcome).toBe('done');
  }, 120_000);

  it('fw-shard stop from another terminal: the runner stops at a safe point (130, says why), resume finishes; stop of a move not running says so (5)', async () => {
    let stop: Promise<CliRun> | undefined;
    let id = '';
    const first = await runFwShard(['--config', env.configFile(), ...MOVE, '--events', '--json'], {
      timeoutMs: 90_000,
      onEvent: (e: CliEvent) => {
        if (e.type === 'chunk.copied' && !stop) {
          id = String(e.moveId);
          stop = cli('stop', '--user', '42', '--json');
        }
      },
    });
    const stopped = await stop!;
    expect(stopped.code, stopped.stderr).toBe(0);
    expect(json(stopped)).toMatchObject({ ok: true, moveId: id, outcome: 'stopped', phase: 'copy' });
    expect(json(stopped).nextStep).toContain(`fw-shard resume ${id}`);
    expect(first.code, first.stderr).toBe(130);
    expect(first.events.some((e) => e.type === 'stop.requested' && String(e.signal).includes('fw-shard stop'))).toBe(true);
    expect(first.doc?.error?.code).toBe('INTERRUPTED');
    expect(first.doc?.error?.message).toMatch(/stopped at a safe point because of a stop request \(fw-shard stop, by .+@.+ at .+\); move \d+ can be resumed/);
    expect(env.cli('a', 'flamework', 'SELECT cluster_id FROM users WHERE id = 42').trim()).toBe('1');

    const m = json(await cli('moves', '--json')).moves[0];
    expect(m).toMatchObject({ id, runner_alive: null, phase: 'copy' });
    expect(m.stop_requested_by).toMatch(/@/);
    expect(m.runs[0].outcome).toBe('stopped (stop request)');

    // Not running now: nothing to stop; the hint says what to do with it.
    const again = await cli('stop', id);
    expect(again.code).toBe(5);
    expect(again.stderr).toMatch(new RegExp(`NOT_RUNNING.*move ${id} of user 42 is not running`, 's'));
    expect(again.stderr).toContain(`fw-shard resume ${id} continues it; fw-shard abort ${id} undoes it`);

    const resumed = await cli('resume', id);
    expect(resumed.code, resumed.stderr).toBe(0);
    expectMoved();
    const done = json(await cli('moves', '--all', '--json')).moves[0];
    expect(done.runs.map((r: { outcome: string }) => r.outcome)).toEqual(['stopped (stop request)', 'done']);
    expect(done.stop_requested_at).toBeNull(); // the resume's claim cleared it

    const finished = await cli('stop', id, '--json');
    expect(finished.code).toBe(5);
    expect(json(finished).error).toMatchObject({ code: 'NOT_RUNNING', message: `move ${id} is already done: nothing to stop` });
    const none = await cli('stop', '--user', '43');
    expect(none.code).toBe(2);
    expect(none.stderr).toContain('user 43 has no unfinished move');
  }, 120_000);

  it('a dropped lock connection is taken again; a lock taken by another session meanwhile stops the runner (BUSY), never two runners', async () => {
    const lockOf = (): [string, string] => {
      const [name = '', conn = ''] = journal('SELECT runner_lock, IS_USED_LOCK(runner_lock) FROM fw_shard_moves').split('\t');
      return [name, conn];
    };
    // 1. KILL the runner's lock connection: the runner takes its lock again on a new one and finishes.
    let killed: Promise<void> | undefined;
    const survived = await runFwShard(['--config', env.configFile(), ...MOVE, '--events', '--json'], {
      onEvent: (e: CliEvent) => {
        if (e.type === 'chunk.copied' && !killed) {
          killed = (async () => {
            const [, conn] = lockOf();
            journal(`KILL CONNECTION ${conn}`);
            await sleep(2500);
            const [, again] = lockOf();
            expect(again).toMatch(/^\d+$/);
            expect(again).not.toBe(conn);
          })();
        }
      },
    });
    await killed;
    expect(survived.code, survived.stderr).toBe(0);
    expectMoved();

    // 2. KILL it and take the lock from another session at once: the runner must not run beside the
    // new holder; it stops at its next safe point with BUSY (exit 7), and the move stays resumable.
    journal('UPDATE users SET cluster_id = 1');
    journal('DROP TABLE fw_shard_moves, fw_shard_move_tables, fw_shard_move_chunks, fw_shard_move_passes, fw_shard_move_runs');
    env.cli('b', 'users2', 'DELETE FROM Dots');
    env.cli('a', 'users1', "INSERT INTO Dots SELECT seq, 42, CONCAT('dot ', seq) FROM seq_1_to_500 WHERE seq % 5 <> 0");
    const thief = await env.db('a', 'flamework').dedicatedSession();
    let stole: Promise<void> | undefined;
    try {
      const lost = await runFwShard(['--config', env.configFile(), ...MOVE, '--events', '--json'], {
        onEvent: (e: CliEvent) => {
          if (e.type === 'chunk.copied' && !stole) {
            stole = (async () => {
              const [name, conn] = lockOf();
              await thief.rows(sql`SELECT GET_LOCK(${name}, 0)`); // not yet: the runner holds it
              journal(`KILL CONNECTION ${conn}`);
              const [r] = await thief.rows<{ got: number }>(sql`SELECT GET_LOCK(${name}, 5) AS got`);
              expect(Number(r?.got)).toBe(1);
            })();
          }
        },
      });
      await stole;
      expect(lost.code, lost.stderr).toBe(7);
      expect(lost.doc?.error?.message).toContain("this runner lost the move's runner lock to another runner");
      expect(journal('SELECT state, cluster_id FROM fw_shard_moves, users WHERE users.id = 42')).toBe('active\t1');
    } finally {
      await thief.close();
    }
    const resumed = await cli(...MOVE);
    expect(resumed.code, resumed.stderr).toBe(0);
    expectMoved();
  }, 120_000);

  it('a journal from before these columns: moves reads it, the next run adds them', async () => {
    const killed = await runFwShard(['--config', env.configFile(), ...MOVE, '--events', '--json'], {
      onEvent: (e: CliEvent, _n, ctl) => void (e.type === 'chunk.copied' && ctl.kill()),
    });
    expect(killed.signal).toBe('SIGKILL');
    journal(`ALTER TABLE fw_shard_moves ${ADDED_MOVE_COLUMNS.map(([c]) => `DROP COLUMN ${c}`).join(', ')}`);
    journal('DROP TABLE fw_shard_move_runs');
    journal("UPDATE fw_shard_moves SET runner_host = 'old-host', heartbeat_at = NOW(3)"); // an older fw-shard, still beating
    const old = json(await cli('moves', '--json')).moves[0];
    expect(old).toMatchObject({ runner_lock: null, runner_alive: true, runner_liveness: 'heartbeat', runs: [] });
    const busy = await cli(...MOVE);
    expect(busy.code, busy.stderr).toBe(7);
    expect(busy.stderr).toMatch(/an fw-shard without the runner lock \(heartbeat \d+ s ago\): its lease expires in \d+ s/);
    journal('UPDATE fw_shard_moves SET heartbeat_at = NOW(3) - INTERVAL 31 SECOND'); // that runner died 31 s ago
    const rerun = await cli(...MOVE);
    expect(rerun.code, rerun.stderr).toBe(0);
    expectMoved();
    const cols = journal("SELECT COLUMN_NAME FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = 'flamework' AND TABLE_NAME = 'fw_shard_moves'");
    for (const [c] of ADDED_MOVE_COLUMNS) expect(cols.split('\n')).toContain(c);
  }, 90_000);
});

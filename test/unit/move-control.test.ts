/**
 * The pure parts of operator control (issue 14): the command line recorded in the journal's runs
 * (without passwords), and how `moves`/`status` show a move's runner, progress and notes.
 */
import { describe, expect, it } from 'vitest';
import { commandLine } from '../../src/app/runner.js';
import type { MoveRow } from '../../src/move/journal.js';
import { noteCell, rowsCell, runnerCell } from '../../src/report/moves.js';

describe('commandLine', () => {
  it('records the arguments, quoted where needed, without the value of a password flag or any topology password', () => {
    expect(commandLine(['--config', '/etc/fw.yaml', 'move', '--user', '42', '--to', '2', '--yes'], [])).toBe(
      'fw-shard --config /etc/fw.yaml move --user 42 --to 2 --yes',
    );
    expect(commandLine(['--db-password', 's3cret', 'status', '--password=hunter2', '--user', '42'], [])).toBe(
      "fw-shard --db-password '***' status '--password=***' --user 42",
    );
    expect(commandLine(['--throttle-query', "SELECT 'x' FROM t WHERE pw = 'topsecret'"], ['topsecret'])).toBe(
      "fw-shard --throttle-query 'SELECT '\\''x'\\'' FROM t WHERE pw = '\\''***'\\'''",
    );
  });
});

describe('moves: runner, rows and notes', () => {
  const base: MoveRow = {
    id: '7',
    user_id: '42',
    from_shard: 1,
    to_shard: 2,
    phase: 'copy',
    state: 'active',
    cleanup_mode: 'now',
    options: null,
    runner_host: 'web1',
    runner_pid: 4242,
    runner_lock: 'fw-shard:0123abcd:m:7',
    runner_conn: '12',
    runner_alive: true,
    runner_liveness: 'lock',
    heartbeat_at: null,
    created_at: '',
    updated_at: '',
    flipped_at: null,
    finished_at: null,
    freeze_ms: null,
    heartbeat_age_s: '3',
    flipped_age_s: null,
    error: null,
    stop_requested_at: null,
    stop_requested_by: null,
    throttle_reason: null,
    rows_copied: '1200',
    rows_total: '5000',
  };

  it('says whether the runner is alive, by its lock; an older runner by its heartbeat', () => {
    expect(runnerCell(base)).toBe('web1:4242 alive');
    expect(runnerCell({ ...base, runner_conn: null, runner_alive: false })).toBe('web1:4242 gone');
    expect(runnerCell({ ...base, runner_lock: null, runner_liveness: 'heartbeat', heartbeat_age_s: '45', runner_alive: false })).toBe(
      'web1:4242 gone? (heartbeat 45 s ago)',
    );
    expect(runnerCell({ ...base, runner_host: null, runner_alive: null })).toBe('-');
  });

  it('shows rows copied of the total, and notes a stop request, why the runner waits, and the error', () => {
    expect(rowsCell(base)).toBe('1,200/5,000 (24%)');
    expect(rowsCell({ ...base, rows_copied: '0', rows_total: '0' })).toBe('-');
    expect(noteCell({ ...base, stop_requested_at: 'T', stop_requested_by: 'ops@web2', throttle_reason: 'pause file /p exists' }, 200)).toBe(
      'stopping: stop requested by ops@web2 at T; waiting: pause file /p exists',
    );
    // A runner that is gone waits for nothing; an error is shown by its first line, cut to the width.
    expect(noteCell({ ...base, runner_alive: false, throttle_reason: 'pause', error: 'INTERRUPTED: stopped\nmore' })).toBe('INTERRUPTED: stopped');
    expect(noteCell({ ...base, error: 'x'.repeat(100) }, 10)).toBe(`${'x'.repeat(9)}…`);
  });
});

/**
 * When `fw-shard undo` refuses, and the command it names instead (src/move/undo.ts undoRefusal): a pure
 * function of the journal rows and the mapping. The integration test (move-undo.test.ts) runs each
 * refusal against real servers too.
 */
import { describe, expect, it } from 'vitest';
import { undoRefusal, type UndoFacts } from '../../src/move/undo.js';
import type { MoveRow } from '../../src/move/journal.js';

const row = (over: Partial<MoveRow> = {}): MoveRow => ({
  id: '7',
  user_id: '42',
  from_shard: 1,
  to_shard: 2,
  phase: 'cleanup-pending',
  state: 'active',
  cleanup_mode: 'defer',
  options: null,
  runner_host: null,
  runner_pid: null,
  runner_lock: null,
  runner_conn: null,
  runner_alive: null,
  runner_liveness: null,
  heartbeat_at: null,
  created_at: '',
  updated_at: '',
  flipped_at: '',
  finished_at: null,
  freeze_ms: null,
  heartbeat_age_s: null,
  flipped_age_s: null,
  error: null,
  stop_requested_at: null,
  stop_requested_by: null,
  throttle_reason: null,
  rows_copied: '0',
  rows_total: '0',
  ...over,
});

const facts = (over: Partial<UndoFacts> = {}): UndoFacts => {
  const move = over.move ?? row();
  return { move, undo: undefined, placement: 2, active: move.state === 'active' ? move : undefined, later: undefined, ...over };
};

const refusal = (f: UndoFacts) => {
  const e = undoRefusal(f);
  return e ? { code: e.code, exit: e.exitCode, message: e.message, hint: e.hint } : null;
};

describe('undoRefusal', () => {
  it('allows a flipped move whose old rows are kept: deferred cleanup pending, not yet cleaned, or --cleanup keep', () => {
    expect(refusal(facts())).toBeNull();
    expect(refusal(facts({ move: row({ phase: 'flipped', cleanup_mode: 'now' }) }))).toBeNull();
    expect(refusal(facts({ move: row({ phase: 'done', state: 'done', cleanup_mode: 'keep' }) }))).toBeNull();
  });

  it('before the flip: abort, not undo', () => {
    for (const phase of ['copy', 'delta', 'freeze', 'verify', 'flip']) {
      const r = refusal(facts({ move: row({ phase }), placement: 1 }));
      expect(r).toMatchObject({ code: 'PRECONDITION', exit: 5, hint: 'fw-shard abort 7 removes its copy from shard 2; the user stays on shard 1.' });
      expect(r!.message).toBe(`move 7 has not flipped (phase ${phase}): user 42 still lives on shard 1`);
    }
  });

  it('after a cleanup deleted rows on the old shard: a plain move back, named', () => {
    const done = refusal(facts({ move: row({ phase: 'done', state: 'done', cleanup_mode: 'now' }) }));
    expect(done).toMatchObject({ code: 'PRECONDITION', hint: 'fw-shard move --user 42 --to 1 moves the user back (a plain move: everything is copied).' });
    expect(done!.message).toMatch(/deleted user 42's rows on shard 1 \(--cleanup now\)/);
    const running = refusal(facts({ move: row({ phase: 'cleanup' }) }));
    expect(running!.hint).toBe(
      'fw-shard resume 7 finishes the cleanup; then fw-shard move --user 42 --to 1 moves the user back (a plain move: everything is copied).',
    );
  });

  it('the user moved since: the mapping is not the move target, or a later move exists', () => {
    expect(refusal(facts({ placement: 1 }))!.message).toBe('user 42 has moved since move 7: it lives on shard 1, not on shard 2 where move 7 put it');
    const later = refusal(facts({ move: row({ phase: 'done', state: 'done', cleanup_mode: 'keep' }), later: row({ id: '9', state: 'done' }) }));
    expect(later).toMatchObject({ code: 'PRECONDITION' });
    expect(later!.message).toMatch(/moved there by move 9/);
  });

  it('another move of the user, or a runner of this one, is busy (exit 7)', () => {
    const other = row({ id: '9', from_shard: 2, to_shard: 3, phase: 'copy' });
    expect(refusal(facts({ move: row({ phase: 'done', state: 'done', cleanup_mode: 'keep' }), active: other }))).toMatchObject({
      code: 'BUSY',
      exit: 7,
      hint: 'Finish it (fw-shard resume 9) or abort it (fw-shard abort 9) first.',
    });
    // Alive as the journal reader tells it (Journal toMoveRow): the runner lock is held, whatever the
    // heartbeat (a hung runner may wake up and start the cleanup); stop names the way out.
    const lock = { runner_host: 'web1', runner_pid: 12, runner_lock: 'fw-shard:0123abcd:m:7', runner_liveness: 'lock' as const };
    const hung = refusal(facts({ move: row({ ...lock, runner_conn: '5', runner_alive: true, heartbeat_age_s: '300' }) }));
    expect(hung).toMatchObject({ code: 'BUSY', exit: 7 });
    expect(hung!.hint).toMatch(
      /^Let it finish \(fw-shard moves 7 shows its progress\), or stop it at its next safe point: fw-shard stop 7; then fw-shard undo 7 again/,
    );
    // Its lock is free: that runner is gone, however fresh its last heartbeat.
    expect(refusal(facts({ move: row({ ...lock, runner_alive: false, heartbeat_age_s: '2' }) }))).toBeNull();
    // An fw-shard from before the lock: alive while its heartbeat is fresh.
    const legacy = { runner_host: 'web1', runner_pid: 12, runner_liveness: 'heartbeat' as const };
    const old = refusal(facts({ move: row({ ...legacy, runner_alive: true, heartbeat_age_s: '2' }) }));
    expect(old).toMatchObject({ code: 'BUSY' });
    expect(old!.hint).toMatch(/then fw-shard undo 7 again \(refused if its cleanup deleted rows\)\.$/);
    // A lease whose heartbeat stopped long ago is no obstacle.
    expect(refusal(facts({ move: row({ ...legacy, runner_alive: false, heartbeat_age_s: '300' }) }))).toBeNull();
  });

  it('already undone, or being undone; aborted moves have nothing to undo', () => {
    expect(refusal(facts({ undo: row({ id: '9', phase: 'delta' }) }))).toMatchObject({
      code: 'BUSY',
      hint: 'fw-shard resume 9 finishes the undo; fw-shard abort 9 gives move 7 back as it was.',
    });
    expect(refusal(facts({ undo: row({ id: '9', state: 'done', phase: 'done' }) }))).toMatchObject({ code: 'PRECONDITION' });
    expect(refusal(facts({ move: row({ state: 'aborted', phase: 'aborted' }), placement: 1 }))).toMatchObject({ code: 'PRECONDITION' });
  });
});

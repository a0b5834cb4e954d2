/** The move's state machine: a closed set of journal phases, the transitions between them, the next step. */
import { describe, expect, it } from 'vitest';
import { canAbort, canTransition, FLIPPED_PHASES, JOURNAL_PHASES, parsePhase, stepFrom, type JournalPhase } from '../../src/move/phase.js';
import { FwShardError } from '../../src/errors/index.js';

describe('move phases', () => {
  it('refuses a phase this version does not know, naming the move and the known phases', () => {
    expect(parsePhase('cleanup-pending', '7')).toBe('cleanup-pending');
    let err: unknown;
    try {
      parsePhase('reshuffle', '9007199254740993');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(FwShardError);
    expect((err as FwShardError).exitCode).toBe(5);
    expect((err as FwShardError).message).toMatch(/move 9007199254740993 is in phase "reshuffle"/);
    expect((err as FwShardError).hint).toMatch(/copy, delta, freeze, verify, flip, flipped, cleanup-pending, cleanup, done, aborting, aborted/);
  });

  it('walks the offline and online paths, and nothing goes back from a flipped phase', () => {
    const offline: JournalPhase[] = ['copy', 'verify', 'flip', 'flipped', 'cleanup', 'done'];
    const online: JournalPhase[] = ['copy', 'delta', 'freeze', 'delta', 'freeze', 'flipped', 'cleanup-pending', 'cleanup', 'done'];
    for (const path of [offline, online]) {
      for (let i = 1; i < path.length; i++) expect(canTransition(path[i - 1]!, path[i]!), `${path[i - 1]} -> ${path[i]}`).toBe(true);
    }
    for (const f of FLIPPED_PHASES) {
      for (const back of ['copy', 'delta', 'freeze', 'verify', 'flip', 'aborting', 'aborted'] as const)
        expect(canTransition(f, back), `${f} -> ${back}`).toBe(false);
    }
    expect(canTransition('done', 'cleanup')).toBe(false);
    expect(canTransition('aborted', 'copy')).toBe(false);
  });

  it('aborts only before the flip, and a killed abort is finished, in either mode', () => {
    expect(JOURNAL_PHASES.filter(canAbort)).toEqual(['copy', 'delta', 'freeze', 'verify', 'flip', 'aborting']);
    expect(stepFrom('aborting', true)).toBe('finish-abort');
    expect(stepFrom('aborting', false)).toBe('finish-abort');
  });

  it('chooses the next step from the phase and the mode: an offline run that stopped before the flip verifies again', () => {
    const step = (p: JournalPhase) => [stepFrom(p, false), stepFrom(p, true)];
    expect(step('copy')).toEqual(['copy', 'copy']);
    expect(step('delta')).toEqual(['verify', 'cutover']);
    expect(step('freeze')).toEqual(['verify', 'cutover']);
    expect(step('verify')).toEqual(['verify', 'cutover']);
    expect(step('flip')).toEqual(['verify', 'cutover']);
    for (const p of ['flipped', 'cleanup-pending', 'cleanup'] as const) expect(step(p)).toEqual(['cleanup', 'cleanup']);
    expect(step('done')).toEqual(['none', 'none']);
    expect(step('aborted')).toEqual(['none', 'none']);
  });
});

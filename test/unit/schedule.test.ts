import { describe, expect, it } from 'vitest';
import { pickNext, runIsOver, ShardUse, type SchedulerState } from '../../src/fleet/schedule.js';

const mv = (seq: number, from: number, to: number) => ({ seq, from, to });

function state(over: Partial<SchedulerState<ReturnType<typeof mv>>> = {}): SchedulerState<ReturnType<typeof mv>> {
  return { pending: [mv(1, 1, 2), mv(2, 3, 4), mv(3, 1, 4)], tried: new Set(), running: 0, concurrency: 2, use: new ShardUse(1), stopped: false, ...over };
}

describe('ShardUse', () => {
  it('counts a move on both its shards, and once on its own shard', () => {
    const u = new ShardUse(1);
    u.take(1, 2);
    expect([u.free(1), u.free(2), u.free(3)]).toEqual([false, false, true]);
    expect(u.fits(3, 2)).toBe(false);
    u.give(1, 2);
    expect(u.fits(1, 2)).toBe(true);
    const two = new ShardUse(2);
    two.take(5, 5);
    expect(two.free(5)).toBe(true);
    two.take(5, 6);
    expect(two.free(5)).toBe(false);
  });
});

describe('pickNext', () => {
  it('claims moves in plan order, each once per round', () => {
    expect(pickNext(state())).toEqual({ kind: 'claim', move: mv(1, 1, 2) });
    expect(pickNext(state({ tried: new Set([1]) }))).toEqual({ kind: 'claim', move: mv(2, 3, 4) });
    expect(pickNext(state({ tried: new Set([1, 2, 3]) }))).toEqual({ kind: 'end-round' });
  });

  it('passes over a move whose shard this runner already fills', () => {
    const use = new ShardUse(1);
    use.take(1, 2);
    expect(pickNext(state({ use }))).toEqual({ kind: 'pass', move: mv(1, 1, 2) });
    expect(pickNext(state({ use, tried: new Set([1]) }))).toEqual({ kind: 'claim', move: mv(2, 3, 4) });
  });

  it('ends the round when full or stopped', () => {
    expect(pickNext(state({ running: 2 }))).toEqual({ kind: 'end-round' });
    expect(pickNext(state({ stopped: true }))).toEqual({ kind: 'end-round' });
    expect(pickNext(state({ pending: [] }))).toEqual({ kind: 'end-round' });
  });
});

describe('runIsOver', () => {
  it('only when nothing runs and nothing more will start', () => {
    expect(runIsOver({ running: 0, pending: 0, stopped: false })).toBe(true);
    expect(runIsOver({ running: 0, pending: 3, stopped: true })).toBe(true);
    expect(runIsOver({ running: 1, pending: 0, stopped: true })).toBe(false);
    expect(runIsOver({ running: 0, pending: 3, stopped: false })).toBe(false);
  });
});

/**
 * The one reducer from events to run state: recorded sequences folded whole and step by step, the
 * derived numbers (rates, ETAs, totals), throttle/freeze/stop bookkeeping, failures, purity.
 */
import { describe, expect, it } from 'vitest';
import { initialRunState, reduce, reduceAll, totals, type RunState } from '../../src/events/reducer.js';
import type { MoveEvent } from '../../src/events/types.js';
import { loadEvents, upTo } from '../helpers/events.js';

const M = '77';
const at = (ms: number) => new Date(Date.UTC(2026, 0, 2, 3, 4, 5) + ms).toISOString();
const ev = (ms: number, e: Record<string, unknown>, moveId: string | null = M): MoveEvent => ({ at: at(ms), moveId, ...e }) as MoveEvent;

function deepFreeze<T>(o: T): T {
  if (o && typeof o === 'object' && !Object.isFrozen(o)) {
    Object.freeze(o);
    for (const v of Object.values(o as object)) deepFreeze(v);
  }
  return o;
}

describe('reduce: a recorded offline move (sandbox, user 4, shard 2 → 1)', () => {
  const events = loadEvents('offline-move');
  const s = reduceAll(events);

  it('has the header facts, every phase done with its duration, and the outcome', () => {
    expect(s).toMatchObject({ moveId: '9007199254749250', userId: '4', from: 2, to: 1, mode: 'offline', resumed: false });
    expect(s.phases.map((p) => [p.name, p.status, p.ms])).toEqual([
      ['preflight', 'done', 108],
      ['copy', 'done', 672],
      ['verify', 'done', 15],
      ['flip', 'done', 2],
      ['cleanup', 'done', 1165],
    ]);
    expect(s.current).toBeNull();
    expect(s.outcome).toBe('finished');
    expect(s.finalPhase).toBe('done');
    expect(s.flipped).toBe(true);
    expect(s.nextStep).toBe('done: user 4 lives on shard 1; 3317 rows were deleted from shard 2 after verification.');
    expect(s.totalMs).toBe(Date.parse(events.at(-1)!.at) - Date.parse(events[0]!.at));
  });

  it('has every table copied, verified and cleaned, and the totals add up', () => {
    expect(s.tables.map((t) => [t.name, t.rowsCopied, t.rowsTotal, t.copied, t.verifiedChunks, t.mismatched, t.rowsDeleted]).sort()).toEqual([
      ['Dots', '1527', '1527', true, 1, 0, '1527'],
      ['FlickrContacts', '331', '331', true, 1, 0, '331'],
      ['FlickrFaves', '663', '663', true, 1, 0, '663'],
      ['FlickrPhotos', '663', '663', true, 1, 0, '663'],
      ['Sheets', '133', '133', true, 1, 0, '133'],
    ]);
    expect(totals(s)).toEqual({ rowsCopied: '3317', rowsTotal: '3317', chunks: 33, verifiedChunks: 5, mismatched: 0, rowsDeleted: '3317' });
    const dots = s.tables.find((t) => t.name === 'Dots')!;
    expect(dots.chunkSize).toBe(100);
    expect(dots.rate).toBeGreaterThan(0);
    expect(dots.etaMs).toBe(0);
  });

  it('logs the milestones in order, append-only at every step', () => {
    let st = initialRunState();
    for (const e of events) {
      const next = reduce(st, e);
      expect(next.log.slice(0, st.log.length)).toEqual(st.log);
      st = next;
    }
    expect(
      st.log.map((l) =>
        l.kind === 'phase' ? `${l.phase}:${l.status}` : l.kind === 'table.copied' || l.kind === 'table.verified' ? `${l.kind}:${l.table}` : l.kind,
      ),
    ).toEqual([
      'preflight:done',
      'table.copied:FlickrContacts',
      'table.copied:FlickrFaves',
      'table.copied:FlickrPhotos',
      'table.copied:Sheets',
      'table.copied:Dots',
      'copy:done',
      'table.verified:Dots',
      'table.verified:FlickrContacts',
      'table.verified:FlickrFaves',
      'table.verified:FlickrPhotos',
      'table.verified:Sheets',
      'verify:done',
      'flip:done',
      'flipped',
      'cache',
      'cleanup:done',
    ]);
  });

  it('mid-copy: the copy phase runs, tables show their progress', () => {
    const mid = reduceAll(upTo(events, (e) => e.type === 'chunk.copied' && e.table === 'Dots' && e.rowsCopied === '800'));
    expect(mid.current).toBe('copy');
    expect(mid.phases.find((p) => p.name === 'copy')).toMatchObject({ status: 'running', ms: null });
    const dots = mid.tables.find((t) => t.name === 'Dots')!;
    expect(dots).toMatchObject({ rowsCopied: '800', rowsTotal: '1527', copied: false });
    expect(dots.etaMs).toBeGreaterThan(0);
    expect(mid.outcome).toBe('running');
  });
});

describe('reduce: derived numbers', () => {
  it('rate and ETA from the events’ own times (no clock), counting only this run’s rows', () => {
    let s = reduce(initialRunState(), ev(1000, { type: 'chunk.copied', table: 'T', rows: 100, rowsCopied: '1100', rowsTotal: '3000', chunkSize: 100, ms: 10 }));
    // first chunk: started at 990 ms with 1000 rows already there (a resumed move)
    expect(s.tables[0]).toMatchObject({ baseRows: 1000, baseAtMs: Date.parse(at(990)), rate: 10_000, etaMs: 190 });
    s = reduce(s, ev(1090, { type: 'chunk.copied', table: 'T', rows: 100, rowsCopied: '1200', rowsTotal: '3000', chunkSize: 200, ms: 10 }));
    // 200 rows in 100 ms: 2000 rows/s; 1800 rows left: 900 ms
    expect(s.tables[0]).toMatchObject({ rowsCopied: '1200', chunks: 2, chunkSize: 200, rate: 2000, etaMs: 900 });
  });

  it('keeps 64-bit row counts exact', () => {
    const s = reduceAll([
      ev(0, { type: 'chunk.copied', table: 'Big', rows: 1, rowsCopied: '9007199254740993', rowsTotal: '18014398509481986', chunkSize: 1, ms: 1 }),
      ev(1, { type: 'chunk.verified', table: 'Big', ok: true, rows: '9007199254740993' }),
      ev(2, { type: 'chunk.verified', table: 'Big', ok: true, rows: '9007199254740993' }),
    ]);
    expect(s.tables[0]!.rowsTotal).toBe('18014398509481986');
    expect(s.tables[0]!.verifiedRows).toBe('18014398509481986');
  });

  it('accumulates the durations of a phase that ran twice', () => {
    const s = reduceAll([
      ev(0, { type: 'phase.started', phase: 'copy' }),
      ev(100, { type: 'phase.finished', phase: 'copy', ms: 100 }),
      ev(200, { type: 'phase.started', phase: 'copy' }),
    ]);
    expect(s.phases).toEqual([{ name: 'copy', status: 'running', startedAt: at(200), ms: 100 }]);
    expect(reduce(s, ev(250, { type: 'phase.finished', phase: 'copy', ms: 50 })).phases[0]).toMatchObject({ status: 'done', ms: 150 });
  });
});

describe('reduce: throttle, delta passes, freeze (recorded online sequence)', () => {
  const events = loadEvents('online-move');

  it('tracks the throttle state and its reason, then the time spent throttled', () => {
    const during = reduceAll(upTo(events, (e) => e.type === 'throttled'));
    expect(during.throttle).toMatchObject({ active: true, reason: 'replica lag on shard 2: 3.2 s > 1 s', episodes: 1 });
    const after = reduceAll(upTo(events, (e) => e.type === 'resumed'));
    expect(after.throttle).toMatchObject({ active: false, since: null, episodes: 1, totalMs: 4000 });
    expect(after.log.filter((l) => l.kind === 'throttled' || l.kind === 'resumed').map((l) => l.kind)).toEqual(['throttled', 'resumed']);
  });

  it('every waiting worker reports the end of one wait: the first ends the episode, the others change nothing', () => {
    const s = reduceAll([
      ev(0, { type: 'throttled', reason: 'a' }),
      ev(1, { type: 'throttled', reason: 'a' }),
      ev(1000, { type: 'resumed', throttledMs: 1000 }),
      ev(1003, { type: 'resumed', throttledMs: 1002 }),
    ]);
    expect(s.throttle).toMatchObject({ active: false, episodes: 1, totalMs: 1000 });
    expect(s.log.map((l) => l.kind)).toEqual(['throttled', 'resumed']);
    const recorded = reduceAll(loadEvents('online-throttled'));
    expect(recorded.throttle).toMatchObject({ episodes: 1, totalMs: 1000 });
  });

  it('milestones say which phase they happened in (the innermost running one: flip runs inside delta)', () => {
    const s = reduceAll(loadEvents('online-throttled'));
    const within = (kind: string) => [...new Set(s.log.filter((l) => l.kind === kind).map((l) => ('within' in l ? l.within : 'top')))];
    expect(within('throttled')).toEqual(['copy']);
    expect(within('resumed')).toEqual(['copy']);
    expect(within('table.copied')).toEqual(['copy']);
    expect(within('delta')).toEqual(['delta']);
    expect(within('freeze')).toEqual(['delta']);
    expect(within('flipped')).toEqual(['top']);
    expect(within('warning')).toEqual(['top']);
    expect(
      reduceAll(loadEvents('offline-move'))
        .log.filter((l) => l.kind === 'table.verified')
        .every((l) => 'within' in l && l.within === 'verify'),
    ).toBe(true);
  });

  it('the same reason again is not a new episode; a new reason is logged but not counted', () => {
    const s = reduceAll([ev(0, { type: 'throttled', reason: 'a' }), ev(1, { type: 'throttled', reason: 'a' }), ev(2, { type: 'throttled', reason: 'b' })]);
    expect(s.throttle).toMatchObject({ active: true, reason: 'b', since: at(0), episodes: 1 });
    expect(s.log.map((l) => (l.kind === 'throttled' ? l.reason : l.kind))).toEqual(['a', 'b']);
  });

  it('counts delta passes and keeps the freeze start for a live timer, then its length', () => {
    const frozen = reduceAll(upTo(events, (e) => e.type === 'freeze.started'));
    expect(frozen.delta).toEqual({ passes: 2, lastRangesChanged: 1, lastRowsRecopied: '4', rowsRecopied: '124' });
    expect(frozen.freeze).toMatchObject({ active: true, attempt: 1, capMs: 5000, lastMs: null });
    expect(frozen.freeze.startedAt).toBe(events.find((e) => e.type === 'freeze.started')!.at);
    const s = reduceAll(events);
    expect(s.freeze).toMatchObject({ active: false, startedAt: null, lastMs: 812, lastFlipped: true });
    expect(s.flipped).toBe(true);
    expect(s.outcome).toBe('finished');
  });
});

describe('reduce: failures and Ctrl-C', () => {
  it('a failure marks the running phase failed, with the error, the flip state and the next step', () => {
    const s = reduceAll(loadEvents('failed-verify'));
    expect(s.outcome).toBe('failed');
    expect(s.error).toMatchObject({ code: 'DATA_MISMATCH' });
    expect(s.flipped).toBe(false);
    expect(s.nextStep).toMatch(/fw-shard resume 9007199254740995/);
    expect(s.phases.find((p) => p.name === 'verify')).toMatchObject({ status: 'failed', ms: 205 });
    expect(s.tables[0]).toMatchObject({ name: 'Dots', mismatched: 4, lastMismatch: 'different: id=9007199254740993' });
    expect(s.log.at(-1)).toMatchObject({ kind: 'phase', phase: 'verify', status: 'failed' });
  });

  it('INTERRUPTED is "stopped", after the stop was requested', () => {
    const events = loadEvents('interrupted');
    const stopping = reduceAll(upTo(events, (e) => e.type === 'stop.requested'));
    expect(stopping.stopping).toEqual({ signal: 'SIGINT', at: events.find((e) => e.type === 'stop.requested')!.at });
    expect(stopping.outcome).toBe('running');
    const s = reduceAll(events);
    expect(s.outcome).toBe('stopped');
    expect(s.resumed).toBe(true);
    expect(s.phases.find((p) => p.name === 'copy')!.status).toBe('stopped');
  });

  it('a failure without a next step falls back to resuming the move', () => {
    const s = reduceAll([ev(0, { type: 'move.failed', code: 'INTERNAL', message: 'boom', mappingFlipped: false })]);
    expect(s.nextStep).toBe('fw-shard resume 77 continues the move.');
  });
});

describe('reduce: purity and robustness', () => {
  it('never mutates its input', () => {
    let s: RunState = deepFreeze(initialRunState());
    for (const e of [...loadEvents('online-move'), ...loadEvents('failed-verify').slice(3)]) {
      const next = reduce(s, deepFreeze(e));
      expect(next).not.toBe(s);
      s = deepFreeze(next);
    }
  });

  it('starts over when another move appears in the stream (fw-shard cleanup runs several)', () => {
    const s = reduceAll([...loadEvents('online-move'), ev(0, { type: 'phase.started', phase: 'preflight' }, '88')]);
    expect(s.moveId).toBe('88');
    expect(s.tables).toEqual([]);
    expect(s.phases.map((p) => p.name)).toEqual(['preflight']);
  });

  it('ignores event types it does not know (a newer engine)', () => {
    const s0 = reduce(initialRunState(), ev(0, { type: 'phase.started', phase: 'copy' }));
    const s1 = reduce(s0, ev(5, { type: 'something.new', x: 1 }));
    expect({ ...s1, updatedAt: null }).toEqual({ ...s0, updatedAt: null });
  });
});

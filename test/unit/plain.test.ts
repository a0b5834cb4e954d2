/**
 * The plain renderer (stderr without a terminal: cron mail): one timestamped line per phase and
 * milestone, progress at most every few seconds per table, and a last line that says how the run ended
 * and what to do next. Recorded event sequences are fed in and the exact lines asserted.
 */
import { describe, expect, it } from 'vitest';
import { plainRenderer } from '../../src/report/plain.js';
import type { MoveEvent } from '../../src/events/types.js';
import { loadEvents } from '../helpers/events.js';

/** Feed events with the renderer's clock following the events' own times (as a live run would). */
function renderLive(events: MoveEvent[], progressEveryMs = 3000): string[] {
  const lines: string[] = [];
  let now = 0;
  const r = plainRenderer((l) => lines.push(l), { now: () => now, progressEveryMs });
  for (const e of events) {
    now = Date.parse(e.at);
    r(e);
  }
  return lines;
}

describe('plain renderer', () => {
  const at = '2026-01-02T03:04:05.678Z';
  function render(events: MoveEvent[], clock: number[] = []): string[] {
    const lines: string[] = [];
    let i = 0;
    const r = plainRenderer((l) => lines.push(l), { now: () => clock[Math.min(i, clock.length - 1)] ?? 0 });
    for (const e of events) {
      r(e);
      i++;
    }
    return lines;
  }

  it("a resumed move's last line counts the whole move (its totals), not only this run's events", () => {
    const m = { at, moveId: '77' };
    const lines = render([
      { ...m, type: 'move.started', userId: '42', from: 1, to: 2, mode: 'online', resumed: true },
      { ...m, type: 'table.planned', table: 'Photos', rows: '180', key: 'PRIMARY(id)' },
      { ...m, type: 'chunk.copied', table: 'Photos', rows: 30, rowsCopied: '180', rowsTotal: '180', chunkSize: 30, ms: 5 },
      {
        ...m,
        type: 'move.finished',
        phase: 'done',
        mappingFlipped: true,
        ms: 10,
        nextStep: 'done: user 42 lives on shard 2.',
        totals: {
          rowsCopied: '180',
          rowsRecopied: '4',
          rowsDeleted: '180',
          deltaPasses: 5,
          freezes: [
            { startedAt: at, ms: 250, outcome: 'lifted' },
            { startedAt: at, ms: 40, outcome: 'flipped' },
          ],
          freezeMsTotal: 290,
        },
      },
    ]);
    expect(lines.at(-1)).toMatch(
      /finished \(done\) in \S+ ms, 180 rows copied, 5 delta pass\(es\), frozen 290 ms in 2 freeze\(s\), 0 mismatch\(es\): user 42 lives on shard 2\. Nothing left to do\.$/,
    );
  });

  it('writes one line per phase and per milestone, with a UTC timestamp and the move id', () => {
    const m = { at, moveId: '77' };
    expect(
      render([
        { ...m, moveId: null, type: 'phase.started', phase: 'preflight' },
        { ...m, type: 'move.started', userId: '42', from: 1, to: 2, mode: 'offline', resumed: false },
        { ...m, type: 'move.started', userId: '42', from: 1, to: 2, mode: 'offline', resumed: true },
        { ...m, type: 'phase.started', phase: 'copy' },
        { ...m, type: 'table.planned', table: 'Photos', rows: '5', key: 'PRIMARY(id)' },
        { ...m, type: 'table.copied', table: 'Photos', rowsCopied: '5', chunks: 1 },
        { ...m, type: 'phase.finished', phase: 'copy', ms: 1234 },
        { ...m, type: 'chunk.verified', table: 'Photos', ok: true, rows: '5' },
        { ...m, type: 'chunk.verified', table: 'Photos', ok: false, rows: '5', detail: 'missing on target: id=3' },
        { ...m, type: 'mapping.flipped', userId: '42', from: 1, to: 2 },
        { ...m, type: 'cache.invalidated', keys: ['USER-42', 'x_USER-42'] },
        { ...m, type: 'cleanup.progress', table: 'Photos', rowsDeleted: '5' },
        { ...m, type: 'warning', message: 'careful' },
        { ...m, type: 'move.finished', phase: 'done', mappingFlipped: true, ms: 5000 },
      ]),
    ).toEqual([
      '2026-01-02 03:04:05Z fw-shard: preflight started',
      '2026-01-02 03:04:05Z move 77: moving user 42 from shard 1 to shard 2 (offline)',
      '2026-01-02 03:04:05Z move 77: resuming user 42 from shard 1 to shard 2 (offline)',
      '2026-01-02 03:04:05Z move 77: copy started',
      '2026-01-02 03:04:05Z move 77: copy Photos: done, 5 rows in 1 chunk(s)',
      '2026-01-02 03:04:05Z move 77: copy finished in 1.2 s',
      '2026-01-02 03:04:05Z move 77: MISMATCH in Photos: missing on target: id=3 (re-copying)',
      '2026-01-02 03:04:05Z move 77: mapping flipped: user 42 now lives on shard 2',
      '2026-01-02 03:04:05Z move 77: cache: deleted USER-42, x_USER-42',
      '2026-01-02 03:04:05Z move 77: cleanup Photos: 5 rows deleted',
      '2026-01-02 03:04:05Z move 77: warning: careful',
      // an event without nextStep (an older engine) still ends with where the user lives
      '2026-01-02 03:04:05Z move 77: finished (done) in 0 ms, 5 rows copied, 1 mismatch(es): user 42 lives on shard 2. Nothing left to do.',
    ]);
  });

  it('throttles progress lines per table using the injected clock, with the rate and ETA from the reducer', () => {
    const t0 = Date.parse('2026-01-02T03:04:00.000Z');
    const chunk = (ms: number, table: string, rowsCopied: string, rowsTotal: string): MoveEvent => ({
      at: new Date(t0 + ms).toISOString(),
      moveId: '77',
      type: 'chunk.copied',
      table,
      rows: 100,
      rowsCopied,
      rowsTotal,
      chunkSize: 100,
      ms: 100,
    });
    const lines = render(
      [
        chunk(100, 'Photos', '100', '400'), // t=10000: first line for Photos (100 rows in 100 ms)
        chunk(1100, 'Photos', '200', '400'), // t=11000: within 3 s, dropped
        chunk(1100, 'Faves', '100', '0'), //    t=11000: first line for Faves (no total: no percentage, no ETA)
        chunk(3099, 'Photos', '300', '400'), // t=12999: still within 3 s of 10000
        chunk(3100, 'Photos', '400', '400'), // t=13000: 3 s after the last line; done, so no ETA
        chunk(3100, 'Big', '9007199254740993', '18014398509481986'), // 64-bit counts, exact percentage
      ],
      [10_000, 11_000, 11_000, 12_999, 13_000, 13_000],
    );
    expect(lines).toEqual([
      '2026-01-02 03:04:00Z move 77: copy Photos: 100/400 rows (25%), chunk 100, 1.0k rows/s, ETA 300 ms',
      '2026-01-02 03:04:01Z move 77: copy Faves: 100/0 rows, chunk 100, 1.0k rows/s',
      '2026-01-02 03:04:03Z move 77: copy Photos: 400/400 rows (100%), chunk 100, 129 rows/s',
      '2026-01-02 03:04:03Z move 77: copy Big: 9007199254740993/18014398509481986 rows (50%), chunk 100, 1.0k rows/s, ETA 2501999792h 59m',
    ]);
  });

  it('a failure line says whether the mapping was flipped, first line of the message only, and what to do next', () => {
    expect(
      render([
        {
          at,
          moveId: '77',
          type: 'move.failed',
          code: 'DATA_MISMATCH',
          message: 'table Photos differs\nmore detail',
          mappingFlipped: false,
          nextStep: 'Stop the writes, then fw-shard resume 77.',
        },
        { at, moveId: '77', type: 'move.failed', code: 'SERVER_UNAVAILABLE', message: 'shard 1 is gone', mappingFlipped: true },
      ]),
    ).toEqual([
      '2026-01-02 03:04:05Z move 77: FAILED [DATA_MISMATCH] table Photos differs (mapping was NOT flipped). Next: Stop the writes, then fw-shard resume 77.',
      '2026-01-02 03:04:05Z move 77: FAILED [SERVER_UNAVAILABLE] shard 1 is gone (mapping WAS flipped). Next: fw-shard resume 77 continues the move.',
    ]);
  });
});

describe('plain renderer on recorded runs', () => {
  it('a whole offline move: a line per phase, verification per table, and a last line to act on', () => {
    const lines = renderLive(loadEvents('offline-move'));
    const body = lines.map((l) => l.replace(/^\S+ \S+ (move \d+|fw-shard): /, ''));
    expect(body.filter((l) => / (started|finished in .*)$/.test(l))).toEqual([
      'preflight started',
      'preflight finished in 0.1 s',
      'copy started',
      'copy finished in 0.7 s',
      'verify started',
      'verify finished in 0.0 s',
      'flip started',
      'flip finished in 0.0 s',
      'cleanup started',
      'cleanup finished in 1.2 s',
    ]);
    expect(body).toContain('verify Dots: 1 range(s) matched, 0 mismatched');
    expect(body).toContain('moving user 4 from shard 2 to shard 1 (offline)');
    expect(body).toContain('mapping flipped: user 4 now lives on shard 1');
    // the whole copy took 0.7 s: one progress line per table at most (every 3 s)
    for (const t of ['Dots', 'FlickrFaves', 'FlickrPhotos', 'Sheets', 'FlickrContacts']) {
      expect(body.filter((l) => l.startsWith(`copy ${t}: `) && !l.includes('done')).length).toBeLessThanOrEqual(1);
    }
    expect(lines.at(-1)).toBe(
      '2026-11-24 03:29:02Z move 9007199254749250: finished (done) in 2.0 s, 3317 rows copied, 0 mismatch(es): user 4 lives on shard 1; 3317 rows were deleted from shard 2 after verification. Nothing left to do.',
    );
    expect(lines.join('\n')).not.toContain('\x1b');
  });

  it('progress lines come every few seconds per table on a long copy', () => {
    const lines = renderLive(loadEvents('offline-move'), 200);
    const dots = lines.filter((l) => / copy Dots: \d+\/1527 rows/.test(l));
    expect(dots.length).toBeGreaterThanOrEqual(2);
    expect(dots[0]).toMatch(/copy Dots: 100\/1527 rows \(6%\), chunk 100, [0-9.]+k? rows\/s, ETA [0-9.]+ (ms|s)$/);
  });

  it('an online move: throttling with its reason, delta passes and the freeze', () => {
    const body = renderLive(loadEvents('online-move')).map((l) => l.replace(/^\S+ \S+ (move \d+|fw-shard): /, ''));
    expect(body).toContain('throttled: replica lag on shard 2: 3.2 s > 1 s');
    expect(body).toContain('resumed after 4.0 s throttled');
    expect(body).toContain('delta pass 1: 3 range(s) changed, 120 rows re-copied in 300 ms');
    expect(body).toContain('freeze started: user writes are held (attempt 1, cap 5000 ms)');
    expect(body).toContain('freeze lifted after 812 ms (flipped)');
    expect(body.at(-1)).toMatch(/^finished \(done\) in 9\.8 s, 4000 rows copied, 0 mismatch\(es\): user 42 lives on shard 2; /);
  });

  it('two tables waiting on one pause file: throttled and resumed once each, the time counted once', () => {
    const body = renderLive(loadEvents('online-throttled')).map((l) => l.replace(/^\S+ \S+ (move \d+|fw-shard): /, ''));
    expect(body.filter((l) => l.startsWith('throttled: '))).toEqual(['throttled: pause file /etc/fw-shard/pause exists (remove it to continue)']);
    expect(body.filter((l) => l.startsWith('resumed '))).toEqual(['resumed after 1.0 s throttled']);
    expect(body.at(-1)).toMatch(/^finished \(done\) in 1\.6 s, 22112 rows copied, 0 mismatch\(es\): user 4 lives on shard 2; /);
  });

  it('Ctrl-C: says it is stopping, then STOPPED with the resume command', () => {
    const body = renderLive(loadEvents('interrupted')).map((l) => l.replace(/^\S+ \S+ (move \d+|fw-shard): /, ''));
    expect(body).toContain('SIGINT received: stopping at the next safe point (never inside the flip); press Ctrl-C again to exit at once');
    expect(body.at(-1)).toBe(
      'STOPPED [INTERRUPTED] stopped at a safe point; move 9007199254740997 can be resumed (mapping was NOT flipped). Next: fw-shard resume 9007199254740997 (or run the same move command again) continues where it stopped.',
    );
  });

  it('a failed verification: every mismatch, then FAILED with the next step', () => {
    const lines = renderLive(loadEvents('failed-verify'));
    expect(lines.filter((l) => l.includes('MISMATCH in Dots: different: id=9007199254740993'))).toHaveLength(4);
    expect(lines.at(-1)).toMatch(
      /FAILED \[DATA_MISMATCH\] table Dots: .* \(mapping was NOT flipped\)\. Next: The mapping was not flipped\. .*fw-shard resume 9007199254740995\.$/,
    );
  });
});

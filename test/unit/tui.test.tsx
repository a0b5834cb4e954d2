/**
 * The TUI: recorded event sequences folded by the reducer and drawn by MoveView (ink-testing-library),
 * at 60 columns, asserting what the screen says at points in the run; the status view; colour only
 * without NO_COLOR; and createRenderer's choice between the TUI, plain lines and NDJSON.
 */
import { EventEmitter } from 'node:events';
import chalk from 'chalk';
import { render } from 'ink-testing-library';
import { afterEach, describe, expect, it } from 'vitest';
import { reduceAll, type RunState } from '../../src/events/reducer.js';
import type { MoveEvent } from '../../src/events/types.js';
import { MoveView, arrangeLog } from '../../src/tui/move-view.js';
import { StatusView, type WatchSnapshot } from '../../src/tui/status-view.js';
import { colorEnabled } from '../../src/tui/theme.js';
import { createRenderer } from '../../src/cli/render.js';
import { checkWatch } from '../../src/cli/status-watch.js';
import { FwShardError } from '../../src/errors/index.js';
import type { CliContext } from '../../src/cli/context.js';
import type { StatusReport } from '../../src/status/collect.js';
import { loadEvents, upTo } from '../helpers/events.js';

const WIDTH = 60;
const ESC = '\x1b';

function frameOf(state: RunState, now: number, width = WIDTH, color = false): string {
  const r = render(<MoveView state={state} now={now} width={width} color={color} />);
  const f = r.lastFrame() ?? '';
  r.unmount();
  return f;
}

const timeOf = (e: MoveEvent) => Date.parse(e.at);
/** Wrapped text as one line (what it says, wherever the 60 columns broke it). */
const oneLine = (f: string) => f.replace(/\s*\n\s*/g, ' ');

function expectFits(frame: string, width = WIDTH) {
  for (const line of frame.split('\n')) expect(line.length, `too wide: "${line}"`).toBeLessThanOrEqual(width);
}

describe('MoveView: a recorded offline move at 60 columns', () => {
  const events = loadEvents('offline-move');

  it('before move.started: says it is checking, no header yet', () => {
    const first = upTo(events, (e) => e.type === 'phase.started');
    const f = frameOf(reduceAll(first), timeOf(first[0]!) + 50);
    expect(f).toContain('checking before writing anything');
    expect(f).toContain('▸ preflight');
    expect(f).toContain('50 ms');
  });

  it('mid-copy: header, phase marks, one progress bar per table with rows, rate, ETA and chunk size', () => {
    const seq = upTo(events, (e) => e.type === 'chunk.copied' && e.table === 'Dots' && e.rowsCopied === '800');
    const f = frameOf(reduceAll(seq), timeOf(seq.at(-1)!));
    expectFits(f);
    const lines = f.split('\n');
    expect(lines[0]).toBe('move 9007199254749250 · user 4 · shard 2 → 1 · offline');
    expect(f).toContain('✔ preflight  108 ms');
    expect(f).toMatch(/▸ copy +\d+ ms/);
    // finished tables are milestones with a check mark
    expect(f).toMatch(/ {2}✔ FlickrContacts +331 rows · 1 chunk/);
    // Dots: 800 of 1527 = 52 %, with a bar
    const bar = lines.find((l) => l.includes('Dots') && l.includes('█'));
    expect(bar).toBeDefined();
    expect(bar).toMatch(/^ {2}Dots +█+░+ 52%$/);
    expect(f).toMatch(/800\/1,527 rows · [0-9.]+k? rows\/s · ETA [0-9.]+ (ms|s) · chunk 100/);
    // what is still to come
    expect(f).toContain('· verify');
    expect(f).toContain('· flip');
    expect(f).toContain('· cleanup');
    expect(f).not.toContain(ESC);
  });

  it('verification per table: chunks matched and mismatched', () => {
    const seq = upTo(events, (e) => e.type === 'chunk.verified' && e.table === 'Dots');
    const f = frameOf(reduceAll(seq), timeOf(seq.at(-1)!));
    expect(f).toMatch(/Dots +verify: 1 matched, 0 mismatched/);
    expect(f).toMatch(/FlickrFaves +verify: 0 matched, 0 mismatched/);
    const done = frameOf(reduceAll(upTo(events, (e) => e.type === 'phase.finished' && e.phase === 'verify')), 0);
    expect(done).toMatch(/✔ Dots +verified: 1 matched, 0 mismatched/);
    expect(done).toContain('✔ verify     15 ms');
  });

  it('cleanup progress, then the final summary with every phase marked done', () => {
    const mid = upTo(events, (e) => e.type === 'cleanup.progress' && e.rowsDeleted === '500');
    expect(frameOf(reduceAll(mid), timeOf(mid.at(-1)!))).toMatch(/Dots +cleanup: 500\/1,527 rows deleted/);
    const f = frameOf(reduceAll(events), 0);
    expectFits(f);
    for (const p of ['preflight', 'copy', 'verify', 'flip', 'cleanup']) expect(f).toMatch(new RegExp(`✔ ${p} +[0-9.]+ (ms|s)`));
    expect(f).toContain('✔ mapping flipped: user 4 now lives on shard 1');
    expect(f).toContain('✔ Moved user 4 to shard 1 in 2.0 s (done)');
    expect(oneLine(f)).toContain('3,317 rows in 5 tables · 33 chunks · 5 ranges verified, 0 mismatched · 3,317 deleted');
    expect(oneLine(f)).toContain('done: user 4 lives on shard 1; 3317 rows were deleted from shard 2 after verification.');
    expect(f).not.toContain('▸');
    expect(f).not.toContain('· verify');
  });

  it('finished lines stay put: what is printed only ever grows, frame after frame', () => {
    const r = render(<MoveView state={reduceAll([])} now={0} width={WIDTH} color={false} />);
    let state = reduceAll([]);
    let previous: string[] = [];
    let printed: string[] = [];
    for (const e of events) {
      state = reduceAll([e], state);
      // <Static> prints each item once: the arranged log may only be appended to
      const now = arrangeLog(state.log).printed.map((x) => JSON.stringify(x));
      expect(now.slice(0, printed.length)).toEqual(printed);
      printed = now;
      r.rerender(<MoveView state={state} now={timeOf(e)} width={WIDTH} color={false} />);
      const lines = (r.lastFrame() ?? '').split('\n');
      // before move.started everything is redrawn; from the header on, the frame starts with the milestones already printed
      if (lines[0]?.startsWith('move ')) {
        expect(lines.slice(0, previous.length)).toEqual(previous);
        previous = lines.slice(0, 1 + printed.length);
      }
    }
    r.unmount();
    expect(previous.length).toBeGreaterThan(15);
  });

  it('finished tables are drawn under the copy phase: under ▸ copy while it runs, under ✔ copy after', () => {
    const mid = frameOf(reduceAll(upTo(events, (e) => e.type === 'table.copied' && e.table === 'FlickrFaves')), 0).split('\n');
    const running = mid.findIndex((l) => l.startsWith('▸ copy'));
    expect(mid.findIndex((l) => /^ {2}✔ FlickrContacts/.test(l))).toBe(running + 1);
    expect(mid.findIndex((l) => /^ {2}✔ FlickrFaves/.test(l))).toBe(running + 2);
    expect(mid.indexOf('✔ preflight  108 ms')).toBe(running - 1);
    const end = frameOf(reduceAll(events), 0).split('\n');
    const copy = end.findIndex((l) => /^✔ copy /.test(l));
    expect(end.slice(copy + 1, copy + 6).map((l) => /^ {2}✔ (\S+)/.exec(l)?.[1])).toEqual(['FlickrContacts', 'FlickrFaves', 'FlickrPhotos', 'Sheets', 'Dots']);
    const verify = end.findIndex((l) => /^✔ verify /.test(l));
    expect(end[verify + 1]).toMatch(/^ {2}✔ Dots +verified: 1 matched/);
  });
});

describe('MoveView: a recorded online move, two tables waiting on one pause file', () => {
  const events = loadEvents('online-throttled');

  it('one wait is one "resumed" line and counts once, under the copy phase', () => {
    const f = frameOf(reduceAll(events), 0);
    expect(f.split('resumed after')).toHaveLength(2);
    expect(f).toContain('  ▸ resumed after 1.0 s throttled');
    expect(oneLine(f)).toContain('throttled 1.0 s · freeze 5 ms');
    const lines = f.split('\n');
    const copy = lines.findIndex((l) => /^✔ copy /.test(l));
    expect(lines[copy + 1]).toMatch(/^ {2}‖ throttled: pause file \/etc\/fw-shard\/pause exists/);
    const resumed = lines.indexOf('  ▸ resumed after 1.0 s throttled');
    expect(resumed).toBeGreaterThan(copy + 1);
    expect(lines.findIndex((l) => /^ {2}✔ FlickrContacts/.test(l))).toBe(resumed + 1);
    // while it waits, one throttle line: the live one with its timer
    const waiting = reduceAll(upTo(events, (e, i) => e.type === 'throttled' && events[i - 1]?.type === 'throttled'));
    const w = frameOf(waiting, timeOf(events.find((e) => e.type === 'throttled')!) + 500);
    expect(w).toContain('‖ throttled for 500 ms: pause file /etc/fw-shard/pause');
    expect(w.split('‖')).toHaveLength(2);
  });

  it('delta passes and the freeze are drawn under the delta phase', () => {
    const lines = frameOf(reduceAll(events), 0).split('\n');
    const delta = lines.findIndex((l) => /^✔ delta /.test(l));
    expect(lines.slice(delta + 1, delta + 5).map((l) => l.slice(0, 16))).toEqual([
      '  ↻ delta pass 1',
      '  ↻ delta pass 2',
      '  ↻ delta pass 3',
      '  ● freeze lifte',
    ]);
    expect(lines.findIndex((l) => l.startsWith('✔ mapping flipped'))).toBeLessThan(delta);
  });

  it('the result line (done: ...) once: left out of the summary when stdout, where it is printed, is the same terminal', () => {
    const state = reduceAll(events);
    const done = 'done: user 4 lives on shard 2; 22112 rows were deleted';
    expect(oneLine(frameOf(state, 0))).toContain(done);
    const r = render(<MoveView state={state} now={0} width={WIDTH} color={false} resultBelow />);
    const f = r.lastFrame() ?? '';
    r.unmount();
    expect(oneLine(f)).not.toContain('done: user 4');
    expect(f).toContain('✔ Moved user 4 to shard 2 in 1.6 s (done)');
    // a failure keeps its next step: stdout gets no result then
    const failed = render(<MoveView state={reduceAll(loadEvents('failed-verify'))} now={0} width={WIDTH} color={false} resultBelow />);
    expect(oneLine(failed.lastFrame() ?? '')).toContain('then fw-shard resume 9007199254740995.');
    failed.unmount();
  });
});

describe('MoveView: throttling, delta passes and the freeze (recorded online move)', () => {
  const events = loadEvents('online-move');

  it('shows that copying is throttled, for how long, and why', () => {
    const seq = upTo(events, (e) => e.type === 'throttled');
    const f = frameOf(reduceAll(seq), timeOf(seq.at(-1)!) + 1500);
    expectFits(f);
    expect(f).toContain('‖ throttled for 1.5 s: replica lag on shard 2: 3.2 s > 1 s');
    const after = frameOf(reduceAll(upTo(events, (e) => e.type === 'resumed')), 0);
    expect(after).not.toContain('throttled for');
    expect(after).toContain('▸ resumed after 4.0 s throttled');
  });

  it('a live freeze timer in ms while frozen, then how long the freeze lasted', () => {
    const seq = upTo(events, (e) => e.type === 'freeze.started');
    const state = reduceAll(seq);
    const t = timeOf(seq.at(-1)!);
    expect(frameOf(state, t + 1234)).toContain('● frozen 1234 ms of 5000 ms cap (attempt 1)');
    expect(frameOf(state, t + 4321)).toContain('● frozen 4321 ms of 5000 ms cap');
    expect(frameOf(state, t + 1234)).toMatch(/↻ delta pass 2: 1 range changed, 4 rows re-copied \(80 ms\)/);
    const f = frameOf(reduceAll(events), 0);
    expect(f).toContain('● freeze lifted after 812 ms, flipped');
    expect(f).toMatch(/✔ Moved user 42 to shard 2 in 9\.8 s \(done\)/);
    expect(oneLine(f)).toContain('throttled 4.0 s · freeze 812 ms');
  });
});

describe('MoveView: failures and Ctrl-C', () => {
  it('a failed verification: the mismatches, the failed phase, the flip state and the next step', () => {
    const f = frameOf(reduceAll(loadEvents('failed-verify')), 0);
    expectFits(f);
    expect(f).toContain('! Dots: mismatch, re-copied: different:');
    expect(f).toMatch(/✘ verify +205 ms \(failed\)/);
    expect(f).toContain('✘ Failed [DATA_MISMATCH] in verify after 508 ms: table');
    expect(oneLine(f)).toContain('The mapping was NOT flipped: user 7 still lives on shard 2.');
    expect(oneLine(f)).toContain('Next: The mapping was not flipped. Something is writing');
    expect(oneLine(f)).toContain('then fw-shard resume 9007199254740995.');
  });

  it('Ctrl-C: "stopping at the next safe point" at once, then the stopped summary', () => {
    const events = loadEvents('interrupted');
    const seq = upTo(events, (e) => e.type === 'stop.requested');
    const f = frameOf(reduceAll(seq), timeOf(seq.at(-1)!));
    expect(f).toMatch(/■ SIGINT: stopping at the next safe point…/);
    expect(f).toContain('resume 9007199254740997 · user 42 · shard 1 → 2 · offline');
    const end = frameOf(reduceAll(events), 0);
    expect(end).toContain('■ copy       699 ms (stopped)');
    expect(end).toContain('■ SIGINT: stopped at a safe point in copy after 800 ms');
    expect(end).toMatch(/Next: fw-shard resume 9007199254740997/);
    // what was said stays on screen, once
    expect(end.split('stopping at the next safe point')).toHaveLength(2);
  });
});

describe('colour', () => {
  const level = chalk.level;
  afterEach(() => {
    chalk.level = level;
  });

  it('uses colour on a colour terminal, none with NO_COLOR', () => {
    chalk.level = 1;
    const state = reduceAll(loadEvents('offline-move'));
    expect(frameOf(state, 0, WIDTH, true)).toContain(`${ESC}[`);
    expect(frameOf(state, 0, WIDTH, false)).not.toContain(`${ESC}[3`);
    expect(colorEnabled({ NO_COLOR: '1' })).toBe(false);
    expect(colorEnabled({ NO_COLOR: '' })).toBe(true);
    expect(colorEnabled({ TERM: 'dumb' })).toBe(false);
    expect(colorEnabled({})).toBe(true);
  });
});

describe('StatusView', () => {
  const report = {
    poorMans: 'none',
    mapping: { table: 'users', server: 'db_main', shardColumn: 'cluster_id', source: 'config' },
    servers: [
      { role: 'db_main', host: '127.0.0.1', port: 1, database: 'flamework', reachable: true, rttMs: 1 },
      { role: 'shard 2', host: '127.0.0.1', port: 2, database: 'flamework', reachable: false, error: 'ECONNREFUSED' },
    ],
    shards: [
      { id: 1, server: 'a:1/x', isMain: false, reachable: true, users: '1200', tables: [], rows: '1234567', bytes: '5000000', exact: false, drift: [] },
      { id: 2, server: 'b:2/x', isMain: false, reachable: false, users: '3', tables: [], rows: '0', bytes: '0', exact: false, drift: [] },
    ],
    unknownShardUsers: [],
    tickets: [],
    frozen: [],
    activeMoves: [
      {
        id: '9007199254740993',
        user_id: '42',
        from_shard: 1,
        to_shard: 2,
        phase: 'copy',
        state: 'active',
        cleanup_mode: 'now',
        options: null,
        runner_host: 'ops1',
        runner_pid: 4242,
        heartbeat_at: null,
        created_at: '',
        updated_at: '',
        flipped_at: null,
        finished_at: null,
        freeze_ms: null,
        heartbeat_age_s: '2',
        flipped_age_s: null,
        error: null,
        runner_lock: 'fw-shard:0123abcd:m:9007199254740993',
        runner_conn: '17',
        runner_alive: true,
        runner_liveness: 'lock',
        stop_requested_at: '2026-01-02T03:04:05.000Z',
        stop_requested_by: 'ops@web2',
        throttle_reason: 'pause file /run/fw.pause exists',
        rows_copied: '750',
        rows_total: '3000',
      },
    ],
    problems: ['shard 2 (127.0.0.1:2) is unreachable: ECONNREFUSED'],
    warnings: [],
    healthy: false,
    anyDown: true,
  } as StatusReport;
  const snap: WatchSnapshot = {
    report,
    progress: { '9007199254740993': { rowsCopied: '750', rowsTotal: '3000', tables: 5, tablesCopied: 2, rowsCleaned: '0' } },
    at: 10_000,
    tookMs: 42,
  };

  it('shows servers, shards, active moves with their progress, and problems, within 60 columns', () => {
    const r = render(<StatusView snapshot={snap} error={null} intervalMs={2000} now={11_500} width={WIDTH} color={false} />);
    const f = r.lastFrame() ?? '';
    r.unmount();
    expectFits(f);
    expect(f).toContain('fw-shard status · every 2.0 s · updated 1.5 s ago');
    expect(f).toContain('✔ db_main 1 ms');
    expect(f).toContain('✘ shard 2 DOWN');
    expect(f).toMatch(/1 +1,200 +1,234,567 +5\.0 MB +none/);
    expect(f).toMatch(/2 +3 +- +- +unreachable/);
    // The journal's live facts (wrapped at 60 columns): the runner alive (it holds the runner lock), a
    // pending stop request and why the runner waits.
    const flat = f.replace(/\s+/g, ' ');
    expect(flat).toContain('9007199254740993 · user 42 · 1 → 2 · copy · ops1:4242 alive');
    expect(flat).toContain('stopping: stop requested by ops@web2 at 2026-01-02T03:04:05.000Z; waiting: pause file /run/fw.pause exists');
    expect(f).toMatch(/█+░+ 25% · 750\/3,000 rows · 2\/5 tables/);
    expect(f).toContain('✘ 1 problem(s):');
  });

  it('keeps the last snapshot and says when a refresh failed', () => {
    const r = render(<StatusView snapshot={snap} error="db_main: connect ETIMEDOUT" intervalMs={2000} now={30_000} width={WIDTH} color={false} />);
    const f = r.lastFrame() ?? '';
    r.unmount();
    expect(f).toContain('✘ refresh failed: db_main: connect ETIMEDOUT');
    expect(f).toContain('updated 20.0 s ago');
    expect(f).toContain('Unfinished moves');
  });
});

/** A stand-in for process.stderr / stdout: records what is written. */
class FakeStream extends EventEmitter {
  chunks: string[] = [];
  columns = WIDTH;
  rows = 30;
  constructor(readonly isTTY: boolean) {
    super();
  }
  write(s: string | Uint8Array, ...rest: unknown[]): boolean {
    this.chunks.push(String(s));
    const cb = rest.find((x) => typeof x === 'function') as (() => void) | undefined;
    cb?.();
    return true;
  }
  get text() {
    return this.chunks.join('');
  }
}

function ctxWith(stderrTTY: boolean, env: Record<string, string> = {}, stdoutTTY = false) {
  const stdout = new FakeStream(stdoutTTY);
  const stderr = new FakeStream(stderrTTY);
  const ctx = { stdout, stderr, stdinIsTTY: stderrTTY, env, cwd: '/' } as unknown as CliContext;
  return { ctx, stdout, stderr };
}

describe('createRenderer', () => {
  const events = loadEvents('offline-move');

  it('no terminal: plain lines on stderr, nothing on stdout, no escape codes', async () => {
    const { ctx, stdout, stderr } = ctxWith(false);
    const r = createRenderer(ctx, {});
    expect(r.kind).toBe('plain');
    for (const e of events) r.sink(e);
    await r.done();
    expect(stdout.text).toBe('');
    expect(stderr.text).toContain('move 9007199254749250: copy started');
    expect(stderr.text).not.toContain(ESC);
  });

  it('--events: NDJSON on stdout, versioned, one event per line', async () => {
    const { ctx, stdout } = ctxWith(false);
    const r = createRenderer(ctx, { events: true, json: true });
    for (const e of events) r.sink(e);
    r.warn('hook on-flip exited 1');
    await r.done();
    const lines = stdout.text.trimEnd().split('\n');
    expect(lines).toHaveLength(events.length + 1);
    expect(JSON.parse(lines[0]!)).toEqual({ v: 1, ...events[0] });
    expect(JSON.parse(lines.at(-1)!)).toMatchObject({ v: 1, type: 'warning', message: 'hook on-flip exited 1', moveId: '9007199254749250' });
  });

  it('a terminal: the TUI on stderr (unless CI, --json or --no-tui), the summary left on screen', async () => {
    const kind = async (c: CliContext, o: Parameters<typeof createRenderer>[1]) => {
      const r = createRenderer(c, o);
      await r.done();
      return r.kind;
    };
    expect(await kind(ctxWith(true, { CI: 'true' }).ctx, {})).toBe('plain');
    expect(await kind(ctxWith(true).ctx, { json: true })).toBe('plain');
    expect(await kind(ctxWith(true).ctx, { noTui: true })).toBe('plain');
    expect(await kind(ctxWith(true, { TERM: 'dumb' }).ctx, {})).toBe('plain');
    expect(await kind(ctxWith(true).ctx, { events: true })).toBe('tui');
    // NDJSON on the same terminal would tear the frames
    expect(await kind(ctxWith(true, {}, true).ctx, { events: true })).toBe('plain');
    const { ctx, stdout, stderr } = ctxWith(true, { NO_COLOR: '1' });
    const r = createRenderer(ctx, {});
    expect(r.kind).toBe('tui');
    for (const e of events) r.sink(e);
    r.interrupted('SIGTERM');
    await r.done();
    expect(stdout.text).toBe('');
    expect(stderr.text).toContain('✔ Moved user 4 to shard 1 in 2.0 s (done)');
    expect(stderr.text).toContain('move 9007199254749250 · user 4 · shard 2 → 1 · offline');
    // stdout elsewhere (a file, a pipe): the summary says how it ended, result line included
    expect(stderr.text).toContain('done: user 4 lives on shard 1');
  });

  it('a terminal on both stdout and stderr: the summary leaves the result line to stdout', async () => {
    const { ctx, stderr } = ctxWith(true, { NO_COLOR: '1' }, true);
    const r = createRenderer(ctx, {});
    for (const e of events) r.sink(e);
    await r.done();
    expect(stderr.text).toContain('✔ Moved user 4 to shard 1 in 2.0 s (done)');
    expect(stderr.text).not.toContain('done: user 4');
  });
});

describe('status --watch', () => {
  it('refuses without a terminal (usage, exit 2), with --json, or under CI', () => {
    const refuse = (c: CliContext, o: { json?: boolean; intervalMs: number }) => {
      try {
        checkWatch(c, o);
        return null;
      } catch (e) {
        return e as FwShardError;
      }
    };
    const noTty = refuse(ctxWith(false).ctx, { intervalMs: 2000 });
    expect(noTty).toBeInstanceOf(FwShardError);
    expect(noTty!.exitCode).toBe(2);
    expect(noTty!.message).toBe('--watch needs a terminal: stderr is not a TTY (or CI is set)');
    expect(noTty!.hint).toMatch(/status --json/);
    expect(refuse(ctxWith(true, { CI: '1' }).ctx, { intervalMs: 2000 })?.code).toBe('USAGE');
    expect(refuse(ctxWith(true).ctx, { json: true, intervalMs: 2000 })?.message).toMatch(/cannot be combined with --json/);
    expect(refuse(ctxWith(true).ctx, { intervalMs: 50 })?.message).toMatch(/--interval must be at least 200ms/);
    expect(refuse(ctxWith(true).ctx, { intervalMs: 2000 })).toBeNull();
  });
});

/**
 * --metrics-file's content (issue 23): the engine's events folded into gauges of the last run, in
 * Prometheus' text format; the last success time carried over from the previous file after a failure.
 */
import { describe, expect, it } from 'vitest';
import type { MoveEvent } from '../../src/events/types.js';
import { MetricsRecorder } from '../../src/report/metrics.js';

const at = '2026-12-08T01:00:00.000Z';
const ev = (e: Record<string, unknown>): MoveEvent => ({ at, moveId: '7', ...e }) as unknown as MoveEvent;

describe('metrics', () => {
  it('folds a run: moves by result, rows and bytes copied, rows deleted, the freeze that flipped, time per phase', () => {
    const m = new MetricsRecorder();
    for (const e of [
      ev({ type: 'chunk.copied', table: 'Dots', rows: 40, rowsCopied: '40', rowsTotal: '60', chunkSize: 40, ms: 5, bytes: 4000 }),
      ev({ type: 'chunk.copied', table: 'Dots', rows: 20, rowsCopied: '60', rowsTotal: '60', chunkSize: 40, ms: 5 }),
      ev({ type: 'phase.finished', phase: 'copy', ms: 1500 }),
      ev({ type: 'freeze.lifted', ms: 80, flipped: false, reason: 'cap' }),
      ev({ type: 'freeze.lifted', ms: 29, flipped: true, reason: 'flipped' }),
      ev({ type: 'cleanup.progress', table: 'Dots', rowsDeleted: '30' }),
      ev({ type: 'cleanup.progress', table: 'Dots', rowsDeleted: '60' }),
      ev({ type: 'move.finished', phase: 'done', mappingFlipped: true, ms: 2000 }),
      ev({ type: 'move.failed', code: 'DATA_MISMATCH', message: 'x', mappingFlipped: false }),
      ev({ type: 'move.failed', code: 'INTERRUPTED', message: 'x', mappingFlipped: false }),
    ])
      m.observe(e);
    const text = m.render('apply', 9, new Date(at), null);
    expect(text).toBe(
      [
        '# HELP fw_shard_last_run_timestamp_seconds When the last run of this fw-shard command ended (Unix time).',
        '# TYPE fw_shard_last_run_timestamp_seconds gauge',
        'fw_shard_last_run_timestamp_seconds{command="apply"} 1796691600.000',
        '# HELP fw_shard_last_run_exit_code The exit code of the last run (0 ok; README lists the others).',
        '# TYPE fw_shard_last_run_exit_code gauge',
        'fw_shard_last_run_exit_code{command="apply"} 9',
        '# HELP fw_shard_moves Moves the last run ended, by result (done, failed with its error code, stopped).',
        '# TYPE fw_shard_moves gauge',
        'fw_shard_moves{command="apply",result="done"} 1',
        'fw_shard_moves{command="apply",result="failed",code="DATA_MISMATCH"} 1',
        'fw_shard_moves{command="apply",result="stopped",code="INTERRUPTED"} 1',
        '# HELP fw_shard_rows_copied Rows the last run copied to target shards.',
        '# TYPE fw_shard_rows_copied gauge',
        'fw_shard_rows_copied{command="apply"} 60',
        "# HELP fw_shard_bytes_copied Bytes of the values the last run copied (keyless tables' single-unit copies and undo re-syncs not counted).",
        '# TYPE fw_shard_bytes_copied gauge',
        'fw_shard_bytes_copied{command="apply"} 4000',
        "# HELP fw_shard_rows_deleted Rows the last run's cleanups deleted from source shards.",
        '# TYPE fw_shard_rows_deleted gauge',
        'fw_shard_rows_deleted{command="apply"} 60',
        '# HELP fw_shard_last_freeze_milliseconds How long the last move that flipped in this run froze its user.',
        '# TYPE fw_shard_last_freeze_milliseconds gauge',
        'fw_shard_last_freeze_milliseconds{command="apply"} 29',
        '# HELP fw_shard_phase_seconds Time the last run spent in each phase, over all its moves.',
        '# TYPE fw_shard_phase_seconds gauge',
        'fw_shard_phase_seconds{command="apply",phase="copy"} 1.500',
        '',
      ].join('\n'),
    );
    // A failed run has no success of its own and no earlier file: no last-success line at all.
    expect(text).not.toMatch(/last_success/);
  });

  it('a success records its time; a later failure keeps it, so an alert on its age fires', () => {
    const ok = new MetricsRecorder().render('move', 0, new Date(at), null);
    expect(ok).toMatch(/^fw_shard_last_success_timestamp_seconds\{command="move"\} 1796691600\.000$/m);
    const later = new MetricsRecorder().render('move', 6, new Date('2026-12-09T01:00:00.000Z'), ok);
    expect(later).toMatch(/^fw_shard_last_success_timestamp_seconds\{command="move"\} 1796691600\.000$/m);
    expect(later).toMatch(/^fw_shard_last_run_exit_code\{command="move"\} 6$/m);
    expect(later).toMatch(/^fw_shard_last_run_timestamp_seconds\{command="move"\} 1796778000\.000$/m);
  });
});

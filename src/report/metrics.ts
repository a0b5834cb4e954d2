/**
 * `--metrics-file`: what a command did, in Prometheus' text format, for node_exporter's textfile
 * collector (the usual way a cron job reports). The file describes the last run of each command that
 * wrote it: gauges, not counters (every run rewrites the file), and the last success time carried over
 * from the previous file when this run failed, so an alert on its age fires after a failed night.
 *
 * Folded from the engine's events (observe), whatever renders them: moves done and failed (by error
 * code), rows and bytes copied, rows deleted, the freeze of the last move that flipped, time per phase.
 */
import type { MoveEvent } from '../events/types.js';

export class MetricsRecorder {
  #moves = new Map<string, number>();
  #rowsCopied = 0n;
  #bytesCopied = 0n;
  /** Per move and table: rows deleted so far (cleanup.progress reports a running total). */
  #deleted = new Map<string, bigint>();
  #lastFreezeMs: number | null = null;
  #phaseMs = new Map<string, number>();

  observe(e: MoveEvent): void {
    switch (e.type) {
      case 'chunk.copied':
        this.#rowsCopied += BigInt(e.rows);
        this.#bytesCopied += BigInt(e.bytes ?? 0);
        break;
      case 'cleanup.progress':
        this.#deleted.set(`${e.moveId ?? ''}:${e.table}`, BigInt(e.rowsDeleted));
        break;
      case 'freeze.lifted':
        if (e.flipped) this.#lastFreezeMs = e.ms;
        break;
      case 'phase.finished':
        this.#phaseMs.set(e.phase, (this.#phaseMs.get(e.phase) ?? 0) + e.ms);
        break;
      case 'move.finished':
        this.#count('result="done"');
        break;
      case 'move.failed':
        this.#count(`result="${e.code === 'INTERRUPTED' ? 'stopped' : 'failed'}",code="${label(e.code)}"`);
        break;
      default:
    }
  }

  #count(key: string): void {
    this.#moves.set(key, (this.#moves.get(key) ?? 0) + 1);
  }

  /** The file's text for `command`'s run that ended at `now` with `exitCode`; `previous`: the file as it was (or null). */
  render(command: string, exitCode: number, now: Date, previous: string | null): string {
    const c = `command="${label(command)}"`;
    const secs = (d: Date) => (d.getTime() / 1000).toFixed(3);
    const lastSuccess = exitCode === 0 ? secs(now) : previousSuccess(previous, c);
    const deleted = [...this.#deleted.values()].reduce((a, b) => a + b, 0n);
    const lines: string[] = [];
    const metric = (name: string, help: string, samples: [string, string][]) => {
      if (samples.length === 0) return;
      lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} gauge`, ...samples.map(([l, v]) => `${name}{${l}} ${v}`));
    };
    metric('fw_shard_last_run_timestamp_seconds', 'When the last run of this fw-shard command ended (Unix time).', [[c, secs(now)]]);
    metric('fw_shard_last_run_exit_code', 'The exit code of the last run (0 ok; README lists the others).', [[c, String(exitCode)]]);
    metric('fw_shard_last_success_timestamp_seconds', 'When a run of this command last ended with exit code 0.', lastSuccess ? [[c, lastSuccess]] : []);
    metric(
      'fw_shard_moves',
      'Moves the last run ended, by result (done, failed with its error code, stopped).',
      [...this.#moves].sort().map(([k, n]) => [`${c},${k}`, String(n)]),
    );
    metric('fw_shard_rows_copied', 'Rows the last run copied to target shards.', [[c, this.#rowsCopied.toString()]]);
    metric('fw_shard_bytes_copied', "Bytes of the values the last run copied (keyless tables' single-unit copies and undo re-syncs not counted).", [
      [c, this.#bytesCopied.toString()],
    ]);
    metric('fw_shard_rows_deleted', "Rows the last run's cleanups deleted from source shards.", [[c, deleted.toString()]]);
    metric(
      'fw_shard_last_freeze_milliseconds',
      'How long the last move that flipped in this run froze its user.',
      this.#lastFreezeMs === null ? [] : [[c, String(this.#lastFreezeMs)]],
    );
    metric(
      'fw_shard_phase_seconds',
      'Time the last run spent in each phase, over all its moves.',
      [...this.#phaseMs].sort().map(([p, ms]) => [`${c},phase="${label(p)}"`, (ms / 1000).toFixed(3)]),
    );
    return lines.join('\n') + '\n';
  }
}

/** A label value as Prometheus' text format writes it: backslash, quote and newline escaped. */
function label(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

/** The last success time the previous file recorded for this command, if any. */
function previousSuccess(previous: string | null, labels: string): string | null {
  if (!previous) return null;
  const line = previous.split('\n').find((l) => l.startsWith(`fw_shard_last_success_timestamp_seconds{${labels}} `));
  return line ? line.slice(line.lastIndexOf(' ') + 1) : null;
}

/**
 * How `moves` and `status` show a journal entry: its progress, its runner (alive or gone, told by the
 * runner lock), what it is waiting for, a pending stop request, and who ran it.
 */
import type { MoveRow, MoveRunRow, MoveTableRow } from '../move/index.js';
import { firstLine, fmtCount, percent } from './format.js';
import { renderTable } from './table.js';

/** `1,200/5,000 (24%)`, or `-` before the tables are recorded. */
export function rowsCell(m: MoveRow): string {
  if (m.rows_total === '0' && m.rows_copied === '0') return '-';
  const p = percent(m.rows_copied, m.rows_total);
  return `${fmtCount(m.rows_copied)}/${fmtCount(m.rows_total)}${p === null ? '' : ` (${p}%)`}`;
}

/** `web1:4242 alive`, `web1:4242 gone`; a runner from before the runner lock: by its heartbeat. */
export function runnerCell(m: MoveRow): string {
  if (!m.runner_host) return '-';
  const who = `${m.runner_host}:${m.runner_pid ?? '?'}`;
  if (m.runner_liveness === 'heartbeat') return `${who} ${m.runner_alive ? 'alive?' : 'gone?'} (heartbeat ${m.heartbeat_age_s ?? '?'} s ago)`;
  return `${who} ${m.runner_alive ? 'alive' : 'gone'}`;
}

/** What is going on besides the phase: a stop request, why the runner waits, the last error. */
export function noteCell(m: MoveRow, width = 70): string {
  const notes: string[] = [];
  if (m.stop_requested_at && m.state === 'active') {
    notes.push(`${m.runner_alive ? 'stopping: ' : ''}stop requested by ${m.stop_requested_by ?? '?'} at ${m.stop_requested_at}`);
  }
  if (m.throttle_reason && m.runner_alive) notes.push(`waiting: ${firstLine(m.throttle_reason)}`);
  if (m.error) notes.push(firstLine(m.error));
  const text = notes.join('; ');
  return text.length > width ? `${text.slice(0, width - 1)}…` : text;
}

export function renderMovesTable(moves: MoveRow[]): string {
  return renderTable(
    ['move', 'user', 'from → to', 'state', 'phase', 'rows copied', 'runner', 'created', 'note'],
    moves.map((m) => [m.id, m.user_id, `${m.from_shard} → ${m.to_shard}`, m.state, m.phase, rowsCell(m), runnerCell(m), m.created_at, noteCell(m)]),
  );
}

/** `fw-shard moves ID`: one move with its tables and its runs. */
export function renderMoveDetail(m: MoveRow, tables: MoveTableRow[], runs: MoveRunRow[]): string {
  const field = (k: string, v: string | null | undefined) => (v === null || v === undefined || v === '' ? [] : [`${`${k}:`.padEnd(15)}${v}`]);
  const out = [
    ...field('move', m.id),
    ...field('user', m.user_id),
    ...field('from → to', `${m.from_shard} → ${m.to_shard}`),
    ...field('state', `${m.state}, phase ${m.phase}`),
    ...field('rows copied', rowsCell(m)),
    ...field('runner', runnerCell(m)),
    ...field('heartbeat', m.heartbeat_at),
    ...field('waiting', m.runner_alive ? m.throttle_reason : null),
    ...field('stop request', m.stop_requested_at ? `by ${m.stop_requested_by ?? '?'} at ${m.stop_requested_at}` : null),
    ...field('cleanup', m.cleanup_mode),
    ...field('options', m.options ? JSON.stringify(m.options) : null),
    ...field('created', m.created_at),
    ...field('flipped', m.flipped_at),
    ...field('finished', m.finished_at),
    ...field('error', m.error),
  ];
  if (tables.length > 0) {
    out.push('', 'Tables');
    out.push(
      renderTable(
        ['table', 'status', 'rows copied', 'chunks', 'mismatches', 'rows cleaned'],
        tables.map((t) => [
          t.table_name,
          t.status,
          `${fmtCount(t.rows_copied)}/${fmtCount(t.rows_total)}`,
          String(t.chunks),
          String(t.mismatches),
          fmtCount(t.rows_cleaned),
        ]),
      ),
    );
  }
  out.push('', 'Runs');
  out.push(
    runs.length === 0
      ? '(none recorded: the move predates the journal of runs)'
      : renderTable(
          ['started', 'ended', 'outcome', 'who', 'command'],
          runs.map((r, i) => [
            r.started_at,
            r.ended_at ?? '-',
            r.outcome ?? (r.ended_at ? '' : i === runs.length - 1 && m.runner_alive ? 'running' : 'no end recorded (killed?)'),
            `${r.os_user ?? '?'}@${r.host}:${r.pid}`,
            r.command ?? '',
          ]),
        ),
  );
  return out.join('\n');
}

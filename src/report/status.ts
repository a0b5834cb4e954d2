import type { StatusReport } from '../status/collect.js';
import { humanBytes, renderTable } from './table.js';
import { noteCell, rowsCell, runnerCell } from './moves.js';

export function renderStatus(r: StatusReport): string {
  const out: string[] = [];
  if (r.poorMans === 'only') out.push("Mode: poor man's federated (every shard is db_main itself)\n");
  else if (r.poorMans === 'partial') {
    const onMain = r.shards.filter((s) => s.isMain).map((s) => s.id);
    out.push(
      `Mode: graduation: shard ${onMain.join(', ')} ${onMain.length > 1 ? 'are' : 'is'} db_main's own database; the other shards are real ones to move users onto\n`,
    );
  }
  out.push(
    `Mapping: ${r.mapping.table}.${r.mapping.shardColumn} on ${r.mapping.server}${r.mapping.source === 'detected' ? ' (table name read from the server)' : ''}\n`,
  );
  out.push('Servers');
  out.push(
    renderTable(
      ['role', 'address', 'database', 'state', 'version', 'read_only', 'rtt'],
      r.servers.map((s) => [
        s.role,
        `${s.host}:${s.port}`,
        s.database,
        s.reachable ? 'up' : 'DOWN',
        s.version ?? '-',
        s.readOnly === undefined ? '-' : s.readOnly ? 'ON' : 'off',
        s.rttMs === undefined ? '-' : `${s.rttMs} ms`,
      ]),
    ),
  );
  out.push('');
  out.push(`Shards (rows and bytes of sharded tables: ${r.shards.some((s) => s.exact) ? 'exact counts' : 'information_schema estimates; --exact counts'})`);
  out.push(
    renderTable(
      ['shard', 'server', 'users', 'tables', 'rows', 'bytes', 'drift'],
      r.shards.map((s) => [
        `${s.id}${s.isMain ? ' (db_main)' : ''}`,
        s.server,
        s.users,
        s.reachable ? String(s.tables.length) : '-',
        s.reachable ? s.rows : '-',
        s.reachable ? humanBytes(s.bytes) : '-',
        s.reachable ? (s.drift.length ? `${s.drift.length} difference(s)` : 'none') : 'unreachable',
      ]),
    ),
  );
  if (r.tickets.length > 0) {
    out.push('');
    out.push('Tickets');
    out.push(
      renderTable(
        ['server', 'state', 'increment', 'offset', 'next Tickets32', 'next Tickets64'],
        r.tickets.map((t) => [t.role, t.reachable ? 'up' : 'DOWN', String(t.increment ?? '-'), String(t.offset ?? '-'), t.next32 ?? '-', t.next64 ?? '-']),
      ),
    );
  }
  if (r.activeMoves.length > 0) {
    out.push('');
    out.push('Unfinished moves');
    out.push(
      renderTable(
        ['move', 'user', 'from → to', 'phase', 'rows copied', 'runner', 'updated', 'note'],
        r.activeMoves.map((m) => [m.id, m.user_id, `${m.from_shard} → ${m.to_shard}`, m.phase, rowsCell(m), runnerCell(m), m.updated_at, noteCell(m)]),
      ),
    );
  }
  out.push('');
  for (const w of r.warnings) out.push(`note: ${w}`);
  if (r.problems.length === 0) out.push('All well.');
  else {
    out.push(`${r.problems.length} problem(s):`);
    for (const p of r.problems) out.push(`  - ${p}`);
  }
  return out.join('\n');
}

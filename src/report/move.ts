import type { MovePlan, MoveResult } from '../move/types.js';
import { humanBytes, renderTable } from './table.js';

export function renderPlan(p: MovePlan): string {
  const out: string[] = [];
  out.push(`Plan: move user ${p.userId} from shard ${p.from}${p.sourceIsMain ? " (db_main: poor man's federation)" : ''} to shard ${p.to}`);
  out.push(
    renderTable(
      ['table', 'rows', 'bytes', 'chunking key', `owner index`],
      p.tables.map((t) => [t.name, t.rows, humanBytes(t.bytes), t.key ?? '(none: one unit)', t.ownerIndexed ? 'yes' : 'NO']),
    ),
  );
  out.push(
    `total: ${p.totalRows} rows, ${p.bytesEstimated ? '~' : ''}${humanBytes(p.totalBytes)}${p.bytesEstimated ? ' (estimated from table statistics)' : ''}`,
  );
  for (const s of p.skippedTables) out.push(`not moved: ${s.name} (${s.reason})`);
  if (p.capture) out.push(`Capture (online): ${p.capture.mode}: ${p.capture.reason}`);
  for (const w of p.warnings) out.push(`warning: ${w}`);
  return out.join('\n');
}

export function renderMoveResult(r: MoveResult): string {
  const out: string[] = [];
  if (r.plan && r.dryRun) out.push(renderPlan(r.plan));
  if (!r.dryRun && r.tables.length > 0) {
    out.push(
      renderTable(
        ['table', 'rows', 'chunks', 'mismatches'],
        r.tables.map((t) => [t.name, t.rows, String(t.chunks), String(t.mismatches)]),
      ),
    );
  }
  const t = r.timings;
  const secs = (k: string) => (t[k] !== undefined ? `${(t[k]! / 1000).toFixed(1)} s` : null);
  const parts = [
    ['copy', secs('copyMs')],
    ['verify', secs('verifyMs')],
    ['cleanup', secs('cleanupMs')],
    ['total', secs('totalMs')],
  ]
    .filter(([, v]) => v)
    .map(([k, v]) => `${k} ${v}`);
  if (parts.length && !r.dryRun) out.push(`time: ${parts.join(', ')}`);
  if (r.freezeMs !== undefined) out.push(`online: user frozen for ${r.freezeMs} ms after ${r.deltaPasses ?? 0} delta pass(es)`);
  out.push(r.nextStep);
  return out.join('\n');
}

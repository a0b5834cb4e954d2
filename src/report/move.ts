import { type MovePlan, type MoveResult, type MoveTimings, type PendingCleanup, showForeignKey } from '../move/index.js';
import { fmtMs } from './format.js';
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
  for (const f of p.foreignKeys) out.push(`foreign key: ${showForeignKey(f)}`);
  if (p.capture) out.push(`Capture (online): ${p.capture.mode}: ${p.capture.reason}`);
  for (const c of p.capture?.cascades ?? []) out.push(`  cascade: ${c}`);
  for (const w of p.warnings) out.push(`warning: ${w}`);
  if (p.checks?.length) out.push(`checks passed: ${p.checks.join(', ')}`);
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
  const secs = (k: keyof MoveTimings) => (t[k] !== undefined ? `${(t[k]! / 1000).toFixed(1)} s` : null);
  const parts = [
    ['copy', secs('copyMs')],
    ['verify', secs('verifyMs')],
    ['cleanup', secs('cleanupMs')],
    ['total', secs('totalMs')],
  ]
    .filter(([, v]) => v)
    .map(([k, v]) => `${k} ${v}`);
  if (parts.length && !r.dryRun) out.push(`time: ${parts.join(', ')}`);
  if (r.undoOf !== undefined && !r.dryRun) {
    out.push(
      `undo of move ${r.undoOf}${r.rowsCopied !== undefined ? `: ${r.rowsCopied} row(s) differed on shard ${r.to} and were copied; the rest were already there` : ''}`,
    );
  }
  if (r.freezeMs !== undefined) out.push(`online: user frozen for ${r.freezeMs} ms after ${r.deltaPasses ?? 0} delta pass(es)`);
  out.push(r.nextStep);
  return out.join('\n');
}

/**
 * What `fw-shard cleanup` ran, and the deferred cleanups it did not run yet (their flip is more recent
 * than --older-than): when each becomes due, and the command that runs them now.
 */
export function renderDeferredCleanups(results: MoveResult[], pending: PendingCleanup[], olderThan: string): string {
  const out = results.map((r) => r.nextStep);
  if (pending.length === 0) return out.length ? out.join('\n') : 'nothing to clean up';
  const n = pending.length;
  out.push(
    `${results.length ? '' : 'nothing to clean up yet: '}${n} deferred cleanup${n === 1 ? ' is' : 's are'} waiting until ${n === 1 ? 'its' : 'their'} flip is ${olderThan} old (--older-than ${olderThan}, for cached user rows to expire):`,
  );
  for (const p of pending) {
    out.push(
      `  move ${p.moveId} (user ${p.userId}, shard ${p.from} → ${p.to}): flipped ${p.flippedAt ?? '?'}, due at ${p.eligibleAt} (in ${fmtMs(p.eligibleInMs)})`,
    );
  }
  out.push(
    `Run fw-shard cleanup again then (cron does), or now if the app's cached user rows have expired: fw-shard cleanup --older-than 0s (or one move: fw-shard resume ${pending[0]!.moveId} --cleanup now).`,
  );
  return out.join('\n');
}

/**
 * Text renderers for fleet operations: the plan table, apply's per-move summary, the verify report,
 * the orphan cleanup report, a playbook run, and plain timestamped lines for fleet events (cron mail).
 */
import type { ApplySummary } from '../fleet/apply.js';
import type { FleetEvent } from '../fleet/events.js';
import type { OrphanCleanupReport, VerifyReport } from '../fleet/orphans.js';
import type { PlaybookResult } from '../fleet/run-playbook.js';
import type { PlanDocument } from '../plan/plan-file.js';
import { humanBytes, renderTable } from './table.js';

const STOP_TEXT: Record<string, string> = {
  balanced: 'the shards are balanced within the threshold',
  drained: 'every user is planned off the drained shard(s)',
  'max-moves': 'the --max-moves limit was reached',
  'max-bytes': 'the --max-bytes limit was reached',
  'no-improving-move': 'no further move would improve the balance',
  'nothing-to-do': 'nothing to do',
};

export function renderPlanDocument(p: PlanDocument, opts: { maxMovesShown?: number } = {}): string {
  const r = p.request;
  const out: string[] = [];
  const what =
    r.mode === 'balance'
      ? `balance by ${r.by} (threshold ${r.thresholdPct}%)`
      : r.mode === 'drain'
        ? `drain shard ${(r.from ?? []).join(', ')} by ${r.by}`
        : `graduate from db_main's shard ${(r.from ?? []).join(', ')} onto shard ${(r.to ?? []).join(', ')}`;
  out.push(
    `Plan: ${what}: ${p.moves.length} move(s), ${p.totals.rows} rows, ${humanBytes(p.totals.bytes)}. Stopped because ${STOP_TEXT[p.stoppedBecause] ?? p.stoppedBecause}.`,
  );
  out.push('');
  out.push(
    renderTable(
      ['shard', 'users before', 'users after', 'rows before', 'rows after', 'bytes before', 'bytes after'],
      p.shards.map((s) => [
        `${s.id}${s.isMain ? ' (db_main)' : ''}`,
        String(s.before.users),
        String(s.after.users),
        s.before.rows,
        s.after.rows,
        humanBytes(s.before.bytes),
        humanBytes(s.after.bytes),
      ]),
    ),
  );
  if (p.moves.length) {
    const max = opts.maxMovesShown ?? 50;
    out.push('');
    out.push(
      renderTable(
        ['#', 'user', 'from → to', 'rows', 'bytes'],
        p.moves.slice(0, max).map((m) => [String(m.seq), m.userId, `${m.from} → ${m.to}`, m.rows, humanBytes(m.bytes)]),
      ),
    );
    if (p.moves.length > max) out.push(`... and ${p.moves.length - max} more moves (the plan file lists them all)`);
  }
  if (p.sizes === 'estimated')
    out.push('sizes: estimated (rows counted from the owner indexes, bytes from table statistics; fw-shard plan --exact reads every row)');
  else if (p.sizes === 'exact') out.push('sizes: exact (every row of every sharded table read)');
  for (const n of p.notes) out.push(`note: ${n}`);
  return out.join('\n');
}

const OUTCOME_TEXT: Record<string, string> = {
  done: 'done',
  resumed: 'done (resumed)',
  'skipped-done': 'done (skipped)',
  busy: 'claimed by another runner',
  stale: 'skipped (stale plan)',
  failed: 'FAILED',
  interrupted: 'interrupted (resumable)',
  'not-started': 'not started',
};

export function renderApplySummary(s: ApplySummary): string {
  const out: string[] = [];
  if (s.outcomes.length === 0) return 'apply: the plan has no moves; nothing to do';
  out.push(
    renderTable(
      ['#', 'user', 'from → to', 'outcome', 'move', 'time', 'note'],
      s.outcomes.map((o) => [
        String(o.seq),
        o.userId,
        `${o.from} → ${o.to}`,
        OUTCOME_TEXT[o.outcome] ?? o.outcome,
        o.moveId ?? '-',
        o.ms !== undefined && o.ms > 0 ? `${(o.ms / 1000).toFixed(1)} s` : '-',
        o.outcome === 'done' || o.outcome === 'resumed' ? '' : `${o.code ? `[${o.code}] ` : ''}${(o.message ?? '').split('\n')[0]!.slice(0, 100)}`,
      ]),
    ),
  );
  const c = s.counts;
  out.push(
    `moves: ${c.done + c.resumed} done, ${c['skipped-done']} already done, ${c.busy} claimed by another runner, ${c.stale} stale, ${c.failed} failed, ${c.interrupted} interrupted, ${c['not-started']} not started` +
      (s.stoppedBecause ? ` (stopped: ${s.stoppedBecause})` : '') +
      `; exit ${s.exitCode}`,
  );
  if (c.failed) out.push('Failed moves are resumable: run the same apply again after fixing the cause (fw-shard moves lists them).');
  if (c.interrupted || c['not-started']) out.push('Run the same apply again to continue: finished moves are skipped, unfinished ones resumed.');
  return out.join('\n');
}

export function renderVerify(r: VerifyReport): string {
  const out: string[] = [];
  const scope = r.scope.userId !== undefined ? `user ${r.scope.userId}` : r.scope.shard !== undefined ? `users of shard ${r.scope.shard}` : 'every user';
  if (r.orphans.length === 0) {
    out.push(`verify (${scope}): no orphan rows on shards ${r.shardsChecked.join(', ')} (${r.tablesChecked} tables).`);
  } else {
    out.push(`verify (${scope}): ${r.totals.rows} orphan row(s) of ${r.totals.users} user(s):`);
    out.push(
      renderTable(
        ['on shard', 'table', 'user', 'rows', 'bytes', 'user lives on'],
        r.orphans.map((g) => [
          String(g.shard),
          g.table,
          g.userId,
          g.rows,
          humanBytes(g.bytes),
          g.kind === 'no-user' ? 'NO SUCH USER' : `shard ${g.currentShard}`,
        ]),
      ),
    );
    out.push("`fw-shard cleanup --orphans --dry-run` shows which of them are identical on the user's shard (and would be deleted).");
  }
  if (r.nullOwners.length) {
    out.push(
      `not orphans: ${r.nullOwners.map((n) => `${n.rows} row(s) of ${n.table} on shard ${n.shard}`).join(', ')} have no owner (NULL): they belong to no user, so fw-shard never moves or deletes them`,
    );
  }
  if (r.inFlight.length) {
    out.push(
      `${r.inFlight.length} group(s) belong to users with an unfinished move (left to the move): ${[...new Set(r.inFlight.map((g) => g.activeMove!.id))].join(', ')}`,
    );
  }
  return out.join('\n');
}

export function renderOrphanCleanup(c: OrphanCleanupReport): string {
  const out: string[] = [];
  if (c.groups.length === 0) return 'cleanup --orphans: no orphan rows';
  out.push(
    renderTable(
      ['on shard', 'table', 'user', 'rows', c.dryRun ? 'would delete' : 'deleted', 'kept'],
      c.groups.map((g) => [String(g.shard), g.table, g.userId, g.rows, g.deleted, g.keptRows]),
    ),
  );
  for (const g of c.groups) for (const k of g.kept) out.push(`kept: shard ${g.shard} ${g.table} user ${g.userId}: ${k}`);
  out.push(
    `${c.dryRun ? 'dry run: would delete' : 'deleted'} ${c.deleted} row(s) identical on the user's shard; kept ${c.kept} (listed above, never deleted).`,
  );
  return out.join('\n');
}

export function renderPlaybookResult(r: PlaybookResult): string {
  if (r.skipped) return `playbook ${r.name}: ${r.skipped}`;
  const out = r.steps.map((s) => `step ${s.index + 1} (${s.kind}, line ${s.line}): ${s.summary}${s.exitCode ? ` [exit ${s.exitCode}]` : ''}`);
  out.push(`playbook ${r.name}: exit ${r.exitCode}`);
  return out.join('\n');
}

/** One plain line per fleet event, for stderr and cron mail. */
export function fleetLine(e: FleetEvent): string | null {
  const ts = e.at.replace('T', ' ').replace(/\.\d+Z$/, 'Z');
  const who = (x: { seq: number; userId: string; from: number; to: number }) => `#${x.seq} user ${x.userId} (${x.from} → ${x.to})`;
  switch (e.type) {
    case 'fleet.started':
      return `${ts} fleet: applying ${e.moves} move(s), at most ${e.concurrency} at once and ${e.perShard} per shard${e.until ? `, none started after ${e.until}` : ''} (runner ${e.runner})`;
    case 'fleet.move.started':
      return `${ts} fleet: ${who(e)} starting`;
    case 'fleet.move.finished':
      return `${ts} fleet: ${who(e)} ${OUTCOME_TEXT[e.outcome] ?? e.outcome}${e.moveId ? ` (move ${e.moveId})` : ''}${e.ms ? ` in ${(e.ms / 1000).toFixed(1)} s` : ''}${e.outcome !== 'done' && e.outcome !== 'resumed' && e.message ? `: ${e.code ? `[${e.code}] ` : ''}${e.message}` : ''}`;
    case 'fleet.throttled':
      return `${ts} fleet: ${who(e)} throttled before starting: ${e.reason}`;
    case 'fleet.resumed':
      return `${ts} fleet: ${who(e)} no longer throttled (waited ${(e.throttledMs / 1000).toFixed(1)} s)`;
    case 'fleet.waiting':
      return `${ts} fleet: ${e.reason}`;
    case 'fleet.stopping':
      return `${ts} fleet: stopping (${e.reason}): ${e.detail}`;
    case 'fleet.finished':
      return `${ts} fleet: finished, exit ${e.exitCode}`;
  }
}

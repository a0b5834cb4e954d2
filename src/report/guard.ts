/**
 * How `guard status` and `cleanup` show fw-shard's objects on the shards (src/move/guard-lifecycle.ts):
 * what exists, why, and until when.
 */
import type { JudgedFence, ShardGuardState, ShardTidy } from '../move/index.js';
import { renderTable } from './table.js';
import type { FenceLifted, GuardDropped, GuardInstalled } from '../fleet/guard-admin.js';

const shardName = (s: { shard: number; alsoShards?: number[] }) =>
  s.alsoShards?.length ? `shard ${[s.shard, ...s.alsoShards].join('/')}` : `shard ${s.shard}`;

function fenceTable(fences: readonly JudgedFence[], pending: Record<string, string>): string {
  return renderTable(
    ['user', 'state', 'move', 'lives on', 'age', 'pending changes', 'kept because', 'until'],
    fences.map((f) => [
      String(f.user_id),
      f.state,
      String(f.move_id),
      f.lives === null ? '(no user)' : String(f.lives),
      `${f.age_s} s`,
      pending[String(f.user_id)] ?? '0',
      f.verdict === 'expired' ? `not needed (${f.why}): fw-shard cleanup lifts it` : f.why,
      f.until ?? (f.verdict === 'needed' ? 'the move ends' : '-'),
    ]),
  );
}

/** `guard status`: one block per shard database. */
export function renderGuardStates(states: readonly ShardGuardState[], retention: string): string {
  const lines: string[] = [];
  for (const s of states) {
    if (s.tables.length === 0 && s.triggers.length === 0) {
      lines.push(`${shardName(s)}: nothing of fw-shard's`);
      continue;
    }
    const tables = new Set(s.triggers.map((t) => t.tbl)).size;
    const needed = s.fences.some((f) => f.verdict !== 'expired');
    lines.push(
      `${shardName(s)}: ${s.triggers.length} fw-shard trigger(s) on ${tables} table(s), ${s.tables.length ? s.tables.join(' and ') : 'no fw-shard table'}, ${s.fences.length} fence(s)` +
        (needed ? '' : ' — no fence needs them: fw-shard cleanup drops them'),
    );
    if (s.fences.length) lines.push(fenceTable(s.fences, s.pending));
  }
  lines.push(`(a moved user's fence stays ${retention} after its move: config guard.retention or cleanup --fence-retention)`);
  return lines.join('\n');
}

/** What `cleanup` did to fw-shard's objects, one line per shard database that had any. */
export function renderTidy(tidy: readonly ShardTidy[]): string[] {
  const lines: string[] = [];
  for (const t of tidy) {
    const parts: string[] = [];
    if (t.lifted.length) parts.push(`${t.lifted.length} fence(s) lifted (${t.lifted.map((f) => `user ${f.user_id}: ${f.why}`).join('; ')})`);
    if (t.triggersDropped || t.tablesDropped) parts.push(`${t.triggersDropped} trigger(s)${t.tablesDropped ? " and fw-shard's tables" : ''} dropped`);
    if (t.kept.length) {
      const next = t.kept
        .map((f) => f.until)
        .filter((u): u is string => u !== null)
        .sort()[0];
      parts.push(
        `${t.kept.length} fence(s) kept (${t.kept.map((f) => `user ${f.user_id}: ${f.verdict}`).join(', ')})${next ? `, the next one expires at ${next}` : ''}`,
      );
    }
    if (t.busy.length) parts.push(`triggers on ${t.busy.join(', ')} kept for now: the table was busy (the next cleanup tries again)`);
    if (t.error) {
      lines.push(
        `shard ${t.shard}: fw-shard's objects could not be tidied (${t.error}); grant fw-shard's login TRIGGER and DROP on that shard database (README "Required privileges"), then fw-shard cleanup tries again`,
      );
      continue;
    }
    if (parts.length === 0 && t.left.triggers === 0 && t.left.tables.length === 0) continue;
    const left = t.left.triggers === 0 && t.left.tables.length === 0 ? "nothing of fw-shard's is left" : `${t.left.triggers} fw-shard trigger(s) left`;
    lines.push(`shard ${t.shard}: ${parts.length ? parts.join('; ') + '; ' : ''}${left}`);
  }
  return lines;
}

/** `guard install`: one line per shard. */
export const renderInstalled = (rs: readonly GuardInstalled[]): string[] =>
  rs.map((r) => `shard ${r.shard}: ${r.tables} sharded table(s) guarded; ${r.created.length} trigger(s) created`);

/** `guard remove --user`: one line per shard, saying what state was lifted. */
export const renderLifted = (rs: readonly FenceLifted[]): string[] =>
  rs.map((r) =>
    r.was === null
      ? `shard ${r.shard}: user ${r.user} had no fence`
      : `shard ${r.shard}: fence of user ${r.user} lifted (it was ${r.was.state}, move ${r.was.moveId})${
          r.was.state === 'moved' ? `: writes of user ${r.user} to shard ${r.shard} are accepted again, stale app servers' included` : ''
        }`,
  );

/** `guard remove --yes`: one line per shard. */
export const renderDropped = (rs: readonly GuardDropped[]): string[] =>
  rs.map(
    (r) =>
      `shard ${r.shard}: ${r.triggers} trigger(s) and fw-shard's tables dropped${r.liftedMoved > 0 ? `, ${r.liftedMoved} moved user(s)' fence(s) lifted` : ''}`,
  );

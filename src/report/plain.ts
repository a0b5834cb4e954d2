/**
 * The plain renderer: timestamped lines on stderr for cron mail. One line per phase, at most one
 * progress line every few seconds per table, milestones and warnings as they come, and a last line that
 * says how the run ended and what to do next. It folds every event through the shared reducer and
 * words its lines from that state (rates, ETAs, totals), so it can never disagree with the TUI.
 */
import type { MoveEvent } from '../events/types.js';
import { initialRunState, reduce, totals, type LogEntry, type RunState } from '../events/reducer.js';
import { firstLine, fmtMs, fmtRate, percent } from './format.js';

export function plainRenderer(write: (line: string) => void, opts: { progressEveryMs?: number; now?: () => number } = {}): (e: MoveEvent) => void {
  const every = opts.progressEveryMs ?? 3000;
  const now = opts.now ?? (() => Date.now());
  const lastProgress = new Map<string, number>();
  let state: RunState = initialRunState();
  const ts = (e: MoveEvent) => e.at.replace('T', ' ').replace(/\.\d+Z$/, 'Z');
  /** At most one line per key every `every` ms (by the injected clock). */
  const due = (key: string): boolean => {
    const last = lastProgress.get(key);
    if (last !== undefined && now() - last < every) return false;
    lastProgress.set(key, now());
    return true;
  };
  return (e) => {
    const before = state;
    state = reduce(state, e);
    const restarted = before.moveId !== null && state.moveId !== before.moveId;
    if (restarted) lastProgress.clear();
    // The milestones this event added (the log is append-only within one move).
    const added: LogEntry[] = state.log === before.log ? [] : restarted ? state.log : state.log.slice(before.log.length);
    const p = `${ts(e)} ${e.moveId ? `move ${e.moveId}` : 'fw-shard'}:`;
    switch (e.type) {
      case 'move.started':
        write(`${p} ${e.resumed ? 'resuming' : 'moving'} user ${e.userId} from shard ${e.from} to shard ${e.to} (${e.mode})`);
        break;
      case 'phase.started':
        write(`${p} ${e.phase} started`);
        break;
      case 'phase.finished':
        for (const a of added) {
          if (a.kind === 'table.verified') write(`${p} verify ${a.table}: ${a.chunks} range(s) matched, ${a.mismatched} mismatched`);
        }
        write(`${p} ${e.phase} finished in ${(e.ms / 1000).toFixed(1)} s`);
        break;
      case 'chunk.copied': {
        if (due(`copy:${e.table}`)) {
          const t = state.tables.find((x) => x.name === e.table);
          const pct = percent(e.rowsCopied, e.rowsTotal);
          const rate = fmtRate(t?.rate ?? null);
          const eta = t?.etaMs !== null && t?.etaMs !== undefined && t.etaMs > 0 ? `, ETA ${fmtMs(t.etaMs)}` : '';
          write(
            `${p} copy ${e.table}: ${e.rowsCopied}/${e.rowsTotal} rows${pct !== null ? ` (${pct}%)` : ''}, chunk ${e.chunkSize}${rate ? `, ${rate}` : ''}${eta}`,
          );
        }
        break;
      }
      case 'table.copied':
        write(`${p} copy ${e.table}: done, ${e.rowsCopied} rows in ${e.chunks} chunk(s)`);
        break;
      case 'chunk.verified':
        if (!e.ok) write(`${p} MISMATCH in ${e.table}: ${e.detail ?? ''} (re-copying)`);
        break;
      case 'delta.pass':
        write(`${p} delta pass ${e.pass}: ${e.rangesChanged} range(s) changed, ${e.rowsRecopied} rows re-copied in ${fmtMs(e.ms)}`);
        break;
      case 'throttled':
        if (added.length > 0) write(`${p} throttled: ${e.reason}`);
        break;
      case 'resumed':
        // once per episode: every worker that waited reports its end
        if (added.length > 0) write(`${p} resumed after ${fmtMs(e.throttledMs)} throttled`);
        break;
      case 'freeze.started':
        write(`${p} freeze started: user writes are held (attempt ${e.attempt}, cap ${e.capMs} ms)`);
        break;
      case 'freeze.lifted':
        write(`${p} freeze lifted after ${e.ms} ms (${e.flipped ? 'flipped' : `not flipped: ${e.reason}`})`);
        break;
      case 'mapping.flipped':
        write(`${p} mapping flipped: user ${e.userId} now lives on shard ${e.to}`);
        break;
      case 'cache.invalidated':
        write(`${p} cache: deleted ${e.keys.join(', ')}`);
        break;
      case 'cleanup.progress':
        if (due(`cleanup:${e.table}`)) write(`${p} cleanup ${e.table}: ${e.rowsDeleted} rows deleted`);
        break;
      case 'warning':
        write(`${p} warning: ${e.message}`);
        break;
      case 'stop.requested':
        if (added.length > 0) write(`${p} ${e.signal} received: stopping at the next safe point (never inside the flip); press Ctrl-C again to exit at once`);
        break;
      case 'move.finished': {
        const t = totals(state);
        const took = state.totalMs !== null ? ` in ${fmtMs(state.totalMs)}` : '';
        const next = (e.nextStep ?? '').replace(/^done: /, '');
        const tail = e.phase === 'done' ? ' Nothing left to do.' : '';
        const w = state.moveTotals;
        const online =
          w && (w.deltaPasses > 0 || w.freezes.length > 0)
            ? `, ${w.deltaPasses} delta pass(es), frozen ${w.freezeMsTotal} ms in ${w.freezes.length} freeze(s)`
            : '';
        write(
          `${p} finished (${e.phase})${took}, ${t.rowsCopied} rows copied${online}, ${t.mismatched} mismatch(es): ${next || `user ${state.userId ?? '?'} lives on shard ${state.to ?? '?'}.`}${tail}`,
        );
        break;
      }
      case 'move.failed': {
        const word = e.code === 'INTERRUPTED' ? 'STOPPED' : 'FAILED';
        const next = e.nextStep ?? state.nextStep;
        write(`${p} ${word} [${e.code}] ${firstLine(e.message)} (mapping ${e.mappingFlipped ? 'WAS' : 'was NOT'} flipped)${next ? `. Next: ${next}` : ''}`);
        break;
      }
      default:
        break;
    }
  };
}

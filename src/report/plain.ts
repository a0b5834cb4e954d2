/**
 * The plain renderer: timestamped lines on stderr for cron mail. One line per phase, at most one
 * progress line every few seconds per table, warnings as they come.
 */
import type { MoveEvent } from '../events/types.js';

export function plainRenderer(write: (line: string) => void, opts: { progressEveryMs?: number; now?: () => number } = {}): (e: MoveEvent) => void {
  const every = opts.progressEveryMs ?? 3000;
  const now = opts.now ?? (() => Date.now());
  const lastProgress = new Map<string, number>();
  const ts = (e: MoveEvent) => e.at.replace('T', ' ').replace(/\.\d+Z$/, 'Z');
  return (e) => {
    const p = `${ts(e)} ${e.moveId ? `move ${e.moveId}` : 'fw-shard'}:`;
    switch (e.type) {
      case 'move.started':
        write(`${p} ${e.resumed ? 'resuming' : 'moving'} user ${e.userId} from shard ${e.from} to shard ${e.to} (${e.mode})`);
        break;
      case 'phase.started':
        write(`${p} ${e.phase} started`);
        break;
      case 'phase.finished':
        write(`${p} ${e.phase} finished in ${(e.ms / 1000).toFixed(1)} s`);
        break;
      case 'chunk.copied': {
        const last = lastProgress.get(e.table) ?? 0;
        if (now() - last >= every) {
          lastProgress.set(e.table, now());
          const total = BigInt(e.rowsTotal || '0');
          const pct = total > 0n ? ` (${((BigInt(e.rowsCopied) * 100n) / total).toString()}%)` : '';
          write(`${p} copy ${e.table}: ${e.rowsCopied}/${e.rowsTotal} rows${pct}, chunk ${e.chunkSize}`);
        }
        break;
      }
      case 'table.copied':
        write(`${p} copy ${e.table}: done, ${e.rowsCopied} rows in ${e.chunks} chunk(s)`);
        break;
      case 'chunk.verified':
        if (!e.ok) write(`${p} MISMATCH in ${e.table}: ${e.detail ?? ''} (re-copying)`);
        break;
      case 'mapping.flipped':
        write(`${p} mapping flipped: user ${e.userId} now lives on shard ${e.to}`);
        break;
      case 'cache.invalidated':
        write(`${p} cache: deleted ${e.keys.join(', ')}`);
        break;
      case 'cleanup.progress':
        break;
      case 'warning':
        write(`${p} warning: ${e.message}`);
        break;
      case 'move.finished':
        write(`${p} finished (${e.phase})`);
        break;
      case 'move.failed':
        write(`${p} FAILED [${e.code}] ${e.message.split('\n')[0]} (mapping ${e.mappingFlipped ? 'WAS' : 'was NOT'} flipped)`);
        break;
      default:
        break;
    }
  };
}

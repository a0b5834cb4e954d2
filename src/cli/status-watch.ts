/**
 * `fw-shard status --watch`: collect the status (read-only, as `status`), plus the copy progress of every
 * unfinished move from the journal, and redraw the StatusView on stderr every --interval until Ctrl-C.
 * A terminal only: without one there is nothing to redraw, and scripts want `status --json` instead.
 */
import { Connections } from '../db/pool.js';
import { ExitCode, FwShardError } from '../errors/index.js';
import { JournalReader } from '../move/index.js';
import { collectStatus, type StatusReport } from '../status/collect.js';
import { mappingEndpoint, type Topology } from '../topology/index.js';
import type { MoveProgress, WatchSnapshot } from '../tui/index.js';
import type { CliContext } from './context.js';
import { canDrawTui } from './render.js';

const MIN_WATCH_INTERVAL_MS = 200;

/** Refuse early (exit 2) when --watch cannot work here. */
export function checkWatch(ctx: CliContext, opts: { json?: boolean; intervalMs: number }): void {
  if (opts.json)
    throw new FwShardError('USAGE', '--watch redraws a terminal view; it cannot be combined with --json', {
      hint: 'Scripts: run fw-shard status --json as often as needed.',
    });
  if (!canDrawTui(ctx)) {
    throw new FwShardError('USAGE', '--watch needs a terminal: stderr is not a TTY (or CI is set)', {
      hint: 'In scripts and cron use fw-shard status --json (exit 8 flags problems), or plain fw-shard status.',
    });
  }
  if (opts.intervalMs < MIN_WATCH_INTERVAL_MS) throw new FwShardError('USAGE', `--interval must be at least ${MIN_WATCH_INTERVAL_MS}ms`);
}

async function progressOf(reader: JournalReader, report: StatusReport): Promise<Record<string, MoveProgress>> {
  const out: Record<string, MoveProgress> = {};
  await Promise.all(
    report.activeMoves.map(async (m) => {
      const tables = await reader.tables(m.id);
      let copied = 0n;
      let total = 0n;
      let cleaned = 0n;
      for (const t of tables) {
        copied += BigInt(t.rows_copied || '0');
        total += BigInt(t.rows_total || '0');
        cleaned += BigInt(t.rows_cleaned || '0');
      }
      out[m.id] = {
        rowsCopied: copied.toString(),
        rowsTotal: total.toString(),
        tables: tables.length,
        tablesCopied: tables.filter((t) => t.status !== 'pending' && t.status !== 'copying').length,
        rowsCleaned: cleaned.toString(),
      };
    }),
  );
  return out;
}

export async function watchStatus(ctx: CliContext, topology: Topology, opts: { exact: boolean; intervalMs: number }): Promise<number> {
  const tui = await import('../tui/index.js');
  const live = tui.mountStatus({ stream: ctx.stderr, color: tui.colorEnabled(ctx.env), intervalMs: opts.intervalMs, tickMs: 250 });
  const conns = new Connections();
  const stop = new AbortController();
  const stopped = new Promise<'stopped'>((r) => stop.signal.addEventListener('abort', () => r('stopped'), { once: true }));
  const onSignal = () => stop.abort();
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    while (!stop.signal.aborted) {
      const t0 = Date.now();
      const round = (async (): Promise<WatchSnapshot> => {
        const report = await collectStatus(topology, (e) => conns.get(e), { exact: opts.exact, now: () => performance.now() });
        const progress = await progressOf(new JournalReader(conns.get(mappingEndpoint(topology))), report).catch(() => ({}));
        return { report, progress, at: Date.now(), tookMs: Date.now() - t0 };
      })();
      round.catch(() => undefined);
      try {
        // Ctrl-C must not wait for a server that does not answer.
        const r = await Promise.race([round, stopped]);
        if (r === 'stopped') break;
        live.update(r, null);
      } catch (err) {
        live.update(null, err instanceof Error ? err.message : String(err));
      }
      const wait = Math.max(0, opts.intervalMs - (Date.now() - t0));
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([new Promise((r) => (timer = setTimeout(r, wait))), stopped]);
      clearTimeout(timer);
    }
    return ExitCode.ok;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await live.done();
    await conns.closeAll();
  }
}

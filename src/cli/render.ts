/**
 * Picks how a run's events are shown, in one place:
 *  - the ink TUI on stderr when stderr is a terminal, CI is not set, and neither --json nor --no-tui
 *    was given (nor --events with stdout on the same terminal, where NDJSON would tear the frames);
 *  - otherwise plain timestamped lines on stderr (cron mail);
 *  - and, with --events, NDJSON events on stdout (one per line, before the --json document).
 * All of them fold the same events through the same reducer (src/events/reducer.ts).
 */
import { EVENTS_VERSION, type EventSink, type MoveEvent } from '../events/types.js';
import { initialRunState, reduce, type RunState } from '../events/reducer.js';
import { plainRenderer } from '../report/plain.js';
import { log, type CliContext } from './context.js';

interface RenderOptions {
  json?: boolean;
  events?: boolean;
  noTui?: boolean;
}

export interface Renderer {
  /** Give this to the engine (MoveDeps.events). */
  sink: EventSink;
  /** SIGINT/SIGTERM arrived: show that the run stops at the next safe point. */
  interrupted(signal?: string): void;
  /** A warning from the CLI's side of the run (a failing hook), shown like the engine's warnings. */
  warn(message: string): void;
  /** Which renderer draws stderr. */
  readonly kind: 'tui' | 'plain';
  /** The run is over: draw the last frame and give the terminal back. Call before printing results. */
  done(): Promise<void>;
}

/** CI set to anything but '', 0 or false. */
function inCi(env: Readonly<Record<string, string | undefined>>): boolean {
  const v = env.CI;
  return v !== undefined && v !== '' && v !== '0' && v.toLowerCase() !== 'false';
}

/** Whether a live view may be drawn on stderr at all. */
export function canDrawTui(ctx: CliContext): boolean {
  return Boolean(ctx.stderr.isTTY) && !inCi(ctx.env) && ctx.env.TERM !== 'dumb';
}

export function createRenderer(ctx: CliContext, opts: RenderOptions): Renderer {
  const tuiWanted = canDrawTui(ctx) && !opts.json && !opts.noTui && !(opts.events && ctx.stdout.isTTY);
  let state: RunState = initialRunState();
  const plain = tuiWanted ? null : plainRenderer((line) => log(ctx, line));
  type Tui = import('../tui/index.js').LiveMove;
  let tui: Tui | null = null;
  let fallback: ((e: MoveEvent) => void) | null = null;
  // ink and react load only when a terminal will show them (cron runs never pay for them).
  const loading: Promise<void> | null = tuiWanted
    ? import('../tui/index.js')
        .then((m) => {
          // The result goes to stdout (a script or a file needs it there); when that is the same
          // terminal, the view leaves it out of its summary so it is said once.
          tui = m.mountMove({ stream: ctx.stderr, color: m.colorEnabled(ctx.env), resultBelow: Boolean(ctx.stdout.isTTY) });
          tui.update(state);
        })
        .catch((err: unknown) => {
          fallback = plainRenderer((line) => log(ctx, line));
          log(ctx, `fw-shard: the terminal view could not start (${(err as Error)?.message ?? err}); plain lines follow`);
        })
    : null;

  const sink: EventSink = (e) => {
    if (opts.events) ctx.stdout.write(JSON.stringify({ v: EVENTS_VERSION, ...e }) + '\n');
    state = reduce(state, e);
    if (plain) plain(e);
    else if (tui) (tui as Tui).update(state);
    else if (fallback) fallback(e);
  };
  const now = () => new Date().toISOString();
  let finished: Promise<void> | null = null;
  return {
    sink,
    kind: tuiWanted ? 'tui' : 'plain',
    interrupted(signal = 'SIGINT') {
      sink({ type: 'stop.requested', signal, at: now(), moveId: state.moveId });
    },
    warn(message) {
      sink({ type: 'warning', message, at: now(), moveId: state.moveId });
    },
    done() {
      finished ??= (async () => {
        await loading;
        if (tui) await (tui as Tui).done();
      })();
      return finished;
    },
  };
}

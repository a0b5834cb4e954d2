/**
 * Mounting the ink views on a terminal (stderr: stdout stays for results). The views are pure; these
 * controllers hold the latest data and redraw on a short tick, so live timers (elapsed phase time, the
 * freeze timer) move even between events, and a burst of events costs one frame, not one per event.
 *
 * Ctrl-C: ink is mounted with exitOnCtrlC off and no component reads input, so ink never puts stdin in
 * raw mode and the terminal keeps turning Ctrl-C into SIGINT, which the CLI's handler turns into "stop
 * at the next safe point" (src/cli/interrupt.ts interruptSignal). The views show that through RunState.stopping.
 */
import type { ReactElement } from 'react';
import { render } from 'ink';
import type { RunState } from '../events/reducer.js';
import { initialRunState } from '../events/reducer.js';
import { MoveView } from './move-view.js';
import { StatusView, type WatchSnapshot } from './status-view.js';

export { MoveView } from './move-view.js';
export { StatusView, type WatchSnapshot, type MoveProgress } from './status-view.js';
export { colorEnabled } from './theme.js';

interface MountOptions {
  /** The terminal to draw on (process.stderr). */
  stream: NodeJS.WritableStream & { isTTY?: boolean; columns?: number };
  color: boolean;
  /** Redraw period, default 100 ms. */
  tickMs?: number;
  now?: () => number;
}

interface Live {
  redraw(): void;
  done(): Promise<void>;
}

function mount(opts: MountOptions, frame: (now: number, width: number) => ReactElement): Live {
  const now = opts.now ?? (() => Date.now());
  const width = () => opts.stream.columns || 80;
  const inst = render(frame(now(), width()), {
    stdout: opts.stream as NodeJS.WriteStream,
    stderr: opts.stream as NodeJS.WriteStream,
    exitOnCtrlC: false,
    patchConsole: false,
    maxFps: 20,
  });
  const redraw = () => inst.rerender(frame(now(), width()));
  const timer = setInterval(redraw, opts.tickMs ?? 100);
  timer.unref?.();
  let finished: Promise<void> | null = null;
  return {
    redraw,
    done() {
      finished ??= (async () => {
        clearInterval(timer);
        redraw();
        inst.unmount();
        await inst.waitUntilExit().catch(() => undefined);
      })();
      return finished;
    },
  };
}

export interface LiveMove {
  update(state: RunState): void;
  /** Draw the final frame (the summary), and give the terminal back. */
  done(): Promise<void>;
}

export function mountMove(opts: MountOptions & { resultBelow?: boolean }): LiveMove {
  let state = initialRunState();
  let over = false;
  // A run that never started a move (nothing to do, a refused preflight, abort) leaves no frame behind:
  // its result or error follows on its own.
  const live = mount(opts, (now, width) =>
    over && state.userId === null ? <></> : <MoveView state={state} now={now} width={width} color={opts.color} resultBelow={opts.resultBelow ?? false} />,
  );
  return {
    update(s) {
      // Say "stopping…" and the outcome at once; everything else waits for the next tick.
      const urgent = (s.outcome !== 'running' && state.outcome === 'running') || (s.stopping !== null && state.stopping === null);
      state = s;
      if (urgent) live.redraw();
    },
    done() {
      over = true;
      return live.done();
    },
  };
}

interface LiveStatus {
  update(snapshot: WatchSnapshot | null, error: string | null): void;
  done(): Promise<void>;
}

export function mountStatus(opts: MountOptions & { intervalMs: number }): LiveStatus {
  let snapshot: WatchSnapshot | null = null;
  let error: string | null = null;
  const live = mount(opts, (now, width) => (
    <StatusView snapshot={snapshot} error={error} intervalMs={opts.intervalMs} now={now} width={width} color={opts.color} />
  ));
  return {
    update(s, err) {
      if (s) snapshot = s;
      error = err;
      live.redraw();
    },
    done: () => live.done(),
  };
}

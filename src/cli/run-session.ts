/**
 * The setup around every engine call a command makes (move, resume, abort, cleanup): the renderer,
 * --hooks-dir, the ports, and SIGINT/SIGTERM/SIGHUP; torn down in the right order whatever happens.
 */
import { hostname } from 'node:os';
import { resolve } from 'node:path';
import { makeDeps } from '../app/deps.js';
import { createHookRunner, topologySecrets, type HookRunner } from '../hooks/runner.js';
import type { MoveDeps, ThrottleSettings } from '../move/index.js';
import type { Topology } from '../topology/index.js';
import type { CliContext } from './context.js';
import { interruptSignal } from './interrupt.js';
import { createRenderer, type Renderer } from './render.js';

export interface SessionFlags {
  json?: boolean;
  events?: boolean;
  /** false with --no-tui */
  tui?: boolean;
  hooksDir?: string;
}

/** --hooks-dir: on-start gates a new move; the other hooks follow the events and only ever warn. */
function hooksFor(ctx: CliContext, opts: SessionFlags, topology: Topology, warn: (message: string) => void): HookRunner | undefined {
  if (!opts.hooksDir) return undefined;
  return createHookRunner({ dir: resolve(ctx.cwd, opts.hooksDir), env: ctx.env, secrets: topologySecrets(topology), warn, host: hostname() });
}

/**
 * Run `call` with the renderer (TUI on a terminal, plain lines otherwise, NDJSON with --events; see
 * render.ts), the hooks and an interrupt signal. Background hooks finish (or time out) and the live view
 * gives the terminal back before this returns, so the caller may print its result.
 */
export async function withRunSession<T>(
  ctx: CliContext,
  opts: SessionFlags,
  topology: Topology,
  throttle: ThrottleSettings | undefined,
  call: (deps: MoveDeps, signal: AbortSignal) => Promise<T>,
): Promise<T> {
  // The hooks come first (a bad --hooks-dir fails before a live view is drawn); their warnings go to the renderer.
  const view: { renderer?: Renderer } = {};
  const hooks = hooksFor(ctx, opts, topology, (m) => view.renderer?.warn(m));
  const shown = (view.renderer = createRenderer(ctx, { json: Boolean(opts.json), events: Boolean(opts.events), noTui: opts.tui === false }));
  const { deps, close } = makeDeps(topology, shown.sink, throttle, hooks ? { hooks } : {});
  const intr = interruptSignal(
    (sig) => shown.interrupted(sig),
    () => shown.warn('SIGHUP: the terminal went away; the run carries on to its end (fw-shard moves --all shows how it ended)'),
  );
  try {
    return await call(deps, intr.signal).finally(async () => {
      await hooks?.drain();
      await shown.done();
    });
  } finally {
    intr.dispose();
    await close();
  }
}

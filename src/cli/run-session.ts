/**
 * The setup around every engine call a command makes: for move, resume, abort, undo and cleanup the
 * renderer, --hooks-dir, the ports, and SIGINT/SIGTERM/SIGHUP (withRunSession); for apply and run the
 * ports, the lock connection and the signals (withFleetSession). Torn down in the right order whatever
 * happens; the ports are built once per command.
 */
import { hostname } from 'node:os';
import { resolve } from 'node:path';
import { makeDeps } from '../app/deps.js';
import { createHookRunner, topologySecrets, type HookRunner } from '../hooks/runner.js';
import type { MoveDeps, ThrottleSettings } from '../move/index.js';
import { mappingEndpoint, type Topology } from '../topology/index.js';
import { openDb, type Db } from '../db/pool.js';
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
 *
 * `confirm` (move and undo without --yes) runs first with the same ports, before any live view is drawn:
 * it shows a dry run's plan and asks; false ends the session there, with undefined.
 */
export function withRunSession<T>(
  ctx: CliContext,
  opts: SessionFlags,
  topology: Topology,
  throttle: ThrottleSettings | undefined,
  call: (deps: MoveDeps, signal: AbortSignal) => Promise<T>,
): Promise<T>;
export function withRunSession<T>(
  ctx: CliContext,
  opts: SessionFlags,
  topology: Topology,
  throttle: ThrottleSettings | undefined,
  call: (deps: MoveDeps, signal: AbortSignal) => Promise<T>,
  confirm: ((deps: MoveDeps) => Promise<boolean>) | undefined,
): Promise<T | undefined>;
export async function withRunSession<T>(
  ctx: CliContext,
  opts: SessionFlags,
  topology: Topology,
  throttle: ThrottleSettings | undefined,
  call: (deps: MoveDeps, signal: AbortSignal) => Promise<T>,
  confirm?: (deps: MoveDeps) => Promise<boolean>,
): Promise<T | undefined> {
  // The hooks come first (a bad --hooks-dir fails before a live view is drawn); their warnings and the
  // engine's events go to the renderer once there is one.
  const view: { renderer?: Renderer } = {};
  const hooks = hooksFor(ctx, opts, topology, (m) => view.renderer?.warn(m));
  const { deps, close } = makeDeps(
    topology,
    (e) => {
      view.renderer?.sink(e);
      ctx.metrics?.observe(e);
    },
    throttle,
    hooks ? { hooks } : {},
  );
  try {
    // The confirmation's dry run reports to nobody: neither the live view nor the hooks see its events.
    if (confirm && !(await confirm({ ...deps, events: () => undefined }))) return undefined;
    const shown = (view.renderer = createRenderer(ctx, { json: Boolean(opts.json), events: Boolean(opts.events), noTui: opts.tui === false }));
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
    }
  } finally {
    await close();
  }
}

/**
 * The setup around a fleet command's engine calls (apply, run): the ports (events go to the fleet's own
 * sinks), the mapping database's connection for the fleet's locks, and SIGINT/SIGTERM, which `onSignal`
 * words; torn down whatever happens.
 */
export async function withFleetSession<T>(
  topology: Topology,
  throttle: ThrottleSettings | undefined,
  onSignal: (sig: string) => void,
  call: (s: { deps: MoveDeps; lockDb: Db; signal: AbortSignal }) => Promise<T>,
): Promise<T> {
  const { deps, close } = makeDeps(topology, () => undefined, throttle);
  const lockDb = openDb(mappingEndpoint(topology));
  const intr = interruptSignal(onSignal);
  try {
    return await call({ deps, lockDb, signal: intr.signal });
  } finally {
    intr.dispose();
    await lockDb.close();
    await close();
  }
}

/**
 * The composition root: wiring the engine's ports to real servers, memcached, the clock and this
 * process. Commands and tests build their MoveDeps here and nowhere else.
 */
import { memcachedInvalidator } from '../cache/memcached.js';
import { Connections } from '../db/pool.js';
import type { EventSink } from '../events/types.js';
import { makeThrottler, type MoveDeps, type ThrottleSettings } from '../move/index.js';
import type { Topology } from '../topology/index.js';
import { thisRunner } from './runner.js';

/** Optional extras for a run: lifecycle hooks (src/hooks) gate the start and watch the events. */
interface DepsExtras {
  hooks?: { beforeStart: NonNullable<MoveDeps['beforeStart']>; sink: EventSink };
}

export function makeDeps(
  topology: Topology,
  events: EventSink,
  throttle?: ThrottleSettings,
  extras: DepsExtras = {},
): { deps: MoveDeps; close(): Promise<void> } {
  const conns = new Connections();
  const cache = topology.memcached ? memcachedInvalidator(topology.memcached) : undefined;
  const deps: MoveDeps = {
    topology,
    connect: (e) => conns.get(e),
    ...(cache ? { cache } : {}),
    events,
    clock: { now: () => new Date() },
    runner: thisRunner(topology),
  };
  const throttler = makeThrottler(topology, throttle, (e) => conns.get(e));
  if (throttler) deps.throttler = throttler;
  const hooks = extras.hooks;
  if (hooks) {
    // Renderers first, then the hooks (which only queue work: they never delay the engine).
    deps.events = (e) => {
      events(e);
      hooks.sink(e);
    };
    deps.beforeStart = hooks.beforeStart;
  }
  return {
    deps,
    async close() {
      cache?.close();
      await conns.closeAll();
    },
  };
}

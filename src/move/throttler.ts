/**
 * The throttler (gh-ost's rules): asked before every chunk (and by `apply` before each move starts),
 * it answers only once nothing says "wait":
 *  - a pause file exists (--pause-file);
 *  - the operator's --throttle-query (run on the mapping server) returns a number above zero;
 *  - a global status counter on the source's or the target's server exceeds --max-load
 *    (Threads_running=25 by default name);
 *  - a configured replica of the source or target shard lags more than --max-lag, or is not
 *    replicating at all.
 * While it waits the engine writes nothing; it reports why (every renderer shows the reason), re-checks
 * every second, and repeats the reason every 30 s so a cron log shows it is still waiting.
 * A probe that fails (server down) throttles too, with the error as the reason.
 */
import { existsSync } from 'node:fs';
import { isSyntaxError } from '../db/errors.js';
import type { ReadDb } from '../db/pool.js';
import { globalStatusSql, replicaStatusSql, slaveStatusSql, throttleQuerySql } from '../db/sql/server.js';
import { FwShardError } from '../errors/index.js';
import { mappingEndpoint, type Endpoint, type ShardId, type Topology } from '../topology/index.js';
import type { Throttler } from './types.js';

interface LoadLimit {
  name: string;
  max: number;
}

export interface ThrottleSettings {
  /** Replica lag above this (ms) throttles. Seconds_Behind_Master has whole seconds. */
  maxLagMs?: number;
  maxLoad?: LoadLimit[];
  throttleQuery?: string;
  pauseFile?: string;
  /** How often to re-check while throttled, and how long an "all clear" is trusted (default 1000 ms). */
  checkEveryMs?: number;
  /** Repeat the reason this often while it does not change (default 30 s). */
  remindEveryMs?: number;
}

/** What the throttler asks the world. Real servers in production (`dbProbe`), fakes in unit tests. */
export interface ThrottleProbe {
  pauseFileExists(path: string): boolean;
  /** Seconds behind the primary; null when replication is stopped or broken; 'none' when the server is no replica. */
  replicaLag(e: Endpoint): Promise<number | null | 'none'>;
  globalStatus(e: Endpoint, names: readonly string[]): Promise<Record<string, number>>;
  throttleQuery(text: string): Promise<number>;
}

function hasThrottleSettings(s: ThrottleSettings | undefined): s is ThrottleSettings {
  return !!s && (s.maxLagMs !== undefined || (s.maxLoad?.length ?? 0) > 0 || s.throttleQuery !== undefined || s.pauseFile !== undefined);
}

/** "25", "Threads_running=25", "Threads_running=25,Threads_connected=500" → limits. */
export function parseMaxLoad(text: string, flag = '--max-load'): LoadLimit[] {
  const out: LoadLimit[] = [];
  for (const part of text
    .split(',')
    .map((p) => p.trim())
    .filter(Boolean)) {
    const m = /^(?:([A-Za-z_][A-Za-z0-9_]*)\s*=\s*)?([0-9]+)$/.exec(part);
    if (!m) throw new FwShardError('USAGE', `${flag} must look like Threads_running=25 (or just 25), got '${part}'`);
    out.push({ name: m[1] ?? 'Threads_running', max: Number(m[2]) });
  }
  if (out.length === 0) throw new FwShardError('USAGE', `${flag} is empty`);
  return out;
}

/** Probes against real servers: SHOW REPLICA STATUS (or SHOW SLAVE STATUS), SHOW GLOBAL STATUS, the throttle query on db_main. */
function dbProbe(topology: Topology, connect: (e: Endpoint) => ReadDb, fileExists: (p: string) => boolean = existsSync): ThrottleProbe {
  return {
    pauseFileExists: fileExists,
    async replicaLag(e) {
      const db = connect(e);
      let rows: Record<string, unknown>[];
      try {
        rows = await db.rows(replicaStatusSql());
      } catch (err) {
        if (!isSyntaxError(err)) throw err;
        rows = await db.rows(slaveStatusSql()); // servers that only know the old name
      }
      if (rows.length === 0) return 'none';
      let worst: number | null = 0;
      for (const r of rows) {
        const v = r.Seconds_Behind_Master ?? r.Seconds_Behind_Source;
        if (v === null || v === undefined) return null;
        worst = Math.max(worst ?? 0, Number(v));
      }
      return worst;
    },
    async globalStatus(e, names) {
      const rows = await connect(e).rows<{ Variable_name: string; Value: string }>(globalStatusSql(names));
      const byLower = new Map(rows.map((r) => [r.Variable_name.toLowerCase(), Number(r.Value)]));
      return Object.fromEntries(names.map((n) => [n, byLower.get(n.toLowerCase()) ?? NaN]));
    },
    async throttleQuery(text) {
      const rows = await connect(mappingEndpoint(topology)).rows<Record<string, unknown>>(throttleQuerySql(text));
      const first = rows[0] ? Object.values(rows[0])[0] : 0;
      return Number(first ?? 0);
    },
  };
}

type Report = Parameters<Throttler['wait']>[0]['report'];

export class PollingThrottler implements Throttler {
  readonly #clearUntil = new Map<string, number>();
  readonly #checkEvery: number;
  readonly #remindEvery: number;

  constructor(
    private readonly topology: Topology,
    readonly settings: ThrottleSettings,
    private readonly probe: ThrottleProbe,
    private readonly clock: { now(): number; sleep(ms: number, signal?: AbortSignal): Promise<void> } = realClock,
  ) {
    this.#checkEvery = settings.checkEveryMs ?? 1000;
    this.#remindEvery = settings.remindEveryMs ?? 30_000;
  }

  /** Why the move between these shards must wait now, or null. Never throws: a failed probe is a reason. */
  async reason(from: number, to: number): Promise<string | null> {
    const s = this.settings;
    const reasons: string[] = [];
    if (s.pauseFile && this.probe.pauseFileExists(s.pauseFile)) reasons.push(`pause file ${s.pauseFile} exists (remove it to continue)`);
    const key = `${from}>${to}`;
    if (reasons.length === 0 && (this.#clearUntil.get(key) ?? 0) > this.clock.now()) return null;
    const servers = [from, to].map((id) => this.topology.shards.get(id as ShardId)).filter((e): e is Endpoint => e !== undefined);
    const checks: Promise<void>[] = [];
    if (s.throttleQuery !== undefined) {
      checks.push(
        this.probe.throttleQuery(s.throttleQuery).then(
          (v) => void (Number.isFinite(v) && v > 0 ? reasons.push(`throttle query returned ${v}`) : undefined),
          (err) => void reasons.push(`throttle query failed: ${message(err)}`),
        ),
      );
    }
    if (s.maxLoad?.length) {
      const names = s.maxLoad.map((l) => l.name);
      for (const e of dedupeServers(servers)) {
        checks.push(
          this.probe.globalStatus(e, names).then(
            (vals) => {
              for (const l of s.maxLoad!) {
                const v = vals[l.name];
                if (v === undefined || Number.isNaN(v)) reasons.push(`${e.role}: status variable ${l.name} does not exist`);
                else if (v > l.max) reasons.push(`${l.name}=${v} on ${e.role} (max ${l.max})`);
              }
            },
            (err) => void reasons.push(`cannot read the load of ${e.role}: ${message(err)}`),
          ),
        );
      }
    }
    if (s.maxLagMs !== undefined) {
      for (const e of servers) {
        for (const r of e.replicas) {
          checks.push(
            this.probe.replicaLag(r).then(
              (lag) => {
                if (lag === 'none') reasons.push(`${r.role} is not replicating (no replica status)`);
                else if (lag === null) reasons.push(`${r.role}: replication is stopped or broken (Seconds_Behind_Master is NULL)`);
                else if (lag * 1000 > s.maxLagMs!) reasons.push(`replica lag ${lag} s on ${r.role} (max ${fmtMs(s.maxLagMs!)})`);
              },
              (err) => void reasons.push(`cannot read the lag of ${r.role}: ${message(err)}`),
            ),
          );
        }
      }
    }
    await Promise.all(checks);
    if (reasons.length === 0) {
      this.#clearUntil.set(key, this.clock.now() + this.#checkEvery);
      return null;
    }
    this.#clearUntil.delete(key);
    return reasons.sort().join('; ');
  }

  async wait(ctx: { from: number; to: number; signal?: AbortSignal; report: Report }): Promise<void> {
    let since: number | null = null;
    let said: string | null = null;
    let saidAt = 0;
    for (;;) {
      if (ctx.signal?.aborted) return; // the caller stops at its safe point
      const why = await this.reason(ctx.from, ctx.to);
      if (why === null) {
        if (since !== null) ctx.report({ throttled: false, ms: this.clock.now() - since });
        return;
      }
      const now = this.clock.now();
      since ??= now;
      if (why !== said || now - saidAt >= this.#remindEvery) {
        ctx.report({ throttled: true, reason: why });
        said = why;
        saidAt = now;
      }
      await this.clock.sleep(this.#checkEvery, ctx.signal);
    }
  }
}

function dedupeServers(es: Endpoint[]): Endpoint[] {
  const seen = new Set<string>();
  return es.filter((e) => {
    const k = e.socket ?? `${e.host}:${e.port}`;
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}

const message = (err: unknown) => (err instanceof Error ? err.message : String(err)).split('\n')[0]!;
const fmtMs = (ms: number) => (ms % 1000 === 0 ? `${ms / 1000} s` : `${ms} ms`);

const realClock = {
  now: () => Date.now(),
  sleep: (ms: number, signal?: AbortSignal) =>
    new Promise<void>((resolve) => {
      if (signal?.aborted) return resolve();
      const t = setTimeout(done, ms);
      function done() {
        clearTimeout(t);
        signal?.removeEventListener('abort', done);
        resolve();
      }
      signal?.addEventListener('abort', done, { once: true });
    }),
};

/** The throttler for a topology from settings, or undefined when nothing is configured. */
export function makeThrottler(topology: Topology, settings: ThrottleSettings | undefined, connect: (e: Endpoint) => ReadDb): PollingThrottler | undefined {
  if (!hasThrottleSettings(settings)) return undefined;
  return new PollingThrottler(topology, settings, dbProbe(topology, connect));
}

/**
 * What every phase of one move run shares: the servers (each with its read and write role), the
 * journal, the event emitter and the cancellation signal. A MoveContext serves the preflight, before
 * the move has a journal row; a RunContext is the same plus the move's id, which is never null there.
 */
import type { Db } from '../db/pool.js';
import { BusyError, FwShardError } from '../errors/index.js';
import type { EventInput, MoveEvent, Phase } from '../events/types.js';
import { mappingEndpoint, type Endpoint, type ShardId, type UserId } from '../topology/index.js';
import { Applier } from './applier.js';
import { Inspector } from './inspector.js';
import { Journal } from './journal.js';
import type { MoveDeps, MoveRequest, MoveTimings } from './types.js';

interface Side {
  endpoint: Endpoint;
  db: Db;
  /** The read role (gh-ost's Inspector). */
  insp: Inspector;
  /** The write role (gh-ost's Applier). */
  applier: Applier;
}

/**
 * Why a run was asked to stop from inside the engine (the abort reason of its signal): `fw-shard stop`
 * from another terminal, or the runner lock lost to another runner. Ctrl-C and SIGTERM come from the
 * caller's signal instead.
 */
export type StopCause = { kind: 'stop-request'; by: string; at: string } | { kind: 'lock-lost' } | { kind: 'lock-silent'; ms: number };

/**
 * A run that could not confirm its runner lock for this long stops before it writes again: it was frozen
 * (SIGSTOP), or db_main did not answer, and the server drops a silent runner's lock after 30 s.
 */
const LOCK_SILENT_LIMIT_MS = 15_000;

function isStopCause(v: unknown): v is StopCause {
  return typeof v === 'object' && v !== null && 'kind' in v && (v.kind === 'stop-request' || v.kind === 'lock-lost' || v.kind === 'lock-silent');
}

/** Why `signal` was aborted from inside the engine; null for the caller's signal (Ctrl-C) or none. */
export function stopCauseOf(signal: AbortSignal): StopCause | null {
  return signal.aborted && isStopCause(signal.reason) ? signal.reason : null;
}

export class MoveContext {
  readonly source: Side;
  readonly target: Side;
  readonly mapping: Side;
  readonly journal: Journal;
  /** The move's id once its journal row exists (see RunContext). */
  readonly moveId: string | null = null;
  /** Aborted by the caller's signal (Ctrl-C), or by stop() from inside the engine. */
  readonly signal: AbortSignal;
  readonly #stopper: AbortController;

  constructor(
    readonly deps: MoveDeps,
    readonly req: MoveRequest,
    readonly userId: UserId,
    readonly from: ShardId,
    readonly to: ShardId,
    /** The caller's signal (SIGINT/SIGTERM). */
    readonly callerSignal: AbortSignal | undefined,
    sides?: { source: Side; target: Side; mapping: Side; stopper: AbortController },
  ) {
    this.#stopper = sides?.stopper ?? new AbortController();
    this.signal = callerSignal ? AbortSignal.any([callerSignal, this.#stopper.signal]) : this.#stopper.signal;
    const side = (e: Endpoint): Side => {
      const db = deps.connect(e);
      return { endpoint: e, db, insp: new Inspector(db), applier: new Applier(db) };
    };
    this.source = sides?.source ?? side(deps.topology.shards.get(from)!);
    this.target = sides?.target ?? side(deps.topology.shards.get(to)!);
    this.mapping = sides?.mapping ?? side(mappingEndpoint(deps.topology));
    this.journal = new Journal(this.mapping.db, deps.runner);
  }

  /** Stop at the next safe point, as on Ctrl-C, saying why. */
  stop(cause: StopCause): void {
    if (!this.signal.aborted) this.#stopper.abort(cause);
  }

  /** Shared with the RunContext made from this context: a stop reaches both. */
  get stopper(): AbortController {
    return this.#stopper;
  }

  emit(e: EventInput): void {
    this.deps.events({ ...e, at: this.deps.clock.now().toISOString(), moveId: this.moveId } as MoveEvent);
  }

  /** Online mode: the user keeps writing during the copy; delta passes and a freeze catch up. */
  get online(): boolean {
    return !this.req.assumeNoWrites;
  }

  nowMs(): number {
    return this.deps.clock.now().getTime();
  }

  /** Between chunks and ranges of every phase: the operator's --sleep-between-chunks, then the throttler. */
  async pause(): Promise<void> {
    if (this.req.chunkPauseMs) await new Promise((r) => setTimeout(r, this.req.chunkPauseMs));
    await this.throttle();
  }

  /** Wait while the throttler says so (nothing is written meanwhile); it reports why through events. */
  async throttle(): Promise<void> {
    const throttler = this.deps.throttler;
    if (throttler) {
      await throttler.wait({
        from: this.from,
        to: this.to,
        signal: this.signal,
        report: (r) => {
          if (r.throttled) this.emit({ type: 'throttled', reason: r.reason });
          else this.emit({ type: 'resumed', throttledMs: r.ms });
          // Published for `moves` and `status`; the move goes on whether or not the journal took it.
          if (this.moveId) void this.journal.setThrottle(this.moveId, r.throttled ? r.reason.slice(0, 1000) : null).catch(() => undefined);
        },
      });
    }
  }

  /** Cooperative cancellation: called between chunks and phases, never inside the flip. */
  checkAborted(): void {
    const silent = this.journal.lockSilentMs();
    if (silent !== null && silent > LOCK_SILENT_LIMIT_MS) this.stop({ kind: 'lock-silent', ms: silent });
    if (!this.signal.aborted) return;
    const cause = stopCauseOf(this.signal);
    const resumable = this.moveId ? `; move ${this.moveId} can be resumed` : '';
    if (cause?.kind === 'lock-lost') {
      throw new BusyError('lease', `stopped at a safe point: this runner lost the move's runner lock to another runner, which runs the move now`, {
        hint: `fw-shard moves --user ${this.userId} shows which runner has it now.`,
      });
    }
    if (cause?.kind === 'lock-silent') {
      throw new BusyError(
        'lease',
        `stopped at a safe point: this runner could not confirm its runner lock for ${Math.round(cause.ms / 1000)} s (was it frozen, or db_main unreachable?); another runner may have taken the move over`,
        { hint: `fw-shard moves --user ${this.userId} shows whether a runner has it; if none, fw-shard resume ${this.moveId ?? 'ID'} continues it.` },
      );
    }
    const why = cause?.kind === 'stop-request' ? ` because of a stop request (fw-shard stop, by ${cause.by} at ${cause.at})` : '';
    throw new FwShardError('INTERRUPTED', `stopped at a safe point${why}${resumable}`, {
      hint: this.moveId ? `fw-shard resume ${this.moveId} (or run the same move command again) continues where it stopped.` : 'Nothing was written.',
    });
  }

  async timed<T>(phase: Phase, timings: MoveTimings, fn: () => Promise<T>): Promise<T> {
    const t0 = this.deps.clock.now().getTime();
    this.phaseStarted(phase);
    const out = await fn();
    const ms = this.deps.clock.now().getTime() - t0;
    timings[`${phase}Ms`] = (timings[`${phase}Ms`] ?? 0) + ms;
    this.emit({ type: 'phase.finished', phase, ms });
    return out;
  }

  phaseStarted(phase: Phase): void {
    this.emit({ type: 'phase.started', phase });
  }
}

/** The context of a move that has its journal row: every phase after the preflight runs in one. */
export class RunContext extends MoveContext {
  override readonly moveId: string;
  constructor(base: MoveContext, moveId: string) {
    // The same servers (and their cached schemas) as the preflight.
    super(base.deps, base.req, base.userId, base.from, base.to, base.callerSignal, base);
    this.moveId = moveId;
    // Once this run holds the move (Journal.claim): a stop request (fw-shard stop) or the runner lock
    // lost to another runner stops it at the next safe point, as Ctrl-C does.
    this.journal.onPoll((p) => {
      if (this.signal.aborted) return;
      if (p.lock === 'lost') this.stop({ kind: 'lock-lost' });
      else if (p.stop) {
        this.emit({ type: 'stop.requested', signal: `stop request (fw-shard stop, by ${p.stop.by})` });
        this.stop({ kind: 'stop-request', by: p.stop.by, at: p.stop.at });
      }
    });
  }
}

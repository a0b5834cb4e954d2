/**
 * What every phase of one move run shares: the servers (each with its read and write role), the
 * journal, the event emitter and the cancellation signal. A MoveContext serves the preflight, before
 * the move has a journal row; a RunContext is the same plus the move's id, which is never null there.
 */
import type { Db } from '../db/pool.js';
import { FwShardError } from '../errors/index.js';
import type { EventInput, MoveEvent, Phase } from '../events/types.js';
import { mappingEndpoint, type Endpoint, type ShardId, type UserId } from '../topology/index.js';
import { Applier } from './applier.js';
import { Inspector } from './inspector.js';
import { Journal } from './journal.js';
import type { MoveDeps, MoveRequest } from './types.js';

export interface Side {
  endpoint: Endpoint;
  db: Db;
  /** The read role (gh-ost's Inspector). */
  insp: Inspector;
  /** The write role (gh-ost's Applier). */
  applier: Applier;
}

export class MoveContext {
  readonly source: Side;
  readonly target: Side;
  readonly mapping: Side;
  readonly journal: Journal;
  /** The move's id once its journal row exists (see RunContext). */
  readonly moveId: string | null = null;

  constructor(
    readonly deps: MoveDeps,
    readonly req: MoveRequest,
    readonly userId: UserId,
    readonly from: ShardId,
    readonly to: ShardId,
    readonly signal: AbortSignal | undefined,
    sides?: { source: Side; target: Side; mapping: Side },
  ) {
    const side = (e: Endpoint): Side => {
      const db = deps.connect(e);
      return { endpoint: e, db, insp: new Inspector(db), applier: new Applier(db) };
    };
    this.source = sides?.source ?? side(deps.topology.shards.get(from)!);
    this.target = sides?.target ?? side(deps.topology.shards.get(to)!);
    this.mapping = sides?.mapping ?? side(mappingEndpoint(deps.topology));
    this.journal = new Journal(this.mapping.db, deps.runner);
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
        ...(this.signal ? { signal: this.signal } : {}),
        report: (r) => (r.throttled ? this.emit({ type: 'throttled', reason: r.reason }) : this.emit({ type: 'resumed', throttledMs: r.ms })),
      });
    }
  }

  /** Cooperative cancellation: called between chunks and phases, never inside the flip. */
  checkAborted(): void {
    if (this.signal?.aborted) {
      throw new FwShardError('INTERRUPTED', `stopped at a safe point${this.moveId ? `; move ${this.moveId} can be resumed` : ''}`, {
        hint: this.moveId ? `fw-shard resume ${this.moveId} (or run the same move command again) continues where it stopped.` : 'Nothing was written.',
      });
    }
  }

  async timed<T>(phase: Phase, timings: Record<string, number>, fn: () => Promise<T>): Promise<T> {
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
    super(base.deps, base.req, base.userId, base.from, base.to, base.signal, base);
    this.moveId = moveId;
  }
}

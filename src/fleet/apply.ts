/**
 * `fw-shard apply`: run the moves of a plan, several at once, as a library (no printing, no process.*).
 *
 * Scheduling (MongoDB's balancer rules): at most `concurrency` moves at once, and each shard takes part
 * in at most `perShard` moves at a time, fleet-wide: before a move starts, its runner takes the user's
 * lock and a slot lock of both shards on the mapping server (GET_LOCK, without waiting). A move whose
 * user another runner holds is recorded as `busy` and skipped; a move whose shards are full waits.
 * So several runners on several hosts can apply the same plan: each move is claimed by one of them, and
 * a runner that dies releases its locks with its session, leaving its move resumable by the next one.
 *
 * Before a move writes anything it passes the throttler; between its chunks the engine asks again.
 * One failed move does not stop the others. `until` stops starting new moves and lets running ones
 * finish; the stop file (or a signal) also stops running moves at their next safe point (resumable).
 *
 * Re-running the same plan: users already on their planned shard are `skipped-done`; a user with an
 * unfinished move to the planned shard is resumed by the engine.
 */
import PQueue from 'p-queue';
import { existsSync } from 'node:fs';
import type { Db } from '../db/pool.js';
import { FwShardError } from '../errors/index.js';
import type { MoveEvent } from '../events/types.js';
import { Inspector, JournalReader, type MoveAsk, type MoveDeps, partialResultOf, runMove } from '../move/index.js';
import type { PlanDocument, PlanDocumentMove } from '../plan/plan-file.js';
import { mappingEndpoint, type ShardId, type UserId } from '../topology/index.js';
import type { FleetEvent, FleetEventInput, StopCause } from './events.js';
import { lockNames, withLockSession, type NamedLocks } from './lock.js';
import { applyExitCode, countOutcomes, type MoveOutcome, type MoveOutcomeKind } from './outcome.js';
import { pickNext, runIsOver, ShardUse } from './schedule.js';

export type ApplyRequest = Omit<MoveAsk, 'userId' | 'to' | 'dryRun'>;

export interface ApplyOptions {
  /** Moves at once (this runner). */
  concurrency: number;
  /** Moves a shard takes part in at once, fleet-wide (default 1). */
  perShard: number;
  /** Start no move at or after this time; running ones finish. */
  until?: Date;
  /** Start at most this many moves (skips do not count). */
  maxMoves?: number;
  /** While this file exists, start nothing and stop running moves at their next safe point. */
  stopFile?: string;
  /** What every move is asked to do (assumeNoWrites, chunking, cleanup mode...). */
  request: ApplyRequest;
  /** How often to look again at the stop file, the clock and shards held by other runners (ms). */
  pollMs?: number;
}

interface ApplyEnv {
  deps: MoveDeps;
  /** A dedicated handle on the mapping server for this runner's locks (one session, held for the run). */
  lockDb: Db;
  onEvent(e: FleetEvent): void;
  onMoveEvent(m: PlanDocumentMove, e: MoveEvent): void;
  fileExists?: (path: string) => boolean;
  signal?: AbortSignal;
}

export interface ApplySummary {
  outcomes: MoveOutcome[];
  counts: Record<MoveOutcomeKind, number>;
  stoppedBecause: StopCause | null;
  exitCode: number;
}

type Claim =
  | { kind: 'skip'; outcome: MoveOutcomeKind; message: string }
  | { kind: 'blocked'; reason: string }
  | { kind: 'go'; from: number; release: () => Promise<void> };

type OutcomeFields = Omit<MoveOutcome, 'seq' | 'userId' | 'from' | 'to'>;

/** Run the plan's moves; resolves with every move's outcome once none runs and none will start. */
export async function applyPlan(plan: PlanDocument, opts: ApplyOptions, env: ApplyEnv): Promise<ApplySummary> {
  return new PlanRun(plan, opts, env).run();
}

/** One apply run: its pending moves, what runs, the stop cause and the outcomes. */
class PlanRun {
  readonly #opts: ApplyOptions;
  readonly #env: ApplyEnv;
  readonly #deps: MoveDeps;
  readonly #fileExists: (path: string) => boolean;
  readonly #pollMs: number;
  readonly #concurrency: number;
  readonly #perShard: number;
  readonly #journal: JournalReader;
  readonly #inspector: Inspector;

  readonly #outcomes = new Map<number, MoveOutcome>();
  readonly #pending: PlanDocumentMove[];
  readonly #use: ShardUse;
  readonly #running = new Set<Promise<void>>();
  readonly #queue: PQueue;
  #started = 0;
  #stoppedBecause: StopCause | null = null;
  /** Aborted by a signal or the stop file: running moves stop at their next safe point. */
  readonly #halt = new AbortController();
  readonly #onSignal = () => this.#stop('signal', 'interrupted: running moves stop at their next safe point', true);

  constructor(plan: PlanDocument, opts: ApplyOptions, env: ApplyEnv) {
    this.#opts = opts;
    this.#env = env;
    this.#deps = env.deps;
    this.#fileExists = env.fileExists ?? existsSync;
    this.#pollMs = opts.pollMs ?? 500;
    this.#concurrency = Math.max(1, opts.concurrency);
    this.#perShard = Math.max(1, opts.perShard);
    const mapping = this.#deps.connect(mappingEndpoint(this.#deps.topology));
    this.#journal = new JournalReader(mapping);
    this.#inspector = new Inspector(mapping);
    this.#pending = [...plan.moves].sort((a, b) => a.seq - b.seq);
    this.#use = new ShardUse(this.#perShard);
    this.#queue = new PQueue({ concurrency: this.#concurrency });
  }

  async run(): Promise<ApplySummary> {
    const opts = this.#opts;
    const deps = this.#deps;
    this.#env.signal?.addEventListener('abort', this.#onSignal, { once: true });
    this.#emit({
      type: 'fleet.started',
      moves: this.#pending.length,
      concurrency: this.#concurrency,
      perShard: this.#perShard,
      until: opts.until ? opts.until.toISOString() : null,
      runner: `${deps.runner.host}:${deps.runner.pid}`,
    });
    try {
      await withLockSession(this.#env.lockDb, (locks) => this.#schedule(locks));
    } finally {
      this.#env.signal?.removeEventListener('abort', this.#onSignal);
      await Promise.allSettled([...this.#running]);
    }
    for (const m of this.#pending) {
      if (!this.#outcomes.has(m.seq)) this.#record(m, { outcome: 'not-started', moveId: null, message: `not started (${this.#stoppedBecause ?? 'stopped'})` });
    }
    const list = [...this.#outcomes.values()].sort((a, b) => a.seq - b.seq);
    const counts = countOutcomes(list);
    const exitCode = applyExitCode(list);
    this.#emit({ type: 'fleet.finished', counts, exitCode });
    return { outcomes: list, counts, stoppedBecause: this.#stoppedBecause, exitCode };
  }

  /** Rounds until the run is over: start what may start, then wait for a move to end or the poll interval. */
  async #schedule(locks: NamedLocks): Promise<void> {
    let lastWaiting = '';
    for (;;) {
      this.#checkStop();
      const blockedReason = this.#stoppedBecause === null ? await this.#round(locks) : '';
      if (runIsOver({ running: this.#running.size, pending: this.#pending.length, stopped: this.#stoppedBecause !== null })) break;
      if (blockedReason && this.#running.size === 0 && blockedReason !== lastWaiting) {
        this.#emit({ type: 'fleet.waiting', reason: `${blockedReason}; waiting` });
        lastWaiting = blockedReason;
      }
      await Promise.race([...this.#running, sleep(this.#pollMs)]);
    }
  }

  /** One round: claim and start moves in plan order while there is room. Returns why a move had to wait, if one did. */
  async #round(locks: NamedLocks): Promise<string> {
    let blockedReason = '';
    const tried = new Set<number>();
    for (;;) {
      const next = pickNext({
        pending: this.#pending,
        tried,
        running: this.#running.size,
        concurrency: this.#concurrency,
        use: this.#use,
        stopped: this.#stoppedBecause !== null,
      });
      if (next.kind === 'end-round') return blockedReason;
      const m = next.move;
      tried.add(m.seq);
      if (next.kind === 'pass') continue;
      const c = await this.#claim(locks, m);
      if (c.kind === 'blocked') {
        blockedReason = c.reason;
        continue;
      }
      this.#pending.splice(this.#pending.indexOf(m), 1);
      if (c.kind === 'skip') {
        const o = this.#record(m, { outcome: c.outcome, moveId: null, message: c.message });
        this.#emit({
          type: 'fleet.move.finished',
          seq: m.seq,
          userId: m.userId,
          from: m.from,
          to: m.to,
          outcome: o.outcome,
          moveId: null,
          ms: 0,
          message: c.message,
        });
        continue;
      }
      if (!this.#use.fits(c.from, m.to)) {
        // the journal says the move comes from another shard than planned, and that one is busy here
        await c.release();
        this.#pending.unshift(m);
        continue;
      }
      this.#start(m, c.from, c.release);
    }
  }

  #start(m: PlanDocumentMove, from: number, release: () => Promise<void>): void {
    const opts = this.#opts;
    this.#use.take(from, m.to);
    this.#started++;
    const p: Promise<void> = this.#queue.add(() => this.#execute(m, from, release)).finally(() => this.#running.delete(p));
    this.#running.add(p);
    if (opts.maxMoves !== undefined && this.#started >= opts.maxMoves && this.#pending.length > 0) {
      this.#stop('max-moves', `${this.#started} moves started (--max-moves ${opts.maxMoves}): no new moves`, false);
    }
  }

  #now(): Date {
    return this.#deps.clock.now();
  }

  #emit(e: FleetEventInput): void {
    this.#env.onEvent({ ...e, at: this.#now().toISOString() } as FleetEvent);
  }

  #stop(cause: StopCause, detail: string, haltRunning: boolean): void {
    if (haltRunning && !this.#halt.signal.aborted) this.#halt.abort();
    if (this.#stoppedBecause !== null) return;
    this.#stoppedBecause = cause;
    this.#emit({ type: 'fleet.stopping', reason: cause, detail });
  }

  #checkStop(): void {
    const opts = this.#opts;
    if (this.#env.signal?.aborted) this.#onSignal();
    if (opts.stopFile && this.#fileExists(opts.stopFile)) {
      this.#stop('stop-file', `stop file ${opts.stopFile} exists: no new moves; running moves stop at their next safe point`, true);
    }
    if (opts.until && this.#now().getTime() >= opts.until.getTime()) {
      this.#stop('until', `it is past --until ${hhmm(opts.until)}: no new moves; running moves finish`, false);
    }
  }

  #record(m: PlanDocumentMove, o: OutcomeFields, from = m.from): MoveOutcome {
    const full: MoveOutcome = { seq: m.seq, userId: m.userId, from, to: m.to, ...o };
    this.#outcomes.set(m.seq, full);
    return full;
  }

  async #takeSlot(locks: NamedLocks, shard: number): Promise<string | null> {
    for (let k = 1; k <= this.#perShard; k++) {
      const name = lockNames.shardSlot(this.#deps.topology, shard, k);
      if (locks.holds(name)) continue;
      if (await locks.tryLock(name)) return name;
    }
    return null;
  }

  /** The user's lock, then the journal and the mapping (skip what is done, stale or another's), then a slot on both shards. */
  async #claim(locks: NamedLocks, m: PlanDocumentMove): Promise<Claim> {
    const deps = this.#deps;
    const userLock = lockNames.user(deps.topology, m.userId);
    if (!(await locks.tryLock(userLock))) return { kind: 'skip', outcome: 'busy', message: 'claimed by another runner' };
    const held = [userLock];
    const release = async () => {
      for (const n of held.reverse()) await locks.release(n);
    };
    try {
      const active = await this.#journal.activeForUser(m.userId);
      let from = m.from;
      if (active) {
        if (Number(active.to_shard) !== m.to) {
          await release();
          return {
            kind: 'skip',
            outcome: 'busy',
            message: `user ${m.userId} has an unfinished move ${active.id} to shard ${active.to_shard} (fw-shard resume or abort it)`,
          };
        }
        from = Number(active.from_shard);
      } else {
        const placed = await this.#inspector.placement(deps.topology.mapping, m.userId);
        if (placed === m.to) {
          await release();
          return { kind: 'skip', outcome: 'skipped-done', message: `already on shard ${m.to}` };
        }
        if (placed === null || placed !== m.from) {
          await release();
          return {
            kind: 'skip',
            outcome: 'stale',
            message:
              placed === null
                ? `user ${m.userId} no longer exists`
                : `user ${m.userId} is now on shard ${placed}, not on shard ${m.from} as planned: make a new plan`,
          };
        }
      }
      for (const s of from === m.to ? [from] : [from, m.to]) {
        const slot = await this.#takeSlot(locks, s);
        if (!slot) {
          await release();
          return { kind: 'blocked', reason: `shard ${s} is in ${this.#perShard} move(s) of another runner` };
        }
        held.push(slot);
      }
      return { kind: 'go', from, release };
    } catch (err) {
      await release();
      throw err;
    }
  }

  /** Run one claimed move: wait for the throttler, run it, record its outcome, give back its locks and slots. */
  async #execute(m: PlanDocumentMove, from: number, release: () => Promise<void>): Promise<void> {
    const deps = this.#deps;
    const t0 = this.#now();
    const base = { seq: m.seq, userId: m.userId, from, to: m.to };
    this.#emit({ type: 'fleet.move.started', ...base });
    let outcome: OutcomeFields;
    try {
      // Nothing is written before the throttler lets the move start.
      if (deps.throttler) {
        await deps.throttler.wait({
          from,
          to: m.to,
          signal: this.#halt.signal,
          report: (r) =>
            r.throttled
              ? this.#emit({ type: 'fleet.throttled', ...base, reason: r.reason })
              : this.#emit({ type: 'fleet.resumed', ...base, throttledMs: r.ms }),
        });
      }
      this.#checkStop();
      if (this.#halt.signal.aborted || this.#stoppedBecause === 'until') {
        outcome = { outcome: 'not-started', moveId: null, message: `not started: ${this.#stoppedBecause ?? 'stopped'}` };
      } else {
        const moveDeps: MoveDeps = { ...deps, events: (e) => this.#env.onMoveEvent(m, e) };
        const req: MoveAsk = { ...this.#opts.request, userId: m.userId as UserId, to: m.to as ShardId, dryRun: false };
        const r = await runMove(moveDeps, req, { signal: this.#halt.signal });
        outcome = {
          outcome: r.nothingToDo ? 'skipped-done' : r.resumed ? 'resumed' : 'done',
          moveId: r.moveId,
          message: r.nextStep,
        };
      }
    } catch (err) {
      outcome = failureOutcome(err);
      if (err instanceof FwShardError && err.code === 'USAGE') {
        // A usage error (e.g. --assume-no-writes missing) applies to every move: start no more.
        this.#stop('usage', `a move was refused as a usage error: ${firstLine(err.message)}`, false);
      }
    } finally {
      await release().catch(() => undefined);
      this.#use.give(from, m.to);
    }
    const t1 = this.#now();
    const o = this.#record(m, { ...outcome, startedAt: t0.toISOString(), finishedAt: t1.toISOString(), ms: t1.getTime() - t0.getTime() }, from);
    this.#emit({
      type: 'fleet.move.finished',
      ...base,
      outcome: o.outcome,
      moveId: o.moveId,
      ms: o.ms!,
      ...(o.code ? { code: o.code } : {}),
      ...(o.message ? { message: firstLine(o.message) } : {}),
    });
  }
}

function failureOutcome(err: unknown): Omit<MoveOutcome, 'seq' | 'userId' | 'from' | 'to'> {
  if (err instanceof FwShardError) {
    const moveId = partialResultOf(err)?.moveId ?? null;
    if (err.code === 'BUSY') return { outcome: 'busy', moveId, code: err.code, exitCode: err.exitCode, message: err.message };
    if (err.code === 'INTERRUPTED') return { outcome: 'interrupted', moveId, code: err.code, exitCode: err.exitCode, message: err.message };
    return { outcome: 'failed', moveId, code: err.code, exitCode: err.exitCode, message: err.message };
  }
  const e = err as Error;
  return { outcome: 'failed', moveId: null, code: 'INTERNAL', exitCode: 70, message: `internal error (a bug): ${e?.stack ?? String(err)}` };
}

const firstLine = (s: string) => s.split('\n')[0]!;
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const pad = (n: number) => String(n).padStart(2, '0');
const hhmm = (d: Date) => `${pad(d.getHours())}:${pad(d.getMinutes())}`;

/**
 * The next time the wall clock shows HH:MM (local time), after `from`: `--until 05:00` started at 23:00
 * means tomorrow 05:00; "24:00" is the coming midnight.
 */
export function nextClockTime(text: string, from: Date): Date {
  const m = /^([01]?[0-9]|2[0-4]):([0-5][0-9])$/.exec(text.trim());
  if (!m || (Number(m[1]) === 24 && m[2] !== '00')) {
    throw new FwShardError('USAGE', `--until must be a time of day as HH:MM (00:00 to 24:00), got '${text}'`);
  }
  const d = new Date(from.getTime());
  d.setHours(Number(m[1]), Number(m[2]), 0, 0);
  if (d.getTime() <= from.getTime()) d.setDate(d.getDate() + 1);
  return d;
}

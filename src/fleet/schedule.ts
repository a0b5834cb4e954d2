/**
 * The pure part of applying a plan: which move to try next, this runner's count of moves per shard, and
 * when a run is over. No locks, no servers, no clock: src/fleet/apply.ts claims and executes what this
 * picks, and the rules are unit-tested here.
 */

/** What the scheduler needs to know of a planned move. */
interface Schedulable {
  seq: number;
  from: number;
  to: number;
}

/**
 * This runner's moves per shard (a move counts on its source and its target; one on its own shard
 * counts once). The fleet-wide limit is kept by slot locks on the mapping server; this one saves asking
 * for a slot this runner already fills.
 */
export class ShardUse {
  readonly #use = new Map<number, number>();
  constructor(readonly perShard: number) {}

  free(shard: number): boolean {
    return (this.#use.get(shard) ?? 0) < this.perShard;
  }
  /** Both shards of a move have room. */
  fits(from: number, to: number): boolean {
    return this.free(from) && this.free(to);
  }
  take(from: number, to: number): void {
    this.#add(from, 1);
    if (from !== to) this.#add(to, 1);
  }
  give(from: number, to: number): void {
    this.#add(from, -1);
    if (from !== to) this.#add(to, -1);
  }
  #add(shard: number, d: number): void {
    this.#use.set(shard, (this.#use.get(shard) ?? 0) + d);
  }
}

export interface SchedulerState<M extends Schedulable> {
  /** Moves not yet claimed, in plan order. */
  pending: readonly M[];
  /** Seqs already looked at in this round (claimed, skipped, blocked or without room). */
  tried: ReadonlySet<number>;
  /** Moves running now, and how many may run at once. */
  running: number;
  concurrency: number;
  use: Pick<ShardUse, 'fits'>;
  /** A stop was asked for (until, stop file, signal, max moves, a usage error): start nothing. */
  stopped: boolean;
}

type NextStep<M> =
  /** Nothing more to start in this round: full, stopped, or every pending move looked at. */
  | { kind: 'end-round' }
  /** This runner already fills a shard of the move: look at it again next round. */
  | { kind: 'pass'; move: M }
  /** Try to claim the move (its user lock, then slots on its shards). */
  | { kind: 'claim'; move: M };

/**
 * The next step of a scheduling round: moves are looked at once per round, in plan order, while there
 * is room to run one more.
 */
export function pickNext<M extends Schedulable>(s: SchedulerState<M>): NextStep<M> {
  if (s.running >= s.concurrency || s.stopped) return { kind: 'end-round' };
  const move = s.pending.find((m) => !s.tried.has(m.seq));
  if (!move) return { kind: 'end-round' };
  return s.use.fits(move.from, move.to) ? { kind: 'claim', move } : { kind: 'pass', move };
}

/** The run is over when nothing runs and nothing more will start. */
export function runIsOver(s: { running: number; pending: number; stopped: boolean }): boolean {
  return s.running === 0 && (s.pending === 0 || s.stopped);
}

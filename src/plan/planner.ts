/**
 * The fleet planner: a pure function from exact per-user sizes on every shard to a list of moves and
 * the expected size of every shard before and after. No I/O, no clock, no randomness: the same facts
 * and options always give the same plan, whatever order the facts came in.
 *
 * Invariants (checked by test/unit/planner.test.ts):
 *  - every move improves the balance (Citus' rebalancer rule), so a plan cut short (--max-moves, a
 *    closed window, Ctrl-C) still leaves the fleet better than before:
 *      balance: the sum of squared loads of the shards taking part strictly decreases with each move
 *               (moving w from s to t changes it by 2w(w - (Ls - Lt)), which is < 0 iff 0 < w < Ls - Lt);
 *      drain/graduate: the number of users left on the drained shards strictly decreases;
 *  - a user appears in a plan at most once;
 *  - the bytes moved never exceed --max-bytes, the moves never exceed --max-moves.
 */

export type Metric = 'bytes' | 'rows' | 'users';
export const METRICS: readonly Metric[] = ['bytes', 'rows', 'users'];

export interface UserSize {
  userId: string;
  rows: bigint;
  bytes: bigint;
}

export interface ShardFacts {
  id: number;
  /** The shard is db_main's own database (poor man's federation): never a default target. */
  isMain: boolean;
  /** The users mapped to this shard, with their exact sizes on it. */
  users: readonly UserSize[];
}

type PlanMode = 'balance' | 'drain' | 'graduate';

export interface PlanOptions {
  mode: PlanMode;
  by: Metric;
  /**
   * balance: shards users may leave (default: every shard that is not db_main's database);
   * drain: the shards to empty (required); graduate: the db_main shard(s) to empty (required).
   */
  from?: readonly number[];
  /** Shards that may receive users (default: every shard that is not db_main's database nor drained). */
  to?: readonly number[];
  maxMoves?: number;
  maxBytes?: bigint;
  /** balance: a shard counts as balanced within this percentage of the average load. Default 10. */
  thresholdPct?: number;
}

interface PlannedMove {
  seq: number;
  userId: string;
  from: number;
  to: number;
  rows: bigint;
  bytes: bigint;
}

export interface ShardLoad {
  users: number;
  rows: bigint;
  bytes: bigint;
}

interface ShardOutlook {
  id: number;
  isMain: boolean;
  before: ShardLoad;
  after: ShardLoad;
}

type StopReason = 'balanced' | 'drained' | 'max-moves' | 'max-bytes' | 'no-improving-move' | 'nothing-to-do';

export interface PlanOutcome {
  mode: PlanMode;
  by: Metric;
  /** Shards whose balance the plan considers (balance: sources ∪ targets). */
  participants: number[];
  sources: number[];
  targets: number[];
  thresholdPct: number;
  moves: PlannedMove[];
  shards: ShardOutlook[];
  stoppedBecause: StopReason;
  totals: { moves: number; rows: bigint; bytes: bigint };
  notes: string[];
}

const DEFAULT_THRESHOLD_PCT = 10;

/** The weight of a user under a metric. */
export function weightOf(u: Pick<UserSize, 'rows' | 'bytes'>, by: Metric): bigint {
  return by === 'bytes' ? u.bytes : by === 'rows' ? u.rows : 1n;
}

/** Compare decimal user ids numerically (ids beyond 2^53 stay exact). */
function compareUserIds(a: string, b: string): number {
  if (a.length !== b.length && /^[0-9]+$/.test(a) && /^[0-9]+$/.test(b)) {
    const x = BigInt(a);
    const y = BigInt(b);
    return x < y ? -1 : x > y ? 1 : 0;
  }
  return a < b ? -1 : a > b ? 1 : 0;
}

const cmpBig = (a: bigint, b: bigint) => (a < b ? -1 : a > b ? 1 : 0);

export class PlanError extends Error {}

interface State {
  facts: Map<number, ShardFacts>;
  load: Map<number, bigint>;
  /** Users still on each shard that may move (not moved by this plan yet). */
  movable: Map<number, UserSize[]>;
  moved: Set<string>;
  moves: PlannedMove[];
  bytesMoved: bigint;
}

function validate(shards: readonly ShardFacts[], o: PlanOptions): void {
  const ids = new Set<number>();
  const users = new Set<string>();
  for (const s of shards) {
    if (ids.has(s.id)) throw new PlanError(`shard ${s.id} appears twice in the facts`);
    ids.add(s.id);
    for (const u of s.users) {
      if (users.has(u.userId)) throw new PlanError(`user ${u.userId} is listed on two shards`);
      users.add(u.userId);
      if (u.rows < 0n || u.bytes < 0n) throw new PlanError(`user ${u.userId} has a negative size`);
    }
  }
  for (const id of [...(o.from ?? []), ...(o.to ?? [])]) if (!ids.has(id)) throw new PlanError(`shard ${id} is not in the topology`);
  if (o.maxMoves !== undefined && (!Number.isInteger(o.maxMoves) || o.maxMoves < 1)) throw new PlanError('maxMoves must be a whole number ≥ 1');
  if (o.maxBytes !== undefined && o.maxBytes < 1n) throw new PlanError('maxBytes must be ≥ 1');
  const th = o.thresholdPct ?? DEFAULT_THRESHOLD_PCT;
  if (!(th >= 0 && th <= 100)) throw new PlanError('the threshold must be between 0 and 100 (percent)');
  if ((o.mode === 'drain' || o.mode === 'graduate') && (o.from ?? []).length === 0) throw new PlanError(`${o.mode} needs the shard(s) to empty`);
  if (o.mode === 'graduate' && (o.to ?? []).length === 0) throw new PlanError('graduate needs the target shards (--to 2,3,4)');
}

const sorted = (xs: Iterable<number>) => [...new Set(xs)].sort((a, b) => a - b);

/**
 * Compute a plan. Throws PlanError for contradictory options (a shard both drained and a target, no
 * target left, unknown shard ids).
 */
export function planMoves(shardFacts: readonly ShardFacts[], o: PlanOptions): PlanOutcome {
  validate(shardFacts, o);
  const by = o.by;
  const thresholdPct = o.thresholdPct ?? DEFAULT_THRESHOLD_PCT;
  const facts = new Map([...shardFacts].sort((a, b) => a.id - b.id).map((s) => [s.id, s]));
  const all = [...facts.keys()];
  const mainIds = all.filter((id) => facts.get(id)!.isMain);
  const notes: string[] = [];

  let sources: number[];
  let targets: number[];
  if (o.mode === 'balance') {
    sources = sorted(o.from ?? all.filter((id) => !facts.get(id)!.isMain));
    targets = sorted(o.to ?? all.filter((id) => !facts.get(id)!.isMain));
  } else {
    sources = sorted(o.from!);
    targets = sorted(o.to ?? all.filter((id) => !facts.get(id)!.isMain && !sources.includes(id)));
    const both = targets.filter((t) => sources.includes(t));
    if (both.length) throw new PlanError(`shard ${both.join(', ')} cannot be emptied and receive users at once`);
    if (o.mode === 'graduate') {
      const notMain = sources.filter((s) => !facts.get(s)!.isMain);
      if (notMain.length) throw new PlanError(`graduate moves users off db_main's own database; shard ${notMain.join(', ')} is a real shard (use --drain)`);
    }
  }
  if (targets.length === 0) throw new PlanError('no shard can receive users (give --to)');
  if (o.mode === 'balance' && sorted([...sources, ...targets]).length < 2) throw new PlanError('balancing needs at least two shards');
  const participants = o.mode === 'balance' ? sorted([...sources, ...targets]) : sorted([...sources, ...targets]);
  if (mainIds.length && o.mode === 'balance' && !o.to) {
    notes.push(`shard ${mainIds.join(', ')} is db_main's own database: it receives no users (graduate moves users off it)`);
  }

  const st: State = {
    facts,
    load: new Map(all.map((id) => [id, facts.get(id)!.users.reduce((a, u) => a + weightOf(u, by), 0n)])),
    movable: new Map(all.map((id) => [id, [...facts.get(id)!.users].sort((a, b) => compareUserIds(a.userId, b.userId))])),
    moved: new Set(),
    moves: [],
    bytesMoved: 0n,
  };

  const stoppedBecause = o.mode === 'balance' ? balance(st, sources, targets, participants, o, thresholdPct) : drain(st, sources, targets, o);
  const after = new Map(all.map((id) => [id, loadOf(facts.get(id)!.users)]));
  for (const m of st.moves) {
    const f = after.get(m.from)!;
    const t = after.get(m.to)!;
    after.set(m.from, { users: f.users - 1, rows: f.rows - m.rows, bytes: f.bytes - m.bytes });
    after.set(m.to, { users: t.users + 1, rows: t.rows + m.rows, bytes: t.bytes + m.bytes });
  }
  return {
    mode: o.mode,
    by,
    participants,
    sources,
    targets,
    thresholdPct,
    moves: st.moves,
    shards: all.map((id) => ({ id, isMain: facts.get(id)!.isMain, before: loadOf(facts.get(id)!.users), after: after.get(id)! })),
    stoppedBecause,
    totals: { moves: st.moves.length, rows: st.moves.reduce((a, m) => a + m.rows, 0n), bytes: st.bytesMoved },
    notes,
  };
}

function loadOf(users: readonly UserSize[]): ShardLoad {
  return { users: users.length, rows: users.reduce((a, u) => a + u.rows, 0n), bytes: users.reduce((a, u) => a + u.bytes, 0n) };
}

function take(st: State, u: UserSize, from: number, to: number, by: Metric): void {
  const list = st.movable.get(from)!;
  list.splice(list.indexOf(u), 1);
  st.moved.add(u.userId);
  const w = weightOf(u, by);
  st.load.set(from, st.load.get(from)! - w);
  st.load.set(to, st.load.get(to)! + w);
  st.bytesMoved += u.bytes;
  st.moves.push({ seq: st.moves.length + 1, userId: u.userId, from, to, rows: u.rows, bytes: u.bytes });
}

/** |L - avg| ≤ avg·pct/100 for every participant, in exact integer arithmetic. */
export function isBalanced(loads: readonly bigint[], thresholdPct: number): boolean {
  if (loads.length === 0) return true;
  const n = BigInt(loads.length);
  const total = loads.reduce((a, b) => a + b, 0n);
  // |L·n - total|·100·1000 ≤ total·pct·1000 (pct to 3 decimals)
  const pct = BigInt(Math.round(thresholdPct * 1000));
  return loads.every((l) => {
    const dev = l * n - total;
    return (dev < 0n ? -dev : dev) * 100_000n <= total * pct;
  });
}

/** Sum of squared loads: the balance plan's monotone metric (strictly decreases with every move). */
export function sumOfSquares(loads: readonly bigint[]): bigint {
  return loads.reduce((a, l) => a + l * l, 0n);
}

function balance(st: State, sources: number[], targets: number[], participants: number[], o: PlanOptions, thresholdPct: number): StopReason {
  const by = o.by;
  let budgetBlocked = false;
  for (;;) {
    if (
      isBalanced(
        participants.map((id) => st.load.get(id)!),
        thresholdPct,
      )
    )
      return st.moves.length ? 'balanced' : 'nothing-to-do';
    if (o.maxMoves !== undefined && st.moves.length >= o.maxMoves) return 'max-moves';
    // Fullest source first, emptiest target first; the first pair with an improving move wins.
    const byLoadDesc = (a: number, b: number) => cmpBig(st.load.get(b)!, st.load.get(a)!) || a - b;
    const srcs = [...sources].sort(byLoadDesc);
    const tgts = [...targets].sort((a, b) => cmpBig(st.load.get(a)!, st.load.get(b)!) || a - b);
    let chosen: { u: UserSize; s: number; t: number } | null = null;
    for (const s of srcs) {
      for (const t of tgts) {
        if (s === t) continue;
        const d = st.load.get(s)! - st.load.get(t)!;
        if (d <= 1n) continue;
        const pick = bestUser(st.movable.get(s)!, d, by, o.maxBytes === undefined ? null : o.maxBytes - st.bytesMoved);
        if (pick.blockedByBudget) budgetBlocked = true;
        if (pick.user) {
          chosen = { u: pick.user, s, t };
          break;
        }
      }
      if (chosen) break;
    }
    if (!chosen) return budgetBlocked ? 'max-bytes' : st.moves.length ? 'no-improving-move' : 'nothing-to-do';
    take(st, chosen.u, chosen.s, chosen.t, by);
  }
}

/**
 * The user whose move from s to t (load difference d) lowers the sum of squares most: its weight w
 * maximises w·(d − w) with 0 < w < d, i.e. is nearest d/2; ties: fewer bytes, then the lower user id.
 */
function bestUser(users: readonly UserSize[], d: bigint, by: Metric, budget: bigint | null): { user: UserSize | null; blockedByBudget: boolean } {
  let best: UserSize | null = null;
  let bestGain = 0n;
  let blockedByBudget = false;
  for (const u of users) {
    const w = weightOf(u, by);
    if (w <= 0n || w >= d) continue;
    if (budget !== null && u.bytes > budget) {
      blockedByBudget = true;
      continue;
    }
    const gain = w * (d - w);
    if (gain > bestGain || (gain === bestGain && best && (u.bytes < best.bytes || (u.bytes === best.bytes && compareUserIds(u.userId, best.userId) < 0)))) {
      best = u;
      bestGain = gain;
    }
  }
  return { user: best, blockedByBudget: best === null && blockedByBudget };
}

function drain(st: State, sources: number[], targets: number[], o: PlanOptions): StopReason {
  const by = o.by;
  // Largest users first (longest-processing-time order balances the targets best), then by user id.
  const queue: { u: UserSize; from: number }[] = [];
  for (const s of sources) for (const u of st.movable.get(s)!) queue.push({ u, from: s });
  queue.sort((a, b) => cmpBig(weightOf(b.u, by), weightOf(a.u, by)) || cmpBig(b.u.bytes, a.u.bytes) || compareUserIds(a.u.userId, b.u.userId));
  if (queue.length === 0) return 'nothing-to-do';
  let skippedForBudget = false;
  for (const { u, from } of queue) {
    if (o.maxMoves !== undefined && st.moves.length >= o.maxMoves) return 'max-moves';
    if (o.maxBytes !== undefined && st.bytesMoved + u.bytes > o.maxBytes) {
      skippedForBudget = true;
      continue;
    }
    const to = [...targets].sort((a, b) => cmpBig(st.load.get(a)!, st.load.get(b)!) || a - b)[0]!;
    take(st, u, from, to, by);
  }
  return skippedForBudget ? 'max-bytes' : 'drained';
}

/**
 * The fleet planner (src/plan/planner.ts): balance by bytes/rows/users, drain, graduate, threshold,
 * max-moves, max-bytes, and its invariants on many random fleets: every move improves the balance
 * (sum of squared loads strictly decreases; drained shards lose a user with every move), no user moves
 * twice, limits hold, and the output does not depend on the order of the facts.
 */
import { describe, expect, it } from 'vitest';
import {
  isBalanced,
  PlanError,
  planMoves,
  sumOfSquares,
  weightOf,
  type Metric,
  type PlanOptions,
  type PlanOutcome,
  type ShardFacts,
  type UserSize,
} from '../../src/plan/planner.js';
import { checkPlanAgainstTopology, parsePlanDocument, planDocument } from '../../src/plan/plan-file.js';
import { FwShardError } from '../../src/errors/index.js';
import type { Topology } from '../../src/topology/index.js';
import { prng } from '../../src/sandbox/data.js';

let nextId = 1;
const u = (bytes: number, rows = Math.max(1, Math.round(bytes / 100)), id?: string): UserSize => ({
  userId: id ?? String(nextId++),
  rows: BigInt(rows),
  bytes: BigInt(bytes),
});
const shard = (id: number, users: UserSize[], isMain = false): ShardFacts => ({ id, isMain, users });

/** Replay a plan on the facts: loads per shard under a metric after each move. */
function replay(facts: ShardFacts[], p: PlanOutcome, by: Metric): { loads: Map<number, bigint>[]; users: Map<number, number>[] } {
  const load = new Map(facts.map((s) => [s.id, s.users.reduce((a, x) => a + weightOf(x, by), 0n)]));
  const users = new Map(facts.map((s) => [s.id, s.users.length]));
  const where = new Map(facts.flatMap((s) => s.users.map((x) => [x.userId, s.id] as const)));
  const size = new Map(facts.flatMap((s) => s.users.map((x) => [x.userId, x] as const)));
  const loads = [new Map(load)];
  const counts = [new Map(users)];
  for (const m of p.moves) {
    expect(where.get(m.userId), `user ${m.userId} is on shard ${m.from} when move ${m.seq} runs`).toBe(m.from);
    const w = weightOf(size.get(m.userId)!, by);
    expect(m.bytes).toBe(size.get(m.userId)!.bytes);
    expect(m.rows).toBe(size.get(m.userId)!.rows);
    load.set(m.from, load.get(m.from)! - w);
    load.set(m.to, load.get(m.to)! + w);
    users.set(m.from, users.get(m.from)! - 1);
    users.set(m.to, users.get(m.to)! + 1);
    where.set(m.userId, m.to);
    loads.push(new Map(load));
    counts.push(new Map(users));
  }
  return { loads, users: counts };
}

const sq = (m: Map<number, bigint>, ids: number[]) => sumOfSquares(ids.map((id) => m.get(id)!));

describe('planner: balance', () => {
  it('moves from the fullest shard to the emptiest the user nearest half their difference, and stops when balanced', () => {
    const facts = [shard(1, [u(500, 5, '1'), u(300, 3, '2'), u(100, 1, '3'), u(100, 1, '4')]), shard(2, [u(100, 1, '5')])];
    const p = planMoves(facts, { mode: 'balance', by: 'bytes', thresholdPct: 10 });
    // loads 1000 vs 100: d = 900; the gain w·(d − w) is 500·400 for user 1, 300·600 for user 2: user 1
    expect(p.moves[0]).toMatchObject({ userId: '1', from: 1, to: 2 });
    expect(p.shards.find((s) => s.id === 1)!.after.bytes).toBe(500n);
    expect(p.shards.find((s) => s.id === 2)!.after.bytes).toBe(600n);
    expect(p.stoppedBecause).toBe('balanced');
    expect(p.totals).toEqual({ moves: 1, rows: 5n, bytes: 500n });
  });

  it('reports shards before and after with users, rows and bytes, whatever the metric', () => {
    const facts = [shard(1, [u(10, 1, '1'), u(10, 1, '2'), u(10, 1, '3'), u(10, 1, '4')]), shard(2, [])];
    const p = planMoves(facts, { mode: 'balance', by: 'users' });
    expect(p.moves.map((m) => m.userId)).toEqual(['1', '2']);
    expect(p.shards).toEqual([
      { id: 1, isMain: false, before: { users: 4, rows: 4n, bytes: 40n }, after: { users: 2, rows: 2n, bytes: 20n } },
      { id: 2, isMain: false, before: { users: 0, rows: 0n, bytes: 0n }, after: { users: 2, rows: 2n, bytes: 20n } },
    ]);
  });

  it('balances by rows and by users differently from bytes', () => {
    // shard 1: one user with many small rows; shard 2: few users with big rows
    const facts = [
      shard(1, [u(1000, 100, '1'), u(1000, 100, '2')]),
      shard(2, [u(5000, 10, '3'), u(5000, 10, '4'), u(5000, 10, '5'), u(5000, 10, '6')]),
      shard(3, []),
    ];
    const byBytes = planMoves(facts, { mode: 'balance', by: 'bytes' });
    const byRows = planMoves(facts, { mode: 'balance', by: 'rows' });
    const byUsers = planMoves(facts, { mode: 'balance', by: 'users' });
    expect(byBytes.moves[0]!.from).toBe(2);
    expect(byRows.moves[0]!.from).toBe(1);
    expect(byUsers.moves[0]!.from).toBe(2);
    expect(byUsers.shards.map((s) => s.after.users)).toEqual([2, 2, 2]);
  });

  it('never moves a user whose move would not improve the balance (a jumbo user stays)', () => {
    const facts = [shard(1, [u(1000, 10, '1')]), shard(2, [u(10, 1, '2')])];
    const p = planMoves(facts, { mode: 'balance', by: 'bytes' });
    expect(p.moves).toEqual([]);
    expect(p.stoppedBecause).toBe('nothing-to-do');
  });

  it('moves nobody when already within the threshold; a lower threshold moves more', () => {
    const facts = [shard(1, [u(105, 1, '1'), u(10, 1, '9')]), shard(2, [u(100, 1, '2')])];
    expect(planMoves(facts, { mode: 'balance', by: 'bytes', thresholdPct: 15 }).moves).toEqual([]);
    const strict = planMoves(facts, { mode: 'balance', by: 'bytes', thresholdPct: 0 });
    expect(strict.moves.map((m) => m.userId)).toEqual(['9']);
  });

  it('respects --max-moves and --max-bytes, saying why it stopped', () => {
    const many = Array.from({ length: 20 }, (_, i) => u(100, 1, String(100 + i)));
    const facts = [shard(1, many), shard(2, [])];
    const capped = planMoves(facts, { mode: 'balance', by: 'bytes', maxMoves: 3 });
    expect(capped.moves).toHaveLength(3);
    expect(capped.stoppedBecause).toBe('max-moves');
    const budget = planMoves(facts, { mode: 'balance', by: 'bytes', maxBytes: 450n });
    expect(budget.moves).toHaveLength(4);
    expect(budget.totals.bytes).toBe(400n);
    expect(budget.stoppedBecause).toBe('max-bytes');
  });

  it("--from and --to restrict sources and targets; db_main's shard is never a default target", () => {
    const facts = [
      shard(1, [u(100, 1, '1'), u(100, 1, '2'), u(100, 1, '3')], true),
      shard(2, [u(100, 1, '4'), u(100, 1, '5'), u(100, 1, '6')]),
      shard(3, []),
      shard(4, []),
    ];
    const p = planMoves(facts, { mode: 'balance', by: 'users' });
    expect(p.moves.every((m) => m.to !== 1 && m.from !== 1)).toBe(true);
    expect(p.notes.join(' ')).toMatch(/db_main's own database/);
    const onlyTo4 = planMoves(facts, { mode: 'balance', by: 'users', to: [4] });
    expect(new Set(onlyTo4.moves.map((m) => m.to))).toEqual(new Set([4]));
    const onlyFrom2 = planMoves(facts, { mode: 'balance', by: 'users', from: [2], to: [3, 4] });
    expect(onlyFrom2.moves.every((m) => m.from === 2)).toBe(true);
  });

  it('ignores users without rows when balancing bytes or rows (moving them changes nothing)', () => {
    const facts = [shard(1, [u(0, 0, '1'), u(0, 0, '2'), u(100, 1, '3'), u(100, 1, '4')]), shard(2, [])];
    const p = planMoves(facts, { mode: 'balance', by: 'bytes' });
    expect(p.moves.map((m) => m.userId)).toEqual(['3']);
  });

  it('refuses contradictory options', () => {
    const facts = [shard(1, [u(1)]), shard(2, [])];
    expect(() => planMoves(facts, { mode: 'balance', by: 'bytes', to: [9] })).toThrow(PlanError);
    expect(() => planMoves(facts, { mode: 'drain', by: 'bytes', from: [1], to: [1] })).toThrow(/cannot be emptied and receive/);
    expect(() => planMoves(facts, { mode: 'drain', by: 'bytes', from: [1, 2] })).toThrow(/no shard can receive/);
    expect(() => planMoves(facts, { mode: 'graduate', by: 'bytes', from: [1], to: [2] })).toThrow(/real shard/);
    expect(() => planMoves(facts, { mode: 'balance', by: 'bytes', thresholdPct: 120 })).toThrow(/threshold/);
    expect(() => planMoves([shard(1, [u(1, 1, '7')]), shard(2, [u(1, 1, '7')])], { mode: 'balance', by: 'bytes' })).toThrow(/two shards/);
  });
});

describe('planner: drain and graduate', () => {
  it('drains every user off a shard, largest first, each to the least loaded target', () => {
    const facts = [shard(1, [u(10, 1, '1'), u(300, 3, '2'), u(200, 2, '3'), u(50, 1, '4')]), shard(2, [u(100, 1, '5')]), shard(3, [u(150, 2, '6')])];
    const p = planMoves(facts, { mode: 'drain', by: 'bytes', from: [1] });
    expect(p.moves.map((m) => [m.userId, m.to])).toEqual([
      ['2', 2],
      ['3', 3],
      ['4', 3],
      ['1', 2],
    ]);
    expect(p.shards.find((s) => s.id === 1)!.after).toEqual({ users: 0, rows: 0n, bytes: 0n });
    expect(p.stoppedBecause).toBe('drained');
  });

  it('drains users without rows too, and obeys --to, --max-moves and --max-bytes', () => {
    const facts = [shard(1, [u(0, 0, '1'), u(500, 5, '2'), u(100, 1, '3')]), shard(2, []), shard(3, [])];
    expect(planMoves(facts, { mode: 'drain', by: 'bytes', from: [1], to: [3] }).moves.map((m) => m.to)).toEqual([3, 3, 3]);
    const capped = planMoves(facts, { mode: 'drain', by: 'bytes', from: [1], maxMoves: 2 });
    expect(capped.moves).toHaveLength(2);
    expect(capped.stoppedBecause).toBe('max-moves');
    const budget = planMoves(facts, { mode: 'drain', by: 'bytes', from: [1], maxBytes: 200n });
    expect(budget.moves.map((m) => m.userId)).toEqual(['3', '1']); // the 500-byte user does not fit; smaller ones still go
    expect(budget.stoppedBecause).toBe('max-bytes');
  });

  it("graduates users off db_main's shard onto the listed real shards, evenly", () => {
    const users = Array.from({ length: 9 }, (_, i) => u(100 + i, 1, String(i + 1)));
    const facts = [shard(1, users, true), shard(2, []), shard(3, []), shard(4, [])];
    const p = planMoves(facts, { mode: 'graduate', by: 'bytes', from: [1], to: [2, 3, 4] });
    expect(p.moves).toHaveLength(9);
    expect(p.moves.every((m) => m.from === 1)).toBe(true);
    expect(p.shards.map((s) => s.after.users)).toEqual([0, 3, 3, 3]);
    expect(() => planMoves(facts, { mode: 'graduate', by: 'bytes', from: [1] })).toThrow(/--to/);
  });
});

describe('planner: invariants on random fleets', () => {
  const rng = prng;
  function fleet(seed: number): ShardFacts[] {
    const r = rng(seed);
    const n = 2 + Math.floor(r() * 5);
    let id = 1;
    return Array.from({ length: n }, (_, i) => {
      const count = Math.floor(r() * (i === 0 ? 40 : 15));
      return shard(
        i + 1,
        Array.from({ length: count }, () => {
          const rows = Math.floor(r() ** 3 * 5000);
          return u(rows * (50 + Math.floor(r() * 200)), rows, String(id++ * 7 + 1000000));
        }),
        false,
      );
    });
  }
  const shuffle = <T>(xs: T[], r: () => number) => {
    const a = [...xs];
    for (let i = a.length - 1; i > 0; i--) {
      const j = Math.floor(r() * (i + 1));
      [a[i], a[j]] = [a[j]!, a[i]!];
    }
    return a;
  };

  for (const by of ['bytes', 'rows', 'users'] as const) {
    it(`balance by ${by}: every move strictly lowers the sum of squared loads; limits hold; deterministic`, () => {
      let total = 0;
      for (let seed = 1; seed <= 60; seed++) {
        const facts = fleet(seed);
        const opts: PlanOptions = {
          mode: 'balance',
          by,
          thresholdPct: seed % 3 === 0 ? 0 : 5,
          ...(seed % 4 === 0 ? { maxMoves: 5 } : {}),
          ...(seed % 5 === 0 ? { maxBytes: 200_000n } : {}),
        };
        const p = planMoves(facts, opts);
        total += p.moves.length;
        const ids = facts.map((s) => s.id);
        const { loads } = replay(facts, p, by);
        for (let i = 1; i < loads.length; i++) {
          expect(sq(loads[i]!, ids) < sq(loads[i - 1]!, ids), `seed ${seed} move ${i}`).toBe(true);
        }
        expect(new Set(p.moves.map((m) => m.userId)).size).toBe(p.moves.length);
        if (opts.maxMoves) expect(p.moves.length).toBeLessThanOrEqual(opts.maxMoves);
        if (opts.maxBytes) expect(p.totals.bytes <= opts.maxBytes).toBe(true);
        if (p.stoppedBecause === 'balanced')
          expect(
            isBalanced(
              ids.map((id) => loads[loads.length - 1]!.get(id)!),
              opts.thresholdPct!,
            ),
          ).toBe(true);
        // The same facts in any order (shards and users) give the same plan.
        const r = rng(seed * 31);
        const shuffled = shuffle(facts, r).map((s) => ({ ...s, users: shuffle([...s.users], r) }));
        expect(planMoves(shuffled, opts)).toEqual(p);
        // The summary's after-sizes match the replay.
        const final = loads[loads.length - 1]!;
        for (const s of p.shards) expect(by === 'users' ? BigInt(s.after.users) : by === 'rows' ? s.after.rows : s.after.bytes).toBe(final.get(s.id));
      }
      expect(total).toBeGreaterThan(100); // the fleets are unbalanced enough to exercise the planner
    });
  }

  it('drain: every move takes one user off the drained shard; the plan is the same for any order of facts', () => {
    for (let seed = 1; seed <= 40; seed++) {
      const facts = fleet(seed + 1000);
      const opts: PlanOptions = { mode: 'drain', by: 'bytes', from: [1], ...(seed % 3 === 0 ? { maxMoves: 4 } : {}) };
      const p = planMoves(facts, opts);
      const { users } = replay(facts, p, 'bytes');
      for (let i = 1; i < users.length; i++) expect(users[i]!.get(1)!).toBe(users[i - 1]!.get(1)! - 1);
      if (!opts.maxMoves) expect(p.shards[0]!.after.users).toBe(0);
      const r = rng(seed);
      expect(
        planMoves(
          shuffle(facts, r).map((s) => ({ ...s, users: shuffle([...s.users], r) })),
          opts,
        ),
      ).toEqual(p);
    }
  });

  it('a plan cut short still leaves the fleet better: every prefix lowers the spread', () => {
    const facts = fleet(7);
    const p = planMoves(facts, { mode: 'balance', by: 'bytes', thresholdPct: 0 });
    const ids = facts.map((s) => s.id);
    const { loads } = replay(facts, p, 'bytes');
    const first = sq(loads[0]!, ids);
    for (const l of loads.slice(1)) expect(sq(l, ids) < first).toBe(true);
  });
});

describe('plan file', () => {
  const facts = [shard(1, [u(500, 5, '11'), u(100, 1, '12')]), shard(2, [])];
  const outcome = planMoves(facts, { mode: 'balance', by: 'bytes' });
  const doc = planDocument(outcome, { createdAt: '2026-01-01T00:00:00.000Z', mapping: 'db_main (127.0.0.1:3306/flamework)' });

  it('is versioned JSON with sizes as strings, and reads back', () => {
    expect(doc.schemaVersion).toBe(1);
    expect(doc.kind).toBe('fw-shard-plan');
    expect(doc.moves[0]).toEqual({ seq: 1, userId: '12', from: 1, to: 2, rows: '1', bytes: '100' });
    expect(parsePlanDocument(JSON.stringify(doc), 'plan.json')).toEqual(doc);
  });

  it('refuses unknown versions, broken files, duplicate users and shards missing from the topology', () => {
    expect(() => parsePlanDocument(JSON.stringify({ ...doc, schemaVersion: 2 }), 'p.json')).toThrow(/schemaVersion 2 is not known/);
    expect(() => parsePlanDocument('{', 'p.json')).toThrow(/not JSON/);
    expect(() => parsePlanDocument(JSON.stringify({ ...doc, moves: [{ ...doc.moves[0], userId: 12 }] }), 'p.json')).toThrow(/moves.0.userId/);
    expect(() => parsePlanDocument(JSON.stringify({ ...doc, moves: [doc.moves[0], { ...doc.moves[0], seq: 2 }] }), 'p.json')).toThrow(/appears twice/);
    try {
      parsePlanDocument('{"kind":"other"}', 'p.json');
    } catch (err) {
      expect((err as FwShardError).exitCode).toBe(3);
    }
    const topology = { shards: new Map([[1, {}]]) } as unknown as Topology;
    expect(() => checkPlanAgainstTopology(doc, topology, 'p.json')).toThrow(/shard 2, which is not in the topology/);
  });
});

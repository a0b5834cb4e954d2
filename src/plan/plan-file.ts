/**
 * The plan file: versioned JSON (`schemaVersion`, `kind`), sizes as decimal strings. `apply` refuses a
 * file whose version it does not know (as changesets does with release plans) and one whose shards are
 * not in the topology.
 */
import { z } from 'zod';
import { FwShardError } from '../errors/index.js';
import type { Topology } from '../topology/index.js';
import { METRICS, type PlanOutcome, type ShardLoad } from './planner.js';

const PLAN_SCHEMA_VERSION = 1;
const PLAN_KIND = 'fw-shard-plan';

const digits = z.string().regex(/^[0-9]+$/, 'must be a decimal string');
const shardId = z.number().int().min(1).max(255);
const load = z.strictObject({ users: z.number().int().min(0), rows: digits, bytes: digits });

const planSchema = z.strictObject({
  schemaVersion: z.literal(PLAN_SCHEMA_VERSION),
  kind: z.literal(PLAN_KIND),
  createdAt: z.string(),
  mapping: z.string(),
  request: z.strictObject({
    mode: z.enum(['balance', 'drain', 'graduate']),
    by: z.enum(METRICS as [string, ...string[]]),
    from: z.array(shardId).nullable(),
    to: z.array(shardId).nullable(),
    maxMoves: z.number().int().min(1).nullable(),
    maxBytes: digits.nullable(),
    thresholdPct: z.number().min(0).max(100),
  }),
  /** How the sizes were found: estimated (owner indexes, table statistics) or exact (every row read). Absent in plans of older releases: exact. */
  sizes: z.enum(['estimated', 'exact']).optional(),
  participants: z.array(shardId),
  stoppedBecause: z.string(),
  totals: z.strictObject({ moves: z.number().int().min(0), rows: digits, bytes: digits }),
  shards: z.array(z.strictObject({ id: shardId, isMain: z.boolean(), before: load, after: load })),
  moves: z.array(
    z.strictObject({
      seq: z.number().int().min(1),
      userId: digits,
      from: shardId,
      to: shardId,
      rows: digits,
      bytes: digits,
    }),
  ),
  notes: z.array(z.string()),
});

export type PlanDocument = z.infer<typeof planSchema>;
export type PlanDocumentMove = PlanDocument['moves'][number];

const loadDoc = (l: ShardLoad) => ({ users: l.users, rows: l.rows.toString(), bytes: l.bytes.toString() });

export function planDocument(
  p: PlanOutcome,
  meta: {
    createdAt: string;
    mapping: string;
    sizes?: 'estimated' | 'exact';
    /** Notes of the facts (what sizing cost), before the planner's. */
    notes?: readonly string[];
    from?: readonly number[];
    to?: readonly number[];
    maxMoves?: number;
    maxBytes?: bigint;
  },
): PlanDocument {
  return {
    schemaVersion: PLAN_SCHEMA_VERSION,
    kind: PLAN_KIND,
    createdAt: meta.createdAt,
    mapping: meta.mapping,
    request: {
      mode: p.mode,
      by: p.by,
      from: meta.from ? [...meta.from] : null,
      to: meta.to ? [...meta.to] : null,
      maxMoves: meta.maxMoves ?? null,
      maxBytes: meta.maxBytes !== undefined ? meta.maxBytes.toString() : null,
      thresholdPct: p.thresholdPct,
    },
    ...(meta.sizes ? { sizes: meta.sizes } : {}),
    participants: p.participants,
    stoppedBecause: p.stoppedBecause,
    totals: { moves: p.totals.moves, rows: p.totals.rows.toString(), bytes: p.totals.bytes.toString() },
    shards: p.shards.map((s) => ({ id: s.id, isMain: s.isMain, before: loadDoc(s.before), after: loadDoc(s.after) })),
    moves: p.moves.map((m) => ({ seq: m.seq, userId: m.userId, from: m.from, to: m.to, rows: m.rows.toString(), bytes: m.bytes.toString() })),
    notes: [...(meta.notes ?? []), ...p.notes],
  };
}

/** Parse and check a plan file's text; every problem at once, as `path: problem`. */
export function parsePlanDocument(text: string, source: string): PlanDocument {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new FwShardError('PLAN_INVALID', `${source}: not JSON: ${(err as Error).message}`, { hint: 'Make a plan with fw-shard plan ... --out plan.json.' });
  }
  const j = json as { schemaVersion?: unknown; kind?: unknown };
  if (typeof j === 'object' && j !== null && j.kind === PLAN_KIND && j.schemaVersion !== PLAN_SCHEMA_VERSION) {
    throw new FwShardError(
      'PLAN_INVALID',
      `${source}: plan schemaVersion ${String(j.schemaVersion)} is not known to this fw-shard (it reads version ${PLAN_SCHEMA_VERSION})`,
      {
        hint: 'Make the plan again with this version of fw-shard.',
      },
    );
  }
  const r = planSchema.safeParse(json);
  if (!r.success) {
    const lines = r.error.issues.map((i) => `${i.path.length ? i.path.join('.') : '(top level)'}: ${i.message}`);
    throw new FwShardError('PLAN_INVALID', `${source} is not an fw-shard plan:\n  ${lines.join('\n  ')}`, {
      hint: 'Make a plan with fw-shard plan ... --out plan.json.',
    });
  }
  const doc = r.data;
  const seen = new Set<string>();
  for (const m of doc.moves) {
    if (seen.has(m.userId)) throw new FwShardError('PLAN_INVALID', `${source}: user ${m.userId} appears twice in the plan`);
    seen.add(m.userId);
    if (m.from === m.to) throw new FwShardError('PLAN_INVALID', `${source}: move ${m.seq} of user ${m.userId} goes from shard ${m.from} to itself`);
  }
  return doc;
}

/** Every shard a plan names must be in the topology (a plan made for another config is refused). */
export function checkPlanAgainstTopology(doc: PlanDocument, topology: Topology, source: string): void {
  const missing = new Set<number>();
  for (const m of doc.moves) for (const s of [m.from, m.to]) if (!topology.shards.has(s as never)) missing.add(s);
  if (missing.size) {
    throw new FwShardError(
      'PRECONDITION',
      `${source} moves users to or from shard ${[...missing].sort((a, b) => a - b).join(', ')}, which is not in the topology`,
      {
        hint: 'Was the plan made with another config? Make it again with fw-shard plan.',
      },
    );
  }
}

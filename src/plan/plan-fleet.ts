/**
 * The plan pipeline, shared by `fw-shard plan` and a playbook's plan step: facts from the servers (sizes
 * estimated from the owner indexes and table statistics, or with `sizes: 'exact'` every row read), then
 * the pure planner, then the versioned plan document. Writes nothing.
 */
import { describeEndpoint, mappingEndpoint, type Endpoint, type Topology } from '../topology/index.js';
import type { ReadDb } from '../db/pool.js';
import { FwShardError } from '../errors/index.js';
import { collectFleetFacts, type FleetFacts, type SizeMode } from './facts.js';
import { planDocument, type PlanDocument } from './plan-file.js';
import { PlanError, planMoves, type PlanOptions } from './planner.js';

interface PlanFleetInput {
  topology: Topology;
  connect: (e: Endpoint) => ReadDb;
  /** The planner's options; given db_main's own shards (poor man's federation), which graduation empties by default. */
  optionsFor(mainShards: number[]): PlanOptions;
  createdAt: Date;
  /** What a refusal of the planner (PlanError) becomes: a USAGE error worded for the caller. */
  refused(message: string): FwShardError;
  /** How the users' sizes are found (default: estimated, from indexes and statistics). */
  sizes?: SizeMode;
}

export async function planFleet(input: PlanFleetInput): Promise<{ doc: PlanDocument; facts: FleetFacts }> {
  const facts = await collectFleetFacts(input.topology, input.connect, input.sizes ?? 'estimated');
  const mains = facts.shards.filter((s) => s.isMain).map((s) => s.id);
  const o = input.optionsFor(mains);
  let outcome;
  try {
    outcome = planMoves(facts.shards, o);
  } catch (err) {
    if (err instanceof PlanError) throw input.refused(err.message);
    throw err;
  }
  const doc = planDocument(outcome, {
    createdAt: input.createdAt.toISOString(),
    mapping: describeEndpoint(mappingEndpoint(input.topology)),
    sizes: facts.sizes,
    notes: facts.notes,
    ...(o.from ? { from: o.from } : {}),
    ...(o.to ? { to: o.to } : {}),
    ...(o.maxMoves !== undefined ? { maxMoves: o.maxMoves } : {}),
    ...(o.maxBytes !== undefined ? { maxBytes: o.maxBytes } : {}),
  });
  return { doc, facts };
}

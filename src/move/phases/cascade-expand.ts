/**
 * The expansion of a log batch by the foreign-key cascades its changes set off (src/move/cascades.ts
 * says what is looked up and why that is complete). Runs before anything of the batch is applied, so
 * the target still holds each parent row as fw-shard last synced it.
 */
import type { KeyTuple } from '../../db/sql/rows.js';
import type { CascadeEdge, CascadeGraph } from '../cascades.js';
import type { RunContext } from '../run-context.js';
import type { TablePlan } from '../table-plan.js';

/** The changes of one table in a batch: keys, whole (keyless, or not traceable), logged referenced values. */
export interface BatchEntry {
  keys: Map<string, KeyTuple>;
  whole: boolean;
  refs: (Buffer | null)[][];
}

const LOOKUP_BATCH = 500;
export const keyId = (k: readonly Buffer[]): string => k.map((b) => b.toString('hex')).join(':');

/** Adds to `batch` the child rows the batch's changes cascaded into, through chains of any length. */
export async function expandCascades(
  ctx: RunContext,
  graph: CascadeGraph,
  tables: ReadonlyMap<string, TablePlan>,
  batch: Map<string, BatchEntry>,
): Promise<void> {
  if (graph.edges.length === 0) return;
  const from = new Map<string, CascadeEdge[]>();
  for (const e of graph.edges) from.set(e.parent, [...(from.get(e.parent) ?? []), e]);
  const entry = (name: string): BatchEntry => {
    let e = batch.get(name);
    if (!e) batch.set(name, (e = { keys: new Map(), whole: false, refs: [] }));
    return e;
  };
  /** Per table: keys already expanded, referenced values already used, whether "whole" was passed on. */
  const done = new Map<string, { keys: Set<string>; refs: number; whole: boolean }>();
  const queue = [...batch.keys()].filter((t) => from.has(t));
  while (queue.length > 0) {
    const name = queue.shift()!;
    const parent = tables.get(name);
    const e = entry(name);
    const d = done.get(name) ?? { keys: new Set<string>(), refs: 0, whole: false };
    done.set(name, d);
    const keys = [...e.keys].filter(([id]) => !d.keys.has(id)).map(([, k]) => k);
    for (const k of keys) d.keys.add(keyId(k));
    const refs = e.refs.slice(d.refs);
    d.refs = e.refs.length;
    const passWhole = e.whole && !d.whole;
    d.whole ||= e.whole;
    for (const edge of from.get(name) ?? []) {
      const child = tables.get(edge.child);
      if (!parent || !child) continue;
      const c = entry(child.name);
      if (passWhole || !child.key) {
        // A parent whose changed rows are not known one by one: every child row may have changed.
        if ((passWhole || keys.length > 0 || refs.length > 0) && !c.whole) {
          c.whole = true;
          if (from.has(child.name)) queue.push(child.name);
        }
        continue;
      }
      const values = await referencedValues(ctx, parent, edge, keys, projectRefs(graph, edge, refs));
      const before = c.keys.size;
      for (let i = 0; i < values.length; i += LOOKUP_BATCH) {
        const part = values.slice(i, i + LOOKUP_BATCH);
        const found = await Promise.all([
          ctx.target.insp.keysWhere(child, edge.childColumns, ctx.userId, part),
          ctx.source.insp.keysWhere(child, edge.childColumns, ctx.userId, part),
        ]);
        for (const k of found.flat()) c.keys.set(keyId(k), k);
      }
      if (c.keys.size > before && from.has(child.name)) queue.push(child.name);
    }
  }
}

/** The logged referenced values of the parent, cut down to one edge's columns. */
function projectRefs(graph: CascadeGraph, edge: CascadeEdge, refs: readonly (Buffer | null)[][]): (Buffer | null)[][] {
  const all = graph.refColumns.get(edge.parent) ?? [];
  const at = edge.parentColumns.map((c) => all.findIndex((x) => x.name === c.name));
  // A log row written by triggers of another shape carries other columns: not usable here.
  return refs.filter((r) => r.length === all.length).map((r) => at.map((i) => r[i] ?? null));
}

/**
 * Every value the edge's referenced columns held for these parent rows: logged, on the target (the
 * state fw-shard last synced) and on the source (now). NULLs dropped (a NULL never matches a foreign
 * key), duplicates dropped.
 */
async function referencedValues(
  ctx: RunContext,
  parent: TablePlan,
  edge: CascadeEdge,
  keys: readonly KeyTuple[],
  logged: (Buffer | null)[][],
): Promise<KeyTuple[]> {
  const out = new Map<string, KeyTuple>();
  const add = (v: readonly (Buffer | null)[]) => {
    if (v.every((b): b is Buffer => b !== null)) out.set(keyId(v), v);
  };
  logged.forEach(add);
  if (parent.key) {
    for (let i = 0; i < keys.length; i += LOOKUP_BATCH) {
      const part = keys.slice(i, i + LOOKUP_BATCH);
      const [t, s] = await Promise.all([
        ctx.target.insp.columnsOfKeys(parent, edge.parentColumns, ctx.userId, part),
        ctx.source.insp.columnsOfKeys(parent, edge.parentColumns, ctx.userId, part),
      ]);
      t.forEach(add);
      s.forEach(add);
    }
  }
  return [...out.values()];
}

/** More rows than this hanging off other users' rows: the table is compared whole instead. */
const FOREIGN_PARENTED_CAP = 5000;

/**
 * The user's rows that hang off another user's row (a note on someone else's item), read on the
 * target. A cascade through such a parent row (its owner deletes it, or a cascade from above does)
 * changes the user's row while nothing of the user is logged, and the walk cannot find the parent
 * row afterwards (it is on neither server any more). So these rows join every log batch from the full
 * comparison on (re-synced each pass, compared under the freeze): taken once, after the full
 * comparison, which is enough, because a row becomes one later only through a logged change of its
 * own or of its parent (an owner change logs both owners), which the walk follows. Too many: the
 * table is compared whole.
 */
export async function foreignParented(ctx: RunContext, graph: CascadeGraph, tables: ReadonlyMap<string, TablePlan>): Promise<Map<string, BatchEntry>> {
  const out = new Map<string, BatchEntry>();
  for (const e of graph.edges) {
    const child = tables.get(e.child);
    const parent = tables.get(e.parent);
    if (!child || !parent) continue;
    if (!child.key) continue; // compared whole under the freeze anyway (cascades.ts)
    let entry = out.get(child.name);
    if (!entry) out.set(child.name, (entry = { keys: new Map(), whole: false, refs: [] }));
    const keys = await ctx.target.insp.foreignParented(child, e.childColumns, parent, e.parentColumns, ctx.userId, FOREIGN_PARENTED_CAP + 1);
    if (keys.length > FOREIGN_PARENTED_CAP) entry.whole = true;
    else for (const k of keys) entry.keys.set(keyId(k), k);
  }
  for (const [name, e] of out) if (!e.whole && e.keys.size === 0) out.delete(name);
  return out;
}

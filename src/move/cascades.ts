/**
 * Changes that fire no trigger: InnoDB carries out a foreign key's ON DELETE / ON UPDATE action
 * (CASCADE, SET NULL, SET DEFAULT) inside the storage engine, and no trigger fires for the child rows
 * it changes (documented MySQL and MariaDB behaviour). Trigger mode's change log therefore never hears
 * of them by itself; this module brings them in.
 *
 * The graph (pure): for every such foreign key between two moved tables of the source shard, an edge
 * parent -> child. The parent's triggers log, beside its key, the values of its referenced columns
 * (old and new: an UPDATE logs both rows), so that the log says which values a cascade started from.
 *
 * The expansion (applyLog, before anything of a batch is applied): for each parent key of the batch,
 * and every key the expansion itself adds, the child rows of the user whose foreign-key columns equal
 *   - a referenced value the log recorded for that parent row (the value at the moment of the change),
 *   - the value the target holds for that parent row (what it was when fw-shard last synced it), or
 *   - the value the source holds now,
 * looked up through the foreign key's own index (InnoDB requires one) on both servers, join the batch
 * as changed keys: they are re-copied from the source and, under the freeze, compared row by row.
 * Through chains of any length (a breadth-first walk; a key is expanded once).
 *
 * Why that is complete. A child row a cascade changed referenced, at that moment, the parent's old
 * value v. Since fw-shard last synced that child row (copy, log pass or comparison), its foreign-key
 * columns changed only by (a) the app's own statements, which its triggers logged, or (b) an earlier
 * cascade, found by the same argument one level up; so if it is not logged itself, its value on the
 * target is v. And v is a value the parent row held: its referenced columns change only through
 * statements its triggers logged (with the values), unless they are also columns of a foreign key of
 * its own that cascades (then a cascade one level up changes them unseen), so v is among the logged
 * values, the target's value (the state at the parent's last sync) or the source's current one.
 *
 * "The state fw-shard last synced" needs an order to be true: fw-shard also writes rows by range (the
 * full comparison re-copies what differs) and by key (a log pass reads the source's current row), and
 * such a row may already show a cascade whose parent change is logged later. So parents are always
 * written before their children: the full comparison goes level by level (`levels`, parents first;
 * tables of a level side by side), and a log pass applies its tables in the same order. Then, for any
 * cascade, the levels fw-shard synced before it still hold the old values on the target (and the walk
 * finds the rows through them), and every level it synced after it, deeper ones included, already
 * holds its effects.
 *
 * Rows of several users: a parent row may be another user's (logged for every captured user: its
 * triggers' othersBlock, src/db/sql/guard.ts), and a row in the middle of a chain may be another
 * user's (the user's note on someone else's item): such a middle row is on neither server after its
 * cascade, so the walk cannot pass through it. The user's rows hanging off another user's row are
 * therefore taken after the full comparison and re-synced and compared with every pass
 * (cascade-expand.ts foreignParented).
 *
 * Shapes that break the argument have their child tables compared whole, live, under the freeze
 * instead (`wholeUnderFreeze`), and re-synced by range before each attempt: a parent whose referenced
 * columns are cascaded into from above (an identifying key handed down, such as (album_id, n)
 * referenced by a grandchild), a child whose cascading foreign keys share a column, a cycle (a table
 * referencing itself: a thread of comments), and a moved table a cascade reaches from a table that
 * does not move (no trigger of fw-shard's is on that parent at all).
 */
import type { ForeignKeyInfo } from '../db/sql/schema.js';
import type { ColumnInfo } from '../db/sql/schema.js';
import type { TablePlan } from './table-plan.js';

const ACTIONS = new Set(['CASCADE', 'SET NULL', 'SET DEFAULT']);
/** The foreign key changes child rows by itself on a delete or an update of its parent. */
export const cascades = (fk: Pick<ForeignKeyInfo, 'onDelete' | 'onUpdate'>): boolean => ACTIONS.has(fk.onDelete) || ACTIONS.has(fk.onUpdate);

export interface CascadeEdge {
  name: string;
  parent: string;
  child: string;
  parentColumns: ColumnInfo[];
  childColumns: ColumnInfo[];
  onDelete: string;
  onUpdate: string;
}

export interface CascadeGraph {
  edges: CascadeEdge[];
  /** Per parent table: the referenced columns its triggers log (the union over its edges, in table order). */
  refColumns: Map<string, ColumnInfo[]>;
  /** Moved tables whose changes cannot all be traced: compared whole under the freeze, with why. */
  wholeUnderFreeze: Map<string, string>;
}

export const NO_CASCADES: CascadeGraph = { edges: [], refColumns: new Map(), wholeUnderFreeze: new Map() };

const isOwn = (name: string) => name.startsWith('fw_shard_');

/** The graph of the source shard's cascading foreign keys that touch the moved tables. */
export function cascadeGraph(fks: readonly ForeignKeyInfo[], tables: readonly TablePlan[], database: string): CascadeGraph {
  const byName = new Map(tables.map((t) => [t.name, t]));
  const moved = (schema: string, table: string) => (schema === database ? byName.get(table) : undefined);
  const edges: CascadeEdge[] = [];
  const whole = new Map<string, string>();
  for (const fk of fks) {
    if (!cascades(fk) || isOwn(fk.table) || isOwn(fk.refTable)) continue;
    const child = moved(fk.schema, fk.table);
    if (!child) continue; // the cascade changes rows that do not move: not this move's data
    const action = actionText(fk);
    const parent = moved(fk.refSchema, fk.refTable);
    if (!parent) {
      whole.set(
        child.name,
        `${action} of ${fk.refSchema === database ? fk.refTable : `${fk.refSchema}.${fk.refTable}`}, which does not move, cascades into it (${fk.name}) unseen by any trigger`,
      );
      continue;
    }
    if (!child.key) {
      whole.set(child.name, `it has no key to trace the rows ${fk.name}'s cascade changes by`);
      continue;
    }
    const childColumns = fk.columns.map((c) => child.columns.find((x) => x.name === c));
    const parentColumns = fk.refColumns.map((c) => parent.columns.find((x) => x.name === c));
    if (childColumns.some((c) => !c) || parentColumns.some((c) => !c)) {
      whole.set(child.name, `foreign key ${fk.name} is on columns fw-shard does not copy (generated columns)`);
      continue;
    }
    edges.push({
      name: fk.name,
      parent: parent.name,
      child: child.name,
      parentColumns: parentColumns as ColumnInfo[],
      childColumns: childColumns as ColumnInfo[],
      onDelete: fk.onDelete,
      onUpdate: fk.onUpdate,
    });
  }
  for (const e of cyclic(edges))
    whole.set(e.child, `its foreign key ${e.name} to ${e.parent} is part of a cycle of cascades (a table referencing itself, or a loop)`);
  for (const e of edges) {
    // The parent's referenced columns are themselves changed by a cascade from above: their values at
    // the moment of the change below may be neither logged nor on either server.
    const above = edges.find(
      (u) => u.child === e.parent && u !== e && changesColumns(u) && u.childColumns.some((c) => e.parentColumns.some((p) => p.name === c.name)),
    );
    if (above) whole.set(e.child, `its parent ${e.parent}'s referenced columns are themselves cascaded into from ${above.parent} (${above.name})`);
    const sibling = edges.find((o) => o.child === e.child && o !== e && o.childColumns.some((c) => e.childColumns.some((x) => x.name === c.name)));
    if (sibling) whole.set(e.child, `its cascading foreign keys ${e.name} and ${sibling.name} share a column`);
  }
  for (const t of tables) {
    const link = t.via?.[0];
    if (link && !whole.has(t.name))
      whole.set(
        t.name,
        link.shared
          ? `it is shared (tables.shared): its rows are referred to from ${link.parent}, by several users' rows, and carry no trigger of fw-shard's`
          : `it is owned through ${link.parent} (tables.through): a change of a parent row changes which of its rows are the user's, and fires no trigger of ${t.name}`,
      );
  }
  const refColumns = new Map<string, ColumnInfo[]>();
  for (const e of edges) {
    const have = refColumns.get(e.parent) ?? [];
    for (const c of e.parentColumns) if (!have.some((h) => h.name === c.name)) have.push(c);
    refColumns.set(e.parent, have);
  }
  for (const [t, cols] of refColumns)
    refColumns.set(
      t,
      [...cols].sort((a, b) => a.position - b.position),
    );
  return { edges, refColumns, wholeUnderFreeze: whole };
}

/** Edges on a cycle of the graph (a self-reference included). */
function cyclic(edges: readonly CascadeEdge[]): CascadeEdge[] {
  const reaches = (from: string, to: string, seen = new Set<string>()): boolean => {
    if (from === to) return true;
    if (seen.has(from)) return false;
    seen.add(from);
    return edges.some((e) => e.parent === from && reaches(e.child, to, seen));
  };
  return edges.filter((e) => reaches(e.child, e.parent));
}

/**
 * The tables in the order fw-shard writes them: level 0 has no cascading parent among the moved
 * tables, level n+1 only parents of level n at most; edges on a cycle are not followed (their tables
 * are compared whole).
 */
export function cascadeLevels<T extends { name: string; via?: readonly { parent: string }[] }>(g: CascadeGraph, tables: readonly T[]): T[][] {
  const onCycle = new Set(cyclic(g.edges));
  const acyclic = g.edges.filter((e) => !onCycle.has(e));
  const level = new Map<string, number>();
  const depth = (name: string): number => {
    const known = level.get(name);
    if (known !== undefined) return known;
    level.set(name, 0); // no cycle is followed; this only guards the recursion
    // A table owned through a parent comes after it too (its rows are found through the parent's).
    const owner = tables.find((t) => t.name === name)?.via?.[0]?.parent;
    const parents = [...acyclic.filter((e) => e.child === name).map((e) => e.parent), ...(owner && owner !== name ? [owner] : [])];
    const d = Math.max(0, ...parents.map((p) => depth(p) + 1));
    level.set(name, d);
    return d;
  };
  const out: T[][] = [];
  for (const t of tables) (out[depth(t.name)] ??= []).push(t);
  return out.filter((l) => l.length > 0);
}

/** ON UPDATE CASCADE / SET NULL / SET DEFAULT, or ON DELETE SET NULL / SET DEFAULT: the child's columns change. */
function changesColumns(e: Pick<CascadeEdge, 'onDelete' | 'onUpdate'>): boolean {
  return ACTIONS.has(e.onUpdate) || e.onDelete === 'SET NULL' || e.onDelete === 'SET DEFAULT';
}

function actionText(fk: Pick<ForeignKeyInfo, 'onDelete' | 'onUpdate'>): string {
  const parts = [ACTIONS.has(fk.onDelete) ? `ON DELETE ${fk.onDelete}` : null, ACTIONS.has(fk.onUpdate) ? `ON UPDATE ${fk.onUpdate}` : null];
  return parts.filter(Boolean).join(' / ');
}

/** One line per edge and per table compared whole, for --dry-run and the plan. */
export function describeCascades(g: CascadeGraph): string[] {
  const out = g.edges
    .filter((e) => !g.wholeUnderFreeze.has(e.child))
    .map(
      (e) =>
        `${e.child}(${e.childColumns.map((c) => c.name).join(', ')}) -> ${e.parent}(${e.parentColumns.map((c) => c.name).join(', ')}) [${e.name}, ${actionText(e)}]: ` +
        `a logged change of ${e.parent} brings the ${e.child} rows it cascades into into the log passes and the freeze's comparison`,
    );
  for (const [t, why] of g.wholeUnderFreeze) out.push(`${t}: compared whole, live, under the freeze, because ${why}`);
  return out;
}

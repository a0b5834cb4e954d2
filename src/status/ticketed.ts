/**
 * Which id columns of the sharded tables hold tickets (ids from the ticket servers), for the status
 * check "is the next ticket above every id already issued?". Pure.
 *
 * `tables.ticketed` (entries `Table` or `Table.column`) names them exactly: only those are checked, and
 * a ticket server behind one of them is a certain problem. Without it every single-column integer
 * primary key that is not AUTO_INCREMENT is assumed ticketed, except `tables.notTicketed` and tables
 * that mirror an outside service (FlickrPhotos.id is Flickr's own photo id in parallel-flickr): an
 * assumed column can only raise a question, since fw-shard cannot know where its ids come from.
 */
import type { TableInfo } from '../db/sql/schema.js';
import type { TableSelection } from '../topology/index.js';

/** Tables named after an outside service whose ids they mirror (parallel-flickr's Flickr*, privatesquare's Foursquare*...). */
const EXTERNAL_ID_TABLES = /^(Flickr|Foursquare|Twitter|Instagram|Github|GitHub|Facebook|Google|Swarm)[A-Z]/;

export type Ticketed = 'declared' | 'assumed' | 'no';

const listed = (list: readonly string[] | undefined, table: string, column: string): boolean =>
  (list ?? []).some((e) => e === table || e === `${table}.${column}`);

/** The single-column integer primary key of `t` that could hold tickets, or null. */
export function idColumnOf(t: TableInfo): string | null {
  const pk = t.keys.find((k) => k.name === 'PRIMARY');
  if (!pk || pk.columns.length !== 1) return null;
  const col = t.columns.find((c) => c.name === pk.columns[0]);
  if (!col || !['int', 'bigint'].includes(col.dataType) || col.autoIncrement) return null;
  return col.name;
}

export function ticketedColumn(table: string, column: string, sel: Pick<TableSelection, 'ticketed' | 'notTicketed'>): Ticketed {
  if (sel.ticketed !== undefined) return listed(sel.ticketed, table, column) ? 'declared' : 'no';
  if (listed(sel.notTicketed, table, column)) return 'no';
  if (EXTERNAL_ID_TABLES.test(table)) return 'no';
  return 'assumed';
}

/** The status line for a ticket server whose next id is not above an id already in a shard. */
export function ticketOverlapMessage(o: {
  role: string;
  next: string;
  value: string;
  shard: number;
  table: string;
  column: string;
  ticketed: Exclude<Ticketed, 'no'>;
}): string {
  const where = `${o.table}.${o.column}`;
  if (o.ticketed === 'declared') {
    return `${o.role}: next Tickets64 id ${o.next} is not above id ${o.value} already in shard ${o.shard} ${where} (declared ticketed): it could issue that id again, and new ids can collide`;
  }
  return (
    `${o.role}: does ${where} hold tickets? Its id ${o.value} on shard ${o.shard} is at or above the next Tickets64 id ${o.next}. ` +
    `If ${where} holds ids from elsewhere (an outside service), add it to tables.notTicketed; if it is ticketed, the ticket server was reset ` +
    `and new ids could collide: list the ticketed columns in tables.ticketed to make this a hard check`
  );
}

/**
 * Test resets: fw-shard's tables on db_main (the move journal and the freezes), from the product's own
 * names, so a table added to the journal is dropped by every reset without editing each test.
 */
import { ident, join, sql, type Sql } from '../../src/db/sql/fragment.js';
import { FREEZES } from '../../src/db/sql/freeze.js';
import { MOVE_CHUNKS, MOVE_PASSES, MOVE_RUNS, MOVE_TABLES, MOVES } from '../../src/db/sql/journal.js';

export const JOURNAL_TABLES = [MOVES, MOVE_TABLES, MOVE_CHUNKS, MOVE_PASSES, MOVE_RUNS, FREEZES] as const;

/** The statement as text, for the mariadb client. */
export const DROP_JOURNAL = `DROP TABLE IF EXISTS ${JOURNAL_TABLES.join(', ')}`;

/** The same statement for a Db. */
export const dropJournalSql = (): Sql => sql`DROP TABLE IF EXISTS ${join(JOURNAL_TABLES.map((t) => ident(t)))}`;

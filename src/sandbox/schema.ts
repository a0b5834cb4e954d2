/**
 * The sandbox's Flamework-style schema, placed on servers:
 *  - federated: db_main `flamework` (users, users_password_reset, DotsLookup), every shard `users<N>`
 *    (the five per-user tables), every ticket server `tickets` (Tickets32, Tickets64);
 *  - poor man's: one database `flamework` holding all of them together, as flamework-tools'
 *    setup-db.sh builds it by concatenating every schema file.
 */
import type { Db } from '../db/pool.js';
import { createDatabase, mainTables, shardTables, ticketTables } from './sql.js';
import type { Sql } from '../db/sql/fragment.js';

/** Database names used by the sandbox. */
export const MAIN_DATABASE = 'flamework';
export const TICKETS_DATABASE = 'tickets';
/** Shard N's database: users1, users2, ... (as Flamework's example config names them, minus the typo). */
export function shardDatabase(id: number): string {
  return `users${id}`;
}

/** One database on one server and what it holds. */
export interface SchemaPart {
  db: Db;
  database: string;
  holds: readonly ('main' | 'shard' | 'tickets')[];
}

/** The statements that create one part: the database, then its tables (fresh databases only). */
function schemaStatements(part: Omit<SchemaPart, 'db'>): Sql[] {
  const out: Sql[] = [createDatabase(part.database)];
  if (part.holds.includes('main')) out.push(...mainTables(part.database));
  if (part.holds.includes('tickets')) out.push(...ticketTables(part.database));
  if (part.holds.includes('shard')) out.push(...shardTables(part.database));
  return out;
}

/** Create every part, servers in parallel. The databases must not exist yet (a fresh sandbox). */
export async function loadSchema(parts: readonly SchemaPart[]): Promise<void> {
  await Promise.all(
    parts.map(async (p) => {
      for (const q of schemaStatements(p)) await p.db.exec(q);
    }),
  );
}

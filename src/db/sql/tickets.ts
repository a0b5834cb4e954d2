/** Flamework's ticket servers (lib_dbtickets.php: Tickets32/Tickets64) and the ids they handed out. */
import { ident, sql } from './fragment.js';

/** The ticket tables of the database, with the next id each would hand out. */
export const ticketTablesSql = () =>
  sql`SELECT TABLE_NAME AS name, AUTO_INCREMENT AS next_id FROM information_schema.TABLES
      WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME IN ('Tickets32', 'Tickets64')`;

/** The highest values of an id column (status: ids that overlap the ticket ranges). */
export const topOfColumnSql = (table: string, column: string, n: number) =>
  sql`SELECT ${ident(column)} AS m FROM ${ident(table)} ORDER BY ${ident(column)} DESC LIMIT ${n}`;

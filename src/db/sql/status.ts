/** Queries used only by `status` (read-only). */
import { ident, sql } from './fragment.js';

export const pingSql = () => sql`SELECT 1 AS ok`;
export const topOfColumnSql = (table: string, column: string, n: number) =>
  sql`SELECT ${ident(column)} AS m FROM ${ident(table)} ORDER BY ${ident(column)} DESC LIMIT ${n}`;
export const countTableSql = (table: string) => sql`SELECT COUNT(*) AS n FROM ${ident(table)}`;
export const ticketTablesSql = () =>
  sql`SELECT TABLE_NAME AS name, AUTO_INCREMENT AS next_id FROM information_schema.TABLES
      WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME IN ('Tickets32', 'Tickets64')`;

/** Queries used only by `status` (read-only). */
import { ident, sql } from './fragment.js';

export const pingSql = () => sql`SELECT 1 AS ok`;
export const topOfColumnSql = (table: string, column: string, n: number) =>
  sql`SELECT ${ident(column)} AS m FROM ${ident(table)} ORDER BY ${ident(column)} DESC LIMIT ${n}`;
export const countTableSql = (table: string) => sql`SELECT COUNT(*) AS n FROM ${ident(table)}`;
export const ticketTablesSql = () =>
  sql`SELECT TABLE_NAME AS name, AUTO_INCREMENT AS next_id FROM information_schema.TABLES
      WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME IN ('Tickets32', 'Tickets64')`;
/**
 * Tables of the mapping database named `users` in any case (Flamework's `users`, older apps' `Users`),
 * with whether each has the shard column. Names compare in binary where the case matters.
 */
export const mappingTableCandidatesSql = (schema: string, shardColumn: string) =>
  sql`SELECT t.TABLE_NAME AS name,
             (SELECT COUNT(*) FROM information_schema.COLUMNS c
               WHERE c.TABLE_SCHEMA = t.TABLE_SCHEMA AND BINARY c.TABLE_NAME = BINARY t.TABLE_NAME AND c.COLUMN_NAME = ${shardColumn}) AS has_shard_column
      FROM information_schema.TABLES t
      WHERE t.TABLE_SCHEMA = ${schema} AND LOWER(t.TABLE_NAME) = 'users' AND t.TABLE_TYPE = 'BASE TABLE'
      ORDER BY BINARY t.TABLE_NAME`;

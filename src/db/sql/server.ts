/**
 * Facts about a server rather than its data: liveness, settings, replication and load (the throttle
 * probes), the operator's throttle query, and the warnings of the session's last statement.
 */
import type { ReadDb } from '../pool.js';
import { join, raw, sql, type Sql } from './fragment.js';

export const pingSql = () => sql`SELECT 1 AS ok`;

/** Server facts used by preflight and status. */
export const serverFactsSql = () =>
  sql`SELECT VERSION() AS version, @@GLOBAL.read_only AS read_only, @@GLOBAL.sql_mode AS sql_mode,
             @@auto_increment_increment AS aii, @@auto_increment_offset AS aio, @@max_allowed_packet AS max_packet`;

export interface ServerFacts {
  version: string;
  readOnly: boolean;
  sqlMode: string;
  autoIncrementIncrement: number;
  autoIncrementOffset: number;
  maxAllowedPacket: number;
}

export async function readServerFacts(db: ReadDb): Promise<ServerFacts> {
  const [r] = await db.rows<Record<string, string | number>>(serverFactsSql());
  return {
    version: String(r?.version ?? ''),
    readOnly: String(r?.read_only ?? '0') === '1' || String(r?.read_only).toUpperCase() === 'ON',
    sqlMode: String(r?.sql_mode ?? ''),
    autoIncrementIncrement: Number(r?.aii ?? 1),
    autoIncrementOffset: Number(r?.aio ?? 1),
    maxAllowedPacket: Number(r?.max_packet ?? 16 * 1024 * 1024),
  };
}

/** The warnings of the session's last statement (a write that warned did not store what was sent). */
export const showWarningsSql = (): Sql => sql`SHOW WARNINGS LIMIT 5`;

/** MariaDB ≥ 10.5 and MySQL ≥ 8.0.22; older servers only know SHOW SLAVE STATUS (see `slaveStatusSql`). */
export const replicaStatusSql = () => sql`SHOW REPLICA STATUS`;
export const slaveStatusSql = () => sql`SHOW SLAVE STATUS`;

/** Global status counters such as Threads_running. Names come from the operator's --max-load, validated as identifiers. */
export function globalStatusSql(names: readonly string[]): Sql {
  for (const n of names) if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(n)) throw new Error(`not a status variable name: ${n}`);
  return sql`SHOW GLOBAL STATUS WHERE Variable_name IN (${join(names.map((n) => sql`${n}`))})`;
}

/**
 * The operator's --throttle-query, as gh-ost runs it: trusted text from the command line or a playbook
 * (never from data), one statement (multipleStatements is off), whose first column of the first row is
 * a number; above zero means "throttle".
 */
export function throttleQuerySql(text: string): Sql {
  return sql`${raw(text)}`;
}

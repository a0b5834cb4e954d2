/**
 * Test resets: fw-shard's shard-side guard (src/move/guard.ts) refuses the writes of a moved user on the
 * old shard, including a test's own clean-up. Resets drop fw-shard's triggers and tables on a shard
 * database; the next move installs them again. `BYPASS` prefixes statements run through the mariadb
 * client so fw-shard's triggers let them through, as they do fw-shard's own sessions.
 */
import type { Db } from '../../src/db/pool.js';
import { Guard } from '../../src/move/guard.js';
import { WRITER_MARK } from '../../src/db/sql/guard.js';

export async function dropGuard(...dbs: Db[]): Promise<void> {
  for (const db of dbs) await new Guard(db).remove({ dropTables: true });
}

export const BYPASS = `SET @fw_shard_writer = ${WRITER_MARK}; `;

/**
 * fw-shard's objects in one shard database, read through the mariadb client (independent of fw-shard's
 * code): its tables and its triggers. `run` is a MoveEnv's cli bound to a server and database.
 */
export function guardObjects(run: (statement: string) => string): { tables: string[]; triggers: number } {
  const lines = (q: string) => run(q).trim().split('\n').filter(Boolean);
  return {
    tables: lines("SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME LIKE 'fw\\_shard\\_%' ORDER BY 1").filter(
      (t) => t === 'fw_shard_fence' || t === 'fw_shard_changes',
    ),
    triggers: Number(
      lines("SELECT COUNT(*) FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = DATABASE() AND TRIGGER_NAME LIKE 'fw\\_shard\\_%'")[0] ?? 0,
    ),
  };
}

/** Nothing of fw-shard's in the database. */
export const NOTHING = { tables: [], triggers: 0 };

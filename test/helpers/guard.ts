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

/**
 * Which capture an online move uses: trigger mode (fence and change log on the shards) where the
 * servers and the login allow it, re-hash mode otherwise, with the reason. Read without writing
 * anything (GuardFacts); the guard itself is guard.ts, which re-exports this.
 */
import type { ReadDb } from '../db/pool.js';
import * as G from '../db/sql/guard.js';
import { sql } from '../db/sql/fragment.js';
import { FwShardError } from '../errors/index.js';
import type { TablePlan } from './table-plan.js';

export type CaptureMode = 'trigger' | 'rehash';
type CaptureChoice = 'auto' | CaptureMode;

const NUMERIC_OWNER = new Set(['tinyint', 'smallint', 'mediumint', 'int', 'integer', 'bigint']);

/** What the shard's server and our login allow, read without writing anything. */
interface GuardFacts {
  privileges: Set<string>;
  logBin: boolean;
  trustCreators: boolean;
  mariadb: boolean;
  /** @@GLOBAL.binlog_format (ROW, MIXED, STATEMENT). */
  binlogFormat: string;
  /** The server applies a replication stream whose row events fire no trigger; null: could not be read. */
  replicating: boolean | null;
}

export async function readGuardFacts(db: ReadDb): Promise<GuardFacts> {
  const [f] = await db.rows<{ log_bin: string | number; trust: string | number; version: string; binlog_format: string | null }>(G.guardFactsSql());
  const privs = await db.rows<{ p: string }>(privilegesSql());
  const mariadb = /mariadb/i.test(String(f?.version ?? ''));
  const [r] = await db
    .rows<{ running: string | null; rbr_triggers: string | null }>(mariadb ? G.replicationFactsMariadbSql() : G.replicationFactsMysqlSql())
    .catch(() => [null]);
  const replicating = r ? Number(r.running ?? 0) > 0 && !['YES', 'LOGGING', 'ENFORCE'].includes(String(r.rbr_triggers ?? 'NO').toUpperCase()) : null;
  return {
    replicating,
    binlogFormat: String(f?.binlog_format ?? 'ROW').toUpperCase(),
    privileges: new Set(privs.map((r) => String(r.p).toUpperCase())),
    logBin: Number(f?.log_bin ?? 0) === 1,
    trustCreators: Number(f?.trust ?? 0) === 1,
    mariadb,
  };
}

function privilegesSql() {
  return sql`SELECT PRIVILEGE_TYPE AS p FROM information_schema.USER_PRIVILEGES
               WHERE GRANTEE = CONCAT('''', SUBSTRING_INDEX(CURRENT_USER(), '@', 1), '''@''', SUBSTRING_INDEX(CURRENT_USER(), '@', -1), '''')
             UNION SELECT PRIVILEGE_TYPE FROM information_schema.SCHEMA_PRIVILEGES
               WHERE GRANTEE = CONCAT('''', SUBSTRING_INDEX(CURRENT_USER(), '@', 1), '''@''', SUBSTRING_INDEX(CURRENT_USER(), '@', -1), '''')
                 AND TABLE_SCHEMA = DATABASE()`;
}

/**
 * Trigger mode when both shards allow it, else the re-hash mode; with the reason (printed by --dry-run).
 * Needs: TRIGGER, CREATE and DROP (the objects go again: guard-lifecycle.ts) on both shard databases, PROCESS on the source (to wait for transactions
 * older than the capture), an integer owner column, and, with binary logging on, SUPER or
 * log_bin_trust_function_creators = 1.
 */
export function chooseCapture(
  choice: CaptureChoice,
  tables: readonly TablePlan[],
  source: GuardFacts,
  target: GuardFacts,
): { mode: CaptureMode; reason: string } {
  if (choice === 'rehash') return { mode: 'rehash', reason: '--capture rehash was asked for' };
  const why: string[] = [];
  const stringOwners = tables.filter((t) => !NUMERIC_OWNER.has(t.owner.dataType)).map((t) => t.name);
  if (stringOwners.length) why.push(`the owner column of ${stringOwners.join(', ')} is not an integer`);
  for (const [side, f] of [
    ['source', source],
    ['target', target],
  ] as const) {
    const missing = ['TRIGGER', 'CREATE', 'DROP', ...(side === 'source' ? ['PROCESS'] : [])].filter((p) => !f.privileges.has(p));
    if (missing.length) why.push(`the ${side} shard's login lacks ${missing.join(', ')}`);
    if (f.logBin && !f.trustCreators && !f.privileges.has('SUPER'))
      why.push(`binary logging is on on the ${side} shard and log_bin_trust_function_creators is off`);
  }
  // The change log is drained at READ COMMITTED (no gap locks against the app's triggers), which a
  // server logging statements refuses (error 1664): trigger mode cannot run there.
  if (source.logBin && source.binlogFormat === 'STATEMENT')
    why.push("the source shard logs statements (binlog_format = STATEMENT), which refuses the change log's READ COMMITTED deletes (error 1664)");
  // Writes the source applies from a replication stream (a master-master pair) reach the user's rows
  // without firing a trigger: the log would miss them and the fence would not refuse them.
  if (source.replicating)
    why.push('the source shard applies a replication stream (Slaves_running > 0), whose row events fire no trigger (slave_run_triggers_for_rbr is NO)');
  if (why.length === 0) return { mode: 'trigger', reason: "fw-shard's fence and change log on the shards (the servers allow it)" };
  const reason = why.join('; ');
  if (choice === 'trigger') {
    throw new FwShardError('PRECONDITION', `--capture trigger is not possible: ${reason}`, {
      hint:
        'Run with --capture rehash (or --capture auto), which works in this state; for trigger mode, grant TRIGGER, CREATE and DROP on both shard databases and PROCESS on the source ' +
        '(README "Required privileges"), and move users off a shard only while it applies no replication stream.',
    });
  }
  return { mode: 'rehash', reason: `re-hash passes and a freeze in db_main, because ${reason}` };
}

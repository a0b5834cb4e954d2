/**
 * What a refused write of user rows means, in the operator's words: the Applier turns the server's
 * packet and foreign-key refusals (src/db/errors.ts predicates) into typed errors that name the table,
 * the row or the constraint, and the next step. Both stop the move before the flip, with the chunk
 * rolled back, so the move resumes once the cause is fixed.
 */
import { foreignKeyInMessage } from '../db/errors.js';
import type { RawValue } from '../db/sql/fragment.js';
import { keyPositions, type RowSpec } from '../db/sql/rows.js';
import { FwShardError } from '../errors/index.js';
import { describeEndpoint, type Endpoint } from '../topology/index.js';
import { showKey } from './keys.js';

/** The largest value max_allowed_packet takes (1 GiB, on MySQL and MariaDB alike). */
const MAX_PACKET = 1024 * 1024 * 1024;
const MIB = 1024 * 1024;

const RESUME = 'then resume the move: run the same command again (fw-shard moves lists the move; fw-shard resume ID continues it)';

/** Bytes of a row's values as sent (before quoting), and the largest row of a chunk. */
function largestRow(spec: RowSpec, rows: readonly RawValue[][]): { bytes: number; key: string } {
  let best = -1;
  let bytes = 0;
  rows.forEach((r, i) => {
    const n = r.reduce((a, v) => a + (v ? v.length : 0), 0);
    if (n > bytes || best < 0) [best, bytes] = [i, n];
  });
  if (best < 0) return { bytes: 0, key: '(no row)' };
  const positions = keyPositions(spec);
  const key = spec.key
    ? showKey(
        spec.key.map((c) => c.name),
        positions.map((p) => rows[best]![p] as Buffer),
      )
    : 'a row of the keyless table';
  return { bytes, key };
}

/**
 * A packet larger than the target's max_allowed_packet (1153/1301/2020): names the table, the chunk's
 * size, its largest row and the setting that lets it through. `sent` is the size of the packet that
 * carried the chunk (the LOAD DATA input or the largest INSERT), `maxPacket` the server's setting now.
 */
export function packetTooLargeError(
  endpoint: Endpoint,
  spec: RowSpec,
  userId: string,
  rows: readonly RawValue[][],
  sent: number,
  maxPacket: number | null,
  cause: unknown,
): FwShardError {
  const where = describeEndpoint(endpoint);
  const row = largestRow(spec, rows);
  // A value may double when escaped; the row alone must fit, and so must the chunk that was refused.
  const rowNeeds = 2 * row.bytes + 1024;
  const need = Math.max(rowNeeds, sent + 1024);
  const setting = Math.min(MAX_PACKET, Math.ceil(need / MIB) * MIB);
  const limit = maxPacket === null ? 'its max_allowed_packet' : `its max_allowed_packet (${maxPacket} bytes)`;
  const rowFits = maxPacket !== null && rowNeeds <= maxPacket;
  const message =
    `table ${spec.name}: ${where} refused a packet of ${sent} bytes, larger than ${limit}: the chunk held ${rows.length} row(s) of user ${userId}, ` +
    `the largest ${row.bytes} bytes (${row.key}). Nothing of that chunk was kept (rolled back).`;
  const raise =
    rowNeeds > MAX_PACKET
      ? `The row ${row.key} is too large for any max_allowed_packet (1 GiB at most): move it by hand, or exclude ${spec.name} from the move (tables.exclude).`
      : `On ${where}: SET GLOBAL max_allowed_packet = ${setting}; and set max_allowed_packet = ${setting} in its server config (a restart undoes SET GLOBAL)`;
  const smaller = rowFits ? ` (each row fits: smaller chunks, --chunk-size N, get through too)` : '';
  return new FwShardError('PACKET_TOO_LARGE', message, {
    hint: rowNeeds > MAX_PACKET ? raise : `${raise}${smaller}; ${RESUME}.`,
    details: {
      table: spec.name,
      server: endpoint.role,
      rows: rows.length,
      largestRowBytes: row.bytes,
      packetBytes: sent,
      maxAllowedPacket: maxPacket,
      suggested: setting,
    },
    cause,
  });
}

/**
 * A foreign key refused the write after all (1451/1452 as an error, or as the warning of a row LOAD DATA
 * skipped): fw-shard's data sessions run with foreign_key_checks = 0, so this session had the checks on.
 */
export function foreignKeyWriteError(endpoint: Endpoint, spec: RowSpec, serverMessage: string, cause: unknown): FwShardError {
  const where = describeEndpoint(endpoint);
  const fk = foreignKeyInMessage(serverMessage);
  const named = fk ? `foreign key ${fk.constraint} of table ${fk.table}` : 'a foreign key';
  return new FwShardError(
    'FOREIGN_KEYS',
    `table ${spec.name}: ${where} refused fw-shard's write because of ${named}: ${serverMessage}. ` +
      'fw-shard writes with foreign_key_checks = 0, so the checks were on in its session. Nothing of that chunk was kept (rolled back).',
    {
      hint:
        `Connect fw-shard to ${where} directly, not through a proxy that drops session settings (ProxySQL, MaxScale multiplexing), ` +
        `or drop ${fk ? `foreign key ${fk.constraint} on ${fk.table}` : 'that foreign key'} there for the move (fw-shard move --dry-run lists the foreign keys of the moved tables); ${RESUME}.`,
      details: { table: spec.name, server: endpoint.role, ...(fk ? { foreignKey: fk.constraint, foreignKeyTable: fk.table } : {}) },
      cause,
    },
  );
}

/**
 * A row of the user whose image is longer than the server's max_allowed_packet: the server cannot hash
 * it (MD5 of NULL), so fw-shard can neither verify it nor delete it as proven. Nothing is flipped or
 * deleted on such a comparison.
 */
export function unhashableRowError(endpoint: Endpoint, table: string, key: string | null, maxPacket: number | null): FwShardError {
  const where = describeEndpoint(endpoint);
  const limit = maxPacket === null ? 'its max_allowed_packet' : `its max_allowed_packet (${maxPacket} bytes)`;
  return new FwShardError(
    'PACKET_TOO_LARGE',
    `table ${table}: ${key ? `the row ${key}` : 'a row'} of the user on ${where} is larger than ${limit}, so that server cannot hash it and fw-shard cannot prove it equal on both shards; nothing was flipped or deleted on that comparison`,
    {
      hint: `On ${where}: SET GLOBAL max_allowed_packet to more than twice the table's largest row (1073741824 at most), and the same in its server config; ${RESUME}.`,
      details: { table, server: endpoint.role, ...(key ? { key } : {}), maxAllowedPacket: maxPacket },
    },
  );
}

/**
 * The mapping table's real name. Flamework's is `users`; apps older than 2011-03 (Dotspotting,
 * parallel-flickr) still call it `Users`. When the config does not say (`mapping.table`), the name is
 * read from the mapping database: the table called users in any case that has the shard column.
 */
import type { ReadDb } from '../db/pool.js';
import { mappingTableCandidatesSql } from '../db/sql/mapping.js';
import { FwShardError } from '../errors/index.js';
import { mappingEndpoint, type Topology } from '../topology/index.js';

interface MappingCandidate {
  name: string;
  hasShardColumn: boolean;
}

/** Pure choice: the one candidate with the shard column; null when there is none (the default stays). */
export function chooseMappingTable(found: readonly MappingCandidate[], where: string, shardColumn: string): string | null {
  const usable = found.filter((c) => c.hasShardColumn);
  if (usable.length === 1) return usable[0]!.name;
  if (usable.length > 1) {
    throw new FwShardError(
      'CONFIG_INVALID',
      `mapping.table: ${where} has several users tables with a ${shardColumn} column (${usable.map((c) => c.name).join(', ')}); fw-shard cannot tell which one the app reads`,
      { hint: `Set mapping.table in the config to the one the app uses (lib_users.php names it).` },
    );
  }
  return null;
}

/**
 * The topology with `mapping.table` read from the server when the config left it out. Unchanged when
 * the config names the table, or when the server cannot be asked (the default `users` stays, and the
 * first query that needs it says so).
 */
export async function resolveMappingTable(t: Topology, connect: (e: Topology['main']) => ReadDb): Promise<Topology> {
  if (t.mapping.tableSource !== 'default') return t;
  const e = mappingEndpoint(t);
  let found: MappingCandidate[];
  try {
    const rows = await connect(e).rows<{ name: string; has_shard_column: string | number }>(mappingTableCandidatesSql(e.database, t.mapping.shardColumn));
    found = rows.map((r) => ({ name: String(r.name), hasShardColumn: Number(r.has_shard_column) > 0 }));
  } catch {
    return t;
  }
  const name = chooseMappingTable(found, `${e.role} (${e.database})`, t.mapping.shardColumn);
  if (name === null) return t;
  return { ...t, mapping: { ...t.mapping, table: name, tableSource: 'detected' } };
}

/**
 * Loading the topology, as a use case: from the native config, or from Flamework's PHP config files when
 * they are given. Returns the warnings; the caller decides where to show them.
 */
import { loadConfig, type Loaded } from '../config/load.js';
import { loadFlameworkFiles } from '../config/flamework/loader.js';
import { openDb, type Db } from '../db/pool.js';
import { resolveMappingTable } from './mapping-table.js';

interface TopologySource {
  /** --config (native YAML/JSON). */
  config?: string;
  /** --flamework-config files, in PHP's load order; when given, they replace the native config. */
  flameworkConfig?: string[];
  env: Readonly<Record<string, string | undefined>>;
  cwd: string;
}

export type LoadedTopology = Loaded & { path: string };

/** Read and validate the topology; no server is contacted. */
export function loadTopology(src: TopologySource): LoadedTopology {
  if (src.flameworkConfig && src.flameworkConfig.length > 0) {
    const { topology, warnings, raw, path } = loadFlameworkFiles(src.flameworkConfig, { env: src.env, cwd: src.cwd });
    return { topology, warnings, raw, path };
  }
  return loadConfig({ ...(src.config ? { config: src.config } : {}), env: src.env, cwd: src.cwd });
}

/**
 * A loaded topology, completed with what only the servers can tell: the mapping table's real name
 * (`users` or `Users`) when the config does not give it. Commands that connect use this one.
 */
export async function resolveTopology(loaded: LoadedTopology): Promise<LoadedTopology> {
  if (loaded.topology.mapping.tableSource !== 'default') return loaded;
  const dbs: Db[] = [];
  try {
    const topology = await resolveMappingTable(loaded.topology, (e) => {
      const db = openDb(e);
      dbs.push(db);
      return db;
    });
    return { ...loaded, topology };
  } finally {
    await Promise.allSettled(dbs.map((d) => d.close()));
  }
}

/**
 * What a command needs from the process, passed in so commands stay testable: output streams, env, cwd.
 * Discipline (after Shopify cli-kit): stdout carries results only (tables, JSON); logs, warnings,
 * progress and errors go to stderr.
 */
import { FwShardError, ExitCode } from '../errors/index.js';
import { loadConfig, type Loaded } from '../config/load.js';
import { openDb, type Db } from '../db/pool.js';
import { resolveMappingTable } from '../topology/mapping-table.js';

export interface CliContext {
  stdout: NodeJS.WritableStream & { isTTY?: boolean };
  stderr: NodeJS.WritableStream & { isTTY?: boolean };
  stdinIsTTY: boolean;
  env: Readonly<Record<string, string | undefined>>;
  cwd: string;
}

export interface GlobalOptions {
  config?: string;
  flameworkConfig?: string[];
}

export function out(ctx: CliContext, text: string): void {
  ctx.stdout.write(text.endsWith('\n') ? text : text + '\n');
}

export function log(ctx: CliContext, text: string): void {
  ctx.stderr.write(text.endsWith('\n') ? text : text + '\n');
}

export function warn(ctx: CliContext, text: string): void {
  log(ctx, `warning: ${text}`);
}

export function printJson(ctx: CliContext, doc: Record<string, unknown>): void {
  out(ctx, JSON.stringify({ schemaVersion: 1, ...doc }, null, 2));
}

/** Resolve the topology from --flamework-config files or the native config; print config warnings. */
export type TopologyLoader = (ctx: CliContext, g: GlobalOptions) => Loaded & { path: string };

let flameworkLoader: TopologyLoader | undefined;
/** Set by the flamework import module (kept separate so the native path has no PHP parser). */
export function setFlameworkLoader(l: TopologyLoader): void {
  flameworkLoader = l;
}

export function loadTopology(ctx: CliContext, g: GlobalOptions): Loaded & { path: string } {
  let loaded: Loaded & { path: string };
  if (g.flameworkConfig && g.flameworkConfig.length > 0) {
    if (!flameworkLoader) throw new FwShardError('USAGE', '--flamework-config is not available in this build');
    loaded = flameworkLoader(ctx, g);
  } else {
    loaded = loadConfig({ ...(g.config ? { config: g.config } : {}), env: ctx.env, cwd: ctx.cwd });
  }
  for (const w of loaded.warnings) warn(ctx, w);
  return loaded;
}

export { ExitCode };

/**
 * loadTopology, then what only the servers can tell: the mapping table's real name (`users` or
 * `Users`) when the config does not give it. Commands that connect use this one.
 */
export async function loadTopologyResolved(ctx: CliContext, g: GlobalOptions): Promise<Loaded & { path: string }> {
  const loaded = loadTopology(ctx, g);
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

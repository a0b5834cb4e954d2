/**
 * The typed model of a Flamework federation: which servers exist, which shard ids they carry, and where
 * the user→shard mapping lives. Built from the native config by src/config; read by everything else.
 */
import { FwShardError } from '../errors/index.js';
import type { Secret } from './secret.js';

export type ShardId = number & { readonly __brand: 'ShardId' };
/** User ids are decimal strings end to end: ids beyond 2^53 must never pass through a JS number. */
export type UserId = string & { readonly __brand: 'UserId' };

export interface TlsOptions {
  ca?: string;
  cert?: string;
  key?: string;
  verifyIdentity?: boolean;
}

/** One database on one server, as fw-shard connects to it. */
export interface Endpoint {
  /** Human name used in every message: "db_main", "shard 3", "tickets 2", "replica 1 of shard 3". */
  readonly role: string;
  readonly host: string;
  readonly port: number;
  readonly socket?: string;
  readonly user: string;
  readonly database: string;
  readonly password?: Secret;
  /** Where the password came from, for `config show` (never the value). */
  readonly passwordSource: 'none' | 'inline' | `env:${string}` | `file:${string}`;
  readonly tls?: TlsOptions;
  readonly replicas: readonly Endpoint[];
}

export interface MappingSpec {
  cluster: 'main' | 'accounts';
  table: string;
  /** `config`: named by mapping.table; `default`: not named, `users` assumed; `detected`: read from the server. */
  tableSource?: 'config' | 'default' | 'detected';
  idColumn: string;
  shardColumn: string;
}

/** `column -> parent.key`: the table's `column` holds the key of one of its owner's rows of `parent`. */
export interface ThroughLink {
  column: string;
  parent: string;
  key: string;
  /**
   * tables.shared (`id <- smol_archive.item_id`): the other way round, the parent's `key` holds this
   * table's `column`, and several parent rows (of several users) may hold the same value: a row is the
   * user's to copy when one of the user's parent rows refers to it, and stays where any other row does.
   */
  shared?: true;
}

export interface TableSelection {
  ownerColumn: string;
  include?: readonly string[];
  exclude: readonly string[];
  /** Per-table owner column overrides. */
  owners: Readonly<Record<string, string>>;
  /** Tables owned through a parent (no owner column of their own): tables.through, src/move/owner-paths.ts. */
  through?: Readonly<Record<string, ThroughLink>>;
  /** Rows of one user in a table with neither primary nor unique key that fw-shard will copy as one unit. */
  keylessRowCap: number;
  /** `Table` or `Table.column` whose ids come from the ticket servers: only these are checked (src/status/ticketed.ts). */
  ticketed?: readonly string[];
  /** `Table` or `Table.column` whose ids do not come from the ticket servers (ids of an outside service). */
  notTicketed?: readonly string[];
}

export interface MemcachedSpec {
  servers: readonly string[];
  /** Key templates with {id}; the prefix (if any) is put in front as Flamework does: `${prefix}_${key}`. */
  keys: readonly string[];
  prefix?: string;
}

export interface Topology {
  readonly main: Endpoint;
  readonly accounts?: Endpoint;
  readonly shards: ReadonlyMap<ShardId, Endpoint>;
  readonly tickets: readonly Endpoint[];
  readonly mapping: MappingSpec;
  readonly tables: TableSelection;
  readonly memcached?: MemcachedSpec;
  /** The config declares Flamework's poor man's federation: a shard may be db_main itself. */
  readonly poorMansFederation: boolean;
  /** config `guard`: how long a moved user's fence stays on the old shard (src/move/guard-lifecycle.ts). */
  readonly guard?: { readonly retentionSeconds: number };
}

/** Identity of a server process (two endpoints on the same one can share a pool). */
function serverId(e: Endpoint): string {
  return e.socket ? `socket:${e.socket}` : `${e.host.toLowerCase()}:${e.port}`;
}

/** Identity of one database on one server. */
export function databaseId(e: Endpoint): string {
  return `${serverId(e)}/${e.database}`;
}

/** "127.0.0.1:3307/users2", for messages. Never includes credentials. */
export function describeEndpoint(e: Endpoint): string {
  return `${e.role} (${e.socket ? e.socket : `${e.host}:${e.port}`}/${e.database})`;
}

/** The endpoint holding the user→shard mapping table. */
export function mappingEndpoint(t: Topology): Endpoint {
  if (t.mapping.cluster === 'accounts') {
    if (!t.accounts) throw new Error('mapping.cluster is accounts but no accounts server is configured');
    return t.accounts;
  }
  return t.main;
}

/** Shards that are physically the same database as db_main (poor man's federation). */
export function shardsOnMain(t: Topology): ShardId[] {
  const main = databaseId(t.main);
  return [...t.shards].filter(([, e]) => databaseId(e) === main).map(([id]) => id);
}

/** True when every shard is db_main itself: moving between shards would be meaningless. */
export function isPoorMansOnly(t: Topology): boolean {
  return t.shards.size > 0 && shardsOnMain(t).length === t.shards.size;
}

/** Groups of shard ids that point at the same database (a misconfiguration unless on purpose). */
export function sharedShardDatabases(t: Topology): ShardId[][] {
  const by = new Map<string, ShardId[]>();
  for (const [id, e] of t.shards) {
    const k = databaseId(e);
    by.set(k, [...(by.get(k) ?? []), id]);
  }
  return [...by.values()].filter((ids) => ids.length > 1);
}

export function shardIdOf(n: number): ShardId {
  return n as ShardId;
}

export function parseShardId(text: string, t: Topology | undefined, flag: string): ShardId {
  if (!/^[0-9]+$/.test(text.trim())) {
    throw new FwShardError('USAGE', `${flag} must be a shard id (a whole number from 1 to 255), got '${text}'`);
  }
  const n = Number(text.trim());
  if (n < 1 || n > 255) throw new FwShardError('UNKNOWN_SHARD', `${flag} ${n} is out of range: shard ids run from 1 to 255`);
  if (t && !t.shards.has(n as ShardId)) {
    throw new FwShardError('UNKNOWN_SHARD', `${flag} ${n}: no such shard in the topology (known: ${[...t.shards.keys()].sort((a, b) => a - b).join(', ')})`, {
      hint: 'Check the shard id, or add the shard to the config (fw-shard config show lists them).',
    });
  }
  return n as ShardId;
}

/** User ids: decimal digits only, 1..18446744073709551615, kept as a canonical string. */
export function parseUserId(text: string): UserId {
  const s = String(text).trim();
  if (!/^[0-9]+$/.test(s)) throw new FwShardError('USAGE', `--user must be a user id (digits only), got '${text}'`);
  const v = BigInt(s);
  if (v < 1n || v > 18446744073709551615n) throw new FwShardError('USAGE', `--user ${s} is out of range (1 to 18446744073709551615)`);
  return v.toString() as UserId;
}

/**
 * Config: find → parse → normalize → validate. Returns a Topology or throws one CONFIG_* error that
 * lists every problem at once as `path: problem`.
 */
import { parseDuration } from './units.js';
import { readFileSync, statSync, existsSync } from 'node:fs';
import { resolve, dirname } from 'node:path';
import { isMap, isScalar, isSeq, LineCounter, parseDocument } from 'yaml';
import { FwShardError } from '../errors/index.js';
import { databaseId, shardIdOf, type Endpoint, type ShardId, type Topology } from '../topology/index.js';
import { DEFAULT_USER_KEYS } from '../cache/keys.js';
import { EndpointBuilder } from './endpoints.js';
import { configSchema, formatIssues, parseShared, parseThrough, type KeyLines, type RawConfig, type ServerConfig } from './schema.js';

const CONFIG_CANDIDATES = ['fw-shard.config.yaml', 'fw-shard.config.yml', 'fw-shard.config.json'];

interface ConfigSource {
  /** Explicit --config. */
  config?: string;
  env: Readonly<Record<string, string | undefined>>;
  cwd: string;
}

/** --config, then FW_SHARD_CONFIG, then ./fw-shard.config.{yaml,yml,json}. */
export function findConfigPath(src: ConfigSource): string {
  const explicit = src.config ?? src.env.FW_SHARD_CONFIG;
  if (explicit) {
    const p = resolve(src.cwd, explicit);
    if (!existsSync(p)) {
      throw new FwShardError('CONFIG_NOT_FOUND', `config file ${p} does not exist`, {
        hint: 'Check the path given with --config or FW_SHARD_CONFIG.',
      });
    }
    return p;
  }
  for (const name of CONFIG_CANDIDATES) {
    const p = resolve(src.cwd, name);
    if (existsSync(p)) return p;
  }
  throw new FwShardError('CONFIG_NOT_FOUND', `no config file: none of ${CONFIG_CANDIDATES.join(', ')} in ${src.cwd}`, {
    hint:
      'Pass --config FILE, set FW_SHARD_CONFIG, or import a Flamework config with ' +
      '`fw-shard config import --flamework-config www/include/config.php > fw-shard.config.yaml`.',
  });
}

/** Parse YAML or JSON text (YAML is a superset of JSON). Syntax errors name the line. */
export function parseConfigText(text: string, path: string): unknown {
  return parseConfigSource(text, path).raw;
}

/** parseConfigText, and where each key is written (for problems that name a line). */
export function parseConfigSource(text: string, path: string): { raw: unknown; lines: KeyLines } {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { uniqueKeys: true, prettyErrors: true, lineCounter });
  if (doc.errors.length > 0) {
    const lines = doc.errors.map((e) => {
      const pos = e.linePos?.[0];
      return `${path}${pos ? `:${pos.line}:${pos.col}` : ''}: ${e.message.split('\n')[0]}`;
    });
    throw new FwShardError('CONFIG_PARSE', `config file is not valid YAML/JSON:\n  ${lines.join('\n  ')}`, {
      hint: 'Fix the syntax at the line shown.',
    });
  }
  const keyText = (k: unknown): string | undefined => (isScalar(k) ? String(k.value) : undefined);
  const pairOf = (node: unknown, key: string) => (isMap(node) ? node.items.find((p) => keyText(p.key) === key) : undefined);
  const lines: KeyLines = (at, key) => {
    let node: unknown = doc.contents;
    for (const seg of at) node = isSeq(node) ? node.items[Number(seg)] : pairOf(node, String(seg))?.value;
    const start = (pairOf(node, key)?.key as { range?: [number, number, number] } | undefined)?.range?.[0];
    return start === undefined ? undefined : lineCounter.linePos(start).line;
  };
  return { raw: doc.toJS(), lines };
}

export function readConfigFile(path: string): { raw: unknown; warnings: string[]; lines: KeyLines } {
  let text: string;
  const warnings: string[] = [];
  try {
    text = readFileSync(path, 'utf8');
    const mode = statSync(path).mode;
    if (mode & 0o004) {
      warnings.push(`config file ${path} is readable by every user on this machine (chmod o-r ${path})`);
    }
  } catch (err) {
    throw new FwShardError('CONFIG_UNREADABLE', `cannot read config file ${path}: ${(err as Error).message}`, {
      hint: 'Check the file exists and that this user may read it.',
    });
  }
  return { ...parseConfigSource(text, path), warnings };
}

export interface Loaded {
  topology: Topology;
  warnings: string[];
  raw: RawConfig;
}

/** Validate the raw document and build the Topology. Every problem is collected before throwing. */
export function normalizeConfig(
  raw: unknown,
  opts: { env: Readonly<Record<string, string | undefined>>; baseDir: string; origin: string; lines?: KeyLines },
): Loaded {
  let parsed = configSchema.safeParse(raw ?? {});
  const problems: string[] = [];
  if (!parsed.success) {
    problems.push(...formatIssues(parsed.error, opts.lines));
    // Unknown keys (typos) alone should not hide the other problems: drop them and check the rest.
    const onlyUnknown = parsed.error.issues.every((i) => i.code === 'unrecognized_keys');
    if (!onlyUnknown) throw invalid(opts.origin, problems);
    parsed = configSchema.safeParse(withoutKeys(raw, parsed.error.issues as { path: PropertyKey[]; keys: string[] }[]));
    if (!parsed.success) throw invalid(opts.origin, problems);
  }
  const cfg = parsed.data;
  const warnings: string[] = [];
  const d = cfg.defaults ?? {};

  const servers = new EndpointBuilder(d, opts.env, opts.baseDir, problems, warnings);
  const endpoint = (path: string, role: string, sc: ServerConfig): Endpoint => servers.endpoint(path, role, sc);

  const main = endpoint('main', 'db_main', cfg.main);
  const accounts = cfg.accounts ? endpoint('accounts', 'db_accounts', cfg.accounts) : undefined;
  const shards = new Map<ShardId, Endpoint>();
  for (const key of Object.keys(cfg.shards).sort((a, b) => Number(a) - Number(b))) {
    const id = shardIdOf(Number(key));
    if (shards.has(id)) {
      problems.push(`shards.${key}: duplicate shard id ${id} (also written as another key)`);
      continue;
    }
    shards.set(id, endpoint(`shards.${key}`, `shard ${id}`, cfg.shards[key]!));
  }
  const tickets = (cfg.tickets ?? []).map((t, i) => endpoint(`tickets.${i}`, `tickets ${i + 1}`, t));
  servers.finish();

  // A shard on db_main's own database is poor man's federation, or, with the flag off, the graduation
  // state (db_users[1] is db_main, real shards added next to it): both valid; table-selection keeps
  // db_main's own tables in place.
  const poorMansFederation = cfg.poorMans?.federation === true;
  const mainDb = databaseId(main);
  const seen = new Map<string, ShardId>();
  for (const [id, e] of shards) {
    const k = databaseId(e);
    const other = seen.get(k);
    if (other !== undefined && k !== mainDb) {
      problems.push(`shards.${id}: same server and database as shard ${other} (${k}); each shard needs its own database`);
    }
    seen.set(k, id);
  }

  const mappingCluster = cfg.mapping?.cluster ?? 'main';
  if (mappingCluster === 'accounts' && !accounts) {
    problems.push('mapping.cluster: is accounts, but there is no accounts server block');
  }
  const include = cfg.tables?.include;
  const exclude = cfg.tables?.exclude ?? [];
  for (const t of include ?? []) {
    if (exclude.includes(t)) problems.push(`tables.exclude: '${t}' is also in tables.include`);
  }
  for (const t of Object.keys(cfg.tables?.shared ?? {})) {
    if (cfg.tables?.through?.[t] !== undefined)
      problems.push(`tables.shared: '${t}' is also in tables.through (a table is owned through one parent, or shared)`);
  }

  if (problems.length > 0) throw invalid(opts.origin, problems);

  const topology: Topology = {
    main,
    ...(accounts ? { accounts } : {}),
    shards,
    tickets,
    mapping: {
      cluster: mappingCluster,
      table: cfg.mapping?.table ?? 'users',
      tableSource: cfg.mapping?.table !== undefined ? 'config' : 'default',
      idColumn: cfg.mapping?.idColumn ?? 'id',
      shardColumn: cfg.mapping?.shardColumn ?? 'cluster_id',
    },
    tables: {
      ownerColumn: cfg.tables?.ownerColumn ?? 'user_id',
      ...(include ? { include } : {}),
      exclude,
      owners: cfg.tables?.owners ?? {},
      ...(cfg.tables?.through || cfg.tables?.shared
        ? {
            through: Object.fromEntries([
              ...Object.entries(cfg.tables.through ?? {}).map(([t, l]) => [t, parseThrough(l)!] as const),
              ...Object.entries(cfg.tables.shared ?? {}).map(([t, l]) => [t, { ...parseShared(l)!, shared: true as const }] as const),
            ]),
          }
        : {}),
      keylessRowCap: cfg.tables?.keylessRowCap ?? 100_000,
      ...(cfg.tables?.ticketed ? { ticketed: cfg.tables.ticketed } : {}),
      ...(cfg.tables?.notTicketed ? { notTicketed: cfg.tables.notTicketed } : {}),
    },
    ...(cfg.memcached
      ? {
          memcached: {
            servers: cfg.memcached.servers,
            keys: cfg.memcached.keys ?? DEFAULT_USER_KEYS,
            ...(cfg.memcached.prefix !== undefined ? { prefix: cfg.memcached.prefix } : {}),
          },
        }
      : {}),
    poorMansFederation,
    ...(cfg.guard?.retention !== undefined ? { guard: { retentionSeconds: Math.floor(parseDuration(cfg.guard.retention, 'guard.retention') / 1000) } } : {}),
  };
  return { topology, warnings, raw: cfg };
}

/** A deep copy of `raw` without the keys zod reported as unknown. */
function withoutKeys(raw: unknown, issues: { path: PropertyKey[]; keys: string[] }[]): unknown {
  const copy = structuredClone(raw) as Record<string, unknown>;
  for (const issue of issues) {
    let node: unknown = copy;
    for (const p of issue.path) node = (node as Record<PropertyKey, unknown> | undefined)?.[p];
    if (node && typeof node === 'object') for (const k of issue.keys) delete (node as Record<string, unknown>)[k];
  }
  return copy;
}

function invalid(origin: string, problems: string[]): FwShardError {
  return new FwShardError('CONFIG_INVALID', `${origin}: ${problems.length} problem${problems.length > 1 ? 's' : ''}:\n  ${problems.join('\n  ')}`, {
    hint: 'Fix each line above; `fw-shard config show` prints the resolved topology once it is valid.',
    details: { problems },
  });
}

/** The whole path for the CLI: find, read, normalize. */
export function loadConfig(src: ConfigSource): Loaded & { path: string } {
  const path = findConfigPath(src);
  const { raw, warnings, lines } = readConfigFile(path);
  const loaded = normalizeConfig(raw, { env: src.env, baseDir: dirname(path), origin: path, lines });
  return { ...loaded, warnings: [...warnings, ...loaded.warnings], path };
}

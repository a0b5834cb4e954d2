/**
 * Flamework PHP config → native fw-shard config. The files are replayed in load order onto one
 * `$GLOBALS['cfg']`, as PHP would (later files override whole blocks or single keys), then init.php's
 * poor man's modes are applied, then the db_* clusters are mapped to the native schema.
 */
import { dirname, join, normalize } from 'node:path';
import { FwShardError } from '../../errors/index.js';
import { Secret } from '../../topology/secret.js';
import type { RawConfig, ServerConfig } from '../schema.js';
import { DEFAULT_USER_KEYS } from '../../cache/keys.js';
import {
  PhpArray,
  PhpEvalError,
  evaluatePhp,
  literalPrefix,
  parsePhpConfig,
  phpString,
  type CfgStatement,
  type PhpInclude,
  phpTruthy,
  type PhpKey,
  type PhpValue,
} from './php.js';

export interface FlameworkFile {
  /** As shown in messages (file:line). */
  path: string;
  text: string;
}

export interface ImportOptions {
  /** Reads a file an include names (its path joined to the including file's directory); undefined when it cannot. */
  readFile?: (path: string) => string | undefined;
}

export interface FlameworkImport {
  /** Native config, passwords inline (`password`): for use in memory only, never to print. */
  raw: RawConfig;
  warnings: string[];
  /** Every distinct non-empty password found, for `scrubSecrets` on messages that might echo one. */
  passwords: Secret[];
}

/** Flamework cluster blocks fw-shard reads (`$GLOBALS['cfg']['db_X']`). */
const CLUSTERS = ['db_main', 'db_users', 'db_tickets', 'db_main_slaves', 'db_accounts'];
/** The keys `_db_connect` reads from a cluster block; any other key (auto_connect...) does not matter. */
const CONNECTION_KEYS = ['host', 'user', 'pass', 'name'];
const FLAGS = {
  slaves: 'db_enable_poormans_slaves',
  ticketing: 'db_enable_poormans_ticketing',
  federation: 'db_enable_poormans_federation',
} as const;

/** `cfg['db_users']['host'][2]`, for messages. */
function cfgPath(path: readonly (PhpKey | null)[]): string {
  return `cfg${path.map((k) => (k === null ? '[]' : typeof k === 'number' ? `[${k}]` : `['${k}']`)).join('')}`;
}

/**
 * How much an unreadable statement at `path` matters. `error`: it may change a connection fw-shard
 * uses, so the import cannot be trusted. `warn`: another db_* key, or a key that is not a constant.
 */
function severity(path: readonly PhpKey[], complete: boolean): 'error' | 'warn' | 'ignore' {
  if (path.length === 0) return complete ? 'error' : 'warn'; // the whole cfg, or `cfg[$k]`
  const [first, second] = path;
  if (typeof first !== 'string') return 'ignore';
  if ((Object.values(FLAGS) as string[]).includes(first)) return 'error';
  if (CLUSTERS.includes(first)) return path.length === 1 || CONNECTION_KEYS.includes(String(second)) ? 'error' : 'ignore';
  if (CACHE_KEYS.includes(first)) return 'warn';
  return first.startsWith('db_') ? 'warn' : 'ignore';
}

/** The settings that say where the user row is cached and under which key prefix. */
const CACHE_KEYS = ['cache_remote_engine', 'remote_cache_engine', 'memcache_host', 'memcache_port', 'cache_prefix', 'enable_feature_cache_prefixes'];

/**
 * The evolving `$GLOBALS['cfg']`. Invariant: `root` holds the single key `cfg`, so assigning the whole
 * cfg is an ordinary set; `history` lists every write in order, so a problem found after all files were
 * applied can still name the file and line that caused it.
 */
class CfgState {
  readonly #root = new PhpArray();
  readonly #history: { path: PhpKey[]; where: string }[] = [];

  read(path: readonly PhpKey[]): PhpValue | undefined {
    let v: PhpValue | undefined = this.#root.get('cfg');
    for (const k of path) {
      if (!(v instanceof PhpArray)) return undefined;
      v = v.get(k);
    }
    return v;
  }

  /** `$GLOBALS['cfg']...path = value` with PHP's auto-vivification; throws PhpEvalError where PHP fails. */
  set(path: readonly (PhpKey | null)[], value: PhpValue, where: string): void {
    /** Store `v` under `step` (`null`: append) and return the key used. */
    const put = (into: PhpArray, step: PhpKey | null, v: PhpValue): PhpKey => {
      if (step === null) return into.append(v);
      into.set(step, v);
      return step;
    };
    const resolved: PhpKey[] = [];
    let container = this.#root;
    const steps: (PhpKey | null)[] = ['cfg', ...path];
    for (const [s, step] of steps.entries()) {
      if (s === steps.length - 1) {
        resolved.push(put(container, step, value));
        break;
      }
      const child = step === null ? undefined : container.get(step);
      if (child instanceof PhpArray) {
        resolved.push(step!);
        container = child;
        continue;
      }
      // PHP turns an unset, null or false element into an array; any other scalar is an error.
      if (child !== undefined && child !== null && child !== false) {
        throw new PhpEvalError(`${cfgPath([...resolved.slice(1), step!])} is a ${typeof child}, not an array`);
      }
      const fresh = new PhpArray();
      resolved.push(put(container, step, fresh));
      container = fresh;
    }
    this.#history.push({ path: resolved.slice(1), where });
  }

  unset(path: readonly PhpKey[], where: string): void {
    const parent = path.length === 0 ? this.#root : this.read(path.slice(0, -1));
    if (parent instanceof PhpArray) parent.delete(path.length === 0 ? 'cfg' : path[path.length - 1]!);
    this.#history.push({ path: [...path], where });
  }

  /** Where the value at `path` was last written: the latest write to it, inside it, or to a parent. */
  whereSet(path: readonly PhpKey[]): string {
    const related = (p: PhpKey[]): boolean => {
      const n = Math.min(p.length, path.length);
      for (let k = 0; k < n; k++) if (p[k] !== path[k]) return false;
      return true;
    };
    for (let h = this.#history.length - 1; h >= 0; h--) {
      if (related(this.#history[h]!.path)) return this.#history[h]!.where;
    }
    return '(not set)';
  }
}

/** Split Flamework's `host` (mysql_connect syntax): `host`, `host:port`, `[v6]:port`, `host:/socket`. */
function splitHost(value: string): { host: string; port?: number; socket?: string } | { error: string } {
  const bracketed = /^\[([^\]]+)\](?::([0-9]+))?$/.exec(value);
  const colon = value.indexOf(':');
  let host = value;
  let port: string | undefined;
  if (bracketed) {
    host = bracketed[1]!;
    port = bracketed[2];
  } else if (colon >= 0 && value.indexOf(':', colon + 1) < 0) {
    host = value.slice(0, colon);
    const rest = value.slice(colon + 1);
    if (rest.startsWith('/')) return { host: host || 'localhost', socket: rest };
    if (!/^[0-9]+$/.test(rest)) return { error: `'${value}' is neither host nor host:port` };
    port = rest;
  } // else: a bare IPv6 address (several colons) or a plain host name
  if (port === undefined) return { host };
  const n = Number(port);
  if (n < 1 || n > 65535) return { error: `port ${port} in '${value}' is out of range (1-65535)` };
  return { host, port: n };
}

/** What `_db_connect` needs besides the database name. */
interface Connection {
  host: string;
  port: number;
  socket?: string;
  user?: string;
  password: string;
}

/** Maps the final cfg to the native schema, collecting every problem before anyone throws. */
class Mapper {
  readonly problems: string[] = [];
  readonly warnings: string[] = [];
  constructor(private readonly cfg: CfgState) {}

  problem(path: readonly PhpKey[], text: string): void {
    this.problems.push(`${this.cfg.whereSet(path)}: ${cfgPath(path)} ${text}`);
  }

  /** PHP's string cast of a scalar setting; arrays are a problem (undefined). */
  string(path: readonly PhpKey[]): string | undefined {
    const s = phpString(this.cfg.read(path));
    if (s === undefined) this.problem(path, 'is an array; a string was expected');
    return s;
  }

  /** host/user/pass of one server. `hostPath` is where `_db_connect` reads `$host` (maybe `[$k]`). */
  connection(cluster: string, hostPath: readonly PhpKey[]): Connection | undefined {
    const hostValue = this.string(hostPath);
    const user = this.string([cluster, 'user']);
    const password = this.string([cluster, 'pass']) ?? '';
    if (hostValue === undefined) return undefined;
    if (hostValue === '') {
      this.problem(hostPath, `is empty or unset; Flamework would stop with "no such cluster"`);
      return undefined;
    }
    const split = splitHost(hostValue);
    if ('error' in split) {
      this.problem(hostPath, split.error);
      return undefined;
    }
    return {
      host: split.host,
      port: split.port ?? 3306,
      ...(split.socket ? { socket: split.socket } : {}),
      ...(user ? { user } : {}),
      password,
    };
  }

  /** One server with its database, read at `namePath` unless the caller supplies `name`. */
  server(cluster: string, hostPath: readonly PhpKey[], namePath: readonly PhpKey[], name = this.string(namePath)): ServerConfig | undefined {
    const conn = this.connection(cluster, hostPath);
    if (!name) this.problem(namePath, 'is empty or unset: no database name');
    return conn && name ? { ...conn, database: name } : undefined;
  }

  /** A block that is an array, or absent; anything else is a problem. */
  block(cluster: string): PhpArray | undefined {
    const v = this.cfg.read([cluster]);
    if (v instanceof PhpArray) return v;
    if (v !== undefined && v !== null) this.problem([cluster], 'is not an array');
    return undefined;
  }

  main(): ServerConfig | undefined {
    if (!this.block('db_main')) {
      this.problems.push(`no cfg['db_main'] in any file: the files given must include config.php`);
      return undefined;
    }
    return this.server('db_main', ['db_main', 'host'], ['db_main', 'name']);
  }

  /** db_users: per-shard host and name arrays keyed by shard id; user and pass shared. */
  shards(): Record<string, ServerConfig> {
    const shards: Record<string, ServerConfig> = {};
    if (!this.block('db_users')) {
      this.problems.push(`no cfg['db_users'] in any file and ${FLAGS.federation} is off: there are no shards`);
      return shards;
    }
    const hosts = this.cfg.read(['db_users', 'host']);
    const names = this.cfg.read(['db_users', 'name']);
    if (!(hosts instanceof PhpArray) || hosts.size === 0) {
      this.problem(['db_users', 'host'], 'must be a non-empty array keyed by shard id (1 => host, 2 => host...)');
      return shards;
    }
    if (!(names instanceof PhpArray)) {
      this.problem(['db_users', 'name'], 'must be an array keyed by shard id (1 => database, ...)');
      return shards;
    }
    for (const id of hosts.keys()) {
      if (typeof id !== 'number' || id < 1 || id > 255) {
        this.problem(
          ['db_users', 'host', id],
          `has the shard id ${typeof id === 'number' ? id : `'${id}'`}: shard ids run from 1 to 255 ` +
            `(users.cluster_id is TINYINT UNSIGNED and Flamework treats 0 as "not sharded")`,
        );
        continue;
      }
      const s = this.server('db_users', ['db_users', 'host', id], ['db_users', 'name', id]);
      if (s) shards[String(id)] = s;
    }
    for (const id of names.keys()) {
      if (!hosts.has(id)) this.warnings.push(`${this.cfg.whereSet(['db_users', 'name', id])}: ${cfgPath(['db_users', 'name', id])} has no host; ignored`);
    }
    return shards;
  }

  /**
   * db_tickets, scalar shape (one server) or array shape. For the array shape Dotspotting's
   * `db_tickets_write` picks `rand(1, count(host))`, so servers are keys 1..count and nothing else.
   */
  tickets(): ServerConfig[] {
    if (!this.block('db_tickets')) return [];
    const hosts = this.cfg.read(['db_tickets', 'host']);
    if (!(hosts instanceof PhpArray)) {
      const s = this.server('db_tickets', ['db_tickets', 'host'], ['db_tickets', 'name']);
      return s ? [s] : [];
    }
    const names = this.cfg.read(['db_tickets', 'name']);
    // When name has no entry for server k, Flamework would use $name[$k]: nothing (no database selected)
    // or, when name is a string, its k-th character. Both are broken; the evident intent is the one
    // database name given, so that is used (with a warning) when there is exactly one.
    const given = names instanceof PhpArray ? [...new Set(names.entries().map(([, v]) => phpString(v)))] : [phpString(names)];
    const sole = given.length === 1 && given[0] ? given[0] : undefined;
    const servers: ServerConfig[] = [];
    for (let k = 1; k <= hosts.size; k++) {
      if (!hosts.has(k)) {
        this.problem(['db_tickets', 'host'], `has ${hosts.size} entries but no key ${k}: Flamework picks a ticket server with rand(1, ${hosts.size})`);
        continue;
      }
      const named = names instanceof PhpArray && names.has(k);
      const s = this.server('db_tickets', ['db_tickets', 'host', k], ['db_tickets', 'name', k], named ? undefined : sole);
      if (s && !named) {
        this.warnings.push(
          `${this.cfg.whereSet(['db_tickets', 'name'])}: ${cfgPath(['db_tickets', 'name'])} ` +
            (names instanceof PhpArray
              ? `has no entry for ticket server ${k} (Flamework would select no database there)`
              : `is a string, not an array keyed like host (Flamework would use its character [${k}])`) +
            `; assuming '${sole}'`,
        );
      }
      if (s) servers.push(s);
    }
    return servers;
  }

  /** db_main_slaves → replicas of main. A replica is a connection only: it always serves main's database. */
  replicas(main: ServerConfig): NonNullable<ServerConfig['replicas']> {
    if (!this.block('db_main_slaves')) return [];
    const hosts = this.cfg.read(['db_main_slaves', 'host']);
    const keys: (PhpKey | undefined)[] = hosts instanceof PhpArray ? hosts.keys() : [undefined];
    const out: NonNullable<ServerConfig['replicas']> = [];
    for (const k of keys) {
      const at = (field: string): PhpKey[] => (k === undefined ? ['db_main_slaves', field] : ['db_main_slaves', field, k]);
      const conn = this.connection('db_main_slaves', at('host'));
      if (!conn) continue;
      const name = phpString(this.cfg.read(at('name')));
      if (name && name !== main.database) {
        this.warnings.push(
          `${this.cfg.whereSet(at('name'))}: ${cfgPath(at('name'))} is '${name}'; fw-shard reads replicas with db_main's database '${main.database}'`,
        );
      }
      out.push({
        host: conn.host,
        port: conn.port,
        ...(conn.socket ? { socket: conn.socket } : {}),
        ...(conn.user && conn.user !== main.user ? { user: conn.user } : {}),
        ...(conn.password !== main.password ? { password: conn.password } : {}),
      });
    }
    return out;
  }

  /**
   * memcache_host/memcache_port, used when the remote cache engine is memcache (`cache_remote_engine`,
   * or `remote_cache_engine` in some apps' init.php), and the key prefix: upstream applies
   * `cache_prefix` only with `enable_feature_cache_prefixes`; older lib_cache.php whenever it is set.
   */
  memcached(): RawConfig['memcached'] | undefined {
    const str = (k: string): string => (phpString(this.cfg.read([k])) ?? '').trim();
    const engineKey = this.cfg.read(['cache_remote_engine']) !== undefined ? 'cache_remote_engine' : 'remote_cache_engine';
    const engine = str(engineKey);
    const host = str('memcache_host');
    if (engine !== 'memcache') {
      if (host) {
        this.warnings.push(
          `${this.cfg.whereSet([engineKey])}: cfg['${engineKey}'] is '${engine}', not 'memcache': the app caches nothing remotely, ` +
            `so memcache_host ${host} is not imported (add a memcached section if the app does cache the user row there)`,
        );
      }
      return undefined;
    }
    if (!host) {
      this.warnings.push(
        `${this.cfg.whereSet([engineKey])}: the remote cache engine is memcache but cfg['memcache_host'] is empty: no memcached section written`,
      );
      return undefined;
    }
    const port = str('memcache_port') || '11211';
    const server = host.includes(':') && !host.startsWith('[') ? host : `${host}:${port}`;
    const prefix = str('cache_prefix');
    const feature = this.cfg.read(['enable_feature_cache_prefixes']);
    const usePrefix = prefix !== '' && (feature === undefined || phpTruthy(feature));
    if (prefix !== '' && feature === undefined) {
      this.warnings.push(
        `${this.cfg.whereSet(['cache_prefix'])}: cfg['cache_prefix'] is '${prefix}' and enable_feature_cache_prefixes is not set: ` +
          "older lib_cache.php prefixes keys whenever cache_prefix is set, upstream only with the feature on; assuming the prefix is used (check the app's lib_cache.php)",
      );
    }
    if (!/^[^\s:]+(:[0-9]{1,5})?$/.test(server)) {
      this.warnings.push(`${this.cfg.whereSet(['memcache_host'])}: memcache server '${server}' is not host:port: no memcached section written`);
      return undefined;
    }
    return { servers: [server], keys: [...DEFAULT_USER_KEYS], ...(usePrefix ? { prefix } : {}) };
  }

  accounts(): ServerConfig | undefined {
    if (!this.block('db_accounts')) return undefined;
    return this.server('db_accounts', ['db_accounts', 'host'], ['db_accounts', 'name']);
  }
}

/** init.php's poor man's modes, applied after every config file, in init.php's order. */
function applyPoorMans(cfg: CfgState, flags: Record<keyof typeof FLAGS, boolean>): void {
  const copyMain = (flag: keyof typeof FLAGS, target: string, perShard: boolean): void => {
    const where = `init.php ${FLAGS[flag]} (set at ${cfg.whereSet([FLAGS[flag]])})`;
    const main = cfg.read(['db_main']);
    cfg.set([target], main instanceof PhpArray ? main.clone() : (main ?? null), where);
    if (!perShard) return;
    // $cfg[target]['host'] = array(1 => $cfg['db_main']['host']); the same for 'name'.
    for (const field of ['host', 'name']) {
      const one = new PhpArray();
      const v = cfg.read(['db_main', field]);
      one.set(1, v instanceof PhpArray ? v.clone() : (v ?? null));
      cfg.set([target, field], one, where);
    }
  };
  if (flags.slaves) copyMain('slaves', 'db_main_slaves', true);
  if (flags.ticketing) copyMain('ticketing', 'db_tickets', false);
  if (flags.federation) copyMain('federation', 'db_users', true);
}

function fail(problems: string[]): never {
  throw new FwShardError(
    'FLAMEWORK_PARSE',
    `cannot import the Flamework config: ${problems.length} problem${problems.length > 1 ? 's' : ''}:\n  ${problems.join('\n  ')}`,
    {
      hint:
        'Fix each line named above. fw-shard reads only literal values (strings, numbers, true/false/null, arrays) ' +
        'in db_* settings; if the app computes them at run time, write a native config (fw-shard.config.yaml) instead.',
      details: { problems },
    },
  );
}

/**
 * Import Flamework config files, given in PHP load order (config.php, secrets.php, config_local_*.php...).
 * Throws FwShardError FLAMEWORK_PARSE listing every problem (with file:line) at once: a db_* connection
 * setting that is not a literal, a syntax error, a shard id outside 1..255, a missing host or name.
 * The result validates against `configSchema`; normalizeConfig still has to run on it.
 */
export function importFlamework(files: readonly FlameworkFile[], opts: ImportOptions = {}): FlameworkImport {
  const problems: string[] = [];
  const warnings: string[] = [];
  const report = (sev: 'error' | 'warn' | 'ignore', text: string): void => {
    if (sev === 'error') problems.push(text);
    else if (sev === 'warn') warnings.push(`${text}; ignored`);
  };

  // Parse every file and the files they include, into one list of statements in PHP's order.
  const statements: CfgStatement[] = [];
  const loaded = new Set<string>();
  const expand = (f: FlameworkFile, stack: readonly string[]): void => {
    const p = parsePhpConfig(f.path, f.text);
    loaded.add(normalize(f.path));
    if (p.fatal) problems.push(`${p.fatal.file}:${p.fatal.line}: ${p.fatal.reason}; the rest of the file cannot be read`);
    for (const x of p.failures) {
      report(
        severity(x.path, x.complete),
        `${x.file}:${x.line}: cannot read the assignment to ${cfgPath(x.complete ? x.path : [...x.path, '…'])}: ${x.reason}`,
      );
    }
    for (const n of p.notes) report(severity(n.path, true) === 'ignore' ? 'ignore' : 'warn', `${n.file}:${n.line}: ${n.reason}`);
    const events: ({ order: number; st: CfgStatement } | { order: number; inc: PhpInclude })[] = [
      ...p.statements.map((st) => ({ order: st.order ?? 0, st })),
      ...p.includes.map((inc) => ({ order: inc.order, inc })),
    ].sort((a, b) => a.order - b.order);
    for (const e of events) {
      if ('st' in e) {
        statements.push(e.st);
        continue;
      }
      const inc = e.inc;
      const where = `${inc.file}:${inc.line}`;
      if (inc.inBlock) {
        problems.push(
          `${where}: ${inc.kind} ${inc.text} is inside an if/else or loop: fw-shard cannot tell whether it runs; give the file with --flamework-config if the servers you mean load it`,
        );
        continue;
      }
      if (inc.target === null) {
        problems.push(
          `${where}: ${inc.kind} ${inc.text}: fw-shard follows only dirname(__FILE__) . '/file.php' and __DIR__ . '/file.php'; ` +
            'give the file it loads with --flamework-config, in load order',
        );
        continue;
      }
      const path = join(dirname(f.path), inc.target);
      if (inc.kind.endsWith('_once') && loaded.has(normalize(path))) continue;
      if (stack.includes(normalize(path))) {
        problems.push(`${where}: ${inc.kind} ${path} includes itself again (through ${stack.join(' → ')})`);
        continue;
      }
      const text = opts.readFile?.(path);
      if (text === undefined) {
        problems.push(
          `${where}: ${inc.kind} ${path}: cannot read that file; it may set db_* values, so fw-shard does not go on without it (put it next to the config file, or give it with --flamework-config)`,
        );
        continue;
      }
      expand({ path, text }, [...stack, normalize(path)]);
    }
  };
  for (const f of files) expand(f, [normalize(f.path)]);
  if (problems.length > 0) fail(problems);

  const cfg = new CfgState();
  for (const st of statements) {
    const where = `${st.file}:${st.line}`;
    const known = literalPrefix(st.path);
    try {
      if (st.op === 'unset') cfg.unset(st.path, where);
      else
        cfg.set(
          st.path,
          evaluatePhp(st.value, (p) => cfg.read(p)),
          where,
        );
    } catch (err) {
      if (!(err instanceof PhpEvalError)) throw err;
      report(severity(known, true), `${where}: cannot apply the assignment to ${cfgPath(st.path)}: ${err.message}`);
      continue;
    }
    if (st.inBlock && severity(known, true) !== 'ignore') {
      problems.push(
        `${where}: ${cfgPath(st.path)} is set inside an if/else or loop: fw-shard cannot tell whether it runs on the servers you mean; ` +
          'give the file that applies there with --flamework-config, or move the setting out of the condition',
      );
    }
  }
  if (problems.length > 0) fail(problems);

  const flags = {
    federation: phpTruthy(cfg.read([FLAGS.federation])),
    ticketing: phpTruthy(cfg.read([FLAGS.ticketing])),
    slaves: phpTruthy(cfg.read([FLAGS.slaves])),
  };
  applyPoorMans(cfg, flags);

  const m = new Mapper(cfg);
  const main = m.main();
  const shards = m.shards();
  const tickets = m.tickets();
  const accounts = m.accounts();
  // With poor man's slaves the only "slave" is db_main itself: not a replica worth reading from.
  const replicas = main && !flags.slaves ? m.replicas(main) : [];
  const memcached = m.memcached();
  if (m.problems.length > 0 || !main) fail(m.problems);
  warnings.push(...m.warnings);
  if (accounts) {
    warnings.push(
      `${cfg.whereSet(['db_accounts'])}: cfg['db_accounts'] is set (the whosonfirst fork): the users table and its cluster_id ` +
        'are read from db_accounts (mapping.cluster: accounts)',
    );
  }

  const raw: RawConfig = {
    version: 1,
    main: { ...main, ...(replicas.length > 0 ? { replicas } : {}) },
    ...(accounts ? { accounts } : {}),
    shards,
    ...(tickets.length > 0 ? { tickets } : {}),
    ...(accounts ? { mapping: { cluster: 'accounts' as const } } : {}),
    ...(memcached ? { memcached } : {}),
    poorMans: flags,
  };
  const all = [raw.main, ...(raw.main.replicas ?? []), ...(accounts ? [accounts] : []), ...Object.values(shards), ...tickets];
  const passwords = [...new Set(all.map((s) => s.password).filter((p): p is string => !!p))].map((p) => new Secret(p));
  return { raw, warnings, passwords };
}

/**
 * The same config with every non-empty password replaced by `passwordEnv: FW_SHARD_<ROLE>_PASSWORD`,
 * safe to print or commit. Roles follow Flamework's clusters: MAIN, MAIN_SLAVES, ACCOUNTS, USERS (one for
 * every shard: Flamework shares db_users' pass) and TICKETS. Servers that poor man's modes copied from
 * db_main use MAIN, since their password is db_main's. Returns the env var names the operator must set.
 */
export function toPortableConfig(raw: RawConfig): { config: RawConfig; env: string[] } {
  const env: string[] = [];
  const portable = <T extends { password?: string | undefined }>(s: T, role: string): T => {
    if (!s.password) return s; // absent or '': nothing secret
    const name = `FW_SHARD_${role}_PASSWORD`;
    if (!env.includes(name)) env.push(name);
    // Rebuilt entry by entry so passwordEnv takes password's place in the printed document.
    return Object.fromEntries(Object.entries(s).map(([k, v]) => (k === 'password' ? ['passwordEnv', name] : [k, v]))) as T;
  };
  const mainRole = (copied: boolean | undefined, own: string): string => (copied ? 'MAIN' : own);
  const { main, accounts, shards, tickets } = raw;
  const config: RawConfig = {
    ...raw,
    main: { ...portable(main, 'MAIN'), ...(main.replicas ? { replicas: main.replicas.map((r) => portable(r, 'MAIN_SLAVES')) } : {}) },
    ...(accounts ? { accounts: portable(accounts, 'ACCOUNTS') } : {}),
    shards: Object.fromEntries(Object.entries(shards).map(([id, s]) => [id, portable(s, mainRole(raw.poorMans?.federation, 'USERS'))])),
    ...(tickets ? { tickets: tickets.map((t) => portable(t, mainRole(raw.poorMans?.ticketing, 'TICKETS'))) } : {}),
  };
  return { config, env };
}

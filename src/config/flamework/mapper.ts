/**
 * What the Flamework config files set, applied (CfgState: PHP's cfg array after every statement, with
 * where each key was set) and mapped to fw-shard's servers (Mapper: db_main, db_users, db_tickets,
 * db_accounts, replicas, memcached), poor man's modes included, every problem worded with file:line.
 */
import type { RawConfig, ServerConfig } from '../schema.js';
import { DEFAULT_USER_KEYS } from '../../cache/keys.js';
import { PhpArray, PhpEvalError, phpString, phpTruthy, type PhpKey, type PhpValue } from './php.js';

/** Flamework cluster blocks fw-shard reads (`$GLOBALS['cfg']['db_X']`). */
const CLUSTERS = ['db_main', 'db_users', 'db_tickets', 'db_main_slaves', 'db_accounts'];
/** The keys `_db_connect` reads from a cluster block; any other key (auto_connect...) does not matter. */
const CONNECTION_KEYS = ['host', 'user', 'pass', 'name'];
export const FLAGS = {
  slaves: 'db_enable_poormans_slaves',
  ticketing: 'db_enable_poormans_ticketing',
  federation: 'db_enable_poormans_federation',
} as const;

/** `cfg['db_users']['host'][2]`, for messages. */
export function cfgPath(path: readonly (PhpKey | null)[]): string {
  return `cfg${path.map((k) => (k === null ? '[]' : typeof k === 'number' ? `[${k}]` : `['${k}']`)).join('')}`;
}

/**
 * How much an unreadable statement at `path` matters. `error`: it may change a connection fw-shard
 * uses, so the import cannot be trusted. `warn`: another db_* key, or a key that is not a constant.
 */
export function severity(path: readonly PhpKey[], complete: boolean): 'error' | 'warn' | 'ignore' {
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
export class CfgState {
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
export class Mapper {
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
export function applyPoorMans(cfg: CfgState, flags: Record<keyof typeof FLAGS, boolean>): void {
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

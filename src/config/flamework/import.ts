/**
 * Flamework PHP config → native fw-shard config. The files are replayed in load order onto one
 * `$GLOBALS['cfg']`, as PHP would (later files override whole blocks or single keys), then init.php's
 * poor man's modes are applied, then the db_* clusters are mapped to the native schema.
 */
import { dirname, join, normalize } from 'node:path';
import { FwShardError } from '../../errors/index.js';
import { Secret } from '../../topology/secret.js';
import type { RawConfig } from '../schema.js';
import { PhpEvalError, evaluatePhp, literalPrefix, parsePhpConfig, type CfgStatement, type PhpInclude, phpTruthy } from './php.js';
import { applyPoorMans, CfgState, cfgPath, FLAGS, Mapper, severity } from './mapper.js';

export interface FlameworkFile {
  /** As shown in messages (file:line). */
  path: string;
  text: string;
}

interface ImportOptions {
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

  const statements = readStatements(files, opts, report, problems);
  if (problems.length > 0) fail(problems);

  const cfg = applyStatements(statements, report, problems);
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

type Report = (sev: 'error' | 'warn' | 'ignore', text: string) => void;

/**
 * Parse every file and the files they include (dirname(__FILE__) or __DIR__ plus a literal path, read
 * with opts.readFile), into one list of statements in PHP's order. An include fw-shard cannot follow,
 * or one inside an if/else or loop, is a problem: its file may set db_* values.
 */
function readStatements(files: readonly FlameworkFile[], opts: ImportOptions, report: Report, problems: string[]): CfgStatement[] {
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
  return statements;
}

/** The statements applied in order, with PHP's semantics; one that cannot be, or that runs only under a condition, is reported. */
function applyStatements(statements: readonly CfgStatement[], report: Report, problems: string[]): CfgState {
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
  return cfg;
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

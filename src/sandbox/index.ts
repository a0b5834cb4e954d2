/**
 * The local sandbox: real MariaDB server processes laid out like a Flamework federation (db_main, N
 * shards, two ticket servers; or poor man's mode: one server, one database), loaded with deterministic
 * sample data, described by `DIR/sandbox.json` and `DIR/fw-shard.config.yaml`.
 *
 * Invariants:
 *  - `DIR/sandbox.json` lists every process the sandbox started, written as soon as each one is spawned,
 *    so `down` can stop them even after an `up` that crashed half way;
 *  - only directories that carry the sandbox marker (or are empty) are ever deleted;
 *  - a pid is only signalled while its command line still names a path inside DIR (see servers.ts).
 */
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { stringify } from 'yaml';
import { normalizeConfig } from '../config/load.js';
import type { RawConfig } from '../config/schema.js';
import { openDb, type Db } from '../db/pool.js';
import { SHARD_TABLES } from './sql.js';
import { BusyError, FwShardError } from '../errors/index.js';
import { loadData } from './data.js';
import { loadSchema, MAIN_DATABASE, shardDatabase, TICKETS_DATABASE, type SchemaPart } from './schema.js';
import { findServerBinaries, rootEndpoint, startServer, stopProcess, type SandboxServer } from './servers.js';

export { startServer, findServerBinaries, type SandboxServer, type StartServerOptions } from './servers.js';
import {
  CONFIG_FILE,
  MARKER_FILE,
  STATE_FILE,
  isSandboxDir,
  pidExists,
  probeProcess,
  readSandboxState,
  teardown,
  writeState,
  type ProcessRole,
  type ProcessState,
  type SandboxState,
  type SandboxUpOptions,
  type SandboxUpResult,
} from './state.js';

export * from './state.js';
import { startOptionalMemcached } from './memcached.js';

// ---------------------------------------------------------------------------------------------------
// up

interface ServerSpec {
  name: string;
  role: Exclude<ProcessRole, 'memcached'>;
  serves: string[];
  shard?: number;
  database: string;
  extraArgs: string[];
}

function serverSpecs(shards: number, poorMans: boolean, realShards = 0): ServerSpec[] {
  if (poorMans) {
    return [
      { name: 'main', role: 'main', serves: ['db_main', 'shard 1', 'tickets 1'], database: MAIN_DATABASE, extraArgs: [] },
      // Empty shards to graduate onto: 2, 3, ...
      ...Array.from({ length: realShards }, (_, i): ServerSpec => ({
        name: `shard${i + 2}`,
        role: 'shard',
        serves: [`shard ${i + 2}`],
        shard: i + 2,
        database: shardDatabase(i + 2),
        extraArgs: [],
      })),
    ];
  }
  return [
    { name: 'main', role: 'main', serves: ['db_main'], database: MAIN_DATABASE, extraArgs: [] },
    ...Array.from({ length: shards }, (_, i): ServerSpec => ({
      name: `shard${i + 1}`,
      role: 'shard',
      serves: [`shard ${i + 1}`],
      shard: i + 1,
      database: shardDatabase(i + 1),
      extraArgs: [],
    })),
    // Flickr's odd/even ticket servers: increment 2, offsets 1 and 2 (server-wide, as in the Flickr post).
    {
      name: 'tickets1',
      role: 'tickets',
      serves: ['tickets 1'],
      database: TICKETS_DATABASE,
      extraArgs: ['--auto-increment-increment=2', '--auto-increment-offset=1'],
    },
    {
      name: 'tickets2',
      role: 'tickets',
      serves: ['tickets 2'],
      database: TICKETS_DATABASE,
      extraArgs: ['--auto-increment-increment=2', '--auto-increment-offset=2'],
    },
  ];
}

function checkCount(name: string, v: number, min: number, max: number): number {
  if (!Number.isInteger(v) || v < min || v > max) {
    throw new FwShardError('USAGE', `${name} must be a whole number from ${min} to ${max}, got ${v}`);
  }
  return v;
}

/** Limits on the sandbox's size (each shard is a server process with a 64 MB buffer pool). */
export const SANDBOX_LIMITS = {
  shards: { min: 1, max: 32 },
  users: { min: 1, max: 1_000_000 },
  rowsPerUser: { min: 0, max: 10_000_000 },
} as const;

/** The options of `sandbox up`, defaulted and range-checked. */
type UpOptions = SandboxState['options'] & { dir: string; realShards: number };

function upOptions(opts: SandboxUpOptions): UpOptions {
  const poorMans = opts.poorMans ?? false;
  return {
    dir: resolve(opts.dir),
    poorMans,
    shards: poorMans ? 1 : checkCount('--shards', opts.shards ?? 2, SANDBOX_LIMITS.shards.min, SANDBOX_LIMITS.shards.max),
    realShards: poorMans ? checkCount('--real-shards', opts.realShards ?? 2, 0, SANDBOX_LIMITS.shards.max) : 0,
    users: checkCount('--users', opts.users ?? 12, SANDBOX_LIMITS.users.min, SANDBOX_LIMITS.users.max),
    rowsPerUser: checkCount('--rows-per-user', opts.rowsPerUser ?? 200, SANDBOX_LIMITS.rowsPerUser.min, SANDBOX_LIMITS.rowsPerUser.max),
    seed: checkCount('--seed', opts.seed ?? 1, 0, 2 ** 32 - 1),
  };
}

/**
 * Bring a sandbox up at `opts.dir`: start db_main, the shards and two ticket servers in parallel (or
 * one server in poor man's mode), memcached when installed, create the schema, load the data, write
 * `sandbox.json` and `fw-shard.config.yaml`. Idempotent: a live sandbox is reported and left alone; a
 * dead or half-made one is cleaned and recreated. On failure, every process it started is stopped and
 * DIR is kept (logs inside) for `down` or the next `up` to clean.
 */
export async function sandboxUp(opts: SandboxUpOptions, log: (line: string) => void = () => undefined): Promise<SandboxUpResult> {
  const t0 = Date.now();
  const o = upOptions(opts);
  const prior = await reuseOrClean(o, log);
  if (prior.running)
    return { alreadyRunning: true, recreated: false, state: prior.running, configPath: prior.running.configPath, elapsedMs: Date.now() - t0, timings: {} };

  const bins = findServerBinaries(); // before mkdir: without a server binary nothing is created
  const state = newSandboxState(o, bins);
  const record = recorder(state);
  const timings: Record<string, number> = {};
  const started: SandboxServer[] = [];
  const dbs: Db[] = [];
  const open = (port: number, role: string): Db => {
    const db = openDb(rootEndpoint(port, 'mysql', role));
    dbs.push(db);
    return db;
  };
  try {
    let t = Date.now();
    const servers = await startServers(o, bins, record, started, log);
    timings.servers = Date.now() - t;
    const memcachedPort = await startOptionalMemcached(state, record, log);

    t = Date.now();
    const targets = schemaTargets(servers, o.poorMans, open);
    await loadSchema(targets.parts);
    timings.schema = Date.now() - t;
    log(`schema loaded (${Date.now() - t} ms)`);

    t = Date.now();
    state.data = await loadData(
      { main: { db: targets.mainDb, database: MAIN_DATABASE }, shards: targets.shards, tickets: targets.tickets, poorMansTicketing: o.poorMans },
      { users: o.users, rowsPerUser: o.rowsPerUser, seed: o.seed },
      (line) => log(line),
    );
    timings.data = Date.now() - t;
    log(`data loaded (${Date.now() - t} ms)`);

    writeSandboxConfig(state, memcachedPort);
    state.ready = true;
    delete state.upPid;
    state.readyAt = new Date().toISOString();
    writeState(state);
    const elapsedMs = Date.now() - t0;
    log(`sandbox ready in ${(elapsedMs / 1000).toFixed(1)} s`);
    return { alreadyRunning: false, recreated: prior.recreated, state, configPath: state.configPath, elapsedMs, timings };
  } catch (err) {
    throw await upFailed(state, started, err, log);
  } finally {
    await Promise.allSettled(dbs.map((d) => d.close()));
  }
}

/**
 * What is at DIR already: a live sandbox is returned as it is; a dead or half-made one (or a leftover
 * sandbox directory) is torn down; a non-empty directory that is not a sandbox is refused.
 */
async function reuseOrClean(o: UpOptions, log: (line: string) => void): Promise<{ running?: SandboxState; recreated: boolean }> {
  const { dir } = o;
  const prior = readSandboxState(dir);
  if (prior) {
    if (!prior.ready && prior.upPid !== undefined && prior.upPid !== process.pid && pidExists(prior.upPid)) {
      throw new BusyError('sandbox', `another \`sandbox up\` (pid ${prior.upPid}) is still building the sandbox at ${dir}`, {
        hint: `Wait for it to finish, or stop it and run \`fw-shard sandbox down --dir ${dir}\`.`,
      });
    }
    const probed = await Promise.all(prior.processes.map(probeProcess));
    if (prior.ready && probed.length > 0 && probed.every((p) => p.alive && p.responding)) {
      log(`sandbox already running at ${dir} (${prior.mode}, ${prior.processes.length} processes); nothing changed`);
      const was = prior.options;
      if (
        was.poorMans !== o.poorMans ||
        (!o.poorMans && was.shards !== o.shards) ||
        (was.realShards ?? 0) !== o.realShards ||
        was.users !== o.users ||
        was.rowsPerUser !== o.rowsPerUser ||
        was.seed !== o.seed
      ) {
        log(`note: it was made with different options; run \`fw-shard sandbox down --dir ${dir}\` first to change them`);
      }
      return { running: prior, recreated: false };
    }
    const dead = probed.filter((p) => !p.alive || !p.responding).map((p) => p.name);
    log(`found a ${prior.ready ? 'dead' : 'half-made'} sandbox at ${dir}${dead.length ? ` (not running: ${dead.join(', ')})` : ''}: cleaning it`);
    await teardown(dir, prior);
    return { recreated: true };
  }
  if (existsSync(dir)) {
    if (isSandboxDir(dir)) {
      log(`found a leftover sandbox directory at ${dir} without a state file: cleaning it`);
      await teardown(dir, null);
      return { recreated: true };
    }
    if (readdirSync(dir).length > 0) {
      throw new FwShardError('SANDBOX', `${dir} exists and is not a sandbox directory (no ${STATE_FILE}); refusing to use or delete it`, {
        hint: 'Pass another --dir, or remove that directory yourself.',
      });
    }
  }
  return { recreated: false };
}

/** Create DIR with its marker and a not-ready `sandbox.json`, before any process is started. */
function newSandboxState(o: UpOptions, bins: { server: string; version: string }): SandboxState {
  const { dir, poorMans } = o;
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, MARKER_FILE), 'created by fw-shard sandbox up; `fw-shard sandbox down` removes this directory\n');
  const state: SandboxState = {
    schemaVersion: 1,
    kind: 'fw-shard-sandbox',
    dir,
    mode: poorMans ? 'poor-mans' : 'federated',
    ready: false,
    upPid: process.pid,
    createdAt: new Date().toISOString(),
    options: { shards: o.shards, users: o.users, rowsPerUser: o.rowsPerUser, poorMans, seed: o.seed, ...(poorMans ? { realShards: o.realShards } : {}) },
    server: { binary: bins.server, version: bins.version },
    configPath: join(dir, CONFIG_FILE),
    processes: [],
    notes: [],
  };
  writeState(state);
  return state;
}

/** Record a spawned process in `sandbox.json` at once, so `down` can stop it whatever happens next. */
function recorder(state: SandboxState): (p: ProcessState) => void {
  const order = (p: ProcessState) => ['main', 'shard', 'tickets', 'memcached'].indexOf(p.role) * 1000 + (p.shard ?? 0);
  return (p) => {
    state.processes = [...state.processes.filter((x) => x.name !== p.name), p].sort((a, b) => order(a) - order(b) || a.name.localeCompare(b.name));
    writeState(state);
  };
}

type StartedServer = { spec: ServerSpec; srv: SandboxServer };

/** Start every MariaDB server of the layout in parallel; each is pushed to `started` as soon as it runs. */
async function startServers(
  o: UpOptions,
  bins: ReturnType<typeof findServerBinaries>,
  record: (p: ProcessState) => void,
  started: SandboxServer[],
  log: (line: string) => void,
): Promise<StartedServer[]> {
  const { dir } = o;
  const specs = serverSpecs(o.shards, o.poorMans, o.realShards);
  log(`starting ${specs.length} MariaDB server${specs.length > 1 ? 's' : ''} (${bins.version || bins.server}) in ${dir}`);
  const results = await Promise.allSettled(
    specs.map(async (spec) => {
      const srv = await startServer({
        dir,
        name: spec.name,
        extraArgs: spec.extraArgs,
        binaries: bins,
        onSpawn: (p) =>
          record({
            name: spec.name,
            role: spec.role,
            serves: spec.serves,
            ...(spec.shard !== undefined ? { shard: spec.shard } : {}),
            pid: p.pid,
            host: '127.0.0.1',
            port: p.port,
            socket: p.socket,
            datadir: p.datadir,
            database: spec.database,
            logFile: join(dir, spec.name, 'error.log'),
            marker: p.datadir,
            command: bins.server,
          }),
      });
      started.push(srv);
      log(`  ${spec.name.padEnd(9)} ${spec.serves.join(', ').padEnd(14)} 127.0.0.1:${srv.port}  pid ${srv.pid}`);
      return { spec, srv };
    }),
  );
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) throw failed.reason;
  return results.map((r) => (r as PromiseFulfilledResult<StartedServer>).value);
}

/** Which database on which server gets which part of the schema, and where the data goes. */
function schemaTargets(
  servers: StartedServer[],
  poorMans: boolean,
  open: (port: number, role: string) => Db,
): { mainDb: Db; parts: SchemaPart[]; shards: Map<number, { db: Db; database: string }>; tickets: { db: Db; database: string }[] } {
  const mainSrv = servers.find((s) => s.spec.name === 'main')!;
  const mainDb = open(mainSrv.srv.port, 'db_main');
  const shards = new Map<number, { db: Db; database: string }>();
  const tickets: { db: Db; database: string }[] = [];
  const parts: SchemaPart[] = [];
  if (poorMans) {
    parts.push({ db: mainDb, database: MAIN_DATABASE, holds: ['main', 'tickets', 'shard'] });
    shards.set(1, { db: mainDb, database: MAIN_DATABASE });
    // The ticket connection is a separate handle to db_main, as in lib_db.php's poor man's mode.
    tickets.push({ db: open(mainSrv.srv.port, 'tickets 1'), database: MAIN_DATABASE });
    // Real shards to graduate onto: the shard tables only, and no users yet (not data targets).
    for (const { spec, srv } of servers) {
      if (spec.role === 'shard') parts.push({ db: open(srv.port, `shard ${spec.shard}`), database: spec.database, holds: ['shard'] });
    }
  } else {
    parts.push({ db: mainDb, database: MAIN_DATABASE, holds: ['main'] });
    for (const { spec, srv } of servers) {
      if (spec.role === 'shard') {
        const db = open(srv.port, `shard ${spec.shard}`);
        parts.push({ db, database: spec.database, holds: ['shard'] });
        shards.set(spec.shard!, { db, database: spec.database });
      } else if (spec.role === 'tickets') {
        const db = open(srv.port, spec.serves[0]!);
        parts.push({ db, database: spec.database, holds: ['tickets'] });
        tickets.push({ db, database: spec.database });
      }
    }
  }
  return { mainDb, parts, shards, tickets };
}

/** Write `fw-shard.config.yaml`, validated first with the real loader: a sandbox whose config fw-shard rejects is useless. */
function writeSandboxConfig(state: SandboxState, memcachedPort: number | undefined): void {
  const config = sandboxConfig(state, memcachedPort);
  normalizeConfig(config, { env: {}, baseDir: state.dir, origin: state.configPath });
  writeFileSync(
    state.configPath,
    `# Written by \`fw-shard sandbox up\` (${state.mode}). Use it with:\n#   export FW_SHARD_CONFIG=${state.configPath}\n` + stringify(config),
    { mode: 0o600 },
  );
}

/** `up` failed: stop what it started, note why in the state, and return the error to throw. */
async function upFailed(state: SandboxState, started: SandboxServer[], err: unknown, log: (line: string) => void): Promise<unknown> {
  log('sandbox up failed: stopping the processes it started');
  await Promise.allSettled(state.processes.map((p) => stopProcess(p.pid, p.marker)));
  await Promise.allSettled(started.map((s) => s.stop()));
  state.notes.push(`up failed: ${(err as Error)?.message ?? String(err)}`);
  delete state.upPid;
  writeState(state);
  if (err instanceof FwShardError) return err;
  return new FwShardError('SANDBOX', `sandbox up failed: ${(err as Error)?.message ?? String(err)}`, {
    hint: `Logs are in ${state.dir}/*/error.log; \`fw-shard sandbox down --dir ${state.dir}\` removes what is left.`,
    cause: err,
  });
}

/** The native config (src/config/schema.ts) describing a sandbox. */
function sandboxConfig(state: SandboxState, memcachedPort?: number): RawConfig {
  const byName = new Map(state.processes.map((p) => [p.name, p]));
  const main = byName.get('main');
  if (!main) throw new Error('sandbox state has no main server');
  const cfg: RawConfig = {
    version: 1,
    defaults: { host: '127.0.0.1', user: 'root', password: '' },
    main: { port: main.port, database: MAIN_DATABASE },
    shards: {},
  };
  if (state.mode === 'poor-mans') {
    cfg.shards = { '1': { port: main.port, database: MAIN_DATABASE } };
    cfg.tickets = [{ port: main.port, database: MAIN_DATABASE }];
    cfg.poorMans = { federation: true, ticketing: true };
    const real = state.processes.filter((p) => p.role === 'shard').sort((a, b) => a.shard! - b.shard!);
    if (real.length > 0) {
      // The graduation config: federation off, db_users[1] still db_main, the new shards beside it.
      for (const p of real) cfg.shards[String(p.shard)] = { port: p.port, database: p.database! };
      cfg.poorMans = { federation: false, ticketing: true };
    }
    // db_main holds its own tables with user_id too (DotsLookup, users_password_reset): only these move.
    cfg.tables = { include: [...SHARD_TABLES] };
  } else {
    const shardProcs = state.processes.filter((p) => p.role === 'shard').sort((a, b) => a.shard! - b.shard!);
    cfg.shards = Object.fromEntries(shardProcs.map((p) => [String(p.shard), { port: p.port, database: p.database! }]));
    cfg.tickets = state.processes
      .filter((p) => p.role === 'tickets')
      .sort((a, b) => a.name.localeCompare(b.name))
      .map((p) => ({ port: p.port, database: p.database! }));
  }
  if (memcachedPort !== undefined) cfg.memcached = { servers: [`127.0.0.1:${memcachedPort}`], keys: ['USER-{id}'] };
  return cfg;
}

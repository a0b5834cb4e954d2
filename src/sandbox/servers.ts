/**
 * Local MariaDB/MySQL server processes for the sandbox, the integration tests and the benchmarks.
 *
 * Every server is a real `mariadbd` (or `mysqld`) with its own datadir, loopback TCP port, unix socket,
 * pid file and error log, spawned detached so it outlives the CLI process that started it
 * (`fw-shard sandbox up` exits, the servers stay up until `sandbox down`).
 *
 * Hazards this module guards against:
 *  - pid reuse: a pid read from a state file is only signalled while its command line still names the
 *    datadir (or pid file) we gave it, so a recycled pid, and the machine's own server on 3306, are never
 *    touched;
 *  - zombies: a process whose /proc cmdline is empty has exited (it only waits to be reaped) and counts
 *    as gone;
 *  - unix socket paths are limited to ~107 bytes: a long datadir gets its socket under /tmp instead;
 *  - two servers started at once must not be handed the same "free" port (ports handed out by this
 *    process are remembered, and a server that loses the race for its port is retried on another);
 *  - servers sharing a tmpdir delete each other's `#sql*` temp files at startup: each gets its own.
 *
 * New datadirs are copied from a template installed once per machine under os.tmpdir()
 * (`fw-shard-datadir-<hash>`, ~60 MB, kept between runs): about 0.1 s instead of 1-3 s per server.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { closeSync, cpSync, existsSync, mkdirSync, openSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join, resolve } from 'node:path';
import { openDb } from '../db/pool.js';
import { pingSql } from '../db/sql/server.js';
import { FwShardError } from '../errors/index.js';
import type { Endpoint } from '../topology/index.js';
import { findExecutable, freePort, isProcessAlive, sleep, stopProcess, tailFile } from './processes.js';

export { findExecutable, findProcessesUnder, freePort, isProcessAlive, stopProcess, tailFile, tcpReachable } from './processes.js';

/** Where the server binaries are, and which flavour they are. */
interface ServerBinaries {
  /** mariadbd or mysqld. */
  server: string;
  /** mariadb-install-db or mysql_install_db; absent for MySQL 5.7+, which initialises with `mysqld --initialize-insecure`. */
  installDb?: string;
  flavor: 'mariadb' | 'mysql';
  /** First line of `--version`. */
  version: string;
}

/** A running server started by {@link startServer}. `pid` changes after {@link SandboxServer.restart}. */
export interface SandboxServer {
  readonly name: string;
  readonly port: number;
  readonly socket: string;
  readonly pid: number;
  readonly datadir: string;
  /** The server's own directory: datadir, error log, pid file. */
  readonly home: string;
  readonly errorLog: string;
  /** SIGTERM and wait for the exit; SIGKILL after 20 s. Resolves at once if it already exited. */
  stop(): Promise<void>;
  /** SIGKILL and wait for the exit (crash tests: InnoDB recovers on the next start). */
  kill(): Promise<void>;
  /** Start again on the same port and datadir (after stop/kill, or stopping it first if still up). */
  restart(): Promise<void>;
  /** True while the process exists and is still this server (not a zombie, not a recycled pid). */
  alive(): boolean;
  /** A root endpoint over TCP 127.0.0.1 for openDb (`mysql` database unless given). */
  endpoint(database?: string, role?: string): Endpoint;
}

export interface StartServerOptions {
  /** Parent directory; the server lives in `dir/name/` (datadir in `dir/name/data`). */
  dir: string;
  /** Short name used for the sub-directory and in messages: "main", "shard1", "tickets2". */
  name: string;
  /** Fixed port; default: a free loopback port. */
  port?: number;
  /** More server options, e.g. `--auto-increment-increment=2`. */
  extraArgs?: readonly string[];
  /** Readiness timeout, default 30 s. */
  timeoutMs?: number;
  /** Called each time a process is spawned (before it is ready), so callers can record the pid at once. */
  onSpawn?: (p: { name: string; pid: number; port: number; socket: string; datadir: string }) => void;
  /** Run the installer for this datadir instead of copying the cached template datadir (see templateDatadir). */
  freshInstall?: boolean;
  /** Pre-resolved binaries (saves a lookup per server). */
  binaries?: ServerBinaries;
}
/** The socket path limit is 108 bytes including the NUL on Linux (104 on macOS): stay well under. */
const MAX_SOCKET_PATH = 100;

let cachedBinaries: ServerBinaries | undefined;

/**
 * Locate the server and its datadir installer. Throws SANDBOX (with an install hint) when there is none.
 */
export function findServerBinaries(): ServerBinaries {
  if (cachedBinaries) return cachedBinaries;
  const hint = 'apt-get install mariadb-server (or mysql-server)';
  const server = findExecutable(['mariadbd', 'mysqld']);
  if (!server) {
    throw new FwShardError('SANDBOX', 'no MariaDB or MySQL server binary found (looked for mariadbd and mysqld on PATH, /usr/sbin, /usr/bin)', { hint });
  }
  const v = spawnSync(server, ['--version'], { encoding: 'utf8', timeout: 10_000 });
  const version = (v.stdout || v.stderr || '').split('\n')[0]?.trim() ?? '';
  const flavor: ServerBinaries['flavor'] = /mariadb/i.test(version) || basename(server) === 'mariadbd' ? 'mariadb' : 'mysql';
  const installDb = findExecutable(['mariadb-install-db', 'mysql_install_db']);
  if (flavor === 'mariadb' && !installDb) {
    throw new FwShardError('SANDBOX', `found ${server} but no mariadb-install-db / mysql_install_db to create a datadir`, { hint });
  }
  cachedBinaries = { server, ...(flavor === 'mariadb' && installDb ? { installDb } : {}), flavor, version };
  return cachedBinaries;
}

/** A socket path under `home`, or a short unique one under /tmp when that would be too long. */
function socketPathFor(home: string): string {
  const inside = join(home, 'mysqld.sock');
  if (Buffer.byteLength(inside) <= MAX_SOCKET_PATH) return inside;
  return join('/tmp', `fws-${randomBytes(5).toString('hex')}.sock`);
}

/** A root endpoint over TCP loopback, no password (what mariadb-install-db sets up). */
export function rootEndpoint(port: number, database = 'mysql', role = `sandbox server :${port}`): Endpoint {
  return { role, host: '127.0.0.1', port, user: 'root', database, passwordSource: 'none', replicas: [] };
}

function rootArgs(): string[] {
  // mariadbd refuses to run as root unless told to; as another user --user is only a warning, so omit it.
  return process.getuid?.() === 0 ? ['--user=root'] : [];
}

/** InnoDB redo log size shared by the installer and the server (a mismatch would force a resize at start). */
const REDO_LOG = '--innodb-log-file-size=32M';

/**
 * Each server's own tmpdir. Hazard: at startup the server deletes every `#sql*` file in its tmpdir, so
 * servers (and installers) sharing /tmp destroy each other's temporary tables when started in parallel.
 */
function tmpdirOf(home: string): string {
  return join(home, 'tmp');
}

/** The installer command for a datadir (its own tmpdir under `home`). */
function installCommand(bins: ServerBinaries, datadir: string, home: string): { cmd: string; args: string[] } {
  if (bins.flavor === 'mariadb') {
    return {
      cmd: bins.installDb!,
      args: [
        '--no-defaults', // must come first
        `--datadir=${datadir}`,
        `--tmpdir=${tmpdirOf(home)}`,
        '--auth-root-authentication-method=normal',
        '--skip-test-db',
        '--skip-name-resolve',
        REDO_LOG,
        '--innodb-buffer-pool-size=32M',
        ...rootArgs(),
      ],
    };
  }
  // MySQL 5.7+/8: root@localhost with an empty password. Untested here (the dev machine runs MariaDB).
  return { cmd: bins.server, args: ['--no-defaults', '--initialize-insecure', `--datadir=${datadir}`, `--tmpdir=${tmpdirOf(home)}`, ...rootArgs()] };
}

/** Run the installer into `datadir`; the log goes to `home/install.log`. */
async function runInstall(bins: ServerBinaries, home: string, datadir: string): Promise<void> {
  rmSync(datadir, { recursive: true, force: true });
  mkdirSync(tmpdirOf(home), { recursive: true });
  const log = join(home, 'install.log');
  const { cmd, args } = installCommand(bins, datadir, home);
  // Asynchronous on purpose: several servers may install in parallel.
  const fd = openSync(log, 'w');
  let status: string;
  try {
    writeFileSync(fd, `$ ${cmd} ${args.join(' ')}\n`);
    status = await new Promise<string>((res) => {
      const child = spawn(cmd, args, { stdio: ['ignore', fd, fd] });
      const timer = setTimeout(() => child.kill('SIGKILL'), 120_000);
      child.once('error', (err) => {
        clearTimeout(timer);
        res(`failed to run: ${err.message}`);
      });
      child.once('exit', (code, signal) => {
        clearTimeout(timer);
        res(code === 0 ? 'ok' : `exited ${code ?? signal}`);
      });
    });
  } finally {
    closeSync(fd);
  }
  if (status !== 'ok') {
    throw new FwShardError('SANDBOX', `could not create the datadir ${datadir} (${basename(cmd)} ${status}):\n${tailFile(log, 15)}`, {
      hint: `See ${log}.`,
    });
  }
}

let templateOnce: Promise<string> | undefined;

/**
 * A freshly installed, cleanly shut down datadir, cached under the OS temp dir and keyed by the server
 * binary, its version, the installer options and the uid. Copying it (~0.1 s) replaces one install per
 * server (~1-3 s each, CPU bound when several run at once). Created atomically (install into a private
 * directory, then rename), so concurrent test workers never see half a template.
 */
function templateDatadir(bins: ServerBinaries): Promise<string> {
  templateOnce ??= (async () => {
    const key = createHash('sha256')
      .update(JSON.stringify([bins.server, bins.version, installCommand(bins, '', '').args.slice(3), process.getuid?.() ?? -1]))
      .digest('hex')
      .slice(0, 12);
    const final = join(tmpdir(), `fw-shard-datadir-${key}`);
    if (existsSync(join(final, '.installed'))) return join(final, 'data');
    const work = `${final}.tmp-${process.pid}-${randomBytes(3).toString('hex')}`;
    try {
      await runInstall(bins, work, join(work, 'data'));
      rmSync(tmpdirOf(work), { recursive: true, force: true });
      writeFileSync(join(work, '.installed'), `${new Date().toISOString()} ${bins.version}\n`);
      try {
        renameSync(work, final);
      } catch {
        // Another process won the race; its template is as good as ours.
      }
    } finally {
      rmSync(work, { recursive: true, force: true });
    }
    if (!existsSync(join(final, '.installed'))) throw new FwShardError('SANDBOX', `could not prepare a template datadir in ${final}`);
    return join(final, 'data');
  })();
  templateOnce.catch(() => (templateOnce = undefined)); // a failed attempt may be retried
  return templateOnce;
}

/**
 * Make sure `datadir` holds an installed server. A marker file records success; a half-made datadir is
 * redone. `fresh` runs the installer instead of copying the cached template.
 */
async function installDatadir(bins: ServerBinaries, home: string, datadir: string, fresh: boolean): Promise<void> {
  const marker = join(home, '.installed');
  if (existsSync(marker) && existsSync(join(datadir, 'mysql'))) return;
  rmSync(marker, { force: true });
  if (fresh) {
    await runInstall(bins, home, datadir);
  } else {
    const template = await templateDatadir(bins);
    rmSync(datadir, { recursive: true, force: true });
    mkdirSync(home, { recursive: true });
    cpSync(template, datadir, { recursive: true });
  }
  writeFileSync(marker, `${new Date().toISOString()} ${bins.version}\n`);
}

function serverArgs(
  bins: ServerBinaries,
  s: { datadir: string; tmpdir: string; port: number; socket: string; pidFile: string; errorLog: string },
  extra: readonly string[],
): string[] {
  return [
    '--no-defaults', // never read the machine's my.cnf: it would point at the system server's datadir
    `--datadir=${s.datadir}`,
    `--tmpdir=${s.tmpdir}`,
    `--port=${s.port}`,
    '--bind-address=127.0.0.1',
    `--socket=${s.socket}`,
    `--pid-file=${s.pidFile}`,
    `--log-error=${s.errorLog}`,
    ...rootArgs(),
    '--skip-log-bin',
    '--skip-name-resolve',
    '--performance-schema=OFF',
    '--innodb-buffer-pool-size=64M',
    REDO_LOG,
    '--innodb-flush-log-at-trx-commit=2',
    '--max-connections=300',
    '--table-open-cache=400',
    ...(bins.flavor === 'mysql' ? ['--mysqlx=OFF'] : []), // MySQL 8's X plugin would bind 33060 in every sandbox
    ...extra,
  ];
}

function bindFailed(log: string): boolean {
  return /Bind on TCP\/IP port|Address already in use|Do you already have another .* running/i.test(log);
}

class LocalServer implements SandboxServer {
  readonly home: string;
  readonly datadir: string;
  readonly errorLog: string;
  readonly socket: string;
  readonly pidFile: string;
  #port: number;
  #pid = 0;

  constructor(
    readonly name: string,
    dir: string,
    port: number,
    private readonly bins: ServerBinaries,
    private readonly extra: readonly string[],
    private readonly timeoutMs: number,
    private readonly onSpawn: StartServerOptions['onSpawn'],
  ) {
    this.home = resolve(dir, name);
    this.datadir = join(this.home, 'data');
    this.errorLog = join(this.home, 'error.log');
    this.pidFile = join(this.home, 'mariadbd.pid');
    this.socket = socketPathFor(this.home);
    this.#port = port;
  }

  get port(): number {
    return this.#port;
  }
  get pid(): number {
    return this.#pid;
  }

  endpoint(database = 'mysql', role = `sandbox ${this.name}`): Endpoint {
    return rootEndpoint(this.#port, database, role);
  }

  alive(): boolean {
    return this.#pid > 0 && isProcessAlive(this.#pid, this.datadir);
  }

  /** Spawn and wait until `SELECT 1` answers over TCP. Throws with the error log's tail on failure. */
  async start(allowNewPort: boolean): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        await this.#spawnAndWait();
        return;
      } catch (err) {
        const log = tailFile(this.errorLog, 40);
        if (allowNewPort && attempt < 4 && bindFailed(log)) {
          // Lost a race for the port with another process: take another one.
          this.#port = await freePort();
          continue;
        }
        throw err;
      }
    }
  }

  async #spawnAndWait(): Promise<void> {
    mkdirSync(tmpdirOf(this.home), { recursive: true });
    // Truncate the error log so failures show this start's messages, not an old run's.
    writeFileSync(this.errorLog, '');
    const out = openSync(join(this.home, 'stdout.log'), 'a');
    let child: ChildProcess;
    try {
      child = spawn(
        this.bins.server,
        serverArgs(
          this.bins,
          { datadir: this.datadir, tmpdir: tmpdirOf(this.home), port: this.#port, socket: this.socket, pidFile: this.pidFile, errorLog: this.errorLog },
          this.extra,
        ),
        { detached: true, stdio: ['ignore', out, out] },
      );
    } finally {
      closeSync(out);
    }
    let exited: string | undefined;
    child.on('exit', (code, signal) => {
      exited = signal ? `killed by ${signal}` : `exited with code ${code}`;
    });
    const spawnError = new Promise<never>((_, rej) => child.once('error', rej));
    spawnError.catch(() => undefined);
    child.unref(); // the server outlives this Node process (sandbox up exits; the servers stay)
    this.#pid = child.pid ?? 0;
    if (this.#pid === 0) await spawnError;
    this.onSpawn?.({ name: this.name, pid: this.#pid, port: this.#port, socket: this.socket, datadir: this.datadir });

    const db = openDb(this.endpoint('mysql', `sandbox ${this.name}`));
    const deadline = Date.now() + this.timeoutMs;
    let lastErr: string | undefined;
    try {
      while (true) {
        if (exited) {
          throw new FwShardError('SANDBOX', `server ${this.name} ${exited} while starting (port ${this.#port}):\n${tailFile(this.errorLog, 20)}`, {
            hint: `See ${this.errorLog}.`,
          });
        }
        try {
          await db.rows(pingSql());
          return;
        } catch (err) {
          lastErr = (err as Error).message;
        }
        if (Date.now() > deadline) {
          const pid = this.#pid;
          await stopProcess(pid, this.datadir, { signal: 'SIGKILL' }).catch(() => undefined);
          throw new FwShardError(
            'SANDBOX',
            `server ${this.name} did not answer on 127.0.0.1:${this.#port} within ${Math.round(this.timeoutMs / 1000)} s (last error: ${lastErr ?? 'none'}):\n${tailFile(this.errorLog, 20)}`,
            { hint: `See ${this.errorLog}.` },
          );
        }
        await sleep(100);
      }
    } finally {
      await db.close();
    }
  }

  async stop(): Promise<void> {
    if (this.#pid > 0) await stopProcess(this.#pid, this.datadir);
    this.#cleanSocket();
  }

  async kill(): Promise<void> {
    if (this.#pid > 0) await stopProcess(this.#pid, this.datadir, { signal: 'SIGKILL' });
  }

  async restart(): Promise<void> {
    if (this.alive()) await this.stop();
    // Same port: clients configured with it must find the server again.
    await this.start(false);
  }

  /** A socket we placed under /tmp is ours to remove once the server is gone (SIGKILL leaves it behind). */
  #cleanSocket(): void {
    if (this.socket.startsWith('/tmp/fws-')) rmSync(this.socket, { force: true });
  }
}

/**
 * Start one server: install the datadir if needed, spawn it detached (stdio to `dir/name/stdout.log`,
 * errors to `dir/name/error.log`) and wait until `SELECT 1` answers as root over TCP 127.0.0.1.
 * Throws FwShardError('SANDBOX') with the tail of the error log when it does not come up in time.
 */
export async function startServer(opts: StartServerOptions): Promise<SandboxServer> {
  const bins = opts.binaries ?? findServerBinaries();
  const port = opts.port ?? (await freePort());
  const srv = new LocalServer(opts.name, opts.dir, port, bins, opts.extraArgs ?? [], opts.timeoutMs ?? 30_000, opts.onSpawn);
  await installDatadir(bins, srv.home, srv.datadir, opts.freshInstall ?? false);
  await srv.start(opts.port === undefined);
  return srv;
}

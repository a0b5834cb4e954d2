/**
 * `fw-shard sandbox up|status|down`: a local federation of real MariaDB servers (db_main, shards, odd/even
 * ticket servers) with sample data and a ready config file, for the demo, trying moves, and tests.
 * Progress goes to stderr; the result (where the config is, how to use it) to stdout.
 */
import { ExitCode, usage } from '../../errors/index.js';
import { log, out, printJson, type CliContext } from '../context.js';
import {
  DEFAULT_SANDBOX_DIR,
  SANDBOX_LIMITS,
  sandboxDown,
  sandboxStatus,
  sandboxUp,
  type SandboxState,
  type SandboxStatus,
  type SandboxUpOptions,
} from '../../sandbox/index.js';
import { resolve } from 'node:path';
import { action } from '../action.js';
import type { Register } from '../context.js';
import type { Command } from 'commander';

/** A whole number in [min, max] from a flag (or its environment twin); a usage error (exit 2) otherwise. */
function parseCount(text: string, flag: string, min: number, max: number): number {
  const s = text.trim();
  if (!/^[0-9]+$/.test(s)) throw usage(`${flag} must be a whole number, got '${text}'`);
  const n = Number(s);
  if (!Number.isSafeInteger(n) || n < min || n > max) throw usage(`${flag} must be between ${min} and ${max}, got ${s}`);
  return n;
}

/** Flag, else FW_SHARD_SANDBOX_* environment twin, else undefined. */
function flagOrEnv(ctx: CliContext, value: string | undefined, env: string): string | undefined {
  return value ?? (ctx.env[env] !== undefined && ctx.env[env] !== '' ? ctx.env[env] : undefined);
}

function dirOf(ctx: CliContext, opt: string | undefined): string {
  return resolve(ctx.cwd, flagOrEnv(ctx, opt, 'FW_SHARD_SANDBOX_DIR') ?? DEFAULT_SANDBOX_DIR);
}

function truthy(v: string | undefined): boolean {
  return v !== undefined && /^(1|true|yes|on)$/i.test(v.trim());
}

function summary(state: SandboxState): string {
  const shards = state.processes.filter((p) => p.role === 'shard').length;
  const tickets = state.processes.filter((p) => p.role === 'tickets').length;
  const servers =
    state.mode === 'poor-mans'
      ? "1 server, poor man's federation + ticketing (db_main = shard 1 = tickets)"
      : `db_main, ${shards} shard${shards === 1 ? '' : 's'}, ${tickets} ticket servers`;
  const d = state.data;
  return `${servers}${d ? `; ${d.users} users, ${d.rowsTotal} rows` : ''}`;
}

function usageText(state: SandboxState): string {
  return [
    `Config: ${state.configPath}`,
    '',
    'Use it:',
    `  export FW_SHARD_CONFIG=${state.configPath}`,
    '  fw-shard config show',
    '  fw-shard status',
    '',
    `Stop it: fw-shard sandbox down --dir ${state.dir}`,
  ].join('\n');
}

function statusText(s: SandboxStatus): string {
  if (!s.exists) return `No sandbox at ${s.dir}. Start one with: fw-shard sandbox up --dir ${s.dir}`;
  const rows = [
    ['NAME', 'ROLE', 'SERVES', 'ADDRESS', 'PID', 'STATE'],
    ...s.processes.map((p) => [
      p.name,
      p.role,
      p.serves.join(', '),
      `${p.host}:${p.port}`,
      String(p.pid),
      !p.alive ? 'not running' : p.responding ? 'up' : 'not answering',
    ]),
  ];
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => (r[c] ?? '').length)));
  const table = rows
    .map((r) =>
      r
        .map((cell, c) => cell.padEnd(widths[c]!))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
  const verdict = s.healthy
    ? 'healthy'
    : !s.ready
      ? 'not ready (an `up` did not finish; run `fw-shard sandbox up` again to recreate it)'
      : 'unhealthy (run `fw-shard sandbox up` again to recreate it)';
  const lines = [`Sandbox at ${s.dir} (${s.mode}): ${verdict}`, '', table];
  if (s.data)
    lines.push(
      '',
      `Data: ${s.data.users} users, ${s.data.rowsTotal} rows (${Object.entries(s.data.rows)
        .map(([t, n]) => `${t} ${n}`)
        .join(', ')})`,
    );
  if (s.configPath) lines.push(`Config: ${s.configPath}  (export FW_SHARD_CONFIG=${s.configPath})`);
  return lines.join('\n');
}

export const registerSandbox: Register = (program, ctx, setExit) => {
  const sandbox = program
    .command('sandbox')
    .description('a local Flamework-style federation of real MariaDB servers with sample data (for trying fw-shard and for tests)');
  registerUp(sandbox, ctx, setExit);
  registerStatusOf(sandbox, ctx, setExit);
  registerDown(sandbox, ctx, setExit);
};

interface UpFlags {
  dir?: string;
  shards?: string;
  users?: string;
  rowsPerUser?: string;
  seed?: string;
  poorMans?: boolean;
  realShards?: string;
  json?: boolean;
}

/** sandbox up's flags (each with its FW_SHARD_SANDBOX_* twin) as sandboxUp's options, checked. */
function upOptionsOf(ctx: CliContext, opts: UpFlags): SandboxUpOptions {
  const num = (v: string | undefined, env: string, flag: string, lim: { min: number; max: number }): number | undefined => {
    const text = flagOrEnv(ctx, v, env);
    return text === undefined ? undefined : parseCount(text, flag, lim.min, lim.max);
  };
  const shards = num(opts.shards, 'FW_SHARD_SANDBOX_SHARDS', '--shards', SANDBOX_LIMITS.shards);
  const users = num(opts.users, 'FW_SHARD_SANDBOX_USERS', '--users', SANDBOX_LIMITS.users);
  const rowsPerUser = num(opts.rowsPerUser, 'FW_SHARD_SANDBOX_ROWS_PER_USER', '--rows-per-user', SANDBOX_LIMITS.rowsPerUser);
  const seed = num(opts.seed, 'FW_SHARD_SANDBOX_SEED', '--seed', { min: 0, max: 2 ** 32 - 1 });
  const poorMans = opts.poorMans === true || truthy(ctx.env.FW_SHARD_SANDBOX_POOR_MANS);
  if (poorMans && shards !== undefined && shards !== 1) {
    throw usage(`--poor-mans has exactly one shard on db_main itself; drop --shards ${shards} (--real-shards N adds empty shards to graduate onto)`);
  }
  const realShards = num(opts.realShards, 'FW_SHARD_SANDBOX_REAL_SHARDS', '--real-shards', { min: 0, max: SANDBOX_LIMITS.shards.max });
  if (realShards !== undefined && !poorMans) throw usage('--real-shards goes with --poor-mans (federated sandboxes have --shards)');
  return {
    dir: dirOf(ctx, opts.dir),
    poorMans,
    ...(shards !== undefined ? { shards } : {}),
    ...(users !== undefined ? { users } : {}),
    ...(rowsPerUser !== undefined ? { rowsPerUser } : {}),
    ...(seed !== undefined ? { seed } : {}),
    ...(realShards !== undefined ? { realShards } : {}),
  };
}

function registerUp(sandbox: Command, ctx: CliContext, setExit: (code: number) => void): void {
  sandbox
    .command('up')
    .description("start db_main, N shards and two ticket servers (or one poor man's server), load a schema and data, write a config")
    .option('--dir <dir>', `sandbox directory (env FW_SHARD_SANDBOX_DIR; default ./${DEFAULT_SANDBOX_DIR})`)
    .option('--shards <n>', 'number of shard servers (env FW_SHARD_SANDBOX_SHARDS; default 2)')
    .option('--users <n>', 'users to create in db_main (env FW_SHARD_SANDBOX_USERS; default 12)')
    .option('--rows-per-user <n>', 'about this many rows per user over the five shard tables (env FW_SHARD_SANDBOX_ROWS_PER_USER; default 200)')
    .option('--seed <n>', 'seed for the sample data (env FW_SHARD_SANDBOX_SEED; default 1)')
    .option('--poor-mans', "one server and one database for everything: Flamework's poor man's federation and ticketing (env FW_SHARD_SANDBOX_POOR_MANS)")
    .option(
      '--real-shards <n>',
      "with --poor-mans: empty real shard servers to graduate onto, shards 2.. (env FW_SHARD_SANDBOX_REAL_SHARDS; default 2; 0: pure poor man's)",
    )
    .option('--json', 'one JSON document on stdout')
    .addHelpText(
      'after',
      `
Examples:
  $ fw-shard sandbox up                                  db_main, 2 shards, 2 ticket servers, 12 users
  $ fw-shard sandbox up --shards 3 --users 100 --rows-per-user 1000
  $ fw-shard sandbox up --poor-mans --dir /tmp/pm        db_main is shard 1 (poor man's), shards 2 and 3 empty:
                                                         graduate with fw-shard plan --graduate --to 2,3
  $ fw-shard sandbox up --poor-mans --real-shards 0      one server, one database, nothing else
  $ export FW_SHARD_CONFIG=$PWD/.sandbox/fw-shard.config.yaml && fw-shard status

Needs MariaDB (or MySQL) server binaries: apt-get install mariadb-server. memcached is started too when
installed. Running \`up\` on a live sandbox changes nothing; a dead one is cleaned and recreated.
The servers keep running after this command exits, until \`fw-shard sandbox down\`.`,
    )
    .action(
      action(ctx, setExit, async (opts: UpFlags) => {
        const r = await sandboxUp(upOptionsOf(ctx, opts), (line) => log(ctx, line));
        if (opts.json) {
          printJson(ctx, {
            ok: true,
            alreadyRunning: r.alreadyRunning,
            recreated: r.recreated,
            dir: r.state.dir,
            configPath: r.configPath,
            elapsedMs: r.elapsedMs,
            timings: r.timings,
            sandbox: r.state,
          });
        } else {
          out(
            ctx,
            `${r.alreadyRunning ? `Sandbox already running at ${r.state.dir} (nothing changed)` : `Sandbox ready at ${r.state.dir} in ${(r.elapsedMs / 1000).toFixed(1)} s`}: ${summary(r.state)}.\n\n${usageText(r.state)}`,
          );
        }
        return ExitCode.ok;
      }),
    );
}

function registerStatusOf(sandbox: Command, ctx: CliContext, setExit: (code: number) => void): void {
  sandbox
    .command('status')
    .description("show the sandbox's processes and whether each one is running and answering (changes nothing)")
    .option('--dir <dir>', `sandbox directory (env FW_SHARD_SANDBOX_DIR; default ./${DEFAULT_SANDBOX_DIR})`)
    .option('--json', 'one JSON document on stdout')
    .addHelpText(
      'after',
      `
Examples:
  $ fw-shard sandbox status
  $ fw-shard sandbox status --dir /tmp/pm --json

Exit code: 0 when the sandbox is healthy or there is none; 8 when it exists but a process is down or
did not finish starting.`,
    )
    .action(
      action(ctx, setExit, async (opts: { dir?: string; json?: boolean }) => {
        const s = await sandboxStatus(dirOf(ctx, opts.dir));
        if (opts.json) printJson(ctx, { ok: true, ...s });
        else out(ctx, statusText(s));
        return !s.exists || s.healthy ? ExitCode.ok : ExitCode.unhealthy;
      }),
    );
}

function registerDown(sandbox: Command, ctx: CliContext, setExit: (code: number) => void): void {
  sandbox
    .command('down')
    .description('stop every process the sandbox started (SIGTERM, then SIGKILL) and remove its directory')
    .option('--dir <dir>', `sandbox directory (env FW_SHARD_SANDBOX_DIR; default ./${DEFAULT_SANDBOX_DIR})`)
    .option('--json', 'one JSON document on stdout')
    .addHelpText(
      'after',
      `
Examples:
  $ fw-shard sandbox down
  $ fw-shard sandbox down --dir /tmp/pm

Only processes recorded in DIR/sandbox.json (or running from DIR) are stopped; a directory that is not a
sandbox is never deleted.`,
    )
    .action(
      action(ctx, setExit, async (opts: { dir?: string; json?: boolean }) => {
        const r = await sandboxDown(dirOf(ctx, opts.dir));
        if (opts.json) printJson(ctx, { ok: true, ...r });
        else if (!r.existed) out(ctx, `No sandbox at ${r.dir}; nothing to do.`);
        else {
          for (const p of r.stopped) log(ctx, `  ${p.name} (pid ${p.pid}): ${p.how === 'gone' ? 'was not running' : `stopped (${p.how})`}`);
          out(ctx, `Sandbox at ${r.dir} stopped (${r.stopped.filter((p) => p.how !== 'gone').length} processes) and removed.`);
        }
        return ExitCode.ok;
      }),
    );
}

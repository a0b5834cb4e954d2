/**
 * The command line. The only importer of commander. Each command lives in ./commands/ and returns an
 * exit code; errors are mapped to exit codes in exactly one place (`runCli`).
 */
import { closeSync, readFileSync } from 'node:fs';
import { isatty } from 'node:tty';
import { Command, CommanderError } from 'commander';
import { ExitCode } from '../errors/index.js';
import type { CliContext, GlobalOptions } from './context.js';
import { registerCommands } from './commands/index.js';
import { reportErrorText } from './report-error.js';
import { addEnvTwins } from './env-twins.js';

export function buildProgram(ctx: CliContext, setExit: (code: number) => void): Command {
  const program = new Command();
  program
    .name('fw-shard')
    .description('Move users between the federated MySQL shards of a Flamework-style application: chunked, verified, crash-safe.')
    .version(VERSION, '-V, --version')
    .option('-c, --config <file>', 'native config file (YAML or JSON); env FW_SHARD_CONFIG; default ./fw-shard.config.{yaml,yml,json}')
    .option(
      '--flamework-config <file>',
      'read the topology from Flamework PHP config files instead (repeatable, in load order: config.php, secrets.php, config_local_*.php)',
      (v: string, prev: string[] = []) => [...prev, v],
    )
    .showHelpAfterError('(run with --help for usage and examples)')
    .configureOutput({
      writeOut: (s) => ctx.stdout.write(s),
      writeErr: (s) => ctx.stderr.write(s),
    })
    .exitOverride()
    .addHelpText(
      'after',
      `
Examples:
  $ fw-shard sandbox up                 start a local sandbox (db_main, shards, ticket servers)
  $ fw-shard status                     servers, shards, users per shard, tickets
  $ fw-shard move --user 42 --to 2      move user 42 to shard 2 (asks first on a terminal)
  $ fw-shard move --user 42 --to 2 --dry-run
  $ fw-shard config show --json

Exit codes: 0 ok, 2 usage, 3 config, 4 server unavailable, 5 refused by a precondition,
6 data mismatch, 7 busy / retry later, 8 status/verify found a problem, 9 some moves of a plan failed,
70 internal error, 130 interrupted.`,
    );
  registerCommands(program, ctx, setExit, () => program.opts<GlobalOptions>());
  addEnvTwins(program);
  return program;
}

/** The package's own version: dist/cli/main.js and src/cli/main.ts both sit two levels below package.json. */
export const VERSION: string = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;

/** Run the CLI; returns the exit code. Never throws. */
export async function runCli(argv: string[], ctx: CliContext): Promise<number> {
  let code: number = ExitCode.ok;
  const program = buildProgram(ctx, (c) => {
    code = c;
  });
  try {
    await program.parseAsync(argv, { from: 'user' });
    return code;
  } catch (err) {
    if (err instanceof CommanderError) {
      // help and version exit 0; parse errors are usage errors (commander already printed them)
      return err.exitCode === 0 ? ExitCode.ok : ExitCode.usage;
    }
    return reportError(ctx, err);
  }
}

const reportError = reportErrorText;

/**
 * `fw-shard status --help | head` closes the pipe before the help is written, `fw-shard resume 7 2>&1 |
 * head -8` closes it mid-move, and a closed terminal makes every write fail (EIO). Without a listener
 * any of these is an uncaught error that kills the process (exit 1) wherever it is. A reader that goes
 * away must not stop a command, a move least of all: it goes on to its end and the journal tells how it
 * ended, so every error of an output stream is dropped (the stream is destroyed by then, and later
 * writes to it are no-ops). There is nowhere left to report it anyway.
 */
export function tolerateClosedPipes(...streams: NodeJS.WritableStream[]): void {
  for (const s of streams) s.on('error', () => undefined);
}

/**
 * A terminal that goes away mid-run (the window closed, the ssh session dropped) made Node 20 abort on
 * the way out, after the move had finished: at exit it restores the terminal's modes with tcsetattr,
 * which fails with EIO on a hung-up terminal, and an assertion turns that into SIGABRT. Node skips the
 * descriptors a program closed, so at exit this closes those of 0..2 that were a terminal at start and
 * are not one any more (isatty fails on a hung-up terminal). A live terminal is left alone.
 */
function releaseLostTerminalAtExit(): void {
  const ttys = [0, 1, 2].filter((fd) => isatty(fd));
  process.on('exit', () => {
    for (const fd of ttys) {
      if (isatty(fd)) continue;
      try {
        closeSync(fd);
      } catch {
        // already closed: nothing to restore
      }
    }
  });
}

/** How long the process may linger after its result before it exits anyway. */
const EXIT_GRACE_MS = 3000;

const isMain = process.argv[1] !== undefined && /fw-shard(\.js)?$|main\.js$/.test(process.argv[1]);
if (isMain) {
  const ctx: CliContext = {
    stdout: process.stdout,
    stderr: process.stderr,
    stdinIsTTY: Boolean(process.stdin.isTTY),
    env: process.env,
    cwd: process.cwd(),
  };
  process.title = 'fw-shard';
  tolerateClosedPipes(process.stdout, process.stderr);
  releaseLostTerminalAtExit();
  const code = await runCli(process.argv.slice(2), ctx);
  process.exitCode = code;
  // The result is out and every connection was asked to close. A socket to a server that died under a
  // query can still hold the process open (seen once in the fault tests: 60 s after the report): a cron
  // runbook must not wait on it. The timer does not keep the process alive itself.
  setTimeout(() => {
    ctx.stderr.write('fw-shard: a connection to a server that went away was still closing; exiting anyway\n');
    process.exit(code);
  }, EXIT_GRACE_MS).unref();
}

/**
 * What a command needs from the process, passed in so commands stay testable: output streams, env, cwd.
 * Discipline (after Shopify cli-kit): stdout carries results only (tables, JSON); logs, warnings,
 * progress and errors go to stderr.
 */
import type { Command } from 'commander';
import { ExitCode } from '../errors/index.js';
import { loadTopology as loadTopologyFrom, resolveTopology, type LoadedTopology } from '../app/topology.js';
import type { MetricsRecorder } from '../report/metrics.js';

export interface CliContext {
  stdout: NodeJS.WritableStream & { isTTY?: boolean };
  stderr: NodeJS.WritableStream & { isTTY?: boolean };
  stdinIsTTY: boolean;
  env: Readonly<Record<string, string | undefined>>;
  cwd: string;
  /** Set while a command with --metrics-file runs: every engine event of the command is observed (action.ts). */
  metrics?: MetricsRecorder;
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

/**
 * The one --json document. After --events (NDJSON on the same stdout) it is one line too, so the stream
 * stays NDJSON; otherwise it is indented for people.
 */
export function printJson(ctx: CliContext, doc: Record<string, unknown>, opts: { events?: boolean } = {}): void {
  out(ctx, opts.events ? JSON.stringify({ schemaVersion: 1, ...doc }) : JSON.stringify({ schemaVersion: 1, ...doc }, null, 2));
}

/** The topology named by --config or --flamework-config (src/app/topology.ts); its warnings go to stderr. */
export function loadTopology(ctx: CliContext, g: GlobalOptions): LoadedTopology {
  const loaded = loadTopologyFrom({ ...g, env: ctx.env, cwd: ctx.cwd });
  for (const w of loaded.warnings) warn(ctx, w);
  return loaded;
}

export { ExitCode };

/** loadTopology, then the mapping table's real name from the servers. Commands that connect use this one. */
export async function loadTopologyResolved(ctx: CliContext, g: GlobalOptions): Promise<LoadedTopology> {
  return resolveTopology(loadTopology(ctx, g));
}

/** Every command module (src/cli/commands/) exports one of these. */
export type Register = (program: Command, ctx: CliContext, setExit: (code: number) => void, globals: () => GlobalOptions) => void;

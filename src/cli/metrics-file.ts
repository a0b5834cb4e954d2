/**
 * `--metrics-file PATH`: after the command, its metrics (src/report/metrics.ts) written atomically (a
 * temporary file in the same directory, then rename), so the textfile collector never reads half a file.
 * A file that cannot be written is a warning, never the command's failure.
 */
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { MetricsRecorder } from '../report/metrics.js';
import { warn, type CliContext } from './context.js';

/** The file's text, or null when there is none yet. */
function readIfThere(file: string): string | null {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return null;
  }
}

export function writeMetrics(ctx: CliContext, path: string, recorder: MetricsRecorder, command: string, exitCode: number): void {
  const file = resolve(ctx.cwd, path);
  const previous = readIfThere(file);
  const tmp = `${file}.${process.pid}.tmp`;
  try {
    writeFileSync(tmp, recorder.render(command, exitCode, new Date(), previous), { mode: 0o644 });
    renameSync(tmp, file);
  } catch (err) {
    warn(ctx, `--metrics-file ${path}: not written (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
}

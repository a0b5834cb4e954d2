import { printJson, type CliContext } from './context.js';
import { errorDocument, reportErrorText } from './report-error.js';
import { MetricsRecorder } from '../report/metrics.js';
import { writeMetrics } from './metrics-file.js';

/**
 * Wrap a command body: its return value is the exit code. With `--json`, a failure is also printed as a
 * JSON document on stdout ({ ok: false, error: { code, message } }) so scripts always get one document.
 */
export function action<O extends { json?: boolean; metricsFile?: string }, A extends unknown[]>(
  ctx: CliContext,
  setExit: (code: number) => void,
  body: (opts: O, ...args: A) => Promise<number>,
): (...args: unknown[]) => Promise<void> {
  return async (...args: unknown[]) => {
    // commander passes (...positionals, opts, command)
    const opts = args[args.length - 2] as O;
    const positionals = args.slice(0, -2) as A;
    // --metrics-file: the engine's events of this command are folded in, and written with the exit code.
    const metrics = opts?.metricsFile !== undefined ? new MetricsRecorder() : undefined;
    if (metrics) ctx.metrics = metrics;
    let code: number;
    try {
      code = await body(opts, ...positionals);
    } catch (err) {
      if (opts?.json) {
        printJson(ctx, errorDocument(err));
      }
      code = reportErrorText(ctx, err);
    }
    if (metrics) {
      delete ctx.metrics;
      writeMetrics(ctx, opts.metricsFile!, metrics, (args[args.length - 1] as { name(): string }).name(), code);
    }
    setExit(code);
  };
}

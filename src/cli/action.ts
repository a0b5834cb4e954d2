import { printJson, type CliContext } from './context.js';
import { errorDocument, reportErrorText } from './report-error.js';

/**
 * Wrap a command body: its return value is the exit code. With `--json`, a failure is also printed as a
 * JSON document on stdout ({ ok: false, error: { code, message } }) so scripts always get one document.
 */
export function action<O extends { json?: boolean }, A extends unknown[]>(
  ctx: CliContext,
  setExit: (code: number) => void,
  body: (opts: O, ...args: A) => Promise<number>,
): (...args: unknown[]) => Promise<void> {
  return async (...args: unknown[]) => {
    // commander passes (...positionals, opts, command)
    const opts = args[args.length - 2] as O;
    const positionals = args.slice(0, -2) as A;
    try {
      setExit(await body(opts, ...positionals));
    } catch (err) {
      if (opts?.json) {
        printJson(ctx, errorDocument(err));
      }
      setExit(reportErrorText(ctx, err));
    }
  };
}

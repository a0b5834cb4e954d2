/**
 * Signals while a command writes (move, resume, abort, cleanup, apply, run):
 *  - SIGINT/SIGTERM ask the engine to stop at the next safe point; a second one exits at once (130);
 *  - SIGHUP (the terminal or the ssh session went away) is not a request to stop: the run carries on to
 *    its end with its output dropped (see tolerateClosedPipes in main.ts), and the journal says how it
 *    ended. Without this handler Node's default would kill the process wherever it is.
 *  - SIGPIPE needs nothing: Node ignores it, and a closed pipe shows up as EPIPE on the stream.
 */
export function interruptSignal(onFirst: (signal: string) => void, onHangup: () => void = () => undefined): { signal: AbortSignal; dispose(): void } {
  const ac = new AbortController();
  const handler = (sig: NodeJS.Signals) => {
    if (ac.signal.aborted) process.exit(130);
    onFirst(sig);
    ac.abort();
  };
  let hungUp = false;
  const hangup = () => {
    if (hungUp) return;
    hungUp = true;
    onHangup();
  };
  process.on('SIGINT', handler);
  process.on('SIGTERM', handler);
  process.on('SIGHUP', hangup);
  return {
    signal: ac.signal,
    dispose() {
      process.off('SIGINT', handler);
      process.off('SIGTERM', handler);
      process.off('SIGHUP', hangup);
    },
  };
}

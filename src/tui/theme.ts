/**
 * Colours and marks for the TUI. With NO_COLOR (https://no-color.org: set and not empty) every colour
 * is dropped; the marks and words carry the meaning on their own.
 */
export interface Theme {
  color: boolean;
  ok?: string;
  bad?: string;
  warn?: string;
  info?: string;
  accent?: string;
  dim: boolean;
}

export function theme(color: boolean): Theme {
  return color ? { color, ok: 'green', bad: 'red', warn: 'yellow', info: 'cyan', accent: 'blue', dim: true } : { color, dim: false };
}

/** NO_COLOR honoured; FORCE_COLOR=0 too. */
export function colorEnabled(env: Readonly<Record<string, string | undefined>>): boolean {
  if (env.NO_COLOR !== undefined && env.NO_COLOR !== '') return false;
  if (env.FORCE_COLOR === '0' || env.FORCE_COLOR === 'false') return false;
  if (env.TERM === 'dumb') return false;
  return true;
}

export const MARK = { done: '✔', failed: '✘', running: '▸', pending: '·', stopped: '■', warn: '!' } as const;

/** A progress bar of exactly `width` cells. */
export function bar(fraction: number, width: number): { filled: string; empty: string } {
  const w = Math.max(1, width);
  const f = Math.max(0, Math.min(1, Number.isFinite(fraction) ? fraction : 0));
  const n = Math.round(f * w);
  return { filled: '█'.repeat(n), empty: '░'.repeat(w - n) };
}

/** Cut or pad to exactly `n` columns (ASCII table names; an ellipsis marks a cut). */
export function fit(text: string, n: number): string {
  if (text.length <= n) return text.padEnd(n);
  return n <= 1 ? text.slice(0, n) : text.slice(0, n - 1) + '…';
}

/** Small formatters shared by the plain renderer and the TUI, so both say the same thing the same way. */

/** 812 ms, 1.2 s, 3m 05s, 1h 02m. */
export function fmtMs(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) return '-';
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  const s = Math.round(ms / 1000);
  if (s < 3600) return `${Math.floor(s / 60)}m ${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h ${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

/** A decimal count (64-bit exact, as a string) with thousands separators: 1,234,567. */
export function fmtCount(n: string | number | bigint): string {
  const s = String(n);
  if (!/^-?[0-9]+$/.test(s)) return s;
  const neg = s.startsWith('-');
  const digits = neg ? s.slice(1) : s;
  return (neg ? '-' : '') + digits.replace(/\B(?=(\d{3})+(?!\d))/g, ',');
}

/** 850 rows/s, 12.3k rows/s, 1.2M rows/s. */
export function fmtRate(rowsPerSecond: number | null): string | null {
  if (rowsPerSecond === null || !Number.isFinite(rowsPerSecond)) return null;
  const r = rowsPerSecond;
  const v = r >= 1e6 ? `${(r / 1e6).toFixed(1)}M` : r >= 1e4 ? `${Math.round(r / 1e3)}k` : r >= 1e3 ? `${(r / 1e3).toFixed(1)}k` : `${Math.round(r)}`;
  return `${v} rows/s`;
}

/** Whole percent of copied over total, exact for 64-bit counts; null without a total. */
export function percent(copied: string, total: string): number | null {
  try {
    const t = BigInt(total || '0');
    if (t <= 0n) return null;
    const p = (BigInt(copied || '0') * 100n) / t;
    return Number(p > 100n ? 100n : p);
  } catch {
    return null;
  }
}

/** The first line of a (possibly multi-line) message. */
export function firstLine(text: string): string {
  return text.split('\n')[0] ?? '';
}

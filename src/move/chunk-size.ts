/**
 * Time-targeted chunk sizing (pt-table-checksum's 0.5 s): after each chunk, scale the row count toward
 * the target time, never more than doubling or halving at once, within fixed bounds.
 */
export const MIN_CHUNK = 100;
export const MAX_CHUNK = 10_000;

export function nextChunkSize(current: number, elapsedMs: number, targetMs: number, rowsInChunk: number): number {
  if (rowsInChunk < current) return current; // a short (final) chunk says nothing about speed
  const safeElapsed = Math.max(elapsedMs, 1);
  const ideal = Math.round((current * targetMs) / safeElapsed);
  const bounded = Math.min(Math.max(ideal, Math.floor(current / 2)), current * 2);
  return Math.min(Math.max(bounded, MIN_CHUNK), MAX_CHUNK);
}

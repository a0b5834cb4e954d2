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

/**
 * Bytes of row data one chunk holds: a copy reads at most this much before it stops the result (a single
 * larger row makes a chunk of one), and sizes the next chunk from the rows' average so it stays under.
 * With the read-ahead and the LOAD DATA input built from it, about 3x this per table copied at once.
 */
export const CHUNK_BYTES = 4 * 1024 * 1024;

/** `rows`, lowered so that rows of `avgRowBytes` fit in CHUNK_BYTES (never below one row). */
export function byteBoundedSize(rows: number, avgRowBytes: number): number {
  if (!(avgRowBytes > 0)) return rows;
  return Math.max(1, Math.min(rows, Math.floor(CHUNK_BYTES / avgRowBytes)));
}

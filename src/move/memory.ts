/**
 * Keeping the copy's memory flat. The copy's Buffers (mysql2's network reads and the LOAD DATA packets
 * it copies each chunk into) are garbage as soon as a chunk is written, but V8 frees a dead Buffer's
 * memory only in a collection, and starts one for external memory only after about 64 MB more of it:
 * the RSS of a 1M-row move stood ~40 MB above a 10k-row one's. A young-generation collection between
 * chunks (0.05 ms, bench/SPEED.md) frees them while they are young. The collector is reached through
 * V8's --expose-gc, set at run time; without it (a runtime that refuses the flag), nothing happens.
 */
import v8 from 'node:v8';
import vm from 'node:vm';

type Collect = (options: { type: 'minor' | 'major' }) => void;
let collect: Collect | null | undefined;

export function collectYoungGarbage(): void {
  if (collect === undefined) {
    try {
      v8.setFlagsFromString('--expose-gc');
      const found: unknown = vm.runInNewContext('typeof gc === "function" ? gc : null');
      collect = typeof found === 'function' ? (found as Collect) : null;
    } catch {
      collect = null;
    }
  }
  collect?.({ type: 'minor' });
}

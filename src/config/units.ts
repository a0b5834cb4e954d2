/**
 * Units in flags, env vars, config and playbooks: durations, sizes, whole numbers, choices. Every parser
 * names the flag (or key) it read in its USAGE error.
 */
import { FwShardError } from '../errors/index.js';

/** "500ms", "2s", "15m", "1h", "1d", or a bare number of ms → milliseconds. */
export function parseDuration(text: string, flag: string): number {
  const m = /^\s*([0-9]+(?:\.[0-9]+)?)\s*(ms|s|m|h|d)?\s*$/.exec(text);
  if (!m) throw new FwShardError('USAGE', `${flag} must be a duration like 500ms, 2s, 15m or 1h, got '${text}'`);
  const n = Number(m[1]);
  const unit = m[2] ?? 'ms';
  const mult = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[unit]!;
  return Math.round(n * mult);
}

export function parsePositiveInt(text: string, flag: string, max = 1_000_000): number {
  if (!/^[0-9]+$/.test(text.trim())) throw new FwShardError('USAGE', `${flag} must be a whole number, got '${text}'`);
  const n = Number(text.trim());
  if (n < 1 || n > max) throw new FwShardError('USAGE', `${flag} must be between 1 and ${max}, got ${n}`);
  return n;
}

export function parseChoice<T extends string>(text: string, flag: string, choices: readonly T[]): T {
  if (!(choices as readonly string[]).includes(text)) throw new FwShardError('USAGE', `${flag} must be one of ${choices.join(', ')}, got '${text}'`);
  return text as T;
}

/** "500M", "20G", "1.5T", 1000 → bytes (1024-based; a bare number is bytes). */
export function parseSize(v: string | number, flag = '--max-bytes'): bigint {
  if (typeof v === 'number') return BigInt(v);
  const m = /^([0-9]+(?:\.[0-9]+)?)\s*([kKmMgGtT]?)i?[bB]?$/.exec(v.trim());
  if (!m) throw new FwShardError('USAGE', `${flag} must be a size like 500M or 20G, got '${v}'`);
  const mult = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 }[m[2]!.toLowerCase() as '' | 'k' | 'm' | 'g' | 't'];
  const n = Math.round(Number(m[1]) * mult);
  if (!Number.isSafeInteger(n) || n < 1) throw new FwShardError('USAGE', `${flag} ${v} is out of range`);
  return BigInt(n);
}

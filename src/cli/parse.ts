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

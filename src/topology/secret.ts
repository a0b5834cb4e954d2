import { inspect } from 'node:util';

const REDACTED = '[redacted]';

/**
 * A password. It cannot be printed by accident: JSON, string conversion and util.inspect all show
 * "[redacted]"; only `reveal()` (called by src/db when connecting) yields the value.
 */
export class Secret {
  readonly #value: string;
  constructor(value: string) {
    this.#value = value;
  }
  reveal(): string {
    return this.#value;
  }
  toJSON(): string {
    return REDACTED;
  }
  toString(): string {
    return REDACTED;
  }
  [inspect.custom](): string {
    return REDACTED;
  }
}

/** Remove every known secret value from a free-text message (driver errors can echo connection strings). */
export function scrubSecrets(text: string, secrets: Iterable<Secret | undefined>): string {
  let out = text;
  for (const s of secrets) {
    const v = s?.reveal();
    if (v && v.length >= 1) out = out.split(v).join(REDACTED);
  }
  return out;
}

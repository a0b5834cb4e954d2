/**
 * PHP values as Flamework config files hold them (PhpArray keeps PHP's ordered, key-normalised
 * arrays), the constant expressions the parser keeps (PhpExpr), and their evaluation with PHP's
 * value semantics, so the importer only decides *what* to apply, never *how* PHP would.
 */
/** A PHP array key after PHP's key normalisation: integer-like strings become numbers. */
export type PhpKey = string | number;
type PhpScalar = string | number | boolean | null;
export type PhpValue = PhpScalar | PhpArray;

/**
 * A PHP array: an ordered map with PHP's key rules. Invariants: keys are normalised with
 * {@link phpKey} before use, so `'1'` and `1` are one key; overwriting a key keeps its position (last
 * value wins, first position stays, as in PHP); `nextIndex` is the key `$a[] = v` would use.
 */
export class PhpArray {
  readonly #entries = new Map<PhpKey, PhpValue>();
  #nextIndex = 0;

  get size(): number {
    return this.#entries.size;
  }
  has(key: PhpKey): boolean {
    return this.#entries.has(key);
  }
  get(key: PhpKey): PhpValue | undefined {
    return this.#entries.get(key);
  }
  set(key: PhpKey, value: PhpValue): void {
    this.#entries.set(key, value);
    // PHP < 8.3: the next implicit key is max(previous next, largest int key + 1), never below 0.
    if (typeof key === 'number' && key >= this.#nextIndex) this.#nextIndex = key + 1;
  }
  /** `$a[] = value`; returns the key used. */
  append(value: PhpValue): number {
    const key = this.#nextIndex;
    this.set(key, value);
    return key;
  }
  delete(key: PhpKey): void {
    this.#entries.delete(key);
  }
  keys(): PhpKey[] {
    return [...this.#entries.keys()];
  }
  entries(): [PhpKey, PhpValue][] {
    return [...this.#entries.entries()];
  }
  /** PHP arrays are values: every copy is deep. */
  clone(): PhpArray {
    const copy = new PhpArray();
    for (const [k, v] of this.#entries) copy.set(k, v instanceof PhpArray ? v.clone() : v);
    copy.#nextIndex = this.#nextIndex;
    return copy;
  }
  /** A plain object for tests and debugging (key order kept for string keys only, as JS objects do). */
  toJS(): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    for (const [k, v] of this.#entries) out[String(k)] = v instanceof PhpArray ? v.toJS() : v;
    return out;
  }
}

/** PHP's array key normalisation (`"1"` → 1, `"01"` stays a string, true → 1, null → `""`, 1.7 → 1). */
export function phpKey(v: PhpScalar): PhpKey {
  if (typeof v === 'string') {
    if (/^(0|-?[1-9][0-9]*)$/.test(v)) {
      const n = Number(v);
      if (Number.isSafeInteger(n)) return n;
    }
    return v;
  }
  if (typeof v === 'number') return Math.trunc(v);
  if (typeof v === 'boolean') return v ? 1 : 0;
  return '';
}

/** PHP truthiness: false, 0, 0.0, "", "0", null and the empty array are false. */
export function phpTruthy(v: PhpValue | undefined): boolean {
  if (v === undefined || v === null || v === false) return false;
  if (v === 0 || v === '' || v === '0') return false;
  if (v instanceof PhpArray) return v.size > 0;
  return true;
}

/** PHP's `(string)` cast for scalars; undefined for arrays (PHP would print "Array"). */
export function phpString(v: PhpValue | undefined): string | undefined {
  if (v instanceof PhpArray) return undefined;
  if (v === undefined || v === null || v === false) return '';
  if (v === true) return '1';
  return String(v);
}

// ---------------------------------------------------------------------------------------------------
// Tokenizer

/** A constant expression over literals and other cfg values, evaluated later in file order. */
export type PhpExpr =
  | { kind: 'literal'; value: PhpScalar }
  | { kind: 'array'; items: { key?: PhpExpr; value: PhpExpr }[] }
  | { kind: 'concat'; parts: PhpExpr[] }
  /** A read of `$GLOBALS['cfg'][...path]`. */
  | { kind: 'cfg'; path: PhpKey[] };

/** A parsed expression PHP itself would reject or warn about at run time. */
export class PhpEvalError extends Error {}

/**
 * Evaluate a parsed expression with PHP semantics. `readCfg` returns the current value at a cfg path
 * (undefined when unset, which PHP reads as null). Arrays are returned as fresh copies, so the caller
 * may store the result without aliasing (PHP arrays are values).
 */
export function evaluatePhp(expr: PhpExpr, readCfg: (path: PhpKey[]) => PhpValue | undefined): PhpValue {
  switch (expr.kind) {
    case 'literal':
      return expr.value;
    case 'cfg': {
      const v = readCfg(expr.path);
      return v instanceof PhpArray ? v.clone() : (v ?? null);
    }
    case 'concat':
      return expr.parts
        .map((p) => {
          const s = phpString(evaluatePhp(p, readCfg));
          if (s === undefined) throw new PhpEvalError('an array used as a string');
          return s;
        })
        .join('');
    case 'array': {
      const arr = new PhpArray();
      for (const item of expr.items) {
        const value = evaluatePhp(item.value, readCfg);
        if (item.key === undefined) {
          arr.append(value);
          continue;
        }
        const key = evaluatePhp(item.key, readCfg);
        if (key instanceof PhpArray) throw new PhpEvalError('an array used as an array key');
        arr.set(phpKey(key), value);
      }
      return arr;
    }
  }
}

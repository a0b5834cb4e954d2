/**
 * The expression half of the Flamework config parser: a cursor over the tokens and the constant
 * expressions fw-shard understands. A statement or value it cannot follow throws ParseFail, with the
 * line and the reason the importer reports.
 */
import { evaluatePhp, phpKey, PhpArray, PhpEvalError, type PhpExpr, type PhpKey } from './php-values.js';
import { skipBalancedFrom, type Token } from './php-lexer.js';

/** Internal: the statement at hand is not in the understood subset. */
export class ParseFail extends Error {
  constructor(
    readonly line: number,
    readonly reason: string,
  ) {
    super(reason);
  }
}

export function describe(t: Token | undefined): string {
  if (!t) return 'end of file';
  if (t.kind === 'str') return 'a string';
  if (t.kind === 'var') return `$${t.value}`;
  return `'${t.value}'`;
}

/**
 * A cursor over one file's tokens and the expression grammar of the config subset: constants, arrays,
 * `.`, cfg reads (through `$GLOBALS['cfg']` or a variable made a reference to it). PhpConfigParser
 * (php-parser.ts) walks the statements on it.
 */
export class PhpCursor {
  i = 0;
  /**
   * Variables made references into the config (`$cfg = &$GLOBALS['cfg'];`, `$db = &$GLOBALS['cfg']['db_users'];`):
   * writing through them writes the config, so they are followed. Name → the cfg path they point at.
   */
  readonly aliases = new Map<string, PhpKey[]>();

  constructor(readonly toks: Token[]) {}

  peek(k = 0): Token | undefined {
    return this.toks[this.i + k];
  }

  isOp(t: Token | undefined, v: string): boolean {
    return t?.kind === 'op' && t.value === v;
  }

  expectOp(v: string): void {
    const t = this.peek();
    if (!this.isOp(t, v)) throw new ParseFail(t?.line ?? this.toks[this.toks.length - 1]?.line ?? 1, `expected '${v}', found ${describe(t)}`);
    this.i++;
  }

  isGlobalsCfg(k: number): boolean {
    const [a, b, c, d] = [this.toks[k], this.toks[k + 1], this.toks[k + 2], this.toks[k + 3]];
    return a?.kind === 'var' && a.value === 'GLOBALS' && this.isOp(b, '[') && c?.kind === 'str' && !c.dynamic && c.value === 'cfg' && this.isOp(d, ']');
  }

  /** A variable made a reference to (a part of) the config, at `k`. */
  isAliasHead(k: number): boolean {
    return this.toks[k]?.kind === 'var' && this.aliases.has(this.toks[k]!.value) && this.toks[k]!.value !== 'GLOBALS';
  }

  isCfgHead(k: number): boolean {
    return this.isGlobalsCfg(k) || this.isAliasHead(k);
  }

  /** Tokens the cfg head at `k` spans, and the cfg path it stands for. */
  cfgHead(k: number): { len: number; prefix: PhpKey[] } {
    return this.isGlobalsCfg(k) ? { len: 4, prefix: [] } : { len: 1, prefix: this.aliases.get(String(this.toks[k]!.value))! };
  }

  /**
   * The cfg path at the cursor (a head, then constant subscripts), the cursor moved past it; `complete`
   * is false when a subscript is not a constant or is `[]` (the path then stops at the last known key).
   */
  readCfgPath(): { path: PhpKey[]; complete: boolean } {
    const head = this.cfgHead(this.i);
    this.i += head.len;
    const path: PhpKey[] = [...head.prefix];
    let complete = true;
    while (this.isOp(this.peek(), '[')) {
      const key = this.parseSubscript();
      if (key === undefined || key === null) complete = false;
      else if (complete) path.push(key);
    }
    return { path, complete };
  }

  /** Index just past the bracket matching the opener at `k`. */
  skipBalanced(k: number): number {
    return skipBalancedFrom(this.toks, k);
  }

  /** Index of the `;` ending the statement that contains `k` (or of an unmatched `}`). */
  statementEnd(k: number): number {
    let depth = 0;
    for (let j = k; j < this.toks.length; j++) {
      const t = this.toks[j]!;
      if (t.kind !== 'op') continue;
      if (t.value === '(' || t.value === '[' || t.value === '{') depth++;
      else if (t.value === ')' || t.value === ']' || t.value === '}') {
        if (depth === 0) return j;
        depth--;
      } else if (t.value === ';' && depth === 0) return j;
    }
    return this.toks.length;
  }

  // --- expressions ------------------------------------------------------------------------------
  parseExpr(): PhpExpr {
    const parts = [this.parseUnary()];
    while (this.isOp(this.peek(), '.')) {
      this.i++;
      parts.push(this.parseUnary());
    }
    return parts.length === 1 ? parts[0]! : { kind: 'concat', parts };
  }

  parseUnary(): PhpExpr {
    const t = this.peek();
    if (this.isOp(t, '-') || this.isOp(t, '+')) {
      this.i++;
      const inner = this.parseUnary();
      if (inner.kind !== 'literal' || typeof inner.value !== 'number') throw new ParseFail(t!.line, `unary ${t!.value} on something other than a number`);
      return { kind: 'literal', value: t!.value === '-' ? -inner.value : inner.value };
    }
    if (this.isOp(t, '(')) {
      this.i++;
      const inner = this.parseExpr();
      this.expectOp(')');
      return inner;
    }
    return this.parsePrimary();
  }

  parsePrimary(): PhpExpr {
    const t = this.peek();
    if (!t) throw new ParseFail(this.toks[this.toks.length - 1]?.line ?? 1, 'unexpected end of file');
    if (t.kind === 'str') {
      if (t.dynamic) throw new ParseFail(t.line, 'a string with variables in it');
      this.i++;
      return { kind: 'literal', value: t.value };
    }
    if (t.kind === 'num') {
      this.i++;
      return { kind: 'literal', value: t.value };
    }
    if (t.kind === 'id') {
      const word = t.value.toLowerCase();
      if (word === 'true' || word === 'false' || word === 'null') {
        this.i++;
        return { kind: 'literal', value: word === 'null' ? null : word === 'true' };
      }
      if (word === 'array' && this.isOp(this.peek(1), '(')) {
        this.i += 2;
        return this.parseArrayItems(')');
      }
      throw new ParseFail(t.line, this.isOp(this.peek(1), '(') ? `a call to ${t.value}()` : `the constant ${t.value}`);
    }
    if (this.isOp(t, '[')) {
      this.i++;
      return this.parseArrayItems(']');
    }
    if (this.isCfgHead(this.i)) {
      const head = this.cfgHead(this.i);
      this.i += head.len;
      const path: PhpKey[] = [...head.prefix];
      while (this.isOp(this.peek(), '[')) {
        const key = this.parseSubscript();
        if (key === null) throw new ParseFail(t.line, "reading $GLOBALS['cfg'][...][]");
        if (key === undefined) throw new ParseFail(t.line, 'a cfg read with a key that is not a constant');
        path.push(key);
      }
      return { kind: 'cfg', path };
    }
    throw new ParseFail(t.line, `${describe(t)} is not a constant value`);
  }

  parseArrayItems(close: string): PhpExpr {
    const items: { key?: PhpExpr; value: PhpExpr }[] = [];
    while (!this.isOp(this.peek(), close)) {
      const first = this.parseExpr();
      if (this.isOp(this.peek(), '=>')) {
        this.i++;
        items.push({ key: first, value: this.parseExpr() });
      } else {
        items.push({ value: first });
      }
      if (this.isOp(this.peek(), ',')) this.i++;
      else if (!this.isOp(this.peek(), close))
        throw new ParseFail(this.peek()?.line ?? 1, `expected ',' or '${close}' in an array, found ${describe(this.peek())}`);
    }
    this.i++;
    return { kind: 'array', items };
  }

  /**
   * Parse `[key]` at the cursor. Returns the normalised key, null for `[]`, undefined when the key is
   * not a constant (the cursor is then past the subscript anyway).
   */
  parseSubscript(): PhpKey | null | undefined {
    const open = this.i;
    this.i++;
    if (this.isOp(this.peek(), ']')) {
      this.i++;
      return null;
    }
    try {
      const e = this.parseExpr();
      this.expectOp(']');
      // A key may be any constant expression, but not a cfg read: that would need the state at run time.
      const v = evaluatePhp(e, () => {
        throw new ParseFail(0, 'cfg read');
      });
      if (v instanceof PhpArray) return undefined;
      return phpKey(v);
    } catch (err) {
      if (!(err instanceof ParseFail || err instanceof PhpEvalError)) throw err;
      this.i = this.skipBalanced(open);
      return undefined;
    }
  }

  skipToArgEnd(): number {
    let j = this.i;
    let depth = 0;
    for (; j < this.toks.length; j++) {
      const t = this.toks[j]!;
      if (t.kind !== 'op') continue;
      if ('([{'.includes(t.value)) depth++;
      else if (')]}'.includes(t.value)) {
        if (depth === 0) return j;
        depth--;
      } else if (t.value === ',' && depth === 0) return j + 1;
    }
    return j;
  }

  /** The token as a lower-case keyword, when it is an identifier. */
  keyword(t: Token | undefined): string | undefined {
    return t?.kind === 'id' ? t.value.toLowerCase() : undefined;
  }

  /** Index just past the bracket group opening `list[0]`, within `list`. */
  skipBalancedIn(list: Token[]): number {
    return skipBalancedFrom(list, 0);
  }
}

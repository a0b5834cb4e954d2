/**
 * A tokenizer and parser for the subset of PHP found in Flamework config files (config.php,
 * secrets.php, config_local_*.php). It is not a PHP interpreter: it finds the statements that assign
 * to `$GLOBALS['cfg'][...]` (or `unset()` them) and parses their right-hand side when it is made of
 * literals, `array(...)`/`[...]`, `.` concatenation and reads of other `$GLOBALS['cfg'][...]` values.
 * Every other statement is stepped over token by token, so strings holding `;` or `$GLOBALS` and
 * comments can never be mistaken for code. Evaluation (PHP value semantics) lives here too, so the
 * importer only decides *what* to apply, never *how* PHP would.
 */

/** A PHP array key after PHP's key normalisation: integer-like strings become numbers. */
export type PhpKey = string | number;
export type PhpScalar = string | number | boolean | null;
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

type Token =
  | { kind: 'str'; value: string; /** holds `$var` / `{$...}` interpolation: not a constant */ dynamic: boolean; line: number }
  | { kind: 'num'; value: number; line: number }
  | { kind: 'var'; value: string; line: number }
  | { kind: 'id'; value: string; line: number }
  | { kind: 'op'; value: string; line: number };

const OPERATORS = [
  '<<=',
  '>>=',
  '**=',
  '...',
  '===',
  '!==',
  '<=>',
  '??=',
  '?->',
  '=>',
  '==',
  '!=',
  '<>',
  '<=',
  '>=',
  '&&',
  '||',
  '++',
  '--',
  '+=',
  '-=',
  '*=',
  '/=',
  '.=',
  '%=',
  '&=',
  '|=',
  '^=',
  '->',
  '::',
  '<<',
  '>>',
  '??',
  '**',
];

/** A statement boundary the tokenizer synthesises for `?>` and open tags (PHP treats `?>` as `;`). */
const BOUNDARY = ';';

const SIMPLE_ESCAPES: Record<string, number> = { n: 10, t: 9, r: 13, v: 11, e: 27, f: 12, '\\': 92, $: 36, '"': 34 };
const DOUBLE_QUOTED_ESCAPE = /\\(?:([ntrvef\\$"])|([0-7]{1,3})|x([0-9A-Fa-f]{1,2})|u\{([0-9A-Fa-f]{1,6})\})/g;
/** `$name`, `${` or `{$` in a double-quoted string: PHP would interpolate a variable. */
const INTERPOLATION = /\$[A-Za-z_\x80-\uffff{]|\{\$/;

/**
 * Decode a double-quoted (or heredoc) body with PHP's escape rules; unknown escapes stay verbatim. PHP
 * strings are bytes, so `\xC3\xA9` must become "é": escapes are collected as bytes and the whole is
 * read back as UTF-8. In a heredoc (`quote` false) `\"` is not an escape.
 */
function decodeDoubleQuoted(body: string, quote: boolean): { value: string; dynamic: boolean } {
  const bytes: Buffer[] = [];
  let dynamic = false;
  let last = 0;
  const literal = (text: string): void => {
    if (INTERPOLATION.test(text)) dynamic = true;
    bytes.push(Buffer.from(text, 'utf8'));
  };
  for (const m of body.matchAll(DOUBLE_QUOTED_ESCAPE)) {
    const [whole, simple, octal, hex, code] = m;
    const codePoint = code === undefined ? undefined : parseInt(code, 16);
    if ((simple === '"' && !quote) || (codePoint !== undefined && codePoint > 0x10ffff)) continue;
    literal(body.slice(last, m.index));
    last = m.index + whole.length;
    if (simple !== undefined) bytes.push(Buffer.from([SIMPLE_ESCAPES[simple]!]));
    else if (octal !== undefined) bytes.push(Buffer.from([parseInt(octal, 8) & 0xff]));
    else if (hex !== undefined) bytes.push(Buffer.from([parseInt(hex, 16)]));
    else bytes.push(Buffer.from(String.fromCodePoint(codePoint!), 'utf8'));
  }
  literal(body.slice(last));
  return { value: Buffer.concat(bytes).toString('utf8'), dynamic };
}

/** Single quotes: only `\'` and `\\` are escapes. */
function decodeSingleQuoted(body: string): string {
  return body.replace(/\\(['\\])/g, '$1');
}

class LexError extends Error {
  constructor(
    readonly line: number,
    message: string,
  ) {
    super(message);
  }
}

function parseNumber(text: string): number {
  const t = text.replace(/_/g, '');
  if (/^0[xX]/.test(t)) return parseInt(t.slice(2), 16);
  if (/^0[bB]/.test(t)) return parseInt(t.slice(2), 2);
  if (/^0[oO]/.test(t)) return parseInt(t.slice(2), 8);
  if (/^0[0-7]+$/.test(t)) return parseInt(t.slice(1), 8);
  return Number(t);
}

/**
 * Split PHP source into tokens. Text outside `<?php`/`<?`/`<?=` … `?>` (inline HTML) is dropped; open
 * and close tags become statement boundaries. Throws LexError on an unterminated string or comment.
 */
function tokenize(src: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  let line = 1;
  const advance = (to: number): void => {
    for (let j = i; j < to; j++) if (src.charCodeAt(j) === 10) line++;
    i = to;
  };
  const push = (t: Token): void => {
    tokens.push(t);
  };

  let inPhp = false;
  while (i < src.length) {
    if (!inPhp) {
      const open = src.indexOf('<?', i);
      if (open < 0) break;
      advance(open);
      const tag = /^<\?(php\b|=)?/i.exec(src.slice(i, i + 6))![0];
      advance(i + tag.length);
      push({ kind: 'op', value: BOUNDARY, line });
      inPhp = true;
      continue;
    }
    const c = src[i]!;
    const rest = src.slice(i, i + 4);
    if (/\s/.test(c)) {
      advance(i + 1);
    } else if (rest.startsWith('?>')) {
      push({ kind: 'op', value: BOUNDARY, line });
      advance(i + 2);
      inPhp = false;
    } else if (c === '#' || rest.startsWith('//')) {
      // A line comment ends at the newline or at `?>`, whichever comes first.
      const m = /\r?\n|\?>/.exec(src.slice(i));
      advance(m ? i + m.index : src.length);
    } else if (rest.startsWith('/*')) {
      const end = src.indexOf('*/', i + 2);
      if (end < 0) throw new LexError(line, 'unterminated /* comment');
      advance(end + 2);
    } else if (c === "'" || c === '"' || c === '`') {
      const startLine = line;
      let j = i + 1;
      while (j < src.length && src[j] !== c) j += src[j] === '\\' ? 2 : 1;
      if (j >= src.length) throw new LexError(startLine, `unterminated ${c === "'" ? 'single' : c === '"' ? 'double' : 'backtick'}-quoted string`);
      const body = src.slice(i + 1, j);
      if (c === "'") push({ kind: 'str', value: decodeSingleQuoted(body), dynamic: false, line: startLine });
      else if (c === '"') push({ kind: 'str', ...decodeDoubleQuoted(body, true), line: startLine });
      else push({ kind: 'str', value: body, dynamic: true, line: startLine }); // shell execution
      advance(j + 1);
    } else if (rest.startsWith('<<<')) {
      const startLine = line;
      const head = /^<<<[ \t]*(["']?)([A-Za-z_][A-Za-z0-9_]*)\1\r?\n/.exec(src.slice(i));
      if (!head) throw new LexError(line, 'malformed heredoc');
      const bodyStart = i + head[0].length;
      // PHP ≥ 7.3: the closing marker may be indented; that indentation is removed from every line.
      const close = new RegExp(`^([ \\t]*)${head[2]}\\b`, 'm');
      const m = close.exec(src.slice(bodyStart));
      if (!m) throw new LexError(startLine, `unterminated heredoc <<<${head[2]}`);
      const indent = m[1]!;
      const raw = src
        .slice(bodyStart, bodyStart + m.index)
        .replace(/\r?\n$/, '')
        .split(/\n/)
        .map((l) => (l.startsWith(indent) ? l.slice(indent.length) : l))
        .join('\n');
      if (head[1] === "'") push({ kind: 'str', value: raw, dynamic: false, line: startLine });
      else push({ kind: 'str', ...decodeDoubleQuoted(raw, false), line: startLine });
      advance(bodyStart + m.index + m[0].length);
    } else if (/[0-9]/.test(c) || (c === '.' && /[0-9]/.test(src[i + 1] ?? ''))) {
      const m = /^(0[xX][0-9a-fA-F_]+|0[bB][01_]+|0[oO][0-7_]+|(?:[0-9][0-9_]*)?\.?[0-9][0-9_]*(?:[eE][+-]?[0-9]+)?)/.exec(src.slice(i))!;
      push({ kind: 'num', value: parseNumber(m[0]), line });
      advance(i + m[0].length);
    } else if (c === '$' && /[A-Za-z_\x80-\uffff]/.test(src[i + 1] ?? '')) {
      const m = /^\$([A-Za-z_\x80-\uffff][A-Za-z0-9_\x80-\uffff]*)/.exec(src.slice(i))!;
      push({ kind: 'var', value: m[1]!, line });
      advance(i + m[0].length);
    } else if (/[A-Za-z_\\\x80-\uffff]/.test(c)) {
      const m = /^[A-Za-z_\\\x80-\uffff][A-Za-z0-9_\\\x80-\uffff]*/.exec(src.slice(i))!;
      push({ kind: 'id', value: m[0], line });
      advance(i + m[0].length);
    } else {
      const op = OPERATORS.find((o) => src.startsWith(o, i)) ?? c;
      push({ kind: 'op', value: op, line });
      advance(i + op.length);
    }
  }
  return tokens;
}

// ---------------------------------------------------------------------------------------------------
// Parser

/** A constant expression over literals and other cfg values, evaluated later in file order. */
export type PhpExpr =
  | { kind: 'literal'; value: PhpScalar }
  | { kind: 'array'; items: { key?: PhpExpr; value: PhpExpr }[] }
  | { kind: 'concat'; parts: PhpExpr[] }
  /** A read of `$GLOBALS['cfg'][...path]`. */
  | { kind: 'cfg'; path: PhpKey[] };

export interface SourceLocation {
  file: string;
  line: number;
}

/**
 * One statement acting on `$GLOBALS['cfg']`. `path` is relative to `cfg` (empty: the whole cfg);
 * a `null` step is `[]` (append). `inBlock`: the statement sits inside an `if`/`else`/loop block, so
 * PHP may or may not run it; it is applied as if it always runs.
 */
export type CfgStatement =
  | (SourceLocation & { inBlock: boolean; order?: number; op: 'set'; path: (PhpKey | null)[]; value: PhpExpr })
  | (SourceLocation & { inBlock: boolean; order?: number; op: 'unset'; path: PhpKey[] });

/**
 * A cfg statement this parser could not read. `path` holds the literal keys up to the first one that is
 * not a constant (`complete` tells whether the whole path was literal).
 */
export interface CfgFailure extends SourceLocation {
  path: PhpKey[];
  complete: boolean;
  reason: string;
}

/** The keys of a cfg path before its first `[]` (append) step: all that is known of the target. */
export function literalPrefix(path: readonly (PhpKey | null)[]): PhpKey[] {
  const at = path.indexOf(null);
  return (at < 0 ? path : path.slice(0, at)) as PhpKey[];
}

/**
 * `include`/`require` (`_once`) at file scope. `target` is the path relative to the including file's
 * directory when written as `dirname(__FILE__) . '/x.php'` or `__DIR__ . '/x.php'`; null for any other
 * expression (not followed). `order` places it among the statements.
 */
export interface PhpInclude extends SourceLocation {
  kind: 'include' | 'include_once' | 'require' | 'require_once';
  target: string | null;
  /** The expression as written, for messages. */
  text: string;
  inBlock: boolean;
  order: number;
}

/** Something PHP would do that fw-shard deliberately does not apply, for a warning or an error. */
export interface PhpNote extends SourceLocation {
  /** The cfg path involved (literal keys), for deciding how much it matters. */
  path: PhpKey[];
  reason: string;
}

export interface ParsedPhpConfig {
  statements: CfgStatement[];
  failures: CfgFailure[];
  includes: PhpInclude[];
  /** Assignments to a variable that looks like the config but is not a reference to it (PHP ignores them too). */
  notes: PhpNote[];
  /** Set when the file could not be tokenized (statements after that point are unknown). */
  fatal?: SourceLocation & { reason: string };
}

/** A parsed expression PHP itself would reject or warn about at run time. */
export class PhpEvalError extends Error {}

/** Internal: the statement at hand is not in the understood subset. */
class ParseFail extends Error {
  constructor(
    readonly line: number,
    readonly reason: string,
  ) {
    super(reason);
  }
}

const CONTROL_WITH_CONDITION = new Set(['if', 'elseif', 'while', 'for', 'foreach', 'switch', 'declare']);
const CONTROL_WITHOUT_CONDITION = new Set(['else', 'do', 'try', 'finally']);
/** Bodies introduced after these are not run when the file is included. */
const DEFINITIONS = new Set(['function', 'fn', 'class', 'interface', 'trait', 'enum']);
const ALT_SYNTAX_END = new Set(['endif', 'endwhile', 'endfor', 'endforeach', 'endswitch', 'enddeclare']);

function describe(t: Token | undefined): string {
  if (!t) return 'end of file';
  if (t.kind === 'str') return 'a string';
  if (t.kind === 'var') return `$${t.value}`;
  return `'${t.value}'`;
}

/** Parse one config file. Never throws for PHP it does not understand: that is reported in the result. */
export function parsePhpConfig(file: string, text: string): ParsedPhpConfig {
  let toks: Token[];
  const result: ParsedPhpConfig = { statements: [], failures: [], includes: [], notes: [] };
  try {
    toks = tokenize(text);
  } catch (err) {
    if (!(err instanceof LexError)) throw err;
    result.fatal = { file, line: err.line, reason: err.message };
    return result;
  }

  let i = 0;
  const peek = (k = 0): Token | undefined => toks[i + k];
  const isOp = (t: Token | undefined, v: string): boolean => t?.kind === 'op' && t.value === v;
  const expectOp = (v: string): void => {
    const t = peek();
    if (!isOp(t, v)) throw new ParseFail(t?.line ?? toks[toks.length - 1]?.line ?? 1, `expected '${v}', found ${describe(t)}`);
    i++;
  };
  const isGlobalsCfg = (k: number): boolean => {
    const [a, b, c, d] = [toks[k], toks[k + 1], toks[k + 2], toks[k + 3]];
    return a?.kind === 'var' && a.value === 'GLOBALS' && isOp(b, '[') && c?.kind === 'str' && !c.dynamic && c.value === 'cfg' && isOp(d, ']');
  };
  /**
   * Variables made references into the config (`$cfg = &$GLOBALS['cfg'];`, `$db = &$GLOBALS['cfg']['db_users'];`):
   * writing through them writes the config, so they are followed. Name → the cfg path they point at.
   */
  const aliases = new Map<string, PhpKey[]>();
  const isAliasHead = (k: number): boolean => toks[k]?.kind === 'var' && aliases.has(toks[k]!.value) && toks[k]!.value !== 'GLOBALS';
  const isCfgHead = (k: number): boolean => isGlobalsCfg(k) || isAliasHead(k);
  /** Tokens the cfg head at `k` spans, and the cfg path it stands for. */
  const cfgHead = (k: number): { len: number; prefix: PhpKey[] } =>
    isGlobalsCfg(k) ? { len: 4, prefix: [] } : { len: 1, prefix: aliases.get(String(toks[k]!.value))! };
  /** Index just past the bracket matching the opener at `k`. */
  const skipBalanced = (k: number): number => skipBalancedFrom(toks, k);
  /** Index of the `;` ending the statement that contains `k` (or of an unmatched `}`). */
  const statementEnd = (k: number): number => {
    let depth = 0;
    for (let j = k; j < toks.length; j++) {
      const t = toks[j]!;
      if (t.kind !== 'op') continue;
      if (t.value === '(' || t.value === '[' || t.value === '{') depth++;
      else if (t.value === ')' || t.value === ']' || t.value === '}') {
        if (depth === 0) return j;
        depth--;
      } else if (t.value === ';' && depth === 0) return j;
    }
    return toks.length;
  };

  // --- expressions ------------------------------------------------------------------------------
  const parseExpr = (): PhpExpr => {
    const parts = [parseUnary()];
    while (isOp(peek(), '.')) {
      i++;
      parts.push(parseUnary());
    }
    return parts.length === 1 ? parts[0]! : { kind: 'concat', parts };
  };
  const parseUnary = (): PhpExpr => {
    const t = peek();
    if (isOp(t, '-') || isOp(t, '+')) {
      i++;
      const inner = parseUnary();
      if (inner.kind !== 'literal' || typeof inner.value !== 'number') throw new ParseFail(t!.line, `unary ${t!.value} on something other than a number`);
      return { kind: 'literal', value: t!.value === '-' ? -inner.value : inner.value };
    }
    if (isOp(t, '(')) {
      i++;
      const inner = parseExpr();
      expectOp(')');
      return inner;
    }
    return parsePrimary();
  };
  const parsePrimary = (): PhpExpr => {
    const t = peek();
    if (!t) throw new ParseFail(toks[toks.length - 1]?.line ?? 1, 'unexpected end of file');
    if (t.kind === 'str') {
      if (t.dynamic) throw new ParseFail(t.line, 'a string with variables in it');
      i++;
      return { kind: 'literal', value: t.value };
    }
    if (t.kind === 'num') {
      i++;
      return { kind: 'literal', value: t.value };
    }
    if (t.kind === 'id') {
      const word = t.value.toLowerCase();
      if (word === 'true' || word === 'false' || word === 'null') {
        i++;
        return { kind: 'literal', value: word === 'null' ? null : word === 'true' };
      }
      if (word === 'array' && isOp(peek(1), '(')) {
        i += 2;
        return parseArrayItems(')');
      }
      throw new ParseFail(t.line, isOp(peek(1), '(') ? `a call to ${t.value}()` : `the constant ${t.value}`);
    }
    if (isOp(t, '[')) {
      i++;
      return parseArrayItems(']');
    }
    if (isCfgHead(i)) {
      const head = cfgHead(i);
      i += head.len;
      const path: PhpKey[] = [...head.prefix];
      while (isOp(peek(), '[')) {
        const key = parseSubscript();
        if (key === null) throw new ParseFail(t.line, "reading $GLOBALS['cfg'][...][]");
        if (key === undefined) throw new ParseFail(t.line, 'a cfg read with a key that is not a constant');
        path.push(key);
      }
      return { kind: 'cfg', path };
    }
    throw new ParseFail(t.line, `${describe(t)} is not a constant value`);
  };
  const parseArrayItems = (close: string): PhpExpr => {
    const items: { key?: PhpExpr; value: PhpExpr }[] = [];
    while (!isOp(peek(), close)) {
      const first = parseExpr();
      if (isOp(peek(), '=>')) {
        i++;
        items.push({ key: first, value: parseExpr() });
      } else {
        items.push({ value: first });
      }
      if (isOp(peek(), ',')) i++;
      else if (!isOp(peek(), close)) throw new ParseFail(peek()?.line ?? 1, `expected ',' or '${close}' in an array, found ${describe(peek())}`);
    }
    i++;
    return { kind: 'array', items };
  };
  /**
   * Parse `[key]` at the cursor. Returns the normalised key, null for `[]`, undefined when the key is
   * not a constant (the cursor is then past the subscript anyway).
   */
  const parseSubscript = (): PhpKey | null | undefined => {
    const open = i;
    i++;
    if (isOp(peek(), ']')) {
      i++;
      return null;
    }
    try {
      const e = parseExpr();
      expectOp(']');
      // A key may be any constant expression, but not a cfg read: that would need the state at run time.
      const v = evaluatePhp(e, () => {
        throw new ParseFail(0, 'cfg read');
      });
      if (v instanceof PhpArray) return undefined;
      return phpKey(v);
    } catch (err) {
      if (!(err instanceof ParseFail || err instanceof PhpEvalError)) throw err;
      i = skipBalanced(open);
      return undefined;
    }
  };

  // --- statements ---------------------------------------------------------------------------------
  /** `$GLOBALS['cfg'][...] = expr;` at the cursor (which is on `$GLOBALS`). */
  const parseAssignment = (inBlock: boolean): void => {
    const line = peek()!.line;
    const start = i;
    const head = cfgHead(i);
    i += head.len;
    const path: (PhpKey | null)[] = [...head.prefix];
    let complete = true;
    while (isOp(peek(), '[')) {
      const key = parseSubscript();
      if (key === undefined) complete = false;
      if (complete) path.push(key!);
    }
    try {
      const t = peek();
      if (t?.kind === 'op' && t.value.endsWith('=') && t.value !== '=' && !['==', '===', '!=', '!==', '<=', '>='].includes(t.value)) {
        throw new ParseFail(t.line, `the compound assignment '${t.value}'`);
      }
      if (!isOp(t, '=')) {
        // Not an assignment (a read, a method call...): nothing to apply.
        i = statementEnd(start);
        return;
      }
      i++;
      if (isOp(peek(), '&')) throw new ParseFail(line, 'an assignment by reference (=&)');
      const value = parseExpr();
      const end = peek();
      if (!end) throw new ParseFail(toks[toks.length - 1]!.line, "missing ';' at the end of the file");
      if (!isOp(end, ';')) throw new ParseFail(end.line, `${describe(end)} after the value (only literals, arrays and '.' are understood)`);
      if (!complete) throw new ParseFail(line, 'a key that is not a constant');
      result.statements.push({ file, line, inBlock, order: start, op: 'set', path, value });
    } catch (err) {
      if (!(err instanceof ParseFail)) throw err;
      const known = literalPrefix(path);
      // The statement's first line names it; the line of the offending token is added when it differs.
      const reason = err.line > line ? `${err.reason} (line ${err.line})` : err.reason;
      result.failures.push({ file, line, path: known, complete: complete && known.length === path.length, reason });
    }
    i = statementEnd(start);
  };

  /** `unset($GLOBALS['cfg'][...], ...);` at the cursor (on `unset`). */
  const parseUnset = (inBlock: boolean): void => {
    const line = peek()!.line;
    const start = i;
    i += 2;
    while (i < toks.length && !isOp(peek(), ')')) {
      if (!isCfgHead(i)) {
        i = skipToArgEnd();
        continue;
      }
      const head = cfgHead(i);
      i += head.len;
      const path: PhpKey[] = [...head.prefix];
      let complete = true;
      while (isOp(peek(), '[')) {
        const key = parseSubscript();
        if (key === undefined || key === null) complete = false;
        else if (complete) path.push(key);
      }
      if (complete) result.statements.push({ file, line, inBlock, order: start, op: 'unset', path });
      else result.failures.push({ file, line, path, complete, reason: 'unset() of a key that is not a constant' });
      if (isOp(peek(), ',')) i++;
    }
    i = statementEnd(start);
  };
  const skipToArgEnd = (): number => {
    let j = i;
    let depth = 0;
    for (; j < toks.length; j++) {
      const t = toks[j]!;
      if (t.kind !== 'op') continue;
      if ('([{'.includes(t.value)) depth++;
      else if (')]}'.includes(t.value)) {
        if (depth === 0) return j;
        depth--;
      } else if (t.value === ',' && depth === 0) return j + 1;
    }
    return j;
  };

  // Walk every token. `atStart`: the cursor is where a statement may begin. `blocks` records, for each
  // open `{` (or alternative-syntax `if (...):`), whether it is the body of a definition
  // (function/class: not run when the file is included) or of a control structure (maybe run).
  // `bracelessBody`: the next statement is the brace-less body of a control structure.
  const blocks: ('definition' | 'control')[] = [];
  let atStart = true;
  let definitionPending = false;
  let bracelessBody = false;
  const keyword = (t: Token | undefined): string | undefined => (t?.kind === 'id' ? t.value.toLowerCase() : undefined);
  /** After a control header: `{`, `:` (alternative syntax) or a single statement may follow. */
  const afterControlHeader = (opensAltBlock: boolean): void => {
    atStart = true;
    if (isOp(toks[i], ':')) {
      i++;
      if (opensAltBlock) blocks.push('control');
    } else if (!isOp(toks[i], '{') && !isOp(toks[i], ';')) {
      bracelessBody = true;
    }
  };
  /** `$x = &$GLOBALS['cfg'][...]` (or `= &$alias[...]`) at the cursor: a new alias. Returns false when it is not one. */
  const parseAliasDefinition = (inBlock: boolean): boolean => {
    const t = toks[i]!;
    if (t.kind !== 'var' || t.value === 'GLOBALS' || !isOp(toks[i + 1], '=') || !isOp(toks[i + 2], '&') || !isCfgHead(i + 3)) return false;
    const start = i;
    const line = t.line;
    i += 3;
    const head = cfgHead(i);
    i += head.len;
    const path: PhpKey[] = [...head.prefix];
    let complete = true;
    while (isOp(peek(), '[')) {
      const key = parseSubscript();
      if (key === undefined || key === null) complete = false;
      else if (complete) path.push(key);
    }
    if (!complete || !isOp(peek(), ';')) {
      aliases.delete(t.value);
      result.failures.push({ file, line, path, complete: false, reason: `$${t.value} is made a reference to a part of the config fw-shard cannot name` });
    } else if (inBlock) {
      aliases.delete(t.value);
      result.failures.push({ file, line, path, complete: true, reason: `$${t.value} is made a reference to the config inside an if/else or loop` });
    } else {
      aliases.set(t.value, path);
    }
    i = statementEnd(start);
    return true;
  };
  const INCLUDES = new Set(['include', 'include_once', 'require', 'require_once']);
  /** `include ...;` at the cursor (on the keyword). */
  const parseInclude = (inBlock: boolean): void => {
    const t = toks[i]!;
    const start = i;
    const end = statementEnd(i);
    let expr = toks.slice(i + 1, end);
    while (isOp(expr[0], '(') && skipBalancedIn(expr) === expr.length) expr = expr.slice(1, -1);
    const text = expr.map((x) => (x.kind === 'str' ? `'${x.value}'` : x.kind === 'var' ? `$${x.value}` : String(x.value))).join(' ');
    let target: string | null = null;
    const tail = expr[expr.length - 1];
    const dirHead =
      (expr.length === 3 && expr[0]?.kind === 'id' && expr[0].value === '__DIR__') ||
      (expr.length === 6 &&
        expr[0]?.kind === 'id' &&
        expr[0].value.toLowerCase() === 'dirname' &&
        isOp(expr[1], '(') &&
        expr[2]?.kind === 'id' &&
        expr[2].value === '__FILE__' &&
        isOp(expr[3], ')'));
    if (dirHead && isOp(expr[expr.length - 2], '.') && tail?.kind === 'str' && !tail.dynamic && tail.value.startsWith('/')) target = tail.value.slice(1);
    result.includes.push({ file, line: t.line, kind: String(t.value).toLowerCase() as PhpInclude['kind'], target, text, inBlock, order: start });
    i = end;
  };
  /** Index just past the bracket group opening `list[0]`, within `list`. */
  const skipBalancedIn = (list: Token[]): number => skipBalancedFrom(list, 0);
  /** `$cfg['db_x'] = ...` through a variable that is no reference to the config: PHP changes nothing. */
  const noteLookalike = (): void => {
    const t = toks[i]!;
    const k = toks[i + 2];
    if (
      t.kind === 'var' &&
      t.value !== 'GLOBALS' &&
      isOp(toks[i + 1], '[') &&
      k?.kind === 'str' &&
      !k.dynamic &&
      /^db_/.test(k.value) &&
      isOp(toks[i + 3], ']')
    ) {
      const end = statementEnd(i);
      const assigns = toks
        .slice(i, end)
        .some((x, n) => n > 0 && x.kind === 'op' && x.value.endsWith('=') && !['==', '===', '!=', '!==', '<=', '>=', '=>'].includes(x.value));
      if (assigns)
        result.notes.push({
          file,
          line: t.line,
          path: [k.value],
          reason: `$${t.value}['${k.value}'] is assigned, but $${t.value} is not a reference to $GLOBALS['cfg'] in this file, so PHP does not change the config`,
        });
    }
  };
  while (i < toks.length) {
    const t = toks[i]!;
    const word = keyword(t);
    const inBlockHere = blocks.length > 0 || bracelessBody;
    if (atStart && !blocks.includes('definition') && parseAliasDefinition(inBlockHere)) continue;
    if (atStart && word !== undefined && INCLUDES.has(word) && !blocks.includes('definition')) {
      parseInclude(inBlockHere);
      continue;
    }
    if (atStart && !isCfgHead(i) && !blocks.includes('definition')) noteLookalike();
    if (atStart && (isCfgHead(i) || (word === 'unset' && isOp(toks[i + 1], '(')))) {
      if (blocks.includes('definition')) i = statementEnd(i);
      else if (word === 'unset') parseUnset(blocks.length > 0 || bracelessBody);
      else parseAssignment(blocks.length > 0 || bracelessBody);
      continue; // the cursor is on the statement's `;`, handled below
    }
    if (word !== undefined && CONTROL_WITH_CONDITION.has(word) && isOp(toks[i + 1], '(')) {
      // Step over the condition: a `$GLOBALS['cfg']` in it is a read, never an assignment.
      i = skipBalanced(i + 1);
      afterControlHeader(word !== 'elseif');
      continue;
    }
    if (word !== undefined && CONTROL_WITHOUT_CONDITION.has(word)) {
      i++;
      afterControlHeader(false);
      continue;
    }
    if (word !== undefined && ALT_SYNTAX_END.has(word)) blocks.pop();
    if (word !== undefined && DEFINITIONS.has(word)) definitionPending = true;
    if (isOp(t, '{')) {
      blocks.push(definitionPending ? 'definition' : 'control');
      definitionPending = false;
      bracelessBody = false;
      atStart = true;
    } else if (isOp(t, '}')) {
      blocks.pop();
      atStart = true;
    } else if (isOp(t, ';')) {
      definitionPending = false;
      bracelessBody = false;
      atStart = true;
    } else {
      atStart = false;
    }
    i++;
  }
  return result;
}

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

/** Index just past the bracket (any of ( [ {) matching the opener at `k` in `list`; its length if unmatched. */
function skipBalancedFrom(list: readonly Token[], k: number): number {
  let depth = 0;
  for (let j = k; j < list.length; j++) {
    const t = list[j]!;
    if (t.kind !== 'op') continue;
    if (t.value === '(' || t.value === '[' || t.value === '{') depth++;
    else if (t.value === ')' || t.value === ']' || t.value === '}') {
      depth--;
      if (depth === 0) return j + 1;
    }
  }
  return list.length;
}

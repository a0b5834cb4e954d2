/**
 * The tokenizer of the PHP subset in Flamework config files: strings (with PHP's escapes), numbers,
 * variables, identifiers and operators; comments and whitespace dropped. Strings holding `;` or
 * `$GLOBALS` stay strings, so they can never be mistaken for code.
 */
export type Token =
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

export class LexError extends Error {
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
export function tokenize(src: string): Token[] {
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

/** Index just past the bracket (any of ( [ {) matching the opener at `k` in `list`; its length if unmatched. */
export function skipBalancedFrom(list: readonly Token[], k: number): number {
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

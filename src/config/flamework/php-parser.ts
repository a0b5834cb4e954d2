/**
 * The parser of Flamework config files: finds the statements that assign to `$GLOBALS['cfg'][...]` (or
 * `unset()` them), through the variables made references to it, and parses their right-hand side when
 * it is made of literals, `array(...)`/`[...]`, `.` concatenation and reads of other cfg values. Every
 * other statement is stepped over token by token; includes and look-alike assignments are noted.
 */
import { type PhpExpr, type PhpKey } from './php-values.js';
import { LexError, tokenize, type Token } from './php-lexer.js';
import { describe, ParseFail, PhpCursor } from './php-cursor.js';

interface SourceLocation {
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
interface CfgFailure extends SourceLocation {
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
interface PhpNote extends SourceLocation {
  /** The cfg path involved (literal keys), for deciding how much it matters. */
  path: PhpKey[];
  reason: string;
}

interface ParsedPhpConfig {
  statements: CfgStatement[];
  failures: CfgFailure[];
  includes: PhpInclude[];
  /** Assignments to a variable that looks like the config but is not a reference to it (PHP ignores them too). */
  notes: PhpNote[];
  /** Set when the file could not be tokenized (statements after that point are unknown). */
  fatal?: SourceLocation & { reason: string };
}

const CONTROL_WITH_CONDITION = new Set(['if', 'elseif', 'while', 'for', 'foreach', 'switch', 'declare']);
const CONTROL_WITHOUT_CONDITION = new Set(['else', 'do', 'try', 'finally']);
/** Bodies introduced after these are not run when the file is included. */
const DEFINITIONS = new Set(['function', 'fn', 'class', 'interface', 'trait', 'enum']);
const ALT_SYNTAX_END = new Set(['endif', 'endwhile', 'endfor', 'endforeach', 'endswitch', 'enddeclare']);

const INCLUDES = new Set(['include', 'include_once', 'require', 'require_once']);

/** The statement walk over a file's tokens (run), and what it found so far (result). */
class PhpConfigParser extends PhpCursor {
  // `atStart`: the cursor is where a statement may begin. `blocks` records, for each open `{` (or
  // alternative-syntax `if (...):`), whether it is the body of a definition (function/class: not run
  // when the file is included) or of a control structure (maybe run). `bracelessBody`: the next
  // statement is the brace-less body of a control structure.
  readonly blocks: ('definition' | 'control')[] = [];
  atStart = true;
  definitionPending = false;
  bracelessBody = false;

  constructor(
    readonly file: string,
    toks: Token[],
    readonly result: ParsedPhpConfig,
  ) {
    super(toks);
  }

  // --- statements ---------------------------------------------------------------------------------
  /** `$GLOBALS['cfg'][...] = expr;` at the cursor (which is on `$GLOBALS`). */
  parseAssignment(inBlock: boolean): void {
    const line = this.peek()!.line;
    const start = this.i;
    const head = this.cfgHead(this.i);
    this.i += head.len;
    const path: (PhpKey | null)[] = [...head.prefix];
    let complete = true;
    while (this.isOp(this.peek(), '[')) {
      const key = this.parseSubscript();
      if (key === undefined) complete = false;
      if (complete) path.push(key!);
    }
    try {
      const t = this.peek();
      if (t?.kind === 'op' && t.value.endsWith('=') && t.value !== '=' && !['==', '===', '!=', '!==', '<=', '>='].includes(t.value)) {
        throw new ParseFail(t.line, `the compound assignment '${t.value}'`);
      }
      if (!this.isOp(t, '=')) {
        // Not an assignment (a read, a method call...): nothing to apply.
        this.i = this.statementEnd(start);
        return;
      }
      this.i++;
      if (this.isOp(this.peek(), '&')) throw new ParseFail(line, 'an assignment by reference (=&)');
      const value = this.parseExpr();
      const end = this.peek();
      if (!end) throw new ParseFail(this.toks[this.toks.length - 1]!.line, "missing ';' at the end of the file");
      if (!this.isOp(end, ';')) throw new ParseFail(end.line, `${describe(end)} after the value (only literals, arrays and '.' are understood)`);
      if (!complete) throw new ParseFail(line, 'a key that is not a constant');
      this.result.statements.push({ file: this.file, line, inBlock, order: start, op: 'set', path, value });
    } catch (err) {
      if (!(err instanceof ParseFail)) throw err;
      const known = literalPrefix(path);
      // The statement's first line names it; the line of the offending token is added when it differs.
      const reason = err.line > line ? `${err.reason} (line ${err.line})` : err.reason;
      this.result.failures.push({ file: this.file, line, path: known, complete: complete && known.length === path.length, reason });
    }
    this.i = this.statementEnd(start);
  }

  /** `unset($GLOBALS['cfg'][...], ...);` at the cursor (on `unset`). */
  parseUnset(inBlock: boolean): void {
    const line = this.peek()!.line;
    const start = this.i;
    this.i += 2;
    while (this.i < this.toks.length && !this.isOp(this.peek(), ')')) {
      if (!this.isCfgHead(this.i)) {
        this.i = this.skipToArgEnd();
        continue;
      }
      const { path, complete } = this.readCfgPath();
      if (complete) this.result.statements.push({ file: this.file, line, inBlock, order: start, op: 'unset', path });
      else this.result.failures.push({ file: this.file, line, path, complete, reason: 'unset() of a key that is not a constant' });
      if (this.isOp(this.peek(), ',')) this.i++;
    }
    this.i = this.statementEnd(start);
  }

  /** After a control header: `{`, `:` (alternative syntax) or a single statement may follow. */
  afterControlHeader(opensAltBlock: boolean): void {
    this.atStart = true;
    if (this.isOp(this.toks[this.i], ':')) {
      this.i++;
      if (opensAltBlock) this.blocks.push('control');
    } else if (!this.isOp(this.toks[this.i], '{') && !this.isOp(this.toks[this.i], ';')) {
      this.bracelessBody = true;
    }
  }

  /** `$x = &$GLOBALS['cfg'][...]` (or `= &$alias[...]`) at the cursor: a new alias. Returns false when it is not one. */
  parseAliasDefinition(inBlock: boolean): boolean {
    const t = this.toks[this.i]!;
    if (
      t.kind !== 'var' ||
      t.value === 'GLOBALS' ||
      !this.isOp(this.toks[this.i + 1], '=') ||
      !this.isOp(this.toks[this.i + 2], '&') ||
      !this.isCfgHead(this.i + 3)
    )
      return false;
    const start = this.i;
    const line = t.line;
    this.i += 3;
    const { path, complete } = this.readCfgPath();
    if (!complete || !this.isOp(this.peek(), ';')) {
      this.aliases.delete(t.value);
      this.result.failures.push({
        file: this.file,
        line,
        path,
        complete: false,
        reason: `$${t.value} is made a reference to a part of the config fw-shard cannot name`,
      });
    } else if (inBlock) {
      this.aliases.delete(t.value);
      this.result.failures.push({
        file: this.file,
        line,
        path,
        complete: true,
        reason: `$${t.value} is made a reference to the config inside an if/else or loop`,
      });
    } else {
      this.aliases.set(t.value, path);
    }
    this.i = this.statementEnd(start);
    return true;
  }

  /** `include ...;` at the cursor (on the keyword). */
  parseInclude(inBlock: boolean): void {
    const t = this.toks[this.i]!;
    const start = this.i;
    const end = this.statementEnd(this.i);
    let expr = this.toks.slice(this.i + 1, end);
    while (this.isOp(expr[0], '(') && this.skipBalancedIn(expr) === expr.length) expr = expr.slice(1, -1);
    const text = expr.map((x) => (x.kind === 'str' ? `'${x.value}'` : x.kind === 'var' ? `$${x.value}` : String(x.value))).join(' ');
    let target: string | null = null;
    const tail = expr[expr.length - 1];
    const dirHead =
      (expr.length === 3 && expr[0]?.kind === 'id' && expr[0].value === '__DIR__') ||
      (expr.length === 6 &&
        expr[0]?.kind === 'id' &&
        expr[0].value.toLowerCase() === 'dirname' &&
        this.isOp(expr[1], '(') &&
        expr[2]?.kind === 'id' &&
        expr[2].value === '__FILE__' &&
        this.isOp(expr[3], ')'));
    if (dirHead && this.isOp(expr[expr.length - 2], '.') && tail?.kind === 'str' && !tail.dynamic && tail.value.startsWith('/')) target = tail.value.slice(1);
    this.result.includes.push({
      file: this.file,
      line: t.line,
      kind: String(t.value).toLowerCase() as PhpInclude['kind'],
      target,
      text,
      inBlock,
      order: start,
    });
    this.i = end;
  }

  /** `$cfg['db_x'] = ...` through a variable that is no reference to the config: PHP changes nothing. */
  noteLookalike(): void {
    const t = this.toks[this.i]!;
    const k = this.toks[this.i + 2];
    if (
      t.kind === 'var' &&
      t.value !== 'GLOBALS' &&
      this.isOp(this.toks[this.i + 1], '[') &&
      k?.kind === 'str' &&
      !k.dynamic &&
      /^db_/.test(k.value) &&
      this.isOp(this.toks[this.i + 3], ']')
    ) {
      const end = this.statementEnd(this.i);
      const assigns = this.toks
        .slice(this.i, end)
        .some((x, n) => n > 0 && x.kind === 'op' && x.value.endsWith('=') && !['==', '===', '!=', '!==', '<=', '>=', '=>'].includes(x.value));
      if (assigns)
        this.result.notes.push({
          file: this.file,
          line: t.line,
          path: [k.value],
          reason: `$${t.value}['${k.value}'] is assigned, but $${t.value} is not a reference to $GLOBALS['cfg'] in this file, so PHP does not change the config`,
        });
    }
  }

  run(): void {
    while (this.i < this.toks.length) {
      const t = this.toks[this.i]!;
      const word = this.keyword(t);
      const inBlockHere = this.blocks.length > 0 || this.bracelessBody;
      if (this.atStart && !this.blocks.includes('definition') && this.parseAliasDefinition(inBlockHere)) continue;
      if (this.atStart && word !== undefined && INCLUDES.has(word) && !this.blocks.includes('definition')) {
        this.parseInclude(inBlockHere);
        continue;
      }
      if (this.atStart && !this.isCfgHead(this.i) && !this.blocks.includes('definition')) this.noteLookalike();
      if (this.atStart && (this.isCfgHead(this.i) || (word === 'unset' && this.isOp(this.toks[this.i + 1], '(')))) {
        if (this.blocks.includes('definition')) this.i = this.statementEnd(this.i);
        else if (word === 'unset') this.parseUnset(this.blocks.length > 0 || this.bracelessBody);
        else this.parseAssignment(this.blocks.length > 0 || this.bracelessBody);
        continue; // the cursor is on the statement's `;`, handled below
      }
      if (word !== undefined && CONTROL_WITH_CONDITION.has(word) && this.isOp(this.toks[this.i + 1], '(')) {
        // Step over the condition: a `$GLOBALS['cfg']` in it is a read, never an assignment.
        this.i = this.skipBalanced(this.i + 1);
        this.afterControlHeader(word !== 'elseif');
        continue;
      }
      if (word !== undefined && CONTROL_WITHOUT_CONDITION.has(word)) {
        this.i++;
        this.afterControlHeader(false);
        continue;
      }
      if (word !== undefined && ALT_SYNTAX_END.has(word)) this.blocks.pop();
      if (word !== undefined && DEFINITIONS.has(word)) this.definitionPending = true;
      if (this.isOp(t, '{')) {
        this.blocks.push(this.definitionPending ? 'definition' : 'control');
        this.definitionPending = false;
        this.bracelessBody = false;
        this.atStart = true;
      } else if (this.isOp(t, '}')) {
        this.blocks.pop();
        this.atStart = true;
      } else if (this.isOp(t, ';')) {
        this.definitionPending = false;
        this.bracelessBody = false;
        this.atStart = true;
      } else {
        this.atStart = false;
      }
      this.i++;
    }
  }
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

  new PhpConfigParser(file, toks, result).run();
  return result;
}

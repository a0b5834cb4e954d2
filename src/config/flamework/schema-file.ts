/**
 * The table names of an app's own schema file (`schema/db_users.schema`: the sharded tables), read
 * from its CREATE TABLE statements, and, for tables owned through a parent, the tables.through links
 * their columns and foreign keys suggest (proposeThrough). Comments and string literals are stepped
 * over, so a CREATE TABLE in a comment is not counted. Pure: the caller reads the file.
 */
import { referenceNames } from '../naming.js';

interface SchemaTables {
  /** In file order, each once. */
  tables: string[];
  warnings: string[];
}

const CREATE = /\bCREATE\s+(?:TEMPORARY\s+)?TABLE\s+(?:IF\s+NOT\s+EXISTS\s+)?(`(?:[^`]|``)+`|[A-Za-z0-9_$]+)(?:\s*\.\s*(`(?:[^`]|``)+`|[A-Za-z0-9_$]+))?/gi;

/** The text with comments and quoted strings blanked out (newlines kept, so line numbers stay right). */
function blankCommentsAndStrings(text: string): string {
  let out = '';
  let i = 0;
  const blank = (s: string): string => s.replace(/[^\n]/g, ' ');
  while (i < text.length) {
    const c = text[i]!;
    const two = text.slice(i, i + 2);
    let end = -1;
    if (two === '/*') {
      const close = text.indexOf('*/', i + 2);
      end = close < 0 ? text.length : close + 2;
    } else if (c === '#' || (two === '--' && /\s/.test(text[i + 2] ?? ' '))) {
      const nl = text.indexOf('\n', i);
      end = nl < 0 ? text.length : nl;
    } else if (c === "'" || c === '"') {
      let j = i + 1;
      while (j < text.length && text[j] !== c) j += text[j] === '\\' ? 2 : 1;
      end = Math.min(j + 1, text.length);
    }
    if (c === '`') {
      // an identifier: kept as written (a `#` or `--` inside it is no comment)
      const close = text.indexOf('`', i + 1);
      const to = close < 0 ? text.length : close + 1;
      out += text.slice(i, to);
      i = to;
    } else if (end > i) {
      out += blank(text.slice(i, end));
      i = end;
    } else {
      out += c;
      i++;
    }
  }
  return out;
}

const unquote = (name: string): string => (name.startsWith('`') ? name.slice(1, -1).replace(/``/g, '`') : name);

/**
 * CREATE TABLE names of one schema file. `mappingTable` names (users/Users) are left out with a
 * warning: that table belongs to db_main (the file given is probably db_main.schema).
 */
export function schemaTables(path: string, text: string): SchemaTables {
  const clean = blankCommentsAndStrings(text);
  const tables: string[] = [];
  const warnings: string[] = [];
  for (const m of clean.matchAll(CREATE)) {
    const name = unquote(m[2] ?? m[1]!);
    const line = clean.slice(0, m.index).split('\n').length;
    if (/^(users|users_password_reset|UsersPasswordReset|Tickets32|Tickets64)$/i.test(name)) {
      warnings.push(`${path}:${line}: ${name} is one of db_main's own tables (is this db_main.schema?); it is not listed as sharded`);
      continue;
    }
    if (!tables.includes(name)) tables.push(name);
  }
  if (tables.length === 0) warnings.push(`${path}: no CREATE TABLE statement found`);
  return { tables, warnings };
}

/** What proposeThrough needs of one CREATE TABLE: its columns, primary key and single-column foreign keys. */
export interface TableShape {
  name: string;
  columns: string[];
  primaryKey: string[];
  foreignKeys: { column: string; parent: string; key: string }[];
}

const IDENT = '(`(?:[^`]|``)+`|[A-Za-z0-9_$]+)';
const listOf = (text: string): string[] =>
  text
    .split(',')
    .map((c) =>
      unquote(
        c
          .trim()
          .replace(/\s*\(\d+\)$/, '')
          .split(/\s+/)[0] ?? '',
      ),
    )
    .filter((c) => c.length > 0);

/** The body between a CREATE TABLE's first parenthesis and its match, split at its top-level commas. */
function definitions(clean: string, from: number): string[] {
  const open = clean.indexOf('(', from);
  if (open < 0) return [];
  const parts: string[] = [];
  let depth = 0;
  let start = open + 1;
  for (let i = open; i < clean.length; i++) {
    const c = clean[i];
    if (c === '`') i = Math.max(i, clean.indexOf('`', i + 1));
    else if (c === '(') depth++;
    else if (c === ')' && --depth === 0) {
      parts.push(clean.slice(start, i));
      break;
    } else if (c === ',' && depth === 1) {
      parts.push(clean.slice(start, i));
      start = i + 1;
    }
  }
  return parts.map((p) => p.trim()).filter((p) => p.length > 0);
}

/** Columns, primary key and foreign keys of every CREATE TABLE of one schema file. */
export function schemaShapes(text: string): TableShape[] {
  const clean = blankCommentsAndStrings(text);
  const out: TableShape[] = [];
  for (const m of clean.matchAll(CREATE)) {
    const shape: TableShape = { name: unquote(m[2] ?? m[1]!), columns: [], primaryKey: [], foreignKeys: [] };
    for (const d of definitions(clean, m.index + m[0].length)) {
      const pk = /^(?:CONSTRAINT\s+\S+\s+)?PRIMARY\s+KEY\s*(?:\S+\s*)?\(([^)]*)\)/i.exec(d);
      const fk = new RegExp(
        `^(?:CONSTRAINT\\s+\\S+\\s+)?FOREIGN\\s+KEY\\s*(?:\\S+\\s*)?\\(([^)]*)\\)\\s*REFERENCES\\s+${IDENT}(?:\\s*\\.\\s*${IDENT})?\\s*\\(([^)]*)\\)`,
        'i',
      ).exec(d);
      if (pk) shape.primaryKey = listOf(pk[1]!);
      else if (fk) {
        const cols = listOf(fk[1]!);
        const refs = listOf(fk[4]!);
        if (cols.length === 1 && refs.length === 1) shape.foreignKeys.push({ column: cols[0]!, parent: unquote(fk[3] ?? fk[2]!), key: refs[0]! });
      } else if (!/^(KEY|INDEX|UNIQUE|FULLTEXT|SPATIAL|CHECK|CONSTRAINT|PERIOD)\b/i.test(d)) {
        const col = new RegExp(`^${IDENT}`).exec(d);
        if (!col) continue;
        shape.columns.push(unquote(col[1]!));
        if (/\bPRIMARY\s+KEY\b/i.test(d)) shape.primaryKey = [unquote(col[1]!)];
      }
    }
    out.push(shape);
  }
  return out;
}

interface ThroughProposal {
  table: string;
  /** `column -> parent.key`, as tables.through spells it. */
  link: string;
  why: string;
}

/**
 * For each table of the schema without the owner column: the tables.through link to another sharded
 * table of the schema (one with the owner column, or itself linked), from a single-column foreign key,
 * else from a column named after that table's primary key (referenceNames); chains are followed.
 * `unowned`: tables with neither, which would never move.
 */
export function proposeThrough(shapes: readonly TableShape[], ownerColumn: string): { proposals: ThroughProposal[]; unowned: string[] } {
  const byName = new Map(shapes.map((t) => [t.name, t]));
  const owned = new Set(shapes.filter((t) => t.columns.includes(ownerColumn)).map((t) => t.name));
  const proposals: ThroughProposal[] = [];
  for (let changed = true; changed;) {
    changed = false;
    for (const t of shapes) {
      if (owned.has(t.name)) continue;
      const fk = t.foreignKeys.find((f) => owned.has(f.parent) && f.parent !== t.name);
      let found: ThroughProposal | null = fk ? { table: t.name, link: `${fk.column} -> ${fk.parent}.${fk.key}`, why: `its foreign key on ${fk.column}` } : null;
      for (const p of owned) {
        if (found) break;
        const parent = byName.get(p)!;
        if (parent.primaryKey.length !== 1 || p === t.name) continue;
        const names = new Set(referenceNames(p, parent.primaryKey[0]!));
        const column = t.columns.find((c) => names.has(c.toLowerCase()));
        if (column)
          found = { table: t.name, link: `${column} -> ${p}.${parent.primaryKey[0]}`, why: `its column ${column}, named after ${p}.${parent.primaryKey[0]}` };
      }
      if (found) {
        proposals.push(found);
        owned.add(t.name);
        changed = true;
      }
    }
  }
  return { proposals, unowned: shapes.filter((t) => !owned.has(t.name)).map((t) => t.name) };
}

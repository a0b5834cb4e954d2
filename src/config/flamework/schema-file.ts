/**
 * The table names of an app's own schema file (`schema/db_users.schema`: the sharded tables), read
 * from its CREATE TABLE statements. Comments and string literals are stepped over, so a CREATE TABLE
 * in a comment is not counted. Pure: the caller reads the file.
 */

export interface SchemaTables {
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

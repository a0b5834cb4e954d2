/**
 * SQL builders as exact strings: fragment.ts (quoting, the `sql` tag, the text and binary formatters),
 * rows.ts (chunk paging, ranges, inserts, hashes, deletes) and journal.ts (the flip and the lease).
 */
import { describe, expect, it } from 'vitest';
import { NumericLiteral, ident, join, preview, quoteIdent, raw, sql, toBinary, toText, type RawValue } from '../../src/db/sql/fragment.js';
import {
  boundLiteral,
  countUserRows,
  deleteRange,
  chooseRowHash,
  needsCrc32c,
  type RowHash,
  hashRange,
  rowHashTerm,
  rowImage,
  selectChunkTsv,
  LINE_VALUE_MAX,
  encodeRowsTsv,
  insertRows,
  isUnhashable,
  keyAfter,
  keyPositions,
  rangeCondition,
  readExpr,
  selectChunk,
  selectKeyAt,
  selectRange,
  type RowSpec,
} from '../../src/db/sql/rows.js';
import {
  ADDED_MOVE_COLUMNS,
  addMoveColumnsSql,
  claimMoveSql,
  cleanupWaitingSql,
  createMovesSql,
  endRunSql,
  enterCleanupSql,
  finishUndoneSql,
  freezeEndedPassSql,
  insertDeltaPassSql,
  insertFreezeSql,
  insertRunSql,
  journalColumnsSql,
  laterMoveOfUserSql,
  listMovesSql,
  releaseForUndoSql,
  releaseSql,
  requestStopSql,
  restoreUndoneSql,
  runnerPollSql,
  selectMoveSql,
  selectPassesSql,
  selectRunsSql,
  setModeSql,
  setThrottleSql,
  setUndoneBySql,
  setUndoOfSql,
  undoLinksSql,
} from '../../src/db/sql/journal.js';
import { moveLockName } from '../../src/db/lock-names.js';
import { listForeignKeysSql } from '../../src/db/sql/schema.js';
import { flipMappingSql, readPlacementSql } from '../../src/db/sql/mapping.js';
import type { MappingSpec } from '../../src/topology/index.js';
import { col, specCols, specs } from '../helpers/schema-fixtures.js';

const b = (s: string) => Buffer.from(s, 'latin1');

const { id, userId, title, score } = specCols;
const { photos, faves, contacts } = specs;

describe('quoteIdent and ident', () => {
  it('wraps names in backticks and doubles every backtick inside', () => {
    expect(quoteIdent('users')).toBe('`users`');
    expect(quoteIdent('we`ird')).toBe('`we``ird`');
    expect(quoteIdent('``')).toBe('``````');
    expect(quoteIdent('tab;le -- x')).toBe('`tab;le -- x`');
    expect(quoteIdent('what?')).toBe('`what?`');
  });

  it('rejects NUL and empty names', () => {
    expect(() => quoteIdent('a\0b')).toThrow('identifier contains NUL');
    expect(() => quoteIdent('')).toThrow('empty identifier');
  });

  it('ident joins qualified names with dots, each part quoted', () => {
    expect(toText(sql`SELECT * FROM ${ident('db`x', 't')}`)).toBe('SELECT * FROM `db``x`.`t`');
  });
});

describe('the sql tag and join', () => {
  it('keeps values apart from the text and freezes the result', () => {
    const q = sql`SELECT ${ident('a')} FROM t WHERE x = ${5} AND y = ${"o'k; DROP TABLE t"}`;
    expect(q.parts).toEqual(['SELECT `a` FROM t WHERE x = ', ' AND y = ', '']);
    expect(q.values).toEqual([5, "o'k; DROP TABLE t"]);
    expect(Object.isFrozen(q)).toBe(true);
    expect(Object.isFrozen(q.parts)).toBe(true);
    expect(Object.isFrozen(q.values)).toBe(true);
    expect(preview(q)).toBe("SELECT `a` FROM t WHERE x = 5 AND y = 'o\\'k; DROP TABLE t'");
  });

  it('inlines nested fragments and raw text, keeping every value in order', () => {
    const inner = sql`c = ${2} AND d = ${'x'}`;
    const q = sql`a = ${1} AND ${inner} AND ${raw('e IS NULL')} AND f = ${3}`;
    expect(q.parts).toEqual(['a = ', ' AND c = ', ' AND d = ', ' AND e IS NULL AND f = ', '']);
    expect(q.values).toEqual([1, 2, 'x', 3]);
    expect(toText(sql`${sql``}SELECT 1${sql``}`)).toBe('SELECT 1');
  });

  it('a question mark in an identifier is not a placeholder', () => {
    expect(toText(sql`UPDATE ${ident('why?')} SET ${ident('?')} = ${'?'} WHERE id = ${1}`)).toBe("UPDATE `why?` SET `?` = '?' WHERE id = 1");
  });

  it('join puts the separator between fragments and raw items only', () => {
    const q = join([sql`a = ${1}`, raw('b IS NULL'), sql`c IN (${2}, ${3})`], ' OR ');
    expect(q.parts).toEqual(['a = ', ' OR b IS NULL OR c IN (', ', ', ')']);
    expect(q.values).toEqual([1, 2, 3]);
    expect(toText(q)).toBe('a = 1 OR b IS NULL OR c IN (2, 3)');
    expect(toText(join([ident('x'), ident('y`z')]))).toBe('`x`, `y``z`');
    expect(join([])).toEqual({ parts: [''], values: [] });
  });
});

describe('literals', () => {
  it('formats each value type', () => {
    const q = sql`${null},${true},${false},${42},${-7},${18446744073709551615n},${new NumericLiteral('-1.50')},${'a\tb\r\b"'}`;
    expect(toText(q)).toBe(`NULL,1,0,42,-7,18446744073709551615,-1.50,'a\\tb\\r\\b\\"'`);
  });

  it('refuses JS numbers that are not safe integers (64-bit ids must be strings or bigints)', () => {
    expect(() => toText(sql`${9007199254740993}`)).toThrow(/unsafe JS number/);
    expect(() => toText(sql`${1.5}`)).toThrow(/non-integer/);
    expect(() => toBinary(sql`${Number.NaN}`)).toThrow();
  });

  it('NumericLiteral accepts plain decimal numbers only', () => {
    for (const ok of ['0', '-1', '18446744073709551615', '3.25', '-0.000001', '1e10', '2.5E-3']) {
      expect(new NumericLiteral(ok).text).toBe(ok);
    }
    for (const bad of ['', ' 1', '1 ', '1 OR 1=1', '0x10', '1.', '.5', '--1', '1e', 'NaN', 'Infinity', "1'", '1;']) {
      expect(() => new NumericLiteral(bad), bad).toThrow('not a numeric literal');
    }
  });

  it('on a text connection a Buffer is a hex literal and a string keeps its characters', () => {
    expect(toText(sql`${Buffer.from([0x00, 0xff, 0x27])}`)).toBe("X'00ff27'");
    expect(toText(sql`${Buffer.alloc(0)}`)).toBe("X''");
    expect(toText(sql`${'é😀'}`)).toBe("'é😀'");
  });

  it('toBinary sends a Buffer byte for byte, escaping NUL, quotes, backslash, newline, CR and \\x1a', () => {
    const bytes = Buffer.from([0x00, 0x27, 0x5c, 0x0a, 0x1a, 0xe9, 0xff, 0x0d, 0x22, 0x41, 0x08, 0x09, 0x80]);
    const out = toBinary(sql`SELECT ${bytes}`);
    // every character is one byte on the wire
    expect([...out].every((c) => c.charCodeAt(0) < 256)).toBe(true);
    const wire = Buffer.from(out, 'latin1');
    const expected = Buffer.concat([
      Buffer.from("SELECT '", 'latin1'),
      Buffer.from('\\0', 'latin1'),
      Buffer.from("\\'", 'latin1'),
      Buffer.from('\\\\', 'latin1'),
      Buffer.from('\\n', 'latin1'),
      Buffer.from('\\Z', 'latin1'),
      Buffer.from([0xe9, 0xff]),
      Buffer.from('\\r', 'latin1'),
      Buffer.from('\\"', 'latin1'),
      Buffer.from('A', 'latin1'),
      Buffer.from('\\b', 'latin1'),
      Buffer.from('\\t', 'latin1'),
      Buffer.from([0x80]),
      Buffer.from("'", 'latin1'),
    ]);
    expect(wire.toString('hex')).toBe(expected.toString('hex'));
  });

  it('toBinary encodes string values and non-ASCII identifiers as UTF-8 bytes', () => {
    const q = sql`SELECT ${'é'} FROM ${ident('tä`b')} WHERE ${ident('ß')} = ${Buffer.from([0xc3, 0xa9])}`;
    const out = toBinary(q);
    expect(out).toBe("SELECT 'Ã©' FROM `tÃ¤``b` WHERE `Ã\u009f` = 'Ã©'");
    expect(Buffer.from(out, 'latin1').toString('utf8')).toBe("SELECT 'é' FROM `tä``b` WHERE `ß` = 'é'");
    // ASCII statements are unchanged
    expect(toBinary(sql`SELECT ${1} FROM ${ident('t')}`)).toBe('SELECT 1 FROM `t`');
  });
});

describe('rows.ts: reading and bounds', () => {
  it('reads FLOAT/DOUBLE/REAL through CAST(.. AS DOUBLE), everything else as is', () => {
    expect(toText(readExpr(score))).toBe('CAST(`score` AS DOUBLE)');
    expect(toText(readExpr(col('d', 'double')))).toBe('CAST(`d` AS DOUBLE)');
    expect(toText(readExpr(col('r', 'real')))).toBe('CAST(`r` AS DOUBLE)');
    expect(toText(readExpr(col('m', 'decimal')))).toBe('`m`');
    expect(toText(readExpr(title))).toBe('`title`');
  });

  it('integer and decimal bounds are unquoted numeric literals, 64-bit included', () => {
    expect(toText(boundLiteral(id, b('18446744073709551615')))).toBe('18446744073709551615');
    expect(toBinary(boundLiteral(id, b('9007199254740993')))).toBe('9007199254740993');
    expect(toText(boundLiteral(col('m', 'decimal'), b('-12.500')))).toBe('-12.500');
    expect(toText(boundLiteral(col('y', 'year'), b('2024')))).toBe('2024');
    expect(() => boundLiteral(id, b('1 OR 1=1'))).toThrow('not a numeric literal');
  });

  it("string bounds are converted to the column's charset and collation", () => {
    expect(toText(boundLiteral(title, b('abc')))).toBe("CONVERT(X'616263' USING utf8mb4) COLLATE utf8mb4_general_ci");
    expect(toBinary(boundLiteral(title, b("a'\u00e9")))).toBe("CONVERT('a\\'\u00e9' USING utf8mb4) COLLATE utf8mb4_general_ci");
    // binary strings and temporal values have no charset: compared as plain bytes
    expect(toBinary(boundLiteral(col('v', 'varbinary'), Buffer.from([0, 1])))).toBe("'\\0\u0001'");
    expect(toBinary(boundLiteral(col('d', 'datetime'), b('2024-02-29 23:59:59')))).toBe("'2024-02-29 23:59:59'");
    expect(() => boundLiteral(col('s', 'varchar', { charset: 'utf8mb4; DROP', collation: 'x' }), b('a'))).toThrow(/unexpected charset/);
  });

  it('a string owner column is compared with a quoted value', () => {
    const owner = col('user_id', 'varchar', { charset: 'ascii', collation: 'ascii_bin' });
    expect(toText(countUserRows({ name: 'T', owner }, '42'))).toBe("SELECT COUNT(*) AS n FROM `T` WHERE `user_id` = '42'");
    expect(toText(countUserRows({ name: 'T', owner: userId }, '18446744073709551615'))).toBe(
      'SELECT COUNT(*) AS n FROM `T` WHERE `user_id` = 18446744073709551615',
    );
  });

  it('keyAfter expands a composite key into OR/AND form', () => {
    const three = [col('a', 'int'), col('b', 'int'), col('c', 'int')];
    expect(toText(keyAfter(three, [b('1'), b('2'), b('3')]))).toBe('(`a` > 1 OR (`a` = 1 AND (`b` > 2 OR (`b` = 2 AND `c` > 3))))');
    expect(toText(keyAfter([id], [b('7')]))).toBe('`id` > 7');
  });

  it('keyPositions finds the key columns in the row', () => {
    expect(keyPositions(faves)).toEqual([1, 0]);
    expect(keyPositions(photos)).toEqual([0]);
    expect(keyPositions(contacts)).toEqual([]);
  });
});

describe('rows.ts: chunk and range statements', () => {
  it('selectChunk, first chunk of a single-key table', () => {
    expect(preview(selectChunk(photos, '42', null, 500))).toBe(
      'SELECT `id`, `user_id`, `title`, CAST(`score` AS DOUBLE) FROM `Photos` WHERE `user_id` = 42 ORDER BY `id` LIMIT 500',
    );
  });

  it('selectChunk after a 64-bit key', () => {
    expect(preview(selectChunk(photos, '42', [b('18446744073709551614')], 100))).toBe(
      'SELECT `id`, `user_id`, `title`, CAST(`score` AS DOUBLE) FROM `Photos` WHERE `user_id` = 42 AND `id` > 18446744073709551614 ORDER BY `id` LIMIT 100',
    );
  });

  it('selectChunk after a composite (string, int) key, on the binary connection', () => {
    expect(toBinary(selectChunk(faves, '42', [b('caf\u00e9'), b('42')], 100))).toBe(
      "SELECT `user_id`, `tag`, `id` FROM `Faves` WHERE `user_id` = 42 AND (`tag` > CONVERT('caf\u00e9' USING latin1) COLLATE latin1_swedish_ci OR " +
        "(`tag` = CONVERT('caf\u00e9' USING latin1) COLLATE latin1_swedish_ci AND `user_id` > 42)) ORDER BY `tag`, `user_id` LIMIT 100",
    );
  });

  it('rangeCondition (lo, hi] on a composite key: key > lo AND NOT (key > hi)', () => {
    expect(preview(rangeCondition(faves, '42', [b('a'), b('42')], [b('m'), b('42')]))).toBe(
      '`user_id` = 42 AND ' +
        "(`tag` > CONVERT(X'61' USING latin1) COLLATE latin1_swedish_ci OR (`tag` = CONVERT(X'61' USING latin1) COLLATE latin1_swedish_ci AND `user_id` > 42)) AND " +
        "NOT (`tag` > CONVERT(X'6d' USING latin1) COLLATE latin1_swedish_ci OR (`tag` = CONVERT(X'6d' USING latin1) COLLATE latin1_swedish_ci AND `user_id` > 42))",
    );
  });

  it('rangeCondition (lo, hi] on a single-column key parenthesizes the upper bound: NOT (`id` > hi)', () => {
    // Without the parentheses, `NOT id > 9` means `(NOT id) > 9` under sql_mode HIGH_NOT_PRECEDENCE,
    // which is always false: every bounded range would come back empty on both shards.
    expect(preview(rangeCondition(photos, '42', [b('5')], [b('9')]))).toBe('`user_id` = 42 AND `id` > 5 AND NOT (`id` > 9)');
    expect(preview(selectRange(photos, '42', null, [b('9')]))).toBe(
      'SELECT `id`, `user_id`, `title`, CAST(`score` AS DOUBLE) FROM `Photos` WHERE `user_id` = 42 AND NOT (`id` > 9) ORDER BY `id`',
    );
  });

  it('a keyless table ignores bounds and has no ORDER BY', () => {
    expect(preview(selectRange(contacts, '42', null, null))).toBe('SELECT `user_id`, `contact_id` FROM `Contacts` WHERE `user_id` = 42');
    expect(preview(rangeCondition(contacts, '42', [b('1')], [b('2')]))).toBe('`user_id` = 42');
  });

  it('selectKeyAt reads the key at an offset after lo', () => {
    expect(preview(selectKeyAt(photos, '42', [b('100')], 9999))).toBe(
      'SELECT `id` FROM `Photos` WHERE `user_id` = 42 AND `id` > 100 ORDER BY `id` LIMIT 1 OFFSET 9999',
    );
    expect(() => selectKeyAt(contacts, '42', null, 1)).toThrow(/keyless/);
  });

  it('deleteRange and the locking hashRange go through the owner index when the table has one', () => {
    const viaOwner = { ...photos, ownerIndex: 'by_user' };
    expect(preview(deleteRange(viaOwner, '42', [b('3')], [b('9')]))).toBe(
      'DELETE `Photos` FROM `Photos` FORCE INDEX (`by_user`) WHERE `user_id` = 42 AND `id` > 3 AND NOT (`id` > 9)',
    );
    expect(preview(deleteRange(viaOwner, '42', null, null))).toBe('DELETE `Photos` FROM `Photos` FORCE INDEX (`by_user`) WHERE `user_id` = 42');
    // LIMIT (abort's batches) needs the single-table form: the owner alone, which the optimizer serves by the index anyway.
    expect(preview(deleteRange(viaOwner, '42', null, null, 10))).toBe('DELETE FROM `Photos` WHERE `user_id` = 42 LIMIT 10');
    expect(preview(hashRange(viaOwner, '42', null, null, true))).toMatch(/ FROM `Photos` FORCE INDEX \(`by_user`\) WHERE `user_id` = 42 FOR UPDATE$/);
    expect(preview(hashRange(viaOwner, '42', null, null, false))).toMatch(/ FROM `Photos` WHERE `user_id` = 42$/);
  });

  it('deleteRange with and without LIMIT', () => {
    expect(preview(deleteRange(photos, '42', null, null, 1000))).toBe('DELETE FROM `Photos` WHERE `user_id` = 42 LIMIT 1000');
    expect(preview(deleteRange(photos, '42', [b('3')], null))).toBe('DELETE FROM `Photos` WHERE `user_id` = 42 AND `id` > 3');
    expect(preview(deleteRange(faves, '7', [b('a'), b('7')], [b('b'), b('7')], 50))).toBe(
      'DELETE FROM `Faves` WHERE `user_id` = 7 AND ' +
        "(`tag` > CONVERT(X'61' USING latin1) COLLATE latin1_swedish_ci OR (`tag` = CONVERT(X'61' USING latin1) COLLATE latin1_swedish_ci AND `user_id` > 7)) AND " +
        "NOT (`tag` > CONVERT(X'62' USING latin1) COLLATE latin1_swedish_ci OR (`tag` = CONVERT(X'62' USING latin1) COLLATE latin1_swedish_ci AND `user_id` > 7)) LIMIT 50",
    );
  });
});

describe('rows.ts: hashRange', () => {
  const image =
    'CONCAT_WS(_binary 0x1f, CONCAT(ISNULL(`id`), ISNULL(`user_id`), ISNULL(`title`), ISNULL(`score`)), ' +
    // lengths only for values that could contain the 0x1f separator (not numbers, not dates)
    "CONCAT_WS(_binary ',', IFNULL(LENGTH(`title`), 0)), " +
    '`id`, `user_id`, `title`, CAST(`score` AS DOUBLE))';
  // A row whose image is over max_allowed_packet hashes to NULL: it counts 2^96, never nothing.
  const head = `SELECT COUNT(*) AS n, COALESCE(SUM(IFNULL(CAST(CONV(LEFT(MD5(${image}), 16), 16, 10) AS UNSIGNED), 79228162514264337593543950336)), 0) AS h FROM \`Photos\``;

  it('counts rows and sums the 64-bit prefix of each row MD5', () => {
    expect(preview(hashRange(photos, '42', [b('10')], null))).toBe(`${head} WHERE \`user_id\` = 42 AND \`id\` > 10`);
  });

  it('a sum at or above 2^96 says a row could not be hashed', () => {
    expect([isUnhashable('79228162514264337593543950336'), isUnhashable('79228162514264337593543950335'), isUnhashable('0')]).toEqual([true, false, false]);
  });

  it('the FOR UPDATE variant locks the range', () => {
    expect(preview(hashRange(photos, '42', null, null, true))).toBe(`${head} WHERE \`user_id\` = 42 FOR UPDATE`);
    expect(preview(hashRange(photos, '42', null, null, false))).toBe(`${head} WHERE \`user_id\` = 42`);
  });

  // The image of 'crc-mul' and 'md5' (and of every per-row MD5): text as its bytes, never converted; the
  // ISNULL bitmap of the nullable columns only.
  const bytes =
    "CONCAT_WS(_binary 0x1f, CONCAT(ISNULL(`title`), ISNULL(`score`)), CONCAT_WS(_binary ',', IFNULL(LENGTH(`title`), 0)), `id`, `user_id`, CAST(`title` AS BINARY), CAST(`score` AS DOUBLE))";

  it('rowImage: values as bytes, the bitmap of nullable columns, lengths of values that may hold the separator', () => {
    expect(preview(rowImage(photos))).toBe(bytes);
    expect(preview(rowImage(faves))).toBe("CONCAT_WS(_binary 0x1f, CONCAT_WS(_binary ',', LENGTH(`tag`)), `user_id`, CAST(`tag` AS BINARY), `id`)");
  });

  it("'crc-mul' sums the product of the row's CRC32 and CRC32C; 'md5' the MD5 of the same bytes", () => {
    const sum = (row: string) =>
      `SELECT COUNT(*) AS n, COALESCE(SUM(IFNULL(${row}, 79228162514264337593543950336)), 0) AS h FROM \`Photos\` WHERE \`user_id\` = 42`;
    expect(preview(hashRange({ ...photos, rowHash: 'crc-mul' }, '42', null, null))).toBe(sum(`(CRC32(${bytes}) * CRC32C(${bytes}))`));
    expect(preview(hashRange({ ...photos, rowHash: 'md5' }, '42', null, null))).toBe(sum(`CAST(CONV(LEFT(MD5(${bytes}), 16), 16, 10) AS UNSIGNED)`));
    // Moves journaled by the release before 'crc-mul' keep its sum: the two CRCs side by side.
    expect(preview(hashRange({ ...photos, rowHash: 'crc64' }, '42', null, null))).toBe(sum(`((CRC32(${bytes}) << 32) | CRC32C(${bytes}))`));
    expect(preview(hashRange({ ...photos, rowHash: 'md5-text' }, '42', null, null))).toBe(`${head} WHERE \`user_id\` = 42`);
  });

  it('chooseRowHash: crc-mul only when every server is MariaDB 10.8 or later', () => {
    expect(chooseRowHash('10.11.19-MariaDB', '11.4.2-MariaDB-log')).toBe('crc-mul');
    expect(chooseRowHash('10.8.1-MariaDB')).toBe('crc-mul');
    expect(['crc-mul', 'crc64', 'md5', 'md5-text'].map((h) => needsCrc32c(h as RowHash))).toEqual([true, true, false, false]);
    expect(chooseRowHash('10.11.19-MariaDB', '10.6.18-MariaDB')).toBe('md5');
    expect(chooseRowHash('8.0.36', '10.11.19-MariaDB')).toBe('md5');
    expect(chooseRowHash('5.5.5-10.11.19-MariaDB')).toBe('md5'); // the MySQL-protocol prefix: not trusted, the safe choice
    expect(chooseRowHash('')).toBe('md5');
  });
});

describe('rows.ts: selectChunkTsv', () => {
  it('reads key, row length and a LOAD DATA line the server builds (escaped bytes, \\N for NULL), none for long values', () => {
    const esc = (v: string) => `REPLACE(REPLACE(REPLACE(REPLACE(CAST(${v} AS BINARY), X'5C', X'5C5C'), X'00', X'5C30'), X'09', X'5C74'), X'0A', X'5C6E')`;
    const line = `CONCAT(CONCAT_WS(X'09', \`id\`, \`user_id\`, IFNULL(${esc('`title`')}, X'5C4E'), IFNULL(CAST(\`score\` AS DOUBLE), X'5C4E')), X'0A')`;
    const len = 'IFNULL(LENGTH(`id`), 0) + IFNULL(LENGTH(`user_id`), 0) + IFNULL(LENGTH(`title`), 0) + IFNULL(LENGTH(`score`), 0)';
    expect(preview(selectChunkTsv(photos, '42', [b('10')], 500))).toBe(
      `SELECT \`id\`, ${len}, IF(IFNULL(LENGTH(\`title\`), 0) > ${LINE_VALUE_MAX}, NULL, ${line}) FROM \`Photos\` WHERE \`user_id\` = 42 AND \`id\` > 10 ORDER BY \`id\` LIMIT 500`,
    );
  });
});

describe("rows.ts: selectChunkTsv of a 'crc-mul' move", () => {
  it("adds the row's term of the range hash, which the copy sums into the chunk's range record", () => {
    const q = preview(selectChunkTsv({ ...photos, rowHash: 'crc-mul' }, '42', null, 10));
    const image = preview(rowImage(photos));
    expect(q).toContain(`, (CRC32(${image}) * CRC32C(${image})) FROM \`Photos\` WHERE \`user_id\` = 42 ORDER BY \`id\` LIMIT 10`);
    expect(rowHashTerm({ ...photos, rowHash: 'md5' })).toBeNull();
    expect(preview(selectChunkTsv({ ...photos, rowHash: 'md5' }, '42', null, 10))).not.toMatch(/CRC32|MD5/);
  });
});

describe('rows.ts: encodeRowsTsv', () => {
  it('writes LOAD DATA input byte for byte: NUL, tab, newline and backslash escaped, NULL as \\N, numbers as they are', () => {
    const rows: RawValue[][] = [
      [Buffer.from('7'), Buffer.from('42'), Buffer.from([0x61, 0x00, 0x09, 0x0a, 0x5c, 0xff, 0x4e]), Buffer.from('1.5')],
      [Buffer.from('8'), Buffer.from('42'), null, null],
      [Buffer.from('9'), Buffer.from('42'), Buffer.from('\\N'), Buffer.from('')],
    ];
    const out = encodeRowsTsv(photos, rows);
    expect(out).toEqual(
      Buffer.concat([
        Buffer.from('7\t42\ta'),
        Buffer.from([0x5c, 0x30, 0x5c, 0x74, 0x5c, 0x6e, 0x5c, 0x5c, 0xff, 0x4e]),
        Buffer.from('\t1.5\n8\t42\t\\N\t\\N\n9\t42\t\\\\N\t\n'),
      ]),
    );
  });

  it('copies a value of several MB once, without a string in between', () => {
    const big = Buffer.alloc(3 * 1024 * 1024, 0x41);
    big[5] = 0x09;
    const out = encodeRowsTsv(photos, [[Buffer.from('1'), Buffer.from('2'), big, null]]);
    expect(out.length).toBe(2 + 2 + big.length + 1 + 1 + 3);
    expect(out.subarray(4, 12)).toEqual(Buffer.from('AAAAA\\tA'));
  });
});

describe('rows.ts: insertRows', () => {
  type Stmt = ReturnType<typeof insertRows>[number];
  const UNESCAPE: Record<string, string> = { '0': '\0', "'": "'", '"': '"', '\\': '\\', n: '\n', r: '\r', t: '\t', b: '\b', Z: '\x1a' };

  /** Parse the VALUES list of a multi-row INSERT back into raw rows, as the server would read it. */
  function rowsOf(stmts: readonly Stmt[], head: string): RawValue[][] {
    const all: RawValue[][] = [];
    for (const { binary: s } of stmts) {
      expect(s.startsWith(head), s.slice(0, 80)).toBe(true);
      let i = head.length;
      const expectChar = (c: string) => {
        if (s[i] !== c) throw new Error(`expected ${c} at ${i} in ${JSON.stringify(s)}`);
        i++;
      };
      for (;;) {
        expectChar('(');
        const row: RawValue[] = [];
        for (;;) {
          if (s.startsWith('NULL', i)) {
            row.push(null);
            i += 4;
          } else {
            expectChar("'");
            let v = '';
            while (s[i] !== "'") {
              if (i >= s.length) throw new Error('unterminated string');
              if (s[i] === '\\') {
                const e = UNESCAPE[s[i + 1]!];
                if (e === undefined) throw new Error(`unknown escape \\${s[i + 1]}`);
                v += e;
                i += 2;
              } else v += s[i++];
            }
            i++;
            row.push(Buffer.from(v, 'latin1'));
          }
          if (s[i] === ',') {
            i++;
            continue;
          }
          expectChar(')');
          break;
        }
        all.push(row);
        if (i === s.length) break;
        expectChar(',');
      }
    }
    return all;
  }

  it('writes one multi-row INSERT with NULL as NULL and bytes quoted', () => {
    const rows: RawValue[][] = [
      [b('1'), b('42'), b("it's"), null],
      [b('2'), b('42'), null, b('1.5')],
    ];
    expect(insertRows(photos, rows, 1 << 20).map((s) => s.binary)).toEqual([
      "INSERT INTO `Photos` (`id`, `user_id`, `title`, `score`) VALUES ('1','42','it\\'s',NULL),('2','42',NULL,'1.5')",
    ]);
    expect(insertRows(photos, [], 1000)).toEqual([]);
  });

  it('escapes every byte that needs it and encodes non-ASCII names as UTF-8', () => {
    const spec: RowSpec = { name: 'tä`b', columns: [col('ß', 'blob')], owner: col('ß', 'blob'), key: null };
    const [s] = insertRows(spec, [[Buffer.from([0x00, 0x27, 0x5c, 0x0a, 0x1a, 0xe9, 0xff, 0x0d, 0x22])]], 1000);
    expect(s!.binary).toBe("INSERT INTO `tÃ¤``b` (`Ã\u009f`) VALUES ('\\0\\'\\\\\\n\\Z\u00e9\u00ff\\r\\\"')");
  });

  it('splits by maxBytes and keeps every row exactly once, in order, byte for byte', () => {
    const rows: RawValue[][] = Array.from({ length: 61 }, (_, i) => [
      b(String(i + 1)),
      i % 7 === 0 ? null : Buffer.from(Array.from({ length: (i * 37) % 90 }, (_, j) => (i * 31 + j * 7) % 256)),
    ]);
    const spec: RowSpec = { name: 'T', columns: [id, col('v', 'blob', { nullable: true })], owner: id, key: [id] };
    const out = insertRows(spec, rows, 300);
    expect(out.length).toBeGreaterThan(5);
    expect(rowsOf(out, 'INSERT INTO `T` (`id`, `v`) VALUES ')).toEqual(rows);
    // NULL stays NULL, an empty value stays ''
    expect(
      insertRows(
        spec,
        [
          [b('1'), null],
          [b('2'), Buffer.alloc(0)],
        ],
        1000,
      )[0]!.binary,
    ).toBe("INSERT INTO `T` (`id`, `v`) VALUES ('1',NULL),('2','')");
  });

  it('no statement carries more than maxBytes of values unless it holds a single row (as documented)', () => {
    const spec: RowSpec = { name: 'T', columns: [col('v', 'varbinary')], owner: col('v', 'varbinary'), key: null };
    const head = 'INSERT INTO `T` (`v`) VALUES ';
    // Rows take 14 or 15 bytes on the wire ("('aaaaaaaaaa')" and ",(...)"): two fit in 40, a third does not.
    const max = head.length + 40;
    const rows: RawValue[][] = Array.from({ length: 5 }, (_, i) => [Buffer.alloc(10, 0x61 + i)]);
    const out = insertRows(spec, rows, max);
    expect(rowsOf(out, head)).toEqual(rows);
    for (const s of out) {
      if (rowsOf([s], head).length > 1) expect(s.binary.length, s.binary).toBeLessThanOrEqual(max);
    }
    // A row larger than maxBytes can only go alone: appended to earlier rows it pushes the statement
    // past max_allowed_packet although it would fit on its own.
    const big = insertRows(spec, [[Buffer.alloc(10, 0x61)], [Buffer.alloc(500, 0x62)], [Buffer.alloc(10, 0x63)]], 100);
    expect(rowsOf(big, head).map((r) => r[0]!.length)).toEqual([10, 500, 10]);
    expect(big.map((s) => rowsOf([s], head).map((r) => r[0]!.length))).toEqual([[10], [500], [10]]);
  });
});

describe('journal.ts', () => {
  const mapping: MappingSpec = { cluster: 'main', table: 'users', idColumn: 'id', shardColumn: 'cluster_id' };

  it('flipMappingSql is a compare-and-set on the old shard', () => {
    expect(preview(flipMappingSql(mapping, '42', 1, 2))).toBe('UPDATE `users` SET `cluster_id` = 2 WHERE `id` = 42 AND `cluster_id` = 1');
    expect(
      preview(flipMappingSql({ cluster: 'accounts', table: 'Acc`ounts', idColumn: 'user_id', shardColumn: 'shard' }, '18446744073709551615', 255, 3)),
    ).toBe('UPDATE `Acc``ounts` SET `shard` = 3 WHERE `user_id` = 18446744073709551615 AND `shard` = 255');
    expect(() => flipMappingSql(mapping, '42 OR 1=1', 1, 2)).toThrow('not a numeric literal');
  });

  it('readPlacementSql reads the shard column for one id', () => {
    expect(preview(readPlacementSql(mapping, '9007199254740993'))).toBe('SELECT `cluster_id` AS shard FROM `users` WHERE `id` = 9007199254740993');
  });

  it('claimMoveSql takes a free, own, locked-runner, stale or dead-runner lease, only of an active move, and clears a stop request', () => {
    const lease = (deadPid: string) =>
      "UPDATE `fw_shard_moves` SET runner_host = 'web1', runner_pid = 123, runner_lock = 'fw-shard:abc:m:9007199254740993', heartbeat_at = NOW(3), updated_at = NOW(3),\n" +
      '  stop_requested_at = NULL, stop_requested_by = NULL, throttle_reason = NULL\n' +
      "  WHERE id = 9007199254740993 AND state = 'active' AND (\n" +
      '    runner_host IS NULL\n' +
      "    OR (runner_host = 'web1' AND runner_pid = 123)\n" +
      '    OR runner_lock IS NOT NULL\n' +
      '    OR heartbeat_at < NOW(3) - INTERVAL 30 SECOND\n' +
      `    OR (runner_host = 'web1' AND runner_pid = ${deadPid})\n` +
      '  )';
    const lock = 'fw-shard:abc:m:9007199254740993';
    expect(preview(claimMoveSql('9007199254740993', 'web1', 123, lock, 30, null))).toBe(lease('-1'));
    expect(preview(claimMoveSql('9007199254740993', 'web1', 123, lock, 30, 4242))).toBe(lease('4242'));
    expect(toText(claimMoveSql('1', "o'host", 1, 'l', 5, null))).toContain("runner_host = 'o\\'host'");
  });

  it('the columns added since the first release: in CREATE TABLE as in the migration, which adds the missing ones in one ALTER', () => {
    const create = preview(createMovesSql());
    for (const [name, def] of ADDED_MOVE_COLUMNS) expect(create).toContain(`  ${name} ${def}`);
    expect(ADDED_MOVE_COLUMNS.map(([name]) => name)).toEqual([
      'undo_of',
      'undone_by',
      'runner_lock',
      'stop_requested_at',
      'stop_requested_by',
      'throttle_reason',
      'schema_fp',
    ]);
    expect(preview(addMoveColumnsSql(ADDED_MOVE_COLUMNS.slice(2, 4)))).toBe(
      'ALTER TABLE `fw_shard_moves` ADD COLUMN `runner_lock` VARCHAR(64) NULL, ADD COLUMN `stop_requested_at` DATETIME(3) NULL',
    );
    expect(preview(journalColumnsSql('fw_shard_moves'))).toBe(
      "SELECT COLUMN_NAME AS name FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'fw_shard_moves'",
    );
  });

  it('listMovesSql: unfinished or all, one user, with liveness from the lock; an older journal reads NULL for the new columns', () => {
    const withControl = preview(listMovesSql(false, 200, true, '18446744073709551615'));
    expect(withControl).toContain('runner_lock, IF(runner_lock IS NULL, NULL, IS_USED_LOCK(runner_lock)) AS runner_conn');
    expect(withControl).toContain('(SELECT COALESCE(SUM(rows_copied), 0) FROM `fw_shard_move_tables` WHERE move_id = `fw_shard_moves`.id) AS rows_copied');
    expect(withControl).toMatch(/WHERE state = 'active' AND user_id = 18446744073709551615 ORDER BY created_at, id LIMIT 200$/);
    const older = preview(listMovesSql(true, 5, false));
    expect(older).toContain('NULL AS runner_lock, NULL AS runner_conn, NULL AS stop_requested_at, NULL AS stop_requested_by, NULL AS throttle_reason');
    expect(older).not.toContain('IS_USED_LOCK');
    expect(older).toMatch(/WHERE 1 = 1 ORDER BY created_at DESC, id DESC LIMIT 5$/);
  });

  it('the runner: its lock name, its poll, the release, a stop request, the throttle reason, its runs', () => {
    const lock = moveLockName('flamework', '9007199254740993');
    expect(lock).toMatch(/^fw-shard:[0-9a-f]{8}:m:9007199254740993$/);
    expect(moveLockName('other_app', '9007199254740993')).not.toBe(lock);
    expect(preview(runnerPollSql('9007199254740993', lock))).toBe(
      `SELECT IS_USED_LOCK('${lock}') = CONNECTION_ID() AS mine, state, runner_host, runner_pid, stop_requested_by,\n` +
        "      DATE_FORMAT(stop_requested_at, '%Y-%m-%dT%H:%i:%s.%fZ') AS stop_requested_at FROM `fw_shard_moves` WHERE id = 9007199254740993",
    );
    expect(preview(releaseSql('7', 'web1', 12))).toBe(
      'UPDATE `fw_shard_moves` SET runner_host = NULL, runner_pid = NULL, runner_lock = NULL, throttle_reason = NULL, updated_at = NOW(3)\n' +
        "      WHERE id = 7 AND runner_host = 'web1' AND runner_pid = 12",
    );
    expect(preview(requestStopSql('7', 'ops@web2'))).toBe(
      "UPDATE `fw_shard_moves` SET stop_requested_at = NOW(3), stop_requested_by = 'ops@web2' WHERE id = 7 AND state = 'active'",
    );
    expect(preview(setThrottleSql('7', null))).toBe('UPDATE `fw_shard_moves` SET throttle_reason = NULL WHERE id = 7');
    expect(preview(insertRunSql('7', { user: 'ops', host: 'web1', pid: 12, command: 'fw-shard resume 7' }))).toBe(
      "INSERT INTO `fw_shard_move_runs` (move_id, os_user, host, pid, command, started_at) VALUES (7, 'ops', 'web1', 12, 'fw-shard resume 7', NOW(3))",
    );
    expect(preview(endRunSql('3', 'done'))).toBe("UPDATE `fw_shard_move_runs` SET ended_at = NOW(3), outcome = 'done' WHERE id = 3 AND ended_at IS NULL");
    expect(preview(selectRunsSql('7'))).toMatch(/FROM `fw_shard_move_runs` WHERE move_id = 7 ORDER BY id$/);
  });

  it("setModeSql records a continued move's changed mode", () => {
    expect(preview(setModeSql('7', 'now', '{"assumeNoWrites":false}'))).toBe(
      "UPDATE `fw_shard_moves` SET cleanup_mode = 'now', options = '{\\\"assumeNoWrites\\\":false}', updated_at = NOW(3) WHERE id = 7",
    );
  });

  it('cleanupWaitingSql lists the deferred cleanups not due yet, with when each becomes due', () => {
    const columns = preview(selectMoveSql('1', true)).replace(/ FROM `fw_shard_moves` WHERE id = 1$/, '');
    expect(preview(cleanupWaitingSql(900, true))).toBe(
      columns +
        ",\n      DATE_FORMAT(flipped_at + INTERVAL 900 SECOND, '%Y-%m-%dT%H:%i:%s.%fZ') AS eligible_at," +
        '\n      TIMESTAMPDIFF(MICROSECOND, NOW(3), flipped_at + INTERVAL 900 SECOND) DIV 1000 AS eligible_in_ms' +
        "\n      FROM `fw_shard_moves` WHERE state = 'active'" +
        "\n      AND (phase = 'cleanup-pending' OR (phase = 'cleanup' AND cleanup_mode = 'defer'))" +
        '\n      AND flipped_at > NOW(3) - INTERVAL 900 SECOND ORDER BY flipped_at, id',
    );
  });

  it('the passes table records every delta pass and freeze attempt', () => {
    expect(preview(insertDeltaPassSql('7', 12, '3'))).toBe(
      'INSERT INTO `fw_shard_move_passes` (move_id, kind, started_at, ended_at, ms, rows_recopied)\n' +
        "      VALUES (7, 'delta', NOW(3) - INTERVAL 12000 MICROSECOND, NOW(3), 12, 3)",
    );
    expect(preview(insertFreezeSql('7'))).toBe("INSERT INTO `fw_shard_move_passes` (move_id, kind, started_at) VALUES (7, 'freeze', NOW(3))");
    expect(preview(freezeEndedPassSql('9', 40, 'flipped'))).toBe(
      "UPDATE `fw_shard_move_passes` SET ended_at = NOW(3), ms = 40, outcome = 'flipped' WHERE id = 9",
    );
    expect(preview(selectPassesSql('7'))).toBe(
      "SELECT kind, DATE_FORMAT(started_at, '%Y-%m-%dT%H:%i:%s.%fZ') AS started_at, ms, rows_recopied, outcome\n" +
        '      FROM `fw_shard_move_passes` WHERE move_id = 7 ORDER BY id',
    );
  });
});

describe('schema.ts', () => {
  it("listForeignKeysSql reads the database's foreign keys and those that reference it, column by column", () => {
    expect(preview(listForeignKeysSql('users`2'))).toBe(
      'SELECT k.CONSTRAINT_NAME, k.TABLE_SCHEMA, k.TABLE_NAME, k.COLUMN_NAME, k.REFERENCED_TABLE_SCHEMA, k.REFERENCED_TABLE_NAME,\n' +
        '             k.REFERENCED_COLUMN_NAME, r.UPDATE_RULE, r.DELETE_RULE\n' +
        '      FROM information_schema.KEY_COLUMN_USAGE k\n' +
        '      JOIN information_schema.REFERENTIAL_CONSTRAINTS r\n' +
        '        ON r.CONSTRAINT_SCHEMA = k.CONSTRAINT_SCHEMA AND r.TABLE_NAME = k.TABLE_NAME AND r.CONSTRAINT_NAME = k.CONSTRAINT_NAME\n' +
        "      WHERE k.REFERENCED_TABLE_NAME IS NOT NULL AND (k.TABLE_SCHEMA = 'users`2' OR k.REFERENCED_TABLE_SCHEMA = 'users`2')\n" +
        '      ORDER BY k.TABLE_SCHEMA, k.TABLE_NAME, k.CONSTRAINT_NAME, k.ORDINAL_POSITION',
    );
  });
});

describe('journal.ts: undo (fw-shard undo)', () => {
  it('existing journals get the undo columns added by name, with their comments, in the one ALTER', () => {
    expect(preview(addMoveColumnsSql(ADDED_MOVE_COLUMNS.slice(0, 2)))).toBe(
      "ALTER TABLE `fw_shard_moves` ADD COLUMN `undo_of` BIGINT UNSIGNED NULL COMMENT 'fw-shard undo: the move this one undoes (it moves the user back)', " +
        "ADD COLUMN `undone_by` BIGINT UNSIGNED NULL COMMENT 'fw-shard undo: the move undoing this one; while set, this move is never cleaned up'",
    );
    expect(preview(undoLinksSql('9007199254740993'))).toBe('SELECT undo_of, undone_by FROM `fw_shard_moves` WHERE id = 9007199254740993');
  });

  it('an undo takes only a flipped move with its old rows intact, and nobody running it (the undo holds its runner lock)', () => {
    expect(preview(releaseForUndoSql('9007199254740993', 30))).toBe(
      'UPDATE `fw_shard_moves` SET active_user = NULL, runner_host = NULL, runner_pid = NULL, runner_lock = NULL, updated_at = NOW(3)\n' +
        '      WHERE id = 9007199254740993 AND undone_by IS NULL AND (\n' +
        "        (state = 'active' AND phase IN ('flipped', 'cleanup-pending')\n" +
        '          AND (runner_host IS NULL OR runner_lock IS NOT NULL OR heartbeat_at < NOW(3) - INTERVAL 30 SECOND))\n' +
        "        OR (state = 'done' AND phase = 'done' AND cleanup_mode = 'keep'))",
    );
    expect(preview(setUndoneBySql('7', '9'))).toBe('UPDATE `fw_shard_moves` SET undone_by = 9 WHERE id = 7 AND undone_by IS NULL');
    expect(preview(setUndoOfSql('9', '7'))).toBe('UPDATE `fw_shard_moves` SET undo_of = 7 WHERE id = 9');
    expect(preview(laterMoveOfUserSql('42', '7', true))).toMatch(
      / FROM `fw_shard_moves` WHERE user_id = 42 AND id > 7 AND state <> 'aborted' ORDER BY id LIMIT 1$/,
    );
  });

  it("the undo's flip ends the undone move; its abort restores it; an undone move never enters its cleanup", () => {
    expect(preview(finishUndoneSql('7', '9'))).toBe(
      "UPDATE `fw_shard_moves` SET state = 'done', phase = 'done', active_user = NULL, finished_at = COALESCE(finished_at, NOW(3)), updated_at = NOW(3),\n" +
        '      runner_host = NULL, runner_pid = NULL, runner_lock = NULL WHERE id = 7 AND undone_by = 9',
    );
    expect(preview(restoreUndoneSql('7', '9'))).toBe(
      "UPDATE `fw_shard_moves` SET undone_by = NULL, active_user = IF(state = 'active', user_id, NULL), updated_at = NOW(3)\n      WHERE id = 7 AND undone_by = 9",
    );
    expect(preview(enterCleanupSql('7'))).toBe(
      "UPDATE `fw_shard_moves` SET phase = 'cleanup', updated_at = NOW(3), heartbeat_at = NOW(3) WHERE id = 7 AND undone_by IS NULL",
    );
  });
});

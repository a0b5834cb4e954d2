/**
 * The range hashes (rows.ts hashRange, RowHash) on a real server: the same rows give the same sum in
 * two tables, any byte of difference changes it, NULL, '' and 0 differ, and text is hashed as its bytes
 * (a table mixing character sets the server cannot convert between is hashed, not refused).
 */
import { describe, expect, it } from 'vitest';
import { ident, raw, sql } from '../../src/db/sql/fragment.js';
import { hashRange, rowImage, type RowHash } from '../../src/db/sql/rows.js';
import { readSchema } from '../../src/db/sql/schema.js';
import { planTable } from '../../src/move/table-plan.js';
import { useServers } from '../helpers/servers.js';

const COLUMNS =
  'id BIGINT UNSIGNED NOT NULL PRIMARY KEY, user_id INT UNSIGNED NOT NULL, l VARCHAR(20) CHARACTER SET latin1 NULL, ' +
  'u VARCHAR(20) CHARACTER SET utf8mb4 NULL, c VARCHAR(20) CHARACTER SET cp1251 NULL, b VARBINARY(20) NULL, f DOUBLE NULL, d DATETIME NULL';
/** Rows of user 7: ids above 2^53, latin1 bytes undefined in cp1252, a 4-byte character, NULLs, the separator byte. */
const ROWS =
  "(9007199254740993, 7, X'81', X'F09F9880', X'E9', X'001F5C', 0.1, '2026-11-30 04:00:00'), " +
  "(9007199254740995, 7, '', '', NULL, X'', 0, NULL), " +
  "(9007199254740997, 7, NULL, NULL, '0', NULL, NULL, '1970-01-01 00:00:01'), " +
  "(9007199254740999, 8, 'other', 'user', NULL, NULL, NULL, NULL)";

describe('range hashes on MariaDB', () => {
  const t = useServers(1, { prefix: 'fw-shard-rowhash-' });

  async function sums(kind: RowHash, tables: readonly string[]): Promise<{ n: string; h: string }[]> {
    const db = t.db(0, 'h');
    const schema = await readSchema(db);
    const out: { n: string; h: string }[] = [];
    for (const name of tables) {
      const [r] = await db.rows<{ n: unknown; h: unknown }>(hashRange({ ...planTable(schema.get(name)!, 'user_id'), rowHash: kind }, '7', null, null));
      out.push({ n: String(r!.n), h: String(r!.h) });
    }
    return out;
  }

  it("every kind: equal rows, equal sums; one byte, NULL for '', or '' for '0' changes the sum", async () => {
    const root = t.db(0);
    await root.exec(sql`CREATE DATABASE h`);
    const db = t.db(0, 'h');
    // A (the reference), B (a copy), then tables that each differ from A in one value of one row.
    const variants: Record<string, string> = {
      B: '',
      Byte: "UPDATE Byte SET l = X'8D' WHERE id = 9007199254740993",
      Null: 'UPDATE `Null` SET u = NULL WHERE id = 9007199254740995',
      Zero: "UPDATE Zero SET c = '' WHERE id = 9007199254740997",
      Sep: "UPDATE Sep SET b = X'1F005C' WHERE id = 9007199254740993",
      Other: "UPDATE Other SET l = 'x' WHERE id = 9007199254740999", // another user's row: not in the sum
    };
    for (const name of ['A', ...Object.keys(variants)]) {
      await db.exec(sql`CREATE TABLE ${ident(name)} (${raw(COLUMNS)}, KEY by_user (user_id)) ENGINE=InnoDB`);
      await db.exec(sql`INSERT INTO ${ident(name)} VALUES ${raw(ROWS)}`);
      const change = variants[name];
      if (change) await db.exec(sql`${raw(change)}`);
    }
    for (const kind of ['crc-mul', 'md5'] as const) {
      const [a, b, byte, nul, zero, sep, other] = await sums(kind, ['A', 'B', 'Byte', 'Null', 'Zero', 'Sep', 'Other']);
      expect(a, kind).toEqual(b);
      expect(a!.n).toBe('3');
      expect(BigInt(a!.h), kind).toBeGreaterThan(0n);
      for (const [what, v] of [
        ['a latin1 byte', byte],
        ["NULL for ''", nul],
        ["'' for '0'", zero],
        ['bytes around the separator', sep],
      ] as const) {
        expect(v!.n, `${kind}: ${what}`).toBe('3');
        expect(v!.h, `${kind}: ${what}`).not.toBe(a!.h);
      }
      expect(other, kind).toEqual(a);
    }
    // The kinds are different functions: a move must compare records with the kind that made them.
    const [crc] = await sums('crc-mul', ['A']);
    const [md5] = await sums('md5', ['A']);
    expect(crc!.h).not.toBe(md5!.h);
  });

  it("the same edit of two rows: CRC32 and CRC32C summed as they are would not see it; 'crc-mul' does", async () => {
    // Found by search (a script over CRC32/CRC32C of this image): both rows' status 'bsto' -> 'olqp'.
    // Both CRCs change by the same XOR mask in both rows, and these two rows' old CRCs differ from it
    // in every bit it flips: one row's sum goes up by what the other's goes down.
    const db = t.db(0, 'h');
    const ids = ['9293902967232591', '9959935779204822'];
    for (const [name, status] of [
      ['Before', 'bsto'],
      ['After', 'olqp'],
    ] as const) {
      await db.exec(
        sql`CREATE TABLE ${ident(name)} (id BIGINT UNSIGNED NOT NULL PRIMARY KEY, user_id INT UNSIGNED NOT NULL, status VARCHAR(8) NOT NULL, d DATETIME NOT NULL, KEY by_user (user_id))`,
      );
      for (const id of ids) await db.exec(sql`INSERT INTO ${ident(name)} VALUES (${raw(id)}, 42, ${status}, '2026-11-30 04:00:00')`);
    }
    const schema = await readSchema(db);
    const image = rowImage({ ...planTable(schema.get('Before')!, 'user_id') });
    const linear = async (name: string) =>
      String((await db.rows<{ h: unknown }>(sql`SELECT SUM((CRC32(${image}) << 32) | CRC32C(${image})) AS h FROM ${ident(name)} WHERE user_id = 42`))[0]!.h);
    expect(await linear('Before')).toBe('19776986713802492798');
    expect(await linear('After')).toBe(await linear('Before'));
    const hashOf = async (kind: RowHash, name: string) => {
      const [r] = await db.rows<{ h: unknown }>(hashRange({ ...planTable(schema.get(name)!, 'user_id'), rowHash: kind }, '42', null, null));
      return String(r!.h);
    };
    for (const kind of ['crc-mul', 'md5'] as const) expect(await hashOf(kind, 'After'), kind).not.toBe(await hashOf(kind, 'Before'));
  });

  it("'md5-text', the kind of moves journaled before the others, converts text: a table mixing latin1, cp1251 and utf8mb4 is refused by the server; the others hash its bytes", async () => {
    const db = t.db(0, 'h');
    for (const [name, c] of [
      ['Mix', 'E9'],
      ['Mix2', 'EA'],
    ] as const) {
      await db.exec(
        sql`CREATE TABLE ${ident(name)} (id INT NOT NULL PRIMARY KEY, user_id INT NOT NULL, l VARCHAR(9) CHARACTER SET latin1, c VARCHAR(9) CHARACTER SET cp1251, u VARCHAR(9) CHARACTER SET utf8mb4)`,
      );
      await db.exec(sql`INSERT INTO ${ident(name)} VALUES (1, 7, X'E9', ${raw(`X'${c}'`)}, X'F09F9880')`);
    }
    await expect(sums('md5-text', ['Mix'])).rejects.toThrow(/Illegal mix of collations/);
    for (const kind of ['crc-mul', 'md5'] as const) {
      const [mix, mix2] = await sums(kind, ['Mix', 'Mix2']);
      expect(mix!.n).toBe('1');
      expect(mix!.h, kind).not.toBe(mix2!.h);
    }
  });
});

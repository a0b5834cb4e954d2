/**
 * Rows owned through a parent (issue 26), the pure parts: tables.through parsed from the config, a
 * path resolved and refused link by link, tables that would be split from the moved ones, the order
 * tables are written in, and the SQL that says "the row is the user's" along a path.
 */
import { describe, expect, it } from 'vitest';
import { preview } from '../../src/db/sql/fragment.js';
import {
  countDeletableSql,
  countUserRows,
  deleteByKeys,
  deleteRange,
  deleteStraysSql,
  insertRows,
  ownerCondition,
  ownerOfRow,
  strandedSql,
  strayKeysSql,
  userCountsSql,
  userSizesSql,
  type RowSpec,
} from '../../src/db/sql/rows.js';
import { createTriggersSql } from '../../src/db/sql/guard.js';
import { parseShared, parseThrough } from '../../src/config/schema.js';
import { normalizeConfig } from '../../src/config/load.js';
import { findOtherReferrers, findSplits, linkChildren, ownershipLevels, resolveOwnerPath } from '../../src/move/owner-paths.js';
import { referenceNames } from '../../src/config/naming.js';
import { selectTables } from '../../src/move/table-selection.js';
import { planTable } from '../../src/move/table-plan.js';
import { cascadeGraph, cascadeLevels } from '../../src/move/cascades.js';
import type { TableSelection } from '../../src/topology/index.js';
import { col, key, table } from '../helpers/schema-fixtures.js';

const id = col('id', 'bigint', { type: 'bigint(20) unsigned' });
const uid = col('user_id', 'int', { type: 'int(10) unsigned' });
const account = table('smol_account', [id, uid, col('name', 'varchar', { nullable: true })], [key('PRIMARY', ['id']), key('by_user', ['user_id'], false)]);
const archive = table(
  'smol_archive',
  [id, col('account_id', 'bigint'), col('item_id', 'bigint'), col('note', 'varchar', { nullable: true })],
  [key('PRIMARY', ['id']), key('by_account', ['account_id'], false)],
);
const tags = table(
  'smol_archive_tags',
  [id, col('archive_id', 'bigint'), col('tag', 'varchar')],
  [key('PRIMARY', ['id']), key('by_archive', ['archive_id'], false)],
);
const items = table('smol_item_twitter', [id, col('body', 'text')], [key('PRIMARY', ['id'])]);
const schema = new Map([account, archive, tags, items].map((t) => [t.name, t]));
const THROUGH = {
  smol_archive: { column: 'account_id', parent: 'smol_account', key: 'id' },
  smol_archive_tags: { column: 'archive_id', parent: 'smol_archive', key: 'id' },
};
const sel = (over: Partial<TableSelection> = {}): TableSelection => ({
  ownerColumn: 'user_id',
  exclude: [],
  owners: {},
  keylessRowCap: 100_000,
  through: THROUGH,
  ...over,
});

describe('tables.through in the config', () => {
  it('parses `column -> parent.key`, spaces or not; anything else is refused with the spelling', () => {
    expect(parseThrough('account_id -> smol_account.id')).toEqual({ column: 'account_id', parent: 'smol_account', key: 'id' });
    expect(parseThrough(' archive_id->smol_archive.id ')).toEqual({ column: 'archive_id', parent: 'smol_archive', key: 'id' });
    expect(parseThrough('account_id -> smol_account')).toBeNull();
    expect(parseThrough('a b -> c.d')).toBeNull();
    const base = { defaults: { host: '127.0.0.1', user: 'root', password: '' }, main: { database: 'm' }, shards: { '1': { database: 's1' } } };
    const t = normalizeConfig(
      { ...base, tables: { through: { smol_archive: 'account_id -> smol_account.id' } } },
      { env: {}, baseDir: '/', origin: 'test' },
    ).topology;
    expect(t.tables.through).toEqual({ smol_archive: THROUGH.smol_archive });
    expect(() => normalizeConfig({ ...base, tables: { through: { smol_archive: 'account_id' } } }, { env: {}, baseDir: '/', origin: 'test' })).toThrow(
      /column -> parent_table\.key/,
    );
  });
});

describe('resolveOwnerPath', () => {
  const moved = new Set(['smol_account', 'smol_archive', 'smol_archive_tags']);
  it('follows a chain to the owner column', () => {
    const { path, problems } = resolveOwnerPath('smol_archive_tags', schema, sel(), moved);
    expect(problems).toEqual([]);
    expect(path!.owner.name).toBe('user_id');
    expect(path!.via.map((l) => `${l.column.name}->${l.parent}.${l.parentKey.name}`)).toEqual(['archive_id->smol_archive.id', 'account_id->smol_account.id']);
  });
  it('refuses, naming the fix: a parent that does not move, a key that is not unique, a link without an index, a type mismatch, a cycle', () => {
    expect(resolveOwnerPath('smol_archive', schema, sel(), new Set(['smol_archive'])).problems.join('\n')).toMatch(/smol_account does not move with the user/);
    const notUnique = new Map(schema).set('smol_account', table('smol_account', [id, uid], [key('by_id', ['id'], false), key('by_user', ['user_id'], false)]));
    expect(resolveOwnerPath('smol_archive', notUnique, sel(), moved).problems.join('\n')).toMatch(
      /smol_account\.id is not unique .*ALTER TABLE smol_account ADD UNIQUE \(id\)/,
    );
    const noIndex = new Map(schema).set('smol_archive', table('smol_archive', [id, col('account_id', 'bigint')], [key('PRIMARY', ['id'])]));
    expect(resolveOwnerPath('smol_archive', noIndex, sel(), moved).problems.join('\n')).toMatch(/ALTER TABLE smol_archive ADD INDEX \(account_id\)/);
    const text = new Map(schema).set(
      'smol_archive',
      table('smol_archive', [id, col('account_id', 'varchar', { type: 'varchar(20)' })], [key('PRIMARY', ['id']), key('a', ['account_id'], false)]),
    );
    expect(resolveOwnerPath('smol_archive', text, sel(), moved).problems.join('\n')).toMatch(/varchar\(20\) but smol_account\.id is bigint\(20\) unsigned/);
    const cycle = sel({ through: { ...THROUGH, smol_account: { column: 'id', parent: 'smol_archive_tags', key: 'id' } } });
    expect(resolveOwnerPath('smol_archive_tags', schema, cycle, moved).problems.join('\n')).toMatch(/a cycle/);
  });
  it('selectTables takes a declared table without the owner column, with its path; a broken path is a problem, not a guess', () => {
    const s = selectTables(schema, schema, sel({ exclude: ['smol_item_twitter'] }), { sourceIsMain: false, mappingTable: null });
    expect(s.selected.map((t) => `${t.name}:${t.path?.via.length ?? 0}`)).toEqual(['smol_account:0', 'smol_archive:1', 'smol_archive_tags:2']);
    expect(s.unowned).toEqual([]);
    const broken = selectTables(schema, schema, sel({ exclude: ['smol_account'] }), { sourceIsMain: false, mappingTable: null });
    expect(broken.pathProblems.join('\n')).toMatch(/smol_account does not move/);
  });
});

describe('no silent split', () => {
  it('names the column after a moved table, singular or plural, with or without the app prefix', () => {
    expect(referenceNames('smol_account', 'id')).toEqual(expect.arrayContaining(['account_id', 'smol_account_id']));
    expect(referenceNames('FlickrPhotos', 'id')).toEqual(expect.arrayContaining(['photo_id', 'flickr_photo_id', 'photos_id']));
    expect(referenceNames('Categories', 'id')).toContain('category_id');
  });
  it('finds a table that references a moved one by a foreign key or by name, and gives the line to add', () => {
    const fk = {
      name: 'fk_tag',
      schema: 'users1',
      table: 'smol_archive_tags',
      columns: ['archive_id'],
      refSchema: 'users1',
      refTable: 'smol_archive',
      refColumns: ['id'],
      onUpdate: 'RESTRICT',
      onDelete: 'CASCADE',
    };
    const splits = findSplits([archive, tags, items], [account], [], 'users1');
    expect(splits).toEqual([
      expect.objectContaining({
        table: 'smol_archive',
        column: 'account_id',
        references: 'smol_account.id',
        through: 'smol_archive: account_id -> smol_account.id',
      }),
    ]);
    const byFk = findSplits([tags], [account, archive], [fk], 'users1');
    expect(byFk).toEqual([expect.objectContaining({ table: 'smol_archive_tags', column: 'archive_id', why: 'foreign key fk_tag' })]);
  });
});

describe('order and SQL along a path', () => {
  const plans = linkChildren([
    planTable(tags, resolveOwnerPath('smol_archive_tags', schema, sel(), new Set(schema.keys())).path!),
    planTable(account, 'user_id'),
    planTable(archive, resolveOwnerPath('smol_archive', schema, sel(), new Set(schema.keys())).path!),
  ]);
  const [tagsPlan, accountPlan, archivePlan] = [plans[0]!, plans[1]!, plans[2]!] as RowSpec[] as [RowSpec, RowSpec, RowSpec];
  it('writes parents first (and the cascade levels agree); a plan knows the tables owned through it', () => {
    expect(ownershipLevels(plans).map((l) => l.map((t) => t.name))).toEqual([['smol_account'], ['smol_archive'], ['smol_archive_tags']]);
    expect(cascadeLevels(cascadeGraph([], plans, 'users1'), plans).map((l) => l.map((t) => t.name))).toEqual([
      ['smol_account'],
      ['smol_archive'],
      ['smol_archive_tags'],
    ]);
    expect(accountPlan.children?.map((c) => c.name)).toEqual(['smol_archive']);
    expect(archivePlan.children?.map((c) => c.name)).toEqual(['smol_archive_tags']);
    expect(cascadeGraph([], plans, 'users1').wholeUnderFreeze.get('smol_archive')).toMatch(/owned through smol_account/);
  });
  it('the owner condition nests one lookup per level; the owner of a row is looked up innermost first', () => {
    expect(preview(ownerCondition(tagsPlan, '42'))).toBe(
      '`smol_archive_tags`.`archive_id` IN (SELECT fw_p1.`id` FROM `smol_archive` fw_p1 WHERE fw_p1.`account_id` IN (SELECT fw_p2.`id` FROM `smol_account` fw_p2 WHERE fw_p2.`user_id` = 42))',
    );
    expect(preview(countUserRows(archivePlan, '42'))).toBe(
      'SELECT COUNT(*) AS n FROM `smol_archive` WHERE `smol_archive`.`account_id` IN (SELECT fw_p1.`id` FROM `smol_account` fw_p1 WHERE fw_p1.`user_id` = 42)',
    );
    expect(preview(ownerOfRow(tagsPlan, 'NEW'))).toBe(
      '(SELECT fw_o2.`user_id` FROM `smol_account` fw_o2 WHERE fw_o2.`id` = (SELECT fw_o1.`account_id` FROM `smol_archive` fw_o1 WHERE fw_o1.`id` = NEW.`archive_id`))',
    );
    // A table with its owner column is untouched.
    expect(preview(ownerCondition(accountPlan, '42'))).toBe('`user_id` = 42');
    expect(preview(userSizesSql(archivePlan))).toMatch(/GROUP BY o$/);
    // The plan's estimate counts rows only, through the owner (or link) index.
    expect(preview(userCountsSql(accountPlan))).toBe('SELECT CAST(`user_id` AS CHAR) AS owner, COUNT(*) AS n FROM `smol_account` GROUP BY `user_id`');
    expect(preview(userCountsSql(archivePlan))).toBe(
      'SELECT CAST(o AS CHAR) AS owner, COUNT(*) AS n FROM (SELECT (SELECT fw_o1.`user_id` FROM `smol_account` fw_o1 WHERE fw_o1.`id` = `smol_archive`.`account_id`) AS o FROM `smol_archive`) fw_rows GROUP BY o',
    );
  });
  it('rows whose owner cannot be found, and rows left hanging off a parent taken away', () => {
    const lo = [Buffer.from('10')];
    expect(preview(strayKeysSql(archivePlan, { lo, hi: null }))).toBe(
      'SELECT `id` FROM `smol_archive` WHERE `id` > 10 AND (SELECT fw_o1.`user_id` FROM `smol_account` fw_o1 WHERE fw_o1.`id` = `smol_archive`.`account_id`) IS NULL',
    );
    expect(preview(deleteStraysSql(archivePlan, { keys: [[Buffer.from('11')], [Buffer.from('12')]] }, [[Buffer.from('12')]]))).toBe(
      'DELETE FROM `smol_archive` WHERE `id` IN (11, 12) AND (SELECT fw_o1.`user_id` FROM `smol_account` fw_o1 WHERE fw_o1.`id` = `smol_archive`.`account_id`) IS NULL AND NOT `id` IN (12)',
    );
    expect(preview(strandedSql(archivePlan, [Buffer.from('7')], '42', null))).toBe(
      'DELETE FROM `smol_archive` WHERE `account_id` IN (7) AND NOT (`smol_archive`.`account_id` IN (SELECT fw_p1.`id` FROM `smol_account` fw_p1 WHERE fw_p1.`user_id` = 42))',
    );
  });
  it('the triggers find the owner through the path, and an UPDATE of the link checks the old and the new owner', () => {
    const [bi, bu] = createTriggersSql(archivePlan).map(preview);
    expect(bi).toContain('WHERE user_id = (SELECT fw_o1.`user_id` FROM `smol_account` fw_o1 WHERE fw_o1.`id` = NEW.`account_id`) LOCK IN SHARE MODE');
    expect(bu).toContain('IF NOT (NEW.`account_id` <=> OLD.`account_id`) THEN');
  });
});

describe('shared rows (tables.shared): found through the referrer, deleted only where nobody else refers to them', () => {
  const archiveByItem = table(
    'smol_archive',
    [id, col('account_id', 'bigint'), col('item_id', 'bigint'), col('note', 'varchar', { nullable: true })],
    [key('PRIMARY', ['id']), key('by_account', ['account_id'], false), key('by_item', ['item_id'], false)],
  );
  const shared = new Map(schema).set('smol_archive', archiveByItem);
  const SHARED = { ...THROUGH, smol_item_twitter: { column: 'id', parent: 'smol_archive', key: 'item_id', shared: true as const } };
  const moved = new Set(['smol_account', 'smol_archive', 'smol_item_twitter']);
  const itemsPlan = (): RowSpec => planTable(items, resolveOwnerPath('smol_item_twitter', shared, sel({ through: SHARED }), moved).path!);

  it('parses `key <- referrer.column`; a table both shared and owned through a parent is refused', () => {
    expect(parseShared('id <- smol_archive.item_id')).toEqual({ column: 'id', parent: 'smol_archive', key: 'item_id' });
    expect(parseShared('id -> smol_archive.item_id')).toBeNull();
    const base = { defaults: { host: '127.0.0.1', user: 'root', password: '' }, main: { database: 'm' }, shards: { '1': { database: 's1' } } };
    const through = { smol_archive: 'account_id -> smol_account.id' };
    const t = normalizeConfig(
      { ...base, tables: { through, shared: { smol_item_twitter: 'id <- smol_archive.item_id' } } },
      { env: {}, baseDir: '/', origin: 'test' },
    ).topology;
    expect(t.tables.through).toEqual({ smol_archive: THROUGH.smol_archive, smol_item_twitter: SHARED.smol_item_twitter });
    expect(() =>
      normalizeConfig(
        {
          ...base,
          tables: { through: { ...through, smol_item_twitter: 'id -> smol_archive.id' }, shared: { smol_item_twitter: 'id <- smol_archive.item_id' } },
        },
        { env: {}, baseDir: '/', origin: 'test' },
      ),
    ).toThrow(/'smol_item_twitter' is also in tables\.through/);
  });

  it('a path through the referrer to the owner; refused: no index on the referring column, a key that is not unique, rows hanging off shared rows', () => {
    const { path, problems } = resolveOwnerPath('smol_item_twitter', shared, sel({ through: SHARED }), moved);
    expect(problems).toEqual([]);
    expect(path!.via.map((l) => `${l.column.name}<-${l.parent}.${l.parentKey.name}${l.shared ? ' shared' : ''}`)).toEqual([
      'id<-smol_archive.item_id shared',
      'account_id<-smol_account.id',
    ]);
    // The unit schema's archive has no index on item_id.
    expect(resolveOwnerPath('smol_item_twitter', schema, sel({ through: SHARED }), moved).problems.join('\n')).toMatch(
      /no index of smol_archive starts with item_id.*ALTER TABLE smol_archive ADD INDEX \(item_id\)/,
    );
    const notUnique = new Map(shared).set('smol_item_twitter', table('smol_item_twitter', [id, col('body', 'text')], [key('by_id', ['id'], false)]));
    expect(resolveOwnerPath('smol_item_twitter', notUnique, sel({ through: SHARED }), moved).problems.join('\n')).toMatch(
      /smol_item_twitter\.id is not unique .*ALTER TABLE smol_item_twitter ADD UNIQUE \(id\)/,
    );
    const below = sel({ through: { ...SHARED, smol_archive_tags: { column: 'archive_id', parent: 'smol_item_twitter', key: 'id' } } });
    expect(resolveOwnerPath('smol_archive_tags', shared, below, new Set([...moved, 'smol_archive_tags'])).problems.join('\n')).toMatch(
      /rows cannot hang off shared rows/,
    );
    expect(itemsPlan().collisionKeys, 'a same key is the same row, not a collision').toEqual([]);
    // Keyed otherwise (an AUTO_INCREMENT pk, the item's id unique): the same item would be another row there.
    const byPk = new Map(shared).set(
      'smol_item_twitter',
      table('smol_item_twitter', [col('pk', 'bigint'), id, col('body', 'text')], [key('PRIMARY', ['pk']), key('by_id', ['id'])]),
    );
    expect(resolveOwnerPath('smol_item_twitter', byPk, sel({ through: SHARED }), moved).problems.join('\n')).toMatch(
      /smol_item_twitter's rows are identified by its key \(pk\), not by id/,
    );
  });

  it('a second table referring to a shared one (a foreign key, or a column named after its key) is found', () => {
    const likes = table('smol_like', [id, uid, col('item_id', 'bigint'), col('item_twitter_id', 'bigint')], [key('PRIMARY', ['id'])]);
    const fk = { schema: 'db', name: 'fk_like', table: 'smol_like', columns: ['item_id'], refSchema: 'db', refTable: 'smol_item_twitter', refColumns: ['id'] };
    const link = itemsPlan().via![0]!;
    const found = findOtherReferrers([{ table: 'smol_item_twitter', link }], [account, archiveByItem, items, likes], [fk as never], 'db');
    expect(found.join('\n')).toMatch(/smol_like\.item_id refers to the shared smol_item_twitter\.id \(foreign key fk_like\)/);
    expect(found.join('\n')).toMatch(/smol_like\.item_twitter_id refers to the shared smol_item_twitter\.id \(column item_twitter_id/);
    expect(
      found.some((l) => l.startsWith('smol_archive.')),
      'the declared referrer is not another',
    ).toBe(false);
  });

  it('every delete keeps the rows another owner refers to; a stranded shared row is one nobody refers to', () => {
    const p = itemsPlan();
    const others =
      ' AND NOT EXISTS (SELECT 1 FROM `smol_archive` fw_r WHERE fw_r.`item_id` = `smol_item_twitter`.`id` AND (fw_r.`account_id` IN (SELECT fw_p1.`id` FROM `smol_account` fw_p1 WHERE fw_p1.`user_id` = 42)) IS NOT TRUE)';
    const mine =
      '`smol_item_twitter`.`id` IN (SELECT fw_p1.`item_id` FROM `smol_archive` fw_p1 WHERE fw_p1.`account_id` IN (SELECT fw_p2.`id` FROM `smol_account` fw_p2 WHERE fw_p2.`user_id` = 42))';
    expect(preview(deleteRange(p, '42', null, null))).toBe(`DELETE FROM \`smol_item_twitter\` WHERE ${mine}${others}`);
    expect(preview(deleteByKeys(p, '42', [[Buffer.from('5')]]))).toBe(`DELETE FROM \`smol_item_twitter\` WHERE ${mine} AND \`id\` IN (5)${others}`);
    expect(preview(countDeletableSql(p, '42', { lo: null, hi: null }))).toBe(
      `SELECT COUNT(*) AS n FROM \`smol_item_twitter\` WHERE ${mine}${others} FOR UPDATE`,
    );
    expect(preview(strandedSql(p, [Buffer.from('5')], '42', null))).toBe(
      'DELETE FROM `smol_item_twitter` WHERE `id` IN (5) AND NOT EXISTS (SELECT 1 FROM `smol_archive` fw_r WHERE fw_r.`item_id` = `smol_item_twitter`.`id`)',
    );
    expect(preview(strayKeysSql(p, { lo: null, hi: null }))).toBe(
      'SELECT `id` FROM `smol_item_twitter` WHERE TRUE AND NOT EXISTS (SELECT 1 FROM `smol_archive` fw_r WHERE fw_r.`item_id` = `smol_item_twitter`.`id` AND (SELECT fw_o1.`user_id` FROM `smol_account` fw_o1 WHERE fw_o1.`id` = fw_r.`account_id`) IS NOT NULL)',
    );
    expect(insertRows(p, [[Buffer.from('5'), Buffer.from('x')]], 1 << 20)[0]!.binary).toMatch(/^INSERT IGNORE INTO `smol_item_twitter`/);
    expect(preview(userCountsSql(p))).toBe(
      'SELECT CAST(fw_refs.o AS CHAR) AS owner, COUNT(*) AS n\n               FROM (SELECT DISTINCT (SELECT fw_o1.`user_id` FROM `smol_account` fw_o1 WHERE fw_o1.`id` = fw_r.`account_id`) AS o, fw_r.`item_id` AS k FROM `smol_archive` fw_r) fw_refs\n               GROUP BY fw_refs.o',
    );
    expect(preview(userSizesSql(p))).toMatch(
      /SELECT DISTINCT \(SELECT fw_o1\.`user_id` FROM `smol_account` fw_o1 WHERE fw_o1\.`id` = fw_r\.`account_id`\) AS o, fw_r\.`item_id` AS k/,
    );
  });

  it('the triggers log nothing, fence no INSERT (an item is written before its referrer) and refuse a change only while frozen or moved users alone refer to the row', () => {
    const [bi, bu, bd] = createTriggersSql(itemsPlan()).map(preview);
    for (const body of [bi, bu, bd]) expect(body).not.toContain('fw_shard_changes');
    expect(bi).not.toContain('SIGNAL');
    expect(bu).toContain('IF NOT (NEW.`id` <=> OLD.`id` AND NEW.`body` <=> OLD.`body`) THEN');
    expect(bd).toContain(
      "WHERE state IN ('frozen', 'moved') AND user_id IN (SELECT (SELECT fw_o1.`user_id` FROM `smol_account` fw_o1 WHERE fw_o1.`id` = fw_r.`account_id`) FROM `smol_archive` fw_r WHERE fw_r.`item_id` = OLD.`id`)",
    );
    expect(bd).toContain('AND NOT EXISTS (SELECT 1 FROM `smol_archive` fw_o WHERE fw_o.`item_id` = OLD.`id` AND (');
    expect(bu).toContain('IF NOT (NEW.`id` <=> OLD.`id`) THEN');
  });
});

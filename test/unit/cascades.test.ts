/**
 * Foreign-key cascades in trigger mode (src/move/cascades.ts): the graph, the order tables are
 * written in, and the SQL the expansion and the triggers use, as exact strings.
 */
import { describe, expect, it } from 'vitest';
import { toText } from '../../src/db/sql/fragment.js';
import { cascadeGraph, cascadeLevels, describeCascades } from '../../src/move/cascades.js';
import { planTable } from '../../src/move/table-plan.js';
import type { ForeignKeyInfo } from '../../src/db/sql/schema.js';
import { columnsOfKeys, foreignParentedKeysSql, userKeysWhereColumnsIn } from '../../src/db/sql/rows.js';
import { createTriggersSql, isTriggerOfTable, triggerNames, WRITER_MARK } from '../../src/db/sql/guard.js';
import { decodeLoggedKey, decodeLoggedRefs } from '../../src/move/guard.js';
import { col, key, table } from '../helpers/schema-fixtures.js';
import { diffSchemaFingerprints } from '../../src/move/schema-guard.js';
import { fingerprintKeysSql, fingerprintStorageSql, fingerprintTriggersSql, ownerTablesSql } from '../../src/db/sql/fingerprint.js';

const b = (s: string) => Buffer.from(s, 'latin1');
const plan = (name: string, cols: string[], extra: Parameters<typeof col>[2][] = []) =>
  planTable(
    table(
      name,
      cols.map((c, i) => col(c, 'bigint', extra[i] ?? {})),
      [key('PRIMARY', ['id']), key('by_user', ['user_id'], false)],
    ),
    'user_id',
  );
const fk = (
  name: string,
  child: string,
  columns: string[],
  parent: string,
  refColumns: string[],
  onDelete = 'CASCADE',
  onUpdate = 'RESTRICT',
  refSchema = 'users1',
): ForeignKeyInfo => ({
  name,
  schema: 'users1',
  table: child,
  columns,
  refSchema,
  refTable: parent,
  refColumns,
  onDelete,
  onUpdate,
});

const albums = plan('Albums', ['id', 'user_id', 'title']);
const items = plan('AlbumItems', ['id', 'user_id', 'album_id']);
const notes = plan('ItemNotes', ['id', 'user_id', 'item_id'], [{}, {}, { nullable: true }]);
const tables = [notes, items, albums];

describe('cascadeGraph', () => {
  it('an edge per cascading key between moved tables; RESTRICT and NO ACTION are not edges; parents log their referenced columns', () => {
    const g = cascadeGraph(
      [
        fk('items_album', 'AlbumItems', ['album_id'], 'Albums', ['id'], 'CASCADE', 'CASCADE'),
        fk('notes_item', 'ItemNotes', ['item_id'], 'AlbumItems', ['id'], 'SET NULL'),
        fk('plain', 'ItemNotes', ['user_id'], 'Albums', ['id'], 'RESTRICT', 'NO ACTION'),
      ],
      tables,
      'users1',
    );
    expect(g.edges.map((e) => `${e.child}->${e.parent}`)).toEqual(['AlbumItems->Albums', 'ItemNotes->AlbumItems']);
    expect([...g.refColumns].map(([t, c]) => `${t}:${c.map((x) => x.name).join(',')}`)).toEqual(['Albums:id', 'AlbumItems:id']);
    expect(g.wholeUnderFreeze.size).toBe(0);
    expect(cascadeLevels(g, tables).map((l) => l.map((t) => t.name))).toEqual([['Albums'], ['AlbumItems'], ['ItemNotes']]);
    expect(describeCascades(g)[0]).toBe(
      "AlbumItems(album_id) -> Albums(id) [items_album, ON DELETE CASCADE / ON UPDATE CASCADE]: a logged change of Albums brings the AlbumItems rows it cascades into into the log passes and the freeze's comparison",
    );
  });

  it('what cannot be traced is compared whole: a parent that does not move, one in another database, a cycle, a handed-down key, shared columns', () => {
    const licenses = fk('lic', 'Albums', ['title'], 'Licenses', ['id'], 'SET NULL');
    const other = fk('other', 'AlbumItems', ['album_id'], 'Albums', ['id'], 'CASCADE', 'RESTRICT', 'elsewhere');
    expect([...cascadeGraph([licenses], tables, 'users1').wholeUnderFreeze.keys()]).toEqual(['Albums']);
    expect(cascadeGraph([licenses], tables, 'users1').wholeUnderFreeze.get('Albums')).toMatch(/ON DELETE SET NULL of Licenses, which does not move/);
    expect([...cascadeGraph([other], tables, 'users1').wholeUnderFreeze.keys()]).toEqual(['AlbumItems']);
    const self = cascadeGraph([fk('thread', 'ItemNotes', ['item_id'], 'ItemNotes', ['id'])], tables, 'users1');
    expect(self.wholeUnderFreeze.get('ItemNotes')).toMatch(/cycle/);
    expect(cascadeLevels(self, tables).flat()).toHaveLength(3);
    // AlbumItems.album_id is both cascaded into (ON UPDATE CASCADE) and referenced by ItemNotes.
    const handed = cascadeGraph(
      [
        fk('items_album', 'AlbumItems', ['album_id'], 'Albums', ['id'], 'CASCADE', 'CASCADE'),
        fk('notes_album', 'ItemNotes', ['item_id'], 'AlbumItems', ['album_id']),
      ],
      tables,
      'users1',
    );
    expect(handed.wholeUnderFreeze.get('ItemNotes')).toMatch(/referenced columns are themselves cascaded into from Albums/);
    const keyless = planTable(table('Likes', [col('user_id'), col('note_id')], [key('by_user', ['user_id'], false)]), 'user_id');
    expect(cascadeGraph([fk('likes', 'Likes', ['note_id'], 'ItemNotes', ['id'])], [...tables, keyless], 'users1').wholeUnderFreeze.get('Likes')).toMatch(
      /no key/,
    );
    const shared = cascadeGraph(
      [fk('a', 'ItemNotes', ['item_id'], 'AlbumItems', ['id']), fk('b', 'ItemNotes', ['item_id'], 'Albums', ['id'])],
      tables,
      'users1',
    );
    expect(shared.wholeUnderFreeze.get('ItemNotes')).toMatch(/share a column/);
  });

  it("a cascade into a table that does not move is not the move's concern", () => {
    expect(cascadeGraph([fk('x', 'Stays', ['album_id'], 'Albums', ['id'])], tables, 'users1')).toMatchObject({ edges: [], wholeUnderFreeze: new Map() });
  });
});

describe('the SQL of the expansion and of the triggers', () => {
  it('child keys by foreign-key values, and parent values by key', () => {
    expect(toText(userKeysWhereColumnsIn(items, [items.columns[2]!], '42', [[b('9007199254740993')], [b('7')]]))).toBe(
      'SELECT `id` FROM `AlbumItems`\n             WHERE `user_id` = 42 AND (`album_id` IN (9007199254740993, 7))',
    );
    expect(toText(columnsOfKeys(albums, [albums.columns[0]!], '42', [[b('5')]]))).toBe('SELECT `id`, `id` FROM `Albums` WHERE `user_id` = 42 AND `id` IN (5)');
    expect(toText(foreignParentedKeysSql(notes, [notes.columns[2]!], items, [items.columns[0]!], '42', 5001))).toBe(
      'SELECT c.`id` FROM `ItemNotes` c\n             WHERE c.`user_id` = 42 AND c.`item_id` IS NOT NULL\n               AND NOT EXISTS (SELECT 1 FROM `AlbumItems` p WHERE p.`id` = c.`item_id` AND p.`user_id` = 42)\n             LIMIT 5001',
    );
  });

  it("a parent's triggers log its referenced columns beside the key (N for NULL), and let only a session marked with its own connection through", () => {
    const [bi, bu] = createTriggersSql({ ...notes, refs: [notes.columns[2]!] }).map((s) => toText(s));
    expect(bi).toContain(
      "INSERT INTO `fw_shard_changes` (user_id, table_name, k, r) VALUES (NEW.`user_id`, 'ItemNotes', CONCAT_WS(',', HEX(CONVERT(NEW.`id` USING binary))), CONCAT_WS(',', IFNULL(HEX(CONVERT(NEW.`item_id` USING binary)), 'N')));",
    );
    expect(bi).toContain(`IF NOT (@fw_shard_writer <=> ${WRITER_MARK}) THEN`);
    expect(bu).toContain(
      "VALUES (OLD.`user_id`, 'ItemNotes', CONCAT_WS(',', HEX(CONVERT(OLD.`id` USING binary))), CONCAT_WS(',', IFNULL(HEX(CONVERT(OLD.`item_id` USING binary)), 'N')));",
    );
    // Without referenced columns: NULL.
    expect(toText(createTriggersSql(items)[2]!)).toContain("CONCAT_WS(',', HEX(CONVERT(OLD.`id` USING binary))), NULL);");
    expect(decodeLoggedRefs(b('3132,N,'))).toEqual([b('12'), null, b('')]);
    // TIMESTAMPs are logged as their UNIX_TIMESTAMP (the same in every session's time zone), read back as UTC text.
    const ts = { ...items, key: [col('at', 'timestamp')] };
    expect(toText(createTriggersSql(ts)[0]!)).toContain("CONCAT_WS(',', CONCAT('T', UNIX_TIMESTAMP(NEW.`at`)))");
    expect(decodeLoggedKey(b('T1711843800.123,3432'))).toEqual([b('2024-03-31 00:10:00.123'), b('42')]);
    expect(decodeLoggedKey(b('T0'))).toEqual([b('0000-00-00 00:00:00')]);
  });

  it("triggers of another shape have other names, and are still known as the same table's", () => {
    const plain = triggerNames(items);
    const logging = triggerNames({ ...items, refs: [items.columns[0]!] });
    expect(plain.bi).not.toBe(logging.bi);
    expect(plain.bi).toMatch(/^fw_shard_[0-9a-f]{16}_[0-9a-f]{8}_bi$/);
    expect(isTriggerOfTable(logging.bd, 'AlbumItems')).toBe(true);
    expect(isTriggerOfTable(logging.bd, 'Albums')).toBe(false);
    expect(isTriggerOfTable('fw_shard_0123456789abcdef_bi', 'AlbumItems')).toBe(false);
    // The previous version's names (no body hash) are the table's too: install replaces them.
    expect(isTriggerOfTable(`${plain.bi.slice(0, 'fw_shard_'.length + 16)}_bu`, 'AlbumItems')).toBe(true);
  });
});

describe('the schema fingerprint (src/move/schema-guard.ts)', () => {
  const fp = (over: Partial<Record<'columns' | 'keys' | 'foreignKeys' | 'triggers' | 'storage', string>> = {}, owners: string[] | null = ['Dots']) => ({
    version: 2,
    storage: 'table-id' as const,
    tables: { Dots: { columns: 'c', keys: 'k', foreignKeys: 'f', triggers: 't', storage: 's', ...over } },
    ownerTables: owners,
  });
  it('names each change, and nothing when nothing changed', () => {
    expect(diffSchemaFingerprints(fp(), fp())).toEqual([]);
    expect(diffSchemaFingerprints(fp(), fp({ columns: 'c2', storage: 's2' }))).toEqual([
      'table Dots: its columns changed (added, dropped or altered)',
      'table Dots: it was rebuilt, truncated, swapped (RENAME) or its partitions changed',
    ]);
    expect(diffSchemaFingerprints(fp(), fp({ triggers: 'x' }, ['Dots', 'Extra']))).toEqual([
      'table Dots: its triggers changed (dropped, created or replaced; fw-shard checks its own too)',
      'table Extra (with the owner column) was created',
    ]);
    // Not watched (tables.include): a new table is no change.
    expect(diffSchemaFingerprints(fp({}, null), fp({}, ['Dots', 'Extra']))).toEqual([]);
  });
  it('reads every part of every table at once, narrowed by constants, and InnoDB names encoded by the server', () => {
    expect(toText(fingerprintTriggersSql('users1', ['Dots', 'Notes']))).toBe(
      "SELECT EVENT_OBJECT_TABLE AS t, TRIGGER_NAME AS name, ACTION_TIMING AS timing, EVENT_MANIPULATION AS event, ACTION_ORDER AS ord,\n             MD5(ACTION_STATEMENT) AS body, DATE_FORMAT(CREATED, '%Y-%m-%d %H:%i:%s.%f') AS created\n      FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = 'users1' AND EVENT_OBJECT_TABLE IN ('Dots', 'Notes')\n      ORDER BY EVENT_OBJECT_TABLE, TRIGGER_NAME",
    );
    // Moves that do not rely on fw-shard's triggers leave them out (the underscores escaped for LIKE).
    expect(toText(fingerprintTriggersSql('users1', ['Dots'], false))).toContain(
      "EVENT_OBJECT_TABLE IN ('Dots') AND TRIGGER_NAME NOT LIKE 'fw\\\\_shard\\\\_%'\n",
    );
    const storage = toText(fingerprintStorageSql('my_db', ['Dots', 'a-b'], false));
    expect(storage).toContain("CONCAT(CAST(CONVERT('my_db' USING filename) AS BINARY), '/', CAST(CONVERT(n.t USING filename) AS BINARY))");
    expect(storage).toContain("FROM (SELECT 'Dots' AS t UNION ALL SELECT 'a-b' AS t) n");
    expect(storage).toContain('JOIN information_schema.INNODB_SYS_TABLES s ON s.NAME = w.base OR LEFT(s.NAME, LENGTH(w.base) + 3) IN');
    expect(storage).not.toContain('LIKE');
    expect(toText(fingerprintStorageSql('users1', ['Dots'], true))).toContain('information_schema.INNODB_TABLES');
    // Both sides of every join carry the schema: information_schema reads every table of the server otherwise.
    expect(toText(ownerTablesSql('users1', 'user_id'))).toContain(
      "WHERE c.TABLE_SCHEMA = 'users1' AND b.TABLE_SCHEMA = 'users1' AND c.COLUMN_NAME = 'user_id'",
    );
    const keys = toText(fingerprintKeysSql('users1', ['Dots']));
    expect(keys).not.toMatch(/\bJOIN\b/);
    expect(keys).toContain("FROM information_schema.REFERENTIAL_CONSTRAINTS WHERE CONSTRAINT_SCHEMA = 'users1' AND TABLE_NAME IN ('Dots')");
  });
});

/**
 * The pure parts of a move: key choice and table plans, table selection, chunk sizing, journal key
 * checkpoints, CLI argument parsing, user and shard ids. (The plain renderer's tests are in plain.test.ts.)
 */
import { describe, expect, it } from 'vitest';
import type { TableInfo } from '../../src/db/sql/schema.js';
import { chooseKey, diffTables, indexDifferences, planTable } from '../../src/move/table-plan.js';
import { selectTables } from '../../src/move/table-selection.js';
import { classifyForeignKeys } from '../../src/move/foreign-keys.js';
import { byteBoundedSize, CHUNK_BYTES, MAX_CHUNK, MIN_CHUNK, nextChunkSize } from '../../src/move/chunk-size.js';
import { decodeKey, encodeKey, keyOfRow, showKey } from '../../src/move/keys.js';
import { parseChoice, parseDuration, parsePositiveInt } from '../../src/config/units.js';
import { parseShardId, parseUserId, type Topology } from '../../src/topology/index.js';
import { normalizeConfig } from '../../src/config/load.js';
import { FwShardError } from '../../src/errors/index.js';
import type { TableSelection } from '../../src/topology/index.js';
import { col, fwError, key, table } from '../helpers/schema-fixtures.js';
import { continuedRequest, journaledMode, journalOptionsAfter, modeChanges } from '../../src/move/mode.js';
import { alreadyFlippedHint, failedMoveHint, unfinishedMoveHint } from '../../src/move/hints.js';
import { HashSum } from '../../src/move/inspector.js';
import type { ShardId, UserId } from '../../src/topology/index.js';

const uid = col('user_id', 'int', { type: 'int(10) unsigned' });
const pid = col('id', 'bigint', { type: 'bigint(20) unsigned' });

describe('chooseKey', () => {
  it('takes PRIMARY first, even when a unique key starts with the owner column', () => {
    const t = table('Photos', [pid, uid, col('tag', 'varchar')], [key('by_user', ['user_id', 'tag']), key('PRIMARY', ['id'])]);
    expect(chooseKey(t, 'user_id')?.name).toBe('PRIMARY');
  });

  it('without PRIMARY, prefers a NOT NULL unique key starting with the owner column, then the shortest', () => {
    const t = table(
      'Faves',
      [uid, col('tag', 'varchar'), col('photo_id', 'bigint'), col('slug', 'varchar')],
      [key('by_slug', ['slug']), key('z_by_user', ['user_id', 'tag', 'photo_id']), key('a_by_photo', ['photo_id', 'user_id'])],
    );
    expect(chooseKey(t, 'user_id')?.name).toBe('z_by_user');
    const noOwnerFirst = table('Faves', [uid, col('slug', 'varchar'), col('photo_id', 'bigint')], [key('b', ['photo_id', 'user_id']), key('a', ['slug'])]);
    expect(chooseKey(noOwnerFirst, 'user_id')?.name).toBe('a');
  });

  it('rejects non-unique, nullable, prefix, float, enum and generated keys: the table is keyless', () => {
    const cases: [string, TableInfo][] = [
      ['non-unique', table('T', [uid, col('a', 'int')], [key('k', ['user_id', 'a'], false)])],
      ['nullable', table('T', [uid, col('email', 'varchar', { nullable: true })], [key('k', ['email'])])],
      ['prefix', table('T', [uid, col('title', 'varchar')], [key('k', ['user_id', 'title'], true, true)])],
      ['float', table('T', [uid, col('score', 'float')], [key('PRIMARY', ['score'])])],
      ['double', table('T', [uid, col('score', 'double')], [key('PRIMARY', ['user_id', 'score'])])],
      ['enum', table('T', [uid, col('kind', 'enum')], [key('k', ['user_id', 'kind'])])],
      ['text', table('T', [uid, col('body', 'text')], [key('k', ['body'])])],
      ['generated', table('T', [uid, col('g', 'int', { generated: true })], [key('k', ['user_id', 'g'])])],
      ['unknown column', table('T', [uid], [key('k', ['nope'])])],
      ['no keys', table('T', [uid])],
    ];
    for (const [what, t] of cases) expect(chooseKey(t, 'user_id'), what).toBeNull();
  });

  it('falls back past a rejected PRIMARY to a usable unique key', () => {
    const t = table('T', [uid, col('score', 'float'), col('n', 'int')], [key('PRIMARY', ['score']), key('by_user', ['user_id', 'n'])]);
    expect(chooseKey(t, 'user_id')?.name).toBe('by_user');
  });

  it('accepts every comparable type', () => {
    for (const dt of [
      'tinyint',
      'smallint',
      'mediumint',
      'int',
      'bigint',
      'decimal',
      'char',
      'varchar',
      'binary',
      'varbinary',
      'date',
      'datetime',
      'timestamp',
      'time',
      'year',
    ]) {
      expect(chooseKey(table('T', [uid, col('k', dt)], [key('PRIMARY', ['k'])]), 'user_id')?.name, dt).toBe('PRIMARY');
    }
  });
});

describe('planTable', () => {
  it('plans a well-keyed table without warnings; generated columns are not copied', () => {
    const gen = col('title_len', 'int', { generated: true, nullable: true });
    const t = table('Photos', [pid, uid, col('title', 'varchar'), gen], [key('PRIMARY', ['id']), key('by_user', ['user_id'], false)]);
    const p = planTable(t, 'user_id');
    expect(p.name).toBe('Photos');
    expect(p.columns.map((c) => c.name)).toEqual(['id', 'user_id', 'title']);
    expect(p.owner.name).toBe('user_id');
    expect(p.key?.map((c) => c.name)).toEqual(['id']);
    expect(p.key?.[0]?.dataType).toBe('bigint');
    expect(p.keyName).toBe('PRIMARY');
    expect(p.ownerIndexed).toBe(true);
    expect(p.autoIncrementColumn).toBeNull();
    expect(p.collisionKeys.map((k) => k.name)).toEqual(['PRIMARY']);
    expect(p.warnings).toEqual([]);
  });

  it('warns about a missing owner index, a keyless table and AUTO_INCREMENT', () => {
    const t = table('Log', [col('seq', 'int', { autoIncrement: true }), uid, col('msg', 'text', { nullable: true })], [key('seq', ['seq'], false)]);
    const p = planTable(t, 'user_id');
    expect(p.key).toBeNull();
    expect(p.keyName).toBeNull();
    expect(p.ownerIndexed).toBe(false);
    expect(p.autoIncrementColumn).toBe('seq');
    expect(p.warnings).toEqual([
      "no index starts with user_id: every chunk scans the table's key range (correct, but slower on a big shard)",
      "no primary or NOT NULL unique key: the user's rows are copied and verified as one unit",
      'column seq is AUTO_INCREMENT: its values are per-shard, not ticketed, and may collide on the target',
    ]);
  });

  it('ownerIndex: (owner) with the primary key as chunking key, or (owner, key...), never a prefix index', () => {
    const byUser = key('by_user', ['user_id'], false);
    expect(planTable(table('T', [pid, uid], [key('PRIMARY', ['id']), byUser]), 'user_id').ownerIndex).toBe('by_user');
    expect(planTable(table('T', [pid, uid], [key('PRIMARY', ['id']), key('uid_id', ['user_id', 'id'], false)]), 'user_id').ownerIndex).toBe('uid_id');
    // (owner, created): a range on id is not a prefix of it
    expect(
      planTable(table('T', [pid, uid, col('created', 'int')], [key('PRIMARY', ['id']), key('k', ['user_id', 'created'], false)]), 'user_id').ownerIndex,
    ).toBeNull();
    // the chunking key is a unique key, not the primary key: (owner) ends with the primary key, not with it
    const bySlug = planTable(table('T', [col('slug', 'varchar'), uid], [key('by_slug', ['slug']), byUser]), 'user_id');
    expect(bySlug.keyName).toBe('by_slug');
    expect(bySlug.ownerIndex).toBeNull();
    // the chunking key starts with the owner: its own range serves
    expect(planTable(table('T', [pid, uid], [key('PRIMARY', ['user_id', 'id']), byUser]), 'user_id').ownerIndex).toBeNull();
  });

  it('an owner index only counts when the owner column comes first', () => {
    const t = table('T', [pid, uid], [key('PRIMARY', ['id']), key('k', ['id', 'user_id'], false)]);
    expect(planTable(t, 'user_id').ownerIndexed).toBe(false);
  });

  it('collisionKeys are the unique keys without the owner column', () => {
    const t = table(
      'Photos',
      [pid, uid, col('slug', 'varchar'), col('tag', 'varchar'), col('x', 'int')],
      [key('PRIMARY', ['id']), key('by_user_tag', ['user_id', 'tag']), key('slug', ['slug']), key('x', ['x'], false), key('tag_user', ['tag', 'user_id'])],
    );
    expect(planTable(t, 'user_id').collisionKeys.map((k) => k.name)).toEqual(['PRIMARY', 'slug']);
  });

  it('uses the owner column given (per-table override) and refuses a table without it', () => {
    const t = table('Follows', [col('follower_id', 'int'), col('followee_id', 'int')], [key('PRIMARY', ['follower_id', 'followee_id'])]);
    expect(planTable(t, 'follower_id').owner.name).toBe('follower_id');
    expect(planTable(t, 'follower_id').collisionKeys).toEqual([]);
    expect(() => planTable(t, 'user_id')).toThrow('table Follows has no owner column user_id');
  });
});

describe('diffTables', () => {
  const title = col('title', 'varchar', { type: 'varchar(255)', charset: 'utf8mb4', collation: 'utf8mb4_general_ci' });
  const base = table('Photos', [pid, uid, title], [key('PRIMARY', ['id']), key('by_user', ['user_id'], false)]);

  it('identical tables differ in nothing', () => {
    expect(diffTables(base, structuredClone(base))).toEqual([]);
  });

  it('names missing, extra and different columns', () => {
    const target = table(
      'Photos',
      [
        pid,
        col('user_id', 'int', { type: 'int(10) unsigned', nullable: true }),
        col('title', 'varchar', { type: 'varchar(100)', charset: 'latin1', collation: 'latin1_swedish_ci' }),
        col('extra', 'int', { type: 'int(11)' }),
      ],
      base.keys,
    );
    const source = table('Photos', [...base.columns, col('gone', 'date', { type: 'date' })], base.keys);
    expect(diffTables(source, target)).toEqual([
      'column user_id: source int(10) unsigned NOT NULL, target int(10) unsigned NULL',
      'column title: source varchar(255) NOT NULL utf8mb4/utf8mb4_general_ci, target varchar(100) NOT NULL latin1/latin1_swedish_ci',
      'column gone (date) is missing on the target',
      'column extra (int(11)) exists only on the target',
    ]);
  });

  it('names a generated column that is stored on one side only', () => {
    const target = table('Photos', [pid, uid, { ...title, generated: true }], base.keys);
    expect(diffTables(base, target)).toEqual([
      'column title: source varchar(255) NOT NULL utf8mb4/utf8mb4_general_ci, target varchar(255) NOT NULL utf8mb4/utf8mb4_general_ci generated',
    ]);
  });

  it('ignores column order: a shard upgraded by ALTERs copies by column name', () => {
    const target = table('Photos', [uid, title, pid], base.keys);
    expect(diffTables(base, target)).toEqual([]);
    expect(indexDifferences(base, target)).toEqual([]);
  });

  it('compares defaults too', () => {
    const target = table('Photos', [pid, uid, { ...title, defaultValue: "'untitled'" }], base.keys);
    expect(diffTables(base, target)).toEqual([
      "column title: source varchar(255) NOT NULL utf8mb4/utf8mb4_general_ci, target varchar(255) NOT NULL utf8mb4/utf8mb4_general_ci DEFAULT 'untitled'",
    ]);
  });

  it('refuses only a stricter target: a unique key no unique key of the source implies', () => {
    const stricter = table('Photos', base.columns, [key('PRIMARY', ['id']), key('by_user', ['user_id'], false), key('by_title', ['title'], true)]);
    expect(diffTables(base, stricter)).toEqual([
      'key UNIQUE by_title(title) exists only on the target: rows valid on the source could be refused there (no unique key of the source covers it)',
    ]);
    expect(indexDifferences(base, stricter)).toEqual([]);
    // a unique key that contains the source's primary key refuses nothing the source accepts
    const implied = table('Photos', base.columns, [key('PRIMARY', ['id', 'user_id']), key('by_user', ['user_id'], false)]);
    expect(diffTables(base, implied)).toEqual([]);
    expect(indexDifferences(base, implied)).toEqual([
      'key UNIQUE PRIMARY(id) is missing on the target',
      'key UNIQUE PRIMARY(id,user_id) exists only on the target',
    ]);
  });

  it('index-only differences that are not stricter are warnings, whatever the names', () => {
    const target = table('Photos', base.columns, [key('PRIMARY', ['id']), key('by_title', ['title'], false, true)]);
    expect(diffTables(base, target)).toEqual([]);
    expect(indexDifferences(base, target)).toEqual([
      'key by_user(user_id) is missing on the target',
      'key by_title(title) with prefix exists only on the target',
    ]);
    const renamed = table('Photos', base.columns, [key('PRIMARY', ['id']), key('user_idx', ['user_id'], false)]);
    expect(indexDifferences(base, renamed)).toEqual([]);
    const uniq = table('Photos', base.columns, [key('PRIMARY', ['id']), key('by_user', ['user_id'], true)]);
    expect(diffTables(base, uniq)).toEqual([
      'key UNIQUE by_user(user_id) exists only on the target: rows valid on the source could be refused there (no unique key of the source covers it)',
    ]);
  });
});

describe('selectTables', () => {
  const sel = (over: Partial<TableSelection> = {}): TableSelection => ({ ownerColumn: 'user_id', exclude: [], owners: {}, keylessRowCap: 100_000, ...over });
  const map = (...ts: TableInfo[]) => new Map(ts.map((t) => [t.name, t]));
  const photos = table('Photos', [pid, uid]);
  const faves = table('Faves', [uid, col('tag', 'varchar')]);
  const lookup = table('Lookup', [col('slug', 'varchar'), pid]);
  const follows = table('Follows', [col('follower_id', 'int'), col('followee_id', 'int')]);
  const users = table('users', [pid, uid, col('cluster_id', 'tinyint')]);
  const journal = ['fw_shard_moves', 'fw_shard_move_tables', 'fw_shard_move_chunks', 'fw_shard_move_passes', 'fw_shard_move_runs'].map((n) =>
    table(n, [pid, uid]),
  );

  it('selects tables with the owner column, sorted by name; others are not sharded', () => {
    const all = map(photos, faves, lookup);
    expect(selectTables(all, all, sel(), { sourceIsMain: false, mappingTable: null })).toMatchObject({
      selected: [
        { name: 'Faves', owner: 'user_id' },
        { name: 'Photos', owner: 'user_id' },
      ],
      skipped: [],
      missingOnTarget: [],
    });
  });

  it('honours a different owner column and per-table overrides', () => {
    const all = map(photos, follows, table('Notes', [col('owner_id', 'int')]));
    const r = selectTables(all, all, sel({ ownerColumn: 'owner_id', owners: { Follows: 'follower_id' } }), { sourceIsMain: false, mappingTable: null });
    expect(r.selected).toEqual([
      { name: 'Follows', owner: 'follower_id' },
      { name: 'Notes', owner: 'owner_id' },
    ]);
  });

  it('applies include and exclude, and names included tables missing on the source', () => {
    const all = map(photos, faves, table('Tags', [uid]));
    expect(selectTables(all, all, sel({ include: ['Photos', 'Tags', 'Ghost'] }), { sourceIsMain: false, mappingTable: null })).toMatchObject({
      selected: [
        { name: 'Photos', owner: 'user_id' },
        { name: 'Tags', owner: 'user_id' },
      ],
      skipped: [
        { name: 'Faves', reason: 'not in tables.include' },
        { name: 'Ghost', reason: 'in tables.include but not on the source shard' },
      ],
      missingOnTarget: [],
    });
    expect(selectTables(all, all, sel({ exclude: ['Faves'] }), { sourceIsMain: false, mappingTable: null })).toMatchObject({
      selected: [
        { name: 'Photos', owner: 'user_id' },
        { name: 'Tags', owner: 'user_id' },
      ],
      skipped: [{ name: 'Faves', reason: 'in tables.exclude' }],
      missingOnTarget: [],
    });
  });

  it('never selects the mapping table or the fw_shard_* journal, even when included', () => {
    const all = map(photos, users, ...journal);
    const r = selectTables(all, all, sel({ include: ['Photos', 'users', 'fw_shard_moves'] }), { sourceIsMain: true, mappingTable: 'users' });
    expect(r.selected).toEqual([{ name: 'Photos', owner: 'user_id' }]);
    expect(r.missingOnTarget).toEqual([]);
    // without a mapping table (two real shards) a table called users is an ordinary table
    expect(selectTables(map(users), map(users), sel(), { sourceIsMain: false, mappingTable: null }).selected).toEqual([{ name: 'users', owner: 'user_id' }]);
  });

  it("poor man's source (db_main) without tables.include: undeclared, best guess skips what the target lacks", () => {
    const source = map(photos, faves, table('users_password_reset', [uid, col('code', 'varchar')]), users);
    const target = map(photos, faves);
    expect(selectTables(source, target, sel(), { sourceIsMain: true, mappingTable: 'users' })).toEqual({
      selected: [
        { name: 'Faves', owner: 'user_id' },
        { name: 'Photos', owner: 'user_id' },
      ],
      pathProblems: [],
      skipped: [{ name: 'users_password_reset', reason: "db_main's own table (not on the target shard)" }],
      missingOnTarget: [],
      undeclared: ['Faves', 'Photos', 'users_password_reset'],
      unowned: [],
    });
  });

  it('on a real shard a table missing on the target is reported as missingOnTarget', () => {
    const source = map(photos, faves);
    const target = map(photos);
    expect(selectTables(source, target, sel(), { sourceIsMain: false, mappingTable: null })).toMatchObject({
      selected: [{ name: 'Photos', owner: 'user_id' }],
      skipped: [],
      missingOnTarget: ['Faves'],
    });
  });
});

describe('byteBoundedSize', () => {
  it('lowers a row count so rows of the average length fit the byte budget, never below one row', () => {
    expect(byteBoundedSize(10_000, 200)).toBe(10_000);
    expect(byteBoundedSize(10_000, 1024 * 1024)).toBe(Math.floor(CHUNK_BYTES / (1024 * 1024)));
    expect(byteBoundedSize(1000, 32 * 1024 * 1024)).toBe(1);
    // no average known yet (an empty table's statistics): the row count stands
    expect(byteBoundedSize(1000, 0)).toBe(1000);
    expect(byteBoundedSize(1000, Number.NaN)).toBe(1000);
  });
});

describe('nextChunkSize', () => {
  it('scales toward the target time', () => {
    expect(nextChunkSize(1000, 500, 500, 1000)).toBe(1000);
    expect(nextChunkSize(1000, 400, 500, 1000)).toBe(1250);
    expect(nextChunkSize(1000, 800, 500, 1000)).toBe(625);
  });

  it('never more than doubles or halves at once', () => {
    expect(nextChunkSize(1000, 1, 500, 1000)).toBe(2000);
    expect(nextChunkSize(1000, 0, 500, 1000)).toBe(2000);
    expect(nextChunkSize(1000, 60_000, 500, 1000)).toBe(500);
    expect(nextChunkSize(1001, 60_000, 500, 1001)).toBe(500);
  });

  it(`stays within MIN_CHUNK..MAX_CHUNK (${MIN_CHUNK}..${MAX_CHUNK})`, () => {
    expect(MIN_CHUNK).toBeGreaterThanOrEqual(1);
    expect(MAX_CHUNK).toBeGreaterThan(MIN_CHUNK * 4);
    // halving 150 would give 75: clamped up to the minimum
    expect(nextChunkSize(MIN_CHUNK + 50, 10_000, 500, MIN_CHUNK + 50)).toBe(MIN_CHUNK);
    expect(nextChunkSize(MIN_CHUNK, 10_000, 500, MIN_CHUNK)).toBe(MIN_CHUNK);
    // doubling 80% of the maximum would overshoot: clamped down to the maximum
    const near = Math.floor(MAX_CHUNK * 0.8);
    expect(nextChunkSize(near, 1, 500, near)).toBe(MAX_CHUNK);
    expect(nextChunkSize(MAX_CHUNK, 1, 500, MAX_CHUNK)).toBe(MAX_CHUNK);
    for (let cur = MIN_CHUNK; cur <= MAX_CHUNK; cur += 997) {
      for (const ms of [0, 1, 10, 250, 500, 1000, 5000, 100_000]) {
        const n = nextChunkSize(cur, ms, 500, cur);
        expect(n).toBeGreaterThanOrEqual(Math.max(MIN_CHUNK, Math.floor(cur / 2)));
        expect(n).toBeLessThanOrEqual(Math.min(MAX_CHUNK, cur * 2));
      }
    }
  });

  it('a short final chunk keeps the size', () => {
    expect(nextChunkSize(1000, 1, 500, 999)).toBe(1000);
    expect(nextChunkSize(1000, 60_000, 500, 3)).toBe(1000);
    expect(nextChunkSize(1000, 0, 500, 0)).toBe(1000);
  });
});

describe("HashSum: a chunk's range hash from its rows' terms, as the server sums them", () => {
  const dec = (n: bigint) => Buffer.from(n.toString(), 'latin1');
  it('sums every term exactly, short or 20 digits long, past 2^53 and past a fold every 2^18 rows', () => {
    const s = new HashSum();
    let want = 0n;
    let seed = 12345n;
    for (let i = 0; i < (1 << 18) * 2 + 777; i++) {
      seed = (seed * 6364136223846793005n + 1442695040888963407n) % 2n ** 64n;
      const term = i % 5 === 0 ? 2n ** 64n - 1n : i % 7 === 0 ? seed % 1000n : seed;
      s.add(dec(term));
      want += term;
    }
    expect(want).toBeGreaterThan(2n ** 80n);
    expect(s.total()).toEqual({ count: String((1 << 18) * 2 + 777), hash: want.toString() });
    expect(new HashSum().total()).toEqual({ count: '0', hash: '0' });
  });
  it('no total when the server could not hash a row (the target is asked instead); not a 64-bit number: an error', () => {
    const s = new HashSum();
    s.add(dec(1n));
    s.add(null);
    expect(s.total()).toBeUndefined();
    expect(() => new HashSum().add(Buffer.from('12a4'))).toThrow(/not a 64-bit number/);
    expect(() => new HashSum().add(Buffer.from('123456789012345678901'))).toThrow(/not a 64-bit number/);
  });
});

describe('key checkpoints', () => {
  it('round-trips arbitrary bytes, 64-bit ids included', () => {
    const tuples: Buffer[][] = [
      [Buffer.from('18446744073709551615')],
      [Buffer.from('9007199254740993'), Buffer.from('42')],
      [Buffer.from(Array.from({ length: 256 }, (_, i) => i)), Buffer.alloc(0), Buffer.from('é😀', 'utf8')],
    ];
    for (const t of tuples) {
      const s = encodeKey(t);
      expect(typeof s).toBe('string');
      const back = decodeKey(s)!;
      expect(back.map((x) => x.toString('hex'))).toEqual(t.map((x) => x.toString('hex')));
    }
    expect(encodeKey([Buffer.from('9007199254740993')])).toBe('["OTAwNzE5OTI1NDc0MDk5Mw=="]');
  });

  it('null and empty checkpoints mean "from the start"', () => {
    expect(encodeKey(null)).toBeNull();
    expect(decodeKey(null)).toBeNull();
    expect(decodeKey(undefined)).toBeNull();
    expect(decodeKey('')).toBeNull();
  });

  it('rejects a corrupt checkpoint', () => {
    for (const bad of ['{"a":1}', '[1,2]', '"abc"', '42', 'null', '["a", null]']) {
      expect(() => decodeKey(bad), bad).toThrow(`corrupt key checkpoint in the journal: ${bad}`);
    }
    expect(() => decodeKey('["abc"')).toThrow();
    expect(() => decodeKey('not json')).toThrow();
  });

  it('keyOfRow picks the key columns and refuses NULL', () => {
    const row = [Buffer.from('a'), null, Buffer.from('7')];
    expect(keyOfRow(row, [2, 0]).map(String)).toEqual(['7', 'a']);
    expect(() => keyOfRow(row, [1])).toThrow('NULL in a chunking key column');
  });

  it('showKey prints printable keys as text and others as hex', () => {
    expect(showKey(['id'], [Buffer.from('9007199254740993')])).toBe('id=9007199254740993');
    expect(showKey(['photo_id', 'user_id'], [Buffer.from('5'), Buffer.from('7')])).toBe('(photo_id, user_id)=(5, 7)');
    expect(showKey(['tag'], [Buffer.from([0xe9, 0x00])])).toBe('tag=0xe900');
    expect(showKey(['tag'], [Buffer.from('a\nb')])).toBe('tag=0x610a62');
    expect(showKey(['id'], null)).toBe('(all)');
  });
});

describe('cli/parse.ts', () => {
  it('parses durations', () => {
    expect(parseDuration('500ms', '--chunk-time')).toBe(500);
    expect(parseDuration('2s', '--chunk-time')).toBe(2000);
    expect(parseDuration('1.5s', '--chunk-time')).toBe(1500);
    expect(parseDuration('15m', '--older-than')).toBe(900_000);
    expect(parseDuration('1h', '--older-than')).toBe(3_600_000);
    expect(parseDuration('1d', '--older-than')).toBe(86_400_000);
    expect(parseDuration('250', '--chunk-time')).toBe(250);
    expect(parseDuration(' 2 s ', '--chunk-time')).toBe(2000);
  });

  it('rejects anything else, naming the flag and the value', () => {
    for (const bad of ['', 'fast', '-1s', '2w', '1e3', '1,5s', 's', '2 seconds']) {
      const e = fwError(() => parseDuration(bad, '--chunk-time'));
      expect(e.code).toBe('USAGE');
      expect(e.exitCode).toBe(2);
      expect(e.message).toBe(`--chunk-time must be a duration like 500ms, 2s, 15m or 1h, got '${bad}'`);
    }
  });

  it('parses positive integers within bounds', () => {
    expect(parsePositiveInt('1', '--concurrency', 64)).toBe(1);
    expect(parsePositiveInt(' 64 ', '--concurrency', 64)).toBe(64);
    expect(parsePositiveInt('007', '--chunk-size')).toBe(7);
    expect(parsePositiveInt('1000000', '--chunk-size')).toBe(1_000_000);
    expect(fwError(() => parsePositiveInt('0', '--concurrency', 64)).message).toBe('--concurrency must be between 1 and 64, got 0');
    expect(fwError(() => parsePositiveInt('65', '--concurrency', 64)).message).toBe('--concurrency must be between 1 and 64, got 65');
    expect(fwError(() => parsePositiveInt('1000001', '--chunk-size')).message).toBe('--chunk-size must be between 1 and 1000000, got 1000001');
    for (const bad of ['-1', '1.5', 'ten', '', '1e3', '0x10']) {
      const e = fwError(() => parsePositiveInt(bad, '--chunk-size'));
      expect(e.exitCode).toBe(2);
      expect(e.message).toBe(`--chunk-size must be a whole number, got '${bad}'`);
    }
  });

  it('parses choices', () => {
    expect(parseChoice('defer', '--cleanup', ['now', 'defer', 'keep'] as const)).toBe('defer');
    const e = fwError(() => parseChoice('later', '--cleanup', ['now', 'defer', 'keep'] as const));
    expect(e.code).toBe('USAGE');
    expect(e.message).toBe("--cleanup must be one of now, defer, keep, got 'later'");
    expect(() => parseChoice('NOW', '--cleanup', ['now'] as const)).toThrow(FwShardError);
  });
});

describe('user and shard ids', () => {
  const topology: Topology = normalizeConfig(
    {
      defaults: { host: '127.0.0.1', user: 'root' },
      main: { database: 'main' },
      shards: { '10': { database: 's10' }, '2': { database: 's2' }, '1': { database: 's1' } },
    },
    { env: {}, baseDir: '/', origin: 'test' },
  ).topology;

  it('accepts user ids from 1 to 2^64-1 as canonical decimal strings', () => {
    expect(parseUserId('1')).toBe('1');
    expect(parseUserId('256')).toBe('256');
    expect(parseUserId(' 42 ')).toBe('42');
    expect(parseUserId('0042')).toBe('42');
    expect(parseUserId('9007199254740993')).toBe('9007199254740993');
    expect(parseUserId('18446744073709551615')).toBe('18446744073709551615');
  });

  it('rejects 0, negatives, non-numbers and ids above 2^64-1', () => {
    expect(fwError(() => parseUserId('0')).message).toBe('--user 0 is out of range (1 to 18446744073709551615)');
    expect(fwError(() => parseUserId('18446744073709551616')).message).toBe('--user 18446744073709551616 is out of range (1 to 18446744073709551615)');
    expect(fwError(() => parseUserId('99999999999999999999999')).exitCode).toBe(2);
    for (const bad of ['-5', 'abc', '', '4 2', '1e3', '0x2a', '+42', '42.0']) {
      const e = fwError(() => parseUserId(bad));
      expect(e.code, bad).toBe('USAGE');
      expect(e.exitCode).toBe(2);
      expect(e.message).toBe(`--user must be a user id (digits only), got '${bad}'`);
    }
  });

  it('accepts known shard ids', () => {
    expect(parseShardId('2', topology, '--to')).toBe(2);
    expect(parseShardId(' 10 ', topology, '--to')).toBe(10);
    expect(parseShardId('255', undefined, '--to')).toBe(255);
  });

  it('rejects 0, 256, negatives and non-numbers with exit code 2', () => {
    for (const t of ['0', '256']) {
      const e = fwError(() => parseShardId(t, topology, '--to'));
      expect(e.code).toBe('UNKNOWN_SHARD');
      expect(e.exitCode).toBe(2);
      expect(e.message).toBe(`--to ${t} is out of range: shard ids run from 1 to 255`);
    }
    for (const t of ['-1', 'x', '', '1.5']) {
      const e = fwError(() => parseShardId(t, topology, '--from'));
      expect(e.code).toBe('USAGE');
      expect(e.exitCode).toBe(2);
      expect(e.message).toBe(`--from must be a shard id (a whole number from 1 to 255), got '${t}'`);
    }
  });

  it('an unknown shard lists the known ones, in numeric order', () => {
    const e = fwError(() => parseShardId('9', topology, '--to'));
    expect(e.code).toBe('UNKNOWN_SHARD');
    expect(e.exitCode).toBe(2);
    expect(e.message).toBe('--to 9: no such shard in the topology (known: 1, 2, 10)');
    expect(e.hint).toMatch(/config show/);
  });
});

describe('classifyForeignKeys', () => {
  const fk = (table: string, refTable: string, over: { schema?: string; refSchema?: string; name?: string } = {}) => ({
    name: over.name ?? `${table}_${refTable}`,
    schema: over.schema ?? 'users1',
    table,
    columns: ['ref_id'],
    refSchema: over.refSchema ?? 'users1',
    refTable,
    refColumns: ['id'],
    onUpdate: 'RESTRICT',
    onDelete: 'CASCADE',
  });
  const fks = [
    fk('Items', 'Albums'),
    fk('Photos', 'Venues'),
    fk('Notes', 'Photos'),
    fk('Venues', 'Cities'),
    fk('fw_shard_changes', 'Photos'),
    fk('Photos', 'Places', { refSchema: 'shared' }),
    fk('Audit', 'Photos', { schema: 'audit' }),
  ];
  const moved = new Set(['Items', 'Albums', 'Photos']);
  const rows = (side: 'source' | 'target') =>
    classifyForeignKeys(fks, { shard: side === 'source' ? 1 : 2, side, database: 'users1', moved }).map((f) => [f.table, f.references, f.kind, f.dangles]);

  it('lists keys that touch a moved table; only those whose references would dangle after the move refuse', () => {
    expect(rows('source')).toEqual([
      ['Items', 'Albums', 'within', false],
      ['Photos', 'Venues', 'to-unmoved', false],
      ['Notes', 'Photos', 'from-unmoved', true],
      ['Photos', 'shared.Places', 'to-unmoved', false],
      ['audit.Audit', 'Photos', 'from-unmoved', true],
    ]);
    expect(rows('target')).toEqual([
      ['Items', 'Albums', 'within', false],
      ['Photos', 'Venues', 'to-unmoved', true],
      ['Notes', 'Photos', 'from-unmoved', false],
      ['Photos', 'shared.Places', 'to-unmoved', true],
      ['audit.Audit', 'Photos', 'from-unmoved', false],
    ]);
  });
});

describe('a continued move keeps its journaled mode (src/move/mode.ts)', () => {
  const offline = { options: '{"chunkTimeMs":500,"chunkSize":null,"concurrency":2,"assumeNoWrites":true,"capture":null}', cleanup_mode: 'defer' };
  const online = { options: '{"chunkTimeMs":500,"chunkSize":null,"concurrency":2,"assumeNoWrites":false,"capture":"rehash"}', cleanup_mode: 'now' };
  const ask = { dryRun: false, chunkTimeMs: 500, concurrency: 2, userId: '1' as UserId, to: 1 as ShardId };
  const resolve = (move: typeof offline, over: object = {}) => continuedRequest(journaledMode(move), { ...ask, ...over }, '42' as UserId, 2 as ShardId);

  it("without flags: the journal's offline or online mode, capture and cleanup", () => {
    expect(resolve(offline)).toMatchObject({ userId: '42', to: 2, assumeNoWrites: true, cleanup: 'defer' });
    expect(resolve(offline).capture).toBeUndefined();
    expect(resolve(online)).toMatchObject({ assumeNoWrites: false, capture: 'rehash', cleanup: 'now' });
    // A journal older than the capture field, or a hand-edited one: online, capture auto, cleanup now.
    // Older than the range hash field too: its records were hashed the 'md5-text' way, and stay so.
    const older = { assumeNoWrites: false, capture: undefined, cleanup: 'now', rowHash: 'md5-text' };
    expect(journaledMode({ options: '{"assumeNoWrites":false}', cleanup_mode: 'now' })).toEqual(older);
    expect(journaledMode({ options: 'not json', cleanup_mode: 'bogus' })).toEqual(older);
    expect(journaledMode({ options: '{"rowHash":"crc-mul"}', cleanup_mode: 'now' }).rowHash).toBe('crc-mul');
    // The release before 'crc-mul' journaled 'crc64': its moves resume with their own records.
    expect(journaledMode({ options: '{"rowHash":"crc64"}', cleanup_mode: 'now' }).rowHash).toBe('crc64');
    expect(journaledMode({ options: '{"rowHash":"sha3"}', cleanup_mode: 'now' }).rowHash).toBe('md5-text');
  });

  it('explicit flags override, and each change is worded for a warning', () => {
    expect(resolve(offline, { assumeNoWrites: false })).toMatchObject({ assumeNoWrites: false, cleanup: 'defer' });
    expect(resolve(online, { assumeNoWrites: true }).capture).toBeUndefined();
    expect(resolve(online, { capture: 'trigger', cleanup: 'keep' })).toMatchObject({ capture: 'trigger', cleanup: 'keep' });
    const j = journaledMode(online);
    expect(modeChanges(j, { assumeNoWrites: false, capture: 'rehash', cleanup: 'now' })).toEqual([]);
    expect(modeChanges(j, { assumeNoWrites: true, capture: undefined, cleanup: 'keep' })).toEqual([
      "the move was journaled online and continues offline (--assume-no-writes), as asked: the user's writes must stay stopped until it is done",
      'the move was journaled with --cleanup now and continues with --cleanup keep, as asked',
    ]);
    expect(modeChanges(j, { assumeNoWrites: false, capture: 'trigger', cleanup: 'now' })).toEqual([
      'the move was journaled with --capture rehash and continues with --capture trigger, as asked',
    ]);
    expect(JSON.parse(journalOptionsAfter(online.options, { assumeNoWrites: true, capture: undefined }))).toEqual({
      chunkTimeMs: 500,
      chunkSize: null,
      concurrency: 2,
      assumeNoWrites: true,
      capture: null,
    });
    expect(journalOptionsAfter(online.options, { assumeNoWrites: false, capture: 'rehash' })).toBe(online.options);
  });
});

describe('next steps never name a command the state refuses (src/move/hints.ts)', () => {
  it('past the flip, no hint suggests abort', () => {
    expect(failedMoveHint('7', true)).not.toMatch(/fw-shard abort/);
    expect(failedMoveHint('7', false)).toMatch(/fw-shard abort 7/);
    for (const phase of ['flipped', 'cleanup-pending', 'cleanup', 'a-phase-from-the-future']) {
      expect(unfinishedMoveHint({ id: '7', phase, user_id: '42' }, 3)).toBe(
        'Move 7 is past its flip (the user lives on its target now): finish it with fw-shard resume 7 --cleanup now, then fw-shard move --user 42 --to 3.',
      );
    }
    expect(unfinishedMoveHint({ id: '7', phase: 'delta', user_id: '42' }, 3)).toMatch(/fw-shard abort 7/);
    expect(alreadyFlippedHint('7', '42', 1)).not.toMatch(/fw-shard abort/);
  });
});

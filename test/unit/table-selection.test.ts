/**
 * src/move/table-selection.ts against schemas shaped like real Flamework apps': graduation off db_main
 * moves only declared sharded tables; db_main's own tables (lookups, password resets, shared tables)
 * never move; undeclared moves refuse; tables without an owner column and db_main tables on a shard are
 * named.
 */
import { describe, expect, it } from 'vitest';
import type { TableInfo } from '../../src/db/sql/schema.js';
import type { TableSelection } from '../../src/topology/index.js';
import { mainTablesOnShard, selectTables, selectionWarnings, undeclaredTablesError } from '../../src/move/table-selection.js';
import { ExitCode } from '../../src/errors/index.js';
import { idColumnOf, ticketedColumn, ticketOverlapMessage } from '../../src/status/ticketed.js';
import { col, key, table } from '../helpers/schema-fixtures.js';

const uid = col('user_id', 'int', { type: 'int(11) unsigned' });
const id64 = col('id', 'bigint', { type: 'bigint(20) unsigned' });
const sel = (over: Partial<TableSelection> = {}): TableSelection => ({ ownerColumn: 'user_id', exclude: [], owners: {}, keylessRowCap: 100_000, ...over });
const map = (...ts: TableInfo[]) => new Map(ts.map((t) => [t.name, t]));

// A Dotspotting-like app: sharded Dots and Sheets; db_main holds Users (capital U), lookups and search.
const dots = table('Dots', [id64, col('sheet_id', 'int'), uid], [key('PRIMARY', ['id']), key('by_user', ['user_id'], false)]);
const sheets = table('Sheets', [id64, uid], [key('PRIMARY', ['id'])]);
const Users = table('Users', [col('user_id', 'int'), col('cluster_id', 'tinyint')], [key('PRIMARY', ['user_id'])]);
const dotsLookup = table('DotsLookup', [col('dot_id', 'bigint'), uid, col('sheet_id', 'int')]);
const sheetsLookup = table('SheetsLookup', [col('sheet_id', 'bigint'), uid]);
const dotsSearch = table('DotsSearch', [col('dot_id', 'bigint'), uid, col('geohash', 'varchar')]);
const reset = table('UsersPasswordReset', [uid, col('reset_code', 'char')]);
const tickets = table('Tickets64', [id64, col('stub', 'char')]);
const venues = table('Venues', [id64, col('name', 'varchar')]);

// Everything loaded into db_main (poor man's), and a new shard built from every schema file.
const dbMain = map(dots, sheets, Users, dotsLookup, sheetsLookup, dotsSearch, reset, tickets);
const fullShard = map(dots, sheets, Users, dotsLookup, sheetsLookup, dotsSearch, reset, tickets);
const cleanShard = map(dots, sheets);

describe('selectTables: off db_main (graduation)', () => {
  it('without tables.include refuses: every table with user_id on db_main is a candidate, even when the new shard has them all', () => {
    const r = selectTables(dbMain, fullShard, sel(), { sourceIsMain: true, mappingTable: 'Users' });
    expect(r.undeclared).toEqual(['Dots', 'DotsLookup', 'DotsSearch', 'Sheets', 'SheetsLookup', 'UsersPasswordReset']);
    const err = undeclaredTablesError('from', 1, r.undeclared!);
    expect(err.code).toBe('TABLES_UNDECLARED');
    expect(err.exitCode).toBe(ExitCode.refused);
    expect(err.message).toContain('Dots, DotsLookup, DotsSearch, Sheets, SheetsLookup, UsersPasswordReset');
    expect(err.hint).toMatch(/--schema schema\/db_users\.schema/);
    expect(err.hint).toMatch(/tables: \{ include:/);
  });

  it('with tables.include moves only the declared tables, whatever else both sides hold', () => {
    const r = selectTables(dbMain, fullShard, sel({ include: ['Dots', 'Sheets'] }), { sourceIsMain: true, mappingTable: 'Users' });
    expect(r.undeclared).toBeNull();
    expect(r.selected.map((t) => t.name)).toEqual(['Dots', 'Sheets']);
    expect(r.skipped.map((t) => t.name).sort()).toEqual(['DotsLookup', 'DotsSearch', 'SheetsLookup', 'UsersPasswordReset']);
    expect(r.missingOnTarget).toEqual([]);
    expect(r.unowned).toEqual([]); // db_main's tables without user_id are no news
  });

  it("a declared table missing on the new shard is drift, not silently db_main's", () => {
    const r = selectTables(dbMain, map(dots), sel({ include: ['Dots', 'Sheets'] }), { sourceIsMain: true, mappingTable: 'Users' });
    expect(r.selected.map((t) => t.name)).toEqual(['Dots']);
    expect(r.missingOnTarget).toEqual(['Sheets']);
  });

  it("moving back onto db_main needs the list too (the copy would clear the user's rows of DotsLookup there)", () => {
    const r = selectTables(fullShard, dbMain, sel(), { sourceIsMain: false, targetIsMain: true, mappingTable: 'Users' });
    expect(r.undeclared).toContain('DotsLookup');
    expect(undeclaredTablesError('to', 1, r.undeclared!).message).toMatch(/moving onto it/);
    const ok = selectTables(fullShard, dbMain, sel({ include: ['Dots', 'Sheets'] }), { sourceIsMain: false, targetIsMain: true, mappingTable: 'Users' });
    expect(ok.selected.map((t) => t.name)).toEqual(['Dots', 'Sheets']);
  });
});

describe('selectTables: between real shards nothing changes', () => {
  it('every table with the owner column moves, without any list', () => {
    const r = selectTables(cleanShard, cleanShard, sel(), { sourceIsMain: false, mappingTable: null });
    expect(r.undeclared).toBeNull();
    expect(r.selected.map((t) => t.name)).toEqual(['Dots', 'Sheets']);
  });

  it('lists tables with no owner column that nothing excludes (owned through another table: they never move)', () => {
    const archive = table('ArchiveRows', [id64, col('account_id', 'int')]);
    const accounts = table('Accounts', [col('account_id', 'int'), uid]);
    const shard = map(dots, archive, accounts, venues);
    const r = selectTables(shard, shard, sel(), { sourceIsMain: false, mappingTable: null });
    expect(r.selected.map((t) => t.name)).toEqual(['Accounts', 'Dots']);
    expect(r.unowned).toEqual(['ArchiveRows', 'Venues']);
    expect(selectTables(shard, shard, sel({ exclude: ['Venues'] }), { sourceIsMain: false, mappingTable: null }).unowned).toEqual(['ArchiveRows']);
    expect(selectTables(shard, shard, sel({ include: ['Dots', 'Accounts'] }), { sourceIsMain: false, mappingTable: null }).unowned).toEqual([]);
    expect(selectTables(shard, shard, sel({ owners: { ArchiveRows: 'account_id' } }), { sourceIsMain: false, mappingTable: null }).unowned).toEqual(['Venues']);
    expect(selectionWarnings(r.unowned, [], 2, 3)[0]).toMatch(/^shard 2 has tables with no owner column that never move: ArchiveRows, Venues/);
  });
});

describe('mainTablesOnShard', () => {
  it('names the users table (either spelling), password resets, tickets and lookups found on a real shard', () => {
    expect(mainTablesOnShard(fullShard, sel(), 'users')).toEqual(['DotsLookup', 'SheetsLookup', 'Tickets64', 'Users', 'UsersPasswordReset']);
    expect(mainTablesOnShard(cleanShard, sel(), 'users')).toEqual([]);
  });

  it('with tables.include, also any other table with the owner column the list does not name', () => {
    expect(mainTablesOnShard(fullShard, sel({ include: ['Dots', 'Sheets'] }), 'Users')).toEqual([
      'DotsLookup',
      'DotsSearch',
      'SheetsLookup',
      'Tickets64',
      'Users',
      'UsersPasswordReset',
    ]);
    const w = selectionWarnings([], ['Users'], 1, 4);
    expect(w).toEqual([expect.stringMatching(/^shard 4 holds tables that belong to db_main: Users; fw-shard never moves them/)]);
  });
});

describe('ticketed id columns (status check of the ticket servers)', () => {
  const photos = table('FlickrPhotos', [id64, uid], [key('PRIMARY', ['id'])]);
  const auto = table('Notes', [col('id', 'int', { autoIncrement: true }), uid], [key('PRIMARY', ['id'])]);
  const faves = table('FlickrFaves', [uid, col('photo_id', 'bigint')], [key('PRIMARY', ['user_id', 'photo_id'])]);

  it('finds the single-column integer primary key that is not AUTO_INCREMENT', () => {
    expect(idColumnOf(dots)).toBe('id');
    expect(idColumnOf(auto)).toBeNull();
    expect(idColumnOf(faves)).toBeNull();
  });

  it('assumes ids are tickets except tables.notTicketed and tables mirroring an outside service', () => {
    expect(ticketedColumn('Dots', 'id', {})).toBe('assumed');
    expect(ticketedColumn(photos.name, 'id', {})).toBe('no'); // Flickr's own photo ids
    expect(ticketedColumn('FoursquareCheckins', 'id', {})).toBe('no');
    expect(ticketedColumn('Flickering', 'id', {})).toBe('assumed');
    expect(ticketedColumn('Sheets', 'id', { notTicketed: ['Sheets'] })).toBe('no');
    expect(ticketedColumn('Sheets', 'id', { notTicketed: ['Sheets.id'] })).toBe('no');
  });

  it('with tables.ticketed, exactly the listed columns are checked, and they are certain', () => {
    expect(ticketedColumn('Dots', 'id', { ticketed: ['Dots.id'] })).toBe('declared');
    expect(ticketedColumn('FlickrPhotos', 'id', { ticketed: ['FlickrPhotos'] })).toBe('declared');
    expect(ticketedColumn('Sheets', 'id', { ticketed: ['Dots.id'] })).toBe('no');
  });

  it('words an assumed column as a question, a declared one as a certainty', () => {
    const base = { role: 'tickets 1', next: '62', value: '18446744073709551615', shard: 3, table: 'Sheets', column: 'id' };
    expect(ticketOverlapMessage({ ...base, ticketed: 'assumed' })).toMatch(/^tickets 1: does Sheets\.id hold tickets\? .*add it to tables\.notTicketed/);
    expect(ticketOverlapMessage({ ...base, ticketed: 'declared' })).toMatch(
      /^tickets 1: next Tickets64 id 62 is not above id 18446744073709551615 already in shard 3 Sheets\.id \(declared ticketed\)/,
    );
  });
});

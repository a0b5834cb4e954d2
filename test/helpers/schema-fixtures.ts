/** Hand-built table structures and error helpers shared by the unit tests. */
import { FwShardError } from '../../src/errors/index.js';
import type { ColumnInfo, KeyInfo, TableInfo } from '../../src/db/sql/schema.js';
import type { RowSpec } from '../../src/db/sql/rows.js';

/** A column as readSchema would describe it (NOT NULL, no charset unless given). */
export function col(name: string, dataType = 'bigint', extra: Partial<ColumnInfo> = {}): ColumnInfo {
  return {
    name,
    position: 1,
    type: dataType,
    dataType,
    nullable: false,
    charset: null,
    collation: null,
    generated: false,
    autoIncrement: false,
    defaultValue: null,
    ...extra,
  };
}

export const key = (name: string, columns: string[], unique = true, hasPrefix = false): KeyInfo => ({ name, unique, columns, hasPrefix });

export function table(name: string, columns: ColumnInfo[], keys: KeyInfo[] = []): TableInfo {
  return { name, engine: 'InnoDB', rowsEstimate: '0', bytesEstimate: '0', columns: columns.map((c, i) => ({ ...c, position: i + 1 })), keys };
}

/** The FwShardError thrown by fn (fails the test if none or another error is thrown). */
export function fwError(fn: () => unknown): FwShardError {
  try {
    fn();
  } catch (err) {
    if (err instanceof FwShardError) return err;
    throw err;
  }
  throw new Error('expected a FwShardError');
}

/** The row specs the SQL builder tests share: their columns, and three tables built from them. */
export const specCols = {
  id: col('id', 'bigint', { type: 'bigint(20) unsigned' }),
  userId: col('user_id', 'int', { type: 'int(10) unsigned' }),
  title: col('title', 'varchar', { type: 'varchar(255)', charset: 'utf8mb4', collation: 'utf8mb4_general_ci', nullable: true }),
  score: col('score', 'float', { nullable: true }),
  tag: col('tag', 'varchar', { type: 'varchar(32)', charset: 'latin1', collation: 'latin1_swedish_ci' }),
};
const { id, userId, title, score, tag } = specCols;
export const specs: { photos: RowSpec; faves: RowSpec; contacts: RowSpec } = {
  /** Photos: single BIGINT primary key, a FLOAT column. */
  photos: { name: 'Photos', columns: [id, userId, title, score], owner: userId, key: [id] },
  /** Faves: composite key (tag, user_id), string first. */
  faves: { name: 'Faves', columns: [userId, tag, id], owner: userId, key: [tag, userId] },
  /** Contacts: no usable key. */
  contacts: { name: 'Contacts', columns: [userId, col('contact_id', 'int')], owner: userId, key: null },
};

/** Hand-built table structures and error helpers shared by the unit tests. */
import { FwShardError } from '../../src/errors/index.js';
import type { ColumnInfo, KeyInfo, TableInfo } from '../../src/db/sql/schema.js';

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

import { describe, expect, it } from 'vitest';
import { BusyError, ExitCode, FreezeExpiredError, FwShardError } from '../../src/errors/index.js';
import { isDuplicateKey, isLockWaitOrDeadlock, isNoSuchTable, isTransient, mysqlErrno } from '../../src/db/errors.js';
import { MoveFailedError, partialResultOf } from '../../src/move/move-error.js';
import type { MoveResult } from '../../src/move/types.js';

describe('typed errors', () => {
  it('a BusyError is a BUSY with exit 7 and says why', () => {
    const e = new BusyError('lease', 'held');
    expect(e).toBeInstanceOf(FwShardError);
    expect([e.code, e.exitCode, e.reason]).toEqual(['BUSY', ExitCode.busy, 'lease']);
    const f = new FreezeExpiredError('42');
    expect([f.code, f.reason, f instanceof BusyError]).toEqual(['BUSY', 'freeze-expired', true]);
  });

  it('a failed move carries its partial result as a field (and the legacy details too)', () => {
    const partial = { ok: false, moveId: '7' } as unknown as MoveResult;
    const failure = new BusyError('lock-wait', 'locked', { details: { server: 'shard 2' } });
    const e = new MoveFailedError(failure, 'locked\nnot flipped', 'resume', partial);
    expect([e.code, e.exitCode, e.hint, e.details]).toEqual(['BUSY', 7, 'resume', { server: 'shard 2' }]);
    expect(partialResultOf(e)).toBe(partial);
    expect(partialResultOf(new FwShardError('BUSY', 'x', { details: { partialResult: partial } }))).toBeNull();
    expect(partialResultOf(new Error('x'))).toBeNull();
  });
});

describe('MySQL error predicates', () => {
  const driver = (errno: number) => Object.assign(new Error('driver'), { errno });
  it('read the error and its cause alike', () => {
    expect(isNoSuchTable(driver(1146))).toBe(true);
    expect(isNoSuchTable(new Error('wrapped', { cause: driver(1146) }))).toBe(true);
    expect(isDuplicateKey(new Error('wrapped', { cause: driver(1062) }))).toBe(true);
    expect(mysqlErrno(new Error('plain'))).toBeUndefined();
  });
  it('a lock wait that outlasted the retries is transient only as the BUSY made from it', () => {
    expect(isLockWaitOrDeadlock(driver(1213))).toBe(true);
    expect(isTransient(new BusyError('lock-wait', 'x', { cause: driver(1205) }))).toBe(true);
    expect(isTransient(new BusyError('lease', 'x'))).toBe(false);
  });
});

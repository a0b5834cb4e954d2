import { describe, expect, it } from 'vitest';
import { BusyError, ExitCode, FreezeExpiredError, FwShardError } from '../../src/errors/index.js';
import {
  describeDbError,
  foreignKeyInMessage,
  isForeignKeyViolation,
  isForeignKeyWarning,
  isConnectionLost,
  isDuplicateKey,
  isLockWaitOrDeadlock,
  isNoSuchTable,
  isPacketTooLarge,
  isPacketWarning,
  isTransient,
  mysqlErrno,
} from '../../src/db/errors.js';
import type { Endpoint } from '../../src/topology/index.js';
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
  it('a packet over max_allowed_packet: server (1153, 1301), client (2020) or driver wording; never transient', () => {
    for (const errno of [1153, 1301, 2020]) expect(isPacketTooLarge(new Error('wrapped', { cause: driver(errno) }))).toBe(true);
    expect(isPacketTooLarge(Object.assign(new Error('x'), { code: 'ER_NET_PACKET_TOO_LARGE' }))).toBe(true);
    expect(isPacketTooLarge(new Error("Got a packet bigger than 'max_allowed_packet' bytes"))).toBe(true);
    expect(isPacketTooLarge(driver(1062))).toBe(false);
    // fw-shard's own messages that mention the setting are not the server's refusal
    expect(isPacketTooLarge(new FwShardError('PRECONDITION', 'raise max_allowed_packet'))).toBe(false);
    expect([isPacketWarning(1301), isPacketWarning(1062)]).toEqual([true, false]);
    const e = { role: 'shard 2', host: 'db2', port: 3306, user: 'fw', database: 'users2', passwordSource: 'none', replicas: [] } as unknown as Endpoint;
    const typed = describeDbError(
      e,
      Object.assign(new Error("Got a packet bigger than 'max_allowed_packet' bytes"), { errno: 1153, code: 'ER_NET_PACKET_TOO_LARGE' }),
    );
    expect(typed).toBeInstanceOf(FwShardError);
    expect([(typed as FwShardError).code, (typed as FwShardError).exitCode]).toEqual(['PACKET_TOO_LARGE', 5]);
    expect((typed as FwShardError).hint).toMatch(/SET GLOBAL max_allowed_packet/);
    expect(isTransient(typed)).toBe(false);
  });
  it("a pooled connection that died while idle (mysql2's 'closed state') is a lost connection, retried", () => {
    const e = { role: 'shard 1', host: 'db1', port: 3306, user: 'fw', database: 'users1', passwordSource: 'none', replicas: [] } as unknown as Endpoint;
    const closed = Object.assign(new Error("Can't add new command when connection is in closed state"), { fatal: true });
    expect(isConnectionLost(closed)).toBe(true);
    const typed = describeDbError(e, closed);
    expect((typed as FwShardError).code).toBe('SERVER_UNAVAILABLE');
    expect(isTransient(typed)).toBe(true);
    // The same words from anything else (no fatal flag, or a server errno) are not taken for it.
    expect(isConnectionLost(new Error("Can't add new command when connection is in closed state"))).toBe(false);
    expect(isConnectionLost(Object.assign(new Error('in closed state'), { fatal: true, errno: 1062 }))).toBe(false);
  });

  it('a foreign key refusal, as an error or as a warning, and the constraint it names', () => {
    for (const errno of [1451, 1452, 1216, 1217]) expect(isForeignKeyViolation(new Error('w', { cause: driver(errno) }))).toBe(true);
    expect([isForeignKeyWarning(1452), isForeignKeyWarning(1062)]).toEqual([true, false]);
    expect(
      foreignKeyInMessage(
        'Cannot add or update a child row: a foreign key constraint fails (`users2`.`Album``Items`, CONSTRAINT `items_album` FOREIGN KEY (`album_id`) REFERENCES `Albums` (`id`))',
      ),
    ).toEqual({ table: 'Album`Items', constraint: 'items_album' });
    expect(foreignKeyInMessage('Cannot delete or update a parent row: a foreign key constraint fails')).toBeNull();
  });
});

/**
 * What MySQL's and the driver's errors mean, in one place: the rest of the code asks these named
 * predicates and never compares an errno itself. Every predicate looks at the error and at its `cause`
 * (describeDbError keeps the driver's error as the cause of the error it throws), so it answers the same
 * for a raw driver error, a wrapped one and an FwShardError made from one.
 */
import { isIP } from 'node:net';
import { BusyError, FwShardError } from '../errors/index.js';
import { describeEndpoint, type Endpoint } from '../topology/index.js';
import { scrubSecrets } from '../topology/secret.js';

/** Server error numbers fw-shard tells apart (https://dev.mysql.com/doc/mysql-errors/8.0/en/server-error-reference.html). */
const ER = {
  LOCK_WAIT_TIMEOUT: 1205,
  LOCK_DEADLOCK: 1213,
  DUP_ENTRY: 1062,
  NO_SUCH_TABLE: 1146,
  BAD_FIELD: 1054,
  DUP_FIELDNAME: 1060,
  PARSE_ERROR: 1064,
  NOT_ALLOWED_COMMAND: 1148,
  CLIENT_LOCAL_FILES_DISABLED: 3948,
  CR_LOAD_DATA_LOCAL_INFILE_REJECTED: 2068,
  CONNECTION_KILLED: 1927,
  CR_SERVER_LOST: 2013,
  CR_SERVER_GONE_ERROR: 2006,
  ROW_IS_REFERENCED: 1451,
  NO_REFERENCED_ROW: 1452,
  ROW_IS_REFERENCED_OLD: 1217,
  NO_REFERENCED_ROW_OLD: 1216,
  NET_PACKET_TOO_LARGE: 1153,
  WARN_ALLOWED_PACKET_OVERFLOWED: 1301,
  CR_NET_PACKET_TOO_LARGE: 2020,
  SPECIFIC_ACCESS_DENIED: 1227,
  TABLEACCESS_DENIED: 1142,
  DBACCESS_DENIED: 1044,
  ACCESS_DENIED: 1045,
  UNKNOWN_TABLE: 1109,
} as const;

interface DriverErrorShape {
  code?: unknown;
  errno?: unknown;
  message?: unknown;
  sqlMessage?: unknown;
  cause?: unknown;
}

/** The error itself, then its cause: where a driver error's fields may be found. */
function layers(err: unknown): DriverErrorShape[] {
  const out: DriverErrorShape[] = [];
  let e: unknown = err;
  for (let depth = 0; depth < 2 && e !== null && typeof e === 'object'; depth++) {
    out.push(e as DriverErrorShape);
    e = (e as DriverErrorShape).cause;
  }
  return out;
}

/** The server's error number, from the error or its cause. */
export function mysqlErrno(err: unknown): number | undefined {
  for (const e of layers(err)) if (typeof e.errno === 'number') return e.errno;
  return undefined;
}

/** The driver's (or Node's) error code, e.g. ER_DUP_ENTRY or ECONNREFUSED, from the error or its cause. */
function driverCode(err: unknown): string | undefined {
  for (const e of layers(err)) if (typeof e.code === 'string' && !(e instanceof FwShardError)) return e.code;
  return undefined;
}

const CONNECTION_CODES = new Set([
  'ECONNREFUSED',
  'ETIMEDOUT',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ECONNRESET',
  'EPIPE',
  'ENOENT', // socket path
  'PROTOCOL_CONNECTION_LOST',
  'PROTOCOL_SEQUENCE_TIMEOUT',
  'ER_SERVER_SHUTDOWN',
  'ER_CONNECTION_KILLED',
  'ER_CON_COUNT_ERROR',
  'ER_BAD_DB_ERROR',
  'ER_NET_READ_INTERRUPTED',
  'ER_NET_ERROR_ON_WRITE',
  'HANDSHAKE_SSL_ERROR',
  'HANDSHAKE_NO_SSL_SUPPORT',
]);
const DENIED_CODES = new Set(['ER_ACCESS_DENIED_ERROR', 'ER_DBACCESS_DENIED_ERROR', 'ER_ACCESS_DENIED_NO_PASSWORD_ERROR']);

/** The server is unreachable or the connection went away: the same statement may run again on a new connection. */
export function isConnectionLost(err: unknown): boolean {
  const code = driverCode(err);
  const errno = mysqlErrno(err);
  return (
    (code !== undefined && CONNECTION_CODES.has(code)) ||
    errno === ER.CONNECTION_KILLED ||
    errno === ER.CR_SERVER_LOST ||
    errno === ER.CR_SERVER_GONE_ERROR ||
    isClosedConnection(err)
  );
}

/**
 * mysql2's own word for a connection that died while idle in the pool (killed, or the server restarted)
 * and was handed out before the pool noticed: a fatal error with neither a code nor an errno.
 */
function isClosedConnection(err: unknown): boolean {
  return layers(err).some(
    (e) => (e as { fatal?: unknown }).fatal === true && e.errno === undefined && e.code === undefined && /in closed state/.test(String(e.message)),
  );
}

/** The TLS handshake failed: an unknown CA, a certificate for another host, no TLS on the server. */
function isTlsFailure(err: unknown): boolean {
  const code = driverCode(err);
  return code !== undefined && (/^HANDSHAKE_(SSL_ERROR|NO_SSL_SUPPORT)$/.test(code) || /^ERR_TLS_|CERT|SELF_SIGNED|UNABLE_TO_(GET|VERIFY)/.test(code));
}

/** The login was refused (user, password, or the database's GRANTs). */
function isAccessDenied(err: unknown): boolean {
  const code = driverCode(err);
  return code !== undefined && DENIED_CODES.has(code);
}

/** The server (or its configuration) refuses LOAD DATA LOCAL INFILE: fall back to INSERTs. */
export function isLocalInfileRefused(err: unknown): boolean {
  const errno = mysqlErrno(err);
  const message = layers(err)
    .map((e) => String(e.message ?? ''))
    .join('\n');
  return (
    errno === ER.NOT_ALLOWED_COMMAND ||
    errno === ER.CLIENT_LOCAL_FILES_DISABLED ||
    errno === ER.CR_LOAD_DATA_LOCAL_INFILE_REJECTED ||
    /LOCAL INFILE|local data/i.test(message)
  );
}

/** Lock wait timeout or deadlock: the transaction was rolled back and may be retried as a whole. */
export function isLockWaitOrDeadlock(err: unknown): boolean {
  const errno = mysqlErrno(err);
  return errno === ER.LOCK_WAIT_TIMEOUT || errno === ER.LOCK_DEADLOCK;
}

/** 1205: a lock wait timed out (a row or metadata lock another transaction holds). */
export const isLockWaitTimeout = (err: unknown): boolean => mysqlErrno(err) === ER.LOCK_WAIT_TIMEOUT;

/** 1146 or 1142: the table is not there, or this login may not see it (a guard table where the login has no grant). */
export const isTableMissingOrDenied = (err: unknown): boolean => mysqlErrno(err) === ER.NO_SUCH_TABLE || mysqlErrno(err) === ER.TABLEACCESS_DENIED;

/** A privilege the statement needs is missing (PROCESS for InnoDB's information_schema tables, a table's or database's grant). */
export const isPrivilegeMissing = (err: unknown): boolean =>
  [ER.SPECIFIC_ACCESS_DENIED, ER.TABLEACCESS_DENIED, ER.DBACCESS_DENIED, ER.ACCESS_DENIED].includes(mysqlErrno(err) as never);

/** 1109 or 1146: an information_schema (or other) table this server does not have (MySQL 8 lacks INNODB_SYS_TABLES). */
export const isUnknownTable = (err: unknown): boolean => mysqlErrno(err) === ER.UNKNOWN_TABLE || mysqlErrno(err) === ER.NO_SUCH_TABLE;

/** 1146: the table does not exist (e.g. the journal before the first move). */
export const isNoSuchTable = (err: unknown): boolean => mysqlErrno(err) === ER.NO_SUCH_TABLE;
/** 1054: the column does not exist. */
export const isNoSuchColumn = (err: unknown): boolean => mysqlErrno(err) === ER.BAD_FIELD;
/** 1062: a UNIQUE or PRIMARY key already holds the value. */
export const isDuplicateKey = (err: unknown): boolean => mysqlErrno(err) === ER.DUP_ENTRY;
/** ALTER TABLE ... ADD COLUMN of a column another runner added first. */
export const isDuplicateColumn = (err: unknown): boolean => mysqlErrno(err) === ER.DUP_FIELDNAME;
/** 1064: the server does not understand the statement (e.g. an older server's SHOW syntax). */
export const isSyntaxError = (err: unknown): boolean => mysqlErrno(err) === ER.PARSE_ERROR;

const FOREIGN_KEY_ERRNOS = new Set<number>([ER.ROW_IS_REFERENCED, ER.NO_REFERENCED_ROW, ER.ROW_IS_REFERENCED_OLD, ER.NO_REFERENCED_ROW_OLD]);
/** 1451/1452 (and their older 1216/1217): a foreign key refused the write (its checks were on). */
export const isForeignKeyViolation = (err: unknown): boolean => FOREIGN_KEY_ERRNOS.has(mysqlErrno(err) ?? 0);
/** The same as a warning (LOAD DATA LOCAL and IGNORE turn the error into a warning and skip the row). */
export const isForeignKeyWarning = (code: number): boolean => FOREIGN_KEY_ERRNOS.has(code);

/**
 * The foreign key a 1451/1452 message names: "... a foreign key constraint fails (`db`.`child`,
 * CONSTRAINT `fk` FOREIGN KEY (`a`) REFERENCES `parent` (`id`) ...)". Null when the message has no such part.
 */
export function foreignKeyInMessage(message: string): { table: string; constraint: string } | null {
  const m = /`(?:[^`]|``)*`\.`((?:[^`]|``)*)`, CONSTRAINT `((?:[^`]|``)*)` FOREIGN KEY/.exec(message);
  if (!m) return null;
  const unq = (x: string) => x.replace(/``/g, '`');
  return { table: unq(m[1]!), constraint: unq(m[2]!) };
}

const PACKET_CODES = new Set(['ER_NET_PACKET_TOO_LARGE', 'ER_WARN_ALLOWED_PACKET_OVERFLOWED', 'CR_NET_PACKET_TOO_LARGE']);
/**
 * A statement, a row or a value was larger than max_allowed_packet: the server refused the packet
 * (1153, and it closes the connection), a function's result was cut (1301), or the client refused it
 * (2020, or the driver's own error saying so). Never transient: the same statement fails again.
 */
export function isPacketTooLarge(err: unknown): boolean {
  const errno = mysqlErrno(err);
  const code = driverCode(err);
  return (
    errno === ER.NET_PACKET_TOO_LARGE ||
    errno === ER.WARN_ALLOWED_PACKET_OVERFLOWED ||
    errno === ER.CR_NET_PACKET_TOO_LARGE ||
    (code !== undefined && PACKET_CODES.has(code)) ||
    layers(err).some((e) => !(e instanceof FwShardError) && /max_allowed_packet/i.test(String(e.message ?? '')))
  );
}
/** 1301 as a warning: a value was cut to max_allowed_packet (the server stored or hashed less than sent). */
export const isPacketWarning = (code: number): boolean => code === ER.WARN_ALLOWED_PACKET_OVERFLOWED;

/** Warnings that say nothing about the data written: deprecations of syntax or names. */
const HARMLESS_WARNINGS = new Set([1287, 3719, 3778]);
export const isHarmlessWarning = (code: number): boolean => HARMLESS_WARNINGS.has(code);
/** A duplicate-key warning: LOAD DATA LOCAL skipped the row. */
export const isDuplicateKeyWarning = (code: number): boolean => code === ER.DUP_ENTRY;

/**
 * Errors after which an idempotent unit of work (a whole chunk transaction) may run again: the
 * connection went away, or the server rolled the transaction back (deadlock, lock wait timeout).
 */
export function isTransient(err: unknown): boolean {
  if (err instanceof FwShardError) {
    return (
      (err.code === 'SERVER_UNAVAILABLE' && isConnectionLost(err.cause)) ||
      (err instanceof BusyError && err.reason === 'lock-wait' && isLockWaitOrDeadlock(err.cause))
    );
  }
  return isConnectionLost(err) || isLockWaitOrDeadlock(err);
}

/**
 * Run `fn` again while `retryIf` says its error is worth another attempt, pausing `pauseMs(attempt)`
 * in between; after `attempts` tries, or on any other error, the last error is thrown as it is.
 */
export async function retrying<T>(
  fn: () => Promise<T>,
  opts: { attempts: number; retryIf(err: unknown): boolean; pauseMs(attempt: number): number },
): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn();
    } catch (err) {
      if (attempt >= opts.attempts || !opts.retryIf(err)) throw err;
      await new Promise((r) => setTimeout(r, opts.pauseMs(attempt)));
    }
  }
}

/**
 * Turn driver errors into messages that name the server (never its password). Expected conditions
 * become FwShardErrors; anything else an Error whose `cause` is the driver's error.
 */
export function describeDbError(endpoint: Endpoint, err: unknown): FwShardError | Error {
  if (err instanceof FwShardError) return err;
  const e = err as DriverErrorShape;
  const where = describeEndpoint(endpoint);
  const msg = scrubSecrets(String(e?.sqlMessage ?? e?.message ?? err), [endpoint.password]);
  if (isAccessDenied(err)) {
    return new FwShardError('ACCESS_DENIED', `${where}: login refused for user '${endpoint.user}': ${msg}`, {
      hint: `Check the user and password configured for ${endpoint.role} (password source: ${endpoint.passwordSource}) and its GRANTs (README "Required privileges").`,
      cause: err,
    });
  }
  if (isConnectionLost(err) || isTlsFailure(err)) {
    return new FwShardError('SERVER_UNAVAILABLE', `${where} is unavailable: ${String(e?.code ?? '')} ${msg}`.replace(/\s+/g, ' ').trim(), {
      hint: isTlsFailure(err)
        ? `The TLS handshake with ${endpoint.role} failed: check tls.ca (it must have signed the server's certificate), tls.cert and tls.key in the config, and that the certificate names ${endpoint.host}` +
          (isIP(endpoint.host)
            ? ` (for a server given by IP address the driver checks the name "localhost": use the server's DNS name as host, or add DNS:localhost to its certificate)`
            : '') +
          '; tls.verifyIdentity: false skips only the name check.'
        : `Check that the server is up and reachable from this host, then run the same command again.`,
      details: { server: endpoint.role, host: endpoint.host, port: endpoint.port },
      cause: err,
    });
  }
  if (isPacketTooLarge(err)) {
    // Not a bug and not transient: the same statement would be refused again. The Applier names the table
    // and the row (packetTooLargeError); this is the answer for any other statement.
    return new FwShardError('PACKET_TOO_LARGE', `${where}: ${msg}`, {
      hint: `Raise max_allowed_packet on ${where} (SET GLOBAL max_allowed_packet = 1073741824 is the largest; set it in the server's config file too, or a restart undoes it), then run the same command again: a move resumes where it stopped.`,
      details: { server: endpoint.role, host: endpoint.host, port: endpoint.port, errno: mysqlErrno(err) },
      cause: err,
    });
  }
  if (isLockWaitOrDeadlock(err)) {
    // Another transaction holds locks on the rows (it outlasted the retries): retry later, not a bug.
    return new BusyError('lock-wait', `${where}: ${msg} (another transaction holds locks on the same rows)`, {
      hint: 'Run the same command again once that transaction has finished (a move resumes where it stopped); SHOW ENGINE INNODB STATUS names the lock holder.',
      details: { server: endpoint.role, host: endpoint.host, port: endpoint.port, errno: mysqlErrno(err) },
      cause: err,
    });
  }
  return new Error(`${where}: ${msg}`, { cause: err });
}

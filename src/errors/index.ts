/**
 * The error taxonomy. Every failure a user can cause is a FwShardError with a stable `code`, an exit
 * code from {@link ExitCode}, and a message that names what is wrong and what to do next. Anything else
 * that escapes is a bug and is reported as one (exit 70).
 */

/** Documented exit codes (README "Exit codes"). Stable: cron runbooks depend on them. */
export const ExitCode = {
  ok: 0,
  /** A flag or argument is wrong (unknown shard, not a number, missing --yes without a TTY). */
  usage: 2,
  /** The config file is missing, unreadable, malformed or invalid. */
  config: 3,
  /** A server could not be reached, refused the login, or went away. Retry once it is back. */
  unavailable: 4,
  /**
   * A precondition refused the operation (schema drift, key collision, read_only target, a table not on
   * InnoDB, foreign keys that would dangle...; `stop` of a move that is not running; an undo that cannot
   * be done): nothing was written. Also a write the target's configuration refuses (a row larger than its
   * max_allowed_packet, a foreign key checked after all): the chunk was rolled back, the move stopped
   * before the flip and resumes once the cause is fixed.
   */
  refused: 5,
  /**
   * Source and target differ: before the flip, nothing was flipped or deleted; in a cleanup, the source
   * rows that differ from the target were kept (and listed). Also a write the target warned about.
   */
  mismatch: 6,
  /** Another runner holds the user or the lock; or the freeze could not be met; `stop` timed out. Retry later. */
  busy: 7,
  /** `status` found something unsafe (ticket overlap, users mapped to unknown shards, drift). */
  unhealthy: 8,
  /** `apply`/`run`: some moves of a plan failed while others succeeded (the summary lists each). */
  partial: 9,
  /** Stopped by SIGINT/SIGTERM at a safe point; the move is resumable. */
  interrupted: 130,
  /** A bug in fw-shard. Please report it with the output. */
  internal: 70,
} as const;
type ExitCodeName = keyof typeof ExitCode;

type ErrorCode =
  | 'USAGE'
  | 'CONFIG_NOT_FOUND'
  | 'CONFIG_UNREADABLE'
  | 'CONFIG_PARSE'
  | 'CONFIG_INVALID'
  | 'FLAMEWORK_PARSE'
  | 'SERVER_UNAVAILABLE'
  | 'ACCESS_DENIED'
  | 'USER_NOT_FOUND'
  | 'UNKNOWN_SHARD'
  | 'TARGET_READ_ONLY'
  | 'SCHEMA_DRIFT'
  | 'SCHEMA_CHANGED'
  | 'KEY_COLLISION'
  | 'KEYLESS_TOO_LARGE'
  | 'PRECONDITION'
  | 'TABLES_UNDECLARED'
  | 'OWNERSHIP'
  | 'UNSUPPORTED_ENGINE'
  | 'FOREIGN_KEYS'
  | 'PACKET_TOO_LARGE'
  | 'MAPPING_CHANGED'
  | 'DATA_MISMATCH'
  | 'WRITE_WARNING'
  | 'BUSY'
  | 'MOVE_NOT_FOUND'
  | 'ALREADY_FLIPPED'
  | 'INTERRUPTED'
  | 'NOT_RUNNING'
  | 'SANDBOX'
  | 'UNHEALTHY'
  | 'PARTIAL'
  | 'PLAN_INVALID'
  | 'PLAYBOOK_INVALID';

const exitFor: Record<ErrorCode, ExitCodeName> = {
  USAGE: 'usage',
  CONFIG_NOT_FOUND: 'config',
  CONFIG_UNREADABLE: 'config',
  CONFIG_PARSE: 'config',
  CONFIG_INVALID: 'config',
  FLAMEWORK_PARSE: 'config',
  SERVER_UNAVAILABLE: 'unavailable',
  ACCESS_DENIED: 'unavailable',
  USER_NOT_FOUND: 'usage',
  UNKNOWN_SHARD: 'usage',
  TARGET_READ_ONLY: 'refused',
  SCHEMA_DRIFT: 'refused',
  SCHEMA_CHANGED: 'refused',
  KEY_COLLISION: 'refused',
  KEYLESS_TOO_LARGE: 'refused',
  PRECONDITION: 'refused',
  TABLES_UNDECLARED: 'refused',
  OWNERSHIP: 'refused',
  UNSUPPORTED_ENGINE: 'refused',
  FOREIGN_KEYS: 'refused',
  PACKET_TOO_LARGE: 'refused',
  MAPPING_CHANGED: 'refused',
  DATA_MISMATCH: 'mismatch',
  WRITE_WARNING: 'mismatch',
  BUSY: 'busy',
  MOVE_NOT_FOUND: 'usage',
  ALREADY_FLIPPED: 'refused',
  INTERRUPTED: 'interrupted',
  NOT_RUNNING: 'refused',
  SANDBOX: 'refused',
  UNHEALTHY: 'unhealthy',
  PARTIAL: 'partial',
  PLAN_INVALID: 'config',
  PLAYBOOK_INVALID: 'config',
};

/**
 * The next step of errors raised without a hint of their own: a refusal always says what to do next
 * (bad flags, plan files and playbooks are refused in many places with messages that name the problem).
 */
const DEFAULT_HINTS: Partial<Record<ErrorCode, string>> = {
  USAGE: 'Fix the command line: fw-shard COMMAND --help lists every flag, with examples.',
  UNKNOWN_SHARD: 'Use a shard id from the config: fw-shard config show lists them.',
  PLAN_INVALID: 'Make the plan again with fw-shard plan ... --out FILE, and apply that file unchanged.',
  PLAYBOOK_INVALID: 'Fix the lines named above; fw-shard run FILE --check validates a playbook without running anything.',
};

export class FwShardError extends Error {
  readonly code: ErrorCode;
  readonly exitCode: number;
  /** What the operator should do next; printed after the message. */
  readonly hint: string | undefined;
  /** Structured facts for --json (never secrets). */
  readonly details: Record<string, unknown> | undefined;

  constructor(code: ErrorCode, message: string, opts: { hint?: string; details?: Record<string, unknown>; cause?: unknown } = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'FwShardError';
    this.code = code;
    this.exitCode = ExitCode[exitFor[code]];
    this.hint = opts.hint ?? DEFAULT_HINTS[code];
    this.details = opts.details;
  }
}

/** What a BUSY (exit 7, retry later) is about: the CLI and the fleet runner tell these apart by type. */
type BusyReason =
  /** Another runner holds the move's lease (its heartbeat is fresh). */
  | 'lease'
  /** Another fw-shard run holds a named lock (playbook, apply). */
  | 'lock'
  /** Another transaction held row locks longer than the retries (lock wait timeout, deadlock). */
  | 'lock-wait'
  /** The user's freeze expired before the flip. */
  | 'freeze-expired'
  /** The source kept changing under a cleanup's range delete. */
  | 'source-changing'
  /** Another `sandbox up` is building the sandbox. */
  | 'sandbox';

/** BUSY, with why: the same code and exit code as before, a type to test instead of details. */
export class BusyError extends FwShardError {
  readonly reason: BusyReason;
  constructor(reason: BusyReason, message: string, opts: { hint?: string; details?: Record<string, unknown>; cause?: unknown } = {}) {
    super('BUSY', message, opts);
    this.name = 'BusyError';
    this.reason = reason;
  }
}

/** The freeze expired before the flip: nothing was flipped, the cut-over may try again. */
export class FreezeExpiredError extends BusyError {
  constructor(userId: string) {
    super('freeze-expired', `the freeze of user ${userId} expired before the flip; nothing was flipped`);
    this.name = 'FreezeExpiredError';
  }
}

export function usage(message: string, hint?: string): FwShardError {
  return new FwShardError('USAGE', message, hint === undefined ? {} : { hint });
}

/**
 * Hooks (after gh-ost's): executables in --hooks-dir named after lifecycle events, run with the facts of
 * the move in FW_SHARD_* environment variables, so operators can plug moves into chat and paging.
 *
 *  - `on-start` gates a new move: it runs after the preflight and before anything is written; a non-zero
 *    exit (or a timeout) refuses the move (PRECONDITION, exit 5), naming the hook and its stderr.
 *  - every other hook is fed from the event stream, runs in the background one at a time in event
 *    order, and can only ever produce a warning: a failing hook never stops or delays the move, and in
 *    particular never the flip.
 *
 * Never passed to a hook: passwords. The facts carry none, and variables inherited from fw-shard's own
 * environment are dropped when their name looks like a secret or their value is one of the topology's
 * passwords.
 */
import { spawn } from 'node:child_process';
import { accessSync, constants, statSync } from 'node:fs';
import { join } from 'node:path';
import { FwShardError } from '../errors/index.js';
import type { EventSink, MoveEvent } from '../events/types.js';
import { initialRunState, reduce, totals, type RunState } from '../events/reducer.js';
import type { Endpoint, Topology } from '../topology/index.js';

/** Hook names, and the events that run them. */
export const HOOKS = {
  'on-start': 'a new move passed its preflight; nothing is written yet. Non-zero exit refuses the move.',
  'on-resume': 'an unfinished move is being continued (move.started with resumed=1)',
  'on-phase': 'a phase started or finished (FW_SHARD_PHASE, FW_SHARD_PHASE_STATE)',
  'on-throttle': 'copying paused because a server is busy, or went on (FW_SHARD_THROTTLED)',
  'on-delta': 'an online move finished a delta pass',
  'on-freeze': "the user's writes were frozen, or the freeze was lifted (FW_SHARD_FREEZE_STATE)",
  'on-flip': 'the mapping was flipped: the user now lives on the target shard',
  'on-warning': 'the move reported a warning (FW_SHARD_MESSAGE)',
  'on-success': 'the move finished',
  'on-failure': 'the move failed or was stopped after it started (FW_SHARD_ERROR_CODE)',
} as const;
type HookName = keyof typeof HOOKS;

interface HookRunnerOptions {
  dir: string;
  /** fw-shard's own environment (inherited by hooks, minus anything secret). */
  env: Readonly<Record<string, string | undefined>>;
  /** Every password the topology holds: never handed to a hook, whatever variable carries it. */
  secrets?: readonly string[];
  /** Per hook, default 30 s; then SIGTERM, and SIGKILL 2 s later. */
  timeoutMs?: number;
  /** How a failing background hook is reported (a warning line; never an exception). */
  warn: (message: string) => void;
  /** This machine, for FW_SHARD_RUNNER_HOST. */
  host?: string;
}

interface HookResult {
  hook: HookName;
  code: number | null;
  signal: NodeJS.Signals | null;
  timedOut: boolean;
  stderrTail: string;
  stdoutTail: string;
  error?: string;
}

export interface HookRunner {
  /** MoveDeps.beforeStart: runs on-start, throws PRECONDITION when it fails. */
  beforeStart(facts: { userId: string; from: number; to: number; totalRows: string }): Promise<void>;
  /** Feed the run's events here (fan out from MoveDeps.events). */
  sink: EventSink;
  /** Wait for the hooks still queued or running (each bounded by its timeout). */
  drain(): Promise<void>;
}

const TAIL = 2000;
const SECRET_NAME = /PASS(WORD|WD)?|PWD|SECRET/i;

/** Check the directory up front: a typo in --hooks-dir must not silently run a move without its hooks. */
function checkHooksDir(dir: string): void {
  let st;
  try {
    st = statSync(dir);
  } catch {
    throw new FwShardError('USAGE', `--hooks-dir ${dir}: no such directory`, {
      hint: 'Create it, or point --hooks-dir (FW_SHARD_HOOKS_DIR) at the directory holding on-start, on-flip, ...',
    });
  }
  if (!st.isDirectory()) throw new FwShardError('USAGE', `--hooks-dir ${dir}: not a directory`);
}

/** The hook file if it exists: 'missing', or its path and whether it may be executed. */
function locate(dir: string, hook: HookName): { path: string; executable: boolean } | null {
  const path = join(dir, hook);
  try {
    if (!statSync(path).isFile()) return null;
  } catch {
    return null;
  }
  try {
    accessSync(path, constants.X_OK);
    return { path, executable: true };
  } catch {
    return { path, executable: false };
  }
}

/** Every password in the topology (main, accounts, shards, tickets and their replicas). */
export function topologySecrets(t: Topology): string[] {
  const out = new Set<string>();
  const visit = (e: Endpoint | undefined) => {
    if (!e) return;
    const v = e.password?.reveal();
    if (v) out.add(v);
    e.replicas.forEach(visit);
  };
  visit(t.main);
  visit(t.accounts);
  for (const e of t.shards.values()) visit(e);
  t.tickets.forEach(visit);
  return [...out];
}

const tail = (s: string) => (s.length > TAIL ? '…' + s.slice(-TAIL) : s).trim();

/** The inherited environment minus secrets. */
function baseEnv(env: Readonly<Record<string, string | undefined>>, secrets: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(env)) {
    if (v === undefined || SECRET_NAME.test(k)) continue;
    if (secrets.some((s) => s.length > 0 && v.includes(s))) continue;
    out[k] = v;
  }
  return out;
}

function scrub(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const s of secrets) if (s) out = out.split(s).join('[redacted]');
  return out;
}

/** The facts every hook gets, from the reducer's state (the same facts the screen shows). */
function factsEnv(state: RunState, hook: HookName, e: MoveEvent | null, host: string | undefined): Record<string, string> {
  const t = totals(state);
  const started = state.startedAt ? Date.parse(state.startedAt) : NaN;
  const at = e ? Date.parse(e.at) : NaN;
  const env: Record<string, string> = {
    FW_SHARD_HOOK: hook,
    FW_SHARD_EVENT: e?.type ?? '',
    FW_SHARD_MOVE_ID: state.moveId ?? '',
    FW_SHARD_USER_ID: state.userId ?? '',
    FW_SHARD_FROM: state.from !== null ? String(state.from) : '',
    FW_SHARD_TO: state.to !== null ? String(state.to) : '',
    FW_SHARD_MODE: state.mode ?? '',
    FW_SHARD_RESUMED: state.resumed ? '1' : '0',
    FW_SHARD_PHASE: state.current ?? state.phases[state.phases.length - 1]?.name ?? '',
    FW_SHARD_ROWS_COPIED: t.rowsCopied,
    FW_SHARD_ROWS_TOTAL: t.rowsTotal,
    FW_SHARD_MISMATCHES: String(t.mismatched),
    FW_SHARD_MAPPING_FLIPPED: state.flipped ? '1' : '0',
    FW_SHARD_ELAPSED_MS: Number.isFinite(started) && Number.isFinite(at) ? String(at - started) : '0',
    FW_SHARD_RUNNER_HOST: host ?? '',
  };
  if (e) env.FW_SHARD_EVENT_JSON = JSON.stringify(e);
  switch (e?.type) {
    case 'phase.started':
    case 'phase.finished':
      env.FW_SHARD_PHASE = e.phase;
      env.FW_SHARD_PHASE_STATE = e.type === 'phase.started' ? 'started' : 'finished';
      if (e.type === 'phase.finished') env.FW_SHARD_PHASE_MS = String(e.ms);
      break;
    case 'throttled':
      env.FW_SHARD_THROTTLED = '1';
      env.FW_SHARD_THROTTLE_REASON = e.reason;
      break;
    case 'resumed':
      env.FW_SHARD_THROTTLED = '0';
      env.FW_SHARD_THROTTLED_MS = String(e.throttledMs);
      break;
    case 'delta.pass':
      env.FW_SHARD_DELTA_PASS = String(e.pass);
      env.FW_SHARD_RANGES_CHANGED = String(e.rangesChanged);
      env.FW_SHARD_ROWS_RECOPIED = e.rowsRecopied;
      break;
    case 'freeze.started':
      env.FW_SHARD_FREEZE_STATE = 'started';
      env.FW_SHARD_FREEZE_ATTEMPT = String(e.attempt);
      env.FW_SHARD_FREEZE_CAP_MS = String(e.capMs);
      break;
    case 'freeze.lifted':
      env.FW_SHARD_FREEZE_STATE = 'lifted';
      env.FW_SHARD_FREEZE_MS = String(e.ms);
      env.FW_SHARD_FREEZE_REASON = e.reason;
      break;
    case 'warning':
      env.FW_SHARD_MESSAGE = e.message;
      break;
    case 'move.finished':
      env.FW_SHARD_FINAL_PHASE = e.phase;
      env.FW_SHARD_NEXT_STEP = e.nextStep ?? '';
      break;
    case 'move.failed':
      env.FW_SHARD_ERROR_CODE = e.code;
      env.FW_SHARD_ERROR_MESSAGE = e.message;
      env.FW_SHARD_NEXT_STEP = e.nextStep ?? state.nextStep ?? '';
      break;
    default:
      break;
  }
  return env;
}

/** Which hook an event runs, if any. */
export function hookFor(e: MoveEvent): HookName | null {
  switch (e.type) {
    case 'move.started':
      return e.resumed ? 'on-resume' : null;
    case 'phase.started':
    case 'phase.finished':
      return 'on-phase';
    case 'throttled':
    case 'resumed':
      return 'on-throttle';
    case 'delta.pass':
      return 'on-delta';
    case 'freeze.started':
    case 'freeze.lifted':
      return 'on-freeze';
    case 'mapping.flipped':
      return 'on-flip';
    case 'warning':
      return 'on-warning';
    case 'move.finished':
      return 'on-success';
    case 'move.failed':
      return 'on-failure';
    default:
      return null;
  }
}

/** Run one executable with a timeout; never throws. */
function runHook(hook: HookName, path: string, env: Record<string, string>, cwd: string, timeoutMs: number): Promise<HookResult> {
  return new Promise((done) => {
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    let settled = false;
    const finish = (r: Omit<HookResult, 'hook' | 'stderrTail' | 'stdoutTail' | 'timedOut'>) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      clearTimeout(killer);
      done({ hook, ...r, timedOut, stderrTail: tail(stderr), stdoutTail: tail(stdout) });
    };
    let killer: NodeJS.Timeout | undefined;
    // Its own process group, so a timeout also stops what the hook started (a shell's `sleep`, curl...).
    const child = spawn(path, [], { cwd, env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    const killGroup = (sig: NodeJS.Signals) => {
      try {
        if (child.pid !== undefined) process.kill(-child.pid, sig);
      } catch {
        child.kill(sig);
      }
    };
    const timer = setTimeout(() => {
      timedOut = true;
      killGroup('SIGTERM');
      killer = setTimeout(() => killGroup('SIGKILL'), 2000);
      killer.unref?.();
    }, timeoutMs);
    child.stdout.on('data', (d: Buffer) => {
      stdout = (stdout + d.toString()).slice(-TAIL * 2);
    });
    child.stderr.on('data', (d: Buffer) => {
      stderr = (stderr + d.toString()).slice(-TAIL * 2);
    });
    child.on('error', (err) => finish({ code: null, signal: null, error: err.message }));
    child.on('close', (code, signal) => finish({ code, signal }));
    // After a timeout, do not wait for pipes a stray grandchild may still hold.
    child.on('exit', (code, signal) => {
      if (timedOut) finish({ code, signal });
    });
  });
}

function describeFailure(r: HookResult): string {
  const how = r.error ? `could not run (${r.error})` : r.timedOut ? 'timed out' : r.signal ? `was killed by ${r.signal}` : `exited ${r.code}`;
  const said = r.stderrTail || r.stdoutTail;
  return `hook ${r.hook} ${how}${said ? `: ${said.split('\n').slice(-3).join(' / ')}` : ''}`;
}

const failed = (r: HookResult) => r.error !== undefined || r.timedOut || r.code !== 0;

export function createHookRunner(opts: HookRunnerOptions): HookRunner {
  checkHooksDir(opts.dir);
  const secrets = opts.secrets ?? [];
  const timeoutMs = opts.timeoutMs ?? 30_000;
  const inherited = baseEnv(opts.env, secrets);
  let state: RunState = initialRunState();
  /** The preflight's row count of a new move (resumed moves only know the tables seen so far). */
  let plannedRows: string | null = null;
  let queue: Promise<void> = Promise.resolve();
  const env = (hook: HookName, e: MoveEvent | null) => {
    const facts = factsEnv(state, hook, e, opts.host);
    if (plannedRows !== null && BigInt(plannedRows) > BigInt(facts.FW_SHARD_ROWS_TOTAL ?? '0')) facts.FW_SHARD_ROWS_TOTAL = plannedRows;
    for (const k of Object.keys(facts)) facts[k] = scrub(facts[k]!, secrets);
    return { ...inherited, ...facts };
  };

  return {
    async beforeStart(f) {
      plannedRows = f.totalRows;
      const found = locate(opts.dir, 'on-start');
      if (!found) return;
      state = { ...state, userId: f.userId, from: f.from, to: f.to };
      if (!found.executable) {
        throw new FwShardError('PRECONDITION', `hook on-start (${found.path}) is not executable, so the move was not started`, {
          hint: `chmod +x ${found.path}, or remove it. Nothing was written.`,
        });
      }
      const e = { ...env('on-start', null), FW_SHARD_PHASE: 'preflight' };
      const r = await runHook('on-start', found.path, e, opts.dir, timeoutMs);
      if (failed(r)) {
        throw new FwShardError('PRECONDITION', `the on-start hook refused the move: ${scrub(describeFailure(r), secrets)}`, {
          hint: `Nothing was written. Fix what ${found.path} checks (or the hook itself), then run the same command again.`,
        });
      }
    },
    sink(e) {
      state = reduce(state, e);
      const hook = hookFor(e);
      if (!hook) return;
      const found = locate(opts.dir, hook);
      if (!found) return;
      // Facts are taken now, at the event, not when the queued hook gets to run.
      const vars = env(hook, e);
      queue = queue.then(async () => {
        if (!found.executable) {
          opts.warn(`hook ${hook} (${found.path}) is not executable; skipped`);
          return;
        }
        const r = await runHook(hook, found.path, vars, opts.dir, timeoutMs);
        if (failed(r)) opts.warn(scrub(describeFailure(r), secrets) + ' (the move goes on)');
      });
    },
    drain() {
      return queue;
    },
  };
}

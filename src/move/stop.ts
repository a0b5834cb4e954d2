/**
 * `fw-shard stop`: ask a move that runs elsewhere (another terminal, cron, another host) to stop at its
 * next safe point, exactly as Ctrl-C would stop it there. The request is a column of the move's journal
 * row; the runner looks at it every second (Journal.claim starts the poll, RunContext acts on it) and stops through the same signal as
 * Ctrl-C (exit 130, resumable). The next run of the move clears it.
 */
import { BusyError, FwShardError } from '../errors/index.js';
import { mappingEndpoint, type UserId } from '../topology/index.js';
import { Journal, type MoveRow } from './journal.js';
import { canAbort, parsePhase } from './phase.js';
import type { MoveDeps } from './types.js';

export interface StopResult {
  ok: true;
  moveId: string;
  userId: string;
  /** stopped: its runner let go of it; requested: recorded, not waited for (--no-wait); finished: it ended before a safe point. */
  outcome: 'stopped' | 'requested' | 'finished';
  phase: string;
  nextStep: string;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

function nextSteps(m: MoveRow): string {
  const abortable = canAbort(parsePhase(m.phase, m.id));
  return `fw-shard resume ${m.id} continues it${abortable ? `; fw-shard abort ${m.id} undoes it` : ''}.`;
}

/** NOT_RUNNING (exit 5): there is nothing to stop; says what the move's state is and what to do with it. */
function notRunning(m: MoveRow): FwShardError {
  if (m.state !== 'active') {
    return new FwShardError('NOT_RUNNING', `move ${m.id} is already ${m.state}: nothing to stop`, { hint: 'fw-shard moves --all shows it.' });
  }
  const who = m.runner_host ? `its runner (${m.runner_host} pid ${m.runner_pid}) is gone` : 'no runner has it';
  return new FwShardError('NOT_RUNNING', `move ${m.id} of user ${m.user_id} is not running: ${who}; it waits in phase ${m.phase}`, {
    hint: nextSteps(m),
  });
}

/**
 * Record a stop request for the move (by id, or the user's unfinished one) and wait up to `waitMs` for
 * its runner to let go of it. BUSY (exit 7) when it still runs then; the request stays.
 */
export async function stopMove(deps: MoveDeps, ref: { moveId?: string; userId?: UserId }, opts: { waitMs: number; pollMs?: number }): Promise<StopResult> {
  const journal = new Journal(deps.connect(mappingEndpoint(deps.topology)), deps.runner);
  const move = ref.moveId ? await journal.get(ref.moveId) : await journal.activeForUser(ref.userId!);
  if (!move) {
    throw new FwShardError('MOVE_NOT_FOUND', ref.moveId ? `no move ${ref.moveId} in the journal` : `user ${ref.userId} has no unfinished move`, {
      hint: 'fw-shard moves lists the unfinished moves.',
    });
  }
  if (move.state !== 'active' || move.runner_alive !== true) throw notRunning(move);
  if (move.runner_liveness !== 'lock') {
    throw new FwShardError(
      'PRECONDITION',
      `move ${move.id} is run by ${move.runner_host} pid ${move.runner_pid}, an fw-shard that does not look for stop requests (it predates them)`,
      { hint: `Stop it where it runs (Ctrl-C, or kill -INT ${move.runner_pid} on ${move.runner_host}); it stops at its next safe point.` },
    );
  }
  const by = `${deps.runner.user ?? '?'}@${deps.runner.host}`;
  if (!(await journal.requestStop(move.id, by))) throw notRunning((await journal.get(move.id)) ?? move);
  const result = (outcome: StopResult['outcome'], m: MoveRow, nextStep: string): StopResult => ({
    ok: true,
    moveId: m.id,
    userId: m.user_id,
    outcome,
    phase: m.phase,
    nextStep,
  });
  if (opts.waitMs <= 0) {
    return result('requested', move, `stop requested: move ${move.id} stops at its next safe point (fw-shard moves shows it until then).`);
  }
  const deadline = deps.clock.now().getTime() + opts.waitMs;
  for (;;) {
    await sleep(opts.pollMs ?? 250);
    const now = (await journal.get(move.id)) ?? move;
    if (now.state !== 'active') return result('finished', now, `move ${move.id} ended (${now.state}) before it reached a safe point to stop at.`);
    if (now.runner_alive !== true) return result('stopped', now, `move ${move.id} stopped at a safe point in phase ${now.phase}. ${nextSteps(now)}`);
    if (deps.clock.now().getTime() >= deadline) {
      throw new BusyError(
        'lease',
        `move ${move.id} was asked to stop, but its runner (${now.runner_host} pid ${now.runner_pid}) has not stopped within ${Math.round(opts.waitMs / 1000)} s; it stops at its next safe point (never inside the flip)`,
        { hint: `The request stays: fw-shard moves shows "stop requested" until it stops; fw-shard stop ${move.id} --wait 5m waits longer.` },
      );
    }
  }
}

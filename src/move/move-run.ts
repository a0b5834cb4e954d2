/**
 * One run of one move: its current phase (checked against the state machine on every change, written
 * to the journal before the work of that phase starts), its timings and per-table reports, and the one
 * place that builds its result.
 */
import type { Sql } from '../db/sql/fragment.js';
import { flippedAtSql, freezeStartedSql } from '../db/sql/journal.js';
import type { MoveTotals } from '../events/types.js';
import { FwShardError } from '../errors/index.js';
import { finishUndone } from './journal.js';
import { canTransition, FLIPPED_PHASES, type JournalPhase } from './phase.js';
import type { RunContext } from './run-context.js';
import type { MoveResult, MoveTimings, Preflight, TableReport } from './types.js';
import { moveResult } from './results.js';

export class MoveRun {
  readonly timings: MoveTimings;
  readonly reports: Map<string, TableReport>;
  #freezeMs: number | undefined;
  #deltaPasses: number | undefined;
  /** How this run's mode differs from the journal's (explicit flags), worded for warnings. */
  readonly modeChanges: string[] = [];
  /** The whole move over every run, read from the journal at the run's end (loadTotals). */
  #totals: MoveTotals | undefined;
  /** An undo: the rows its copy wrote (what differed on the target), over every run. */
  #rowsCopied: string | undefined;
  #phase: JournalPhase;
  /** Journal writes of passes not waited for (never inside a freeze); waited for before the totals. */
  #recording: Promise<unknown>[] = [];
  #freezeRecord: string | null = null;

  constructor(
    readonly ctx: RunContext,
    readonly pf: Preflight,
    phase: JournalPhase,
    readonly resumed: boolean,
    readonly startedMs: number,
    timings: MoveTimings,
    /**
     * `fw-shard undo`: the move this run undoes. Its copy re-syncs the target's kept rows instead of
     * copying everything (phases/resync.ts), its flip ends the undone move, its abort keeps the target's rows.
     */
    readonly undoOf: string | null = null,
  ) {
    this.#phase = phase;
    this.timings = timings;
    this.reports = new Map(pf.plan.tables.map((t) => [t.name, { ...t }]));
  }

  /** The cut-over's outcome: how long the user was frozen in the attempt that flipped, and the delta passes. */
  recordCutover(out: { freezeMs?: number; deltaPasses?: number }): void {
    this.#freezeMs = out.freezeMs;
    this.#deltaPasses = out.deltaPasses;
    if (out.freezeMs !== undefined) this.timings.freezeMs = out.freezeMs;
  }

  /** An undo's copy: the rows it wrote, over every run. */
  recordRowsCopied(rows: string): void {
    this.#rowsCopied = rows;
  }

  get phase(): JournalPhase {
    return this.#phase;
  }
  get moveId(): string {
    return this.ctx.moveId;
  }
  get mappingFlipped(): boolean {
    return FLIPPED_PHASES.has(this.#phase);
  }

  /** Record the phase in the journal (with `extra` columns), then make it current. */
  async enter(phase: JournalPhase, extra?: Sql): Promise<void> {
    this.#check(phase);
    await this.ctx.journal.setPhase(this.moveId, phase, extra);
    this.#phase = phase;
  }

  /** The phase was written by another transaction (the flip writes `flipped` with the mapping). */
  entered(phase: JournalPhase): void {
    this.#check(phase);
    this.#phase = phase;
  }

  /**
   * The flip: the mapping's compare-and-set and the journal's `flipped` in one transaction (with
   * `frozen`, valid only while this move's freeze is); an undo also ends the move it undoes there, so
   * that move's cleanup can never run once its old rows are live again.
   */
  async flip(frozen = false, lockWaitSeconds?: number): Promise<void> {
    const { ctx, undoOf } = this;
    await ctx.mapping.applier.flip(
      ctx.deps.topology.mapping,
      ctx.userId,
      ctx.from,
      ctx.to,
      this.moveId,
      flippedAtSql(),
      frozen,
      undoOf === null ? undefined : (s) => finishUndone(s, undoOf, this.moveId),
      lockWaitSeconds,
    );
    this.entered('flipped');
  }

  /** Enter the cleanup, unless an undo of this move started meanwhile (then its rows must stay). */
  async enterCleanup(): Promise<void> {
    this.#check('cleanup');
    if (!(await this.ctx.journal.enterCleanup(this.moveId))) {
      const { undoneBy } = await this.ctx.journal.undoLinks(this.moveId);
      throw new FwShardError('PRECONDITION', `move ${this.moveId} is being undone by move ${undoneBy ?? '?'}: its cleanup does not run`, {
        hint: `fw-shard resume ${undoneBy ?? '<undo id>'} finishes the undo; fw-shard abort ${undoneBy ?? '<undo id>'} gives this move its cleanup back.`,
      });
    }
    this.#phase = 'cleanup';
  }

  /** End the move in the journal (state done or aborted) and make the phase current. */
  async end(state: 'done' | 'aborted'): Promise<void> {
    this.#check(state);
    await this.ctx.journal.finish(this.moveId, state, state);
    this.#phase = state;
  }

  /** A delta (or log) pass ended: announced, and journaled without holding up the move. */
  deltaPassed(pass: number, rangesChanged: number, rowsRecopied: string, ms: number): void {
    this.ctx.emit({ type: 'delta.pass', pass, rangesChanged, rowsRecopied, ms });
    this.#recording.push(this.ctx.journal.deltaPass(this.moveId, ms, rowsRecopied).catch(() => undefined));
  }

  /** A freeze attempt is about to start: the phase, and the attempt's record, in the journal. */
  async freezeStarting(): Promise<void> {
    await this.enter('freeze', freezeStartedSql());
    this.#freezeRecord = await this.ctx.journal.freezeStarted(this.moveId);
  }

  /** The freeze attempt ended (flipped, or lifted to try again): recorded, then announced. */
  async freezeEnded(ms: number, flipped: boolean, reason: string): Promise<void> {
    const record = this.#freezeRecord;
    this.#freezeRecord = null;
    if (record !== null) await this.ctx.journal.freezeEnded(record, ms, flipped ? 'flipped' : 'lifted').catch(() => undefined);
    this.ctx.emit({ type: 'freeze.lifted', ms, flipped, reason });
  }

  /** Read the whole move's totals from the journal (after this run's records are written). */
  async loadTotals(): Promise<void> {
    await Promise.all(this.#recording);
    this.#totals = await this.ctx.journal.totals(this.moveId).catch(() => undefined);
  }

  #check(to: JournalPhase): void {
    // Entering the current phase again only updates the journal's extra columns.
    if (to !== this.#phase && !canTransition(this.#phase, to)) {
      throw new Error(`move ${this.moveId}: no transition from phase ${this.#phase} to ${to}`);
    }
  }

  result(ok: boolean, nextStep: string, error?: { code: string; message: string }): MoveResult {
    this.timings.totalMs = this.ctx.nowMs() - this.startedMs;
    return moveResult({
      ok,
      moveId: this.moveId,
      userId: this.ctx.userId,
      from: this.ctx.from,
      to: this.ctx.to,
      phase: this.#phase,
      mappingFlipped: this.mappingFlipped,
      resumed: this.resumed,
      plan: this.pf.plan,
      tables: [...this.reports.values()],
      timings: this.timings,
      nextStep,
      ...(this.undoOf !== null ? { undoOf: this.undoOf } : {}),
      ...(this.#rowsCopied !== undefined ? { rowsCopied: this.#rowsCopied } : {}),
      ...(error ? { error } : {}),
      ...this.#freezeAndPasses(),
      ...(this.#totals ? { totals: this.#totals } : {}),
    });
  }

  /** freezeMs: the attempt that flipped, as journaled (in this run or an earlier one); deltaPasses: the whole move's. */
  #freezeAndPasses(): Pick<MoveResult, 'freezeMs' | 'deltaPasses'> {
    const flippedFreeze = this.#totals?.freezes.find((f) => f.outcome === 'flipped')?.ms ?? undefined;
    const freezeMs = flippedFreeze ?? this.#freezeMs;
    const deltaPasses = this.#totals && this.#totals.deltaPasses > 0 ? this.#totals.deltaPasses : this.#deltaPasses;
    return { ...(freezeMs !== undefined ? { freezeMs } : {}), ...(deltaPasses !== undefined ? { deltaPasses } : {}) };
  }

  /** The run's successful end: the result (with the whole move's totals), announced by the move.finished event. */
  async finished(nextStep: string): Promise<MoveResult> {
    await this.loadTotals();
    const done = this.result(true, nextStep);
    this.ctx.emit({
      type: 'move.finished',
      phase: this.#phase,
      mappingFlipped: this.mappingFlipped,
      ms: done.timings.totalMs ?? 0,
      nextStep,
      ...(this.#totals ? { totals: this.#totals } : {}),
    });
    return done;
  }
}

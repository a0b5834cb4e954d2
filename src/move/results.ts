/**
 * The one place a MoveResult is built: a run's (MoveRun.result) and those of calls that end without a
 * run (nothing to do, a dry run, an abort). The defaults live here: ok, mapping not flipped, the plan's
 * tables when there is a plan and no table reports.
 */
import type { MoveResult } from './types.js';

type MoveResultFields = Omit<MoveResult, 'ok' | 'mappingFlipped' | 'tables'> & Partial<Pick<MoveResult, 'ok' | 'mappingFlipped' | 'tables'>>;

export function moveResult(f: MoveResultFields): MoveResult {
  const { ok = true, mappingFlipped = false, tables, ...rest } = f;
  return { ok, mappingFlipped, ...rest, tables: tables ?? f.plan?.tables ?? [] };
}

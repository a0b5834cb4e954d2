/**
 * The mode a move runs in, as its journal recorded it: offline (--assume-no-writes) or online, the capture
 * of an online move (trigger or rehash, as chosen when it started) and the cleanup mode. A continued move
 * (`resume`, the same `move` command again, `apply`) keeps it; only a flag given explicitly changes it,
 * and the change is recorded in the journal and reported as a warning. Pure: no I/O.
 */
import { ROW_HASHES, type RowHash } from '../db/sql/rows.js';
import { CLEANUP_MODES } from './types.js';
import type { CaptureAsk, CleanupMode, MoveAsk, MoveRequest } from './types.js';

/** The `options` column of fw_shard_moves (JSON). Older journals lack `capture`. */
interface JournalOptions {
  chunkTimeMs?: number;
  chunkSize?: number | null;
  concurrency?: number;
  assumeNoWrites?: boolean;
  /** The capture an online move runs with (trigger or rehash); null offline. */
  capture?: 'trigger' | 'rehash' | null;
  /** The range hash of the move's records (rows.ts RowHash). Older journals lack it: 'md5-text'. */
  rowHash?: RowHash;
}

interface MoveMode {
  assumeNoWrites: boolean;
  /** The journaled capture of an online move; undefined offline or in journals older than this field. */
  capture: 'trigger' | 'rehash' | undefined;
  cleanup: CleanupMode;
  /** The range hash its records were made with (never changed by a later run). */
  rowHash: RowHash;
}

/** The options column as read: its JSON text, or the object a MoveRow holds (parsed by the journal reader). */
export type JournalOptionsValue = string | Record<string, unknown> | null;

export function parseJournalOptions(value: JournalOptionsValue): JournalOptions {
  if (value !== null && typeof value === 'object') return value as JournalOptions;
  try {
    const o: unknown = JSON.parse(value ?? '{}');
    return o !== null && typeof o === 'object' ? (o as JournalOptions) : {};
  } catch {
    return {};
  }
}

/** The options column's text for a value as read (to tell whether a run changed it). */
export function journalOptionsText(value: JournalOptionsValue): string | null {
  return value === null || typeof value === 'string' ? value : JSON.stringify(value);
}

export function journaledMode(move: { options: JournalOptionsValue; cleanup_mode: string }): MoveMode {
  const o = parseJournalOptions(move.options);
  return {
    assumeNoWrites: o.assumeNoWrites === true,
    capture: o.capture === 'trigger' || o.capture === 'rehash' ? o.capture : undefined,
    cleanup: (CLEANUP_MODES as readonly string[]).includes(move.cleanup_mode) ? (move.cleanup_mode as CleanupMode) : 'now',
    rowHash: (ROW_HASHES as readonly unknown[]).includes(o.rowHash) ? o.rowHash! : 'md5-text',
  };
}

/**
 * The request of a continued move: the journal's mode wherever the ask leaves it out. An online move
 * asks for its journaled capture (a capture it can no longer have is then refused by the preflight,
 * never silently swapped).
 */
export function continuedRequest(journaled: MoveMode, ask: MoveAsk, userId: MoveRequest['userId'], to: MoveRequest['to']): MoveRequest {
  const assumeNoWrites = ask.assumeNoWrites ?? journaled.assumeNoWrites;
  const capture: CaptureAsk | undefined = ask.capture ?? (assumeNoWrites === journaled.assumeNoWrites ? journaled.capture : undefined);
  return { ...ask, userId, to, assumeNoWrites, cleanup: ask.cleanup ?? journaled.cleanup, ...(capture ? { capture } : {}) };
}

const modeName = (offline: boolean) => (offline ? 'offline (--assume-no-writes)' : 'online');

/**
 * What this run does differently from the journal (each worded for a warning line), given the mode the
 * run resolved to (`capture`: what the preflight chose, for an online run). Empty: nothing to record.
 */
export function modeChanges(journaled: MoveMode, now: { assumeNoWrites: boolean; capture: 'trigger' | 'rehash' | undefined; cleanup: CleanupMode }): string[] {
  const out: string[] = [];
  if (now.assumeNoWrites !== journaled.assumeNoWrites) {
    out.push(
      `the move was journaled ${modeName(journaled.assumeNoWrites)} and continues ${modeName(now.assumeNoWrites)}, as asked${
        now.assumeNoWrites ? ": the user's writes must stay stopped until it is done" : ''
      }`,
    );
  } else if (!now.assumeNoWrites && journaled.capture && now.capture && now.capture !== journaled.capture) {
    out.push(`the move was journaled with --capture ${journaled.capture} and continues with --capture ${now.capture}, as asked`);
  }
  if (now.cleanup !== journaled.cleanup)
    out.push(`the move was journaled with --cleanup ${journaled.cleanup} and continues with --cleanup ${now.cleanup}, as asked`);
  return out;
}

/** The options column after a run that may have changed the mode. */
export function journalOptionsAfter(value: JournalOptionsValue, now: { assumeNoWrites: boolean; capture: 'trigger' | 'rehash' | undefined }): string {
  return JSON.stringify({ ...parseJournalOptions(value), assumeNoWrites: now.assumeNoWrites, capture: now.assumeNoWrites ? null : (now.capture ?? null) });
}

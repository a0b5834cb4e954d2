/**
 * Recorded event sequences (test/fixtures/events/*.ndjson, one `--events` line each) for the reducer
 * and renderer tests. offline-move.ndjson and online-throttled.ndjson (two tables waiting on a pause file,
 * so two `resumed` events for one wait) were recorded from real sandbox moves; the others are written
 * by hand in the same shape (online moves with throttling and a freeze, a failed verification, Ctrl-C).
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { MoveEvent } from '../../src/events/types.js';

export type Fixture = 'offline-move' | 'online-move' | 'online-throttled' | 'failed-verify' | 'interrupted';

export function loadEvents(name: Fixture): MoveEvent[] {
  const text = readFileSync(resolve(__dirname, '../fixtures/events', `${name}.ndjson`), 'utf8');
  return text
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => {
      const { v, ...e } = JSON.parse(l) as { v: number } & MoveEvent;
      if (v !== 1) throw new Error(`${name}: unknown events version ${v}`);
      return e as MoveEvent;
    });
}

/** The events up to and including the first one matching `until`. */
export function upTo(events: MoveEvent[], until: (e: MoveEvent, i: number) => boolean): MoveEvent[] {
  const i = events.findIndex(until);
  if (i < 0) throw new Error('no such event in the fixture');
  return events.slice(0, i + 1);
}

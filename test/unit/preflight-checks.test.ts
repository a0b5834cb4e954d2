/**
 * The preflight's named checks (issue 25): one registry, each check with a unique name, a stage and the
 * runs it applies to; which runs a check applies to is decided in one place.
 */
import { describe, expect, it } from 'vitest';
import { appliesTo, PREFLIGHT_CHECKS } from '../../src/move/phases/preflight-checks.js';

describe('preflight checks', () => {
  it('have unique kebab-case names, in stage order', () => {
    const names = PREFLIGHT_CHECKS.map((c) => c.name);
    expect(new Set(names).size).toBe(names.length);
    for (const n of names) expect(n).toMatch(/^[a-z0-9]+(-[a-z0-9]+)*$/);
    const stages = ['servers', 'tables', 'keys', 'rows'];
    const order = PREFLIGHT_CHECKS.map((c) => stages.indexOf(c.stage));
    expect(order).toEqual([...order].sort((a, b) => a - b));
  });

  it('a resumed move runs only what holds for every run; an undo skips what its kept rows would trip; a dry run adds the costly ones', () => {
    const resumed = { resuming: true };
    const fresh = { resuming: false };
    const undo = { resuming: false, keptRows: true };
    const dry = { resuming: false, dryRun: true };
    expect(['every', 'new', 'new-copy', 'dry-run'].map((r) => appliesTo(r as never, resumed))).toEqual([true, false, false, false]);
    expect(['every', 'new', 'new-copy', 'dry-run'].map((r) => appliesTo(r as never, fresh))).toEqual([true, true, true, false]);
    expect(['every', 'new', 'new-copy', 'dry-run'].map((r) => appliesTo(r as never, undo))).toEqual([true, true, false, false]);
    expect(['every', 'new', 'new-copy', 'dry-run'].map((r) => appliesTo(r as never, dry))).toEqual([true, true, true, true]);
    // What a resumed move (which wrote rows itself) must not re-check.
    const skipOnResume = PREFLIGHT_CHECKS.filter((c) => !appliesTo(c.runs, resumed)).map((c) => c.name);
    expect(skipOnResume).toEqual(expect.arrayContaining(['no-split', 'shared-rows-equal', 'target-holds-no-rows', 'key-collisions']));
  });
});

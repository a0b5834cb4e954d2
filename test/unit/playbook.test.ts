/**
 * Playbooks (src/fleet/playbook.ts): every shipped playbook parses; params and --set; every problem is
 * reported at once with the line it is on; windows and sizes.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { FwShardError } from '../../src/errors/index.js';
import { loadPlaybook, parseSetValue, parseSets, shardListOf, windowState } from '../../src/fleet/playbook.js';
import { parseSize } from '../../src/config/units.js';

const ROOT = resolve(fileURLToPath(import.meta.url), '../../..');
const dir = join(ROOT, 'playbooks');

function problems(text: string, sets: Record<string, string> = {}): string[] {
  try {
    loadPlaybook(text, 'pb.yaml', sets);
  } catch (err) {
    expect(err).toBeInstanceOf(FwShardError);
    expect((err as FwShardError).code).toBe('PLAYBOOK_INVALID');
    expect((err as FwShardError).exitCode).toBe(3);
    return (err as Error).message
      .split('\n')
      .slice(1)
      .map((l) => l.trim());
  }
  throw new Error('expected the playbook to be refused');
}

describe('shipped playbooks', () => {
  const files = readdirSync(dir).filter((f) => f.endsWith('.yaml'));
  it('ships the five runbooks', () => {
    expect(files.sort()).toEqual(['deferred-cleanup.yaml', 'drain-shard.yaml', 'graduate.yaml', 'nightly-balance.yaml', 'verify-sweep.yaml']);
  });

  const sets: Record<string, Record<string, string>> = { 'drain-shard.yaml': { shard: '3' }, 'graduate.yaml': { to: '2,3,4' } };
  for (const f of ['deferred-cleanup.yaml', 'drain-shard.yaml', 'graduate.yaml', 'nightly-balance.yaml', 'verify-sweep.yaml']) {
    it(`${f} is valid, states its guardrails in its comments, and names itself`, () => {
      const text = readFileSync(join(dir, f), 'utf8');
      const pb = loadPlaybook(text, f, sets[f] ?? {});
      expect(pb.name).toBe(f.replace('.yaml', ''));
      expect(text).toMatch(/# Guardrails:/);
      expect(text).toMatch(/fw-shard run playbooks\//);
      expect(pb.steps.length).toBeGreaterThan(0);
    });
  }

  it('drain-shard needs its shard, and takes it from --set with its type', () => {
    const text = readFileSync(join(dir, 'drain-shard.yaml'), 'utf8');
    const lines = problems(text);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^pb\.yaml:\d+: steps\.0\.plan\.drain: param shard has no value: pass --set shard=\.\.\.$/);
    const line = Number(/:(\d+):/.exec(lines[0]!)![1]);
    expect(text.split('\n')[line - 1]).toMatch(/drain: \$\{shard\}/);
    const pb = loadPlaybook(text, 'pb.yaml', { shard: '3', maxMoves: '5' });
    expect(pb.steps[0]).toMatchObject({ kind: 'plan', opts: { drain: 3, by: 'bytes' } });
    expect(pb.guardrails.maxMoves).toBe(5);
    // Online moves unless the playbook says offline explicitly (a cron line must not assume stopped writes).
    expect(pb.steps[1]).toMatchObject({ kind: 'apply', opts: { cleanup: 'now' } });
    expect((pb.steps[1] as { opts: { assumeNoWrites?: boolean } }).opts.assumeNoWrites).toBeUndefined();
  });

  it('nightly-balance has a window and defers its cleanup', () => {
    const pb = loadPlaybook(readFileSync(join(dir, 'nightly-balance.yaml'), 'utf8'), 'nb.yaml');
    expect(pb.guardrails).toMatchObject({ window: '01:00-05:00', maxMoves: 20, maxBytes: '10G', maxLag: '5s', perShard: 1 });
    expect(pb.steps.map((s) => s.kind)).toEqual(['plan', 'apply']);
  });
});

describe('playbook validation', () => {
  const good = `version: 1
name: t
params:
  shard: 2
guardrails:
  maxMoves: 3
steps:
  - plan:
      drain: \${shard}
  - apply:
      assumeNoWrites: true
`;

  it('accepts a good playbook and substitutes params', () => {
    const pb = loadPlaybook(good, 'pb.yaml');
    expect(pb.steps).toEqual([
      { kind: 'plan', line: 8, opts: { drain: 2 } },
      { kind: 'apply', line: 10, opts: { assumeNoWrites: true } },
    ]);
    expect(pb.params).toEqual({ shard: 2 });
  });

  it('reports every problem at once, each with its line', () => {
    const text = `version: 1
name: bad name
guardrails:
  maxMoves: -1
  maxLag: soon
  windw: "01:00-05:00"
steps:
  - plan:
      balance: true
      by: weight
  - apply:
      concurrency: 0
  - explode: {}
`;
    const lines = problems(text);
    expect(lines).toEqual([
      'pb.yaml:2: name: letters, digits, - _ . only',
      expect.stringMatching(/^pb\.yaml:4: guardrails\.maxMoves: /),
      expect.stringMatching(/^pb\.yaml:5: guardrails\.maxLag: must be a duration/),
      "pb.yaml:6: guardrails.windw: unknown key 'windw'",
      expect.stringMatching(/^pb\.yaml:10: steps\.0\.plan\.by: /),
      expect.stringMatching(/^pb\.yaml:12: steps\.1\.apply\.concurrency: /),
      "pb.yaml:13: steps.2.explode: unknown key 'explode'",
      expect.stringMatching(/^pb\.yaml:13: steps\.2: each step is exactly one of plan, apply, cleanup, verify, cleanupOrphans/),
    ]);
  });

  it('reports YAML syntax errors and duplicate keys with their line', () => {
    expect(problems('version: 1\nname: t\nsteps:\n  - plan: {balance: true\n')[0]).toMatch(/^pb\.yaml:\d+: YAML: /);
    expect(problems('version: 1\nname: t\nname: u\nsteps: []\n')[0]).toMatch(/^pb\.yaml:3: YAML: .*[Uu]nique/);
    expect(problems('- 1\n- 2\n')[0]).toMatch(/^pb\.yaml:1: a playbook is a YAML mapping/);
  });

  it('refuses unknown --set keys, undeclared ${params}, and an apply without a plan', () => {
    expect(problems(good, { shrad: '3' })[0]).toMatch(/^pb\.yaml:3: --set shrad: this playbook has no param shrad \(it takes: shard\)/);
    const undeclared = good.replace('drain: ${shard}', 'drain: ${shrad}');
    expect(problems(undeclared)).toEqual(['pb.yaml:9: steps.0.plan.drain: ${shrad} names no param (declare it under params:)']);
    const noPlan = 'version: 1\nname: t\nsteps:\n  - apply: {assumeNoWrites: true}\n';
    expect(problems(noPlan)).toEqual(['pb.yaml:4: steps.0.apply: no plan: give plan: FILE or put a plan step before it']);
  });

  it('checks cross-field rules of a plan step', () => {
    expect(problems('version: 1\nname: t\nsteps:\n  - plan: {balance: true, drain: 2}\n')[0]).toMatch(/^pb\.yaml:4: steps\.0\.plan: give exactly one of/);
    expect(problems('version: 1\nname: t\nsteps:\n  - plan:\n      graduate: true\n')[0]).toMatch(/^pb\.yaml:5: steps\.0\.plan\.to: graduate needs to:/);
  });

  it('substitutes inside longer strings', () => {
    const pb = loadPlaybook('version: 1\nname: t\nparams: {dir: /run/x}\nguardrails: {stopFile: "${dir}/stop"}\nsteps:\n  - verify:\n', 'pb.yaml');
    expect(pb.guardrails.stopFile).toBe('/run/x/stop');
    expect(pb.steps[0]).toEqual({ kind: 'verify', line: 6, opts: {} });
  });
});

describe('playbook helpers', () => {
  it('parses --set values with their types', () => {
    expect(parseSets(['a=1', 'b=x=y', 'c='])).toEqual({ a: '1', b: 'x=y', c: '' });
    expect(() => parseSets(['nokey'])).toThrow(/key=value/);
    expect([parseSetValue('3'), parseSetValue('true'), parseSetValue('null'), parseSetValue('2,3'), parseSetValue('01:00-05:00')]).toEqual([
      3,
      true,
      null,
      '2,3',
      '01:00-05:00',
    ]);
  });

  it('reads shard lists and sizes', () => {
    expect(shardListOf('2, 3,4')).toEqual([2, 3, 4]);
    expect(shardListOf(5)).toEqual([5]);
    expect(parseSize('10G')).toBe(10n * 1024n ** 3n);
    expect(parseSize('1.5M')).toBe(1572864n);
    expect(parseSize('500')).toBe(500n);
    expect(parseSize(1000)).toBe(1000n);
    expect(() => parseSize('lots')).toThrow(/size like/);
  });

  it('knows whether now is inside a window (also across midnight) and when it ends', () => {
    const at = (h: number, m: number) => new Date(2026, 0, 10, h, m, 0);
    expect(windowState('01:00-05:00', at(2, 0))).toMatchObject({ inside: true, end: at(5, 0) });
    expect(windowState('01:00-05:00', at(5, 0)).inside).toBe(false);
    expect(windowState('01:00-05:00', at(0, 59)).inside).toBe(false);
    const night = windowState('22:00-04:00', at(23, 30));
    expect(night.inside).toBe(true);
    expect(night.end).toEqual(new Date(2026, 0, 11, 4, 0, 0));
    expect(windowState('22:00-04:00', at(3, 0)).inside).toBe(true);
    expect(windowState('22:00-04:00', at(12, 0)).inside).toBe(false);
    expect(windowState('00:00-24:00', at(12, 0))).toMatchObject({ inside: true, end: new Date(2026, 0, 11, 0, 0, 0) });
  });
});

/**
 * Playbooks: the runbooks operators copy into cron (playbooks/*.yaml), parsed and validated before
 * anything runs. Parse → substitute params → validate (zod), returning every problem at once as
 * `FILE:LINE: path: problem`, the line taken from the YAML node the problem is about.
 *
 *   version: 1
 *   name: nightly-balance
 *   params: { window: "01:00-05:00", maxMoves: 20 }     # --set window=02:00-04:00 overrides
 *   guardrails: { window: "${window}", maxMoves: ${maxMoves}, maxLag: 5s, stopFile: /var/run/fw-shard.stop }
 *   steps:
 *     - plan: { balance: true, by: bytes }
 *     - apply: { cleanup: defer }            # online moves unless assumeNoWrites: true
 *
 * A string that is exactly `${name}` takes the param's value with its type; `${name}` inside a longer
 * string is replaced by its text. A param whose default is null must be given with --set.
 */
import { isMap, isPair, isScalar, LineCounter, parseDocument, type Document, type Node as YamlNode } from 'yaml';
import { z } from 'zod';
import { FwShardError } from '../errors/index.js';
import { METRICS, type Metric } from '../plan/planner.js';

type ParamValue = string | number | boolean | null;

const duration = z.string().regex(/^[0-9]+(\.[0-9]+)?(ms|s|m|h|d)?$/, 'must be a duration like 500ms, 5s, 15m or 1h');
const clock = '([01][0-9]|2[0-3]):[0-5][0-9]';
const window = z.string().regex(new RegExp(`^${clock}-(${clock}|24:00)$`), 'must be a time window like 01:00-05:00 (local time; 00:00-24:00 is all day)');
const size = z.union([z.number().int().min(1), z.string().regex(/^[0-9]+(\.[0-9]+)?\s*([kKmMgGtT]i?[bB]?|[bB])?$/, 'must be a size like 500M or 20G')]);
const shardId = z.number().int().min(1).max(255);
const shardList = z.union([shardId, z.array(shardId).min(1), z.string().regex(/^[0-9]+(\s*,\s*[0-9]+)*$/, 'must be shard ids like 2,3,4')]);
const userId = z.union([z.number().int().min(1), z.string().regex(/^[0-9]+$/, 'must be a user id')]);

const guardrails = z.strictObject({
  window: window.optional(),
  maxMoves: z.number().int().min(1).optional(),
  maxBytes: size.optional(),
  maxLag: duration.optional(),
  maxLoad: z
    .string()
    .regex(/^\s*([A-Za-z_][A-Za-z0-9_]*\s*=\s*)?[0-9]+(\s*,\s*([A-Za-z_][A-Za-z0-9_]*\s*=\s*)?[0-9]+)*\s*$/, 'must look like Threads_running=25')
    .optional(),
  throttleQuery: z.string().min(1).optional(),
  pauseFile: z.string().min(1).optional(),
  stopFile: z.string().min(1).optional(),
  concurrency: z.number().int().min(1).max(64).optional(),
  perShard: z.number().int().min(1).max(64).optional(),
});

const planStep = z
  .strictObject({
    balance: z.literal(true).optional(),
    drain: shardList.optional(),
    graduate: z.literal(true).optional(),
    from: shardList.optional(),
    to: shardList.optional(),
    by: z.enum(METRICS as [Metric, ...Metric[]]).optional(),
    threshold: z.number().min(0).max(100).optional(),
    maxMoves: z.number().int().min(1).optional(),
    maxBytes: size.optional(),
    out: z.string().min(1).optional(),
    /** Exact sizes (every row read) instead of the estimate from indexes and statistics, as `plan --exact`. */
    exact: z.boolean().optional(),
  })
  .refine((p) => [p.balance, p.drain, p.graduate].filter((x) => x !== undefined).length === 1, {
    message: 'give exactly one of balance: true, drain: SHARD, graduate: true',
  })
  .refine((p) => p.graduate === undefined || p.to !== undefined, { message: 'graduate needs to: (the shards to graduate onto)', path: ['to'] });

const applyStep = z.strictObject({
  plan: z.string().min(1).optional(),
  assumeNoWrites: z.boolean().optional(),
  cleanup: z.enum(['now', 'defer', 'keep']).optional(),
  concurrency: z.number().int().min(1).max(64).optional(),
  perShard: z.number().int().min(1).max(64).optional(),
  maxMoves: z.number().int().min(1).optional(),
  chunkTime: duration.optional(),
  chunkSize: z.number().int().min(1).max(1_000_000).optional(),
  tableConcurrency: z.number().int().min(1).max(64).optional(),
});

const cleanupStep = z.strictObject({ olderThan: duration.optional() });
const verifyStep = z.strictObject({ shard: shardId.optional(), user: userId.optional(), failOnOrphans: z.boolean().optional() });
const orphansStep = z.strictObject({ shard: shardId.optional(), user: userId.optional(), dryRun: z.boolean().optional() });

const STEP_KINDS = ['plan', 'apply', 'cleanup', 'verify', 'cleanupOrphans'] as const;
const step = z
  .strictObject({
    plan: planStep.optional(),
    apply: applyStep.optional(),
    cleanup: z.union([cleanupStep, z.null()]).optional(),
    verify: z.union([verifyStep, z.null()]).optional(),
    cleanupOrphans: z.union([orphansStep, z.null()]).optional(),
  })
  .refine((s) => STEP_KINDS.filter((k) => k in s).length === 1, { message: `each step is exactly one of ${STEP_KINDS.join(', ')}` });

const param = z.union([z.string(), z.number(), z.boolean(), z.null()]);

const playbookSchema = z.strictObject({
  version: z.literal(1),
  name: z
    .string()
    .regex(/^[A-Za-z0-9_.-]+$/, 'letters, digits, - _ . only')
    .max(48),
  description: z.string().optional(),
  lock: z
    .string()
    .regex(/^[A-Za-z0-9_.:-]+$/, 'letters, digits, - _ . : only')
    .max(48)
    .optional(),
  params: z.record(z.string().regex(/^[A-Za-z][A-Za-z0-9_]*$/, 'param names are identifiers'), param).optional(),
  guardrails: guardrails.optional(),
  steps: z.array(step).min(1, 'a playbook needs at least one step'),
});

type RawPlaybook = z.infer<typeof playbookSchema>;
export type Guardrails = z.infer<typeof guardrails>;
export type PlanStep = z.infer<typeof planStep>;
type ApplyStep = z.infer<typeof applyStep>;

export type Step =
  | { kind: 'plan'; line: number; opts: PlanStep }
  | { kind: 'apply'; line: number; opts: ApplyStep }
  | { kind: 'cleanup'; line: number; opts: z.infer<typeof cleanupStep> }
  | { kind: 'verify'; line: number; opts: z.infer<typeof verifyStep> }
  | { kind: 'cleanupOrphans'; line: number; opts: z.infer<typeof orphansStep> };

export interface Playbook {
  source: string;
  name: string;
  description?: string;
  lock?: string;
  params: Record<string, ParamValue>;
  guardrails: Guardrails;
  steps: Step[];
}

/** `--set key=value` text → a typed value: digits → number, true/false, null; anything else stays text. */
export function parseSetValue(v: string): ParamValue {
  if (/^-?[0-9]+(\.[0-9]+)?$/.test(v) && Number.isSafeInteger(Math.trunc(Number(v)))) return Number(v);
  if (v === 'true') return true;
  if (v === 'false') return false;
  if (v === 'null') return null;
  return v;
}

export function parseSets(sets: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const s of sets) {
    const i = s.indexOf('=');
    if (i <= 0) throw new FwShardError('USAGE', `--set must be key=value, got '${s}'`);
    out[s.slice(0, i).trim()] = s.slice(i + 1);
  }
  return out;
}

class Problems {
  readonly list: { line: number; text: string }[] = [];
  constructor(private readonly source: string) {}
  add(line: number, text: string): void {
    this.list.push({ line, text });
  }
  throwIfAny(): void {
    if (this.list.length === 0) return;
    const lines = this.list.sort((a, b) => a.line - b.line).map((p) => `${this.source}:${p.line || '?'}: ${p.text}`);
    throw new FwShardError(
      'PLAYBOOK_INVALID',
      `${this.source} is not a valid playbook (${lines.length} problem${lines.length > 1 ? 's' : ''}); nothing was run:\n  ${lines.join('\n  ')}`,
      {
        hint: 'Fix the lines named above (README "Playbooks" lists every key).',
      },
    );
  }
}

type Path = readonly (string | number)[];

/** The line of the node at `path`, or of its nearest existing ancestor. */
function lineOf(doc: Document, lc: LineCounter, path: Path): number {
  for (let n = path.length; n >= 0; n--) {
    const node = (n === 0 ? doc.contents : doc.getIn(path.slice(0, n), true)) as YamlNode | null | undefined;
    if (node && (node as { range?: [number, number, number] }).range) return lc.linePos(node.range![0]).line;
  }
  return 0;
}

/** The line of key `key` in the map at `path` (for unknown keys). */
function keyLine(doc: Document, lc: LineCounter, path: Path, key: string): number {
  const parent = path.length === 0 ? doc.contents : doc.getIn(path, true);
  if (isMap(parent)) {
    for (const item of parent.items) {
      if (isPair(item) && isScalar(item.key) && String(item.key.value) === key && item.key.range) return lc.linePos(item.key.range[0]).line;
    }
  }
  return lineOf(doc, lc, path);
}

const REF = /\$\{([A-Za-z][A-Za-z0-9_]*)\}/g;

/** Replace `${param}` everywhere, reporting unknown and unset params at their line. */
function substitute(
  value: unknown,
  path: (string | number)[],
  params: Record<string, ParamValue>,
  report: (path: Path, text: string) => void,
  used: Set<string>,
): unknown {
  if (typeof value === 'string') {
    const whole = /^\$\{([A-Za-z][A-Za-z0-9_]*)\}$/.exec(value);
    const resolve = (name: string): ParamValue | undefined => {
      used.add(name);
      if (!(name in params)) {
        report(path, `\${${name}} names no param (declare it under params:)`);
        return undefined;
      }
      if (params[name] === null) {
        report(path, `param ${name} has no value: pass --set ${name}=...`);
        return undefined;
      }
      return params[name];
    };
    if (whole) return resolve(whole[1]!) ?? value;
    return value.replace(REF, (m, name: string) => {
      const v = resolve(name);
      return v === undefined ? m : String(v);
    });
  }
  if (Array.isArray(value)) return value.map((v, i) => substitute(v, [...path, i], params, report, used));
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, substitute(v, [...path, k], params, report, used)]));
  }
  return value;
}

/** Parse and validate a playbook; `sets` are the --set overrides. Throws PLAYBOOK_INVALID listing every problem. */
export function loadPlaybook(text: string, source: string, sets: Record<string, string> = {}): Playbook {
  const problems = new Problems(source);
  const lc = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lc, prettyErrors: true, uniqueKeys: true });
  for (const e of [...doc.errors, ...doc.warnings]) {
    problems.add(e.linePos?.[0]?.line ?? 0, `YAML: ${e.message.split('\n')[0]}`);
  }
  problems.throwIfAny();
  const raw = doc.toJS() as Record<string, unknown> | null;
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) {
    problems.add(1, 'a playbook is a YAML mapping with version, name and steps');
    problems.throwIfAny();
  }
  const substitutionProblems = new Set<string>();
  const report = (path: Path, t: string) => problems.add(lineOf(doc, lc, path), `${path.length ? path.join('.') : '(top level)'}: ${t}`);
  const reportSubstitution = (path: Path, t: string) => {
    substitutionProblems.add(path.join('.'));
    report(path, t);
  };

  // params first: defaults, then --set
  const declared = (raw!.params ?? {}) as Record<string, unknown>;
  const params: Record<string, ParamValue> = {};
  if (typeof declared === 'object' && declared !== null && !Array.isArray(declared)) {
    for (const [k, v] of Object.entries(declared)) params[k] = v === undefined ? null : (v as ParamValue);
  }
  for (const [k, v] of Object.entries(sets)) {
    if (!(k in params)) {
      const names = Object.keys(params);
      problems.add(
        keyLine(doc, lc, [], 'params'),
        `--set ${k}: this playbook has no param ${k} (${names.length ? `it takes: ${names.join(', ')}` : 'it takes none'})`,
      );
      continue;
    }
    params[k] = parseSetValue(v);
  }
  const used = new Set<string>();
  const { params: _omit, ...rest } = raw!;
  const substituted = {
    ...(substitute(rest, [], params, reportSubstitution, used) as Record<string, unknown>),
    ...(raw!.params !== undefined ? { params: raw!.params } : {}),
  };

  const r = playbookSchema.safeParse(substituted);
  if (!r.success) {
    for (const issue of r.error.issues) {
      const path = issue.path as (string | number)[];
      // A value left as `${param}` after a substitution problem: that problem already says it all.
      if (substitutionProblems.has(path.join('.'))) continue;
      if (issue.code === 'unrecognized_keys') {
        for (const k of issue.keys) problems.add(keyLine(doc, lc, path, k), `${[...path, k].join('.')}: unknown key '${k}'`);
        continue;
      }
      report(path, issue.message);
    }
  }
  problems.throwIfAny();
  const pb = r.data as RawPlaybook;
  const steps: Step[] = pb.steps.map((s, i) => {
    const kind = STEP_KINDS.find((k) => k in s)!;
    const line = lineOf(doc, lc, ['steps', i]);
    const opts = (s as Record<string, unknown>)[kind] ?? {};
    return { kind, line, opts } as Step;
  });
  // Cross-step rules, each at its line.
  let planned = false;
  steps.forEach((s, i) => {
    if (s.kind === 'plan') planned = true;
    if (s.kind === 'apply' && !s.opts.plan && !planned) problems.add(s.line, `steps.${i}.apply: no plan: give plan: FILE or put a plan step before it`);
  });
  problems.throwIfAny();
  return {
    source,
    name: pb.name,
    ...(pb.description !== undefined ? { description: pb.description } : {}),
    ...(pb.lock !== undefined ? { lock: pb.lock } : {}),
    params,
    guardrails: pb.guardrails ?? {},
    steps,
  };
}

/** "2,3,4", 3 or [2, 3] → [2, 3, 4]. */
export function shardListOf(v: number | number[] | string | undefined): number[] | undefined {
  if (v === undefined) return undefined;
  if (typeof v === 'number') return [v];
  if (Array.isArray(v)) return v;
  return v.split(',').map((s) => Number(s.trim()));
}

/** Whether `now` (local time) is inside "HH:MM-HH:MM" (which may wrap past midnight), and when it ends. */
export function windowState(text: string, now: Date): { inside: boolean; end: Date; start: Date } {
  const [a, b] = text.split('-') as [string, string];
  const mins = (s: string) => Number(s.slice(0, 2)) * 60 + Number(s.slice(3, 5));
  const start = mins(a);
  const end = mins(b);
  const cur = now.getHours() * 60 + now.getMinutes();
  const inside = start === end ? true : start < end ? cur >= start && cur < end : cur >= start || cur < end;
  const at = (m: number, afterNow: boolean) => {
    const d = new Date(now.getTime());
    d.setHours(Math.floor(m / 60), m % 60, 0, 0);
    if (afterNow && d.getTime() <= now.getTime()) d.setDate(d.getDate() + 1);
    return d;
  };
  return { inside, end: at(end, true), start: at(start, true) };
}

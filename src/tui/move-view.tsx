/**
 * The move screen. A pure view of the reducer's RunState (plus the current time, for live timers):
 * milestones go through <Static> (printed once, never redrawn, so finished lines stay put and do not
 * flicker); below them, redrawn in place: the running phase, one progress bar per table being copied,
 * verification and cleanup progress, the throttle state and why, the freeze timer, and at the end the
 * summary with the next step. Reads well down to 60 columns.
 */
import { createContext, useContext, type ReactNode } from 'react';
import { Box, Static, Text } from 'ink';
import type { Phase } from '../events/types.js';
import { totals, type LogEntry, type PhaseState, type RunState, type TableState } from '../events/reducer.js';
import { firstLine, fmtCount, fmtMs, fmtRate, percent } from '../report/format.js';
import { MARK, bar, fit, theme, type Theme } from './theme.js';

interface MoveViewProps {
  state: RunState;
  /** Epoch ms, for the running phase's elapsed time and the freeze timer. */
  now: number;
  /** Terminal columns. */
  width: number;
  color: boolean;
  /**
   * The result (the move's next step) is printed right below, on stdout, on the same terminal: the
   * summary leaves it out rather than say it twice. When stdout goes elsewhere the summary keeps it.
   */
  resultBelow?: boolean;
}

const PHASE_W = 10;
const EXPECTED: Record<string, Phase[]> = {
  offline: ['preflight', 'copy', 'verify', 'flip', 'cleanup'],
  online: ['preflight', 'copy', 'delta', 'cleanup'],
};

/** The terminal width, for Row's wrapping. */
const WidthContext = createContext(80);

type StaticItem = { key: string; header: true; state: RunState } | { key: string; header: false; entry: LogEntry };

const since = (iso: string | null, now: number) => (iso ? Math.max(0, now - Date.parse(iso)) : 0);

/**
 * The log in the order the screen prints it: a milestone that happened within a phase (a table copied,
 * a delta pass, a throttle) comes right under that phase's line, so it waits while the phase runs (the
 * live part shows it under the running phase meanwhile). Only ever appended to as the log grows, which
 * <Static> relies on: a held entry is released at the end, right after its phase's line.
 */
export function arrangeLog(log: readonly LogEntry[]): { printed: LogEntry[]; held: Map<Phase, LogEntry[]> } {
  const printed: LogEntry[] = [];
  const held = new Map<Phase, LogEntry[]>();
  for (const entry of log) {
    const owner = 'within' in entry ? entry.within : null;
    if (owner !== null) {
      held.set(owner, [...(held.get(owner) ?? []), entry]);
      continue;
    }
    printed.push(entry);
    if (entry.kind === 'phase') {
      printed.push(...(held.get(entry.phase) ?? []));
      held.delete(entry.phase);
    }
  }
  return { printed, held };
}

export function MoveView({ state, now, width, color, resultBelow = false }: MoveViewProps) {
  const t = theme(color);
  const w = Math.max(40, width);
  // The header opens the static log once it is known (move.started comes after the preflight).
  const headerKnown = state.userId !== null;
  const { printed, held } = arrangeLog(state.log);
  // A run that ended with a phase never closed in the log still shows what happened in it.
  if (state.outcome !== 'running') for (const entries of held.values()) printed.push(...entries);
  const items: StaticItem[] = headerKnown
    ? [{ key: 'header', header: true, state }, ...printed.map((entry, i): StaticItem => ({ key: `log-${i}`, header: false, entry }))]
    : [];
  const nameW = Math.min(18, Math.max(6, ...state.tables.map((x) => x.name.length)), Math.floor(w / 3));
  return (
    <WidthContext.Provider value={w}>
      <Static items={items}>
        {(item) => (
          <Box key={item.key} width={w}>
            {item.header ? <Header state={item.state} t={t} /> : <Entry entry={item.entry} t={t} nameW={nameW} />}
          </Box>
        )}
      </Static>
      <Box flexDirection="column" width={w}>
        {!headerKnown && <Text bold>fw-shard move{state.moveId ? ` ${state.moveId}` : ''}: checking before writing anything…</Text>}
        {!headerKnown && state.phases.filter((p) => p.status !== 'running').map((p) => <PhaseLine key={p.name} p={p} now={now} t={t} />)}
        {state.outcome === 'running' && <Running state={state} held={held} now={now} t={t} w={w} nameW={nameW} />}
        {state.outcome !== 'running' && <Summary state={state} t={t} resultBelow={resultBelow} />}
      </Box>
    </WidthContext.Provider>
  );
}

function Header({ state, t }: { state: RunState; t: Theme }) {
  const verb = state.resumed ? 'resume' : 'move';
  const parts = [state.moveId ? `${verb} ${state.moveId}` : verb, `user ${state.userId}`, `shard ${state.from ?? '?'} → ${state.to ?? '?'}`, state.mode ?? '?'];
  return (
    <Text bold color={t.accent}>
      {parts.join(' · ')}
    </Text>
  );
}

function PhaseLine({ p, now, t }: { p: PhaseState; now: number; t: Theme }) {
  const mark = p.status === 'done' ? MARK.done : p.status === 'failed' ? MARK.failed : p.status === 'stopped' ? MARK.stopped : MARK.running;
  const c = p.status === 'done' ? t.ok : p.status === 'failed' ? t.bad : p.status === 'stopped' ? t.warn : t.info;
  const ms = p.status === 'running' ? (p.ms ?? 0) + since(p.startedAt, now) : p.ms;
  return (
    <Text>
      <Text color={c}>{mark}</Text> {fit(p.name, PHASE_W)} {ms !== null ? fmtMs(ms) : ''}
      {p.status === 'stopped' ? ' (stopped)' : p.status === 'failed' ? ' (failed)' : ''}
    </Text>
  );
}

/**
 * One line with a mark and a hanging indent: long text is wrapped here, at word boundaries, to the
 * columns left, so continuation lines stay under the text (ink's own wrapping would start them with
 * the space it broke at).
 */
function Row({
  indent = 0,
  mark,
  markColor,
  color,
  dim,
  bold,
  prefix,
  children,
}: {
  indent?: number;
  mark?: string;
  markColor?: string | undefined;
  color?: string | undefined;
  dim?: boolean;
  bold?: boolean;
  prefix?: string;
  children: ReactNode;
}) {
  const w = useContext(WidthContext);
  const markW = mark !== undefined ? mark.length + 1 : 0;
  const avail = Math.max(10, w - indent - markW);
  const flat = flatten(children);
  const body = flat !== null ? wrapWords((prefix ?? '') + flat, avail) : null;
  // A bold prefix ("Next:") stays bold after the wrap: it is always on the first line.
  const first = body !== null && prefix ? body.slice(0, prefix.length) : '';
  const rest = body !== null && prefix ? body.slice(prefix.length) : body;
  return (
    <Box paddingLeft={indent}>
      {mark !== undefined && (
        <Box flexShrink={0} marginRight={1}>
          <Text color={markColor ?? color} bold={bold}>
            {mark}
          </Text>
        </Box>
      )}
      <Box flexShrink={1}>
        <Text color={color} dimColor={dim} bold={bold}>
          {first ? <Text bold>{first}</Text> : null}
          {body !== null ? rest : children}
        </Text>
      </Box>
    </Box>
  );
}

/** Children that are only strings and numbers, as one string; null otherwise. */
function flatten(children: ReactNode): string | null {
  if (typeof children === 'string' || typeof children === 'number') return String(children);
  if (children === null || children === undefined || typeof children === 'boolean') return '';
  if (Array.isArray(children)) {
    let out = '';
    for (const c of children) {
      const f = flatten(c as ReactNode);
      if (f === null) return null;
      out += f;
    }
    return out;
  }
  return null;
}

/** Greedy word wrap to `width` columns, keeping runs of spaces (aligned columns); words longer than a line are cut. */
function wrapWords(text: string, width: number): string {
  const out: string[] = [];
  for (const para of text.split('\n')) {
    const tokens = para.split(/( +)/); // words at even indexes, the spaces between them at odd ones
    let line: string | null = null;
    for (let i = 0; i < tokens.length; i += 2) {
      const sep = i > 0 ? tokens[i - 1]! : '';
      let word = tokens[i]!;
      if (line !== null && (line + sep + word).length <= width) {
        line += sep + word;
        continue;
      }
      if (line !== null) out.push(line);
      while (word.length > width) {
        out.push(word.slice(0, width));
        word = word.slice(width);
      }
      line = word;
    }
    out.push(line ?? '');
  }
  return out.join('\n');
}

function Entry({ entry: e, t, nameW }: { entry: LogEntry; t: Theme; nameW: number }) {
  switch (e.kind) {
    case 'phase': {
      const mark = e.status === 'done' ? MARK.done : e.status === 'failed' ? MARK.failed : MARK.stopped;
      const c = e.status === 'done' ? t.ok : e.status === 'failed' ? t.bad : t.warn;
      return (
        <Row mark={mark} markColor={c}>
          {fit(e.phase, PHASE_W)} {e.ms !== null ? fmtMs(e.ms) : ''}
          {e.status === 'done' ? '' : ` (${e.status})`}
        </Row>
      );
    }
    case 'table.copied': {
      const rate = fmtRate(e.rate);
      return (
        <Row indent={2} mark={MARK.done} markColor={t.ok}>
          {fit(e.table, nameW)} {fmtCount(e.rows)} rows · {e.chunks} chunk{e.chunks === 1 ? '' : 's'}
          {rate ? ` · ${rate}` : ''}
        </Row>
      );
    }
    case 'table.verified':
      return (
        <Row indent={2} mark={e.mismatched ? MARK.warn : MARK.done} markColor={e.mismatched ? t.warn : t.ok}>
          {fit(e.table, nameW)} verified: {e.chunks} matched, {e.mismatched} mismatched
        </Row>
      );
    case 'mismatch':
      return (
        <Row indent={2} mark={MARK.warn} color={t.warn}>
          {e.table}: mismatch, re-copied: {e.detail}
        </Row>
      );
    case 'throttled':
      return (
        <Row indent={2} mark="‖" color={t.warn}>
          throttled: {e.reason}
        </Row>
      );
    case 'resumed':
      return (
        <Row indent={2} mark={MARK.running} dim={t.dim}>
          resumed after {fmtMs(e.ms)} throttled
        </Row>
      );
    case 'delta':
      return (
        <Row indent={2} mark="↻">
          delta pass {e.pass}: {e.rangesChanged} range{e.rangesChanged === 1 ? '' : 's'} changed, {fmtCount(e.rowsRecopied)} rows re-copied ({fmtMs(e.ms)})
        </Row>
      );
    case 'freeze':
      return (
        <Row indent={2} mark="●" color={e.flipped ? t.ok : t.warn}>
          freeze lifted after {e.ms} ms{e.flipped ? ', flipped' : `, not flipped: ${e.reason}`}
        </Row>
      );
    case 'flipped':
      return (
        <Row mark={MARK.done} color={t.ok} bold>
          mapping flipped: user {e.userId} now lives on shard {e.to}
        </Row>
      );
    case 'cache':
      return (
        <Row indent={2} mark="·" dim={t.dim}>
          cache: deleted {e.keys.join(', ') || '(nothing cached)'}
        </Row>
      );
    case 'warning':
      return (
        <Row mark={MARK.warn} color={t.warn}>
          warning: {e.message}
        </Row>
      );
    case 'stop':
      return (
        <Row mark={MARK.stopped} color={t.warn} bold>
          {e.signal}: stopping at the next safe point… (never inside the flip; Ctrl-C again exits at once)
        </Row>
      );
  }
}

function Running({ state, held, now, t, w, nameW }: { state: RunState; held: Map<Phase, LogEntry[]>; now: number; t: Theme; w: number; nameW: number }) {
  const running = state.phases.filter((p) => p.status === 'running');
  const seen = new Set(state.phases.map((p) => p.name));
  const pending = (EXPECTED[state.mode ?? ''] ?? []).filter((p) => !seen.has(p));
  const phase = state.current;
  const copying = state.tables.filter((x) => !x.copied && x.chunks > 0);
  const showVerify = phase === 'verify';
  const cleaning = phase === 'cleanup' ? state.tables.filter((x) => x.rowsDeleted !== '0') : [];
  return (
    <Box flexDirection="column">
      {running.map((p) => (
        <Box key={p.name} flexDirection="column">
          <PhaseLine p={p} now={now} t={t} />
          {(held.get(p.name) ?? [])
            // while throttled, the live line below says so with its timer
            .filter((e, i, all) => !(state.throttle.active && e.kind === 'throttled' && i === all.length - 1))
            .map((e, i) => (
              <Entry key={i} entry={e} t={t} nameW={nameW} />
            ))}
        </Box>
      ))}
      {copying.map((x) => (
        <TableBar key={x.name} table={x} t={t} w={w} nameW={nameW} />
      ))}
      {showVerify &&
        state.tables.map((x) => (
          <Text key={x.name}>
            {'  '}
            {fit(x.name, nameW)} verify: {x.verifiedChunks} matched, <Text color={x.mismatched ? t.warn : undefined}>{x.mismatched} mismatched</Text>
          </Text>
        ))}
      {cleaning.map((x) => (
        <Text key={x.name}>
          {'  '}
          {fit(x.name, nameW)} cleanup: {fmtCount(x.rowsDeleted)}/{fmtCount(x.rowsCopied)} rows deleted
        </Text>
      ))}
      {phase === 'delta' && state.delta.passes > 0 && (
        <Text>
          {'  '}delta: {state.delta.passes} pass{state.delta.passes === 1 ? '' : 'es'}, last re-copied {fmtCount(state.delta.lastRowsRecopied ?? '0')} rows
        </Text>
      )}
      {state.throttle.active && (
        <Row mark="‖" color={t.warn}>
          throttled for {fmtMs(since(state.throttle.since, now))}: {state.throttle.reason}
        </Row>
      )}
      {state.freeze.active && <FreezeTimer state={state} now={now} t={t} />}
      {!state.freeze.active && state.freeze.lastMs !== null && <Text dimColor={t.dim}>last freeze: {state.freeze.lastMs} ms</Text>}
      {state.stopping && state.userId === null && (
        <Row mark={MARK.stopped} color={t.warn} bold>
          {state.stopping.signal}: stopping at the next safe point… (never inside the flip; Ctrl-C again exits at once)
        </Row>
      )}
      {!state.stopping &&
        pending.map((p) => (
          <Text key={p} dimColor={t.dim}>
            {MARK.pending} {p}
          </Text>
        ))}
    </Box>
  );
}

function FreezeTimer({ state, now, t }: { state: RunState; now: number; t: Theme }) {
  const ms = since(state.freeze.startedAt, now);
  const cap = state.freeze.capMs;
  const near = cap !== null && ms >= cap * 0.8;
  return (
    <Row mark="●" color={near ? t.bad : t.info} bold>
      frozen {ms} ms{cap !== null ? ` of ${cap} ms cap` : ''} (attempt {state.freeze.attempt}): the user's writes are held
    </Row>
  );
}

function TableBar({ table: x, t, w, nameW }: { table: TableState; t: Theme; w: number; nameW: number }) {
  const pct = percent(x.rowsCopied, x.rowsTotal);
  const barW = Math.max(8, Math.min(48, w - nameW - 2 - 1 - 5));
  const b = bar(pct === null ? 0 : pct / 100, barW);
  const rate = fmtRate(x.rate);
  const facts = [
    `${fmtCount(x.rowsCopied)}/${fmtCount(x.rowsTotal)} rows`,
    rate,
    x.etaMs !== null && x.etaMs > 0 ? `ETA ${fmtMs(x.etaMs)}` : null,
    x.chunkSize !== null ? `chunk ${fmtCount(x.chunkSize)}` : null,
  ].filter((s): s is string => s !== null);
  return (
    <Box flexDirection="column">
      <Text>
        {'  '}
        {fit(x.name, nameW)} <Text color={t.info}>{b.filled}</Text>
        <Text dimColor={t.dim}>{b.empty}</Text>
        {`${pct === null ? '  ?' : String(pct).padStart(3)}%`}
      </Text>
      <Text>
        {'    '}
        {facts.join(' · ')}
      </Text>
    </Box>
  );
}

function Summary({ state, t, resultBelow }: { state: RunState; t: Theme; resultBelow: boolean }) {
  const tt = totals(state);
  const took = state.totalMs !== null ? fmtMs(state.totalMs) : '';
  const where = state.flipped
    ? `The mapping WAS flipped: user ${state.userId ?? '?'} now lives on shard ${state.to ?? '?'}.`
    : `The mapping was NOT flipped: user ${state.userId ?? '?'} still lives on shard ${state.from ?? '?'}.`;
  const facts = [
    `${fmtCount(tt.rowsCopied)} rows in ${state.tables.length} table${state.tables.length === 1 ? '' : 's'}`,
    `${tt.chunks} chunks`,
    tt.verifiedChunks > 0 ? `${tt.verifiedChunks} ranges verified, ${tt.mismatched} mismatched` : `${tt.mismatched} mismatched`,
    tt.rowsDeleted !== '0' ? `${fmtCount(tt.rowsDeleted)} deleted` : null,
    state.throttle.episodes > 0 ? `throttled ${fmtMs(state.throttle.totalMs)}` : null,
    state.freeze.lastMs !== null ? `freeze ${state.freeze.lastMs} ms` : null,
  ].filter((s): s is string => s !== null);
  const failedPhase = state.phases.find((p) => p.status === 'failed' || p.status === 'stopped')?.name;
  return (
    <Box flexDirection="column" marginTop={1}>
      {state.outcome === 'finished' && (
        <Row mark={MARK.done} color={t.ok} bold>
          Moved user {state.userId} to shard {state.to} in {took} ({state.finalPhase})
        </Row>
      )}
      {state.outcome === 'failed' && (
        <Row mark={MARK.failed} color={t.bad} bold>
          Failed [{state.error?.code}]{failedPhase ? ` in ${failedPhase}` : ''} after {took}: {firstLine(state.error?.message ?? '')}
        </Row>
      )}
      {state.outcome === 'stopped' && (
        <Row mark={MARK.stopped} color={t.warn} bold>
          {state.stopping ? `${state.stopping.signal}: s` : 'S'}topped at a safe point{failedPhase ? ` in ${failedPhase}` : ''} after {took}
        </Row>
      )}
      <Row indent={2}>{facts.join(' · ')}</Row>
      {state.outcome !== 'finished' && <Row indent={2}>{where}</Row>}
      {state.nextStep && !(state.outcome === 'finished' && resultBelow) && (
        <Row indent={2} {...(state.outcome !== 'finished' ? { prefix: 'Next: ' } : {})}>
          {state.nextStep}
        </Row>
      )}
    </Box>
  );
}

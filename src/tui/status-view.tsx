/**
 * `fw-shard status --watch`: the status view, redrawn in place at every refresh. Servers, shards with
 * their users and rows, unfinished moves with their progress from the journal, problems and notes.
 */
import { Box, Text } from 'ink';
import type { StatusReport } from '../status/collect.js';
import { humanBytes } from '../report/table.js';
import { fmtCount, fmtMs, percent } from '../report/format.js';
import { noteCell, runnerCell } from '../report/moves.js';
import { MARK, bar, fit, theme } from './theme.js';

/** Copy progress of one unfinished move, summed over its tables (from the journal). */
export interface MoveProgress {
  rowsCopied: string;
  rowsTotal: string;
  tables: number;
  tablesCopied: number;
  rowsCleaned: string;
}

export interface WatchSnapshot {
  report: StatusReport;
  progress: Record<string, MoveProgress>;
  /** Epoch ms when the snapshot was taken, and how long it took. */
  at: number;
  tookMs: number;
}

interface StatusViewProps {
  snapshot: WatchSnapshot | null;
  /** The last refresh's failure, if it failed (the previous snapshot stays on screen). */
  error: string | null;
  intervalMs: number;
  now: number;
  width: number;
  color: boolean;
}

export function StatusView({ snapshot, error, intervalMs, now, width, color }: StatusViewProps) {
  const t = theme(color);
  const w = Math.max(40, width);
  const age = snapshot ? fmtMs(Math.max(0, now - snapshot.at)) : '-';
  return (
    <Box flexDirection="column" width={w}>
      <Text bold color={t.accent}>
        fw-shard status · every {fmtMs(intervalMs)} · {snapshot ? `updated ${age} ago` : 'loading…'}
      </Text>
      {error && (
        <Text color={t.bad}>
          {MARK.failed} refresh failed: {error}
        </Text>
      )}
      {snapshot && <Body snap={snapshot} w={w} color={color} />}
    </Box>
  );
}

function Body({ snap, w, color }: { snap: WatchSnapshot; w: number; color: boolean }) {
  const t = theme(color);
  const r = snap.report;
  const barW = Math.max(8, Math.min(30, w - 40));
  return (
    <Box flexDirection="column">
      <Text bold>Servers</Text>
      <Box flexWrap="wrap" columnGap={2} paddingLeft={2}>
        {r.servers.map((s) => (
          <Text key={s.role}>
            <Text color={s.reachable ? t.ok : t.bad}>{s.reachable ? MARK.done : MARK.failed}</Text> {s.role}
            {s.reachable ? (s.rttMs !== undefined ? ` ${s.rttMs} ms` : '') : ' DOWN'}
          </Text>
        ))}
      </Box>
      <Text bold>Shards</Text>
      <Text>{`  ${fit('shard', 12)} ${'users'.padStart(8)} ${'rows'.padStart(12)} ${'bytes'.padStart(9)}  drift`}</Text>
      {r.shards.map((s) => (
        <Text key={s.id}>
          {`  ${fit(`${s.id}${s.isMain ? ' (main)' : ''}`, 12)} ${fmtCount(s.users).padStart(8)} ${(s.reachable ? fmtCount(s.rows) : '-').padStart(12)} ${(s.reachable ? humanBytes(s.bytes) : '-').padStart(9)}  `}
          <Text color={!s.reachable || s.drift.length ? t.bad : undefined}>
            {!s.reachable ? 'unreachable' : s.drift.length ? `${s.drift.length} difference(s)` : 'none'}
          </Text>
        </Text>
      ))}
      <Text bold>Unfinished moves{r.activeMoves.length === 0 ? ': none' : ''}</Text>
      {r.activeMoves.map((m) => {
        const p = snap.progress[m.id];
        const pct = p ? percent(p.rowsCopied, p.rowsTotal) : null;
        const b = bar(pct === null ? 0 : pct / 100, barW);
        const note = noteCell(m, 200);
        return (
          <Box key={m.id} flexDirection="column">
            <Text>
              {'  '}
              {m.id} · user {m.user_id} · {m.from_shard} → {m.to_shard} · <Text bold>{m.phase}</Text>
              {m.runner_host ? ' · ' : ' · no runner'}
              {m.runner_host ? <Text color={m.runner_alive ? undefined : t.warn}>{runnerCell(m)}</Text> : null}
            </Text>
            {p && (
              <Text>
                {'    '}
                <Text color={t.info}>{b.filled}</Text>
                <Text dimColor={t.dim}>{b.empty}</Text> {pct === null ? '?' : pct}% · {fmtCount(p.rowsCopied)}/{fmtCount(p.rowsTotal)} rows · {p.tablesCopied}/
                {p.tables} tables
                {p.rowsCleaned !== '0' ? ` · ${fmtCount(p.rowsCleaned)} cleaned` : ''}
              </Text>
            )}
            {note && (
              <Text color={m.error ? t.bad : t.warn}>
                {'    '}
                {note}
              </Text>
            )}
          </Box>
        );
      })}
      {r.warnings.map((x, i) => (
        <Text key={`w${i}`} dimColor={t.dim}>
          note: {x}
        </Text>
      ))}
      {r.problems.length === 0 ? (
        <Text color={t.ok}>{MARK.done} All well.</Text>
      ) : (
        <Box flexDirection="column">
          <Text color={t.bad} bold>
            {MARK.failed} {r.problems.length} problem(s):
          </Text>
          {r.problems.map((x, i) => (
            <Text key={`p${i}`} color={t.bad}>
              {'  '}- {x}
            </Text>
          ))}
        </Box>
      )}
      <Text dimColor={t.dim}>refreshed in {fmtMs(snap.tookMs)} · Ctrl-C quits</Text>
    </Box>
  );
}

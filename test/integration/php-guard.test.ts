/**
 * The PHP side of the freeze: contrib/flamework/lib_fw_shard.php, run by real `php` against real
 * servers. Unit-level checks of fw_shard_user_is_frozen, the guard's error shape, the db_*_users
 * wrappers and ids above 2^53; then an online move while test/fixtures/php/writer.php (a Flamework-like
 * app on mysqli) keeps inserting, updating and deleting through the wrappers: every acknowledged write
 * ends on the target with its last value, deleted rows stay gone, nothing is left on the source, no
 * write was acknowledged on the source after the flip, and the writer was refused while frozen.
 *
 * Skipped (with the reason in its name) only when `php` or its mysqli extension is missing.
 */
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { toText } from '../../src/db/sql/fragment.js';
import { createFreezesSql, isFrozenSql } from '../../src/db/sql/freeze.js';
import { runMove, runDeferredCleanups } from '../../src/move/engine.js';
import type { MoveRequest } from '../../src/move/types.js';
import type { ShardId, Topology, UserId } from '../../src/topology/index.js';
import type { MoveEvent } from '../../src/events/types.js';
import { makeDeps } from '../../src/app/deps.js';
import type { MoveEnv } from '../helpers/move-env.js';
import { expectNoWriteLost, startOnlineEnv, type OnlineEnv } from '../helpers/online-env.js';

const ROOT = resolve(import.meta.dirname, '../..');
const LIB = join(ROOT, 'contrib/flamework/lib_fw_shard.php');
const WRITER = join(ROOT, 'test/fixtures/php/writer.php');
const ROWS = 1500;

/** Why the PHP tests cannot run here, or null. */
function phpMissing(): string | null {
  let out: string;
  try {
    out = execFileSync('php', ['-r', 'echo extension_loaded("mysqli") ? "mysqli" : "none";'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch {
    return '`php` is not installed (apt-get install php-cli php-mysql)';
  }
  return out.trim() === 'mysqli' ? null : 'the PHP mysqli extension is not loaded (apt-get install php-mysql)';
}
const skipReason = phpMissing();
if (skipReason) console.warn(`php-guard.test.ts skipped: ${skipReason}`);

describe.skipIf(skipReason !== null)(skipReason ? `PHP guard: skipped because ${skipReason}` : 'PHP guard (contrib/flamework/lib_fw_shard.php)', () => {
  let online: OnlineEnv;
  let env: MoveEnv;
  let mcPort: number;
  let topology: Topology;
  let scripts = 0;

  /** Run a PHP snippet (after `<?php require LIB;`) and parse the JSON it prints. */
  const php = (body: string): unknown => {
    const file = join(env.dir, `snippet-${++scripts}.php`);
    writeFileSync(file, `<?php\nrequire ${JSON.stringify(LIB)};\n${body}\n`);
    const out = execFileSync('php', ['-d', 'display_errors=stderr', '-d', 'log_errors=0', file], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    return JSON.parse(out);
  };
  /** PHP that opens a mysqli handle on server a's `guardunit` database as $link. */
  const withLink = (reportMode: 'off' | 'strict', body: string) =>
    php(`mysqli_report(${reportMode === 'off' ? 'MYSQLI_REPORT_OFF' : 'MYSQLI_REPORT_ERROR | MYSQLI_REPORT_STRICT'});
$link = new mysqli('127.0.0.1', 'root', '', 'guardunit', ${env.a.port});
${body}`);

  beforeAll(async () => {
    online = await startOnlineEnv('php-guard');
    ({ env, topology, mcPort } = online);
    env.cli('a', 'mysql', 'CREATE DATABASE guardunit');
  });

  afterAll(async () => {
    await online?.close();
  });

  it('sends exactly the query fw-shard documents, with ids as bare integer literals (never floats)', () => {
    const documented = (id: string) => toText(isFrozenSql(id)).replace(/`/g, '');
    const out = php(`echo json_encode(array(
  'small' => fw_shard_is_frozen_sql('42'),
  'int' => fw_shard_is_frozen_sql(42),
  'above53' => fw_shard_is_frozen_sql('9007199254740993'),
  'max64' => fw_shard_is_frozen_sql('18446744073709551615'),
  'zeros' => fw_shard_is_frozen_sql('0042'),
  'float' => fw_shard_is_frozen_sql(9007199254740993.0),
  'negative' => fw_shard_is_frozen_sql(-1),
  'junk' => fw_shard_is_frozen_sql('42 OR 1=1'),
  'null' => fw_shard_is_frozen_sql(null),
));`) as Record<string, string | null>;
    expect(out.small).toBe(documented('42'));
    expect(out.small).toBe('SELECT COUNT(*) AS frozen FROM fw_shard_freezes WHERE user_id = 42 AND frozen_until > NOW(3)');
    expect(out.int).toBe(documented('42'));
    expect(out.above53).toBe(documented('9007199254740993'));
    expect(out.max64).toBe(documented('18446744073709551615'));
    expect(out.zeros).toBe(documented('42'));
    expect(out.float).toBeNull();
    expect(out.negative).toBeNull();
    expect(out.junk).toBeNull();
    expect(out.null).toBeNull();
  });

  it('fw_shard_user_is_frozen: a missing table (errno 1146) is never frozen, in both mysqli report modes', () => {
    env.cli('a', 'guardunit', 'DROP TABLE IF EXISTS fw_shard_freezes');
    for (const mode of ['off', 'strict'] as const) {
      const out = withLink(
        mode,
        `fw_shard_set_mysqli($link);
echo json_encode(array(
  'frozen' => fw_shard_user_is_frozen('42'),
  'explicit' => fw_shard_user_is_frozen('42', $link),
  'status' => fw_shard_freeze_status('42'),
  'guard' => fw_shard_guard_write(array('id' => '42', 'cluster_id' => '1')),
));`,
      );
      expect(out, mode).toEqual({ frozen: false, explicit: false, status: { ok: 1, frozen: 0 }, guard: { ok: 1 } });
    }
  });

  it('fw_shard_user_is_frozen: active and expired freezes, other users, ids above 2^53 kept exact', () => {
    env.cli('a', 'guardunit', 'DROP TABLE IF EXISTS fw_shard_freezes');
    env.cli('a', 'guardunit', toText(createFreezesSql()));
    env.cli(
      'a',
      'guardunit',
      `INSERT INTO fw_shard_freezes (user_id, move_id, frozen_until, created_at) VALUES
        (42, 1, NOW(3) + INTERVAL 60 SECOND, NOW(3)),
        (43, 2, NOW(3) - INTERVAL 1 SECOND, NOW(3) - INTERVAL 5 SECOND),
        (9007199254740993, 3, NOW(3) + INTERVAL 60 SECOND, NOW(3)),
        (18446744073709551615, 4, NOW(3) + INTERVAL 60 SECOND, NOW(3))`,
    );
    const ids = ['42', '43', '44', '9007199254740992', '9007199254740993', '9007199254740994', '18446744073709551614', '18446744073709551615'];
    for (const mode of ['off', 'strict'] as const) {
      const out = withLink(
        mode,
        `fw_shard_set_mysqli($link);
$out = array();
foreach (${JSON.stringify(ids).replace(/^\[/, 'array(').replace(/\]$/, ')')} as $id) $out[$id] = fw_shard_user_is_frozen($id);
$out['int 42'] = fw_shard_user_is_frozen(42);
$out['int 44'] = fw_shard_user_is_frozen(44);
echo json_encode($out);`,
      );
      expect(out, mode).toEqual({
        '42': true,
        '43': false, // expired: lifts itself
        '44': false,
        '9007199254740992': false, // a float would have made these three one number
        '9007199254740993': true,
        '9007199254740994': false,
        '18446744073709551614': false,
        '18446744073709551615': true,
        'int 42': true,
        'int 44': false,
      });
    }
  });

  it("the guard: Flamework's error shape while frozen, ok otherwise; fails closed when it cannot check", () => {
    env.cli('a', 'guardunit', 'DROP TABLE IF EXISTS fw_shard_freezes');
    env.cli('a', 'guardunit', toText(createFreezesSql()));
    env.cli('a', 'guardunit', 'INSERT INTO fw_shard_freezes VALUES (42, 1, NOW(3) + INTERVAL 60 SECOND, NOW(3))');
    const out = withLink(
      'strict',
      `fw_shard_set_mysqli($link);
$out = array(
  'frozen' => fw_shard_guard_write(array('id' => '42', 'cluster_id' => '1')),
  'bare id' => fw_shard_guard_write('42'),
  'free' => fw_shard_guard_write(array('id' => '44', 'cluster_id' => '1')),
  'float id' => fw_shard_guard_write(array('id' => 42.0)),
  'float is_frozen' => fw_shard_user_is_frozen(9007199254740993.0),
);
// A failed check (here: the table is there but unreadable) refuses the write unless fail-open is set.
$link->query('DROP TABLE fw_shard_freezes');
$link->query('CREATE VIEW fw_shard_freezes AS SELECT 1 AS nope');
$out['unreadable'] = fw_shard_guard_write('44');
$out['unreadable is_frozen'] = fw_shard_user_is_frozen('44');
$GLOBALS['cfg']['fw_shard_fail_open'] = 1;
$out['fail open'] = fw_shard_guard_write('44');
$out['fail open is_frozen'] = fw_shard_user_is_frozen('44');
$link->query('DROP VIEW fw_shard_freezes');
echo json_encode($out);`,
    ) as Record<string, Record<string, unknown> | boolean>;
    // Exactly this shape (ints, not strings or booleans): apps map it to 503 + Retry-After: 1.
    expect(JSON.stringify(out.frozen)).toBe('{"ok":0,"error":"user is being moved, retry shortly","retry_after":1,"fw_shard_frozen":1}');
    expect(out['bare id']).toEqual(out.frozen);
    expect(JSON.stringify(out.free)).toBe('{"ok":1}');
    expect(out['float id']).toMatchObject({ ok: 0, retry_after: 1, fw_shard_frozen: 1, fw_shard_check_failed: 1 });
    expect(String((out['float id'] as Record<string, unknown>).fw_shard_check_error)).toMatch(/integer or a string of digits/);
    expect(out['float is_frozen']).toBe(true);
    expect(out.unreadable).toMatchObject({ ok: 0, error: 'user is being moved, retry shortly', retry_after: 1, fw_shard_frozen: 1, fw_shard_check_failed: 1 });
    expect(String((out.unreadable as Record<string, unknown>).fw_shard_check_error)).toMatch(/could not read fw_shard_freezes/);
    expect(out['unreadable is_frozen']).toBe(true);
    expect(out['fail open']).toEqual({ ok: 1 });
    expect(out['fail open is_frozen']).toBe(false);
  });

  it("inside Flamework: db_fetch() on db_main, and the wrappers call db_*_users with the user's cluster_id after the check", () => {
    const out = php(`
$GLOBALS['log'] = array();
$GLOBALS['answer'] = array('ok' => 1, 'rows' => array(array('frozen' => '1')));
function db_fetch($sql){ $GLOBALS['log'][] = array('db_fetch', $sql); return $GLOBALS['answer']; }
function db_fetch_accounts($sql){ $GLOBALS['log'][] = array('db_fetch_accounts', $sql); return array('ok' => 1, 'rows' => array(array('frozen' => '0'))); }
function db_insert_users($k, $tbl, $hash){ $GLOBALS['log'][] = array('db_insert_users', $k, $tbl, $hash); return array('ok' => 1, 'affected_rows' => 1, 'insert_id' => 0); }
function db_update_users($k, $tbl, $hash, $where){ $GLOBALS['log'][] = array('db_update_users', $k, $tbl, $hash, $where); return array('ok' => 1, 'affected_rows' => 1, 'insert_id' => 0); }
function db_write_users($k, $sql){ $GLOBALS['log'][] = array('db_write_users', $k, $sql); return array('ok' => 1, 'affected_rows' => 1, 'insert_id' => 0); }
function fresh_cluster_id($id){ $GLOBALS['log'][] = array('fresh_cluster_id', $id); return 7; }
$user = array('id' => '9007199254740993', 'cluster_id' => '3');
$out = array();
$out['frozen'] = fw_shard_user_is_frozen($user['id']);
$out['frozen insert'] = fw_shard_db_insert_users($user, 'Dots', array('id' => '5', 'body' => 'x'));
$out['frozen update'] = fw_shard_db_update_users($user, 'Dots', array('body' => 'y'), 'id=5');
$out['frozen write'] = fw_shard_db_write_users($user, 'DELETE FROM Dots WHERE id=5');
$out['log while frozen'] = $GLOBALS['log'];
$GLOBALS['log'] = array();
$GLOBALS['answer'] = array('ok' => 1, 'rows' => array(array('frozen' => '0')));
$out['insert'] = fw_shard_db_insert_users($user, 'Dots', array('id' => '5', 'body' => 'x'));
$out['update'] = fw_shard_db_update_users($user, 'Dots', array('body' => 'y'), 'id=5');
$out['write'] = fw_shard_db_write_users($user, 'DELETE FROM Dots WHERE id=5');
$out['log'] = $GLOBALS['log'];
$GLOBALS['log'] = array();
$GLOBALS['cfg']['fw_shard_cluster_id_func'] = 'fresh_cluster_id';
$out['fresh'] = fw_shard_db_write_users($user, 'DELETE FROM Dots WHERE id=6');
$out['log fresh'] = $GLOBALS['log'];
$GLOBALS['log'] = array();
unset($GLOBALS['cfg']['fw_shard_cluster_id_func']);
$GLOBALS['answer'] = array('ok' => 0, 'error' => "Table 'flamework.fw_shard_freezes' doesn't exist", 'error_code' => 1146);
$out['missing table'] = fw_shard_user_is_frozen('42');
$GLOBALS['answer'] = array('ok' => 0, 'error' => 'SELECT command denied', 'error_code' => 1142);
$out['denied'] = fw_shard_user_is_frozen('42');
$out['denied guard'] = fw_shard_guard_write('42');
$GLOBALS['cfg']['fw_shard_freezes_cluster'] = 'accounts';
$out['accounts'] = fw_shard_user_is_frozen('42');
$out['log accounts'] = $GLOBALS['log'];
echo json_encode($out);`) as Record<string, unknown>;
    const q = toText(isFrozenSql('9007199254740993')).replace(/`/g, '');
    const frozenShape = { ok: 0, error: 'user is being moved, retry shortly', retry_after: 1, fw_shard_frozen: 1 };
    expect(out.frozen).toBe(true);
    expect(out['frozen insert']).toEqual(frozenShape);
    expect(out['frozen update']).toEqual(frozenShape);
    expect(out['frozen write']).toEqual(frozenShape);
    // While frozen: four checks against db_main, no write at all.
    expect(out['log while frozen']).toEqual([
      ['db_fetch', q],
      ['db_fetch', q],
      ['db_fetch', q],
      ['db_fetch', q],
    ]);
    expect(out.insert).toEqual({ ok: 1, affected_rows: 1, insert_id: 0, fw_shard_cluster_id: '3' });
    expect(out.update).toMatchObject({ ok: 1, fw_shard_cluster_id: '3' });
    expect(out.write).toMatchObject({ ok: 1, fw_shard_cluster_id: '3' });
    // Each write right after its own check, to the user's shard (the first argument).
    expect(out.log).toEqual([
      ['db_fetch', q],
      ['db_insert_users', '3', 'Dots', { id: '5', body: 'x' }],
      ['db_fetch', q],
      ['db_update_users', '3', 'Dots', { body: 'y' }, 'id=5'],
      ['db_fetch', q],
      ['db_write_users', '3', 'DELETE FROM Dots WHERE id=5'],
    ]);
    // With a cluster_id function: check, then resolve the shard fresh, then write.
    expect(out['log fresh']).toEqual([
      ['db_fetch', q],
      ['fresh_cluster_id', '9007199254740993'],
      ['db_write_users', 7, 'DELETE FROM Dots WHERE id=6'],
    ]);
    expect(out.fresh).toMatchObject({ ok: 1, fw_shard_cluster_id: 7 });
    expect(out['missing table']).toBe(false);
    expect(out.denied).toBe(true);
    expect(out['denied guard']).toMatchObject({ ...frozenShape, fw_shard_check_failed: 1 });
    expect(out.accounts).toBe(false);
    expect((out['log accounts'] as unknown[][]).at(-1)).toEqual(['db_fetch_accounts', toText(isFrozenSql('42')).replace(/`/g, '')]);
  });

  for (const capture of ['rehash', 'trigger'] as const)
    it(`an online move (--capture ${capture}) while the PHP writer writes through the wrappers loses no acknowledged write`, async () => {
      const seeded = await online.reset(ROWS);

      // The writer, in the background.
      const stopFile = join(env.dir, `writer-${capture}.stop`);
      const ep = (e: { host: string; port: number; database: string }) => ({ host: e.host, port: e.port, db: e.database });
      const writer = spawn('php', ['-d', 'display_errors=stderr', WRITER], {
        stdio: ['ignore', 'pipe', 'pipe'],
        env: {
          ...process.env,
          FWS_MAIN: JSON.stringify(ep(topology.main)),
          FWS_TICKETS: JSON.stringify(ep(topology.tickets[0]!)),
          FWS_SHARDS: JSON.stringify({ 1: ep(topology.shards.get(1 as ShardId)!), 2: ep(topology.shards.get(2 as ShardId)!) }),
          FWS_DB_USER: 'root',
          FWS_DB_PASS: '',
          FWS_MEMCACHED_PORT: String(mcPort),
          FWS_USER_ID: '42',
          FWS_DURATION_MS: '90000',
          FWS_PAUSE_MS: '3',
          FWS_STOP_FILE: stopFile,
        },
      });
      let stdout = '';
      let stderr = '';
      writer.stdout!.on('data', (d) => (stdout += d.toString()));
      writer.stderr!.on('data', (d) => (stderr += d.toString()));
      const exited = new Promise<number | null>((res) => writer.on('close', (code) => res(code)));
      const stopWriter = async () => {
        writeFileSync(stopFile, '');
        return exited;
      };
      // Start the move once the writer is acknowledging writes (on shard 1).
      for (let i = 0; i < 200 && !stdout.includes('\n'); i++) {
        if (writer.exitCode !== null) break;
        await new Promise((r) => setTimeout(r, 25));
      }
      expect(stdout, `writer did not start: ${stderr}`).toContain('\n');

      const events: MoveEvent[] = [];
      const { deps, close } = makeDeps(topology, (e) => events.push(e));
      const req: MoveRequest = {
        userId: '42' as UserId,
        to: 2 as ShardId,
        dryRun: false,
        assumeNoWrites: false,
        chunkTimeMs: 500,
        chunkSize: 100,
        concurrency: 1,
        cleanup: 'defer',
        chunkPauseMs: 15,
        online: { freezeCapMs: 3000, drainMs: 300, maxDeltaPasses: 10, freezeAttempts: 3, readyRows: 400 },
        capture,
      };
      let flippedAt = 0;
      let code: number | null;
      try {
        const r = await runMove(deps, req);
        flippedAt = Date.now();
        expect(r.ok, JSON.stringify(r.error)).toBe(true);
        expect(r.mappingFlipped).toBe(true);
        expect(r.freezeMs).toBeGreaterThan(0);
        expect(r.freezeMs).toBeLessThan(3000);
        // Keep writing after the flip (to the target, through a fresh cache read), then stop.
        await new Promise((res) => setTimeout(res, 300));
        code = await stopWriter();
        // The deferred cleanup: the source must be unchanged since the final sync.
        const cleaned = await runDeferredCleanups(deps, 0, { assumeNoWrites: false, chunkTimeMs: 500, chunkSize: 100, concurrency: 1, dryRun: false });
        expect(cleaned.map((c) => c.phase)).toEqual(['done']);
      } finally {
        if (!existsSync(stopFile)) await stopWriter();
        await close();
      }
      expect(code, stderr).toBe(0);

      interface Ack {
        op: 'insert' | 'update' | 'delete';
        id: string;
        body: string | null;
        shard: number;
        at_ms: number;
      }
      const acks: Ack[] = stdout
        .trim()
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as Ack);
      const summaryLine = stderr
        .trim()
        .split('\n')
        .reverse()
        .find((l) => l.startsWith('{"summary"'));
      expect(summaryLine, stderr).toBeDefined();
      const summary = JSON.parse(summaryLine!) as { frozen: number; acks: number; steps: number; anomalies: string[] };

      expect(summary.anomalies).toEqual([]);
      expect(summary.acks).toBe(acks.length);
      expect(acks.length).toBeGreaterThan(20);
      for (const a of acks) expect(a.id, JSON.stringify(a)).toMatch(/^[0-9]+$/); // ids stay strings, all above 2^53
      expect(acks.every((a) => BigInt(a.id) > 2n ** 53n)).toBe(true);
      // Rehash mode: the writer was refused while frozen (and wrote nothing then). Trigger mode: the shard
      // held its writes during the freeze, and a write refused as moved was retried on the new shard.
      if (capture === 'rehash') expect(summary.frozen).toBeGreaterThan(0);
      const lifted = events.find((e) => e.type === 'freeze.lifted' && e.flipped);
      expect(lifted).toBeDefined();

      expectNoWriteLost(
        env,
        acks.map((a) => ({ id: a.id, body: a.body, shard: a.shard, at: a.at_ms })),
        seeded,
        flippedAt,
      );
      expect(acks.some((a) => a.shard === 1)).toBe(true);
      expect(new Set(acks.map((a) => a.op))).toEqual(new Set(['insert', 'update', 'delete']));
    });
});

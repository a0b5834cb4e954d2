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
import { setFenceSql } from '../../src/db/sql/guard.js';
import { Guard } from '../../src/move/guard.js';
import { shardTablePlans } from '../../src/plan/facts.js';
import { runMove, runDeferredCleanups } from '../../src/move/engine.js';
import { tidyGuards } from '../../src/move/guard-lifecycle.js';
import { guardObjects, NOTHING } from '../helpers/guard.js';
import type { MoveRequest } from '../../src/move/types.js';
import type { ShardId, Topology, UserId } from '../../src/topology/index.js';
import type { MoveEvent } from '../../src/events/types.js';
import { makeDeps } from '../../src/app/deps.js';
import type { MoveEnv } from '../helpers/move-env.js';
import { expectNoWriteLost, startOnlineEnv, type OnlineEnv } from '../helpers/online-env.js';

const ROOT = resolve(import.meta.dirname, '../..');
const LIB = join(ROOT, 'contrib/flamework/lib_fw_shard.php');
const WRITER = join(ROOT, 'test/fixtures/php/writer.php');
/** A stand-in for Flamework's mysqli lib_db as it behaves on PHP 8.1+ (throws; _db_query does not catch). */
const LIB_DB_PHP8 = join(ROOT, 'test/fixtures/php/lib_db_php8.php');
const ROWS = 1500;

/** What one write gave the app (test/integration/php-guard.test.ts's attempt() in PHP). */
interface Attempt {
  rsp?: Record<string, unknown>;
  threw?: { class: string; code: number; message: string; file: string; trace: string[] };
  queries: string[];
  cache_deleted: string[];
}

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

  /**
   * PHP 8.1+ with Flamework's mysqli lib_db (test/fixtures/php/lib_db_php8.php stands in for it): mysqli
   * throws by default and _db_query does not catch, so a refusal of fw-shard's shard triggers arrives as a
   * mysqli_sql_exception. `report` 'default' keeps PHP's default report mode (throws); 'off' is the mode
   * of PHP < 8.1 (lib_db returns its error shape). The wrappers must give the app the same outcome in
   * both, and never an exception for a refusal.
   */
  const withLibDb = (report: 'default' | 'off', body: string) =>
    php(`require ${JSON.stringify(LIB_DB_PHP8)};
${report === 'off' ? 'mysqli_report(MYSQLI_REPORT_OFF);' : ''}
$GLOBALS['cfg']['db_main'] = array('host' => '127.0.0.1', 'port' => ${env.a.port}, 'name' => 'flamework', 'user' => 'root', 'pass' => '');
$GLOBALS['cfg']['db_users'] = array(
  'host' => array(1 => '127.0.0.1', 2 => '127.0.0.1'), 'port' => array(1 => ${env.a.port}, 2 => ${env.b.port}),
  'name' => array(1 => 'users1', 2 => 'users2'), 'user' => 'root', 'pass' => '');
// The app's user cache (in-process here) and its fresh cluster_id lookup: the cache, else db_main.
$GLOBALS['cache'] = array();
$GLOBALS['cache_deleted'] = array();
function cache_get($k){ return isset($GLOBALS['cache'][$k]) ? $GLOBALS['cache'][$k] : null; }
function cache_set($k, $v){ $GLOBALS['cache'][$k] = $v; }
function cache_delete($k){ $GLOBALS['cache_deleted'][] = $k; unset($GLOBALS['cache'][$k]); }
function app_cluster_id($id){
  $u = cache_get("USER-{$id}");
  if (!$u){
    $rsp = db_fetch("SELECT id, cluster_id FROM users WHERE id={$id}");
    $u = $rsp['rows'][0];
    cache_set("USER-{$id}", $u);
  }
  return $u['cluster_id'];
}
$GLOBALS['cfg']['fw_shard_cluster_id_func'] = 'app_cluster_id';
// One write as the app makes it: what it got back, or the exception that reached it; and what was sent.
function attempt($f){
  $GLOBALS['db_queries_log'] = array();
  $GLOBALS['cache_deleted'] = array();
  try {
    $out = array('rsp' => $f());
  } catch (Throwable $e){
    $trace = array();
    foreach ($e->getTrace() as $t) $trace[] = $t['function'];
    $out = array('threw' => array('class' => get_class($e), 'code' => $e->getCode(), 'message' => $e->getMessage(), 'file' => basename($e->getFile()), 'trace' => $trace));
  }
  $out['queries'] = $GLOBALS['db_queries_log'];
  $out['cache_deleted'] = $GLOBALS['cache_deleted'];
  return $out;
}
$user = array('id' => '42');
${body}`) as Record<string, Attempt & Record<string, unknown>>;

  /** User 42 back on shard 1 with a few rows, fw-shard's guard on both shards, and `rows` (id => body) on both. */
  const guardedShards = async (rows: Record<string, string>) => {
    await online.reset(10);
    for (const [server, db] of [
      ['a', 'users1'],
      ['b', 'users2'],
    ] as const)
      for (const [id, body] of Object.entries(rows)) env.cli(server, db, `INSERT INTO Dots VALUES (${id}, 42, '${body}')`);
    const plans = await shardTablePlans(topology, (e) => env.db(e.port === env.a.port ? 'a' : 'b', e.database));
    await new Guard(env.db('a', 'users1')).install(plans.get(1)!);
    await new Guard(env.db('b', 'users2')).install(plans.get(2)!);
  };
  const dots = (server: 'a' | 'b', db: string, ids: string[]) =>
    env
      .cli(server, db, `SELECT id, body FROM Dots WHERE id IN (${ids.join(', ')}) ORDER BY id`)
      .trim()
      .split('\n')
      .filter(Boolean)
      .map((l) => l.split('\t'));
  const freezeCheck = `main: ${toText(isFrozenSql('42')).replace(/`/g, '')}`;
  const userRead = 'main: SELECT id, cluster_id FROM users WHERE id=42';
  const retryable = { ok: 0, error: 'user is being moved, retry shortly', retry_after: 1, fw_shard_frozen: 1 };

  for (const report of ['default', 'off'] as const)
    it(`lib_db ${report === 'default' ? 'throwing (PHP 8.1+ default mysqli report mode)' : 'returning errors (report mode off)'}: a write refused as moved is retried once on the new shard, and the app sees no exception`, async () => {
      const [ins, upd, del] = ['9007199254900001', '9007199254900003', '9007199254900005'];
      await guardedShards({ [upd]: 'before', [del]: 'before' });
      // The user was moved to shard 2; the app's cache still says shard 1.
      env.cli('a', 'users1', toText(setFenceSql('42', '1', 'moved')));
      env.cli('a', 'flamework', 'UPDATE users SET cluster_id = 2 WHERE id = 42');
      const out = withLibDb(
        report,
        `$stale = array('id' => '42', 'cluster_id' => '1');
$out = array();
$GLOBALS['cache']['USER-42'] = $stale;
$out['insert'] = attempt(function() use ($user){ return fw_shard_db_insert_users($user, 'Dots', array('id' => '${ins}', 'user_id' => '42', 'body' => 'inserted')); });
$GLOBALS['cache']['USER-42'] = $stale;
$out['update'] = attempt(function() use ($user){ return fw_shard_db_update_users($user, 'Dots', array('body' => 'updated'), 'id=${upd} AND user_id=42'); });
$GLOBALS['cache']['USER-42'] = $stale;
$out['delete'] = attempt(function() use ($user){ return fw_shard_db_write_users($user, 'DELETE FROM Dots WHERE id=${del} AND user_id=42'); });
$out['cache'] = $GLOBALS['cache'];
// Without a fresh lookup the retry goes to the same (old) shard: refused again, the retryable shape.
unset($GLOBALS['cfg']['fw_shard_cluster_id_func']);
$out['stale twice'] = attempt(function(){ return fw_shard_db_write_users(array('id' => '42', 'cluster_id' => '1'), 'DELETE FROM Dots WHERE id=${upd} AND user_id=42'); });
// A direct lib_db call outside the wrappers: thrown on PHP 8.1+, returned before; fw_shard_refusal() reads both.
try {
  $rsp = db_write_users(1, 'DELETE FROM Dots WHERE id=${del} AND user_id=42');
  $out['direct'] = array('returned' => fw_shard_refusal($rsp), 'error_code' => $rsp['error_code']);
} catch (mysqli_sql_exception $e){
  $out['direct'] = array('threw' => fw_shard_refusal($e), 'error_code' => $e->getCode());
}
echo json_encode($out);`,
      );
      const write = (shard: number, sql: string) => `users-${shard}: ${sql}`;
      const insSql = `INSERT INTO Dots (\`id\`,\`user_id\`,\`body\`) VALUES ('${ins}','42','inserted')`;
      const updSql = `UPDATE Dots SET \`body\`='updated' WHERE id=${upd} AND user_id=42`;
      const delSql = `DELETE FROM Dots WHERE id=${del} AND user_id=42`;
      // Check, write to the cached (old) shard: refused; forget the cached user, re-read it, write to the new shard.
      expect(out.insert).toEqual({
        rsp: { ok: 1, affected_rows: 1, insert_id: 0, fw_shard_cluster_id: '2', fw_shard_retried: 1 },
        queries: [freezeCheck, write(1, insSql), userRead, write(2, insSql)],
        cache_deleted: ['USER-42', 'user_42'],
      });
      expect(out.update).toEqual({
        rsp: { ok: 1, affected_rows: 1, insert_id: 0, fw_shard_cluster_id: '2', fw_shard_retried: 1 },
        queries: [freezeCheck, write(1, updSql), userRead, write(2, updSql)],
        cache_deleted: ['USER-42', 'user_42'],
      });
      expect(out.delete).toEqual({
        rsp: { ok: 1, affected_rows: 1, insert_id: 0, fw_shard_cluster_id: '2', fw_shard_retried: 1 },
        queries: [freezeCheck, write(1, delSql), userRead, write(2, delSql)],
        cache_deleted: ['USER-42', 'user_42'],
      });
      expect(out.cache).toEqual({ 'USER-42': { id: '42', cluster_id: '2' } });
      expect(out['stale twice']).toEqual({
        rsp: { ...retryable, fw_shard_refused: 'moved' },
        queries: [freezeCheck, write(1, `DELETE FROM Dots WHERE id=${upd} AND user_id=42`), write(1, `DELETE FROM Dots WHERE id=${upd} AND user_id=42`)],
        cache_deleted: ['USER-42', 'user_42'],
      });
      expect(out.direct).toEqual(report === 'default' ? { threw: 'moved', error_code: 1644 } : { returned: 'moved', error_code: 1644 });
      // Every write landed on the new shard only; the old shard kept its rows as they were.
      expect(dots('b', 'users2', [ins, upd, del])).toEqual([
        [ins, 'inserted'],
        [upd, 'updated'],
      ]);
      expect(dots('a', 'users1', [ins, upd, del])).toEqual([
        [upd, 'before'],
        [del, 'before'],
      ]);
    });

  for (const report of ['default', 'off'] as const)
    it(`lib_db ${report === 'default' ? 'throwing' : 'returning errors'}: a write refused as moving gets the retryable shape, nothing written, no exception`, async () => {
      const [ins, upd, del] = ['9007199254900011', '9007199254900013', '9007199254900015'];
      await guardedShards({ [upd]: 'before', [del]: 'before' });
      env.cli('a', 'users1', toText(setFenceSql('42', '1', 'frozen')));
      const out = withLibDb(
        report,
        `$out = array();
$out['insert'] = attempt(function() use ($user){ return fw_shard_db_insert_users($user, 'Dots', array('id' => '${ins}', 'user_id' => '42', 'body' => 'inserted')); });
$out['update'] = attempt(function() use ($user){ return fw_shard_db_update_users($user, 'Dots', array('body' => 'updated'), 'id=${upd} AND user_id=42'); });
$out['delete'] = attempt(function() use ($user){ return fw_shard_db_write_users($user, 'DELETE FROM Dots WHERE id=${del} AND user_id=42'); });
echo json_encode($out);`,
      );
      for (const op of ['insert', 'update', 'delete'] as const) {
        // Exactly this shape: the same as a freeze, plus why. One attempt only, and the cached user is kept.
        expect(JSON.stringify(out[op]!.rsp), op).toBe(
          '{"ok":0,"error":"user is being moved, retry shortly","retry_after":1,"fw_shard_frozen":1,"fw_shard_refused":"moving"}',
        );
        expect(out[op]!.threw, op).toBeUndefined();
        expect(out[op]!.cache_deleted, op).toEqual([]);
        expect(out[op]!.queries.filter((q) => q.startsWith('users-')).length, op).toBe(1);
        expect(out[op]!.queries[0], op).toBe(freezeCheck);
      }
      expect(out.insert!.queries[1]).toBe(userRead); // the first write read cluster_id from db_main, then cached it
      expect(dots('a', 'users1', [ins, upd, del])).toEqual([
        [upd, 'before'],
        [del, 'before'],
      ]);
      expect(dots('b', 'users2', [ins, upd, del])).toEqual([
        [upd, 'before'],
        [del, 'before'],
      ]);
    });

  for (const report of ['default', 'off'] as const)
    it(`lib_db ${report === 'default' ? 'throwing' : 'returning errors'}: other errors (duplicate key, syntax, the app's own 1644) are never swallowed`, async () => {
      const seeded = await online.reset(10);
      env.cli('a', 'users1', 'CREATE TABLE AppNotes (id BIGINT UNSIGNED NOT NULL PRIMARY KEY, user_id INT UNSIGNED NOT NULL)');
      env.cli(
        'a',
        'users1',
        "CREATE TRIGGER app_notes_bi BEFORE INSERT ON AppNotes FOR EACH ROW SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'app: notes are read-only'",
      );
      try {
        const out = withLibDb(
          report,
          `$out = array();
$out['duplicate'] = attempt(function() use ($user){ return fw_shard_db_insert_users($user, 'Dots', array('id' => '${seeded[0]}', 'user_id' => '42', 'body' => 'again')); });
$out['syntax'] = attempt(function() use ($user){ return fw_shard_db_write_users($user, 'DELEET FROM Dots WHERE user_id=42'); });
$out['app 1644'] = attempt(function() use ($user){ return fw_shard_db_insert_users($user, 'AppNotes', array('id' => '1', 'user_id' => '42')); });
echo json_encode($out);`,
        );
        const cases = [
          ['duplicate', 1062, /^Duplicate entry '\d+' for key 'PRIMARY'$/, 'fw_shard_db_insert_users'],
          ['syntax', 1064, /You have an error in your SQL syntax/, 'fw_shard_db_write_users'],
          ['app 1644', 1644, /^app: notes are read-only$/, 'fw_shard_db_insert_users'],
        ] as const;
        for (const [name, code, message, wrapper] of cases) {
          const a = out[name]!;
          // One attempt, no retry, the cached user kept.
          expect(a.queries.filter((q) => q.startsWith('users-')).length, name).toBe(1);
          expect(a.cache_deleted, name).toEqual([]);
          if (report === 'default') {
            // lib_db's own exception, thrown again unchanged: its class, code, message, and its trace from _db_query.
            expect(a.rsp, name).toBeUndefined();
            expect(a.threw, name).toMatchObject({ class: 'mysqli_sql_exception', code, file: 'lib_db_php8.php' });
            expect(a.threw!.message, name).toMatch(message);
            expect(a.threw!.trace.slice(0, 2), name).toEqual(['mysqli_query', '_db_query']);
            expect(a.threw!.trace, name).toContain(wrapper);
          } else {
            // lib_db's error shape, returned as before (with the shard it went to).
            expect(a.threw, name).toBeUndefined();
            expect(a.rsp, name).toMatchObject({ ok: 0, error_code: code, cluster: 'users', shard: '1', fw_shard_cluster_id: '1' });
            expect(String(a.rsp!.error), name).toMatch(message);
            expect(a.rsp!.fw_shard_frozen, name).toBeUndefined();
          }
        }
        expect(env.cli('a', 'users1', 'SELECT COUNT(*) FROM AppNotes').trim()).toBe('0');
        expect(env.cli('a', 'users1', `SELECT body FROM Dots WHERE id = ${seeded[0]}`).trim()).toMatch(/^seed /);
        expect(env.cli('a', 'users1', 'SELECT COUNT(*) FROM Dots WHERE user_id = 42').trim()).toBe(String(seeded.length));
      } finally {
        env.cli('a', 'users1', 'DROP TABLE IF EXISTS AppNotes');
      }
    });

  // The writer on its own lib_db stand-in (errors returned), and on the PHP 8.1+ mysqli one (errors thrown).
  for (const [capture, libDb] of [
    ['rehash', 'returns'],
    ['trigger', 'returns'],
    ['trigger', 'php8'],
  ] as const)
    it(`an online move (--capture ${capture}) while the PHP writer writes through the wrappers${libDb === 'php8' ? ' on a PHP 8.1+ lib_db that throws' : ''} loses no acknowledged write`, async () => {
      const seeded = await online.reset(ROWS);

      // The writer, in the background.
      const stopFile = join(env.dir, `writer-${capture}-${libDb}.stop`);
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
          FWS_LIB_DB: libDb === 'php8' ? 'php8' : '',
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
      // With the PHP 8.1+ lib_db, a refusal that escaped the wrappers would end the writer with an uncaught
      // mysqli_sql_exception (exit 255): trigger mode refuses it at least once in practice, around the flip.
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
      const summary = JSON.parse(summaryLine!) as { frozen: number; retried: number; acks: number; steps: number; anomalies: string[] };

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
      // Issue 22's end state: whatever the app did on the new shard after the flip, the cleanup left no
      // row of the user on the old one; once the retention is over, nothing of fw-shard's on either shard.
      expect(env.cli('a', 'users1', 'SELECT COUNT(*) FROM Dots WHERE user_id = 42').trim()).toBe('0');
      const tidy = await tidyGuards(topology, (e) => env.db(e.port === env.a.port ? 'a' : 'b', e.database), 0);
      expect(tidy.map((t) => t.error ?? null)).toEqual([null, null]);
      expect(guardObjects((q) => env.cli('a', 'users1', q))).toEqual(NOTHING);
      expect(guardObjects((q) => env.cli('b', 'users2', q))).toEqual(NOTHING);
    });
});

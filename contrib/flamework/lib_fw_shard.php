<?php

	#
	# lib_fw_shard.php: make a Flamework app honour fw-shard's per-user freeze.
	#
	# fw-shard moves one user's rows from one shard of db_users to another while
	# the app keeps running. Just before it flips users.cluster_id it freezes the
	# user for a short, bounded moment: it writes a row into fw_shard_freezes (in
	# the database that holds the users table, normally db_main), deletes the
	# cached user row (USER-{id}), waits --drain (default 2s) for requests already
	# past their check, copies the last changes, flips cluster_id, deletes the
	# cached user row again and lifts the freeze. A freeze carries an expiry
	# (frozen_until), so one left behind by a killed fw-shard lifts itself.
	#
	# A write to the user's shard that lands during the freeze, after the drain,
	# can be lost. So every write of a user's sharded rows must:
	#
	#   1. check the freeze RIGHT BEFORE the write (not at the start of the
	#      request: a request that checked, then spent 3 seconds rendering, is
	#      not protected);
	#   2. read the user's cluster_id AFTER the check, fresh for this request:
	#      through the app's user cache or db_main, never from a value kept
	#      across requests (a long-running worker, a session, a local array).
	#      fw-shard deletes the cached user row when the freeze starts and again
	#      after the flip, so a fresh read after the check sees the new shard;
	#   3. keep the check -> write latency well under fw-shard's --drain
	#      (default 2s): a write that passed the check just before the freeze
	#      started must reach the shard before the drain ends.
	#
	# The wrappers below do 1-3 in that order: check, resolve cluster_id, write.
	# They resolve cluster_id from $user['cluster_id'] unless you set
	# $GLOBALS['cfg']['fw_shard_cluster_id_func'] (see fw_shard_cluster_id()),
	# so load $user in the same request, shortly before the write.
	#
	# While frozen the guard returns Flamework's error shape with 'retry_after'
	# and 'fw_shard_frozen'; the write did not happen and can be retried in about
	# a second. Over HTTP, answer 503 with "Retry-After: 1".
	#
	# Install: copy this file to www/include/, then loadlib('fw_shard'). Outside
	# Flamework, require it and pass a mysqli handle connected to the database
	# that holds fw_shard_freezes (fw_shard_set_mysqli($link), or the second
	# argument of fw_shard_user_is_frozen()).
	#
	# Config (all optional):
	#   $GLOBALS['cfg']['fw_shard_freezes_cluster'] = 'main';
	#       Flamework cluster holding fw_shard_freezes: the one holding the users
	#       table (e.g. 'accounts' in the whosonfirst fork). Never a replica:
	#       replication lag would hide a freeze.
	#   $GLOBALS['cfg']['fw_shard_fail_open'] = 0;
	#       When the check itself fails (db_main unreachable, SELECT denied) the
	#       write is refused like a frozen user (fail closed). Set to 1 to let
	#       writes through instead, at the risk of losing writes made during a
	#       move.
	#   $GLOBALS['cfg']['fw_shard_cluster_id_func'] = null;
	#       Name of a function taking a user id and returning its cluster_id,
	#       read fresh (cache, then db_main); used by the wrappers after the
	#       check instead of $user['cluster_id'].
	#
	# PHP 5.4 syntax (array(), no ??, no finally, no Throwable, no type
	# declarations); tested on PHP 8.
	# Works with Flamework's mysql_* lib_db and its mysqli (php8_upgrade) lib_db.
	#
	# PHP 8.1+ throws: mysqli's default report mode is MYSQLI_REPORT_ERROR |
	# MYSQLI_REPORT_STRICT, and the mysqli lib_db does not catch in _db_query(),
	# so a failed query leaves db_write_users() and friends as a
	# mysqli_sql_exception instead of an ok=0 array. The wrappers catch it: a
	# fw-shard refusal (1644) is handled exactly as the returned one, and any
	# other exception is thrown again, unchanged, to the app.
	#

	#################################################################

	$GLOBALS['fw_shard_mysqli'] = null;

	function fw_shard_set_mysqli($link){
		$GLOBALS['fw_shard_mysqli'] = $link;
	}

	#################################################################

	#
	# The exact query fw-shard documents. The id is written as a bare integer
	# literal, never quoted and never through a float: a quoted id above 2^53 is
	# compared as a DOUBLE by the server, and a float loses the low digits.
	#

	function fw_shard_is_frozen_sql($user_id){

		$id = _fw_shard_id($user_id);

		if ($id === null){
			return null;
		}

		return "SELECT COUNT(*) AS frozen FROM fw_shard_freezes WHERE user_id = {$id} AND frozen_until > NOW(3)";
	}

	#################################################################

	#
	# array('ok' => 1, 'frozen' => 0|1) or array('ok' => 0, 'error' => ...).
	# A missing table (errno 1146) means fw-shard never ran: not frozen.
	#

	function fw_shard_freeze_status($user_id, $link=null){

		$sql = fw_shard_is_frozen_sql($user_id);

		if ($sql === null){
			return array(
				'ok' => 0,
				'error' => 'fw_shard: a user id must be an integer or a string of digits, got ' . gettype($user_id),
			);
		}

		if ($link === null){
			$link = $GLOBALS['fw_shard_mysqli'];
		}

		if ($link){
			$rsp = _fw_shard_fetch_mysqli($link, $sql);
		}else{
			$rsp = _fw_shard_fetch_flamework($sql);
		}

		if (!$rsp['ok']){

			if (isset($rsp['error_code']) && intval($rsp['error_code']) == 1146){
				return array('ok' => 1, 'frozen' => 0);
			}

			return array(
				'ok' => 0,
				'error' => 'fw_shard: could not read fw_shard_freezes: ' . (isset($rsp['error']) ? $rsp['error'] : 'unknown error'),
				'error_code' => isset($rsp['error_code']) ? $rsp['error_code'] : null,
			);
		}

		$frozen = 0;

		if (count($rsp['rows'])){
			$frozen = intval($rsp['rows'][0]['frozen']) > 0 ? 1 : 0;
		}

		return array('ok' => 1, 'frozen' => $frozen);
	}

	#################################################################

	#
	# TRUE while fw-shard has the user frozen. When the check cannot be made it
	# answers TRUE (fail closed) unless cfg fw_shard_fail_open is set.
	#

	function fw_shard_user_is_frozen($user_id, $link=null){

		$rsp = fw_shard_freeze_status($user_id, $link);

		if ($rsp['ok']){
			return $rsp['frozen'] ? true : false;
		}

		_fw_shard_log_error($rsp['error']);

		return _fw_shard_fail_open() ? false : true;
	}

	#################################################################

	#
	# Call right before writing the user's sharded rows. $user is the user row
	# (only 'id' is read) or a bare user id.
	#

	function fw_shard_guard_write($user, $link=null){

		$user_id = is_array($user) ? (isset($user['id']) ? $user['id'] : null) : $user;

		$rsp = fw_shard_freeze_status($user_id, $link);

		if ($rsp['ok'] && !$rsp['frozen']){
			return array('ok' => 1);
		}

		if ($rsp['ok']){
			return array(
				'ok' => 0,
				'error' => 'user is being moved, retry shortly',
				'retry_after' => 1,
				'fw_shard_frozen' => 1,
			);
		}

		_fw_shard_log_error($rsp['error']);

		if (_fw_shard_fail_open()){
			return array('ok' => 1);
		}

		# Unknown is treated as frozen: same retryable shape, plus the reason.

		return array(
			'ok' => 0,
			'error' => 'user is being moved, retry shortly',
			'retry_after' => 1,
			'fw_shard_frozen' => 1,
			'fw_shard_check_failed' => 1,
			'fw_shard_check_error' => $rsp['error'],
		);
	}

	#################################################################

	#
	# The user's shard, resolved after the check. With
	# cfg['fw_shard_cluster_id_func'] set, that function is asked (by user id)
	# so the value is as fresh as the app's user cache; otherwise
	# $user['cluster_id'], which must have been loaded in this request.
	#

	function fw_shard_cluster_id($user){

		$func = isset($GLOBALS['cfg']['fw_shard_cluster_id_func']) ? $GLOBALS['cfg']['fw_shard_cluster_id_func'] : null;

		if ($func){
			return call_user_func($func, $user['id']);
		}

		return $user['cluster_id'];
	}

	#################################################################

	#
	# Drop-in replacements for db_insert_users($user['cluster_id'], ...) and
	# friends: guard, resolve the shard, write. They return the guard's error
	# when frozen (nothing written), otherwise what lib_db returned, plus
	# 'fw_shard_cluster_id' (the shard written to). A fw-shard refusal is
	# handled (see fw_shard_refusal()) whether lib_db returns it or throws it;
	# every other exception lib_db throws reaches the caller unchanged.
	#

	function fw_shard_db_insert_users($user, $tbl, $hash){
		return _fw_shard_write($user, 'db_insert_users', array($tbl, $hash));
	}

	function fw_shard_db_update_users($user, $tbl, $hash, $where){
		return _fw_shard_write($user, 'db_update_users', array($tbl, $hash, $where));
	}

	function fw_shard_db_write_users($user, $sql){
		return _fw_shard_write($user, 'db_write_users', array($sql));
	}

	#################################################################

	#
	# In trigger mode (fw-shard's default where the shard allows it) the shard
	# itself refuses a moving or moved user's writes, with error 1644 (SQLSTATE
	# 45000) and one of two messages:
	#
	#   "fw-shard: user moved to another shard; re-read its cluster_id and retry there"
	#       the user lives elsewhere now: the wrappers forget the cached user row
	#       (cfg fw_shard_user_cache_keys, through cache_delete()), resolve the
	#       shard again and retry once there;
	#   "fw-shard: user is being moved; retry in a moment"
	#       the same retryable shape as a freeze (fw_shard_frozen, retry_after).
	#
	# Nothing was written when either is returned.
	#
	# lib_db reports the refusal in one of two ways: it returns its error shape
	# (ok=0, error_code=1644: the mysql_* lib_db, or mysqli with reporting off),
	# or, on PHP 8.1+ with the mysqli lib_db, it throws mysqli_sql_exception
	# (getCode() 1644). fw_shard_refusal() takes either: 'moved', 'moving', or
	# null for anything that is not a fw-shard refusal (including every other
	# error and exception).
	#

	function fw_shard_refusal($rsp){

		if (is_object($rsp)){
			$rsp = _fw_shard_exception_error($rsp);
		}

		if (!is_array($rsp) || !isset($rsp['ok']) || $rsp['ok'] || !isset($rsp['error_code']) || intval($rsp['error_code']) != 1644){
			return null;
		}

		$msg = isset($rsp['error']) ? $rsp['error'] : '';

		if (strpos($msg, 'fw-shard: user moved') !== false) return 'moved';
		if (strpos($msg, 'fw-shard: user is being moved') !== false) return 'moving';

		return null;
	}

	function fw_shard_forget_user($user_id){

		$keys = isset($GLOBALS['cfg']['fw_shard_user_cache_keys']) ? $GLOBALS['cfg']['fw_shard_user_cache_keys'] : array('USER-%s', 'user_%s');

		if (!function_exists('cache_delete')){
			return;
		}

		foreach ($keys as $k){
			cache_delete(sprintf($k, $user_id));
		}
	}

	function _fw_shard_write($user, $func, $args){

		$guard = fw_shard_guard_write($user);
		if (!$guard['ok']) return $guard;

		for ($attempt = 1; ; $attempt++){

			$cluster_id = fw_shard_cluster_id($user);
			$rsp = _fw_shard_tag(_fw_shard_call($func, array_merge(array($cluster_id), $args)), $cluster_id);
			$refusal = fw_shard_refusal($rsp);

			if ($refusal === 'moved' && $attempt == 1){
				fw_shard_forget_user(is_array($user) ? $user['id'] : $user);
				continue;
			}

			if ($refusal !== null){
				return array(
					'ok' => 0,
					'error' => 'user is being moved, retry shortly',
					'retry_after' => 1,
					'fw_shard_frozen' => 1,
					'fw_shard_refused' => $refusal,
				);
			}

			if ($attempt > 1 && is_array($rsp)){
				$rsp['fw_shard_retried'] = 1;
			}

			return $rsp;
		}
	}

	#################################################################

	#
	# Call lib_db. A fw-shard refusal thrown as mysqli_sql_exception (PHP 8.1+)
	# comes back as lib_db's returned error shape, so both paths are handled
	# alike; any other exception is thrown again as it is (the same object,
	# with its code, message and trace). catch (Exception) and no finally: PHP
	# 5.4 has neither Throwable nor finally, and mysqli_sql_exception is an
	# Exception on every version.
	#

	function _fw_shard_call($func, $args){

		try {
			return call_user_func_array($func, $args);
		} catch (Exception $e){
			$rsp = _fw_shard_exception_error($e);
			if ($rsp === null || fw_shard_refusal($rsp) === null){
				throw $e;
			}
			return $rsp;
		}
	}

	# lib_db's error shape for a mysqli_sql_exception, or null for any other object.

	function _fw_shard_exception_error($e){

		if (!class_exists('mysqli_sql_exception', false) || !($e instanceof mysqli_sql_exception)){
			return null;
		}

		return array(
			'ok' => 0,
			'error' => $e->getMessage(),
			'error_code' => $e->getCode(),
			'fw_shard_exception' => get_class($e),
		);
	}

	function _fw_shard_tag($rsp, $cluster_id){

		if (is_array($rsp)){
			$rsp['fw_shard_cluster_id'] = $cluster_id;
		}

		return $rsp;
	}

	# A digit string (leading zeros dropped) or null. Integers are accepted;
	# floats, negatives and anything else are refused.

	function _fw_shard_id($user_id){

		if (is_int($user_id)){
			return $user_id >= 0 ? (string) $user_id : null;
		}

		if (!is_string($user_id) || !preg_match('/^[0-9]{1,20}$/', $user_id)){
			return null;
		}

		$id = ltrim($user_id, '0');

		return $id === '' ? '0' : $id;
	}

	function _fw_shard_fail_open(){
		return isset($GLOBALS['cfg']['fw_shard_fail_open']) && $GLOBALS['cfg']['fw_shard_fail_open'];
	}

	function _fw_shard_log_error($msg){
		if (function_exists('log_error')){
			log_error($msg);
		}else{
			error_log($msg);
		}
	}

	# Through Flamework's lib_db: db_fetch() on db_main, or db_fetch_{cluster}().

	function _fw_shard_fetch_flamework($sql){

		$cluster = isset($GLOBALS['cfg']['fw_shard_freezes_cluster']) ? $GLOBALS['cfg']['fw_shard_freezes_cluster'] : 'main';
		$func = ($cluster == 'main') ? 'db_fetch' : "db_fetch_{$cluster}";

		if (!function_exists($func)){
			return array(
				'ok' => 0,
				'error' => "{$func}() is not defined: loadlib('db') first, or pass a mysqli handle",
			);
		}

		try {
			$rsp = call_user_func($func, $sql);
		} catch (Exception $e){
			# lib_db on PHP 8.1+ mysqli may let mysqli_sql_exception through
			return array('ok' => 0, 'error' => $e->getMessage(), 'error_code' => $e->getCode());
		}

		if (!is_array($rsp)){
			return array('ok' => 0, 'error' => "{$func}() returned no result");
		}

		if ($rsp['ok'] && !isset($rsp['rows'])){
			$rsp['rows'] = array();
		}

		return $rsp;
	}

	# Through a mysqli handle, whatever its report mode (PHP 8.1+ throws by default).

	function _fw_shard_fetch_mysqli($link, $sql){

		try {
			$result = $link->query($sql);
		} catch (Exception $e){
			return array('ok' => 0, 'error' => $e->getMessage(), 'error_code' => $e->getCode());
		}

		if ($result === false){
			return array('ok' => 0, 'error' => $link->error, 'error_code' => $link->errno);
		}

		$rows = array();
		while ($row = $result->fetch_assoc()){
			$rows[] = $row;
		}
		$result->free();

		return array('ok' => 1, 'rows' => $rows);
	}

	#################################################################

	# the end

/**
 * Exact-string tests for the SQL builders that had none (ARCHITECTURE.md: every builder in src/db/sql,
 * and the sandbox's, has one). The builders already pinned in sql-builders.test.ts, fleet-pure.test.ts,
 * owner-paths.test.ts and cascades.test.ts are not repeated here. One describe per source file.
 */
import { describe, expect, it } from 'vitest';
import { preview, toBinary } from '../../src/db/sql/fragment.js';
import { fingerprintColumnsSql, fingerprintCreateTimesSql, fingerprintKeysSql, fingerprintStorageSql, ownerTablesSql } from '../../src/db/sql/fingerprint.js';
import { activeFreezesSql, createFreezesSql, isFrozenSql, liftFreezeSql, setFreezeSql } from '../../src/db/sql/freeze.js';
import {
  addChangesRefColumnSql,
  boundSessionSql,
  casFenceSql,
  changesRefColumnSql,
  countChangesSql,
  createChangesSql,
  createFenceSql,
  createTriggersSql,
  defaultMetadataWaitSql,
  deleteChangesSql,
  deleteFenceSql,
  deleteUserChangesSql,
  dropGuardTablesSql,
  dropTriggerSql,
  fenceOfLockedSql,
  fenceOfSql,
  fencesSql,
  guardFactsSql,
  guardTablesSql,
  guardTriggersSql,
  metadataWaitSql,
  noMetadataWaitSql,
  olderWritersSql,
  preparedXaRowsSql,
  readChangesSql,
  replicationFactsMariadbSql,
  replicationFactsMysqlSql,
  resetSessionSql,
  serverNowSql,
  setFenceSql,
  triggerNames,
  xaRecoverSql,
} from '../../src/db/sql/guard.js';
import {
  checkpointSql,
  chunkCleanedSql,
  chunkTotalsSql,
  cleanupDueSql,
  copyStartedSql,
  createMoveChunksSql,
  createMovePassesSql,
  createMoveRunsSql,
  createMovesSql,
  createMoveTablesSql,
  deleteChunksSql,
  finishMoveSql,
  flippedAtSql,
  freezeEndedSql,
  freezeStartedSql,
  heartbeatSql,
  insertChunkSql,
  insertMoveSql,
  insertMoveTableSql,
  laterMoveOfUserSql,
  listMovesSql,
  markChunksDirtySql,
  selectActiveMoveForUserSql,
  selectChunksSql,
  selectMoveSql,
  selectMoveTablesSql,
  selectRunsSql,
  selectSchemaFingerprintSql,
  setErrorSql,
  setPhaseSql,
  setSchemaFingerprintSql,
  tableCleanedSql,
  updateChunkSql,
} from '../../src/db/sql/journal.js';
import { lockSessionIdleSql, releaseAllLocksSql, releaseLockSql, waitForLockSql } from '../../src/db/sql/locks.js';
import {
  allPlacementsSql,
  defaultLockWaitSql,
  flipLockWaitSql,
  flipMappingSql,
  mappingTableCandidatesSql,
  usersPerShardSql,
} from '../../src/db/sql/mapping.js';
import {
  columnInRange,
  columnOfKeys,
  countKeylessByHashForUpdateSql,
  countTableSql,
  deletableKeysSql,
  deleteKeylessByHashSql,
  foreignKeysIn,
  keptForOthers,
  loadDataSql,
  ownerLiteral,
  rowHash64,
  rowHashes,
  rowHashesByKeys,
  rowHashesChunk,
  rowHashTerm,
  rowLength,
  selectByKeys,
  selectColumnsChunk,
  sharedHashesKeptSql,
  tsvLine,
  userBytes,
  type RowSpec,
} from '../../src/db/sql/rows.js';
import { listColumnsSql, listKeysSql, listTablesSql, listTriggersSql } from '../../src/db/sql/schema.js';
import { pingSql, replicaStatusSql, serverFactsSql, showWarningsSql, slaveStatusSql, throttleQuerySql } from '../../src/db/sql/server.js';
import { ticketTablesSql, topOfColumnSql } from '../../src/db/sql/tickets.js';
import {
  createDatabase,
  insertRows as sandboxInsertRows,
  mainTables,
  poorMansTicketSession,
  replaceTicket,
  selectUserIds,
  shardTables,
  ticketTables,
} from '../../src/sandbox/sql.js';
import type { MappingSpec } from '../../src/topology/index.js';
import { col, specCols, specs } from '../helpers/schema-fixtures.js';

const b = (s: string) => Buffer.from(s, 'latin1');
/** A user id just above 2^53: exact only as digits, never as a JS number. */
const BIG = '9007199254740993';
/** The journal's ISO-8601 format, as the bound literal the builders send. */
const ISO = "'%Y-%m-%dT%H:%i:%s.%fZ'";

// The row specs of sql-builders.test.ts.
const { id, userId, title, tag } = specCols;
const { photos, faves, contacts } = specs;
/** A shared table (owner-paths.test.ts): items referred to by smol_archive.item_id, owned through smol_account. */
const sharedItems: RowSpec = {
  name: 'smol_item_twitter',
  columns: [id, col('body', 'text')],
  owner: userId,
  via: [
    { column: id, parent: 'smol_archive', parentKey: col('item_id'), shared: true },
    { column: col('account_id'), parent: 'smol_account', parentKey: id },
  ],
  key: [id],
};
/** "The row is user 42's" for sharedItems, and what every delete of it keeps for others. */
const sharedMine =
  '`smol_item_twitter`.`id` IN (SELECT fw_p1.`item_id` FROM `smol_archive` fw_p1 WHERE fw_p1.`account_id` IN (SELECT fw_p2.`id` FROM `smol_account` fw_p2 WHERE fw_p2.`user_id` = 42))';
const sharedOthers =
  ' AND NOT EXISTS (SELECT 1 FROM `smol_archive` fw_r WHERE fw_r.`item_id` = `smol_item_twitter`.`id` AND (fw_r.`account_id` IN (SELECT fw_p1.`id` FROM `smol_account` fw_p1 WHERE fw_p1.`user_id` = 42)) IS NOT TRUE)';
/** rowImage of Photos (as pinned in sql-builders.test.ts) and of Contacts (numbers only: no bitmap, no lengths). */
const photosImage =
  "CONCAT_WS(_binary 0x1f, CONCAT(ISNULL(`title`), ISNULL(`score`)), CONCAT_WS(_binary ',', IFNULL(LENGTH(`title`), 0)), `id`, `user_id`, CAST(`title` AS BINARY), CAST(`score` AS DOUBLE))";
const contactsImage = 'CONCAT_WS(_binary 0x1f, `user_id`, `contact_id`)';
const MD5_HEX = '0123456789abcdef0123456789abcdef';
/** What createTriggersSql takes (guard.ts does not export the type). */
type GuardedTable = Parameters<typeof createTriggersSql>[0];

describe('fingerprint.ts', () => {
  it('fingerprintColumnsSql: every column definition of the moved tables, names bound (a quote escaped)', () => {
    expect(preview(fingerprintColumnsSql('users1', ['Dots', "it's"]))).toBe(
      'SELECT TABLE_NAME AS t, COLUMN_NAME AS name, COLUMN_TYPE AS type, IS_NULLABLE AS nullable, CHARACTER_SET_NAME AS charset,\n' +
        '             COLLATION_NAME AS collation, COLUMN_DEFAULT AS dflt, EXTRA AS extra, GENERATION_EXPRESSION AS expr\n' +
        "      FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = 'users1' AND TABLE_NAME IN ('Dots', 'it\\'s') ORDER BY TABLE_NAME, COLUMN_NAME",
    );
  });

  it('fingerprintKeysSql: index columns, foreign key columns and foreign key actions in three UNION ALL branches', () => {
    expect(preview(fingerprintKeysSql('users1', ['Dots']))).toBe(
      "SELECT TABLE_NAME AS t, 'keys' AS part, INDEX_NAME AS name, SEQ_IN_INDEX AS seq, COLUMN_NAME AS col, NON_UNIQUE AS a, SUB_PART AS b, INDEX_TYPE AS c\n" +
        "      FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = 'users1' AND TABLE_NAME IN ('Dots')\n" +
        '      UNION ALL\n' +
        "      SELECT TABLE_NAME, 'foreignKeys', CONSTRAINT_NAME, ORDINAL_POSITION, COLUMN_NAME, REFERENCED_TABLE_SCHEMA, REFERENCED_TABLE_NAME, REFERENCED_COLUMN_NAME\n" +
        '      FROM information_schema.KEY_COLUMN_USAGE\n' +
        "      WHERE TABLE_SCHEMA = 'users1' AND TABLE_NAME IN ('Dots') AND REFERENCED_TABLE_NAME IS NOT NULL\n" +
        '      UNION ALL\n' +
        "      SELECT TABLE_NAME, 'foreignKeys', CONSTRAINT_NAME, 0, NULL, UPDATE_RULE, DELETE_RULE, NULL\n" +
        "      FROM information_schema.REFERENTIAL_CONSTRAINTS WHERE CONSTRAINT_SCHEMA = 'users1' AND TABLE_NAME IN ('Dots')\n" +
        '      ORDER BY t, part, name, seq',
    );
  });

  it('fingerprintStorageSql: InnoDB table ids by the server-encoded name, MariaDB and MySQL 8 (no table: one NULL row)', () => {
    const tail = (source: string) =>
      `      JOIN information_schema.${source} s ON s.NAME = w.base OR LEFT(s.NAME, LENGTH(w.base) + 3) IN (CONCAT(w.base, '#P#'), CONCAT(w.base, '#p#'))\n` +
      '      ORDER BY w.t, s.NAME';
    const head = (schema: string) =>
      'SELECT w.t AS t, s.NAME AS name, s.TABLE_ID AS id\n' +
      `      FROM (SELECT n.t, CONCAT(CAST(CONVERT(${schema} USING filename) AS BINARY), '/', CAST(CONVERT(n.t USING filename) AS BINARY)) AS base\n`;
    expect(preview(fingerprintStorageSql('my_db', ['Dots', 'a-b'], false))).toBe(
      head("'my_db'") + "            FROM (SELECT 'Dots' AS t UNION ALL SELECT 'a-b' AS t) n) w\n" + tail('INNODB_SYS_TABLES'),
    );
    expect(preview(fingerprintStorageSql("o'k\\db", [], true))).toBe(
      head("'o\\'k\\\\db'") + '            FROM (SELECT NULL AS t) n) w\n' + tail('INNODB_TABLES'),
    );
  });

  it('fingerprintCreateTimesSql: creation time of each table and partition; no table gives IN (NULL)', () => {
    expect(preview(fingerprintCreateTimesSql('users1', []))).toBe(
      "SELECT TABLE_NAME AS t, PARTITION_NAME AS part, SUBPARTITION_NAME AS sub, DATE_FORMAT(CREATE_TIME, '%Y-%m-%d %H:%i:%s') AS created\n" +
        "      FROM information_schema.PARTITIONS WHERE TABLE_SCHEMA = 'users1' AND TABLE_NAME IN (NULL)\n" +
        '      ORDER BY TABLE_NAME, PARTITION_NAME, SUBPARTITION_NAME',
    );
  });

  it('ownerTablesSql: base tables with the owner column, the schema a constant on both sides of the join', () => {
    expect(preview(ownerTablesSql('users1', 'user_id'))).toBe(
      'SELECT c.TABLE_NAME AS t FROM information_schema.COLUMNS c\n' +
        '      JOIN information_schema.TABLES b ON b.TABLE_NAME = c.TABLE_NAME\n' +
        "      WHERE c.TABLE_SCHEMA = 'users1' AND b.TABLE_SCHEMA = 'users1' AND c.COLUMN_NAME = 'user_id' AND b.TABLE_TYPE IN ('BASE TABLE', 'SYSTEM VERSIONED')\n" +
        '      ORDER BY c.TABLE_NAME',
    );
  });
});

describe('freeze.ts', () => {
  it('createFreezesSql creates the freeze table apps check', () => {
    expect(preview(createFreezesSql())).toBe(
      [
        'CREATE TABLE IF NOT EXISTS `fw_shard_freezes` (',
        '  user_id BIGINT UNSIGNED NOT NULL,',
        '  move_id BIGINT UNSIGNED NOT NULL,',
        "  frozen_until DATETIME(3) NOT NULL COMMENT 'the freeze lifts itself at this time (server clock, UTC)',",
        '  created_at DATETIME(3) NOT NULL,',
        '  PRIMARY KEY (user_id)',
        ") ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COMMENT 'users whose writes must wait: apps check this before writing (fw-shard)'",
      ].join('\n'),
    );
  });

  it('setFreezeSql freezes a user until now + the cap (in microseconds), a 64-bit id unquoted', () => {
    expect(preview(setFreezeSql(BIG, '7', 5000))).toBe(
      'INSERT INTO `fw_shard_freezes` (user_id, move_id, frozen_until, created_at)\n' +
        `      VALUES (${BIG}, 7, NOW(3) + INTERVAL 5000000 MICROSECOND, NOW(3))\n` +
        '      ON DUPLICATE KEY UPDATE move_id = VALUES(move_id), frozen_until = VALUES(frozen_until), created_at = VALUES(created_at)',
    );
  });

  it("liftFreezeSql lifts only this move's freeze, and refuses an id that is not digits", () => {
    expect(preview(liftFreezeSql(BIG, '7'))).toBe(`DELETE FROM \`fw_shard_freezes\` WHERE user_id = ${BIG} AND move_id = 7`);
    expect(() => liftFreezeSql('1 OR 1=1', '7')).toThrow('not a numeric literal');
  });

  it("isFrozenSql is the README's app query", () => {
    expect(preview(isFrozenSql('42'))).toBe('SELECT COUNT(*) AS frozen FROM `fw_shard_freezes` WHERE user_id = 42 AND frozen_until > NOW(3)');
  });

  it('activeFreezesSql lists the freezes in force with the milliseconds left', () => {
    expect(preview(activeFreezesSql())).toBe(
      'SELECT user_id, move_id, TIMESTAMPDIFF(MICROSECOND, NOW(3), frozen_until) DIV 1000 AS remaining_ms FROM `fw_shard_freezes`\n' +
        '      WHERE frozen_until > NOW(3) ORDER BY user_id',
    );
  });
});

describe('guard.ts', () => {
  it('createFenceSql and createChangesSql create the fence and the change log', () => {
    expect(preview(createFenceSql())).toBe(
      [
        'CREATE TABLE IF NOT EXISTS `fw_shard_fence` (',
        '  user_id BIGINT UNSIGNED NOT NULL,',
        "  state ENUM('capturing','frozen','moved','incoming') NOT NULL,",
        '  move_id BIGINT UNSIGNED NOT NULL,',
        '  updated_at DATETIME(3) NOT NULL,',
        '  PRIMARY KEY (user_id)',
        ") ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COMMENT 'fw-shard: users moving from, moved from, or moving to this shard'",
      ].join('\n'),
    );
    expect(preview(createChangesSql())).toBe(
      [
        'CREATE TABLE IF NOT EXISTS `fw_shard_changes` (',
        '  seq BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,',
        '  user_id BIGINT UNSIGNED NOT NULL,',
        '  table_name VARCHAR(64) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,',
        "  k VARBINARY(6144) NULL COMMENT 'hex of each key column as the server prints it, comma-separated; NULL: keyless table',",
        "  r VARBINARY(6144) NULL COMMENT 'tables referenced by cascading foreign keys: hex of each referenced column (N: NULL), comma-separated',",
        '  PRIMARY KEY (seq),',
        '  KEY by_user (user_id, seq)',
        ") ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COMMENT 'fw-shard: changed keys of users being moved'",
      ].join('\n'),
    );
  });

  it('changesRefColumnSql and addChangesRefColumnSql find and add the r column older guards lack', () => {
    expect(preview(changesRefColumnSql('users1'))).toBe(
      "SELECT COUNT(*) AS n FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = 'users1' AND TABLE_NAME = 'fw_shard_changes' AND COLUMN_NAME = 'r'",
    );
    expect(preview(addChangesRefColumnSql())).toBe(
      "ALTER TABLE `fw_shard_changes` ADD COLUMN r VARBINARY(6144) NULL COMMENT 'tables referenced by cascading foreign keys: hex of each referenced column (N: NULL), comma-separated'",
    );
  });

  describe('createTriggersSql: the three triggers of a table owned by its own column', () => {
    const MOVED = "SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'fw-shard: user moved to another shard; re-read its cluster_id and retry there';";
    const MOVING = "SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'fw-shard: user is being moved; retry in a moment';";
    const wrap = (body: string) =>
      'BEGIN\n' +
      '  DECLARE st VARCHAR(10) DEFAULT NULL;\n' +
      "  IF NOT (@fw_shard_writer <=> CONCAT('fw-shard writer ', CONNECTION_ID())) THEN\n" +
      `    ${body}\n` +
      '  END IF;\n' +
      'END';
    /** The fence check of one owner value; `logs`: the rows whose keys a capturing fence logs. */
    const fence = (row: string, tableLiteral: string, logs: string[]) =>
      'SET st = NULL;\n' +
      '    BEGIN\n' +
      "      DECLARE CONTINUE HANDLER FOR SQLSTATE '42S02' SET st = NULL;\n" +
      `      SELECT state INTO st FROM \`fw_shard_fence\` WHERE user_id = ${row}.\`user_id\` LOCK IN SHARE MODE;\n` +
      '    END;\n' +
      `    IF st = 'capturing' THEN ${logs
        .map(
          (r) =>
            `INSERT INTO \`fw_shard_changes\` (user_id, table_name, k, r) VALUES (${row}.\`user_id\`, ${tableLiteral}, CONCAT_WS(',', HEX(CONVERT(${r}.\`id\` USING binary))), NULL);`,
        )
        .join(' ')}\n` +
      `    ELSEIF st = 'moved' THEN ${MOVED}\n` +
      `    ELSEIF st IS NOT NULL THEN ${MOVING}\n` +
      '    END IF;';

    it('INSERT, UPDATE (old owner, and the new one if it changed) and DELETE', () => {
      const dots: GuardedTable = { name: 'Dots', owner: userId, key: [id] };
      const names = triggerNames(dots);
      expect(createTriggersSql(dots).map(preview)).toEqual([
        `CREATE TRIGGER \`${names.bi}\` BEFORE INSERT ON \`Dots\` FOR EACH ROW ` +
          'BEGIN\n' +
          '  DECLARE st VARCHAR(10) DEFAULT NULL;\n' +
          "  IF NOT (@fw_shard_writer <=> CONCAT('fw-shard writer ', CONNECTION_ID())) THEN\n" +
          '    SET st = NULL;\n' +
          '    BEGIN\n' +
          "      DECLARE CONTINUE HANDLER FOR SQLSTATE '42S02' SET st = NULL;\n" +
          '      SELECT state INTO st FROM `fw_shard_fence` WHERE user_id = NEW.`user_id` LOCK IN SHARE MODE;\n' +
          '    END;\n' +
          "    IF st = 'capturing' THEN INSERT INTO `fw_shard_changes` (user_id, table_name, k, r) VALUES (NEW.`user_id`, 'Dots', CONCAT_WS(',', HEX(CONVERT(NEW.`id` USING binary))), NULL);\n" +
          `    ELSEIF st = 'moved' THEN ${MOVED}\n` +
          `    ELSEIF st IS NOT NULL THEN ${MOVING}\n` +
          '    END IF;\n' +
          '  END IF;\n' +
          'END',
        `CREATE TRIGGER \`${names.bu}\` BEFORE UPDATE ON \`Dots\` FOR EACH ROW ` +
          wrap(`${fence('OLD', "'Dots'", ['OLD', 'NEW'])}\n    IF NOT (NEW.\`user_id\` <=> OLD.\`user_id\`) THEN ${fence('NEW', "'Dots'", ['NEW'])} END IF;`),
        `CREATE TRIGGER \`${names.bd}\` BEFORE DELETE ON \`Dots\` FOR EACH ROW ${wrap(fence('OLD', "'Dots'", ['OLD']))}`,
      ]);
    });

    it('a table name with a backtick and a quote: doubled in the identifier, escaped in the logged literal', () => {
      const odd: GuardedTable = { name: "Do`t's", owner: userId, key: [id] };
      const [bi] = createTriggersSql(odd).map(preview);
      expect(bi).toBe(`CREATE TRIGGER \`${triggerNames(odd).bi}\` BEFORE INSERT ON \`Do\`\`t's\` FOR EACH ROW ${wrap(fence('NEW', "'Do`t\\'s'", ['NEW']))}`);
    });
  });

  it('dropTriggerSql drops one trigger by its quoted name', () => {
    expect(preview(dropTriggerSql('fw_shard_x`y'))).toBe('DROP TRIGGER IF EXISTS `fw_shard_x``y`');
  });

  // LIKE 'fw_shard_%' treats each `_` as "any character": `fw-shard-audit` or `fwXshardYz` (an app's own
  // trigger) match too, and Guard.remove drops every trigger this returns. fingerprint.ts escapes the
  // same prefix ('fw\_shard\_%') for exactly that reason.
  it("guardTriggersSql lists fw-shard's triggers only: the prefix's underscores escaped, not LIKE wildcards", () => {
    expect(preview(guardTriggersSql('users1'))).toBe(
      'SELECT TRIGGER_NAME AS name, EVENT_OBJECT_TABLE AS tbl FROM information_schema.TRIGGERS\n' +
        "      WHERE TRIGGER_SCHEMA = 'users1' AND TRIGGER_NAME LIKE 'fw\\\\_shard\\\\_%' ORDER BY EVENT_OBJECT_TABLE, TRIGGER_NAME",
    );
  });

  it("setFenceSql upserts a user's fence; casFenceSql changes it only from the expected state", () => {
    expect(preview(setFenceSql(BIG, '7', 'capturing'))).toBe(
      `INSERT INTO \`fw_shard_fence\` (user_id, state, move_id, updated_at) VALUES (${BIG}, 'capturing', 7, NOW(3))\n` +
        '      ON DUPLICATE KEY UPDATE state = VALUES(state), move_id = VALUES(move_id), updated_at = VALUES(updated_at)',
    );
    expect(preview(casFenceSql('42', '7', 'capturing', 'frozen'))).toBe(
      "UPDATE `fw_shard_fence` SET state = 'frozen', updated_at = NOW(3) WHERE user_id = 42 AND move_id = 7 AND state = 'capturing'",
    );
  });

  it("fenceOfSql, fenceOfLockedSql and fencesSql read a user's fence (under a shared lock) or all of them", () => {
    expect(preview(fenceOfSql(BIG))).toBe(`SELECT state, move_id FROM \`fw_shard_fence\` WHERE user_id = ${BIG}`);
    expect(preview(fenceOfLockedSql('42'))).toBe('SELECT state, move_id FROM `fw_shard_fence` WHERE user_id = 42 LOCK IN SHARE MODE');
    expect(preview(fencesSql())).toBe(
      `SELECT user_id, state, move_id, DATE_FORMAT(updated_at, '%Y-%m-%dT%H:%i:%s.%fZ') AS updated_at,\n` +
        '             TIMESTAMPDIFF(SECOND, updated_at, NOW(3)) AS age_s FROM `fw_shard_fence` ORDER BY user_id',
    );
  });

  it("deleteFenceSql removes this move's fence row, or any move's in the given states", () => {
    expect(preview(deleteFenceSql('42', '7'))).toBe('DELETE FROM `fw_shard_fence` WHERE user_id = 42 AND move_id = 7');
    expect(preview(deleteFenceSql(BIG, null, ['moved', 'incoming']))).toBe(
      `DELETE FROM \`fw_shard_fence\` WHERE user_id = ${BIG} AND state IN ('moved', 'incoming')`,
    );
    expect(preview(deleteFenceSql('42', '7', ['frozen']))).toBe("DELETE FROM `fw_shard_fence` WHERE user_id = 42 AND move_id = 7 AND state IN ('frozen')");
  });

  it('the change log: read in order, delete exactly the applied seqs (64-bit), per user, counted per user', () => {
    expect(preview(readChangesSql('42', 1000))).toBe('SELECT seq, table_name, k, r FROM `fw_shard_changes` WHERE user_id = 42 ORDER BY seq LIMIT 1000');
    expect(preview(deleteChangesSql(['1', '18446744073709551615']))).toBe('DELETE FROM `fw_shard_changes` WHERE seq IN (1, 18446744073709551615)');
    expect(preview(deleteUserChangesSql(BIG))).toBe(`DELETE FROM \`fw_shard_changes\` WHERE user_id = ${BIG}`);
    expect(preview(countChangesSql())).toBe('SELECT user_id, COUNT(*) AS n FROM `fw_shard_changes` GROUP BY user_id');
  });

  it('olderWritersSql and preparedXaRowsSql find transactions that wrote before the capture; xaRecoverSql lists prepared XA', () => {
    const cols = "SELECT trx_mysql_thread_id AS thread, DATE_FORMAT(trx_started, '%Y-%m-%dT%H:%i:%s.%fZ') AS started, trx_rows_modified AS rows_modified\n";
    expect(preview(olderWritersSql('2024-03-31 00:10:00.123456'))).toBe(
      cols +
        '      FROM information_schema.INNODB_TRX\n' +
        "      WHERE trx_started <= '2024-03-31 00:10:00.123456' AND trx_rows_modified > 0 AND trx_mysql_thread_id <> CONNECTION_ID()",
    );
    expect(preview(preparedXaRowsSql())).toBe(cols + '      FROM information_schema.INNODB_TRX WHERE trx_mysql_thread_id = 0 AND trx_rows_modified > 0');
    expect(preview(xaRecoverSql())).toBe('XA RECOVER');
  });

  it("serverNowSql reads the server's clock to the microsecond", () => {
    expect(preview(serverNowSql())).toBe("SELECT DATE_FORMAT(NOW(6), '%Y-%m-%d %H:%i:%s.%f') AS now");
  });

  it("boundSessionSql and resetSessionSql bound a held freeze's session (MariaDB: idle_transaction_timeout) and reset it", () => {
    expect(preview(boundSessionSql(8, true))).toBe('SET SESSION idle_transaction_timeout = 8, SESSION innodb_lock_wait_timeout = 8');
    expect(preview(boundSessionSql(8, false))).toBe('SET SESSION wait_timeout = 8, SESSION innodb_lock_wait_timeout = 8');
    expect(preview(resetSessionSql(true))).toBe('SET SESSION idle_transaction_timeout = DEFAULT, SESSION innodb_lock_wait_timeout = DEFAULT');
    expect(preview(resetSessionSql(false))).toBe('SET SESSION wait_timeout = DEFAULT, SESSION innodb_lock_wait_timeout = DEFAULT');
  });

  it('guardFactsSql and the replication facts (MariaDB, MySQL 8) that trigger mode needs', () => {
    expect(preview(guardFactsSql())).toBe(
      'SELECT @@GLOBAL.log_bin AS log_bin, @@GLOBAL.log_bin_trust_function_creators AS trust, VERSION() AS version, @@GLOBAL.binlog_format AS binlog_format',
    );
    expect(preview(replicationFactsMariadbSql())).toBe(
      "SELECT (SELECT VARIABLE_VALUE FROM information_schema.GLOBAL_STATUS WHERE VARIABLE_NAME = 'SLAVES_RUNNING') AS running,\n" +
        '             @@GLOBAL.slave_run_triggers_for_rbr AS rbr_triggers',
    );
    expect(preview(replicationFactsMysqlSql())).toBe(
      "SELECT COUNT(*) AS running, 'NO' AS rbr_triggers FROM performance_schema.replication_applier_status WHERE SERVICE_STATE = 'ON'",
    );
  });

  it("guardTablesSql finds fw-shard's two tables; dropGuardTablesSql drops them", () => {
    expect(preview(guardTablesSql("o'k\\db"))).toBe(
      "SELECT TABLE_NAME AS name FROM information_schema.TABLES WHERE TABLE_SCHEMA = 'o\\'k\\\\db' AND TABLE_NAME IN ('fw_shard_fence', 'fw_shard_changes') ORDER BY TABLE_NAME",
    );
    expect(preview(dropGuardTablesSql())).toBe('DROP TABLE IF EXISTS `fw_shard_changes`, `fw_shard_fence`');
  });

  it('the metadata-lock wait of fw-shard DDL: none, bounded, the default again', () => {
    expect(preview(noMetadataWaitSql())).toBe('SET SESSION lock_wait_timeout = 0');
    expect(preview(metadataWaitSql(5))).toBe('SET SESSION lock_wait_timeout = 5');
    expect(preview(defaultMetadataWaitSql())).toBe('SET SESSION lock_wait_timeout = DEFAULT');
  });
});

describe('journal.ts', () => {
  /** The columns every move reader selects (moveColumns); `control`: the journal has the added columns. */
  const moveColumns = (control: boolean) =>
    '`fw_shard_moves`.id, user_id, from_shard, to_shard, phase, state, cleanup_mode, options, runner_host, runner_pid,\n' +
    `  DATE_FORMAT(heartbeat_at, ${ISO}) AS heartbeat_at,\n` +
    `  DATE_FORMAT(created_at, ${ISO}) AS created_at,\n` +
    `  DATE_FORMAT(updated_at, ${ISO}) AS updated_at,\n` +
    `  DATE_FORMAT(flipped_at, ${ISO}) AS flipped_at,\n` +
    `  DATE_FORMAT(finished_at, ${ISO}) AS finished_at,\n` +
    '  TIMESTAMPDIFF(MICROSECOND, freeze_started_at, freeze_ended_at) DIV 1000 AS freeze_ms,\n' +
    '  TIMESTAMPDIFF(SECOND, heartbeat_at, NOW(3)) AS heartbeat_age_s,\n' +
    '  TIMESTAMPDIFF(SECOND, flipped_at, NOW(3)) AS flipped_age_s,\n' +
    '  error,\n' +
    (control
      ? '  runner_lock, IF(runner_lock IS NULL, NULL, IS_USED_LOCK(runner_lock)) AS runner_conn,\n' +
        `  DATE_FORMAT(stop_requested_at, ${ISO}) AS stop_requested_at, stop_requested_by, throttle_reason,\n`
      : '  NULL AS runner_lock, NULL AS runner_conn, NULL AS stop_requested_at, NULL AS stop_requested_by, NULL AS throttle_reason,\n') +
    '  (SELECT COALESCE(SUM(rows_copied), 0) FROM `fw_shard_move_tables` WHERE move_id = `fw_shard_moves`.id) AS rows_copied,\n' +
    '  (SELECT COALESCE(SUM(rows_total), 0) FROM `fw_shard_move_tables` WHERE move_id = `fw_shard_moves`.id) AS rows_total';

  it('createMovesSql creates the journal of moves', () => {
    expect(preview(createMovesSql())).toBe(
      [
        'CREATE TABLE IF NOT EXISTS `fw_shard_moves` (',
        '  id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,',
        '  user_id BIGINT UNSIGNED NOT NULL,',
        '  from_shard TINYINT UNSIGNED NOT NULL,',
        '  to_shard TINYINT UNSIGNED NOT NULL,',
        '  phase VARCHAR(32) NOT NULL,',
        "  state VARCHAR(16) NOT NULL DEFAULT 'active',",
        "  active_user BIGINT UNSIGNED NULL COMMENT 'user_id while the move is unfinished; NULL after: at most one unfinished move per user',",
        "  cleanup_mode VARCHAR(8) NOT NULL DEFAULT 'now',",
        '  options TEXT NULL,',
        '  runner_host VARCHAR(255) NULL,',
        '  runner_pid INT UNSIGNED NULL,',
        '  heartbeat_at DATETIME(3) NULL,',
        '  created_at DATETIME(3) NOT NULL,',
        '  updated_at DATETIME(3) NOT NULL,',
        '  copy_started_at DATETIME(3) NULL,',
        '  flipped_at DATETIME(3) NULL,',
        '  finished_at DATETIME(3) NULL,',
        '  freeze_started_at DATETIME(3) NULL,',
        '  freeze_ended_at DATETIME(3) NULL,',
        '  error TEXT NULL,',
        "  undo_of BIGINT UNSIGNED NULL COMMENT 'fw-shard undo: the move this one undoes (it moves the user back)',",
        "  undone_by BIGINT UNSIGNED NULL COMMENT 'fw-shard undo: the move undoing this one; while set, this move is never cleaned up',",
        "  runner_lock VARCHAR(64) NULL COMMENT 'the named lock (GET_LOCK) the runner holds on its own connection: held = the runner is alive',",
        "  stop_requested_at DATETIME(3) NULL COMMENT 'fw-shard stop: the runner stops at its next safe point; cleared when a run claims the move',",
        '  stop_requested_by VARCHAR(255) NULL,',
        "  throttle_reason TEXT NULL COMMENT 'why the runner waits right now (throttle, pause file); NULL while it works',",
        "  schema_fp MEDIUMTEXT NULL COMMENT 'the moved tables schema fingerprints on both shards when the move started (JSON): any change stops it before the flip',",
        '  PRIMARY KEY (id),',
        '  UNIQUE KEY one_unfinished_move_per_user (active_user),',
        '  KEY by_user (user_id),',
        '  KEY by_state (state, phase)',
        ') ENGINE=InnoDB DEFAULT CHARSET=utf8mb4',
      ].join('\n'),
    );
  });

  it('createMoveTablesSql, createMoveChunksSql, createMovePassesSql and createMoveRunsSql create the per-table, per-range, per-pass and per-run tables', () => {
    expect(preview(createMoveTablesSql())).toBe(
      [
        'CREATE TABLE IF NOT EXISTS `fw_shard_move_tables` (',
        '  move_id BIGINT UNSIGNED NOT NULL,',
        '  table_name VARCHAR(64) NOT NULL,',
        "  status VARCHAR(16) NOT NULL DEFAULT 'pending',",
        "  last_key TEXT NULL COMMENT 'JSON array of base64 key values: the copy checkpoint',",
        '  rows_total BIGINT UNSIGNED NOT NULL DEFAULT 0,',
        '  rows_copied BIGINT UNSIGNED NOT NULL DEFAULT 0,',
        '  chunks INT UNSIGNED NOT NULL DEFAULT 0,',
        '  mismatches INT UNSIGNED NOT NULL DEFAULT 0,',
        '  rows_cleaned BIGINT UNSIGNED NOT NULL DEFAULT 0,',
        '  PRIMARY KEY (move_id, table_name)',
        ') ENGINE=InnoDB DEFAULT CHARSET=utf8mb4',
      ].join('\n'),
    );
    expect(preview(createMoveChunksSql())).toBe(
      [
        'CREATE TABLE IF NOT EXISTS `fw_shard_move_chunks` (',
        '  move_id BIGINT UNSIGNED NOT NULL,',
        '  table_name VARCHAR(64) NOT NULL,',
        '  seq INT UNSIGNED NOT NULL,',
        '  lo TEXT NULL,',
        '  hi TEXT NULL,',
        '  row_count BIGINT UNSIGNED NOT NULL,',
        '  hash DECIMAL(65,0) NOT NULL,',
        '  cleaned TINYINT NOT NULL DEFAULT 0,',
        '  PRIMARY KEY (move_id, table_name, seq)',
        ") ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COMMENT 'hash of what fw-shard last wrote to the target per range (-1: being rewritten); equal to the source at the final verification'",
      ].join('\n'),
    );
    expect(preview(createMovePassesSql())).toBe(
      [
        'CREATE TABLE IF NOT EXISTS `fw_shard_move_passes` (',
        '  id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,',
        '  move_id BIGINT UNSIGNED NOT NULL,',
        "  kind VARCHAR(8) NOT NULL COMMENT 'delta: a delta or log pass; freeze: a freeze attempt',",
        '  started_at DATETIME(3) NOT NULL,',
        "  ended_at DATETIME(3) NULL COMMENT 'NULL: the run stopped inside it (or it is running)',",
        '  ms INT UNSIGNED NULL,',
        '  rows_recopied BIGINT UNSIGNED NULL,',
        "  outcome VARCHAR(16) NULL COMMENT 'freeze: flipped or lifted',",
        '  PRIMARY KEY (id),',
        '  KEY by_move (move_id, id)',
        ') ENGINE=InnoDB DEFAULT CHARSET=utf8mb4',
      ].join('\n'),
    );
    expect(preview(createMoveRunsSql())).toBe(
      [
        'CREATE TABLE IF NOT EXISTS `fw_shard_move_runs` (',
        '  id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,',
        '  move_id BIGINT UNSIGNED NOT NULL,',
        '  os_user VARCHAR(64) NULL,',
        '  host VARCHAR(255) NOT NULL,',
        '  pid INT UNSIGNED NOT NULL,',
        "  command TEXT NULL COMMENT 'the command line, passwords removed',",
        '  started_at DATETIME(3) NOT NULL,',
        '  ended_at DATETIME(3) NULL,',
        "  outcome VARCHAR(64) NULL COMMENT 'done, cleanup-pending, aborted, stopped, failed CODE; NULL: running, or the runner died',",
        '  PRIMARY KEY (id),',
        '  KEY by_move (move_id, id)',
        ') ENGINE=InnoDB DEFAULT CHARSET=utf8mb4',
      ].join('\n'),
    );
  });

  it('selectSchemaFingerprintSql and setSchemaFingerprintSql read and record the JSON fingerprint (quotes escaped)', () => {
    expect(preview(selectSchemaFingerprintSql(BIG))).toBe(`SELECT schema_fp FROM \`fw_shard_moves\` WHERE id = ${BIG}`);
    expect(preview(setSchemaFingerprintSql('7', JSON.stringify({ t: "o'k" })))).toBe(
      'UPDATE `fw_shard_moves` SET schema_fp = \'{\\"t\\":\\"o\\\'k\\"}\' WHERE id = 7',
    );
  });

  it('insertMoveSql creates an active move (id chosen by the server, or given), the user its unfinished move', () => {
    const m = { id: null, userId: BIG, from: 1, to: 2, phase: 'planned', cleanupMode: 'now', options: '{}', runnerHost: 'web1', runnerPid: 123 };
    const head =
      'INSERT INTO `fw_shard_moves`\n' +
      '  (id, user_id, from_shard, to_shard, phase, state, active_user, cleanup_mode, options, runner_host, runner_pid, heartbeat_at, created_at, updated_at)\n';
    expect(preview(insertMoveSql(m))).toBe(
      head + `  VALUES (NULL, ${BIG}, 1, 2, 'planned', 'active', ${BIG}, 'now', '{}',\n          'web1', 123, NOW(3), NOW(3), NOW(3))`,
    );
    expect(preview(insertMoveSql({ ...m, id: '12', runnerHost: "o'host" }))).toBe(
      head + `  VALUES (12, ${BIG}, 1, 2, 'planned', 'active', ${BIG}, 'now', '{}',\n          'o\\'host', 123, NOW(3), NOW(3), NOW(3))`,
    );
  });

  it("selectMoveSql and selectActiveMoveForUserSql read one move, by id or as the user's unfinished one", () => {
    expect(preview(selectMoveSql('7', false))).toBe(`SELECT ${moveColumns(false)} FROM \`fw_shard_moves\` WHERE id = 7`);
    expect(preview(selectActiveMoveForUserSql(BIG, true))).toBe(`SELECT ${moveColumns(true)} FROM \`fw_shard_moves\` WHERE active_user = ${BIG}`);
  });

  it('listMovesSql: every move newest first (one user), or the unfinished ones oldest first', () => {
    expect(preview(listMovesSql(true, 5, false, '42'))).toBe(
      `SELECT ${moveColumns(false)} FROM \`fw_shard_moves\` WHERE 1 = 1 AND user_id = 42 ORDER BY created_at DESC, id DESC LIMIT 5`,
    );
    expect(preview(listMovesSql(false, 200, true))).toBe(
      `SELECT ${moveColumns(true)} FROM \`fw_shard_moves\` WHERE state = 'active' ORDER BY created_at, id LIMIT 200`,
    );
  });

  it('cleanupDueSql lists the deferred cleanups that are due', () => {
    expect(preview(cleanupDueSql(900, true))).toBe(
      `SELECT ${moveColumns(true)} FROM \`fw_shard_moves\` WHERE state = 'active'\n` +
        "      AND (phase = 'cleanup-pending' OR (phase = 'cleanup' AND cleanup_mode = 'defer'))\n" +
        '      AND flipped_at <= NOW(3) - INTERVAL 900 SECOND ORDER BY flipped_at, id',
    );
  });

  it('laterMoveOfUserSql finds a later, not aborted move of the user', () => {
    expect(preview(laterMoveOfUserSql(BIG, '7', false))).toBe(
      `SELECT ${moveColumns(false)} FROM \`fw_shard_moves\` WHERE user_id = ${BIG} AND id > 7 AND state <> 'aborted' ORDER BY id LIMIT 1`,
    );
  });

  it("heartbeatSql keeps the runner's lease alive, only while it holds it", () => {
    expect(preview(heartbeatSql('7', "o'host", 12))).toBe(
      "UPDATE `fw_shard_moves` SET heartbeat_at = NOW(3) WHERE id = 7 AND runner_host = 'o\\'host' AND runner_pid = 12",
    );
  });

  it('selectRunsSql lists the runs of a move', () => {
    expect(preview(selectRunsSql('7'))).toBe(
      `SELECT id, os_user, host, pid, command, DATE_FORMAT(started_at, ${ISO}) AS started_at, DATE_FORMAT(ended_at, ${ISO}) AS ended_at, outcome\n` +
        '      FROM `fw_shard_move_runs` WHERE move_id = 7 ORDER BY id',
    );
  });

  it('setPhaseSql records a phase, with the timestamps copyStartedSql, freezeStartedSql, freezeEndedSql and flippedAtSql add', () => {
    expect(preview(setPhaseSql('7', 'copy'))).toBe("UPDATE `fw_shard_moves` SET phase = 'copy', updated_at = NOW(3), heartbeat_at = NOW(3) WHERE id = 7");
    expect(preview(setPhaseSql('7', 'copy', copyStartedSql()))).toBe(
      "UPDATE `fw_shard_moves` SET phase = 'copy', updated_at = NOW(3), heartbeat_at = NOW(3), copy_started_at = COALESCE(copy_started_at, NOW(3)) WHERE id = 7",
    );
    expect(preview(copyStartedSql())).toBe(', copy_started_at = COALESCE(copy_started_at, NOW(3))');
    expect(preview(freezeStartedSql())).toBe(', freeze_started_at = NOW(3), freeze_ended_at = NULL');
    expect(preview(freezeEndedSql())).toBe(', freeze_ended_at = NOW(3)');
    expect(preview(flippedAtSql())).toBe(', flipped_at = NOW(3)');
  });

  it('setErrorSql records an error (a quote and a backslash escaped) or clears it', () => {
    expect(preview(setErrorSql('7', "can't open C:\\tmp"))).toBe(
      "UPDATE `fw_shard_moves` SET error = 'can\\'t open C:\\\\tmp', updated_at = NOW(3) WHERE id = 7",
    );
    expect(preview(setErrorSql('7', null))).toBe('UPDATE `fw_shard_moves` SET error = NULL, updated_at = NOW(3) WHERE id = 7');
  });

  it('finishMoveSql ends a move, freeing the user and the lease', () => {
    expect(preview(finishMoveSql('7', 'aborted', 'aborted'))).toBe(
      "UPDATE `fw_shard_moves` SET state = 'aborted', phase = 'aborted', active_user = NULL, finished_at = NOW(3), updated_at = NOW(3),\n" +
        '      runner_host = NULL, runner_pid = NULL, runner_lock = NULL, throttle_reason = NULL WHERE id = 7',
    );
  });

  it('the per-table record: insertMoveTableSql, selectMoveTablesSql, checkpointSql, tableCleanedSql', () => {
    expect(preview(insertMoveTableSql('7', 'Dots', '18446744073709551615'))).toBe(
      "INSERT IGNORE INTO `fw_shard_move_tables` (move_id, table_name, rows_total) VALUES (7, 'Dots', 18446744073709551615)",
    );
    expect(preview(selectMoveTablesSql('7'))).toBe(
      'SELECT table_name, status, last_key, rows_total, rows_copied, chunks, mismatches, rows_cleaned FROM `fw_shard_move_tables`\n' +
        '      WHERE move_id = 7 ORDER BY table_name',
    );
    expect(preview(checkpointSql('7', "it's", { status: 'copying', lastKey: '["MTA="]', rowsCopied: BIG, chunks: 3, mismatches: 0 }))).toBe(
      `UPDATE \`fw_shard_move_tables\` SET status = 'copying', last_key = '[\\"MTA=\\"]', rows_copied = ${BIG},\n` +
        "  chunks = 3, mismatches = 0 WHERE move_id = 7 AND table_name = 'it\\'s'",
    );
    expect(preview(tableCleanedSql('7', 'Dots', 'cleaned'))).toBe(
      'UPDATE `fw_shard_move_tables` SET rows_cleaned = (SELECT COALESCE(SUM(row_count), 0) FROM `fw_shard_move_chunks`\n' +
        "      WHERE move_id = 7 AND table_name = 'Dots' AND cleaned = 1), status = 'cleaned' WHERE move_id = 7 AND table_name = 'Dots'",
    );
  });

  it('the per-range records: insert, read, totals, mark dirty, update, cleaned, delete', () => {
    const where = "WHERE move_id = 7 AND table_name = 'Dots'";
    expect(preview(insertChunkSql('7', 'Dots', 3, '["MQ=="]', null, '500', '18446744073709551615000'))).toBe(
      'REPLACE INTO `fw_shard_move_chunks` (move_id, table_name, seq, lo, hi, row_count, hash)\n' +
        "      VALUES (7, 'Dots', 3, '[\\\"MQ==\\\"]', NULL, 500, 18446744073709551615000)",
    );
    expect(preview(selectChunksSql('7', 'Dots'))).toBe(`SELECT seq, lo, hi, row_count, hash, cleaned FROM \`fw_shard_move_chunks\` ${where} ORDER BY seq`);
    expect(preview(chunkTotalsSql('7', 'Dots'))).toBe(
      'SELECT COUNT(*) AS chunks, COALESCE(SUM(row_count), 0) AS n, COALESCE(SUM(hash), 0) AS h, COALESCE(SUM(hash < 0), 0) AS dirty\n' +
        `      FROM \`fw_shard_move_chunks\` ${where}`,
    );
    expect(preview(markChunksDirtySql('7', 'Dots'))).toBe(`UPDATE \`fw_shard_move_chunks\` SET hash = -1 ${where}`);
    expect(preview(markChunksDirtySql('7', 'Dots', 3))).toBe(`UPDATE \`fw_shard_move_chunks\` SET hash = -1 ${where} AND seq = 3`);
    expect(preview(updateChunkSql('7', 'Dots', 3, '500', '-1'))).toBe(`UPDATE \`fw_shard_move_chunks\` SET row_count = 500, hash = -1 ${where} AND seq = 3`);
    expect(preview(chunkCleanedSql('7', 'Dots', 3))).toBe(`UPDATE \`fw_shard_move_chunks\` SET cleaned = 1 ${where} AND seq = 3`);
    expect(preview(deleteChunksSql('7', "it's"))).toBe("DELETE FROM `fw_shard_move_chunks` WHERE move_id = 7 AND table_name = 'it\\'s'");
  });
});

describe('locks.ts', () => {
  it('waitForLockSql, releaseLockSql, releaseAllLocksSql: named locks, the name bound (a quote escaped)', () => {
    expect(preview(waitForLockSql("fw-shard:o'k", 10))).toBe("SELECT GET_LOCK('fw-shard:o\\'k', 10) AS got");
    expect(preview(releaseLockSql(`fw-shard:abc:m:${BIG}`))).toBe(`SELECT RELEASE_LOCK('fw-shard:abc:m:${BIG}') AS released`);
    expect(preview(releaseAllLocksSql())).toBe('SELECT RELEASE_ALL_LOCKS() AS released');
  });

  it('lockSessionIdleSql closes a lock session that goes quiet', () => {
    expect(preview(lockSessionIdleSql(30))).toBe('SET SESSION wait_timeout = 30');
  });
});

describe('mapping.ts', () => {
  const mapping: MappingSpec = { cluster: 'main', table: 'users', idColumn: 'id', shardColumn: 'cluster_id' };
  const odd: MappingSpec = { cluster: 'accounts', table: 'Acc`ounts', idColumn: 'user`id', shardColumn: 'shard' };

  it('usersPerShardSql counts the users of each shard', () => {
    expect(preview(usersPerShardSql(mapping))).toBe('SELECT `cluster_id` AS shard, COUNT(*) AS users FROM `users` GROUP BY `cluster_id` ORDER BY 1');
  });

  it('allPlacementsSql reads every user (ids as text) and its shard', () => {
    expect(preview(allPlacementsSql(mapping))).toBe('SELECT CAST(`id` AS CHAR) AS uid, `cluster_id` AS shard FROM `users`');
    expect(preview(allPlacementsSql(odd))).toBe('SELECT CAST(`user``id` AS CHAR) AS uid, `shard` AS shard FROM `Acc``ounts`');
  });

  it("flipMappingSql with frozenBy flips only while that move's freeze is in force", () => {
    expect(preview(flipMappingSql(mapping, BIG, 1, 2, '7'))).toBe(
      `UPDATE \`users\` SET \`cluster_id\` = 2 WHERE \`id\` = ${BIG} AND \`cluster_id\` = 1 AND EXISTS (SELECT 1 FROM \`fw_shard_freezes\` WHERE user_id = ${BIG} AND move_id = 7 AND frozen_until > NOW(3))`,
    );
  });

  it('mappingTableCandidatesSql finds the users table in any case, with whether it has the shard column', () => {
    expect(preview(mappingTableCandidatesSql('db_main', "cluster'id"))).toBe(
      'SELECT t.TABLE_NAME AS name,\n' +
        '             (SELECT COUNT(*) FROM information_schema.COLUMNS c\n' +
        "               WHERE c.TABLE_SCHEMA = t.TABLE_SCHEMA AND BINARY c.TABLE_NAME = BINARY t.TABLE_NAME AND c.COLUMN_NAME = 'cluster\\'id') AS has_shard_column\n" +
        '      FROM information_schema.TABLES t\n' +
        "      WHERE t.TABLE_SCHEMA = 'db_main' AND LOWER(t.TABLE_NAME) = 'users' AND t.TABLE_TYPE = 'BASE TABLE'\n" +
        '      ORDER BY BINARY t.TABLE_NAME',
    );
  });

  it("flipLockWaitSql bounds the flip's row-lock wait (whole seconds, at least 1); defaultLockWaitSql resets it", () => {
    expect(preview(flipLockWaitSql(2.5))).toBe('SET SESSION innodb_lock_wait_timeout = 3');
    expect(preview(flipLockWaitSql(0))).toBe('SET SESSION innodb_lock_wait_timeout = 1');
    expect(preview(defaultLockWaitSql())).toBe('SET SESSION innodb_lock_wait_timeout = DEFAULT');
  });
});

describe('row-spec.ts', () => {
  it('ownerLiteral: digits unquoted for a numeric owner (beyond 2^53 too), a bound string otherwise', () => {
    expect(preview(ownerLiteral(userId, BIG))).toBe(BIG);
    expect(toBinary(ownerLiteral(userId, BIG))).toBe(BIG);
    expect(preview(ownerLiteral(col('owner', 'varchar', { charset: 'ascii', collation: 'ascii_bin' }), "o'k\\"))).toBe("'o\\'k\\\\'");
    expect(() => ownerLiteral(userId, '42 OR 1=1')).toThrow('not a numeric literal');
  });

  it("keptForOthers: nothing for a table that is not shared; a shared table keeps rows another owner's row refers to", () => {
    expect(preview(keptForOthers(photos, '42'))).toBe('');
    expect(preview(keptForOthers(sharedItems, '42'))).toBe(sharedOthers);
  });
});

describe('row-bytes.ts', () => {
  it('loadDataSql loads raw rows as binary, tab-separated with backslash escapes (a backtick in the name doubled)', () => {
    expect(preview(loadDataSql({ ...photos, name: 'Pho`tos' }))).toBe(
      "LOAD DATA LOCAL INFILE 'fw-shard-rows' INTO TABLE `Pho``tos` CHARACTER SET binary FIELDS TERMINATED BY '\\t' ESCAPED BY '\\\\' LINES TERMINATED BY '\\n' (`id`, `user_id`, `title`, `score`)",
    );
  });

  it('rowLength: the bytes of a row, each value through IFNULL (NULL: 0)', () => {
    expect(preview(rowLength(contacts))).toBe('IFNULL(LENGTH(`user_id`), 0) + IFNULL(LENGTH(`contact_id`), 0)');
  });

  it('tsvLine: numbers as they are, other values escaped; no length guard without such values, GREATEST over several', () => {
    const esc = (v: string) => `REPLACE(REPLACE(REPLACE(REPLACE(CAST(${v} AS BINARY), X'5C', X'5C5C'), X'00', X'5C30'), X'09', X'5C74'), X'0A', X'5C6E')`;
    expect(preview(tsvLine(contacts))).toBe("CONCAT(CONCAT_WS(X'09', `user_id`, `contact_id`), X'0A')");
    expect(preview(tsvLine(faves))).toBe(`IF(IFNULL(LENGTH(\`tag\`), 0) > 8192, NULL, CONCAT(CONCAT_WS(X'09', \`user_id\`, ${esc('`tag`')}, \`id\`), X'0A'))`);
    const two: RowSpec = { name: 'T', columns: [id, title, tag], owner: id, key: [id] };
    expect(preview(tsvLine(two))).toBe(
      `IF(GREATEST(IFNULL(LENGTH(\`title\`), 0), IFNULL(LENGTH(\`tag\`), 0)) > 8192, NULL, CONCAT(CONCAT_WS(X'09', \`id\`, IFNULL(${esc('`title`')}, X'5C4E'), ${esc('`tag`')}), X'0A'))`,
    );
  });

  it("rowHashTerm: the 'crc-mul' term of a row, none for the other kinds", () => {
    expect(preview(rowHashTerm({ ...contacts, rowHash: 'crc-mul' })!)).toBe(`(CRC32(${contactsImage}) * CRC32C(${contactsImage}))`);
    expect(rowHashTerm({ ...contacts, rowHash: 'crc64' })).toBeNull();
    expect(rowHashTerm(contacts)).toBeNull();
  });

  it("rowHash64 of each kind; unset is 'md5-text', whose image flags every column", () => {
    expect(preview(rowHash64({ ...contacts, rowHash: 'crc-mul' }))).toBe(`(CRC32(${contactsImage}) * CRC32C(${contactsImage}))`);
    expect(preview(rowHash64({ ...contacts, rowHash: 'crc64' }))).toBe(`((CRC32(${contactsImage}) << 32) | CRC32C(${contactsImage}))`);
    expect(preview(rowHash64({ ...contacts, rowHash: 'md5' }))).toBe(`CAST(CONV(LEFT(MD5(${contactsImage}), 16), 16, 10) AS UNSIGNED)`);
    const text = 'CONCAT_WS(_binary 0x1f, CONCAT(ISNULL(`user_id`), ISNULL(`contact_id`)), `user_id`, `contact_id`)';
    expect(preview(rowHash64({ ...contacts, rowHash: 'md5-text' }))).toBe(`CAST(CONV(LEFT(MD5(${text}), 16), 16, 10) AS UNSIGNED)`);
    expect(preview(rowHash64(contacts))).toBe(`CAST(CONV(LEFT(MD5(${text}), 16), 16, 10) AS UNSIGNED)`);
  });
});

describe('rows.ts', () => {
  const cols = 'SELECT `id`, `user_id`, `title`, CAST(`score` AS DOUBLE) FROM `Photos`';

  it("selectByKeys reads the user's rows with these keys: IN for one key column (64-bit unquoted), OR of ANDs for a composite one", () => {
    expect(preview(selectByKeys(photos, '42', [[b(BIG)], [b('7')]]))).toBe(`${cols} WHERE \`user_id\` = 42 AND \`id\` IN (${BIG}, 7)`);
    // A string key with a quote and a backslash: a hex literal on the text connection, escaped bytes on the binary one.
    const q = selectByKeys(faves, BIG, [[b("o'k\\"), b(BIG)]]);
    expect(preview(q)).toBe(
      `SELECT \`user_id\`, \`tag\`, \`id\` FROM \`Faves\` WHERE \`user_id\` = ${BIG} AND ((\`tag\` = CONVERT(X'6f276b5c' USING latin1) COLLATE latin1_swedish_ci AND \`user_id\` = ${BIG}))`,
    );
    expect(toBinary(q)).toBe(
      `SELECT \`user_id\`, \`tag\`, \`id\` FROM \`Faves\` WHERE \`user_id\` = ${BIG} AND ((\`tag\` = CONVERT('o\\'k\\\\' USING latin1) COLLATE latin1_swedish_ci AND \`user_id\` = ${BIG}))`,
    );
  });

  it("columnInRange and columnOfKeys read one column of the user's rows in (lo, hi] or with these keys", () => {
    expect(preview(columnInRange(photos, title, '42', [b('5')], [b('9')]))).toBe(
      'SELECT `title` FROM `Photos` WHERE `user_id` = 42 AND `id` > 5 AND NOT (`id` > 9)',
    );
    expect(preview(columnOfKeys(photos, title, '42', [[b('5')], [b('6')]]))).toBe('SELECT `title` FROM `Photos` WHERE `user_id` = 42 AND `id` IN (5, 6)');
  });

  it('deletableKeysSql: the keys a range delete would take; a shared table keeps those others refer to', () => {
    expect(preview(deletableKeysSql(photos, '42', null, [b('9')]))).toBe('SELECT `id` FROM `Photos` WHERE `user_id` = 42 AND NOT (`id` > 9)');
    expect(preview(deletableKeysSql(sharedItems, '42', null, null))).toBe(`SELECT \`id\` FROM \`smol_item_twitter\` WHERE ${sharedMine}${sharedOthers}`);
  });

  it("rowHashes and rowHashesChunk: key columns and each row's MD5, in (lo, hi] or the next chunk (keyless: the hash alone)", () => {
    expect(preview(rowHashes(photos, '42', [b('10')], null))).toBe(
      `SELECT \`id\`, MD5(${photosImage}) FROM \`Photos\` WHERE \`user_id\` = 42 AND \`id\` > 10 ORDER BY \`id\``,
    );
    expect(preview(rowHashes(contacts, '42', null, null))).toBe(`SELECT MD5(${contactsImage}) FROM \`Contacts\` WHERE \`user_id\` = 42`);
    expect(preview(rowHashesChunk(photos, '42', null, 100))).toBe(
      `SELECT \`id\`, MD5(${photosImage}) FROM \`Photos\` WHERE \`user_id\` = 42 ORDER BY \`id\` LIMIT 100`,
    );
    expect(() => rowHashesChunk(contacts, '42', null, 100)).toThrow(/keyless/);
  });

  it("sharedHashesKeptSql: hashes of the shared rows with these keys that are not the user's alone", () => {
    const image = "CONCAT_WS(_binary 0x1f, CONCAT_WS(_binary ',', LENGTH(`body`)), `id`, CAST(`body` AS BINARY))";
    expect(preview(sharedHashesKeptSql(sharedItems, '42', [[b('5')]]))).toBe(
      `SELECT \`id\`, MD5(${image}) FROM \`smol_item_twitter\`\n             WHERE \`id\` IN (5) AND NOT (${sharedMine}${sharedOthers})`,
    );
  });

  it('foreignKeysIn: key values present under another owner (collisions), at most 20', () => {
    expect(preview(foreignKeysIn(photos, [title], BIG, [[b('a')], [b("it's")]]))).toBe(
      'SELECT `title`, `user_id` FROM `Photos`\n' +
        "             WHERE (`title` IN (CONVERT(X'61' USING utf8mb4) COLLATE utf8mb4_general_ci, CONVERT(X'69742773' USING utf8mb4) COLLATE utf8mb4_general_ci)) AND NOT (`user_id` <=> " +
        `${BIG}) LIMIT 20`,
    );
  });

  it('selectColumnsChunk reads chosen columns and the key of the next chunk', () => {
    expect(preview(selectColumnsChunk(photos, [title], '42', [b('10')], 50))).toBe(
      'SELECT `title`, `id` FROM `Photos` WHERE `user_id` = 42 AND `id` > 10 ORDER BY `id` LIMIT 50',
    );
  });

  it("userBytes counts the user's rows and their exact bytes", () => {
    expect(preview(userBytes(photos, BIG))).toBe(
      'SELECT COUNT(*) AS n, COALESCE(SUM(IFNULL(LENGTH(`id`), 0) + IFNULL(LENGTH(`user_id`), 0) + IFNULL(LENGTH(`title`), 0) + IFNULL(LENGTH(`score`), 0)), 0) AS b FROM `Photos` WHERE `user_id` = ' +
        BIG,
    );
  });

  it('countTableSql counts every row of a table (a backtick in the name doubled)', () => {
    expect(preview(countTableSql('we`ird'))).toBe('SELECT COUNT(*) AS n FROM `we``ird`');
  });

  it("rowHashesByKeys: key and row hash of the user's rows with these keys, locked or not", () => {
    const head = `SELECT \`id\`, MD5(${photosImage}) FROM \`Photos\`\n             WHERE \`user_id\` = 42 AND \`id\` IN (7, ${BIG})`;
    expect(preview(rowHashesByKeys(photos, '42', [[b('7')], [b(BIG)]], true))).toBe(`${head} FOR UPDATE`);
    expect(preview(rowHashesByKeys(photos, '42', [[b('7')], [b(BIG)]], false))).toBe(head);
  });

  it('keyless tables: delete by full-row hash, and count by it under a lock; the hash must be MD5 hex', () => {
    expect(preview(deleteKeylessByHashSql(contacts, '42', MD5_HEX, 2))).toBe(
      `DELETE FROM \`Contacts\` WHERE \`user_id\` = 42 AND MD5(${contactsImage}) = '${MD5_HEX}' LIMIT 2`,
    );
    expect(preview(countKeylessByHashForUpdateSql(contacts, '42', MD5_HEX))).toBe(
      `SELECT COUNT(*) AS n FROM \`Contacts\` WHERE \`user_id\` = 42 AND MD5(${contactsImage}) = '${MD5_HEX}' FOR UPDATE`,
    );
    expect(() => countKeylessByHashForUpdateSql(contacts, '42', "x' OR 1=1")).toThrow(/MD5/);
  });
});

describe('schema.ts', () => {
  const schema = "o'k\\db";
  const quoted = "'o\\'k\\\\db'";

  it('listTablesSql, listColumnsSql, listKeysSql: what readSchema reads, the schema bound (a quote and a backslash escaped)', () => {
    expect(preview(listTablesSql(schema))).toBe(
      'SELECT TABLE_NAME, ENGINE, TABLE_ROWS, DATA_LENGTH, INDEX_LENGTH FROM information_schema.TABLES\n' +
        `      WHERE TABLE_SCHEMA = ${quoted} AND TABLE_TYPE = 'BASE TABLE' ORDER BY TABLE_NAME`,
    );
    expect(preview(listColumnsSql(schema))).toBe(
      'SELECT TABLE_NAME, COLUMN_NAME, ORDINAL_POSITION, COLUMN_TYPE, DATA_TYPE, IS_NULLABLE, CHARACTER_SET_NAME,\n' +
        '             COLLATION_NAME, EXTRA, COLUMN_DEFAULT\n' +
        `      FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ${quoted} ORDER BY TABLE_NAME, ORDINAL_POSITION`,
    );
    expect(preview(listKeysSql(schema))).toBe(
      'SELECT TABLE_NAME, INDEX_NAME, NON_UNIQUE, SEQ_IN_INDEX, COLUMN_NAME, SUB_PART\n' +
        `      FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = ${quoted} ORDER BY TABLE_NAME, INDEX_NAME, SEQ_IN_INDEX`,
    );
  });

  it("listTriggersSql lists the database's triggers", () => {
    expect(preview(listTriggersSql('users1'))).toBe(
      'SELECT TRIGGER_NAME, EVENT_OBJECT_TABLE, ACTION_TIMING, EVENT_MANIPULATION FROM information_schema.TRIGGERS\n' +
        "      WHERE TRIGGER_SCHEMA = 'users1' ORDER BY EVENT_OBJECT_TABLE, TRIGGER_NAME",
    );
  });
});

describe('server.ts', () => {
  it('pingSql, serverFactsSql and showWarningsSql', () => {
    expect(preview(pingSql())).toBe('SELECT 1 AS ok');
    expect(preview(serverFactsSql())).toBe(
      'SELECT VERSION() AS version, @@GLOBAL.read_only AS read_only, @@GLOBAL.sql_mode AS sql_mode,\n' +
        '             @@auto_increment_increment AS aii, @@auto_increment_offset AS aio, @@max_allowed_packet AS max_packet',
    );
    expect(preview(showWarningsSql())).toBe('SHOW WARNINGS LIMIT 5');
  });

  it('replicaStatusSql and slaveStatusSql, for newer and older servers', () => {
    expect(preview(replicaStatusSql())).toBe('SHOW REPLICA STATUS');
    expect(preview(slaveStatusSql())).toBe('SHOW SLAVE STATUS');
  });

  it("throttleQuerySql sends the operator's trusted query as it is (a `?` is not a placeholder)", () => {
    const q = "SELECT COUNT(*) > 10 FROM information_schema.PROCESSLIST WHERE COMMAND <> 'Sleep' AND INFO LIKE '%?%'";
    expect(preview(throttleQuerySql(q))).toBe(q);
  });
});

describe('tickets.ts', () => {
  it('ticketTablesSql reads the next id of Tickets32 and Tickets64', () => {
    expect(preview(ticketTablesSql())).toBe(
      'SELECT TABLE_NAME AS name, AUTO_INCREMENT AS next_id FROM information_schema.TABLES\n' +
        "      WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME IN ('Tickets32', 'Tickets64')",
    );
  });

  it('topOfColumnSql reads the highest values of an id column', () => {
    expect(preview(topOfColumnSql('Do`ts', 'id', 5))).toBe('SELECT `id` AS m FROM `Do``ts` ORDER BY `id` DESC LIMIT 5');
  });
});

describe('sandbox/sql.ts', () => {
  it("createDatabase with Flamework's default charset (a backtick in the name doubled)", () => {
    expect(preview(createDatabase('db`x'))).toBe('CREATE DATABASE IF NOT EXISTS `db``x` DEFAULT CHARACTER SET utf8 COLLATE utf8_general_ci');
  });

  it('mainTables: users, users_password_reset and DotsLookup, qualified with the database', () => {
    expect(mainTables('db_main').map(preview)).toEqual([
      [
        'CREATE TABLE `db_main`.`users` (',
        '  id INT(11) UNSIGNED NOT NULL AUTO_INCREMENT,',
        '  username VARCHAR(255) DEFAULT NULL,',
        '  email VARCHAR(255) DEFAULT NULL,',
        '  deleted INT(10) UNSIGNED NOT NULL,',
        '  created INT(10) UNSIGNED NOT NULL,',
        '  password CHAR(64) DEFAULT NULL,',
        '  conf_code CHAR(24) DEFAULT NULL,',
        '  confirmed INT(10) UNSIGNED NOT NULL,',
        '  cluster_id TINYINT(3) UNSIGNED NOT NULL,',
        '  PRIMARY KEY (id),',
        '  UNIQUE KEY by_email (email),',
        '  UNIQUE KEY by_username (username, deleted)',
        ') ENGINE=InnoDB AUTO_INCREMENT=1 DEFAULT CHARSET=utf8',
      ].join('\n'),
      [
        'CREATE TABLE `db_main`.`users_password_reset` (',
        '  user_id INT(11) UNSIGNED NOT NULL,',
        '  reset_code CHAR(32) CHARACTER SET latin1 DEFAULT NULL,',
        '  created INT(10) UNSIGNED NOT NULL,',
        '  UNIQUE KEY by_code (reset_code),',
        '  KEY by_user (user_id)',
        ') ENGINE=InnoDB DEFAULT CHARSET=utf8',
      ].join('\n'),
      [
        'CREATE TABLE `db_main`.`DotsLookup` (',
        '  dot_id BIGINT(20) UNSIGNED NOT NULL,',
        '  user_id INT(11) UNSIGNED NOT NULL,',
        '  PRIMARY KEY (dot_id),',
        '  KEY by_user (user_id)',
        ') ENGINE=InnoDB DEFAULT CHARSET=utf8',
      ].join('\n'),
    ]);
  });

  it('ticketTables: Tickets32, and Tickets64 starting above 2^53', () => {
    const ticket = (name: string, idType: string, tail: string) =>
      [
        `CREATE TABLE \`db_tickets\`.\`${name}\` (`,
        `  id ${idType} UNSIGNED NOT NULL AUTO_INCREMENT,`,
        "  stub CHAR(1) NOT NULL DEFAULT '',",
        '  PRIMARY KEY (id),',
        '  UNIQUE KEY stub (stub)',
        `) ENGINE=MyISAM${tail}`,
      ].join('\n');
    expect(ticketTables('db_tickets').map(preview)).toEqual([ticket('Tickets32', 'INT(11)', ''), ticket('Tickets64', 'BIGINT(20)', ` AUTO_INCREMENT=${BIG}`)]);
  });

  it('shardTables: the five per-user tables', () => {
    expect(shardTables('users1').map(preview)).toEqual([
      [
        'CREATE TABLE `users1`.`Sheets` (',
        '  id BIGINT(20) UNSIGNED NOT NULL,',
        '  user_id INT(11) UNSIGNED NOT NULL,',
        '  created INT(10) UNSIGNED NOT NULL,',
        '  label VARCHAR(255) CHARACTER SET utf8mb4 DEFAULT NULL,',
        '  mime_type VARCHAR(64) DEFAULT NULL,',
        '  PRIMARY KEY (id),',
        '  KEY by_user (user_id)',
        ') ENGINE=InnoDB DEFAULT CHARSET=utf8',
      ].join('\n'),
      [
        'CREATE TABLE `users1`.`Dots` (',
        '  id BIGINT(20) UNSIGNED NOT NULL,',
        '  sheet_id BIGINT(20) UNSIGNED NOT NULL,',
        '  user_id INT(11) UNSIGNED NOT NULL,',
        '  created INT(10) UNSIGNED NOT NULL,',
        '  perms TINYINT(3) UNSIGNED NOT NULL,',
        '  details_json TEXT CHARACTER SET utf8mb4 DEFAULT NULL,',
        '  index_on VARCHAR(255) CHARACTER SET latin1 NOT NULL,',
        '  PRIMARY KEY (id),',
        '  KEY by_user (user_id, perms)',
        ') ENGINE=InnoDB DEFAULT CHARSET=utf8',
      ].join('\n'),
      [
        'CREATE TABLE `users1`.`FlickrPhotos` (',
        '  id BIGINT(20) UNSIGNED NOT NULL,',
        '  user_id INT(11) UNSIGNED NOT NULL,',
        '  exif BLOB DEFAULT NULL,',
        '  title VARCHAR(255) NOT NULL,',
        '  deleted INT(11) UNSIGNED NOT NULL,',
        '  PRIMARY KEY (id)',
        ') ENGINE=InnoDB DEFAULT CHARSET=utf8',
      ].join('\n'),
      [
        'CREATE TABLE `users1`.`FlickrFaves` (',
        '  user_id INT(11) UNSIGNED NOT NULL,',
        '  photo_id BIGINT(20) UNSIGNED NOT NULL,',
        '  owner_id INT(11) UNSIGNED NOT NULL,',
        '  date_faved INT(11) UNSIGNED NOT NULL,',
        '  UNIQUE KEY by_fave (photo_id, user_id),',
        '  KEY by_user (user_id, date_faved)',
        ') ENGINE=InnoDB DEFAULT CHARSET=utf8',
      ].join('\n'),
      [
        'CREATE TABLE `users1`.`FlickrContacts` (',
        '  user_id INT(11) UNSIGNED NOT NULL,',
        '  contact_id INT(11) UNSIGNED NOT NULL,',
        '  contact_nsid VARCHAR(20) NOT NULL,',
        '  rel TINYINT(3) UNSIGNED NOT NULL',
        ') ENGINE=InnoDB DEFAULT CHARSET=utf8',
      ].join('\n'),
    ]);
  });

  it('insertRows: one multi-row INSERT, strings escaped, Buffers as hex, 64-bit ids as digit strings', () => {
    expect(
      preview(
        sandboxInsertRows(
          'users1',
          'FlickrPhotos',
          ['id', 'user_id', 'exif', 'title', 'deleted'],
          [
            [BIG, 42, Buffer.from([0x00, 0x09, 0xff]), "it's C:\\", 0],
            [9n, 42n, null, 'ok', false],
          ],
        ),
      ),
    ).toBe(
      'INSERT INTO `users1`.`FlickrPhotos` (`id`, `user_id`, `exif`, `title`, `deleted`) VALUES ' +
        `('${BIG}', 42, X'0009ff', 'it\\'s C:\\\\', 0), (9, 42, NULL, 'ok', 0)`,
    );
    expect(() => sandboxInsertRows('users1', 'Dots', ['id'], [])).toThrow('no rows');
  });

  it("replaceTicket takes a Flamework ticket; poorMansTicketSession makes db_main's tickets odd", () => {
    expect(preview(replaceTicket('db_tickets', 64))).toBe("REPLACE INTO `db_tickets`.`Tickets64` (stub) VALUES ('a')");
    expect(preview(replaceTicket('db_tickets', 32))).toBe("REPLACE INTO `db_tickets`.`Tickets32` (stub) VALUES ('a')");
    expect(poorMansTicketSession().map(preview)).toEqual(['SET @@auto_increment_increment=2', 'SET @@auto_increment_offset=1']);
  });

  it('selectUserIds reads ids as text, ordered by the numeric column (not the text alias)', () => {
    expect(preview(selectUserIds('db_main'))).toBe('SELECT CAST(u.id AS CHAR) AS id, u.username, u.cluster_id FROM `db_main`.`users` AS u ORDER BY u.id');
  });
});

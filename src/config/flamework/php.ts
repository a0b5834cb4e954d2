/**
 * A tokenizer and parser for the subset of PHP found in Flamework config files (config.php,
 * secrets.php, config_local_*.php). It is not a PHP interpreter: it finds the statements that assign
 * to `$GLOBALS['cfg'][...]` (or `unset()` them) and parses their right-hand side when it is made of
 * literals, `array(...)`/`[...]`, `.` concatenation and reads of other `$GLOBALS['cfg'][...]` values.
 * Every other statement is stepped over token by token, so strings holding `;` or `$GLOBALS` and
 * comments can never be mistaken for code. Evaluation (PHP value semantics) lives here too, so the
 * importer only decides *what* to apply, never *how* PHP would.
 */
export * from './php-values.js';
export * from './php-parser.js';

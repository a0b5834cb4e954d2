/**
 * `--flamework-config FILE...`: read Flamework's PHP config files and resolve them to a Topology, in
 * place of the native config. Used by the topology use case (src/app/topology.ts) and `config import`.
 */
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { FwShardError } from '../../errors/index.js';
import { normalizeConfig, type Loaded } from '../load.js';
import { importFlamework, type FlameworkFile, type FlameworkImport } from './import.js';

/**
 * normalizeConfig advises against inline passwords. For an import that advice is noise: the PHP files
 * are where Flamework keeps them, and `config import` is how to move them to passwordEnv.
 */
const INLINE_PASSWORD_ADVICE = /\.password is written inline in the config\b/;

/** Read the files, in the order given (PHP's load order). Paths are shown as given, read from `cwd`. */
export function readFlameworkFiles(paths: readonly string[], cwd: string): FlameworkFile[] {
  return paths.map((path) => {
    try {
      return { path, text: readFileSync(resolve(cwd, path), 'utf8') };
    } catch (err) {
      throw new FwShardError('CONFIG_UNREADABLE', `cannot read Flamework config file ${path}: ${(err as Error).message}`, {
        hint: 'Check the path given with --flamework-config and that this user may read it.',
      });
    }
  });
}

/**
 * Import and fully validate Flamework files: the result of importFlamework goes through normalizeConfig
 * like any native config, so both paths reject the same mistakes.
 */
export function loadFlameworkFiles(
  paths: readonly string[],
  opts: { env: Readonly<Record<string, string | undefined>>; cwd: string },
): Loaded & { path: string; imported: FlameworkImport } {
  if (paths.length === 0) throw new FwShardError('USAGE', 'give at least one --flamework-config FILE (config.php first)');
  const readFile = (path: string): string | undefined => {
    try {
      return readFileSync(resolve(opts.cwd, path), 'utf8');
    } catch {
      return undefined;
    }
  };
  const imported = importFlamework(readFlameworkFiles(paths, opts.cwd), { readFile });
  const origin = paths.join(', ');
  const loaded = normalizeConfig(imported.raw, { env: opts.env, baseDir: dirname(resolve(opts.cwd, paths[0]!)), origin });
  const warnings = [...imported.warnings, ...loaded.warnings.filter((w) => !INLINE_PASSWORD_ADVICE.test(w))];
  return { ...loaded, warnings, path: origin, imported };
}

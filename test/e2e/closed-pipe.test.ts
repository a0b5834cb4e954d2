/**
 * `fw-shard <cmd> --help | head`: the reader goes away before the help is written. The built binary
 * must exit 0 without an EPIPE stack trace (run through a shell pipe into `true`, which reads nothing).
 */
import { spawnSync } from 'node:child_process';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const BIN = join(resolve(fileURLToPath(import.meta.url), '../../..'), 'bin/fw-shard');

describe('a closed output pipe', () => {
  it.each(['', 'move', 'status', 'config import', 'plan'])('fw-shard %s --help | true exits 0, without EPIPE', (cmd) => {
    for (let i = 0; i < 5; i++) {
      const r = spawnSync('bash', ['-c', `"${BIN}" ${cmd} --help | true; exit \${PIPESTATUS[0]}`], { encoding: 'utf8' });
      expect(r.stderr).not.toMatch(/EPIPE|Unhandled/);
      expect(r.status).toBe(0);
    }
  });
});

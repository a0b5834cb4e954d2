#!/usr/bin/env node
// `npm run demo`: start a local sandbox (db_main, two shards, two ticket servers, memcached when
// installed), show its status, plan a move, move a user, and show the status again. Every step is
// the real CLI; the sandbox stays up afterwards (`npx fw-shard sandbox down` removes it).
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const bin = join(root, 'bin', 'fw-shard');
const dir = join(root, '.sandbox');
const config = join(dir, 'fw-shard.config.yaml');

function step(title, args, { allowFail = false } = {}) {
  process.stdout.write(`\n\x1b[1m$ fw-shard ${args.join(' ')}\x1b[0m   # ${title}\n`);
  const r = spawnSync(process.execPath, [bin, ...args], { stdio: 'inherit', cwd: root });
  if (r.status !== 0 && !allowFail) {
    process.stderr.write(`demo: step failed with exit code ${r.status}\n`);
    process.exit(r.status ?? 1);
  }
  return r.status;
}

step('start real local servers and load a Flamework-style schema', ['sandbox', 'up', '--dir', dir]);
step('what the fleet looks like', ['--config', config, 'status']);
step('what moving user 1 to shard 2 would do (writes nothing)', ['--config', config, 'move', '--user', '1', '--to', '2', '--dry-run']);
step('move it online: chunked copy, delta passes, a short freeze, verified flip of cluster_id, verified cleanup', [
  '--config',
  config,
  'move',
  '--user',
  '1',
  '--to',
  '2',
  '--yes',
]);
step('the journal', ['--config', config, 'moves', '--all']);
step('the fleet afterwards', ['--config', config, 'status']);
process.stdout.write(
  `\nThe sandbox is still running. Try: npx fw-shard --config ${config} move --user 2 --to 1 --dry-run\nStop it with: npx fw-shard sandbox down --dir ${dir}\n`,
);

#!/usr/bin/env node
// `npm run demo:graduate`: graduate from Flamework's poor man's federation. A sandbox whose db_main is
// shard 1 (every user, every table, lookups included) and two empty real shards; plan the graduation,
// apply it, and see db_main's own tables (DotsLookup, users_password_reset) stay where they are.
// Every step is the real CLI; `npx fw-shard sandbox down --dir .sandbox-graduate` removes it.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const bin = join(root, 'bin', 'fw-shard');
const dir = join(root, '.sandbox-graduate');
const config = join(dir, 'fw-shard.config.yaml');
const plan = join(dir, 'graduate.json');

function step(title, args) {
  process.stdout.write(`\n\x1b[1m$ fw-shard ${args.join(' ')}\x1b[0m   # ${title}\n`);
  const r = spawnSync(process.execPath, [bin, ...args], { stdio: 'inherit', cwd: root });
  if (r.status !== 0) {
    process.stderr.write(`demo: step failed with exit code ${r.status}\n`);
    process.exit(r.status ?? 1);
  }
}

step("poor man's federation: db_main is shard 1; shards 2 and 3 are new, empty servers", ['sandbox', 'up', '--poor-mans', '--dir', dir]);
step('the graduation config: shard 1 is db_main, only tables.include moves', ['--config', config, 'config', 'show']);
step('before', ['--config', config, 'status']);
step('which user goes where (writes nothing)', ['--config', config, 'plan', '--graduate', '--to', '2,3', '--out', plan]);
step('apply it: each user copied, verified, flipped, cleaned up', ['--config', config, 'apply', plan]);
step('after: shard 1 (db_main) has no users left; its lookups stayed', ['--config', config, 'status']);
process.stdout.write(`\nThe sandbox is still running. Stop it with: npx fw-shard sandbox down --dir ${dir}\n`);

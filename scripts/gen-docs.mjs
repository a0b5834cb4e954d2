// After `tsc`: the man page and the shell completion scripts, generated from the built CLI's own
// command tree (src/cli/completion.ts), into dist/ where the package installs them from.
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildProgram, VERSION } from '../dist/cli/main.js';
import { completionScript, manPage, SHELLS } from '../dist/cli/completion.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const ctx = { stdout: process.stdout, stderr: process.stderr, stdinIsTTY: false, env: {}, cwd: root };
const program = buildProgram(ctx, () => undefined);
// The date of the release the page documents; SOURCE_DATE_EPOCH keeps builds reproducible.
const date = new Date(Number(process.env.SOURCE_DATE_EPOCH ?? Math.floor(Date.now() / 1000)) * 1000).toISOString().slice(0, 10);
mkdirSync(join(root, 'dist/man'), { recursive: true });
writeFileSync(join(root, 'dist/man/fw-shard.1'), manPage(program, VERSION, date));
mkdirSync(join(root, 'dist/completion'), { recursive: true });
for (const shell of SHELLS) writeFileSync(join(root, `dist/completion/fw-shard.${shell}`), completionScript(program, shell));

/**
 * Shell completion and the man page, generated from the commander tree itself (the same commands,
 * flags, choices and texts as --help), so they cannot drift from the CLI: `fw-shard completion
 * bash|zsh|fish` prints a script, and the build writes them with the man page (scripts/gen-docs.mjs).
 *
 * Completed: commands and subcommands, each command's flags, the values of flags with fixed choices
 * (--capture, --by, ...), file names after flags that take a path. Not completed: move ids (they would
 * need the journal, a database round trip on every TAB).
 */
import type { Command, Option } from 'commander';

export type Shell = 'bash' | 'zsh' | 'fish';
export const SHELLS: readonly Shell[] = ['bash', 'zsh', 'fish'];

interface CommandInfo {
  /** "move", "guard remove"; "" for the program itself. */
  path: string;
  command: Command;
}

function walk(program: Command): CommandInfo[] {
  const out: CommandInfo[] = [{ path: '', command: program }];
  const visit = (c: Command, path: string[]) => {
    for (const sub of c.commands) {
      const p = [...path, sub.name()];
      out.push({ path: p.join(' '), command: sub });
      visit(sub, p);
    }
  };
  visit(program, []);
  return out;
}

const flagsOf = (c: Command): string[] => c.options.map((o) => o.long).filter((l): l is string => l !== undefined);
/** A flag whose value is a path: its name says so. */
const takesPath = (o: Option): boolean => (o.required || o.optional) && /file|dir|config|out|schema|playbook|path/.test(o.long ?? '');
const shellWord = (s: string): string => s.replace(/[^A-Za-z0-9_.:/=-]/g, '');

export function completionScript(program: Command, shell: Shell): string {
  if (shell === 'fish') return fishScript(program);
  const bash = bashScript(program);
  // zsh runs the bash script through its bash completion layer (bashcompinit), as many tools do.
  return shell === 'zsh' ? `#compdef fw-shard\nautoload -U +X bashcompinit && bashcompinit\n${bash}` : bash;
}

function bashScript(program: Command): string {
  const all = walk(program);
  // bash's associative arrays take no empty key: the program itself is "_".
  const key = (path: string) => path || '_';
  const flags = all.map(({ path, command }) => `  ["${key(path)}"]="${flagsOf(command).join(' ')}"`);
  const subs = all.map(({ path, command }) => `  ["${key(path)}"]="${command.commands.map((c) => shellWord(c.name())).join(' ')}"`);
  const choices = new Map<string, string>();
  const paths = new Set<string>();
  for (const { command } of all)
    for (const o of command.options) {
      if (o.long && o.argChoices) choices.set(o.long, o.argChoices.map(shellWord).join(' '));
      if (o.long && takesPath(o)) paths.add(o.long);
    }
  const choiceCases = [...choices].map(([f, c]) => `    ${f}) COMPREPLY=($(compgen -W "${c}" -- "$cur")); return ;;`);
  return `# fw-shard completion for bash, generated from the CLI (fw-shard completion bash).
# Install: fw-shard completion bash > /etc/bash_completion.d/fw-shard (or source it from ~/.bashrc).
declare -gA _fw_shard_flags=(
${flags.join('\n')}
)
declare -gA _fw_shard_subs=(
${subs.join('\n')}
)
_fw_shard() {
  local cur="\${COMP_WORDS[COMP_CWORD]}" prev="\${COMP_WORDS[COMP_CWORD-1]}" cmd="_" next i w
  for ((i = 1; i < COMP_CWORD; i++)); do
    w="\${COMP_WORDS[i]}"
    [[ "$w" == -* ]] && continue
    if [[ "$cmd" == "_" ]]; then next="$w"; else next="$cmd $w"; fi
    [[ -n "\${_fw_shard_subs[$next]+x}" ]] && cmd="$next"
  done
  case "$prev" in
${choiceCases.join('\n')}
    ${[...paths].join('|') || '--no-such-flag'}) COMPREPLY=($(compgen -f -- "$cur")); return ;;
  esac
  if [[ "$cur" == -* ]]; then
    COMPREPLY=($(compgen -W "\${_fw_shard_flags[$cmd]} --help" -- "$cur"))
  else
    COMPREPLY=($(compgen -W "\${_fw_shard_subs[$cmd]}" -- "$cur"))
  fi
}
complete -F _fw_shard fw-shard
`;
}

function fishScript(program: Command): string {
  const lines = ['# fw-shard completion for fish, generated from the CLI (fw-shard completion fish).', 'complete -c fw-shard -f'];
  const q = (s: string) => `'${s.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
  for (const { path, command } of walk(program)) {
    const words = path.split(' ').filter(Boolean);
    // A command's own flags and subcommands show once its path was typed (and no deeper one).
    const cond = words.length === 0 ? '__fish_use_subcommand' : `__fish_seen_subcommand_from ${words[words.length - 1]}`;
    for (const sub of command.commands) lines.push(`complete -c fw-shard -n ${q(cond)} -a ${q(sub.name())} -d ${q(sub.description().slice(0, 80))}`);
    for (const o of command.options) {
      if (!o.long) continue;
      const value = o.argChoices ? ` -x -a ${q(o.argChoices.join(' '))}` : takesPath(o) ? ' -r -F' : o.required || o.optional ? ' -x' : '';
      lines.push(`complete -c fw-shard -n ${q(cond)} -l ${o.long.replace(/^--/, '')}${value} -d ${q(o.description.slice(0, 80))}`);
    }
  }
  return lines.join('\n') + '\n';
}

/** The man page (roff), from the same tree: every command with its description, arguments and options. */
export function manPage(program: Command, version: string, date: string): string {
  const esc = (s: string) => s.replace(/\\/g, '\\e').replace(/^\./gm, '\\&.').replace(/^'/gm, "\\&'").replace(/-/g, '\\-');
  const out = [
    `.TH FW-SHARD 1 "${date}" "fw-shard ${version}" "User Commands"`,
    '.SH NAME',
    `fw-shard \\- ${esc(program.description())}`,
    '.SH SYNOPSIS',
    '.B fw-shard',
    '[\\fIglobal options\\fR] \\fIcommand\\fR [\\fIoptions\\fR]',
    '.SH DESCRIPTION',
    esc(
      "Moves one user at a time between the shards of a Flamework-style federated MySQL or MariaDB installation: copies in chunks, verifies byte for byte, flips the user's cluster_id, cleans up; online by default. Every command has --help with examples; this page lists them all.",
    ),
    '.SH COMMANDS',
  ];
  for (const { path, command } of walk(program)) {
    if (path === '') continue;
    const args = command.registeredArguments.map((a) => (a.required ? `<${a.name()}>` : `[${a.name()}]`)).join(' ');
    out.push(`.SS ${esc(`fw-shard ${path}${args ? ` ${args}` : ''}`)}`, esc(command.description()));
    for (const o of command.options) out.push('.TP', `.B ${esc(o.flags)}`, esc(`${o.description}${o.envVar ? ` (environment: ${o.envVar})` : ''}`));
  }
  out.push('.SH GLOBAL OPTIONS');
  for (const o of program.options) out.push('.TP', `.B ${esc(o.flags)}`, esc(o.description));
  out.push(
    '.SH ENVIRONMENT',
    esc(
      'Every flag that says how a command works has an environment twin, FW_SHARD_ and the flag name (--freeze-cap is FW_SHARD_FREEZE_CAP), shown above; the flag on the command line wins. FW_SHARD_CONFIG names the config file.',
    ),
    '.SH EXIT STATUS',
    esc(
      '0 ok, 2 usage, 3 config, 4 server unavailable, 5 refused by a precondition, 6 data mismatch, 7 busy or retry later, 8 status or verify found a problem, 9 some moves of a plan failed, 70 internal error, 130 interrupted.',
    ),
    '.SH SEE ALSO',
    'The README of the fw-shard package.',
  );
  return out.join('\n') + '\n';
}

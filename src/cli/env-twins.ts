/**
 * Environment twins: every option that says how a command works can be set as FW_SHARD_<FLAG> (the long
 * flag, upper-cased, dashes as underscores: --freeze-cap is FW_SHARD_FREEZE_CAP), so a cron runbook sets
 * its settings once. A twin declared with the option (`.env(...)`) is kept; the others are given here,
 * after every command is registered, so no option can be added without one. An option whose command
reads its own twin says so in its help (readsOwnTwin).
 *
 * Never from the environment (NO_TWIN): what a command acts on (the user, the shards, a plan's mode,
 * the files it reads) and the operator's consent (--yes, --lift-moved, --dry-run). A variable left set
 * in a shell or a crontab must never pick the user to move, the shard to drain, or confirm a step.
 */
import type { Command, Option } from 'commander';

/** Long flags that never get a twin, with why (the unit test checks the list against the commands). */
export const NO_TWIN: Readonly<Record<string, string>> = {
  '--help': 'not a setting',
  '--version': 'not a setting',
  '--flamework-config': 'the files the topology is read from: what the command acts on',
  '--user': 'the user a command acts on',
  '--to': 'the shard a user moves to (move), or the shards a plan may fill (plan)',
  '--from': 'the shards a plan empties',
  '--shard': 'the shard a command acts on',
  '--balance': "a plan's mode",
  '--drain': "a plan's mode and the shards it empties (online moves' --drain is FW_SHARD_DRAIN)",
  '--graduate': "a plan's mode and the shards it empties",
  '--orphans': "cleanup's subject: orphan rows instead of deferred cleanups",
  '--set': "a playbook's variables",
  '--schema': 'the schema files an import reads',
  '--yes': "the operator's consent",
  '--lift-moved': "the operator's consent to lift fences that refuse stale writes",
  '--dry-run': "the operator's choice to write nothing: a variable left set would make every run a silent no-op",
};

/**
 * An option whose help names its twin ("env FW_SHARD_CONFIG") is twinned by its command, which reads the
 * variable itself: --config (the config loader, src/config/load.ts), the sandbox's FW_SHARD_SANDBOX_*.
 */
export const readsOwnTwin = (description: string): boolean => /\benv FW_SHARD_[A-Z_]+/.test(description);

/** The twin of a long flag by the naming rule. */
const twinOf = (long: string): string => `FW_SHARD_${long.replace(/^--/, '').replace(/-/g, '_').toUpperCase()}`;

/**
 * Commander reads a twin through a listener it registers only for options that had one when they were
 * added; a twin given afterwards is registered here the same way: a flag (no value) is set, a value is
 * parsed by the option's own parser, with the source 'env' (so the flag on the command line wins).
 */
function listen(c: Command, o: Option): void {
  const key = o.attributeName();
  c.on(`optionEnv:${o.name()}`, (val?: string) => {
    if (val === undefined || !(o.required || o.optional)) c.setOptionValueWithSource(key, !o.negate, 'env');
    else if (o.argChoices && !o.argChoices.includes(val)) c.error(`error: option '${o.flags}' value '${val}' from env '${o.envVar}' is invalid.`);
    else c.setOptionValueWithSource(key, o.parseArg ? o.parseArg(val, c.getOptionValue(key) as unknown) : val, 'env');
  });
}

/** Give every option of `program` and its subcommands without a twin its twin by the rule, but NO_TWIN's. */
export function addEnvTwins(program: Command): void {
  const walk = (c: Command) => {
    for (const o of c.options) {
      if (o.envVar || !o.long || o.long in NO_TWIN || readsOwnTwin(o.description)) continue;
      o.env(twinOf(o.long));
      listen(c, o);
    }
    c.commands.forEach(walk);
  };
  walk(program);
}

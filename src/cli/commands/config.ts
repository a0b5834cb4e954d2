/**
 * `fw-shard config show` (the resolved topology, never a password) and `fw-shard config import`
 * (Flamework PHP config → native YAML, passwords moved to environment variables). Neither connects.
 */
import { stringify } from 'yaml';
import { ExitCode, usage } from '../../errors/index.js';
import { loadTopology, log, out, printJson, warn } from '../context.js';
import { loadFlameworkFiles, readFlameworkFiles } from '../../config/flamework/loader.js';
import { proposeThrough, schemaShapes, schemaTables, type TableShape } from '../../config/flamework/schema-file.js';
import { toPortableConfig } from '../../config/flamework/import.js';
import type { RawConfig } from '../../config/schema.js';
import { databaseId, isPoorMansOnly, mappingEndpoint, sharedShardDatabases, shardsOnMain, type Endpoint, type Topology } from '../../topology/index.js';
import { action } from '../action.js';
import type { Register } from '../context.js';

/** An endpoint as `config show` reports it: the password's source, never the password. */
interface EndpointView {
  role: string;
  host: string;
  port: number;
  socket?: string;
  user: string;
  database: string;
  passwordSource: Endpoint['passwordSource'];
  tls: boolean;
  replicas: EndpointView[];
}

function viewOf(e: Endpoint): EndpointView {
  return {
    role: e.role,
    host: e.host,
    port: e.port,
    ...(e.socket ? { socket: e.socket } : {}),
    user: e.user,
    database: e.database,
    passwordSource: e.passwordSource,
    tls: e.tls !== undefined,
    replicas: e.replicas.map(viewOf),
  };
}

/** Everything `config show` prints, as one JSON-ready document. */
function describeTopology(t: Topology, raw: RawConfig, source: string) {
  const onMain = new Set(shardsOnMain(t));
  const shared = sharedShardDatabases(t);
  return {
    source,
    main: viewOf(t.main),
    accounts: t.accounts ? viewOf(t.accounts) : null,
    shards: [...t.shards]
      .sort(([a], [b]) => a - b)
      .map(([id, e]) => ({
        id,
        ...viewOf(e),
        isMainDatabase: onMain.has(id),
        sharesDatabaseWith: (shared.find((g) => g.includes(id)) ?? []).filter((other) => other !== id),
      })),
    tickets: t.tickets.map(viewOf),
    mapping: { ...t.mapping, server: mappingEndpoint(t).role },
    tables: t.tables,
    memcached: t.memcached ?? null,
    poorMans: {
      federation: t.poorMansFederation,
      ticketing: raw.poorMans?.ticketing === true,
      slaves: raw.poorMans?.slaves === true,
    },
    shardsOnMain: [...onMain],
    poorMansOnly: isPoorMansOnly(t),
    sharedShardDatabases: shared,
  };
}
type TopologyView = ReturnType<typeof describeTopology>;

/** Left-aligned columns, two spaces apart; no trailing blanks. */
function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => (r[c] ?? '').length)));
  return rows
    .map((r) =>
      r
        .map((cell, c) => cell.padEnd(widths[c]!))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

function renderText(v: TopologyView, t: Topology): string {
  const address = (e: EndpointView): string => e.socket ?? `${e.host.includes(':') ? `[${e.host}]` : e.host}:${e.port}`;
  const row = (e: EndpointView, note: string[]): string[] => [
    e.role,
    address(e),
    e.database,
    e.user,
    e.passwordSource,
    [...(e.tls ? ['tls'] : []), ...note].join('; '),
  ];
  const withReplicas = (e: EndpointView, note: string[]): string[][] => [row(e, note), ...e.replicas.map((r) => row(r, []))];
  const mappingHere = (role: string): string[] => (v.mapping.server === role ? [`holds ${v.mapping.table}.${v.mapping.shardColumn}`] : []);
  const shardNote = (s: TopologyView['shards'][number]): string[] => [
    ...(s.isMainDatabase ? ["is db_main's database (poor man's federation)"] : []),
    ...(s.sharesDatabaseWith.length > 0 ? [`same database as shard ${s.sharesDatabaseWith.join(', ')}`] : []),
  ];
  const ticketNote = (i: number): string[] =>
    databaseId(t.tickets[i]!) === databaseId(t.main) ? [`is db_main's database${v.poorMans.ticketing ? " (poor man's ticketing)" : ''}`] : [];

  const rows: string[][] = [
    ['ROLE', 'ADDRESS', 'DATABASE', 'USER', 'PASSWORD', 'NOTE'],
    ...withReplicas(v.main, mappingHere(v.main.role)),
    ...(v.accounts ? withReplicas(v.accounts, mappingHere(v.accounts.role)) : []),
    ...v.shards.flatMap((s) => withReplicas(s, shardNote(s))),
    ...v.tickets.flatMap((e, i) => withReplicas(e, ticketNote(i))),
  ];
  const onOff = (b: boolean): string => (b ? 'on' : 'off');
  const { tables, memcached, poorMans, mapping } = v;
  const owners = Object.entries(tables.owners).map(([tbl, col]) => `${tbl}.${col}`);
  const through = Object.entries(tables.through ?? {}).map(
    ([tbl, l]) => `${tbl}.${l.column} ${l.shared ? '<-' : '->'} ${l.parent}.${l.key}${l.shared ? ' (shared)' : ''}`,
  );
  const lines = [
    `Config: ${v.source}`,
    '',
    table(rows),
    '',
    `Mapping:    ${mapping.table}.${mapping.idColumn} → ${mapping.table}.${mapping.shardColumn} on ${mapping.server} (cluster ${mapping.cluster})` +
      (mapping.tableSource === 'default'
        ? `; table not named in the config: commands that connect use users or Users, whichever ${mapping.server} has (set mapping.table to fix it)`
        : ''),
    `Tables:     ${tables.include ? `only ${tables.include.join(', ')}` : 'every table'} with column ${tables.ownerColumn}` +
      `${tables.exclude.length > 0 ? `, except ${tables.exclude.join(', ')}` : ''}` +
      `${owners.length > 0 ? `; owner columns ${owners.join(', ')}` : ''}` +
      `${through.length > 0 ? `; owned through a parent: ${through.join(', ')}` : ''}; keyless row cap ${tables.keylessRowCap}`,
    `Memcached:  ${memcached ? `${memcached.servers.join(', ')}; keys ${memcached.keys.join(', ')}${memcached.prefix !== undefined ? `; prefix '${memcached.prefix}'` : ''}` : 'none (nothing is invalidated after a move)'}`,
    `Poor man's: federation ${onOff(poorMans.federation)}, ticketing ${onOff(poorMans.ticketing)}, slaves ${onOff(poorMans.slaves)}`,
  ];
  if (v.poorMansOnly) lines.push('', "Note: every shard is db_main's own database, so moving a user between shards changes nothing.");
  return lines.join('\n');
}

/** `FW_SHARD_MAIN_SLAVES_PASSWORD` → `cfg['db_main_slaves']['pass']`: where the operator finds the value. */
function phpSourceOf(envName: string): string {
  const cluster = envName
    .replace(/^FW_SHARD_/, '')
    .replace(/_PASSWORD$/, '')
    .toLowerCase();
  return `cfg['db_${cluster}']['pass']`;
}

export const registerConfig: Register = (program, ctx, setExit, globals) => {
  const config = program.command('config').description('show the resolved topology, or import a Flamework PHP config');

  config
    .command('show')
    .description('print the resolved topology: servers, shards, ticket servers, mapping, tables (passwords never shown)')
    .option('--json', 'one JSON document on stdout')
    .addHelpText(
      'after',
      `
Examples:
  $ fw-shard config show
  $ fw-shard config show --json
  $ fw-shard --flamework-config www/include/config.php --flamework-config www/include/secrets.php config show

The PASSWORD column names where each password comes from (inline, env:VAR, file:PATH or none).`,
    )
    .action(
      action(ctx, setExit, async (opts: { json?: boolean }) => {
        const { topology, raw, path } = loadTopology(ctx, globals());
        const view = describeTopology(topology, raw, path);
        if (opts.json) printJson(ctx, { ok: true, ...view });
        else out(ctx, renderText(view, topology));
        return ExitCode.ok;
      }),
    );

  config
    .command('import')
    .description('convert Flamework PHP config files to a native config (YAML on stdout); connects to nothing')
    .option('--json', 'print the config as JSON instead of YAML')
    .option(
      '--schema <file>',
      "the app's schema of sharded tables (schema/db_users.schema; repeatable): its CREATE TABLE names become tables.include",
      (v: string, prev: string[] = []) => [...prev, v],
    )
    .addHelpText(
      'after',
      `
Give the files in the order PHP loads them; later files override earlier ones, key by key:
  $ fw-shard config import --flamework-config www/include/config.php \\
      --flamework-config www/include/secrets.php --schema schema/db_users.schema > fw-shard.config.yaml
  $ fw-shard config import --flamework-config www/include/config.php --json

--schema names the tables that are sharded. It is needed to move users off or onto db_main (poor man's
federation, graduation): db_main's own tables (lookups, password resets) also have user_id and must stay.

Passwords are never printed: each becomes passwordEnv (FW_SHARD_MAIN_PASSWORD, FW_SHARD_USERS_PASSWORD,
FW_SHARD_TICKETS_PASSWORD...). The variables to set are listed on stderr.`,
    )
    .action(
      action(ctx, setExit, async (opts: { json?: boolean; schema?: string[] }) => {
        const files = globals().flameworkConfig ?? [];
        if (files.length === 0) {
          throw usage(
            'config import needs --flamework-config FILE',
            'Repeat --flamework-config for each file, in load order: config.php, then secrets.php, then config_local_*.php.',
          );
        }
        const { imported, warnings, topology } = loadFlameworkFiles(files, { env: ctx.env, cwd: ctx.cwd });
        for (const w of warnings) warn(ctx, w);
        const raw = { ...imported.raw };
        if (opts.schema && opts.schema.length > 0) {
          const include: string[] = [];
          const shapes: TableShape[] = [];
          for (const f of readFlameworkFiles(opts.schema, ctx.cwd)) {
            const found = schemaTables(f.path, f.text);
            for (const w of found.warnings) warn(ctx, w);
            for (const t of found.tables) if (!include.includes(t)) include.push(t);
            shapes.push(...schemaShapes(f.text).filter((t) => found.tables.includes(t.name)));
          }
          if (include.length === 0)
            throw usage(`no CREATE TABLE found in ${opts.schema.join(', ')}`, "Give the app's schema/db_users.schema (the sharded tables).");
          // Tables without the owner column move through a parent when their columns or foreign keys say which.
          const { proposals, unowned } = proposeThrough(shapes, raw.tables?.ownerColumn ?? 'user_id');
          for (const p of proposals)
            warn(ctx, `${p.table} has no ${raw.tables?.ownerColumn ?? 'user_id'}: tables.through ${p.table}: ${p.link} (from ${p.why}); check it`);
          for (const t of unowned)
            warn(
              ctx,
              `${t} has no ${raw.tables?.ownerColumn ?? 'user_id'} and hangs off no sharded table: it never moves (rows shared by several users are not supported yet); ` +
                "add a tables.through line if it is the user's, or list it in tables.exclude to say it is not",
            );
          raw.tables = {
            ...(raw.tables ?? {}),
            include,
            ...(proposals.length > 0 ? { through: Object.fromEntries(proposals.map((p) => [p.table, p.link])) } : {}),
          };
        } else if (shardsOnMain(topology).length > 0) {
          warn(
            ctx,
            `shard ${shardsOnMain(topology).join(', ')} is db_main's own database: moves off it are refused until tables.include lists the sharded tables; ` +
              're-run with --schema schema/db_users.schema',
          );
        }
        const { config: portable, env } = toPortableConfig(raw);
        if (opts.json) printJson(ctx, { ok: true, config: portable, passwordEnv: env });
        else out(ctx, `# fw-shard config imported from ${files.join(', ')}\n${stringify(portable)}`);
        if (env.length > 0) {
          const width = Math.max(...env.map((e) => e.length));
          log(
            ctx,
            `Before using this config, set these environment variables to the passwords in the PHP files:\n${env.map((e) => `  ${e.padEnd(width)}  ${phpSourceOf(e)}`).join('\n')}`,
          );
        } else {
          log(ctx, 'No environment variables to set: every password in the PHP files is empty.');
        }
        return ExitCode.ok;
      }),
    );
};

/**
 * The native config file (YAML or JSON), validated with zod: every problem is reported at once as
 * `path: problem`, unknown keys included (a typo must never silently fall back to a default).
 */
import { z } from 'zod';

const tls = z
  .strictObject({
    ca: z.string().min(1).optional().describe('path to a CA bundle (PEM)'),
    cert: z.string().min(1).optional().describe('path to a client certificate (PEM)'),
    key: z.string().min(1).optional().describe('path to the client key (PEM)'),
    verifyIdentity: z.boolean().optional().describe('check the server certificate names the host (default true; for an IP host the driver checks "localhost")'),
  })
  .optional();

/** Fields every server entry may carry; `defaults` accepts the same ones. */
const serverFields = {
  host: z.string().min(1, 'host must not be empty'),
  port: z.number().int().min(1).max(65535),
  socket: z.string().min(1),
  user: z.string().min(1),
  database: z.string().min(1),
  password: z.string(),
  passwordEnv: z.string().min(1),
  passwordFile: z.string().min(1),
  tls,
};

const replica = z.strictObject({
  host: serverFields.host,
  port: serverFields.port.optional(),
  socket: serverFields.socket.optional(),
  user: serverFields.user.optional(),
  password: serverFields.password.optional(),
  passwordEnv: serverFields.passwordEnv.optional(),
  passwordFile: serverFields.passwordFile.optional(),
  tls,
});

const serverSchema = z.strictObject({
  host: serverFields.host.optional(),
  port: serverFields.port.optional(),
  socket: serverFields.socket.optional(),
  user: serverFields.user.optional(),
  database: serverFields.database,
  password: serverFields.password.optional(),
  passwordEnv: serverFields.passwordEnv.optional(),
  passwordFile: serverFields.passwordFile.optional(),
  tls,
  replicas: z.array(replica).optional(),
});
export type ServerConfig = z.infer<typeof serverSchema>;

const defaultsSchema = z
  .strictObject({
    host: serverFields.host.optional(),
    port: serverFields.port.optional(),
    user: serverFields.user.optional(),
    password: serverFields.password.optional(),
    passwordEnv: serverFields.passwordEnv.optional(),
    passwordFile: serverFields.passwordFile.optional(),
    tls,
  })
  .optional();

const identifier = z
  .string()
  .min(1)
  .max(64)
  .refine((s) => !s.includes('\0'), 'must not contain NUL');

/** `account_id -> smol_account.id`: tables.through's spelling of a link (identifiers without dots or spaces). */
const THROUGH_PATTERN = /^\s*([^\s.>-][^\s.]*?)\s*->\s*([^\s.]+)\.([^\s.]+)\s*$/;

/** A tables.through value as its three names, or null. */
export function parseThrough(text: string): { column: string; parent: string; key: string } | null {
  const m = THROUGH_PATTERN.exec(text);
  return m ? { column: m[1]!, parent: m[2]!, key: m[3]! } : null;
}

/** `id <- smol_archive.item_id`: tables.shared's spelling (the table's key, taken by the referrer's column). */
const SHARED_PATTERN = /^\s*([^\s.<-][^\s.]*?)\s*<-\s*([^\s.]+)\.([^\s.]+)\s*$/;

/** A tables.shared value as its three names (`column` of the shared table, `parent` and `key` the referrer's), or null. */
export function parseShared(text: string): { column: string; parent: string; key: string } | null {
  const m = SHARED_PATTERN.exec(text);
  return m ? { column: m[1]!, parent: m[2]!, key: m[3]! } : null;
}

const shardKey = z
  .string()
  .regex(/^[0-9]+$/, 'shard ids are whole numbers')
  .refine((k) => Number(k) >= 1 && Number(k) <= 255, 'shard ids run from 1 to 255 (cluster_id is TINYINT UNSIGNED and Flamework treats 0 as "not sharded")');

export const configSchema = z.strictObject({
  version: z.literal(1).optional(),
  defaults: defaultsSchema,
  main: serverSchema,
  accounts: serverSchema.optional(),
  shards: z.record(shardKey, serverSchema).refine((s) => Object.keys(s).length > 0, 'at least one shard is needed'),
  tickets: z.array(serverSchema).optional(),
  guard: z
    .strictObject({
      retention: z
        .string()
        .regex(/^\s*[0-9]+(\.[0-9]+)?\s*(ms|s|m|h|d)?\s*$/, 'use a duration like 30m, 24h or 7d')
        .optional()
        .describe(
          "how long a moved user's fence stays on the old shard to refuse stale app servers' writes (default 24h); `fw-shard cleanup` lifts it after that and drops what no fence needs",
        ),
    })
    .optional(),
  mapping: z
    .strictObject({
      cluster: z.enum(['main', 'accounts']).optional(),
      table: identifier.optional(),
      idColumn: identifier.optional(),
      shardColumn: identifier.optional(),
    })
    .optional(),
  tables: z
    .strictObject({
      ownerColumn: identifier.optional(),
      include: z.array(identifier).optional(),
      exclude: z.array(identifier).optional(),
      owners: z.record(identifier, identifier).optional(),
      through: z
        .record(identifier, z.string().regex(THROUGH_PATTERN, 'write the link as `column -> parent_table.key`'))
        .optional()
        .describe('Tables owned through a parent, e.g. smol_archive: account_id -> smol_account.id'),
      shared: z
        .record(identifier, z.string().regex(SHARED_PATTERN, 'write the link as `key <- referring_table.column`'))
        .optional()
        .describe("Tables whose rows several users' rows refer to, e.g. smol_item_twitter: id <- smol_archive.item_id"),
      keylessRowCap: z.number().int().min(1).optional(),
      ticketed: z.array(z.string().min(1)).optional().describe('Table or Table.column: ids from the ticket servers (only these are checked)'),
      notTicketed: z.array(z.string().min(1)).optional().describe('Table or Table.column: ids from elsewhere (never checked against the ticket servers)'),
    })
    .optional(),
  memcached: z
    .strictObject({
      servers: z.array(z.string().regex(/^[^\s:]+(:[0-9]{1,5})?$/, 'use host or host:port')).min(1),
      keys: z.array(z.string().includes('{id}', { message: 'a key template must contain {id}' })).optional(),
      prefix: z.string().optional(),
    })
    .optional(),
  poorMans: z
    .strictObject({
      federation: z.boolean().optional(),
      ticketing: z.boolean().optional(),
      slaves: z.boolean().optional(),
    })
    .optional()
    .describe("informational: which Flamework poor man's modes the imported config had"),
});
export type RawConfig = z.infer<typeof configSchema>;

/** Where a key is written in the config text (1-based line), when the text is known. */
export type KeyLines = (path: readonly PropertyKey[], key: string) => number | undefined;

/**
 * zod issues as `path: problem` lines, every one of them. An unknown key says on which line it is
 * written (with `lines`) and, for a near miss of a key known at that path, which one was meant.
 */
export function formatIssues(error: z.ZodError, lines?: KeyLines): string[] {
  return error.issues.map((issue) => {
    const path = issue.path.length ? issue.path.map(String).join('.') : '(top level)';
    if (issue.code === 'unrecognized_keys') {
      const known = knownKeysAt(configSchema, issue.path);
      const keys = issue.keys.map((k) => {
        const line = lines?.(issue.path, k);
        const meant = closest(k, known);
        const notes = [line !== undefined ? `line ${line}` : null, meant !== null ? `did you mean '${meant}'?` : null].filter((n) => n !== null);
        return `'${k}'${notes.length ? ` (${notes.join('; ')})` : ''}`;
      });
      return `${path}: unknown key${issue.keys.length > 1 ? 's' : ''} ${keys.join(', ')}`;
    }
    if (issue.code === 'invalid_key') {
      // zod puts the reasons a record key was refused one level down
      const inner = (issue as unknown as { issues?: { message: string }[] }).issues ?? [];
      return `${path}: ${inner.length ? inner.map((i) => i.message).join('; ') : issue.message}`;
    }
    return `${path}: ${issue.message}`;
  });
}

/** The keys an object of `schema` accepts at `path` (through optionals, records and arrays); [] elsewhere. */
function knownKeysAt(schema: z.ZodType, path: readonly PropertyKey[]): string[] {
  const unwrap = (t: z.ZodType | undefined): z.ZodType | undefined => (t instanceof z.ZodOptional ? unwrap(t.unwrap() as z.ZodType) : t);
  let node = unwrap(schema);
  for (const seg of path) {
    if (node instanceof z.ZodObject) node = unwrap((node.shape as Record<string, z.ZodType>)[String(seg)]);
    else if (node instanceof z.ZodRecord) node = unwrap(node.valueType as z.ZodType);
    else if (node instanceof z.ZodArray) node = unwrap(node.element as z.ZodType);
    else return [];
  }
  return node instanceof z.ZodObject ? Object.keys(node.shape) : [];
}

/** The candidate nearest to `word` by edit distance, if within `max` edits (ties: the first). */
function closest(word: string, candidates: readonly string[], max = 2): string | null {
  let best: string | null = null;
  let bestD = max + 1;
  for (const c of candidates) {
    const d = editDistance(word.toLowerCase(), c.toLowerCase());
    if (d < bestD) [best, bestD] = [c, d];
  }
  return best;
}

/** Levenshtein distance (insertions, deletions, substitutions). */
function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) cur[j] = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    prev = cur;
  }
  return prev[b.length]!;
}

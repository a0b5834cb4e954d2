/**
 * A config's server blocks made Endpoints: host, port, user and TLS with the defaults block's values
 * filled in, and each password read from its one source (inline, environment, file), every problem
 * and warning worded after the key it is written under. Never the password itself.
 */
import { readFileSync, statSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import { Secret } from '../topology/secret.js';
import type { Endpoint, TlsOptions } from '../topology/index.js';
import type { RawConfig, ServerConfig } from './schema.js';

export class EndpointBuilder {
  /** The defaults' password is read once, and reported once (after every server, by finish()), naming who uses it. */
  #defaultsPassword = { outcome: null as PasswordOutcome | null, users: [] as string[] };

  /** Problems and warnings go to the config's own lists, in the order they are found. */
  constructor(
    private readonly d: NonNullable<RawConfig['defaults']>,
    private readonly env: Readonly<Record<string, string | undefined>>,
    private readonly baseDir: string,
    private readonly problems: string[],
    private readonly warnings: string[],
  ) {}

  #fileOf(p: string): string {
    return isAbsolute(p) ? p : resolve(this.baseDir, p);
  }

  /**
   * One password source (a server's own keys, or the defaults block): the password, and what is wrong
   * with it or worth a warning, worded after the key it is written under. Never the value.
   */
  #readPassword(s: PasswordSpec): PasswordOutcome {
    const given = [s.password !== undefined, s.passwordEnv !== undefined, s.passwordFile !== undefined].filter(Boolean).length;
    const problems: PasswordOutcome['problems'] = given > 1 ? [{ key: null, text: 'give only one of password, passwordEnv, passwordFile' }] : [];
    if (s.passwordEnv !== undefined) {
      const v = this.env[s.passwordEnv];
      const pw = { passwordSource: `env:${s.passwordEnv}` as const };
      // An empty variable is a forgotten export far more often than a passwordless login.
      if (v === undefined || v === '') {
        problems.push({ key: 'passwordEnv', text: `environment variable ${s.passwordEnv} is ${v === undefined ? 'not set' : 'empty'}` });
        return { pw, problems };
      }
      return { pw: { ...pw, password: new Secret(v) }, problems };
    }
    if (s.passwordFile !== undefined) {
      const f = this.#fileOf(s.passwordFile);
      const pw = { passwordSource: `file:${f}` as const };
      try {
        const v = readFileSync(f, 'utf8').replace(/\r?\n$/, '');
        const open = (statSync(f).mode & 0o004) !== 0;
        return {
          pw: { ...pw, password: new Secret(v) },
          problems,
          ...(open
            ? { warning: (at: string, usedBy: string) => `${at}.passwordFile: ${f} is readable by every user on this machine${usedBy} (chmod o-r ${f})` }
            : {}),
        };
      } catch (err) {
        problems.push({ key: 'passwordFile', text: `cannot read ${f}: ${(err as NodeJS.ErrnoException).code ?? 'error'}` });
        return { pw, problems };
      }
    }
    if (s.password !== undefined) {
      // An empty inline password is not a secret written down.
      const warning: PasswordOutcome['warning'] = (at, usedBy) => `${at}.password is written inline in the config${usedBy}; prefer passwordEnv or passwordFile`;
      return { pw: { password: new Secret(s.password), passwordSource: 'inline' }, problems, ...(s.password !== '' ? { warning } : {}) };
    }
    return { pw: { passwordSource: 'none' }, problems };
  }

  /** A source's problems and warning under `where` (its path); `users` names the servers that take it from there. */
  #report(where: string, o: PasswordOutcome, users?: string[]): void {
    const usedBy = users ? ` (the password of ${users.join(', ')})` : '';
    for (const p of o.problems) this.problems.push(p.key ? `${where}.${p.key}: ${p.text}${usedBy}` : `${where}: ${p.text}`);
    if (o.warning) this.warnings.push(o.warning(where, usedBy));
  }

  /** A server's own password keys, reported at once under its path. */
  #ownPassword(path: string, s: PasswordSpec): PasswordOutcome['pw'] {
    const o = this.#readPassword(s);
    this.#report(path, o);
    return o.pw;
  }

  #fromDefaults(path: string): PasswordOutcome['pw'] {
    const d = this.d;
    this.#defaultsPassword.outcome ??= this.#readPassword({ password: d.password, passwordEnv: d.passwordEnv, passwordFile: d.passwordFile });
    this.#defaultsPassword.users.push(path);
    return this.#defaultsPassword.outcome.pw;
  }

  #tlsOf(t: ServerConfig['tls']): TlsOptions | undefined {
    const merged = { ...(this.d.tls ?? {}), ...(t ?? {}) };
    if (Object.keys(merged).length === 0) return undefined;
    const out: TlsOptions = {};
    if (merged.ca) out.ca = this.#fileOf(merged.ca);
    if (merged.cert) out.cert = this.#fileOf(merged.cert);
    if (merged.key) out.key = this.#fileOf(merged.key);
    if (merged.verifyIdentity !== undefined) out.verifyIdentity = merged.verifyIdentity;
    return out;
  }

  /** The Endpoint of the server block at `path` (and its replicas), its problems collected. */
  endpoint(path: string, role: string, s: ServerConfig): Endpoint {
    const d = this.d;
    const host = s.host ?? d.host;
    const user = s.user ?? d.user;
    if (!host && !s.socket) this.problems.push(`${path}.host: missing (and no defaults.host)`);
    if (!user) this.problems.push(`${path}.user: missing (and no defaults.user)`);
    const pw = hasPassword(s) ? this.#ownPassword(path, s) : this.#fromDefaults(path);
    const base = {
      host: host ?? 'localhost',
      port: s.port ?? d.port ?? 3306,
      ...(s.socket ? { socket: s.socket } : {}),
      user: user ?? '',
      ...pw,
    };
    const tls = this.#tlsOf(s.tls);
    const replicas = (s.replicas ?? []).map((r, i): Endpoint => {
      const rpw = hasPassword(r) ? this.#ownPassword(`${path}.replicas.${i}`, r) : pw;
      const rtls = r.tls ? this.#tlsOf(r.tls) : tls;
      return {
        role: `replica ${i + 1} of ${role}`,
        host: r.host,
        port: r.port ?? base.port,
        ...(r.socket ? { socket: r.socket } : {}),
        user: r.user ?? base.user,
        database: s.database,
        ...rpw,
        ...(rtls ? { tls: rtls } : {}),
        replicas: [],
      };
    });
    return { role, ...base, database: s.database, ...(tls ? { tls } : {}), replicas };
  }

  /** After every server: the defaults' password reported once, naming the servers that use it. */
  finish(): void {
    if (this.#defaultsPassword.outcome) this.#report('defaults', this.#defaultsPassword.outcome, this.#defaultsPassword.users);
  }
}

interface PasswordSpec {
  password?: string | undefined;
  passwordEnv?: string | undefined;
  passwordFile?: string | undefined;
}

interface PasswordOutcome {
  pw: Pick<Endpoint, 'password' | 'passwordSource'>;
  /** `key: null` for a problem with the block itself. */
  problems: { key: string | null; text: string }[];
  /** The warning for this source written under `at`, used by the servers `usedBy` names. */
  warning?: (at: string, usedBy: string) => string;
}

const hasPassword = (s: PasswordSpec): boolean => s.password !== undefined || s.passwordEnv !== undefined || s.passwordFile !== undefined;

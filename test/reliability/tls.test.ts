/**
 * TLS to the servers: a sandbox server started with a CA, a server certificate and key (made here with
 * openssl), and a fw-shard login that REQUIREs X509 (a client certificate signed by the CA), so the
 * server itself refuses any session that is not encrypted and authenticated.
 *
 *  - a full move over TLS (config `tls: {ca, cert, key, verifyIdentity: true}`) succeeds; the server
 *    counts the handshakes;
 *  - a wrong CA, a missing client certificate, no TLS at all: exit 4, naming the server, never the password;
 *  - a server certificate issued for another host name: refused with verifyIdentity, accepted without.
 */
import { copyFileSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  dumpUser,
  emptyDumpOf,
  ensureBuilt,
  mariadb,
  recordFigures,
  runFwShard,
  startFlamework,
  type FlameworkCluster,
  type Login,
} from '../helpers/reliability.js';

const PW = 'Tls-Login-pw-55kq';

/** A CA, server certificates (one for 127.0.0.1/localhost, one for another name), a client certificate, another CA. */
function makeCertificates(dir: string): Record<string, string> {
  mkdirSync(dir, { recursive: true });
  const f = (n: string) => join(dir, n);
  const ossl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  const key = (n: string) => ossl('genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-out', f(n));
  const ca = (n: string, cn: string) => {
    key(`${n}-key.pem`);
    ossl('req', '-x509', '-new', '-key', f(`${n}-key.pem`), '-out', f(`${n}.pem`), '-days', '2', '-subj', `/CN=${cn}`);
  };
  const leaf = (n: string, cn: string, san: string | null) => {
    key(`${n}-key.pem`);
    ossl('req', '-new', '-key', f(`${n}-key.pem`), '-out', f(`${n}.csr`), '-subj', `/CN=${cn}`);
    writeFileSync(f(`${n}.ext`), san ? `subjectAltName=${san}\n` : 'basicConstraints=CA:FALSE\n');
    ossl(
      'x509',
      '-req',
      '-in',
      f(`${n}.csr`),
      '-CA',
      f('ca.pem'),
      '-CAkey',
      f('ca-key.pem'),
      '-CAcreateserial',
      '-out',
      f(`${n}.pem`),
      '-days',
      '2',
      '-extfile',
      f(`${n}.ext`),
    );
  };
  ca('ca', 'fw-shard test CA');
  ca('other-ca', 'some other CA');
  leaf('server-good', '127.0.0.1', 'IP:127.0.0.1,DNS:localhost');
  leaf('server-other', 'db.example.test', 'DNS:db.example.test');
  leaf('server-ip', '127.0.0.1', 'IP:127.0.0.1');
  leaf('client', 'fwtls', null);
  // The server reads server.pem/server-key.pem: the good certificate first (swapped later, then FLUSH SSL).
  copyFileSync(f('server-good.pem'), f('server.pem'));
  copyFileSync(f('server-good-key.pem'), f('server-key.pem'));
  return Object.fromEntries(
    [
      'ca',
      'other-ca',
      'server',
      'server-key',
      'server-good',
      'server-good-key',
      'server-other',
      'server-other-key',
      'server-ip',
      'server-ip-key',
      'client',
      'client-key',
    ].map((n) => [n, f(`${n}.pem`)]),
  );
}

describe('TLS to the servers', () => {
  let c: FlameworkCluster;
  let S: Login;
  let certs: Record<string, string> = {};
  let certDir = '';
  const figures: Record<string, unknown> = {};

  beforeAll(async () => {
    ensureBuilt();
    certDir = join(process.env.TMPDIR ?? '/tmp', `fws-rel-tls-certs-${process.pid}`);
    certs = makeCertificates(certDir);
    c = await startFlamework('tls', [{ name: 's', args: [`--ssl-ca=${certs.ca}`, `--ssl-cert=${certs.server}`, `--ssl-key=${certs['server-key']}`] }], {
      main: 's',
      shards: { 1: { server: 's', database: 'users1' }, 2: { server: 's', database: 'users2' } },
      users: { 42: 1 },
    });
    S = c.login('s');
    c.onShards(
      'CREATE TABLE Photos (id BIGINT UNSIGNED NOT NULL PRIMARY KEY, user_id INT UNSIGNED NOT NULL, title VARBINARY(100) NULL, KEY by_user (user_id)); CREATE TABLE Contacts (user_id INT UNSIGNED NOT NULL, contact_id INT UNSIGNED NOT NULL);',
    );
    mariadb(S, 'users1', 'INSERT INTO Photos SELECT seq, 42, UNHEX(MD5(seq)) FROM seq_1_to_150; INSERT INTO Contacts SELECT 42, seq % 9 FROM seq_1_to_20;');
    mariadb(S, 'mysql', `CREATE USER 'fwtls'@'%' IDENTIFIED BY '${PW}' REQUIRE X509; GRANT ALL ON *.* TO 'fwtls'@'%';`);
    expect(mariadb(S, 'mysql', "SHOW GLOBAL VARIABLES LIKE 'have_ssl'").trim()).toBe('have_ssl\tYES');
  }, 120_000);

  afterAll(async () => {
    recordFigures('tls', figures);
    await c?.close();
    if (certDir) rmSync(certDir, { recursive: true, force: true });
  });

  const config = (name: string, tls: Record<string, unknown> | null) =>
    c.writeConfig(name, { user: 'fwtls', passwordEnv: 'FWS_TLS_PW', defaults: tls ? { tls } : {} });
  const fw = (cfg: string, args: string[]) => runFwShard(['--config', cfg, ...args], { env: { FWS_TLS_PW: PW } });
  const sslAccepts = () => Number(mariadb(S, 'mysql', "SHOW GLOBAL STATUS LIKE 'Ssl_accepts'").split('\t')[1]);

  it('a full move over TLS (CA, client certificate, verifyIdentity) succeeds; every session was a TLS handshake', async () => {
    const cfg = config('tls.json', { ca: certs.ca, cert: certs.client, key: certs['client-key'], verifyIdentity: true });
    const original = dumpUser(S, 'users1', '42');
    const before = sslAccepts();
    const r = await fw(cfg, ['move', '--user', '42', '--to', '2', '--yes', '--json', '--chunk-size', '40', '--freeze-cap', '2s', '--drain', '100ms']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.doc).toMatchObject({ ok: true, phase: 'done', mappingFlipped: true });
    expect(dumpUser(S, 'users2', '42') === original).toBe(true);
    expect(dumpUser(S, 'users1', '42')).toBe(emptyDumpOf(original));
    const handshakes = sslAccepts() - before;
    figures.moveOverTls = { exit: r.code, tlsHandshakes: handshakes };
    // The login REQUIREs X509: had any session not been TLS with the client certificate, the move could not have run.
    expect(handshakes).toBeGreaterThan(0);
    expect(mariadb(S, 'mysql', "SELECT ssl_type FROM mysql.user WHERE user = 'fwtls'").trim()).toBe('X509');
  });

  it('a wrong CA: exit 4, naming the server and the certificate problem', async () => {
    const r = await fw(config('wrong-ca.json', { ca: certs['other-ca'], cert: certs.client, key: certs['client-key'], verifyIdentity: true }), [
      'move',
      '--user',
      '42',
      '--to',
      '1',
      '--dry-run',
    ]);
    figures.wrongCa = { exit: r.code, message: r.stderr.split('\n')[0] };
    expect(r.stderr).not.toContain('internal error');
    expect(r.code, r.stderr).toBe(4);
    expect(r.stderr).toMatch(/fw-shard: error \[SERVER_UNAVAILABLE\]: db_main \(127\.0\.0\.1:\d+\/flamework\)/);
    expect(r.stderr).toMatch(/certificate/i);
    expect(r.stderr).toMatch(/next step: .*(CA|certificate|tls)/i);
    expect(r.stderr).not.toContain(PW);
  });

  it('no client certificate (the login REQUIREs X509): refused, exit 4', async () => {
    const r = await fw(config('no-client-cert.json', { ca: certs.ca, verifyIdentity: true }), ['move', '--user', '42', '--to', '1', '--dry-run']);
    figures.noClientCert = { exit: r.code, message: r.stderr.split('\n')[0] };
    expect(r.code, r.stderr).toBe(4);
    expect(r.stderr).toMatch(/\[ACCESS_DENIED\]: db_main \(127\.0\.0\.1:\d+\/flamework\): login refused for user 'fwtls'/);
    expect(r.stderr).not.toContain(PW);
  });

  it('no TLS at all: refused, exit 4', async () => {
    const r = await fw(config('plain.json', null), ['move', '--user', '42', '--to', '1', '--dry-run']);
    expect(r.code, r.stderr).toBe(4);
    expect(r.stderr).toMatch(/\[ACCESS_DENIED\]: db_main \(127\.0\.0\.1:\d+\/flamework\)/);
  });

  it('a server certificate for another host name: refused with verifyIdentity, accepted with verifyIdentity: false', async () => {
    copyFileSync(certs['server-other']!, certs.server!);
    copyFileSync(certs['server-other-key']!, certs['server-key']!);
    mariadb(S, 'mysql', 'FLUSH SSL');
    try {
      const strict = await fw(config('strict.json', { ca: certs.ca, cert: certs.client, key: certs['client-key'], verifyIdentity: true }), [
        'move',
        '--user',
        '42',
        '--to',
        '1',
        '--dry-run',
      ]);
      const lax = await fw(config('lax.json', { ca: certs.ca, cert: certs.client, key: certs['client-key'], verifyIdentity: false }), [
        'move',
        '--user',
        '42',
        '--to',
        '1',
        '--dry-run',
      ]);
      figures.hostMismatch = { verifyIdentityTrue: { exit: strict.code, message: strict.stderr.split('\n')[0] }, verifyIdentityFalse: { exit: lax.code } };
      expect(lax.code, lax.stderr).toBe(0);
      expect(strict.stderr).not.toContain('internal error');
      expect(strict.code, `verifyIdentity: true must refuse a certificate for db.example.test on 127.0.0.1: ${strict.stderr}`).toBe(4);
      expect(strict.stderr).toMatch(/db_main \(127\.0\.0\.1:\d+\/flamework\)/);
      expect(strict.stderr).toMatch(/127\.0\.0\.1|altname|host/i);
    } finally {
      copyFileSync(certs['server-good']!, certs.server!);
      copyFileSync(certs['server-good-key']!, certs['server-key']!);
      mariadb(S, 'mysql', 'FLUSH SSL');
    }
  });

  it('a certificate naming only the IP address: the driver checks "localhost" for IP hosts, and the refusal says so', async () => {
    copyFileSync(certs['server-ip']!, certs.server!);
    copyFileSync(certs['server-ip-key']!, certs['server-key']!);
    mariadb(S, 'mysql', 'FLUSH SSL');
    try {
      const strict = await fw(config('strict-ip.json', { ca: certs.ca, cert: certs.client, key: certs['client-key'], verifyIdentity: true }), [
        'move',
        '--user',
        '42',
        '--to',
        '1',
        '--dry-run',
      ]);
      figures.ipOnlyCertificate = { verifyIdentityTrue: { exit: strict.code, message: strict.stderr.split('\n')[0] } };
      expect(strict.code, strict.stderr).toBe(4);
      expect(strict.stderr).toMatch(/next step: .*driver checks the name "localhost"/);
    } finally {
      copyFileSync(certs['server-good']!, certs.server!);
      copyFileSync(certs['server-good-key']!, certs['server-key']!);
      mariadb(S, 'mysql', 'FLUSH SSL');
    }
  });
});

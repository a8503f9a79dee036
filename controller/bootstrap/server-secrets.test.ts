import { describe, it, beforeEach, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { chmod, mkdir, mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { createServer, get, type RequestOptions } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KubeConfig, VersionApi } from '@kubernetes/client-node';
import { errorCodes, isBerthError } from '../../lib/errors.js';
import { silentLogger } from '../../lib/logger.js';
import { certificateInfo } from '../../lib/pki/certificate-info.js';
import { caCertHash } from '../../lib/pki/node-token.js';
import { tokensEqual } from '../../lib/pki/tokens.js';
import { createCertificateAuthority } from '../../lib/pki/certificate-authority.js';
import { loadOrCreateServerSecrets, type ServerSecretsOptions } from './server-secrets.js';

const dayMs = 24 * 60 * 60 * 1000;
const t0 = Date.now();
const noInterfaces = (): Record<string, never> => ({});

const mode = async (path: string): Promise<number> => (await stat(path)).mode & 0o777;

describe('loadOrCreateServerSecrets', () => {
  let root: string;
  let dataDir: string;
  let options: ServerSecretsOptions;

  beforeEach(async () => {
    root = await mkdtemp(join(tmpdir(), 'berth-secrets-'));
    dataDir = join(root, 'data');
    options = {
      dataDir,
      listenHost: '127.0.0.1',
      listenPort: 6443,
      hostname: 'node-a',
      now: t0,
      logger: silentLogger(),
      networkInterfaces: noInterfaces,
    };
  });
  afterEach(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it('creates everything on first start, with private modes', async () => {
    const s = await loadOrCreateServerSecrets(options);
    assert.equal(await mode(dataDir), 0o700);
    assert.equal(await mode(join(dataDir, 'pki')), 0o700);
    for (const f of ['pki/ca.key', 'pki/serving.key', 'admin-token', 'node-token', 'kubeconfig.yaml']) {
      assert.equal(await mode(join(dataDir, f)), 0o600, f);
    }
    assert.deepEqual((await readdir(join(dataDir, 'pki'))).sort(), [
      'ca.crt',
      'ca.key',
      'serving.crt',
      'serving.key',
    ]);
    assert.deepEqual((await readdir(dataDir)).sort(), [
      'admin-token',
      'kubeconfig.yaml',
      'node-token',
      'pki',
    ]);

    assert.equal(await readFile(join(dataDir, 'pki/ca.crt'), 'utf8'), s.caCertPem);
    assert.equal(await readFile(join(dataDir, 'pki/serving.key'), 'utf8'), s.servingKeyPem);
    assert.equal((await readFile(join(dataDir, 'admin-token'), 'utf8')).trim(), s.adminToken);
    assert.match(s.adminToken, /^[0-9a-f]{64}$/);
    assert.equal(s.nodeToken, (await readFile(join(dataDir, 'node-token'), 'utf8')).trim());
    assert.match(s.nodeToken, new RegExp(`^K10${caCertHash(s.caCertPem)}::server:[0-9a-f]{64}$`));
    assert.equal(s.kubeconfigPath, join(dataDir, 'kubeconfig.yaml'));

    const ca = certificateInfo(s.caCertPem);
    assert.equal(ca.isCa, true);
    assert.match(ca.commonName, /^berth-ca@\d+$/);
    const serving = certificateInfo(s.servingCertPem);
    assert.deepEqual(serving.dnsNames, ['localhost', 'node-a']);
    assert.deepEqual(serving.ipAddresses, ['127.0.0.1', '::1']);
    assert.deepEqual(serving.extendedKeyUsages, ['serverAuth']);
  });

  it('reuses everything on a later start without rewriting any file', async () => {
    const first = await loadOrCreateServerSecrets(options);
    const files = [
      'pki/ca.crt',
      'pki/ca.key',
      'pki/serving.crt',
      'pki/serving.key',
      'admin-token',
      'node-token',
      'kubeconfig.yaml',
    ];
    const inodes = await Promise.all(files.map(async (f) => (await stat(join(dataDir, f))).ino));
    const second = await loadOrCreateServerSecrets({ ...options, now: t0 + dayMs });
    assert.deepEqual(second, first);
    assert.deepEqual(await Promise.all(files.map(async (f) => (await stat(join(dataDir, f))).ino)), inodes);
  });

  it('writes a kubeconfig that client-node uses to reach an HTTPS server with the serving cert', async () => {
    let expectedToken = '';
    const server = createServer((req, res) => {
      const auth = req.headers.authorization ?? '';
      if (!auth.startsWith('Bearer ') || !tokensEqual(auth.slice('Bearer '.length), expectedToken)) {
        res.writeHead(401, { 'content-type': 'application/json' });
        res.end(
          JSON.stringify({
            kind: 'Status',
            apiVersion: 'v1',
            status: 'Failure',
            reason: 'Unauthorized',
            code: 401,
          }),
        );
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(
        JSON.stringify({
          major: '1',
          minor: '32',
          gitVersion: 'v1.32.0-berth',
          gitCommit: '',
          gitTreeState: 'clean',
          buildDate: '2026-01-01T00:00:00Z',
          goVersion: 'node',
          compiler: 'tsc',
          platform: 'linux/amd64',
        }),
      );
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    try {
      const port = (server.address() as AddressInfo).port;
      const s = await loadOrCreateServerSecrets({ ...options, now: Date.now(), listenPort: port });
      server.setSecureContext({ key: s.servingKeyPem, cert: s.servingCertPem });
      expectedToken = s.adminToken;

      const kc = new KubeConfig();
      kc.loadFromFile(s.kubeconfigPath);
      assert.equal(kc.getCurrentCluster()?.server, `https://127.0.0.1:${port}`);

      const requestOptions: RequestOptions = {};
      await kc.applyToHTTPSOptions(requestOptions);
      const status = await new Promise<number>((resolve, reject) => {
        get(`https://127.0.0.1:${port}/version`, requestOptions, (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        }).on('error', reject);
      });
      assert.equal(status, 200);

      const version = await kc.makeApiClient(VersionApi).getCode();
      assert.equal(version.gitVersion, 'v1.32.0-berth');

      // The token really is checked, and the CA really is what makes the server trusted.
      expectedToken = 'something-else';
      await assert.rejects(
        kc.makeApiClient(VersionApi).getCode(),
        (err: { code?: number }) => err.code === 401,
      );
      expectedToken = s.adminToken;
      const noCa = await new Promise<string>((resolve) => {
        get(`https://127.0.0.1:${port}/version`, { headers: requestOptions.headers }, () => {
          resolve('connected');
        }).on('error', (err: NodeJS.ErrnoException) => {
          resolve(err.code ?? 'error');
        });
      });
      assert.equal(noCa, 'UNABLE_TO_VERIFY_LEAF_SIGNATURE');
    } finally {
      server.closeAllConnections();
      await new Promise<void>((resolve) =>
        server.close(() => {
          resolve();
        }),
      );
    }
  });

  it('points the kubeconfig at 127.0.0.1 and covers interface addresses when listening on 0.0.0.0', async () => {
    const s = await loadOrCreateServerSecrets({
      ...options,
      listenHost: '0.0.0.0',
      networkInterfaces: () => ({
        eth0: [{ address: '192.0.2.7', family: 'IPv4', internal: false, netmask: '', mac: '', cidr: null }],
      }),
    });
    const kc = new KubeConfig();
    kc.loadFromFile(s.kubeconfigPath);
    assert.equal(kc.getCurrentCluster()?.server, 'https://127.0.0.1:6443');
    assert.deepEqual(certificateInfo(s.servingCertPem).ipAddresses, ['127.0.0.1', '::1', '192.0.2.7']);
  });

  it('re-issues only the serving certificate when a needed name is missing, keeping CA and tokens', async () => {
    const first = await loadOrCreateServerSecrets(options);
    const second = await loadOrCreateServerSecrets({
      ...options,
      hostname: 'node-b',
      listenHost: '10.9.8.7',
    });
    assert.equal(second.caCertPem, first.caCertPem);
    assert.equal(second.adminToken, first.adminToken);
    assert.equal(second.nodeToken, first.nodeToken);
    assert.notEqual(second.servingCertPem, first.servingCertPem);
    assert.notEqual(second.servingKeyPem, first.servingKeyPem);
    const info = certificateInfo(second.servingCertPem);
    assert.deepEqual(info.dnsNames, ['localhost', 'node-b']);
    assert.deepEqual(info.ipAddresses, ['127.0.0.1', '::1', '10.9.8.7']);
    assert.equal(await readFile(join(dataDir, 'pki/serving.crt'), 'utf8'), second.servingCertPem);
    // The kubeconfig follows the new listen address.
    const kc = new KubeConfig();
    kc.loadFromFile(second.kubeconfigPath);
    assert.equal(kc.getCurrentCluster()?.server, 'https://10.9.8.7:6443');
  });

  it('re-issues the serving certificate within 30 days of expiry, and a mismatched key pair', async () => {
    const first = await loadOrCreateServerSecrets(options);
    const at334 = await loadOrCreateServerSecrets({ ...options, now: t0 + 334 * dayMs });
    assert.equal(at334.servingCertPem, first.servingCertPem);
    const at336 = await loadOrCreateServerSecrets({ ...options, now: t0 + 336 * dayMs });
    assert.notEqual(at336.servingCertPem, first.servingCertPem);
    assert.equal(at336.caCertPem, first.caCertPem);

    // A crash between writing serving.key and serving.crt leaves a pair that does not match.
    await writeFile(join(dataDir, 'pki/serving.key'), first.servingKeyPem, { mode: 0o600 });
    const repaired = await loadOrCreateServerSecrets({ ...options, now: t0 + 336 * dayMs });
    assert.notEqual(repaired.servingCertPem, at336.servingCertPem);
    assert.equal(repaired.caCertPem, first.caCertPem);
  });

  it('removes staging left by a crashed first start and tightens loose key modes', async () => {
    await mkdir(join(dataDir, '.pki-staging-dead'), { recursive: true });
    await writeFile(join(dataDir, '.pki-staging-dead/ca.key'), 'half');
    await loadOrCreateServerSecrets(options);
    assert.deepEqual(
      (await readdir(dataDir)).filter((n) => n.startsWith('.')),
      [],
    );
    await chmod(join(dataDir, 'pki/ca.key'), 0o644);
    await chmod(join(dataDir, 'admin-token'), 0o640);
    await loadOrCreateServerSecrets(options);
    assert.equal(await mode(join(dataDir, 'pki/ca.key')), 0o600);
    assert.equal(await mode(join(dataDir, 'admin-token')), 0o600);
  });

  it('refuses to replace a CA with a missing half, a foreign key, or that has expired', async () => {
    await loadOrCreateServerSecrets(options);
    const caKey = join(dataDir, 'pki/ca.key');
    const keyPem = await readFile(caKey, 'utf8');

    await rm(caKey);
    await assert.rejects(
      loadOrCreateServerSecrets(options),
      (err) =>
        isBerthError(err, errorCodes.CONFIG_INVALID) &&
        err.message.includes(caKey) &&
        /restore it/.test(err.message),
    );
    const other = await createCertificateAuthority({ commonName: 'x', validDays: 1, now: t0 });
    await writeFile(caKey, other.keyPem, { mode: 0o600 });
    await assert.rejects(
      loadOrCreateServerSecrets(options),
      (err) => isBerthError(err, errorCodes.CONFIG_INVALID) && /not the private key/.test(err.message),
    );
    await writeFile(caKey, keyPem, { mode: 0o600 });
    await assert.rejects(
      loadOrCreateServerSecrets({ ...options, now: t0 + 3651 * dayMs }),
      (err) => isBerthError(err, errorCodes.CONFIG_INVALID) && /expired/.test(err.message),
    );
  });

  it('creates a new CA when pki/ is removed, keeping the tokens and updating the node token hash', async () => {
    const first = await loadOrCreateServerSecrets(options);
    await rm(join(dataDir, 'pki'), { recursive: true });
    const second = await loadOrCreateServerSecrets(options);
    assert.notEqual(second.caCertPem, first.caCertPem);
    assert.equal(second.adminToken, first.adminToken);
    assert.equal(second.nodeToken.split('::')[1], first.nodeToken.split('::')[1]);
    assert.equal(
      second.nodeToken,
      `K10${caCertHash(second.caCertPem)}::${second.nodeToken.split('::')[1] ?? ''}`,
    );
    const kc = new KubeConfig();
    kc.loadFromFile(second.kubeconfigPath);
    assert.equal(kc.getCurrentCluster()?.caData, Buffer.from(second.caCertPem).toString('base64'));
  });

  it('refuses an unreadable admin or node token rather than silently replacing it', async () => {
    await loadOrCreateServerSecrets(options);
    await writeFile(join(dataDir, 'admin-token'), '\n');
    await assert.rejects(
      loadOrCreateServerSecrets(options),
      (err) =>
        isBerthError(err, errorCodes.CONFIG_INVALID) && err.message.includes(join(dataDir, 'admin-token')),
    );
    await rm(join(dataDir, 'admin-token'));
    await writeFile(join(dataDir, 'node-token'), 'K10garbage');
    await assert.rejects(
      loadOrCreateServerSecrets(options),
      (err) =>
        isBerthError(err, errorCodes.CONFIG_INVALID) && err.message.includes(join(dataDir, 'node-token')),
    );
  });

  it('keeps a node token secret written by the operator, adding the CA hash', async () => {
    await mkdir(dataDir, { recursive: true });
    await writeFile(join(dataDir, 'node-token'), 'my-shared-secret\n');
    const s = await loadOrCreateServerSecrets(options);
    assert.equal(s.nodeToken, `K10${caCertHash(s.caCertPem)}::server:my-shared-secret`);
  });

  it('rejects a data directory that is a file, or under a file', async () => {
    await writeFile(join(root, 'file'), 'x');
    await assert.rejects(
      loadOrCreateServerSecrets({ ...options, dataDir: join(root, 'file') }),
      (err) =>
        isBerthError(err, errorCodes.CONFIG_INVALID) &&
        err.message.includes(join(root, 'file')) &&
        /not a directory/.test(err.message),
    );
    await assert.rejects(
      loadOrCreateServerSecrets({ ...options, dataDir: join(root, 'file', 'data') }),
      (err) =>
        isBerthError(err, errorCodes.CONFIG_INVALID) && /parent of this path is a file/.test(err.message),
    );
  });

  it(
    'rejects a data directory it may not write',
    { skip: process.getuid?.() === 0 ? 'running as root, which file permissions do not stop' : false },
    async () => {
      await mkdir(dataDir, { mode: 0o500 });
      await assert.rejects(
        loadOrCreateServerSecrets(options),
        (err) =>
          isBerthError(err, errorCodes.CONFIG_INVALID) &&
          err.message.includes(dataDir) &&
          /permission denied/.test(err.message),
      );
    },
  );

  it('rejects an invalid port', async () => {
    await assert.rejects(loadOrCreateServerSecrets({ ...options, listenPort: 0 }), (err) =>
      isBerthError(err, errorCodes.CONFIG_INVALID),
    );
  });
});

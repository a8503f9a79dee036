/**
 * The controller's secrets on disk: cluster CA, API serving certificate, admin token, node join
 * token and the admin kubeconfig. The first start creates them; later starts reuse them, repairing
 * only what can be repaired without invalidating what was handed out.
 *
 *   DATA_DIR/                    (created 0700 if missing)
 *     pki/            0700       appears complete or not at all (built in .pki-staging-*, renamed)
 *       ca.crt        0644       never replaced once created: kubeconfigs and node certs trust it
 *       ca.key        0600
 *       serving.crt   0644       re-issued when missing, unreadable, not from the CA, not matching
 *       serving.key   0600       its key, expiring within 30 days, or missing a needed SAN
 *     admin-token     0600       bearer token of the `admin` kubeconfig user
 *     node-token      0600       K10<sha256 of CA>::server:<secret>, what agents join with
 *     kubeconfig.yaml 0600       rewritten only when its content would change
 *
 * Every file is written atomically (atomic-write.ts), so a crash leaves old or new, never half.
 * Problems the operator must settle (a CA file missing, an unreadable token, a data dir that is a
 * file or cannot be written) are `CONFIG_INVALID` errors naming the path and the fix.
 */
import { access, chmod, constants, mkdir, readFile, readdir, rename, rm, stat } from 'node:fs/promises';
import { networkInterfaces } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import type { Logger } from '../../lib/logger.js';
import { BerthError, errorCodes, errorMessage } from '../../lib/errors.js';
import {
  createCertificateAuthority,
  issueServingCertificate,
  type CertificateAndKey,
} from '../../lib/pki/certificate-authority.js';
import { certificateInfo, verifyChain } from '../../lib/pki/certificate-info.js';
import { keyMatchesCertificate } from '../../lib/pki/keys.js';
import { caCertHash, formatNodeToken, parseNodeToken } from '../../lib/pki/node-token.js';
import { generateToken } from '../../lib/pki/tokens.js';
import { syncDirectory, writeFileAtomic } from '../../lib/atomic-write.js';
import { renderKubeconfig } from './kubeconfig.js';
import {
  namesCovered,
  serverUrl,
  servingNames,
  type NetworkInterfaces,
  type ServingNames,
} from './serving-names.js';

export interface ServerSecretsOptions {
  readonly dataDir: string;
  /** The address the API server listens on ('0.0.0.0' / '::' for all). */
  readonly listenHost: string;
  readonly listenPort: number;
  /** This machine's host name (`os.hostname()`), added to the serving certificate. */
  readonly hostname: string;
  /** Current time, ms since the epoch (`Clock.now()`). */
  readonly now: number;
  readonly logger: Logger;
  /** The host's interfaces; default `os.networkInterfaces`. Injected by tests. */
  readonly networkInterfaces?: () => NetworkInterfaces;
}

export interface ServerSecrets {
  readonly caCertPem: string;
  /** The CA key, for signing node certificates at join. */
  readonly caKeyPem: string;
  readonly servingCertPem: string;
  readonly servingKeyPem: string;
  /** Bearer token of the admin user; compare with `tokensEqual`. */
  readonly adminToken: string;
  readonly kubeconfigPath: string;
  /** The full join token `K10<ca hash>::server:<secret>`. */
  readonly nodeToken: string;
}

/** Cluster/context name in the kubeconfig. */
export const kubeconfigName = 'berth';

const caValidDays = 3650;
const servingValidDays = 365;
const renewBeforeMs = 30 * 24 * 60 * 60 * 1000;
const servingCommonName = 'berth-apiserver';
const stagingPrefix = '.pki-staging-';

/** Loads the controller's secrets from `dataDir`, creating or repairing them as described above. */
export async function loadOrCreateServerSecrets(opts: ServerSecretsOptions): Promise<ServerSecrets> {
  if (!Number.isInteger(opts.listenPort) || opts.listenPort < 1 || opts.listenPort > 65535) {
    throw new BerthError(
      errorCodes.CONFIG_INVALID,
      `listen port ${opts.listenPort}: must be an integer in 1..65535 (the kubeconfig needs the real port, so pick a free one before starting rather than 0)`,
    );
  }
  const log = opts.logger;
  const paths = secretPaths(opts.dataDir);
  await prepareDataDir(opts.dataDir);
  const names = servingNames({
    listenHost: opts.listenHost,
    hostname: opts.hostname,
    interfaces: (opts.networkInterfaces ?? networkInterfaces)(),
  });

  const ca = await loadOrCreateCa(paths, opts, names);
  const serving = await loadOrReissueServing(paths, opts, ca, names);
  const adminToken = await loadOrCreateAdminToken(paths.adminToken, log);
  const nodeToken = await loadOrCreateNodeToken(paths.nodeToken, ca.certPem, log);

  const kubeconfig = renderKubeconfig({
    server: serverUrl(opts.listenHost, opts.listenPort),
    caPem: ca.certPem,
    token: adminToken,
    name: kubeconfigName,
  });
  if ((await readOptional(paths.kubeconfig)) !== kubeconfig) {
    await fsStep(paths.kubeconfig, 'write', () => writeFileAtomic(paths.kubeconfig, kubeconfig, 0o600));
    log.info({ path: paths.kubeconfig }, 'wrote admin kubeconfig');
  }

  return {
    caCertPem: ca.certPem,
    caKeyPem: ca.keyPem,
    servingCertPem: serving.certPem,
    servingKeyPem: serving.keyPem,
    adminToken,
    kubeconfigPath: paths.kubeconfig,
    nodeToken,
  };
}

interface SecretPaths {
  readonly dataDir: string;
  readonly pki: string;
  readonly caCert: string;
  readonly caKey: string;
  readonly servingCert: string;
  readonly servingKey: string;
  readonly adminToken: string;
  readonly nodeToken: string;
  readonly kubeconfig: string;
}

function secretPaths(dataDir: string): SecretPaths {
  const pki = join(dataDir, 'pki');
  return {
    dataDir,
    pki,
    caCert: join(pki, 'ca.crt'),
    caKey: join(pki, 'ca.key'),
    servingCert: join(pki, 'serving.crt'),
    servingKey: join(pki, 'serving.key'),
    adminToken: join(dataDir, 'admin-token'),
    nodeToken: join(dataDir, 'node-token'),
    kubeconfig: join(dataDir, 'kubeconfig.yaml'),
  };
}

/** Ensures the data dir is a directory we can write, and removes staging left by a crashed start. */
async function prepareDataDir(dataDir: string): Promise<void> {
  const st = await fsStep(dataDir, 'inspect data directory', () => stat(dataDir).catch(ifMissing(undefined)));
  if (st === undefined) {
    await fsStep(dataDir, 'create data directory', () => mkdir(dataDir, { recursive: true, mode: 0o700 }));
  } else if (!st.isDirectory()) {
    throw new BerthError(
      errorCodes.CONFIG_INVALID,
      `data directory ${dataDir}: exists but is not a directory: move the file away or choose another data directory`,
    );
  }
  await fsStep(dataDir, 'write to data directory', () => access(dataDir, constants.W_OK | constants.X_OK));
  const entries = await fsStep(dataDir, 'read data directory', () => readdir(dataDir));
  for (const entry of entries.filter((e) => e.startsWith(stagingPrefix))) {
    const staging = join(dataDir, entry);
    await fsStep(staging, 'remove leftover staging directory', () =>
      rm(staging, { recursive: true, force: true }),
    );
  }
}

async function loadOrCreateCa(
  paths: SecretPaths,
  opts: ServerSecretsOptions,
  names: ServingNames,
): Promise<CertificateAndKey> {
  const pkiStat = await fsStep(paths.pki, 'inspect', () => stat(paths.pki).catch(ifMissing(undefined)));
  if (pkiStat === undefined) {
    return createPkiDirectory(paths, opts, names);
  }
  if (!pkiStat.isDirectory()) {
    throw new BerthError(
      errorCodes.CONFIG_INVALID,
      `${paths.pki}: exists but is not a directory: move it away so that a new CA can be created`,
    );
  }
  await fsStep(paths.pki, 'set permissions on', () => chmod(paths.pki, 0o700));
  const certPem = await readOptional(paths.caCert);
  const keyPem = await readOptional(paths.caKey);
  const startOver = `remove ${paths.pki} to create a new CA (every kubeconfig and node certificate issued so far will stop working, and agents must join again)`;
  if (certPem === undefined || keyPem === undefined) {
    const missing = certPem === undefined ? paths.caCert : paths.caKey;
    throw new BerthError(
      errorCodes.CONFIG_INVALID,
      `${missing}: missing while ${paths.pki} exists: restore it from a backup, or ${startOver}`,
    );
  }
  let info;
  try {
    info = certificateInfo(certPem);
  } catch (err) {
    throw new BerthError(errorCodes.CONFIG_INVALID, `${paths.caCert}: ${errorMessage(err)}: ${startOver}`, {
      cause: err,
    });
  }
  if (!info.isCa) {
    throw new BerthError(errorCodes.CONFIG_INVALID, `${paths.caCert}: not a CA certificate: ${startOver}`);
  }
  if (!keyMatchesCertificate(keyPem, certPem)) {
    throw new BerthError(
      errorCodes.CONFIG_INVALID,
      `${paths.caKey}: not the private key of ${paths.caCert}: restore the matching pair, or ${startOver}`,
    );
  }
  if (info.notAfter.getTime() <= opts.now) {
    throw new BerthError(
      errorCodes.CONFIG_INVALID,
      `${paths.caCert}: the cluster CA expired at ${info.notAfter.toISOString()}: ${startOver}`,
    );
  }
  if (info.notAfter.getTime() - opts.now < renewBeforeMs) {
    opts.logger.warn(
      { path: paths.caCert, notAfter: info.notAfter.toISOString() },
      'cluster CA expires within 30 days; plan a CA rotation',
    );
  }
  await tightenMode(paths.caKey, opts.logger);
  return { certPem, keyPem };
}

/** First start: CA and serving certificate built in a staging directory, then renamed into place. */
async function createPkiDirectory(
  paths: SecretPaths,
  opts: ServerSecretsOptions,
  names: ServingNames,
): Promise<CertificateAndKey> {
  const ca = await createCertificateAuthority({
    commonName: `berth-ca@${Math.floor(opts.now / 1000)}`,
    validDays: caValidDays,
    now: opts.now,
  });
  const serving = await issueServing(ca, opts.now, names);
  const staging = join(paths.dataDir, `${stagingPrefix}${randomBytes(6).toString('hex')}`);
  await fsStep(staging, 'create', async () => {
    await mkdir(staging, { mode: 0o700 });
    await chmod(staging, 0o700);
    await writeFileAtomic(join(staging, 'ca.key'), ca.keyPem, 0o600);
    await writeFileAtomic(join(staging, 'ca.crt'), ca.certPem, 0o644);
    await writeFileAtomic(join(staging, 'serving.key'), serving.keyPem, 0o600);
    await writeFileAtomic(join(staging, 'serving.crt'), serving.certPem, 0o644);
  });
  await fsStep(paths.pki, 'create', async () => {
    await rename(staging, paths.pki);
    await syncDirectory(paths.dataDir);
  });
  const fingerprint = certificateInfo(ca.certPem).fingerprintSha256;
  opts.logger.info(
    { path: paths.pki, caFingerprintSha256: fingerprint },
    'created cluster CA and serving certificate',
  );
  return ca;
}

async function loadOrReissueServing(
  paths: SecretPaths,
  opts: ServerSecretsOptions,
  ca: CertificateAndKey,
  names: ServingNames,
): Promise<CertificateAndKey> {
  const certPem = await readOptional(paths.servingCert);
  const keyPem = await readOptional(paths.servingKey);
  const reason = await servingProblem(certPem, keyPem, ca, opts.now, names);
  if (reason === undefined && certPem !== undefined && keyPem !== undefined) {
    await tightenMode(paths.servingKey, opts.logger);
    return { certPem, keyPem };
  }
  const serving = await issueServing(ca, opts.now, names);
  // Key first: a crash between the two leaves a mismatched pair, which the next start re-issues.
  await fsStep(paths.servingKey, 'write', () => writeFileAtomic(paths.servingKey, serving.keyPem, 0o600));
  await fsStep(paths.servingCert, 'write', () => writeFileAtomic(paths.servingCert, serving.certPem, 0o644));
  opts.logger.info(
    { path: paths.servingCert, reason, dnsNames: names.dnsNames, ipAddresses: names.ipAddresses },
    're-issued API serving certificate',
  );
  return serving;
}

/** Why the serving pair on disk cannot be used as is, or undefined if it can. */
async function servingProblem(
  certPem: string | undefined,
  keyPem: string | undefined,
  ca: CertificateAndKey,
  now: number,
  names: ServingNames,
): Promise<string | undefined> {
  if (certPem === undefined || keyPem === undefined) return 'missing';
  let info;
  try {
    info = certificateInfo(certPem);
  } catch {
    return 'unreadable';
  }
  if (!keyMatchesCertificate(keyPem, certPem)) return 'key does not match certificate';
  const verdict = await verifyChain(certPem, ca.certPem, { now });
  if (!verdict.ok) return `not valid under the cluster CA (${verdict.reason})`;
  if (info.notAfter.getTime() - now < renewBeforeMs) return 'expires within 30 days';
  if (!namesCovered(info, names)) return 'subject alternative names changed';
  return undefined;
}

function issueServing(ca: CertificateAndKey, now: number, names: ServingNames): Promise<CertificateAndKey> {
  return issueServingCertificate(ca, {
    commonName: servingCommonName,
    dnsNames: names.dnsNames,
    ipAddresses: names.ipAddresses,
    validDays: servingValidDays,
    now,
  });
}

async function loadOrCreateAdminToken(path: string, log: Logger): Promise<string> {
  const text = await readOptional(path);
  if (text === undefined) {
    const token = generateToken();
    await fsStep(path, 'write', () => writeFileAtomic(path, `${token}\n`, 0o600));
    log.info({ path }, 'created admin token');
    return token;
  }
  const token = text.trim();
  if (token === '' || /\s/.test(token)) {
    throw new BerthError(
      errorCodes.CONFIG_INVALID,
      `${path}: not a token (empty or contains whitespace): write one token on one line, or remove the file to generate a new one`,
    );
  }
  await tightenMode(path, log);
  return token;
}

async function loadOrCreateNodeToken(path: string, caPem: string, log: Logger): Promise<string> {
  const text = await readOptional(path);
  let secret: string;
  if (text === undefined) {
    secret = generateToken();
  } else {
    const parsed = parseNodeToken(text);
    if (parsed === undefined) {
      throw new BerthError(
        errorCodes.CONFIG_INVALID,
        `${path}: not a node token (expected K10<ca hash>::server:<secret> or a bare secret): fix it, or remove the file to generate a new one`,
      );
    }
    secret = parsed.secret;
    if (parsed.caHash !== undefined && parsed.caHash !== caCertHash(caPem)) {
      log.warn({ path }, 'node token named another CA; kept its secret and updated the CA hash');
    }
  }
  const token = formatNodeToken(caPem, secret);
  if (text?.trim() !== token) {
    await fsStep(path, 'write', () => writeFileAtomic(path, `${token}\n`, 0o600));
    log.info({ path }, text === undefined ? 'created node token' : 'rewrote node token');
  } else {
    await tightenMode(path, log);
  }
  return token;
}

/** A secret file readable by group or others is put back to 0600. */
async function tightenMode(path: string, log: Logger): Promise<void> {
  const st = await fsStep(path, 'inspect', () => stat(path));
  if ((st.mode & 0o077) !== 0) {
    await fsStep(path, 'set permissions on', () => chmod(path, 0o600));
    log.warn(
      { path, mode: (st.mode & 0o777).toString(8) },
      'secret file was readable by others; set to 0600',
    );
  }
}

async function readOptional(path: string): Promise<string | undefined> {
  return fsStep(path, 'read', () => readFile(path, 'utf8').catch(ifMissing(undefined)));
}

function ifMissing<T>(value: T): (err: unknown) => T {
  return (err) => {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return value;
    throw err;
  };
}

/** Runs a file-system step, turning its failure into a `CONFIG_INVALID` that says what to fix. */
async function fsStep<T>(path: string, what: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof BerthError) throw err;
    const code = (err as NodeJS.ErrnoException).code;
    throw new BerthError(errorCodes.CONFIG_INVALID, `${what} ${path}: ${fsHint(code, err)}`, { cause: err });
  }
}

function fsHint(code: string | undefined, err: unknown): string {
  const uid = process.getuid?.();
  const who = uid === undefined ? 'the user running berth' : `the user running berth (uid ${uid})`;
  switch (code) {
    case 'EACCES':
    case 'EPERM':
      return `permission denied: give ${who} write access to the data directory, or choose another one`;
    case 'EROFS':
      return 'read-only file system: choose a data directory on a writable file system';
    case 'ENOTDIR':
      return 'a parent of this path is a file, not a directory: fix the path, or choose another data directory';
    case 'EEXIST':
      return 'something is already there: move it away';
    case 'ENOSPC':
    case 'EDQUOT':
      return 'no space left on the device: free some space';
    default:
      return errorMessage(err);
  }
}

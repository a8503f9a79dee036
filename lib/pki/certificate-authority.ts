/**
 * The cluster's certificate authority: creating it, and issuing leaf certificates from it — serving
 * certificates for the API server and gateway, and client (or server) certificates for certificate
 * signing requests such as an agent's at join time.
 *
 * Every key is ECDSA P-256 and every signature ECDSA with SHA-256. Time is a parameter (`now`, in
 * milliseconds since the epoch) so that expiry can be tested; serial numbers are 128 random bits.
 * `notBefore` is set five minutes before `now` so that a peer whose clock is slightly behind does
 * not see a brand-new certificate as "not yet valid" (cfssl's default backdate), and a leaf never
 * outlives the CA that signed it.
 */
import { isIP } from 'node:net';
import { createPublicKey, randomBytes, type webcrypto } from 'node:crypto';
import { BerthError, errorCodes } from '../errors.js';
import { buildName, type SubjectFields } from './distinguished-name.js';
import { exportPrivateKeyPem, generateKeyPair, importPrivateKeyPem, keyMatchesCertificate } from './keys.js';
import { ecSigningAlgorithm, x509 } from './x509-setup.js';

/** A certificate and its private key, both PEM. The CA and every issued leaf have this shape. */
export interface CertificateAndKey {
  readonly certPem: string;
  readonly keyPem: string;
}

/** The CA: its self-signed certificate and private key. */
export type CertificateAuthority = CertificateAndKey;

export interface ValidityOptions {
  /** How long the certificate is valid from `now`. */
  readonly validDays: number;
  /** The issuing time, milliseconds since the epoch (`Clock.now()`). */
  readonly now: number;
}

export interface CreateCertificateAuthorityOptions extends ValidityOptions {
  readonly commonName: string;
}

export interface ServingCertificateOptions extends ValidityOptions {
  readonly commonName: string;
  /** DNS subject alternative names. Clients check these (Go ignores the CN). */
  readonly dnsNames: readonly string[];
  /** IPv4/IPv6 subject alternative names. */
  readonly ipAddresses: readonly string[];
}

/** The extended key usages Berth issues. */
export type ExtendedKeyUsageName = 'serverAuth' | 'clientAuth';

export interface SignCsrOptions extends ValidityOptions {
  /** At least one. A node's client certificate is `['clientAuth']`. */
  readonly usages: readonly ExtendedKeyUsageName[];
  /**
   * The subject to certify, replacing whatever the request asked for. The signer, not the requester,
   * decides identity: a joining node gets `system:node:NAME` / `system:nodes` whatever its CSR says.
   * Absent: the request's own subject is used as is.
   */
  readonly subject?: SubjectFields;
  /** Subject alternative names to include; extensions requested in the CSR are never copied. */
  readonly dnsNames?: readonly string[];
  readonly ipAddresses?: readonly string[];
}

const dayMs = 24 * 60 * 60 * 1000;
const clockSkewAllowanceMs = 5 * 60 * 1000;

/** A self-signed CA certificate (basicConstraints CA, keyCertSign + cRLSign, SKI) and a new key. */
export async function createCertificateAuthority(
  opts: CreateCertificateAuthorityOptions,
): Promise<CertificateAuthority> {
  const { notBefore, notAfter } = validity(opts, undefined);
  const keys = await generateKeyPair();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: randomSerialNumber(),
    name: buildName({ commonName: opts.commonName }),
    notBefore,
    notAfter,
    keys,
    signingAlgorithm: ecSigningAlgorithm,
    extensions: [
      new x509.BasicConstraintsExtension(true, undefined, true),
      new x509.KeyUsagesExtension(
        x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign | x509.KeyUsageFlags.digitalSignature,
        true,
      ),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return { certPem: cert.toString('pem'), keyPem: await exportPrivateKeyPem(keys.privateKey) };
}

/**
 * A TLS serving certificate (EKU serverAuth) for a new key, signed by `ca`. Throws `CERT_INVALID` if
 * the CA is unusable or an address is not an IP.
 */
export async function issueServingCertificate(
  ca: CertificateAuthority,
  opts: ServingCertificateOptions,
): Promise<CertificateAndKey> {
  const signer = await loadSigner(ca);
  const keys = await generateKeyPair();
  const cert = await signLeaf(signer, {
    publicKey: keys.publicKey,
    subject: buildName({ commonName: opts.commonName }),
    usages: ['serverAuth'],
    dnsNames: opts.dnsNames,
    ipAddresses: opts.ipAddresses,
    rsaKey: false,
    validity: opts,
  });
  return { certPem: cert, keyPem: await exportPrivateKeyPem(keys.privateKey) };
}

/**
 * Signs a PKCS#10 request with `ca` and returns the certificate PEM. The request's self-signature is
 * verified first (proof that the requester holds the key); a request that does not parse, whose
 * signature does not verify, or whose key is weak or of an unsupported type is refused with
 * `CERT_INVALID`. Only the request's public key — and its subject, unless `opts.subject` is given —
 * is taken from it.
 */
export async function signCsr(
  ca: CertificateAuthority,
  csrPem: string,
  opts: SignCsrOptions,
): Promise<string> {
  let csr: InstanceType<typeof x509.Pkcs10CertificateRequest>;
  try {
    csr = new x509.Pkcs10CertificateRequest(csrPem);
  } catch (err) {
    throw new BerthError(
      errorCodes.CERT_INVALID,
      `read certificate signing request: ${(err as Error).message}`,
      {
        cause: err,
      },
    );
  }
  let signatureOk: boolean;
  try {
    signatureOk = await csr.verify();
  } catch (err) {
    throw new BerthError(
      errorCodes.CERT_INVALID,
      `verify certificate signing request: ${(err as Error).message}`,
      {
        cause: err,
      },
    );
  }
  if (!signatureOk) {
    throw new BerthError(errorCodes.CERT_INVALID, 'certificate signing request: signature does not verify');
  }
  const rsaKey = checkRequestKey(csr.publicKey.rawData);
  const signer = await cachedSigner(ca);
  return signLeaf(signer, {
    publicKey: csr.publicKey,
    subject: opts.subject === undefined ? csr.subjectName : buildName(opts.subject),
    usages: opts.usages,
    dnsNames: opts.dnsNames ?? [],
    ipAddresses: opts.ipAddresses ?? [],
    rsaKey,
    validity: opts,
  });
}

interface Signer {
  readonly cert: InstanceType<typeof x509.X509Certificate>;
  readonly key: webcrypto.CryptoKey;
}

interface LeafRequest {
  readonly publicKey: InstanceType<typeof x509.PublicKey> | webcrypto.CryptoKey;
  readonly subject: x509.X509CertificateCreateParamsName;
  readonly usages: readonly ExtendedKeyUsageName[];
  readonly dnsNames: readonly string[];
  readonly ipAddresses: readonly string[];
  /** RSA keys also need keyEncipherment for TLS 1.2 RSA key exchange. */
  readonly rsaKey: boolean;
  readonly validity: ValidityOptions;
}

async function signLeaf(signer: Signer, req: LeafRequest): Promise<string> {
  if (req.usages.length === 0) {
    throw new BerthError(
      errorCodes.CERT_INVALID,
      'issue certificate: at least one extended key usage is required',
    );
  }
  const { notBefore, notAfter } = validity(req.validity, signer.cert.notAfter);
  const keyUsage = req.rsaKey
    ? new x509.KeyUsagesExtension(
        x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment,
        true,
      )
    : new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true);
  const extensions: x509.Extension[] = [
    new x509.BasicConstraintsExtension(false, undefined, true),
    keyUsage,
    new x509.ExtendedKeyUsageExtension(req.usages.map((u) => x509.ExtendedKeyUsage[u])),
    await authorityKeyIdentifier(signer.cert),
    await x509.SubjectKeyIdentifierExtension.create(req.publicKey),
  ];
  const names = subjectAltNames(req.dnsNames, req.ipAddresses);
  if (names.length > 0) extensions.push(new x509.SubjectAlternativeNameExtension(names));
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: randomSerialNumber(),
    subject: req.subject,
    // The CA's own encoded name: Go matches issuer to subject byte for byte.
    issuer: signer.cert.subjectName,
    notBefore,
    notAfter,
    publicKey: req.publicKey,
    signingKey: signer.key,
    signingAlgorithm: ecSigningAlgorithm,
    extensions,
  });
  return cert.toString('pem');
}

/**
 * Parsed signers by CA object: the gateway signs one CSR per joining node with the same CA, and
 * parsing + importing its key was two thirds of each signature (1,000 hollow agents joining, B1).
 */
const signers = new WeakMap<CertificateAuthority, Promise<Signer>>();

function cachedSigner(ca: CertificateAuthority): Promise<Signer> {
  let signer = signers.get(ca);
  if (signer === undefined) {
    signer = loadSigner(ca);
    signers.set(ca, signer);
    // A CA that cannot sign is not remembered: the next call reports the same error afresh.
    void signer.catch(() => signers.delete(ca));
  }
  return signer;
}

/** Parses the CA and checks it can sign: a CA certificate whose key is the one given. */
async function loadSigner(ca: CertificateAuthority): Promise<Signer> {
  let cert: InstanceType<typeof x509.X509Certificate>;
  try {
    cert = new x509.X509Certificate(ca.certPem);
  } catch (err) {
    throw new BerthError(errorCodes.CERT_INVALID, `read CA certificate: ${(err as Error).message}`, {
      cause: err,
    });
  }
  if (cert.getExtension(x509.BasicConstraintsExtension)?.ca !== true) {
    throw new BerthError(
      errorCodes.CERT_INVALID,
      `CA certificate ${cert.subject}: not a CA (basicConstraints)`,
    );
  }
  if (!keyMatchesCertificate(ca.keyPem, ca.certPem)) {
    throw new BerthError(
      errorCodes.CERT_INVALID,
      `CA certificate ${cert.subject}: private key does not match`,
    );
  }
  return { cert, key: await importPrivateKeyPem(ca.keyPem) };
}

async function authorityKeyIdentifier(
  caCert: InstanceType<typeof x509.X509Certificate>,
): Promise<x509.Extension> {
  // Reuse the CA's own SKI so the two always match, whatever method computed it.
  const ski = caCert.getExtension(x509.SubjectKeyIdentifierExtension);
  return ski === null
    ? x509.AuthorityKeyIdentifierExtension.create(caCert.publicKey)
    : new x509.AuthorityKeyIdentifierExtension(ski.keyId);
}

/** Accepts EC P-256/P-384, Ed25519 and RSA of 2048 bits or more; returns whether the key is RSA. */
function checkRequestKey(spki: ArrayBuffer): boolean {
  let key;
  try {
    key = createPublicKey({ key: Buffer.from(spki), format: 'der', type: 'spki' });
  } catch (err) {
    throw new BerthError(errorCodes.CERT_INVALID, `certificate signing request: unreadable public key`, {
      cause: err,
    });
  }
  const type = key.asymmetricKeyType;
  const details = key.asymmetricKeyDetails ?? {};
  if (type === 'ec' && (details.namedCurve === 'prime256v1' || details.namedCurve === 'secp384r1'))
    return false;
  if (type === 'ed25519') return false;
  if (type === 'rsa' && (details.modulusLength ?? 0) >= 2048) return true;
  const what = type === 'ec' ? `EC curve ${details.namedCurve ?? '?'}` : `${type ?? 'unknown'} key`;
  throw new BerthError(
    errorCodes.CERT_INVALID,
    `certificate signing request: ${what}${type === 'rsa' ? ` of ${details.modulusLength ?? 0} bits` : ''} is not accepted (use ECDSA P-256)`,
  );
}

function subjectAltNames(dnsNames: readonly string[], ipAddresses: readonly string[]): x509.JsonGeneralNames {
  const names: x509.JsonGeneralNames = [];
  for (const dns of new Set(dnsNames)) {
    if (dns === '' || /[\s/]/.test(dns)) {
      throw new BerthError(
        errorCodes.CERT_INVALID,
        `subject alternative name: ${JSON.stringify(dns)} is not a DNS name`,
      );
    }
    names.push({ type: 'dns', value: dns });
  }
  for (const ip of new Set(ipAddresses)) {
    if (isIP(ip) === 0) {
      throw new BerthError(
        errorCodes.CERT_INVALID,
        `subject alternative name: ${JSON.stringify(ip)} is not an IP address`,
      );
    }
    names.push({ type: 'ip', value: ip });
  }
  return names;
}

function validity(opts: ValidityOptions, caNotAfter: Date | undefined): { notBefore: Date; notAfter: Date } {
  if (!Number.isFinite(opts.validDays) || opts.validDays <= 0) {
    throw new BerthError(
      errorCodes.CERT_INVALID,
      `issue certificate: validDays must be positive, got ${opts.validDays}`,
    );
  }
  if (!Number.isFinite(opts.now)) {
    throw new BerthError(errorCodes.CERT_INVALID, `issue certificate: now must be a time in milliseconds`);
  }
  const notBefore = new Date(opts.now - clockSkewAllowanceMs);
  let notAfter = new Date(opts.now + opts.validDays * dayMs);
  if (caNotAfter !== undefined && notAfter > caNotAfter) notAfter = caNotAfter;
  return { notBefore, notAfter };
}

/** 128 random bits as a positive, minimally encoded DER INTEGER (Go rejects negative serials). */
function randomSerialNumber(): string {
  const bytes = randomBytes(16);
  bytes[0] = ((bytes[0] ?? 0) & 0x7f) | 0x40;
  return bytes.toString('hex');
}

/**
 * Reading certificates: what one says (`certificateInfo`) and whether it was issued by a given CA and
 * is valid at a given time (`verifyChain`). Both answer with values; a failed verification is an
 * expected outcome (`{ ok: false, reason }`), only unreadable input throws (`CERT_INVALID`).
 */
import { createHash } from 'node:crypto';
import { BerthError, errorCodes } from '../errors.js';
import { x509 } from './x509-setup.js';

export interface CertificateInfo {
  /** The subject's first CN, or '' if none. */
  readonly commonName: string;
  /** The subject's O values (Kubernetes groups). */
  readonly organizations: readonly string[];
  readonly issuerCommonName: string;
  readonly dnsNames: readonly string[];
  readonly ipAddresses: readonly string[];
  readonly notBefore: Date;
  readonly notAfter: Date;
  /** Serial number, lower-case hex. */
  readonly serialNumber: string;
  readonly isCa: boolean;
  /** Extended key usages by name ('serverAuth', 'clientAuth') or OID when unnamed. */
  readonly extendedKeyUsages: readonly string[];
  /** SHA-256 of the DER certificate, lower-case hex without separators. */
  readonly fingerprintSha256: string;
}

/** Why `verifyChain` rejected a certificate. */
export type ChainFailure =
  | 'issuer-mismatch'
  | 'not-a-ca'
  | 'bad-signature'
  | 'not-yet-valid'
  | 'expired'
  | 'ca-not-yet-valid'
  | 'ca-expired';

export type ChainVerdict = { readonly ok: true } | { readonly ok: false; readonly reason: ChainFailure };

/** Parses one PEM certificate (the first, if several). Throws `CERT_INVALID` if it cannot. */
export function certificateInfo(pem: string): CertificateInfo {
  const cert = parseCertificate(pem, 'certificate');
  const san = cert.getExtension(x509.SubjectAlternativeNameExtension);
  const names = san?.names.toJSON() ?? [];
  const eku = cert.getExtension(x509.ExtendedKeyUsageExtension);
  const ekuNames = new Map<string, string>(
    Object.entries(x509.ExtendedKeyUsage).map(([name, oid]) => [oid, name]),
  );
  return {
    commonName: cert.subjectName.getField('CN')[0] ?? '',
    organizations: cert.subjectName.getField('O'),
    issuerCommonName: cert.issuerName.getField('CN')[0] ?? '',
    dnsNames: names.filter((n) => n.type === 'dns').map((n) => n.value),
    ipAddresses: names.filter((n) => n.type === 'ip').map((n) => n.value),
    notBefore: cert.notBefore,
    notAfter: cert.notAfter,
    serialNumber: cert.serialNumber.toLowerCase(),
    isCa: cert.getExtension(x509.BasicConstraintsExtension)?.ca === true,
    extendedKeyUsages: Array.from(eku?.usages ?? [], (u) => ekuNames.get(String(u)) ?? String(u)),
    fingerprintSha256: createHash('sha256').update(Buffer.from(cert.rawData)).digest('hex'),
  };
}

/**
 * Whether `certPem` was signed by the CA in `caPem` and both are valid at `now` (ms since the epoch).
 * Checks, in order: the issuer name equals the CA's subject byte for byte (how Go chains), the CA is a
 * CA, the signature, then both validity windows. Throws `CERT_INVALID` only for unreadable input.
 */
export async function verifyChain(
  certPem: string,
  caPem: string,
  opts: { now: number },
): Promise<ChainVerdict> {
  const cert = parseCertificate(certPem, 'certificate');
  const ca = parseCertificate(caPem, 'CA certificate');
  const issuer = Buffer.from(cert.issuerName.toArrayBuffer());
  const caSubject = Buffer.from(ca.subjectName.toArrayBuffer());
  if (!issuer.equals(caSubject)) return { ok: false, reason: 'issuer-mismatch' };
  if (ca.getExtension(x509.BasicConstraintsExtension)?.ca !== true) return { ok: false, reason: 'not-a-ca' };
  let signatureOk: boolean;
  try {
    signatureOk = await cert.verify({ publicKey: ca.publicKey, signatureOnly: true });
  } catch {
    signatureOk = false;
  }
  if (!signatureOk) return { ok: false, reason: 'bad-signature' };
  const window = (c: typeof cert): 'early' | 'late' | 'ok' =>
    opts.now < c.notBefore.getTime() ? 'early' : opts.now > c.notAfter.getTime() ? 'late' : 'ok';
  const leafWindow = window(cert);
  if (leafWindow === 'early') return { ok: false, reason: 'not-yet-valid' };
  if (leafWindow === 'late') return { ok: false, reason: 'expired' };
  const caWindow = window(ca);
  if (caWindow === 'early') return { ok: false, reason: 'ca-not-yet-valid' };
  if (caWindow === 'late') return { ok: false, reason: 'ca-expired' };
  return { ok: true };
}

function parseCertificate(pem: string, what: string): InstanceType<typeof x509.X509Certificate> {
  try {
    return new x509.X509Certificate(pem);
  } catch (err) {
    throw new BerthError(errorCodes.CERT_INVALID, `read ${what}: ${(err as Error).message}`, { cause: err });
  }
}

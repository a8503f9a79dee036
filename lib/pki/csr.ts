/**
 * Certificate signing requests, the requester's side: a new key pair and a PKCS#10 request signed
 * with it. An agent makes one at join time and keeps the key; the controller signs the request with
 * `signCsr` (certificate-authority.ts), which decides the identity it certifies.
 */
import { buildName, type SubjectFields } from './distinguished-name.js';
import { exportPrivateKeyPem, generateKeyPair } from './keys.js';
import { ecSigningAlgorithm, x509 } from './x509-setup.js';

export interface CertificateSigningRequest {
  readonly csrPem: string;
  /** The new private key (PKCS#8 PEM). It never leaves the requester. */
  readonly keyPem: string;
}

/** A new ECDSA P-256 key and a PKCS#10 request for `subject`, self-signed with that key. */
export async function createCsr(subject: SubjectFields): Promise<CertificateSigningRequest> {
  const keys = await generateKeyPair();
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({
    name: buildName(subject),
    keys,
    signingAlgorithm: ecSigningAlgorithm,
  });
  return { csrPem: csr.toString('pem'), keyPem: await exportPrivateKeyPem(keys.privateKey) };
}

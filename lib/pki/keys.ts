/**
 * Private keys as Berth stores them: ECDSA P-256, PKCS#8 PEM ("PRIVATE KEY"), which Node's `tls`,
 * Go's crypto/tls (kubectl) and OpenSSL all read. Generation and signing go through WebCrypto; the
 * key-matches-certificate check uses Node's KeyObject because WebCrypto cannot derive a public key.
 */
import { createPrivateKey, createPublicKey, webcrypto } from 'node:crypto';

type CryptoKey = webcrypto.CryptoKey;
type CryptoKeyPair = webcrypto.CryptoKeyPair;
import { BerthError, errorCodes } from '../errors.js';
import { ecKeyAlgorithm, x509 } from './x509-setup.js';

const subtle = webcrypto.subtle;

/** WebCrypto curve names by OpenSSL's names, for the EC keys we can import. */
const curveByOpenSslName: Readonly<Record<string, string>> = {
  prime256v1: 'P-256',
  secp384r1: 'P-384',
  secp521r1: 'P-521',
};

/** A fresh, extractable ECDSA P-256 key pair for signing. */
export async function generateKeyPair(): Promise<CryptoKeyPair> {
  return subtle.generateKey(ecKeyAlgorithm, true, ['sign', 'verify']);
}

/** The private key as PKCS#8 PEM. The key must be extractable. */
export async function exportPrivateKeyPem(key: CryptoKey): Promise<string> {
  const der = await subtle.exportKey('pkcs8', key);
  return x509.PemConverter.encode(der, 'PRIVATE KEY');
}

/**
 * Reads a PKCS#8 or SEC1 ("EC PRIVATE KEY") PEM EC private key as a non-extractable signing key.
 * Throws `CERT_INVALID` for anything else (RSA, garbage, an unsupported curve).
 */
export async function importPrivateKeyPem(pem: string): Promise<CryptoKey> {
  let namedCurve: string | undefined;
  let pkcs8: Buffer;
  try {
    const keyObject = createPrivateKey(pem);
    if (keyObject.asymmetricKeyType !== 'ec') {
      throw new Error(`key type ${keyObject.asymmetricKeyType ?? 'unknown'} is not EC`);
    }
    namedCurve = curveByOpenSslName[keyObject.asymmetricKeyDetails?.namedCurve ?? ''];
    if (namedCurve === undefined) {
      throw new Error(`curve ${keyObject.asymmetricKeyDetails?.namedCurve ?? 'unknown'} is not supported`);
    }
    // Re-export so that SEC1 input becomes the PKCS#8 WebCrypto wants.
    pkcs8 = keyObject.export({ type: 'pkcs8', format: 'der' });
  } catch (err) {
    throw new BerthError(errorCodes.CERT_INVALID, `read private key: ${(err as Error).message}`, {
      cause: err,
    });
  }
  return subtle.importKey('pkcs8', pkcs8, { name: 'ECDSA', namedCurve }, false, ['sign']);
}

/**
 * Whether `keyPem` is the private key for the public key in `certPem`. False (not a throw) for a key
 * or certificate that cannot be read, since callers treat "unusable" and "mismatched" alike.
 */
export function keyMatchesCertificate(keyPem: string, certPem: string): boolean {
  try {
    const fromKey = createPublicKey(createPrivateKey(keyPem)).export({ type: 'spki', format: 'der' });
    const fromCert = Buffer.from(new x509.X509Certificate(certPem).publicKey.rawData);
    return fromKey.equals(fromCert);
  } catch {
    return false;
  }
}

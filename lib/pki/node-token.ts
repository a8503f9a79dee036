/**
 * The node join token, in k3s's "secure" format: `K10<ca-hash>::<user>:<secret>`, where `<ca-hash>` is
 * the SHA-256 (hex) of the cluster CA certificate. An agent given this one string can dial the
 * controller without trusting anything yet, check that the CA the controller presents hashes to
 * `<ca-hash>` (pinning, so no CA file has to be copied around), then prove itself with `<secret>`.
 *
 * Berth hashes the CA's DER encoding rather than k3s's PEM bytes, so line endings and PEM headers
 * cannot change the hash. A bare secret without the prefix is accepted too (no CA pinning).
 */
import { BerthError, errorCodes } from '../errors.js';
import { x509 } from './x509-setup.js';
import { createHash } from 'node:crypto';

/** The user name in node tokens the controller issues (k3s uses the same). */
export const nodeTokenUser = 'server';

export interface NodeToken {
  /** SHA-256 of the CA certificate's DER, lower-case hex; absent for a bare token. */
  readonly caHash?: string;
  readonly user?: string;
  readonly secret: string;
}

const securePattern = /^K10([0-9a-f]{64})::([^:\s]+):(\S+)$/;

/** SHA-256 of the first certificate in `caPem`, DER-encoded, lower-case hex. Throws `CERT_INVALID`. */
export function caCertHash(caPem: string): string {
  let der: ArrayBuffer;
  try {
    der = x509.PemConverter.decodeFirst(caPem);
  } catch (err) {
    throw new BerthError(errorCodes.CERT_INVALID, `read CA certificate: ${(err as Error).message}`, {
      cause: err,
    });
  }
  return createHash('sha256').update(Buffer.from(der)).digest('hex');
}

/** The full token for a CA and a secret. */
export function formatNodeToken(caPem: string, secret: string, user: string = nodeTokenUser): string {
  return `K10${caCertHash(caPem)}::${user}:${secret}`;
}

/**
 * Reads a token as typed by a user (surrounding whitespace ignored). `undefined` when it is neither
 * the secure format nor a bare secret (empty, or containing whitespace or a `K10` prefix that does not
 * parse).
 */
export function parseNodeToken(text: string): NodeToken | undefined {
  const token = text.trim();
  const m = securePattern.exec(token);
  if (m !== null) {
    const [, caHash, user, secret] = m;
    if (caHash === undefined || user === undefined || secret === undefined) return undefined;
    return { caHash, user, secret };
  }
  if (token === '' || /\s/.test(token) || token.startsWith('K10')) return undefined;
  return { secret: token };
}

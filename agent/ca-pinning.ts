/**
 * Finding the cluster CA from nothing but a `K10<ca hash>` join token (k3s's trick): open a TLS
 * connection to the gateway without trusting anything, take the certificate chain it presents (the
 * gateway sends its CA behind its serving certificate), and keep the certificate whose SHA-256 is the
 * token's hash. Only that CA is trusted from then on; the join itself then runs over a normally
 * verified connection, so a man in the middle without the CA's key learns nothing and gets nowhere.
 */
import { createHash } from 'node:crypto';
import { isIP } from 'node:net';
import { connect, type DetailedPeerCertificate } from 'node:tls';
import { BerthError, errorCodes } from '../lib/errors.js';

export interface PinnedCaOptions {
  readonly host: string;
  readonly port: number;
  /** SHA-256 of the CA certificate's DER, lower-case hex (the token's hash). */
  readonly caHash: string;
  readonly timeoutMs?: number;
  readonly signal?: AbortSignal;
}

/**
 * The PEM of the certificate in the gateway's chain that hashes to `caHash`. Throws `JOIN_REFUSED`
 * when none does (wrong address or a token of another cluster), and `PROCESS_FAILED` when the
 * gateway cannot be reached — which callers retry.
 */
export function fetchPinnedCa(opts: PinnedCaOptions): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect({
      host: opts.host,
      port: opts.port,
      // Nothing is trusted yet: the chain is checked against the pinned hash below instead.
      rejectUnauthorized: false,
      ALPNProtocols: ['h2'],
      ...(isIP(opts.host) === 0 ? { servername: opts.host } : {}),
      ...(opts.signal === undefined ? {} : { signal: opts.signal }),
    });
    socket.setTimeout(opts.timeoutMs ?? 10_000, () => {
      socket.destroy(new Error('timed out'));
    });
    socket.once('secureConnect', () => {
      const chain = chainOf(socket.getPeerCertificate(true));
      socket.destroy();
      const ca = chain.find((der) => createHash('sha256').update(der).digest('hex') === opts.caHash);
      if (ca === undefined) {
        reject(
          new BerthError(
            errorCodes.JOIN_REFUSED,
            `the controller at ${opts.host}:${opts.port} presented no CA certificate matching the join token's CA hash: ` +
              'check --server/--gateway, and that the token is from this cluster',
          ),
        );
        return;
      }
      resolve(toPem(ca));
    });
    socket.once('error', (err: Error) => {
      socket.destroy();
      reject(
        new BerthError(
          errorCodes.PROCESS_FAILED,
          `reach the controller at ${opts.host}:${opts.port}: ${err.message}`,
          {
            cause: err,
          },
        ),
      );
    });
  });
}

/** Every certificate of the presented chain, leaf first, as DER. */
function chainOf(leaf: DetailedPeerCertificate): Buffer[] {
  const out: Buffer[] = [];
  const seen = new Set<string>();
  // Node links each certificate to its issuer and a self-signed root to itself; where the peer sent
  // no issuer the link may be missing or an empty object, so read it as possibly absent.
  let cert: ChainLink | undefined = leaf;
  while (cert?.raw !== undefined && cert.fingerprint256 !== undefined && !seen.has(cert.fingerprint256)) {
    seen.add(cert.fingerprint256);
    out.push(cert.raw);
    cert = cert.issuerCertificate;
  }
  return out;
}

interface ChainLink {
  readonly raw?: Buffer;
  readonly fingerprint256?: string;
  readonly issuerCertificate?: ChainLink;
}

function toPem(der: Buffer): string {
  const b64 = der
    .toString('base64')
    .replace(/(.{64})/g, '$1\n')
    .trimEnd();
  return `-----BEGIN CERTIFICATE-----\n${b64}\n-----END CERTIFICATE-----\n`;
}

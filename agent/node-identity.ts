/**
 * The agent's node identity: its private key, the node certificate the controller signed at join,
 * and the cluster CA — kept in the agent's data dir and reused across restarts. A join (token + CSR
 * over NodeJoin.Join) happens only when there is no usable identity: none yet, another node name,
 * another cluster's CA, expiring within 30 days, or refused by the controller (`invalidate()`).
 *
 *   DATA_DIR/pki/        0700
 *     node.key           0600  ECDSA P-256, never leaves the host
 *     node.crt           0644  CN system:node:<name>, O system:nodes, clientAuth
 *     ca.crt             0644  the cluster CA, pinned by the token's hash at first join
 */
import { credentials, Metadata, status as grpcStatus, type ServiceError } from '@grpc/grpc-js';
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Clock } from '../lib/clock.js';
import { BerthError, errorCodes, errorMessage } from '../lib/errors.js';
import type { Logger } from '../lib/logger.js';
import { certificateInfo, verifyChain } from '../lib/pki/certificate-info.js';
import { createCsr } from '../lib/pki/csr.js';
import { keyMatchesCertificate } from '../lib/pki/keys.js';
import { caCertHash, parseNodeToken } from '../lib/pki/node-token.js';
import { writeFileAtomic } from '../lib/atomic-write.js';
import { NodeJoinClient, type JoinResponse } from '../proto/gen/berth/v1/agent.js';
import { fetchPinnedCa } from './ca-pinning.js';

/** What the agent needs for mTLS to the gateway. */
export interface NodeCredentials {
  readonly nodeName: string;
  readonly caPem: string;
  readonly certPem: string;
  readonly keyPem: string;
}

export interface NodeIdentityOptions {
  readonly dataDir: string;
  readonly nodeName: string;
  readonly token: string;
  /** The gateway to join at. */
  readonly gateway: { readonly host: string; readonly port: number };
  /** The cluster CA, when the token carries no CA hash to pin. */
  readonly caPem?: string;
  readonly clock: Clock;
  readonly logger: Logger;
  /** Time allowed for one join call (default 15 s). */
  readonly joinTimeoutMs?: number;
}

const renewBeforeMs = 30 * 24 * 60 * 60 * 1000;

/** Loads or obtains the node's credentials. One instance per agent. */
export class NodeIdentity {
  readonly #o: NodeIdentityOptions;
  #current: NodeCredentials | undefined;
  #joining: Promise<NodeCredentials> | undefined;

  constructor(opts: NodeIdentityOptions) {
    this.#o = opts;
  }

  /**
   * The credentials to connect with: stored ones if usable, else a fresh join. Throws `JOIN_REFUSED`
   * when the controller refuses the token or the CA does not match it, `CONFIG_INVALID` for a token
   * that cannot be used, and `PROCESS_FAILED` when the controller cannot be reached (worth a retry).
   */
  current(): Promise<NodeCredentials> {
    if (this.#current !== undefined) return Promise.resolve(this.#current);
    this.#joining ??= this.#loadOrJoin().finally(() => {
      this.#joining = undefined;
    });
    return this.#joining;
  }

  /** Forgets the credentials (the controller refused them); the next `current()` joins again. */
  invalidate(): void {
    this.#current = undefined;
  }

  get #paths(): { dir: string; key: string; cert: string; ca: string } {
    const dir = join(this.#o.dataDir, 'pki');
    return { dir, key: join(dir, 'node.key'), cert: join(dir, 'node.crt'), ca: join(dir, 'ca.crt') };
  }

  async #loadOrJoin(): Promise<NodeCredentials> {
    const token = parseNodeToken(this.#o.token);
    if (token === undefined) {
      throw new BerthError(
        errorCodes.CONFIG_INVALID,
        'the join token is malformed (expected K10<ca hash>::<id>:<secret>)',
      );
    }
    const stored = await this.#load(token.caHash);
    if (stored !== undefined) {
      this.#current = stored;
      return stored;
    }
    const joined = await this.#join(token.caHash);
    this.#current = joined;
    return joined;
  }

  /** The stored identity if it is usable as is. */
  async #load(caHash: string | undefined): Promise<NodeCredentials | undefined> {
    const p = this.#paths;
    const [keyPem, certPem, caPem] = await Promise.all([
      readOptional(p.key),
      readOptional(p.cert),
      readOptional(p.ca),
    ]);
    if (keyPem === undefined || certPem === undefined || caPem === undefined) return undefined;
    const log = this.#o.logger;
    try {
      if (caHash !== undefined && caCertHash(caPem) !== caHash) {
        log.info('stored CA is not the one the join token names; joining again');
        return undefined;
      }
      if (this.#o.caPem !== undefined && caCertHash(this.#o.caPem) !== caCertHash(caPem)) return undefined;
      const info = certificateInfo(certPem);
      if (info.commonName !== `system:node:${this.#o.nodeName}`) {
        log.info(
          { certificate: info.commonName },
          'stored node certificate is for another node name; joining again',
        );
        return undefined;
      }
      if (!keyMatchesCertificate(keyPem, certPem)) return undefined;
      const now = this.#o.clock.now();
      const verdict = await verifyChain(certPem, caPem, { now });
      if (!verdict.ok) {
        log.info({ reason: verdict.reason }, 'stored node certificate is not valid; joining again');
        return undefined;
      }
      if (info.notAfter.getTime() - now < renewBeforeMs) {
        log.info({ notAfter: info.notAfter.toISOString() }, 'node certificate expires soon; joining again');
        return undefined;
      }
    } catch (err) {
      log.warn({ err: errorMessage(err) }, 'stored node identity is unreadable; joining again');
      return undefined;
    }
    return { nodeName: this.#o.nodeName, caPem, certPem, keyPem };
  }

  async #join(caHash: string | undefined): Promise<NodeCredentials> {
    const { host, port } = this.#o.gateway;
    let caPem = this.#o.caPem;
    if (caPem === undefined) {
      if (caHash === undefined) {
        throw new BerthError(
          errorCodes.CONFIG_INVALID,
          'the join token carries no CA hash, so the controller cannot be verified: use the full K10… token ' +
            '(DATA_DIR/node-token on the server, or `berth token create`), or pass --ca-file',
        );
      }
      caPem = await fetchPinnedCa({ host, port, caHash });
    }
    const csr = await createCsr({
      commonName: `system:node:${this.#o.nodeName}`,
      organization: 'system:nodes',
    });
    const response = await this.#callJoin(caPem, csr.csrPem);
    if (caHash !== undefined && caCertHash(response.caPem) !== caHash) {
      throw new BerthError(
        errorCodes.JOIN_REFUSED,
        "the controller returned a CA that does not match the join token's hash",
      );
    }
    if (!keyMatchesCertificate(csr.keyPem, response.certPem)) {
      throw new BerthError(errorCodes.JOIN_REFUSED, 'the controller returned a certificate for another key');
    }
    const p = this.#paths;
    try {
      await mkdir(p.dir, { recursive: true, mode: 0o700 });
      // Key first: a crash before the certificate is written only costs a new join.
      await writeFileAtomic(p.key, csr.keyPem, 0o600);
      await writeFileAtomic(p.ca, response.caPem, 0o644);
      await writeFileAtomic(p.cert, response.certPem, 0o644);
    } catch (err) {
      throw new BerthError(
        errorCodes.CONFIG_INVALID,
        `store the node identity in ${p.dir}: ${errorMessage(err)}`,
        {
          cause: err,
        },
      );
    }
    this.#o.logger.info({ dir: p.dir }, 'joined the cluster');
    return {
      nodeName: this.#o.nodeName,
      caPem: response.caPem,
      certPem: response.certPem,
      keyPem: csr.keyPem,
    };
  }

  #callJoin(caPem: string, csrPem: string): Promise<JoinResponse> {
    const { host, port } = this.#o.gateway;
    const client = new NodeJoinClient(grpcTarget(host, port), credentials.createSsl(Buffer.from(caPem)));
    const deadline = new Date(this.#o.clock.now() + (this.#o.joinTimeoutMs ?? 15_000));
    return new Promise<JoinResponse>((resolve, reject) => {
      client.join(
        { token: this.#o.token.trim(), nodeName: this.#o.nodeName, csrPem },
        new Metadata(),
        { deadline },
        (err: ServiceError | null, response: JoinResponse) => {
          if (err === null) {
            resolve(response);
            return;
          }
          const refused =
            err.code === grpcStatus.UNAUTHENTICATED ||
            err.code === grpcStatus.INVALID_ARGUMENT ||
            err.code === grpcStatus.PERMISSION_DENIED;
          reject(
            new BerthError(
              refused ? errorCodes.JOIN_REFUSED : errorCodes.PROCESS_FAILED,
              refused
                ? `the controller refused the join: ${err.details}`
                : `join at ${host}:${port}: ${err.details}`,
              { cause: err },
            ),
          );
        },
      );
    }).finally(() => {
      client.close();
    });
  }
}

/** A grpc-js target for `host:port`, brackets around IPv6 literals. */
export function grpcTarget(host: string, port: number): string {
  return `${host.includes(':') ? `[${host}]` : host}:${port}`;
}

async function readOptional(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch {
    return undefined;
  }
}

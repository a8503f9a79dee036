/**
 * Join: a join token and a certificate signing request in, a node client certificate out. The token
 * is checked against the data dir on every call (node-tokens.ts); the certificate's subject is
 * decided here — `system:node:<name>` in `system:nodes`, client authentication only — whatever the
 * request asked for, so a token holder can get a node identity and nothing more.
 */
import type { Clock } from '../../lib/clock.js';
import { errorMessage, isBerthError, errorCodes } from '../../lib/errors.js';
import type { Logger } from '../../lib/logger.js';
import { signCsr, type CertificateAuthority } from '../../lib/pki/certificate-authority.js';
import { isDNS1123Subdomain } from '../../api/validation/names.js';
import { nodeSubject } from './node-identity.js';
import type { NodeTokenStore } from './node-tokens.js';

export interface JoinRequestInput {
  readonly token: string;
  readonly nodeName: string;
  readonly csrPem: string;
}

/** A signed certificate, or why not: a bad token (`unauthenticated`) or a bad request (`invalid`). */
export type JoinOutcome =
  | { readonly ok: true; readonly certPem: string; readonly caPem: string }
  | { readonly ok: false; readonly reason: 'unauthenticated' | 'invalid'; readonly message: string };

export interface JoinServiceOptions {
  readonly ca: CertificateAuthority;
  readonly tokens: NodeTokenStore;
  readonly clock: Clock;
  readonly logger: Logger;
  /** Lifetime of node certificates (default 365 days; never beyond the CA's). */
  readonly certValidDays?: number;
}

export class JoinService {
  readonly #d: JoinServiceOptions;

  constructor(opts: JoinServiceOptions) {
    this.#d = opts;
  }

  /** Checks the token and name, then signs the request. Throws only for unexpected failures. */
  async join(req: JoinRequestInput): Promise<JoinOutcome> {
    const log = this.#d.logger;
    const nameProblems = isDNS1123Subdomain(req.nodeName);
    if (nameProblems.length > 0) {
      return {
        ok: false,
        reason: 'invalid',
        message: `invalid node name "${req.nodeName}": ${nameProblems.join('; ')}`,
      };
    }
    const verdict = await this.#d.tokens.verify(req.token);
    if (!verdict.ok) {
      log.warn({ node: req.nodeName, reason: verdict.reason }, 'join refused');
      return { ok: false, reason: 'unauthenticated', message: `join refused: ${verdict.reason}` };
    }
    let certPem: string;
    try {
      certPem = await signCsr(this.#d.ca, req.csrPem, {
        usages: ['clientAuth'],
        subject: nodeSubject(req.nodeName),
        validDays: this.#d.certValidDays ?? 365,
        now: this.#d.clock.now(),
      });
    } catch (err) {
      if (isBerthError(err, errorCodes.CERT_INVALID)) {
        return { ok: false, reason: 'invalid', message: errorMessage(err) };
      }
      throw err;
    }
    log.info({ node: req.nodeName, token: verdict.id }, 'node joined; certificate issued');
    return { ok: true, certPem, caPem: this.#d.ca.certPem };
  }
}

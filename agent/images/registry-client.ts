/**
 * A Distribution API v2 client for pulling: manifests (by tag or digest, all four media types in
 * `Accept`), small blobs into memory with a size cap and digest check, and large blobs as a byte
 * stream that survives broken connections by resuming with `Range`.
 *
 * Per request: redirects are followed by hand (up to 5; `Authorization` is dropped when the origin
 * changes, so S3-style 307s never see registry credentials); 401 challenges are answered (Basic, or a
 * Bearer token from the realm — tokens cached until expiry, `insufficient_scope` re-asked with the
 * wider scope); 429 and 5xx and connection failures are retried with exponential back-off, honouring
 * `Retry-After`; a request or body that makes no progress for `noProgressTimeoutMs` is cut and retried.
 * Registries on loopback (and ones marked insecure) that do not speak TLS are used over plain HTTP.
 *
 * Expected negatives from a registry — manifest not found, credentials refused — are values
 * (`ManifestResult`); everything else is a thrown `BerthError`.
 */
import type { Clock } from '../../lib/clock.js';
import { BerthError, errorCodes, errorMessage } from '../../lib/errors.js';
import type { Logger } from '../../lib/logger.js';
import { DigestHasher, parseDigest } from './digest.js';
import type { RegistryCredentials } from './image-service.js';
import { manifestAccept, type Descriptor } from './manifest.js';
import type { RegistryEndpoint } from './registries-config.js';
import type { RegistryHttp } from './registry-http.js';
import { parseWwwAuthenticate, type AuthChallenge } from './www-authenticate.js';

export interface RegistryClientOptions {
  readonly http: RegistryHttp;
  readonly clock: Clock;
  readonly logger?: Logger;
  /** Attempts per request for retriable failures (network errors, 429, 5xx). Default 5. */
  readonly maxAttempts?: number;
  /** First back-off; doubled per attempt up to `maxBackoffMs`. Default 250 ms. */
  readonly initialBackoffMs?: number;
  /** Default 8 s. */
  readonly maxBackoffMs?: number;
  /** Cut a request or body that delivers nothing for this long, then retry/resume. Default 60 s. */
  readonly noProgressTimeoutMs?: number;
  /** Resumptions of one blob allowed without any new byte arriving in between. Default 3 (as containerd). */
  readonly maxResumesWithoutProgress?: number;
  readonly userAgent?: string;
}

/** Where to pull from and as whom. */
export interface RegistryTarget {
  readonly endpoint: RegistryEndpoint;
  readonly credentials?: RegistryCredentials;
}

export type ManifestResult =
  | {
      readonly ok: true;
      readonly bytes: Buffer;
      readonly contentType: string | undefined;
      /** The digest of `bytes` (verified against the requested digest and `Docker-Content-Digest`). */
      readonly digest: string;
    }
  | { readonly ok: false; readonly reason: 'NotFound' | 'Unauthorized'; readonly message: string };

interface TokenEntry {
  readonly token: string;
  readonly expiresAt: number;
}

type HostAuth =
  | { readonly kind: 'basic' }
  | {
      readonly kind: 'bearer';
      readonly realm: string;
      readonly service: string | undefined;
      scopes: Set<string>;
    };

/** A stalled request/body; retriable. */
class StallError extends Error {
  constructor(ms: number) {
    super(`no data for ${ms} ms`);
    this.name = 'StallError';
  }
}

const retriableStatuses = new Set([408, 425, 429, 500, 502, 503, 504]);
const redirectStatuses = new Set([301, 302, 303, 307, 308]);
const certErrorCodes = new Set([
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'CERT_UNTRUSTED',
  'CERT_REJECTED',
  'ERR_TLS_CERT_ALTNAME_INVALID',
  'HOSTNAME_MISMATCH',
]);

/** The innermost `code` of an error chain (fetch wraps socket errors as `TypeError: fetch failed`). */
function errorCode(err: unknown): string | undefined {
  let e: unknown = err;
  for (let i = 0; i < 5 && e instanceof Error; i++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string') return code;
    e = e.cause;
  }
  return undefined;
}

function describeError(err: unknown): string {
  const parts: string[] = [];
  let e: unknown = err;
  for (let i = 0; i < 4 && e !== undefined; i++) {
    const m = errorMessage(e);
    if (m !== '' && !parts.includes(m)) parts.push(m);
    e = e instanceof Error ? e.cause : undefined;
  }
  return parts.join(': ');
}

function asError(e: unknown): Error {
  return e instanceof Error ? e : new Error(String(e));
}

function isCertError(err: unknown): boolean {
  const code = errorCode(err);
  return code !== undefined && certErrorCodes.has(code);
}

async function discard(res: Response): Promise<void> {
  try {
    await res.body?.cancel();
  } catch {
    // the connection is going away anyway
  }
}

/** A short, safe summary of a registry error body (`{"errors":[{"code","message"}]}`). */
async function errorSummary(res: Response): Promise<string> {
  let text: string;
  try {
    text = (await readCapped(res, 16 * 1024, undefined)).toString('utf8');
  } catch {
    return `HTTP ${res.status}`;
  }
  try {
    const v = JSON.parse(text) as { errors?: { code?: unknown; message?: unknown }[] };
    const first = v.errors?.[0];
    if (first !== undefined) {
      const code = typeof first.code === 'string' ? first.code : '';
      const message = typeof first.message === 'string' ? first.message : '';
      return `HTTP ${res.status} ${code}${message === '' ? '' : `: ${message}`}`.trim();
    }
  } catch {
    // not JSON
  }
  const flat = text.replace(/\s+/g, ' ').trim().slice(0, 200);
  return flat === '' ? `HTTP ${res.status}` : `HTTP ${res.status}: ${flat}`;
}

/** Reads a whole body, failing once it passes `cap` bytes. */
async function readCapped(res: Response, cap: number, onChunk: (() => void) | undefined): Promise<Buffer> {
  const chunks: Uint8Array[] = [];
  let total = 0;
  if (res.body === null) return Buffer.alloc(0);
  for await (const chunk of res.body as AsyncIterable<Uint8Array>) {
    onChunk?.();
    total += chunk.byteLength;
    if (total > cap) {
      await discard(res);
      throw new BerthError(errorCodes.IMAGE_INVALID, `response larger than the ${cap}-byte limit`);
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks, total);
}

function credentialKey(c: RegistryCredentials | undefined): string {
  if (c === undefined) return 'anonymous';
  return JSON.stringify([c.username, c.password, c.identityToken, c.registryToken]);
}

export class RegistryClient {
  readonly #http: RegistryHttp;
  readonly #clock: Clock;
  readonly #logger: Logger | undefined;
  readonly #maxAttempts: number;
  readonly #initialBackoffMs: number;
  readonly #maxBackoffMs: number;
  readonly #noProgressMs: number;
  readonly #maxResumes: number;
  readonly #userAgent: string;
  /** host → scheme that worked, for endpoints allowed to fall back to plain HTTP. */
  readonly #schemes = new Map<string, 'https' | 'http'>();
  /** `host|credentials` → the last challenge seen, so later requests authenticate up front. */
  readonly #hostAuth = new Map<string, HostAuth>();
  readonly #tokens = new Map<string, TokenEntry>();

  constructor(opts: RegistryClientOptions) {
    this.#http = opts.http;
    this.#clock = opts.clock;
    this.#logger = opts.logger;
    this.#maxAttempts = Math.max(1, opts.maxAttempts ?? 5);
    this.#initialBackoffMs = opts.initialBackoffMs ?? 250;
    this.#maxBackoffMs = opts.maxBackoffMs ?? 8000;
    this.#noProgressMs = opts.noProgressTimeoutMs ?? 60_000;
    this.#maxResumes = opts.maxResumesWithoutProgress ?? 3;
    this.#userAgent = opts.userAgent ?? 'berth';
  }

  /** GETs `reference` (tag or digest) from the target's repository. */
  async getManifest(
    target: RegistryTarget,
    reference: string,
    signal?: AbortSignal,
  ): Promise<ManifestResult> {
    const where = `${target.endpoint.host}/${target.endpoint.repository}:${reference}`;
    const stall = this.#stallWatch(signal);
    let res: Response;
    let bytes: Buffer;
    try {
      try {
        res = await this.#request(
          target,
          `manifests/${encodeURIComponent(reference)}`,
          { accept: manifestAccept },
          stall.signal,
        );
      } catch (err) {
        if (err instanceof BerthError && err.code === errorCodes.IMAGE_UNAUTHORIZED) {
          return { ok: false, reason: 'Unauthorized', message: `${where}: ${err.message}` };
        }
        throw err;
      }
      if (res.status === 404) {
        const summary = await errorSummary(res);
        return { ok: false, reason: 'NotFound', message: `${where}: not found (${summary})` };
      }
      if (res.status === 401 || res.status === 403) {
        const summary = await errorSummary(res);
        return {
          ok: false,
          reason: 'Unauthorized',
          message: `${where}: ${target.credentials === undefined ? 'authentication required' : 'credentials refused'} (${summary})`,
        };
      }
      if (!res.ok) {
        throw new BerthError(errorCodes.IMAGE_REGISTRY, `GET manifest ${where}: ${await errorSummary(res)}`);
      }
      try {
        bytes = await readCapped(res, 4 * 1024 * 1024, stall.progress);
      } catch (err) {
        if (signal?.aborted === true) throw asError(signal.reason);
        if (err instanceof BerthError) throw err;
        throw new BerthError(errorCodes.IMAGE_REGISTRY, `GET manifest ${where}: ${describeError(err)}`, {
          cause: err,
        });
      }
    } finally {
      stall.stop();
    }
    const hasher = new DigestHasher('sha256');
    hasher.update(bytes);
    let digest = hasher.finish();
    const wanted = parseDigest(reference);
    if (wanted !== undefined) {
      const h = new DigestHasher(wanted.algorithm);
      h.update(bytes);
      const got = h.finish();
      if (got !== wanted.digest) {
        throw new BerthError(
          errorCodes.IMAGE_INVALID,
          `manifest ${where}: digest mismatch (got ${got}); the registry served different content`,
        );
      }
      digest = got;
    } else {
      const header = res.headers.get('docker-content-digest');
      const hd = header === null ? undefined : parseDigest(header.trim());
      if (hd !== undefined && hd.algorithm === 'sha256' && hd.digest !== digest) {
        throw new BerthError(
          errorCodes.IMAGE_INVALID,
          `manifest ${where}: body digest ${digest} does not match Docker-Content-Digest ${hd.digest}`,
        );
      }
    }
    return { ok: true, bytes, contentType: res.headers.get('content-type') ?? undefined, digest };
  }

  /** A small blob (an image config) into memory, capped at `maxBytes`, size and digest verified. */
  async getBlobBytes(
    target: RegistryTarget,
    desc: Descriptor,
    maxBytes: number,
    signal?: AbortSignal,
  ): Promise<Buffer> {
    const parsed = parseDigest(desc.digest);
    if (parsed === undefined) throw new BerthError(errorCodes.IMAGE_INVALID, `invalid digest ${desc.digest}`);
    if (desc.size > maxBytes) {
      throw new BerthError(
        errorCodes.IMAGE_INVALID,
        `blob ${desc.digest} is ${desc.size} bytes, over the ${maxBytes} limit`,
      );
    }
    const chunks: Uint8Array[] = [];
    for await (const chunk of this.blobStream(target, desc, signal)) chunks.push(chunk);
    const bytes = Buffer.concat(chunks);
    const h = new DigestHasher(parsed.algorithm);
    h.update(bytes);
    const got = h.finish();
    if (got !== desc.digest) {
      throw new BerthError(errorCodes.IMAGE_INVALID, `blob ${desc.digest}: digest mismatch (got ${got})`);
    }
    return bytes;
  }

  /**
   * The blob's bytes, exactly `desc.size` of them, resuming with `Range` after a broken connection or a
   * stall. The consumer hashes them; this only guarantees the count (more bytes than declared is an
   * error at once, fewer after the retries is an error too).
   */
  async *blobStream(
    target: RegistryTarget,
    desc: Descriptor,
    signal?: AbortSignal,
  ): AsyncGenerator<Uint8Array> {
    if (parseDigest(desc.digest) === undefined) {
      throw new BerthError(errorCodes.IMAGE_INVALID, `invalid digest ${desc.digest}`);
    }
    const where = `${target.endpoint.host}/${target.endpoint.repository}@${desc.digest}`;
    let offset = 0;
    let resumesWithoutProgress = 0;
    for (;;) {
      const headers: Record<string, string> = {};
      if (offset > 0) headers['range'] = `bytes=${offset}-`;
      const stall = this.#stallWatch(signal);
      let progressed = false;
      try {
        const res = await this.#request(target, `blobs/${desc.digest}`, { headers }, stall.signal);
        if (res.status === 401 || res.status === 403) {
          throw new BerthError(
            errorCodes.IMAGE_UNAUTHORIZED,
            `GET blob ${where}: ${await errorSummary(res)}`,
          );
        }
        if (res.status === 404) {
          throw new BerthError(errorCodes.IMAGE_REGISTRY, `GET blob ${where}: ${await errorSummary(res)}`);
        }
        if (res.status === 416 && offset >= desc.size) {
          await discard(res);
          return;
        }
        if (!res.ok)
          throw new BerthError(errorCodes.IMAGE_REGISTRY, `GET blob ${where}: ${await errorSummary(res)}`);
        let skip = 0;
        if (offset > 0) {
          if (res.status === 206) {
            const m = /^bytes (\d+)-/.exec(res.headers.get('content-range') ?? '');
            const start = m === null ? NaN : Number(m[1]);
            if (!Number.isSafeInteger(start) || start > offset) {
              await discard(res);
              throw new BerthError(
                errorCodes.IMAGE_REGISTRY,
                `GET blob ${where}: asked for bytes from ${offset}, got Content-Range "${res.headers.get('content-range') ?? ''}"`,
              );
            }
            skip = offset - start;
          } else {
            // 200: the registry ignored Range; read from the start and drop what we have.
            skip = offset;
          }
        }
        if (res.body === null)
          throw new BerthError(errorCodes.IMAGE_REGISTRY, `GET blob ${where}: empty body`);
        // Read with our own reader and cancel it ourselves when the watch fires: undici follows the
        // request's signal only weakly, and after a garbage collection an abort (the pull's total
        // timeout) could be lost while the body waited on a stalled connection (undici#3644).
        const reader = (res.body as ReadableStream<Uint8Array>).getReader();
        let drained = false;
        const cancel = (): void => {
          reader.cancel(stall.signal.reason).catch(() => undefined);
        };
        stall.signal.addEventListener('abort', cancel, { once: true });
        try {
          for (;;) {
            const next = await reader.read();
            if (next.done) {
              drained = true;
              break;
            }
            const raw = next.value;
            stall.progress();
            let chunk = raw;
            if (skip > 0) {
              if (chunk.byteLength <= skip) {
                skip -= chunk.byteLength;
                continue;
              }
              chunk = chunk.subarray(skip);
              skip = 0;
            }
            if (offset + chunk.byteLength > desc.size) {
              throw new BerthError(
                errorCodes.IMAGE_INVALID,
                `blob ${where}: more than the ${desc.size} bytes its descriptor declares`,
              );
            }
            offset += chunk.byteLength;
            progressed = true;
            yield chunk;
          }
        } finally {
          stall.signal.removeEventListener('abort', cancel);
          // Stopped early (an error, the consumer returned): drop the rest of the body.
          if (!drained) reader.cancel().catch(() => undefined);
        }
        if (stall.signal.aborted) throw asError(stall.signal.reason);
        if (offset === desc.size) return;
        throw new Error(`connection closed after ${offset} of ${desc.size} bytes`);
      } catch (err) {
        if (signal?.aborted === true) throw asError(signal.reason);
        if (err instanceof BerthError) throw err;
        if (progressed) resumesWithoutProgress = 0;
        else resumesWithoutProgress++;
        if (resumesWithoutProgress > this.#maxResumes) {
          throw new BerthError(
            errorCodes.IMAGE_REGISTRY,
            `GET blob ${where}: failed at byte ${offset} of ${desc.size} after ${this.#maxResumes} retries without progress: ${describeError(err)}`,
            { cause: err },
          );
        }
        this.#logger?.debug(
          { blob: desc.digest, offset, err: describeError(err) },
          'blob download interrupted; resuming',
        );
        await this.#clock.sleep(this.#backoff(resumesWithoutProgress), signal);
      } finally {
        stall.stop();
      }
    }
  }

  #backoff(attempt: number): number {
    return Math.min(this.#maxBackoffMs, this.#initialBackoffMs * 2 ** Math.max(0, attempt - 1));
  }

  /**
   * An abort signal that fires when `progress()` has not been called for the no-progress timeout, or
   * when `parent` aborts. One repeating timer per watch, not one per chunk; `AbortSignal.any` keeps no
   * listener on the long-lived parent after the watch is gone.
   */
  #stallWatch(parent: AbortSignal | undefined): {
    signal: AbortSignal;
    progress: () => void;
    stop: () => void;
  } {
    const ac = new AbortController();
    let last = this.#clock.now();
    const period = Math.max(10, Math.floor(this.#noProgressMs / 4));
    const timer = this.#clock.setTimer(
      period,
      () => {
        if (this.#clock.now() - last >= this.#noProgressMs) ac.abort(new StallError(this.#noProgressMs));
      },
      { repeat: true },
    );
    return {
      signal: parent === undefined ? ac.signal : AbortSignal.any([parent, ac.signal]),
      progress: () => {
        last = this.#clock.now();
      },
      stop: () => {
        timer.cancel();
      },
    };
  }

  /** One API request with auth, redirects and retries. Returns the final response (any status). */
  async #request(
    target: RegistryTarget,
    path: string,
    opts: { readonly accept?: string; readonly headers?: Record<string, string>; readonly method?: string },
    signal: AbortSignal | undefined,
  ): Promise<Response> {
    const scope = `repository:${target.endpoint.repository}:pull`;
    const authKey = `${target.endpoint.host}|${credentialKey(target.credentials)}`;
    let attempt = 0;
    let authRounds = 0;
    for (;;) {
      signal?.throwIfAborted();
      const headers: Record<string, string> = { 'user-agent': this.#userAgent, ...opts.headers };
      if (opts.accept !== undefined) headers['accept'] = opts.accept;
      const authorization = await this.#authorization(target, authKey, scope, signal);
      if (authorization !== undefined) headers['authorization'] = authorization;
      let res: Response;
      // A watch for the wait until headers arrive; the body stays tied to its signal (and so to `signal`).
      const headersWatch = this.#stallWatch(signal);
      try {
        res = await this.#fetchEndpoint(
          target,
          path,
          { method: opts.method ?? 'GET', headers },
          headersWatch.signal,
        );
      } catch (err) {
        if (signal?.aborted === true) throw asError(signal.reason);
        if (err instanceof BerthError) throw err;
        const cause: unknown = headersWatch.signal.aborted ? headersWatch.signal.reason : err;
        attempt++;
        if (attempt >= this.#maxAttempts || isCertError(err)) {
          throw new BerthError(
            errorCodes.IMAGE_REGISTRY,
            `${target.endpoint.host}: ${describeError(cause)}${
              isCertError(err) ? ' (TLS certificate not trusted; configure a CA for this registry)' : ''
            }`,
            { cause },
          );
        }
        await this.#clock.sleep(this.#backoff(attempt), signal);
        continue;
      } finally {
        headersWatch.stop();
      }
      if (res.status === 401 && authRounds < 3 && target.credentials?.registryToken === undefined) {
        const challenges = parseWwwAuthenticate(res.headers.get('www-authenticate'));
        if (this.#answerChallenge(target, authKey, scope, challenges)) {
          await discard(res);
          authRounds++;
          continue;
        }
        return res;
      }
      if (retriableStatuses.has(res.status) && attempt + 1 < this.#maxAttempts) {
        attempt++;
        const wait = this.#retryAfter(res) ?? this.#backoff(attempt);
        this.#logger?.debug({ status: res.status, path, wait }, 'registry asked us to retry');
        await discard(res);
        await this.#clock.sleep(wait, signal);
        continue;
      }
      return res;
    }
  }

  #retryAfter(res: Response): number | undefined {
    const h = res.headers.get('retry-after');
    if (h === null) return undefined;
    const seconds = Number(h);
    let ms: number;
    if (Number.isFinite(seconds)) ms = seconds * 1000;
    else {
      const at = Date.parse(h);
      if (Number.isNaN(at)) return undefined;
      ms = at - this.#clock.now();
    }
    return Math.min(60_000, Math.max(0, ms));
  }

  /** The Authorization header to send, from what we learnt of this host. */
  async #authorization(
    target: RegistryTarget,
    authKey: string,
    scope: string,
    signal: AbortSignal | undefined,
  ): Promise<string | undefined> {
    const creds = target.credentials;
    if (creds?.registryToken !== undefined) return `Bearer ${creds.registryToken}`;
    const state = this.#hostAuth.get(authKey);
    if (state === undefined) return undefined;
    if (state.kind === 'basic') {
      return creds?.username === undefined
        ? undefined
        : `Basic ${Buffer.from(`${creds.username}:${creds.password ?? ''}`).toString('base64')}`;
    }
    state.scopes.add(scope);
    const token = await this.#token(target, state, signal);
    return `Bearer ${token}`;
  }

  /** Updates what we know from a 401's challenges; false when nothing we could send would do better. */
  #answerChallenge(
    target: RegistryTarget,
    authKey: string,
    scope: string,
    challenges: readonly AuthChallenge[],
  ): boolean {
    const bearer = challenges.find((c) => c.scheme === 'bearer');
    const previous = this.#hostAuth.get(authKey);
    if (bearer !== undefined) {
      const realm = bearer.params['realm'];
      if (realm === undefined || !/^https?:\/\//i.test(realm)) return false;
      const service = bearer.params['service'];
      const scopes = new Set<string>([scope]);
      for (const s of (bearer.params['scope'] ?? '').split(' ')) if (s !== '') scopes.add(s);
      const next: HostAuth = { kind: 'bearer', realm, service, scopes };
      if (previous?.kind === 'bearer' && previous.realm === realm && previous.service === service) {
        const widened = [...scopes].some((s) => !previous.scopes.has(s));
        // Same realm and no new scope: the token we sent was refused; forget it and try one fresh one.
        for (const s of scopes) previous.scopes.add(s);
        const key = this.#tokenKey(target, previous);
        const had = this.#tokens.delete(key);
        return widened || had;
      }
      this.#hostAuth.set(authKey, next);
      return true;
    }
    const basic = challenges.find((c) => c.scheme === 'basic');
    if (basic !== undefined) {
      if (target.credentials?.username === undefined) return false;
      if (previous?.kind === 'basic') return false;
      this.#hostAuth.set(authKey, { kind: 'basic' });
      return true;
    }
    return false;
  }

  #tokenKey(target: RegistryTarget, state: Extract<HostAuth, { kind: 'bearer' }>): string {
    return JSON.stringify([
      state.realm,
      state.service,
      [...state.scopes].sort(),
      credentialKey(target.credentials),
    ]);
  }

  /** A cached or fresh bearer token for the scopes in `state`. */
  async #token(
    target: RegistryTarget,
    state: Extract<HostAuth, { kind: 'bearer' }>,
    signal: AbortSignal | undefined,
  ): Promise<string> {
    const key = this.#tokenKey(target, state);
    const cached = this.#tokens.get(key);
    if (cached !== undefined && cached.expiresAt > this.#clock.now()) return cached.token;
    const creds = target.credentials;
    const scopes = [...state.scopes].sort();
    const realmUrl = new URL(state.realm);
    const sameHost = realmUrl.host === target.endpoint.host;
    const dispatcher = sameHost ? this.#http.dispatcherFor(target.endpoint.tls) : undefined;
    let res: Response;
    const headers: Record<string, string> = { 'user-agent': this.#userAgent };
    if (creds?.identityToken !== undefined) {
      const form = new URLSearchParams({
        grant_type: 'refresh_token',
        refresh_token: creds.identityToken,
        client_id: 'berth',
        access_type: 'offline',
        ...(state.service === undefined ? {} : { service: state.service }),
        scope: scopes.join(' '),
      });
      headers['content-type'] = 'application/x-www-form-urlencoded';
      res = await this.#fetchWithRetries(
        state.realm,
        { method: 'POST', headers, body: form.toString(), dispatcher },
        signal,
      );
    } else {
      if (state.service !== undefined) realmUrl.searchParams.set('service', state.service);
      for (const s of scopes) realmUrl.searchParams.append('scope', s);
      if (creds?.username !== undefined) {
        realmUrl.searchParams.set('account', creds.username);
        headers['authorization'] =
          `Basic ${Buffer.from(`${creds.username}:${creds.password ?? ''}`).toString('base64')}`;
      }
      res = await this.#fetchWithRetries(realmUrl.href, { method: 'GET', headers, dispatcher }, signal);
    }
    if (res.status === 401 || res.status === 403) {
      throw new BerthError(
        errorCodes.IMAGE_UNAUTHORIZED,
        `token server ${realmUrl.origin} refused ${creds === undefined ? 'anonymous access' : 'the credentials'}: ${await errorSummary(res)}`,
      );
    }
    if (!res.ok) {
      throw new BerthError(
        errorCodes.IMAGE_REGISTRY,
        `token server ${realmUrl.origin}: ${await errorSummary(res)}`,
      );
    }
    let body: { token?: unknown; access_token?: unknown; expires_in?: unknown };
    try {
      body = JSON.parse((await readCapped(res, 1024 * 1024, undefined)).toString('utf8')) as typeof body;
    } catch (err) {
      throw new BerthError(errorCodes.IMAGE_REGISTRY, `token server ${realmUrl.origin}: bad response`, {
        cause: err,
      });
    }
    const token =
      typeof body.token === 'string' && body.token !== ''
        ? body.token
        : typeof body.access_token === 'string'
          ? body.access_token
          : undefined;
    if (token === undefined) {
      throw new BerthError(
        errorCodes.IMAGE_REGISTRY,
        `token server ${realmUrl.origin}: no token in response`,
      );
    }
    // The spec's minimum lifetime is 60 s; keep a 10 s margin so a token never expires in flight.
    const lifetime = typeof body.expires_in === 'number' && body.expires_in > 0 ? body.expires_in : 60;
    if (this.#tokens.size >= 256) {
      const now = this.#clock.now();
      for (const [k, v] of this.#tokens) if (v.expiresAt <= now) this.#tokens.delete(k);
    }
    this.#tokens.set(key, { token, expiresAt: this.#clock.now() + Math.max(0, lifetime - 10) * 1000 });
    return token;
  }

  /** fetch with retries for network errors and 429/5xx; no auth, no redirects beyond `#follow`'s. */
  async #fetchWithRetries(
    url: string,
    init: { method: string; headers: Record<string, string>; body?: string; dispatcher: unknown },
    signal: AbortSignal | undefined,
  ): Promise<Response> {
    for (let attempt = 1; ; attempt++) {
      let res: Response;
      try {
        res = await this.#follow(url, init, signal);
      } catch (err) {
        if (signal?.aborted === true) throw asError(signal.reason);
        if (attempt >= this.#maxAttempts || isCertError(err) || err instanceof BerthError) {
          throw new BerthError(errorCodes.IMAGE_REGISTRY, `${new URL(url).origin}: ${describeError(err)}`, {
            cause: err,
          });
        }
        await this.#clock.sleep(this.#backoff(attempt), signal);
        continue;
      }
      if (retriableStatuses.has(res.status) && attempt < this.#maxAttempts) {
        const wait = this.#retryAfter(res) ?? this.#backoff(attempt);
        await discard(res);
        await this.#clock.sleep(wait, signal);
        continue;
      }
      return res;
    }
  }

  /** Sends to the endpoint, choosing https or (for loopback/insecure registries that lack TLS) http. */
  async #fetchEndpoint(
    target: RegistryTarget,
    path: string,
    init: { method: string; headers: Record<string, string> },
    signal: AbortSignal | undefined,
  ): Promise<Response> {
    const ep = target.endpoint;
    const url = `${ep.apiBase}/${ep.repository}/${path}`;
    const dispatcher = this.#http.dispatcherFor(ep.tls);
    if (!ep.plainHttpFallback || !url.startsWith('https://')) {
      return this.#follow(url, { ...init, dispatcher }, signal);
    }
    const known = this.#schemes.get(ep.host);
    const httpUrl = `http://${url.slice('https://'.length)}`;
    if (known === 'http') return this.#follow(httpUrl, { ...init, dispatcher: undefined }, signal);
    try {
      const res = await this.#follow(url, { ...init, dispatcher }, signal);
      this.#schemes.set(ep.host, 'https');
      return res;
    } catch (err) {
      if (signal?.aborted === true || known === 'https' || isCertError(err)) throw err;
      this.#logger?.debug(
        { host: ep.host, err: describeError(err) },
        'registry does not speak TLS; using plain HTTP',
      );
      const res = await this.#follow(httpUrl, { ...init, dispatcher: undefined }, signal);
      this.#schemes.set(ep.host, 'http');
      return res;
    }
  }

  /** fetch, following up to 5 redirects by hand; credentials never cross to another origin. */
  async #follow(
    url: string,
    init: { method: string; headers: Record<string, string>; body?: string; dispatcher: unknown },
    signal: AbortSignal | undefined,
  ): Promise<Response> {
    let current = new URL(url);
    let headers = init.headers;
    let dispatcher = init.dispatcher;
    let method = init.method;
    let body = init.body;
    for (let hop = 0; hop <= 5; hop++) {
      const res = await this.#http.fetch(current.href, {
        method,
        headers,
        redirect: 'manual',
        ...(body === undefined ? {} : { body }),
        ...(signal === undefined ? {} : { signal }),
        ...(dispatcher === undefined ? {} : { dispatcher }),
      });
      if (!redirectStatuses.has(res.status)) return res;
      const location = res.headers.get('location');
      await discard(res);
      if (location === null) {
        throw new BerthError(
          errorCodes.IMAGE_REGISTRY,
          `${current.origin}: redirect ${res.status} without Location`,
        );
      }
      const next = new URL(location, current);
      if (next.protocol !== 'https:' && next.protocol !== 'http:') {
        throw new BerthError(
          errorCodes.IMAGE_REGISTRY,
          `${current.origin}: redirect to unsupported URL scheme ${next.protocol}`,
        );
      }
      if (current.protocol === 'https:' && next.protocol === 'http:') {
        throw new BerthError(
          errorCodes.IMAGE_REGISTRY,
          `${current.origin}: refusing redirect from https to ${next.origin}`,
        );
      }
      if (next.origin !== current.origin) {
        const { authorization: _dropped, ...rest } = headers;
        headers = rest;
        dispatcher = undefined;
      }
      if (res.status === 303) {
        method = 'GET';
        body = undefined;
      }
      current = next;
    }
    throw new BerthError(errorCodes.IMAGE_REGISTRY, `${new URL(url).origin}: too many redirects`);
  }
}

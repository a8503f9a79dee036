/**
 * The CLI's one door to the network: HTTP(S) requests to the API server with the kubeconfig's
 * credentials (CA, bearer token, client certificate — applied by @kubernetes/client-node), either
 * buffered or as a line stream for watches. Everything above it talks to the {@link Transport}
 * interface, so verbs and the client are testable with a fake.
 *
 * Failing to reach the server is exceptional (`API_UNREACHABLE`, worded as kubectl words it); an
 * HTTP error status is not — it is returned for the caller to read the Status from.
 */

import { request as httpRequest, type IncomingMessage, type RequestOptions } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { StringDecoder } from 'node:string_decoder';
import type { KubeConfig } from '@kubernetes/client-node';
import { BerthError, errorCodes, errorMessage } from '../../lib/errors.js';
import { berthVersion } from '../../lib/version.js';

/** One request; `path` is absolute from the server root and includes the query string. */
export interface HttpRequest {
  readonly method: string;
  readonly path: string;
  readonly headers?: Readonly<Record<string, string>>;
  readonly body?: string;
  readonly signal?: AbortSignal;
}

/** A buffered response. */
export interface HttpResponse {
  readonly status: number;
  readonly contentType: string;
  readonly body: string;
}

/** A response being streamed; read `lines()` once, or `text()` for an error body. */
export interface HttpStream {
  readonly status: number;
  readonly contentType: string;
  /** Each newline-terminated line of the body as it arrives; ends when the server closes. */
  lines(): AsyncIterable<string>;
  /** The whole body (for non-2xx answers). */
  text(): Promise<string>;
  /** Stops reading and closes the connection. Idempotent. */
  close(): void;
}

/** How the client reaches the API server. */
export interface Transport {
  /** The server URL, for messages. */
  readonly server: string;
  request(req: HttpRequest): Promise<HttpResponse>;
  stream(req: HttpRequest): Promise<HttpStream>;
}

/**
 * A transport to the current cluster of `kc`, authenticated as its current user. `onWarning`
 * receives the text of each `Warning:` response header (kubectl prints them as `Warning: …`).
 */
export async function kubeconfigTransport(
  kc: KubeConfig,
  onWarning: (text: string) => void = () => undefined,
): Promise<Transport> {
  const cluster = kc.getCurrentCluster();
  if (cluster === null) throw new BerthError(errorCodes.CONFIG_INVALID, 'kubeconfig has no current cluster');
  const base = new URL(cluster.server);
  const opts: RequestOptions & { headers: Record<string, string> } = { headers: {} };
  try {
    await kc.applyToHTTPSOptions(opts);
  } catch (err) {
    throw new BerthError(errorCodes.CONFIG_INVALID, `kubeconfig credentials: ${errorMessage(err)}`, {
      cause: err,
    });
  }
  const credentials: Record<string, string> = {};
  for (const [k, v] of Object.entries(opts.headers)) if (typeof v === 'string') credentials[k] = v;
  const userAgent = `berth/${berthVersion().version} (${process.platform}/${process.arch})`;
  const open = (req: HttpRequest): Promise<IncomingMessage> =>
    new Promise((resolve, reject) => {
      const url = new URL(base.pathname.replace(/\/$/, '') + req.path, base);
      const send = url.protocol === 'http:' ? httpRequest : httpsRequest;
      const r = send(
        url,
        {
          ...opts,
          method: req.method,
          headers: {
            ...credentials,
            'User-Agent': userAgent,
            ...(req.body === undefined ? {} : { 'Content-Length': String(Buffer.byteLength(req.body)) }),
            ...req.headers,
          },
          ...(req.signal === undefined ? {} : { signal: req.signal }),
        },
        (res) => {
          for (const w of warningTexts(res.headers['warning'])) onWarning(w);
          resolve(res);
        },
      );
      r.on('error', (err) => {
        reject(unreachable(url, err));
      });
      r.end(req.body);
    });
  return {
    server: cluster.server,
    request: async (req) => {
      const res = await open(req);
      const body = await readAll(res, base);
      return { status: res.statusCode ?? 0, contentType: res.headers['content-type'] ?? '', body };
    },
    stream: async (req) => {
      const res = await open(req);
      let closed = false;
      const close = (): void => {
        if (closed) return;
        closed = true;
        res.destroy();
      };
      return {
        status: res.statusCode ?? 0,
        contentType: res.headers['content-type'] ?? '',
        lines: () => streamLines(res, close),
        text: () => readAll(res, base),
        close,
      };
    },
  };
}

async function* streamLines(res: IncomingMessage, close: () => void): AsyncGenerator<string> {
  // Iterating the response itself (not readline, which never settles when the socket is destroyed
  // under it) so that close() ends the loop.
  const decoder = new StringDecoder('utf8');
  let buffered = '';
  try {
    for await (const chunk of res) {
      buffered += decoder.write(chunk as Buffer);
      let nl = buffered.indexOf('\n');
      while (nl >= 0) {
        yield buffered.slice(0, nl);
        buffered = buffered.slice(nl + 1);
        nl = buffered.indexOf('\n');
      }
    }
    if (buffered !== '') yield buffered;
  } catch (err) {
    // A stream cut by close() ends the watch; anything else (a reset connection) is news.
    if (!res.destroyed || (err as NodeJS.ErrnoException).code !== 'ERR_STREAM_PREMATURE_CLOSE') throw err;
  } finally {
    close();
  }
}

function readAll(res: IncomingMessage, base: URL): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    res.on('data', (c: Buffer) => chunks.push(c));
    res.on('end', () => {
      resolve(Buffer.concat(chunks).toString('utf8'));
    });
    res.on('error', (err) => {
      reject(unreachable(base, err));
    });
  });
}

/** The texts of `Warning: 299 - "text"` headers (RFC 7234), as client-go extracts them. */
export function warningTexts(header: string | string[] | undefined): string[] {
  if (header === undefined) return [];
  const values = Array.isArray(header) ? header : [header];
  const out: string[] = [];
  for (const value of values) {
    for (const m of value.matchAll(/\d{3} \S+ "((?:[^"\\]|\\.)*)"/g))
      out.push((m[1] ?? '').replace(/\\(.)/g, '$1'));
  }
  return out;
}

/** kubectl's wording for connection failures (`cmdutil.StandardErrorMessage`). */
function unreachable(url: URL, err: Error): BerthError {
  if (err.name === 'AbortError')
    return new BerthError(errorCodes.API_UNREACHABLE, 'request aborted', { cause: err });
  const code = (err as NodeJS.ErrnoException).code;
  const message =
    code === 'ECONNREFUSED'
      ? `The connection to the server ${url.host} was refused - did you specify the right host or port?`
      : `Unable to connect to the server: ${err.message}`;
  return new BerthError(errorCodes.API_UNREACHABLE, message, { cause: err });
}

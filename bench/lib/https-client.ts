/**
 * A minimal HTTPS client for benchmarks against `berth server`: one-shot requests with the body
 * collected, and streaming requests (watches) delivered line by line. node:https with keep-alive
 * agents, so what is measured is the server and the wire, not a client library.
 */
import { Agent, request, type RequestOptions } from 'node:https';
import type { IncomingMessage } from 'node:http';

export interface ApiEndpoint {
  readonly url: string;
  readonly token: string;
  readonly caPem: string;
}

export interface Reply {
  readonly status: number;
  readonly body: Buffer;
}

export function apiAgent(endpoint: ApiEndpoint, maxSockets: number): Agent {
  return new Agent({ ca: endpoint.caPem, keepAlive: true, maxSockets, maxFreeSockets: maxSockets });
}

function options(
  endpoint: ApiEndpoint,
  agent: Agent,
  method: string,
  headers: Record<string, string>,
): RequestOptions {
  return {
    method,
    agent,
    headers: { authorization: `Bearer ${endpoint.token}`, accept: 'application/json', ...headers },
  };
}

/** Sends one request and collects the reply; rejects on network errors only. */
export function call(
  endpoint: ApiEndpoint,
  agent: Agent,
  method: string,
  path: string,
  body?: string,
  headers: Record<string, string> = {},
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request(new URL(path, endpoint.url), options(endpoint, agent, method, headers), (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks) });
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    if (body !== undefined) req.setHeader('content-type', headers['content-type'] ?? 'application/json');
    req.end(body);
  });
}

/** Like {@link call} but throws unless the status is `expect`. */
export async function callOk(
  endpoint: ApiEndpoint,
  agent: Agent,
  method: string,
  path: string,
  body?: string,
  headers: Record<string, string> = {},
  expect = 200,
): Promise<Buffer> {
  const reply = await call(endpoint, agent, method, path, body, headers);
  if (reply.status !== expect) {
    throw new Error(`${method} ${path}: HTTP ${reply.status}: ${reply.body.toString('utf8').slice(0, 300)}`);
  }
  return reply.body;
}

export interface Stream {
  readonly response: IncomingMessage;
  /** Aborts the request and its connection. */
  close(): void;
}

/**
 * Opens a streaming GET (a watch) and calls `onLine` for every newline-terminated line. Resolves once
 * the response headers arrive; `onEnd` is called when the stream ends or fails.
 */
export function stream(
  endpoint: ApiEndpoint,
  agent: Agent,
  path: string,
  onLine: (line: string) => void,
  onEnd: (err?: Error) => void = () => undefined,
): Promise<Stream> {
  return new Promise((resolve, reject) => {
    const req = request(new URL(path, endpoint.url), options(endpoint, agent, 'GET', {}), (res) => {
      if (res.statusCode !== 200) {
        reject(new Error(`GET ${path}: HTTP ${res.statusCode ?? '?'}`));
        res.resume();
        return;
      }
      res.setEncoding('utf8');
      let pending = '';
      res.on('data', (chunk: string) => {
        pending += chunk;
        let nl = pending.indexOf('\n');
        while (nl >= 0) {
          onLine(pending.slice(0, nl));
          pending = pending.slice(nl + 1);
          nl = pending.indexOf('\n');
        }
      });
      res.on('end', () => {
        onEnd();
      });
      res.on('error', (err) => {
        onEnd(err);
      });
      resolve({
        response: res,
        close: () => {
          req.destroy();
        },
      });
    });
    req.on('error', (err) => {
      reject(err);
      onEnd(err);
    });
    req.end();
  });
}

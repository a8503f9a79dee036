/**
 * A fault-injecting HTTP proxy in front of a test registry (the toxiproxy role in
 * shared/reference/reliability-and-security.md §6b): per request it can answer with a status (503 +
 * Retry-After, 429), corrupt a byte of the body, cut the connection after N body bytes (with the full
 * Content-Length promised), stall after N bytes, or redirect to another origin (a second listener of
 * this proxy, like an S3 pre-signed URL). Every request is recorded with the headers that matter.
 */
import { createServer, request, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

export type Fault =
  | { readonly kind: 'status'; readonly status: number; readonly headers?: Record<string, string> }
  | { readonly kind: 'corrupt' }
  | { readonly kind: 'cut'; readonly afterBytes: number }
  | { readonly kind: 'stall'; readonly afterBytes: number }
  | { readonly kind: 'redirect' };

export interface ProxyRequest {
  readonly method: string;
  readonly path: string;
  readonly range: string | undefined;
  readonly authorization: string | undefined;
  /** 'main' or 'redirect' (the second origin). */
  readonly origin: 'main' | 'redirect';
}

export interface FaultyProxy {
  /** `127.0.0.1:PORT`, to use as the registry host. */
  readonly host: string;
  readonly requests: ProxyRequest[];
  /** Decides the fault for each request to the main origin (undefined: pass through). */
  setFaults(fn: (req: ProxyRequest, n: number) => Fault | undefined): void;
  close(): Promise<void>;
}

export async function startFaultyProxy(upstream: string): Promise<FaultyProxy> {
  const up = new URL(upstream);
  const requests: ProxyRequest[] = [];
  let decide: (req: ProxyRequest, n: number) => Fault | undefined = () => undefined;
  const sockets = new Set<Socket>();
  let redirectPort = 0;

  const forward = (
    req: IncomingMessage,
    res: ServerResponse,
    path: string,
    fault: Fault | undefined,
  ): void => {
    const headers = { ...req.headers, host: up.host };
    const preq = request({ host: up.hostname, port: up.port, method: req.method, path, headers }, (pres) => {
      if (fault?.kind === 'corrupt' && pres.statusCode === 200) {
        res.writeHead(200, pres.headers);
        let flipped = false;
        pres.on('data', (chunk: Buffer) => {
          if (!flipped && chunk.length > 0) {
            const c = Buffer.from(chunk);
            c[Math.floor(c.length / 2)] = (c[Math.floor(c.length / 2)] ?? 0) ^ 0xff;
            flipped = true;
            res.write(c);
          } else res.write(chunk);
        });
        pres.on('end', () => res.end());
        return;
      }
      if (
        (fault?.kind === 'cut' || fault?.kind === 'stall') &&
        (pres.statusCode === 200 || pres.statusCode === 206)
      ) {
        res.writeHead(pres.statusCode, pres.headers);
        let sent = 0;
        let stopped = false;
        pres.on('data', (chunk: Buffer) => {
          if (stopped) return;
          const room = fault.afterBytes - sent;
          if (chunk.length <= room) {
            res.write(chunk);
            sent += chunk.length;
            return;
          }
          res.write(chunk.subarray(0, Math.max(0, room)));
          stopped = true;
          pres.destroy();
          if (fault.kind === 'cut') res.socket?.destroy();
          // stall: keep the socket open with nothing more to say.
        });
        return;
      }
      res.writeHead(pres.statusCode ?? 502, pres.headers);
      pres.pipe(res);
    });
    preq.on('error', () => res.destroy());
    req.pipe(preq);
  };

  const handler =
    (origin: 'main' | 'redirect') =>
    (req: IncomingMessage, res: ServerResponse): void => {
      const path = req.url ?? '/';
      const r: ProxyRequest = {
        method: req.method ?? 'GET',
        path,
        range: req.headers.range,
        authorization: req.headers.authorization,
        origin,
      };
      requests.push(r);
      if (origin === 'redirect') {
        forward(req, res, path, undefined);
        return;
      }
      const fault = decide(r, requests.filter((x) => x.origin === 'main').length);
      if (fault?.kind === 'status') {
        res.writeHead(fault.status, { 'content-type': 'application/json', ...fault.headers });
        res.end(JSON.stringify({ errors: [{ code: 'UNAVAILABLE', message: 'injected fault' }] }));
        return;
      }
      if (fault?.kind === 'redirect') {
        res.writeHead(307, { location: `http://localhost:${redirectPort}${path}` });
        res.end();
        return;
      }
      forward(req, res, path, fault);
    };

  const listen = async (server: Server): Promise<number> => {
    server.on('connection', (s: Socket) => {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', resolve);
    });
    return (server.address() as AddressInfo).port;
  };
  const main = createServer(handler('main'));
  const redirect = createServer(handler('redirect'));
  const port = await listen(main);
  redirectPort = await listen(redirect);
  return {
    host: `127.0.0.1:${port}`,
    requests,
    setFaults: (fn) => {
      decide = fn;
    },
    close: async () => {
      for (const s of sockets) s.destroy();
      await Promise.all([
        new Promise<void>((resolve) => {
          main.close(() => {
            resolve();
          });
        }),
        new Promise<void>((resolve) => {
          redirect.close(() => {
            resolve();
          });
        }),
      ]);
    },
  };
}

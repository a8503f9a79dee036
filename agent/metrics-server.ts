/**
 * The agent's `/metrics` endpoint (Prometheus text format from the agent's registry) — plain HTTP,
 * like the kubelet's read-only port — plus `/healthz`. Listening on port 0 picks a free port; the
 * actual address is what the agent reports to the controller for service discovery.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';
import { BerthError, errorCodes, errorMessage } from '../lib/errors.js';
import { renderMetrics } from '../lib/metrics.js';

export interface MetricsServer {
  /** The bound address, `HOST:PORT` (IPv6 in brackets). */
  readonly address: string;
  readonly port: number;
  close(): Promise<void>;
}

/** Serves `registry` at `http://host:port/metrics`. Throws `CONFIG_INVALID` if it cannot listen. */
export async function serveMetrics(registry: Registry, host: string, port: number): Promise<MetricsServer> {
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD' }).end();
      return;
    }
    if (path === '/healthz') {
      res.writeHead(200, { 'content-type': 'text/plain' }).end('ok');
      return;
    }
    if (path !== '/metrics') {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found: try /metrics\n');
      return;
    }
    renderMetrics(registry).then(
      ({ contentType, body }) => {
        res.writeHead(200, { 'content-type': contentType }).end(req.method === 'HEAD' ? undefined : body);
      },
      (err: unknown) => {
        res.writeHead(500, { 'content-type': 'text/plain' }).end(`metrics failed: ${errorMessage(err)}\n`);
      },
    );
  });
  await listen(server, host, port);
  const bound = (server.address() as AddressInfo).port;
  return {
    address: `${host.includes(':') ? `[${host}]` : host}:${bound}`,
    port: bound,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => {
          resolve();
        });
        server.closeAllConnections();
      }),
  };
}

function listen(server: Server, host: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException): void => {
      reject(
        new BerthError(
          errorCodes.CONFIG_INVALID,
          `cannot serve metrics on ${host}:${port}: ${err.code === 'EADDRINUSE' ? 'the port is already in use; pick another with --metrics-listen' : err.message}`,
          { cause: err },
        ),
      );
    };
    server.once('error', onError);
    server.listen(port, host, () => {
      server.off('error', onError);
      resolve();
    });
  });
}

/**
 * The real `ProbeTransport`: HTTP(S) GET and TCP connect over node:http/https/net, the way the
 * kubelet probes (no keep-alive, certificates not verified for HTTPS, redirects not followed — a 3xx
 * counts as success). Timeouts are socket timeouts, so no clock is involved.
 */
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { connect } from 'node:net';
import type { HttpProbeRequest, ProbeTransport } from './prober.js';

export function createNetProbeTransport(userAgent = 'berth-probe/0.1'): ProbeTransport {
  return {
    httpGet: (req: HttpProbeRequest) =>
      new Promise((resolve) => {
        const headers: Record<string, string> = {
          'user-agent': userAgent,
          accept: '*/*',
          connection: 'close',
        };
        for (const h of req.headers) headers[h.name.toLowerCase()] = h.value;
        const make = req.scheme === 'HTTPS' ? httpsRequest : httpRequest;
        const r = make(
          {
            host: req.host,
            port: req.port,
            path: req.path.startsWith('/') ? req.path : `/${req.path}`,
            method: 'GET',
            headers,
            agent: false,
            timeout: req.timeoutMs,
            ...(req.scheme === 'HTTPS' ? { rejectUnauthorized: false } : {}),
          },
          (res) => {
            res.resume();
            resolve({ statusCode: res.statusCode ?? 0 });
          },
        );
        r.on('timeout', () => {
          r.destroy(new Error(`context deadline exceeded (Client.Timeout exceeded while awaiting headers)`));
        });
        r.on('error', (err) => {
          resolve({ error: err.message });
        });
        r.end();
      }),
    tcpConnect: (req) =>
      new Promise((resolve) => {
        const socket = connect({ host: req.host, port: req.port });
        socket.setTimeout(req.timeoutMs);
        socket.once('connect', () => {
          socket.destroy();
          resolve({ ok: true });
        });
        socket.once('timeout', () => {
          socket.destroy();
          resolve({ ok: false, error: 'i/o timeout' });
        });
        socket.once('error', (err) => {
          resolve({ ok: false, error: err.message });
        });
      }),
  };
}

/**
 * `pods/NAME/exec` and `pods/NAME/attach` over WebSocket, the way kubectl 1.32 speaks it
 * (kubectl-api.md §7): subprotocol `v5.channel.k8s.io` (or `v4.channel.k8s.io`), every message a
 * binary frame whose first byte is the channel — 0 stdin, 1 stdout, 2 stderr, 3 the final
 * metav1.Status, 4 resize; v5 adds `[255, ch]` "channel closed" (`[255, 0]` = stdin EOF).
 *
 *   upgrade request ──validate pod/container/node──▶ open tunnel ──agent's first frame──┐
 *        │                     │                        │                            │
 *        └──────── 4xx/5xx Status as the HTTP answer ◀──┴── ch3 refusal ◀────────────┤
 *                                                                                   ▼
 *                                 101 Switching Protocols ──relay frames both ways──▶ ch3 Status, close 1000
 *
 * The 101 waits for the agent's first frame so that a refusal on the node (`container not found
 * ("web")`) is an HTTP error, as it is from a kubelet. SPDY (kubectl's fallback after a non-101, or
 * with KUBECTL_REMOTE_COMMAND_WEBSOCKETS=false) is not spoken: kubectl shows only the fallback's
 * error, so that request is validated the same way (pod, container, node connected) and only then
 * told "SPDY is not supported" — without running the command a second time. A refusal that only the
 * node can make (container not running) therefore reads as the SPDY message; the WebSocket answer
 * had the real one.
 */
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type RawData, type WebSocket } from 'ws';
import { isPlainObject } from '../../api/object.js';
import {
  ApiError,
  badRequest,
  isApiError,
  internalError,
  serviceUnavailable,
  type Status,
} from '../../api/status.js';
import { errorMessage } from '../../lib/errors.js';
import type { ExecRequest } from '../../proto/gen/berth/v1/agent.js';
import type { Tunnel, TunnelFrameIn } from '../gateway/tunnel-broker.js';
import {
  getPod,
  resolveContainer,
  statusFromAgent,
  tunnelFailureStatus,
  type PodStreamDeps,
} from './pod-log.js';

/** The subprotocols served, best first. */
export const execSubprotocols = ['v5.channel.k8s.io', 'v4.channel.k8s.io'] as const;

const closeChannel = 255;

export class PodExecServer {
  readonly #d: PodStreamDeps;
  readonly #wss = new WebSocketServer({
    noServer: true,
    handleProtocols: (offered) => execSubprotocols.find((p) => offered.has(p)) ?? false,
    perMessageDeflate: false,
  });

  constructor(deps: PodStreamDeps) {
    this.#d = deps;
  }

  /**
   * Serves one authenticated upgrade request for `pods/NAME/{exec,attach}`. Resolves to the HTTP
   * code answered (101 when upgraded). Never throws: errors are written to the socket as a Status.
   */
  async handleUpgrade(
    req: IncomingMessage,
    socket: Duplex,
    head: Buffer,
    namespace: string,
    name: string,
    subresource: 'exec' | 'attach',
    query: URLSearchParams,
  ): Promise<number> {
    let tunnel: Tunnel | undefined;
    try {
      const request = await this.#validate(namespace, name, subresource, query);
      const isWebSocket = (req.headers.upgrade ?? '').toLowerCase() === 'websocket';
      if (!isWebSocket) {
        // kubectl's SPDY fallback comes after a failed WebSocket attempt: answer with the error that
        // attempt met (node gone) where we can tell without running the command again.
        if (!this.#d.tunnels.connected(request.nodeName)) {
          return writeStatus(
            socket,
            serviceUnavailable(`node "${request.nodeName}" is not connected to the controller`),
          );
        }
        return writeStatus(
          socket,
          badRequest(
            `${subresource} is served over WebSocket (${execSubprotocols.join(', ')}) only; SPDY is not supported`,
          ),
        );
      }
      const offered = (req.headers['sec-websocket-protocol'] ?? '').split(',').map((p) => p.trim());
      if (!execSubprotocols.some((p) => offered.includes(p))) {
        return writeStatus(
          socket,
          badRequest(`no supported subprotocol offered; this server speaks ${execSubprotocols.join(', ')}`),
        );
      }
      const abort = new AbortController();
      const onSocketClose = (): void => {
        abort.abort();
      };
      socket.once('close', onSocketClose);
      const opened = await this.#d.tunnels.open(
        request.nodeName,
        { $case: 'exec', exec: request.exec },
        abort.signal,
      );
      socket.removeListener('close', onSocketClose);
      if (!opened.ok) {
        if (abort.signal.aborted) return 499;
        return writeStatus(socket, tunnelFailureStatus(opened));
      }
      tunnel = opened.tunnel;
      const frames = tunnel[Symbol.asyncIterator]();
      const first = await frames.next();
      if (first.done === true) {
        return writeStatus(socket, internalError(new Error('the node closed the stream without an answer')));
      }
      if (first.value.channel === 3) {
        tunnel.close();
        return writeStatus(socket, statusFromAgent(first.value.data));
      }

      const t = tunnel;
      this.#wss.handleUpgrade(req, socket, head, (ws) => {
        void this.#relay(ws, t, first.value, frames, request.exec.tty);
      });
      return 101;
    } catch (err) {
      tunnel?.close();
      if (isApiError(err)) return writeStatus(socket, err.status);
      this.#d.logger.error({ err: errorMessage(err) }, 'exec failed');
      return writeStatus(socket, internalError(err));
    }
  }

  async #validate(
    namespace: string,
    name: string,
    subresource: 'exec' | 'attach',
    query: URLSearchParams,
  ): Promise<{ nodeName: string; exec: ExecRequest }> {
    const pod = await getPod(this.#d, namespace, name);
    const resolved = resolveContainer(pod, query.get('container') ?? '', 'exec');
    if (!resolved.ok) throw new ApiError(resolved.status);
    const spec = pod['spec'];
    const nodeName = isPlainObject(spec) && typeof spec['nodeName'] === 'string' ? spec['nodeName'] : '';
    if (nodeName === '') throw new ApiError(badRequest(`pod ${name} does not have a host assigned`));
    const status = pod['status'];
    const phase = isPlainObject(status) && typeof status['phase'] === 'string' ? status['phase'] : '';
    if (phase === 'Succeeded' || phase === 'Failed') {
      throw new ApiError(
        badRequest(`cannot exec into a container in a completed pod; current phase is ${phase}`),
      );
    }
    const flag = (k: string): boolean => {
      const v = query.get(k);
      return v === 'true' || v === '1';
    };
    const exec: ExecRequest = {
      namespace,
      podName: name,
      podUid: pod.metadata.uid ?? '',
      container: resolved.container,
      command: query.getAll('command'),
      stdin: flag('stdin'),
      stdout: flag('stdout'),
      stderr: flag('stderr'),
      tty: flag('tty'),
      attach: subresource === 'attach',
    };
    if (!exec.stdin && !exec.stdout && !exec.stderr) {
      throw new ApiError(badRequest('you must specify at least 1 of stdin, stdout, stderr'));
    }
    if (subresource === 'exec' && exec.command.length === 0) {
      throw new ApiError(badRequest('you must specify at least one command for the container'));
    }
    return { nodeName, exec };
  }

  async #relay(
    ws: WebSocket,
    tunnel: Tunnel,
    first: TunnelFrameIn,
    frames: AsyncIterator<TunnelFrameIn>,
    tty: boolean,
  ): Promise<void> {
    const v5 = ws.protocol === 'v5.channel.k8s.io';
    ws.on('message', (data: RawData) => {
      const buf = toBuffer(data);
      if (buf.length === 0) return;
      const channel = buf[0] ?? 0;
      const payload = buf.subarray(1);
      if (channel === 0 || channel === 4) {
        if (payload.length > 0) tunnel.send(channel, payload);
      } else if (channel === closeChannel && v5 && payload[0] === 0) {
        tunnel.closeChannel(0);
      }
    });
    ws.on('close', () => {
      tunnel.close();
    });
    ws.on('error', () => {
      tunnel.close();
    });
    const forward = (f: TunnelFrameIn): void => {
      if (f.channel !== 1 && f.channel !== 2 && f.channel !== 3) return;
      if (f.channel === 2 && tty) return;
      if (f.data.length === 0 && f.channel !== 3) return;
      ws.send(Buffer.concat([Buffer.from([f.channel]), f.data]), { binary: true });
    };
    try {
      forward(first);
      for (;;) {
        const next = await frames.next();
        if (next.done === true) break;
        forward(next.value);
      }
    } catch (err) {
      this.#d.logger.warn({ err: errorMessage(err) }, 'exec relay failed');
    } finally {
      tunnel.close();
      if (ws.readyState === ws.OPEN) ws.close(1000);
    }
  }

  /** Closes every WebSocket (server shutdown). */
  close(): void {
    for (const ws of this.#wss.clients) ws.terminate();
    this.#wss.close();
  }
}

/** Answers an upgrade request with a plain HTTP Status and closes the socket; returns its code. */
export function writeStatus(socket: Duplex, s: Status): number {
  const body = JSON.stringify(s);
  if (socket.writable) {
    socket.end(
      `HTTP/1.1 ${s.code} ${reasonPhrase(s.code)}\r\n` +
        'Content-Type: application/json\r\n' +
        `Content-Length: ${Buffer.byteLength(body)}\r\n` +
        'Connection: close\r\n\r\n' +
        body,
    );
  } else {
    socket.destroy();
  }
  return s.code;
}

function reasonPhrase(code: number): string {
  const phrases: Record<number, string> = {
    400: 'Bad Request',
    401: 'Unauthorized',
    403: 'Forbidden',
    404: 'Not Found',
    500: 'Internal Server Error',
    503: 'Service Unavailable',
    504: 'Gateway Timeout',
  };
  return phrases[code] ?? 'Error';
}

function toBuffer(data: RawData): Buffer {
  if (Buffer.isBuffer(data)) return data;
  if (Array.isArray(data)) return Buffer.concat(data);
  return Buffer.from(data);
}

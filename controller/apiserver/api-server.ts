/**
 * The API server's request pipeline: authenticate (bearer token), route, count and time, answer.
 * Routes: /version, /healthz|/livez|/readyz, /metrics, /berth/v1/prometheus-sd, discovery (/api, /apis, legacy and aggregated),
 * /openapi/v3, and every registered resource through `ResourceHandler`; pods/log (pod-log.ts) and, on
 * the `upgrade` listener, pods/exec and pods/attach over WebSocket (pod-exec.ts) when a node gateway
 * is given. Every error is a `Status`. Transport (TLS, listening) is the caller's: this is a plain
 * `(req, res)` handler plus an `(req, socket, head)` upgrade handler.
 */
import type { Duplex } from 'node:stream';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { apiResourceList, apiGroupList } from '../../api/discovery/legacy.js';
import { discoveryResponse } from '../../api/discovery/negotiate.js';
import { openApiV3Index, openApiV3Json, parseOpenApiV3Key } from '../../api/openapi/documents.js';
import { findResource } from '../../api/resources.js';
import {
  ApiError,
  badRequest,
  internalError,
  notAcceptable,
  notFound,
  serviceUnavailable,
  toStatus,
  unauthorized,
} from '../../api/status.js';
import type { Logger } from '../../lib/logger.js';
import { renderMetrics } from '../../lib/metrics.js';
import { tokensEqual } from '../../lib/pki/tokens.js';
import { berthVersion } from '../../lib/version.js';
import type { Registry } from 'prom-client';
import { healthCheckLabels, resourceRequestLabels, type ApiServerMetrics } from './apiserver-metrics.js';
import { mediaType, sendJson, sendStatus, sendText } from './http-io.js';
import { prometheusSdPath, type SdTargetGroup } from './prometheus-sd.js';
import { PodExecServer, writeStatus } from './pod-exec.js';
import { servePodLog, type PodStreamDeps } from './pod-log.js';
import { parseRequestInfo } from './request-info.js';
import type { ResourceHandler } from './resource-handler.js';

export interface ApiServerDeps {
  readonly resources: ResourceHandler;
  readonly metrics: ApiServerMetrics;
  readonly registry: Registry;
  readonly logger: Logger;
  /** Bearer tokens accepted, each with the user it authenticates. */
  readonly tokens: readonly { readonly token: string; readonly user: string }[];
  /** host:port clients reach us at, for legacy discovery's serverAddressByClientCIDRs. */
  readonly serverAddress: string;
  /** Readiness: false while the store is unreachable. */
  readonly ready: () => Promise<boolean>;
  /** Prometheus HTTP SD targets (prometheus-sd.ts), given the address the request reached us at. */
  readonly prometheusSd?: (controllerAddress: string | undefined) => Promise<readonly SdTargetGroup[]>;
  /** Serves pods/log, exec and attach through the nodes' tunnels; absent, they answer 503. */
  readonly podStreams?: PodStreamDeps;
}

/** Paths anyone may read, as kube-apiserver's system:public-info-viewer allows. */
const publicPaths = new Set(['/version', '/healthz', '/livez', '/readyz']);

export class ApiServer {
  readonly #d: ApiServerDeps;
  readonly #exec: PodExecServer | undefined;

  constructor(deps: ApiServerDeps) {
    this.#d = deps;
    this.#exec = deps.podStreams === undefined ? undefined : new PodExecServer(deps.podStreams);
  }

  /**
   * The `upgrade` listener for node:http / node:https (`server.on('upgrade', api.upgradeListener)`):
   * pods/exec and pods/attach over WebSocket; anything else is answered with a Status and closed.
   */
  readonly upgradeListener = (req: IncomingMessage, socket: Duplex, head: Buffer): void => {
    socket.on('error', () => {
      socket.destroy();
    });
    this.#upgrade(req, socket, head).catch((err: unknown) => {
      this.#d.logger.error({ err }, 'unhandled error serving an upgrade request');
      writeStatus(socket, internalError(err));
    });
  };

  /** Ends open exec sessions (server shutdown). */
  close(): void {
    this.#exec?.close();
  }

  async #upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    const url = new URL(req.url ?? '/', 'https://berth.invalid');
    const path = url.pathname.length > 1 ? url.pathname.replace(/\/+$/, '') : url.pathname;
    if (this.#authenticate(req) === undefined) {
      writeStatus(socket, unauthorized());
      return;
    }
    const info = parseRequestInfo(req.method ?? 'GET', path, url.searchParams);
    const sub = info.kind === 'resource' ? info.subresource : undefined;
    if (
      info.kind !== 'resource' ||
      info.group !== '' ||
      info.resource !== 'pods' ||
      info.namespace === undefined ||
      info.name === undefined ||
      (sub !== 'exec' && sub !== 'attach')
    ) {
      writeStatus(socket, badRequest(`upgrade is not supported for ${path}`));
      return;
    }
    const done = this.#d.metrics.begin(
      resourceRequestLabels(info, 'pods', req.method ?? 'GET', mediaType(req), url.searchParams),
    );
    let code = 500;
    try {
      code =
        this.#exec === undefined
          ? writeStatus(socket, serviceUnavailable(`pods/${sub} is not served: no node gateway runs`))
          : await this.#exec.handleUpgrade(
              req,
              socket,
              head,
              info.namespace,
              info.name,
              sub,
              url.searchParams,
            );
    } finally {
      done(code);
    }
  }

  /** The `(req, res)` listener for node:http / node:https. */
  readonly listener = (req: IncomingMessage, res: ServerResponse): void => {
    this.#handle(req, res).catch((err: unknown) => {
      this.#d.logger.error({ err }, 'unhandled error serving request');
      sendStatus(res, internalError(err));
    });
  };

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'https://berth.invalid');
    const path = url.pathname.length > 1 ? url.pathname.replace(/\/+$/, '') : url.pathname;
    const user = this.#authenticate(req);
    if (user === undefined && !publicPaths.has(path)) {
      req.resume();
      sendStatus(res, unauthorized());
      return;
    }
    const info = parseRequestInfo(req.method ?? 'GET', path, url.searchParams);
    if (info.kind !== 'resource') {
      await this.#serveNonResource(req, res, path, info);
      return;
    }
    const r = findResource(info.group, info.version, info.resource);
    const done = this.#d.metrics.begin(
      resourceRequestLabels(info, r?.plural ?? '', req.method ?? 'GET', mediaType(req), url.searchParams),
    );
    let code = 500;
    try {
      if (r === undefined) {
        req.resume();
        throw new ApiError({
          ...notFound({ group: info.group, resource: info.resource }, info.name ?? ''),
          message: 'the server could not find the requested resource',
        });
      }
      const sub = info.subresource;
      if (r.kind === 'Pod' && (sub === 'exec' || sub === 'attach') && this.#d.podStreams !== undefined) {
        req.resume();
        throw new ApiError(badRequest('Upgrade request required'));
      }
      code =
        r.kind === 'Pod' &&
        sub === 'log' &&
        info.verb === 'get' &&
        info.namespace !== undefined &&
        this.#d.podStreams !== undefined
          ? await servePodLog(this.#d.podStreams, req, res, info.namespace, info.name ?? '', url.searchParams)
          : await this.#d.resources.handle(req, res, info, url.searchParams, r);
    } catch (err) {
      const status = toStatus(err);
      if (status.code >= 500) this.#d.logger.error({ err, method: req.method, path }, 'request failed');
      code = status.code;
      sendStatus(res, status);
    } finally {
      done(code);
    }
    this.#d.logger.debug(
      { method: req.method, path, code, user, agent: req.headers['user-agent'] },
      'request',
    );
  }

  async #serveNonResource(
    req: IncomingMessage,
    res: ServerResponse,
    path: string,
    info: ReturnType<typeof parseRequestInfo>,
  ): Promise<void> {
    req.resume();
    const accept = req.headers.accept;
    switch (info.kind) {
      case 'discovery-root': {
        const doc = discoveryResponse(info.root === 'api' ? 'legacy' : 'apis', accept, this.#d.serverAddress);
        if (doc === undefined) sendStatus(res, notAcceptable());
        else sendJson(res, 200, doc.body, { 'Content-Type': doc.contentType, Vary: 'Accept' });
        return;
      }
      case 'discovery-group': {
        const group = apiGroupList().groups.find((g) => g.name === info.group);
        if (group === undefined) sendStatus(res, pathNotFound());
        else sendJson(res, 200, { kind: 'APIGroup', apiVersion: 'v1', ...group });
        return;
      }
      case 'discovery-version': {
        const list = apiResourceList(info.group, info.version);
        if (list === undefined) sendStatus(res, pathNotFound());
        else sendJson(res, 200, list);
        return;
      }
      case 'resource':
      case 'other':
        break;
    }
    if (path === '/version') {
      sendJson(res, 200, kubeVersion());
    } else if (path === '/healthz' || path === '/livez' || path === '/readyz') {
      const done = this.#d.metrics.begin(healthCheckLabels(path));
      const ok = path !== '/readyz' || (await this.#d.ready());
      sendText(res, ok ? 200 : 503, ok ? 'ok' : 'store unavailable');
      done(ok ? 200 : 503);
    } else if (path === '/metrics') {
      const m = await renderMetrics(this.#d.registry);
      sendText(res, 200, m.body, m.contentType);
    } else if (path === prometheusSdPath && this.#d.prometheusSd !== undefined) {
      sendJson(res, 200, await this.#d.prometheusSd(req.headers.host));
    } else if (path === '/openapi/v3') {
      sendJson(res, 200, openApiV3Index());
    } else if (path.startsWith('/openapi/v3/')) {
      const gv = parseOpenApiV3Key(path.slice('/openapi/v3/'.length));
      const doc = gv === undefined ? undefined : openApiV3Json(gv.group, gv.version);
      if (doc === undefined) {
        sendStatus(res, pathNotFound());
      } else {
        res.writeHead(200, {
          'Content-Type': 'application/json',
          'Content-Length': Buffer.byteLength(doc),
          'Cache-Control': 'public, immutable',
        });
        res.end(doc);
      }
    } else if (path === '/openapi/v2') {
      // OpenAPI v2 is protobuf-only in kubectl's use; a 404 makes kubectl fall back to v3.
      sendStatus(res, pathNotFound());
    } else {
      sendStatus(res, pathNotFound());
    }
  }

  #authenticate(req: IncomingMessage): string | undefined {
    const header = req.headers.authorization;
    if (header === undefined || !header.startsWith('Bearer ')) return undefined;
    const presented = header.slice('Bearer '.length).trim();
    return this.#d.tokens.find((t) => tokensEqual(t.token, presented))?.user;
  }
}

function pathNotFound(): ReturnType<typeof notFound> {
  return {
    ...notFound({ group: '', resource: '' }, ''),
    message: 'the server could not find the requested resource',
    details: {},
  };
}

/** `/version`: minor "32" makes /usr/bin/kubectl's dispatcher pick kubectl 1.32 (kubectl-api.md §0). */
export function kubeVersion(): Record<string, string> {
  const v = berthVersion();
  return {
    major: '1',
    minor: '32',
    gitVersion: `v1.32.0-berth.${v.version}`,
    gitCommit: '',
    gitTreeState: 'clean',
    buildDate: '',
    goVersion: `node${v.node}`,
    compiler: 'tsc',
    platform: v.platform,
  };
}

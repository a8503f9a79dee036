/**
 * The controller's agent endpoint: a grpc-js server (default port 6444) serving `NodeJoin` and
 * `AgentGateway` (proto/berth/v1/agent.proto). It owns the sessions of connected agents — at most
 * one per node: a new stream for a node replaces the old one — the shared pod feed, the Node writer,
 * the pod status writer and the event sink, and exposes what the node-lifecycle controller needs:
 * when each node was last heard from.
 *
 * Dead peers are found three ways: TCP/HTTP2 errors end the call, gRPC keep-alive pings (every
 * `keepaliveTimeMs`) end connections whose peer stopped answering, and a sweep ends sessions silent
 * for longer than `peerTimeoutMs` (agents send a heartbeat every few seconds).
 */
import {
  Server,
  status as grpcStatus,
  type ServerCredentials,
  type ServerDuplexStream,
  type sendUnaryData,
  type ServerUnaryCall,
} from '@grpc/grpc-js';
import { hostname as osHostname, networkInterfaces } from 'node:os';
import { Gauge, Counter, type Registry } from 'prom-client';
import type { Clock, Timer } from '../../lib/clock.js';
import { BerthError, errorCodes, errorMessage } from '../../lib/errors.js';
import type { Logger } from '../../lib/logger.js';
import type { CertificateAuthority } from '../../lib/pki/certificate-authority.js';
import {
  AgentGatewayService,
  NodeJoinService,
  type AgentMessage,
  type ControllerMessage,
  type JoinRequest,
  type JoinResponse,
  type TunnelFrame,
} from '../../proto/gen/berth/v1/agent.js';
import type { ResourceStorage } from '../apiserver/resource-storage.js';
import type { NetworkInterfaces } from '../bootstrap/serving-names.js';
import { AgentSession, type SessionStream } from './agent-session.js';
import { StorageEventSink, type EventSink } from './event-sink.js';
import { gatewayServerCredentials, issueGatewayCertificate, nodeNameOfPeer } from './gateway-credentials.js';
import { JoinService } from './join-service.js';
import { NodeConfigFeed } from './node-config-feed.js';
import { NodeRegistrar } from './node-registrar.js';
import { NodeTokenStore } from './node-tokens.js';
import { PodFeed } from './pod-feed.js';
import { PodStatusWriter } from './pod-status-writer.js';
import { ObjectService } from './object-service.js';
import { TunnelBroker, type TunnelOpener } from './tunnel-broker.js';

/** The default port of the agent endpoint. */
export const defaultAgentGatewayPort = 6444;

export interface AgentGatewayOptions {
  readonly storage: ResourceStorage;
  readonly ca: CertificateAuthority;
  /** The controller's data dir: join tokens are read from it on every Join. */
  readonly dataDir: string;
  readonly listenHost: string;
  /** 0 picks a free port (see `AgentGateway.port`). */
  readonly listenPort: number;
  /** Other hosts agents may dial, e.g. the API server's listen host (for the serving certificate). */
  readonly extraServingHosts?: readonly string[];
  readonly clock: Clock;
  readonly logger: Logger;
  /** Where node and pod events go (default: a `StorageEventSink` on `storage`). */
  readonly events?: EventSink;
  /** Registry for `berth_agent_gateway_*` metrics; none registered if absent. */
  readonly registry?: Registry;
  /** Least time between two heartbeat writes of a Node (default 10 s). */
  readonly nodeStatusUpdateIntervalMs?: number;
  /** How often agents are told the revision they are up to date at (default 10 s). */
  readonly bookmarkIntervalMs?: number;
  /** A session silent this long is ended (default 30 s). */
  readonly peerTimeoutMs?: number;
  /** gRPC keep-alive ping interval on idle connections (default 10 s; timeout 5 s). */
  readonly keepaliveTimeMs?: number;
  /** The cluster's pod range, sent to every agent in NodeConfig (default: empty, unknown). */
  readonly clusterCidr?: string;
  /** Time for an agent to open a logs/exec tunnel after being asked (default 10 s). */
  readonly tunnelOpenTimeoutMs?: number;
  /** Test seams for the serving certificate's names. */
  readonly hostname?: string;
  readonly networkInterfaces?: () => NetworkInterfaces;
}

/** What the gateway knows about one node's connection. */
export interface AgentConnectionInfo {
  readonly nodeName: string;
  /** When the current stream opened (ms since the epoch). */
  readonly connectedAt: number;
  readonly lastHeartbeat: number;
  /** Newest revision sent to the agent, and newest it acknowledged. */
  readonly sentRevision: number;
  readonly ackedRevision: number;
}

export interface AgentGateway {
  /** HOST:PORT the gateway listens on (the real port when 0 was asked for). */
  readonly address: string;
  readonly port: number;
  /**
   * When the controller last heard from `nodeName` (any message on its stream), ms since the epoch
   * by the gateway's clock; kept after the node disconnects. Undefined if not heard from since this
   * controller started — a node-lifecycle controller should then start the node's grace period
   * from its own first look, as kube-controller-manager does.
   */
  lastHeartbeat(nodeName: string): number | undefined;
  /** Whether `nodeName` has a registered stream now. */
  isConnected(nodeName: string): boolean;
  /** Names of the nodes with a registered stream now. */
  connectedNodes(): string[];
  connection(nodeName: string): AgentConnectionInfo | undefined;
  /** Opens logs/exec byte streams to connected nodes (tunnel-broker.ts). */
  readonly tunnels: TunnelOpener;
  /** Ends every stream (UNAVAILABLE, so agents reconnect elsewhere or later) and stops serving. */
  close(): Promise<void>;
}

/** Starts the gateway: loads the pod feed, binds the port, and serves until `close()`. */
export async function startAgentGateway(opts: AgentGatewayOptions): Promise<AgentGateway> {
  const log = opts.logger;
  const clock = opts.clock;
  const store = opts.storage.store;
  const events =
    opts.events ?? new StorageEventSink({ storage: opts.storage, logger: log.child({ part: 'events' }) });
  const feed = new PodFeed({ store, clock, logger: log.child({ part: 'pod-feed' }) });
  const registrar = new NodeRegistrar({
    storage: opts.storage,
    clock,
    logger: log,
    events,
    ...(opts.nodeStatusUpdateIntervalMs === undefined
      ? {}
      : { statusUpdateIntervalMs: opts.nodeStatusUpdateIntervalMs }),
  });
  const statusWriter = new PodStatusWriter({
    storage: opts.storage,
    clock,
    logger: log.child({ part: 'pod-status' }),
  });
  const join = new JoinService({
    ca: opts.ca,
    tokens: new NodeTokenStore({ dataDir: opts.dataDir, clock }),
    clock,
    logger: log,
  });
  const metrics = opts.registry === undefined ? undefined : gatewayMetrics(opts.registry);

  const sessions = new Map<string, AgentSession>();
  const lastHeard = new Map<string, number>();
  const open = new Set<AgentSession>();
  const tunnels = new TunnelBroker({
    sendStreamOpen: (nodeName, streamOpen) => sessions.get(nodeName)?.streamOpen(streamOpen) ?? false,
    isConnected: (nodeName) => sessions.has(nodeName),
    clock,
    logger: log.child({ part: 'tunnels' }),
    ...(opts.tunnelOpenTimeoutMs === undefined ? {} : { openTimeoutMs: opts.tunnelOpenTimeoutMs }),
  });
  const nodeConfigs = new NodeConfigFeed({
    store,
    clock,
    logger: log.child({ part: 'node-config' }),
    clusterCidr: opts.clusterCidr ?? '',
    onChange: (nodeName, config) => {
      sessions.get(nodeName)?.nodeConfig(config);
    },
  });

  await feed.start();
  try {
    await nodeConfigs.start();
  } catch (err) {
    await feed.close();
    throw err;
  }

  const onJoin = (
    call: ServerUnaryCall<JoinRequest, JoinResponse>,
    callback: sendUnaryData<JoinResponse>,
  ): void => {
    join.join(call.request).then(
      (outcome) => {
        metrics?.joins.inc({ result: outcome.ok ? 'ok' : outcome.reason });
        if (outcome.ok) {
          callback(null, { certPem: outcome.certPem, caPem: outcome.caPem });
        } else {
          const code =
            outcome.reason === 'unauthenticated' ? grpcStatus.UNAUTHENTICATED : grpcStatus.INVALID_ARGUMENT;
          callback({ code, details: outcome.message });
        }
      },
      (err: unknown) => {
        metrics?.joins.inc({ result: 'error' });
        log.error({ err: errorMessage(err) }, 'join failed');
        callback({ code: grpcStatus.INTERNAL, details: `join failed: ${errorMessage(err)}` });
      },
    );
  };

  const onConnect = (call: ServerDuplexStream<AgentMessage, ControllerMessage>): void => {
    const nodeName = nodeNameOfPeer(call.getAuthContext().sslPeerCertificate);
    if (nodeName === undefined) {
      call.emit('error', {
        code: grpcStatus.UNAUTHENTICATED,
        details: 'Connect needs a node client certificate issued by this cluster (join first)',
      });
      return;
    }
    let ended = false;
    const stream: SessionStream = {
      send: (message) => {
        if (!ended) call.write(message);
      },
      get backlog() {
        return call.writableLength;
      },
      end: (code, details) => {
        if (ended) return;
        ended = true;
        call.emit('error', { code, details });
      },
    };
    const session = new AgentSession({
      nodeName,
      stream,
      feed,
      registrar,
      statusWriter,
      events,
      clock,
      logger: log,
      onRegister: (s) => {
        const previous = sessions.get(s.nodeName);
        sessions.set(s.nodeName, s);
        lastHeard.set(s.nodeName, clock.now());
        previous?.close(grpcStatus.ABORTED, 'replaced by a newer stream from the same node');
        metrics?.connected.set(sessions.size);
      },
      onRegistered: (s) => {
        s.nodeConfig(nodeConfigs.configOf(s.nodeName));
      },
      onClose: (s) => {
        open.delete(s);
        if (sessions.get(s.nodeName) === s) {
          sessions.delete(s.nodeName);
          lastHeard.set(s.nodeName, s.lastHeard);
          registrar.forget(s.nodeName);
        }
        metrics?.connected.set(sessions.size);
      },
    });
    open.add(session);
    call.on('data', (message: AgentMessage) => {
      if (metrics !== undefined) metrics.messages.inc({ type: message.kind?.$case ?? 'empty' });
      session.handle(message);
      if (sessions.get(nodeName) === session) lastHeard.set(nodeName, session.lastHeard);
    });
    call.on('end', () => {
      session.ended('agent closed the stream');
      if (!ended) {
        ended = true;
        call.end();
      }
    });
    call.on('error', (err: Error) => {
      ended = true;
      session.ended(errorMessage(err));
    });
    call.on('cancelled', () => {
      ended = true;
      session.ended('cancelled (connection lost)');
    });
  };

  const server = new Server({
    'grpc.keepalive_time_ms': opts.keepaliveTimeMs ?? 10_000,
    'grpc.keepalive_timeout_ms': 5_000,
    'grpc.max_receive_message_length': 16 * 1024 * 1024,
  });
  server.addService(NodeJoinService, { join: onJoin });
  const onTunnel = (call: ServerDuplexStream<TunnelFrame, TunnelFrame>): void => {
    tunnels.accept(call, nodeNameOfPeer(call.getAuthContext().sslPeerCertificate));
  };
  const objects = new ObjectService({ storage: opts.storage, logger: log.child({ part: 'objects' }) });
  server.addService(AgentGatewayService, { connect: onConnect, tunnel: onTunnel, getObject: objects.handle });

  const hostname = opts.hostname ?? osHostname();
  const serving = await issueGatewayCertificate(opts.ca, {
    listenHosts: [opts.listenHost, ...(opts.extraServingHosts ?? [])],
    hostname,
    interfaces: (opts.networkInterfaces ?? networkInterfaces)(),
    now: clock.now(),
  });
  let port: number;
  try {
    port = await bind(server, opts.listenHost, opts.listenPort, gatewayServerCredentials(opts.ca, serving));
  } catch (err) {
    await feed.close();
    await nodeConfigs.close();
    throw err;
  }
  const address = `${opts.listenHost.includes(':') ? `[${opts.listenHost}]` : opts.listenHost}:${port}`;

  const peerTimeoutMs = opts.peerTimeoutMs ?? 30_000;
  const timers: Timer[] = [
    clock.setTimer(
      opts.bookmarkIntervalMs ?? 10_000,
      () => {
        for (const s of sessions.values()) s.bookmark(feed.revision);
      },
      { repeat: true },
    ),
    clock.setTimer(
      Math.max(1000, Math.floor(peerTimeoutMs / 3)),
      () => {
        const now = clock.now();
        for (const s of [...open]) {
          if (now - s.lastHeard > peerTimeoutMs) {
            s.close(
              grpcStatus.UNAVAILABLE,
              `nothing heard from the agent for ${Math.round((now - s.lastHeard) / 1000)} s`,
            );
          }
        }
      },
      { repeat: true },
    ),
  ];
  log.info({ address }, 'agent gateway listening');

  return {
    address,
    port,
    lastHeartbeat: (nodeName) => lastHeard.get(nodeName),
    isConnected: (nodeName) => sessions.has(nodeName),
    connectedNodes: () => [...sessions.keys()],
    tunnels,
    connection: (nodeName) => {
      const s = sessions.get(nodeName);
      if (s === undefined) return undefined;
      return {
        nodeName,
        connectedAt: s.connectedAt,
        lastHeartbeat: s.lastHeard,
        sentRevision: s.sentRevision,
        ackedRevision: s.ackedRevision,
      };
    },
    close: async () => {
      for (const t of timers) t.cancel();
      tunnels.close();
      for (const s of [...open]) s.close(grpcStatus.UNAVAILABLE, 'controller shutting down');
      await new Promise<void>((resolve) => {
        // Streams already ended; anything still open after the graceful attempt is cut.
        const force = clock.setTimer(2000, () => {
          server.forceShutdown();
          resolve();
        });
        server.tryShutdown(() => {
          force.cancel();
          resolve();
        });
      });
      await feed.close();
      await nodeConfigs.close();
      await statusWriter.close();
    },
  };
}

function bind(server: Server, host: string, port: number, credentials: ServerCredentials): Promise<number> {
  const target = `${host.includes(':') ? `[${host}]` : host}:${port}`;
  return new Promise((resolve, reject) => {
    server.bindAsync(target, credentials, (err, boundPort) => {
      if (err !== null) {
        const inUse = /EADDRINUSE|address already in use/i.test(err.message);
        reject(
          new BerthError(
            errorCodes.CONFIG_INVALID,
            inUse
              ? `cannot listen for agents on ${target}: the port is already in use; pick another with --agent-listen`
              : `cannot listen for agents on ${target}: ${err.message}`,
            { cause: err },
          ),
        );
        return;
      }
      resolve(boundPort);
    });
  });
}

interface GatewayMetrics {
  readonly connected: Gauge;
  readonly messages: Counter<'type'>;
  readonly joins: Counter<'result'>;
}

function gatewayMetrics(registry: Registry): GatewayMetrics {
  return {
    connected: new Gauge({
      name: 'berth_agent_gateway_connected_agents',
      help: 'Agents with a registered stream to this controller.',
      registers: [registry],
    }),
    messages: new Counter({
      name: 'berth_agent_gateway_messages_received_total',
      help: 'Messages received from agents, by type.',
      labelNames: ['type'],
      registers: [registry],
    }),
    joins: new Counter({
      name: 'berth_agent_gateway_joins_total',
      help: 'Join requests, by result (ok, unauthenticated, invalid, error).',
      labelNames: ['result'],
      registers: [registry],
    }),
  };
}

/** `berth server --agent-listen`: where to serve agents, and whether a busy port is fatal. */
export interface AgentListen {
  readonly host: string;
  readonly port: number;
  /** The address is the default, not asked for: if it is taken, warn and run without a gateway. */
  readonly optional?: boolean;
}

/**
 * The gateway as `berth server` runs it: undefined when `listen` is undefined, or when the default
 * address is taken (logged as a warning; several test servers on one machine cannot all have 6444).
 */
export async function startServerAgentGateway(
  listen: AgentListen | undefined,
  deps: Omit<AgentGatewayOptions, 'listenHost' | 'listenPort'>,
): Promise<AgentGateway | undefined> {
  if (listen === undefined) return undefined;
  try {
    return await startAgentGateway({ ...deps, listenHost: listen.host, listenPort: listen.port });
  } catch (err) {
    if (listen.optional !== true || !/already in use/.test(errorMessage(err))) throw err;
    deps.logger.warn(
      { address: `${listen.host}:${listen.port}` },
      'agent gateway not started: its default address is in use; pass --agent-listen HOST:PORT to serve agents',
    );
    return undefined;
  }
}

/**
 * The agent's connection to the controller: one gRPC stream (AgentGateway.Connect) over mTLS with
 * the node certificate, kept up for the agent's lifetime. On each stream it registers (presenting
 * the last revision it applied, so the controller can resume), sends a heartbeat every few seconds,
 * feeds the pod workers from the snapshot and changes that come back, and sends what the pod workers
 * report (it is their `PodReporter`). It hands NodeConfig (the pod CIDR) to `onNodeConfig` listeners,
 * and serves each StreamOpen (logs, exec) on its own `Tunnel` call, with the same credentials, through
 * the node's `StreamHandlers` (agent/streams/). Any error ends the stream; the client reconnects after a
 * capped, jittered back-off, joining again first if the controller refused its certificate.
 *
 *   idle ──start──▶ connecting ──first message──▶ connected ──stream ends──▶ backing-off ─┐
 *                      ▲                                                                  │
 *                      └──────────────────────────────────────────────────────────────────┘
 *   any ──close()──▶ closed
 */
import {
  credentials as grpcCredentials,
  status as grpcStatus,
  type ClientDuplexStream,
  type StatusObject,
} from '@grpc/grpc-js';
import { Counter, Gauge, type Registry } from 'prom-client';
import type { Clock, Timer } from '../lib/clock.js';
import { errorMessage } from '../lib/errors.js';
import type { Logger } from '../lib/logger.js';
import {
  AgentGatewayClient,
  type AgentMessage,
  type ControllerMessage,
  type Register,
  type StreamOpen,
} from '../proto/gen/berth/v1/agent.js';
import { Backoff, type BackoffOptions } from './backoff.js';
import type { NodeCredentials } from './node-identity.js';
import type { DesiredPods, PodEvent, PodReporter, PodStatusUpdate } from './pods/pod-manager.js';
import { PodSync } from './pod-sync.js';
import { ReportQueue } from './report-queue.js';
import type { StreamHandlers } from './streams/stream-types.js';
import { serveTunnel } from './streams/tunnel-client.js';

/** Where the client gets its credentials; `NodeIdentity` implements it. */
export interface CredentialSource {
  current(): Promise<NodeCredentials>;
  /** The controller refused the credentials: get new ones next time. */
  invalidate(): void;
}

/** The Register message without the revision, which the client fills in. */
export type Registration = Omit<Register, 'lastAppliedRevision'>;

export interface GatewayClientOptions {
  /** grpc-js target of the gateway, `HOST:PORT`. */
  readonly target: string;
  readonly credentials: CredentialSource;
  /** Builds the Register message (called on every connect, so it may report fresh facts). */
  readonly registration: () => Registration;
  readonly clock: Clock;
  readonly logger: Logger;
  /** Heartbeat period (default 2 s; the controller's node grace period is 8 s). */
  readonly heartbeatIntervalMs?: number;
  /** Reconnect back-off (default 500 ms doubling to 10 s, jittered). */
  readonly backoff?: BackoffOptions;
  /** gRPC keep-alive ping interval (default 10 s, timeout 5 s). */
  readonly keepaliveTimeMs?: number;
  /** Registry for `berth_agent_gateway_*` metrics; none if absent (hollow agents share a process). */
  readonly registry?: Registry;
  /** Serves logs and exec; absent, every StreamOpen is answered with "not supported on this node". */
  readonly streams?: StreamHandlers;
}

/** Node settings from the controller (NodeConfig). */
export interface NodeConfigUpdate {
  readonly podCidr: string;
  readonly clusterCidr: string;
}

type State = 'idle' | 'connecting' | 'connected' | 'backing-off' | 'closed';

/** Messages written per turn before yielding to the event loop. */
const writeBatch = 256;

export class GatewayClient implements PodReporter {
  readonly #o: GatewayClientOptions;
  readonly #log: Logger;
  readonly #reports = new ReportQueue();
  readonly #backoff: Backoff;
  readonly #abort = new AbortController();
  readonly #metrics: ClientMetrics | undefined;
  #sync: PodSync | undefined;
  #state: State = 'idle';
  #call: ClientDuplexStream<AgentMessage, ControllerMessage> | undefined;
  #flushScheduled = false;
  #ackedRevision = 0;
  #loop: Promise<void> | undefined;
  #lastError: string | undefined;
  #connectedWaiters: (() => void)[] = [];
  #nodeConfigListeners: ((cfg: NodeConfigUpdate) => void)[] = [];
  #nodeConfig: NodeConfigUpdate | undefined;
  #creds: NodeCredentials | undefined;
  readonly #tunnels = new Set<Promise<void>>();
  #tunnelChannel:
    { creds: NodeCredentials; client: AgentGatewayClient; active: number; retired: boolean } | undefined;

  constructor(opts: GatewayClientOptions) {
    this.#o = opts;
    this.#log = opts.logger;
    this.#backoff = new Backoff(opts.backoff ?? { initialMs: 500, maxMs: 10_000 });
    this.#metrics = opts.registry === undefined ? undefined : clientMetrics(opts.registry);
    this.#reports.onPending = () => {
      this.#scheduleFlush();
    };
  }

  /** Starts connecting (and reconnecting) with `pods` as the receiver of the node's pods. */
  start(pods: DesiredPods): void {
    if (this.#state !== 'idle') throw new Error('GatewayClient.start: already started');
    this.#sync = new PodSync({ pods, reports: this.#reports, logger: this.#log });
    this.#loop = this.#run();
  }

  /** Whether a stream is up and the controller has answered on it. */
  get connected(): boolean {
    return this.#state === 'connected';
  }

  /** The newest revision of this node's pods applied (0 before the first snapshot). */
  get lastAppliedRevision(): number {
    return this.#sync?.revision ?? 0;
  }

  /** Why the last stream ended, if it did. */
  get lastError(): string | undefined {
    return this.#lastError;
  }

  /** Resolves when connected (immediately if already). For tests and start-up logs. */
  whenConnected(): Promise<void> {
    if (this.connected) return Promise.resolve();
    return new Promise((resolve) => this.#connectedWaiters.push(resolve));
  }

  /**
   * Calls `listener` with every NodeConfig the controller sends (after each Register, and when the
   * node's pod CIDR changes), and at once with the last one received, if any.
   */
  onNodeConfig(listener: (cfg: NodeConfigUpdate) => void): void {
    this.#nodeConfigListeners.push(listener);
    if (this.#nodeConfig !== undefined) listener(this.#nodeConfig);
  }

  /** The last NodeConfig received, if any. */
  get nodeConfig(): NodeConfigUpdate | undefined {
    return this.#nodeConfig;
  }

  status(update: PodStatusUpdate): void {
    this.#reports.status(update);
  }

  event(event: PodEvent): void {
    this.#reports.event(event);
  }

  terminated(pod: { readonly namespace: string; readonly name: string; readonly uid: string }): void {
    this.#reports.terminated(pod);
  }

  /** Ends the stream and stops reconnecting. */
  async close(): Promise<void> {
    if (this.#state === 'closed') return;
    this.#state = 'closed';
    this.#abort.abort();
    this.#call?.cancel();
    await this.#loop;
    await Promise.all([...this.#tunnels]);
    this.#tunnelChannel?.client.close();
    this.#tunnelChannel = undefined;
  }

  async #run(): Promise<void> {
    const signal = this.#abort.signal;
    while (!signal.aborted) {
      this.#state = 'connecting';
      let established = false;
      try {
        const creds = await this.#o.credentials.current();
        established = await this.#stream(creds);
      } catch (err) {
        this.#lastError = errorMessage(err);
        this.#log.warn({ err: this.#lastError }, 'cannot connect to the controller');
      }
      if (this.#closing()) break;
      this.#setConnected(false);
      this.#state = 'backing-off';
      if (established) this.#backoff.reset();
      const delay = this.#backoff.next();
      this.#log.info(
        { retryInMs: delay, reason: this.#lastError },
        'disconnected from the controller; reconnecting',
      );
      try {
        await this.#o.clock.sleep(delay, signal);
      } catch {
        break;
      }
    }
    this.#setConnected(false);
  }

  /** One stream, start to end. Resolves true if the controller answered on it. */
  #stream(creds: NodeCredentials): Promise<boolean> {
    const client = new AgentGatewayClient(
      this.#o.target,
      grpcCredentials.createSsl(
        Buffer.from(creds.caPem),
        Buffer.from(creds.keyPem),
        Buffer.from(creds.certPem),
      ),
      {
        'grpc.keepalive_time_ms': this.#o.keepaliveTimeMs ?? 10_000,
        'grpc.keepalive_timeout_ms': 5_000,
        'grpc.keepalive_permit_without_calls': 1,
        'grpc.max_receive_message_length': 256 * 1024 * 1024,
        // Each stream gets its own channel; do not let channels share connections across agents.
        'grpc.use_local_subchannel_pool': 1,
      },
    );
    const call = client.connect();
    this.#call = call;
    this.#creds = creds;
    this.#sync?.streamStarted();
    this.#metrics?.connects.inc();
    let established = false;
    let heartbeat: Timer | undefined;
    return new Promise<boolean>((resolve) => {
      let done = false;
      const finish = (reason: string): void => {
        if (done) return;
        done = true;
        heartbeat?.cancel();
        this.#call = undefined;
        this.#lastError = reason;
        client.close();
        resolve(established);
      };
      call.on('data', (message: ControllerMessage) => {
        if (!established) {
          established = true;
          this.#backoff.reset();
          this.#setConnected(true);
          this.#log.info({ target: this.#o.target }, 'connected to the controller');
        }
        const kind = message.kind;
        if (kind?.$case === 'nodeConfig') {
          this.#applyNodeConfig(kind.nodeConfig);
          return;
        }
        if (kind?.$case === 'streamOpen') {
          this.#openTunnel(kind.streamOpen);
          return;
        }
        this.#sync?.apply(message);
        this.#scheduleFlush();
      });
      call.on('status', (status: StatusObject) => {
        if (status.code === grpcStatus.UNAUTHENTICATED) {
          this.#log.warn(
            { details: status.details },
            'the controller refused the node certificate; will join again',
          );
          this.#o.credentials.invalidate();
        } else if (
          status.code === grpcStatus.PERMISSION_DENIED ||
          status.code === grpcStatus.INVALID_ARGUMENT
        ) {
          this.#log.error({ details: status.details }, 'the controller refused this agent');
        }
        finish(`${grpcStatus[status.code]}: ${status.details}`);
      });
      call.on('error', (err: Error) => {
        finish(errorMessage(err));
      });
      call.on('close', () => {
        finish('stream closed');
      });
      call.on('drain', () => {
        this.#flush();
      });

      call.write({
        kind: {
          $case: 'register',
          register: { ...this.#o.registration(), lastAppliedRevision: this.lastAppliedRevision },
        },
      });
      this.#ackedRevision = this.lastAppliedRevision;
      this.#reports.requeueAll();
      const interval = this.#o.heartbeatIntervalMs ?? 2000;
      heartbeat = this.#o.clock.setTimer(
        interval,
        () => {
          if (!done) call.write({ kind: { $case: 'heartbeat', heartbeat: {} } });
        },
        { repeat: true },
      );
    });
  }

  #applyNodeConfig(cfg: NodeConfigUpdate): void {
    const update = { podCidr: cfg.podCidr, clusterCidr: cfg.clusterCidr };
    this.#nodeConfig = update;
    this.#log.info(update, 'node config from the controller');
    for (const l of this.#nodeConfigListeners) {
      try {
        l(update);
      } catch (err) {
        this.#log.error({ err: errorMessage(err) }, 'node config listener failed');
      }
    }
  }

  /**
   * Serves a StreamOpen on its own Tunnel call. Tunnels share one channel per node certificate,
   * separate from the Connect stream's, so a tunnel outlives a reconnect and the TLS session is
   * reused; a channel is closed once replaced (new certificate) and idle, or when the client closes.
   */
  #openTunnel(open: StreamOpen): void {
    const creds = this.#creds;
    this.#log.debug({ stream: open.streamId, kind: open.request?.$case }, 'stream open received');
    if (creds === undefined || this.#state === 'closed') return;
    let channel = this.#tunnelChannel;
    if (channel?.creds !== creds) {
      const old = channel;
      if (old !== undefined) {
        old.retired = true;
        if (old.active === 0) old.client.close();
      }
      channel = {
        creds,
        client: new AgentGatewayClient(
          this.#o.target,
          grpcCredentials.createSsl(
            Buffer.from(creds.caPem),
            Buffer.from(creds.keyPem),
            Buffer.from(creds.certPem),
          ),
          { 'grpc.use_local_subchannel_pool': 1 },
        ),
        active: 0,
        retired: false,
      };
      this.#tunnelChannel = channel;
    }
    const ch = channel;
    ch.active++;
    const handlers = this.#o.streams ?? unsupportedStreams;
    const served = serveTunnel(open, () => ch.client.tunnel(), handlers, this.#log).finally(() => {
      ch.active--;
      if (ch.retired && ch.active === 0) ch.client.close();
      this.#tunnels.delete(served);
    });
    this.#tunnels.add(served);
  }

  #closing(): boolean {
    return this.#abort.signal.aborted;
  }

  #setConnected(connected: boolean): void {
    if (connected && this.#state !== 'closed') {
      this.#state = 'connected';
      for (const resolve of this.#connectedWaiters.splice(0)) resolve();
    }
    this.#metrics?.connected.set(connected ? 1 : 0);
  }

  #scheduleFlush(): void {
    if (this.#flushScheduled) return;
    this.#flushScheduled = true;
    // Reports made in the same turn go out together, and the newest status of a pod wins.
    queueMicrotask(() => {
      this.#flushScheduled = false;
      this.#flush();
    });
  }

  /** Writes acks and waiting reports while the stream takes them; the rest waits for 'drain'. */
  #flush(): void {
    const call = this.#call;
    if (call === undefined || this.#state !== 'connected') return;
    const revision = this.lastAppliedRevision;
    if (revision !== this.#ackedRevision) {
      this.#ackedRevision = revision;
      call.write({ kind: { $case: 'ack', ack: { revision } } });
    }
    while (this.#reports.pending) {
      let writable = true;
      for (const message of this.#reports.take(writeBatch)) writable = call.write(message);
      if (!writable) return;
    }
  }
}

interface ClientMetrics {
  readonly connected: Gauge;
  readonly connects: Counter;
}

function clientMetrics(registry: Registry): ClientMetrics {
  return {
    connected: new Gauge({
      name: 'berth_agent_gateway_connected',
      help: 'Whether the agent has a stream to the controller (1) or not (0).',
      registers: [registry],
    }),
    connects: new Counter({
      name: 'berth_agent_gateway_connects_total',
      help: 'Streams opened to the controller.',
      registers: [registry],
    }),
  };
}

/** What a node without stream handlers answers. */
const unsupportedStreams: StreamHandlers = {
  logs: (_req, sink) => {
    sink.reject({ code: 400, message: 'this node does not serve container logs' });
    return Promise.resolve();
  },
  exec: (_req, io) => {
    io.reject({ code: 400, message: 'this node does not serve exec' });
    return Promise.resolve();
  },
};

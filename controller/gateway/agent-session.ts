/**
 * One agent's stream, on the controller side: the protocol and the node's authority, independent of
 * gRPC (the gateway adapts a grpc-js duplex call to `SessionStream`). The node name comes from the
 * verified client certificate, never from a message; with it the session lets the node write its own
 * Node and the status, events and removal of pods bound to it — and nothing else: anything about
 * another node's pods or another node's name ends the stream with PERMISSION_DENIED.
 *
 *   awaiting-register ──Register (own name)──▶ active ──stream ends / close()──▶ closed
 *          │                                     │
 *          └──timeout, wrong name, bad message───┴──────────────────────────────▶ closed
 *
 * Once active the session is a `FeedSubscriber`: it forwards the pod snapshot or the resumed changes,
 * then every change to the node's pods, and the gateway's bookmarks (Ping) in between.
 */
import { status as grpcStatus } from '@grpc/grpc-js';
import type { Clock, Timer } from '../../lib/clock.js';
import { errorMessage } from '../../lib/errors.js';
import type { Logger } from '../../lib/logger.js';
import { isApiError } from '../../api/status.js';
import {
  ChangeType,
  type AgentMessage,
  type ControllerMessage,
  type NodeConfig,
  type Register,
  type StreamOpen,
  type ResourceList,
} from '../../proto/gen/berth/v1/agent.js';
import type { EventSink } from './event-sink.js';
import { restrictedLabels, type NodeRegistration } from './node-object.js';
import type { NodeRegistrar } from './node-registrar.js';
import type { FeedSubscriber, FeedSubscription, PodFeed, PodRef } from './pod-feed.js';
import type { PodStatusWriter } from './pod-status-writer.js';

/** The transport under a session: a gRPC server duplex call, or a test double. */
export interface SessionStream {
  send(message: ControllerMessage): void;
  /** Messages queued for sending and not yet flushed to the socket. */
  readonly backlog: number;
  /** Ends the stream with a gRPC status (`code` from `@grpc/grpc-js` `status`). */
  end(code: grpcStatus, details: string): void;
}

export interface AgentSessionDeps {
  /** The node name from the client certificate. */
  readonly nodeName: string;
  readonly stream: SessionStream;
  readonly feed: PodFeed;
  readonly registrar: NodeRegistrar;
  readonly statusWriter: PodStatusWriter;
  readonly events: EventSink;
  readonly clock: Clock;
  readonly logger: Logger;
  /** Called once the Register is accepted, before the Node is written. */
  readonly onRegister: (session: AgentSession) => void;
  /** Called once the Node is written and the pod feed subscribed (send the NodeConfig now). */
  readonly onRegistered?: (session: AgentSession) => void;
  /** Called once when the session ends, whatever ended it. */
  readonly onClose: (session: AgentSession) => void;
  /** Time allowed between the stream opening and Register (default 10 s). */
  readonly registerTimeoutMs?: number;
  /** A heartbeat after a silence this long writes the Node at once (default 4 s). */
  readonly heartbeatGapMs?: number;
  /** Messages queued to the agent beyond which it is too slow and is dropped (default 10,000). */
  readonly maxBacklog?: number;
}

export type SessionState = 'awaiting-register' | 'active' | 'closed';

export class AgentSession implements FeedSubscriber {
  readonly nodeName: string;
  readonly #d: AgentSessionDeps;
  readonly #log: Logger;
  readonly #heartbeatGapMs: number;
  readonly #maxBacklog: number;
  readonly connectedAt: number;
  #state: SessionState = 'awaiting-register';
  #registerTimer: Timer | undefined;
  #subscription: FeedSubscription | undefined;
  #lastHeard: number;
  #sentRevision = 0;
  #ackedRevision = 0;
  #nodeConfig: NodeConfig | undefined;

  constructor(deps: AgentSessionDeps) {
    this.#d = deps;
    this.nodeName = deps.nodeName;
    this.#log = deps.logger.child({ node: deps.nodeName });
    this.#heartbeatGapMs = deps.heartbeatGapMs ?? 4000;
    this.#maxBacklog = deps.maxBacklog ?? 10_000;
    this.connectedAt = deps.clock.now();
    this.#lastHeard = this.connectedAt;
    this.#registerTimer = deps.clock.setTimer(deps.registerTimeoutMs ?? 10_000, () => {
      if (this.#state === 'awaiting-register') {
        this.close(grpcStatus.DEADLINE_EXCEEDED, 'no Register message received in time');
      }
    });
  }

  get state(): SessionState {
    return this.#state;
  }

  /** When the controller last heard anything from this agent (ms since the epoch). */
  get lastHeard(): number {
    return this.#lastHeard;
  }

  /** The newest revision sent to the agent (snapshot, change or bookmark). */
  get sentRevision(): number {
    return this.#sentRevision;
  }

  /** The newest revision the agent says it has applied. */
  get ackedRevision(): number {
    return this.#ackedRevision;
  }

  /** Handles one message from the agent. Never throws; a violation ends the stream. */
  handle(message: AgentMessage): void {
    if (this.#state === 'closed') return;
    const now = this.#d.clock.now();
    const silence = now - this.#lastHeard;
    this.#lastHeard = now;
    const kind = message.kind;
    if (kind === undefined) {
      this.close(grpcStatus.INVALID_ARGUMENT, 'empty message');
      return;
    }
    if (this.#state === 'awaiting-register' && kind.$case !== 'register') {
      this.close(grpcStatus.FAILED_PRECONDITION, `expected Register as the first message, got ${kind.$case}`);
      return;
    }
    // After a silence long enough for the node to have been marked NotReady, say Ready at once,
    // whatever the first message after it is.
    const forceHeartbeat = this.#state === 'active' && silence >= this.#heartbeatGapMs;
    if (forceHeartbeat && kind.$case !== 'heartbeat')
      void this.#d.registrar.heartbeat(this.nodeName, { force: true });
    switch (kind.$case) {
      case 'register':
        this.#register(kind.register);
        return;
      case 'heartbeat':
        void this.#d.registrar.heartbeat(this.nodeName, { force: forceHeartbeat });
        return;
      case 'podStatus': {
        const m = kind.podStatus;
        const ref = { namespace: m.namespace, name: m.name, uid: m.uid };
        if (!this.#authorized(ref, 'report the status of')) return;
        const status = parseJsonObject(m.statusJson);
        if (status === undefined) {
          this.close(
            grpcStatus.INVALID_ARGUMENT,
            `status of pod ${m.namespace}/${m.name} is not a JSON object`,
          );
          return;
        }
        this.#d.statusWriter.status(this.nodeName, ref, status);
        return;
      }
      case 'podEvent': {
        const m = kind.podEvent;
        const ref = { namespace: m.namespace, name: m.podName, uid: m.podUid };
        if (!this.#authorized(ref, 'report events about')) return;
        this.#d.events.record({
          involvedObject: {
            apiVersion: 'v1',
            kind: 'Pod',
            namespace: m.namespace,
            name: m.podName,
            uid: m.podUid,
            ...(m.fieldPath === '' ? {} : { fieldPath: m.fieldPath }),
          },
          type: m.type === 'Warning' ? 'Warning' : 'Normal',
          reason: m.reason,
          message: m.message,
          source: { component: 'kubelet', host: this.nodeName },
          timestamp: this.#d.clock.now(),
        });
        return;
      }
      case 'podTerminated': {
        const m = kind.podTerminated;
        const ref = { namespace: m.namespace, name: m.name, uid: m.uid };
        if (!this.#authorized(ref, 'remove')) return;
        this.#d.statusWriter.terminated(this.nodeName, ref);
        return;
      }
      case 'ack':
        this.#ackedRevision = Math.max(this.#ackedRevision, kind.ack.revision);
        return;
    }
  }

  /** The agent's side of the stream ended (or broke). */
  ended(reason: string): void {
    if (this.#state === 'closed') return;
    this.#log.info({ reason }, 'agent stream ended');
    this.#finish();
  }

  /** Ends the stream from the controller's side with `code`. */
  close(code: grpcStatus, details: string): void {
    if (this.#state === 'closed') return;
    const level =
      code === grpcStatus.PERMISSION_DENIED || code === grpcStatus.INVALID_ARGUMENT ? 'warn' : 'info';
    this.#log[level]({ code: grpcStatus[code], details }, 'closing agent stream');
    this.#finish();
    this.#d.stream.end(code, details);
  }

  /** Tells the agent it is up to date at `revision` (if that is news to it). */
  bookmark(revision: number): void {
    if (this.#state !== 'active' || this.#subscription === undefined || revision <= this.#sentRevision)
      return;
    this.#send({ kind: { $case: 'ping', ping: { revision } } }, revision);
  }

  /**
   * Asks the agent to open a tunnel (logs, exec). False when the session is not active, so the
   * caller can answer "node not connected" at once.
   */
  streamOpen(open: StreamOpen): boolean {
    if (this.#state !== 'active') return false;
    this.#d.stream.send({ kind: { $case: 'streamOpen', streamOpen: open } });
    return true;
  }

  /** Sends the node its settings (pod CIDR) if they differ from what it was last sent. */
  nodeConfig(config: NodeConfig): void {
    if (this.#state !== 'active') return;
    const last = this.#nodeConfig;
    if (last !== undefined && last.podCidr === config.podCidr && last.clusterCidr === config.clusterCidr)
      return;
    this.#nodeConfig = config;
    this.#d.stream.send({ kind: { $case: 'nodeConfig', nodeConfig: config } });
  }

  snapshot(pods: readonly Uint8Array[], revision: number): void {
    this.#send(
      { kind: { $case: 'podSnapshot', podSnapshot: { podsJson: pods.map(asBuffer), revision } } },
      revision,
    );
  }

  change(type: 'upsert' | 'delete', pod: Uint8Array, revision: number): void {
    const changeType = type === 'upsert' ? ChangeType.CHANGE_TYPE_UPSERT : ChangeType.CHANGE_TYPE_DELETE;
    this.#send(
      { kind: { $case: 'podChange', podChange: { type: changeType, podJson: asBuffer(pod), revision } } },
      revision,
    );
  }

  #send(message: ControllerMessage, revision: number): void {
    if (this.#state === 'closed') return;
    if (this.#d.stream.backlog > this.#maxBacklog) {
      this.close(grpcStatus.RESOURCE_EXHAUSTED, 'agent is not reading its stream; reconnect to resume');
      return;
    }
    this.#d.stream.send(message);
    this.#sentRevision = Math.max(this.#sentRevision, revision);
  }

  #register(reg: Register): void {
    if (this.#state !== 'awaiting-register') {
      this.close(grpcStatus.FAILED_PRECONDITION, 'Register may be sent only once per stream');
      return;
    }
    if (reg.nodeName !== this.nodeName) {
      this.close(
        grpcStatus.PERMISSION_DENIED,
        `node "${this.nodeName}" (certificate system:node:${this.nodeName}) may not register as node "${reg.nodeName}"`,
      );
      return;
    }
    const forbidden = restrictedLabels(reg.labels);
    if (forbidden.length > 0) {
      this.close(
        grpcStatus.PERMISSION_DENIED,
        `a node may not set the label(s) ${forbidden.join(', ')} on itself`,
      );
      return;
    }
    this.#registerTimer?.cancel();
    this.#state = 'active';
    this.#d.onRegister(this);
    void this.#d.registrar.register(registrationOf(reg)).then(
      () => {
        if (this.#state !== 'active') return;
        this.#subscription = this.#d.feed.subscribe(this.nodeName, this, reg.lastAppliedRevision);
        this.#d.onRegistered?.(this);
        this.#log.info(
          {
            resumedFrom: this.#subscription.resumed ? reg.lastAppliedRevision : undefined,
            pods: this.#d.feed.podCount(this.nodeName),
            revision: this.#d.feed.revision,
          },
          'agent registered',
        );
      },
      (err: unknown) => {
        if (isApiError(err) && err.status.code === 422) {
          this.close(grpcStatus.INVALID_ARGUMENT, `node registration refused: ${errorMessage(err)}`);
        } else {
          this.close(grpcStatus.UNAVAILABLE, `node registration failed: ${errorMessage(err)}`);
        }
      },
    );
  }

  /** Whether the node may act on pod `ref`; ends the stream when it is another node's pod. */
  #authorized(ref: PodRef, action: string): boolean {
    switch (this.#d.feed.ownership(this.nodeName, ref)) {
      case 'own':
        return true;
      case 'unknown':
        // Deleted long ago, or never existed: stale news, not an attack worth a disconnect.
        this.#log.debug(
          { pod: `${ref.namespace}/${ref.name}`, uid: ref.uid },
          `ignoring report about an unknown pod`,
        );
        return false;
      case 'other':
        this.close(
          grpcStatus.PERMISSION_DENIED,
          `node "${this.nodeName}" may not ${action} pod ${ref.namespace}/${ref.name} (uid ${ref.uid}): it is not bound to this node`,
        );
        return false;
    }
  }

  #finish(): void {
    this.#state = 'closed';
    this.#registerTimer?.cancel();
    this.#subscription?.close();
    this.#subscription = undefined;
    this.#d.onClose(this);
  }
}

/** The domain view of a Register message. */
export function registrationOf(reg: Register): NodeRegistration {
  return {
    nodeName: reg.nodeName,
    capacity: resourceMap(reg.capacity),
    allocatable: resourceMap(reg.allocatable ?? reg.capacity),
    labels: { ...reg.labels },
    addresses: reg.addresses.map((a) => ({ type: a.type, address: a.address })),
    runtimeName: reg.runtimeName,
    runtimeVersion: reg.runtimeVersion,
    agentVersion: reg.agentVersion,
    metricsAddress: reg.metricsAddress,
    operatingSystem: reg.operatingSystem,
    architecture: reg.architecture,
    kernelVersion: reg.kernelVersion,
    osImage: reg.osImage,
    bootId: reg.bootId,
  };
}

function resourceMap(list: ResourceList | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  if (list === undefined) return out;
  if (list.cpu !== '') out['cpu'] = list.cpu;
  if (list.memory !== '') out['memory'] = list.memory;
  if (list.pods !== '') out['pods'] = list.pods;
  if (list.ephemeralStorage !== '') out['ephemeral-storage'] = list.ephemeralStorage;
  return out;
}

const decoder = new TextDecoder();

/** The same bytes as a Buffer (what the generated code wants), without copying. */
function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

function parseJsonObject(bytes: Uint8Array): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(decoder.decode(bytes));
    return typeof value === 'object' && value !== null && !Array.isArray(value)
      ? (value as Record<string, unknown>)
      : undefined;
  } catch {
    return undefined;
  }
}

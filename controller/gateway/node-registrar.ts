/**
 * Writes agents' Node objects through `ResourceStorage` (not over HTTP): create-or-update at
 * registration, and the Ready condition's heartbeat time as heartbeats arrive — at most every
 * `statusUpdateIntervalMs` per node (default 60 s, kubelet's nodeStatusReportFrequency idea: with
 * node leases a kubelet reports an unchanged status only every few minutes), because a thousand nodes
 * writing every 10 s heartbeat cost most of a core. Liveness itself is read from memory
 * (`AgentGateway.lastHeartbeat`, the node-lifecycle controller's `HeartbeatSource`); the Node only
 * has to say roughly when the node was last heard from, and survive a controller restart. What does
 * change the Node is written at once: registration, and the first heartbeat after a silence (the
 * session forces it, so a node marked NotReady turns Ready again).
 *
 * Writes for one node are serialised, so a heartbeat never races its node's registration. A Node
 * deleted while its agent is connected is registered again at the next heartbeat write, as a
 * kubelet would.
 */
import type { StoredObject } from '../../api/object.js';
import { findResource, type ResourceInfo } from '../../api/resources.js';
import { isApiError } from '../../api/status.js';
import type { Clock } from '../../lib/clock.js';
import { errorMessage } from '../../lib/errors.js';
import type { Logger } from '../../lib/logger.js';
import type { ResourceStorage } from '../apiserver/resource-storage.js';
import type { EventSink } from './event-sink.js';
import {
  heartbeatStatus,
  isReady,
  registeredObject,
  registeredStatus,
  type NodeRegistration,
} from './node-object.js';

export interface NodeRegistrarOptions {
  readonly storage: ResourceStorage;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly events: EventSink;
  /** Least time between two heartbeat writes of one Node (default 60 s). */
  readonly statusUpdateIntervalMs?: number;
}

const nodes = findResource('', 'v1', 'nodes') as ResourceInfo;

export class NodeRegistrar {
  readonly #storage: ResourceStorage;
  readonly #clock: Clock;
  readonly #log: Logger;
  readonly #events: EventSink;
  readonly #intervalMs: number;
  readonly #registrations = new Map<string, NodeRegistration>();
  readonly #lastWrite = new Map<string, number>();
  readonly #chains = new Map<string, Promise<unknown>>();

  constructor(opts: NodeRegistrarOptions) {
    this.#storage = opts.storage;
    this.#clock = opts.clock;
    this.#log = opts.logger;
    this.#events = opts.events;
    this.#intervalMs = opts.statusUpdateIntervalMs ?? 60_000;
  }

  /**
   * Creates or updates the Node for `reg` and marks it Ready. Throws the storage's `ApiError` when
   * the Node is refused (an invalid label or quantity), and store errors.
   */
  register(reg: NodeRegistration): Promise<void> {
    this.#registrations.set(reg.nodeName, reg);
    return this.#serialised(reg.nodeName, () => this.#write(reg));
  }

  /**
   * Records a heartbeat: writes the Node's heartbeat time if the last write is older than the
   * interval, or at once with `force` (after a gap long enough for the node to have been marked
   * NotReady). Failures are logged, not thrown: the next heartbeat tries again.
   */
  heartbeat(nodeName: string, opts: { force?: boolean } = {}): Promise<void> {
    const last = this.#lastWrite.get(nodeName);
    const due = last === undefined || this.#clock.now() - last >= this.#intervalMs;
    if (!due && opts.force !== true) return Promise.resolve();
    // Claim the slot now so that heartbeats arriving while this write runs do not queue more.
    this.#lastWrite.set(nodeName, this.#clock.now());
    return this.#serialised(nodeName, async () => {
      try {
        await this.#writeHeartbeat(nodeName);
      } catch (err) {
        this.#lastWrite.delete(nodeName);
        this.#log.warn({ node: nodeName, err: errorMessage(err) }, 'node heartbeat write failed');
      }
    });
  }

  /** Forgets a node whose agent disconnected (its Node object stays). */
  forget(nodeName: string): void {
    this.#registrations.delete(nodeName);
    this.#lastWrite.delete(nodeName);
  }

  async #write(reg: NodeRegistration): Promise<void> {
    const now = this.#timestamp();
    const seen = { wasReady: false };
    const { created } = await this.#storage.update(
      nodes,
      undefined,
      reg.nodeName,
      (current) => {
        const next = registeredObject(current, reg);
        // A new Node is created with its status; an existing one gets it in the write below.
        if (current.metadata.uid === undefined) next.status = registeredStatus(undefined, reg, now);
        return next;
      },
      { createIfMissing: true },
    );
    await this.#storage.update(
      nodes,
      undefined,
      reg.nodeName,
      (current) => {
        const status = current.status as Record<string, unknown> | undefined;
        seen.wasReady = !created && isReady(status);
        return { ...current, status: registeredStatus(status, reg, now) };
      },
      { subresource: 'status' },
    );
    this.#lastWrite.set(reg.nodeName, this.#clock.now());
    if (!seen.wasReady) {
      this.#events.record({
        involvedObject: { apiVersion: 'v1', kind: 'Node', name: reg.nodeName, uid: reg.nodeName },
        type: 'Normal',
        reason: 'NodeReady',
        message: `Node ${reg.nodeName} status is now: NodeReady`,
        source: { component: 'kubelet', host: reg.nodeName },
        timestamp: this.#clock.now(),
      });
    }
  }

  async #writeHeartbeat(nodeName: string): Promise<void> {
    const now = this.#timestamp();
    try {
      await this.#storage.update(
        nodes,
        undefined,
        nodeName,
        (current: StoredObject) => ({
          ...current,
          status: heartbeatStatus(current.status as Record<string, unknown> | undefined, now),
        }),
        { subresource: 'status' },
      );
    } catch (err) {
      const reg = this.#registrations.get(nodeName);
      if (!(isApiError(err) && err.status.code === 404) || reg === undefined) throw err;
      this.#log.info(
        { node: nodeName },
        'node object was deleted while its agent is connected; registering it again',
      );
      await this.#write(reg);
    }
  }

  #serialised(nodeName: string, fn: () => Promise<void>): Promise<void> {
    const previous = this.#chains.get(nodeName) ?? Promise.resolve();
    const next = previous.catch(() => undefined).then(fn);
    this.#chains.set(nodeName, next);
    const cleanup = (): void => {
      if (this.#chains.get(nodeName) === next) this.#chains.delete(nodeName);
    };
    void next.then(cleanup, cleanup);
    return next;
  }

  #timestamp(): string {
    return new Date(this.#clock.now()).toISOString().replace(/\.\d{3}Z$/, 'Z');
  }
}

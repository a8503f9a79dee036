/**
 * Where the gateway puts Kubernetes Events — the ones agents report about their pods (Pulling,
 * Started, BackOff, Killing…) and its own about nodes (NodeReady). `EventSink` is the seam: the
 * controller framework's aggregating recorder can implement it; `StorageEventSink` is the plain
 * version that creates one core/v1 Event per record through `ResourceStorage`, off the caller's
 * path, with a bounded backlog (events are for people debugging; under overload dropping some is
 * better than slowing pod status).
 *
 * Normal events also pass a token bucket (kubelet's --event-qps/--event-burst, but for all agents
 * together): a thousand agents starting pods report Pulled/Created/Started for every container, and
 * written one Event each they would be most of the store's writes. Beyond the budget they are
 * dropped and counted, as client-go's broadcaster drops under load. Warnings are never rate-limited.
 */
import { randomBytes } from 'node:crypto';
import type { StoredObject } from '../../api/object.js';
import { findResource, type ResourceInfo } from '../../api/resources.js';
import { realClock, type Clock } from '../../lib/clock.js';
import type { Logger } from '../../lib/logger.js';
import { errorMessage } from '../../lib/errors.js';
import type { ResourceStorage } from '../apiserver/resource-storage.js';
import { TokenBucket } from '../controllers/token-bucket.js';

/** One event to record. */
export interface EventRecord {
  readonly involvedObject: {
    readonly apiVersion: string;
    readonly kind: string;
    /** Absent for cluster-scoped objects (their events go to `default`). */
    readonly namespace?: string;
    readonly name: string;
    readonly uid?: string;
    /** e.g. `spec.containers{app}` when the event is about one container. */
    readonly fieldPath?: string;
  };
  readonly type: 'Normal' | 'Warning';
  readonly reason: string;
  readonly message: string;
  /** Who reports it: `{ component: 'kubelet', host: nodeName }` for agents. */
  readonly source: { readonly component: string; readonly host?: string };
  /** When it happened, ms since the epoch. */
  readonly timestamp: number;
}

/** Accepts events to record. Never throws and never blocks the caller; failures are the sink's to log. */
export interface EventSink {
  record(event: EventRecord): void;
}

export interface StorageEventSinkOptions {
  readonly storage: ResourceStorage;
  readonly logger: Logger;
  /** Events waiting to be written before new ones are dropped (default 1000). */
  readonly maxBacklog?: number;
  /** Writes in flight at once (default 4). */
  readonly concurrency?: number;
  /** Normal events written per second, sustained, across all agents (default 50). */
  readonly normalEventsPerSecond?: number;
  /** Normal events written in a burst before the rate applies (default 500). */
  readonly normalEventBurst?: number;
  readonly clock?: Clock;
}

const events = findResource('', 'v1', 'events') as ResourceInfo;

/** Creates one Event object per record, in the background. */
export class StorageEventSink implements EventSink {
  readonly #storage: ResourceStorage;
  readonly #log: Logger;
  readonly #maxBacklog: number;
  readonly #concurrency: number;
  readonly #backlog: EventRecord[] = [];
  readonly #normalBudget: TokenBucket;
  #inFlight = 0;
  #dropped = 0;
  #limited = 0;
  #idle: (() => void)[] = [];

  constructor(opts: StorageEventSinkOptions) {
    this.#storage = opts.storage;
    this.#log = opts.logger;
    this.#maxBacklog = opts.maxBacklog ?? 1000;
    this.#concurrency = opts.concurrency ?? 4;
    this.#normalBudget = new TokenBucket({
      ratePerSecond: opts.normalEventsPerSecond ?? 50,
      burst: opts.normalEventBurst ?? 500,
      clock: opts.clock ?? realClock,
    });
  }

  /** Events dropped by the rate limit since this sink started. */
  get rateLimited(): number {
    return this.#limited;
  }

  record(event: EventRecord): void {
    if (event.type === 'Normal' && this.#normalBudget.tryTake() > 0) {
      if (this.#limited++ % 1000 === 0) {
        this.#log.info({ dropped: this.#limited }, 'normal events over their rate limit are dropped');
      }
      return;
    }
    if (this.#backlog.length >= this.#maxBacklog) {
      if (this.#dropped++ === 0) this.#log.warn('event backlog full; dropping events');
      return;
    }
    this.#backlog.push(event);
    this.#pump();
  }

  /** Resolves when every event accepted so far has been written (or failed). */
  flush(): Promise<void> {
    if (this.#backlog.length === 0 && this.#inFlight === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idle.push(resolve));
  }

  #pump(): void {
    while (this.#inFlight < this.#concurrency) {
      const next = this.#backlog.shift();
      if (next === undefined) break;
      this.#inFlight++;
      void this.#write(next).finally(() => {
        this.#inFlight--;
        this.#pump();
        if (this.#backlog.length === 0 && this.#inFlight === 0) {
          if (this.#dropped > 0) this.#log.warn({ dropped: this.#dropped }, 'events were dropped');
          this.#dropped = 0;
          for (const resolve of this.#idle.splice(0)) resolve();
        }
      });
    }
  }

  async #write(e: EventRecord): Promise<void> {
    const namespace = e.involvedObject.namespace ?? 'default';
    try {
      await this.#storage.create(events, namespace, eventObject(e, namespace));
    } catch (err) {
      this.#log.debug({ err: errorMessage(err), reason: e.reason }, 'event not recorded');
    }
  }
}

/** The core/v1 Event for a record, as a kubelet's event recorder would create it. */
export function eventObject(e: EventRecord, namespace: string): StoredObject {
  const time = new Date(e.timestamp).toISOString().replace(/\.\d{3}Z$/, 'Z');
  const io = e.involvedObject;
  return {
    apiVersion: 'v1',
    kind: 'Event',
    metadata: { name: `${io.name}.${randomBytes(8).toString('hex')}`, namespace },
    involvedObject: {
      apiVersion: io.apiVersion,
      kind: io.kind,
      name: io.name,
      ...(io.namespace === undefined ? {} : { namespace: io.namespace }),
      ...(io.uid === undefined ? {} : { uid: io.uid }),
      ...(io.fieldPath === undefined ? {} : { fieldPath: io.fieldPath }),
    },
    type: e.type,
    reason: e.reason,
    message: e.message,
    source: {
      component: e.source.component,
      ...(e.source.host === undefined ? {} : { host: e.source.host }),
    },
    firstTimestamp: time,
    lastTimestamp: time,
    count: 1,
    reportingComponent: e.source.component,
    reportingInstance: e.source.host ?? '',
  };
}

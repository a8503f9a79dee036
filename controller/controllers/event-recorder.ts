/**
 * Kubernetes Events (core/v1) for what users debug with `kubectl describe`: client-go's event
 * broadcaster and recorder, in process.
 *
 * - `recorder.event(obj, type, reason, message)` never blocks and never throws: the event joins a
 *   bounded queue (overflow is dropped and counted, as client-go's broadcaster drops) and one writer
 *   stores it through `ResourceStorage`; failures are logged.
 * - Repeats are aggregated like client-go's EventCorrelator/EventLogger: an event with the same source,
 *   involved object, type, reason and message as one already written bumps that Event's `count` and
 *   `lastTimestamp` instead of creating another. Repeats still queued are merged before any write.
 * - New Normal events pass a token bucket (default 50/s, burst 500) before they queue: a burst of
 *   thousands of pods would otherwise write a Scheduled and a SuccessfulCreate Event for each, as
 *   many writes as the pods themselves. Over the budget they are dropped and counted, as client-go's
 *   broadcaster drops when its queue is full. Warnings and repeats of queued events are not limited.
 * - Events are named `<object name>.<hex nanoseconds>` in the involved object's namespace (`default`
 *   for cluster-scoped objects) and carry `involvedObject.{kind,namespace,name,uid,apiVersion}`, which
 *   is what `kubectl describe` selects on.
 */
import type { StoredObject } from '../../api/object.js';
import { isApiError } from '../../api/status.js';
import type { Clock } from '../../lib/clock.js';
import { errorMessage } from '../../lib/errors.js';
import type { Logger } from '../../lib/logger.js';
import type { ResourceStorage } from '../apiserver/resource-storage.js';
import { requireResource } from './informer-factory.js';
import { updateObject } from './object-writes.js';
import { TokenBucket } from './token-bucket.js';

export type EventType = 'Normal' | 'Warning';

/** core/v1 ObjectReference: what an Event is about. */
export interface ObjectReference {
  readonly apiVersion?: string;
  readonly kind?: string;
  readonly namespace?: string;
  readonly name?: string;
  readonly uid?: string;
  readonly resourceVersion?: string;
  readonly fieldPath?: string;
}

/** Records events on behalf of one component (`source.component`). */
export interface EventRecorder {
  /**
   * Records an event about `object` (an API object or a reference to one). Returns at once; the write
   * happens in the background. `reason` is UpperCamelCase and short (`FailedScheduling`); `message` is
   * for people.
   */
  event(object: StoredObject | ObjectReference, type: EventType, reason: string, message: string): void;
}

export interface EventBroadcasterOptions {
  readonly storage: ResourceStorage;
  readonly clock: Clock;
  readonly logger: Logger;
  /** `source.host` / `reportingInstance` (default: unset / the component name). */
  readonly host?: string;
  /** Events queued for writing before new ones are dropped (default 1000, client-go's). */
  readonly maxPending?: number;
  /** Written events remembered for aggregation (default 4096, client-go's LRU size). */
  readonly cacheSize?: number;
  /** New Normal events accepted per second, sustained (default 50). */
  readonly normalEventsPerSecond?: number;
  /** New Normal events accepted in a burst before the rate applies (default 500). */
  readonly normalEventBurst?: number;
}

interface Pending {
  readonly key: string;
  readonly namespace: string;
  readonly involved: ObjectReference;
  readonly type: EventType;
  readonly reason: string;
  readonly message: string;
  readonly component: string;
  readonly firstMs: number;
  lastMs: number;
  count: number;
}

interface Written {
  readonly name: string;
  readonly namespace: string;
}

const events = requireResource('', 'v1', 'events');
/** Event writes in flight at once; enough to fill a group commit, few enough to leave the store to others. */
const MAX_CONCURRENT_WRITES = 32;

/** Owns the event queue, the aggregation cache and the writer; hands out per-component recorders. */
export class EventBroadcaster {
  readonly #opts: EventBroadcasterOptions;
  readonly #log: Logger;
  readonly #maxPending: number;
  readonly #cacheSize: number;
  readonly #normalBudget: TokenBucket;
  readonly #pending = new Map<string, Pending>();
  /** Aggregation key → the Event written for it, least recently used first. */
  readonly #written = new Map<string, Written>();
  #dropped = 0;
  #limited = 0;
  #seq = 0;
  #draining: Promise<void> | undefined;
  readonly #writing = new Set<string>();
  #closed = false;

  constructor(opts: EventBroadcasterOptions) {
    this.#opts = opts;
    this.#log = opts.logger.child({ component: 'events' });
    this.#maxPending = opts.maxPending ?? 1000;
    this.#cacheSize = opts.cacheSize ?? 4096;
    this.#normalBudget = new TokenBucket({
      ratePerSecond: opts.normalEventsPerSecond ?? 50,
      burst: opts.normalEventBurst ?? 500,
      clock: opts.clock,
    });
  }

  /** New Normal events dropped by the rate limit since this broadcaster started. */
  get rateLimited(): number {
    return this.#limited;
  }

  /** A recorder whose events carry `source.component: component`. */
  recorder(component: string): EventRecorder {
    return {
      event: (object, type, reason, message) => {
        this.#record(component, object, type, reason, message);
      },
    };
  }

  /** Resolves when every event queued so far has been written (or has failed). */
  async flush(): Promise<void> {
    while (this.#draining !== undefined) await this.#draining;
  }

  /** Stops accepting events and waits for the queued ones to be written. */
  async close(): Promise<void> {
    this.#closed = true;
    await this.flush();
  }

  #record(
    component: string,
    object: StoredObject | ObjectReference,
    type: EventType,
    reason: string,
    message: string,
  ): void {
    if (this.#closed) return;
    const involved = referenceTo(object);
    const key = JSON.stringify([
      component,
      this.#opts.host ?? '',
      involved.kind ?? '',
      involved.namespace ?? '',
      involved.name ?? '',
      involved.fieldPath ?? '',
      involved.uid ?? '',
      involved.apiVersion ?? '',
      type,
      reason,
      message,
    ]);
    const now = this.#opts.clock.now();
    const queued = this.#pending.get(key);
    if (queued !== undefined) {
      queued.count++;
      queued.lastMs = now;
      return;
    }
    if (this.#pending.size >= this.#maxPending) {
      this.#dropped++;
      return;
    }
    if (type === 'Normal' && this.#normalBudget.tryTake() > 0) {
      if (this.#limited++ % 1000 === 0) {
        this.#log.info({ dropped: this.#limited }, 'normal events over their rate limit are dropped');
      }
      return;
    }
    const namespace =
      involved.namespace === undefined || involved.namespace === '' ? 'default' : involved.namespace;
    this.#pending.set(key, {
      key,
      namespace,
      involved,
      type,
      reason,
      message,
      component,
      firstMs: now,
      lastMs: now,
      count: 1,
    });
    this.#draining ??= this.#drain();
  }

  /**
   * Writes queued events, up to MAX_CONCURRENT_WRITES at once so that they share the store's group
   * commits (one at a time, a burst of Scheduled events costs one fsync each). Writes of one key never
   * overlap: a repeat arriving while its first write is in flight waits, then bumps that Event's count.
   */
  async #drain(): Promise<void> {
    const inFlight = new Set<Promise<void>>();
    try {
      for (;;) {
        const p = this.#nextWritable();
        if (p === undefined) {
          if (inFlight.size === 0) break;
          await Promise.race(inFlight);
          continue;
        }
        this.#pending.delete(p.key);
        this.#writing.add(p.key);
        const write: Promise<void> = this.#writeLogged(p).finally(() => {
          this.#writing.delete(p.key);
          inFlight.delete(write);
        });
        inFlight.add(write);
        if (inFlight.size >= MAX_CONCURRENT_WRITES) await Promise.race(inFlight);
      }
      if (this.#dropped > 0) {
        this.#log.warn({ dropped: this.#dropped }, 'event queue full; events dropped');
        this.#dropped = 0;
      }
    } finally {
      this.#draining = undefined;
    }
  }

  #nextWritable(): Pending | undefined {
    for (const p of this.#pending.values()) if (!this.#writing.has(p.key)) return p;
    return undefined;
  }

  async #writeLogged(p: Pending): Promise<void> {
    try {
      await this.#write(p);
    } catch (err) {
      const fields = {
        reason: p.reason,
        object: `${p.namespace}/${p.involved.name ?? ''}`,
        err: errorMessage(err),
      };
      // A namespace being deleted refuses new content, events included: expected, not worth a warning.
      if (isApiError(err) && err.status.code === 403) this.#log.debug(fields, 'event not written');
      else this.#log.warn(fields, 'could not write event');
    }
  }

  async #write(p: Pending): Promise<void> {
    const previous = this.#written.get(p.key);
    if (previous !== undefined) {
      this.#written.delete(p.key);
      const result = await updateObject(
        this.#opts.storage,
        events,
        { namespace: previous.namespace, name: previous.name },
        (ev) => {
          const count = typeof ev['count'] === 'number' ? ev['count'] : 1;
          ev['count'] = count + p.count;
          ev['lastTimestamp'] = timestamp(p.lastMs);
          return true;
        },
      );
      if (result.outcome !== 'gone') {
        this.#remember(p.key, previous);
        return;
      }
      // Deleted meanwhile (namespace cleanup, TTL): start a new Event, as client-go does.
    }
    const name = `${p.involved.name ?? 'unknown'}.${this.#uniqueSuffix()}`;
    const host = this.#opts.host;
    await this.#opts.storage.create(events, p.namespace, {
      apiVersion: 'v1',
      kind: 'Event',
      metadata: { name, namespace: p.namespace },
      involvedObject: { ...p.involved },
      reason: p.reason,
      message: p.message,
      type: p.type,
      source: host === undefined ? { component: p.component } : { component: p.component, host },
      firstTimestamp: timestamp(p.firstMs),
      lastTimestamp: timestamp(p.lastMs),
      count: p.count,
      reportingComponent: p.component,
      reportingInstance: host ?? p.component,
    });
    this.#remember(p.key, { name, namespace: p.namespace });
  }

  #remember(key: string, written: Written): void {
    this.#written.set(key, written);
    if (this.#written.size > this.#cacheSize) {
      const oldest = this.#written.keys().next();
      if (oldest.done !== true) this.#written.delete(oldest.value);
    }
  }

  /** client-go names events `<name>.<UnixNano in hex>`; a sequence keeps same-millisecond ones apart. */
  #uniqueSuffix(): string {
    const nanos = BigInt(this.#opts.clock.now()) * 1_000_000n + BigInt(this.#seq++ % 1_000_000);
    return nanos.toString(16);
  }
}

/** The ObjectReference of an API object (or a copy of a given reference). */
export function referenceTo(object: StoredObject | ObjectReference): ObjectReference {
  if (!('metadata' in object)) return { ...object };
  const m = object.metadata;
  return {
    apiVersion: object.apiVersion,
    kind: object.kind,
    ...(m.namespace === undefined ? {} : { namespace: m.namespace }),
    ...(m.name === undefined ? {} : { name: m.name }),
    ...(m.uid === undefined ? {} : { uid: m.uid }),
    ...(m.resourceVersion === undefined ? {} : { resourceVersion: m.resourceVersion }),
  };
}

function timestamp(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

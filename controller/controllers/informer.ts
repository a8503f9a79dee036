/**
 * A shared informer: an in-memory, always-catching-up copy of one resource, fed by the store's
 * list-then-watch, with change notifications to handlers (client-go's SharedIndexInformer).
 *
 *     starting ──list──▶ synced ──watch batches──▶ synced
 *                          ▲   │ watch dropped / store hiccup: resume the watch from the last revision
 *                          │   │ 410 compacted: re-list, emit the differences (adds, updates, deletes)
 *                          └───┘
 *
 * Level-correctness: after a re-list, the cache equals the store at the list's revision and handlers
 * have been told every difference, so a controller reconciling from the cache never misses a deletion.
 *
 * Cost: one decode per stored change (shared with the API server's watchers through object-codec's
 * decode cache), nothing decoded for unchanged objects on a re-list, no copies per handler. Objects in
 * the cache and passed to handlers are shared and must be treated as immutable — write through
 * `ResourceStorage`, which works on its own copy.
 */
import type { StoredObject } from '../../api/object.js';
import type { ResourceInfo } from '../../api/resources.js';
import type { Clock } from '../../lib/clock.js';
import {
  BerthError,
  CompactedError,
  WatcherDroppedError,
  errorCodes,
  errorMessage,
} from '../../lib/errors.js';
import type { Logger } from '../../lib/logger.js';
import { decodeObject, resourcePrefix } from '../apiserver/object-codec.js';
import type { KeyValue, Store, WatchEvent } from '../store/store.js';

/** Callbacks for cache changes. They run synchronously on the informer's loop: keep them cheap (enqueue keys). */
export interface InformerEventHandler {
  onAdd?(obj: StoredObject): void;
  onUpdate?(oldObj: StoredObject, newObj: StoredObject): void;
  /** `obj` is the last state the informer saw. */
  onDelete?(obj: StoredObject): void;
}

/** A handle to remove a handler again. */
export interface HandlerRegistration {
  remove(): void;
}

/**
 * A secondary index: the values an object is filed under. Indexes are identified by the object itself
 * (share one constant between controllers); `name` is for logs.
 */
export interface ObjectIndex {
  readonly name: string;
  readonly keys: (obj: StoredObject) => readonly string[];
}

/** Objects by the uid of each of their owners. */
export const byOwnerUid: ObjectIndex = {
  name: 'byOwnerUid',
  keys: (obj) => obj.metadata.ownerReferences?.map((r) => r.uid) ?? [],
};

/** Objects by the uid of their controlling owner (`ownerReferences[].controller: true`). */
export const byControllerUid: ObjectIndex = {
  name: 'byControllerUid',
  keys: (obj) => {
    const ref = obj.metadata.ownerReferences?.find((r) => r.controller === true);
    return ref === undefined ? [] : [ref.uid];
  },
};

/** Pods by `spec.nodeName` (unbound pods are not indexed). */
export const byNodeName: ObjectIndex = {
  name: 'byNodeName',
  keys: (obj) => {
    const node = (obj.spec as { nodeName?: unknown } | undefined)?.nodeName;
    return typeof node === 'string' && node !== '' ? [node] : [];
  },
};

/** The cache key of an object: `namespace/name`, or `name` for cluster-scoped objects (client-go's). */
export function cacheKey(namespace: string | undefined, name: string): string {
  return namespace === undefined || namespace === '' ? name : `${namespace}/${name}`;
}

/** The cache key of `obj`. */
export function keyOf(obj: StoredObject): string {
  return cacheKey(obj.metadata.namespace, obj.metadata.name ?? '');
}

/** Splits a cache key back into namespace (undefined for cluster-scoped) and name. */
export function splitKey(key: string): { namespace: string | undefined; name: string } {
  const slash = key.indexOf('/');
  return slash < 0
    ? { namespace: undefined, name: key }
    : { namespace: key.slice(0, slash), name: key.slice(slash + 1) };
}

export interface InformerOptions {
  readonly store: Store;
  readonly resource: ResourceInfo;
  readonly clock: Clock;
  readonly logger: Logger;
  /** Items per page of the initial list and of re-lists (default 500). */
  readonly listPageSize?: number;
}

interface IndexState {
  readonly index: ObjectIndex;
  readonly values: Map<string, Set<string>>;
}

const MAX_RETRY_DELAY_MS = 30_000;

/** One resource's cache. Create through `InformerFactory` so that controllers share it. */
export class Informer {
  readonly resource: ResourceInfo;
  readonly #store: Store;
  readonly #clock: Clock;
  readonly #log: Logger;
  readonly #prefix: string;
  readonly #pageSize: number;
  readonly #items = new Map<string, StoredObject>();
  readonly #keyByUid = new Map<string, string>();
  readonly #byNamespace = new Map<string, Set<string>>();
  readonly #indexes = new Map<ObjectIndex, IndexState>();
  #handlers: InformerEventHandler[] = [];
  #revision = 0;
  #synced = false;
  #syncWaiters: (() => void)[] = [];
  #running: Promise<void> | undefined;

  constructor(opts: InformerOptions) {
    this.resource = opts.resource;
    this.#store = opts.store;
    this.#clock = opts.clock;
    this.#log = opts.logger.child({ informer: opts.resource.plural });
    this.#prefix = resourcePrefix(opts.resource);
    this.#pageSize = opts.listPageSize ?? 500;
  }

  // ── reading the cache ────────────────────────────────────────────────────────────────────────

  /** The cached object, or undefined. `namespace` is ignored for cluster-scoped resources. */
  get(namespace: string | undefined, name: string): StoredObject | undefined {
    return this.#items.get(this.resource.namespaced ? cacheKey(namespace, name) : name);
  }

  getByKey(key: string): StoredObject | undefined {
    return this.#items.get(key);
  }

  getByUid(uid: string): StoredObject | undefined {
    const key = this.#keyByUid.get(uid);
    return key === undefined ? undefined : this.#items.get(key);
  }

  /** Every cached object (a new array; the objects are shared). */
  list(): StoredObject[] {
    return [...this.#items.values()];
  }

  listByNamespace(namespace: string): StoredObject[] {
    return this.#collect(this.#byNamespace.get(namespace));
  }

  /** Objects filed under `value` in `index`; registers the index on first use. */
  byIndex(index: ObjectIndex, value: string): StoredObject[] {
    return this.#collect(this.#indexState(index).values.get(value));
  }

  /** Registers `index` ahead of its first query (idempotent). */
  addIndex(index: ObjectIndex): void {
    this.#indexState(index);
  }

  get size(): number {
    return this.#items.size;
  }

  /** The store revision the cache reflects (0 before the first list). */
  get revision(): number {
    return this.#revision;
  }

  // ── handlers and sync ────────────────────────────────────────────────────────────────────────

  /**
   * Adds a handler. If the cache has synced, it is first told about every cached object (`onAdd`),
   * synchronously, as client-go does for late registrations.
   */
  addEventHandler(handler: InformerEventHandler): HandlerRegistration {
    this.#handlers = [...this.#handlers, handler];
    if (this.#synced && handler.onAdd !== undefined) {
      for (const obj of this.#items.values()) this.#call(() => handler.onAdd?.(obj));
    }
    return {
      remove: () => {
        this.#handlers = this.#handlers.filter((h) => h !== handler);
      },
    };
  }

  /** True once the initial list has been loaded and its handlers called. */
  hasSynced(): boolean {
    return this.#synced;
  }

  /** Resolves true when synced, or false if `signal` aborts first. */
  waitForSync(signal?: AbortSignal): Promise<boolean> {
    if (this.#synced) return Promise.resolve(true);
    if (signal?.aborted === true) return Promise.resolve(false);
    return new Promise((resolve) => {
      const onAbort = (): void => {
        resolve(false);
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.#syncWaiters.push(() => {
        signal?.removeEventListener('abort', onAbort);
        resolve(true);
      });
    });
  }

  /** Starts list-and-watch (idempotent); the promise resolves once `signal` aborts and the loop ends. */
  run(signal: AbortSignal): Promise<void> {
    this.#running ??= this.#loop(signal);
    return this.#running;
  }

  // ── list and watch ───────────────────────────────────────────────────────────────────────────

  async #loop(signal: AbortSignal): Promise<void> {
    let needList = true;
    let failures = 0;
    while (!signal.aborted) {
      try {
        if (needList) {
          await this.#relist();
          needList = false;
        }
        const watch = this.#store.watch(this.#prefix, this.#revision + 1, { signal });
        try {
          for await (const batch of watch) {
            this.#applyBatch(batch);
            failures = 0;
          }
        } finally {
          watch.close();
        }
        if (aborted(signal)) break;
        throw new BerthError(errorCodes.STORE_UNAVAILABLE, 'watch ended by the store');
      } catch (err) {
        if (aborted(signal)) break;
        if (err instanceof CompactedError) {
          this.#log.info({ revision: this.#revision }, 'watch history compacted; re-listing');
          needList = true;
          continue;
        }
        if (err instanceof WatcherDroppedError) {
          this.#log.info({ revision: this.#revision }, 'watch dropped (fell behind); resuming');
          continue;
        }
        failures++;
        const delay = Math.min(100 * 2 ** failures, MAX_RETRY_DELAY_MS);
        this.#log.warn({ err: errorMessage(err), retryInMs: delay }, 'list/watch failed; retrying');
        await this.#clock.sleep(delay, signal).catch(() => undefined);
      }
    }
  }

  /** Lists the resource and brings the cache (and the handlers) to exactly that state. */
  async #relist(): Promise<void> {
    const seen = new Set<string>();
    let token: string | undefined;
    let revision: number;
    const changes: { key: string; kv: KeyValue }[] = [];
    do {
      const page = await this.#store.list(this.#prefix, {
        limit: this.#pageSize,
        ...(token === undefined ? {} : { continue: token }),
      });
      revision = page.revision;
      for (const kv of page.items) {
        const key = kv.key.slice(this.#prefix.length);
        seen.add(key);
        const cached = this.#items.get(key);
        // Unchanged objects are not even decoded.
        if (cached?.metadata.resourceVersion !== String(kv.modRevision)) changes.push({ key, kv });
      }
      token = page.continue;
    } while (token !== undefined);
    for (const key of [...this.#items.keys()]) {
      if (!seen.has(key)) this.#remove(key);
    }
    for (const { key, kv } of changes) this.#put(key, decodeObject(kv));
    this.#revision = revision;
    if (!this.#synced) {
      this.#synced = true;
      this.#log.debug({ items: this.#items.size, revision }, 'informer synced');
      const waiters = this.#syncWaiters;
      this.#syncWaiters = [];
      for (const w of waiters) w();
    }
  }

  #applyBatch(batch: readonly WatchEvent[]): void {
    for (const e of batch) {
      if (e.type === 'PUT') this.#put(e.kv.key.slice(this.#prefix.length), decodeObject(e.kv));
      else this.#remove(e.key.slice(this.#prefix.length));
      this.#revision = e.revision;
    }
  }

  #put(key: string, obj: StoredObject): void {
    const old = this.#items.get(key);
    if (old !== undefined && old.metadata.uid !== obj.metadata.uid) {
      // Deleted and re-created while we were not watching: two different objects, tell it as such.
      this.#remove(key);
      this.#put(key, obj);
      return;
    }
    this.#items.set(key, obj);
    const uid = obj.metadata.uid;
    if (uid !== undefined) this.#keyByUid.set(uid, key);
    if (old === undefined) {
      const ns = obj.metadata.namespace;
      if (ns !== undefined) addTo(this.#byNamespace, ns, key);
    }
    for (const state of this.#indexes.values()) reindex(state, key, old, obj);
    for (const h of this.#handlers) {
      if (old === undefined) {
        if (h.onAdd !== undefined) this.#call(() => h.onAdd?.(obj));
      } else if (h.onUpdate !== undefined) {
        this.#call(() => h.onUpdate?.(old, obj));
      }
    }
  }

  #remove(key: string): void {
    const old = this.#items.get(key);
    if (old === undefined) return;
    this.#items.delete(key);
    const uid = old.metadata.uid;
    if (uid !== undefined && this.#keyByUid.get(uid) === key) this.#keyByUid.delete(uid);
    const ns = old.metadata.namespace;
    if (ns !== undefined) removeFrom(this.#byNamespace, ns, key);
    for (const state of this.#indexes.values()) reindex(state, key, old, undefined);
    // The cached object is the state just before the delete: every change reached us in order.
    for (const h of this.#handlers) {
      if (h.onDelete !== undefined) this.#call(() => h.onDelete?.(old));
    }
  }

  #indexState(index: ObjectIndex): IndexState {
    let state = this.#indexes.get(index);
    if (state === undefined) {
      state = { index, values: new Map() };
      for (const [key, obj] of this.#items) reindex(state, key, undefined, obj);
      this.#indexes.set(index, state);
    }
    return state;
  }

  #collect(keys: Set<string> | undefined): StoredObject[] {
    const out: StoredObject[] = [];
    if (keys === undefined) return out;
    for (const key of keys) {
      const obj = this.#items.get(key);
      if (obj !== undefined) out.push(obj);
    }
    return out;
  }

  #call(fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.#log.error({ err: errorMessage(err) }, 'informer event handler threw');
    }
  }
}

function reindex(
  state: IndexState,
  key: string,
  old: StoredObject | undefined,
  next: StoredObject | undefined,
): void {
  const before = old === undefined ? [] : state.index.keys(old);
  const after = next === undefined ? [] : state.index.keys(next);
  if (before.length === after.length && before.every((v, i) => v === after[i])) return;
  for (const v of before) removeFrom(state.values, v, key);
  for (const v of after) addTo(state.values, v, key);
}

function addTo(map: Map<string, Set<string>>, value: string, key: string): void {
  let set = map.get(value);
  if (set === undefined) {
    set = new Set();
    map.set(value, set);
  }
  set.add(key);
}

function removeFrom(map: Map<string, Set<string>>, value: string, key: string): void {
  const set = map.get(value);
  if (set === undefined) return;
  set.delete(key);
  if (set.size === 0) map.delete(value);
}

/** Reads `signal.aborted` afresh (past an `await`, where the compiler's narrowing of it is stale). */
function aborted(signal: AbortSignal): boolean {
  return signal.aborted;
}

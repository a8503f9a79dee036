/**
 * One resource's part of the watch cache: its current objects (kept sorted by key, and indexed by
 * `spec.nodeName` for pods), its recent event history (a ring), and its watchers — indexed by what
 * they select, so that an event is offered only to the watchers it can concern. With a thousand node
 * agents each watching `spec.nodeName=<self>`, a pod event is looked at by the one or two agents it
 * names and by the unfiltered watchers, not by all thousand (kube-apiserver's "indexed triggers").
 *
 * Everything here is synchronous: the cache applies a batch of store events, then calls `flush()` once
 * so each touched watcher writes everything the batch brought it in one go.
 */
import type { StoredObject } from '../../api/object.js';
import type { ResourceInfo } from '../../api/resources.js';
import { parseFieldSelectorFor } from '../../api/selectors/field-selector.js';
import { resourcePrefix } from './object-codec.js';
import type { CachedObject } from './watch-cache-event.js';
import { CachedEvent } from './watch-cache-event.js';
import { EventRing } from './watch-cache-ring.js';
import type { CacheWatcher } from './watch-cache-watcher.js';

/** Where a watcher is registered: which events can concern it. */
export interface WatcherScope {
  /** Only objects in this namespace. */
  readonly namespace?: string;
  /** Only objects whose indexed field (pods: spec.nodeName) has this value. */
  readonly indexValue?: string;
}

/** Fields the cache indexes objects and watchers by, per `group/Kind` (kube-apiserver indexes pods by node). */
const indexedFields: Readonly<Record<string, { field: string; valueOf: (obj: StoredObject) => string }>> = {
  '/Pod': { field: 'spec.nodeName', valueOf: nodeNameOf },
};

function nodeNameOf(obj: StoredObject): string {
  const spec = obj.spec;
  if (typeof spec !== 'object' || spec === null) return '';
  const nodeName = (spec as { nodeName?: unknown }).nodeName;
  return typeof nodeName === 'string' ? nodeName : '';
}

export class ResourceCache {
  readonly resource: ResourceInfo;
  readonly prefix: string;
  readonly #index: { field: string; valueOf: (obj: StoredObject) => string } | undefined;
  readonly #objects = new Map<string, CachedObject>();
  /** Keys of `#objects`, sorted, so LISTs come out in key order as from the store. */
  #keys: string[] = [];
  readonly #keysByIndex = new Map<string, Set<string>>();
  readonly #ring: EventRing<CachedEvent>;
  readonly #all = new Set<CacheWatcher>();
  readonly #byNamespace = new Map<string, Set<CacheWatcher>>();
  readonly #byIndex = new Map<string, Set<CacheWatcher>>();
  readonly #scopes = new Map<CacheWatcher, WatcherScope>();
  readonly #dirty = new Set<CacheWatcher>();
  /** Events handed to watchers so far (one per event per watcher), for metrics. */
  deliveries = 0;

  constructor(r: ResourceInfo, historySize: number, revision: number) {
    this.resource = r;
    this.prefix = resourcePrefix(r);
    this.#index = indexedFields[`${r.group}/${r.kind}`];
    this.#ring = new EventRing(historySize, revision);
  }

  get size(): number {
    return this.#objects.size;
  }

  get watcherCount(): number {
    return this.#scopes.size;
  }

  /** Replaces the contents after a (re)list at `revision`; the history restarts there. */
  reset(objects: readonly CachedObject[], revision: number): void {
    this.#objects.clear();
    this.#keysByIndex.clear();
    for (const o of objects) {
      this.#objects.set(o.key, o);
      this.#indexAdd(o);
    }
    this.#keys = [...this.#objects.keys()].sort(compareKeys);
    this.#ring.reset(revision);
  }

  get(key: string): CachedObject | undefined {
    return this.#objects.get(key);
  }

  /** Applies a create or update; `fallbackPrev` is used when the cache has no previous state. */
  put(object: CachedObject, fallbackPrev: (() => CachedObject | undefined) | undefined): CachedEvent {
    const cached = this.#objects.get(object.key);
    const prev = cached ?? fallbackPrev?.();
    this.#objects.set(object.key, object);
    if (cached === undefined) this.#insertKey(object.key);
    else this.#indexRemove(cached);
    this.#indexAdd(object);
    const e = new CachedEvent(prev === undefined ? 'ADDED' : 'MODIFIED', object.revision, object, prev);
    this.#record(e);
    return e;
  }

  /** Applies a delete at `revision`; `fallbackPrev` is the store's last state, used when the cache has none. */
  delete(key: string, revision: number, fallbackPrev: () => CachedObject): CachedEvent {
    const prev = this.#objects.get(key) ?? fallbackPrev();
    if (this.#objects.delete(key)) {
      this.#removeKey(key);
      this.#indexRemove(prev);
    }
    const e = new CachedEvent('DELETED', revision, prev.withRevision(revision), prev);
    this.#record(e);
    return e;
  }

  #record(e: CachedEvent): void {
    this.#ring.push(e);
    this.#offer(this.#all, e);
    this.#offer(this.#byNamespace.get(e.object.namespace), e);
    if (this.#index !== undefined) {
      const now = this.#index.valueOf(e.object.object);
      this.#offer(this.#byIndex.get(now), e);
      if (e.prev !== undefined) {
        const before = this.#index.valueOf(e.prev.object);
        if (before !== now) this.#offer(this.#byIndex.get(before), e);
      }
    }
  }

  #offer(watchers: Set<CacheWatcher> | undefined, e: CachedEvent): void {
    if (watchers === undefined) return;
    for (const w of watchers) {
      const type = w.typeOf(e);
      if (type === undefined) continue;
      w.enqueue(e, type);
      this.#dirty.add(w);
      this.deliveries++;
    }
  }

  /** Lets every watcher that got something since the last flush write it. */
  flush(): void {
    if (this.#dirty.size === 0) return;
    const dirty = [...this.#dirty];
    this.#dirty.clear();
    for (const w of dirty) w.flush();
  }

  /** The registration scope for a watch in `namespace` with `fieldSelector` (already validated). */
  scopeFor(namespace: string | undefined, fieldSelector: string | undefined): WatcherScope {
    let indexValue: string | undefined;
    if (this.#index !== undefined && fieldSelector !== undefined && fieldSelector !== '') {
      const parsed = parseFieldSelectorFor(fieldSelector, this.resource.group, this.resource.kind);
      if (parsed.ok) indexValue = parsed.selector.requiresExactMatch(this.#index.field);
    }
    return {
      ...(namespace === undefined ? {} : { namespace }),
      ...(indexValue === undefined ? {} : { indexValue }),
    };
  }

  /** Current objects that can be in `scope`, in key order (callers still apply their filter). */
  snapshot(scope: WatcherScope): CachedObject[] {
    if (scope.indexValue !== undefined) {
      const keys = [...(this.#keysByIndex.get(scope.indexValue) ?? [])].sort(compareKeys);
      const out: CachedObject[] = [];
      for (const key of keys) {
        const o = this.#objects.get(key);
        if (o !== undefined && (scope.namespace === undefined || o.namespace === scope.namespace))
          out.push(o);
      }
      return out;
    }
    let from = 0;
    let to = this.#keys.length;
    if (scope.namespace !== undefined && this.resource.namespaced) {
      const nsPrefix = `${this.prefix}${scope.namespace}/`;
      from = lowerBound(this.#keys, nsPrefix);
      to = from;
      while (to < this.#keys.length && (this.#keys[to] as string).startsWith(nsPrefix)) to++;
    }
    const out: CachedObject[] = new Array<CachedObject>(to - from);
    for (let i = from; i < to; i++)
      out[i - from] = this.#objects.get(this.#keys[i] as string) as CachedObject;
    return out;
  }

  /** Events after `revision`, or undefined when the history does not reach back that far. */
  history(after: number): CachedEvent[] | undefined {
    return this.#ring.since(after);
  }

  /** The revision after which the history is complete. */
  get historyFrom(): number {
    return this.#ring.completeFrom;
  }

  addWatcher(w: CacheWatcher, scope: WatcherScope): void {
    this.#scopes.set(w, scope);
    this.#setFor(scope).add(w);
  }

  removeWatcher(w: CacheWatcher): void {
    const scope = this.#scopes.get(w);
    if (scope === undefined) return;
    this.#scopes.delete(w);
    this.#dirty.delete(w);
    const set = this.#setFor(scope);
    set.delete(w);
    if (set.size === 0) {
      if (scope.indexValue !== undefined) this.#byIndex.delete(scope.indexValue);
      else if (scope.namespace !== undefined) this.#byNamespace.delete(scope.namespace);
    }
  }

  watchers(): CacheWatcher[] {
    return [...this.#scopes.keys()];
  }

  #setFor(scope: WatcherScope): Set<CacheWatcher> {
    const [map, key] =
      scope.indexValue !== undefined
        ? [this.#byIndex, scope.indexValue]
        : scope.namespace !== undefined
          ? [this.#byNamespace, scope.namespace]
          : [undefined, ''];
    if (map === undefined) return this.#all;
    let set = map.get(key);
    if (set === undefined) {
      set = new Set();
      map.set(key, set);
    }
    return set;
  }

  #insertKey(key: string): void {
    const i = lowerBound(this.#keys, key);
    if (this.#keys[i] !== key) this.#keys.splice(i, 0, key);
  }

  #removeKey(key: string): void {
    const i = lowerBound(this.#keys, key);
    if (this.#keys[i] === key) this.#keys.splice(i, 1);
  }

  #indexAdd(o: CachedObject): void {
    if (this.#index === undefined) return;
    const value = this.#index.valueOf(o.object);
    let keys = this.#keysByIndex.get(value);
    if (keys === undefined) {
      keys = new Set();
      this.#keysByIndex.set(value, keys);
    }
    keys.add(o.key);
  }

  #indexRemove(o: CachedObject): void {
    if (this.#index === undefined) return;
    const value = this.#index.valueOf(o.object);
    const keys = this.#keysByIndex.get(value);
    if (keys === undefined) return;
    keys.delete(o.key);
    if (keys.size === 0) this.#keysByIndex.delete(value);
  }
}

/** Code-unit order, the order both store backends list keys in. */
function compareKeys(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function lowerBound(sorted: readonly string[], key: string): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if ((sorted[mid] as string) < key) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

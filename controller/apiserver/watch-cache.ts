/**
 * The API server's watch cache (kube-apiserver's "cacher"): one store watch for the whole keyspace
 * instead of one per API watch, a decoded copy of every API object, a ring of recent events per
 * resource, and fan-out to API watchers with per-watcher bounded buffers (watch-cache-watcher.ts). A
 * store event is decoded once and serialised at most once per encoding however many watchers receive
 * it, and LISTs are answered from memory out of the objects' cached JSON.
 *
 *   starting ──list + watch──▶ ready ──store watch lost (dropped, store unavailable)──▶ resuming
 *      ▲                         ▲ ◀────────── re-watched from the last revision seen ──────┘
 *      └─ history compacted meanwhile: re-list; open watchers are closed (they missed events) ─┘
 *   stop() from any state ──▶ stopped
 *
 * The cache watches the whole keyspace (not only /registry/) so that its revision follows the store's:
 * a consistent read compares it with `store.currentRevision()`. A request the cache cannot answer
 * correctly gets `undefined` and the caller goes to the store:
 * - the cache is not ready (starting, re-listing) or stopped;
 * - a watch from a resourceVersion older than the resource's in-memory history (the store replays it,
 *   or answers 410 Expired when it is compacted);
 * - a LIST with `continue`, with `resourceVersionMatch=Exact`, or with a `limit` smaller than what
 *   matches (the store pages consistently at one revision; the cache only has the present);
 * - a consistent read (no resourceVersion), or a resourceVersion newer than the cache, when the cache
 *   does not catch up with the store within `freshnessTimeoutMs` (e.g. etcd shared with writers
 *   outside Berth's prefix, whose revisions the cache never sees).
 */
import type { Registry } from 'prom-client';
import type { StoredObject } from '../../api/object.js';
import { apiVersionOf, resources, type ResourceInfo } from '../../api/resources.js';
import { realClock, type Clock, type Timer } from '../../lib/clock.js';
import { CompactedError, WatcherDroppedError } from '../../lib/errors.js';
import { silentLogger, type Logger } from '../../lib/logger.js';
import type { KeyValue, Store, Watch, WatchEvent } from '../store/store.js';
import { decodeObject, resourcePrefix } from './object-codec.js';
import { CachedObject } from './watch-cache-event.js';
import {
  registerWatchCacheMetrics,
  resourceLabel,
  kindLabels,
  type WatchCacheMetrics,
} from './watch-cache-metrics.js';
import { ResourceCache } from './watch-cache-resource.js';
import {
  CacheWatcher,
  jsonWatchEncoder,
  type WatchEncoder,
  type WatchItem,
  type WatchOutput,
} from './watch-cache-watcher.js';

export interface WatchCacheOptions {
  readonly store: Store;
  readonly clock?: Clock;
  readonly logger?: Logger;
  /** Registers the cache's metrics (kube-apiserver's names) when given. */
  readonly registry?: Registry;
  /** Events kept per resource for watches that resume from a recent resourceVersion. Default 10,000. */
  readonly historySize?: number;
  /** Live events a watcher may have unsent before it is terminated as too slow. Default 1,000. */
  readonly watcherBufferSize?: number;
  /** How often watchers that allow bookmarks get a BOOKMARK. Default 60 s, as kube-apiserver. */
  readonly bookmarkIntervalMs?: number;
  /** How long a read waits for the cache to reach the revision it needs before the store serves it. Default 3 s. */
  readonly freshnessTimeoutMs?: number;
  /** After terminating a slow watcher, how long its client gets to read to the end before the connection is cut. Default 5 s. */
  readonly terminateGraceMs?: number;
  /** Objects per store page when (re)filling the cache. Default 1,000. */
  readonly listPageSize?: number;
}

/** A LIST as the cache sees it; the caller has validated the parameters. */
export interface CacheListRequest {
  /** Unset: consistent (the cache first catches up with the store); "0": any; "N": not older than N. */
  readonly resourceVersion?: string;
  readonly resourceVersionMatch?: string;
  readonly limit?: number;
  readonly continue?: string;
  readonly filter?: (obj: StoredObject) => boolean;
  /** The raw field selector, used only to pick an index (pods by spec.nodeName). */
  readonly fieldSelector?: string;
}

export interface CacheListResult {
  /** The revision the items are consistent at: the list's resourceVersion. */
  readonly revision: number;
  readonly items: readonly CachedObject[];
}

/** A WATCH as the cache sees it; the caller has validated the parameters. */
export interface CacheWatchRequest {
  /** Unset: from the current state (consistent); "0": from any state; "N": changes after N. */
  readonly resourceVersion?: string;
  /**
   * true: ADDED for the current state (not older than `resourceVersion`), then — if bookmarks are
   * allowed — a BOOKMARK annotated `k8s.io/initial-events-end`, then changes (watch-list).
   * false: no initial events. Absent: the legacy rule (initial events only without a resourceVersion).
   */
  readonly sendInitialEvents?: boolean;
  readonly allowBookmarks: boolean;
  readonly filter?: (obj: StoredObject) => boolean;
  readonly fieldSelector?: string;
  readonly output: WatchOutput;
  /** Per-watcher encoding (Tables); default JSON with bytes shared between watchers. */
  readonly encoder?: WatchEncoder;
}

interface Waiter {
  readonly target: number;
  readonly resolve: (caughtUp: boolean) => void;
  readonly timer: Timer;
}

const REGISTRY_PREFIX = '/registry/';

export class WatchCache {
  readonly #store: Store;
  readonly #clock: Clock;
  readonly #log: Logger;
  readonly #historySize: number;
  readonly #bufferSize: number;
  readonly #bookmarkIntervalMs: number;
  readonly #freshnessTimeoutMs: number;
  readonly #terminateGraceMs: number;
  readonly #pageSize: number;
  readonly #caches = new Map<string, ResourceCache>();
  readonly #encoders = new Map<ResourceCache, WatchEncoder>();
  readonly #waiters = new Set<Waiter>();
  readonly #metrics: WatchCacheMetrics | undefined;
  #revision = 0;
  #listed = false;
  #stopped = false;
  readonly #stopping = new AbortController();
  #watch: Watch | undefined;
  #loop: Promise<void> | undefined;
  #bookmarkTimer: Timer | undefined;

  constructor(opts: WatchCacheOptions) {
    this.#store = opts.store;
    this.#clock = opts.clock ?? realClock;
    this.#log = opts.logger ?? silentLogger();
    this.#historySize = opts.historySize ?? 10_000;
    this.#bufferSize = opts.watcherBufferSize ?? 1000;
    this.#bookmarkIntervalMs = opts.bookmarkIntervalMs ?? 60_000;
    this.#freshnessTimeoutMs = opts.freshnessTimeoutMs ?? 3000;
    this.#terminateGraceMs = opts.terminateGraceMs ?? 5000;
    this.#pageSize = opts.listPageSize ?? 1000;
    for (const r of resources) {
      const prefix = resourcePrefix(r);
      if (this.#caches.has(prefix)) continue;
      const rc = new ResourceCache(r, this.#historySize, 0);
      this.#caches.set(prefix, rc);
      this.#encoders.set(rc, jsonWatchEncoder(r));
    }
    this.#metrics =
      opts.registry === undefined
        ? undefined
        : registerWatchCacheMetrics(opts.registry, () => this.#caches.values());
  }

  /** True once the cache holds the store's contents and follows its changes. */
  get ready(): boolean {
    return this.#isReady();
  }

  // A method, not the getter, where readiness is re-checked after an await: it may have changed.
  #isReady(): boolean {
    return this.#listed && !this.#stopped;
  }

  /** The newest store revision the cache has applied. */
  get revision(): number {
    return this.#revision;
  }

  /**
   * Fills the cache and starts following the store. Resolves after the first attempt whether or not
   * it succeeded (requests go to the store until the cache is ready); retries in the background.
   */
  async start(): Promise<void> {
    if (this.#loop !== undefined) return;
    let firstAttempt!: () => void;
    const attempted = new Promise<void>((resolve) => {
      firstAttempt = resolve;
    });
    this.#loop = this.#run(firstAttempt);
    this.#bookmarkTimer = this.#clock.setTimer(this.#bookmarkIntervalMs, this.#sendBookmarks, {
      repeat: true,
    });
    await attempted;
  }

  /** Stops following the store and closes every watcher. Idempotent. */
  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    this.#stopping.abort();
    this.#bookmarkTimer?.cancel();
    this.#watch?.close();
    for (const rc of this.#caches.values()) for (const w of rc.watchers()) w.close();
    for (const waiter of this.#waiters) {
      waiter.timer.cancel();
      waiter.resolve(false);
    }
    this.#waiters.clear();
    await this.#loop;
  }

  /**
   * Answers a LIST from memory, or undefined when the store must (see the module comment). `limit` is
   * honoured only by falling back when more items match; with resourceVersion "0" it is ignored, as
   * kube-apiserver's watch cache does.
   */
  async list(
    r: ResourceInfo,
    namespace: string | undefined,
    req: CacheListRequest,
  ): Promise<CacheListResult | undefined> {
    const rc = this.#caches.get(resourcePrefix(r));
    if (rc === undefined || !this.ready) return undefined;
    if ((req.continue ?? '') !== '' || req.resourceVersionMatch === 'Exact') return undefined;
    if (!(await this.#fresh(req.resourceVersion)) || !this.#isReady()) return undefined;
    const candidates = rc.snapshot(rc.scopeFor(namespace, req.fieldSelector));
    const filter = req.filter;
    const items = filter === undefined ? candidates : candidates.filter((o) => filter(o.object));
    const limit = req.limit ?? 0;
    if (limit > 0 && items.length > limit && req.resourceVersion !== '0') return undefined;
    return { revision: this.#revision, items };
  }

  /**
   * Starts a watch served from memory, writing to `req.output` (whose headers the caller has sent), or
   * returns undefined when the store must serve it (see the module comment). The watcher ends on its
   * own only when terminated as too slow or when the cache stops or re-lists; the caller closes it
   * when the client goes away or `timeoutSeconds` passes.
   */
  async watch(
    r: ResourceInfo,
    namespace: string | undefined,
    req: CacheWatchRequest,
  ): Promise<CacheWatcher | undefined> {
    const rc = this.#caches.get(resourcePrefix(r));
    if (rc === undefined || !this.ready) return undefined;
    const rv = req.resourceVersion ?? '';
    const resumeFrom = rv === '' || rv === '0' ? undefined : Number(rv);
    const sendInitial = req.sendInitialEvents ?? resumeFrom === undefined;
    if (!sendInitial && resumeFrom !== undefined && !(await this.#uncompacted(resumeFrom))) return undefined;
    if (!(await this.#fresh(req.resourceVersion))) return undefined;
    if (!this.#isReady()) return undefined;
    // From here on everything is synchronous: no event can slip between the snapshot or replay and
    // the registration for live events.
    const scope = rc.scopeFor(namespace, req.fieldSelector);
    const watcher: CacheWatcher = new CacheWatcher({
      output: req.output,
      encoder: req.encoder ?? (this.#encoders.get(rc) as WatchEncoder),
      clock: this.#clock,
      bufferSize: this.#bufferSize,
      terminateGraceMs: this.#terminateGraceMs,
      ...(namespace === undefined ? {} : { namespace }),
      ...(req.filter === undefined ? {} : { filter: req.filter }),
      allowBookmarks: req.allowBookmarks,
      startRevision: this.#revision,
      onEnd: (w, how) => {
        rc.removeWatcher(w);
        if (how === 'terminated') {
          this.#metrics?.terminated.inc({ resource: resourceLabel(r) });
          this.#log.debug({ resource: resourceLabel(r) }, 'terminated a watcher that did not keep up');
        }
      },
    });
    const initial: WatchItem[] = [];
    if (sendInitial) {
      for (const o of rc.snapshot(scope)) if (watcher.matches(o)) initial.push({ kind: 'added', object: o });
      if (req.sendInitialEvents === true && req.allowBookmarks) {
        initial.push({ kind: 'bookmark', revision: this.#revision, initialEventsEnd: true });
      }
    } else if (resumeFrom !== undefined) {
      const history = rc.history(resumeFrom);
      if (history === undefined) return undefined;
      for (const e of history) {
        const type = watcher.typeOf(e);
        if (type !== undefined) initial.push({ kind: 'event', event: e, type });
      }
    }
    rc.addWatcher(watcher, scope);
    watcher.start(initial);
    return watcher;
  }

  /**
   * Whether the store still has the history after `revision`. The cache's own history may reach back
   * further, but a resourceVersion older than the store's compaction point gets 410 Expired either
   * way (the store answers it), so that watch semantics do not depend on which path serves them.
   */
  async #uncompacted(revision: number): Promise<boolean> {
    try {
      return revision >= (await this.#store.compactedRevision());
    } catch {
      return false; // the store path reports the failure
    }
  }

  /** Waits until the cache is fresh enough for `resourceVersion` (unset: consistent with the store). */
  async #fresh(resourceVersion: string | undefined): Promise<boolean> {
    if (resourceVersion === '0') return true;
    let target: number;
    if (resourceVersion === undefined || resourceVersion === '') {
      try {
        target = await this.#store.currentRevision();
      } catch {
        return false; // the store path reports the failure
      }
    } else {
      target = Number(resourceVersion);
    }
    return this.#caughtUp(target);
  }

  #caughtUp(target: number): Promise<boolean> {
    if (this.#revision >= target) return Promise.resolve(true);
    if (this.#stopped) return Promise.resolve(false);
    return new Promise<boolean>((resolve) => {
      const waiter: Waiter = {
        target,
        resolve,
        timer: this.#clock.setTimer(this.#freshnessTimeoutMs, () => {
          this.#waiters.delete(waiter);
          resolve(false);
        }),
      };
      this.#waiters.add(waiter);
    });
  }

  async #run(firstAttempt: () => void): Promise<void> {
    let backoffMs = 100;
    while (!this.#stopped) {
      try {
        if (!this.#listed) await this.#relist();
        firstAttempt();
        backoffMs = 100;
        await this.#follow();
      } catch (err) {
        firstAttempt();
        if (this.#isStopped()) return;
        if (err instanceof CompactedError) {
          this.#log.info({ err }, 'watch cache fell behind compaction: re-listing');
          this.#listed = false;
          continue;
        }
        if (err instanceof WatcherDroppedError) {
          this.#log.warn({ revision: this.#revision }, 'watch cache was dropped by the store: resuming');
          continue;
        }
        this.#log.warn({ err, revision: this.#revision, retryInMs: backoffMs }, 'watch cache lost the store');
        try {
          await this.#clock.sleep(backoffMs, this.#stopping.signal);
        } catch {
          return; // stopped while waiting
        }
        backoffMs = Math.min(backoffMs * 2, 5000);
      }
    }
  }

  #isStopped(): boolean {
    return this.#stopped;
  }

  async #relist(): Promise<void> {
    const byPrefix = new Map<string, CachedObject[]>();
    let token: string | undefined;
    let revision: number;
    do {
      const page = await this.#store.list(REGISTRY_PREFIX, {
        limit: this.#pageSize,
        ...(token === undefined ? {} : { continue: token }),
      });
      revision = page.revision;
      for (const kv of page.items) {
        const rc = this.#cacheFor(kv.key);
        const o = rc === undefined ? undefined : this.#decode(kv, kv.modRevision);
        if (rc === undefined || o === undefined) continue;
        let list = byPrefix.get(rc.prefix);
        if (list === undefined) {
          list = [];
          byPrefix.set(rc.prefix, list);
        }
        list.push(o);
      }
      token = page.continue;
    } while (token !== undefined && !this.#stopped);
    if (this.#stopped) return;
    for (const rc of this.#caches.values()) {
      // Watchers of the old contents may have missed events; they re-watch (and re-list if need be).
      for (const w of rc.watchers()) w.close();
      rc.reset(byPrefix.get(rc.prefix) ?? [], revision);
      this.#metrics?.initializations.inc({ resource: resourceLabel(rc.resource) });
    }
    this.#revision = revision;
    this.#listed = true;
    this.#log.debug({ revision }, 'watch cache filled');
    this.#wakeWaiters();
  }

  async #follow(): Promise<void> {
    const watch = this.#store.watch('', this.#revision + 1);
    this.#watch = watch;
    try {
      if (this.#stopped) return;
      for await (const batch of watch) this.#apply(batch);
    } finally {
      watch.close();
      this.#watch = undefined;
    }
  }

  #apply(batch: readonly WatchEvent[]): void {
    const touched = new Set<ResourceCache>();
    for (const e of batch) {
      if (e.revision <= this.#revision) continue;
      const key = e.type === 'PUT' ? e.kv.key : e.key;
      const rc = this.#cacheFor(key);
      if (rc !== undefined) {
        if (e.type === 'PUT') {
          const o = this.#decode(e.kv, e.revision);
          const prevKv = e.prevKv;
          if (o !== undefined) {
            rc.put(o, prevKv === undefined ? undefined : () => this.#decode(prevKv, prevKv.modRevision));
            touched.add(rc);
          }
        } else {
          const prevKv = e.prevKv;
          const fallback = (): CachedObject =>
            this.#decode(prevKv, prevKv.modRevision) ??
            new CachedObject(key, emptyObject(rc.resource), prevKv.modRevision);
          rc.delete(key, e.revision, fallback);
          touched.add(rc);
        }
        this.#metrics?.dispatched.inc({ resource: resourceLabel(rc.resource) });
      }
      this.#revision = e.revision;
    }
    for (const rc of touched) {
      const before = rc.deliveries;
      rc.flush();
      const delivered = rc.deliveries - before;
      if (delivered > 0) this.#metrics?.delivered.inc(kindLabels(rc.resource), delivered);
    }
    this.#wakeWaiters();
  }

  #wakeWaiters(): void {
    for (const waiter of this.#waiters) {
      if (waiter.target > this.#revision) continue;
      this.#waiters.delete(waiter);
      waiter.timer.cancel();
      waiter.resolve(true);
    }
  }

  #cacheFor(key: string): ResourceCache | undefined {
    if (!key.startsWith(REGISTRY_PREFIX)) return undefined;
    const afterGroup = key.indexOf('/', REGISTRY_PREFIX.length);
    const afterPlural = afterGroup < 0 ? -1 : key.indexOf('/', afterGroup + 1);
    if (afterPlural < 0) return undefined;
    return this.#caches.get(key.slice(0, afterPlural + 1));
  }

  #decode(kv: KeyValue, revision: number): CachedObject | undefined {
    try {
      return new CachedObject(kv.key, decodeObject(kv, revision), revision);
    } catch (err) {
      this.#log.error({ err, key: kv.key, revision }, 'watch cache cannot decode a stored object: skipped');
      return undefined;
    }
  }

  readonly #sendBookmarks = (): void => {
    if (!this.ready) return;
    for (const rc of this.#caches.values()) {
      if (rc.watcherCount === 0) continue;
      for (const w of rc.watchers()) {
        if (!w.allowBookmarks) continue;
        w.bookmark(this.#revision);
        w.flush();
      }
    }
  };
}

function emptyObject(r: ResourceInfo): StoredObject {
  return { apiVersion: apiVersionOf(r), kind: r.kind, metadata: {} };
}

/**
 * The garbage collector: Kubernetes' cascading deletion over every served resource, driven by owner
 * references (pkg/controller/garbagecollector, with the shared informers' caches as its graph).
 *
 * Level-triggered on one work queue keyed by uid. Reconciling an object:
 *
 *   terminating, `orphan` finalizer      → remove its uid from every dependent's ownerReferences, then
 *                                          remove the finalizer
 *   terminating, `foregroundDeletion`    → delete its dependents (those not yet terminating); once no
 *                                          dependent with `blockOwnerDeletion: true` is left, remove
 *                                          the finalizer (the storage then deletes the owner)
 *   terminating otherwise                → nothing: wait for the final deletion
 *   live, with ownerReferences           → classify each owner as
 *        solid    (exists, not foreground-deleting),
 *        waiting  (exists with deletionTimestamp + `foregroundDeletion`),
 *        dangling (absent: a live read finds no object with that name and uid);
 *     some solid              → drop the references to dangling and waiting owners, keep the object
 *     none solid, some waiting, and it has dependents
 *                             → delete it in the foreground (so the wait cascades down)
 *     none solid otherwise    → delete it (Orphan/Foreground if it carries that finalizer, else Background)
 *
 * Absence is always confirmed against the store (name lookup, uid compared), never from the cache
 * alone. Namespaced owners are looked up in the dependent's namespace (a reference to an object in
 * another namespace is dangling, with an `OwnerRefInvalidNamespace` warning event); a cluster-scoped
 * object naming a namespaced owner is invalid and left alone (also with that event), as in Kubernetes.
 * Events that wake the queue: an object with owner references or deletion finalizers appears or
 * changes; an object is deleted (its dependents and its owners are enqueued).
 */
import { jsonEqual, type OwnerReference, type StoredObject } from '../../api/object.js';
import { resources as allResources, type ResourceInfo } from '../../api/resources.js';
import { isApiError } from '../../api/status.js';
import type { Logger } from '../../lib/logger.js';
import type { ResourceStorage } from '../apiserver/resource-storage.js';
import type { Controller, ControllerContext, ControllerDescriptor } from './controller-manager.js';
import type { EventRecorder } from './event-recorder.js';
import { byOwnerUid, type Informer } from './informer.js';
import {
  deleteObject,
  hasFinalizer,
  isBeingDeleted,
  removeFinalizer,
  targetOf,
  updateObject,
} from './object-writes.js';
import {
  FOREGROUND_DELETION_FINALIZER,
  ORPHAN_FINALIZER,
  ownerRefTo,
  resourceForOwnerRef,
} from './owner-references.js';
import { runWorkers, type WorkQueue } from './work-queue.js';

export interface GarbageCollectorOptions {
  /** Concurrent reconciles (different uids); default 16 (more concurrent deletes share a commit). */
  readonly workers?: number;
  /** Resources to collect; default every served resource. */
  readonly resources?: readonly ResourceInfo[];
}

/** The garbage collector as a controller for the `ControllerManager`. */
export function garbageCollectorController(opts: GarbageCollectorOptions = {}): ControllerDescriptor {
  return {
    name: 'garbage-collector-controller',
    create: (ctx) => new GarbageCollector(ctx, opts),
  };
}

type OwnerState = 'solid' | 'waiting' | 'dangling';

interface Located {
  readonly r: ResourceInfo;
  readonly obj: StoredObject;
}

/** Owners confirmed absent; uids are never reused, so an entry never goes stale. */
const ABSENT_CACHE_SIZE = 1024;
/** Concurrent writes when orphaning many dependents. */
const ORPHAN_CONCURRENCY = 16;

class InvalidOwnerScope extends Error {}

export class GarbageCollector implements Controller {
  readonly name = 'garbage-collector-controller';
  readonly #storage: ResourceStorage;
  readonly #log: Logger;
  readonly #events: EventRecorder;
  readonly #workers: number;
  readonly #informers: readonly Informer[];
  readonly #byResource = new Map<ResourceInfo, Informer>();
  readonly #queue: WorkQueue;
  readonly #absent = new Map<string, true>();

  constructor(ctx: ControllerContext, opts: GarbageCollectorOptions = {}) {
    this.#storage = ctx.storage;
    this.#log = ctx.logger;
    this.#events = ctx.events;
    this.#workers = opts.workers ?? 16;
    this.#queue = ctx.newQueue('garbage_collector_attempt_to_delete');
    this.#informers = (opts.resources ?? allResources).map((r) => {
      const informer = ctx.informers.informerFor(r);
      this.#byResource.set(r, informer);
      informer.addIndex(byOwnerUid);
      informer.addEventHandler({
        onAdd: (obj) => {
          // The common case — a new object whose owners are all cached — needs no reconcile; an owner
          // that is gone (or never seen) will turn up as dangling when it is looked at.
          if (isDeletingDependents(obj) || isOrphaning(obj) || !this.#ownersCached(obj)) {
            this.#enqueue(obj.metadata.uid);
          }
        },
        onUpdate: (old, obj) => {
          this.#onUpdate(old, obj);
        },
        onDelete: (obj) => {
          this.#onDelete(obj);
        },
      });
      return informer;
    });
  }

  run(signal: AbortSignal): Promise<void> {
    return runWorkers(this.#queue, (uid) => this.reconcile(uid), {
      workers: this.#workers,
      signal,
      logger: this.#log,
    });
  }

  /** Brings the object with `uid` (and its relation to owners and dependents) in line. Exposed for tests. */
  async reconcile(uid: string): Promise<void> {
    const item = this.#find(uid);
    if (item === undefined) return; // gone: its dependents were enqueued when it was deleted
    const { r, obj } = item;
    if (isBeingDeleted(obj)) {
      if (hasFinalizer(obj, ORPHAN_FINALIZER)) await this.#orphanDependents(r, obj);
      if (hasFinalizer(obj, FOREGROUND_DELETION_FINALIZER)) await this.#deleteDependents(r, obj);
      return;
    }
    if ((obj.metadata.ownerReferences ?? []).length === 0) return;
    await this.#collect(r, obj);
  }

  // ── event handlers ───────────────────────────────────────────────────────────────────────────

  #enqueue(uid: string | undefined): void {
    if (uid !== undefined && uid !== '') this.#queue.add(uid);
  }

  #onUpdate(old: StoredObject, obj: StoredObject): void {
    const m = obj.metadata;
    const o = old.metadata;
    const refsChanged = !jsonEqual(o.ownerReferences, m.ownerReferences);
    const deletionChanged =
      o.deletionTimestamp !== m.deletionTimestamp ||
      !jsonEqual(o.finalizers, m.finalizers) ||
      (obj.kind === 'Namespace' && !jsonEqual(specFinalizers(old), specFinalizers(obj)));
    if ((refsChanged || deletionChanged) && needsAttention(obj)) this.#enqueue(m.uid);
    if (refsChanged) {
      // An owner waiting for this dependent may no longer be blocked by it.
      for (const ref of o.ownerReferences ?? []) {
        const now = m.ownerReferences?.find((x) => x.uid === ref.uid);
        if (now?.blockOwnerDeletion !== ref.blockOwnerDeletion) this.#enqueue(ref.uid);
      }
    }
  }

  #onDelete(obj: StoredObject): void {
    const uid = obj.metadata.uid;
    if (uid === undefined) return;
    for (const informer of this.#informers) {
      for (const dep of informer.byIndex(byOwnerUid, uid)) this.#enqueue(dep.metadata.uid);
    }
    // A foreground-deleting owner may have been waiting for this dependent.
    for (const ref of obj.metadata.ownerReferences ?? []) this.#enqueue(ref.uid);
  }

  // ── dependents of a terminating owner ────────────────────────────────────────────────────────

  async #orphanDependents(r: ResourceInfo, owner: StoredObject): Promise<void> {
    const uid = owner.metadata.uid ?? '';
    const dependents = this.#dependentsOf(owner);
    for (let i = 0; i < dependents.length; i += ORPHAN_CONCURRENCY) {
      await Promise.all(
        dependents.slice(i, i + ORPHAN_CONCURRENCY).map(async ({ r: dr, obj: dep }) => {
          await updateObject(this.#storage, dr, targetOf(dep), (o) => removeOwnerRefs(o, new Set([uid])));
        }),
      );
    }
    if (!canReleaseFinalizer(owner)) return;
    await updateObject(this.#storage, r, targetOf(owner), (o) => removeFinalizer(o, ORPHAN_FINALIZER));
    this.#log.debug({ owner: describe(owner), dependents: dependents.length }, 'dependents orphaned');
  }

  async #deleteDependents(r: ResourceInfo, owner: StoredObject): Promise<void> {
    const uid = owner.metadata.uid ?? '';
    let blocking = 0;
    for (const { obj: dep } of this.#dependentsOf(owner)) {
      if (ownerRefTo(dep, uid)?.blockOwnerDeletion === true) blocking++;
      // Each dependent's own reconcile sees this owner waiting and deletes it (in the foreground when it
      // has dependents of its own). Terminating ones need nothing more; their deletion wakes us.
      if (!isBeingDeleted(dep)) this.#enqueue(dep.metadata.uid);
    }
    if (blocking > 0 || !canReleaseFinalizer(owner)) return;
    await updateObject(this.#storage, r, targetOf(owner), (o) =>
      removeFinalizer(o, FOREGROUND_DELETION_FINALIZER),
    );
    this.#log.debug({ owner: describe(owner) }, 'no blocking dependents left; foreground deletion done');
  }

  // ── a live object with owners ────────────────────────────────────────────────────────────────

  async #collect(r: ResourceInfo, cached: StoredObject): Promise<void> {
    let states: Map<string, OwnerState>;
    try {
      states = await this.#classify(cached, cached.metadata.ownerReferences ?? []);
    } catch (err) {
      if (err instanceof InvalidOwnerScope) return;
      throw err;
    }
    if ([...states.values()].every((s) => s === 'solid')) return;
    // About to act: decide on the latest stored object, not the cache.
    let obj: StoredObject;
    try {
      obj = await this.#storage.get(r, cached.metadata.namespace, cached.metadata.name ?? '');
    } catch (err) {
      if (isApiError(err) && err.status.code === 404) return;
      throw err;
    }
    if (obj.metadata.uid !== cached.metadata.uid || isBeingDeleted(obj)) return;
    const refs = obj.metadata.ownerReferences ?? [];
    if (!jsonEqual(refs, cached.metadata.ownerReferences ?? [])) {
      try {
        states = await this.#classify(obj, refs);
      } catch (err) {
        if (err instanceof InvalidOwnerScope) return;
        throw err;
      }
    }
    // Decide only on references the stored object still has (the cache may lag behind it).
    if (refs.length === 0 || refs.every((ref) => states.get(ref.uid) === 'solid')) return;
    const solid = refs.filter((ref) => states.get(ref.uid) === 'solid');
    const waiting = refs.filter((ref) => states.get(ref.uid) === 'waiting');
    const dangling = refs.filter((ref) => states.get(ref.uid) === 'dangling');
    if (solid.length > 0) {
      if (waiting.length === 0 && dangling.length === 0) return;
      // Keep the object for its solid owners; references to the others would only hold them up.
      const drop = new Set([...waiting, ...dangling].map((ref) => ref.uid));
      await updateObject(this.#storage, r, targetOf(obj), (o) => removeOwnerRefs(o, drop));
      return;
    }
    const dependents = this.#dependentsOf(obj);
    if (waiting.length > 0 && dependents.length > 0) {
      if (dependents.some(({ obj: d }) => isDeletingDependents(d))) {
        // A dependent also waits on its dependents: make our references non-blocking so that a cycle
        // of foreground deletions cannot wait on itself (Kubernetes does the same).
        await updateObject(this.#storage, r, targetOf(obj), unblockOwnerRefs);
      }
      await this.#delete(r, obj, 'Foreground');
      return;
    }
    const policy = hasFinalizer(obj, ORPHAN_FINALIZER)
      ? 'Orphan'
      : hasFinalizer(obj, FOREGROUND_DELETION_FINALIZER)
        ? 'Foreground'
        : 'Background';
    await this.#delete(r, obj, policy);
  }

  async #delete(
    r: ResourceInfo,
    obj: StoredObject,
    policy: 'Foreground' | 'Background' | 'Orphan',
  ): Promise<void> {
    const outcome = await deleteObject(this.#storage, r, targetOf(obj), { propagationPolicy: policy });
    this.#log.debug({ object: describe(obj), policy, outcome }, 'garbage collected');
  }

  /**
   * The state of each referenced owner, by owner uid. Throws InvalidOwnerScope for a cluster-scoped
   * object that names a namespaced owner.
   */
  async #classify(
    dependent: StoredObject,
    refs: readonly OwnerReference[],
  ): Promise<Map<string, OwnerState>> {
    const states = new Map<string, OwnerState>();
    for (const ref of refs) states.set(ref.uid, await this.#ownerState(dependent, ref));
    return states;
  }

  async #ownerState(dependent: StoredObject, ref: OwnerReference): Promise<OwnerState> {
    const r = resourceForOwnerRef(ref);
    if (r === undefined) {
      // A kind Berth does not serve: we cannot tell, so the reference keeps the object (never delete on doubt).
      this.#log.debug({ object: describe(dependent), owner: ref }, 'owner kind not served; reference kept');
      return 'solid';
    }
    const ns = dependent.metadata.namespace;
    if (r.namespaced && (ns === undefined || ns === '')) {
      this.#events.event(
        dependent,
        'Warning',
        'OwnerRefInvalidNamespace',
        `ownerRef ${JSON.stringify(ref)} does not exist in namespace ""`,
      );
      throw new InvalidOwnerScope();
    }
    const ownerNs = r.namespaced ? ns : undefined;
    const absentKey = `${ref.uid}/${ownerNs ?? ''}`;
    if (this.#absent.has(absentKey)) return 'dangling';
    const cached = this.#byResource.get(r)?.getByUid(ref.uid);
    if (cached !== undefined) {
      if (!r.namespaced || cached.metadata.namespace === ns) return stateOf(cached);
      this.#events.event(
        dependent,
        'Warning',
        'OwnerRefInvalidNamespace',
        `ownerRef ${JSON.stringify(ref)} does not exist in namespace ${JSON.stringify(ns ?? '')}`,
      );
    }
    let live: StoredObject | undefined;
    try {
      live = await this.#storage.get(r, ownerNs, ref.name);
    } catch (err) {
      if (!(isApiError(err) && err.status.code === 404)) throw err;
    }
    if (live?.metadata.uid !== ref.uid) {
      this.#absent.set(absentKey, true);
      if (this.#absent.size > ABSENT_CACHE_SIZE) {
        const oldest = this.#absent.keys().next();
        if (oldest.done !== true) this.#absent.delete(oldest.value);
      }
      return 'dangling';
    }
    return stateOf(live);
  }

  // ── lookups in the caches ────────────────────────────────────────────────────────────────────

  /** Whether every owner of `obj` is cached, alive, and in a namespace that can own it. */
  #ownersCached(obj: StoredObject): boolean {
    const ns = obj.metadata.namespace;
    for (const ref of obj.metadata.ownerReferences ?? []) {
      const owner = this.#find(ref.uid)?.obj;
      if (owner === undefined || isDeletingDependents(owner)) return false;
      const ownerNs = owner.metadata.namespace;
      if (ownerNs !== undefined && ownerNs !== ns) return false;
    }
    return true;
  }

  #find(uid: string): Located | undefined {
    for (const informer of this.#informers) {
      const obj = informer.getByUid(uid);
      if (obj !== undefined) return { r: informer.resource, obj };
    }
    return undefined;
  }

  /** Cached objects referencing `owner` that it can validly own (same namespace, or a cluster-scoped owner). */
  #dependentsOf(owner: StoredObject): Located[] {
    const uid = owner.metadata.uid;
    if (uid === undefined) return [];
    const ns = owner.metadata.namespace;
    const out: Located[] = [];
    for (const informer of this.#informers) {
      for (const dep of informer.byIndex(byOwnerUid, uid)) {
        if (ns === undefined || ns === '' || dep.metadata.namespace === ns) {
          out.push({ r: informer.resource, obj: dep });
        }
      }
    }
    return out;
  }
}

function needsAttention(obj: StoredObject): boolean {
  return (obj.metadata.ownerReferences ?? []).length > 0 || isDeletingDependents(obj) || isOrphaning(obj);
}

function isDeletingDependents(obj: StoredObject): boolean {
  return isBeingDeleted(obj) && hasFinalizer(obj, FOREGROUND_DELETION_FINALIZER);
}

function isOrphaning(obj: StoredObject): boolean {
  return isBeingDeleted(obj) && hasFinalizer(obj, ORPHAN_FINALIZER);
}

function stateOf(owner: StoredObject): OwnerState {
  return isDeletingDependents(owner) ? 'waiting' : 'solid';
}

function specFinalizers(obj: StoredObject): unknown {
  return (obj.spec as { finalizers?: unknown } | undefined)?.finalizers;
}

/**
 * Whether removing a metadata finalizer is safe now. `ResourceStorage` deletes a terminating object as
 * soon as its last metadata finalizer goes, without looking at a Namespace's `spec.finalizers`; so the
 * GC leaves a Namespace's finalizer in place until the namespace controller has emptied and finalized it
 * (its update wakes us again).
 */
function canReleaseFinalizer(obj: StoredObject): boolean {
  if (obj.kind !== 'Namespace') return true;
  const pending = specFinalizers(obj);
  return !Array.isArray(pending) || pending.length === 0;
}

function removeOwnerRefs(obj: StoredObject, uids: ReadonlySet<string>): boolean {
  const refs = obj.metadata.ownerReferences ?? [];
  const kept = refs.filter((ref) => !uids.has(ref.uid));
  if (kept.length === refs.length) return false;
  if (kept.length === 0) delete obj.metadata.ownerReferences;
  else obj.metadata.ownerReferences = kept;
  return true;
}

function unblockOwnerRefs(obj: StoredObject): boolean {
  let changed = false;
  for (const ref of obj.metadata.ownerReferences ?? []) {
    if (ref.blockOwnerDeletion === true) {
      ref.blockOwnerDeletion = false;
      changed = true;
    }
  }
  return changed;
}

function describe(obj: StoredObject): string {
  const m = obj.metadata;
  return `${obj.kind} ${m.namespace === undefined ? '' : `${m.namespace}/`}${m.name ?? ''}`;
}

/**
 * Generic REST storage for every resource: what Kubernetes' `registry/generic/registry.Store` does,
 * on top of the revisioned `Store`. It owns object semantics that do not depend on the kind:
 * uid, creationTimestamp, generateName, generation (bumped when `spec` changes), resourceVersion
 * (the store's modRevision) and optimistic concurrency, the status subresource split, finalizers and
 * deletionTimestamp, graceful pod deletion, namespace existence and termination, and dry runs.
 * Kind-specific defaulting and validation come in through `AdmissionHooks`.
 *
 * The write path is the API server's hottest code, so it avoids store round trips it can prove
 * unnecessary: an update starts from the newest version this storage has seen of the key (its own
 * writes and reads, a bounded LRU) and lets the store's compare-and-swap verify it — a lost CAS hands
 * back the current version, so a stale guess costs one retry, never a wrong write. Anything decided
 * on a cached version that would end the request without a write (a no-op, a conflict on a pinned
 * resourceVersion, an error) is re-checked against a fresh read first. Namespace existence is cached
 * too. One store watch keeps both current: it refreshes remembered versions when others write
 * (the scheduler binds on the store directly) and invalidates namespace states; this storage's own
 * namespace writes invalidate at once.
 *
 * Deletion:  live ──delete, finalizers or graceful──▶ terminating (deletionTimestamp set)
 *              │                                        │ last finalizer removed / grace over
 *              └──delete, nothing pending──▶ gone ◀─────┘
 */
import { randomUUID } from 'node:crypto';
import { cloneJson, jsonEqual, type StoredObject } from '../../api/object.js';
import { apiVersionOf, findResource, type ResourceInfo } from '../../api/resources.js';
import {
  alreadyExists,
  ApiError,
  badRequest,
  conflict,
  forbidden,
  invalid,
  notFound,
  tooOldResourceVersion,
  type StatusCause,
} from '../../api/status.js';
import type { Clock } from '../../lib/clock.js';
import { CompactedError, isBerthError, errorCodes } from '../../lib/errors.js';
import type { KeyValue, Store, Watch } from '../store/store.js';
import { decodeObject, encodeObject, objectKey, resourcePrefix } from './object-codec.js';

/** Kind-specific defaulting and validation (api/defaults, api/validation). */
export interface AdmissionHooks {
  defaults(
    obj: StoredObject,
    r: ResourceInfo,
    operation: 'create' | 'update',
    old?: StoredObject,
  ): StoredObject;
  validateCreate(obj: StoredObject, r: ResourceInfo): readonly StatusCause[];
  validateUpdate(obj: StoredObject, old: StoredObject, r: ResourceInfo): readonly StatusCause[];
}

export interface WriteOptions {
  /** Run every step but do not persist (`dryRun=All`). */
  readonly dryRun?: boolean;
  /** `status` to write only `.status`; absent to write everything but `.status`. */
  readonly subresource?: 'status';
}

export interface ListOptions {
  readonly limit?: number;
  readonly continue?: string;
  readonly filter?: (obj: StoredObject) => boolean;
}

export interface ListResult {
  readonly items: StoredObject[];
  readonly resourceVersion: string;
  readonly continue?: string;
  readonly remainingItemCount?: number;
}

export interface DeleteOptions extends WriteOptions {
  readonly preconditions?: { readonly uid?: string; readonly resourceVersion?: string };
  readonly propagationPolicy?: 'Foreground' | 'Background' | 'Orphan';
  readonly gracePeriodSeconds?: number;
}

export interface DeleteResult {
  readonly object: StoredObject;
  /** False when the object still exists, terminating (finalizers or a grace period pending). */
  readonly deleted: boolean;
}

export type Mutation = (current: StoredObject) => StoredObject | Promise<StoredObject>;

const namespaces = findResource('', 'v1', 'namespaces');
const MAX_CAS_RETRIES = 20;
/** Every object's key starts with this (object-codec.ts). */
const REGISTRY_PREFIX = '/registry/';
/** Keys whose newest version is remembered for updates (about one value each: shared with watchers). */
const KNOWN_VERSIONS_MAX = 50_000;

export class ResourceStorage {
  readonly #store: Store;
  readonly #clock: Clock;
  readonly #admission: AdmissionHooks;
  readonly #newUid: () => string;
  /** Newest version seen per key, in least-recently-used order. A hint: the store's CAS decides. */
  readonly #known = new Map<string, KeyValue>();
  /** Namespaces known to exist, with whether they are terminating; valid while #watch runs. */
  readonly #nsCache = new Map<string, { terminating: boolean }>();
  /** One store watch on every object: refreshes #known and invalidates #nsCache. */
  #watch: Watch | undefined;
  #watchStarting: Promise<boolean> | undefined;
  /** Bumped on every namespace event, so a read that raced one is not cached. */
  #nsGeneration = 0;

  constructor(deps: { store: Store; clock: Clock; admission: AdmissionHooks; newUid?: () => string }) {
    this.#store = deps.store;
    this.#clock = deps.clock;
    this.#admission = deps.admission;
    this.#newUid = deps.newUid ?? randomUUID;
  }

  #remember(kv: KeyValue): void {
    this.#known.delete(kv.key);
    this.#known.set(kv.key, kv);
    if (this.#known.size > KNOWN_VERSIONS_MAX) {
      const oldest = this.#known.keys().next();
      if (oldest.done !== true) this.#known.delete(oldest.value);
    }
  }

  #forget(key: string): void {
    this.#known.delete(key);
  }

  /** A store read that also refreshes what this storage remembers of the key. */
  async #read(key: string): Promise<KeyValue | undefined> {
    const kv = await this.#store.get(key);
    if (kv === undefined) this.#forget(key);
    else this.#remember(kv);
    return kv;
  }

  get store(): Store {
    return this.#store;
  }

  async get(r: ResourceInfo, namespace: string | undefined, name: string): Promise<StoredObject> {
    const kv = await this.#read(objectKey(r, namespace, name));
    if (kv === undefined) throw new ApiError(notFound(groupResource(r), name));
    return decodeObject(kv);
  }

  async list(r: ResourceInfo, namespace: string | undefined, opts: ListOptions = {}): Promise<ListResult> {
    const prefix = resourcePrefix(r, namespace);
    const limit = opts.limit ?? 0;
    const items: StoredObject[] = [];
    let token = opts.continue;
    let revision: number;
    // Filtering happens after reading, so keep reading pages until the limit is met (as kube-apiserver does).
    for (;;) {
      const page = await this.#storeCall(() =>
        this.#store.list(prefix, {
          ...(limit > 0 ? { limit: limit - items.length } : {}),
          ...(token !== undefined && token !== '' ? { continue: token } : {}),
        }),
      );
      revision = page.revision;
      for (const kv of page.items) {
        const obj = decodeObject(kv);
        if (opts.filter === undefined || opts.filter(obj)) items.push(obj);
      }
      token = page.continue;
      if (token === undefined) return { items, resourceVersion: String(revision) };
      if (limit > 0 && items.length >= limit) {
        return {
          items,
          resourceVersion: String(revision),
          continue: token,
          ...(opts.filter === undefined && page.remainingItemCount !== undefined
            ? { remainingItemCount: page.remainingItemCount }
            : {}),
        };
      }
    }
  }

  async create(
    r: ResourceInfo,
    namespace: string | undefined,
    input: StoredObject,
    opts: WriteOptions = {},
  ): Promise<StoredObject> {
    const now = this.#timestamp();
    let obj = cloneJson(input);
    obj.apiVersion = apiVersionOf(r);
    obj.kind = r.kind;
    const meta = obj.metadata;
    if (r.namespaced && namespace !== undefined) meta.namespace = namespace;
    else delete meta.namespace;
    if (
      (meta.name === undefined || meta.name === '') &&
      meta.generateName !== undefined &&
      meta.generateName !== ''
    ) {
      meta.name = `${meta.generateName}${randomSuffix()}`;
    }
    meta.uid = this.#newUid();
    meta.creationTimestamp = now;
    delete meta.resourceVersion;
    delete meta.deletionTimestamp;
    delete meta.deletionGracePeriodSeconds;
    if ('spec' in obj) meta.generation = 1;
    else delete meta.generation;
    obj = this.#admission.defaults(obj, r, 'create');
    const causes = this.#admission.validateCreate(obj, r);
    if (causes.length > 0)
      throw new ApiError(invalid({ group: r.group, kind: r.kind }, meta.name ?? '', causes));
    const name = obj.metadata.name ?? '';
    if (r.namespaced) await this.#assertNamespaceWritable(r, namespace ?? '', name);
    const key = objectKey(r, namespace, name);
    if (opts.dryRun === true) {
      const existing = await this.#store.get(key);
      if (existing !== undefined) throw new ApiError(alreadyExists(groupResource(r), name));
      return obj;
    }
    const result = await this.#storeCall(() => this.#store.create(key, encodeObject(obj)));
    if (!result.ok) {
      this.#remember(result.current);
      throw new ApiError(alreadyExists(groupResource(r), name));
    }
    this.#remember(result.kv);
    if (r.kind === 'Namespace') this.#nsCache.delete(name);
    return decodeObject(result.kv);
  }

  /**
   * Read-modify-write with compare-and-swap, retried on conflict — unless the caller pinned a
   * resourceVersion (in the object it returns) that is no longer current: a 409 for the client.
   */
  async update(
    r: ResourceInfo,
    namespace: string | undefined,
    name: string,
    mutate: Mutation,
    opts: WriteOptions & { createIfMissing?: boolean } = {},
  ): Promise<{ object: StoredObject; created: boolean }> {
    const key = objectKey(r, namespace, name);
    if (this.#watch === undefined) void this.#watchStore();
    // Start from the remembered version (not for dry runs: nothing would verify it).
    let kv: KeyValue | undefined = opts.dryRun === true ? undefined : this.#known.get(key);
    let unverified = kv !== undefined;
    if (kv === undefined) kv = await this.#read(key);
    for (let attempt = 0; attempt < MAX_CAS_RETRIES; attempt++) {
      if (kv === undefined) {
        if (opts.createIfMissing !== true) throw new ApiError(notFound(groupResource(r), name));
        const wanted = await mutate(emptyObject(r, namespace, name));
        return { object: await this.create(r, namespace, wanted, opts), created: true };
      }
      const current = decodeObject(kv);
      let next: StoredObject;
      try {
        const wanted = await mutate(ownCopy(kv));
        const pinned = wanted.metadata.resourceVersion;
        if (pinned !== undefined && pinned !== '' && pinned !== current.metadata.resourceVersion) {
          throw new ApiError(conflict(groupResource(r), name));
        }
        const stored = kv;
        next = this.#prepareUpdate(r, wanted, current, () => ownCopy(stored), opts);
      } catch (err) {
        // Decided on a remembered version: decide again on the stored one before failing the request.
        if (!unverified) throw err;
        unverified = false;
        kv = await this.#read(key);
        continue;
      }
      if (opts.dryRun === true) return { object: next, created: false };
      // `next` carries no resourceVersion (#prepareUpdate drops it); compare against the stored form.
      if (jsonEqual(next, { ...current, metadata: { ...current.metadata, resourceVersion: undefined } })) {
        if (unverified) {
          const fresh = await this.#read(key);
          unverified = false;
          if (fresh?.modRevision !== kv.modRevision) {
            kv = fresh;
            continue;
          }
        }
        return { object: current, created: false }; // no-op writes do not bump the resourceVersion
      }
      const expected = kv.modRevision;
      if (
        next.metadata.deletionTimestamp !== undefined &&
        (next.metadata.finalizers ?? []).length === 0 &&
        !isGracefulPod(r, next) &&
        // A terminating namespace stays until the namespace controller has emptied it and cleared spec.finalizers.
        !(r.kind === 'Namespace' && namespaceFinalizers(next).length > 0)
      ) {
        const del = await this.#storeCall(() => this.#store.delete(key, expected));
        if (r.kind === 'Namespace') this.#nsCache.delete(name);
        if (del.ok) {
          this.#forget(key);
          return {
            object: { ...next, metadata: { ...next.metadata, resourceVersion: String(del.revision) } },
            created: false,
          };
        }
        kv = del.reason === 'conflict' ? del.current : undefined;
      } else {
        const result = await this.#storeCall(() => this.#store.update(key, encodeObject(next), expected));
        if (r.kind === 'Namespace') this.#nsCache.delete(name);
        if (result.ok) {
          this.#remember(result.kv);
          return { object: decodeObject(result.kv), created: false };
        }
        kv = result.reason === 'conflict' ? result.current : undefined;
      }
      // Lost the compare-and-swap: the store handed back what is there now (or nothing). A caller that
      // pinned a resourceVersion gets its 409 from the check above on the next turn; one whose object
      // merely carried the version it read (a patch applied to the current object) is retried, as
      // kube-apiserver's patcher does.
      if (kv === undefined) this.#forget(key);
      else this.#remember(kv);
      unverified = false;
    }
    throw new ApiError(conflict(groupResource(r), name, 'too many concurrent writers; try again'));
  }

  #prepareUpdate(
    r: ResourceInfo,
    wanted: StoredObject,
    current: StoredObject,
    copyCurrent: () => StoredObject,
    opts: WriteOptions,
  ): StoredObject {
    let next: StoredObject;
    if (opts.subresource === 'status') {
      // A status write changes only .status (and keeps everything else as stored).
      next = { ...copyCurrent(), status: cloneJson(wanted.status) };
      if (wanted.status === undefined) delete next.status;
    } else {
      next = cloneJson(wanted);
      if (r.subresources.includes('status')) {
        if (current.status === undefined) delete next.status;
        else next.status = cloneJson(current.status);
      }
    }
    next.apiVersion = apiVersionOf(r);
    next.kind = r.kind;
    const meta = next.metadata;
    // Fields the system owns cannot be changed by a client.
    for (const field of ['uid', 'creationTimestamp', 'name', 'namespace'] as const) {
      const value = current.metadata[field];
      if (value === undefined) Reflect.deleteProperty(meta, field);
      else meta[field] = value;
    }
    if (current.metadata.deletionTimestamp !== undefined) {
      meta.deletionTimestamp = current.metadata.deletionTimestamp;
      if (current.metadata.deletionGracePeriodSeconds !== undefined) {
        meta.deletionGracePeriodSeconds = current.metadata.deletionGracePeriodSeconds;
      }
    } else if (opts.subresource === undefined) {
      delete meta.deletionTimestamp;
      delete meta.deletionGracePeriodSeconds;
    }
    delete meta.resourceVersion;
    if ('spec' in next) {
      const generation = current.metadata.generation ?? 1;
      meta.generation = jsonEqual(next.spec, current.spec) ? generation : generation + 1;
    }
    next = this.#admission.defaults(next, r, 'update', current);
    const causes = this.#admission.validateUpdate(next, current, r);
    if (causes.length > 0)
      throw new ApiError(invalid({ group: r.group, kind: r.kind }, meta.name ?? '', causes));
    return next;
  }

  async delete(
    r: ResourceInfo,
    namespace: string | undefined,
    name: string,
    opts: DeleteOptions = {},
  ): Promise<DeleteResult> {
    const key = objectKey(r, namespace, name);
    for (let attempt = 0; attempt < MAX_CAS_RETRIES; attempt++) {
      const kv = await this.#read(key);
      if (kv === undefined) throw new ApiError(notFound(groupResource(r), name));
      const current = decodeObject(kv);
      const pre = opts.preconditions;
      if (pre?.uid !== undefined && pre.uid !== current.metadata.uid) {
        throw new ApiError(
          conflict(
            groupResource(r),
            name,
            `Precondition failed: UID in precondition: ${pre.uid}, UID in object meta: ${current.metadata.uid ?? ''}`,
          ),
        );
      }
      if (pre?.resourceVersion !== undefined && pre.resourceVersion !== current.metadata.resourceVersion) {
        throw new ApiError(
          conflict(
            groupResource(r),
            name,
            `Precondition failed: ResourceVersion in precondition: ${pre.resourceVersion}, ResourceVersion in object meta: ${current.metadata.resourceVersion ?? ''}`,
          ),
        );
      }
      const next = ownCopy(kv);
      const finalizers = new Set(next.metadata.finalizers ?? []);
      if (opts.propagationPolicy === 'Foreground') finalizers.add('foregroundDeletion');
      if (opts.propagationPolicy === 'Orphan') finalizers.add('orphan');
      const graceful = r.kind === 'Pod' && isBoundPod(current) && (opts.gracePeriodSeconds ?? 1) > 0;
      const specFinalizers = r.kind === 'Namespace' ? namespaceFinalizers(current) : [];
      if (finalizers.size > 0 || graceful || specFinalizers.length > 0) {
        if (
          current.metadata.deletionTimestamp !== undefined &&
          !graceful &&
          finalizers.size === (current.metadata.finalizers ?? []).length
        ) {
          return { object: current, deleted: false }; // already terminating; nothing new to record
        }
        next.metadata.finalizers = [...finalizers];
        if (next.metadata.finalizers.length === 0) delete next.metadata.finalizers;
        next.metadata.deletionTimestamp ??= this.#timestamp();
        if (graceful) {
          const spec = current.spec as { terminationGracePeriodSeconds?: number } | undefined;
          next.metadata.deletionGracePeriodSeconds =
            opts.gracePeriodSeconds ?? spec?.terminationGracePeriodSeconds ?? 30;
        } else {
          next.metadata.deletionGracePeriodSeconds = 0;
        }
        if (r.kind === 'Namespace')
          next.status = { ...(next.status as object | undefined), phase: 'Terminating' };
        if (opts.dryRun === true) return { object: next, deleted: false };
        const result = await this.#storeCall(() =>
          this.#store.update(key, encodeObject(next), kv.modRevision),
        );
        if (r.kind === 'Namespace') this.#nsCache.delete(name);
        if (result.ok) {
          this.#remember(result.kv);
          return { object: decodeObject(result.kv), deleted: false };
        }
        continue;
      }
      if (opts.dryRun === true) return { object: current, deleted: true };
      const result = await this.#storeCall(() => this.#store.delete(key, kv.modRevision));
      if (r.kind === 'Namespace') this.#nsCache.delete(name);
      if (result.ok) {
        this.#forget(key);
        return { object: decodeObject(result.prevKv, result.revision), deleted: true };
      }
    }
    throw new ApiError(conflict(groupResource(r), name, 'too many concurrent writers; try again'));
  }

  async #assertNamespaceWritable(r: ResourceInfo, namespace: string, name: string): Promise<void> {
    if (namespaces === undefined) return;
    let state = this.#nsCache.get(namespace);
    if (state === undefined) {
      const watching = await this.#watchStore();
      const generation = this.#nsGeneration;
      const kv = await this.#store.get(objectKey(namespaces, undefined, namespace));
      if (kv === undefined) throw new ApiError(notFound({ group: '', resource: 'namespaces' }, namespace));
      state = { terminating: decodeObject(kv).metadata.deletionTimestamp !== undefined };
      if (watching && generation === this.#nsGeneration) this.#nsCache.set(namespace, state);
    }
    if (state.terminating) {
      throw new ApiError(
        forbidden(
          groupResource(r),
          name,
          `unable to create new content in namespace ${namespace} because it is being terminated`,
        ),
      );
    }
  }

  /**
   * Makes sure this storage's store watch is running. It keeps what #known remembers current when
   * others write (the scheduler binds pods on the store directly; other servers share an etcd), so an
   * update rarely loses its first compare-and-swap, and it invalidates cached namespace states (k8s's
   * NamespaceLifecycle admission reads an informer the same way). Resolves to false when no watch
   * could be started: then namespace states are not cached.
   */
  async #watchStore(): Promise<boolean> {
    if (this.#watch !== undefined) return true;
    this.#watchStarting ??= (async (): Promise<boolean> => {
      try {
        const from = (await this.#store.currentRevision()) + 1;
        const watch = this.#store.watch(REGISTRY_PREFIX, from);
        this.#watch = watch;
        void this.#follow(watch);
        return true;
      } catch {
        return false; // the store is closing or unavailable: namespace checks read the store
      } finally {
        this.#watchStarting = undefined;
      }
    })();
    return await this.#watchStarting;
  }

  async #follow(watch: Watch): Promise<void> {
    const nsPrefix = namespaces === undefined ? undefined : resourcePrefix(namespaces);
    try {
      for await (const events of watch) {
        for (const e of events) {
          const key = e.type === 'PUT' ? e.kv.key : e.key;
          if (nsPrefix !== undefined && key.startsWith(nsPrefix)) {
            this.#nsGeneration++;
            this.#nsCache.delete(key.slice(nsPrefix.length));
          }
          const known = this.#known.get(key);
          if (known === undefined || known.modRevision >= e.revision) continue;
          // Refreshed in place (no LRU bump): being written by others is not being used here.
          if (e.type === 'PUT') this.#known.set(key, e.kv);
          else this.#known.delete(key);
        }
      }
    } catch {
      // Dropped, compacted or store gone: the next write starts a new watch.
    } finally {
      this.#nsGeneration++;
      this.#nsCache.clear();
      if (this.#watch === watch) this.#watch = undefined;
    }
  }

  /** Maps store failures that clients can act on to Status errors. */
  async #storeCall<T>(call: () => Promise<T>): Promise<T> {
    try {
      return await call();
    } catch (err) {
      if (err instanceof CompactedError) {
        throw new ApiError(tooOldResourceVersion(err.requestedRevision, err.compactedRevision + 1), {
          cause: err,
        });
      }
      if (isBerthError(err, errorCodes.STORE_INVALID))
        throw new ApiError(badRequest(err.message), { cause: err });
      throw err;
    }
  }

  #timestamp(): string {
    return new Date(this.#clock.now()).toISOString().replace(/\.\d{3}Z$/, 'Z');
  }
}

export function groupResource(r: ResourceInfo): { group: string; resource: string } {
  return { group: r.group, resource: r.plural };
}

const textDecoder = new TextDecoder();

/**
 * A private, mutable copy of a stored object: parsed again from its stored bytes, which is about
 * twice as fast as structuredClone of the decoded (shared, immutable) object.
 */
function ownCopy(kv: KeyValue): StoredObject {
  const obj = JSON.parse(textDecoder.decode(kv.value)) as StoredObject;
  obj.metadata = { ...obj.metadata, resourceVersion: String(kv.modRevision) };
  return obj;
}

function emptyObject(r: ResourceInfo, namespace: string | undefined, name: string): StoredObject {
  return {
    apiVersion: apiVersionOf(r),
    kind: r.kind,
    metadata: r.namespaced && namespace !== undefined ? { name, namespace } : { name },
  };
}

function isBoundPod(obj: StoredObject): boolean {
  const spec = obj.spec as { nodeName?: string } | undefined;
  return typeof spec?.nodeName === 'string' && spec.nodeName !== '';
}

/** A bound pod stays until its node's agent confirms its containers are gone (or it is force-deleted). */
function isGracefulPod(r: ResourceInfo, obj: StoredObject): boolean {
  return r.kind === 'Pod' && isBoundPod(obj) && (obj.metadata.deletionGracePeriodSeconds ?? 0) > 0;
}

function namespaceFinalizers(obj: StoredObject): string[] {
  const spec = obj.spec as { finalizers?: string[] } | undefined;
  return spec?.finalizers ?? [];
}

const SUFFIX_ALPHABET = 'bcdfghjklmnpqrstvwxz2456789';

/** Kubernetes' generateName suffix: five characters without vowels or confusable digits. */
function randomSuffix(): string {
  let out = '';
  for (let i = 0; i < 5; i++)
    out += SUFFIX_ALPHABET[Math.floor(Math.random() * SUFFIX_ALPHABET.length)] ?? 'x';
  return out;
}

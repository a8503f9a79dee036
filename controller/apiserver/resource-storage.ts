/**
 * Generic REST storage for every resource: what Kubernetes' `registry/generic/registry.Store` does,
 * on top of the revisioned `Store`. It owns object semantics that do not depend on the kind:
 * uid, creationTimestamp, generateName, generation (bumped when `spec` changes), resourceVersion
 * (the store's modRevision) and optimistic concurrency, the status subresource split, finalizers and
 * deletionTimestamp, graceful pod deletion, namespace existence and termination, and dry runs.
 * Kind-specific defaulting and validation come in through `AdmissionHooks`.
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
import type { Store } from '../store/store.js';
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

export class ResourceStorage {
  readonly #store: Store;
  readonly #clock: Clock;
  readonly #admission: AdmissionHooks;
  readonly #newUid: () => string;

  constructor(deps: { store: Store; clock: Clock; admission: AdmissionHooks; newUid?: () => string }) {
    this.#store = deps.store;
    this.#clock = deps.clock;
    this.#admission = deps.admission;
    this.#newUid = deps.newUid ?? randomUUID;
  }

  get store(): Store {
    return this.#store;
  }

  async get(r: ResourceInfo, namespace: string | undefined, name: string): Promise<StoredObject> {
    const kv = await this.#store.get(objectKey(r, namespace, name));
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
    if (!result.ok) throw new ApiError(alreadyExists(groupResource(r), name));
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
    for (let attempt = 0; attempt < MAX_CAS_RETRIES; attempt++) {
      const kv = await this.#store.get(key);
      if (kv === undefined) {
        if (opts.createIfMissing !== true) throw new ApiError(notFound(groupResource(r), name));
        const wanted = await mutate(emptyObject(r, namespace, name));
        return { object: await this.create(r, namespace, wanted, opts), created: true };
      }
      const current = decodeObject(kv);
      const wanted = await mutate(cloneJson(current));
      const pinned = wanted.metadata.resourceVersion;
      if (pinned !== undefined && pinned !== '' && pinned !== current.metadata.resourceVersion) {
        throw new ApiError(conflict(groupResource(r), name));
      }
      const next = this.#prepareUpdate(r, wanted, current, opts);
      if (opts.dryRun === true) return { object: next, created: false };
      // `next` carries no resourceVersion (#prepareUpdate drops it); compare against the stored form.
      if (jsonEqual(next, { ...current, metadata: { ...current.metadata, resourceVersion: undefined } })) {
        return { object: current, created: false }; // no-op writes do not bump the resourceVersion
      }
      if (
        next.metadata.deletionTimestamp !== undefined &&
        (next.metadata.finalizers ?? []).length === 0 &&
        !isGracefulPod(r, next) &&
        // A terminating namespace stays until the namespace controller has emptied it and cleared spec.finalizers.
        !(r.kind === 'Namespace' && namespaceFinalizers(next).length > 0)
      ) {
        const del = await this.#storeCall(() => this.#store.delete(key, kv.modRevision));
        if (del.ok)
          return {
            object: { ...next, metadata: { ...next.metadata, resourceVersion: String(del.revision) } },
            created: false,
          };
      } else {
        const result = await this.#storeCall(() =>
          this.#store.update(key, encodeObject(next), kv.modRevision),
        );
        if (result.ok) return { object: decodeObject(result.kv), created: false };
      }
      // Lost the compare-and-swap: read again. A caller that pinned a resourceVersion gets its 409 from
      // the check above on the next turn; one whose object merely carried the version it read (a patch
      // applied to the current object) is retried, as kube-apiserver's patcher does.
    }
    throw new ApiError(conflict(groupResource(r), name, 'too many concurrent writers; try again'));
  }

  #prepareUpdate(
    r: ResourceInfo,
    wanted: StoredObject,
    current: StoredObject,
    opts: WriteOptions,
  ): StoredObject {
    let next: StoredObject;
    if (opts.subresource === 'status') {
      // A status write changes only .status (and keeps everything else as stored).
      next = { ...cloneJson(current), status: cloneJson(wanted.status) };
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
      const kv = await this.#store.get(key);
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
      const next = cloneJson(current);
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
        if (result.ok) return { object: decodeObject(result.kv), deleted: false };
        continue;
      }
      if (opts.dryRun === true) return { object: current, deleted: true };
      const result = await this.#storeCall(() => this.#store.delete(key, kv.modRevision));
      if (result.ok) return { object: decodeObject(result.prevKv, result.revision), deleted: true };
    }
    throw new ApiError(conflict(groupResource(r), name, 'too many concurrent writers; try again'));
  }

  async #assertNamespaceWritable(r: ResourceInfo, namespace: string, name: string): Promise<void> {
    if (namespaces === undefined) return;
    const kv = await this.#store.get(objectKey(namespaces, undefined, namespace));
    if (kv === undefined) throw new ApiError(notFound({ group: '', resource: 'namespaces' }, namespace));
    if (decodeObject(kv).metadata.deletionTimestamp !== undefined) {
      throw new ApiError(
        forbidden(
          groupResource(r),
          name,
          `unable to create new content in namespace ${namespace} because it is being terminated`,
        ),
      );
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

/**
 * How controllers write: read-modify-write and delete through `ResourceStorage` (so admission,
 * finalizer and deletion semantics apply), guarded by the object's uid so that a controller never
 * touches a same-named successor of the object it reasoned about. "The object is gone" is an expected
 * outcome returned as a value; conflicts are retried by the storage on the latest version.
 */
import type { StoredObject } from '../../api/object.js';
import type { ResourceInfo } from '../../api/resources.js';
import { isApiError } from '../../api/status.js';
import type { DeleteOptions, ResourceStorage } from '../apiserver/resource-storage.js';

/** Which object to write: its namespace (ignored for cluster-scoped resources), name and, ideally, uid. */
export interface ObjectTarget {
  readonly namespace?: string | undefined;
  readonly name: string;
  /** When set, the write applies only to the object with this uid; another one is treated as gone. */
  readonly uid?: string | undefined;
}

/** The target of `obj` itself (namespace, name and uid). */
export function targetOf(obj: StoredObject): ObjectTarget {
  return { namespace: obj.metadata.namespace, name: obj.metadata.name ?? '', uid: obj.metadata.uid };
}

export type UpdateOutcome =
  { readonly outcome: 'updated' | 'unchanged'; readonly object: StoredObject } | { readonly outcome: 'gone' };

/**
 * Applies `change` to a private copy of the latest stored object and writes it with compare-and-swap,
 * retrying on conflicts (`change` may run several times, each on fresh data). `change` mutates its
 * argument and returns false to write nothing. An update that removes the last finalizer of an object
 * being deleted deletes it (the storage's semantics). Throws `ApiError` for anything but not-found.
 */
export async function updateObject(
  storage: ResourceStorage,
  r: ResourceInfo,
  target: ObjectTarget,
  change: (obj: StoredObject) => boolean,
  opts: { readonly subresource?: 'status' } = {},
): Promise<UpdateOutcome> {
  // Set inside the mutation, which the storage may run several times.
  const seen = { gone: false, changed: false };
  try {
    const { object } = await storage.update(
      r,
      r.namespaced ? target.namespace : undefined,
      target.name,
      (current) => {
        seen.gone = target.uid !== undefined && current.metadata.uid !== target.uid;
        seen.changed = !seen.gone && change(current);
        // Unchanged: the storage recognises a no-op write and skips it.
        if (!seen.changed) return current;
        // Without a resourceVersion the write is not pinned, so the storage retries lost races itself.
        delete current.metadata.resourceVersion;
        return current;
      },
      opts.subresource === undefined ? {} : { subresource: opts.subresource },
    );
    if (seen.gone) return { outcome: 'gone' };
    return { outcome: seen.changed ? 'updated' : 'unchanged', object };
  } catch (err) {
    if (isApiError(err) && err.status.code === 404) return { outcome: 'gone' };
    throw err;
  }
}

export type DeleteOutcome = 'deleted' | 'terminating' | 'gone';

/**
 * Deletes the target (only if it still has `target.uid`). Resolves `deleted` when it is gone from the
 * store, `terminating` when finalizers or a pod's grace period keep it for now, `gone` when it was not
 * there (or was a different object). Throws `ApiError` otherwise.
 */
export async function deleteObject(
  storage: ResourceStorage,
  r: ResourceInfo,
  target: ObjectTarget,
  opts: Pick<DeleteOptions, 'propagationPolicy' | 'gracePeriodSeconds'> = {},
): Promise<DeleteOutcome> {
  const namespace = r.namespaced ? target.namespace : undefined;
  try {
    const result = await storage.delete(r, namespace, target.name, {
      ...opts,
      ...(target.uid === undefined ? {} : { preconditions: { uid: target.uid } }),
    });
    return result.deleted ? 'deleted' : 'terminating';
  } catch (err) {
    if (!isApiError(err)) throw err;
    if (err.status.code === 404) return 'gone';
    if (err.status.code === 409 && target.uid !== undefined) {
      // A failed uid precondition means our object is gone and another took its name.
      const now = await storage.get(r, namespace, target.name).catch(() => undefined);
      if (now?.metadata.uid !== target.uid) return 'gone';
    }
    throw err;
  }
}

/** Whether `obj` lists `finalizer` in `metadata.finalizers`. */
export function hasFinalizer(obj: StoredObject, finalizer: string): boolean {
  return obj.metadata.finalizers?.includes(finalizer) ?? false;
}

/** Removes `finalizer` from `obj` in place; returns whether it was there (a `change` for `updateObject`). */
export function removeFinalizer(obj: StoredObject, finalizer: string): boolean {
  const list = obj.metadata.finalizers;
  if (list?.includes(finalizer) !== true) return false;
  const rest = list.filter((f) => f !== finalizer);
  if (rest.length === 0) delete obj.metadata.finalizers;
  else obj.metadata.finalizers = rest;
  return true;
}

/** Whether `obj` has a deletionTimestamp (it is terminating). */
export function isBeingDeleted(obj: StoredObject): boolean {
  return obj.metadata.deletionTimestamp !== undefined;
}

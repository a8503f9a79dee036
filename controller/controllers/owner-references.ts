/**
 * Owner references as the garbage collector and the workload controllers read them: which resource
 * an `ownerReferences[]` entry points at, the controlling owner, and the deletion finalizers that
 * `ResourceStorage.delete` adds for foreground and orphan propagation.
 */
import type { OwnerReference, StoredObject } from '../../api/object.js';
import { parseApiVersion, resources, type ResourceInfo } from '../../api/resources.js';

/** Added by a Foreground delete: the owner stays until its blocking dependents are gone. */
export const FOREGROUND_DELETION_FINALIZER = 'foregroundDeletion';
/** Added by an Orphan delete: the owner stays until its dependents no longer reference it. */
export const ORPHAN_FINALIZER = 'orphan';

/**
 * The served resource an owner reference points at, matched on group and kind (any version, as
 * Kubernetes' REST mapper does), or undefined for a kind Berth does not serve.
 */
export function resourceForOwnerRef(
  ref: Pick<OwnerReference, 'apiVersion' | 'kind'>,
): ResourceInfo | undefined {
  const { group } = parseApiVersion(ref.apiVersion);
  return resources.find((r) => r.group === group && r.kind === ref.kind);
}

/** The reference to the controlling owner (`controller: true`), if any. */
export function controllerRefOf(obj: StoredObject): OwnerReference | undefined {
  return obj.metadata.ownerReferences?.find((r) => r.controller === true);
}

/** The reference from `obj` to the owner with `uid`, if any. */
export function ownerRefTo(obj: StoredObject, uid: string): OwnerReference | undefined {
  return obj.metadata.ownerReferences?.find((r) => r.uid === uid);
}

/**
 * An owner reference to `owner`, as controllers set it on what they create: `controller` and
 * `blockOwnerDeletion` true (so a foreground delete of the owner waits for the dependent).
 */
export function controllerRefTo(owner: StoredObject): OwnerReference {
  return {
    apiVersion: owner.apiVersion,
    kind: owner.kind,
    name: owner.metadata.name ?? '',
    uid: owner.metadata.uid ?? '',
    controller: true,
    blockOwnerDeletion: true,
  };
}

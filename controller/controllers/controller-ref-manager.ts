/**
 * ControllerRef semantics (pkg/controller/controller_ref_manager.go): which objects a controller
 * manages. A ReplicaSet claims pods and a Deployment claims ReplicaSets the same way:
 *
 *   controlled by us, selector matches        → ours
 *   controlled by us, selector no longer matches → released (our ownerReference removed),
 *                                                 unless we are being deleted
 *   controlled by someone else                 → not ours, never touched
 *   orphan (no controller), selector matches,
 *     neither it nor we being deleted          → adopted (a controller ownerReference added), after
 *                                                 re-reading the owner live to make sure it still
 *                                                 exists with the same uid and is not being deleted
 *
 * Adoption and release write through `ResourceStorage`, guarded by the dependent's uid, and re-check
 * the stored object (a dependent adopted by another controller meanwhile is left alone).
 */
import type { StoredObject } from '../../api/object.js';
import type { ResourceInfo } from '../../api/resources.js';
import type { LabelSelector } from '../../api/selectors/label-selector.js';
import type { ResourceStorage } from '../apiserver/resource-storage.js';
import type { ObjectIndex } from './informer.js';
import { isBeingDeleted, targetOf, updateObject } from './object-writes.js';
import { controllerRefOf, controllerRefTo } from './owner-references.js';

/** Objects without a controlling owner, by namespace: the adoption candidates of a namespace. */
export const orphansByNamespace: ObjectIndex = {
  name: 'orphansByNamespace',
  keys: (obj) =>
    controllerRefOf(obj) === undefined && obj.metadata.namespace !== undefined
      ? [obj.metadata.namespace]
      : [],
};

export interface ClaimOptions {
  readonly storage: ResourceStorage;
  /** The resource of the dependents. */
  readonly resource: ResourceInfo;
  /** The claiming controller object (a ReplicaSet, a Deployment). */
  readonly owner: StoredObject;
  readonly selector: LabelSelector;
  /**
   * Re-reads the owner from the store: resolves true when it still exists with the same uid and is
   * not being deleted. Called at most once per claim, and only when there is something to adopt.
   */
  readonly canAdopt: () => Promise<boolean>;
}

/**
 * The objects among `candidates` that `owner` controls after adopting matching orphans and releasing
 * its non-matching ones, in the order given (adopted ones as stored after adoption). Throws
 * `ApiError` when a write fails for a reason other than the object being gone.
 */
export async function claimObjects(
  candidates: readonly StoredObject[],
  opts: ClaimOptions,
): Promise<StoredObject[]> {
  const { owner, selector } = opts;
  const ownerUid = owner.metadata.uid;
  const ownerDeleting = isBeingDeleted(owner);
  let adoptable: Promise<boolean> | undefined;
  const claimed: StoredObject[] = [];
  for (const obj of candidates) {
    const ref = controllerRefOf(obj);
    const matches = selector.matches(obj.metadata.labels);
    if (ref !== undefined) {
      if (ref.uid !== ownerUid) continue;
      if (matches) {
        claimed.push(obj);
      } else if (!ownerDeleting) {
        await release(obj, opts);
      }
      continue;
    }
    if (ownerDeleting || !matches || isBeingDeleted(obj)) continue;
    adoptable ??= opts.canAdopt();
    if (!(await adoptable)) continue;
    const adopted = await adopt(obj, opts);
    if (adopted !== undefined) claimed.push(adopted);
  }
  return claimed;
}

async function adopt(obj: StoredObject, opts: ClaimOptions): Promise<StoredObject | undefined> {
  const result = await updateObject(opts.storage, opts.resource, targetOf(obj), (current) => {
    // Re-checked on the stored object: another controller may have adopted it, or its labels changed.
    if (controllerRefOf(current) !== undefined || isBeingDeleted(current)) return false;
    if (!opts.selector.matches(current.metadata.labels)) return false;
    current.metadata.ownerReferences = [
      ...(current.metadata.ownerReferences ?? []).filter((r) => r.uid !== opts.owner.metadata.uid),
      controllerRefTo(opts.owner),
    ];
    return true;
  });
  return result.outcome === 'updated' ? result.object : undefined;
}

async function release(obj: StoredObject, opts: ClaimOptions): Promise<void> {
  const uid = opts.owner.metadata.uid;
  await updateObject(opts.storage, opts.resource, targetOf(obj), (current) => {
    const refs = current.metadata.ownerReferences ?? [];
    const kept = refs.filter((r) => r.uid !== uid);
    if (kept.length === refs.length) return false;
    if (kept.length === 0) delete current.metadata.ownerReferences;
    else current.metadata.ownerReferences = kept;
    return true;
  });
}

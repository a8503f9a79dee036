/**
 * The small interfaces through which the resource handler uses the API's pure modules (patching,
 * selectors, tables). Kept apart so the handler reads as HTTP plumbing and each engine has one owner.
 */
import type { StoredObject } from '../../api/object.js';
import type { ResourceInfo } from '../../api/resources.js';

export type PatchType = 'json' | 'merge' | 'strategic' | 'apply';

export interface PatchContext {
  readonly fieldManager: string | undefined;
  readonly force: boolean;
  /** Time of this write (ms since the epoch), for managedFields. */
  readonly now: number;
  /** `status` for writes to the status subresource. */
  readonly subresource?: 'status';
}

export interface PatchEngine {
  /** Applies a patch to the current object (or to an empty one for an apply that creates). Throws ApiError. */
  apply(
    type: PatchType,
    current: StoredObject,
    patch: unknown,
    r: ResourceInfo,
    ctx: PatchContext,
  ): StoredObject;
  /** Records field ownership of an ordinary create/update/patch under `manager`. */
  recordUpdate(
    next: StoredObject,
    old: StoredObject | undefined,
    r: ResourceInfo,
    ctx: PatchContext,
  ): StoredObject;
}

export interface SelectorFactory {
  /** A predicate for the request's selectors, or undefined when there are none. Throws ApiError 400. */
  filter(
    r: ResourceInfo,
    labelSelector: string | undefined,
    fieldSelector: string | undefined,
  ): ((obj: StoredObject) => boolean) | undefined;
}

export interface TableOptions {
  readonly includeObject: 'None' | 'Metadata' | 'Object';
  readonly wide: boolean;
  readonly now: number;
  readonly listMeta?: { resourceVersion?: string; continue?: string; remainingItemCount?: number };
  readonly omitHeaders?: boolean;
}

export interface TableConverter {
  /** Whether the Accept header asks for a meta.k8s.io Table. */
  wants(accept: string | undefined): boolean;
  convert(r: ResourceInfo, objects: readonly StoredObject[], opts: TableOptions): object;
}

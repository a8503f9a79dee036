/**
 * Binds the API's pure engines (api/patch, api/selectors, api/table, api/defaults, api/validation)
 * to the resource handler's seams, turning their error values into Kubernetes Status errors.
 */
import type { StoredObject } from '../../api/object.js';
import { applyJsonMergePatch } from '../../api/patch/json-merge-patch.js';
import { applyJsonPatch } from '../../api/patch/json-patch.js';
import type { JsonObject } from '../../api/patch/json-value.js';
import type { PatchResult } from '../../api/patch/result.js';
import { applyServerSide, updateManagedFields } from '../../api/patch/server-side-apply.js';
import { applyStrategicMergePatch } from '../../api/patch/strategic-merge-patch.js';
import { apiVersionOf, type ResourceInfo } from '../../api/resources.js';
import { parseFieldSelectorFor, fieldsOf } from '../../api/selectors/field-selector.js';
import { parseLabelSelector } from '../../api/selectors/label-selector.js';
import { ApiError, badRequest, failureStatus } from '../../api/status.js';
import { wantsTable } from '../../api/table/accept.js';
import { toTable } from '../../api/table/table.js';
import type {
  PatchContext,
  PatchEngine,
  PatchType,
  SelectorFactory,
  TableConverter,
  TableOptions,
} from './seams.js';

function unwrap<T>(result: PatchResult<T>): T {
  if (result.ok) return result.value;
  // A failure always names a reason; '' (Success) would be an engine bug, reported as a plain 400.
  throw new ApiError(
    failureStatus(result.reason === '' ? 'BadRequest' : result.reason, result.message, result.causes),
  );
}

export class DefaultPatchEngine implements PatchEngine {
  apply(
    type: PatchType,
    current: StoredObject,
    patch: unknown,
    r: ResourceInfo,
    ctx: PatchContext,
  ): StoredObject {
    const original = current as unknown as JsonObject;
    let out: JsonObject;
    switch (type) {
      case 'json':
        out = unwrap(applyJsonPatch(original, patch));
        break;
      case 'merge':
        out = unwrap(applyJsonMergePatch(original, patch));
        break;
      case 'strategic':
        out = unwrap(
          applyStrategicMergePatch(original, patch, { apiVersion: apiVersionOf(r), kind: r.kind }),
        );
        break;
      case 'apply': {
        // An object without a uid is the empty stand-in for one that does not exist yet: apply creates.
        const live = current.metadata.uid === undefined ? undefined : original;
        out = unwrap(
          applyServerSide(live, patch, {
            manager: ctx.fieldManager ?? '',
            now: ctx.now,
            force: ctx.force,
            ...ownership(r, ctx),
          }),
        );
        break;
      }
    }
    return out as unknown as StoredObject;
  }

  recordUpdate(
    next: StoredObject,
    old: StoredObject | undefined,
    r: ResourceInfo,
    ctx: PatchContext,
  ): StoredObject {
    if (ctx.fieldManager === undefined || ctx.fieldManager === '') return next;
    return updateManagedFields(old as unknown as JsonObject | undefined, next as unknown as JsonObject, {
      manager: ctx.fieldManager,
      now: ctx.now,
      ...ownership(r, ctx),
    }) as unknown as StoredObject;
  }
}

/** Status is owned separately on resources with a status subresource, as in Kubernetes. */
function ownership(r: ResourceInfo, ctx: PatchContext): { subresource?: string; resetFields?: string[][] } {
  if (ctx.subresource === 'status') return { subresource: 'status', resetFields: [['spec'], ['metadata']] };
  return r.subresources.includes('status') ? { resetFields: [['status']] } : {};
}

export const defaultSelectors: SelectorFactory = {
  filter(r, labelSelector, fieldSelector) {
    const predicates: ((obj: StoredObject) => boolean)[] = [];
    if (labelSelector !== undefined && labelSelector.trim() !== '') {
      const parsed = parseLabelSelector(labelSelector);
      if (!parsed.ok) throw new ApiError(badRequest(`unable to parse requirement: ${parsed.error}`));
      if (!parsed.selector.isEverything()) {
        const sel = parsed.selector;
        predicates.push((obj) => sel.matches(obj.metadata.labels ?? {}));
      }
    }
    if (fieldSelector !== undefined && fieldSelector.trim() !== '') {
      const parsed = parseFieldSelectorFor(fieldSelector, r.group, r.kind);
      if (!parsed.ok) throw new ApiError(badRequest(parsed.error));
      if (!parsed.selector.isEverything()) {
        const sel = parsed.selector;
        predicates.push((obj) => sel.matches(fieldsOf(obj, r.group, r.kind)));
      }
    }
    if (predicates.length === 0) return undefined;
    return (obj) => predicates.every((p) => p(obj));
  },
};

export const defaultTables: TableConverter = {
  wants: wantsTable,
  convert(r: ResourceInfo, objects: readonly StoredObject[], opts: TableOptions): object {
    return toTable(r, objects, {
      includeObject: opts.includeObject,
      now: opts.now,
      listMeta: opts.listMeta ?? {},
      ...(opts.omitHeaders === true ? { noHeaders: true } : {}),
    });
  },
};

/**
 * Strategic merge patch (`Content-Type: application/strategic-merge-patch+json`), the server side of
 * k8s.io/apimachinery `pkg/util/strategicpatch` (`StrategicMergeMapPatch` with the options the API
 * server uses): what `kubectl apply` (client-side), `set image`, `rollout restart`, `cordon`, `edit`
 * and `patch` send.
 *
 * - Maps merge recursively; `null` deletes a key.
 * - Lists whose field has `patchStrategy: merge` merge element-wise by the merge key (or as a union,
 *   for primitives); every other list is replaced (see ./strategic-merge-list.ts).
 * - Directives: `$patch: replace|delete|merge` in a map or list element, `$setElementOrder/<field>`,
 *   `$retainKeys`, `$deleteFromPrimitiveList/<field>`. Directives are consumed, never stored.
 *
 * The field semantics come from ./patch-meta.ts; kinds without an entry there (custom resources) are
 * refused with 415, as Kubernetes does.
 */

import { fieldMeta, fieldType, hasPatchStrategy, schemaForKind } from './patch-meta.js';
import type { FieldMeta, TypeIdentity, TypeSchema } from './patch-meta.js';
import {
  deleteKey,
  isJsonObject,
  jsonClone,
  jsonEqual,
  type JsonObject,
  type JsonValue,
} from './json-value.js';
import { abortPatch, patchFailure, runPatch, type PatchResult } from './result.js';
import { mergeSlice, orderBySetElementOrder } from './strategic-merge-list.js';

const directiveMarker = '$patch';
const retainKeysDirective = '$retainKeys';
const setElementOrderPrefix = '$setElementOrder/';
const deleteFromPrimitiveListPrefix = '$deleteFromPrimitiveList/';

/** The message Kubernetes gives when strategic merge is asked for a kind without Go types (CRDs). */
export const strategicMergeUnsupportedMessage =
  'the body of the request was in an unknown format - accepted media types include: ' +
  'application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml';

/** Whether strategic merge patch is available for a kind (false for custom resources). */
export function supportsStrategicMerge(target: TypeIdentity): boolean {
  return schemaForKind(target) !== undefined;
}

/**
 * Applies a strategic merge patch to a copy of `original` (an object of kind `target`); neither
 * input is modified. Failures: 415 UnsupportedMediaType for kinds without strategic merge support,
 * 400 BadRequest for a malformed patch or directive, 422 Invalid for lists of lists.
 */
export function applyStrategicMergePatch(
  original: JsonObject,
  patch: unknown,
  target: TypeIdentity,
): PatchResult<JsonObject> {
  const schema = schemaForKind(target);
  if (schema === undefined) {
    return patchFailure(
      'UnsupportedMediaType',
      `strategic merge patch is not supported for ${target.kind} (${target.apiVersion}): ${strategicMergeUnsupportedMessage}`,
    );
  }
  if (!isJsonObject(patch)) {
    return patchFailure('BadRequest', 'strategic merge patch must be a JSON object');
  }
  return runPatch(() => mergeMap(jsonClone(original), jsonClone(patch), schema, ''));
}

/**
 * Merges `patch` into `original`. Both are private copies owned by the merge: `original` is updated
 * in place and returned, and directives are removed from `patch` as they are consumed.
 */
function mergeMap(
  original: JsonObject,
  patch: JsonObject,
  schema: TypeSchema | undefined,
  path: string,
): JsonObject {
  const directive = patch[directiveMarker];
  if (directive !== undefined) {
    deleteKey(patch, directiveMarker);
    if (directive === 'replace') return mergeMap({}, patch, schema, path);
    if (directive === 'delete') return {};
    if (directive !== 'merge') {
      abortPatch('BadRequest', `unknown patch type: ${JSON.stringify(directive)} in map ${path || '<root>'}`);
    }
  }
  applyRetainKeys(original, patch, path);
  applySetElementOrder(original, patch, schema, path);
  applyDeleteFromPrimitiveLists(original, patch);

  for (const [key, value] of Object.entries(patch)) {
    if (key.startsWith('$')) {
      abortPatch(
        'BadRequest',
        `unknown strategic merge patch directive ${JSON.stringify(key)} in ${path || '<root>'}`,
      );
    }
    if (value === null) {
      deleteKey(original, key);
      continue;
    }
    const meta = fieldMeta(schema, key);
    const childPath = path === '' ? key : `${path}.${key}`;
    const current = original[key];
    if (isJsonObject(value)) {
      const base = isJsonObject(current) && !hasPatchStrategy(meta, 'replace') ? current : {};
      original[key] = mergeMap(base, value, fieldType(meta), childPath);
    } else if (Array.isArray(value)) {
      original[key] = mergeListField(Array.isArray(current) ? current : [], value, meta, childPath);
    } else {
      original[key] = value;
    }
  }
  return original;
}

/** A list-valued field: merged when its strategy says so, replaced (minus any directives) otherwise. */
function mergeListField(
  current: JsonValue[],
  value: JsonValue[],
  meta: FieldMeta | undefined,
  path: string,
): JsonValue[] {
  const itemSchema = fieldType(meta);
  if (hasPatchStrategy(meta, 'merge')) {
    return mergeSlice(current, value, {
      mergeKey: meta?.patchMergeKey,
      mergeItem: (o, p) => mergeMap(o, p, itemSchema, path),
      path,
    });
  }
  return value.map((item) => (isJsonObject(item) ? mergeMap({}, item, itemSchema, path) : item));
}

/**
 * `$retainKeys: [...]`: after the merge only the listed keys may remain (how kubectl clears the old
 * member of a union such as Deployment `strategy` or a volume's source). Every non-null field the
 * patch sets must be in the list.
 */
function applyRetainKeys(original: JsonObject, patch: JsonObject, path: string): void {
  if (!Object.hasOwn(patch, retainKeysDirective)) return;
  const list = patch[retainKeysDirective];
  deleteKey(patch, retainKeysDirective);
  if (!Array.isArray(list) || !list.every((k) => typeof k === 'string')) {
    abortPatch(
      'BadRequest',
      `invalid patch format of retainKeys in ${path || '<root>'}: must be a list of strings`,
    );
  }
  const keep = new Set<string>(list);
  for (const [key, value] of Object.entries(patch)) {
    if (value === null || key.startsWith('$')) continue;
    if (!keep.has(key)) {
      abortPatch(
        'BadRequest',
        `invalid patch format of retainKeys in ${path || '<root>'}: ${JSON.stringify(key)} is set but not retained`,
      );
    }
  }
  for (const key of Object.keys(original)) {
    if (!keep.has(key)) deleteKey(original, key);
  }
}

/**
 * `$setElementOrder/<field>`: merges the field's patch list (possibly absent) into the live list and
 * puts the result in the given order. The field is then removed from `patch` so it is not merged again.
 */
function applySetElementOrder(
  original: JsonObject,
  patch: JsonObject,
  schema: TypeSchema | undefined,
  path: string,
): void {
  for (const key of Object.keys(patch)) {
    if (!key.startsWith(setElementOrderPrefix)) continue;
    const field = key.slice(setElementOrderPrefix.length);
    const order = patch[key];
    deleteKey(patch, key);
    const childPath = path === '' ? field : `${path}.${field}`;
    if (!Array.isArray(order)) {
      abortPatch(
        'BadRequest',
        `invalid patch format of setElementOrder list for ${childPath}: must be a list`,
      );
    }
    const value = patch[field];
    // A null deletes the field; with nothing on either side there is nothing to order.
    if (value === null || (value === undefined && original[field] === undefined)) continue;
    if (value !== undefined && !Array.isArray(value)) {
      abortPatch('BadRequest', `invalid patch for ${childPath}: $setElementOrder needs a list`);
    }
    const meta = fieldMeta(schema, field);
    const current = original[field];
    const live = Array.isArray(current) ? current : [];
    const merged = mergeListField(live, value ?? [], meta, childPath);
    original[field] = orderBySetElementOrder(merged, order, live, meta?.patchMergeKey, childPath);
    deleteKey(patch, field);
  }
}

/** `$deleteFromPrimitiveList/<field>: [...]` removes those values from a primitive merge list. */
function applyDeleteFromPrimitiveLists(original: JsonObject, patch: JsonObject): void {
  for (const key of Object.keys(patch)) {
    if (!key.startsWith(deleteFromPrimitiveListPrefix)) continue;
    const field = key.slice(deleteFromPrimitiveListPrefix.length);
    const values = patch[key];
    deleteKey(patch, key);
    if (!Array.isArray(values)) {
      abortPatch('BadRequest', `invalid patch format of primitive list ${field}: ${key} must be a list`);
    }
    const current = original[field];
    if (Array.isArray(current)) original[field] = current.filter((v) => !values.some((d) => jsonEqual(d, v)));
  }
}

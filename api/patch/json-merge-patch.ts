/**
 * JSON merge patch, RFC 7386 (`Content-Type: application/merge-patch+json`): what `kubectl scale`,
 * `label`, `annotate` and `patch --type=merge` send. Objects merge recursively, `null` deletes a key,
 * and anything else — arrays included — replaces the target value wholesale.
 */

import { deleteKey, isJsonObject, jsonClone, type JsonObject, type JsonValue } from './json-value.js';
import { patchFailure, patchOk, type PatchResult } from './result.js';

/**
 * Applies `patch` to `original` and returns the patched copy; neither input is modified. The patch
 * must be a JSON object, as Kubernetes requires for resources (anything else is a 400 BadRequest).
 */
export function applyJsonMergePatch(original: JsonObject, patch: unknown): PatchResult<JsonObject> {
  if (!isJsonObject(patch)) {
    return patchFailure('BadRequest', `merge patch must be a JSON object, got ${describe(patch)}`);
  }
  return patchOk(mergeObject(jsonClone(original), patch));
}

/** The RFC 7386 MergePatch(target, patch) algorithm for any JSON value; returns a new value. */
export function mergePatchValue(target: JsonValue | undefined, patch: JsonValue): JsonValue {
  if (!isJsonObject(patch)) return jsonClone(patch);
  return mergeObject(isJsonObject(target) ? jsonClone(target) : {}, patch);
}

function mergeObject(target: JsonObject, patch: JsonObject): JsonObject {
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) {
      deleteKey(target, key);
    } else if (isJsonObject(value)) {
      const current = target[key];
      target[key] = mergeObject(isJsonObject(current) ? current : {}, value);
    } else {
      target[key] = jsonClone(value);
    }
  }
  return target;
}

function describe(value: unknown): string {
  if (Array.isArray(value)) return 'an array';
  if (value === null) return 'null';
  return `a ${typeof value}`;
}

/**
 * JSON patch, RFC 6902 (`Content-Type: application/json-patch+json`, `kubectl patch --type=json`),
 * applied with fast-json-patch. Shape problems in the operation list are a 400 BadRequest, as
 * Kubernetes' decoder reports them; operations that do not apply to the document (a failed `test`,
 * a path that does not exist) are a 422 Invalid, as Kubernetes' patcher reports them.
 */

import jsonpatch from 'fast-json-patch';
import type { Operation } from 'fast-json-patch';
import { isJsonObject, jsonClone, type JsonObject, type JsonValue } from './json-value.js';
import { patchFailure, patchOk, type PatchFailure, type PatchResult } from './result.js';

/** Kubernetes' `maxJSONPatchOperations`: longer patches are refused with 413. */
export const maxJsonPatchOperations = 10000;

const rfcOps = new Set(['add', 'remove', 'replace', 'move', 'copy', 'test']);

/** Options for {@link applyJsonPatch}. */
export interface JsonPatchOptions {
  /** Upper bound on the number of operations; defaults to {@link maxJsonPatchOperations}. */
  readonly maxOperations?: number;
}

/**
 * Applies the RFC 6902 operation list `patch` to a copy of `original`; neither input is modified.
 * The operations run in order and all-or-nothing: any failure returns a failure value and no result.
 */
export function applyJsonPatch(
  original: JsonObject,
  patch: unknown,
  options: JsonPatchOptions = {},
): PatchResult<JsonObject> {
  const decoded = decodeOperations(patch, options.maxOperations ?? maxJsonPatchOperations);
  if (!Array.isArray(decoded)) return decoded;
  let result: JsonValue;
  try {
    result = jsonpatch.applyPatch(jsonClone(original), decoded, true, true).newDocument;
  } catch (err) {
    return describeApplyError(err, decoded);
  }
  if (!isJsonObject(result)) {
    return patchFailure('Invalid', 'json patch result must be a JSON object');
  }
  return patchOk(result);
}

function decodeOperations(patch: unknown, max: number): Operation[] | PatchFailure {
  if (!Array.isArray(patch)) {
    return patchFailure('BadRequest', 'json patch must be a JSON array of operations');
  }
  if (patch.length > max) {
    return patchFailure(
      'RequestEntityTooLarge',
      `The allowed maximum operations in a JSON patch is ${max}, got ${patch.length}`,
    );
  }
  const ops: Operation[] = [];
  for (const [i, raw] of (patch as unknown[]).entries()) {
    if (!isJsonObject(raw)) {
      return patchFailure('BadRequest', `json patch operation ${i}: must be a JSON object`);
    }
    const op = raw['op'];
    if (typeof op !== 'string' || !rfcOps.has(op)) {
      return patchFailure(
        'BadRequest',
        `json patch operation ${i}: unexpected kind of operation ${JSON.stringify(op ?? null)}`,
      );
    }
    if (typeof raw['path'] !== 'string') {
      return patchFailure('BadRequest', `json patch operation ${i} (${op}): missing "path"`);
    }
    if ((op === 'move' || op === 'copy') && typeof raw['from'] !== 'string') {
      return patchFailure('BadRequest', `json patch operation ${i} (${op}): missing "from"`);
    }
    if ((op === 'add' || op === 'replace' || op === 'test') && !Object.hasOwn(raw, 'value')) {
      return patchFailure('BadRequest', `json patch operation ${i} (${op}): missing "value"`);
    }
    // fast-json-patch inserts values by reference; a copy keeps the caller's patch untouched.
    ops.push(jsonClone(raw) as unknown as Operation);
  }
  return ops;
}

function describeApplyError(err: unknown, ops: readonly Operation[]): PatchFailure {
  if (err instanceof jsonpatch.JsonPatchError) {
    const index = err.index ?? 0;
    const op = ops[index];
    const where =
      op === undefined
        ? `json patch operation ${index}`
        : `json patch operation ${index} (${op.op} ${op.path})`;
    const from = op !== undefined && 'from' in op ? op.from : '';
    switch (err.name) {
      case 'TEST_OPERATION_FAILED':
        return patchFailure('Invalid', `${where}: testing value ${op?.path ?? ''} failed: test failed`);
      case 'OPERATION_PATH_UNRESOLVABLE':
      case 'OPERATION_PATH_CANNOT_ADD':
        return patchFailure('Invalid', `${where}: doc is missing path: "${op?.path ?? ''}": missing value`);
      case 'OPERATION_FROM_UNRESOLVABLE':
        return patchFailure('Invalid', `${where}: doc is missing from path: "${from}": missing value`);
      case 'OPERATION_VALUE_OUT_OF_BOUNDS':
      case 'OPERATION_PATH_ILLEGAL_ARRAY_INDEX':
        return patchFailure('Invalid', `${where}: array index out of bounds or not a valid index`);
      case 'SEQUENCE_NOT_AN_ARRAY':
      case 'OPERATION_NOT_AN_OBJECT':
      case 'OPERATION_OP_INVALID':
      case 'OPERATION_PATH_INVALID':
      case 'OPERATION_FROM_REQUIRED':
      case 'OPERATION_VALUE_REQUIRED':
      case 'OPERATION_VALUE_CANNOT_CONTAIN_UNDEFINED':
        return patchFailure('BadRequest', `${where}: ${err.message.split('\n')[0] ?? err.name}`);
    }
  }
  // fast-json-patch throws a plain TypeError for `__proto__`/`constructor` paths.
  if (err instanceof TypeError && err.message.includes('__proto__')) {
    return patchFailure('BadRequest', 'json patch may not modify __proto__ or constructor/prototype');
  }
  throw err;
}

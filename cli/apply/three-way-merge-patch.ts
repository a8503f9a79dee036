/**
 * The client side of `kubectl apply`: a port of k8s.io/apimachinery `strategicpatch`
 * `CreateThreeWayMergePatch` (with `overwrite: true`, as kubectl calls it). From the last applied
 * configuration (`original`, from the annotation), the new manifest (`modified`) and the live object
 * (`current`) it computes the strategic merge patch that makes the live object match the manifest
 * while keeping fields other writers own:
 *
 *   delta     = changes and additions from current to modified (deletions ignored)
 *   deletions = what the user removed between original and modified (changes ignored)
 *   patch     = deletions merged with delta
 *
 * Removed list elements become `{"$patch":"delete", key}`, removed map keys `null`, removed
 * primitives of merge lists `$deleteFromPrimitiveList/<f>`, and merge lists carry
 * `$setElementOrder/<f>`; `retainKeys` fields get `$retainKeys`. The field semantics come from
 * api/patch/patch-meta.ts, the table the server's patch engine reads too.
 *
 * The server side — applying such a patch — is api/patch/strategic-merge-patch.ts.
 */

import { fieldMeta, fieldType, type FieldMeta, type TypeSchema } from '../../api/patch/patch-meta.js';
import {
  deleteKey,
  isJsonObject,
  jsonClone,
  jsonEqual,
  type JsonObject,
  type JsonValue,
} from '../../api/patch/json-value.js';
import { abortPatch, runPatch, type PatchResult } from '../../api/patch/result.js';
import {
  compareStrings,
  deduplicateScalars,
  elementKind,
  goString,
  mapOf,
  mergeKeyValue,
  normalizeElementOrder,
  normalizeSliceOrder,
  partition,
  sortScalars,
} from './three-way-merge-list.js';

const directiveMarker = '$patch';
const retainKeysDirective = '$retainKeys';
const deleteFromPrimitiveListPrefix = '$deleteFromPrimitiveList';
const setElementOrderPrefix = '$setElementOrder';

interface DiffOptions {
  readonly setElementOrder: boolean;
  readonly ignoreChangesAndAdditions: boolean;
  readonly ignoreDeletions: boolean;
  readonly buildRetainKeysDirective: boolean;
}

/**
 * The three-way strategic merge patch for `kubectl apply`. `original` is undefined when the live
 * object carries no last-applied annotation. Inputs are not modified. An empty object means there is
 * nothing to change ("unchanged"). Fails with BadRequest when a merge-list element lacks its merge key
 * or a list mixes element types.
 */
export function createThreeWayMergePatch(
  original: JsonObject | undefined,
  modified: JsonObject,
  current: JsonObject,
  schema: TypeSchema | undefined,
): PatchResult<JsonObject> {
  return runPatch(() => {
    const delta = diffMaps(jsonClone(current), jsonClone(modified), schema, {
      setElementOrder: true,
      ignoreChangesAndAdditions: false,
      ignoreDeletions: true,
      buildRetainKeysDirective: false,
    });
    const deletions = diffMaps(jsonClone(original ?? {}), jsonClone(modified), schema, {
      setElementOrder: true,
      ignoreChangesAndAdditions: true,
      ignoreDeletions: false,
      buildRetainKeysDirective: false,
    });
    return mergeMap(deletions, delta, schema);
  });
}

function strategies(meta: FieldMeta | undefined): { retainKeys: boolean; strategy: string } {
  const parts = meta?.patchStrategy?.split(',') ?? [];
  const retainKeys = parts.includes('retainKeys');
  return { retainKeys, strategy: parts.find((p) => p !== 'retainKeys') ?? '' };
}

function typeOf(v: JsonValue | undefined): string {
  if (v === null || v === undefined) return 'null';
  if (Array.isArray(v)) return 'array';
  return typeof v;
}

function diffMaps(
  original: JsonObject,
  modified: JsonObject,
  schema: TypeSchema | undefined,
  opts: DiffOptions,
): JsonObject {
  const patch: JsonObject = {};
  const retainKeysList: string[] = [];
  for (const [key, modifiedValue] of Object.entries(modified)) {
    if (opts.buildRetainKeysDirective && modifiedValue !== null) retainKeysList.push(key);
    if (!Object.hasOwn(original, key)) {
      if (!opts.ignoreChangesAndAdditions) patch[key] = modifiedValue;
      continue;
    }
    const originalValue = original[key] ?? null;
    if (key === directiveMarker) {
      if (typeof originalValue !== 'string' || typeof modifiedValue !== 'string') {
        abortPatch('BadRequest', `invalid value for special key: ${directiveMarker}`);
      }
      if (originalValue !== modifiedValue) patch[directiveMarker] = modifiedValue;
      continue;
    }
    if (typeOf(originalValue) !== typeOf(modifiedValue)) {
      if (!opts.ignoreChangesAndAdditions) patch[key] = modifiedValue;
      continue;
    }
    if (isJsonObject(originalValue) && isJsonObject(modifiedValue)) {
      handleMapDiff(key, originalValue, modifiedValue, patch, schema, opts);
    } else if (Array.isArray(originalValue) && Array.isArray(modifiedValue)) {
      handleSliceDiff(key, originalValue, modifiedValue, patch, schema, opts);
    } else {
      replacePatchFieldIfNotEqual(key, originalValue, modifiedValue, patch, opts);
    }
  }
  if (!opts.ignoreDeletions) {
    for (const key of Object.keys(original)) if (!Object.hasOwn(modified, key)) patch[key] = null;
  }
  if (
    retainKeysList.length > 0 &&
    (Object.keys(patch).length > 0 || hasAdditionalNewField(original, modified))
  ) {
    patch[retainKeysDirective] = sortScalars(retainKeysList);
  }
  return patch;
}

function hasAdditionalNewField(original: JsonObject, modified: JsonObject): boolean {
  return Object.entries(original).some(([k, v]) => v !== null && !Object.hasOwn(modified, k));
}

function handleMapDiff(
  key: string,
  original: JsonObject,
  modified: JsonObject,
  patch: JsonObject,
  schema: TypeSchema | undefined,
  opts: DiffOptions,
): void {
  const meta = fieldMeta(schema, key);
  const { retainKeys, strategy } = strategies(meta);
  if (strategy === 'replace') {
    if (!opts.ignoreChangesAndAdditions) patch[key] = modified;
    return;
  }
  const value = diffMaps(original, modified, fieldType(meta), {
    ...opts,
    buildRetainKeysDirective: retainKeys,
  });
  if (Object.keys(value).length > 0) patch[key] = value;
}

function handleSliceDiff(
  key: string,
  original: JsonValue[],
  modified: JsonValue[],
  patch: JsonObject,
  schema: TypeSchema | undefined,
  opts: DiffOptions,
): void {
  const meta = fieldMeta(schema, key);
  const { retainKeys, strategy } = strategies(meta);
  if (strategy !== 'merge') {
    replacePatchFieldIfNotEqual(key, original, modified, patch, opts);
    return;
  }
  const { add, del, order } = diffLists(original, modified, fieldType(meta), meta?.patchMergeKey ?? '', {
    ...opts,
    buildRetainKeysDirective: retainKeys,
  });
  if (add.length > 0) patch[key] = add;
  if (del.length > 0) patch[`${deleteFromPrimitiveListPrefix}/${key}`] = del;
  if (order.length > 0) patch[`${setElementOrderPrefix}/${key}`] = order;
}

function replacePatchFieldIfNotEqual(
  key: string,
  original: JsonValue,
  modified: JsonValue,
  patch: JsonObject,
  opts: DiffOptions,
): void {
  if (opts.ignoreChangesAndAdditions || jsonEqual(original, modified)) return;
  patch[key] = modified;
}

function diffLists(
  original: JsonValue[],
  modified: JsonValue[],
  elemSchema: TypeSchema | undefined,
  mergeKey: string,
  opts: DiffOptions,
): { add: JsonValue[]; del: JsonValue[]; order: JsonValue[] } {
  if (original.length === 0) {
    if (modified.length === 0 || opts.ignoreChangesAndAdditions) return { add: [], del: [], order: [] };
    return { add: modified, del: [], order: [] };
  }
  const kind = elementKind(original, modified);
  if (kind === 'map') {
    const diff = diffListsOfMaps(original, modified, elemSchema, mergeKey, opts);
    const add = [...normalizeSliceOrder(diff.patch, modified, mergeKey, kind), ...diff.deletions];
    const orderSame = isOrderSame(original, modified, mergeKey);
    let order: JsonValue[] = [];
    if (
      opts.setElementOrder &&
      ((!opts.ignoreChangesAndAdditions && (add.length > 0 || !orderSame)) ||
        (!opts.ignoreDeletions && add.length > 0))
    ) {
      order = modified.map((v) => ({ [mergeKey]: mapOf(v)[mergeKey] ?? null }));
    }
    return { add, del: [], order };
  }
  const diff = diffListsOfScalars(original, modified, opts);
  const add = normalizeSliceOrder(diff.add, modified, mergeKey, kind);
  const order =
    opts.setElementOrder &&
    ((!opts.ignoreDeletions && diff.del.length > 0) ||
      (!opts.ignoreChangesAndAdditions && !jsonEqual(original, modified)))
      ? modified
      : [];
  return { add, del: diff.del, order };
}

function isOrderSame(original: JsonValue[], modified: JsonValue[], mergeKey: string): boolean {
  if (original.length !== modified.length) return false;
  return modified.every((m, i) =>
    jsonEqual(mergeKeyValue(original[i], mergeKey), mergeKeyValue(m, mergeKey)),
  );
}

function diffListsOfScalars(
  original: JsonValue[],
  modified: JsonValue[],
  opts: DiffOptions,
): { add: JsonValue[]; del: JsonValue[] } {
  const o = sortScalars([...original]);
  const m = sortScalars([...modified]);
  const add: JsonValue[] = [];
  const del: JsonValue[] = [];
  let i = 0;
  let j = 0;
  while (i < o.length || j < m.length) {
    const os = i < o.length ? goString(o[i]) : undefined;
    const ms = j < m.length ? goString(m[j]) : undefined;
    if (os !== undefined && ms !== undefined && os === ms) {
      i++;
      j++;
    } else if (os === undefined || (ms !== undefined && os > ms)) {
      if (!opts.ignoreChangesAndAdditions) add.push(m[j] ?? null);
      j++;
    } else {
      if (!opts.ignoreDeletions) del.push(o[i] ?? null);
      i++;
    }
  }
  return { add, del: deduplicateScalars(del) };
}

function diffListsOfMaps(
  original: JsonValue[],
  modified: JsonValue[],
  elemSchema: TypeSchema | undefined,
  mergeKey: string,
  opts: DiffOptions,
): { patch: JsonValue[]; deletions: JsonValue[] } {
  const patch: JsonValue[] = [];
  const deletions: JsonValue[] = [];
  const byKey = (list: JsonValue[]): JsonValue[] =>
    [...list].sort((a, b) =>
      compareStrings(goString(mergeKeyValue(a, mergeKey)), goString(mergeKeyValue(b, mergeKey))),
    );
  const o = byKey(original);
  const m = byKey(modified);
  let i = 0;
  let j = 0;
  while (i < o.length || j < m.length) {
    const oe = i < o.length ? mapOf(o[i]) : undefined;
    const me = j < m.length ? mapOf(m[j]) : undefined;
    const ok = oe === undefined ? undefined : mergeKeyValue(oe, mergeKey);
    const mk = me === undefined ? undefined : mergeKeyValue(me, mergeKey);
    const os = ok === undefined ? undefined : goString(ok);
    const ms = mk === undefined ? undefined : goString(mk);
    if (oe !== undefined && me !== undefined && os === ms) {
      const value = diffMaps(oe, me, elemSchema, opts);
      if (Object.keys(value).length > 0) {
        value[mergeKey] = mk ?? null;
        patch.push(value);
      }
      i++;
      j++;
    } else if (oe === undefined || (me !== undefined && os !== undefined && ms !== undefined && os > ms)) {
      if (!opts.ignoreChangesAndAdditions && me !== undefined) patch.push(me);
      j++;
    } else {
      if (!opts.ignoreDeletions) deletions.push({ [mergeKey]: ok ?? null, [directiveMarker]: 'delete' });
      i++;
    }
  }
  return { patch, deletions };
}

/**
 * Go's `mergeMap` with `MergeParallelList: false, IgnoreUnmatchedNulls: false`: merging the delta
 * patch into the deletions patch, keeping directives (they are for the server to apply).
 */
function mergeMap(original: JsonObject, patch: JsonObject, schema: TypeSchema | undefined): JsonObject {
  const directive = patch[directiveMarker];
  if (directive !== undefined) {
    if (directive === 'replace') {
      deleteKey(patch, directiveMarker);
      return patch;
    }
    if (directive === 'delete') return {};
    abortPatch('BadRequest', `unknown patch type: ${JSON.stringify(directive)}`);
  }
  const retain = patch[retainKeysDirective];
  if (retain !== undefined) {
    deleteKey(patch, retainKeysDirective);
    const mine = original[retainKeysDirective];
    if (mine === undefined) original[retainKeysDirective] = retain;
    else if (!jsonEqual(mine, retain)) abortPatch('BadRequest', '$retainKeys lists differ in the 3-way diff');
  }
  mergeSetElementOrder(original, patch, schema);
  for (const [k, patchV] of Object.entries(patch)) {
    if (k.startsWith(deleteFromPrimitiveListPrefix)) {
      original[k] = patchV;
      continue;
    }
    if (patchV === null) deleteKey(original, k);
    if (!Object.hasOwn(original, k)) {
      original[k] = patchV;
      continue;
    }
    const current = original[k] ?? null;
    if (typeOf(current) !== typeOf(patchV)) {
      original[k] = patchV;
      continue;
    }
    const meta = fieldMeta(schema, k);
    const { strategy } = strategies(meta);
    if (isJsonObject(current) && isJsonObject(patchV)) {
      original[k] = strategy === 'replace' ? patchV : mergeMap(current, patchV, fieldType(meta));
    } else if (Array.isArray(current) && Array.isArray(patchV)) {
      original[k] =
        strategy === 'merge'
          ? mergeSlice(current, patchV, fieldType(meta), meta?.patchMergeKey ?? '')
          : patchV;
    } else {
      original[k] = patchV;
    }
  }
  return original;
}

/** Go's `mergePatchIntoOriginal` for the client: `$setElementOrder` lists and the lists they order. */
function mergeSetElementOrder(original: JsonObject, patch: JsonObject, schema: TypeSchema | undefined): void {
  for (const key of Object.keys(patch)) {
    if (!key.startsWith(`${setElementOrderPrefix}/`)) continue;
    const order = patch[key];
    const mine = original[key];
    if (mine === undefined) original[key] = order ?? null;
    else if (!jsonEqual(mine, order)) abortPatch('BadRequest', `${key} lists differ in the 3-way diff`);
    deleteKey(patch, key);
    if (!Array.isArray(order)) abortPatch('BadRequest', `invalid ${key}: must be a list`);
    const field = key.slice(setElementOrderPrefix.length + 1);
    const originalList = original[field];
    const patchList = patch[field];
    const origItems = Array.isArray(originalList) ? originalList : undefined;
    const patchItems = Array.isArray(patchList) ? patchList : undefined;
    if (origItems === undefined && patchItems === undefined) continue;
    const meta = fieldMeta(schema, field);
    const mergeKey = meta?.patchMergeKey ?? '';
    let merged: JsonValue[];
    if (origItems !== undefined && patchItems !== undefined) {
      merged =
        strategies(meta).strategy === 'merge'
          ? mergeSlice(origItems, patchItems, fieldType(meta), mergeKey)
          : patchItems;
    } else {
      merged = origItems ?? patchItems ?? [];
    }
    const kind = elementKind(origItems ?? [], patchItems ?? []);
    const { inList, rest } = partition(merged, order, mergeKey, kind);
    original[field] = normalizeElementOrder(inList, rest, order, origItems ?? [], mergeKey, kind);
    deleteKey(patch, field);
  }
}

/** Go's `mergeSlice` without parallel-list merging: delete directives in `original` are kept. */
function mergeSlice(
  original: JsonValue[],
  patch: JsonValue[],
  elemSchema: TypeSchema | undefined,
  mergeKey: string,
): JsonValue[] {
  if (original.length === 0 && patch.length === 0) return original;
  const kind = elementKind(original, patch);
  let base = [...original];
  let rest = [...patch];
  let merged: JsonValue[];
  if (kind === 'primitive') {
    merged = deduplicateScalars([...base, ...rest]);
  } else {
    if (mergeKey === '') abortPatch('BadRequest', 'cannot merge lists without merge key');
    let replace = false;
    const plain: JsonValue[] = [];
    for (const v of rest) {
      const m = mapOf(v);
      const d = m[directiveMarker];
      if (d === undefined) plain.push(v);
      else if (d === 'delete') {
        const key = mergeKeyValue(m, mergeKey);
        base = base.filter((o) => !(isJsonObject(o) && jsonEqual(o[mergeKey], key)));
      } else if (d === 'replace') replace = true;
      else abortPatch('BadRequest', `unknown patch type: ${JSON.stringify(d)}`);
    }
    if (replace) {
      base = plain;
      rest = [];
    } else {
      rest = plain;
    }
    merged = [...base];
    for (const v of rest) {
      const key = mergeKeyValue(v, mergeKey);
      const at = merged.findIndex((o) => isJsonObject(o) && jsonEqual(o[mergeKey], key));
      const found = merged[at];
      if (isJsonObject(found)) merged[at] = mergeMap(found, mapOf(v), elemSchema);
      else merged.push(v);
    }
  }
  const { inList, rest: serverOnly } = partition(merged, rest, mergeKey, kind);
  return normalizeElementOrder(inList, serverOnly, rest, base, mergeKey, kind);
}

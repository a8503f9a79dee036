/**
 * The list ordering and element helpers of the client-side three-way merge (./three-way-merge-patch.ts),
 * ported from k8s.io/apimachinery `strategicpatch` (`sortScalars`, `deduplicateScalars`,
 * `normalizeSliceOrder`, `mergeSortedSlice`, `normalizeElementOrder`): Go compares merge keys and
 * primitives by their `%v` text, puts delete directives last, and interleaves server-only elements
 * by the live order — the patch kubectl sends, and so its bytes, depend on these details.
 */

import { isJsonObject, jsonEqual, type JsonObject, type JsonValue } from '../../api/patch/json-value.js';
import { abortPatch } from '../../api/patch/result.js';

const directiveMarker = '$patch';

/** Whether a merge list holds maps (merged by key) or primitives. */
export type ElementKind = 'map' | 'primitive';

/** Go's `fmt.Sprintf("%v", v)` for the JSON scalars merge keys and primitive lists hold. */
export function goString(v: JsonValue | undefined): string {
  if (v === null || v === undefined) return '<nil>';
  if (typeof v === 'object') return JSON.stringify(v);
  return String(v);
}

/** The element as a map; BadRequest when a merge list holds something else. */
export function mapOf(v: JsonValue | undefined): JsonObject {
  if (!isJsonObject(v)) abortPatch('BadRequest', `expected a map in a merge list, got ${JSON.stringify(v)}`);
  return v;
}

/** The element's merge-key value; BadRequest when it has none (`mergepatch.ErrNoMergeKey`). */
export function mergeKeyValue(item: JsonValue | undefined, mergeKey: string): JsonValue {
  const m = mapOf(item);
  const v = m[mergeKey];
  if (v === undefined) {
    abortPatch('BadRequest', `map: ${JSON.stringify(m)} does not contain declared merge key: ${mergeKey}`);
  }
  return v;
}

/** The common element kind of lists; BadRequest for lists of lists or mixed kinds. */
export function elementKind(...lists: readonly JsonValue[][]): ElementKind {
  let kind: ElementKind | undefined;
  for (const list of lists) {
    for (const v of list) {
      if (Array.isArray(v)) abortPatch('BadRequest', 'lists of lists are not supported');
      const k: ElementKind = isJsonObject(v) ? 'map' : 'primitive';
      if (kind !== undefined && kind !== k) abortPatch('BadRequest', 'list element types are not identical');
      kind = k;
    }
  }
  return kind ?? 'primitive';
}

/** Byte-wise string order, as Go compares strings. */
export function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Go's `sortScalars`: by the `%v` text of each value. */
export function sortScalars<T extends JsonValue>(values: T[]): T[] {
  return values.sort((a, b) => compareStrings(goString(a), goString(b)));
}

/** Go's `deduplicateScalars`, including its swap-with-last order. */
export function deduplicateScalars(input: JsonValue[]): JsonValue[] {
  const s = [...input];
  let length = s.length - 1;
  for (let i = 0; i < length; i++) {
    for (let j = i + 1; j <= length; j++) {
      if (jsonEqual(s[i], s[j])) {
        s[j] = s[length] ?? null;
        s.length = length;
        length--;
        j--;
      }
    }
  }
  return s;
}

function keyOf(item: JsonValue | undefined, mergeKey: string, kind: ElementKind): JsonValue | undefined {
  if (kind === 'map') return isJsonObject(item) ? item[mergeKey] : undefined;
  return item;
}

function indexIn(
  list: readonly JsonValue[],
  item: JsonValue | undefined,
  mergeKey: string,
  kind: ElementKind,
): number {
  const key = keyOf(item, mergeKey, kind);
  return list.findIndex((v) => {
    const k = keyOf(v, mergeKey, kind);
    return k !== undefined && key !== undefined && jsonEqual(k, key);
  });
}

/**
 * Go's `normalizeSliceOrder`: delete directives go last; the rest is sorted by position in `order`
 * with `sort.SliceStable`'s insertion sort (whose comparator treats unknown items as smallest).
 */
export function normalizeSliceOrder(
  toSort: JsonValue[],
  order: readonly JsonValue[],
  mergeKey: string,
  kind: ElementKind,
): JsonValue[] {
  let items = [...toSort];
  let toDelete: JsonValue[] = [];
  if (kind === 'map') {
    for (const v of [...items, ...order]) mergeKeyValue(v, mergeKey);
    toDelete = items.filter((v) => isJsonObject(v) && v[directiveMarker] === 'delete');
    items = items.filter((v) => !(isJsonObject(v) && v[directiveMarker] === 'delete'));
  }
  const less = (a: JsonValue | undefined, b: JsonValue | undefined): boolean => {
    const ia = indexIn(order, a, mergeKey, kind);
    if (ia >= 0) {
      const ib = indexIn(order, b, mergeKey, kind);
      if (ib >= 0) return ia < ib;
    }
    return true;
  };
  for (let i = 1; i < items.length; i++) {
    for (let j = i; j > 0 && less(items[j], items[j - 1]); j--) {
      const tmp = items[j] ?? null;
      items[j] = items[j - 1] ?? null;
      items[j - 1] = tmp;
    }
  }
  return [...items, ...toDelete];
}

/** Go's `mergeSortedSlice`: interleaves server-only items into the patch items by live order. */
function mergeSortedSlice(
  left: readonly JsonValue[],
  right: readonly JsonValue[],
  serverOrder: readonly JsonValue[],
  mergeKey: string,
  kind: ElementKind,
): JsonValue[] {
  const out: JsonValue[] = [];
  let i = 0;
  let j = 0;
  while (i < left.length || j < right.length) {
    const l = left[i];
    const r = right[j];
    if (i >= left.length && r !== undefined) {
      out.push(r);
      j++;
    } else if (j >= right.length && l !== undefined) {
      out.push(l);
      i++;
    } else {
      const li = indexIn(serverOrder, l, mergeKey, kind);
      const ri = indexIn(serverOrder, r, mergeKey, kind);
      if (li >= 0 && ri >= 0 && li < ri) {
        out.push(l ?? null);
        i++;
      } else {
        out.push(r ?? null);
        j++;
      }
    }
  }
  return out;
}

/** Go's `normalizeElementOrder`: patch items by `patchOrder`, server-only by `serverOrder`, interleaved. */
export function normalizeElementOrder(
  patch: JsonValue[],
  serverOnly: JsonValue[],
  patchOrder: readonly JsonValue[],
  serverOrder: readonly JsonValue[],
  mergeKey: string,
  kind: ElementKind,
): JsonValue[] {
  const p = normalizeSliceOrder(patch, patchOrder, mergeKey, kind);
  const s = normalizeSliceOrder(serverOnly, serverOrder, mergeKey, kind);
  return mergeSortedSlice(s, p, serverOrder, mergeKey, kind);
}

/** Splits `items` into those present in `by` (by merge key or value) and the rest, keeping order. */
export function partition(
  items: readonly JsonValue[],
  by: readonly JsonValue[],
  mergeKey: string,
  kind: ElementKind,
): { inList: JsonValue[]; rest: JsonValue[] } {
  const inList: JsonValue[] = [];
  const rest: JsonValue[] = [];
  for (const v of items) (indexIn(by, v, mergeKey, kind) >= 0 ? inList : rest).push(v);
  return { inList, rest };
}

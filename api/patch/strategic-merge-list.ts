/**
 * List handling for strategic merge patch, ported from k8s.io/apimachinery
 * `pkg/util/strategicpatch/patch.go` (`mergeSlice`, `mergeSliceWithSpecialElements`,
 * `normalizeElementOrder`, `mergeSortedSlice`): merging lists element-wise by their merge key (or by
 * value for primitives), the `$patch: delete|replace` list elements, and the ordering rules of the
 * "preserve order in strategic merge patch" design — `$setElementOrder` first, then the order in the
 * patch, then the order in the live list.
 *
 * Map elements are merged through a callback so that this file and the map merge do not import each
 * other.
 */

import { isJsonObject, jsonEqual, type JsonObject, type JsonValue } from './json-value.js';
import { abortPatch } from './result.js';

/** How {@link mergeSlice} merges one map element into another (the map merge of the caller). */
export type MergeItem = (original: JsonObject, patch: JsonObject) => JsonObject;

/** Options for {@link mergeSlice}. */
export interface MergeSliceOptions {
  /** The field's `patchMergeKey`; required when the elements are maps. */
  readonly mergeKey: string | undefined;
  readonly mergeItem: MergeItem;
  /** Dotted path of the list, for error messages. */
  readonly path: string;
}

const directiveMarker = '$patch';

/**
 * Merges `patch` into `original` (a `patchStrategy: merge` list). Map elements match by merge key:
 * a match is merged, a new key is appended, `{"$patch":"delete", key}` removes the match and a
 * `{"$patch":"replace"}` element makes the other patch elements the whole list. Primitive lists are
 * unioned without duplicates. Returns a new array; neither input is modified.
 */
export function mergeSlice(
  original: readonly JsonValue[],
  patch: readonly JsonValue[],
  options: MergeSliceOptions,
): JsonValue[] {
  if (original.length === 0 && patch.length === 0) return [];
  if (elementKind(original, patch, options.path) === 'primitive') {
    const merged: JsonValue[] = [];
    for (const item of [...original, ...patch]) {
      if (!merged.some((m) => jsonEqual(m, item))) merged.push(item);
    }
    const [patchItems, serverOnly] = partition(merged, patch, undefined);
    return normalizeElementOrder(patchItems, serverOnly, {
      patchOrder: patch,
      serverOrder: original,
      mergeKey: undefined,
    });
  }

  const { mergeKey, mergeItem, path } = options;
  if (mergeKey === undefined) abortPatch('BadRequest', `cannot merge lists without merge key for ${path}`);
  let live: JsonValue[] = [...original];
  let rest: JsonObject[] = [];
  let replace = false;
  for (const item of patch as readonly JsonObject[]) {
    const directive = item[directiveMarker];
    if (directive === undefined) {
      rest.push(item);
    } else if (directive === 'delete') {
      const key = requireMergeKey(item, mergeKey, path);
      live = live.filter((o) => !(isJsonObject(o) && jsonEqual(o[mergeKey], key)));
    } else if (directive === 'replace') {
      replace = true;
    } else if (directive === 'merge') {
      // Merging is what a list element does anyway; only the marker has to go.
      const { [directiveMarker]: _marker, ...fields } = item;
      if (Object.keys(fields).length > 0) rest.push(fields);
    } else {
      abortPatch('BadRequest', `unknown patch type: ${JSON.stringify(directive)} in list ${path}`);
    }
  }
  if (replace) {
    live = rest.map((item) => mergeItem({}, item));
    rest = [];
  }
  const serverOrder = [...live];
  for (const item of rest) {
    const key = requireMergeKey(item, mergeKey, path);
    const index = live.findIndex((o) => isJsonObject(o) && jsonEqual(o[mergeKey], key));
    const current = live[index];
    if (isJsonObject(current)) live[index] = mergeItem(current, item);
    else live.push(mergeItem({}, item));
  }
  const [patchItems, serverOnly] = partition(live, rest, mergeKey);
  return normalizeElementOrder(patchItems, serverOnly, { patchOrder: rest, serverOrder, mergeKey });
}

/**
 * Applies a `$setElementOrder/<field>` list to an already merged list: the elements it names come in
 * its order, and elements only the server has keep their place relative to the live order.
 */
export function orderBySetElementOrder(
  merged: readonly JsonValue[],
  order: readonly JsonValue[],
  live: readonly JsonValue[],
  mergeKey: string | undefined,
  path: string,
): JsonValue[] {
  if (mergeKey !== undefined) {
    for (const item of order) {
      if (!isJsonObject(item) || !Object.hasOwn(item, mergeKey)) {
        abortPatch(
          'BadRequest',
          `invalid patch format of setElementOrder list for ${path}: every element needs the merge key "${mergeKey}"`,
        );
      }
    }
  }
  const [patchItems, serverOnly] = partition(merged, order, mergeKey);
  return normalizeElementOrder(patchItems, serverOnly, { patchOrder: order, serverOrder: live, mergeKey });
}

function requireMergeKey(item: JsonObject, mergeKey: string, path: string): JsonValue {
  const key = item[mergeKey];
  if (key === undefined) {
    abortPatch(
      'BadRequest',
      `map: ${JSON.stringify(item)} does not contain declared merge key: ${mergeKey} (in ${path})`,
    );
  }
  return key;
}

function elementKind(
  original: readonly JsonValue[],
  patch: readonly JsonValue[],
  path: string,
): 'map' | 'primitive' {
  let kind: 'map' | 'primitive' | undefined;
  for (const item of [...original, ...patch]) {
    if (Array.isArray(item)) abortPatch('Invalid', `lists of lists are not supported (${path})`);
    const k = isJsonObject(item) ? 'map' : 'primitive';
    if (kind !== undefined && k !== kind)
      abortPatch('BadRequest', `mismatched element types in list ${path}`);
    kind = k;
  }
  return kind ?? 'primitive';
}

function sameElement(
  a: JsonValue | undefined,
  b: JsonValue | undefined,
  mergeKey: string | undefined,
): boolean {
  if (mergeKey === undefined) return jsonEqual(a, b);
  return isJsonObject(a) && isJsonObject(b) && jsonEqual(a[mergeKey], b[mergeKey]);
}

function indexIn(
  list: readonly JsonValue[],
  item: JsonValue | undefined,
  mergeKey: string | undefined,
): number {
  return list.findIndex((o) => sameElement(o, item, mergeKey));
}

/** Splits `items` into those present in `list` and the rest, keeping their relative order. */
function partition(
  items: readonly JsonValue[],
  list: readonly JsonValue[],
  mergeKey: string | undefined,
): [JsonValue[], JsonValue[]] {
  const inList: JsonValue[] = [];
  const rest: JsonValue[] = [];
  for (const item of items) (indexIn(list, item, mergeKey) >= 0 ? inList : rest).push(item);
  return [inList, rest];
}

interface OrderOptions {
  readonly patchOrder: readonly JsonValue[];
  readonly serverOrder: readonly JsonValue[];
  readonly mergeKey: string | undefined;
}

/**
 * Sorts the patch's elements by `patchOrder` and the server-only ones by `serverOrder`, then
 * interleaves them (Go's `normalizeElementOrder` + `mergeSortedSlice`): a server-only element goes
 * before a patch element only when both appear in the live list and it came first there. So an
 * element new to the list, without `$setElementOrder`, lands before the remaining server-only ones,
 * exactly as Kubernetes does it.
 */
function normalizeElementOrder(
  patchItems: JsonValue[],
  serverOnly: JsonValue[],
  opts: OrderOptions,
): JsonValue[] {
  const { patchOrder, serverOrder, mergeKey } = opts;
  const right = sortByOrder(patchItems, patchOrder, mergeKey);
  const left = sortByOrder(serverOnly, serverOrder, mergeKey);
  const out: JsonValue[] = [];
  let i = 0;
  let j = 0;
  while (i < left.length || j < right.length) {
    const l = left[i];
    const r = right[j];
    if (i >= left.length || l === undefined) {
      if (r !== undefined) out.push(r);
      j++;
    } else if (j >= right.length || r === undefined) {
      out.push(l);
      i++;
    } else {
      const li = indexIn(serverOrder, l, mergeKey);
      const ri = indexIn(serverOrder, r, mergeKey);
      if (li >= 0 && ri >= 0 && li < ri) {
        out.push(l);
        i++;
      } else {
        out.push(r);
        j++;
      }
    }
  }
  return out;
}

function sortByOrder(
  items: JsonValue[],
  order: readonly JsonValue[],
  mergeKey: string | undefined,
): JsonValue[] {
  const rank = (item: JsonValue): number => {
    const i = indexIn(order, item, mergeKey);
    return i < 0 ? Number.MAX_SAFE_INTEGER : i;
  };
  return items
    .map((item, pos) => ({ item, pos, rank: rank(item) }))
    .sort((a, b) => a.rank - b.rank || a.pos - b.pos)
    .map((e) => e.item);
}

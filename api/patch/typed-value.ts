/**
 * Schema-aware walks over objects for server-side apply, after sigs.k8s.io/structured-merge-diff
 * `typed`: the field set a value sets (`ToFieldSet`), the difference between two values (`Compare`),
 * the structured merge of an applied configuration into a live object (`Merge`) and the removal of a
 * field set from a value (`RemoveItems`).
 *
 * The schema is ./patch-meta.ts: lists are atomic unless marked `set` or `map`; objects are structs
 * unless marked as maps; atomic structs and maps are owned and replaced as a whole.
 */

import { fieldMeta, fieldType, type FieldMeta, type TypeSchema } from './patch-meta.js';
import {
  canonicalJson,
  isJsonObject,
  isJsonPrimitive,
  jsonEqual,
  type JsonObject,
  type JsonValue,
} from './json-value.js';
import { emptyFieldSet, insertPath, pathToString, type FieldPath, type FieldSet } from './fields-v1.js';
import { abortPatch } from './result.js';

/** Where a value sits in the schema: the field's metadata and the struct type of the value/elements. */
export interface NodeType {
  readonly meta: FieldMeta | undefined;
  readonly schema: TypeSchema | undefined;
  /** True for a list element (which is owned as a unit, unlike a struct field). */
  readonly item: boolean;
}

/** The node of a whole object of a kind (`schema` undefined for kinds without a schema). */
export function rootNode(schema: TypeSchema | undefined): NodeType {
  return { meta: undefined, schema, item: false };
}

function fieldNode(node: NodeType, key: string): NodeType {
  // Entries of a map[string]T have no further schema.
  if (node.meta?.mapType !== undefined) return { meta: undefined, schema: undefined, item: false };
  const meta = fieldMeta(node.schema, key);
  return { meta, schema: fieldType(meta), item: false };
}

function itemNode(node: NodeType): NodeType {
  return { meta: undefined, schema: node.schema, item: true };
}

function listType(node: NodeType): 'atomic' | 'set' | 'map' {
  return node.meta?.listType ?? 'atomic';
}

function isAtomicObject(node: NodeType): boolean {
  return node.meta?.mapType === 'atomic' || node.schema?.atomic === true;
}

function isEmptyContainer(value: JsonValue | undefined): boolean {
  if (Array.isArray(value)) return value.length === 0;
  return isJsonObject(value) && Object.keys(value).length === 0;
}

/**
 * The path element of a list element: `k:{…}` for a map list (key fields, with their defaults),
 * `v:…` for a set. Returns undefined when the element cannot be keyed.
 */
function tryItemElement(node: NodeType, item: JsonValue): string | undefined {
  if (listType(node) === 'set') return isJsonPrimitive(item) ? `v:${canonicalJson(item)}` : undefined;
  if (!isJsonObject(item)) return undefined;
  const key: JsonObject = {};
  for (const name of node.meta?.listMapKeys ?? []) {
    const value = item[name] ?? node.meta?.listMapKeyDefaults?.[name];
    if (value === undefined || !isJsonPrimitive(value)) return undefined;
    key[name] = value;
  }
  return `k:${canonicalJson(key)}`;
}

/** Path elements of an applied list; a missing key or a duplicate is the user's error (400). */
function configElements(node: NodeType, list: readonly JsonValue[], path: FieldPath): string[] {
  const seen = new Set<string>();
  return list.map((item) => {
    const element = tryItemElement(node, item);
    if (element === undefined) {
      const what =
        listType(node) === 'set'
          ? 'a set element that is not a scalar'
          : `an element without the key fields ${JSON.stringify(node.meta?.listMapKeys ?? [])}`;
      abortPatch('BadRequest', `${pathToString(path) || '.'}: associative list has ${what}`);
    }
    if (seen.has(element)) {
      abortPatch('BadRequest', `${pathToString(path)}: duplicate entries for key ${pathToString([element])}`);
    }
    seen.add(element);
    return element;
  });
}

/** Path elements of a live list: live data is tolerated as it is (unkeyable elements by index). */
function liveElements(node: NodeType, list: readonly JsonValue[]): string[] {
  return list.map((item, i) => tryItemElement(node, item) ?? `i:${i}`);
}

/**
 * The set of fields an applied configuration sets (structured-merge-diff `ToFieldSet`): every
 * scalar, every list element, every null or empty object, every map entry, and atomic values as a
 * whole. Aborts with 400 on unkeyable or duplicate list elements.
 */
export function toFieldSet(value: JsonObject, root: NodeType): FieldSet {
  const set = emptyFieldSet();
  const walk = (v: JsonValue, node: NodeType, path: FieldPath): void => {
    if (isJsonObject(v)) {
      if (isAtomicObject(node)) {
        if (path.length > 0) insertPath(set, path);
        return;
      }
      for (const [key, child] of Object.entries(v)) {
        const childPath = [...path, `f:${key}`];
        walk(child, fieldNode(node, key), childPath);
        if (child === null || isEmptyContainer(child) || node.meta?.mapType !== undefined)
          insertPath(set, childPath);
      }
    } else if (Array.isArray(v)) {
      if (listType(node) === 'atomic') {
        insertPath(set, path);
        return;
      }
      const elements = configElements(node, v, path);
      v.forEach((item, i) => {
        const itemPath = [...path, elements[i] ?? ''];
        walk(item, itemNode(node), itemPath);
        insertPath(set, itemPath);
      });
    } else {
      insertPath(set, path);
    }
  };
  walk(value, root, []);
  return set;
}

/** What changed between two versions of an object, as field sets. */
export interface Comparison {
  readonly added: FieldSet;
  readonly modified: FieldSet;
  readonly removed: FieldSet;
}

/**
 * Compares `lhs` (before) with `rhs` (after) (structured-merge-diff `Compare`): leaves — scalars,
 * atomic values, empty objects — are added, removed or modified; an object, list element or list
 * that appears or disappears as a whole is added or removed too (except schema structs such as
 * `spec`, which Kubernetes always has).
 */
export function compareValues(lhs: JsonObject, rhs: JsonObject, root: NodeType): Comparison {
  const out: Comparison = { added: emptyFieldSet(), modified: emptyFieldSet(), removed: emptyFieldSet() };
  const leaf = (l: JsonValue | undefined, r: JsonValue | undefined, path: FieldPath): void => {
    if (l === undefined) insertPath(out.added, path);
    else if (r === undefined) insertPath(out.removed, path);
    else if (!jsonEqual(l, r)) insertPath(out.modified, path);
  };
  const walk = (
    l: JsonValue | undefined,
    r: JsonValue | undefined,
    node: NodeType,
    path: FieldPath,
  ): void => {
    const objects = (l === undefined || isJsonObject(l)) && (r === undefined || isJsonObject(r));
    const lists = (l === undefined || Array.isArray(l)) && (r === undefined || Array.isArray(r));
    const bothEmpty = (l === undefined || isEmptyContainer(l)) && (r === undefined || isEmptyContainer(r));
    if (objects && !isAtomicObject(node) && !bothEmpty) {
      for (const key of new Set([...Object.keys(l ?? {}), ...Object.keys(r ?? {})])) {
        walk(l?.[key], r?.[key], fieldNode(node, key), [...path, `f:${key}`]);
      }
    } else if (lists && listType(node) !== 'atomic' && !bothEmpty) {
      const index = (list: JsonValue[] | undefined): Map<string, JsonValue> => {
        const m = new Map<string, JsonValue>();
        const elements = liveElements(node, list ?? []);
        (list ?? []).forEach((item, i) => {
          const e = elements[i] ?? '';
          if (!m.has(e)) m.set(e, item);
        });
        return m;
      };
      const li = index(l);
      const ri = index(r);
      for (const e of new Set([...li.keys(), ...ri.keys()]))
        walk(li.get(e), ri.get(e), itemNode(node), [...path, e]);
    } else {
      leaf(l, r, path);
      return;
    }
    const schemaStruct =
      !node.item && objects && node.schema !== undefined && node.meta?.mapType === undefined;
    if (path.length > 0 && !schemaStruct) {
      if (l === undefined) insertPath(out.added, path);
      else if (r === undefined) insertPath(out.removed, path);
    }
  };
  walk(lhs, rhs, root, []);
  return out;
}

/**
 * Merges an applied configuration into a live object (structured-merge-diff `Merge`): structs and
 * granular maps merge per field, `map` lists per key and `set` lists per value — keeping the applied
 * order and slotting live-only elements in where they were — and atomic values are replaced. A null
 * in the configuration clears the field. Returns a new value.
 */
export function mergeApplied(live: JsonObject, config: JsonObject, root: NodeType): JsonObject {
  return merge(live, config, root, []) as JsonObject;
}

function merge(
  l: JsonValue | undefined,
  r: JsonValue | undefined,
  node: NodeType,
  path: FieldPath,
): JsonValue | undefined {
  if (r === undefined) return l === undefined ? undefined : structuredClone(l);
  if (r === null) return undefined;
  if (isJsonObject(r)) {
    const base = isJsonObject(l) && !isAtomicObject(node) ? l : {};
    const out: JsonObject = {};
    for (const key of new Set([...Object.keys(base), ...Object.keys(r)])) {
      const v = merge(base[key], r[key], fieldNode(node, key), [...path, `f:${key}`]);
      if (v !== undefined) out[key] = v;
    }
    return out;
  }
  if (Array.isArray(r)) {
    if (!Array.isArray(l) || listType(node) === 'atomic')
      return r.map((item) => merge(undefined, item, itemNode(node), path) ?? null);
    return mergeList(l, r, node, path);
  }
  return r;
}

/** The element order of structured-merge-diff's `visitListItems`, ported as is. */
function mergeList(lhs: JsonValue[], rhs: JsonValue[], node: NodeType, path: FieldPath): JsonValue[] {
  const rPEs = configElements(node, rhs, path);
  const lPEs = liveElements(node, lhs);
  const observedR = new Map(rPEs.map((e, i) => [e, rhs[i] ?? null]));
  const observedL = new Map<string, JsonValue>();
  lPEs.forEach((e, i) => {
    if (!observedL.has(e)) observedL.set(e, lhs[i] ?? null);
  });
  const sharedOrder = rPEs.filter((e) => observedL.has(e));
  let nextShared = sharedOrder.shift();
  const mergedR = new Set<string>();
  const out: JsonValue[] = [];
  const push = (l: JsonValue | undefined, r: JsonValue | undefined, e: string): void => {
    const v = merge(l, r, itemNode(node), [...path, e]);
    if (v !== undefined) out.push(v);
  };
  let lI = 0;
  let rI = 0;
  while (lI < lPEs.length || rI < rPEs.length) {
    const le = lPEs[lI];
    const re = rPEs[rI];
    if (le !== undefined && re !== undefined) {
      if (le === re) {
        mergedR.add(le);
        push(observedL.get(le), observedR.get(le), le);
        lI++;
        rI++;
        nextShared = sharedOrder.shift();
        continue;
      }
      if (observedR.has(le) && nextShared !== undefined && nextShared !== le) {
        lI++;
        continue;
      }
    }
    if (le !== undefined) {
      if (!observedR.has(le)) {
        push(lhs[lI], undefined, le);
        lI++;
        continue;
      } else if (mergedR.has(le)) {
        lI++;
        continue;
      }
    }
    if (re !== undefined) {
      mergedR.add(re);
      push(observedL.get(re), observedR.get(re), re);
      rI++;
      if (nextShared === re) nextShared = sharedOrder.shift();
    }
  }
  return out;
}

/**
 * Removes the members of `set` from `value` (structured-merge-diff `RemoveItems`): a member field or
 * list element goes entirely; an object or list emptied by the removal goes too. Returns a new value.
 */
export function removeFieldSet(value: JsonObject, set: FieldSet, root: NodeType): JsonObject {
  return (remove(value, set, root) as JsonObject | undefined) ?? {};
}

function remove(value: JsonValue, set: FieldSet, node: NodeType): JsonValue | undefined {
  if (isJsonObject(value) && !isAtomicObject(node)) {
    const out: JsonObject = {};
    for (const [key, child] of Object.entries(value)) {
      const sub = set.children.get(`f:${key}`);
      if (sub?.member === true) continue;
      const kept = sub === undefined ? child : remove(child, sub, fieldNode(node, key));
      if (kept === undefined || (isEmptyContainer(kept) && !isEmptyContainer(child))) continue;
      out[key] = kept;
    }
    return out;
  }
  if (Array.isArray(value) && listType(node) !== 'atomic') {
    const elements = liveElements(node, value);
    const out: JsonValue[] = [];
    value.forEach((item, i) => {
      const sub = set.children.get(elements[i] ?? '');
      if (sub?.member === true) return;
      const kept = sub === undefined ? item : remove(item, sub, itemNode(node));
      if (kept !== undefined) out.push(kept);
    });
    return out;
  }
  return value;
}

/**
 * Field sets — the ownership unit of server-side apply — and their wire form, `FieldsV1`, as stored in
 * `metadata.managedFields[*].fieldsV1` (sigs.k8s.io/structured-merge-diff `fieldpath`).
 *
 * A set is a set of paths. A path is a list of elements, each written as its FieldsV1 key:
 * `f:<field>` (a struct field or map key), `k:<json>` (a list element by its key fields, compact JSON
 * with sorted keys, e.g. `k:{"containerPort":80,"protocol":"TCP"}`), `v:<json>` (an element of a set
 * list, e.g. `v:"foo"`) and `i:<n>` (an element by index). In FieldsV1 every node is a JSON object of
 * its children; `".": {}` marks a node that is itself a member when it also has children.
 */

import { isJsonObject, type JsonObject, type JsonValue } from './json-value.js';

/** A set of paths, as a tree: `member` says the path ending at this node is in the set. */
export interface FieldSet {
  member: boolean;
  readonly children: Map<string, FieldSet>;
}

/** A path, as FieldsV1 element keys (`['f:spec', 'f:replicas']`). */
export type FieldPath = readonly string[];

/** A new empty set. */
export function emptyFieldSet(): FieldSet {
  return { member: false, children: new Map() };
}

/** Adds `path` to `set` (in place). */
export function insertPath(set: FieldSet, path: FieldPath): void {
  let node = set;
  for (const element of path) {
    let child = node.children.get(element);
    if (child === undefined) {
      child = emptyFieldSet();
      node.children.set(element, child);
    }
    node = child;
  }
  node.member = true;
}

/** Builds a set from paths. */
export function fieldSetOf(paths: Iterable<FieldPath>): FieldSet {
  const set = emptyFieldSet();
  for (const p of paths) insertPath(set, p);
  return set;
}

/** Whether the set holds no path. */
export function isEmptyFieldSet(set: FieldSet): boolean {
  if (set.member) return false;
  for (const child of set.children.values()) if (!isEmptyFieldSet(child)) return false;
  return true;
}

/** Whether `path` is a member of the set. */
export function hasPath(set: FieldSet, path: FieldPath): boolean {
  let node: FieldSet | undefined = set;
  for (const element of path) {
    node = node.children.get(element);
    if (node === undefined) return false;
  }
  return node.member;
}

/** a ∪ b, as a new set. */
export function unionFieldSets(a: FieldSet, b: FieldSet): FieldSet {
  const out: FieldSet = { member: a.member || b.member, children: new Map() };
  for (const key of new Set([...a.children.keys(), ...b.children.keys()])) {
    const x = a.children.get(key) ?? emptyFieldSet();
    const y = b.children.get(key) ?? emptyFieldSet();
    const child = unionFieldSets(x, y);
    if (!isEmptyFieldSet(child)) out.children.set(key, child);
  }
  return out;
}

/** a ∖ b (exact paths: removing `.spec` does not remove `.spec.replicas`), as a new set. */
export function differenceFieldSets(a: FieldSet, b: FieldSet): FieldSet {
  const out: FieldSet = { member: a.member && !b.member, children: new Map() };
  for (const [key, x] of a.children) {
    const y = b.children.get(key);
    const child = y === undefined ? cloneFieldSet(x) : differenceFieldSets(x, y);
    if (!isEmptyFieldSet(child)) out.children.set(key, child);
  }
  return out;
}

/** a ∩ b, as a new set. */
export function intersectFieldSets(a: FieldSet, b: FieldSet): FieldSet {
  const out: FieldSet = { member: a.member && b.member, children: new Map() };
  for (const [key, x] of a.children) {
    const y = b.children.get(key);
    if (y === undefined) continue;
    const child = intersectFieldSets(x, y);
    if (!isEmptyFieldSet(child)) out.children.set(key, child);
  }
  return out;
}

/** The set without every path that starts with one of `prefixes` (the prefixes themselves included). */
export function withoutPrefixes(set: FieldSet, prefixes: readonly FieldPath[]): FieldSet {
  const out = cloneFieldSet(set);
  for (const prefix of prefixes) {
    if (prefix.length === 0) return emptyFieldSet();
    let node: FieldSet | undefined = out;
    for (const element of prefix.slice(0, -1)) node = node?.children.get(element);
    node?.children.delete(prefix[prefix.length - 1] ?? '');
  }
  return out;
}

/** A deep copy. */
export function cloneFieldSet(set: FieldSet): FieldSet {
  const out: FieldSet = { member: set.member, children: new Map() };
  for (const [key, child] of set.children) out.children.set(key, cloneFieldSet(child));
  return out;
}

/** Every member path, depth first, in FieldsV1 order. */
export function fieldSetPaths(set: FieldSet): FieldPath[] {
  const out: FieldPath[] = [];
  const walk = (node: FieldSet, path: string[]): void => {
    if (node.member && path.length > 0) out.push(path);
    for (const key of sortedKeys(node)) {
      const child = node.children.get(key);
      if (child !== undefined) walk(child, [...path, key]);
    }
  };
  walk(set, []);
  return out;
}

const elementRank: Readonly<Record<string, number>> = { 'f:': 0, 'k:': 1, 'v:': 2, 'i:': 3 };

function sortedKeys(node: FieldSet): string[] {
  return [...node.children.keys()].sort((a, b) => {
    const ra = elementRank[a.slice(0, 2)] ?? 4;
    const rb = elementRank[b.slice(0, 2)] ?? 4;
    if (ra !== rb) return ra - rb;
    if (ra === 3) return Number(a.slice(2)) - Number(b.slice(2));
    return a < b ? -1 : a > b ? 1 : 0;
  });
}

/** The FieldsV1 JSON of a set. */
export function toFieldsV1(set: FieldSet): JsonObject {
  const out: JsonObject = {};
  if (set.member && set.children.size > 0) out['.'] = {};
  for (const key of sortedKeys(set)) {
    const child = set.children.get(key);
    if (child !== undefined && !isEmptyFieldSet(child)) out[key] = toFieldsV1(child);
  }
  return out;
}

/** Parses FieldsV1 JSON; undefined when it is malformed. The root is never a member. */
export function fromFieldsV1(value: JsonValue | undefined): FieldSet | undefined {
  if (!isJsonObject(value)) return undefined;
  const set = emptyFieldSet();
  return readNode(value, set) ? set : undefined;
}

function readNode(value: JsonObject, node: FieldSet): boolean {
  for (const [key, child] of Object.entries(value)) {
    if (!isJsonObject(child)) return false;
    if (key === '.') {
      node.member = true;
      continue;
    }
    if (!validElement(key)) return false;
    const sub = emptyFieldSet();
    // A node without children is a leaf, and so a member.
    if (Object.keys(child).length === 0) sub.member = true;
    else if (!readNode(child, sub)) return false;
    node.children.set(key, sub);
  }
  return true;
}

function validElement(key: string): boolean {
  const kind = key.slice(0, 2);
  const rest = key.slice(2);
  if (kind === 'f:') return rest.length > 0;
  if (kind === 'i:') return /^\d+$/.test(rest);
  if (kind !== 'k:' && kind !== 'v:') return false;
  try {
    const parsed = JSON.parse(rest) as unknown;
    return kind === 'v:' || isJsonObject(parsed);
  } catch {
    return false;
  }
}

/**
 * A path as Kubernetes prints it in conflict messages (`fieldpath.Path.String()`):
 * `.spec.template.spec.containers[name="web"].image`, `[containerPort=80,protocol="TCP"]`, `[="x"]`.
 */
export function pathToString(path: FieldPath): string {
  return path
    .map((element) => {
      const kind = element.slice(0, 2);
      const rest = element.slice(2);
      if (kind === 'f:') return `.${rest}`;
      if (kind === 'i:') return `[${rest}]`;
      if (kind === 'v:') return `[=${rest}]`;
      const key = JSON.parse(rest) as JsonObject;
      const parts = Object.keys(key)
        .sort()
        .map((k) => `${k}=${JSON.stringify(key[k])}`);
      return `[${parts.join(',')}]`;
    })
    .join('');
}

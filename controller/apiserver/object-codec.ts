/**
 * How API objects are laid out in the `Store`: one key per object, `/registry/<group>/<plural>/<ns>/<name>`
 * (group `core` for the legacy group; no namespace segment for cluster-scoped kinds), JSON values
 * without `metadata.resourceVersion` — the store's `modRevision` is the resourceVersion, filled in on read.
 */
import type { ResourceInfo } from '../../api/resources.js';
import type { StoredObject } from '../../api/object.js';
import type { KeyValue } from '../store/store.js';

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** The key prefix of a resource, optionally narrowed to one namespace. */
export function resourcePrefix(r: ResourceInfo, namespace?: string): string {
  const base = `/registry/${r.group === '' ? 'core' : r.group}/${r.plural}/`;
  return r.namespaced && namespace !== undefined ? `${base}${namespace}/` : base;
}

export function objectKey(r: ResourceInfo, namespace: string | undefined, name: string): string {
  return r.namespaced ? `${resourcePrefix(r, namespace ?? '')}${name}` : `${resourcePrefix(r)}${name}`;
}

export function encodeObject(obj: StoredObject): Uint8Array {
  const { resourceVersion: _rv, ...metadata } = obj.metadata;
  return encoder.encode(JSON.stringify({ ...obj, metadata }));
}

/**
 * Decodes a stored value and stamps its resourceVersion. Decoded objects are cached per value buffer,
 * because one write fans out to every watcher of its resource; callers must not mutate the result.
 */
const decoded = new WeakMap<Uint8Array, StoredObject>();

export function decodeObject(kv: KeyValue, resourceVersion: number = kv.modRevision): StoredObject {
  let base = decoded.get(kv.value);
  if (base === undefined) {
    base = JSON.parse(decoder.decode(kv.value)) as StoredObject;
    decoded.set(kv.value, base);
  }
  return { ...base, metadata: { ...base.metadata, resourceVersion: String(resourceVersion) } };
}

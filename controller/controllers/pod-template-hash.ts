/**
 * The `pod-template-hash`: what names a Deployment's ReplicaSets (`<deployment>-<hash>`) and labels
 * their pods, and when two pod templates count as the same (pkg/controller.ComputeHash and
 * deploymentutil.EqualIgnoreHash).
 *
 * Kubernetes feeds a go-spew dump of the typed Go `PodTemplateSpec` to an FNV-32a hasher, adds the
 * Deployment's `status.collisionCount` as 8 little-endian bytes, prints the 32-bit sum in decimal and
 * maps each digit through `rand.SafeEncodeString`'s alphabet — so hashes look like `5d8f9c7b6`.
 * Berth does all of that except the spew dump (which depends on Go's struct layout): it hashes a
 * canonical JSON form of the template instead. Hashes therefore have Kubernetes' shape and alphabet,
 * are stable across restarts and versions of Berth, but differ from the hash Kubernetes would compute
 * for the same template. Nothing relies on the two agreeing: ReplicaSets are matched to templates by
 * comparison, and the hash only names them.
 *
 * "The same template" is judged the way `apiequality.Semantic.DeepEqual` sees typed Go values: fields
 * that are null, empty (`{}`, `[]`), `false`, `0` or `""` count as absent. That is what makes a
 * template that went through kubectl (`rollout undo` sends back a ReplicaSet's template decoded into Go
 * types, with `creationTimestamp: null` and `resources: {}` added and zero values dropped) equal to the
 * stored one it came from.
 */
import { isPlainObject } from '../../api/object.js';

/** The label (on ReplicaSets, their selectors and templates, and pods) that carries the hash. */
export const POD_TEMPLATE_HASH_LABEL = 'pod-template-hash';

/** apimachinery's `rand` alphabet: no vowels, no confusable digits. */
const SAFE_ALPHABET = 'bcdfghjklmnpqrstvwxz2456789';

/** `rand.SafeEncodeString`: each character mapped to `alphabet[code % 27]`. */
export function safeEncodeString(s: string): string {
  let out = '';
  for (const ch of s) out += SAFE_ALPHABET[(ch.codePointAt(0) ?? 0) % SAFE_ALPHABET.length] ?? 'b';
  return out;
}

const FNV_OFFSET_32 = 0x811c9dc5;
const FNV_PRIME_32 = 0x01000193;

/** FNV-1a, 32 bits (Go's `hash/fnv.New32a`), continuing from `seed`. */
export function fnv32a(bytes: Uint8Array, seed = FNV_OFFSET_32): number {
  let h = seed >>> 0;
  for (const b of bytes) {
    h ^= b;
    h = Math.imul(h, FNV_PRIME_32) >>> 0;
  }
  return h >>> 0;
}

/**
 * The pod-template-hash of `template` (a pod template as stored), with `collisionCount` mixed in when
 * given — Kubernetes' ComputeHash, over canonical JSON instead of a spew dump (see the file header).
 */
export function computePodTemplateHash(template: unknown, collisionCount?: number): string {
  let h = fnv32a(new TextEncoder().encode(canonicalJson(template)));
  if (collisionCount !== undefined) {
    const bytes = new Uint8Array(8);
    new DataView(bytes.buffer).setUint32(0, collisionCount >>> 0, true);
    h = fnv32a(bytes, h);
  }
  return safeEncodeString(String(h));
}

/**
 * Whether two pod templates are the same, ignoring their `pod-template-hash` labels and fields with
 * Go zero values (EqualIgnoreHash; see the file header).
 */
export function templatesEqualIgnoringHash(a: unknown, b: unknown): boolean {
  return canonicalJson(a) === canonicalJson(b);
}

/** Canonical forms of templates already seen (cached objects are replaced, never mutated). */
const canonicalCache = new WeakMap<object, string>();

/** The template with the hash label removed, zero values dropped and keys sorted, as JSON. */
function canonicalJson(template: unknown): string {
  if (!isPlainObject(template)) return computeCanonicalJson({});
  let json = canonicalCache.get(template);
  if (json === undefined) {
    json = computeCanonicalJson(template);
    canonicalCache.set(template, json);
  }
  return json;
}

function computeCanonicalJson(t: Record<string, unknown>): string {
  const meta = isPlainObject(t['metadata']) ? t['metadata'] : {};
  const labels = isPlainObject(meta['labels'])
    ? Object.fromEntries(Object.entries(meta['labels']).filter(([k]) => k !== POD_TEMPLATE_HASH_LABEL))
    : undefined;
  const withoutHash = { ...t, metadata: { ...meta, labels } };
  return JSON.stringify(normalize(withoutHash) ?? {});
}

/**
 * Drops zero-valued fields from objects (recursively) and sorts keys. Array elements stay, as in Go
 * slices, with objects inside them normalised.
 */
function normalize(value: unknown): unknown {
  if (Array.isArray(value)) {
    if (value.length === 0) return undefined;
    return (value as unknown[]).map((v) =>
      isPlainObject(v) ? (normalize(v) ?? {}) : Array.isArray(v) ? (normalize(v) ?? []) : v,
    );
  }
  if (isPlainObject(value)) {
    const out: Record<string, unknown> = {};
    for (const key of Object.keys(value).sort()) {
      const v = normalize(value[key]);
      if (v !== undefined) out[key] = v;
    }
    return Object.keys(out).length === 0 ? undefined : out;
  }
  if (value === null || value === undefined || value === false || value === 0 || value === '')
    return undefined;
  return value;
}

/**
 * Safe readers for API objects as they arrive: plain JSON that may have any shape. Validation and
 * defaulting read through these so that a wrong type (a string where a list belongs) is treated as
 * absent or invalid instead of crashing the request.
 */

/** A JSON object. */
export type JsonObject = Record<string, unknown>;

/** `v` if it is a plain JSON object, else undefined. */
export function asObject(v: unknown): JsonObject | undefined {
  return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as JsonObject) : undefined;
}

/** `v` if it is an array, else []. */
export function asArray(v: unknown): unknown[] {
  return Array.isArray(v) ? (v as unknown[]) : [];
}

/** `v` if it is a string, else ''. Go's zero value for a missing string is '' too. */
export function asString(v: unknown): string {
  return typeof v === 'string' ? v : '';
}

/** `v` if it is a finite number, else undefined. */
export function asNumber(v: unknown): number | undefined {
  return typeof v === 'number' && Number.isFinite(v) ? v : undefined;
}

/** A string→string map (labels, annotations, selectors); non-string values are skipped. */
export function asStringMap(v: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  const o = asObject(v);
  if (o === undefined) return out;
  for (const [k, val] of Object.entries(o)) if (typeof val === 'string') out[k] = val;
  return out;
}

/** Deep equality of JSON values (key order ignored). */
export function jsonEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (Array.isArray(a)) {
    if (!Array.isArray(b) || a.length !== b.length) return false;
    return a.every((x, i) => jsonEqual(x, b[i]));
  }
  const oa = asObject(a);
  const ob = asObject(b);
  if (oa === undefined || ob === undefined) return false;
  const ka = Object.keys(oa).filter((k) => oa[k] !== undefined);
  const kb = Object.keys(ob).filter((k) => ob[k] !== undefined);
  if (ka.length !== kb.length) return false;
  return ka.every((k) => Object.hasOwn(ob, k) && jsonEqual(oa[k], ob[k]));
}

/**
 * Kubernetes' apiequality.Semantic.DeepEqual for JSON: like {@link jsonEqual} but a missing field,
 * null, an empty list and an empty map are all the same (Go cannot tell nil from empty after decode
 * for most fields, and omitempty drops both).
 */
export function semanticEqual(a: unknown, b: unknown): boolean {
  if (isEmptyValue(a) && isEmptyValue(b)) return true;
  if (Array.isArray(a) && Array.isArray(b)) {
    return a.length === b.length && a.every((x, i) => semanticEqual(x, b[i]));
  }
  const oa = asObject(a);
  const ob = asObject(b);
  if (oa !== undefined && ob !== undefined) {
    const keys = new Set([...Object.keys(oa), ...Object.keys(ob)]);
    for (const k of keys) if (!semanticEqual(oa[k], ob[k])) return false;
    return true;
  }
  return a === b;
}

function isEmptyValue(v: unknown): boolean {
  if (v === undefined || v === null) return true;
  if (Array.isArray(v)) return v.length === 0;
  const o = asObject(v);
  return o !== undefined && Object.values(o).every((x) => x === undefined);
}

/** A deep copy of a JSON value (structuredClone keeps it plain). */
export function cloneJson<T>(v: T): T {
  return structuredClone(v);
}

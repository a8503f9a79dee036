/**
 * Plain JSON values as they travel on the wire (Kubernetes objects in their JSON form), with the few
 * helpers every patch engine in this folder needs: type guards, deep equality, deep copy and the
 * canonical (sorted-key) encoding that managed-fields keys use.
 */

export type JsonPrimitive = string | number | boolean | null;
export type JsonValue = JsonPrimitive | JsonValue[] | JsonObject;
/** A JSON object. Read fields with `obj['name']` (index-signature access). */
export interface JsonObject {
  [key: string]: JsonValue;
}

/** True for a JSON object (not an array, not null). */
export function isJsonObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** True for a JSON primitive (string, number, boolean or null). */
export function isJsonPrimitive(value: unknown): value is JsonPrimitive {
  return (
    value === null || typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean'
  );
}

/** Structural equality of two JSON values; key order does not matter, array order does. */
export function jsonEqual(a: JsonValue | undefined, b: JsonValue | undefined): boolean {
  if (a === b) return true;
  if (a === undefined || b === undefined || a === null || b === null) return false;
  if (Array.isArray(a)) {
    if (!Array.isArray(b) || a.length !== b.length) return false;
    return a.every((item, i) => jsonEqual(item, b[i]));
  }
  if (isJsonObject(a)) {
    if (!isJsonObject(b)) return false;
    const keys = Object.keys(a);
    if (keys.length !== Object.keys(b).length) return false;
    return keys.every((k) => Object.hasOwn(b, k) && jsonEqual(a[k], b[k]));
  }
  return false;
}

/** A deep copy, so that engines never alias or mutate their inputs. */
export function jsonClone<T extends JsonValue>(value: T): T {
  return structuredClone(value);
}

/**
 * JSON with object keys sorted at every level: the form Kubernetes uses inside managed-fields keys
 * (`k:{"containerPort":80,"protocol":"TCP"}`), so that equal values always encode the same way.
 */
export function canonicalJson(value: JsonValue): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (isJsonObject(value)) {
    const parts = Object.keys(value)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonicalJson(value[k] ?? null)}`);
    return `{${parts.join(',')}}`;
  }
  return JSON.stringify(value);
}

/** `kind` of a value for error messages and type-mismatch checks. */
export function jsonKind(value: JsonValue | undefined): 'object' | 'array' | 'primitive' | 'null' | 'absent' {
  if (value === undefined) return 'absent';
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  return typeof value === 'object' ? 'object' : 'primitive';
}

/**
 * Removes `key` from a JSON object in place. JSON objects are string-keyed records by nature, so
 * deleting a computed key is the operation itself, not a Map in disguise.
 */
export function deleteKey(obj: JsonObject, key: string): void {
  Reflect.deleteProperty(obj, key);
}

/** An object's `metadata` map (the live one, for in-place edits), or a fresh empty object when absent. */
export function metadataOf(obj: JsonObject): JsonObject {
  const m = obj['metadata'];
  return isJsonObject(m) ? m : {};
}

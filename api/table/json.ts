/**
 * Narrow, total accessors for reading untyped JSON objects (API objects as stored), so the printers
 * can walk `status.containerStatuses[i].state.waiting.reason` without casts or exceptions: a missing
 * or wrongly typed value reads as `undefined`.
 */

/** A JSON object, or `undefined` if `v` is not one. */
export function rec(v: unknown): Readonly<Record<string, unknown>> | undefined {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
    ? (v as Record<string, unknown>)
    : undefined;
}

/** The value at `path` below `v`, or `undefined` if any step is missing. */
export function at(v: unknown, ...path: readonly string[]): unknown {
  let cur: unknown = v;
  for (const key of path) {
    const r = rec(cur);
    if (r === undefined) return undefined;
    cur = r[key];
  }
  return cur;
}

export function str(v: unknown): string | undefined {
  return typeof v === 'string' ? v : undefined;
}

export function num(v: unknown): number | undefined {
  return typeof v === 'number' && Number.isFinite(v) ? v : undefined;
}

/** The array at `v`, or an empty array. */
export function arr(v: unknown): readonly unknown[] {
  return Array.isArray(v) ? (v as unknown[]) : [];
}

/** The string-valued entries of a JSON object (labels, selectors), or an empty object. */
export function stringMap(v: unknown): Readonly<Record<string, string>> {
  const r = rec(v);
  if (r === undefined) return {};
  const out: Record<string, string> = {};
  for (const [k, val] of Object.entries(r)) if (typeof val === 'string') out[k] = val;
  return out;
}

/** Number of keys of a JSON object (0 when absent). */
export function size(v: unknown): number {
  const r = rec(v);
  return r === undefined ? 0 : Object.keys(r).length;
}

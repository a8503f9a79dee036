/**
 * JSON text byte-for-byte as Go's `encoding/json` writes an unstructured Kubernetes object (a
 * `map[string]interface{}`): object keys sorted, `<`, `>`, `&`, U+2028 and U+2029 escaped, and
 * `MarshalIndent`'s layout for `-o json`. Two things depend on the exact bytes: the
 * `last-applied-configuration` annotation (so `berth apply` after `kubectl apply`, and vice versa,
 * reports "unchanged"), and `-o json` output matching kubectl's.
 */

import { isJsonObject, type JsonValue } from '../../api/patch/json-value.js';

const goEscapes: Readonly<Record<string, string>> = {
  '<': '\\u003c',
  '>': '\\u003e',
  '&': '\\u0026',
  '\u2028': '\\u2028',
  '\u2029': '\\u2029',
};

/** A JSON string literal as Go encodes it (HTML-safe). */
export function goQuoteJson(s: string): string {
  return JSON.stringify(s).replace(/[<>&\u2028\u2029]/g, (c) => goEscapes[c] ?? c);
}

/**
 * Encodes `value` as Go's `json.Marshal` (when `indent` is empty) or `json.MarshalIndent(v, "",
 * indent)` would for the same unstructured data. `undefined` members are skipped, as JSON does.
 */
export function goJson(value: JsonValue, indent = ''): string {
  return encode(value, indent, '');
}

function encode(value: JsonValue, indent: string, prefix: string): string {
  if (value === null || typeof value !== 'object') {
    return typeof value === 'string' ? goQuoteJson(value) : JSON.stringify(value);
  }
  const inner = prefix + indent;
  const nl = indent === '' ? '' : '\n';
  const sep = indent === '' ? ':' : ': ';
  if (Array.isArray(value)) {
    if (value.length === 0) return '[]';
    const items = value.map((v) => `${nl}${inner}${encode(v, indent, inner)}`);
    return `[${items.join(',')}${nl}${prefix}]`;
  }
  if (!isJsonObject(value)) return 'null';
  const keys = Object.keys(value)
    .filter((k) => value[k] !== undefined)
    .sort(compareBytes);
  if (keys.length === 0) return '{}';
  const members = keys.map(
    (k) => `${nl}${inner}${goQuoteJson(k)}${sep}${encode(value[k] ?? null, indent, inner)}`,
  );
  return `{${members.join(',')}${nl}${prefix}}`;
}

/** Go sorts map keys by their UTF-8 bytes; for the BMP that is code-unit order. */
function compareBytes(a: string, b: string): number {
  const ba = Buffer.from(a, 'utf8');
  const bb = Buffer.from(b, 'utf8');
  return Buffer.compare(ba, bb);
}

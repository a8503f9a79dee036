/**
 * `-o json`, `-o yaml` and `-o name` output as kubectl writes them: keys sorted, JSON indented by
 * four spaces (Go's MarshalIndent), YAML as sigs.k8s.io/yaml (go-yaml v2) renders it — sequences
 * not indented under their key, type-ambiguous strings (`"3600"`, `"true"`, timestamps) in double
 * quotes, other strings needing quotes in single quotes, multi-line strings as literal blocks —
 * several objects wrapped in a `v1 List`, and `metadata.managedFields` hidden unless asked for.
 */

import { Document, Scalar, parse, visit } from 'yaml';
import {
  deleteKey,
  isJsonObject,
  jsonClone,
  type JsonObject,
  type JsonValue,
} from '../../api/patch/json-value.js';
import { goJson } from './go-json.js';

/** The output formats that print whole objects. */
export type ObjectFormat = 'json' | 'yaml';

/** Several objects as the `List` kubectl prints for them. */
export function listOf(items: readonly JsonObject[]): JsonObject {
  return { apiVersion: 'v1', items: [...items], kind: 'List', metadata: { resourceVersion: '' } };
}

/** A copy without `metadata.managedFields` (kubectl's default `--show-managed-fields=false`). */
export function withoutManagedFields(obj: JsonObject): JsonObject {
  const copy = jsonClone(obj);
  const strip = (o: JsonObject): void => {
    if (isJsonObject(o['metadata'])) deleteKey(o['metadata'], 'managedFields');
  };
  strip(copy);
  if (Array.isArray(copy['items'])) copy['items'].filter(isJsonObject).forEach(strip);
  return copy;
}

/** The text of `obj` in `format`, newline-terminated. */
export function formatObject(obj: JsonObject, format: ObjectFormat): string {
  return format === 'json' ? `${goJson(obj, '    ')}\n` : toYaml(obj);
}

/** YAML as kubectl prints it (see the module comment). */
export function toYaml(value: JsonValue): string {
  const doc = new Document(value, { sortMapEntries: true });
  visit(doc, {
    Scalar(_key, node) {
      if (typeof node.value !== 'string') return;
      if (node.value.includes('\n')) node.type = Scalar.BLOCK_LITERAL;
      else if (resolvesToNonString(node.value)) node.type = Scalar.QUOTE_DOUBLE;
    },
  });
  return doc.toString({ indentSeq: false, lineWidth: 0, singleQuote: true });
}

/** Whether go-yaml v2 would read this plain scalar as something other than a string. */
function resolvesToNonString(s: string): boolean {
  if (s === '') return true;
  try {
    const v: unknown = parse(s, { schema: 'yaml-1.1' });
    return v === null || typeof v === 'number' || typeof v === 'boolean' || v instanceof Date;
  } catch {
    return false;
  }
}

/**
 * kubectl's `genericDescriber` for kinds without a dedicated layout: name, namespace, labels and
 * annotations, then every field of the object in sorted order with "smart" labels (`apiVersion` →
 * `API Version`, `creationTimestamp` → `Creation Timestamp`), nested maps indented, then events.
 */

import { isJsonObject, type JsonObject, type JsonValue } from '../../../api/patch/json-value.js';
import { compare } from '../../../api/table/labels.js';
import { rec } from '../../../api/table/json.js';
import { describeEvents } from './describe-events.js';
import {
  LEVEL_0,
  PrefixWriter,
  printAnnotations,
  printLabels,
  v,
  type DescribeContext,
} from './prefix-writer.js';

const skipped = new Set([
  '.metadata.managedFields',
  '.metadata.name',
  '.metadata.namespace',
  '.metadata.labels',
  '.metadata.annotations',
]);

/** `describe` text for any object. */
export function describeGeneric(
  obj: JsonObject,
  events: readonly JsonObject[] | undefined,
  ctx: DescribeContext,
): string {
  const w = new PrefixWriter();
  const meta = rec(obj['metadata']) ?? {};
  w.write(LEVEL_0, `Name:\t${v(meta['name'])}\n`);
  w.write(LEVEL_0, `Namespace:\t${v(meta['namespace'])}\n`);
  printLabels(w, 'Labels', meta['labels']);
  printAnnotations(w, 'Annotations', meta['annotations']);
  printContent(w, LEVEL_0, obj, '');
  describeEvents(w, events, ctx);
  return w.text();
}

function goValue(value: JsonValue): string {
  return value === null ? '<nil>' : v(value);
}

function printContent(w: PrefixWriter, level: number, content: JsonObject, prefix: string): void {
  for (const field of Object.keys(content).sort(compare)) {
    const value = content[field] ?? null;
    const path = `${prefix}.${field}`;
    if (skipped.has(path)) continue;
    if (isJsonObject(value)) {
      w.write(level, `${smartLabel(field)}:\n`);
      printContent(w, level + 1, value, path);
    } else if (Array.isArray(value)) {
      w.write(level, `${smartLabel(field)}:\n`);
      for (const child of value) {
        if (isJsonObject(child)) printContent(w, level + 1, child, path);
        else w.write(level + 1, `${goValue(child)}\n`);
      }
    } else {
      w.write(level, `${smartLabel(field)}:\t${goValue(value)}\n`);
    }
  }
}

const acronyms = new Set(['API', 'URL', 'UID', 'OSB', 'GUID']);

/** kubectl's `smartLabelFor`: camel case split into title-cased words, known acronyms upper-cased. */
export function smartLabel(field: string): string {
  if (/[^\p{L}-]/u.test(field)) return field;
  return camelCaseSplit(field)
    .filter((p) => p !== '_')
    .map((p) => (acronyms.has(p.toUpperCase()) ? p.toUpperCase() : p.charAt(0).toUpperCase() + p.slice(1)))
    .join(' ');
}

/** github.com/fatih/camelcase `Split`: runs of one character class; `APIVersion` → `API`, `Version`. */
function camelCaseSplit(s: string): string[] {
  const classOf = (c: string): number => {
    if (/\p{Ll}/u.test(c)) return 1;
    if (/\p{Lu}/u.test(c)) return 2;
    if (/\p{N}/u.test(c)) return 3;
    return 4;
  };
  const runs: string[][] = [];
  let last = 0;
  for (const c of s) {
    const cls = classOf(c);
    if (cls === last && runs.length > 0) runs[runs.length - 1]?.push(c);
    else runs.push([c]);
    last = cls;
  }
  // An upper-case run followed by a lower-case one gives its last letter to the next word.
  for (let i = 0; i < runs.length - 1; i++) {
    const cur = runs[i] ?? [];
    const next = runs[i + 1] ?? [];
    const a = cur[0];
    const b = next[0];
    if (a !== undefined && b !== undefined && classOf(a) === 2 && classOf(b) === 1) {
      const moved = cur.pop();
      if (moved !== undefined) next.unshift(moved);
    }
  }
  return runs.filter((r) => r.length > 0).map((r) => r.join(''));
}

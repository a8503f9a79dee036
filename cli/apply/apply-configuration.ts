/**
 * The `kubectl.kubernetes.io/last-applied-configuration` bookkeeping of client-side apply, as
 * kubectl's `util.GetModifiedConfiguration` / `GetOriginalConfiguration` do it: the annotation holds
 * the manifest itself (Go-encoded JSON, keys sorted, `"annotations":{}` when it had none, trailing
 * newline), and the next apply diffs against it to find what the user removed.
 */

import { lastAppliedAnnotation } from '../../api/patch/last-applied.js';
import { deleteKey, isJsonObject, jsonClone, type JsonObject } from '../../api/patch/json-value.js';
import { goJson } from '../printers/go-json.js';

/** The manifest with its last-applied annotation set, and the annotation's text. */
export interface ModifiedConfiguration {
  /** What to send on create (and what the patch is computed towards). */
  readonly object: JsonObject;
  readonly annotation: string;
}

/** Adds the last-applied annotation to a copy of `manifest` (`GetModifiedConfiguration(annotate=true)`). */
export function modifiedConfiguration(manifest: JsonObject): ModifiedConfiguration {
  const obj = jsonClone(manifest);
  const meta = isJsonObject(obj['metadata']) ? obj['metadata'] : {};
  obj['metadata'] = meta;
  const annotations = isJsonObject(meta['annotations']) ? meta['annotations'] : {};
  deleteKey(annotations, lastAppliedAnnotation);
  meta['annotations'] = annotations;
  const annotation = `${goJson(obj)}\n`;
  annotations[lastAppliedAnnotation] = annotation;
  return { object: obj, annotation };
}

/**
 * The configuration last applied to a live object, or undefined when it has no (readable)
 * annotation — then nothing counts as removed by the user, as in kubectl.
 */
export function originalConfiguration(live: JsonObject): JsonObject | undefined {
  const meta = live['metadata'];
  const annotations = isJsonObject(meta) ? meta['annotations'] : undefined;
  const text = isJsonObject(annotations) ? annotations[lastAppliedAnnotation] : undefined;
  if (typeof text !== 'string' || text === '') return undefined;
  try {
    const parsed: unknown = JSON.parse(text);
    return isJsonObject(parsed) ? parsed : undefined;
  } catch {
    return undefined;
  }
}

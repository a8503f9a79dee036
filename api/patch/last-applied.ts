/**
 * The interplay of server-side apply with client-side apply's `last-applied-configuration`
 * annotation, as k8s.io/apiserver's field manager does it for the `kubectl` manager: taking over
 * fields kubectl applied client-side without conflicts (`lastAppliedManager`), and keeping the
 * annotation in step with what is applied server-side (`lastAppliedUpdater`) so that a later
 * client-side apply still computes the right patch.
 */

import {
  canonicalJson,
  deleteKey,
  isJsonObject,
  jsonClone,
  metadataOf,
  type JsonObject,
} from './json-value.js';
import { differenceFieldSets, emptyFieldSet, unionFieldSets, type FieldSet } from './fields-v1.js';
import { compareValues, toFieldSet, type NodeType } from './typed-value.js';
import { runPatch } from './result.js';

/** The annotation client-side apply keeps its last applied configuration in. */
export const lastAppliedAnnotation = 'kubectl.kubernetes.io/last-applied-configuration';

/** The field manager for which Kubernetes bridges client-side and server-side apply. */
export const kubectlApplyManager = 'kubectl';

/**
 * Fields `kubectl` may take over from client-side apply without a conflict: those in the
 * last-applied annotation whose live value is still the one it applied (Kubernetes'
 * `lastAppliedManager`, which makes `kubectl apply --server-side` after `kubectl apply` just work).
 */
export function allowedByLastApplied(live: JsonObject, liveBody: JsonObject, root: NodeType): FieldSet {
  const annotations = metadataOf(live)['annotations'];
  const text = isJsonObject(annotations) ? annotations[lastAppliedAnnotation] : undefined;
  if (typeof text !== 'string') return emptyFieldSet();
  let lastApplied: unknown;
  try {
    lastApplied = JSON.parse(text);
  } catch {
    return emptyFieldSet();
  }
  if (!isJsonObject(lastApplied)) return emptyFieldSet();
  const parsed = lastApplied;
  const result = runPatch(() => {
    const drift = compareValues(parsed, liveBody, root);
    return differenceFieldSets(toFieldSet(parsed, root), unionFieldSets(drift.modified, drift.removed));
  });
  return result.ok ? result.value : emptyFieldSet();
}

/** Keeps the client-side-apply annotation in step with what `kubectl` applies server-side. */
export function syncLastApplied(merged: JsonObject, config: JsonObject): void {
  const annotations = metadataOf(merged)['annotations'];
  if (!isJsonObject(annotations) || typeof annotations[lastAppliedAnnotation] !== 'string') return;
  const copy = jsonClone(config);
  const configAnnotations = metadataOf(copy)['annotations'];
  if (isJsonObject(configAnnotations)) deleteKey(configAnnotations, lastAppliedAnnotation);
  annotations[lastAppliedAnnotation] = canonicalJson(copy);
}

/**
 * How kubectl relates a Deployment to its ReplicaSets (k8s.io/kubectl/pkg/util/deployment): the
 * ReplicaSets it controls (owner reference with its UID and `controller: true`), which of them is the
 * "new" one (the oldest whose pod template equals the Deployment's, ignoring `pod-template-hash`),
 * and each one's `deployment.kubernetes.io/revision`. `describe deployment`, `rollout history` and
 * `rollout undo` read from here.
 */

import {
  deleteKey,
  isJsonObject,
  jsonClone,
  jsonEqual,
  type JsonObject,
} from '../../api/patch/json-value.js';
import { parseTimestamp } from '../../api/table/human-duration.js';
import { arr, at, str } from '../../api/table/json.js';

/** The annotation the deployment controller numbers ReplicaSets with. */
export const revisionAnnotation = 'deployment.kubernetes.io/revision';
/** The annotation `rollout history` shows as CHANGE-CAUSE. */
export const changeCauseAnnotation = 'kubernetes.io/change-cause';
/** The label the deployment controller adds to each ReplicaSet's template. */
export const podTemplateHashLabel = 'pod-template-hash';

/** A Deployment's ReplicaSets, split as kubectl splits them. */
export interface DeploymentReplicaSets {
  readonly newRS: JsonObject | undefined;
  /** Every other controlled ReplicaSet, oldest first. */
  readonly oldRSs: JsonObject[];
  /** All controlled ReplicaSets, oldest first. */
  readonly all: JsonObject[];
}

/** True when `obj`'s controller owner reference points at `owner` (by UID). */
export function isControlledBy(obj: unknown, owner: unknown): boolean {
  const uid = str(at(owner, 'metadata', 'uid'));
  return arr(at(obj, 'metadata', 'ownerReferences')).some(
    (ref) => at(ref, 'controller') === true && uid !== undefined && at(ref, 'uid') === uid,
  );
}

/** A pod template without the `pod-template-hash` label, for comparison and for rolling back to. */
export function templateWithoutHash(template: unknown): JsonObject {
  const copy = isJsonObject(template) ? jsonClone(template) : {};
  const labels = at(copy, 'metadata', 'labels');
  if (isJsonObject(labels)) deleteKey(labels, podTemplateHashLabel);
  return copy;
}

/** Sorts by creation time, then name (`ReplicaSetsByCreationTimestamp`). */
function byCreation(a: JsonObject, b: JsonObject): number {
  const ta = parseTimestamp(at(a, 'metadata', 'creationTimestamp')) ?? 0;
  const tb = parseTimestamp(at(b, 'metadata', 'creationTimestamp')) ?? 0;
  if (ta !== tb) return ta - tb;
  const na = str(at(a, 'metadata', 'name')) ?? '';
  const nb = str(at(b, 'metadata', 'name')) ?? '';
  return na < nb ? -1 : na > nb ? 1 : 0;
}

/** Splits `replicaSets` (any list; foreign ones are ignored) into the deployment's new and old ones. */
export function deploymentReplicaSets(
  deployment: JsonObject,
  replicaSets: readonly JsonObject[],
): DeploymentReplicaSets {
  const all = replicaSets.filter((rs) => isControlledBy(rs, deployment)).sort(byCreation);
  const wanted = templateWithoutHash(at(deployment, 'spec', 'template'));
  const newRS = all.find((rs) => jsonEqual(templateWithoutHash(at(rs, 'spec', 'template')), wanted));
  return { newRS, oldRSs: all.filter((rs) => rs !== newRS), all };
}

/** A ReplicaSet's revision number, or undefined when it has none (it is then not history). */
export function revisionOf(rs: unknown): number | undefined {
  const text = str(at(rs, 'metadata', 'annotations', revisionAnnotation));
  if (text === undefined || !/^\d+$/.test(text)) return undefined;
  return Number(text);
}

/**
 * A ReplicaSet's status from the pods it controls (pkg/controller/replicaset/replica_set_utils.go
 * calculateStatus): `replicas` (active pods), `fullyLabeledReplicas` (pods carrying every template
 * label), `readyReplicas`, `availableReplicas` (ready for more than `minReadySeconds`),
 * `observedGeneration`, and a `ReplicaFailure` condition while creating or deleting pods fails.
 * Zero counts are left out as Kubernetes' `omitempty` leaves them out (except `replicas`).
 */
import { errorMessage } from '../../lib/errors.js';
import { isPodAvailable, isPodReady } from './pod-readiness.js';
import type { Condition, Pod, ReplicaSet, ReplicaSetStatus } from './workload-objects.js';
import { rfc3339, specReplicas } from './workload-objects.js';

/** The condition type a ReplicaSet reports pod create/delete failures with. */
export const REPLICA_FAILURE = 'ReplicaFailure';

/**
 * The status `rs` should have given its claimed active `pods`, the error of this pass's create or
 * delete burst (if any) and the current time.
 */
export function replicaSetStatus(
  rs: ReplicaSet,
  pods: readonly Pod[],
  manageError: unknown,
  nowMs: number,
): ReplicaSetStatus {
  const templateLabels = Object.entries(rs.spec.template?.metadata?.labels ?? {});
  const minReadySeconds = rs.spec.minReadySeconds ?? 0;
  let fullyLabeled = 0;
  let ready = 0;
  let available = 0;
  for (const pod of pods) {
    const labels = pod.metadata.labels ?? {};
    if (templateLabels.every(([k, v]) => labels[k] === v)) fullyLabeled++;
    if (isPodReady(pod)) {
      ready++;
      if (isPodAvailable(pod, minReadySeconds, nowMs)) available++;
    }
  }
  let conditions: Condition[] = [...(rs.status?.conditions ?? [])];
  const failing = conditions.some((c) => c.type === REPLICA_FAILURE);
  if (manageError !== undefined && !failing) {
    const diff = pods.length - specReplicas(rs);
    conditions.push({
      type: REPLICA_FAILURE,
      status: 'True',
      reason: diff < 0 ? 'FailedCreate' : diff > 0 ? 'FailedDelete' : '',
      message: errorMessage(manageError),
      lastTransitionTime: rfc3339(nowMs),
    });
  } else if (manageError === undefined && failing) {
    conditions = conditions.filter((c) => c.type !== REPLICA_FAILURE);
  }
  const status: ReplicaSetStatus = { replicas: pods.length };
  if (fullyLabeled > 0) status.fullyLabeledReplicas = fullyLabeled;
  if (ready > 0) status.readyReplicas = ready;
  if (available > 0) status.availableReplicas = available;
  const generation = rs.metadata.generation ?? 0;
  if (generation > 0) status.observedGeneration = generation;
  if (conditions.length > 0) status.conditions = conditions;
  return status;
}

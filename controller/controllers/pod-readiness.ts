/**
 * Pod facts the workload controllers decide on (k8s.io/kubernetes/pkg/api/v1/pod and
 * pkg/controller's FilterActivePods): whether a pod still counts (active), is ready, and is
 * available — ready for at least `minReadySeconds`, judged from the Ready condition's
 * `lastTransitionTime` against the injected clock's `now`.
 */
import type { Pod } from './workload-objects.js';
import { parseTimestamp } from './workload-objects.js';

/** Not finished (phase Succeeded/Failed) and not being deleted: a pod a ReplicaSet counts. */
export function isPodActive(pod: Pod): boolean {
  const phase = pod.status?.phase;
  return phase !== 'Succeeded' && phase !== 'Failed' && pod.metadata.deletionTimestamp === undefined;
}

/** The pod's Ready condition is True. */
export function isPodReady(pod: Pod): boolean {
  return readyCondition(pod)?.status === 'True';
}

/** When a ready pod became ready (ms), or undefined if it is not ready or the time is unknown. */
export function podReadySince(pod: Pod): number | undefined {
  const c = readyCondition(pod);
  return c?.status === 'True' ? parseTimestamp(c.lastTransitionTime) : undefined;
}

/**
 * Ready, and (when `minReadySeconds` > 0) ready since strictly more than `minReadySeconds` before
 * `nowMs` — podutil.IsPodAvailable. A ready pod without a transition time is not yet available.
 */
export function isPodAvailable(pod: Pod, minReadySeconds: number, nowMs: number): boolean {
  if (!isPodReady(pod)) return false;
  if (minReadySeconds <= 0) return true;
  const since = podReadySince(pod);
  return since !== undefined && since + minReadySeconds * 1000 < nowMs;
}

/**
 * Milliseconds until a ready-but-not-yet-available pod becomes available, or undefined for a pod
 * that is not ready or already available (the requeue delay of a ReplicaSet with minReadySeconds).
 */
export function msUntilAvailable(pod: Pod, minReadySeconds: number, nowMs: number): number | undefined {
  if (minReadySeconds <= 0 || !isPodReady(pod) || isPodAvailable(pod, minReadySeconds, nowMs)) {
    return undefined;
  }
  const since = podReadySince(pod);
  // Unknown transition time: look again after a full period.
  if (since === undefined) return minReadySeconds * 1000;
  return Math.max(1, since + minReadySeconds * 1000 - nowMs + 1);
}

function readyCondition(pod: Pod): { status?: string; lastTransitionTime?: string } | undefined {
  return pod.status?.conditions?.find((c) => c.type === 'Ready');
}

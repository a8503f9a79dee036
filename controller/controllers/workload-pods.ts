/**
 * Reading and marking pods the way the DaemonSet, Job, node-lifecycle and pod-GC controllers need to
 * (k8s.io/kubernetes/pkg/api/v1/pod helpers): phase, activity, readiness and availability, conditions,
 * tolerations, and the node a pod is bound — or, for an unbound DaemonSet pod, pinned — to. Pure
 * functions over the stored JSON; `setPodCondition` mutates its argument (an `updateObject` change).
 */
import type { StoredObject } from '../../api/object.js';
import { parseTime, timestamp, type Toleration } from './node-health.js';

/** core/v1 PodCondition as stored. */
export interface PodCondition {
  type: string;
  status: string;
  reason?: string;
  message?: string;
  lastProbeTime?: string | null;
  lastTransitionTime?: string;
  [field: string]: unknown;
}

interface PodSpecView {
  nodeName?: string;
  tolerations?: Toleration[];
  restartPolicy?: string;
  affinity?: {
    nodeAffinity?: {
      requiredDuringSchedulingIgnoredDuringExecution?: {
        nodeSelectorTerms?: { matchFields?: { key: string; operator: string; values?: string[] }[] }[];
      };
    };
  };
}

interface PodStatusView {
  phase?: string;
  conditions?: PodCondition[];
  containerStatuses?: { restartCount?: number }[];
  initContainerStatuses?: { restartCount?: number }[];
}

function specOf(pod: StoredObject): PodSpecView {
  return pod.spec ?? {};
}

function statusOf(pod: StoredObject): PodStatusView {
  return pod.status ?? {};
}

/** `status.phase`, Pending when missing. */
export function podPhase(pod: StoredObject): string {
  return statusOf(pod).phase ?? 'Pending';
}

/** Succeeded or Failed: the pod will not run again. */
export function isPodTerminal(pod: StoredObject): boolean {
  const phase = podPhase(pod);
  return phase === 'Succeeded' || phase === 'Failed';
}

/** Not terminal and not being deleted (controller.IsPodActive). */
export function isPodActive(pod: StoredObject): boolean {
  return !isPodTerminal(pod) && pod.metadata.deletionTimestamp === undefined;
}

/** The pod condition of `type`, if any. */
export function podCondition(pod: StoredObject, type: string): PodCondition | undefined {
  const conditions = statusOf(pod).conditions;
  return Array.isArray(conditions) ? conditions.find((c) => c.type === type) : undefined;
}

/** The Ready condition is True. */
export function isPodReady(pod: StoredObject): boolean {
  return podCondition(pod, 'Ready')?.status === 'True';
}

/** Ready for at least `minReadySeconds` at `nowMs` (podutil.IsPodAvailable). */
export function isPodAvailable(pod: StoredObject, minReadySeconds: number, nowMs: number): boolean {
  const ready = podCondition(pod, 'Ready');
  if (ready?.status !== 'True') return false;
  if (minReadySeconds <= 0) return true;
  const since = parseTime(ready.lastTransitionTime);
  return since !== undefined && since + minReadySeconds * 1000 <= nowMs;
}

/**
 * Sets (or adds) condition `cond.type`, in place; `lastTransitionTime` moves only when the status
 * changes. Returns whether anything changed.
 */
export function setPodCondition(
  pod: StoredObject,
  cond: { type: string; status: string; reason?: string; message?: string },
  nowMs: number,
): boolean {
  const status = (pod.status ?? {}) as Record<string, unknown>;
  const conditions = Array.isArray(status['conditions']) ? [...(status['conditions'] as PodCondition[])] : [];
  const i = conditions.findIndex((c) => c.type === cond.type);
  const prev = conditions[i];
  if (
    prev !== undefined &&
    prev.status === cond.status &&
    prev.reason === cond.reason &&
    prev.message === cond.message
  ) {
    return false;
  }
  const next: PodCondition = {
    ...prev,
    ...cond,
    lastTransitionTime:
      prev !== undefined && prev.status === cond.status && prev.lastTransitionTime !== undefined
        ? prev.lastTransitionTime
        : timestamp(nowMs),
  };
  if (i < 0) conditions.push(next);
  else conditions[i] = next;
  status['conditions'] = conditions;
  pod.status = status;
  return true;
}

/** `spec.tolerations` ([] when missing). */
export function podTolerations(pod: StoredObject): Toleration[] {
  const t = specOf(pod).tolerations;
  return Array.isArray(t) ? t : [];
}

/** `spec.restartPolicy` (Always when missing). */
export function podRestartPolicy(pod: StoredObject): string {
  return specOf(pod).restartPolicy ?? 'Always';
}

/** Container restarts of the pod (containers and init containers). */
export function podRestartCount(pod: StoredObject): number {
  const s = statusOf(pod);
  let n = 0;
  for (const list of [s.containerStatuses, s.initContainerStatuses]) {
    if (!Array.isArray(list)) continue;
    for (const c of list) n += typeof c.restartCount === 'number' ? c.restartCount : 0;
  }
  return n;
}

/** `spec.nodeName`, or undefined for an unbound pod. */
export function boundNodeName(pod: StoredObject): string | undefined {
  const n = specOf(pod).nodeName;
  return typeof n === 'string' && n !== '' ? n : undefined;
}

/**
 * The node a pod is for: its `spec.nodeName`, or else the single node its required node affinity
 * pins with `matchFields metadata.name In [node]` (how DaemonSet pods wait for the scheduler;
 * util.GetTargetNodeName).
 */
export function targetNodeName(pod: StoredObject): string | undefined {
  const bound = boundNodeName(pod);
  if (bound !== undefined) return bound;
  const terms =
    specOf(pod).affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution?.nodeSelectorTerms;
  if (!Array.isArray(terms) || terms.length === 0) return undefined;
  let target: string | undefined;
  for (const term of terms) {
    const field = term.matchFields?.find((f) => f.key === 'metadata.name' && f.operator === 'In');
    const value = field?.values?.length === 1 ? field.values[0] : undefined;
    if (value === undefined || (target !== undefined && target !== value)) return undefined;
    target = value;
  }
  return target;
}

/** creationTimestamp in ms (0 when missing). */
export function creationMs(obj: StoredObject): number {
  return parseTime(obj.metadata.creationTimestamp) ?? 0;
}

/** `namespace/name` of an object, for logs and events. */
export function describeObject(obj: StoredObject): string {
  const m = obj.metadata;
  return m.namespace === undefined ? (m.name ?? '') : `${m.namespace}/${m.name ?? ''}`;
}

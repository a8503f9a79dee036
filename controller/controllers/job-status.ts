/**
 * The batch/v1 Job as the Job controller reads and writes it: spec fields with their defaults, the
 * conditions (`SuccessCriteriaMet`/`FailureTarget` first, then `Complete`/`Failed` once no pod is
 * left terminating, as Kubernetes 1.31+ does), `uncountedTerminatedPods`, and the `completedIndexes`
 * interval notation of Indexed Jobs (`"0,2-4"`). Pure functions over stored JSON.
 */
import type { StoredObject } from '../../api/object.js';
import { timestamp } from './node-health.js';

/** On every Job pod until the controller has counted it (so counts survive the pod's deletion). */
export const jobTrackingFinalizer = 'batch.kubernetes.io/job-tracking';
/** Annotation (and label) with an Indexed Job pod's completion index. */
export const completionIndexKey = 'batch.kubernetes.io/job-completion-index';

/** The Job spec fields the controller reads, defaulted. */
export interface JobSpecView {
  readonly parallelism: number;
  /** undefined: the Job is done when any pod succeeds and the rest have finished. */
  readonly completions: number | undefined;
  readonly backoffLimit: number;
  readonly activeDeadlineSeconds: number | undefined;
  readonly ttlSecondsAfterFinished: number | undefined;
  readonly suspend: boolean;
  readonly indexed: boolean;
  /** `podReplacementPolicy: Failed` (or a podFailurePolicy): terminating pods are not yet failures. */
  readonly onlyReplaceFailed: boolean;
  readonly restartPolicy: string;
}

function num(v: unknown): number | undefined {
  return typeof v === 'number' && Number.isFinite(v) ? v : undefined;
}

/** Reads `job.spec` (defaults as Kubernetes applies them when a field is missing). */
export function jobSpec(job: StoredObject): JobSpecView {
  const s = (job.spec ?? {}) as Record<string, unknown>;
  const template = (s['template'] ?? {}) as { spec?: { restartPolicy?: unknown } };
  return {
    parallelism: num(s['parallelism']) ?? 1,
    completions: num(s['completions']),
    backoffLimit: num(s['backoffLimit']) ?? 6,
    activeDeadlineSeconds: num(s['activeDeadlineSeconds']),
    ttlSecondsAfterFinished: num(s['ttlSecondsAfterFinished']),
    suspend: s['suspend'] === true,
    indexed: s['completionMode'] === 'Indexed',
    onlyReplaceFailed: s['podReplacementPolicy'] === 'Failed' || s['podFailurePolicy'] != null,
    restartPolicy: typeof template.spec?.restartPolicy === 'string' ? template.spec.restartPolicy : 'Never',
  };
}

/** batch/v1 JobCondition as stored. */
export interface JobCondition {
  type: string;
  status: string;
  reason?: string;
  message?: string;
  lastProbeTime?: string;
  lastTransitionTime?: string;
}

/** `status.conditions` ([] when missing). */
export function jobConditions(status: Record<string, unknown> | undefined): JobCondition[] {
  const c = status?.['conditions'];
  return Array.isArray(c) ? (c as JobCondition[]) : [];
}

/** Whether condition `type` is True. */
export function hasCondition(status: Record<string, unknown> | undefined, type: string): boolean {
  return jobConditions(status).some((c) => c.type === type && c.status === 'True');
}

/** The Job's terminal condition type, if it has finished. */
export function finishedAs(job: StoredObject): 'Complete' | 'Failed' | undefined {
  const status = job.status as Record<string, unknown> | undefined;
  if (hasCondition(status, 'Complete')) return 'Complete';
  if (hasCondition(status, 'Failed')) return 'Failed';
  return undefined;
}

/**
 * `conditions` with `type` set to `status` (added if missing; reason, message and the times updated
 * only when something changes). Returns the new list and whether it changed. Setting a condition the
 * Job does not have to False adds nothing (ensureJobConditionStatus).
 */
export function withCondition(
  conditions: readonly JobCondition[],
  cond: { type: string; status: string; reason: string; message: string },
  nowMs: number,
): { conditions: JobCondition[]; changed: boolean } {
  const i = conditions.findIndex((c) => c.type === cond.type);
  const prev = conditions[i];
  if (prev === undefined) {
    if (cond.status === 'False') return { conditions: [...conditions], changed: false };
    const at = timestamp(nowMs);
    return {
      conditions: [...conditions, { ...cond, lastProbeTime: at, lastTransitionTime: at }],
      changed: true,
    };
  }
  if (prev.status === cond.status && prev.reason === cond.reason && prev.message === cond.message) {
    return { conditions: [...conditions], changed: false };
  }
  const at = timestamp(nowMs);
  const next: JobCondition = {
    ...prev,
    ...cond,
    lastProbeTime: at,
    lastTransitionTime: prev.status === cond.status ? (prev.lastTransitionTime ?? at) : at,
  };
  const out = [...conditions];
  out[i] = next;
  return { conditions: out, changed: true };
}

/** `status.uncountedTerminatedPods` as sets of uids. */
export function uncountedOf(status: Record<string, unknown> | undefined): {
  succeeded: Set<string>;
  failed: Set<string>;
} {
  const u = (status?.['uncountedTerminatedPods'] ?? {}) as { succeeded?: unknown; failed?: unknown };
  const list = (v: unknown): string[] => (Array.isArray(v) ? v.filter((x) => typeof x === 'string') : []);
  return { succeeded: new Set(list(u.succeeded)), failed: new Set(list(u.failed)) };
}

/** Writes the sets back (the field is dropped when both are empty, as Kubernetes' omitempty does). */
export function setUncounted(
  status: Record<string, unknown>,
  u: { succeeded: ReadonlySet<string>; failed: ReadonlySet<string> },
): void {
  if (u.succeeded.size === 0 && u.failed.size === 0) {
    delete status['uncountedTerminatedPods'];
    return;
  }
  status['uncountedTerminatedPods'] = {
    ...(u.succeeded.size === 0 ? {} : { succeeded: [...u.succeeded] }),
    ...(u.failed.size === 0 ? {} : { failed: [...u.failed] }),
  };
}

/** The completion index of an Indexed Job's pod, or undefined. */
export function completionIndexOf(pod: StoredObject): number | undefined {
  const v = pod.metadata.annotations?.[completionIndexKey] ?? pod.metadata.labels?.[completionIndexKey];
  if (v === undefined || !/^\d+$/.test(v)) return undefined;
  return Number(v);
}

/** Parses `"0,2-4"` into indexes below `completions`. */
export function parseIndexes(text: unknown, completions: number): Set<number> {
  const out = new Set<number>();
  if (typeof text !== 'string' || text === '') return out;
  for (const part of text.split(',')) {
    const m = /^(\d+)(?:-(\d+))?$/.exec(part.trim());
    if (m === null) continue;
    const from = Number(m[1]);
    const to = m[2] === undefined ? from : Number(m[2]);
    for (let i = from; i <= to && i < completions; i++) out.add(i);
  }
  return out;
}

/** Formats indexes in Kubernetes' interval notation (`"0,2-4"`). */
export function formatIndexes(indexes: ReadonlySet<number>): string {
  const sorted = [...indexes].sort((a, b) => a - b);
  const parts: string[] = [];
  for (let i = 0; i < sorted.length;) {
    const start = sorted[i] as number;
    let end = start;
    while (i + 1 < sorted.length && sorted[i + 1] === end + 1) end = sorted[++i] as number;
    parts.push(start === end ? String(start) : `${start}-${end}`);
    i++;
  }
  return parts.join(',');
}

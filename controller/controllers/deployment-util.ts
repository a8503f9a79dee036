/**
 * The arithmetic and bookkeeping of Deployments (pkg/controller/deployment/util/deployment_util.go),
 * as pure functions over cached objects: maxSurge / maxUnavailable resolution (surge rounds up,
 * unavailable rounds down, both zero → one unavailable), revision and replica annotations on
 * ReplicaSets, which ReplicaSet is "new" (same template, hash label ignored) and which are "old",
 * how far the new one may grow, proportional scaling, and the conditions and their reasons that
 * `kubectl rollout status` and `describe` read.
 */
import type { Clock } from '../../lib/clock.js';
import { templatesEqualIgnoringHash } from './pod-template-hash.js';
import type {
  Condition,
  ConditionStatus,
  Deployment,
  DeploymentStatus,
  IntOrString,
  ReplicaSet,
} from './workload-objects.js';
import { parseTimestamp, rfc3339, specReplicas } from './workload-objects.js';

export const REVISION_ANNOTATION = 'deployment.kubernetes.io/revision';
export const REVISION_HISTORY_ANNOTATION = 'deployment.kubernetes.io/revision-history';
export const DESIRED_REPLICAS_ANNOTATION = 'deployment.kubernetes.io/desired-replicas';
export const MAX_REPLICAS_ANNOTATION = 'deployment.kubernetes.io/max-replicas';
const LAST_APPLIED_ANNOTATION = 'kubectl.kubernetes.io/last-applied-configuration';
const DEPRECATED_ROLLBACK_TO = 'deprecated.deployment.rollback.to';

/** Deployment annotations never copied to its ReplicaSets (annotationsToSkip). */
export const ANNOTATIONS_NOT_COPIED: ReadonlySet<string> = new Set([
  LAST_APPLIED_ANNOTATION,
  REVISION_ANNOTATION,
  REVISION_HISTORY_ANNOTATION,
  DESIRED_REPLICAS_ANNOTATION,
  MAX_REPLICAS_ANNOTATION,
  DEPRECATED_ROLLBACK_TO,
]);

/** The Progressing and Available condition reasons Kubernetes uses. */
export const reasons = {
  replicaSetUpdated: 'ReplicaSetUpdated',
  failedRSCreate: 'ReplicaSetCreateError',
  newReplicaSet: 'NewReplicaSetCreated',
  foundNewRS: 'FoundNewReplicaSet',
  newRSAvailable: 'NewReplicaSetAvailable',
  timedOut: 'ProgressDeadlineExceeded',
  paused: 'DeploymentPaused',
  resumed: 'DeploymentResumed',
  minimumReplicasAvailable: 'MinimumReplicasAvailable',
  minimumReplicasUnavailable: 'MinimumReplicasUnavailable',
} as const;

/** Go's math.MaxInt32: the "no limit" value of progressDeadlineSeconds and revisionHistoryLimit. */
const MAX_INT32 = 2147483647;
/** Longest revision-history annotation kept (maxRevHistoryLengthInChars). */
export const MAX_REVISION_HISTORY_CHARS = 2000;

// ── surge and unavailability ───────────────────────────────────────────────────────────────────

/**
 * intstr.GetScaledValueFromIntOrPercent: an int as is, `"N%"` of `total` rounded up or down. A value
 * of another form (which validation rejects) counts as 0.
 */
export function scaledValue(value: IntOrString | undefined, total: number, roundUp: boolean): number {
  if (value === undefined) return 0;
  if (typeof value === 'number') return value;
  const m = /^(-?\d+)%$/.exec(value.trim());
  if (m === null) return 0;
  const scaled = (Number(m[1]) * total) / 100;
  return roundUp ? Math.ceil(scaled) : Math.floor(scaled);
}

export function isRollingUpdate(d: Deployment): boolean {
  return (d.spec.strategy?.type ?? 'RollingUpdate') === 'RollingUpdate';
}

/** ResolveFenceposts: surge rounded up, unavailable down; if both are 0, unavailable becomes 1. */
export function resolveFenceposts(d: Deployment): { surge: number; unavailable: number } {
  const ru = d.spec.strategy?.rollingUpdate;
  const desired = specReplicas(d);
  const surge = scaledValue(ru?.maxSurge, desired, true);
  let unavailable = scaledValue(ru?.maxUnavailable, desired, false);
  if (surge === 0 && unavailable === 0) unavailable = 1;
  return { surge, unavailable };
}

/** Pods a rolling deployment may run above `spec.replicas` (0 for Recreate). */
export function maxSurge(d: Deployment): number {
  return isRollingUpdate(d) ? resolveFenceposts(d).surge : 0;
}

/** Pods a rolling deployment may have unavailable, at most `spec.replicas` (0 for Recreate or 0 replicas). */
export function maxUnavailable(d: Deployment): number {
  const replicas = specReplicas(d);
  if (!isRollingUpdate(d) || replicas === 0) return 0;
  return Math.min(resolveFenceposts(d).unavailable, replicas);
}

// ── ReplicaSet groups ──────────────────────────────────────────────────────────────────────────

/** Oldest first by creationTimestamp, then by name (controller.ReplicaSetsByCreationTimestamp). */
export function byCreation(a: ReplicaSet, b: ReplicaSet): number {
  const ta = parseTimestamp(a.metadata.creationTimestamp) ?? 0;
  const tb = parseTimestamp(b.metadata.creationTimestamp) ?? 0;
  if (ta !== tb) return ta - tb;
  return (a.metadata.name ?? '') < (b.metadata.name ?? '') ? -1 : 1;
}

/** Lowest revision first, then oldest (ReplicaSetsByRevision). */
export function byRevision(a: ReplicaSet, b: ReplicaSet): number {
  const ra = revisionOf(a) ?? 0;
  const rb = revisionOf(b) ?? 0;
  return ra !== rb ? ra - rb : byCreation(a, b);
}

/** ReplicaSets with `spec.replicas` > 0 (FilterActiveReplicaSets). */
export function activeReplicaSets(list: readonly (ReplicaSet | undefined)[]): ReplicaSet[] {
  return list.filter((rs): rs is ReplicaSet => rs !== undefined && specReplicas(rs) > 0);
}

/** The deployment's new ReplicaSet: the oldest one whose template equals the deployment's. */
export function findNewReplicaSet(d: Deployment, list: readonly ReplicaSet[]): ReplicaSet | undefined {
  return [...list]
    .sort(byCreation)
    .find((rs) => templatesEqualIgnoringHash(rs.spec.template, d.spec.template));
}

/** Every ReplicaSet of the deployment except the new one. */
export function findOldReplicaSets(d: Deployment, list: readonly ReplicaSet[]): ReplicaSet[] {
  const newRS = findNewReplicaSet(d, list);
  return list.filter((rs) => rs.metadata.uid !== newRS?.metadata.uid);
}

/** Sum of `spec.replicas`. */
export function sumReplicas(list: readonly (ReplicaSet | undefined)[]): number {
  return list.reduce((n, rs) => n + (rs === undefined ? 0 : specReplicas(rs)), 0);
}

/** Sum of a status count. */
export function sumStatus(
  list: readonly (ReplicaSet | undefined)[],
  field: 'replicas' | 'readyReplicas' | 'availableReplicas',
): number {
  return list.reduce((n, rs) => n + (rs?.status?.[field] ?? 0), 0);
}

/**
 * Pods the ReplicaSets have or are about to have: per ReplicaSet the larger of `spec.replicas` and
 * `status.replicas`. Kubernetes counts `spec.replicas` only; counting pods that a scale-down has not
 * removed yet keeps a rollout from surging past `replicas + maxSurge` while they are still running.
 */
export function podsInFlight(list: readonly (ReplicaSet | undefined)[]): number {
  return list.reduce(
    (n, rs) => n + (rs === undefined ? 0 : Math.max(specReplicas(rs), rs.status?.replicas ?? 0)),
    0,
  );
}

/**
 * Available pods that will remain: per ReplicaSet `min(status.availableReplicas, spec.replicas)`.
 * A ReplicaSet being scaled down deletes unavailable pods first, so after it catches up it keeps at
 * most that many; Kubernetes reads the (possibly stale) status count alone.
 */
export function availableAfterScaling(list: readonly (ReplicaSet | undefined)[]): number {
  return list.reduce(
    (n, rs) => n + (rs === undefined ? 0 : Math.min(rs.status?.availableReplicas ?? 0, specReplicas(rs))),
    0,
  );
}

/**
 * NewRSNewReplicas: the size the new ReplicaSet may have now — for RollingUpdate as many as fit under
 * `replicas + maxSurge` (without exceeding `replicas`), for Recreate `replicas`.
 */
export function newReplicaSetReplicas(d: Deployment, all: readonly ReplicaSet[], newRS: ReplicaSet): number {
  const replicas = specReplicas(d);
  if (!isRollingUpdate(d)) return replicas;
  const current = podsInFlight(all);
  const maxTotal = replicas + maxSurge(d);
  if (current >= maxTotal) return specReplicas(newRS);
  const up = Math.min(maxTotal - current, replicas - specReplicas(newRS));
  return specReplicas(newRS) + Math.max(0, up);
}

/** IsSaturated: the new ReplicaSet has, wants and makes available all of the deployment's replicas. */
export function isSaturated(d: Deployment, rs: ReplicaSet | undefined): boolean {
  if (rs === undefined) return false;
  const desired = intAnnotation(rs, DESIRED_REPLICAS_ANNOTATION);
  const replicas = specReplicas(d);
  return (
    specReplicas(rs) === replicas && desired === replicas && (rs.status?.availableReplicas ?? 0) === replicas
  );
}

/**
 * FindActiveOrLatest: the only ReplicaSet with replicas > 0, or the newest one when none has any;
 * undefined when several are active (they are then scaled proportionally).
 */
export function activeOrLatest(
  newRS: ReplicaSet | undefined,
  old: readonly ReplicaSet[],
): ReplicaSet | undefined {
  if (newRS === undefined && old.length === 0) return undefined;
  const sorted = [...old].sort(byCreation).reverse();
  const active = activeReplicaSets([...sorted, newRS]);
  if (active.length === 1) return active[0];
  if (active.length === 0) return newRS ?? sorted[0];
  return undefined;
}

/**
 * GetProportion: how many of `toAdd` (negative to remove) replicas `rs` takes when a deployment is
 * resized mid-rollout, by its share of the `max-replicas` it was sized for, bounded by what is left.
 */
export function proportionFor(rs: ReplicaSet, d: Deployment, toAdd: number, added: number): number {
  if (specReplicas(rs) === 0 || toAdd === 0 || toAdd === added) return 0;
  const fraction = replicaSetFraction(rs, d);
  const allowed = toAdd - added;
  return toAdd > 0 ? Math.min(fraction, allowed) : Math.max(fraction, allowed);
}

function replicaSetFraction(rs: ReplicaSet, d: Deployment): number {
  const replicas = specReplicas(d);
  if (replicas === 0) return -specReplicas(rs);
  const deploymentReplicas = replicas + maxSurge(d);
  const annotated = intAnnotation(rs, MAX_REPLICAS_ANNOTATION) ?? d.status?.replicas ?? 0;
  if (annotated === 0) return 0;
  // Go's math.Round: halves away from zero.
  const size = (specReplicas(rs) * deploymentReplicas) / annotated;
  return Math.sign(size) * Math.round(Math.abs(size)) - specReplicas(rs);
}

// ── annotations ────────────────────────────────────────────────────────────────────────────────

/** The `deployment.kubernetes.io/revision` of an object (0 when absent), undefined when unparsable. */
export function revisionOf(obj: { metadata: { annotations?: Record<string, string> } }): number | undefined {
  const v = obj.metadata.annotations?.[REVISION_ANNOTATION];
  if (v === undefined) return 0;
  return /^\d+$/.test(v) ? Number(v) : undefined;
}

/** The highest revision among `list` (MaxRevision). */
export function maxRevision(list: readonly ReplicaSet[]): number {
  return list.reduce((max, rs) => Math.max(max, revisionOf(rs) ?? 0), 0);
}

/** An integer annotation of `rs`, or undefined. */
export function intAnnotation(rs: ReplicaSet, key: string): number | undefined {
  const v = rs.metadata.annotations?.[key];
  return v !== undefined && /^-?\d+$/.test(v) ? Number(v) : undefined;
}

/** Sets desired-replicas and max-replicas on `rs` (mutated); returns whether anything changed. */
export function setReplicasAnnotations(rs: ReplicaSet, desired: number, max: number): boolean {
  const a = (rs.metadata.annotations ??= {});
  let changed = false;
  for (const [k, v] of [
    [DESIRED_REPLICAS_ANNOTATION, String(desired)],
    [MAX_REPLICAS_ANNOTATION, String(max)],
  ] as const) {
    if (a[k] !== v) {
      a[k] = v;
      changed = true;
    }
  }
  return changed;
}

/** Whether `rs` lacks the replica annotations `d` would give it now. */
export function replicasAnnotationsNeedUpdate(rs: ReplicaSet, d: Deployment): boolean {
  const a = rs.metadata.annotations ?? {};
  return (
    a[DESIRED_REPLICAS_ANNOTATION] !== String(specReplicas(d)) ||
    a[MAX_REPLICAS_ANNOTATION] !== String(specReplicas(d) + maxSurge(d))
  );
}

/**
 * SetNewReplicaSetAnnotations on `rs` (mutated): copies the deployment's annotations (except the
 * skipped ones), raises the revision to `newRevision` — keeping the one it replaces in
 * `revision-history` (a rollback to this ReplicaSet) — and, for a ReplicaSet about to be created,
 * adds the replica annotations. Returns whether anything changed.
 */
export function setNewReplicaSetAnnotations(
  d: Deployment,
  rs: ReplicaSet,
  newRevision: number,
  exists: boolean,
): boolean {
  const a = (rs.metadata.annotations ??= {});
  let changed = false;
  for (const [k, v] of Object.entries(d.metadata.annotations ?? {})) {
    if (ANNOTATIONS_NOT_COPIED.has(k) || a[k] === v) continue;
    a[k] = v;
    changed = true;
  }
  const oldRaw = a[REVISION_ANNOTATION];
  const old = oldRaw === undefined ? 0 : /^\d+$/.test(oldRaw) ? Number(oldRaw) : undefined;
  if (old === undefined) return changed; // Kubernetes gives up on an unparsable revision too
  if (old < newRevision) {
    a[REVISION_ANNOTATION] = String(newRevision);
    changed = true;
    if (oldRaw !== undefined) {
      const history = a[REVISION_HISTORY_ANNOTATION] ?? '';
      let parts = history === '' ? [] : history.split(',');
      parts.push(oldRaw);
      while (parts.join(',').length > MAX_REVISION_HISTORY_CHARS && parts.length > 1) parts = parts.slice(1);
      a[REVISION_HISTORY_ANNOTATION] = parts.join(',');
    }
  }
  if (!exists && setReplicasAnnotations(rs, specReplicas(d), specReplicas(d) + maxSurge(d))) changed = true;
  return changed;
}

// ── conditions ─────────────────────────────────────────────────────────────────────────────────

/** A new condition stamped with the clock's time (both update and transition time). */
export function newCondition(
  clock: Clock,
  type: string,
  status: ConditionStatus,
  reason: string,
  message: string,
): Condition {
  const now = rfc3339(clock.now());
  return { type, status, lastUpdateTime: now, lastTransitionTime: now, reason, message };
}

export function getCondition(status: DeploymentStatus | undefined, type: string): Condition | undefined {
  return status?.conditions?.find((c) => c.type === type);
}

/**
 * SetDeploymentCondition on `status` (mutated): no change when one of that type with the same status
 * and reason exists; the transition time is kept when only the reason changes.
 */
export function setCondition(status: DeploymentStatus, condition: Condition): void {
  const current = getCondition(status, condition.type);
  if (current !== undefined && current.status === condition.status && current.reason === condition.reason)
    return;
  const next = { ...condition };
  if (
    current !== undefined &&
    current.status === condition.status &&
    current.lastTransitionTime !== undefined
  ) {
    next.lastTransitionTime = current.lastTransitionTime;
  }
  status.conditions = [...(status.conditions ?? []).filter((c) => c.type !== condition.type), next];
}

export function removeCondition(status: DeploymentStatus, type: string): void {
  const kept = (status.conditions ?? []).filter((c) => c.type !== type);
  if (kept.length === 0) delete status.conditions;
  else status.conditions = kept;
}

export function hasProgressDeadline(d: Deployment): boolean {
  const s = d.spec.progressDeadlineSeconds;
  return s !== undefined && s !== MAX_INT32;
}

export function hasRevisionHistoryLimit(d: Deployment): boolean {
  const l = d.spec.revisionHistoryLimit;
  return l !== undefined && l !== MAX_INT32;
}

/** DeploymentComplete: every replica updated and available, no old ones, generation observed. */
export function deploymentComplete(d: Deployment, s: DeploymentStatus): boolean {
  const replicas = specReplicas(d);
  return (
    (s.updatedReplicas ?? 0) === replicas &&
    (s.replicas ?? 0) === replicas &&
    (s.availableReplicas ?? 0) === replicas &&
    (s.observedGeneration ?? 0) >= (d.metadata.generation ?? 0)
  );
}

/** DeploymentProgressing: more updated, ready or available pods, or fewer old ones, than before. */
export function deploymentProgressing(d: Deployment, next: DeploymentStatus): boolean {
  const old = d.status ?? {};
  const oldOld = (old.replicas ?? 0) - (old.updatedReplicas ?? 0);
  const newOld = (next.replicas ?? 0) - (next.updatedReplicas ?? 0);
  return (
    (next.updatedReplicas ?? 0) > (old.updatedReplicas ?? 0) ||
    newOld < oldOld ||
    (next.readyReplicas ?? 0) > (old.readyReplicas ?? 0) ||
    (next.availableReplicas ?? 0) > (old.availableReplicas ?? 0)
  );
}

/**
 * DeploymentTimedOut: the Progressing condition (not NewReplicaSetAvailable) was last updated more
 * than `progressDeadlineSeconds` ago, or already says ProgressDeadlineExceeded.
 */
export function deploymentTimedOut(d: Deployment, s: DeploymentStatus, nowMs: number): boolean {
  if (!hasProgressDeadline(d)) return false;
  const c = getCondition(s, 'Progressing');
  if (c === undefined || c.reason === reasons.newRSAvailable) return false;
  if (c.reason === reasons.timedOut) return true;
  const from = parseTimestamp(c.lastUpdateTime);
  if (from === undefined) return false;
  return from + (d.spec.progressDeadlineSeconds ?? 0) * 1000 < nowMs;
}

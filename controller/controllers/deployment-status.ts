/**
 * A Deployment's status as its ReplicaSets make it (pkg/controller/deployment sync.go calculateStatus
 * and progress.go), as pure functions of the deployment, its ReplicaSets and the clock:
 *
 * - counts: `replicas`, `updatedReplicas` (the new ReplicaSet's), `readyReplicas`,
 *   `availableReplicas`, `unavailableReplicas` (wanted minus available), `observedGeneration`; zero
 *   counts are left out as Kubernetes' `omitempty` leaves them out;
 * - `Available`: True (MinimumReplicasAvailable) while at least `replicas - maxUnavailable` pods are
 *   available, else False (MinimumReplicasUnavailable);
 * - `Progressing` (only with a progress deadline):
 *
 *       NewReplicaSetCreated / FoundNewReplicaSet ──more pods updated, ready or available──▶ ReplicaSetUpdated
 *            │ (lastUpdateTime refreshed on every bit of progress)                                 │
 *            │ no progress for progressDeadlineSeconds ──▶ ProgressDeadlineExceeded (False)         │
 *            └───────── every replica updated and available ──▶ NewReplicaSetAvailable ◀────────────┘
 *       paused ──▶ DeploymentPaused (Unknown) ──resumed──▶ DeploymentResumed (Unknown)
 *
 * - `ReplicaFailure`: copied from the new ReplicaSet (else an old one) while its pods cannot be made.
 */
import type { Clock } from '../../lib/clock.js';
import {
  deploymentComplete,
  deploymentProgressing,
  deploymentTimedOut,
  getCondition,
  hasProgressDeadline,
  maxUnavailable,
  newCondition,
  reasons,
  removeCondition,
  setCondition,
  sumReplicas,
  sumStatus,
} from './deployment-util.js';
import type { Condition, Deployment, DeploymentStatus, ReplicaSet } from './workload-objects.js';
import { parseTimestamp, specReplicas } from './workload-objects.js';

type ReplicaSets = readonly (ReplicaSet | undefined)[];

/** calculateStatus: counts from the ReplicaSets, the deployment's conditions kept, Available recomputed. */
export function calculateStatus(
  d: Deployment,
  all: ReplicaSets,
  newRS: ReplicaSet | undefined,
  clock: Clock,
): DeploymentStatus {
  const available = sumStatus(all, 'availableReplicas');
  const counts = {
    observedGeneration: d.metadata.generation ?? 0,
    replicas: sumStatus(all, 'replicas'),
    updatedReplicas: sumStatus([newRS], 'replicas'),
    readyReplicas: sumStatus(all, 'readyReplicas'),
    availableReplicas: available,
    unavailableReplicas: Math.max(0, sumReplicas(all) - available),
  };
  const status: DeploymentStatus = {};
  for (const [k, v] of Object.entries(counts) as [keyof typeof counts, number][]) if (v !== 0) status[k] = v;
  if (d.status?.collisionCount !== undefined) status.collisionCount = d.status.collisionCount;
  if (d.status?.conditions !== undefined) status.conditions = d.status.conditions.map((c) => ({ ...c }));
  setCondition(
    status,
    available >= specReplicas(d) - maxUnavailable(d)
      ? newCondition(
          clock,
          'Available',
          'True',
          reasons.minimumReplicasAvailable,
          'Deployment has minimum availability.',
        )
      : newCondition(
          clock,
          'Available',
          'False',
          reasons.minimumReplicasUnavailable,
          'Deployment does not have minimum availability.',
        ),
  );
  return status;
}

/**
 * The status during a rollout (syncRolloutStatus): the calculated status plus the Progressing
 * condition and the ReplicaSets' ReplicaFailure.
 */
export function rolloutStatus(
  d: Deployment,
  all: ReplicaSets,
  newRS: ReplicaSet | undefined,
  clock: Clock,
): DeploymentStatus {
  const next = calculateStatus(d, all, newRS, clock);
  if (!hasProgressDeadline(d)) removeCondition(next, 'Progressing');
  const current = getCondition(d.status, 'Progressing');
  const complete =
    (next.replicas ?? 0) === (next.updatedReplicas ?? 0) && current?.reason === reasons.newRSAvailable;
  const subject =
    newRS === undefined
      ? `Deployment "${d.metadata.name ?? ''}"`
      : `ReplicaSet "${newRS.metadata.name ?? ''}"`;
  if (hasProgressDeadline(d) && !complete) {
    if (deploymentComplete(d, next)) {
      const msg = `${subject} has successfully progressed.`;
      setCondition(next, newCondition(clock, 'Progressing', 'True', reasons.newRSAvailable, msg));
    } else if (deploymentProgressing(d, next)) {
      // Unlike other conditions, progress refreshes lastUpdateTime even when the reason stays.
      const msg = `${subject} is progressing.`;
      const cond = newCondition(clock, 'Progressing', 'True', reasons.replicaSetUpdated, msg);
      if (current !== undefined) {
        if (current.status === 'True' && current.lastTransitionTime !== undefined) {
          cond.lastTransitionTime = current.lastTransitionTime;
        }
        removeCondition(next, 'Progressing');
      }
      setCondition(next, cond);
    } else if (deploymentTimedOut(d, next, clock.now())) {
      const msg = `${subject} has timed out progressing.`;
      setCondition(next, newCondition(clock, 'Progressing', 'False', reasons.timedOut, msg));
    }
  }
  const failure = replicaFailure(all, newRS);
  if (failure !== undefined) setCondition(next, failure);
  else removeCondition(next, 'ReplicaFailure');
  return next;
}

/**
 * requeueStuckDeployment: milliseconds until the progress deadline of a rollout under way falls due
 * (plus a second: timestamps have whole seconds and the comparison is strict), or undefined when
 * there is nothing to watch (no deadline, complete, already timed out).
 */
export function progressCheckDelay(d: Deployment, next: DeploymentStatus, nowMs: number): number | undefined {
  const cond = getCondition(next, 'Progressing');
  if (!hasProgressDeadline(d) || cond === undefined) return undefined;
  if (deploymentComplete(d, next) || cond.reason === reasons.timedOut) return undefined;
  const updated = parseTimestamp(cond.lastUpdateTime);
  if (updated === undefined) return undefined;
  return Math.max(0, updated + (d.spec.progressDeadlineSeconds ?? 0) * 1000 - nowMs) + 1000;
}

/**
 * checkPausedConditions: the Progressing condition to record when a deployment was paused or resumed
 * (Unknown, so that time spent paused never counts against the deadline), or undefined.
 */
export function pausedCondition(d: Deployment, clock: Clock): Condition | undefined {
  if (!hasProgressDeadline(d)) return undefined;
  const cond = getCondition(d.status, 'Progressing');
  if (cond?.reason === reasons.timedOut) return undefined;
  const shown = cond?.reason === reasons.paused;
  const paused = d.spec.paused === true;
  if (paused && !shown) {
    return newCondition(clock, 'Progressing', 'Unknown', reasons.paused, 'Deployment is paused');
  }
  if (!paused && shown) {
    return newCondition(clock, 'Progressing', 'Unknown', reasons.resumed, 'Deployment is resumed');
  }
  return undefined;
}

/** The ReplicaFailure condition to show: the new ReplicaSet's, else the first old one's. */
function replicaFailure(all: ReplicaSets, newRS: ReplicaSet | undefined): Condition | undefined {
  const from = (rs: ReplicaSet | undefined): Condition | undefined =>
    rs?.status?.conditions?.find((c) => c.type === 'ReplicaFailure');
  const c = from(newRS) ?? all.map(from).find((x) => x !== undefined);
  if (c === undefined) return undefined;
  return {
    type: 'ReplicaFailure',
    status: c.status,
    ...(c.lastTransitionTime === undefined
      ? {}
      : { lastTransitionTime: c.lastTransitionTime, lastUpdateTime: c.lastTransitionTime }),
    ...(c.reason === undefined ? {} : { reason: c.reason }),
    ...(c.message === undefined ? {} : { message: c.message }),
  };
}

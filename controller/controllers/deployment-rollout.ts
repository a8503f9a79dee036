/**
 * How a Deployment moves from its old ReplicaSets to the new one (pkg/controller/deployment:
 * deployment_controller.go syncDeployment, rolling.go, recreate.go, sync.go scale). Each call is one
 * level-triggered step; the controller calls again whenever a ReplicaSet or the Deployment changes.
 *
 *   being deleted            → status only
 *   paused                   → proportional scaling and history cleanup only; no new ReplicaSet
 *   scaling event            → proportional scaling (replicas changed while ReplicaSets were sized
 *     (desired-replicas        for another count): each active ReplicaSet gets its share of the
 *      annotation ≠ replicas)  change, by the max-replicas it was sized for
 *   RollingUpdate            → create/grow the new ReplicaSet up to `replicas + maxSurge` pods,
 *                              otherwise shrink old ones — first their unavailable pods, then as far
 *                              as `replicas - maxUnavailable` available pods allow; when complete,
 *                              clean up history
 *   Recreate                 → scale every old ReplicaSet to 0, wait until none of their pods is
 *                              left (terminating ones included), then create the new one at full size
 *
 * Berth is more conservative than Kubernetes in two places (deployment-util.ts): surge counts pods an
 * old ReplicaSet has not yet removed, and availability counts at most `spec.replicas` per
 * ReplicaSet — so a stale ReplicaSet status can neither push the pod count over
 * `replicas + maxSurge` nor availability under `replicas - maxUnavailable`.
 */
import {
  activeOrLatest,
  activeReplicaSets,
  availableAfterScaling,
  byCreation,
  deploymentComplete,
  intAnnotation,
  DESIRED_REPLICAS_ANNOTATION,
  isRollingUpdate,
  isSaturated,
  maxSurge,
  maxUnavailable,
  newReplicaSetReplicas,
  proportionFor,
  sumReplicas,
} from './deployment-util.js';
import type { DeploymentSync } from './deployment-sync.js';
import { isBeingDeleted } from './object-writes.js';
import type { ReplicaSet } from './workload-objects.js';
import { specReplicas } from './workload-objects.js';

/** syncDeployment after the ReplicaSets are claimed: one step of the deployment's rollout. */
export async function syncDeployment(s: DeploymentSync): Promise<void> {
  const d = s.d;
  if (isBeingDeleted(d)) {
    const { newRS, oldRSs } = await s.newAndOld(false);
    await s.syncStatus([...oldRSs, newRS], newRS);
    return;
  }
  await s.checkPausedConditions();
  if (d.spec.paused === true) {
    await syncScaling(s);
    return;
  }
  if (await isScalingEvent(s)) {
    await syncScaling(s);
    return;
  }
  if (isRollingUpdate(d)) await rolloutRolling(s);
  else await rolloutRecreate(s);
}

/** isScalingEvent: some active ReplicaSet was sized for a different `replicas` than the deployment's. */
async function isScalingEvent(s: DeploymentSync): Promise<boolean> {
  const { newRS, oldRSs } = await s.newAndOld(false);
  const replicas = specReplicas(s.d);
  return activeReplicaSets([...oldRSs, newRS]).some((rs) => {
    const desired = intAnnotation(rs, DESIRED_REPLICAS_ANNOTATION);
    return desired !== undefined && desired !== replicas;
  });
}

/** sync: scaling events and paused deployments. */
async function syncScaling(s: DeploymentSync): Promise<void> {
  const { newRS, oldRSs } = await s.newAndOld(false);
  await scaleProportionally(s, newRS, oldRSs);
  if (s.d.spec.paused === true) await s.cleanup(oldRSs);
  const after = await s.newAndOld(false);
  await s.syncStatus([...after.oldRSs, after.newRS], after.newRS);
}

/** scale: resize the active ReplicaSets after `replicas` changed, in proportion to their sizes. */
async function scaleProportionally(
  s: DeploymentSync,
  newRS: ReplicaSet | undefined,
  oldRSs: readonly ReplicaSet[],
): Promise<void> {
  const d = s.d;
  const replicas = specReplicas(d);
  const only = activeOrLatest(newRS, oldRSs);
  if (only !== undefined) {
    if (specReplicas(only) !== replicas) await s.scaleAndRecord(only, replicas);
    return;
  }
  if (isSaturated(d, newRS)) {
    for (const old of activeReplicaSets(oldRSs)) await s.scaleAndRecord(old, 0);
    return;
  }
  if (!isRollingUpdate(d)) return;
  const all = activeReplicaSets([...oldRSs, newRS]);
  const allowed = replicas > 0 ? replicas + maxSurge(d) : 0;
  const toAdd = allowed - sumReplicas(all);
  let op = '';
  if (toAdd > 0) {
    // Larger first; among equals the newer grows first.
    all.sort((a, b) => specReplicas(b) - specReplicas(a) || byCreation(b, a));
    op = 'up';
  } else if (toAdd < 0) {
    // Larger first; among equals the older shrinks first.
    all.sort((a, b) => specReplicas(b) - specReplicas(a) || byCreation(a, b));
    op = 'down';
  }
  let added = 0;
  const sizes = new Map<ReplicaSet, number>();
  for (const rs of all) {
    if (toAdd === 0) {
      sizes.set(rs, specReplicas(rs));
      continue;
    }
    const p = proportionFor(rs, d, toAdd, added);
    sizes.set(rs, specReplicas(rs) + p);
    added += p;
  }
  for (const [i, rs] of all.entries()) {
    let size = sizes.get(rs) ?? specReplicas(rs);
    // Leftovers go to the largest.
    if (i === 0 && toAdd !== 0) size = Math.max(0, size + toAdd - added);
    await s.scaleReplicaSet(rs, size, op);
  }
}

/** rolloutRolling: one step of a RollingUpdate. */
async function rolloutRolling(s: DeploymentSync): Promise<void> {
  const d = s.d;
  const created = await s.newAndOld(true);
  const newRS = created.newRS;
  if (newRS === undefined) return; // not reached: creation either succeeds or throws
  const all = [...created.oldRSs, newRS];
  if (await reconcileNewReplicaSet(s, all, newRS)) {
    const now = await s.newAndOld(false);
    await s.syncRolloutStatus([...now.oldRSs, now.newRS], now.newRS);
    return;
  }
  if (await reconcileOldReplicaSets(s, all, activeReplicaSets(created.oldRSs), newRS)) {
    const now = await s.newAndOld(false);
    await s.syncRolloutStatus([...now.oldRSs, now.newRS], now.newRS);
    return;
  }
  if (d.status !== undefined && deploymentComplete(d, d.status)) await s.cleanup(created.oldRSs);
  const now = await s.newAndOld(false);
  await s.syncRolloutStatus([...now.oldRSs, now.newRS], now.newRS);
}

async function reconcileNewReplicaSet(
  s: DeploymentSync,
  all: readonly ReplicaSet[],
  newRS: ReplicaSet,
): Promise<boolean> {
  const replicas = specReplicas(s.d);
  if (specReplicas(newRS) === replicas) return false;
  if (specReplicas(newRS) > replicas) return (await s.scaleAndRecord(newRS, replicas)).scaled;
  return (await s.scaleAndRecord(newRS, newReplicaSetReplicas(s.d, all, newRS))).scaled;
}

async function reconcileOldReplicaSets(
  s: DeploymentSync,
  all: readonly ReplicaSet[],
  oldRSs: ReplicaSet[],
  newRS: ReplicaSet,
): Promise<boolean> {
  if (sumReplicas(oldRSs) === 0) return false;
  const minAvailable = specReplicas(s.d) - maxUnavailable(s.d);
  const newUnavailable = specReplicas(newRS) - (newRS.status?.availableReplicas ?? 0);
  const maxScaledDown = sumReplicas(all) - minAvailable - newUnavailable;
  if (maxScaledDown <= 0) return false;
  const { oldRSs: cleaned, count: cleanedUp } = await cleanupUnhealthyReplicas(s, oldRSs, maxScaledDown);
  const scaledDown = await scaleDownOldReplicaSets(s, [...cleaned, newRS], cleaned);
  return cleanedUp + scaledDown > 0;
}

/** Removes old ReplicaSets' unavailable pods first: losing them costs no availability. */
async function cleanupUnhealthyReplicas(
  s: DeploymentSync,
  oldRSs: ReplicaSet[],
  maxCleanup: number,
): Promise<{ oldRSs: ReplicaSet[]; count: number }> {
  const sorted = [...oldRSs].sort(byCreation);
  let total = 0;
  for (const [i, rs] of sorted.entries()) {
    if (total >= maxCleanup) break;
    const replicas = specReplicas(rs);
    if (replicas === 0) continue;
    const unhealthy = replicas - Math.min(rs.status?.availableReplicas ?? 0, replicas);
    if (unhealthy <= 0) continue;
    const down = Math.min(maxCleanup - total, unhealthy);
    const result = await s.scaleAndRecord(rs, replicas - down);
    total += down;
    sorted[i] = result.rs;
  }
  return { oldRSs: sorted, count: total };
}

/** Shrinks old ReplicaSets, oldest first, while more than `replicas - maxUnavailable` are available. */
async function scaleDownOldReplicaSets(
  s: DeploymentSync,
  all: readonly ReplicaSet[],
  oldRSs: readonly ReplicaSet[],
): Promise<number> {
  const minAvailable = specReplicas(s.d) - maxUnavailable(s.d);
  const available = availableAfterScaling(all);
  if (available <= minAvailable) return 0;
  const target = available - minAvailable;
  let total = 0;
  for (const rs of [...oldRSs].sort(byCreation)) {
    if (total >= target) break;
    const replicas = specReplicas(rs);
    if (replicas === 0) continue;
    const down = Math.min(replicas, target - total);
    await s.scaleAndRecord(rs, replicas - down);
    total += down;
  }
  return total;
}

/** rolloutRecreate: one step of a Recreate rollout. */
async function rolloutRecreate(s: DeploymentSync): Promise<void> {
  const d = s.d;
  const first = await s.newAndOld(false);
  let scaledDown = false;
  for (const rs of activeReplicaSets(first.oldRSs)) {
    if ((await s.scaleAndRecord(rs, 0)).scaled) scaledDown = true;
  }
  if (scaledDown || oldPodsRunning(s, first.newRS, first.oldRSs)) {
    const now = await s.newAndOld(false);
    await s.syncRolloutStatus([...now.oldRSs, now.newRS], now.newRS);
    return;
  }
  const { newRS, oldRSs } = first.newRS === undefined ? await s.newAndOld(true) : first;
  if (newRS !== undefined) await s.scaleAndRecord(newRS, specReplicas(d));
  if (d.status !== undefined && deploymentComplete(d, d.status)) await s.cleanup(oldRSs);
  const now = await s.newAndOld(false);
  await s.syncRolloutStatus([...now.oldRSs, now.newRS], now.newRS);
}

/** Whether old ReplicaSets still have pods that are not finished (terminating ones count). */
function oldPodsRunning(
  s: DeploymentSync,
  newRS: ReplicaSet | undefined,
  oldRSs: readonly ReplicaSet[],
): boolean {
  if (oldRSs.some((rs) => (rs.status?.replicas ?? 0) > 0)) return true;
  for (const [rsUid, pods] of s.podsByReplicaSet) {
    if (rsUid === newRS?.metadata.uid) continue;
    for (const pod of pods) {
      const phase = pod.status?.phase;
      if (phase !== 'Failed' && phase !== 'Succeeded') return true;
    }
  }
  return false;
}

/**
 * Which pods a ReplicaSet deletes first when it has too many: Kubernetes' `ActivePodsWithRanks`
 * order (pkg/controller/controller_utils.go), so that scaling down removes the pods whose loss hurts
 * least. Earlier in the order = deleted first:
 *
 *   1. not scheduled (no `spec.nodeName`)       before scheduled
 *   2. phase Pending, then Unknown               before Running
 *   3. not ready                                 before ready
 *   4. lower `controller.kubernetes.io/pod-deletion-cost` before higher
 *   5. more active sibling pods on the same node before fewer (spreads what remains)
 *   6. both ready: ready more recently           before ready longer
 *   7. more container restarts                   before fewer
 *   8. created more recently                     before older
 *
 * Simplified from Kubernetes 1.32: step 6 compares exact ready times (the LogarithmicScaleDown
 * bucketing and its randomised tie-break are left out), and "siblings" are the active pods of every
 * ReplicaSet with the same controlling owner (Kubernetes' "indirectly related pods").
 */
import { isPodActive, isPodReady, podReadySince } from './pod-readiness.js';
import type { Pod } from './workload-objects.js';
import { parseTimestamp } from './workload-objects.js';

/** The annotation that lets users pick which pods go first (lower cost = deleted first). */
export const POD_DELETION_COST_ANNOTATION = 'controller.kubernetes.io/pod-deletion-cost';

const phaseOrdinal: Readonly<Record<string, number>> = { Pending: 0, Unknown: 1, Running: 2 };

/**
 * The `count` pods of `candidates` to delete first, ranked against `related` (the active pods of the
 * owner's ReplicaSets, used to find pods doubled up on a node). Does not modify its arguments.
 */
export function podsToDelete(candidates: readonly Pod[], related: readonly Pod[], count: number): Pod[] {
  if (count >= candidates.length) return [...candidates];
  const onNode = new Map<string, number>();
  for (const p of related) {
    if (!isPodActive(p)) continue;
    const node = nodeOf(p);
    onNode.set(node, (onNode.get(node) ?? 0) + 1);
  }
  const ranked = candidates.map((pod) => ({ pod, rank: onNode.get(nodeOf(pod)) ?? 0 }));
  ranked.sort((a, b) => compareForDeletion(a.pod, a.rank, b.pod, b.rank));
  return ranked.slice(0, count).map((r) => r.pod);
}

/** Negative when `a` (with `rankA` siblings on its node) should be deleted before `b`. */
export function compareForDeletion(a: Pod, rankA: number, b: Pod, rankB: number): number {
  const nodeA = nodeOf(a);
  const nodeB = nodeOf(b);
  if (nodeA !== nodeB && (nodeA === '' || nodeB === '')) return nodeA === '' ? -1 : 1;
  const phaseA = phaseOrdinal[a.status?.phase ?? ''] ?? 0;
  const phaseB = phaseOrdinal[b.status?.phase ?? ''] ?? 0;
  if (phaseA !== phaseB) return phaseA - phaseB;
  const readyA = isPodReady(a);
  const readyB = isPodReady(b);
  if (readyA !== readyB) return readyA ? 1 : -1;
  const costA = deletionCost(a);
  const costB = deletionCost(b);
  if (costA !== costB) return costA - costB;
  if (rankA !== rankB) return rankB - rankA;
  if (readyA && readyB) {
    const byReady = newerFirst(podReadySince(a), podReadySince(b));
    if (byReady !== 0) return byReady;
  }
  const restarts = maxRestarts(b) - maxRestarts(a);
  if (restarts !== 0) return restarts;
  return newerFirst(
    parseTimestamp(a.metadata.creationTimestamp),
    parseTimestamp(b.metadata.creationTimestamp),
  );
}

/** Unknown times first, then later before earlier (Kubernetes' afterOrZero). */
function newerFirst(a: number | undefined, b: number | undefined): number {
  if (a === b) return 0;
  if (a === undefined) return -1;
  if (b === undefined) return 1;
  return b - a;
}

function nodeOf(pod: Pod): string {
  const node = pod.spec?.nodeName;
  return typeof node === 'string' ? node : '';
}

/** The pod's deletion cost; absent or not an int32 counts as 0 (as Kubernetes treats it). */
function deletionCost(pod: Pod): number {
  const raw = pod.metadata.annotations?.[POD_DELETION_COST_ANNOTATION];
  if (raw === undefined || !/^[+-]?\d+$/.test(raw.trim())) return 0;
  const n = Number(raw.trim());
  return n >= -(2 ** 31) && n < 2 ** 31 ? n : 0;
}

function maxRestarts(pod: Pod): number {
  let max = 0;
  for (const c of pod.status?.containerStatuses ?? []) max = Math.max(max, c.restartCount ?? 0);
  return max;
}

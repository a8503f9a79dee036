/**
 * Taints and tolerations (k8s.io/api/core/v1 helpers): which tolerations tolerate which taints, and the
 * first taint a pod does not tolerate. Used by TaintToleration, NodeUnschedulable, NodeReady and the
 * topology-spread node inclusion policy.
 */
import type { TaintLike, TolerationLike } from './types.js';

/** core/v1 Toleration.ToleratesTaint. */
export function toleratesTaint(t: TolerationLike, taint: TaintLike): boolean {
  if (t.effect !== undefined && t.effect !== '' && t.effect !== taint.effect) return false;
  const key = t.key ?? '';
  if (key !== '' && key !== taint.key) return false;
  const op = t.operator === undefined || t.operator === '' ? 'Equal' : t.operator;
  if (op === 'Exists') return true;
  if (op === 'Equal') return (t.value ?? '') === (taint.value ?? '');
  return false;
}

/** True when any toleration tolerates the taint. */
export function tolerationsTolerate(tolerations: readonly TolerationLike[], taint: TaintLike): boolean {
  for (const t of tolerations) if (toleratesTaint(t, taint)) return true;
  return false;
}

/** The first taint with a filtering effect (NoSchedule, NoExecute) that no toleration tolerates. */
export function firstUntoleratedTaint(
  taints: readonly TaintLike[],
  tolerations: readonly TolerationLike[],
): TaintLike | undefined {
  for (const taint of taints) {
    if (taint.effect !== 'NoSchedule' && taint.effect !== 'NoExecute') continue;
    if (!tolerationsTolerate(tolerations, taint)) return taint;
  }
  return undefined;
}

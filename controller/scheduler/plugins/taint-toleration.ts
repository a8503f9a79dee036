/**
 * TaintToleration: a node's NoSchedule and NoExecute taints keep off pods that do not tolerate them;
 * PreferNoSchedule taints only lower the score (fewer untolerated ones is better).
 */
import type { CycleState } from '../cycle-state.js';
import type { FilterPlugin, ScorePlugin } from '../framework.js';
import type { NodeInfo } from '../node-info.js';
import type { PodInfo } from '../pod-info.js';
import { unresolvable, type Status } from '../status.js';
import { firstUntoleratedTaint, toleratesTaint } from '../tolerations.js';
import { defaultNormalize } from './score-helpers.js';

/** Kubernetes' reason for a taint, e.g. `node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }`. */
export function untoleratedTaintReason(key: string, value: string): string {
  return `node(s) had untolerated taint {${key}: ${value}}`;
}

/** Filter/Score plugin `TaintToleration`. */
export class TaintToleration implements FilterPlugin, ScorePlugin {
  readonly name = 'TaintToleration';
  // One shared Status per distinct taint, so rejecting a thousand tainted nodes allocates nothing.
  readonly #statuses = new Map<string, Status>();

  filter(_state: CycleState, pod: PodInfo, node: NodeInfo): Status | undefined {
    if (node.taints.length === 0) return undefined;
    const taint = firstUntoleratedTaint(node.taints, pod.tolerations);
    if (taint === undefined) return undefined;
    const reason = untoleratedTaintReason(taint.key, taint.value ?? '');
    let s = this.#statuses.get(reason);
    if (s === undefined) {
      if (this.#statuses.size > 1024) this.#statuses.clear();
      this.#statuses.set(reason, (s = unresolvable(reason)));
    }
    return s;
  }

  score(_state: CycleState, pod: PodInfo, node: NodeInfo): number {
    let n = 0;
    for (const taint of node.taints) {
      if (taint.effect !== 'PreferNoSchedule') continue;
      let tolerated = false;
      for (const t of pod.tolerations) {
        if (
          (t.effect === undefined || t.effect === '' || t.effect === 'PreferNoSchedule') &&
          toleratesTaint(t, taint)
        ) {
          tolerated = true;
          break;
        }
      }
      if (!tolerated) n++;
    }
    return n;
  }

  normalizeScores(_state: CycleState, _pod: PodInfo, scores: Float64Array): void {
    defaultNormalize(scores, true);
  }
}

/**
 * NodeAffinity: `spec.nodeSelector` and required node affinity filter nodes; preferred node affinity
 * scores them (sum of the weights of matching terms, scaled so the best node gets 100). When every
 * required term pins `metadata.name` (DaemonSet pods), PreFilter narrows the attempt to those nodes,
 * so a pod meant for one node of a thousand checks one.
 */
import type { CycleState } from '../cycle-state.js';
import type {
  FilterPlugin,
  PreFilterPlugin,
  PreFilterResult,
  PreScorePlugin,
  ScorePlugin,
} from '../framework.js';
import type { NodeInfo } from '../node-info.js';
import { anyTermMatches, nodeSelectorMatches, pinnedNodeNames, termMatches } from '../node-selector.js';
import type { PodInfo } from '../pod-info.js';
import { unresolvable, type Status } from '../status.js';
import { defaultNormalize } from './score-helpers.js';

/** Kubernetes' reason for nodeSelector/required affinity mismatches. */
export const nodeAffinityReason = "node(s) didn't match Pod's node affinity/selector";
const rejected = unresolvable(nodeAffinityReason);

/** True when `node` satisfies the pod's nodeSelector and required node affinity. */
export function requiredNodeAffinityMatches(pod: PodInfo, node: NodeInfo): boolean {
  if (pod.nodeSelector !== undefined && !nodeSelectorMatches(pod.nodeSelector, node.labels)) return false;
  if (pod.requiredNodeTerms !== undefined && !anyTermMatches(pod.requiredNodeTerms, node.name, node.labels)) {
    return false;
  }
  return true;
}

/** PreFilter/Filter/PreScore/Score plugin `NodeAffinity`. */
export class NodeAffinity implements PreFilterPlugin, FilterPlugin, PreScorePlugin, ScorePlugin {
  readonly name = 'NodeAffinity';

  preFilter(_state: CycleState, pod: PodInfo): PreFilterResult {
    if (pod.nodeSelector === undefined && pod.requiredNodeTerms === undefined) return 'skip';
    if (pod.requiredNodeTerms !== undefined) {
      const names = pinnedNodeNames(pod.requiredNodeTerms);
      if (names !== undefined) return { nodeNames: names };
    }
    return undefined;
  }

  filter(_state: CycleState, pod: PodInfo, node: NodeInfo): Status | undefined {
    return requiredNodeAffinityMatches(pod, node) ? undefined : rejected;
  }

  preScore(_state: CycleState, pod: PodInfo): 'skip' | undefined {
    return pod.preferredNodeTerms === undefined ? 'skip' : undefined;
  }

  score(_state: CycleState, pod: PodInfo, node: NodeInfo): number {
    let s = 0;
    for (const p of pod.preferredNodeTerms ?? []) {
      if (termMatches(p.term, node.name, node.labels)) s += p.weight;
    }
    return s;
  }

  normalizeScores(_state: CycleState, _pod: PodInfo, scores: Float64Array): void {
    defaultNormalize(scores, false);
  }
}

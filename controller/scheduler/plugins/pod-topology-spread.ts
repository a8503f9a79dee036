/**
 * PodTopologySpread: `topologySpreadConstraints` keep the pods matching a selector evenly spread over
 * topology domains (`kubernetes.io/hostname`, `topology.kubernetes.io/zone`, any node label).
 * - DoNotSchedule (filter): placing the pod in a node's domain must keep
 *   `count(domain) + self − min(count over domains) ≤ maxSkew`; fewer domains than `minDomains`
 *   makes the minimum 0.
 * - ScheduleAnyway (score): domains with fewer matching pods score higher.
 * Domains are the label values of eligible nodes: nodes with every constraint's topology key that
 * pass the pod's node selection (nodeAffinityPolicy Honor, the default) and, with nodeTaintsPolicy
 * Honor, whose taints the pod tolerates. Only pods in the pod's namespace that are not terminating
 * count. Kubernetes' cluster-level default constraints are not applied.
 */
import { stateKey, type CycleState } from '../cycle-state.js';
import type {
  FilterPlugin,
  FrameworkHandle,
  PreFilterPlugin,
  PreFilterResult,
  PreScorePlugin,
  ScorePlugin,
} from '../framework.js';
import { maxNodeScore } from '../framework.js';
import type { NodeInfo } from '../node-info.js';
import type { PodInfo, SpreadConstraint } from '../pod-info.js';
import { unresolvable, unschedulable, type Status } from '../status.js';
import { firstUntoleratedTaint } from '../tolerations.js';
import { requiredNodeAffinityMatches } from './node-affinity.js';

/** Kubernetes' reasons for skew and for a node lacking the topology key. */
export const spreadReason = "node(s) didn't match pod topology spread constraints";
export const spreadMissingLabelReason =
  "node(s) didn't match pod topology spread constraints (missing required label)";

const skewRejected = unschedulable(spreadReason);
const missingLabel = unresolvable(spreadMissingLabelReason);

interface ConstraintCounts {
  readonly constraint: SpreadConstraint;
  /** Topology value → matching pods in that domain. */
  readonly counts: Map<string, number>;
  /** The smallest domain count (0 with fewer domains than minDomains). */
  readonly min: number;
  readonly selfMatch: number;
}

interface ScoreConstraint {
  readonly constraint: SpreadConstraint;
  readonly counts: Map<string, number>;
  readonly weight: number;
}

const filterKey = stateKey<readonly ConstraintCounts[]>('PodTopologySpread/filter');
const scoreKey = stateKey<readonly ScoreConstraint[]>('PodTopologySpread/score');

/** Counts matching pods per domain for each constraint, over the eligible nodes. */
function countDomains(
  nodes: readonly NodeInfo[],
  pod: PodInfo,
  constraints: readonly SpreadConstraint[],
): Map<string, number>[] {
  const out = constraints.map(() => new Map<string, number>());
  for (const node of nodes) {
    if (!constraints.every((c) => node.labels[c.topologyKey] !== undefined)) continue;
    for (let i = 0; i < constraints.length; i++) {
      const c = constraints[i] as SpreadConstraint;
      if (c.nodeAffinityPolicy === 'Honor' && !requiredNodeAffinityMatches(pod, node)) continue;
      if (
        c.nodeTaintsPolicy === 'Honor' &&
        firstUntoleratedTaint(node.taints, pod.tolerations) !== undefined
      ) {
        continue;
      }
      let n = 0;
      for (const p of node.pods.values()) {
        if (p.namespace === pod.namespace && !p.terminating && c.selector.matches(p.labels)) n++;
      }
      const v = node.labels[c.topologyKey] as string;
      const m = out[i] as Map<string, number>;
      m.set(v, (m.get(v) ?? 0) + n);
    }
  }
  return out;
}

/** PreFilter/Filter/PreScore/Score plugin `PodTopologySpread`. */
export class PodTopologySpread implements PreFilterPlugin, FilterPlugin, PreScorePlugin, ScorePlugin {
  readonly name = 'PodTopologySpread';
  readonly #handle: FrameworkHandle;

  constructor(handle: FrameworkHandle) {
    this.#handle = handle;
  }

  preFilter(state: CycleState, pod: PodInfo): PreFilterResult {
    const constraints = pod.spreadConstraints.filter((c) => c.whenUnsatisfiable === 'DoNotSchedule');
    if (constraints.length === 0) return 'skip';
    const counts = countDomains(this.#handle.snapshot.nodeList(), pod, constraints);
    state.write(
      filterKey,
      constraints.map((constraint, i) => {
        const c = counts[i] as Map<string, number>;
        let min = c.size < constraint.minDomains ? 0 : Infinity;
        for (const n of c.values()) if (n < min) min = n;
        return {
          constraint,
          counts: c,
          min: min === Infinity ? 0 : min,
          selfMatch: constraint.selector.matches(pod.labels) ? 1 : 0,
        };
      }),
    );
    return undefined;
  }

  filter(state: CycleState, _pod: PodInfo, node: NodeInfo): Status | undefined {
    const s = state.read(filterKey);
    if (s === undefined) return undefined;
    for (const cc of s) {
      const v = node.labels[cc.constraint.topologyKey];
      if (v === undefined) return missingLabel;
      const skew = (cc.counts.get(v) ?? 0) + cc.selfMatch - cc.min;
      if (skew > cc.constraint.maxSkew) return skewRejected;
    }
    return undefined;
  }

  preScore(state: CycleState, pod: PodInfo): 'skip' | undefined {
    const constraints = pod.spreadConstraints.filter((c) => c.whenUnsatisfiable === 'ScheduleAnyway');
    if (constraints.length === 0) return 'skip';
    const counts = countDomains(this.#handle.snapshot.nodeList(), pod, constraints);
    state.write(
      scoreKey,
      constraints.map((constraint, i) => {
        const c = counts[i] as Map<string, number>;
        // kube's topologyNormalizingWeight: constraints over more domains weigh more.
        return { constraint, counts: c, weight: Math.log(c.size + 2) };
      }),
    );
    return undefined;
  }

  /** Lower is better before normalisation; -1 marks a node without the topology keys. */
  score(state: CycleState, _pod: PodInfo, node: NodeInfo): number {
    const s = state.read(scoreKey);
    if (s === undefined) return 0;
    let total = 0;
    for (const sc of s) {
      const v = node.labels[sc.constraint.topologyKey];
      if (v === undefined) return -1;
      total += (sc.counts.get(v) ?? 0) * sc.weight + (sc.constraint.maxSkew - 1);
    }
    return Math.round(total);
  }

  normalizeScores(_state: CycleState, _pod: PodInfo, scores: Float64Array): void {
    let min = Infinity;
    let max = 0;
    for (const s of scores) {
      if (s < 0) continue;
      if (s < min) min = s;
      if (s > max) max = s;
    }
    for (let i = 0; i < scores.length; i++) {
      const s = scores[i] ?? 0;
      if (s < 0) scores[i] = 0;
      else if (max === 0) scores[i] = maxNodeScore;
      else scores[i] = Math.trunc((maxNodeScore * (max + min - s)) / max);
    }
  }
}

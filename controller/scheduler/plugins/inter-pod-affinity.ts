/**
 * InterPodAffinity: required pod affinity and anti-affinity filter nodes; preferred terms score them.
 * Terms are counted per topology domain — a (topologyKey, value) pair of node labels such as
 * `kubernetes.io/hostname=n1` or `topology.kubernetes.io/zone=a`.
 *
 * PreFilter counts, once per attempt:
 * - existing pods' required anti-affinity terms that select the incoming pod (symmetry: a pod that
 *   refuses company keeps the incoming pod out of its domain),
 * - pods matching all of the incoming pod's required affinity terms, per domain,
 * - pods matching each of its required anti-affinity terms, per domain.
 * Filter then answers per node with map lookups. The first pod of a group whose affinity selects
 * itself may go anywhere that has the topology key (kube's self-affinity rule).
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
import type { NodeInfo } from '../node-info.js';
import { affinityTermMatches, hasPodAffinity, type AffinityTerm, type PodInfo } from '../pod-info.js';
import { unresolvable, unschedulable, type Status } from '../status.js';
import { minMaxNormalize } from './score-helpers.js';

/** Kubernetes' filter reasons (ErrReasonExistingAntiAffinityRulesNotMatch and friends). */
export const existingAntiAffinityReason = "node(s) didn't satisfy existing pods anti-affinity rules";
export const antiAffinityReason = "node(s) didn't match pod anti-affinity rules";
export const affinityReason = "node(s) didn't match pod affinity rules";

const existingAntiRejected = unschedulable(existingAntiAffinityReason);
const antiRejected = unschedulable(antiAffinityReason);
const affinityRejected = unresolvable(affinityReason);

/** Weight of an existing pod's *required* affinity term when scoring the incoming pod (kube's default). */
const hardPodAffinityWeight = 1;

/** topologyKey → topology value → count (or score). */
type TopologyCounts = Map<string, Map<string, number>>;

function bump(m: TopologyCounts, key: string, value: string, by: number): void {
  let inner = m.get(key);
  if (inner === undefined) m.set(key, (inner = new Map<string, number>()));
  inner.set(value, (inner.get(value) ?? 0) + by);
}

function countAt(m: TopologyCounts, key: string, node: NodeInfo): number | undefined {
  const v = node.labels[key];
  if (v === undefined) return undefined;
  return m.get(key)?.get(v) ?? 0;
}

interface FilterState {
  readonly existingAnti: TopologyCounts;
  readonly affinity: TopologyCounts;
  readonly anti: TopologyCounts;
  readonly affinityTotal: number;
}

interface ScoreState {
  readonly scores: TopologyCounts;
}

const filterKey = stateKey<FilterState>('InterPodAffinity/filter');
const scoreKey = stateKey<ScoreState>('InterPodAffinity/score');

function allTermsMatch(terms: readonly AffinityTerm[], pod: PodInfo): boolean {
  for (const t of terms) if (!affinityTermMatches(t, pod)) return false;
  return true;
}

/** PreFilter/Filter/PreScore/Score plugin `InterPodAffinity`. */
export class InterPodAffinity implements PreFilterPlugin, FilterPlugin, PreScorePlugin, ScorePlugin {
  readonly name = 'InterPodAffinity';
  readonly #handle: FrameworkHandle;

  constructor(handle: FrameworkHandle) {
    this.#handle = handle;
  }

  preFilter(state: CycleState, pod: PodInfo): PreFilterResult {
    const snapshot = this.#handle.snapshot;
    const req = pod.requiredAffinity;
    const reqAnti = pod.requiredAntiAffinity;
    const anyExistingAnti = snapshot.podsWithRequiredAntiAffinity() > 0;
    if (req.length === 0 && reqAnti.length === 0 && !anyExistingAnti) return 'skip';
    const nodes = snapshot.nodeList();
    const existingAnti: TopologyCounts = new Map();
    for (const node of anyExistingAnti ? nodes : []) {
      if (node.podsWithRequiredAntiAffinity === 0) continue;
      for (const p of node.pods.values()) {
        for (const t of p.requiredAntiAffinity) {
          const v = node.labels[t.topologyKey];
          if (v !== undefined && affinityTermMatches(t, pod)) bump(existingAnti, t.topologyKey, v, 1);
        }
      }
    }
    const affinity: TopologyCounts = new Map();
    const anti: TopologyCounts = new Map();
    let affinityTotal = 0;
    if (req.length === 0 && reqAnti.length === 0 && existingAnti.size === 0) return 'skip';
    if (req.length > 0 || reqAnti.length > 0) {
      for (const node of nodes) {
        for (const p of node.pods.values()) {
          if (req.length > 0 && allTermsMatch(req, p)) {
            for (const t of req) {
              const v = node.labels[t.topologyKey];
              if (v !== undefined) {
                bump(affinity, t.topologyKey, v, 1);
                affinityTotal++;
              }
            }
          }
          for (const t of reqAnti) {
            const v = node.labels[t.topologyKey];
            if (v !== undefined && affinityTermMatches(t, p)) bump(anti, t.topologyKey, v, 1);
          }
        }
      }
    }
    state.write(filterKey, { existingAnti, affinity, anti, affinityTotal });
    return undefined;
  }

  filter(state: CycleState, pod: PodInfo, node: NodeInfo): Status | undefined {
    const s = state.read(filterKey);
    if (s === undefined) return undefined;
    for (const [key, values] of s.existingAnti) {
      const v = node.labels[key];
      if (v !== undefined && (values.get(v) ?? 0) > 0) return existingAntiRejected;
    }
    for (const t of pod.requiredAntiAffinity) {
      if ((countAt(s.anti, t.topologyKey, node) ?? 0) > 0) return antiRejected;
    }
    if (pod.requiredAffinity.length > 0) {
      let podsExist = true;
      for (const t of pod.requiredAffinity) {
        const c = countAt(s.affinity, t.topologyKey, node);
        if (c === undefined) return affinityRejected;
        if (c <= 0) podsExist = false;
      }
      if (!podsExist && !(s.affinityTotal === 0 && allTermsMatch(pod.requiredAffinity, pod))) {
        return affinityRejected;
      }
    }
    return undefined;
  }

  preScore(state: CycleState, pod: PodInfo, _nodes: readonly NodeInfo[]): 'skip' | undefined {
    const hasPreferred = pod.preferredAffinity.length > 0 || pod.preferredAntiAffinity.length > 0;
    if (!hasPreferred && this.#handle.snapshot.podsWithAffinity() === 0) return 'skip';
    const scores: TopologyCounts = new Map();
    for (const node of this.#handle.snapshot.nodeList()) {
      if (!hasPreferred && node.podsWithAffinity === 0) continue;
      for (const p of node.pods.values()) {
        if (hasPreferred) {
          for (const t of pod.preferredAffinity) {
            const v = node.labels[t.topologyKey];
            if (v !== undefined && affinityTermMatches(t, p)) bump(scores, t.topologyKey, v, t.weight);
          }
          for (const t of pod.preferredAntiAffinity) {
            const v = node.labels[t.topologyKey];
            if (v !== undefined && affinityTermMatches(t, p)) bump(scores, t.topologyKey, v, -t.weight);
          }
        }
        if (!hasPodAffinity(p)) continue;
        for (const t of p.requiredAffinity) {
          const v = node.labels[t.topologyKey];
          if (v !== undefined && affinityTermMatches(t, pod))
            bump(scores, t.topologyKey, v, hardPodAffinityWeight);
        }
        for (const t of p.preferredAffinity) {
          const v = node.labels[t.topologyKey];
          if (v !== undefined && affinityTermMatches(t, pod)) bump(scores, t.topologyKey, v, t.weight);
        }
        for (const t of p.preferredAntiAffinity) {
          const v = node.labels[t.topologyKey];
          if (v !== undefined && affinityTermMatches(t, pod)) bump(scores, t.topologyKey, v, -t.weight);
        }
      }
    }
    if (scores.size === 0) return 'skip';
    state.write(scoreKey, { scores });
    return undefined;
  }

  score(state: CycleState, _pod: PodInfo, node: NodeInfo): number {
    const s = state.read(scoreKey);
    if (s === undefined) return 0;
    let total = 0;
    for (const [key, values] of s.scores) {
      const v = node.labels[key];
      if (v !== undefined) total += values.get(v) ?? 0;
    }
    return total;
  }

  normalizeScores(_state: CycleState, _pod: PodInfo, scores: Float64Array): void {
    minMaxNormalize(scores);
  }
}

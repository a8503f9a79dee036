/**
 * NodeResourcesFit: the pod's requests (containers summed, init containers by the max rule, sidecars,
 * overhead — see resources.ts) must fit in the node's allocatable minus what its pods already request,
 * and the node must have a pod slot left. Scoring strategy per profile:
 * - LeastAllocated (default): prefer nodes with the most free cpu/memory after placing the pod — spreads.
 * - MostAllocated: prefer the fullest nodes — bin-packs.
 * Scores use non-zero requests (100m / 200Mi for a container that requests nothing), like kube.
 */
import type { CycleState } from '../cycle-state.js';
import { maxNodeScore, type FilterPlugin, type ScorePlugin, type ScoringStrategy } from '../framework.js';
import type { NodeInfo } from '../node-info.js';
import type { PodInfo } from '../pod-info.js';
import { Status, unschedulable } from '../status.js';

/** Kubernetes' reasons: `Too many pods`, `Insufficient cpu`, `Insufficient memory`, `Insufficient <resource>`. */
export const tooManyPodsReason = 'Too many pods';
export const insufficientReason = (resource: string): string => `Insufficient ${resource}`;

const tooManyPods = unschedulable(tooManyPodsReason);
const noCpu = unschedulable(insufficientReason('cpu'));
const noMemory = unschedulable(insufficientReason('memory'));
const noCpuNoMemory = unschedulable(insufficientReason('cpu'), insufficientReason('memory'));

function leastRequested(requested: number, capacity: number): number {
  if (capacity === 0 || requested > capacity) return 0;
  return Math.trunc(((capacity - requested) * maxNodeScore) / capacity);
}

function mostRequested(requested: number, capacity: number): number {
  if (capacity === 0) return 0;
  return Math.trunc((Math.min(requested, capacity) * maxNodeScore) / capacity);
}

/** Filter/Score plugin `NodeResourcesFit` with the profile's scoring strategy. */
export class NodeResourcesFit implements FilterPlugin, ScorePlugin {
  readonly name = 'NodeResourcesFit';
  readonly #scoreOne: (requested: number, capacity: number) => number;

  constructor(strategy: ScoringStrategy) {
    this.#scoreOne = strategy === 'MostAllocated' ? mostRequested : leastRequested;
  }

  filter(_state: CycleState, pod: PodInfo, node: NodeInfo): Status | undefined {
    const podsFull = node.podCount + 1 > node.allocatablePods;
    if (pod.requestsNothing) return podsFull ? tooManyPods : undefined;
    const alloc = node.allocatable;
    const used = node.requested;
    const req = pod.requests;
    const cpu = req.milliCpu > 0 && req.milliCpu > alloc.milliCpu - used.milliCpu;
    const mem = req.memory > 0 && req.memory > alloc.memory - used.memory;
    let extra: string[] | undefined;
    if (req.scalar !== undefined) {
      for (const [name, v] of req.scalar) {
        if (v <= 0) continue;
        const free = (alloc.scalar?.get(name) ?? 0) - (used.scalar?.get(name) ?? 0);
        if (v > free) (extra ??= []).push(insufficientReason(name));
      }
    }
    if (!podsFull && extra === undefined) {
      if (cpu) return mem ? noCpuNoMemory : noCpu;
      return mem ? noMemory : undefined;
    }
    if (podsFull && !cpu && !mem && extra === undefined) return tooManyPods;
    const reasons: string[] = [];
    if (podsFull) reasons.push(tooManyPodsReason);
    if (cpu) reasons.push(insufficientReason('cpu'));
    if (mem) reasons.push(insufficientReason('memory'));
    if (extra !== undefined) reasons.push(...extra);
    return new Status('Unschedulable', reasons);
  }

  score(_state: CycleState, pod: PodInfo, node: NodeInfo): number {
    const a = node.allocatable;
    let sum = 0;
    let weights = 0;
    if (a.milliCpu > 0) {
      sum += this.#scoreOne(node.nonZeroRequested.milliCpu + pod.nonZero.milliCpu, a.milliCpu);
      weights++;
    }
    if (a.memory > 0) {
      sum += this.#scoreOne(node.nonZeroRequested.memory + pod.nonZero.memory, a.memory);
      weights++;
    }
    return weights === 0 ? 0 : Math.trunc(sum / weights);
  }
}

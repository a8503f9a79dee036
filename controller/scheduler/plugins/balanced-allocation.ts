/**
 * NodeResourcesBalancedAllocation: prefer nodes where, after placing the pod, the cpu and memory
 * fractions in use are close to each other (score = (1 − standard deviation) × 100), so that one
 * resource is not exhausted while the other sits idle.
 */
import type { CycleState } from '../cycle-state.js';
import { maxNodeScore, type ScorePlugin } from '../framework.js';
import type { NodeInfo } from '../node-info.js';
import type { PodInfo } from '../pod-info.js';

/** Score plugin `NodeResourcesBalancedAllocation`. */
export class BalancedAllocation implements ScorePlugin {
  readonly name = 'NodeResourcesBalancedAllocation';

  score(_state: CycleState, pod: PodInfo, node: NodeInfo): number {
    const a = node.allocatable;
    if (a.milliCpu <= 0 || a.memory <= 0) return maxNodeScore;
    const cpu = Math.min(1, (node.nonZeroRequested.milliCpu + pod.nonZero.milliCpu) / a.milliCpu);
    const mem = Math.min(1, (node.nonZeroRequested.memory + pod.nonZero.memory) / a.memory);
    const std = Math.abs(cpu - mem) / 2;
    return Math.trunc((1 - std) * maxNodeScore);
  }
}

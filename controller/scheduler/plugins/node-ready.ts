/**
 * NodeReady: only nodes whose Ready condition is True. Kubernetes leaves this to taints that the node
 * lifecycle controller adds (`node.kubernetes.io/not-ready`, `…/unreachable`); Berth checks the
 * condition as well, so that a node is never chosen in the window before its taint is written, or if
 * no controller taints it. A pod tolerating the matching taint with NoSchedule (as DaemonSet pods do)
 * may still go there, exactly as with the taint alone. A node with no Ready condition yet counts as
 * not ready. Runs after TaintToleration, so a tainted not-ready node reports the taint, as in Kubernetes.
 */
import type { CycleState } from '../cycle-state.js';
import type { FilterPlugin } from '../framework.js';
import type { NodeInfo } from '../node-info.js';
import type { PodInfo } from '../pod-info.js';
import { unschedulable, type Status } from '../status.js';
import { tolerationsTolerate } from '../tolerations.js';

/** The reason Kubernetes' old CheckNodeCondition predicate gave. */
export const nodeNotReadyReason = 'node(s) were not ready';
const notReadyTaint = { key: 'node.kubernetes.io/not-ready', effect: 'NoSchedule' } as const;
const unreachableTaint = { key: 'node.kubernetes.io/unreachable', effect: 'NoSchedule' } as const;
const rejected = unschedulable(nodeNotReadyReason);

/** Filter plugin `NodeReady`. */
export class NodeReady implements FilterPlugin {
  readonly name = 'NodeReady';

  filter(_state: CycleState, pod: PodInfo, node: NodeInfo): Status | undefined {
    if (node.ready === 'True') return undefined;
    const taint = node.ready === 'Unknown' ? unreachableTaint : notReadyTaint;
    return tolerationsTolerate(pod.tolerations, taint) ? undefined : rejected;
  }
}

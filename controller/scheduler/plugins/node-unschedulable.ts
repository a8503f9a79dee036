/**
 * NodeUnschedulable: a cordoned node (`spec.unschedulable`) takes only pods that tolerate
 * `node.kubernetes.io/unschedulable:NoSchedule` (DaemonSet pods get that toleration).
 */
import type { CycleState } from '../cycle-state.js';
import type { FilterPlugin } from '../framework.js';
import type { NodeInfo } from '../node-info.js';
import type { PodInfo } from '../pod-info.js';
import { unresolvable, type Status } from '../status.js';
import { tolerationsTolerate } from '../tolerations.js';

/** Kubernetes' reason. */
export const nodeUnschedulableReason = 'node(s) were unschedulable';
const cordonTaint = { key: 'node.kubernetes.io/unschedulable', effect: 'NoSchedule' } as const;
const rejected = unresolvable(nodeUnschedulableReason);

/** Filter plugin `NodeUnschedulable`. */
export class NodeUnschedulable implements FilterPlugin {
  readonly name = 'NodeUnschedulable';

  filter(_state: CycleState, pod: PodInfo, node: NodeInfo): Status | undefined {
    if (!node.unschedulable) return undefined;
    return tolerationsTolerate(pod.tolerations, cordonTaint) ? undefined : rejected;
  }
}

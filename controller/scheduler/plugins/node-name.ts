/**
 * NodeName: a pod that names its node (`spec.nodeName`) fits only that node. Pods the informer hands
 * to the scheduler normally have no nodeName; this keeps a pre-set one honest.
 */
import type { CycleState } from '../cycle-state.js';
import type { FilterPlugin, PreFilterPlugin, PreFilterResult } from '../framework.js';
import type { NodeInfo } from '../node-info.js';
import type { PodInfo } from '../pod-info.js';
import { unresolvable, type Status } from '../status.js';

/** Kubernetes' reason. */
export const nodeNameReason = "node(s) didn't match the requested node name";
const rejected = unresolvable(nodeNameReason);

/** PreFilter/Filter plugin `NodeName`. */
export class NodeName implements PreFilterPlugin, FilterPlugin {
  readonly name = 'NodeName';

  preFilter(_state: CycleState, pod: PodInfo): PreFilterResult {
    return pod.nodeName === undefined ? 'skip' : undefined;
  }

  filter(_state: CycleState, pod: PodInfo, node: NodeInfo): Status | undefined {
    return pod.nodeName === undefined || pod.nodeName === node.name ? undefined : rejected;
  }
}

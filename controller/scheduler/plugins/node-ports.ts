/** NodePorts: a pod's `hostPort`s must be free on the node (same protocol and port, overlapping host IP). */
import type { CycleState } from '../cycle-state.js';
import type { FilterPlugin, PreFilterPlugin, PreFilterResult } from '../framework.js';
import type { NodeInfo } from '../node-info.js';
import type { PodInfo } from '../pod-info.js';
import { unschedulable, type Status } from '../status.js';

/** Kubernetes' reason. */
export const nodePortsReason = "node(s) didn't have free ports for the requested pod ports";
const rejected = unschedulable(nodePortsReason);

/** PreFilter/Filter plugin `NodePorts`. */
export class NodePorts implements PreFilterPlugin, FilterPlugin {
  readonly name = 'NodePorts';

  preFilter(_state: CycleState, pod: PodInfo): PreFilterResult {
    return pod.hostPorts.length === 0 ? 'skip' : undefined;
  }

  filter(_state: CycleState, pod: PodInfo, node: NodeInfo): Status | undefined {
    for (const hp of pod.hostPorts) if (node.portInUse(hp)) return rejected;
    return undefined;
  }
}

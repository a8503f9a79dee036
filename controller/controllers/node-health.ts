/**
 * Node health as the node-lifecycle, taint-eviction and pod-GC controllers read and write it: the
 * Ready condition, the well-known taints the node controller owns, and the disruption state of a
 * zone (Kubernetes' pkg/controller/nodelifecycle ComputeZoneState). Pure functions over the loose
 * JSON of core/v1 Node; `mark*`/`set*` helpers mutate the object they are given (an `updateObject`
 * change).
 */
import type { StoredObject } from '../../api/object.js';

/** Taint keys the node controller manages (k8s.io/api/core/v1 well_known_taints.go). */
export const taintKeys = {
  notReady: 'node.kubernetes.io/not-ready',
  unreachable: 'node.kubernetes.io/unreachable',
  unschedulable: 'node.kubernetes.io/unschedulable',
  memoryPressure: 'node.kubernetes.io/memory-pressure',
  diskPressure: 'node.kubernetes.io/disk-pressure',
  pidPressure: 'node.kubernetes.io/pid-pressure',
  networkUnavailable: 'node.kubernetes.io/network-unavailable',
  outOfService: 'node.kubernetes.io/out-of-service',
} as const;

/** core/v1 TaintEffect. */
export type TaintEffect = 'NoSchedule' | 'PreferNoSchedule' | 'NoExecute';

/** core/v1 Taint as stored. */
export interface Taint {
  key: string;
  value?: string;
  effect: string;
  timeAdded?: string;
}

/** core/v1 Toleration as stored. */
export interface Toleration {
  key?: string;
  operator?: string;
  value?: string;
  effect?: string;
  tolerationSeconds?: number;
}

/** core/v1 NodeCondition as stored. */
export interface NodeCondition {
  type: string;
  status: string;
  reason?: string;
  message?: string;
  lastHeartbeatTime?: string;
  lastTransitionTime?: string;
  [field: string]: unknown;
}

/** `True`, `False`, `Unknown`, or undefined when the node has never posted a Ready condition. */
export type ReadyStatus = 'True' | 'False' | 'Unknown' | undefined;

/** The conditions the agent owns and the node controller sets to Unknown when it goes silent. */
export const agentConditionTypes = ['Ready', 'MemoryPressure', 'DiskPressure', 'PIDPressure'] as const;

/** `status.conditions` of a Node ([] when missing). */
export function nodeConditions(node: StoredObject): NodeCondition[] {
  const status = node.status as { conditions?: unknown } | undefined;
  return Array.isArray(status?.conditions) ? (status.conditions as NodeCondition[]) : [];
}

/** The Ready condition, if the node has one. */
export function readyCondition(node: StoredObject): NodeCondition | undefined {
  return nodeConditions(node).find((c) => c.type === 'Ready');
}

/** The Ready condition's status; an unrecognised value counts as Unknown. */
export function readyStatus(node: StoredObject): ReadyStatus {
  const s = readyCondition(node)?.status;
  return s === 'True' || s === 'False' || s === 'Unknown' ? s : s === undefined ? undefined : 'Unknown';
}

/** `spec.taints` ([] when missing). */
export function nodeTaints(node: StoredObject): Taint[] {
  const spec = node.spec as { taints?: unknown } | undefined;
  return Array.isArray(spec?.taints) ? (spec.taints as Taint[]) : [];
}

/** Whether the node has a taint with this key and effect. */
export function hasTaint(node: StoredObject, key: string, effect: string): boolean {
  return nodeTaints(node).some((t) => t.key === key && t.effect === effect);
}

/** The node's NoExecute taints. */
export function noExecuteTaints(node: StoredObject): Taint[] {
  return nodeTaints(node).filter((t) => t.effect === 'NoExecute');
}

/**
 * Adds `add` (unless a taint with the same key and effect is there) and removes every taint matching
 * a `remove` key/effect, in place. Returns whether anything changed.
 */
export function swapTaints(
  node: StoredObject,
  add: readonly Taint[],
  remove: readonly { key: string; effect: string }[],
): boolean {
  const before = nodeTaints(node);
  let next = before.filter((t) => !remove.some((r) => r.key === t.key && r.effect === t.effect));
  for (const t of add) {
    if (!next.some((x) => x.key === t.key && x.effect === t.effect)) next = [...next, { ...t }];
  }
  if (next.length === before.length && next.every((t, i) => t === before[i])) return false;
  const spec = (node.spec ?? {}) as Record<string, unknown>;
  if (next.length === 0) delete spec['taints'];
  else spec['taints'] = next;
  node.spec = spec;
  return true;
}

/**
 * Sets every agent-owned condition to Unknown, as the node controller does when the agent stops
 * posting status; heartbeat times are kept (they say when the agent was last heard of). A condition
 * the node never had is added with `lastHeartbeatTime` = the node's creation time. Returns whether
 * anything changed.
 */
export function markConditionsUnknown(node: StoredObject, now: string): boolean {
  const status = (node.status ?? {}) as Record<string, unknown>;
  const conditions = nodeConditions(node).map((c) => ({ ...c }));
  const neverPosted = !conditions.some((c) => c.type === 'Ready');
  let changed = false;
  for (const type of agentConditionTypes) {
    const reason = neverPosted ? 'NodeStatusNeverUpdated' : 'NodeStatusUnknown';
    const message = neverPosted
      ? 'Kubelet never posted node status.'
      : 'Kubelet stopped posting node status.';
    const existing = conditions.find((c) => c.type === type);
    if (existing === undefined) {
      conditions.push({
        type,
        status: 'Unknown',
        reason,
        message,
        ...(node.metadata.creationTimestamp === undefined
          ? {}
          : { lastHeartbeatTime: node.metadata.creationTimestamp }),
        lastTransitionTime: now,
      });
      changed = true;
    } else if (existing.status !== 'Unknown') {
      existing.status = 'Unknown';
      existing.reason = reason;
      existing.message = message;
      existing.lastTransitionTime = now;
      changed = true;
    }
  }
  if (!changed) return false;
  status['conditions'] = conditions;
  node.status = status;
  return true;
}

/** The key a node's zone is known by: `region:zone` from the topology labels ('' when unlabelled). */
export function zoneOf(node: StoredObject): string {
  const labels = node.metadata.labels ?? {};
  const region =
    labels['topology.kubernetes.io/region'] ?? labels['failure-domain.beta.kubernetes.io/region'];
  const zone = labels['topology.kubernetes.io/zone'] ?? labels['failure-domain.beta.kubernetes.io/zone'];
  return `${region ?? ''}:${zone ?? ''}`;
}

/**
 * How disrupted a zone is (ComputeZoneState): `full` when no node in it is Ready, `partial` when
 * more than two nodes and at least `unhealthyThreshold` of them are not Ready, `normal` otherwise.
 */
export type ZoneState = 'normal' | 'partial' | 'full';

/** The state of a zone with `ready` and `notReady` nodes (see {@link ZoneState}). */
export function computeZoneState(ready: number, notReady: number, unhealthyThreshold: number): ZoneState {
  if (ready === 0 && notReady > 0) return 'full';
  if (notReady > 2 && notReady / (notReady + ready) >= unhealthyThreshold) return 'partial';
  return 'normal';
}

/** RFC 3339 with second precision, as metav1.Time is written. */
export function timestamp(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** Milliseconds since the epoch of an RFC 3339 time, or undefined. */
export function parseTime(value: unknown): number | undefined {
  if (typeof value !== 'string') return undefined;
  const ms = Date.parse(value);
  return Number.isNaN(ms) ? undefined : ms;
}

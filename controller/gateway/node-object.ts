/**
 * The core/v1 Node an agent's registration and heartbeats stand for — pure functions from what the
 * agent reported (and the Node as stored) to the Node to store. What the kubelet would write:
 * well-known labels, capacity and allocatable, addresses, nodeInfo, and the conditions it owns
 * (MemoryPressure, DiskPressure, PIDPressure, Ready) with heartbeat and transition times. Anything
 * others own — user labels and taints, spec, other conditions — is kept as stored.
 */
import type { ObjectMeta, StoredObject } from '../../api/object.js';

/** What an agent reports about its node at registration (the `Register` message, decoded). */
export interface NodeRegistration {
  readonly nodeName: string;
  /** Kubernetes quantities by resource name (cpu, memory, pods, ephemeral-storage). */
  readonly capacity: Readonly<Record<string, string>>;
  readonly allocatable: Readonly<Record<string, string>>;
  readonly labels: Readonly<Record<string, string>>;
  readonly addresses: readonly { readonly type: string; readonly address: string }[];
  readonly runtimeName: string;
  readonly runtimeVersion: string;
  readonly agentVersion: string;
  /** HOST:PORT of the agent's /metrics, or ''. */
  readonly metricsAddress: string;
  readonly operatingSystem: string;
  readonly architecture: string;
  readonly kernelVersion: string;
  readonly osImage: string;
  readonly bootId: string;
}

/** Annotation holding the agent's metrics address, for Prometheus service discovery. */
export const metricsAddressAnnotation = 'node.berth.io/metrics-address';

/** The conditions the agent owns, in the order the kubelet reports them. */
const ownedConditions = [
  {
    type: 'MemoryPressure',
    status: 'False',
    reason: 'KubeletHasSufficientMemory',
    message: 'berth agent has sufficient memory available',
  },
  {
    type: 'DiskPressure',
    status: 'False',
    reason: 'KubeletHasNoDiskPressure',
    message: 'berth agent has no disk pressure',
  },
  {
    type: 'PIDPressure',
    status: 'False',
    reason: 'KubeletHasSufficientPID',
    message: 'berth agent has sufficient PID available',
  },
  { type: 'Ready', status: 'True', reason: 'KubeletReady', message: 'berth agent is posting ready status' },
] as const;

/**
 * Label prefixes a node may not set on itself (Kubernetes' NodeRestriction admission): they steer
 * workloads, so only administrators set them.
 */
const restrictedLabelPrefixes = ['node-role.kubernetes.io/', 'node-restriction.kubernetes.io/'];

/** The labels of `labels` that a node may not set on itself. */
export function restrictedLabels(labels: Readonly<Record<string, string>>): string[] {
  return Object.keys(labels).filter((k) => restrictedLabelPrefixes.some((p) => k.startsWith(p)));
}

/** The labels the agent sets: its own, plus the well-known ones that it cannot get wrong. */
export function registeredLabels(reg: NodeRegistration): Record<string, string> {
  return {
    ...reg.labels,
    'kubernetes.io/hostname': reg.nodeName,
    'kubernetes.io/os': reg.operatingSystem,
    'kubernetes.io/arch': reg.architecture,
    'beta.kubernetes.io/os': reg.operatingSystem,
    'beta.kubernetes.io/arch': reg.architecture,
  };
}

/** The Node's object part (everything but status) after a registration: labels and annotation merged in. */
export function registeredObject(current: StoredObject, reg: NodeRegistration): StoredObject {
  const meta: ObjectMeta = { ...current.metadata, name: reg.nodeName };
  meta.labels = { ...current.metadata.labels, ...registeredLabels(reg) };
  const { [metricsAddressAnnotation]: _previous, ...annotations } = current.metadata.annotations ?? {};
  if (reg.metricsAddress !== '') annotations[metricsAddressAnnotation] = reg.metricsAddress;
  if (Object.keys(annotations).length > 0) meta.annotations = annotations;
  else delete meta.annotations;
  return { ...current, apiVersion: 'v1', kind: 'Node', metadata: meta, spec: current.spec ?? {} };
}

/** The Node's status after a registration at `now` (RFC 3339): everything reported, and Ready. */
export function registeredStatus(
  current: Record<string, unknown> | undefined,
  reg: NodeRegistration,
  now: string,
): Record<string, unknown> {
  return {
    ...current,
    capacity: { ...reg.capacity },
    allocatable: { ...reg.allocatable },
    addresses: reg.addresses.map((a) => ({ type: a.type, address: a.address })),
    daemonEndpoints: { kubeletEndpoint: { Port: 0 } },
    nodeInfo: {
      machineID: '',
      systemUUID: '',
      bootID: reg.bootId,
      kernelVersion: reg.kernelVersion,
      osImage: reg.osImage,
      containerRuntimeVersion: `${reg.runtimeName}://${reg.runtimeVersion}`,
      kubeletVersion: reg.agentVersion.startsWith('v') ? reg.agentVersion : `v${reg.agentVersion}`,
      kubeProxyVersion: '',
      operatingSystem: reg.operatingSystem,
      architecture: reg.architecture,
    },
    conditions: heartbeatConditions(current?.['conditions'], now),
  };
}

/** The status after a heartbeat at `now`: the agent's conditions healthy, their heartbeat time `now`. */
export function heartbeatStatus(
  current: Record<string, unknown> | undefined,
  now: string,
): Record<string, unknown> {
  return { ...current, conditions: heartbeatConditions(current?.['conditions'], now) };
}

/** Whether the stored status says Ready=True. */
export function isReady(status: Record<string, unknown> | undefined): boolean {
  const conditions = Array.isArray(status?.['conditions']) ? (status['conditions'] as unknown[]) : [];
  return conditions.some((c) => {
    const cond = c as { type?: unknown; status?: unknown };
    return cond.type === 'Ready' && cond.status === 'True';
  });
}

interface Condition {
  type: string;
  status: string;
  reason?: string;
  message?: string;
  lastHeartbeatTime?: string;
  lastTransitionTime?: string;
  [field: string]: unknown;
}

function heartbeatConditions(current: unknown, now: string): Condition[] {
  const existing = Array.isArray(current) ? (current as Condition[]) : [];
  const byType = new Map(existing.map((c) => [c.type, c]));
  const ours: Condition[] = ownedConditions.map((want) => {
    const prev = byType.get(want.type);
    return {
      type: want.type,
      status: want.status,
      lastHeartbeatTime: now,
      lastTransitionTime:
        prev?.status === want.status && typeof prev.lastTransitionTime === 'string'
          ? prev.lastTransitionTime
          : now,
      reason: want.reason,
      message: want.message,
    };
  });
  const owned = new Set<string>(ownedConditions.map((c) => c.type));
  return [...existing.filter((c) => !owned.has(c.type)), ...ours];
}

/**
 * Test doubles and object builders for the scheduler: `makeNode`/`makePod` build core/v1 JSON the way
 * the API server stores it, `RecordingBinder` stands in for the binding subresource (optionally
 * failing or holding bindings), `RecordingSink` collects outcomes. Used by the scheduler's unit tests
 * and the in-memory benchmark; the wiring can use them in its own tests.
 */
import type { Binder, BindResult, FrameworkHandle } from '../framework.js';
import { podInfoOf } from '../pod-info.js';
import { SchedulerCache } from '../scheduler-cache.js';
import type { SchedulingResultSink } from '../scheduler.js';
import {
  podName,
  type AffinityLike,
  type ContainerLike,
  type NodeLike,
  type PodLike,
  type TaintLike,
  type TolerationLike,
  type TopologySpreadConstraintLike,
} from '../types.js';

/** Options for {@link makeNode}. */
export interface NodeSpecInput {
  cpu?: string;
  memory?: string;
  pods?: number;
  labels?: Record<string, string>;
  taints?: TaintLike[];
  unschedulable?: boolean;
  /** Ready condition status; `undefined` leaves the condition out. Default 'True'. */
  ready?: 'True' | 'False' | 'Unknown' | undefined;
  images?: { names: string[]; sizeBytes: number }[];
}

/** A Node with allocatable = capacity, `kubernetes.io/hostname` set, Ready unless told otherwise. */
export function makeNode(name: string, s: NodeSpecInput = {}): NodeLike {
  const alloc = { cpu: s.cpu ?? '4', memory: s.memory ?? '8Gi', pods: String(s.pods ?? 110) };
  const ready = 'ready' in s ? s.ready : 'True';
  return {
    metadata: { name, uid: `node-${name}`, labels: { 'kubernetes.io/hostname': name, ...s.labels } },
    spec: {
      ...(s.taints === undefined ? {} : { taints: s.taints }),
      ...(s.unschedulable === undefined ? {} : { unschedulable: s.unschedulable }),
    },
    status: {
      capacity: alloc,
      allocatable: alloc,
      conditions: ready === undefined ? [] : [{ type: 'Ready', status: ready }],
      ...(s.images === undefined ? {} : { images: s.images }),
    },
  };
}

/** Options for {@link makePod}. */
export interface PodSpecInput {
  namespace?: string;
  uid?: string;
  cpu?: string;
  memory?: string;
  labels?: Record<string, string>;
  priority?: number;
  schedulerName?: string;
  nodeName?: string;
  nodeSelector?: Record<string, string>;
  affinity?: AffinityLike;
  tolerations?: TolerationLike[];
  hostPort?: number;
  image?: string;
  containers?: ContainerLike[];
  initContainers?: ContainerLike[];
  topologySpreadConstraints?: TopologySpreadConstraintLike[];
  schedulingGates?: string[];
  phase?: string;
}

/** A Pod with one container `c` requesting `cpu`/`memory` when given. */
export function makePod(name: string, s: PodSpecInput = {}): PodLike {
  const requests: Record<string, string> = {};
  if (s.cpu !== undefined) requests['cpu'] = s.cpu;
  if (s.memory !== undefined) requests['memory'] = s.memory;
  const container: ContainerLike = {
    name: 'c',
    image: s.image ?? 'busybox',
    resources: { requests },
    ...(s.hostPort === undefined ? {} : { ports: [{ containerPort: 80, hostPort: s.hostPort }] }),
  };
  return {
    metadata: {
      name,
      namespace: s.namespace ?? 'default',
      uid: s.uid ?? `uid-${s.namespace ?? 'default'}-${name}`,
      labels: s.labels ?? {},
    },
    spec: {
      containers: s.containers ?? [container],
      ...(s.initContainers === undefined ? {} : { initContainers: s.initContainers }),
      ...(s.priority === undefined ? {} : { priority: s.priority }),
      ...(s.schedulerName === undefined ? {} : { schedulerName: s.schedulerName }),
      ...(s.nodeName === undefined ? {} : { nodeName: s.nodeName }),
      ...(s.nodeSelector === undefined ? {} : { nodeSelector: s.nodeSelector }),
      ...(s.affinity === undefined ? {} : { affinity: s.affinity }),
      ...(s.tolerations === undefined ? {} : { tolerations: s.tolerations }),
      ...(s.topologySpreadConstraints === undefined
        ? {}
        : { topologySpreadConstraints: s.topologySpreadConstraints }),
      ...(s.schedulingGates === undefined
        ? {}
        : { schedulingGates: s.schedulingGates.map((n) => ({ name: n })) }),
    },
    status: { phase: s.phase ?? 'Pending' },
  };
}

/** The pod as the informer reports it after a successful binding. */
export function boundCopy(pod: PodLike, nodeName: string): PodLike {
  return { ...pod, spec: { containers: [], ...pod.spec, nodeName } };
}

/**
 * A Binder that records every call. `fail(podName)` makes that pod's next bindings fail;
 * `hold()` keeps bindings pending until `release()`.
 */
export class RecordingBinder implements Binder {
  readonly calls: { pod: string; node: string }[] = [];
  /** Successful bindings: `namespace/name` → node. */
  readonly bound = new Map<string, string>();
  readonly #failing = new Map<string, number>();
  #held: (() => void)[] | undefined;

  /** Makes the next `times` bindings of `namespace/name` fail. */
  fail(name: string, times = 1): void {
    this.#failing.set(name, times);
  }

  hold(): void {
    this.#held ??= [];
  }

  release(): void {
    const held = this.#held ?? [];
    this.#held = undefined;
    for (const r of held) r();
  }

  async bind(pod: PodLike, nodeName: string, signal: AbortSignal): Promise<BindResult> {
    const name = podName(pod);
    this.calls.push({ pod: name, node: nodeName });
    if (this.#held !== undefined) {
      const held = this.#held;
      await new Promise<void>((resolve) => held.push(resolve));
    }
    signal.throwIfAborted();
    const left = this.#failing.get(name) ?? 0;
    if (left > 0) {
      this.#failing.set(name, left - 1);
      return { ok: false, reason: 'pods "' + name + '" is already assigned (injected failure)' };
    }
    this.bound.set(name, nodeName);
    return { ok: true };
  }
}

/** One outcome recorded by {@link RecordingSink}. */
export type SinkEntry =
  | { kind: 'scheduled'; pod: string; node: string }
  | { kind: 'unschedulable'; pod: string; message: string }
  | { kind: 'error'; pod: string; message: string };

/** A SchedulingResultSink that records outcomes in order. */
export class RecordingSink implements SchedulingResultSink {
  readonly entries: SinkEntry[] = [];

  scheduled(pod: PodLike, node: string): void {
    this.entries.push({ kind: 'scheduled', pod: podName(pod), node });
  }

  unschedulable(pod: PodLike, message: string): void {
    this.entries.push({ kind: 'unschedulable', pod: podName(pod), message });
  }

  error(pod: PodLike, message: string): void {
    this.entries.push({ kind: 'error', pod: podName(pod), message });
  }

  /** The last unschedulable message for `namespace/name`. */
  lastUnschedulable(pod: string): string | undefined {
    for (let i = this.entries.length - 1; i >= 0; i--) {
      const e = this.entries[i];
      if (e?.kind === 'unschedulable' && e.pod === pod) return e.message;
    }
    return undefined;
  }
}

/** A cache holding `nodes` and, bound to them, `pods` (`[pod, nodeName]`). */
export function clusterOf(
  nodes: readonly NodeLike[],
  pods: readonly (readonly [PodLike, string])[] = [],
): SchedulerCache {
  const cache = new SchedulerCache({ assumedTtlMs: 30_000 });
  for (const n of nodes) cache.upsertNode(n);
  for (const [p, node] of pods) cache.upsertPod(podInfoOf(p), node);
  return cache;
}

/** A plugin handle over `cache` with a binder that always succeeds. */
export function handleFor(cache: SchedulerCache): FrameworkHandle {
  return { snapshot: cache, binder: { bind: () => Promise.resolve({ ok: true }) } };
}

/**
 * `NodeInfo`: the scheduler's running account of one node — its parsed labels, taints, readiness and
 * allocatable resources, plus the pods on it (bound and assumed) with their summed requests, host
 * ports and affinity terms. Plugins read it in the per-node filter/score loop, so everything the loop
 * needs is precomputed here when a node or pod changes, not when a pod is scheduled.
 */
import type { HostPort, PodInfo } from './pod-info.js';
import { hasPodAffinity, normalizeImage } from './pod-info.js';
import {
  applyResources,
  emptyResources,
  parseResourceList,
  quantityAmount,
  type Resources,
} from './resources.js';
import type { NodeLike, TaintLike } from './types.js';

/** The node's Ready condition status; `Missing` when the node reports no Ready condition yet. */
export type ReadyStatus = 'True' | 'False' | 'Unknown' | 'Missing';

const noTaints: readonly TaintLike[] = [];
const noLabels: Readonly<Record<string, string>> = Object.freeze({});

/** One node as the scheduler accounts it. Mutated only by the SchedulerCache; plugins read it. */
export class NodeInfo {
  readonly name: string;
  /** The Node object; `undefined` while pods are known for a node the cache has not seen (or has deleted). */
  node: NodeLike | undefined = undefined;
  labels: Readonly<Record<string, string>> = noLabels;
  taints: readonly TaintLike[] = noTaints;
  unschedulable = false;
  ready: ReadyStatus = 'Missing';
  allocatable: Resources = emptyResources();
  allocatablePods = 0;
  /** Sum of the requests of the pods on the node. */
  readonly requested: Resources = emptyResources();
  /** Sum of the non-zero requests (scoring's view). */
  readonly nonZeroRequested = { milliCpu: 0, memory: 0 };
  readonly pods = new Map<string, PodInfo>();
  /** `pods.size`, kept as a plain field for the per-node filter loop. */
  podCount = 0;
  /** Pods on the node with any pod (anti-)affinity term; their terms matter to incoming pods. */
  podsWithAffinity = 0;
  podsWithRequiredAntiAffinity = 0;
  /** `protocol/port` → host IP → number of pods using it. */
  readonly usedPorts = new Map<string, Map<string, number>>();
  /** Normalised image name → size in bytes, from `status.images`. */
  images: ReadonlyMap<string, number> = new Map();
  /** Bumped on every change, so callers can tell whether their view is stale. */
  generation = 0;
  #signature = '';

  constructor(name: string) {
    this.name = name;
  }

  /**
   * Takes a new version of the Node. Returns true when something scheduling decisions depend on
   * changed (labels, taints, cordon, readiness, allocatable) — heartbeats alone return false.
   */
  setNode(node: NodeLike): boolean {
    this.node = node;
    this.labels = node.metadata?.labels ?? noLabels;
    this.taints = node.spec?.taints ?? noTaints;
    this.unschedulable = node.spec?.unschedulable === true;
    const ready = node.status?.conditions?.find((c) => c.type === 'Ready');
    this.ready =
      ready === undefined
        ? 'Missing'
        : ready.status === 'True' || ready.status === 'False'
          ? ready.status
          : 'Unknown';
    const alloc = node.status?.allocatable ?? node.status?.capacity;
    this.allocatable = parseResourceList(alloc);
    const pods = alloc?.['pods'];
    this.allocatablePods = pods === undefined ? 0 : quantityAmount('pods', pods);
    const images = new Map<string, number>();
    for (const img of node.status?.images ?? []) {
      for (const n of img.names ?? []) images.set(normalizeImage(n), img.sizeBytes ?? 0);
    }
    this.images = images;
    this.generation++;
    const sig = JSON.stringify([this.labels, this.taints, this.unschedulable, this.ready, alloc ?? null]);
    const changed = sig !== this.#signature;
    this.#signature = sig;
    return changed;
  }

  clearNode(): void {
    this.node = undefined;
    this.#signature = '';
    this.generation++;
  }

  addPod(p: PodInfo): void {
    if (this.pods.has(p.key)) this.removePod(p.key);
    this.pods.set(p.key, p);
    this.podCount = this.pods.size;
    applyResources(this.requested, p.requests, 1);
    this.nonZeroRequested.milliCpu += p.nonZero.milliCpu;
    this.nonZeroRequested.memory += p.nonZero.memory;
    if (hasPodAffinity(p)) this.podsWithAffinity++;
    if (p.requiredAntiAffinity.length > 0) this.podsWithRequiredAntiAffinity++;
    for (const hp of p.hostPorts) {
      const k = `${hp.protocol}/${hp.port}`;
      let ips = this.usedPorts.get(k);
      if (ips === undefined) this.usedPorts.set(k, (ips = new Map<string, number>()));
      ips.set(hp.ip, (ips.get(hp.ip) ?? 0) + 1);
    }
    this.generation++;
  }

  /** Removes the pod filed under `key`; false when it was not here. */
  removePod(key: string): boolean {
    const p = this.pods.get(key);
    if (p === undefined) return false;
    this.pods.delete(key);
    this.podCount = this.pods.size;
    applyResources(this.requested, p.requests, -1);
    this.nonZeroRequested.milliCpu -= p.nonZero.milliCpu;
    this.nonZeroRequested.memory -= p.nonZero.memory;
    if (hasPodAffinity(p)) this.podsWithAffinity--;
    if (p.requiredAntiAffinity.length > 0) this.podsWithRequiredAntiAffinity--;
    for (const hp of p.hostPorts) {
      const k = `${hp.protocol}/${hp.port}`;
      const ips = this.usedPorts.get(k);
      if (ips === undefined) continue;
      const n = (ips.get(hp.ip) ?? 0) - 1;
      if (n > 0) ips.set(hp.ip, n);
      else ips.delete(hp.ip);
      if (ips.size === 0) this.usedPorts.delete(k);
    }
    this.generation++;
    return true;
  }

  /** True when binding `hp` would clash with a port already used on this node (0.0.0.0 clashes with any IP). */
  portInUse(hp: HostPort): boolean {
    const ips = this.usedPorts.get(`${hp.protocol}/${hp.port}`);
    if (ips === undefined) return false;
    if (hp.ip === '0.0.0.0') return ips.size > 0;
    return ips.has('0.0.0.0') || ips.has(hp.ip);
  }
}

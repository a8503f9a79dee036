/**
 * The scheduler cache: every node and every pod placed on one, including pods the scheduler has
 * *assumed* onto a node before the API server confirms the binding (kube-scheduler's cache). Binding
 * runs asynchronously; the next pod is scheduled against a cache that already counts the assumed one.
 *
 * An assumed pod's life:
 *
 *   assume ──► assumed (binding) ──finishBinding──► assumed (bound, expires at now + TTL)
 *                  │                                        │            │
 *               forget (bind failed)     addPod (informer sees it bound)  expire (informer never did)
 *                  ▼                                        ▼            ▼
 *               removed                                 confirmed      removed
 *
 * Scheduling is single-threaded and a scheduling cycle never awaits, so plugins read the live
 * `NodeInfo`s directly: no snapshot copy is needed for a consistent view within one cycle.
 */
import { NodeInfo } from './node-info.js';
import { hasPodAffinity, type PodInfo } from './pod-info.js';
import type { NodeLike } from './types.js';

/** What plugins may read of the cluster. */
export interface ClusterSnapshot {
  /** Nodes that exist (have a Node object), interleaved across zones so that any window of them spans zones. */
  nodeList(): readonly NodeInfo[];
  /** A node by name, including one only known through its pods. */
  get(name: string): NodeInfo | undefined;
  /** How many existing nodes report `image` (normalised) in `status.images`. */
  imageNodeCount(image: string): number;
  /** Total number of images known on any node (0 means ImageLocality has nothing to go on). */
  knownImages(): number;
  /** Pods in the cluster with any pod (anti-)affinity term; 0 lets InterPodAffinity skip the scan. */
  podsWithAffinity(): number;
  /** Pods in the cluster with a required anti-affinity term. */
  podsWithRequiredAntiAffinity(): number;
}

interface PodState {
  info: PodInfo;
  nodeName: string;
  assumed: boolean;
  bindingFinished: boolean;
  /** For an assumed pod whose binding finished: when the assumption lapses. */
  deadline: number;
}

const zoneLabel = 'topology.kubernetes.io/zone';
const regionLabel = 'topology.kubernetes.io/region';

/** The cache behind the scheduler (see the module comment). Single-threaded; not a copy. */
export class SchedulerCache implements ClusterSnapshot {
  readonly #nodes = new Map<string, NodeInfo>();
  readonly #pods = new Map<string, PodState>();
  readonly #imageCounts = new Map<string, number>();
  readonly #assumedTtlMs: number;
  #list: NodeInfo[] | undefined;
  #withAffinity = 0;
  #withRequiredAnti = 0;

  /** `assumedTtlMs`: how long a bound-but-unconfirmed assumption is kept. */
  constructor(opts: { assumedTtlMs: number }) {
    this.#assumedTtlMs = opts.assumedTtlMs;
  }

  nodeList(): readonly NodeInfo[] {
    this.#list ??= this.#buildList();
    return this.#list;
  }

  get(name: string): NodeInfo | undefined {
    return this.#nodes.get(name);
  }

  imageNodeCount(image: string): number {
    return this.#imageCounts.get(image) ?? 0;
  }

  knownImages(): number {
    return this.#imageCounts.size;
  }

  podsWithAffinity(): number {
    return this.#withAffinity;
  }

  podsWithRequiredAntiAffinity(): number {
    return this.#withRequiredAnti;
  }

  get nodeCount(): number {
    return this.nodeList().length;
  }

  get podCount(): number {
    return this.#pods.size;
  }

  get assumedCount(): number {
    let n = 0;
    for (const s of this.#pods.values()) if (s.assumed) n++;
    return n;
  }

  /**
   * Adds or replaces a node. Returns true when the change can make a pending pod schedulable
   * (new node, or labels/taints/cordon/readiness/allocatable changed).
   */
  upsertNode(node: NodeLike): boolean {
    const name = node.metadata?.name ?? '';
    let ni = this.#nodes.get(name);
    const isNew = ni?.node === undefined;
    if (ni === undefined) this.#nodes.set(name, (ni = new NodeInfo(name)));
    const oldZone = zoneKey(ni);
    this.#countImages(ni, -1);
    const changed = ni.setNode(node);
    this.#countImages(ni, 1);
    if (isNew || zoneKey(ni) !== oldZone) this.#list = undefined;
    return isNew || changed;
  }

  /** Removes a node. Pods still filed under it stay accounted until they are removed themselves. */
  removeNode(name: string): void {
    const ni = this.#nodes.get(name);
    if (ni === undefined) return;
    this.#countImages(ni, -1);
    if (ni.pods.size === 0) this.#nodes.delete(name);
    else ni.clearNode();
    this.#list = undefined;
  }

  /** Reserves `info` on `nodeName` ahead of the binding. */
  assume(info: PodInfo, nodeName: string): void {
    this.#remove(info.key);
    this.#place(info, nodeName);
    this.#pods.set(info.key, { info, nodeName, assumed: true, bindingFinished: false, deadline: Infinity });
  }

  /** The binding call succeeded: start the expiry clock on the assumption. */
  finishBinding(key: string, now: number): void {
    const s = this.#pods.get(key);
    if (s === undefined || !s.assumed) return;
    s.bindingFinished = true;
    s.deadline = now + this.#assumedTtlMs;
  }

  /** The binding failed: drop the assumption. A no-op when the pod is not assumed (e.g. already removed). */
  forget(key: string): void {
    const s = this.#pods.get(key);
    if (s === undefined || !s.assumed) return;
    this.#remove(key);
  }

  isAssumed(key: string): boolean {
    return this.#pods.get(key)?.assumed === true;
  }

  /** The node a pod is accounted on (assumed or confirmed). */
  nodeOf(key: string): string | undefined {
    return this.#pods.get(key)?.nodeName;
  }

  /**
   * Adds or updates an assigned pod seen by the informer. Confirms an assumption for the same pod;
   * if the pod landed elsewhere (someone else bound it), it moves.
   */
  upsertPod(info: PodInfo, nodeName: string): void {
    this.#remove(info.key);
    this.#place(info, nodeName);
    this.#pods.set(info.key, { info, nodeName, assumed: false, bindingFinished: true, deadline: Infinity });
  }

  /** Removes a pod however it is known; false when it was not in the cache. */
  removePod(key: string): boolean {
    return this.#remove(key);
  }

  /** Drops assumptions whose binding finished more than the TTL ago; returns the pods dropped. */
  expireAssumed(now: number): PodInfo[] {
    const expired: PodInfo[] = [];
    for (const [key, s] of this.#pods) {
      if (s.assumed && s.bindingFinished && s.deadline <= now) {
        this.#remove(key);
        expired.push(s.info);
      }
    }
    return expired;
  }

  #place(info: PodInfo, nodeName: string): void {
    let ni = this.#nodes.get(nodeName);
    if (ni === undefined) this.#nodes.set(nodeName, (ni = new NodeInfo(nodeName)));
    ni.addPod(info);
    if (hasPodAffinity(info)) this.#withAffinity++;
    if (info.requiredAntiAffinity.length > 0) this.#withRequiredAnti++;
  }

  #remove(key: string): boolean {
    const s = this.#pods.get(key);
    if (s === undefined) return false;
    this.#pods.delete(key);
    if (hasPodAffinity(s.info)) this.#withAffinity--;
    if (s.info.requiredAntiAffinity.length > 0) this.#withRequiredAnti--;
    const ni = this.#nodes.get(s.nodeName);
    if (ni !== undefined) {
      ni.removePod(key);
      if (ni.node === undefined && ni.pods.size === 0) this.#nodes.delete(s.nodeName);
    }
    return true;
  }

  #countImages(ni: NodeInfo, sign: 1 | -1): void {
    if (ni.node === undefined) return;
    for (const image of ni.images.keys()) {
      const n = (this.#imageCounts.get(image) ?? 0) + sign;
      if (n > 0) this.#imageCounts.set(image, n);
      else this.#imageCounts.delete(image);
    }
  }

  // kube's nodeTree: round-robin over zones, so that sampling a prefix of the list still spreads.
  #buildList(): NodeInfo[] {
    const byZone = new Map<string, NodeInfo[]>();
    for (const ni of this.#nodes.values()) {
      if (ni.node === undefined) continue;
      const z = zoneKey(ni);
      let l = byZone.get(z);
      if (l === undefined) byZone.set(z, (l = []));
      l.push(ni);
    }
    const zones = [...byZone.values()];
    if (zones.length <= 1) return zones[0] ?? [];
    const out: NodeInfo[] = [];
    for (let i = 0; out.length < this.#nodes.size; i++) {
      let added = false;
      for (const z of zones) {
        const ni = z[i];
        if (ni !== undefined) {
          out.push(ni);
          added = true;
        }
      }
      if (!added) break;
    }
    return out;
  }
}

function zoneKey(ni: NodeInfo): string {
  const l = ni.labels;
  return `${l[regionLabel] ?? ''}:${l[zoneLabel] ?? ''}`;
}

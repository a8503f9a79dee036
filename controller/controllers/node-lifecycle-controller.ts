/**
 * The node-lifecycle controller (kube-controller-manager's nodelifecycle controller, with its
 * taint-eviction half in taint-eviction-controller.ts, run from here): notices nodes whose agent went
 * silent, says so in the Node's conditions and taints, and — through NoExecute taints — gets their
 * pods evicted, at a bounded rate.
 *
 * A node's health, per node (level-triggered on a keyed queue; each node is re-checked exactly when its
 * grace period would run out, and by a sweep every `monitorPeriodMs`):
 *
 *                 heard from within the grace period
 *     Ready=True ─────────────────────────────────────▶ Ready=True
 *         │ silent > gracePeriodMs (startupGracePeriodMs if it never posted Ready)
 *         ▼
 *     Ready=Unknown (NodeStatusUnknown, "Kubelet stopped posting node status.") + NodeNotReady event,
 *     pods on it marked Ready=False, taint unreachable:NoSchedule at once, unreachable:NoExecute
 *     when the zone's rate limiter gives a token (taint-eviction then evicts pods past tolerations)
 *         │ the agent is back: its registration/heartbeat writes Ready=True
 *         ▼
 *     Ready=True, both taints removed. Pods evicted meanwhile are gone from the store, so the pod feed
 *     tells the returning agent to stop them (a resumed stream gets the deletes; a new one a snapshot
 *     without them).
 *
 * Ready=False (an agent that reports itself not ready) gets `not-ready` taints the same way. Other
 * condition taints (memory/disk/PID pressure, network unavailable) and `unschedulable` (cordon) are
 * kept in line with the conditions and `spec.unschedulable`, as TaintNodesByCondition does.
 *
 * Heartbeats: "heard from" is the later of (a) when this controller saw the Ready condition's
 * `lastHeartbeatTime` change — the controller's own clock, so agent clock skew does not matter — and
 * (b) the injected `HeartbeatSource` (the agent gateway's in-memory record of every message from a
 * node), so detection does not depend on how often heartbeats are written to the store. A node
 * first seen gets a full grace period from that moment (after a controller restart too).
 *
 * No eviction storms (simplified from Kubernetes): each zone (`topology.kubernetes.io/region` +
 * `zone` labels) has a token bucket for adding NoExecute taints — `evictionRate` nodes/s (burst 1)
 * normally, `secondaryEvictionRate` when the zone is partially disrupted (more than two nodes and at
 * least `unhealthyZoneThreshold` of them not Ready). When every zone is fully disrupted (no Ready
 * node anywhere) the controller assumes its own connectivity or clock is at fault — as after a
 * forward clock jump — adds no NoExecute taints and removes those it added, until a node is Ready.
 * Removing taints and swapping not-ready⇄unreachable are never rate-limited.
 */
import type { StoredObject } from '../../api/object.js';
import type { Clock, Timer } from '../../lib/clock.js';
import type { Logger } from '../../lib/logger.js';
import type { ResourceStorage } from '../apiserver/resource-storage.js';
import type { Controller, ControllerContext, ControllerDescriptor } from './controller-manager.js';
import type { EventRecorder } from './event-recorder.js';
import { byNodeName, type Informer } from './informer.js';
import { requireResource } from './informer-factory.js';
import {
  computeZoneState,
  hasTaint,
  markConditionsUnknown,
  nodeConditions,
  readyCondition,
  readyStatus,
  swapTaints,
  taintKeys,
  timestamp,
  zoneOf,
  type ReadyStatus,
  type Taint,
  type ZoneState,
} from './node-health.js';
import { targetOf, updateObject } from './object-writes.js';
import { TaintEvictionController } from './taint-eviction-controller.js';
import { TokenBucket } from './token-bucket.js';
import { runWorkers, type ReconcileResult, type WorkQueue } from './work-queue.js';
import { isPodReady, setPodCondition } from './workload-pods.js';

/** When each node was last heard from, kept in memory by whoever talks to the agents. */
export interface HeartbeatSource {
  /**
   * Milliseconds since the epoch (by the controller's clock) of the last message from `nodeName`,
   * or undefined if it has not been heard from since this process started.
   */
  lastHeartbeat(nodeName: string): number | undefined;
}

/** Tuning of the node-lifecycle controller; every field has a default. */
export interface NodeLifecycleOptions {
  /** Silence after which a node is marked Ready=Unknown (default 8 s; `--node-monitor-grace-period`). */
  readonly gracePeriodMs?: number;
  /** The same for a node that has never posted a Ready condition (default 60 s, Kubernetes'). */
  readonly startupGracePeriodMs?: number;
  /** In-memory heartbeats (the agent gateway); without it only stored heartbeats count. */
  readonly heartbeats?: HeartbeatSource;
  /**
   * `tolerationSeconds` of the not-ready/unreachable NoExecute tolerations a pod is treated as having
   * when it has none of its own (default 4; `--default-toleration-seconds`; Kubernetes' 300).
   */
  readonly defaultTolerationSeconds?: number;
  /** Nodes per second given NoExecute taints per zone when the zone is healthy (default 10). */
  readonly evictionRate?: number;
  /** The same when the zone is partially disrupted (default 0.1). */
  readonly secondaryEvictionRate?: number;
  /** Fraction of not-Ready nodes from which a zone (of more than two) is partially disrupted (0.55). */
  readonly unhealthyZoneThreshold?: number;
  /** Every node is looked at least this often (default 5 s). */
  readonly monitorPeriodMs?: number;
  /** Concurrent node reconciles (default 4). */
  readonly workers?: number;
}

/** The node-lifecycle controller (with its taint-eviction loop) for the `ControllerManager`. */
export function nodeLifecycleController(opts: NodeLifecycleOptions = {}): ControllerDescriptor {
  return { name: 'node-lifecycle-controller', create: (ctx) => new NodeLifecycleController(ctx, opts) };
}

const nodes = requireResource('', 'v1', 'nodes');
const pods = requireResource('', 'v1', 'pods');

interface Health {
  /** When this controller last saw a new heartbeat in the stored Node (or first saw the node). */
  probeMs: number;
  /** The Ready condition's lastHeartbeatTime as last seen. */
  heartbeat: string | undefined;
}

/** Taints that follow conditions (TaintNodesByCondition) and cordon; all NoSchedule. */
const conditionTaints: readonly { type: string; status: string; key: string }[] = [
  { type: 'MemoryPressure', status: 'True', key: taintKeys.memoryPressure },
  { type: 'DiskPressure', status: 'True', key: taintKeys.diskPressure },
  { type: 'PIDPressure', status: 'True', key: taintKeys.pidPressure },
  { type: 'NetworkUnavailable', status: 'True', key: taintKeys.networkUnavailable },
];

/**
 * The node-lifecycle controller; `run` also runs its taint-eviction loop. Construct through
 * {@link nodeLifecycleController} (tests may construct it directly to reach `reconcile`).
 */
export class NodeLifecycleController implements Controller {
  readonly name = 'node-lifecycle-controller';
  readonly #storage: ResourceStorage;
  readonly #clock: Clock;
  readonly #log: Logger;
  readonly #events: EventRecorder;
  readonly #nodes: Informer;
  readonly #pods: Informer;
  readonly #queue: WorkQueue;
  readonly #heartbeats: HeartbeatSource | undefined;
  readonly #graceMs: number;
  readonly #startupGraceMs: number;
  readonly #rate: number;
  readonly #secondaryRate: number;
  readonly #threshold: number;
  readonly #monitorPeriodMs: number;
  readonly #workers: number;
  readonly #health = new Map<string, Health>();
  readonly #buckets = new Map<string, TokenBucket>();
  #counts = new Map<string, { ready: number; notReady: number }>();
  #lastStates = new Map<string, ZoneState>();
  #zonesDirty = true;
  /** Exposed for tests: the taint-eviction loop run alongside. */
  readonly taintEviction: TaintEvictionController;

  constructor(ctx: ControllerContext, opts: NodeLifecycleOptions = {}) {
    this.#storage = ctx.storage;
    this.#clock = ctx.clock;
    this.#log = ctx.logger;
    this.#events = ctx.events;
    this.#heartbeats = opts.heartbeats;
    this.#graceMs = opts.gracePeriodMs ?? 8000;
    this.#startupGraceMs = opts.startupGracePeriodMs ?? 60_000;
    this.#rate = opts.evictionRate ?? 10;
    this.#secondaryRate = opts.secondaryEvictionRate ?? 0.1;
    this.#threshold = opts.unhealthyZoneThreshold ?? 0.55;
    this.#monitorPeriodMs = opts.monitorPeriodMs ?? 5000;
    this.#workers = opts.workers ?? 4;
    this.#queue = ctx.newQueue('node_lifecycle');
    this.#nodes = ctx.informers.informerFor(nodes);
    this.#pods = ctx.informers.informerFor(pods);
    this.#pods.addIndex(byNodeName);
    this.#nodes.addEventHandler({
      onAdd: (node) => {
        this.#observe(node);
        this.#zonesChanged();
        this.#queue.add(node.metadata.name ?? '');
      },
      onUpdate: (old, node) => {
        this.#observe(node);
        if (readyStatus(old) !== readyStatus(node) || zoneOf(old) !== zoneOf(node)) this.#zonesChanged();
        this.#queue.add(node.metadata.name ?? '');
      },
      onDelete: (node) => {
        this.#health.delete(node.metadata.name ?? '');
        this.#zonesChanged();
      },
    });
    this.taintEviction = new TaintEvictionController(ctx, {
      ...(opts.defaultTolerationSeconds === undefined
        ? {}
        : { defaultTolerationSeconds: opts.defaultTolerationSeconds }),
    });
  }

  async run(signal: AbortSignal): Promise<void> {
    let sweep: Timer | undefined;
    if (!signal.aborted) {
      sweep = this.#clock.setTimer(
        this.#monitorPeriodMs,
        () => {
          for (const node of this.#nodes.list()) this.#queue.add(node.metadata.name ?? '');
        },
        { repeat: true },
      );
    }
    try {
      await Promise.all([
        runWorkers(this.#queue, (name) => this.reconcile(name), {
          workers: this.#workers,
          signal,
          logger: this.#log,
        }),
        this.taintEviction.run(signal),
      ]);
    } finally {
      sweep?.cancel();
    }
  }

  /** One look at node `name`: conditions, taints, pods. Exposed for tests. */
  async reconcile(name: string): Promise<ReconcileResult | undefined> {
    const cached = this.#nodes.get(undefined, name);
    if (cached === undefined) return undefined;
    const now = this.#clock.now();
    const health = this.#observe(cached);
    const lastHeard = Math.max(health.probeMs, this.#heartbeats?.lastHeartbeat(name) ?? -Infinity);
    let node = cached;
    let requeueMs = this.#monitorPeriodMs;
    let justMarked = false;
    const status = readyStatus(node);
    if (status !== 'Unknown') {
      const grace = status === undefined ? this.#startupGraceMs : this.#graceMs;
      const silentMs = now - lastHeard;
      if (silentMs > grace) {
        const marked = await this.#markUnknown(node, health, grace, silentMs);
        if (marked !== undefined) {
          node = marked;
          // The NoExecute decision waits for this write to reach the cache (its update event brings
          // the node back), so that the zone's state counts every node marked in the same wave.
          justMarked = true;
        }
      } else {
        // Look again the moment the grace period would run out.
        requeueMs = Math.min(requeueMs, grace - silentMs + 1);
      }
    }
    const waitMs = await this.#reconcileTaints(node, !justMarked);
    if (waitMs !== undefined) requeueMs = Math.min(requeueMs, Math.max(waitMs, 1));
    if (readyStatus(node) !== 'True') await this.#markPodsNotReady(node);
    return { requeueAfterMs: requeueMs };
  }

  /** Records what the cached Node says about heartbeats; returns the node's health record. */
  #observe(node: StoredObject): Health {
    const name = node.metadata.name ?? '';
    const ready = readyCondition(node);
    const heartbeat = ready?.lastHeartbeatTime;
    let health = this.#health.get(name);
    if (health === undefined) {
      // First sight: a full grace period from now, whatever the stored heartbeat says.
      health = { probeMs: this.#clock.now(), heartbeat };
      this.#health.set(name, health);
    } else if (health.heartbeat !== heartbeat) {
      health.heartbeat = heartbeat;
      // Our own Unknown write keeps the heartbeat time; only an agent's (non-Unknown) report counts.
      if (ready?.status !== 'Unknown') health.probeMs = this.#clock.now();
    }
    return health;
  }

  async #markUnknown(
    node: StoredObject,
    health: Health,
    graceMs: number,
    silentMs: number,
  ): Promise<StoredObject | undefined> {
    const name = node.metadata.name ?? '';
    const now = this.#clock.now();
    const result = await updateObject(
      this.#storage,
      nodes,
      targetOf(node),
      (fresh) => {
        // A heartbeat written since the cache was read: not silent after all (its event follows).
        if (readyCondition(fresh)?.lastHeartbeatTime !== health.heartbeat) return false;
        const heard = this.#heartbeats?.lastHeartbeat(name);
        if (heard !== undefined && this.#clock.now() - heard <= graceMs) return false;
        return markConditionsUnknown(fresh, timestamp(now));
      },
      { subresource: 'status' },
    );
    if (result.outcome !== 'updated') return undefined;
    this.#log.warn(
      { node: name, silentMs, previous: readyStatus(node) ?? 'none' },
      'node stopped posting status; marked Ready=Unknown',
    );
    this.#events.event(result.object, 'Normal', 'NodeNotReady', `Node ${name} status is now: NodeNotReady`);
    return result.object;
  }

  /**
   * Brings the node's controller-owned taints in line with its conditions. Returns the milliseconds to
   * wait for an eviction token when a NoExecute taint is due but rate-limited.
   */
  async #reconcileTaints(node: StoredObject, mayEvict: boolean): Promise<number | undefined> {
    const status = readyStatus(node);
    const plan = this.#taintPlan(node, status);
    let waitMs: number | undefined;
    if (plan.noExecuteToAdd !== undefined && !mayEvict) {
      plan.add = plan.add.filter((t) => t.effect !== 'NoExecute');
    } else if (plan.noExecuteToAdd !== undefined) {
      const wait = this.#bucketFor(node).tryTake();
      if (wait > 0) {
        waitMs = Number.isFinite(wait) ? wait : this.#monitorPeriodMs;
        plan.add = plan.add.filter((t) => t.effect !== 'NoExecute');
      }
    }
    if (plan.add.length === 0 && plan.remove.every((r) => !hasTaint(node, r.key, r.effect))) return waitMs;
    const result = await updateObject(this.#storage, nodes, targetOf(node), (fresh) => {
      // Decided on the cached conditions; if they moved on, the update event brings us back.
      if (readyStatus(fresh) !== status) return false;
      return swapTaints(fresh, plan.add, plan.remove);
    });
    if (result.outcome === 'updated') {
      const added = plan.add.filter((t) => !hasTaint(node, t.key, t.effect)).map(describeTaint);
      const removed = plan.remove.filter((r) => hasTaint(node, r.key, r.effect)).map(describeTaint);
      this.#log.info({ node: node.metadata.name, added, removed }, 'node taints updated');
    }
    return waitMs;
  }

  #taintPlan(
    node: StoredObject,
    status: ReadyStatus,
  ): { add: Taint[]; remove: { key: string; effect: string }[]; noExecuteToAdd: Taint | undefined } {
    const add: Taint[] = [];
    const remove: { key: string; effect: string }[] = [];
    const conditions = nodeConditions(node);
    const want = (key: string, effect: string, on: boolean): void => {
      if (on) add.push({ key, effect });
      else remove.push({ key, effect });
    };
    want(taintKeys.notReady, 'NoSchedule', status === 'False');
    want(taintKeys.unreachable, 'NoSchedule', status === 'Unknown');
    for (const c of conditionTaints) {
      want(
        c.key,
        'NoSchedule',
        conditions.some((x) => x.type === c.type && x.status === c.status),
      );
    }
    const unschedulable = (node.spec as { unschedulable?: unknown } | undefined)?.unschedulable === true;
    want(taintKeys.unschedulable, 'NoSchedule', unschedulable);

    const key =
      status === 'False' ? taintKeys.notReady : status === 'Unknown' ? taintKeys.unreachable : undefined;
    const other = key === taintKeys.notReady ? taintKeys.unreachable : taintKeys.notReady;
    let noExecuteToAdd: Taint | undefined;
    if (key === undefined || this.#allZonesDisrupted(node)) {
      remove.push(
        { key: taintKeys.notReady, effect: 'NoExecute' },
        { key: taintKeys.unreachable, effect: 'NoExecute' },
      );
    } else {
      remove.push({ key: other, effect: 'NoExecute' });
      if (!hasTaint(node, key, 'NoExecute')) {
        const taint = { key, effect: 'NoExecute', timeAdded: timestamp(this.#clock.now()) };
        add.push(taint);
        // Swapping not-ready for unreachable (or back) moves no node into eviction: no token needed.
        if (!hasTaint(node, other, 'NoExecute')) noExecuteToAdd = taint;
      }
    }
    return { add: add.filter((t) => !hasTaint(node, t.key, t.effect)), remove, noExecuteToAdd };
  }

  /** Sets Ready=False on the node's pods that still say Ready (MarkPodsNotReady). */
  async #markPodsNotReady(node: StoredObject): Promise<void> {
    const name = node.metadata.name ?? '';
    for (const pod of this.#pods.byIndex(byNodeName, name)) {
      if (!isPodReady(pod)) continue;
      await updateObject(
        this.#storage,
        pods,
        targetOf(pod),
        (p) => isPodReady(p) && setPodCondition(p, { type: 'Ready', status: 'False' }, this.#clock.now()),
        { subresource: 'status' },
      );
    }
  }

  #bucketFor(node: StoredObject): TokenBucket {
    const zone = zoneOf(node);
    const state = this.#zoneStates(node).get(zone) ?? 'normal';
    const rate = state === 'partial' ? this.#secondaryRate : this.#rate;
    let bucket = this.#buckets.get(zone);
    if (bucket === undefined) {
      bucket = new TokenBucket({ ratePerSecond: rate, clock: this.#clock });
      this.#buckets.set(zone, bucket);
    } else if (bucket.ratePerSecond !== rate) {
      bucket.setRate(rate);
    }
    return bucket;
  }

  /** Whether no node in any zone is Ready (counting `node` as it is now, not as cached). */
  #allZonesDisrupted(node: StoredObject): boolean {
    const states = this.#zoneStates(node);
    if (states.size === 0) return false;
    for (const s of states.values()) if (s !== 'full') return false;
    return true;
  }

  /**
   * Zone states from the cached Nodes, with `node` counted as given (the cache may not show our own
   * write of its conditions yet).
   */
  #zoneStates(node: StoredObject): Map<string, ZoneState> {
    const counts = this.#zoneCounts();
    const name = node.metadata.name ?? '';
    const cached = this.#nodes.get(undefined, name);
    const adjusted = new Map([...counts].map(([z, c]) => [z, { ...c }]));
    const bump = (n: StoredObject, by: number): void => {
      const zone = zoneOf(n);
      let c = adjusted.get(zone);
      if (c === undefined) adjusted.set(zone, (c = { ready: 0, notReady: 0 }));
      if (readyStatus(n) === 'True') c.ready += by;
      else c.notReady += by;
    };
    if (cached !== undefined) bump(cached, -1);
    bump(node, 1);
    const states = new Map<string, ZoneState>();
    for (const [zone, c] of adjusted) {
      if (c.ready + c.notReady > 0) states.set(zone, computeZoneState(c.ready, c.notReady, this.#threshold));
    }
    return states;
  }

  /**
   * A node appeared, went, or changed readiness or zone: zone states are recomputed once the current
   * burst of informer events is through, so that rate changes take effect when the states change.
   */
  #zonesChanged(): void {
    if (this.#zonesDirty) return;
    this.#zonesDirty = true;
    queueMicrotask(() => {
      this.#zoneCounts();
    });
  }

  /** Ready/not-Ready counts per zone of the cached Nodes; recomputed after any Node change. */
  #zoneCounts(): Map<string, { ready: number; notReady: number }> {
    if (!this.#zonesDirty) return this.#counts;
    const counts = new Map<string, { ready: number; notReady: number }>();
    for (const node of this.#nodes.list()) {
      const zone = zoneOf(node);
      let c = counts.get(zone);
      if (c === undefined) counts.set(zone, (c = { ready: 0, notReady: 0 }));
      if (readyStatus(node) === 'True') c.ready++;
      else c.notReady++;
    }
    const states = new Map<string, ZoneState>();
    for (const [zone, c] of counts) states.set(zone, computeZoneState(c.ready, c.notReady, this.#threshold));
    const changed =
      states.size !== this.#lastStates.size || [...states].some(([z, s]) => this.#lastStates.get(z) !== s);
    for (const [zone, bucket] of this.#buckets) {
      bucket.setRate(states.get(zone) === 'partial' ? this.#secondaryRate : this.#rate);
    }
    if (changed && this.#lastStates.size > 0) {
      this.#log.info({ zones: Object.fromEntries(states) }, 'zone disruption state changed');
      // Every node's eviction decision may differ now.
      for (const node of this.#nodes.list()) this.#queue.add(node.metadata.name ?? '');
    }
    this.#lastStates = states;
    this.#counts = counts;
    this.#zonesDirty = false;
    return counts;
  }
}

function describeTaint(t: { key: string; effect: string }): string {
  return `${t.key}:${t.effect}`;
}

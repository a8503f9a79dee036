/**
 * Taint-based eviction (Kubernetes' NoExecuteTaintManager / taint-eviction-controller): a pod bound
 * to a node with NoExecute taints is deleted at once if it does not tolerate one of them, or when the
 * shortest `tolerationSeconds` of the tolerations it uses has passed since this controller first saw
 * it there; tolerations without `tolerationSeconds` tolerate forever. Runs inside the node-lifecycle
 * controller.
 *
 *     pod on node, no NoExecute taint ──taint added──▶ timer (min tolerationSeconds, from first sight)
 *          ▲                                              │ expires (or nothing tolerates: at once)
 *          └──────────── taint removed: timer dropped ────┤
 *                                                         ▼
 *                                          TaintManagerEviction event, pod deleted
 *
 * Default tolerations: Kubernetes' DefaultTolerationSeconds admission gives every pod
 * `not-ready:NoExecute` and `unreachable:NoExecute` tolerations for 300 s. Berth does not write them
 * into pods (admission has no per-server options to carry the number); instead a pod without a
 * toleration for one of those keys (or a wildcard one) is treated here as if it had it, with
 * `defaultTolerationSeconds` (default 4). DaemonSet pods carry explicit, unlimited ones.
 *
 * Deletion: gracefully (the pod's own grace period, a `DisruptionTarget` condition first) when the
 * node's agent can still confirm; with grace period 0 when the node is unreachable (Ready≠True and
 * tainted `unreachable`), because no agent can ever confirm that pod's end — Kubernetes leaves such
 * pods Terminating until its pod GC force-deletes them; Berth does it straight away so that
 * controllers and quotas see the pod gone. A partitioned agent that comes back finds the pod gone
 * from its feed and stops it.
 */
import type { StoredObject } from '../../api/object.js';
import type { Clock } from '../../lib/clock.js';
import type { Logger } from '../../lib/logger.js';
import type { ResourceStorage } from '../apiserver/resource-storage.js';
import { toleratesTaint } from '../scheduler/tolerations.js';
import type { Controller, ControllerContext } from './controller-manager.js';
import type { EventRecorder } from './event-recorder.js';
import { byNodeName, keyOf, type Informer } from './informer.js';
import { requireResource } from './informer-factory.js';
import {
  hasTaint,
  noExecuteTaints,
  readyStatus,
  taintKeys,
  type Taint,
  type Toleration,
} from './node-health.js';
import { deleteObject, targetOf, updateObject } from './object-writes.js';
import { runWorkers, type ReconcileResult, type WorkQueue } from './work-queue.js';
import { boundNodeName, describeObject, podTolerations, setPodCondition } from './workload-pods.js';

/** Tuning of taint-based eviction. */
export interface TaintEvictionOptions {
  /** Seconds of the default not-ready/unreachable tolerations (default 4). */
  readonly defaultTolerationSeconds?: number;
  /** Concurrent pod reconciles (default 4). */
  readonly workers?: number;
}

const nodes = requireResource('', 'v1', 'nodes');
const pods = requireResource('', 'v1', 'pods');

/** Taint-based eviction of pods on NoExecute-tainted nodes, keyed by pod. Run by the node-lifecycle controller. */
export class TaintEvictionController implements Controller {
  readonly name = 'taint-eviction-controller';
  readonly #storage: ResourceStorage;
  readonly #clock: Clock;
  readonly #log: Logger;
  readonly #events: EventRecorder;
  readonly #nodes: Informer;
  readonly #pods: Informer;
  readonly #queue: WorkQueue;
  readonly #defaultSeconds: number;
  readonly #workers: number;
  /** Pod uid → when it was first seen on a node with NoExecute taints it tolerates for a while. */
  readonly #since = new Map<string, number>();
  /** Pod uid → when it is due (for tests and logs). */
  readonly #due = new Map<string, number>();

  constructor(ctx: ControllerContext, opts: TaintEvictionOptions = {}) {
    this.#storage = ctx.storage;
    this.#clock = ctx.clock;
    this.#log = ctx.logger;
    this.#events = ctx.events;
    this.#defaultSeconds = opts.defaultTolerationSeconds ?? 4;
    this.#workers = opts.workers ?? 4;
    this.#queue = ctx.newQueue('taint_eviction');
    this.#nodes = ctx.informers.informerFor(nodes);
    this.#pods = ctx.informers.informerFor(pods);
    this.#pods.addIndex(byNodeName);
    const podsOn = (node: StoredObject): void => {
      for (const pod of this.#pods.byIndex(byNodeName, node.metadata.name ?? '')) this.#queue.add(keyOf(pod));
    };
    this.#nodes.addEventHandler({
      onAdd: (node) => {
        if (noExecuteTaints(node).length > 0) podsOn(node);
      },
      onUpdate: (old, node) => {
        if (JSON.stringify(noExecuteTaints(old)) !== JSON.stringify(noExecuteTaints(node))) podsOn(node);
      },
    });
    const onPod = (pod: StoredObject): void => {
      const nodeName = boundNodeName(pod);
      if (nodeName === undefined || pod.metadata.deletionTimestamp !== undefined) return;
      const node = this.#nodes.get(undefined, nodeName);
      if (node !== undefined && noExecuteTaints(node).length > 0) this.#queue.add(keyOf(pod));
    };
    this.#pods.addEventHandler({
      onAdd: onPod,
      onUpdate: (_old, pod) => {
        onPod(pod);
      },
      onDelete: (pod) => {
        this.#forget(pod.metadata.uid ?? '');
      },
    });
  }

  run(signal: AbortSignal): Promise<void> {
    return runWorkers(this.#queue, (key) => this.reconcile(key), {
      workers: this.#workers,
      signal,
      logger: this.#log,
    });
  }

  /** Evicts the pod behind `key` if its node's NoExecute taints say so now; else waits. Exposed for tests. */
  async reconcile(key: string): Promise<ReconcileResult | undefined> {
    const pod = this.#pods.getByKey(key);
    if (pod === undefined) return undefined;
    const uid = pod.metadata.uid ?? '';
    const nodeName = boundNodeName(pod);
    const node = nodeName === undefined ? undefined : this.#nodes.get(undefined, nodeName);
    const taints = node === undefined ? [] : noExecuteTaints(node);
    if (node === undefined || taints.length === 0 || pod.metadata.deletionTimestamp !== undefined) {
      this.#forget(uid);
      return undefined;
    }
    const seconds = minTolerationSeconds(taints, this.effectiveTolerations(pod));
    if (seconds === Infinity) {
      this.#forget(uid);
      return undefined;
    }
    const now = this.#clock.now();
    let since = this.#since.get(uid);
    if (since === undefined) this.#since.set(uid, (since = now));
    const due = since + seconds * 1000;
    this.#due.set(uid, due);
    if (now < due) return { requeueAfterMs: due - now };
    await this.#evict(pod, node);
    this.#forget(uid);
    return undefined;
  }

  /** When the pod with `uid` is due for eviction (ms since the epoch), if it is scheduled. For tests. */
  evictionDue(uid: string): number | undefined {
    return this.#due.get(uid);
  }

  /** The pod's tolerations plus the default not-ready/unreachable ones it lacks. */
  effectiveTolerations(pod: StoredObject): Toleration[] {
    const own = podTolerations(pod);
    const out = [...own];
    for (const key of [taintKeys.notReady, taintKeys.unreachable]) {
      const covered = own.some(
        (t) =>
          (t.key === key || t.key === undefined || t.key === '') &&
          (t.effect === 'NoExecute' || t.effect === undefined || t.effect === ''),
      );
      if (!covered) {
        out.push({ key, operator: 'Exists', effect: 'NoExecute', tolerationSeconds: this.#defaultSeconds });
      }
    }
    return out;
  }

  #forget(uid: string): void {
    this.#since.delete(uid);
    this.#due.delete(uid);
  }

  async #evict(pod: StoredObject, node: StoredObject): Promise<void> {
    const unreachable = readyStatus(node) !== 'True' && hasTaint(node, taintKeys.unreachable, 'NoExecute');
    this.#events.event(
      pod,
      'Normal',
      'TaintManagerEviction',
      `Marking for deletion Pod ${describeObject(pod)}`,
    );
    if (!unreachable) {
      await updateObject(
        this.#storage,
        pods,
        targetOf(pod),
        (p) =>
          setPodCondition(
            p,
            {
              type: 'DisruptionTarget',
              status: 'True',
              reason: 'DeletionByTaintManager',
              message: 'Taint manager: deleting due to NoExecute taint',
            },
            this.#clock.now(),
          ),
        { subresource: 'status' },
      );
    }
    const outcome = await deleteObject(
      this.#storage,
      pods,
      targetOf(pod),
      unreachable ? { gracePeriodSeconds: 0 } : {},
    );
    this.#log.info(
      { pod: describeObject(pod), node: node.metadata.name, force: unreachable, outcome },
      'pod evicted for a NoExecute taint',
    );
  }
}

/**
 * The shortest `tolerationSeconds` among the first toleration matching each taint
 * (GetMatchingTolerations + getMinTolerationTime): 0 when some taint is not tolerated (or a toleration
 * says ≤ 0), Infinity when every matching toleration is unlimited.
 */
export function minTolerationSeconds(taints: readonly Taint[], tolerations: readonly Toleration[]): number {
  let min = Infinity;
  for (const taint of taints) {
    const used = tolerations.find((t) => toleratesTaint(t, taint));
    if (used === undefined) return 0;
    const secs = used.tolerationSeconds;
    if (typeof secs === 'number') min = Math.min(min, Math.max(0, secs));
  }
  return min;
}

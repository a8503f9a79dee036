/**
 * The DaemonSet controller (pkg/controller/daemon): one pod per eligible node, rolled to new
 * templates, with the status `kubectl rollout status daemonset` reads.
 *
 * A reconcile of one DaemonSet, level-triggered (woken by its own, its pods' and any Node's changes):
 *
 *   1. history: find or create the ControllerRevision of the current template (daemon-set-revisions.ts);
 *      its hash labels up-to-date pods (`controller-revision-hash`)
 *   2. manage, per node (daemon-set-pods.ts decides eligibility: nodeName, nodeSelector, required node
 *      affinity, taints against the template's plus the automatic tolerations):
 *        should run, no pod           → create one (pinned by node affinity; the scheduler binds it)
 *        should run, a Failed pod     → delete it (back-off per node), a new one follows
 *        should run, several pods     → keep the oldest, delete the rest
 *        may not even continue        → delete its pods
 *      and unbound pods meant for nodes that no longer exist are deleted
 *   3. update strategy
 *        RollingUpdate → delete old-template pods while at most `maxUnavailable` (int or % of the
 *                        desired count, rounded up) of the desired nodes lack an available
 *                        up-to-date pod; unavailable old pods go at once; step 2 then creates the
 *                        new ones. `maxSurge` is not implemented: a DaemonSet asking only for surge
 *                        (maxUnavailable 0) is rolled one node at a time.
 *        OnDelete      → nothing; new pods (after a user deletes old ones) get the new template
 *   4. old ControllerRevisions beyond revisionHistoryLimit go; status is written when it changed.
 *
 * Pods are created and deleted through `OwnedPods`; a `WriteBarrier` keeps the next reconcile of the
 * same DaemonSet waiting until the pod cache shows those writes (no duplicate pods). Pods are found
 * by their controller reference; adopting orphans and releasing pods whose labels stopped matching
 * the selector are not implemented. The deprecated `pod-template-generation` label is not set.
 */
import type { StoredObject } from '../../api/object.js';
import { labelSelectorFromObject } from '../../api/selectors/label-selector.js';
import { BerthError, errorCodes, errorMessage } from '../../lib/errors.js';
import type { Clock } from '../../lib/clock.js';
import type { Logger } from '../../lib/logger.js';
import type { ResourceStorage } from '../apiserver/resource-storage.js';
import type { Controller, ControllerContext, ControllerDescriptor } from './controller-manager.js';
import type { EventRecorder } from './event-recorder.js';
import { byControllerUid, cacheKey, keyOf, type Informer } from './informer.js';
import { requireResource } from './informer-factory.js';
import { nodeTaints } from './node-health.js';
import { targetOf, updateObject } from './object-writes.js';
import { OwnedPods } from './owned-pods.js';
import { controllerRefOf } from './owner-references.js';
import {
  newDaemonPod,
  nodeShouldRunDaemonPod,
  revisionHashLabel,
  type NodeVerdict,
} from './daemon-set-pods.js';
import { cleanupHistory, constructHistory, controllerRevisions } from './daemon-set-revisions.js';
import { runWorkers, type ReconcileResult, type WorkQueue } from './work-queue.js';
import { WriteBarrier } from './write-barrier.js';
import {
  boundNodeName,
  creationMs,
  describeObject,
  isPodAvailable,
  isPodReady,
  isPodTerminal,
  podPhase,
  targetNodeName,
} from './workload-pods.js';

/** Tuning of the DaemonSet controller. */
export interface DaemonSetControllerOptions {
  /** DaemonSets reconciled concurrently (default 2). */
  readonly workers?: number;
  /** Pod creations in flight at once per DaemonSet (default 16). */
  readonly createConcurrency?: number;
  /** First delay before replacing a Failed pod on the same node again (default 1 s; doubles to 15 min). */
  readonly failedPodBackoffMs?: number;
}

/** The DaemonSet controller for the `ControllerManager`. */
export function daemonSetController(opts: DaemonSetControllerOptions = {}): ControllerDescriptor {
  return { name: 'daemonset-controller', create: (ctx) => new DaemonSetController(ctx, opts) };
}

const daemonSets = requireResource('apps', 'v1', 'daemonsets');
const pods = requireResource('', 'v1', 'pods');
const nodes = requireResource('', 'v1', 'nodes');
const MAX_FAILED_BACKOFF_MS = 15 * 60_000;
/** When a reconcile waits for the cache, look again after this long even without an event. */
const BARRIER_RECHECK_MS = 1000;

/** The counters of `DaemonSetStatus` this controller computes. */
export interface DaemonSetCounts {
  desiredNumberScheduled: number;
  currentNumberScheduled: number;
  numberMisscheduled: number;
  numberReady: number;
  numberAvailable: number;
  updatedNumberScheduled: number;
  numberUnavailable: number;
}

interface RollingUpdateSpec {
  maxUnavailable?: number | string;
  maxSurge?: number | string;
}

interface DaemonSetSpec {
  minReadySeconds?: number;
  updateStrategy?: { type?: string; rollingUpdate?: RollingUpdateSpec };
}

/** The DaemonSet controller, keyed by `namespace/name`. Construct through {@link daemonSetController}. */
export class DaemonSetController implements Controller {
  readonly name = 'daemonset-controller';
  readonly #storage: ResourceStorage;
  readonly #clock: Clock;
  readonly #log: Logger;
  readonly #events: EventRecorder;
  readonly #daemonSets: Informer;
  readonly #pods: Informer;
  readonly #nodes: Informer;
  readonly #revisions: Informer;
  readonly #queue: WorkQueue;
  readonly #barrier = new WriteBarrier();
  readonly #owned: OwnedPods;
  readonly #workers: number;
  readonly #createConcurrency: number;
  readonly #failedBackoffMs: number;
  /** `<ds uid>/<node>` → back-off after deleting a Failed pod there. */
  readonly #failedBackoff = new Map<string, { delayMs: number; until: number }>();

  constructor(ctx: ControllerContext, opts: DaemonSetControllerOptions = {}) {
    this.#storage = ctx.storage;
    this.#clock = ctx.clock;
    this.#log = ctx.logger;
    this.#events = ctx.events;
    this.#workers = opts.workers ?? 2;
    this.#createConcurrency = opts.createConcurrency ?? 16;
    this.#failedBackoffMs = opts.failedPodBackoffMs ?? 1000;
    this.#queue = ctx.newQueue('daemonset');
    this.#daemonSets = ctx.informers.informerFor(daemonSets);
    this.#pods = ctx.informers.informerFor(pods);
    this.#nodes = ctx.informers.informerFor(nodes);
    this.#revisions = ctx.informers.informerFor(controllerRevisions);
    this.#pods.addIndex(byControllerUid);
    this.#revisions.addIndex(byControllerUid);
    this.#owned = new OwnedPods({
      storage: ctx.storage,
      events: ctx.events,
      pods: this.#pods,
      barrier: this.#barrier,
    });

    this.#daemonSets.addEventHandler({
      onAdd: (ds) => {
        this.#queue.add(keyOf(ds));
      },
      onUpdate: (_old, ds) => {
        this.#queue.add(keyOf(ds));
      },
      onDelete: (ds) => {
        this.#barrier.forget(keyOf(ds));
        const uid = ds.metadata.uid ?? '';
        for (const k of this.#failedBackoff.keys())
          if (k.startsWith(`${uid}/`)) this.#failedBackoff.delete(k);
      },
    });
    const onPod = (pod: StoredObject): void => {
      const ref = controllerRefOf(pod);
      if (ref?.kind !== 'DaemonSet' || !ref.apiVersion.startsWith('apps/')) return;
      this.#queue.add(cacheKey(pod.metadata.namespace, ref.name));
    };
    this.#pods.addEventHandler({
      onAdd: onPod,
      onUpdate: (old, pod) => {
        onPod(pod);
        if (controllerRefOf(old)?.uid !== controllerRefOf(pod)?.uid) onPod(old);
      },
      onDelete: onPod,
    });
    const all = (): void => {
      for (const ds of this.#daemonSets.list()) this.#queue.add(keyOf(ds));
    };
    this.#nodes.addEventHandler({
      onAdd: all,
      onUpdate: (old, node) => {
        if (
          JSON.stringify(old.metadata.labels ?? {}) !== JSON.stringify(node.metadata.labels ?? {}) ||
          JSON.stringify(nodeTaints(old)) !== JSON.stringify(nodeTaints(node))
        ) {
          all();
        }
      },
      onDelete: all,
    });
  }

  run(signal: AbortSignal): Promise<void> {
    return runWorkers(this.#queue, (key) => this.reconcile(key), {
      workers: this.#workers,
      signal,
      logger: this.#log,
    });
  }

  /** One pass over the DaemonSet behind `key`. Exposed for tests. */
  async reconcile(key: string): Promise<ReconcileResult | undefined> {
    const ds = this.#daemonSets.getByKey(key);
    if (ds === undefined) {
      this.#barrier.forget(key);
      return undefined;
    }
    // Our last writes are not in the cache yet: their events bring us back.
    if (!this.#barrier.caughtUp(key)) return { requeueAfterMs: BARRIER_RECHECK_MS };
    if (ds.metadata.deletionTimestamp !== undefined) return undefined; // the garbage collector has its pods
    const selector = labelSelectorFromObject(
      (ds.spec as { selector?: Parameters<typeof labelSelectorFromObject>[0] } | undefined)?.selector,
    );
    if (!selector.ok || selector.selector.isEverything() || selector.selector.isNothing()) {
      this.#events.event(
        ds,
        'Warning',
        'SelectingAll',
        'This daemon set is selecting all pods. A non-empty selector is required.',
      );
      return undefined;
    }
    const history = await constructHistory({ storage: this.#storage, revisions: this.#revisions }, ds);
    this.#barrier.note(key, this.#revisions, history.current.metadata.resourceVersion);
    const hash = history.hash;
    const now = this.#clock.now();
    const nodeList = this.#nodes
      .list()
      .sort((a, b) => ((a.metadata.name ?? '') < (b.metadata.name ?? '') ? -1 : 1));
    const verdicts = new Map<string, NodeVerdict>(
      nodeList.map((n) => [n.metadata.name ?? '', nodeShouldRunDaemonPod(n, ds)]),
    );
    const byNode = this.#podsByNode(ds);
    const { create, remove, backoffMs } = this.#manage(ds, verdicts, byNode);
    const spec = (ds.spec ?? {}) as DaemonSetSpec;
    if (spec.updateStrategy?.type !== 'OnDelete') {
      for (const pod of rollingUpdateDeletions(ds, verdicts, byNode, hash, now)) {
        if (!remove.includes(pod)) remove.push(pod);
      }
    }
    const failures: string[] = [];
    await this.#syncNodes(ds, key, create, remove, hash, failures);
    const liveHashes = new Set<string>();
    for (const list of byNode.values()) {
      for (const pod of list) {
        const h = pod.metadata.labels?.[revisionHashLabel];
        if (h !== undefined) liveHashes.add(h);
      }
    }
    await cleanupHistory({ storage: this.#storage, revisions: this.#revisions }, ds, history.old, liveHashes);
    const counts = daemonSetCounts(verdicts, byNode, hash, spec.minReadySeconds ?? 0, now);
    await this.#writeStatus(ds, counts);
    if (failures.length > 0) {
      throw new BerthError(errorCodes.RECONCILE_FAILED, `daemonset ${key}: ${failures.join('; ')}`);
    }
    let requeueMs: number | undefined = backoffMs;
    if ((spec.minReadySeconds ?? 0) > 0 && counts.numberReady !== counts.numberAvailable) {
      requeueMs = Math.min(requeueMs ?? Infinity, (spec.minReadySeconds ?? 0) * 1000);
    }
    return requeueMs === undefined ? undefined : { requeueAfterMs: requeueMs };
  }

  /** The DaemonSet's pods by the node they are for (terminal pods being deleted left out). */
  #podsByNode(ds: StoredObject): Map<string, StoredObject[]> {
    const out = new Map<string, StoredObject[]>();
    for (const pod of this.#pods.byIndex(byControllerUid, ds.metadata.uid ?? '')) {
      if (isPodTerminal(pod) && pod.metadata.deletionTimestamp !== undefined) continue;
      const node = targetNodeName(pod);
      if (node === undefined) continue;
      let list = out.get(node);
      if (list === undefined) out.set(node, (list = []));
      list.push(pod);
    }
    for (const list of out.values()) list.sort(byCreationAndPhase);
    return out;
  }

  /** Step 2: which nodes need a pod, which pods must go (podsShouldBeOnNode). */
  #manage(
    ds: StoredObject,
    verdicts: ReadonlyMap<string, NodeVerdict>,
    byNode: ReadonlyMap<string, StoredObject[]>,
  ): { create: string[]; remove: StoredObject[]; backoffMs: number | undefined } {
    const create: string[] = [];
    const remove: StoredObject[] = [];
    let backoffMs: number | undefined;
    const now = this.#clock.now();
    for (const [name, verdict] of verdicts) {
      const onNode = byNode.get(name) ?? [];
      if (verdict.shouldRun && onNode.length === 0) {
        create.push(name);
      } else if (verdict.shouldRun) {
        const running: StoredObject[] = [];
        for (const pod of onNode) {
          if (pod.metadata.deletionTimestamp !== undefined) continue;
          if (podPhase(pod) === 'Failed') {
            const slot = `${ds.metadata.uid ?? ''}/${name}`;
            const b = this.#failedBackoff.get(slot);
            if (b !== undefined && b.until > now) {
              backoffMs = Math.min(backoffMs ?? Infinity, b.until - now);
              continue;
            }
            const delayMs = Math.min((b?.delayMs ?? this.#failedBackoffMs / 2) * 2, MAX_FAILED_BACKOFF_MS);
            this.#failedBackoff.set(slot, { delayMs, until: now + delayMs });
            this.#events.event(
              ds,
              'Warning',
              'FailedDaemonPod',
              `Found failed daemon pod ${describeObject(pod)} on node ${name}, will try to kill it`,
            );
            remove.push(pod);
            continue;
          }
          running.push(pod);
        }
        // Several pods on one node: keep the oldest (byNode lists are sorted that way).
        remove.push(...running.slice(1));
      } else if (!verdict.shouldContinueRunning) {
        remove.push(...onNode.filter((p) => p.metadata.deletionTimestamp === undefined));
      }
    }
    for (const [name, list] of byNode) {
      if (verdicts.has(name)) continue;
      // Waiting for a node that is gone: it will never be scheduled (bound ones are the pod GC's).
      remove.push(
        ...list.filter((p) => boundNodeName(p) === undefined && p.metadata.deletionTimestamp === undefined),
      );
    }
    return { create, remove, backoffMs };
  }

  async #syncNodes(
    ds: StoredObject,
    key: string,
    create: readonly string[],
    remove: readonly StoredObject[],
    hash: string,
    failures: string[],
  ): Promise<void> {
    if (create.length > 0 || remove.length > 0) {
      this.#log.debug(
        { daemonset: key, create: create.length, delete: remove.length },
        'syncing daemon pods',
      );
    }
    for (let i = 0; i < create.length; i += this.#createConcurrency) {
      const batch = create.slice(i, i + this.#createConcurrency);
      const results = await Promise.allSettled(
        batch.map((node) => this.#owned.create(ds, key, newDaemonPod(ds, node, hash))),
      );
      const failed = results.filter((r) => r.status === 'rejected');
      if (failed.length > 0) {
        failures.push(...failed.map((r) => errorMessage(r.reason)));
        break; // slow start: stop creating after a failed batch
      }
    }
    await Promise.all(
      remove.map(async (pod) => {
        try {
          await this.#owned.delete(ds, key, pod);
        } catch (err) {
          failures.push(errorMessage(err));
        }
      }),
    );
  }

  async #writeStatus(ds: StoredObject, counts: DaemonSetCounts): Promise<void> {
    const want = statusFields(counts, ds.metadata.generation);
    const current = (ds.status ?? {}) as Record<string, unknown>;
    if (
      Object.entries(want).every(([k, v]) => current[k] === v) &&
      statusKeys.every((k) => k in want || !(k in current))
    ) {
      return;
    }
    await updateObject(
      this.#storage,
      daemonSets,
      targetOf(ds),
      (d) => {
        const owned = new Set<string>(statusKeys);
        const kept = Object.entries((d.status ?? {}) as Record<string, unknown>).filter(
          ([k]) => !owned.has(k),
        );
        d.status = { ...Object.fromEntries(kept), ...want };
        return true;
      },
      { subresource: 'status' },
    );
  }
}

/** The status fields this controller owns; the `omitempty` ones are left out when zero. */
const statusKeys = [
  'observedGeneration',
  'desiredNumberScheduled',
  'currentNumberScheduled',
  'numberMisscheduled',
  'numberReady',
  'numberAvailable',
  'updatedNumberScheduled',
  'numberUnavailable',
] as const;

function statusFields(c: DaemonSetCounts, generation: number | undefined): Record<string, number> {
  const out: Record<string, number> = {
    desiredNumberScheduled: c.desiredNumberScheduled,
    currentNumberScheduled: c.currentNumberScheduled,
    numberMisscheduled: c.numberMisscheduled,
    numberReady: c.numberReady,
  };
  if (generation !== undefined) out['observedGeneration'] = generation;
  if (c.numberAvailable > 0) out['numberAvailable'] = c.numberAvailable;
  if (c.updatedNumberScheduled > 0) out['updatedNumberScheduled'] = c.updatedNumberScheduled;
  if (c.numberUnavailable > 0) out['numberUnavailable'] = c.numberUnavailable;
  return out;
}

/** The status counters (updateDaemonSetStatus), from the nodes' verdicts and the pods on each. */
export function daemonSetCounts(
  verdicts: ReadonlyMap<string, NodeVerdict>,
  byNode: ReadonlyMap<string, readonly StoredObject[]>,
  hash: string,
  minReadySeconds: number,
  nowMs: number,
): DaemonSetCounts {
  const c: DaemonSetCounts = {
    desiredNumberScheduled: 0,
    currentNumberScheduled: 0,
    numberMisscheduled: 0,
    numberReady: 0,
    numberAvailable: 0,
    updatedNumberScheduled: 0,
    numberUnavailable: 0,
  };
  for (const [name, verdict] of verdicts) {
    const onNode = byNode.get(name) ?? [];
    if (!verdict.shouldRun) {
      if (onNode.length > 0) c.numberMisscheduled++;
      continue;
    }
    c.desiredNumberScheduled++;
    const pod = onNode[0];
    if (pod === undefined) continue;
    c.currentNumberScheduled++;
    if (isPodReady(pod)) {
      c.numberReady++;
      if (isPodAvailable(pod, minReadySeconds, nowMs)) c.numberAvailable++;
    }
    if (pod.metadata.labels?.[revisionHashLabel] === hash) c.updatedNumberScheduled++;
  }
  c.numberUnavailable = c.desiredNumberScheduled - c.numberAvailable;
  return c;
}

/**
 * Step 3 for RollingUpdate (rollingUpdate without surge): the old-template pods to delete now so that
 * at most `maxUnavailable` desired nodes are without an available up-to-date pod.
 */
export function rollingUpdateDeletions(
  ds: StoredObject,
  verdicts: ReadonlyMap<string, NodeVerdict>,
  byNode: ReadonlyMap<string, readonly StoredObject[]>,
  hash: string,
  nowMs: number,
): StoredObject[] {
  const spec = (ds.spec ?? {}) as DaemonSetSpec;
  const minReady = spec.minReadySeconds ?? 0;
  const desired = [...verdicts.values()].filter((v) => v.shouldRun).length;
  let maxUnavailable = scaledValue(spec.updateStrategy?.rollingUpdate?.maxUnavailable ?? 1, desired);
  // Surge is not implemented; a DaemonSet that allows no unavailability is rolled one node at a time.
  if (maxUnavailable === 0) maxUnavailable = 1;
  const nodesToCheck = new Set<string>([...byNode.keys()]);
  for (const [name, v] of verdicts) if (v.shouldRun) nodesToCheck.add(name);
  let numUnavailable = 0;
  const allowed: StoredObject[] = [];
  const candidates: StoredObject[] = [];
  for (const name of [...nodesToCheck].sort()) {
    const found = findUpdatedPodsOnNode(byNode.get(name) ?? [], hash);
    if (found === undefined) {
      numUnavailable++;
      continue;
    }
    const { newPod, oldPod } = found;
    if ((oldPod === undefined) === (newPod === undefined)) {
      // None yet, or both: step 2 creates or cleans up; this node counts as unavailable meanwhile.
      numUnavailable++;
    } else if (newPod !== undefined) {
      if (!isPodAvailable(newPod, minReady, nowMs)) numUnavailable++;
    } else if (oldPod !== undefined) {
      if (!isPodAvailable(oldPod, minReady, nowMs)) allowed.push(oldPod);
      else if (numUnavailable < maxUnavailable) candidates.push(oldPod);
    }
  }
  const remaining = Math.min(Math.max(0, maxUnavailable - numUnavailable), candidates.length);
  return [...allowed, ...candidates.slice(0, remaining)];
}

/** The one up-to-date and the one old pod on a node; undefined when there are more of either. */
function findUpdatedPodsOnNode(
  onNode: readonly StoredObject[],
  hash: string,
): { newPod: StoredObject | undefined; oldPod: StoredObject | undefined } | undefined {
  let newPod: StoredObject | undefined;
  let oldPod: StoredObject | undefined;
  for (const pod of onNode) {
    if (pod.metadata.deletionTimestamp !== undefined) continue;
    if (pod.metadata.labels?.[revisionHashLabel] === hash) {
      if (newPod !== undefined) return undefined;
      newPod = pod;
    } else {
      if (oldPod !== undefined) return undefined;
      oldPod = pod;
    }
  }
  return { newPod, oldPod };
}

/** An int-or-percent against `total`, percentages rounded up (GetScaledValueFromIntOrPercent). */
export function scaledValue(value: number | string, total: number): number {
  if (typeof value === 'number') return Math.max(0, Math.floor(value));
  const m = /^(\d+)%$/.exec(value);
  if (m === null) return Number.parseInt(value, 10) || 0;
  return Math.ceil((Number(m[1]) * total) / 100);
}

/** Bound pods first, then oldest first, then by name (podByCreationTimestampAndPhase). */
function byCreationAndPhase(a: StoredObject, b: StoredObject): number {
  const ab = boundNodeName(a) !== undefined;
  const bb = boundNodeName(b) !== undefined;
  if (ab !== bb) return ab ? -1 : 1;
  const d = creationMs(a) - creationMs(b);
  if (d !== 0) return d;
  return (a.metadata.name ?? '') < (b.metadata.name ?? '') ? -1 : 1;
}

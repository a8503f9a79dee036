/**
 * The Deployment controller (pkg/controller/deployment): rolls Deployments out through ReplicaSets,
 * level-triggered on a work queue keyed `namespace/name`. A pass claims the ReplicaSets the
 * deployment's selector matches (adopting orphans, releasing ones that stopped matching —
 * controller-ref-manager.ts), then takes one rollout step (deployment-rollout.ts) with the writes of
 * deployment-sync.ts, and asks to be called again when a progress deadline falls due.
 *
 * Wake-ups: any change to a Deployment; a ReplicaSet added, changed or deleted (its controlling
 * Deployment, or for an orphan every Deployment in the namespace whose selector matches it); a pod
 * deleted, for Recreate deployments waiting for their old pods to go. Events (ScalingReplicaSet,
 * ReplicaSetCreateError, SelectingAll) are recorded on the Deployment.
 */
import type { StoredObject } from '../../api/object.js';
import { jsonEqual } from '../../api/object.js';
import { labelSelectorFromObject, type LabelSelector } from '../../api/selectors/label-selector.js';
import { isApiError } from '../../api/status.js';
import type { Logger } from '../../lib/logger.js';
import type { ResourceStorage } from '../apiserver/resource-storage.js';
import type { Controller, ControllerContext, ControllerDescriptor } from './controller-manager.js';
import { claimObjects, orphansByNamespace } from './controller-ref-manager.js';
import { syncDeployment } from './deployment-rollout.js';
import { DeploymentSync, type DeploymentSyncDeps } from './deployment-sync.js';
import type { EventRecorder } from './event-recorder.js';
import { byControllerUid, keyOf, type Informer } from './informer.js';
import { requireResource } from './informer-factory.js';
import { isBeingDeleted, targetOf, updateObject } from './object-writes.js';
import { controllerRefOf } from './owner-references.js';
import { runWorkers, type ReconcileResult, type WorkQueue } from './work-queue.js';
import { asDeployment, asPod, type Pod } from './workload-objects.js';

export interface DeploymentControllerOptions {
  /** Deployments reconciled concurrently (`--concurrent-deployment-syncs`); default 5. */
  readonly workers?: number;
}

/** The Deployment controller for the `ControllerManager`. */
export function deploymentController(opts: DeploymentControllerOptions = {}): ControllerDescriptor {
  return { name: 'deployment-controller', create: (ctx) => new DeploymentController(ctx, opts) };
}

const deployments = requireResource('apps', 'v1', 'deployments');
const replicasets = requireResource('apps', 'v1', 'replicasets');
const pods = requireResource('', 'v1', 'pods');

export class DeploymentController implements Controller {
  readonly name = 'deployment-controller';
  readonly #storage: ResourceStorage;
  readonly #log: Logger;
  readonly #events: EventRecorder;
  readonly #queue: WorkQueue;
  readonly #deployments: Informer;
  readonly #replicaSets: Informer;
  readonly #pods: Informer;
  readonly #workers: number;
  readonly #deps: DeploymentSyncDeps;
  /** Compiled selectors of cached Deployments (cached objects are replaced, never mutated). */
  readonly #selectors = new WeakMap<StoredObject, LabelSelector | null>();

  constructor(ctx: ControllerContext, opts: DeploymentControllerOptions = {}) {
    this.#storage = ctx.storage;
    this.#log = ctx.logger;
    this.#events = ctx.events;
    this.#workers = opts.workers ?? 5;
    this.#queue = ctx.newQueue('deployment');
    this.#deployments = ctx.informers.informerFor(deployments);
    this.#replicaSets = ctx.informers.informerFor(replicasets);
    this.#replicaSets.addIndex(byControllerUid);
    this.#replicaSets.addIndex(orphansByNamespace);
    this.#pods = ctx.informers.informerFor(pods);
    this.#pods.addIndex(byControllerUid);
    this.#deps = {
      storage: ctx.storage,
      clock: ctx.clock,
      events: ctx.events,
      logger: ctx.logger,
      cachedReplicaSet: (ns, name) => this.#replicaSets.get(ns, name),
    };
    this.#deployments.addEventHandler({
      onAdd: (d) => {
        this.#queue.add(keyOf(d));
      },
      onUpdate: (_old, d) => {
        this.#queue.add(keyOf(d));
      },
    });
    this.#replicaSets.addEventHandler({
      onAdd: (rs) => {
        this.#onReplicaSetAdd(rs);
      },
      onUpdate: (old, rs) => {
        this.#onReplicaSetUpdate(old, rs);
      },
      onDelete: (rs) => {
        this.#enqueueController(rs);
      },
    });
    this.#pods.addEventHandler({
      onDelete: (pod) => {
        this.#onPodDelete(pod);
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

  /** One rollout step for the Deployment with cache key `key`. Exposed for tests. */
  async reconcile(key: string): Promise<ReconcileResult | undefined> {
    const cached = this.#deployments.getByKey(key);
    if (cached === undefined) return undefined;
    const d = asDeployment(cached);
    const parsed = labelSelectorFromObject(d.spec.selector);
    if (!parsed.ok || parsed.selector.isNothing()) {
      this.#log.warn({ deployment: key }, 'invalid selector; not rolling out');
      return undefined;
    }
    if (parsed.selector.isEverything()) {
      this.#events.event(
        d,
        'Warning',
        'SelectingAll',
        'This deployment is selecting all pods. A non-empty selector is required.',
      );
      const generation = d.metadata.generation ?? 0;
      if ((d.status?.observedGeneration ?? 0) < generation) {
        await updateObject(
          this.#storage,
          deployments,
          targetOf(d),
          (obj) => {
            obj.status = { ...(obj.status as object | undefined), observedGeneration: generation };
            return true;
          },
          { subresource: 'status' },
        );
      }
      return undefined;
    }
    const owned = this.#replicaSets.byIndex(byControllerUid, d.metadata.uid ?? '');
    const orphans = this.#replicaSets.byIndex(orphansByNamespace, d.metadata.namespace ?? '');
    const claimed = await claimObjects([...owned, ...orphans], {
      storage: this.#storage,
      resource: replicasets,
      owner: d,
      selector: parsed.selector,
      canAdopt: () => this.#canAdopt(d),
    });
    const podsByReplicaSet = new Map<string, Pod[]>();
    for (const rs of claimed) {
      const uid = rs.metadata.uid ?? '';
      podsByReplicaSet.set(uid, this.#pods.byIndex(byControllerUid, uid).map(asPod));
    }
    const sync = new DeploymentSync(this.#deps, d, claimed, podsByReplicaSet);
    await syncDeployment(sync);
    return sync.requeueAfterMs === undefined ? undefined : { requeueAfterMs: sync.requeueAfterMs };
  }

  async #canAdopt(d: StoredObject): Promise<boolean> {
    try {
      const fresh = await this.#storage.get(deployments, d.metadata.namespace, d.metadata.name ?? '');
      return fresh.metadata.uid === d.metadata.uid && !isBeingDeleted(fresh);
    } catch (err) {
      if (isApiError(err) && err.status.code === 404) return false;
      throw err;
    }
  }

  // ── ReplicaSet and pod events ────────────────────────────────────────────────────────────────

  /** The cached Deployment that controls `obj`, if that reference still resolves to it. */
  #deploymentOf(obj: StoredObject): StoredObject | undefined {
    const ref = controllerRefOf(obj);
    if (ref?.kind !== 'Deployment') return undefined;
    const d = this.#deployments.get(obj.metadata.namespace, ref.name);
    return d?.metadata.uid === ref.uid ? d : undefined;
  }

  #enqueueController(rs: StoredObject): void {
    const d = this.#deploymentOf(rs);
    if (d !== undefined) this.#queue.add(keyOf(d));
  }

  /** Deployments in the namespace of an orphan ReplicaSet whose selector matches it. */
  #enqueueMatching(rs: StoredObject): void {
    for (const d of this.#deployments.listByNamespace(rs.metadata.namespace ?? '')) {
      if (this.#selectorOf(d)?.matches(rs.metadata.labels) === true) this.#queue.add(keyOf(d));
    }
  }

  #onReplicaSetAdd(rs: StoredObject): void {
    if (controllerRefOf(rs) !== undefined) this.#enqueueController(rs);
    else if (!isBeingDeleted(rs)) this.#enqueueMatching(rs);
  }

  #onReplicaSetUpdate(old: StoredObject, rs: StoredObject): void {
    if (old.metadata.resourceVersion === rs.metadata.resourceVersion) return;
    const refChanged = !jsonEqual(controllerRefOf(old), controllerRefOf(rs));
    if (refChanged) this.#enqueueController(old);
    if (controllerRefOf(rs) !== undefined) {
      this.#enqueueController(rs);
      return;
    }
    if (refChanged || !jsonEqual(old.metadata.labels, rs.metadata.labels)) this.#enqueueMatching(rs);
  }

  #onPodDelete(pod: StoredObject): void {
    const ref = controllerRefOf(pod);
    if (ref?.kind !== 'ReplicaSet') return;
    const rs = this.#replicaSets.get(pod.metadata.namespace, ref.name);
    if (rs?.metadata.uid !== ref.uid) return;
    const d = this.#deploymentOf(rs);
    if (d !== undefined && asDeployment(d).spec.strategy?.type === 'Recreate') this.#queue.add(keyOf(d));
  }

  #selectorOf(d: StoredObject): LabelSelector | undefined {
    let sel = this.#selectors.get(d);
    if (sel === undefined) {
      const parsed = labelSelectorFromObject(asDeployment(d).spec.selector);
      sel =
        parsed.ok && !parsed.selector.isEverything() && !parsed.selector.isNothing() ? parsed.selector : null;
      this.#selectors.set(d, sel);
    }
    return sel ?? undefined;
  }
}

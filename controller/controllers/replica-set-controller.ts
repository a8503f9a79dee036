/**
 * The ReplicaSet controller (pkg/controller/replicaset): keeps `spec.replicas` pods alive for each
 * ReplicaSet, level-triggered on a work queue keyed `namespace/name`. One pass over a ReplicaSet:
 *
 *   1. claim pods: its own active pods plus orphans its selector matches (adopt), minus its pods that
 *      stopped matching (release) — controller-ref-manager.ts;
 *   2. if its expectations are satisfied and it is not being deleted, create or delete the difference:
 *        too few  → create up to `burstReplicas` pods in slow-start batches of 1, 2, 4, … (a failing
 *                   batch stops the burst), named `<rs>-<5 chars>` via generateName, labelled from the
 *                   template, with a controller ownerReference (blockOwnerDeletion);
 *        too many → delete the first pods in pod-deletion-order.ts's ranking;
 *      recording expectations first, so that the next pass waits until the informer has seen them;
 *   3. write status (replica-set-status.ts) and, while some pod is ready but not yet available for
 *      `minReadySeconds`, look again when the first one becomes available.
 *
 * Events on the ReplicaSet: SuccessfulCreate / FailedCreate / SuccessfulDelete / FailedDelete. A
 * failed burst also sets the ReplicaFailure condition and retries the key with back-off.
 */
import type { StoredObject } from '../../api/object.js';
import { labelSelectorFromObject, type LabelSelector } from '../../api/selectors/label-selector.js';
import { cloneJson, jsonEqual } from '../../api/object.js';
import { isApiError } from '../../api/status.js';
import type { Clock } from '../../lib/clock.js';
import { BerthError, errorCodes, errorMessage } from '../../lib/errors.js';
import type { Logger } from '../../lib/logger.js';
import type { ResourceStorage } from '../apiserver/resource-storage.js';
import type { Controller, ControllerContext, ControllerDescriptor } from './controller-manager.js';
import { ControllerExpectations } from './controller-expectations.js';
import { claimObjects, orphansByNamespace } from './controller-ref-manager.js';
import type { EventRecorder } from './event-recorder.js';
import { byControllerUid, keyOf, type Informer } from './informer.js';
import { requireResource } from './informer-factory.js';
import { deleteObject, isBeingDeleted, targetOf, updateObject } from './object-writes.js';
import { controllerRefOf, controllerRefTo } from './owner-references.js';
import { podsToDelete } from './pod-deletion-order.js';
import { isPodActive, isPodReady, msUntilAvailable } from './pod-readiness.js';
import { replicaSetStatus } from './replica-set-status.js';
import { runWorkers, type ReconcileResult, type WorkQueue } from './work-queue.js';
import { asPod, asReplicaSet, specReplicas, type Pod, type ReplicaSet } from './workload-objects.js';

export interface ReplicaSetControllerOptions {
  /** ReplicaSets reconciled concurrently (kube-controller-manager's `--concurrent-replicaset-syncs`); default 5. */
  readonly workers?: number;
  /** Most pods created or deleted in one pass (Kubernetes' BurstReplicas); default 500. */
  readonly burstReplicas?: number;
  /** How long unobserved expectations hold a ReplicaSet back; default 5 minutes. */
  readonly expectationsTtlMs?: number;
}

/** The ReplicaSet controller for the `ControllerManager`. */
export function replicaSetController(opts: ReplicaSetControllerOptions = {}): ControllerDescriptor {
  return { name: 'replicaset-controller', create: (ctx) => new ReplicaSetController(ctx, opts) };
}

const replicasets = requireResource('apps', 'v1', 'replicasets');
const pods = requireResource('', 'v1', 'pods');
/** Kubernetes' SlowStartInitialBatchSize. */
const SLOW_START_INITIAL_BATCH = 1;

export class ReplicaSetController implements Controller {
  readonly name = 'replicaset-controller';
  /** What each ReplicaSet awaits from the pod informer; exposed for tests. */
  readonly expectations: ControllerExpectations;
  readonly #storage: ResourceStorage;
  readonly #clock: Clock;
  readonly #log: Logger;
  readonly #events: EventRecorder;
  readonly #queue: WorkQueue;
  readonly #replicaSets: Informer;
  readonly #pods: Informer;
  readonly #workers: number;
  readonly #burst: number;
  /** Compiled selectors of cached ReplicaSets (cached objects are replaced, never mutated). */
  readonly #selectors = new WeakMap<StoredObject, LabelSelector | null>();

  constructor(ctx: ControllerContext, opts: ReplicaSetControllerOptions = {}) {
    this.#storage = ctx.storage;
    this.#clock = ctx.clock;
    this.#log = ctx.logger;
    this.#events = ctx.events;
    this.#workers = opts.workers ?? 5;
    this.#burst = opts.burstReplicas ?? 500;
    this.expectations = new ControllerExpectations({
      clock: ctx.clock,
      ...(opts.expectationsTtlMs === undefined ? {} : { ttlMs: opts.expectationsTtlMs }),
    });
    this.#queue = ctx.newQueue('replicaset');
    this.#replicaSets = ctx.informers.informerFor(replicasets);
    this.#replicaSets.addIndex(byControllerUid);
    this.#pods = ctx.informers.informerFor(pods);
    this.#pods.addIndex(byControllerUid);
    this.#pods.addIndex(orphansByNamespace);
    this.#replicaSets.addEventHandler({
      onAdd: (rs) => {
        this.#queue.add(keyOf(rs));
      },
      onUpdate: (_old, rs) => {
        this.#queue.add(keyOf(rs));
      },
      onDelete: (rs) => {
        this.expectations.delete(keyOf(rs));
      },
    });
    this.#pods.addEventHandler({
      onAdd: (pod) => {
        this.#onPodAdd(pod);
      },
      onUpdate: (old, pod) => {
        this.#onPodUpdate(old, pod);
      },
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

  /** One pass over the ReplicaSet with cache key `key` (see the file header). Exposed for tests. */
  async reconcile(key: string): Promise<ReconcileResult | undefined> {
    const cached = this.#replicaSets.getByKey(key);
    if (cached === undefined) {
      this.expectations.delete(key);
      return undefined;
    }
    const rs = asReplicaSet(cached);
    // Read before anything else: handlers may count pods off while this pass awaits.
    const mayManage = this.expectations.satisfied(key);
    const selector = this.#selectorOf(rs);
    if (selector === undefined) {
      this.#log.warn({ replicaset: key }, 'invalid or empty selector; not managing pods');
      return undefined;
    }
    const claimed = (
      await claimObjects(this.#candidatePods(rs), {
        storage: this.#storage,
        resource: pods,
        owner: rs,
        selector,
        canAdopt: () => this.#canAdopt(rs),
      })
    ).map(asPod);
    let manageError: unknown;
    if (mayManage && !isBeingDeleted(rs)) {
      try {
        await this.#manageReplicas(key, claimed, rs);
      } catch (err) {
        manageError = err;
      }
    }
    const now = this.#clock.now();
    const status = replicaSetStatus(rs, claimed, manageError, now);
    if (!jsonEqual(rs.status ?? {}, status)) {
      await updateObject(
        this.#storage,
        replicasets,
        targetOf(rs),
        (current) => {
          if (jsonEqual(current.status, status)) return false;
          current.status = cloneJson(status);
          return true;
        },
        { subresource: 'status' },
      );
    }
    if (manageError !== undefined) {
      throw new BerthError(
        errorCodes.RECONCILE_FAILED,
        `sync replicaset ${key}: ${errorMessage(manageError)}`,
        {
          cause: manageError,
        },
      );
    }
    let wait: number | undefined;
    for (const pod of claimed) {
      const ms = msUntilAvailable(pod, rs.spec.minReadySeconds ?? 0, now);
      if (ms !== undefined) wait = Math.min(wait ?? ms, ms);
    }
    return wait === undefined ? undefined : { requeueAfterMs: wait };
  }

  // ── creating and deleting pods ───────────────────────────────────────────────────────────────

  async #manageReplicas(key: string, active: readonly Pod[], rs: ReplicaSet): Promise<void> {
    const diff = active.length - specReplicas(rs);
    if (diff < 0) {
      const count = Math.min(-diff, this.#burst);
      this.expectations.expectCreations(key, count);
      const { successes, error } = await slowStartBatch(count, SLOW_START_INITIAL_BATCH, () =>
        this.#createPod(rs),
      );
      // Creations never attempted (or failed) will never be observed.
      if (count - successes > 0) this.expectations.creationObserved(key, count - successes);
      if (error !== undefined) throw asError(error);
      return;
    }
    if (diff > 0) {
      const count = Math.min(diff, this.#burst);
      const victims = podsToDelete(active, this.#relatedPods(rs), count);
      this.expectations.expectDeletions(key, victims.map(keyOf));
      const errors: unknown[] = [];
      await Promise.all(
        victims.map(async (pod) => {
          const podKey = keyOf(pod);
          try {
            const outcome = await deleteObject(this.#storage, pods, targetOf(pod));
            if (outcome === 'gone') {
              this.expectations.deletionObserved(key, podKey);
              return;
            }
            this.#events.event(rs, 'Normal', 'SuccessfulDelete', `Deleted pod: ${pod.metadata.name ?? ''}`);
          } catch (err) {
            this.expectations.deletionObserved(key, podKey);
            this.#events.event(rs, 'Warning', 'FailedDelete', `Error deleting: ${errorMessage(err)}`);
            errors.push(err);
          }
        }),
      );
      if (errors.length > 0) throw asError(errors[0]);
    }
  }

  async #createPod(rs: ReplicaSet): Promise<void> {
    const template = rs.spec.template ?? {};
    const meta = template.metadata ?? {};
    const labels = meta.labels ?? {};
    const name = rs.metadata.name ?? '';
    if (Object.keys(labels).length === 0) {
      const err = new BerthError(errorCodes.RECONCILE_FAILED, 'unable to create pods, no labels');
      this.#events.event(rs, 'Warning', 'FailedCreate', `Error creating: ${err.message}`);
      throw err;
    }
    try {
      const pod = await this.#storage.create(pods, rs.metadata.namespace, {
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: {
          generateName: `${name}-`,
          labels: { ...labels },
          ...(meta.annotations === undefined ? {} : { annotations: { ...meta.annotations } }),
          ...(meta.finalizers === undefined ? {} : { finalizers: [...meta.finalizers] }),
          ownerReferences: [controllerRefTo(rs)],
        },
        spec: cloneJson(template.spec ?? {}),
      });
      this.#events.event(rs, 'Normal', 'SuccessfulCreate', `Created pod: ${pod.metadata.name ?? ''}`);
    } catch (err) {
      // A terminating namespace refuses every create; nothing to retry (Kubernetes does the same).
      if (isApiError(err) && err.status.code === 403 && /being terminated/.test(err.message)) return;
      this.#events.event(rs, 'Warning', 'FailedCreate', `Error creating: ${errorMessage(err)}`);
      throw err;
    }
  }

  // ── reading the caches ───────────────────────────────────────────────────────────────────────

  /** Active pods `rs` controls or could adopt (orphans in its namespace). */
  #candidatePods(rs: ReplicaSet): Pod[] {
    const owned = this.#pods.byIndex(byControllerUid, rs.metadata.uid ?? '');
    const orphans = this.#pods.byIndex(orphansByNamespace, rs.metadata.namespace ?? '');
    return [...owned, ...orphans].map(asPod).filter(isPodActive);
  }

  /** Active pods of every ReplicaSet with the same controlling owner as `rs` (or of `rs` alone). */
  #relatedPods(rs: ReplicaSet): Pod[] {
    const owner = controllerRefOf(rs);
    const siblings =
      owner === undefined
        ? [rs]
        : this.#replicaSets
            .byIndex(byControllerUid, owner.uid)
            .filter((s) => s.metadata.namespace === rs.metadata.namespace);
    return siblings
      .flatMap((s) => this.#pods.byIndex(byControllerUid, s.metadata.uid ?? ''))
      .map(asPod)
      .filter(isPodActive);
  }

  /** The compiled selector of a cached ReplicaSet; undefined when invalid or selecting everything. */
  #selectorOf(rs: StoredObject): LabelSelector | undefined {
    let sel = this.#selectors.get(rs);
    if (sel === undefined) {
      const parsed = labelSelectorFromObject(asReplicaSet(rs).spec.selector);
      sel =
        parsed.ok && !parsed.selector.isEverything() && !parsed.selector.isNothing() ? parsed.selector : null;
      this.#selectors.set(rs, sel);
    }
    return sel ?? undefined;
  }

  async #canAdopt(rs: ReplicaSet): Promise<boolean> {
    try {
      const fresh = await this.#storage.get(replicasets, rs.metadata.namespace, rs.metadata.name ?? '');
      return fresh.metadata.uid === rs.metadata.uid && !isBeingDeleted(fresh);
    } catch (err) {
      if (isApiError(err) && err.status.code === 404) return false;
      throw err;
    }
  }

  /** The cached ReplicaSet a pod's controller reference points at, if it is that ReplicaSet. */
  #controllerOf(pod: StoredObject): StoredObject | undefined {
    const ref = controllerRefOf(pod);
    if (ref?.kind !== 'ReplicaSet') return undefined;
    const rs = this.#replicaSets.get(pod.metadata.namespace, ref.name);
    return rs?.metadata.uid === ref.uid ? rs : undefined;
  }

  /** ReplicaSets in the pod's namespace whose selector matches it (adoption candidates). */
  #matchingReplicaSets(pod: StoredObject): StoredObject[] {
    const ns = pod.metadata.namespace ?? '';
    return this.#replicaSets
      .listByNamespace(ns)
      .filter((rs) => this.#selectorOf(rs)?.matches(pod.metadata.labels) === true);
  }

  // ── pod events ───────────────────────────────────────────────────────────────────────────────

  #onPodAdd(pod: StoredObject): void {
    // A pod already terminating when first seen (e.g. after a restart) counts as a deletion.
    if (isBeingDeleted(pod)) {
      this.#onPodDelete(pod);
      return;
    }
    const rs = this.#controllerOf(pod);
    if (rs !== undefined) {
      this.expectations.creationObserved(keyOf(rs));
      this.#queue.add(keyOf(rs));
      return;
    }
    if (controllerRefOf(pod) !== undefined) return;
    for (const match of this.#matchingReplicaSets(pod)) this.#queue.add(keyOf(match));
  }

  #onPodUpdate(old: StoredObject, pod: StoredObject): void {
    if (old.metadata.resourceVersion === pod.metadata.resourceVersion) return;
    const labelsChanged = !jsonEqual(old.metadata.labels, pod.metadata.labels);
    if (isBeingDeleted(pod)) {
      // Graceful deletion shows as an update first; for the ReplicaSet the pod is gone already.
      this.#onPodDelete(pod);
      if (labelsChanged) this.#onPodDelete(old);
      return;
    }
    const refChanged = !jsonEqual(controllerRefOf(old), controllerRefOf(pod));
    if (refChanged) {
      const previous = this.#controllerOf(old);
      if (previous !== undefined) this.#queue.add(keyOf(previous));
    }
    const rs = this.#controllerOf(pod);
    if (rs !== undefined) {
      if (
        labelsChanged ||
        refChanged ||
        isPodReady(asPod(old)) !== isPodReady(asPod(pod)) ||
        phaseChanged(old, pod)
      ) {
        this.#queue.add(keyOf(rs));
      }
      return;
    }
    if (controllerRefOf(pod) === undefined && (labelsChanged || refChanged)) {
      for (const match of this.#matchingReplicaSets(pod)) this.#queue.add(keyOf(match));
    }
  }

  #onPodDelete(pod: StoredObject): void {
    const rs = this.#controllerOf(pod);
    if (rs === undefined) return;
    const key = keyOf(rs);
    this.expectations.deletionObserved(key, keyOf(pod));
    this.#queue.add(key);
  }
}

function asError(err: unknown): Error {
  return err instanceof Error ? err : new Error(String(err));
}

function phaseChanged(old: StoredObject, pod: StoredObject): boolean {
  return asPod(old).status?.phase !== asPod(pod).status?.phase;
}

/**
 * Kubernetes' slowStartBatch: calls `fn` `count` times in batches of `initial`, `2·initial`, …,
 * each batch concurrently; stops after the first batch with a failure. Returns the number of
 * successful calls and the first error.
 */
export async function slowStartBatch(
  count: number,
  initial: number,
  fn: () => Promise<void>,
): Promise<{ successes: number; error?: unknown }> {
  let remaining = count;
  let successes = 0;
  for (let batch = Math.min(remaining, initial); batch > 0; batch = Math.min(2 * batch, remaining)) {
    const results = await Promise.allSettled(Array.from({ length: batch }, () => fn()));
    const failed = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    successes += batch - failed.length;
    if (failed.length > 0) return { successes, error: failed[0]?.reason };
    remaining -= batch;
  }
  return { successes };
}

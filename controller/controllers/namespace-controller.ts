/**
 * The namespace controller: empties a terminating namespace and then finalizes it, as Kubernetes'
 * namespace controller does (pkg/controller/namespace/deletion).
 *
 *   Active ──delete──▶ Terminating (spec.finalizers: [kubernetes])
 *                        │ delete every object of every namespaced resource in it (Background)
 *                        │ set the Namespace* conditions (what remains, which finalizers hold it)
 *                        │ nothing left → remove `kubernetes` from spec.finalizers (the /finalize
 *                        ▼ logic); with no metadata finalizers left the storage deletes the namespace
 *                      gone
 *
 * Pods bound to a node are deleted gracefully, and stay (terminating) until that node's agent confirms
 * their containers have stopped — so a namespace with running pods disappears only after they have
 * stopped, as in Kubernetes. A bound pod whose node does not exist (no agent can ever confirm) is
 * force-deleted, which is what Kubernetes' pod garbage collector does for pods of vanished nodes.
 * Unbound pods are deleted at once by the storage.
 *
 * Reconciles are keyed by namespace name, woken when a namespace starts terminating and whenever an
 * object inside a terminating namespace is deleted, and re-polled while content remains.
 */
import type { StoredObject } from '../../api/object.js';
import { resources as allResources, type ResourceInfo } from '../../api/resources.js';
import { isApiError } from '../../api/status.js';
import { BerthError, errorCodes, errorMessage } from '../../lib/errors.js';
import type { Clock } from '../../lib/clock.js';
import type { Logger } from '../../lib/logger.js';
import { decodeObject, encodeObject, objectKey } from '../apiserver/object-codec.js';
import type { ResourceStorage } from '../apiserver/resource-storage.js';
import type { Controller, ControllerContext, ControllerDescriptor } from './controller-manager.js';
import type { Informer } from './informer.js';
import { requireResource } from './informer-factory.js';
import {
  conditionsFor,
  mergeConditions,
  type ContentReport,
  type NamespaceCondition,
} from './namespace-conditions.js';
import { deleteObject, isBeingDeleted, targetOf, updateObject } from './object-writes.js';
import { runWorkers, type ReconcileResult, type WorkQueue } from './work-queue.js';

/** The finalizer (in `spec.finalizers`) that this controller owns. */
export const NAMESPACE_FINALIZER = 'kubernetes';

export interface NamespaceControllerOptions {
  /** Namespaces deleted concurrently; default 2. */
  readonly workers?: number;
  /** Longest wait before looking at a terminating namespace again (default 15 s). */
  readonly maxRequeueMs?: number;
}

/** The namespace controller for the `ControllerManager`. */
export function namespaceController(opts: NamespaceControllerOptions = {}): ControllerDescriptor {
  return { name: 'namespace-controller', create: (ctx) => new NamespaceController(ctx, opts) };
}

const namespaces = requireResource('', 'v1', 'namespaces');
const pods = requireResource('', 'v1', 'pods');
const nodes = requireResource('', 'v1', 'nodes');
const MIN_REQUEUE_MS = 500;

export class NamespaceController implements Controller {
  readonly name = 'namespace-controller';
  readonly #storage: ResourceStorage;
  readonly #clock: Clock;
  readonly #log: Logger;
  readonly #workers: number;
  readonly #maxRequeueMs: number;
  readonly #queue: WorkQueue;
  readonly #namespaces: Informer;
  readonly #content: readonly ResourceInfo[];

  constructor(ctx: ControllerContext, opts: NamespaceControllerOptions = {}) {
    this.#storage = ctx.storage;
    this.#clock = ctx.clock;
    this.#log = ctx.logger;
    this.#workers = opts.workers ?? 2;
    this.#maxRequeueMs = opts.maxRequeueMs ?? 15_000;
    this.#queue = ctx.newQueue('namespace');
    this.#content = allResources.filter((r) => r.namespaced);
    this.#namespaces = ctx.informers.informerFor(namespaces);
    const enqueueIfTerminating = (ns: StoredObject): void => {
      if (isBeingDeleted(ns)) this.#queue.add(ns.metadata.name ?? '');
    };
    this.#namespaces.addEventHandler({
      onAdd: enqueueIfTerminating,
      onUpdate: (_old, ns) => {
        enqueueIfTerminating(ns);
      },
    });
    for (const r of this.#content) {
      ctx.informers.informerFor(r).addEventHandler({
        onDelete: (obj) => {
          const ns = this.#namespaces.get(undefined, obj.metadata.namespace ?? '');
          if (ns !== undefined) enqueueIfTerminating(ns);
        },
      });
    }
  }

  run(signal: AbortSignal): Promise<void> {
    return runWorkers(this.#queue, (name) => this.reconcile(name), {
      workers: this.#workers,
      signal,
      logger: this.#log,
    });
  }

  /** One pass over the namespace `name`. Exposed for tests. */
  async reconcile(name: string): Promise<ReconcileResult | undefined> {
    let ns: StoredObject;
    try {
      ns = await this.#storage.get(namespaces, undefined, name);
    } catch (err) {
      if (isApiError(err) && err.status.code === 404) return undefined;
      throw err;
    }
    if (!isBeingDeleted(ns) || !specFinalizers(ns).includes(NAMESPACE_FINALIZER)) return undefined;
    const { report, estimateMs, firstError } = await this.#deleteContent(name);
    await this.#writeConditions(ns, report);
    if (report.failures.length > 0) {
      throw new BerthError(
        errorCodes.RECONCILE_FAILED,
        `delete content of namespace ${name}: ${report.failures.join('; ')}`,
        { cause: firstError },
      );
    }
    if (report.remainingByResource.size > 0) {
      return { requeueAfterMs: Math.min(Math.max(estimateMs, MIN_REQUEUE_MS), this.#maxRequeueMs) };
    }
    // The finalize subresource's logic: only spec.finalizers changes.
    const result = await updateObject(this.#storage, namespaces, targetOf(ns), (o) => {
      const rest = specFinalizers(o).filter((f) => f !== NAMESPACE_FINALIZER);
      o.spec = { ...(o.spec as object | undefined), finalizers: rest };
      return true;
    });
    this.#log.info({ namespace: name, outcome: result.outcome }, 'namespace content removed; finalized');
    return undefined;
  }

  /** Deletes what is left in the namespace; reports what still remains (terminating objects). */
  async #deleteContent(
    namespace: string,
  ): Promise<{ report: ContentReport; estimateMs: number; firstError: unknown }> {
    const remainingByResource = new Map<string, number>();
    const remainingByFinalizer = new Map<string, number>();
    const failures: string[] = [];
    let firstError: unknown;
    const nodeExists = new Map<string, boolean>();
    let estimateMs = 0;
    for (const r of this.#content) {
      let items: StoredObject[];
      try {
        items = (await this.#storage.list(r, namespace)).items;
      } catch (err) {
        firstError ??= err;
        failures.push(`list ${groupResource(r)}: ${errorMessage(err)}`);
        continue;
      }
      for (const obj of items) {
        try {
          let outcome: 'deleted' | 'terminating' | 'gone' | 'untouched' = 'untouched';
          if (r === pods && (await this.#onVanishedNode(obj, nodeExists))) {
            outcome = await deleteObject(this.#storage, r, targetOf(obj), { gracePeriodSeconds: 0 });
          } else if (!isBeingDeleted(obj)) {
            outcome = await deleteObject(this.#storage, r, targetOf(obj), {
              propagationPolicy: 'Background',
            });
          }
          if (outcome === 'deleted' || outcome === 'gone') continue;
        } catch (err) {
          firstError ??= err;
          failures.push(`delete ${groupResource(r)} ${obj.metadata.name ?? ''}: ${errorMessage(err)}`);
        }
        increment(remainingByResource, groupResource(r));
        for (const f of obj.metadata.finalizers ?? []) increment(remainingByFinalizer, f);
        if (r === pods) estimateMs = Math.max(estimateMs, this.#graceLeftMs(obj));
      }
    }
    return { report: { remainingByResource, remainingByFinalizer, failures }, estimateMs, firstError };
  }

  /** Whether `pod` is bound to a node that has no Node object (nothing could ever confirm its stop). */
  async #onVanishedNode(pod: StoredObject, cache: Map<string, boolean>): Promise<boolean> {
    const node = (pod.spec as { nodeName?: unknown } | undefined)?.nodeName;
    if (typeof node !== 'string' || node === '') return false;
    let exists = cache.get(node);
    if (exists === undefined) {
      try {
        await this.#storage.get(nodes, undefined, node);
        exists = true;
      } catch (err) {
        if (!(isApiError(err) && err.status.code === 404)) throw err;
        exists = false;
      }
      cache.set(node, exists);
    }
    return !exists;
  }

  /** How long a terminating pod's grace period still runs (its grace if it is not terminating yet). */
  #graceLeftMs(pod: StoredObject): number {
    const m = pod.metadata;
    const spec = pod.spec as { terminationGracePeriodSeconds?: number } | undefined;
    const graceMs = (m.deletionGracePeriodSeconds ?? spec?.terminationGracePeriodSeconds ?? 30) * 1000;
    if (m.deletionTimestamp === undefined) return graceMs;
    return Math.max(0, Date.parse(m.deletionTimestamp) + graceMs - this.#clock.now());
  }

  /**
   * Writes the Namespace* conditions. Straight to the store, with compare-and-swap: an update through
   * `ResourceStorage` would delete a terminating namespace that has no metadata finalizers on the spot
   * (it does not consider `spec.finalizers`), i.e. before its content is gone. Only `status.conditions`
   * changes, so admission has nothing to check.
   */
  async #writeConditions(ns: StoredObject, report: ContentReport): Promise<void> {
    const store = this.#storage.store;
    const key = objectKey(namespaces, undefined, ns.metadata.name ?? '');
    const now = new Date(this.#clock.now()).toISOString().replace(/\.\d{3}Z$/, 'Z');
    for (let attempt = 0; attempt < 5; attempt++) {
      const kv = await store.get(key);
      if (kv === undefined) return;
      const current = decodeObject(kv);
      if (current.metadata.uid !== ns.metadata.uid || !isBeingDeleted(current)) return;
      const status = (current.status ?? {}) as { conditions?: NamespaceCondition[] };
      const merged = mergeConditions(status.conditions ?? [], conditionsFor(report), now);
      if (!merged.changed) return;
      const next = { ...current, status: { ...status, conditions: merged.conditions } };
      const result = await store.update(key, encodeObject(next), kv.modRevision);
      if (result.ok) return;
    }
    this.#log.debug({ namespace: ns.metadata.name }, 'namespace conditions not written (busy); next pass');
  }
}

function specFinalizers(ns: StoredObject): string[] {
  const f = (ns.spec as { finalizers?: unknown } | undefined)?.finalizers;
  return Array.isArray(f) ? f.filter((x): x is string => typeof x === 'string') : [];
}

/** Kubernetes' GroupResource string: `pods`, `replicasets.apps`. */
function groupResource(r: ResourceInfo): string {
  return r.group === '' ? r.plural : `${r.plural}.${r.group}`;
}

function increment(map: Map<string, number>, key: string): void {
  map.set(key, (map.get(key) ?? 0) + 1);
}

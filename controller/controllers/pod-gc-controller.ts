/**
 * The pod garbage collector (kube-controller-manager's podgc): every `periodMs` it force-deletes
 * (grace period 0) pods that no agent will ever clean up:
 *
 * - orphaned: bound to a node that does not exist — once the node has been missing for
 *   `quarantineMs` (Kubernetes waits 40 s so that a node being re-registered is not mistaken for a
 *   gone one) and a live read of the store confirms it;
 * - terminating on a node that cannot confirm: the pod has a deletionTimestamp, its grace period is
 *   over, and its node is not Ready and tainted `unreachable:NoExecute` or `out-of-service`
 *   (Kubernetes force-deletes only on `out-of-service`; Berth treats an unreachable node the same,
 *   since its agent cannot answer either — the taint-eviction loop already force-deletes the pods it
 *   evicts there, so this catches pods users deleted gracefully);
 * - terminated (Succeeded/Failed) beyond `terminatedPodThreshold`, oldest first, as Kubernetes'
 *   `--terminated-pod-gc-threshold` (12500).
 *
 * A force-deleted pod that still has finalizers (a Job's tracking finalizer) stays until its
 * controller removes them; that is what the finalizer is for.
 */
import type { StoredObject } from '../../api/object.js';
import { isApiError } from '../../api/status.js';
import type { Clock } from '../../lib/clock.js';
import type { Logger } from '../../lib/logger.js';
import type { ResourceStorage } from '../apiserver/resource-storage.js';
import type { Controller, ControllerContext, ControllerDescriptor } from './controller-manager.js';
import type { Informer } from './informer.js';
import { requireResource } from './informer-factory.js';
import { hasTaint, parseTime, readyStatus, taintKeys } from './node-health.js';
import { deleteObject, targetOf } from './object-writes.js';
import { runWorkers, type ReconcileResult, type WorkQueue } from './work-queue.js';
import { boundNodeName, creationMs, describeObject, isPodTerminal } from './workload-pods.js';

/** Tuning of the pod garbage collector. */
export interface PodGcOptions {
  /** How often to look (default 2 s; Kubernetes' 20 s). */
  readonly periodMs?: number;
  /** How long a pod's node must be missing before the pod is deleted (default 5 s; Kubernetes' 40 s). */
  readonly quarantineMs?: number;
  /** Terminated pods kept before the oldest are deleted (default 12500; 0 or less keeps all). */
  readonly terminatedPodThreshold?: number;
}

/** The pod garbage collector for the `ControllerManager`. */
export function podGcController(opts: PodGcOptions = {}): ControllerDescriptor {
  return { name: 'pod-gc-controller', create: (ctx) => new PodGcController(ctx, opts) };
}

const nodes = requireResource('', 'v1', 'nodes');
const pods = requireResource('', 'v1', 'pods');
const GC_KEY = 'pods';
/** Force-deletes issued at once. */
const CONCURRENCY = 16;

/** The pod garbage collector: one periodic pass over the pod cache (see the module comment). */
export class PodGcController implements Controller {
  readonly name = 'pod-gc-controller';
  readonly #storage: ResourceStorage;
  readonly #clock: Clock;
  readonly #log: Logger;
  readonly #nodes: Informer;
  readonly #pods: Informer;
  readonly #queue: WorkQueue;
  readonly #periodMs: number;
  readonly #quarantineMs: number;
  readonly #threshold: number;
  /** Node name → when this controller first found it missing while pods were bound to it. */
  readonly #missingSince = new Map<string, number>();

  constructor(ctx: ControllerContext, opts: PodGcOptions = {}) {
    this.#storage = ctx.storage;
    this.#clock = ctx.clock;
    this.#log = ctx.logger;
    this.#periodMs = opts.periodMs ?? 2000;
    this.#quarantineMs = opts.quarantineMs ?? 5000;
    this.#threshold = opts.terminatedPodThreshold ?? 12_500;
    this.#queue = ctx.newQueue('pod_gc');
    this.#nodes = ctx.informers.informerFor(nodes);
    this.#pods = ctx.informers.informerFor(pods);
    this.#nodes.addEventHandler({
      onAdd: (node) => {
        this.#missingSince.delete(node.metadata.name ?? '');
      },
    });
  }

  run(signal: AbortSignal): Promise<void> {
    this.#queue.add(GC_KEY);
    return runWorkers(this.#queue, () => this.collect(), { signal, logger: this.#log });
  }

  /** One pass; exposed for tests. Resolves with when to look again. */
  async collect(): Promise<ReconcileResult> {
    const now = this.#clock.now();
    const doomed = new Map<string, { pod: StoredObject; why: string }>();
    const terminated: StoredObject[] = [];
    const missing = new Set<string>();
    for (const pod of this.#pods.list()) {
      if (isPodTerminal(pod) && pod.metadata.deletionTimestamp === undefined) terminated.push(pod);
      const nodeName = boundNodeName(pod);
      // Unbound pods are deleted at once by the storage; force-deleted ones only wait for finalizers.
      if (nodeName === undefined || isForceDeleted(pod)) continue;
      const node = this.#nodes.get(undefined, nodeName);
      if (node === undefined) {
        missing.add(nodeName);
        const since = this.#missingSince.get(nodeName) ?? now;
        this.#missingSince.set(nodeName, since);
        if (now - since >= this.#quarantineMs) doomed.set(pod.metadata.uid ?? '', { pod, why: 'orphaned' });
        continue;
      }
      if (pod.metadata.deletionTimestamp !== undefined && graceOver(pod, now) && cannotConfirm(node)) {
        doomed.set(pod.metadata.uid ?? '', { pod, why: 'terminating on an unreachable node' });
      }
    }
    for (const name of this.#missingSince.keys()) if (!missing.has(name)) this.#missingSince.delete(name);
    if (this.#threshold > 0 && terminated.length > this.#threshold) {
      terminated.sort((a, b) => creationMs(a) - creationMs(b));
      for (const pod of terminated.slice(0, terminated.length - this.#threshold)) {
        doomed.set(pod.metadata.uid ?? '', { pod, why: 'terminated pods above the threshold' });
      }
    }
    const confirmedMissing = new Map<string, boolean>();
    const work = [...doomed.values()];
    for (let i = 0; i < work.length; i += CONCURRENCY) {
      await Promise.all(
        work.slice(i, i + CONCURRENCY).map(async ({ pod, why }) => {
          if (why === 'orphaned' && !(await this.#nodeGone(boundNodeName(pod) ?? '', confirmedMissing))) {
            return;
          }
          const outcome = await deleteObject(this.#storage, pods, targetOf(pod), { gracePeriodSeconds: 0 });
          this.#log.info(
            { pod: describeObject(pod), node: boundNodeName(pod), why, outcome },
            'pod garbage collected',
          );
        }),
      );
    }
    return { requeueAfterMs: this.#periodMs };
  }

  /** Whether the store (not only the cache) has no Node `name`; asked once per pass. */
  async #nodeGone(name: string, memo: Map<string, boolean>): Promise<boolean> {
    const known = memo.get(name);
    if (known !== undefined) return known;
    let gone = false;
    try {
      await this.#storage.get(nodes, undefined, name);
    } catch (err) {
      if (!(isApiError(err) && err.status.code === 404)) throw err;
      gone = true;
    }
    memo.set(name, gone);
    return gone;
  }
}

function isForceDeleted(pod: StoredObject): boolean {
  return pod.metadata.deletionTimestamp !== undefined && (pod.metadata.deletionGracePeriodSeconds ?? 0) === 0;
}

function graceOver(pod: StoredObject, nowMs: number): boolean {
  const since = parseTime(pod.metadata.deletionTimestamp);
  if (since === undefined) return false;
  return since + (pod.metadata.deletionGracePeriodSeconds ?? 0) * 1000 <= nowMs;
}

/** Not Ready and tainted so that its agent cannot (or may not) confirm pods' ends. */
function cannotConfirm(node: StoredObject): boolean {
  if (readyStatus(node) === 'True') return false;
  return (
    hasTaint(node, taintKeys.unreachable, 'NoExecute') ||
    hasTaint(node, taintKeys.outOfService, 'NoExecute') ||
    hasTaint(node, taintKeys.outOfService, 'NoSchedule')
  );
}

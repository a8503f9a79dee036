/**
 * The single writer of agent-reported pod state to the store (kubelet's status manager, on the
 * controller side). Status reports are coalesced per pod — while one write of a pod is in flight,
 * newer reports replace each other and only the newest is written next — and written a few at a
 * time, so that the store's group commit batches them. A pod's final removal (after its agent
 * confirmed the containers are gone) goes through the same per-pod queue, so it never overtakes
 * that pod's last status.
 *
 * Writes check the pod again at write time: it must still be the same pod (uid) and bound to the
 * reporting node. Status merges like the kubelet's: conditions the agent does not own (e.g.
 * DisruptionTarget, readiness gates) are kept, and a terminal phase is never left.
 */
import type { StoredObject } from '../../api/object.js';
import { findResource, type ResourceInfo } from '../../api/resources.js';
import { isApiError } from '../../api/status.js';
import type { Clock } from '../../lib/clock.js';
import { errorMessage } from '../../lib/errors.js';
import type { Logger } from '../../lib/logger.js';
import type { ResourceStorage } from '../apiserver/resource-storage.js';
import type { PodRef } from './pod-feed.js';

export interface PodStatusWriterOptions {
  readonly storage: ResourceStorage;
  readonly clock: Clock;
  readonly logger: Logger;
  /** Pods written at once (default 32: enough to fill one group commit of the store). */
  readonly concurrency?: number;
  /** Pause before retrying a write that failed for a store error (default 1 s). */
  readonly retryDelayMs?: number;
  /** Attempts per report before it is given up (default 5). */
  readonly maxAttempts?: number;
}

type Job =
  | { kind: 'status'; nodeName: string; ref: PodRef; status: Record<string, unknown>; attempts: number }
  | { kind: 'terminated'; nodeName: string; ref: PodRef; attempts: number };

const pods = findResource('', 'v1', 'pods') as ResourceInfo;
/** Pod conditions the kubelet owns (kubetypes.PodConditionsByKubelet); others are kept from the store. */
const agentConditions = new Set([
  'PodScheduled',
  'Ready',
  'Initialized',
  'ContainersReady',
  'PodReadyToStartContainers',
]);
const terminalPhases = new Set(['Succeeded', 'Failed']);

export class PodStatusWriter {
  readonly #storage: ResourceStorage;
  readonly #clock: Clock;
  readonly #log: Logger;
  readonly #concurrency: number;
  readonly #retryDelayMs: number;
  readonly #maxAttempts: number;
  readonly #pending = new Map<string, Job>();
  readonly #inFlight = new Set<string>();
  #idle: (() => void)[] = [];
  #closed = false;

  constructor(opts: PodStatusWriterOptions) {
    this.#storage = opts.storage;
    this.#clock = opts.clock;
    this.#log = opts.logger;
    this.#concurrency = opts.concurrency ?? 32;
    this.#retryDelayMs = opts.retryDelayMs ?? 1000;
    this.#maxAttempts = opts.maxAttempts ?? 5;
  }

  /** Queues `status` as the pod's newest status, replacing any not yet written. */
  status(nodeName: string, ref: PodRef, status: Record<string, unknown>): void {
    if (this.#closed) return;
    const queued = this.#pending.get(ref.uid);
    if (queued?.kind === 'terminated') return; // the pod is about to go; its status no longer matters
    this.#pending.set(ref.uid, { kind: 'status', nodeName, ref, status, attempts: 0 });
    this.#pump();
  }

  /** Queues the pod's removal (grace period 0, on its uid), if its deletion was requested. */
  terminated(nodeName: string, ref: PodRef): void {
    if (this.#closed) return;
    this.#pending.set(ref.uid, { kind: 'terminated', nodeName, ref, attempts: 0 });
    this.#pump();
  }

  /** Resolves when nothing is queued or in flight. */
  flush(): Promise<void> {
    if (this.#pending.size === 0 && this.#inFlight.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idle.push(resolve));
  }

  /** Stops accepting work and waits for the writes in flight; queued ones are dropped. */
  async close(): Promise<void> {
    this.#closed = true;
    this.#pending.clear();
    await this.flush();
  }

  #pump(): void {
    for (const [uid, job] of this.#pending) {
      if (this.#inFlight.size >= this.#concurrency) break;
      if (this.#inFlight.has(uid)) continue;
      this.#pending.delete(uid);
      this.#inFlight.add(uid);
      void this.#run(job).finally(() => {
        this.#inFlight.delete(uid);
        this.#pump();
        if (this.#pending.size === 0 && this.#inFlight.size === 0) {
          for (const resolve of this.#idle.splice(0)) resolve();
        }
      });
    }
  }

  async #run(job: Job): Promise<void> {
    try {
      if (job.kind === 'status') await this.#writeStatus(job.nodeName, job.ref, job.status);
      else await this.#remove(job.nodeName, job.ref);
    } catch (err) {
      if (isApiError(err)) {
        // 404: the pod is gone; 409 on delete: another pod of that name now. Nothing to do.
        if (err.status.code !== 404 && err.status.code !== 409) {
          this.#log.warn({ pod: podName(job.ref), err: errorMessage(err) }, `pod ${job.kind} refused`);
        }
        return;
      }
      this.#retryLater(job, err);
    }
  }

  #retryLater(job: Job, err: unknown): void {
    const attempts = job.attempts + 1;
    if (attempts >= this.#maxAttempts || this.#closed) {
      this.#log.warn(
        { pod: podName(job.ref), err: errorMessage(err), attempts },
        `pod ${job.kind} write given up`,
      );
      return;
    }
    this.#log.debug(
      { pod: podName(job.ref), err: errorMessage(err) },
      `pod ${job.kind} write failed; retrying`,
    );
    this.#clock.setTimer(this.#retryDelayMs, () => {
      // A newer report of the same pod, queued meanwhile, wins over this retry.
      if (this.#closed || this.#pending.has(job.ref.uid)) return;
      this.#pending.set(job.ref.uid, { ...job, attempts });
      this.#pump();
    });
  }

  async #writeStatus(nodeName: string, ref: PodRef, status: Record<string, unknown>): Promise<void> {
    await this.#storage.update(
      pods,
      ref.namespace,
      ref.name,
      (current) => {
        if (!isPodOf(current, ref, nodeName)) return current; // another pod now: a no-op write
        const old = (current.status ?? {}) as Record<string, unknown>;
        if (terminalPhases.has(String(old['phase'])) && old['phase'] !== status['phase']) return current;
        return { ...current, status: mergeStatus(old, status) };
      },
      { subresource: 'status' },
    );
  }

  async #remove(nodeName: string, ref: PodRef): Promise<void> {
    const current = await this.#storage.get(pods, ref.namespace, ref.name);
    if (!isPodOf(current, ref, nodeName)) return;
    if (current.metadata.deletionTimestamp === undefined) {
      this.#log.debug(
        { pod: podName(ref) },
        'agent reported a pod terminated that is not being deleted; kept',
      );
      return;
    }
    await this.#storage.delete(pods, ref.namespace, ref.name, {
      gracePeriodSeconds: 0,
      preconditions: { uid: ref.uid },
    });
  }
}

/** The agent's status, plus what it does not own (other conditions, nominatedNodeName, qosClass) from the stored one. */
export function mergeStatus(
  old: Record<string, unknown>,
  next: Record<string, unknown>,
): Record<string, unknown> {
  const merged: Record<string, unknown> = { ...next };
  const nextConditions = Array.isArray(next['conditions'])
    ? (next['conditions'] as { type?: unknown }[])
    : [];
  const oldConditions = Array.isArray(old['conditions']) ? (old['conditions'] as { type?: unknown }[]) : [];
  const reported = new Set(nextConditions.map((c) => c.type));
  const kept = oldConditions.filter(
    (c) => typeof c.type === 'string' && !agentConditions.has(c.type) && !reported.has(c.type),
  );
  if (kept.length > 0 || nextConditions.length > 0) merged['conditions'] = [...nextConditions, ...kept];
  // Fields others set (the scheduler, the API server at creation) survive a report without them.
  for (const field of ['nominatedNodeName', 'qosClass']) {
    if (merged[field] === undefined && old[field] !== undefined) merged[field] = old[field];
  }
  return merged;
}

function isPodOf(pod: StoredObject, ref: PodRef, nodeName: string): boolean {
  const boundTo = (pod.spec as { nodeName?: unknown } | undefined)?.nodeName;
  return pod.metadata.uid === ref.uid && boundTo === nodeName;
}

function podName(ref: PodRef): string {
  return `${ref.namespace}/${ref.name}`;
}

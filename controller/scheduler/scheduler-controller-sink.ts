/**
 * Where the in-process scheduler's outcomes become API state (what kube-scheduler's
 * handleSchedulingFailure and its event recorder write):
 *
 *   scheduled(pod, node)       ─► Event Normal  Scheduled        "Successfully assigned ns/pod to node"
 *   unschedulable(pod, msg)    ─► Event Warning FailedScheduling msg
 *                                 + status condition PodScheduled=False, reason Unschedulable, msg
 *   error(pod, msg)            ─► Event Warning FailedScheduling msg
 *                                 + status condition PodScheduled=False, reason SchedulerError, msg
 *
 * The scheduler calls after every failed attempt, so the condition is written only when it differs
 * from what the pod carries (first checked on the pod the scheduler holds, without I/O, then again on
 * the stored pod inside the compare-and-swap), and never onto a pod that got bound meanwhile — the
 * binding's PodScheduled=True must stand. Repeated events are aggregated by the event recorder.
 */
import { isPlainObject, type StoredObject } from '../../api/object.js';
import type { Clock } from '../../lib/clock.js';
import type { Logger } from '../../lib/logger.js';
import type { ResourceStorage } from '../apiserver/resource-storage.js';
import type { EventRecorder, ObjectReference } from '../controllers/event-recorder.js';
import { requireResource } from '../controllers/informer-factory.js';
import { updateObject } from '../controllers/object-writes.js';
import { scheduledMessage, type SchedulingResultSink } from './scheduler.js';
import type { PodLike } from './types.js';

/** `reason` of the PodScheduled=False condition. */
export type UnscheduledReason = 'Unschedulable' | 'SchedulerError';

export interface PodConditionSinkOptions {
  readonly storage: ResourceStorage;
  readonly events: EventRecorder;
  readonly clock: Clock;
  readonly logger: Logger;
}

const pods = requireResource('', 'v1', 'pods');

/**
 * The `SchedulingResultSink` of `berth server`. Event calls return at once (the recorder writes in the
 * background); condition writes return their promise, which the scheduler only watches for rejection.
 * `drain()` waits for the writes in flight, so a controller can stop before the store closes.
 */
export class PodConditionSink implements SchedulingResultSink {
  readonly #storage: ResourceStorage;
  readonly #events: EventRecorder;
  readonly #clock: Clock;
  readonly #log: Logger;
  readonly #writes = new Set<Promise<void>>();

  constructor(opts: PodConditionSinkOptions) {
    this.#storage = opts.storage;
    this.#events = opts.events;
    this.#clock = opts.clock;
    this.#log = opts.logger;
  }

  scheduled(pod: PodLike, nodeName: string): void {
    this.#events.event(podReference(pod), 'Normal', 'Scheduled', scheduledMessage(pod, nodeName));
  }

  unschedulable(pod: PodLike, message: string): Promise<void> | undefined {
    return this.#failed(pod, 'Unschedulable', message);
  }

  error(pod: PodLike, message: string): Promise<void> | undefined {
    return this.#failed(pod, 'SchedulerError', message);
  }

  /** Resolves when every condition write started so far has settled. */
  async drain(): Promise<void> {
    while (this.#writes.size > 0) await Promise.allSettled([...this.#writes]);
  }

  #failed(pod: PodLike, reason: UnscheduledReason, message: string): Promise<void> | undefined {
    this.#events.event(podReference(pod), 'Warning', 'FailedScheduling', message);
    if (!needsCondition(pod, reason, message)) return undefined;
    const write = this.#writeCondition(pod, reason, message);
    this.#writes.add(write);
    void write.finally(() => this.#writes.delete(write)).catch(() => undefined);
    return write;
  }

  async #writeCondition(pod: PodLike, reason: UnscheduledReason, message: string): Promise<void> {
    const m = pod.metadata;
    const result = await updateObject(
      this.#storage,
      pods,
      { namespace: m?.namespace ?? 'default', name: m?.name ?? '', uid: m?.uid },
      (current) =>
        needsCondition(current, reason, message) &&
        setUnscheduled(current, reason, message, this.#clock.now()),
      { subresource: 'status' },
    );
    if (result.outcome === 'updated') {
      this.#log.debug(
        { pod: `${m?.namespace ?? 'default'}/${m?.name ?? ''}`, reason },
        'PodScheduled=False written',
      );
    }
  }
}

/** The Event's involvedObject for a pod. */
function podReference(pod: PodLike): ObjectReference {
  const m = pod.metadata;
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    namespace: m?.namespace ?? 'default',
    ...(m?.name === undefined ? {} : { name: m.name }),
    ...(m?.uid === undefined ? {} : { uid: m.uid }),
    ...(m?.resourceVersion === undefined ? {} : { resourceVersion: m.resourceVersion }),
  };
}

/** False when the pod is bound, or already carries exactly this PodScheduled=False condition. */
function needsCondition(pod: PodLike | StoredObject, reason: string, message: string): boolean {
  const spec = pod.spec as { nodeName?: unknown } | undefined;
  if (typeof spec?.nodeName === 'string' && spec.nodeName !== '') return false;
  const c = podScheduledCondition(pod.status);
  return !(c?.['status'] === 'False' && c['reason'] === reason && c['message'] === message);
}

function podScheduledCondition(status: unknown): Record<string, unknown> | undefined {
  if (!isPlainObject(status) || !Array.isArray(status['conditions'])) return undefined;
  const found: unknown = status['conditions'].find((c) => isPlainObject(c) && c['type'] === 'PodScheduled');
  return isPlainObject(found) ? found : undefined;
}

/**
 * podutil.UpdatePodCondition for PodScheduled=False on `pod` (a private copy): lastTransitionTime moves
 * only when the status changes. Returns true (it is a change; the caller checked).
 */
function setUnscheduled(pod: StoredObject, reason: string, message: string, now: number): boolean {
  const status = isPlainObject(pod.status) ? pod.status : {};
  const conditions: unknown[] = Array.isArray(status['conditions'])
    ? [...(status['conditions'] as unknown[])]
    : [];
  const i = conditions.findIndex((c) => isPlainObject(c) && c['type'] === 'PodScheduled');
  const old = i < 0 ? undefined : conditions[i];
  const keepTime = isPlainObject(old) && old['status'] === 'False' && old['lastTransitionTime'] !== undefined;
  const condition = {
    type: 'PodScheduled',
    status: 'False',
    lastProbeTime: null,
    lastTransitionTime: keepTime
      ? old['lastTransitionTime']
      : new Date(now).toISOString().replace(/\.\d{3}Z$/, 'Z'),
    reason,
    message,
  };
  if (i < 0) conditions.push(condition);
  else conditions[i] = condition;
  pod.status = { ...status, conditions };
  return true;
}

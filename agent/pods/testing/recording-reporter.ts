/**
 * A `PodReporter` that records what the pod workers report, for unit tests and benchmarks (and for
 * hollow agents run without a controller). Keeps every status per pod, every event, every terminated.
 */
import type { PodEvent, PodReporter, PodStatusUpdate } from '../pod-manager.js';

export class RecordingReporter implements PodReporter {
  readonly statuses = new Map<string, Record<string, unknown>[]>();
  readonly events: PodEvent[] = [];
  readonly terminatedUids: string[] = [];

  status(update: PodStatusUpdate): void {
    const list = this.statuses.get(update.uid);
    if (list === undefined) this.statuses.set(update.uid, [update.status]);
    else list.push(update.status);
  }

  event(event: PodEvent): void {
    this.events.push(event);
  }

  terminated(pod: { readonly namespace: string; readonly name: string; readonly uid: string }): void {
    this.terminatedUids.push(pod.uid);
  }

  /** The newest status reported for a pod. */
  latest(uid: string): Record<string, unknown> | undefined {
    return this.statuses.get(uid)?.at(-1);
  }

  /** Events of one pod, as `Reason: message` strings. */
  eventsOf(uid: string): string[] {
    return this.events.filter((e) => e.podUid === uid).map((e) => `${e.reason}: ${e.message}`);
  }
}

/**
 * What the agent has to tell the controller about its pods, between the pod workers (which report
 * whenever they like) and the stream (which may be slow, or down). Per pod only the newest status
 * waits to be sent (coalescing); events wait in a bounded queue (the oldest are dropped first);
 * a pod's termination is kept until the controller shows the pod gone, because only then is it known
 * to have arrived. After a reconnect, the newest status of every pod and every unconfirmed
 * termination are sent again: the controller may have restarted and lost what was in flight, and
 * writing an unchanged status is a no-op there.
 */
import type { PodEvent, PodReporter, PodStatusUpdate } from './pods/pod-manager.js';
import type { AgentMessage } from '../proto/gen/berth/v1/agent.js';

export interface PodIdentity {
  readonly namespace: string;
  readonly name: string;
  readonly uid: string;
}

export class ReportQueue implements PodReporter {
  readonly #maxEvents: number;
  readonly #latest = new Map<string, PodStatusUpdate>();
  readonly #pendingStatus = new Map<string, PodStatusUpdate>();
  readonly #terminated = new Map<string, PodIdentity>();
  readonly #pendingTerminated = new Map<string, PodIdentity>();
  #events: PodEvent[] = [];
  #onPending: () => void = () => undefined;
  #droppedEvents = 0;

  constructor(opts: { readonly maxEvents?: number } = {}) {
    this.#maxEvents = opts.maxEvents ?? 1000;
  }

  /** Called (synchronously) whenever something new is waiting. */
  set onPending(fn: () => void) {
    this.#onPending = fn;
  }

  /** Whether anything waits to be sent. */
  get pending(): boolean {
    return this.#pendingStatus.size > 0 || this.#pendingTerminated.size > 0 || this.#events.length > 0;
  }

  /** Events dropped because the queue was full, since the queue was made. */
  get droppedEvents(): number {
    return this.#droppedEvents;
  }

  status(update: PodStatusUpdate): void {
    if (this.#terminated.has(update.uid)) return;
    this.#latest.set(update.uid, update);
    this.#pendingStatus.set(update.uid, update);
    this.#onPending();
  }

  event(event: PodEvent): void {
    if (this.#events.length >= this.#maxEvents) {
      this.#events.shift();
      this.#droppedEvents++;
    }
    this.#events.push(event);
    this.#onPending();
  }

  terminated(pod: PodIdentity): void {
    const ref = { namespace: pod.namespace, name: pod.name, uid: pod.uid };
    this.#terminated.set(pod.uid, ref);
    this.#pendingTerminated.set(pod.uid, ref);
    // Its status no longer matters: the pod is about to be removed.
    this.#latest.delete(pod.uid);
    this.#pendingStatus.delete(pod.uid);
    this.#onPending();
  }

  /** After a (re)connect: the newest status of every pod and unconfirmed terminations go again. */
  requeueAll(): void {
    for (const [uid, update] of this.#latest) this.#pendingStatus.set(uid, update);
    for (const [uid, ref] of this.#terminated) this.#pendingTerminated.set(uid, ref);
    if (this.pending) this.#onPending();
  }

  /** The controller no longer has pod `uid`: nothing more to say about it. */
  forget(uid: string): void {
    this.#latest.delete(uid);
    this.#pendingStatus.delete(uid);
    this.#terminated.delete(uid);
    this.#pendingTerminated.delete(uid);
  }

  /** After a snapshot: forget every pod not in it. */
  retain(uids: ReadonlySet<string>): void {
    for (const uid of [...this.#latest.keys(), ...this.#terminated.keys()]) {
      if (!uids.has(uid)) this.forget(uid);
    }
  }

  /**
   * Takes up to `max` messages to send now: statuses first, then terminations (so that a pod's last
   * status precedes its removal), then events.
   */
  take(max: number): AgentMessage[] {
    const out: AgentMessage[] = [];
    for (const [uid, u] of this.#pendingStatus) {
      if (out.length >= max) return out;
      this.#pendingStatus.delete(uid);
      out.push({
        kind: {
          $case: 'podStatus',
          podStatus: {
            namespace: u.namespace,
            name: u.name,
            uid: u.uid,
            statusJson: Buffer.from(JSON.stringify(u.status)),
          },
        },
      });
    }
    for (const [uid, ref] of this.#pendingTerminated) {
      if (out.length >= max) return out;
      this.#pendingTerminated.delete(uid);
      out.push({ kind: { $case: 'podTerminated', podTerminated: { ...ref } } });
    }
    while (out.length < max) {
      const e = this.#events.shift();
      if (e === undefined) break;
      out.push({
        kind: {
          $case: 'podEvent',
          podEvent: {
            namespace: e.namespace,
            podName: e.podName,
            podUid: e.podUid,
            fieldPath: e.fieldPath ?? '',
            type: e.type,
            reason: e.reason,
            message: e.message,
          },
        },
      });
    }
    return out;
  }
}

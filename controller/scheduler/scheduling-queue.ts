/**
 * The scheduling queue (kube-scheduler's PriorityQueue), holding every pending pod in exactly one place:
 *
 *                 add (no gates)                         pop
 *   ──► gated ──gates removed──► active ────────────────────────► in flight (being scheduled or bound)
 *                                 ▲   ▲                              │
 *                  back-off over  │   │ cluster change, back-off over │ unschedulable: pool
 *                                 │   │ (else via back-off)           │ error, or a cluster change
 *                              back-off ◄─────────────────────────────┤ happened during its attempt:
 *                                 ▲         cluster change,           │ back-off
 *                                 └──── still backing off ── unschedulable ◄┘
 *
 * - active: ordered by `spec.priority` (higher first), then by the time the pod entered (FIFO).
 * - back-off: per-pod exponential back-off from the last failure: 1 s, 2 s, 4 s, 8 s, then 10 s.
 * - unschedulable: pods no node fits. A cluster change (node added or changed, pod deleted; an
 *   assigned pod added only for pods that failed on pod (anti-)affinity or topology spread — kube's
 *   queueing hints, simplified) moves them back, debounced so a burst of changes moves them once.
 *   Pods that stay longer than `maxUnschedulableMs` (5 min) are moved back regardless.
 * - gated: pods with `spec.schedulingGates`; they wait until the gates are removed.
 *
 * All timing reads the injected clock.
 */
import type { Clock, Timer } from '../../lib/clock.js';
import { KeyedHeap } from './heap.js';
import type { PodInfo } from './pod-info.js';

/** The sub-queues, named as `scheduler_pending_pods{queue}` labels them. */
export type QueueName = 'active' | 'backoff' | 'unschedulable' | 'gated';

/** A pending pod with its queueing history. */
export interface QueuedPod {
  /** The latest version of the pod. */
  info: PodInfo;
  readonly key: string;
  /** When the pod last entered the queue; FIFO order within a priority. */
  timestamp: number;
  /** Scheduling attempts so far (incremented when popped). */
  attempts: number;
  /** When the pod first became schedulable (created, or its gates removed): the start of the SLI. */
  firstSeen: number;
  /** Plugins that rejected it in its last failed attempt. */
  unschedulablePlugins: ReadonlySet<string>;
  /** Until when it backs off after its last failure. */
  backoffUntil: number;
  /** Insertion sequence, to keep FIFO order stable when timestamps are equal. */
  seq: number;
}

/** Queue timing; all durations in milliseconds. */
export interface SchedulingQueueOptions {
  readonly clock: Clock;
  /** First back-off after a failure; doubles per attempt. Default 1 s. */
  readonly initialBackoffMs?: number;
  /** Back-off ceiling. Default 10 s. */
  readonly maxBackoffMs?: number;
  /** Coalescing window for moving unschedulable pods after cluster changes. Default 50 ms; 0 moves at once. */
  readonly moveDebounceMs?: number;
  /** Longest a pod stays in the unschedulable pool without a triggering event. Default 5 min. */
  readonly maxUnschedulableMs?: number;
  /** Called when a pod enters a sub-queue (`scheduler_queue_incoming_pods_total{queue,event}`). */
  readonly onIncoming?: (queue: QueueName, event: string) => void;
}

const noPlugins: ReadonlySet<string> = new Set();

/** Where a failed attempt sends the pod. */
export interface FailureOutcome {
  /** True for "no node fits"; false for errors (which always back off). */
  readonly unschedulable: boolean;
  /** Plugins that rejected the pod; decides which cluster events can help it. */
  readonly plugins: ReadonlySet<string>;
}

/** The queue of pending pods (see the module comment). Single-threaded. */
export class SchedulingQueue {
  readonly #clock: Clock;
  readonly #initialBackoff: number;
  readonly #maxBackoff: number;
  readonly #debounce: number;
  readonly #maxUnschedulable: number;
  readonly #onIncoming: ((queue: QueueName, event: string) => void) | undefined;

  readonly #active = new KeyedHeap<QueuedPod>(
    (q) => q.key,
    (a, b) =>
      a.info.priority !== b.info.priority
        ? a.info.priority > b.info.priority
        : a.timestamp !== b.timestamp
          ? a.timestamp < b.timestamp
          : a.seq < b.seq,
  );
  readonly #backoff = new KeyedHeap<QueuedPod>(
    (q) => q.key,
    (a, b) => (a.backoffUntil !== b.backoffUntil ? a.backoffUntil < b.backoffUntil : a.seq < b.seq),
  );
  readonly #unschedulable = new Map<string, QueuedPod>();
  readonly #gated = new Map<string, QueuedPod>();
  /** Popped and not yet finished: `undefined` marks a pod deleted while in flight. */
  readonly #inFlight = new Map<string, QueuedPod | undefined>();

  #seq = 0;
  #cycle = 0;
  #moveRequestCycle = -1;
  #waiters: ((q: QueuedPod | undefined) => void)[] = [];
  #closed = false;
  #wakeScheduled = false;
  #backoffTimer: { timer: Timer; at: number } | undefined;
  #leftoverTimer: Timer | undefined;
  #moveTimer: Timer | undefined;
  #pendingMoveAll = false;
  readonly #pendingMovePlugins = new Set<string>();
  #pendingMoveEvent = '';

  constructor(opts: SchedulingQueueOptions) {
    this.#clock = opts.clock;
    this.#initialBackoff = opts.initialBackoffMs ?? 1000;
    this.#maxBackoff = opts.maxBackoffMs ?? 10_000;
    this.#debounce = opts.moveDebounceMs ?? 50;
    this.#maxUnschedulable = opts.maxUnschedulableMs ?? 5 * 60_000;
    this.#onIncoming = opts.onIncoming;
  }

  /** The number of scheduling cycles started so far (each `pop` starts one). */
  get schedulingCycle(): number {
    return this.#cycle;
  }

  /** Pending pods per sub-queue (in-flight pods are not pending). */
  counts(): Record<QueueName, number> {
    return {
      active: this.#active.size,
      backoff: this.#backoff.size,
      unschedulable: this.#unschedulable.size,
      gated: this.#gated.size,
    };
  }

  /** Pods popped and not yet done or re-queued (being scheduled or bound). */
  get inFlightCount(): number {
    return this.#inFlight.size;
  }

  /** Which sub-queue holds the pod, `inFlight`, or `undefined` when the queue does not know it. */
  where(key: string): QueueName | 'inFlight' | undefined {
    if (this.#active.has(key)) return 'active';
    if (this.#backoff.has(key)) return 'backoff';
    if (this.#unschedulable.has(key)) return 'unschedulable';
    if (this.#gated.has(key)) return 'gated';
    if (this.#inFlight.get(key) !== undefined) return 'inFlight';
    return undefined;
  }

  /** Adds a new pending pod; a pod already known is treated as an update. */
  add(info: PodInfo): void {
    if (this.#closed) return;
    if (this.where(info.key) !== undefined) {
      this.update(info);
      return;
    }
    const now = this.#clock.now();
    const q: QueuedPod = {
      info,
      key: info.key,
      timestamp: now,
      attempts: 0,
      firstSeen: now,
      unschedulablePlugins: noPlugins,
      backoffUntil: 0,
      seq: this.#seq++,
    };
    if (info.gated) {
      this.#gated.set(q.key, q);
      this.#onIncoming?.('gated', 'PodAdd');
    } else {
      this.#pushActive(q, 'PodAdd');
    }
  }

  /** A new version of a pending pod. */
  update(info: PodInfo): void {
    const key = info.key;
    if (this.#inFlight.has(key)) {
      const q = this.#inFlight.get(key);
      if (q !== undefined) q.info = info;
      return;
    }
    const gated = this.#gated.get(key);
    if (gated !== undefined) {
      gated.info = info;
      if (!info.gated) {
        this.#gated.delete(key);
        gated.firstSeen = this.#clock.now();
        gated.timestamp = gated.firstSeen;
        this.#pushActive(gated, 'PodUpdate');
      }
      return;
    }
    const active = this.#active.get(key);
    if (active !== undefined) {
      active.info = info;
      this.#active.push(active);
      return;
    }
    const backoff = this.#backoff.get(key);
    if (backoff !== undefined) {
      backoff.info = info;
      return;
    }
    const unsched = this.#unschedulable.get(key);
    if (unsched !== undefined) {
      const relevant = schedulingView(unsched.info) !== schedulingView(info);
      unsched.info = info;
      if (relevant) {
        this.#unschedulable.delete(key);
        this.#moveOut(unsched, 'PodUpdate', this.#clock.now());
        this.#syncLeftoverTimer();
      }
      return;
    }
    this.add(info);
  }

  /** Forgets a pod (deleted, or bound by someone else). True when it was pending or in flight. */
  delete(key: string): boolean {
    if (this.#inFlight.has(key)) {
      this.#inFlight.set(key, undefined);
      return true;
    }
    const found =
      this.#active.delete(key) !== undefined ||
      this.#backoff.delete(key) !== undefined ||
      this.#unschedulable.delete(key) ||
      this.#gated.delete(key);
    if (found) this.#syncLeftoverTimer();
    return found;
  }

  /**
   * The next pod to schedule, waiting until one is active. Resolves `undefined` once the queue is
   * closed or `signal` aborts. The pod is in flight until `done` or `requeue`.
   */
  pop(signal?: AbortSignal): Promise<QueuedPod | undefined> {
    const q = this.tryPop();
    if (q !== undefined || this.#closed) return Promise.resolve(q);
    if (signal?.aborted === true) return Promise.resolve(undefined);
    return new Promise((resolve) => {
      const onAbort = (): void => {
        this.#waiters = this.#waiters.filter((w) => w !== waiter);
        resolve(undefined);
      };
      const waiter = (got: QueuedPod | undefined): void => {
        signal?.removeEventListener('abort', onAbort);
        resolve(got);
      };
      this.#waiters.push(waiter);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  /** The next active pod without waiting, or `undefined`. */
  tryPop(): QueuedPod | undefined {
    if (this.#closed) return undefined;
    const q = this.#active.pop();
    if (q === undefined) return undefined;
    this.#cycle++;
    q.attempts++;
    this.#inFlight.set(q.key, q);
    return q;
  }

  /** The pod left the scheduler's hands (bound, or skipped). */
  done(key: string): void {
    this.#inFlight.delete(key);
  }

  /** True when the pod was deleted while in flight (so a failure must not re-queue it). */
  deletedInFlight(key: string): boolean {
    return this.#inFlight.has(key) && this.#inFlight.get(key) === undefined;
  }

  /**
   * Puts back a pod whose attempt (started in cycle `podCycle`) failed (kube's
   * AddUnschedulableIfNotPresent): errors, and pods for which a cluster change arrived during the
   * attempt, go to back-off; other unschedulable pods to the unschedulable pool. A pod deleted in
   * the meantime is dropped.
   */
  requeue(q: QueuedPod, outcome: FailureOutcome, podCycle: number): void {
    const current = this.#inFlight.get(q.key);
    this.#inFlight.delete(q.key);
    if (current === undefined || this.#closed) return;
    const now = this.#clock.now();
    current.timestamp = now;
    current.seq = this.#seq++;
    current.unschedulablePlugins = outcome.plugins;
    current.backoffUntil = now + this.backoffDurationMs(current.attempts);
    if (outcome.unschedulable && this.#moveRequestCycle < podCycle) {
      this.#unschedulable.set(current.key, current);
      this.#onIncoming?.('unschedulable', 'ScheduleAttemptFailure');
      this.#syncLeftoverTimer();
    } else {
      this.#pushBackoff(current, outcome.unschedulable ? 'ScheduleAttemptFailure' : 'ScheduleAttemptError');
    }
  }

  /** Back-off after `attempts` failed attempts: initial × 2^(attempts−1), capped. */
  backoffDurationMs(attempts: number): number {
    let d = this.#initialBackoff;
    for (let i = 1; i < attempts; i++) {
      d *= 2;
      if (d >= this.#maxBackoff) return this.#maxBackoff;
    }
    return Math.min(d, this.#maxBackoff);
  }

  /**
   * A cluster change happened that may make unschedulable pods fit. With `plugins`, only pods rejected
   * by one of those plugins (or with no recorded plugin) move; without, all do. Debounced.
   */
  moveOnClusterEvent(event: string, plugins?: ReadonlySet<string>): void {
    this.#moveRequestCycle = this.#cycle;
    if (plugins === undefined) this.#pendingMoveAll = true;
    else for (const p of plugins) this.#pendingMovePlugins.add(p);
    this.#pendingMoveEvent = event;
    if (this.#unschedulable.size === 0) {
      this.#clearPendingMove();
      return;
    }
    if (this.#debounce <= 0) {
      this.#runPendingMove();
      return;
    }
    this.#moveTimer ??= this.#clock.setTimer(this.#debounce, () => {
      this.#moveTimer = undefined;
      this.#runPendingMove();
    });
  }

  /** Stops timers and releases waiting `pop`s. Pending pods are dropped. */
  close(): void {
    this.#closed = true;
    this.#backoffTimer?.timer.cancel();
    this.#backoffTimer = undefined;
    this.#leftoverTimer?.cancel();
    this.#leftoverTimer = undefined;
    this.#moveTimer?.cancel();
    this.#moveTimer = undefined;
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const w of waiters) w(undefined);
  }

  #runPendingMove(): void {
    const all = this.#pendingMoveAll;
    const plugins = this.#pendingMovePlugins;
    const event = this.#pendingMoveEvent;
    const now = this.#clock.now();
    for (const [key, q] of this.#unschedulable) {
      if (!all && !interested(q.unschedulablePlugins, plugins)) continue;
      this.#unschedulable.delete(key);
      this.#moveOut(q, event, now);
    }
    this.#clearPendingMove();
    this.#syncLeftoverTimer();
  }

  #clearPendingMove(): void {
    this.#pendingMoveAll = false;
    this.#pendingMovePlugins.clear();
    this.#pendingMoveEvent = '';
  }

  #moveOut(q: QueuedPod, event: string, now: number): void {
    if (q.backoffUntil > now) this.#pushBackoff(q, event);
    else this.#pushActive(q, event);
  }

  #pushActive(q: QueuedPod, event: string): void {
    this.#active.push(q);
    this.#onIncoming?.('active', event);
    if (this.#waiters.length > 0 && !this.#wakeScheduled) {
      // Wake the waiting pop after the current batch of moves, so it gets the highest-priority pod.
      this.#wakeScheduled = true;
      queueMicrotask(() => {
        this.#wakeScheduled = false;
        while (this.#waiters.length > 0 && this.#active.size > 0) {
          const w = this.#waiters.shift();
          w?.(this.tryPop());
        }
      });
    }
  }

  #pushBackoff(q: QueuedPod, event: string): void {
    this.#backoff.push(q);
    this.#onIncoming?.('backoff', event);
    this.#armBackoffTimer();
  }

  #armBackoffTimer(): void {
    const head = this.#backoff.peek();
    if (head === undefined || this.#closed) return;
    if (this.#backoffTimer !== undefined && this.#backoffTimer.at <= head.backoffUntil) return;
    this.#backoffTimer?.timer.cancel();
    const at = head.backoffUntil;
    const timer = this.#clock.setTimer(Math.max(0, at - this.#clock.now()), () => {
      this.#backoffTimer = undefined;
      this.#flushBackoff();
    });
    this.#backoffTimer = { timer, at };
  }

  #flushBackoff(): void {
    const now = this.#clock.now();
    for (;;) {
      const head = this.#backoff.peek();
      if (head === undefined || head.backoffUntil > now) break;
      this.#backoff.pop();
      this.#pushActive(head, 'BackoffComplete');
    }
    this.#armBackoffTimer();
  }

  #syncLeftoverTimer(): void {
    if (this.#unschedulable.size === 0 || this.#closed) {
      this.#leftoverTimer?.cancel();
      this.#leftoverTimer = undefined;
      return;
    }
    // kube checks every 30 s; a tenth of the limit keeps the overshoot proportional when it is tuned down.
    const every = Math.max(1, Math.min(30_000, Math.floor(this.#maxUnschedulable / 10)));
    this.#leftoverTimer ??= this.#clock.setTimer(
      every,
      () => {
        this.#flushLeftover();
      },
      { repeat: true },
    );
  }

  #flushLeftover(): void {
    const now = this.#clock.now();
    for (const [key, q] of this.#unschedulable) {
      if (now - q.timestamp < this.#maxUnschedulable) continue;
      this.#unschedulable.delete(key);
      this.#moveOut(q, 'UnschedulableTimeout', now);
    }
    this.#syncLeftoverTimer();
  }
}

function interested(rejectedBy: ReadonlySet<string>, plugins: ReadonlySet<string>): boolean {
  if (rejectedBy.size === 0) return true;
  for (const p of rejectedBy) if (plugins.has(p)) return true;
  return false;
}

// What of a pod can change its scheduling outcome: its spec and labels (not status, not resourceVersion).
function schedulingView(info: PodInfo): string {
  return JSON.stringify([info.pod.spec, info.labels]);
}

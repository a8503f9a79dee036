/**
 * The scheduler: one scheduling loop (like kube-scheduler) that takes the highest-priority pending pod,
 * runs its profile's plugins over the cached cluster, assumes the pod onto the chosen node and hands
 * the binding to a bounded pool of concurrent bind calls, then takes the next pod without waiting.
 *
 *   informers ──addNode/updateNode/removeNode──► cache ◄─assume/forget/finishBinding─┐
 *             ──addPod/updatePod/removePod────► queue (pending pods) │ cache (assigned)   │
 *                                                  │ pop                                 │
 *                                                  ▼                                     │
 *                          scheduling cycle (sync): PreFilter → Filter → Score → Reserve ┘
 *                                                  │ assume                 │ no fit
 *                                                  ▼                        ▼
 *                            binding cycle (async, ≤ parallelism): Binder   sink.unschedulable + re-queue
 *                                 ok ─► sink.scheduled     failed ─► forget + back-off + sink.error
 *
 * It owns no I/O: pods and nodes come in through the add/update/remove methods (wired to informers),
 * bindings go out through the `Binder` seam, and outcomes through the `SchedulingResultSink` seam
 * (the wiring writes the PodScheduled condition and Scheduled/FailedScheduling events).
 */
import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import { performance } from 'node:perf_hooks';
import type { Registry } from 'prom-client';
import { realClock, type Clock, type Timer } from '../../lib/clock.js';
import { errorMessage } from '../../lib/errors.js';
import type { Logger } from '../../lib/logger.js';
import { CycleState } from './cycle-state.js';
import type { Binder } from './framework.js';
import { podInfoOf } from './pod-info.js';
import { defaultProfiles, type ProfileConfig } from './plugin-registry.js';
import { Profile } from './profile.js';
import { SchedulerCache, type ClusterSnapshot } from './scheduler-cache.js';
import { SchedulerMetrics, type AttemptResult } from './scheduler-metrics.js';
import { SchedulingQueue, type QueueName, type QueuedPod } from './scheduling-queue.js';
import { assignedNode, isTerminalPod, podKey, podName, type NodeLike, type PodLike } from './types.js';

/**
 * Where scheduling outcomes go. Calls are fire-and-forget: a returned promise is awaited only to log
 * its rejection, and never delays scheduling.
 */
export interface SchedulingResultSink {
  /** The pod was bound to `nodeName`. Write a `Scheduled` event with {@link scheduledMessage}. */
  scheduled(pod: PodLike, nodeName: string): void | Promise<void>;
  /**
   * No node fits (`message` is Kubernetes' "0/N nodes are available: …"). Write the
   * `PodScheduled=False` condition with reason `Unschedulable` and a `FailedScheduling` event.
   * Called after every failed attempt; the pod is retried after back-off or a cluster change.
   */
  unschedulable(pod: PodLike, message: string): void | Promise<void>;
  /**
   * An attempt failed for another reason (a plugin error, a rejected binding). Kubernetes writes
   * `PodScheduled=False` with reason `SchedulerError` and a `FailedScheduling` event. Optional.
   */
  error?(pod: PodLike, message: string): void | Promise<void>;
}

/** The `Scheduled` event message: `Successfully assigned default/web-1 to n1`. */
export function scheduledMessage(pod: PodLike, nodeName: string): string {
  return `Successfully assigned ${podName(pod)} to ${nodeName}`;
}

/** Construction options; only `binder` is required. */
export interface SchedulerOptions {
  /** Profiles by `spec.schedulerName`. Default: {@link defaultProfiles} (`default-scheduler`, `bin-packing-scheduler`). */
  readonly profiles?: readonly ProfileConfig[];
  readonly binder: Binder;
  readonly sink?: SchedulingResultSink;
  readonly clock?: Clock;
  readonly logger?: Logger;
  /** prom-client registry for the scheduler_* metrics; a private one when absent. */
  readonly registry?: Registry;
  /**
   * Bindings in flight at most (kube runs each binding in its own goroutine; here they are
   * concurrent promises). When all slots are busy, the loop waits before scheduling the next pod.
   * Default 16.
   */
  readonly parallelism?: number;
  /** Random source for breaking score ties. Default Math.random. */
  readonly random?: () => number;
  /** Back-off after the first failure; doubles per attempt. Default 1 s. */
  readonly initialBackoffMs?: number;
  /** Back-off ceiling. Default 10 s. */
  readonly maxBackoffMs?: number;
  /** Coalescing window for re-queueing unschedulable pods on cluster changes. Default 50 ms. */
  readonly moveDebounceMs?: number;
  /** Longest an unschedulable pod waits without a cluster change before a retry. Default 5 min. */
  readonly maxUnschedulableMs?: number;
  /** How long a bound pod stays assumed when the informer never reports it bound. Default 30 s. */
  readonly assumedPodTtlMs?: number;
}

/** Most pods scheduled in one turn of the event loop, and the turn's time budget in ms. */
const PODS_PER_TURN = 32;
const TURN_BUDGET_MS = 4;

const affinityPlugins: ReadonlySet<string> = new Set(['InterPodAffinity', 'PodTopologySpread']);
const noPlugins: ReadonlySet<string> = new Set();

/**
 * The scheduler. Event methods are synchronous and cheap; call them from informer handlers in order.
 * `run()` starts the loop; `close()` stops it. See the module comment for the flow.
 */
export class Scheduler {
  readonly #binder: Binder;
  readonly #sink: SchedulingResultSink | undefined;
  readonly #clock: Clock;
  readonly #log: Logger | undefined;
  readonly #parallelism: number;
  readonly #cache: SchedulerCache;
  readonly #queue: SchedulingQueue;
  readonly #metrics: SchedulerMetrics;
  readonly #profiles = new Map<string, Profile>();
  readonly #abort = new AbortController();
  readonly #bindings = new Set<Promise<void>>();
  #slotWaiter: (() => void) | undefined;
  #idleWaiters: (() => void)[] = [];
  #expiryTimer: Timer | undefined;
  #running: Promise<void> | undefined;
  #closed = false;

  constructor(opts: SchedulerOptions) {
    this.#binder = opts.binder;
    this.#sink = opts.sink;
    this.#clock = opts.clock ?? realClock;
    this.#log = opts.logger?.child({ component: 'scheduler' });
    this.#parallelism = Math.max(1, opts.parallelism ?? 16);
    this.#cache = new SchedulerCache({ assumedTtlMs: opts.assumedPodTtlMs ?? 30_000 });
    this.#queue = new SchedulingQueue({
      clock: this.#clock,
      ...(opts.initialBackoffMs === undefined ? {} : { initialBackoffMs: opts.initialBackoffMs }),
      ...(opts.maxBackoffMs === undefined ? {} : { maxBackoffMs: opts.maxBackoffMs }),
      ...(opts.moveDebounceMs === undefined ? {} : { moveDebounceMs: opts.moveDebounceMs }),
      ...(opts.maxUnschedulableMs === undefined ? {} : { maxUnschedulableMs: opts.maxUnschedulableMs }),
      onIncoming: (q, e) => {
        this.#metrics.incoming(q, e);
      },
    });
    this.#metrics = new SchedulerMetrics(opts.registry, {
      pending: () => this.#queue.counts(),
      cacheSizes: () => ({
        nodes: this.#cache.nodeCount,
        pods: this.#cache.podCount,
        assumed_pods: this.#cache.assumedCount,
      }),
    });
    const handle = { snapshot: this.#cache, binder: this.#binder };
    const random = opts.random ?? Math.random;
    for (const config of opts.profiles ?? defaultProfiles) {
      const name = config.schedulerName;
      this.#profiles.set(
        name,
        new Profile(config, handle, {
          random,
          observe: (point, status, seconds) => {
            this.#metrics.extensionPoint(point, status, name, seconds);
          },
        }),
      );
    }
  }

  // ── Cluster events (wired to informers) ─────────────────────────────────────────────────────────

  /** A Node appeared (informer add). */
  addNode(node: NodeLike): void {
    this.updateNode(node);
  }

  /** A Node changed (informer update; also fine for an add). Heartbeat-only changes wake nobody. */
  updateNode(node: NodeLike): void {
    if (this.#cache.upsertNode(node)) this.#queue.moveOnClusterEvent('NodeChange');
  }

  /** A Node was deleted (informer delete); accepts the last known object or its name. */
  removeNode(node: NodeLike | string): void {
    this.#cache.removeNode(typeof node === 'string' ? node : (node.metadata?.name ?? ''));
  }

  /** A Pod appeared (informer add): assigned pods go to the cache, pending ones to the queue. */
  addPod(pod: PodLike): void {
    this.updatePod(pod);
  }

  /** A Pod changed (informer update; also fine for an add). */
  updatePod(pod: PodLike): void {
    const key = podKey(pod);
    const node = assignedNode(pod);
    if (node !== undefined) {
      this.#queue.delete(key);
      if (isTerminalPod(pod)) {
        if (this.#cache.removePod(key)) this.#queue.moveOnClusterEvent('AssignedPodDelete');
        return;
      }
      this.#cache.upsertPod(podInfoOf(pod), node);
      this.#queue.moveOnClusterEvent('AssignedPodAdd', affinityPlugins);
      return;
    }
    if (isTerminalPod(pod)) {
      this.#queue.delete(key);
      return;
    }
    // An assumed pod's own updates (e.g. the binding's resourceVersion bump) must not queue it again.
    if (this.#cache.isAssumed(key)) return;
    const info = podInfoOf(pod);
    if (!this.#profiles.has(info.schedulerName)) return;
    this.#queue.add(info);
  }

  /** A Pod was deleted (informer delete), assigned or not. */
  removePod(pod: PodLike): void {
    const key = podKey(pod);
    this.#queue.delete(key);
    // An assumption goes too (kube's RemovePod); a binding still running for it then fails or is moot.
    const wasPlaced = this.#cache.removePod(key);
    if (wasPlaced || assignedNode(pod) !== undefined) this.#queue.moveOnClusterEvent('AssignedPodDelete');
  }

  // ── Running ────────────────────────────────────────────────────────────────────────────────────

  /**
   * Runs the scheduling loop until `signal` aborts or `close()` is called. Resolves once the loop
   * has stopped (in-flight bindings are awaited by `close()`).
   */
  run(signal?: AbortSignal): Promise<void> {
    if (this.#running !== undefined) return this.#running;
    const onAbort = (): void => {
      void this.close();
    };
    if (signal?.aborted === true) onAbort();
    signal?.addEventListener('abort', onAbort, { once: true });
    this.#expiryTimer = this.#clock.setTimer(
      1000,
      () => {
        for (const p of this.#cache.expireAssumed(this.#clock.now())) {
          this.#log?.warn(
            { pod: `${p.namespace}/${p.name}` },
            'assumed pod expired: its binding was never observed',
          );
        }
      },
      { repeat: true },
    );
    this.#running = this.#loop().finally(() => {
      signal?.removeEventListener('abort', onAbort);
    });
    return this.#running;
  }

  /** Stops the loop and timers, aborts and awaits in-flight bindings. Idempotent. */
  async close(): Promise<void> {
    if (!this.#closed) {
      this.#closed = true;
      this.#expiryTimer?.cancel();
      this.#queue.close();
      this.#abort.abort(new Error('scheduler closed'));
      this.#slotWaiter?.();
    }
    await this.#running;
    await Promise.allSettled([...this.#bindings]);
    this.#wakeIdle();
  }

  /**
   * Resolves when nothing is left to do right now: no active pod, no attempt in flight, no binding
   * running. Pods backing off or unschedulable do not count (they wait for time or a cluster change).
   * Needs the loop running (`run()`), or pending active pods never drain. For tests and benchmarks.
   */
  whenIdle(): Promise<void> {
    if (this.#isIdle()) return Promise.resolve();
    return new Promise((resolve) => this.#idleWaiters.push(resolve));
  }

  /** Pending pods per queue. */
  pendingPods(): Record<QueueName, number> {
    return this.#queue.counts();
  }

  /** Read-only view of the cache (nodes with their pods and requests), for diagnostics and tests. */
  get snapshot(): ClusterSnapshot {
    return this.#cache;
  }

  /** The node a pod is assumed or bound on, as far as the scheduler knows. */
  nodeOf(pod: PodLike): string | undefined {
    return this.#cache.nodeOf(podKey(pod));
  }

  /** True while the pod is assumed (chosen, binding not yet observed through the informer). */
  isAssumed(pod: PodLike): boolean {
    return this.#cache.isAssumed(podKey(pod));
  }

  async #loop(): Promise<void> {
    const signal = this.#abort.signal;
    while (!this.#closed) {
      await this.#bindingSlot();
      const first = await this.#queue.pop(signal);
      if (first === undefined) break;
      const turnStart = performance.now();
      this.#scheduleOne(first);
      // More pods in the same turn while they are ready, slots are free and the turn is short: one pod
      // per turn made the scheduler's rate the event loop's turn rate (~70/s on a busy controller),
      // while a few milliseconds per turn still leave informer events and binding replies their turn.
      for (let n = 1; n < PODS_PER_TURN; n++) {
        if (this.#bindings.size >= this.#parallelism) break;
        if (performance.now() - turnStart >= TURN_BUDGET_MS) break;
        const q = this.#queue.tryPop();
        if (q === undefined) break;
        this.#scheduleOne(q);
      }
      await yieldToEventLoop();
    }
  }

  /** Waits while all binding slots are busy (or until close). */
  async #bindingSlot(): Promise<void> {
    while (this.#bindings.size >= this.#parallelism) {
      if (this.#closed) return;
      await new Promise<void>((resolve) => (this.#slotWaiter = resolve));
      this.#slotWaiter = undefined;
    }
  }

  #scheduleOne(q: QueuedPod): void {
    const pod = q.info;
    const key = q.key;
    const profile = this.#profiles.get(pod.schedulerName);
    // kube's skipPodSchedule: being deleted, or already assumed/bound by an earlier attempt.
    if (profile === undefined || pod.terminating || this.#cache.nodeOf(key) !== undefined) {
      this.#queue.done(key);
      this.#wakeIdle();
      return;
    }
    const cycle = this.#queue.schedulingCycle;
    const t0 = performance.now();
    const state = new CycleState();
    const outcome = profile.schedule(state, pod);
    switch (outcome.kind) {
      case 'unschedulable':
        this.#fail(q, profile.name, 'unschedulable', outcome.message, outcome.plugins, cycle, t0);
        return;
      case 'error':
        this.#log?.warn({ pod: podName(pod.pod), err: outcome.cause }, outcome.message);
        this.#fail(q, profile.name, 'error', outcome.message, noPlugins, cycle, t0);
        return;
      case 'scheduled':
        break;
    }
    const nodeName = outcome.nodeName;
    const reserved = profile.reserve(state, pod, nodeName);
    if (reserved !== undefined) {
      const result = reserved.code === 'Error' ? 'error' : 'unschedulable';
      this.#fail(q, profile.name, result, reserved.message(), noPlugins, cycle, t0);
      return;
    }
    this.#cache.assume(pod, nodeName);
    this.#log?.debug(
      {
        pod: podName(pod.pod),
        node: nodeName,
        evaluated: outcome.evaluatedNodes,
        feasible: outcome.feasibleNodes,
      },
      'pod assumed',
    );
    const binding = this.#bindingCycle(q, profile, state, nodeName, cycle, t0);
    this.#bindings.add(binding);
    void binding.finally(() => {
      this.#bindings.delete(binding);
      this.#slotWaiter?.();
      this.#wakeIdle();
    });
  }

  async #bindingCycle(
    q: QueuedPod,
    profile: Profile,
    state: CycleState,
    nodeName: string,
    cycle: number,
    t0: number,
  ): Promise<void> {
    const pod = q.info;
    const r = await profile.bind(state, pod, nodeName, this.#abort.signal);
    if (r.ok) {
      this.#cache.finishBinding(q.key, this.#clock.now());
      this.#metrics.attempt('scheduled', profile.name, (performance.now() - t0) / 1000);
      this.#metrics.podScheduled(q.attempts, Math.max(0, this.#clock.now() - q.firstSeen) / 1000);
      this.#queue.done(q.key);
      this.#notify('scheduled', () => this.#sink?.scheduled(pod.pod, nodeName));
      return;
    }
    this.#cache.forget(q.key);
    profile.unreserve(state, pod, nodeName);
    // The forgotten reservation frees room that may let another pending pod fit.
    this.#queue.moveOnClusterEvent('AssignedPodDelete');
    const message = `binding rejected: ${r.reason}`;
    this.#log?.warn({ pod: podName(pod.pod), node: nodeName }, message);
    this.#fail(q, profile.name, 'error', message, noPlugins, cycle, t0);
  }

  #fail(
    q: QueuedPod,
    profile: string,
    result: AttemptResult,
    message: string,
    plugins: ReadonlySet<string>,
    cycle: number,
    t0: number,
  ): void {
    this.#metrics.attempt(result, profile, (performance.now() - t0) / 1000);
    const deleted = this.#queue.deletedInFlight(q.key);
    this.#queue.requeue(q, { unschedulable: result === 'unschedulable', plugins }, cycle);
    if (!deleted && !this.#closed) {
      const pod = q.info.pod;
      if (result === 'unschedulable') {
        this.#log?.debug({ pod: podName(pod) }, message);
        this.#notify('unschedulable', () => this.#sink?.unschedulable(pod, message));
      } else {
        this.#notify('error', () => this.#sink?.error?.(pod, message));
      }
    }
    this.#wakeIdle();
  }

  #notify(what: string, call: () => unknown): void {
    try {
      const p = call();
      if (p instanceof Promise) {
        p.catch((err: unknown) => {
          this.#log?.warn({ err: errorMessage(err) }, `scheduling result sink (${what}) failed`);
        });
      }
    } catch (err) {
      this.#log?.warn({ err: errorMessage(err) }, `scheduling result sink (${what}) failed`);
    }
  }

  #isIdle(): boolean {
    return (
      this.#closed ||
      (this.#queue.counts().active === 0 && this.#queue.inFlightCount === 0 && this.#bindings.size === 0)
    );
  }

  #wakeIdle(): void {
    if (this.#idleWaiters.length === 0 || !this.#isIdle()) return;
    const waiters = this.#idleWaiters;
    this.#idleWaiters = [];
    for (const w of waiters) w();
  }
}

/**
 * One pod's worker: serialises everything done to a pod (at most one turn at a time; updates that
 * arrive meanwhile coalesce into one more turn) and runs the kubelet's lifecycle state machine:
 *
 *     ┌─────────┐ deletionTimestamp set, removed from the     ┌─────────────┐ containers stopped   ┌────────────┐
 *     │ syncing │ desired set, or finished (nothing will  ───▶ │ terminating │ (grace period), ───▶ │ terminated │
 *     └─────────┘ run again: Succeeded/Failed)                 └─────────────┘ sandbox stopped,     └────────────┘
 *        ▲  │                                                                 network released           │
 *        └──┘ update / relist change / back-off over / resync: converge again                         │
 *                                                                                                      ▼
 *             once deletion is asked for: sandboxes and containers removed, then `reporter.terminated`
 *             (only if the API still has the object); the worker is dropped when the API removes it.
 *
 * A terminated worker never goes back to syncing: a uid that finished never runs again. Orphans
 * (pods the runtime holds but the controller does not list, e.g. deleted while the agent was down)
 * start in `terminating` with no pod object and are dropped once removed.
 */
import type { Clock } from '../../lib/clock.js';
import type { Logger } from '../../lib/logger.js';
import { errorMessage } from '../../lib/errors.js';
import type { JsonObject } from '../../api/validation/json-access.js';
import type { PodReporter } from './pod-manager.js';
import type { PodMetrics } from './pod-metrics.js';
import { canonicalJson, type PodView } from './pod-spec.js';
import { buildPodStatus, formatTime } from './pod-status.js';
import { effectiveGrace, newPodMemory, type PodMemory, type PodSyncer } from './pod-sync.js';
import type { ProbeManager } from './prober.js';
import type { PodRuntimeState } from './runtime-state.js';

export type PodLifecycle = 'syncing' | 'terminating' | 'terminated';

/** Why a turn runs; the `operation_type` of kubelet_pod_worker_duration_seconds. */
export type PodOperation = 'create' | 'update' | 'sync' | 'kill';

/** What a worker needs from its manager. */
export interface PodWorkerHost {
  readonly clock: Clock;
  readonly logger: Logger;
  readonly syncer: PodSyncer;
  readonly reporter: PodReporter;
  readonly metrics: PodMetrics;
  readonly probes: ProbeManager;
  readonly runtimeName: string;
  readonly nodeIP?: string;
  readonly errorRetryMs: number;
  /** Called after every turn (the manager drops workers that are done for good). */
  turnDone(worker: PodWorker): void;
  /**
   * The containers a syncing turn left the pod with (the manager watches pods whose containers
   * started recently more closely).
   */
  observed(worker: PodWorker, containers: PodRuntimeState['containers']): void;
  /** Called when the worker has no turn in flight or queued. */
  workerIdle(worker: PodWorker): void;
}

export class PodWorker {
  readonly uid: string;
  lifecycle: PodLifecycle;
  /** The latest desired pod; undefined for orphans. */
  pod: PodView | undefined;
  /** The API no longer has this pod (removed, or absent from a full sync). */
  apiGone = false;
  readonly orphan: boolean;
  readonly mem: PodMemory;
  /** Sandboxes and containers have been removed. */
  cleaned = false;
  terminatedReported = false;
  #lastStatus: JsonObject | undefined;
  #lastStatusKey = '';
  #forceReport = false;
  #pending: PodOperation | undefined;
  #running: Promise<void> | undefined;
  #abort: AbortController | undefined;
  #turnGrace: number | undefined;
  /** The API showed the pod finished when this worker was made. */
  readonly #apiFinished: boolean;
  readonly #host: PodWorkerHost;

  constructor(host: PodWorkerHost, uid: string, pod: PodView | undefined) {
    this.#host = host;
    this.uid = uid;
    this.pod = pod;
    this.orphan = pod === undefined;
    this.apiGone = pod === undefined;
    this.lifecycle = pod === undefined ? 'terminating' : 'syncing';
    this.mem = newPodMemory(uid, host.clock.now());
    const started = pod?.apiStatus.startTime;
    this.mem.startTime = started ?? formatTime(host.clock.now());
    // A pod the API already shows as finished never runs again (e.g. after an agent restart).
    this.#apiFinished = pod?.apiStatus.phase === 'Succeeded' || pod?.apiStatus.phase === 'Failed';
    if (this.#apiFinished) this.lifecycle = 'terminating';
  }

  // A getter, so that checks after a turn's awaits are not narrowed by the assignments before them.
  get #terminated(): boolean {
    return this.lifecycle === 'terminated';
  }

  /** Deletion is asked for: by the API (deletionTimestamp), by its absence, or it is an orphan. */
  get deletionRequested(): boolean {
    return this.apiGone || this.pod?.deletionTimestamp !== undefined;
  }

  get busy(): boolean {
    return this.#running !== undefined;
  }

  /** The promise of the turn in flight, if any (for close()). */
  get running(): Promise<void> | undefined {
    return this.#running;
  }

  /** Report the next status even if unchanged (the controller may have lost it). */
  forceReport(): void {
    this.#forceReport = true;
  }

  /** A turn is queued behind the one in flight. */
  get hasPending(): boolean {
    return this.#pending !== undefined;
  }

  /** Asks for a turn; coalesces with a pending one. */
  kick(op: PodOperation): void {
    this.#pending = this.#pending === undefined || op === 'kill' ? op : this.#pending;
    if (this.#running === undefined) this.#start();
  }

  #start(): void {
    this.#running = this.#loop().finally(() => {
      this.#running = undefined;
      // A kick that landed after the loop's last check but before this callback still gets its turn.
      if (this.#pending !== undefined) this.#start();
      else this.#host.workerIdle(this);
    });
  }

  /**
   * Cancels the turn in flight when it works toward the wrong goal: syncing a pod that is to be
   * deleted, or terminating with a longer grace period than the latest deletion allows.
   */
  interruptIfStale(): void {
    if (this.#abort === undefined) return;
    if (this.lifecycle === 'syncing' && this.deletionRequested)
      this.#abort.abort(new Error('pod is being deleted'));
    if (this.lifecycle === 'terminating' && this.pod !== undefined && this.#turnGrace !== undefined) {
      if (effectiveGrace(this.pod) < this.#turnGrace) this.#abort.abort(new Error('grace period shortened'));
    }
  }

  /** Cancels whatever runs (agent shutdown). */
  abort(): void {
    this.#abort?.abort(new Error('pod manager closing'));
  }

  async #loop(): Promise<void> {
    while (this.#pending !== undefined) {
      const op = this.#pending;
      this.#pending = undefined;
      await this.#turn(op);
      this.#host.turnDone(this);
    }
  }

  async #turn(op: PodOperation): Promise<void> {
    const host = this.#host;
    const ac = new AbortController();
    this.#abort = ac;
    const t0 = host.clock.now();
    try {
      if (this.lifecycle === 'syncing') {
        if (this.deletionRequested || this.pod === undefined) {
          this.lifecycle = 'terminating';
        } else {
          const pod = this.pod;
          const res = await host.syncer.sync(pod, this.mem, ac.signal);
          const phase = this.#report(pod, res.state, false);
          host.observed(this, res.state.containers);
          if (phase === 'Running' && !this.mem.startObserved) {
            this.mem.startObserved = true;
            if (this.mem.adopted !== true)
              host.metrics.podStartDuration.observe((host.clock.now() - this.mem.firstSeenAt) / 1000);
          }
          if (!res.finished) return;
          this.lifecycle = 'terminating';
        }
      }
      if (this.lifecycle === 'terminating') {
        const pod = this.pod;
        this.#turnGrace = pod !== undefined && this.deletionRequested ? effectiveGrace(pod) : undefined;
        const state = await host.syncer.kill(pod, this.uid, this.#turnGrace, ac.signal);
        // A pod that finished before this worker existed keeps the status the API has, unless the
        // runtime still holds its containers (then what we build is as good).
        const known = !this.#apiFinished || state.containers.length > 0;
        if (pod !== undefined && !this.apiGone && known) this.#report(pod, state, true);
        this.lifecycle = 'terminated';
      }
      if (this.#terminated && this.#forceReport && !this.deletionRequested && this.pod !== undefined) {
        // The controller may have lost what was reported (reconnect): say it again.
        const state = await host.syncer.state(this.uid, ac.signal);
        if (!this.#apiFinished || state.containers.length > 0) this.#report(this.pod, state, true);
      }
      if (this.#terminated && this.deletionRequested && !this.cleaned) {
        await host.syncer.remove(this.uid, ac.signal);
        this.cleaned = true;
      }
      if (this.cleaned && !this.apiGone && !this.terminatedReported && this.pod !== undefined) {
        this.terminatedReported = true;
        host.reporter.terminated({ namespace: this.pod.namespace, name: this.pod.name, uid: this.uid });
      }
    } catch (err) {
      if (ac.signal.aborted) return; // superseded: the caller has queued the next turn
      host.logger.warn(
        { podUid: this.uid, pod: this.pod?.name, err: errorMessage(err), op },
        'pod sync failed',
      );
      this.mem.wakeAt = Math.min(this.mem.wakeAt, host.clock.now() + host.errorRetryMs);
    } finally {
      this.#abort = undefined;
      this.#turnGrace = undefined;
      host.metrics.podWorkerDuration.observe({ operation_type: op }, (host.clock.now() - t0) / 1000);
    }
  }

  /** Builds the status and hands it to the reporter when it changed. Returns the phase. */
  #report(pod: PodView, state: PodRuntimeState, terminal: boolean): string {
    const host = this.#host;
    const { status, phase } = buildPodStatus({
      pod,
      state,
      runtimeName: host.runtimeName,
      now: host.clock.now(),
      waiting: this.mem.waiting,
      probes: (id) => host.probes.view(id),
      podIPs: this.mem.podIPs,
      ...(host.nodeIP !== undefined ? { hostIP: host.nodeIP } : {}),
      ...(this.mem.startTime !== undefined ? { startTime: this.mem.startTime } : {}),
      ...(this.#lastStatus !== undefined ? { previous: this.#lastStatus } : {}),
      terminal,
    });
    const key = canonicalJson(status);
    if (key !== this.#lastStatusKey || this.#forceReport) {
      this.#lastStatus = status;
      this.#lastStatusKey = key;
      this.#forceReport = false;
      host.reporter.status({ namespace: pod.namespace, name: pod.name, uid: pod.uid, status });
    }
    return phase;
  }

  /** The status last reported (for tests and debugging). */
  get lastStatus(): JsonObject | undefined {
    return this.#lastStatus;
  }
}

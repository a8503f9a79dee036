/**
 * The scheduler inside `berth server`: wires the `Scheduler` (scheduler.ts) into the controller
 * manager. It owns the three seams between the scheduler and the API:
 *
 *   shared pods informer  ─ onAdd/onUpdate/onDelete ─► scheduler.addPod/updatePod/removePod
 *   shared nodes informer ─ onAdd/onUpdate/onDelete ─► scheduler.addNode/updateNode/removeNode
 *   scheduler ─ Binder.bind ─► bindPod (pod-binding.ts: the pods/binding logic, one CAS on the store)
 *   scheduler ─ sink ────────► PodScheduled=False condition + Scheduled/FailedScheduling events
 *
 * Handlers are synchronous and run in the informers' event order, so the scheduler's cache sees
 * every change in store order. The binder writes on top of the pod the informer delivered (its
 * resourceVersion is the compare-and-swap's expected revision), so a binding costs one store write
 * and no read; a lost compare-and-swap retries once on the current value the store hands back.
 * Bindings made while more pods are waiting are issued together, so they share one store commit.
 *
 * Events carry `source.component: default-scheduler` (the controller's name), as kube-scheduler's
 * default profile writes them; pods of the bin-packing profile get the same component.
 */
import type { StoredObject } from '../../api/object.js';
import { isApiError } from '../../api/status.js';
import type { Clock, Timer } from '../../lib/clock.js';
import { bindPod } from '../apiserver/pod-binding.js';
import type { Store } from '../store/store.js';
import type {
  Controller,
  ControllerContext,
  ControllerDescriptor,
} from '../controllers/controller-manager.js';
import { requireResource } from '../controllers/informer-factory.js';
import type { Binder, BindResult } from './framework.js';
import type { ProfileConfig } from './plugin-registry.js';
import { Scheduler, type SchedulerOptions } from './scheduler.js';
import { PodConditionSink } from './scheduler-controller-sink.js';
import type { NodeLike, PodLike } from './types.js';

/** The controller's name, also the `source.component` of its events. */
export const SCHEDULER_CONTROLLER_NAME = 'default-scheduler';

/** Scheduler tuning the controller passes through (tests shorten back-offs and debounces). */
export type SchedulerTuning = Pick<
  SchedulerOptions,
  'initialBackoffMs' | 'maxBackoffMs' | 'moveDebounceMs' | 'maxUnschedulableMs' | 'assumedPodTtlMs' | 'random'
>;

export interface SchedulerControllerOptions {
  /** Profiles by `spec.schedulerName`; default `default-scheduler` and `bin-packing-scheduler`. */
  readonly profiles?: readonly ProfileConfig[];
  /**
   * Bindings in flight at most (default 64). Each is one store write; the SQLite store commits
   * concurrent writes together, so more in flight means fewer fsyncs per pod.
   */
  readonly parallelism?: number;
  /** How bindings are grouped into store writes (see {@link StoreBinder}). */
  readonly bindBatching?: Partial<Omit<BindBatching, 'moreComing'>>;
  readonly tuning?: SchedulerTuning;
}

const DEFAULT_PARALLELISM = 64;
const DEFAULT_BIND_DELAY_MS = 20;
const pods = requireResource('', 'v1', 'pods');
const nodes = requireResource('', 'v1', 'nodes');

/** The scheduler as a controller for the `ControllerManager`. */
export function schedulerController(opts: SchedulerControllerOptions = {}): ControllerDescriptor {
  return { name: SCHEDULER_CONTROLLER_NAME, create: (ctx) => new SchedulerController(ctx, opts) };
}

/** Built by the manager through {@link schedulerController}; `scheduler` is exposed for diagnostics. */
export class SchedulerController implements Controller {
  readonly name = SCHEDULER_CONTROLLER_NAME;
  readonly scheduler: Scheduler;
  readonly #sink: PodConditionSink;
  readonly #binder: StoreBinder;

  constructor(ctx: ControllerContext, opts: SchedulerControllerOptions = {}) {
    const parallelism = opts.parallelism ?? DEFAULT_PARALLELISM;
    this.#sink = new PodConditionSink({
      storage: ctx.storage,
      events: ctx.events,
      clock: ctx.clock,
      logger: ctx.logger,
    });
    this.#binder = new StoreBinder(ctx.storage.store, ctx.clock, {
      maxBatch: opts.bindBatching?.maxBatch ?? Math.max(1, Math.floor(parallelism / 2)),
      maxDelayMs: opts.bindBatching?.maxDelayMs ?? DEFAULT_BIND_DELAY_MS,
      moreComing: () => (this.scheduler as Scheduler | undefined)?.pendingPods().active !== 0,
    });
    const scheduler = new Scheduler({
      ...opts.tuning,
      ...(opts.profiles === undefined ? {} : { profiles: opts.profiles }),
      binder: this.#binder,
      sink: this.#sink,
      clock: ctx.clock,
      logger: ctx.logger,
      registry: ctx.metrics,
      parallelism,
    });
    this.scheduler = scheduler;
    ctx.informers.informerFor(nodes).addEventHandler({
      onAdd: (n) => {
        scheduler.addNode(asNode(n));
      },
      onUpdate: (_old, n) => {
        scheduler.updateNode(asNode(n));
      },
      onDelete: (n) => {
        scheduler.removeNode(asNode(n));
      },
    });
    ctx.informers.informerFor(pods).addEventHandler({
      onAdd: (p) => {
        scheduler.addPod(asPod(p));
      },
      onUpdate: (_old, p) => {
        scheduler.updatePod(asPod(p));
      },
      onDelete: (p) => {
        scheduler.removePod(asPod(p));
      },
    });
  }

  /** Schedules until `signal` aborts; then waits for bindings and condition writes in flight. */
  async run(signal: AbortSignal): Promise<void> {
    // Held bindings go out at once, rather than after the batch delay, so shutdown is not held up.
    const flush = (): void => {
      this.#binder.flush();
    };
    signal.addEventListener('abort', flush, { once: true });
    try {
      await this.scheduler.run(signal);
    } finally {
      signal.removeEventListener('abort', flush);
      this.#binder.flush();
      await this.scheduler.close();
      await this.#sink.drain();
    }
  }
}

/** How bindings are grouped into store writes. */
export interface BindBatching {
  /** Bindings collected before they are written together (default: half the parallelism, at least 1). */
  readonly maxBatch: number;
  /** Longest a binding waits for its batch to fill while more pods are coming, in ms (default 20). */
  readonly maxDelayMs: number;
  /**
   * Whether the scheduler has more pods ready to schedule right now. While it has, bindings wait
   * for their batch; when it has not, the batch is written at once. Absent: always wait.
   */
  readonly moreComing?: () => boolean;
}

/**
 * The binding seam: `bindPod` on the store, starting from the pod the scheduler holds (the informer's
 * object, with its resourceVersion), so that a binding is one store write and no read; a lost
 * compare-and-swap is retried once on the current value the store returns. NotFound and Conflict
 * (pod gone or replaced, being deleted, already bound, lost races) are expected refusals:
 * `{ ok: false }`, and the scheduler backs off.
 *
 * Bindings are held briefly and issued together: the scheduler produces one binding per turn of the
 * event loop, and the SQLite store commits (and fsyncs) once per turn, so without grouping every pod
 * would pay a commit of its own. A batch is written as soon as the scheduler has no more pods ready
 * (so an idle cluster adds no latency), when `maxBatch` bindings wait, or `maxDelayMs` after the
 * first of them, whichever comes first.
 */
export class StoreBinder implements Binder {
  readonly #store: Store;
  readonly #clock: Clock;
  readonly #batching: BindBatching;
  #waiting: (() => void)[] = [];
  #timer: Timer | undefined;

  constructor(store: Store, clock: Clock, batching: BindBatching = { maxBatch: 1, maxDelayMs: 0 }) {
    this.#store = store;
    this.#clock = clock;
    this.#batching = batching;
  }

  bind(pod: PodLike, nodeName: string, signal: AbortSignal): Promise<BindResult> {
    return new Promise<BindResult>((resolve) => {
      this.#waiting.push(() => {
        resolve(this.#write(pod, nodeName, signal));
      });
      const b = this.#batching;
      if (this.#waiting.length >= b.maxBatch || b.moreComing?.() === false) this.flush();
      else
        this.#timer ??= this.#clock.setTimer(b.maxDelayMs, () => {
          this.flush();
        });
    });
  }

  /** Issues every held binding now. */
  flush(): void {
    this.#timer?.cancel();
    this.#timer = undefined;
    const batch = this.#waiting;
    this.#waiting = [];
    // Started in one synchronous pass, so that the store receives them in the same turn.
    for (const start of batch) start();
  }

  async #write(pod: PodLike, nodeName: string, signal: AbortSignal): Promise<BindResult> {
    if (signal.aborted) return { ok: false, reason: 'scheduler stopped' };
    const m = pod.metadata;
    try {
      await bindPod(
        this.#store,
        { namespace: m?.namespace ?? 'default', name: m?.name ?? '', nodeName, uid: m?.uid },
        { now: this.#clock.now(), known: pod as StoredObject, maxAttempts: 2 },
      );
      return { ok: true };
    } catch (err) {
      if (isApiError(err) && (err.status.code === 404 || err.status.code === 409)) {
        return { ok: false, reason: err.status.message };
      }
      throw err;
    }
  }
}

// The informers hold pods and nodes as stored by the API server (admission has checked their shape),
// which is the wire JSON the scheduler's types describe.
function asPod(obj: StoredObject): PodLike {
  return obj as PodLike;
}

function asNode(obj: StoredObject): NodeLike {
  return obj as NodeLike;
}

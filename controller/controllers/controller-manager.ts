/**
 * The in-process controller manager (kube-controller-manager's role): builds each controller with a
 * `ControllerContext`, starts the shared informers, waits until their caches have synced, runs every
 * controller (restarting one whose `run` fails, with back-off), and stops everything on `close`.
 *
 *     new ──start()──▶ syncing ──caches synced──▶ running ──close()──▶ stopped
 *                         └──────────────close()──────────────────────▲
 *
 * Writing a controller:
 *
 *     export const fooController: ControllerDescriptor = {
 *       name: 'foo-controller',
 *       create: (ctx) => {
 *         const foos = ctx.informers.informerFor(requireResource('apps', 'v1', 'foos'));
 *         const queue = ctx.newQueue();
 *         foos.addEventHandler({ onAdd: (o) => queue.add(keyOf(o)), ... });
 *         return { name: 'foo-controller', run: (signal) => runWorkers(queue, reconcile, { signal, logger: ctx.logger }) };
 *       },
 *     };
 *
 * `create` registers informers and handlers (no I/O); `run` starts only after every informer asked
 * for in any `create` has synced, so reconcilers can trust the caches to be complete.
 */
import { setMaxListeners } from 'node:events';
import type { Registry } from 'prom-client';
import type { Clock } from '../../lib/clock.js';
import { errorMessage } from '../../lib/errors.js';
import type { Logger } from '../../lib/logger.js';
import type { ResourceStorage } from '../apiserver/resource-storage.js';
import { EventBroadcaster, type EventRecorder } from './event-recorder.js';
import { InformerFactory } from './informer-factory.js';
import { WorkQueueMetricsProvider } from './work-queue-metrics.js';
import { WorkQueue, type WorkQueueOptions } from './work-queue.js';

/** A control loop. */
export interface Controller {
  readonly name: string;
  /**
   * Runs until `signal` aborts, then resolves once in-flight work has finished. Called after the
   * informer caches have synced. A rejection is logged and `run` is called again after a back-off.
   */
  run(signal: AbortSignal): Promise<void>;
}

/** What a controller is built with. Everything is shared with the other controllers of the process. */
export interface ControllerContext {
  /** Writes go here (admission, finalizers and deletion semantics apply); reads should use informers. */
  readonly storage: ResourceStorage;
  readonly informers: InformerFactory;
  readonly clock: Clock;
  /** A child logger with `{ component: <controller name> }`. */
  readonly logger: Logger;
  /** Events with `source.component: <controller name>`. */
  readonly events: EventRecorder;
  /** The server's Prometheus registry. */
  readonly metrics: Registry;
  /**
   * A work queue on the context's clock whose client-go metrics (`workqueue_*{name}`) are exported;
   * `name` defaults to the controller's name.
   */
  newQueue<K = string>(
    name?: string,
    opts?: Omit<WorkQueueOptions, 'name' | 'clock' | 'metrics'>,
  ): WorkQueue<K>;
}

/** A named controller factory: `create` wires informers and handlers; the manager calls `run` later. */
export interface ControllerDescriptor {
  readonly name: string;
  create(ctx: ControllerContext): Controller;
}

export interface ControllerManagerOptions {
  readonly storage: ResourceStorage;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly metrics: Registry;
  readonly controllers: readonly ControllerDescriptor[];
  /** `source.host` of events (e.g. the machine's hostname). */
  readonly host?: string;
}

const MAX_RESTART_DELAY_MS = 60_000;

export class ControllerManager {
  readonly informers: InformerFactory;
  readonly events: EventBroadcaster;
  readonly #opts: ControllerManagerOptions;
  readonly #log: Logger;
  readonly #queueMetrics: WorkQueueMetricsProvider;
  readonly #abort = new AbortController();
  #started: Promise<boolean> | undefined;
  readonly #runs: Promise<void>[] = [];

  constructor(opts: ControllerManagerOptions) {
    this.#opts = opts;
    this.#log = opts.logger.child({ component: 'controller-manager' });
    this.informers = new InformerFactory({ store: opts.storage.store, clock: opts.clock, logger: this.#log });
    this.events = new EventBroadcaster({
      storage: opts.storage,
      clock: opts.clock,
      logger: opts.logger,
      ...(opts.host === undefined ? {} : { host: opts.host }),
    });
    this.#queueMetrics = new WorkQueueMetricsProvider(opts.metrics);
    // Every informer, worker pool and sleep listens on this one signal.
    setMaxListeners(0, this.#abort.signal);
  }

  /**
   * Builds the controllers, starts the informers and — in the background, once they have synced —
   * the controllers. Returns at once; `waitForStart` tells when the controllers run. Idempotent.
   * Throws only if a controller's `create` throws.
   */
  start(): void {
    if (this.#started !== undefined) return;
    const signal = this.#abort.signal;
    const controllers = this.#opts.controllers.map((d) => d.create(this.#context(d.name)));
    this.informers.start(signal);
    this.#started = (async () => {
      const synced = await this.informers.waitForSync(signal);
      if (!synced) return false;
      this.#log.info(
        { controllers: controllers.map((c) => c.name), informers: this.informers.informers.length },
        'caches synced; controllers running',
      );
      for (const c of controllers) this.#runs.push(this.#supervise(c, signal));
      return true;
    })();
  }

  /** Resolves true once the controllers run, false if the manager was closed (or never started). */
  async waitForStart(): Promise<boolean> {
    return (await this.#started) ?? false;
  }

  /** Stops controllers and informers, waits for in-flight work, then writes the queued events. */
  async close(): Promise<void> {
    this.#abort.abort();
    await this.#started;
    await Promise.all(this.#runs);
    await this.informers.stopped();
    await this.events.close();
  }

  #context(name: string): ControllerContext {
    const o = this.#opts;
    return {
      storage: o.storage,
      informers: this.informers,
      clock: o.clock,
      logger: o.logger.child({ component: name }),
      events: this.events.recorder(name),
      metrics: o.metrics,
      newQueue: <K>(queueName?: string, opts?: Omit<WorkQueueOptions, 'name' | 'clock' | 'metrics'>) => {
        const qn = queueName ?? name;
        return new WorkQueue<K>({
          ...opts,
          name: qn,
          clock: o.clock,
          metrics: this.#queueMetrics.forQueue(qn),
        });
      },
    };
  }

  async #supervise(c: Controller, signal: AbortSignal): Promise<void> {
    let failures = 0;
    while (!signal.aborted) {
      try {
        await c.run(signal);
        if (aborted(signal)) return;
        this.#log.warn({ controller: c.name }, 'controller returned before shutdown; restarting');
      } catch (err) {
        if (aborted(signal)) return;
        this.#log.error({ controller: c.name, err: errorMessage(err) }, 'controller failed; restarting');
      }
      failures++;
      const delay = Math.min(1000 * 2 ** (failures - 1), MAX_RESTART_DELAY_MS);
      await this.#opts.clock.sleep(delay, signal).catch(() => undefined);
    }
  }
}

/** Reads `signal.aborted` afresh (past an `await`, where the compiler's narrowing of it is stale). */
function aborted(signal: AbortSignal): boolean {
  return signal.aborted;
}

/**
 * Work-queue metrics with client-go's names (`k8s.io/client-go/util/workqueue` metrics provider as
 * kube-controller-manager registers it), so dashboards built for Kubernetes controllers read ours:
 * `workqueue_depth`, `workqueue_adds_total`, `workqueue_queue_duration_seconds`,
 * `workqueue_work_duration_seconds`, `workqueue_retries_total`, each labelled with the queue `name`.
 */
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

/** What a `WorkQueue` reports. All calls are cheap and synchronous. */
export interface WorkQueueMetrics {
  /** A key was added (de-duplicated adds are not counted, as in client-go). */
  added(): void;
  /** The number of keys waiting to be processed changed. */
  depth(n: number): void;
  /** A key waited `seconds` between being queued and being handed to a worker. */
  queued(seconds: number): void;
  /** A worker held a key for `seconds` (from `get` to `done`). */
  worked(seconds: number): void;
  /** A key was re-queued with back-off (`addRateLimited`). */
  retried(): void;
}

/** Metrics that go nowhere: the default of a queue built without a provider. */
export const noWorkQueueMetrics: WorkQueueMetrics = {
  added: () => undefined,
  depth: () => undefined,
  queued: () => undefined,
  worked: () => undefined,
  retried: () => undefined,
};

/** client-go's buckets: ExponentialBuckets(10e-9, 10, 10), 10 ns to 10 s. */
const durationBuckets = Array.from({ length: 10 }, (_, i) => 1e-8 * 10 ** i);

/**
 * Registers the work-queue metric families on `registry` once (a second provider on the same registry
 * reuses them) and hands out per-queue recorders.
 */
export class WorkQueueMetricsProvider {
  readonly #depth: Gauge;
  readonly #adds: Counter;
  readonly #queueDuration: Histogram;
  readonly #workDuration: Histogram;
  readonly #retries: Counter;

  constructor(registry: Registry) {
    const existing = (name: string): unknown => registry.getSingleMetric(name);
    const labelNames = ['name'] as const;
    this.#depth =
      (existing('workqueue_depth') as Gauge | undefined) ??
      new Gauge({
        name: 'workqueue_depth',
        help: 'Current depth of workqueue',
        labelNames,
        registers: [registry],
      });
    this.#adds =
      (existing('workqueue_adds_total') as Counter | undefined) ??
      new Counter({
        name: 'workqueue_adds_total',
        help: 'Total number of adds handled by workqueue',
        labelNames,
        registers: [registry],
      });
    this.#queueDuration =
      (existing('workqueue_queue_duration_seconds') as Histogram | undefined) ??
      new Histogram({
        name: 'workqueue_queue_duration_seconds',
        help: 'How long in seconds an item stays in workqueue before being requested.',
        labelNames,
        buckets: durationBuckets,
        registers: [registry],
      });
    this.#workDuration =
      (existing('workqueue_work_duration_seconds') as Histogram | undefined) ??
      new Histogram({
        name: 'workqueue_work_duration_seconds',
        help: 'How long in seconds processing an item from workqueue takes.',
        labelNames,
        buckets: durationBuckets,
        registers: [registry],
      });
    this.#retries =
      (existing('workqueue_retries_total') as Counter | undefined) ??
      new Counter({
        name: 'workqueue_retries_total',
        help: 'Total number of retries handled by workqueue',
        labelNames,
        registers: [registry],
      });
  }

  /** The recorder for the queue called `name` (the `name` label). */
  forQueue(name: string): WorkQueueMetrics {
    const labels = { name };
    const depth = this.#depth.labels(labels);
    const adds = this.#adds.labels(labels);
    const queueDuration = this.#queueDuration.labels(labels);
    const workDuration = this.#workDuration.labels(labels);
    const retries = this.#retries.labels(labels);
    depth.set(0);
    return {
      added: () => {
        adds.inc();
      },
      depth: (n) => {
        depth.set(n);
      },
      queued: (s) => {
        queueDuration.observe(s);
      },
      worked: (s) => {
        workDuration.observe(s);
      },
      retried: () => {
        retries.inc();
      },
    };
  }
}

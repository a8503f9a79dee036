/**
 * kube-scheduler's metrics, with its names, labels and buckets, on the registry the scheduler is given:
 * - `scheduler_pending_pods{queue=active|backoff|unschedulable|gated}` (read from the queue at scrape time)
 * - `scheduler_schedule_attempts_total{result=scheduled|unschedulable|error,profile}`
 * - `scheduler_scheduling_attempt_duration_seconds{result,profile}` (algorithm + binding)
 * - `scheduler_pod_scheduling_sli_duration_seconds{attempts}` (first enqueue → bound, gated time excluded)
 * - `scheduler_pod_scheduling_attempts` (attempts a pod needed to be scheduled)
 * - `scheduler_framework_extension_point_duration_seconds{extension_point,status,profile}`
 * - `scheduler_queue_incoming_pods_total{queue,event}`
 * - `scheduler_scheduler_cache_size{type=nodes|pods|assumed_pods}`
 */
import { Counter, Gauge, Histogram, Registry, exponentialBuckets } from 'prom-client';
import type { QueueName } from './scheduling-queue.js';

/** The `result` label of attempt metrics. */
export type AttemptResult = 'scheduled' | 'unschedulable' | 'error';

/** Read at scrape time for the gauges. */
export interface MetricsSources {
  readonly pending: () => Record<QueueName, number>;
  readonly cacheSizes: () => { nodes: number; pods: number; assumed_pods: number };
}

/** Owns the scheduler_* metrics; one instance per Scheduler. */
export class SchedulerMetrics {
  readonly #attempts: Counter<'result' | 'profile'>;
  readonly #attemptDuration: Histogram<'result' | 'profile'>;
  readonly #sli: Histogram<'attempts'>;
  readonly #podAttempts: Histogram;
  readonly #extensionPoint: Histogram<'extension_point' | 'status' | 'profile'>;
  readonly #incoming: Counter<'queue' | 'event'>;

  /** Registers on `registry`, or on a private registry when none is given. */
  constructor(registry: Registry | undefined, sources: MetricsSources) {
    const registers = [registry ?? new Registry()];
    new Gauge({
      name: 'scheduler_pending_pods',
      help: 'Number of pending pods, by the queue type. active: pods ready to be scheduled; backoff: pods backing off after a failed attempt; unschedulable: pods no node fits until the cluster changes; gated: pods with scheduling gates.',
      labelNames: ['queue'],
      registers,
      collect() {
        const c = sources.pending();
        for (const q of ['active', 'backoff', 'unschedulable', 'gated'] as const)
          this.set({ queue: q }, c[q]);
      },
    });
    new Gauge({
      name: 'scheduler_scheduler_cache_size',
      help: 'Number of nodes, pods, and assumed (bound) pods in the scheduler cache.',
      labelNames: ['type'],
      registers,
      collect() {
        const s = sources.cacheSizes();
        this.set({ type: 'nodes' }, s.nodes);
        this.set({ type: 'pods' }, s.pods);
        this.set({ type: 'assumed_pods' }, s.assumed_pods);
      },
    });
    this.#attempts = new Counter({
      name: 'scheduler_schedule_attempts_total',
      help: 'Number of attempts to schedule pods, by the result. unschedulable means a pod could not be scheduled, while error means an internal scheduler problem.',
      labelNames: ['result', 'profile'],
      registers,
    });
    this.#attemptDuration = new Histogram({
      name: 'scheduler_scheduling_attempt_duration_seconds',
      help: 'Scheduling attempt latency in seconds (scheduling algorithm + binding)',
      labelNames: ['result', 'profile'],
      buckets: exponentialBuckets(0.001, 2, 15),
      registers,
    });
    this.#sli = new Histogram({
      name: 'scheduler_pod_scheduling_sli_duration_seconds',
      help: 'E2e latency for a pod being scheduled, from the time the pod enters the scheduling queue and might involve multiple scheduling attempts.',
      labelNames: ['attempts'],
      buckets: exponentialBuckets(0.01, 2, 20),
      registers,
    });
    this.#podAttempts = new Histogram({
      name: 'scheduler_pod_scheduling_attempts',
      help: 'Number of attempts to successfully schedule a pod.',
      buckets: exponentialBuckets(1, 2, 5),
      registers,
    });
    this.#extensionPoint = new Histogram({
      name: 'scheduler_framework_extension_point_duration_seconds',
      help: 'Latency for running all plugins of a specific extension point.',
      labelNames: ['extension_point', 'status', 'profile'],
      buckets: exponentialBuckets(0.0001, 2, 12),
      registers,
    });
    this.#incoming = new Counter({
      name: 'scheduler_queue_incoming_pods_total',
      help: 'Number of pods added to scheduling queues by event and queue type.',
      labelNames: ['queue', 'event'],
      registers,
    });
  }

  attempt(result: AttemptResult, profile: string, seconds: number): void {
    this.#attempts.inc({ result, profile });
    this.#attemptDuration.observe({ result, profile }, seconds);
  }

  podScheduled(attempts: number, sliSeconds: number): void {
    this.#sli.observe({ attempts: String(attempts) }, sliSeconds);
    this.#podAttempts.observe(attempts);
  }

  extensionPoint(point: string, status: string, profile: string, seconds: number): void {
    this.#extensionPoint.observe({ extension_point: point, status, profile }, seconds);
  }

  incoming(queue: QueueName, event: string): void {
    this.#incoming.inc({ queue, event });
  }
}

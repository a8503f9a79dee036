/**
 * The pod workers' metrics, with the kubelet's names and labels (pkg/kubelet/metrics) so existing
 * dashboards and alerts (KubeletPodStartUpLatencyHigh, KubeletPlegDurationHigh) work unchanged.
 * Gauges are computed at scrape time from the manager's last relist, so a thousand hollow agents
 * pay nothing between scrapes. Register on the agent's own registry: one manager per registry.
 */
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

/** What the gauges read when scraped. */
export interface PodGaugeSource {
  /** Pods with a READY sandbox. */
  runningPods(): number;
  /** Containers by CRI state (lower-case, as the kubelet labels them). */
  containersByState(): ReadonlyMap<string, number>;
  desiredPods(): number;
  /** Workers by lifecycle (`sync`, `terminating`, `terminated`) and config (`desired`, `orphan`). */
  workingPods(): ReadonlyMap<string, { lifecycle: string; config: string; count: number }>;
}

export interface PodMetrics {
  readonly podWorkerDuration: Histogram<'operation_type'>;
  readonly podStartDuration: Histogram;
  readonly startedPods: Counter;
  readonly startedPodsErrors: Counter;
  readonly startedContainers: Counter<'container_type'>;
  readonly startedContainersErrors: Counter<'container_type' | 'code'>;
  readonly plegRelistDuration: Histogram;
}

const defBuckets = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
const podStartBuckets = [
  0.5, 1, 2, 3, 4, 5, 6, 8, 10, 20, 30, 45, 60, 120, 180, 240, 300, 360, 480, 600, 900, 1200, 1800, 2700,
  3600,
];

export function createPodMetrics(registry: Registry | undefined, source: PodGaugeSource): PodMetrics {
  const registers = registry !== undefined ? [registry] : [];
  new Gauge({
    name: 'kubelet_running_pods',
    help: 'Number of pods that have a running pod sandbox',
    registers,
    collect() {
      this.set(source.runningPods());
    },
  });
  new Gauge({
    name: 'kubelet_running_containers',
    help: 'Number of containers currently running',
    labelNames: ['container_state'],
    registers,
    collect() {
      this.reset();
      for (const [state, n] of source.containersByState()) this.set({ container_state: state }, n);
    },
  });
  new Gauge({
    name: 'kubelet_desired_pods',
    help: 'The number of pods the kubelet is being instructed to run.',
    labelNames: ['static'],
    registers,
    collect() {
      this.set({ static: '' }, source.desiredPods());
    },
  });
  new Gauge({
    name: 'kubelet_working_pods',
    help: 'Number of pods the kubelet is actually running, broken down by lifecycle phase and config.',
    labelNames: ['lifecycle', 'config', 'static'],
    registers,
    collect() {
      this.reset();
      for (const w of source.workingPods().values()) {
        this.set({ lifecycle: w.lifecycle, config: w.config, static: '' }, w.count);
      }
    },
  });
  return {
    podWorkerDuration: new Histogram({
      name: 'kubelet_pod_worker_duration_seconds',
      help: 'Duration in seconds to sync a single pod. Broken down by operation type: create, update, sync, or kill.',
      labelNames: ['operation_type'],
      buckets: defBuckets,
      registers,
    }),
    podStartDuration: new Histogram({
      name: 'kubelet_pod_start_duration_seconds',
      help: 'Duration in seconds from kubelet seeing a pod for the first time to the pod starting to run',
      buckets: podStartBuckets,
      registers,
    }),
    startedPods: new Counter({
      name: 'kubelet_started_pods_total',
      help: 'Cumulative number of pods started',
      registers,
    }),
    startedPodsErrors: new Counter({
      name: 'kubelet_started_pods_errors_total',
      help: 'Cumulative number of errors when starting pods',
      registers,
    }),
    startedContainers: new Counter({
      name: 'kubelet_started_containers_total',
      help: 'Cumulative number of containers started',
      labelNames: ['container_type'],
      registers,
    }),
    startedContainersErrors: new Counter({
      name: 'kubelet_started_containers_errors_total',
      help: 'Cumulative number of errors when starting containers',
      labelNames: ['container_type', 'code'],
      registers,
    }),
    plegRelistDuration: new Histogram({
      name: 'kubelet_pleg_relist_duration_seconds',
      help: 'Duration in seconds for relisting pods in PLEG.',
      buckets: defBuckets,
      registers,
    }),
  };
}

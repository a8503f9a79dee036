/**
 * The API server's Prometheus metrics, under kube-apiserver's names so existing dashboards and alerts
 * work (shared/reference/features-and-metrics.md §3): request counts and latencies by verb/resource/
 * code, requests in flight, long-running (watch) requests, and stored objects per resource.
 */
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import { resources } from '../../api/resources.js';
import type { Store } from '../store/store.js';
import { resourcePrefix } from './object-codec.js';

export interface RequestLabels {
  verb: string;
  group: string;
  version: string;
  resource: string;
  subresource: string;
  scope: string;
}

export class ApiServerMetrics {
  readonly requests: Counter<
    'verb' | 'dry_run' | 'group' | 'version' | 'resource' | 'subresource' | 'scope' | 'component' | 'code'
  >;
  readonly duration: Histogram<
    'verb' | 'dry_run' | 'group' | 'version' | 'resource' | 'subresource' | 'scope' | 'component'
  >;
  readonly inflight: Gauge<'request_kind'>;
  readonly longRunning: Gauge<
    'verb' | 'group' | 'version' | 'resource' | 'subresource' | 'scope' | 'component'
  >;

  constructor(registry: Registry, store: Store) {
    this.requests = new Counter({
      name: 'apiserver_request_total',
      help: 'Counter of apiserver requests broken out for each verb, dry run value, group, version, resource, scope, component, and HTTP response code.',
      labelNames: [
        'verb',
        'dry_run',
        'group',
        'version',
        'resource',
        'subresource',
        'scope',
        'component',
        'code',
      ],
      registers: [registry],
    });
    this.duration = new Histogram({
      name: 'apiserver_request_duration_seconds',
      help: 'Response latency distribution in seconds for each verb, dry run value, group, version, resource, subresource, scope and component.',
      labelNames: ['verb', 'dry_run', 'group', 'version', 'resource', 'subresource', 'scope', 'component'],
      buckets: [
        0.005, 0.025, 0.05, 0.1, 0.2, 0.4, 0.6, 0.8, 1, 1.25, 1.5, 2, 3, 4, 5, 6, 8, 10, 15, 20, 30, 45, 60,
      ],
      registers: [registry],
    });
    this.inflight = new Gauge({
      name: 'apiserver_current_inflight_requests',
      help: 'Maximal number of currently used inflight request limit of this apiserver per request kind in last second.',
      labelNames: ['request_kind'],
      registers: [registry],
    });
    this.longRunning = new Gauge({
      name: 'apiserver_longrunning_requests',
      help: 'Gauge of all active long-running apiserver requests broken out by verb, group, version, resource, scope and component.',
      labelNames: ['verb', 'group', 'version', 'resource', 'subresource', 'scope', 'component'],
      registers: [registry],
    });
    new Gauge({
      name: 'apiserver_storage_objects',
      help: 'Number of stored objects at the time of last check split by kind.',
      labelNames: ['resource'],
      registers: [registry],
      async collect() {
        await Promise.all(
          resources.map(async (r) => {
            const n = await store.count(resourcePrefix(r));
            this.set({ resource: r.group === '' ? r.plural : `${r.plural}.${r.group}` }, n);
          }),
        );
      },
    });
  }

  /** Starts timing one request; call the result with the HTTP code when it finishes. */
  begin(labels: RequestLabels, dryRun: boolean): (code: number) => void {
    const kind =
      labels.verb === 'get' || labels.verb === 'list' || labels.verb === 'watch' ? 'readOnly' : 'mutating';
    this.inflight.inc({ request_kind: kind });
    const base = { ...labels, dry_run: dryRun ? 'All' : '', component: 'apiserver' };
    const stop = this.duration.startTimer(base);
    const watch = labels.verb === 'watch';
    if (watch) this.longRunning.inc({ ...labels, component: 'apiserver' });
    return (code) => {
      this.inflight.dec({ request_kind: kind });
      if (watch) this.longRunning.dec({ ...labels, component: 'apiserver' });
      stop();
      this.requests.inc({ ...base, code: String(code) });
    };
  }
}

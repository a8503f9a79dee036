/**
 * The API server's Prometheus metrics, under kube-apiserver's names and label sets so existing
 * dashboards and alerts work (shared/reference/features-and-metrics.md §3):
 *
 * - `apiserver_request_total{verb,dry_run,group,version,resource,subresource,scope,component,code}`
 * - `apiserver_request_duration_seconds{verb,dry_run,group,version,resource,subresource,scope,component}`
 * - `apiserver_current_inflight_requests{request_kind="readOnly"|"mutating"}`
 * - `apiserver_longrunning_requests{verb,group,version,resource,subresource,scope,component}`
 * - `apiserver_storage_objects{resource}` (`pods`, `deployments.apps`), counted at scrape time
 *
 * Label values follow k8s.io/apiserver/pkg/endpoints/metrics: the verb is the upper-case Kubernetes
 * verb (GET, LIST, WATCH, POST, PUT, PATCH, APPLY, DELETE), the scope is resource / namespace /
 * cluster, dry_run is `All`, `invalid` or empty, and component is `apiserver` (empty for /healthz,
 * /livez and /readyz, whose path is reported as the subresource, as Kubernetes does).
 */
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import { resources } from '../../api/resources.js';
import type { Store } from '../store/store.js';
import { resourcePrefix } from './object-codec.js';
import type { ResourceRequest } from './request-info.js';

/** The labels of one request, as kube-apiserver reports them. */
export interface RequestLabels {
  readonly verb: string;
  readonly dry_run: string;
  readonly group: string;
  readonly version: string;
  readonly resource: string;
  readonly subresource: string;
  readonly scope: string;
  readonly component: string;
}

/**
 * cleanVerb: the upper-case verb Kubernetes reports for a resource request. A deletecollection is a
 * DELETE (Kubernetes derives it from the HTTP method) and an apply patch is APPLY.
 */
export function reportedVerb(verb: ResourceRequest['verb'], method: string, contentType: string): string {
  switch (verb) {
    case 'get':
      return 'GET';
    case 'list':
      return 'LIST';
    case 'watch':
      return 'WATCH';
    case 'create':
      return 'POST';
    case 'update':
      return 'PUT';
    case 'patch':
      return contentType === 'application/apply-patch+yaml' ? 'APPLY' : 'PATCH';
    case 'delete':
    case 'deletecollection':
      return 'DELETE';
    case 'unknown':
      return method.toUpperCase();
  }
}

/** CleanScope: a named object or a create is `resource`; otherwise `namespace` or `cluster`. */
export function reportedScope(info: ResourceRequest): 'resource' | 'namespace' | 'cluster' {
  if (info.name !== undefined || info.verb === 'create') return 'resource';
  return info.namespace !== undefined ? 'namespace' : 'cluster';
}

/** cleanDryRun: the sorted, de-duplicated `dryRun` values (only `All` is valid), or `invalid`. */
export function reportedDryRun(values: readonly string[]): string {
  if (values.length === 0) return '';
  if (values.some((v) => v !== 'All')) return 'invalid';
  return 'All';
}

/** The labels of a resource request; `resource` is the served plural ('' when the resource is unknown). */
export function resourceRequestLabels(
  info: ResourceRequest,
  resource: string,
  method: string,
  contentType: string,
  query: URLSearchParams,
): RequestLabels {
  return {
    verb: reportedVerb(info.verb, method, contentType),
    dry_run: reportedDryRun(query.getAll('dryRun')),
    group: info.group,
    version: info.version,
    resource,
    subresource: info.subresource ?? '',
    scope: reportedScope(info),
    component: 'apiserver',
  };
}

/** The labels Kubernetes gives its health endpoints: the path as subresource, everything else empty. */
export function healthCheckLabels(path: string): RequestLabels {
  return {
    verb: 'GET',
    dry_run: '',
    group: '',
    version: '',
    resource: '',
    subresource: path,
    scope: '',
    component: '',
  };
}

type RequestKind = 'readOnly' | 'mutating';

const readOnlyVerbs = new Set(['GET', 'LIST', 'WATCH']);

export class ApiServerMetrics {
  readonly requests: Counter<keyof RequestLabels | 'code'>;
  readonly duration: Histogram<keyof RequestLabels>;
  readonly inflight: Gauge<'request_kind'>;
  readonly longRunning: Gauge<Exclude<keyof RequestLabels, 'dry_run'>>;
  readonly #current: Record<RequestKind, number> = { readOnly: 0, mutating: 0 };
  readonly #peak: Record<RequestKind, number> = { readOnly: 0, mutating: 0 };

  constructor(registry: Registry, store: Store) {
    const requestLabelNames = [
      'verb',
      'dry_run',
      'group',
      'version',
      'resource',
      'subresource',
      'scope',
      'component',
    ] as const;
    this.requests = new Counter({
      name: 'apiserver_request_total',
      help: 'Counter of apiserver requests broken out for each verb, dry run value, group, version, resource, scope, component, and HTTP response code.',
      labelNames: [...requestLabelNames, 'code'],
      registers: [registry],
    });
    this.duration = new Histogram({
      name: 'apiserver_request_duration_seconds',
      help: 'Response latency distribution in seconds for each verb, dry run value, group, version, resource, subresource, scope and component.',
      labelNames: requestLabelNames,
      buckets: [
        0.005, 0.025, 0.05, 0.1, 0.2, 0.4, 0.6, 0.8, 1, 1.25, 1.5, 2, 3, 4, 5, 6, 8, 10, 15, 20, 30, 45, 60,
      ],
      registers: [registry],
    });
    const current = this.#current;
    const peak = this.#peak;
    this.inflight = new Gauge({
      name: 'apiserver_current_inflight_requests',
      help: 'Maximal number of currently used inflight request limit of this apiserver per request kind in last second.',
      labelNames: ['request_kind'],
      registers: [registry],
      // Kubernetes reports a high-water mark so short bursts are not lost between samples; ours is
      // the peak since the previous scrape. Long-running requests (watches) are not counted.
      collect() {
        for (const kind of ['readOnly', 'mutating'] as const) {
          this.set({ request_kind: kind }, peak[kind]);
          peak[kind] = current[kind];
        }
      },
    });
    this.longRunning = new Gauge({
      name: 'apiserver_longrunning_requests',
      help: 'Gauge of all active long-running apiserver requests broken out by verb, group, version, resource, scope and component. Not all requests are tracked this way.',
      labelNames: ['verb', 'group', 'version', 'resource', 'subresource', 'scope', 'component'],
      registers: [registry],
    });
    new Gauge({
      name: 'apiserver_storage_objects',
      help: 'Number of stored objects at the time of last check split by kind. In case of a fetching error, the value will be -1.',
      labelNames: ['resource'],
      registers: [registry],
      async collect() {
        await Promise.all(
          resources.map(async (r) => {
            const resource = r.group === '' ? r.plural : `${r.plural}.${r.group}`;
            try {
              this.set({ resource }, await store.count(resourcePrefix(r)));
            } catch {
              this.set({ resource }, -1);
            }
          }),
        );
      },
    });
  }

  /**
   * Starts timing one request; call the result with the HTTP code sent when it finishes. WATCH is a
   * long-running request: it shows in `apiserver_longrunning_requests` while open, not in flight.
   */
  begin(labels: RequestLabels): (code: number) => void {
    const stop = this.duration.startTimer(labels);
    const { dry_run: _dryRun, ...longRunningLabels } = labels;
    const longRunning = labels.verb === 'WATCH';
    const kind: RequestKind = readOnlyVerbs.has(labels.verb) ? 'readOnly' : 'mutating';
    if (longRunning) {
      this.longRunning.inc(longRunningLabels);
    } else {
      this.#current[kind]++;
      this.#peak[kind] = Math.max(this.#peak[kind], this.#current[kind]);
    }
    return (code) => {
      if (longRunning) this.longRunning.dec(longRunningLabels);
      else this.#current[kind]--;
      stop();
      this.requests.inc({ ...labels, code: String(code) });
    };
  }
}

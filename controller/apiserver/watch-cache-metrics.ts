/**
 * The watch cache's Prometheus metrics, under kube-apiserver's names (features-and-metrics.md §3):
 * watchers registered per kind, events dispatched by the cache, events sent to watchers, watchers
 * terminated for not keeping up, and cache (re)initialisations.
 */
import { Counter, Gauge, type Registry } from 'prom-client';
import type { ResourceInfo } from '../../api/resources.js';
import type { ResourceCache } from './watch-cache-resource.js';

export interface WatchCacheMetrics {
  /** Store events applied, per resource (`pods`, `deployments.apps`). */
  readonly dispatched: Counter<'resource'>;
  /** Events handed to watchers (one per event per watcher). */
  readonly delivered: Counter<'group' | 'version' | 'kind'>;
  readonly terminated: Counter<'resource'>;
  readonly initializations: Counter<'resource'>;
}

/** Registers the metrics on `registry`; `caches` is read at scrape time for the watcher gauge. */
export function registerWatchCacheMetrics(
  registry: Registry,
  caches: () => Iterable<ResourceCache>,
): WatchCacheMetrics {
  new Gauge({
    name: 'apiserver_registered_watchers',
    help: 'Number of currently registered watchers for a given resources',
    labelNames: ['group', 'version', 'kind'],
    registers: [registry],
    collect() {
      for (const rc of caches()) this.set(kindLabels(rc.resource), rc.watcherCount);
    },
  });
  return {
    dispatched: new Counter({
      name: 'apiserver_watch_cache_events_dispatched_total',
      help: 'Counter of events dispatched in watch cache broken by resource type.',
      labelNames: ['resource'],
      registers: [registry],
    }),
    delivered: new Counter({
      name: 'apiserver_watch_events_total',
      help: 'Number of events sent in watch clients',
      labelNames: ['group', 'version', 'kind'],
      registers: [registry],
    }),
    terminated: new Counter({
      name: 'apiserver_terminated_watchers_total',
      help: 'Counter of watchers closed due to unresponsiveness broken by resource type.',
      labelNames: ['resource'],
      registers: [registry],
    }),
    initializations: new Counter({
      name: 'apiserver_watch_cache_initializations_total',
      help: 'Counter of watch cache initializations broken by resource type.',
      labelNames: ['resource'],
      registers: [registry],
    }),
  };
}

/** The `resource` label: `pods`, `deployments.apps`. */
export function resourceLabel(r: ResourceInfo): string {
  return r.group === '' ? r.plural : `${r.plural}.${r.group}`;
}

export function kindLabels(r: ResourceInfo): { group: string; version: string; kind: string } {
  return { group: r.group, version: r.version, kind: r.kind };
}

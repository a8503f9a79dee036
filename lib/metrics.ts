/**
 * Prometheus metrics helper. Each process (controller, agent) owns one `Registry`; components register
 * their metrics on the registry they are given, never on prom-client's global one, so that several
 * components (or hollow agents) can live in one process without name clashes.
 */
import { Registry, collectDefaultMetrics } from 'prom-client';

export interface MetricsRegistryOptions {
  /** Also export process_* and nodejs_* metrics (on for real processes, off for hollow agents). */
  processMetrics?: boolean;
  /** Labels added to every series, e.g. `{ node: 'n1' }`. */
  defaultLabels?: Record<string, string>;
}

export function createMetricsRegistry(opts: MetricsRegistryOptions = {}): Registry {
  const registry = new Registry();
  if (opts.defaultLabels !== undefined) registry.setDefaultLabels(opts.defaultLabels);
  if (opts.processMetrics ?? true) collectDefaultMetrics({ register: registry });
  return registry;
}

/** The body and content type of a `/metrics` response. */
export async function renderMetrics(registry: Registry): Promise<{ contentType: string; body: string }> {
  return { contentType: registry.contentType, body: await registry.metrics() };
}

/**
 * Prometheus HTTP service discovery (`http_sd_configs`): one scrape job finds the whole cluster — the
 * controller's own /metrics and every agent's (the Node annotation `node.berth.io/metrics-address`
 * that agents register). Served by the API server at {@link prometheusSdPath} with the same bearer
 * authentication as /metrics; the path sits outside Kubernetes' URL space (/api, /apis, /openapi…).
 *
 * The controller is listed at the address the SD request came to (its Host header): Prometheus
 * reached it there, with the TLS name it verified, so that is where it can scrape it. Agents serve
 * plain HTTP without authentication (the kubelet's read-only port), so each group carries its own
 * `__scheme__`; one job's `authorization` and `tls_config` then fit both kinds of target.
 *
 * Labels follow kubernetes_sd's habit: `__meta_berth_*` for relabelling (dropped after it), plus
 * `role`, `node` and `zone` attached as they are.
 */
import type { StoredObject } from '../../api/object.js';
import { metricsAddressAnnotation } from '../gateway/node-object.js';

/** Where the API server serves the target list. */
export const prometheusSdPath = '/berth/v1/prometheus-sd';

/** One `http_sd` target group. */
export interface SdTargetGroup {
  readonly targets: readonly string[];
  readonly labels: Readonly<Record<string, string>>;
}

const zoneLabel = 'topology.kubernetes.io/zone';

/**
 * The target groups: the controller at `controllerAddress` (HOST:PORT) first, then one group per
 * node that registered a metrics address, in name order. Nodes that are not Ready are listed too
 * (Prometheus then shows them `up == 0`, which is what an alert wants to see).
 */
export function prometheusSdTargets(
  nodes: readonly StoredObject[],
  controllerAddress: string | undefined,
): SdTargetGroup[] {
  const groups: SdTargetGroup[] = [];
  if (controllerAddress !== undefined && controllerAddress !== '') {
    groups.push({
      targets: [controllerAddress],
      labels: { __scheme__: 'https', __meta_berth_role: 'controller', role: 'controller' },
    });
  }
  const sorted = [...nodes].sort((a, b) => (a.metadata.name ?? '').localeCompare(b.metadata.name ?? ''));
  for (const node of sorted) {
    const name = node.metadata.name ?? '';
    const address = node.metadata.annotations?.[metricsAddressAnnotation];
    if (name === '' || address === undefined || address === '') continue;
    const labels: Record<string, string> = {
      __scheme__: 'http',
      __meta_berth_role: 'node',
      __meta_berth_node: name,
      __meta_berth_node_ready: readyOf(node),
      role: 'node',
      node: name,
    };
    for (const [k, v] of Object.entries(node.metadata.labels ?? {})) {
      labels[`__meta_berth_node_label_${sanitize(k)}`] = v;
    }
    const zone = node.metadata.labels?.[zoneLabel];
    if (zone !== undefined) labels['zone'] = zone;
    groups.push({ targets: [address], labels });
  }
  return groups;
}

/** A Prometheus label name from a Kubernetes label key (what kubernetes_sd does): `[^a-zA-Z0-9_]` → `_`. */
export function sanitize(key: string): string {
  return key.replace(/[^a-zA-Z0-9_]/g, '_');
}

function readyOf(node: StoredObject): string {
  const conditions = (node.status as { conditions?: { type?: string; status?: string }[] } | undefined)
    ?.conditions;
  const ready = conditions?.find((c) => c.type === 'Ready')?.status;
  return ready === 'True' ? 'true' : ready === 'False' ? 'false' : 'unknown';
}

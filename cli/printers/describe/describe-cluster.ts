/**
 * `describe node`, `describe service` and `describe namespace`, following kubectl's `describeNode`
 * (with its non-terminated pods and allocated-resources tables), `describeService` and
 * `describeNamespace`. Service endpoints come from the core Endpoints object (kubectl 1.32 reads
 * EndpointSlices, which Berth does not serve; it would print `<none>`).
 */

import { isJsonObject, type JsonObject } from '../../../api/patch/json-value.js';
import { formatLabels } from '../../../api/table/labels.js';
import { arr, at, num, rec, str } from '../../../api/table/json.js';
import { parseQuantity } from '../../../api/validation/quantity.js';
import { describeEvents } from './describe-events.js';
import {
  LEVEL_0,
  LEVEL_1,
  PrefixWriter,
  printAnnotations,
  printLabels,
  printTaints,
  rfc1123z,
  since,
  v,
  type DescribeContext,
} from './prefix-writer.js';

/** What `describe node` prints beyond the node itself. */
export interface NodeRelated {
  /** Pods bound to the node and not finished. */
  readonly pods: readonly JsonObject[];
  /** The node's Lease, or the error text kubectl would print instead. */
  readonly lease:
    { readonly ok: true; readonly value: JsonObject } | { readonly ok: false; readonly error: string };
  readonly events: readonly JsonObject[] | undefined;
}

/** `kubectl describe node` text. */
export function describeNode(node: JsonObject, related: NodeRelated, ctx: DescribeContext): string {
  const w = new PrefixWriter();
  const meta = rec(node['metadata']) ?? {};
  const spec = rec(node['spec']) ?? {};
  const status = rec(node['status']) ?? {};
  w.write(LEVEL_0, `Name:\t${v(meta['name'])}\n`);
  const roles = nodeRoles(meta['labels']);
  w.write(LEVEL_0, `Roles:\t${roles.length > 0 ? roles.join(',') : '<none>'}\n`);
  printLabels(w, 'Labels', meta['labels']);
  printAnnotations(w, 'Annotations', meta['annotations']);
  w.write(LEVEL_0, `CreationTimestamp:\t${rfc1123z(meta['creationTimestamp'], ctx)}\n`);
  printTaints(w, 'Taints', spec['taints']);
  w.write(LEVEL_0, `Unschedulable:\t${spec['unschedulable'] === true}\n`);
  if (!related.lease.ok) {
    w.write(LEVEL_0, `Lease:\tFailed to get lease: ${related.lease.error}\n`);
  } else {
    const leaseSpec = rec(related.lease.value['spec']) ?? {};
    w.write(LEVEL_0, 'Lease:\n');
    w.write(LEVEL_1, `HolderIdentity:\t${str(leaseSpec['holderIdentity']) ?? '<unset>'}\n`);
    const time = (t: unknown): string => (typeof t === 'string' ? rfc1123z(t, ctx) : '<unset>');
    w.write(LEVEL_1, `AcquireTime:\t${time(leaseSpec['acquireTime'])}\n`);
    w.write(LEVEL_1, `RenewTime:\t${time(leaseSpec['renewTime'])}\n`);
  }
  const conditions = arr(status['conditions']);
  if (conditions.length > 0) {
    w.write(LEVEL_0, 'Conditions:\n  Type\tStatus\tLastHeartbeatTime\tLastTransitionTime\tReason\tMessage\n');
    w.write(LEVEL_1, '----\t------\t-----------------\t------------------\t------\t-------\n');
    for (const c of conditions) {
      w.write(
        LEVEL_1,
        `${v(at(c, 'type'))} \t${v(at(c, 'status'))} \t${rfc1123z(at(c, 'lastHeartbeatTime'), ctx)} \t` +
          `${rfc1123z(at(c, 'lastTransitionTime'), ctx)} \t${v(at(c, 'reason'))} \t${v(at(c, 'message'))}\n`,
      );
    }
  }
  w.write(LEVEL_0, 'Addresses:\n');
  for (const a of arr(status['addresses']))
    w.write(LEVEL_1, `${v(at(a, 'type'))}:\t${v(at(a, 'address'))}\n`);
  for (const [title, field] of [
    ['Capacity', 'capacity'],
    ['Allocatable', 'allocatable'],
  ] as const) {
    const list = rec(status[field]) ?? {};
    const names = Object.keys(list).sort();
    if (names.length === 0) continue;
    w.write(LEVEL_0, `${title}:\n`);
    for (const n of names) w.write(LEVEL_0, `  ${n}:\t${v(list[n])}\n`);
  }
  const info = rec(status['nodeInfo']) ?? {};
  w.write(LEVEL_0, 'System Info:\n');
  for (const [label, field] of [
    ['Machine ID', 'machineID'],
    ['System UUID', 'systemUUID'],
    ['Boot ID', 'bootID'],
    ['Kernel Version', 'kernelVersion'],
    ['OS Image', 'osImage'],
    ['Operating System', 'operatingSystem'],
    ['Architecture', 'architecture'],
    ['Container Runtime Version', 'containerRuntimeVersion'],
    ['Kubelet Version', 'kubeletVersion'],
    ['Kube-Proxy Version', 'kubeProxyVersion'],
  ] as const) {
    w.write(LEVEL_0, `  ${label}:\t${v(info[field])}\n`);
  }
  if (str(spec['podCIDR'])) w.write(LEVEL_0, `PodCIDR:\t${v(spec['podCIDR'])}\n`);
  const cidrs = arr(spec['podCIDRs']);
  if (cidrs.length > 0) w.write(LEVEL_0, `PodCIDRs:\t${cidrs.map(v).join(',')}\n`);
  if (str(spec['providerID'])) w.write(LEVEL_0, `ProviderID:\t${v(spec['providerID'])}\n`);
  describeNodeResources(w, node, related.pods, ctx);
  describeEvents(w, related.events, ctx);
  return w.text();
}

function nodeRoles(labels: unknown): string[] {
  const roles = new Set<string>();
  for (const [k, val] of Object.entries(rec(labels) ?? {})) {
    if (k.startsWith('node-role.kubernetes.io/')) {
      const role = k.slice('node-role.kubernetes.io/'.length);
      if (role !== '') roles.add(role);
    } else if (k === 'kubernetes.io/role' && typeof val === 'string' && val !== '') {
      roles.add(val);
    }
  }
  return [...roles].sort();
}

/** A quantity sum that prints as Kubernetes prints `Quantity.String()` for cpu (milli) or bytes. */
interface Amount {
  /** Milli-units for cpu, units (bytes) otherwise. */
  value: number;
  binary: boolean;
  milli: boolean;
}

function amountOf(q: unknown, milli: boolean): Amount | undefined {
  const r = parseQuantity(q);
  if (!r.ok) return undefined;
  return {
    value: milli ? r.quantity.milliValue : r.quantity.value,
    binary: r.quantity.format === 'BinarySI',
    milli,
  };
}

function formatAmount(a: Amount | undefined): string {
  if (a === undefined || a.value === 0) return '0';
  if (a.milli) return a.value % 1000 === 0 ? String(a.value / 1000) : `${a.value}m`;
  const [base, suffixes] = a.binary
    ? [1024, ['', 'Ki', 'Mi', 'Gi', 'Ti', 'Pi']]
    : [1000, ['', 'k', 'M', 'G', 'T', 'P']];
  let value = a.value;
  let i = 0;
  while (i < suffixes.length - 1 && value % base === 0) {
    value /= base;
    i++;
  }
  return `${value}${suffixes[i] ?? ''}`;
}

function add(a: Amount | undefined, b: Amount | undefined): Amount | undefined {
  if (a === undefined) return b === undefined ? undefined : { ...b };
  if (b !== undefined) a.value += b.value;
  return a;
}

/** `resourcehelper.PodRequestsAndLimits` for cpu and memory: sum of containers, at least each init container. */
function podAmounts(pod: unknown): Record<'cpuReq' | 'cpuLim' | 'memReq' | 'memLim', Amount | undefined> {
  const sum = (
    list: readonly unknown[],
    field: 'requests' | 'limits',
    res: string,
    milli: boolean,
  ): Amount | undefined =>
    list.reduce<Amount | undefined>(
      (acc, c) => add(acc, amountOf(at(c, 'resources', field, res), milli)),
      undefined,
    );
  const max = (
    list: readonly unknown[],
    field: 'requests' | 'limits',
    res: string,
    milli: boolean,
    base: Amount | undefined,
  ): Amount | undefined => {
    let best = base;
    for (const c of list) {
      const a = amountOf(at(c, 'resources', field, res), milli);
      if (a !== undefined && (best === undefined || a.value > best.value)) best = a;
    }
    return best;
  };
  const containers = arr(at(pod, 'spec', 'containers'));
  const init = arr(at(pod, 'spec', 'initContainers'));
  return {
    cpuReq: max(init, 'requests', 'cpu', true, sum(containers, 'requests', 'cpu', true)),
    cpuLim: max(init, 'limits', 'cpu', true, sum(containers, 'limits', 'cpu', true)),
    memReq: max(init, 'requests', 'memory', false, sum(containers, 'requests', 'memory', false)),
    memLim: max(init, 'limits', 'memory', false, sum(containers, 'limits', 'memory', false)),
  };
}

function percent(a: Amount | undefined, of: number): number {
  return of === 0 ? 0 : Math.trunc(((a?.value ?? 0) / of) * 100);
}

function describeNodeResources(
  w: PrefixWriter,
  node: JsonObject,
  pods: readonly JsonObject[],
  ctx: DescribeContext,
): void {
  const capacity = rec(at(node, 'status', 'capacity')) ?? {};
  const allocatableRaw = rec(at(node, 'status', 'allocatable')) ?? {};
  const allocatable = Object.keys(allocatableRaw).length > 0 ? allocatableRaw : capacity;
  const cpu = amountOf(allocatable['cpu'], true)?.value ?? 0;
  const memory = amountOf(allocatable['memory'], false)?.value ?? 0;
  const storage = amountOf(allocatable['ephemeral-storage'], false)?.value ?? 0;
  w.write(LEVEL_0, `Non-terminated Pods:\t(${pods.length} in total)\n`);
  w.write(LEVEL_1, 'Namespace\tName\t\tCPU Requests\tCPU Limits\tMemory Requests\tMemory Limits\tAge\n');
  w.write(LEVEL_1, '---------\t----\t\t------------\t----------\t---------------\t-------------\t---\n');
  const totals: Record<'cpuReq' | 'cpuLim' | 'memReq' | 'memLim', Amount | undefined> = {
    cpuReq: undefined,
    cpuLim: undefined,
    memReq: undefined,
    memLim: undefined,
  };
  for (const pod of pods) {
    const a = podAmounts(pod);
    for (const k of ['cpuReq', 'cpuLim', 'memReq', 'memLim'] as const) totals[k] = add(totals[k], a[k]);
    w.write(
      LEVEL_1,
      `${v(at(pod, 'metadata', 'namespace'))}\t${v(at(pod, 'metadata', 'name'))}\t\t` +
        `${formatAmount(a.cpuReq)} (${percent(a.cpuReq, cpu)}%)\t${formatAmount(a.cpuLim)} (${percent(a.cpuLim, cpu)}%)\t` +
        `${formatAmount(a.memReq)} (${percent(a.memReq, memory)}%)\t${formatAmount(a.memLim)} (${percent(a.memLim, memory)}%)\t` +
        `${since(at(pod, 'metadata', 'creationTimestamp'), ctx)}\n`,
    );
  }
  w.write(LEVEL_0, 'Allocated resources:\n  (Total limits may be over 100 percent, i.e., overcommitted.)\n');
  w.write(LEVEL_1, 'Resource\tRequests\tLimits\n');
  w.write(LEVEL_1, '--------\t--------\t------\n');
  w.write(
    LEVEL_1,
    `cpu\t${formatAmount(totals.cpuReq)} (${percent(totals.cpuReq, cpu)}%)\t${formatAmount(totals.cpuLim)} (${percent(totals.cpuLim, cpu)}%)\n`,
  );
  w.write(
    LEVEL_1,
    `memory\t${formatAmount(totals.memReq)} (${percent(totals.memReq, memory)}%)\t${formatAmount(totals.memLim)} (${percent(totals.memLim, memory)}%)\n`,
  );
  w.write(
    LEVEL_1,
    `ephemeral-storage\t0 (${percent(undefined, storage)}%)\t0 (${percent(undefined, storage)}%)\n`,
  );
}

/** What `describe service` prints beyond the service itself. */
export interface ServiceRelated {
  /** The service's Endpoints object, when there is one. */
  readonly endpoints: JsonObject | undefined;
  readonly events: readonly JsonObject[] | undefined;
}

/** `kubectl describe service` text. */
export function describeService(svc: JsonObject, related: ServiceRelated, ctx: DescribeContext): string {
  const w = new PrefixWriter();
  const meta = rec(svc['metadata']) ?? {};
  const spec = rec(svc['spec']) ?? {};
  w.write(LEVEL_0, `Name:\t${v(meta['name'])}\n`);
  w.write(LEVEL_0, `Namespace:\t${v(meta['namespace'])}\n`);
  printLabels(w, 'Labels', meta['labels']);
  printAnnotations(w, 'Annotations', meta['annotations']);
  w.write(LEVEL_0, `Selector:\t${formatLabels(spec['selector'])}\n`);
  w.write(LEVEL_0, `Type:\t${v(spec['type'])}\n`);
  if (str(spec['ipFamilyPolicy'])) w.write(LEVEL_0, `IP Family Policy:\t${v(spec['ipFamilyPolicy'])}\n`);
  const families = arr(spec['ipFamilies']).map(v);
  w.write(LEVEL_0, `IP Families:\t${families.length > 0 ? families.join(',') : '<none>'}\n`);
  w.write(LEVEL_0, `IP:\t${v(spec['clusterIP'])}\n`);
  const ips = arr(spec['clusterIPs']).map(v);
  w.write(LEVEL_0, `IPs:\t${ips.length > 0 ? ips.join(',') : '<none>'}\n`);
  const external = arr(spec['externalIPs']).map(v);
  if (external.length > 0) w.write(LEVEL_0, `External IPs:\t${external.join(',')}\n`);
  if (str(spec['loadBalancerIP']))
    w.write(LEVEL_0, `Desired LoadBalancer IP:\t${v(spec['loadBalancerIP'])}\n`);
  if (str(spec['externalName'])) w.write(LEVEL_0, `External Name:\t${v(spec['externalName'])}\n`);
  for (const p of arr(spec['ports']).filter(isJsonObject)) {
    const name = str(p['name']) ?? '';
    const proto = str(p['protocol']) ?? '';
    w.write(LEVEL_0, `Port:\t${name === '' ? '<unset>' : name}\t${num(p['port']) ?? 0}/${proto}\n`);
    w.write(LEVEL_0, `TargetPort:\t${v(p['targetPort'] ?? p['port'])}/${proto}\n`);
    if ((num(p['nodePort']) ?? 0) !== 0) {
      w.write(LEVEL_0, `NodePort:\t${name === '' ? '<unset>' : name}\t${v(p['nodePort'])}/${proto}\n`);
    }
    w.write(LEVEL_0, `Endpoints:\t${formatEndpoints(related.endpoints, name)}\n`);
  }
  w.write(LEVEL_0, `Session Affinity:\t${v(spec['sessionAffinity'])}\n`);
  if (str(spec['externalTrafficPolicy']))
    w.write(LEVEL_0, `External Traffic Policy:\t${v(spec['externalTrafficPolicy'])}\n`);
  if (str(spec['internalTrafficPolicy']))
    w.write(LEVEL_0, `Internal Traffic Policy:\t${v(spec['internalTrafficPolicy'])}\n`);
  describeEvents(w, related.events, ctx);
  return w.text();
}

/** kubectl's `formatEndpoints` for one port name: `ip:port,…` (at most three, then `+ N more...`). */
function formatEndpoints(endpoints: JsonObject | undefined, portName: string): string {
  const list: string[] = [];
  let count = 0;
  for (const subset of arr(endpoints?.['subsets'])) {
    for (const port of arr(at(subset, 'ports'))) {
      if ((str(at(port, 'name')) ?? '') !== portName) continue;
      for (const addr of arr(at(subset, 'addresses'))) {
        if (list.length < 3) list.push(`${v(at(addr, 'ip'))}:${v(at(port, 'port'))}`);
        count++;
      }
    }
  }
  if (count === 0) return '<none>';
  return count > 3 ? `${list.join(',')} + ${count - 3} more...` : list.join(',');
}

/** `kubectl describe namespace` text. */
export function describeNamespace(ns: JsonObject, ctx: DescribeContext): string {
  const w = new PrefixWriter();
  const meta = rec(ns['metadata']) ?? {};
  w.write(LEVEL_0, `Name:\t${v(meta['name'])}\n`);
  printLabels(w, 'Labels', meta['labels']);
  printAnnotations(w, 'Annotations', meta['annotations']);
  w.write(LEVEL_0, `Status:\t${v(at(ns, 'status', 'phase'))}\n`);
  const conditions = arr(at(ns, 'status', 'conditions'));
  if (conditions.length > 0) {
    w.write(LEVEL_0, 'Conditions:\n');
    w.write(LEVEL_1, 'Type\tStatus\tLastTransitionTime\tReason\tMessage\n');
    w.write(LEVEL_1, '----\t------\t------------------\t------\t-------\n');
    for (const c of conditions) {
      w.write(
        LEVEL_1,
        `${v(at(c, 'type'))}\t${v(at(c, 'status'))}\t${rfc1123z(at(c, 'lastTransitionTime'), ctx)}\t${v(at(c, 'reason'))}\t${v(at(c, 'message'))}\n`,
      );
    }
  }
  return w.text();
}

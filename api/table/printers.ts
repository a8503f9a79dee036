/**
 * Column definitions and row cells for each kind Berth serves, transcribed from Kubernetes'
 * pkg/printers/internalversion/printers.go (1.32) so `kubectl get` shows the columns and cell formats
 * users know. Cells are computed with every column (Kubernetes' API server always prints "wide");
 * priority-1 columns are the ones kubectl shows only with `-o wide`.
 *
 * Objects arrive as stored JSON, before server-side defaulting where Berth has none, so a few
 * Kubernetes defaults are applied while printing (replicas 1, Service type ClusterIP, port protocol
 * TCP, Secret type Opaque, Namespace phase Active).
 */

import { ageSince, humanDuration, parseTimestamp } from './human-duration.js';
import { arr, at, num, rec, size, str } from './json.js';
import { compare, formatLabelSelector, formatLabels, selectorString } from './labels.js';
import { readinessGates, summarizePod } from './pod-status.js';

/** One `meta.k8s.io/v1` TableColumnDefinition. */
export interface ColumnDefinition {
  readonly name: string;
  readonly type: 'string' | 'integer' | 'number' | 'boolean' | 'date';
  readonly format: string;
  readonly description: string;
  readonly priority: 0 | 1;
}

/** A cell value: Kubernetes sends strings and int64s (and booleans for some kinds). */
export type Cell = string | number | boolean;

/** A kind's printer: its columns and the cells of one object, in column order. */
export interface Printer {
  readonly columns: readonly ColumnDefinition[];
  cells(obj: unknown, now: number): Cell[];
  /** Row conditions (`Completed`), as Kubernetes attaches to finished pods. */
  conditions?(obj: unknown): RowCondition[] | undefined;
}

export interface RowCondition {
  readonly type: 'Completed';
  readonly status: 'True';
  readonly reason: string;
  readonly message: string;
}

function col(
  name: string,
  description = '',
  opts: { type?: ColumnDefinition['type']; priority?: 0 | 1; format?: string } = {},
): ColumnDefinition {
  return {
    name,
    type: opts.type ?? 'string',
    format: opts.format ?? '',
    description,
    priority: opts.priority ?? 0,
  };
}

const nameCol = col('Name', 'Name must be unique within a namespace.', { format: 'name' });
const ageCol = col(
  'Age',
  'CreationTimestamp is a timestamp representing the server time when this object was created.',
);
const wide = (name: string, description = ''): ColumnDefinition => col(name, description, { priority: 1 });
const int = (name: string, description = ''): ColumnDefinition => col(name, description, { type: 'integer' });
const containersCol = wide('Containers', 'Names of each container in the template.');
const imagesCol = wide('Images', 'Images referenced by each container in the template.');
const selectorCol = wide('Selector', 'A label query over pods.');

const name = (obj: unknown): string => str(at(obj, 'metadata', 'name')) ?? '';
const age = (obj: unknown, now: number): string => ageSince(at(obj, 'metadata', 'creationTimestamp'), now);
const int64 = (v: unknown, dflt = 0): number => Math.trunc(num(v) ?? dflt);

/** `names`, `images` of a pod template's containers, comma-joined. */
function containerCells(containers: unknown): [string, string] {
  const list = arr(containers);
  return [
    list.map((c) => str(at(c, 'name')) ?? '').join(','),
    list.map((c) => str(at(c, 'image')) ?? '').join(','),
  ];
}

function joinHostPort(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

const podPrinter: Printer = {
  columns: [
    nameCol,
    col('Ready', 'The aggregate readiness state of this pod for accepting traffic.'),
    col('Status', 'The aggregate status of the containers in this pod.'),
    col(
      'Restarts',
      'The number of times the containers in this pod have been restarted and when the last container in this pod has restarted.',
    ),
    ageCol,
    wide('IP', 'IP address allocated to the pod.'),
    wide('Node', 'NodeName indicates in which node this pod is scheduled.'),
    wide('Nominated Node', 'nominatedNodeName is set only when this pod preempts other pods on the node.'),
    wide('Readiness Gates', 'If specified, all readiness gates will be evaluated for pod readiness.'),
  ],
  cells(pod, now) {
    const s = summarizePod(pod, now);
    const ip =
      str(at(arr(at(pod, 'status', 'podIPs'))[0], 'ip')) || str(at(pod, 'status', 'podIP')) || '<none>';
    return [
      name(pod),
      s.ready,
      s.status,
      s.restarts,
      age(pod, now),
      ip,
      str(at(pod, 'spec', 'nodeName')) || '<none>',
      str(at(pod, 'status', 'nominatedNodeName')) || '<none>',
      readinessGates(pod),
    ];
  },
  conditions(pod) {
    const phase = str(at(pod, 'status', 'phase'));
    if (phase === 'Succeeded')
      return [
        {
          type: 'Completed',
          status: 'True',
          reason: 'Succeeded',
          message: 'The pod has completed successfully.',
        },
      ];
    if (phase === 'Failed')
      return [{ type: 'Completed', status: 'True', reason: 'Failed', message: 'The pod failed.' }];
    return undefined;
  },
};

const deploymentPrinter: Printer = {
  columns: [
    nameCol,
    col('Ready', 'Number of the pod with ready state'),
    col(
      'Up-to-date',
      'Total number of non-terminated pods targeted by this deployment that have the desired template spec.',
    ),
    col(
      'Available',
      'Total number of available pods (ready for at least minReadySeconds) targeted by this deployment.',
    ),
    ageCol,
    containersCol,
    imagesCol,
    selectorCol,
  ],
  cells(d, now) {
    const [names, images] = containerCells(at(d, 'spec', 'template', 'spec', 'containers'));
    return [
      name(d),
      `${int64(at(d, 'status', 'readyReplicas'))}/${int64(at(d, 'spec', 'replicas'), 1)}`,
      int64(at(d, 'status', 'updatedReplicas')),
      int64(at(d, 'status', 'availableReplicas')),
      age(d, now),
      names,
      images,
      selectorString(at(d, 'spec', 'selector')),
    ];
  },
};

const replicaSetPrinter: Printer = {
  columns: [
    nameCol,
    int('Desired', 'Replicas is the number of desired pods.'),
    int('Current', 'Replicas is the most recently observed number of replicas.'),
    int('Ready', 'The number of ready replicas for this replica set.'),
    ageCol,
    containersCol,
    imagesCol,
    selectorCol,
  ],
  cells(rs, now) {
    const [names, images] = containerCells(at(rs, 'spec', 'template', 'spec', 'containers'));
    return [
      name(rs),
      int64(at(rs, 'spec', 'replicas'), 1),
      int64(at(rs, 'status', 'replicas')),
      int64(at(rs, 'status', 'readyReplicas')),
      age(rs, now),
      names,
      images,
      formatLabelSelector(at(rs, 'spec', 'selector')),
    ];
  },
};

const daemonSetPrinter: Printer = {
  columns: [
    nameCol,
    int('Desired', 'The total number of nodes that should be running the daemon pod.'),
    int(
      'Current',
      'The number of nodes that are running at least 1 daemon pod and are supposed to run the daemon pod.',
    ),
    int(
      'Ready',
      'The number of nodes that should be running the daemon pod and have one or more of the daemon pod running and ready.',
    ),
    int('Up-to-date', 'The total number of nodes that are running updated daemon pod.'),
    int(
      'Available',
      'The number of nodes that should be running the daemon pod and have one or more of the daemon pod running and available.',
    ),
    col('Node Selector', 'NodeSelector is a selector which must be true for the pod to fit on a node.'),
    ageCol,
    containersCol,
    imagesCol,
    selectorCol,
  ],
  cells(ds, now) {
    const [names, images] = containerCells(at(ds, 'spec', 'template', 'spec', 'containers'));
    return [
      name(ds),
      int64(at(ds, 'status', 'desiredNumberScheduled')),
      int64(at(ds, 'status', 'currentNumberScheduled')),
      int64(at(ds, 'status', 'numberReady')),
      int64(at(ds, 'status', 'updatedNumberScheduled')),
      int64(at(ds, 'status', 'numberAvailable')),
      formatLabels(at(ds, 'spec', 'template', 'spec', 'nodeSelector')),
      age(ds, now),
      names,
      images,
      formatLabelSelector(at(ds, 'spec', 'selector')),
    ];
  },
};

function jobConditionTrue(job: unknown, type: string): boolean {
  const c = arr(at(job, 'status', 'conditions')).find((x) => str(at(x, 'type')) === type);
  return c !== undefined && str(at(c, 'status')) === 'True';
}

const jobPrinter: Printer = {
  columns: [
    nameCol,
    col('Status', 'Status of the job.'),
    col('Completions', 'The number of pods which reached phase Succeeded.'),
    col('Duration', 'Time required to complete the job.'),
    ageCol,
    containersCol,
    imagesCol,
    selectorCol,
  ],
  cells(job, now) {
    const succeeded = int64(at(job, 'status', 'succeeded'));
    const completions = num(at(job, 'spec', 'completions'));
    const parallelism = int64(at(job, 'spec', 'parallelism'));
    const completionsCell =
      completions !== undefined
        ? `${succeeded}/${Math.trunc(completions)}`
        : parallelism > 1
          ? `${succeeded}/1 of ${parallelism}`
          : `${succeeded}/1`;
    const start = parseTimestamp(at(job, 'status', 'startTime'));
    const end = parseTimestamp(at(job, 'status', 'completionTime'));
    const duration = start === undefined ? '' : humanDuration((end ?? now) - start);
    const status = jobConditionTrue(job, 'Complete')
      ? 'Complete'
      : jobConditionTrue(job, 'Failed')
        ? 'Failed'
        : at(job, 'metadata', 'deletionTimestamp') != null
          ? 'Terminating'
          : jobConditionTrue(job, 'Suspended')
            ? 'Suspended'
            : jobConditionTrue(job, 'FailureTarget')
              ? 'FailureTarget'
              : 'Running';
    const [names, images] = containerCells(at(job, 'spec', 'template', 'spec', 'containers'));
    return [
      name(job),
      status,
      completionsCell,
      duration,
      age(job, now),
      names,
      images,
      formatLabelSelector(at(job, 'spec', 'selector')),
    ];
  },
};

function serviceExternalIP(svc: unknown, type: string, wideCells: boolean): string {
  const externalIPs = arr(at(svc, 'spec', 'externalIPs')).filter((x): x is string => typeof x === 'string');
  switch (type) {
    case 'ClusterIP':
    case 'NodePort':
      return externalIPs.length > 0 ? externalIPs.join(',') : '<none>';
    case 'LoadBalancer': {
      const ingress = new Set<string>();
      for (const i of arr(at(svc, 'status', 'loadBalancer', 'ingress'))) {
        const v = str(at(i, 'ip')) || str(at(i, 'hostname'));
        if (v) ingress.add(v);
      }
      let lb = [...ingress].sort(compare).join(',');
      if (!wideCells && lb.length > 16) lb = `${lb.slice(0, 13)}...`;
      if (externalIPs.length > 0) return [...(lb === '' ? [] : lb.split(',')), ...externalIPs].join(',');
      return lb === '' ? '<pending>' : lb;
    }
    case 'ExternalName':
      return str(at(svc, 'spec', 'externalName')) ?? '';
    default:
      return '<unknown>';
  }
}

const servicePrinter: Printer = {
  columns: [
    nameCol,
    col('Type', 'type determines how the Service is exposed.'),
    col('Cluster-IP', 'clusterIP is the IP address of the service.'),
    col(
      'External-IP',
      'externalIPs is a list of IP addresses for which nodes in the cluster will also accept traffic.',
    ),
    col('Port(s)', 'The list of ports that are exposed by this service.'),
    ageCol,
    wide('Selector', 'Route service traffic to pods with label keys and values matching this selector.'),
  ],
  cells(svc, now) {
    const type = str(at(svc, 'spec', 'type')) || 'ClusterIP';
    const clusterIP =
      str(arr(at(svc, 'spec', 'clusterIPs'))[0]) || str(at(svc, 'spec', 'clusterIP')) || '<none>';
    const ports = arr(at(svc, 'spec', 'ports'))
      .map((p) => {
        const port = int64(at(p, 'port'));
        const protocol = str(at(p, 'protocol')) || 'TCP';
        const nodePort = int64(at(p, 'nodePort'));
        return nodePort > 0 ? `${port}:${nodePort}/${protocol}` : `${port}/${protocol}`;
      })
      .join(',');
    return [
      name(svc),
      type,
      clusterIP,
      serviceExternalIP(svc, type, true),
      ports === '' ? '<none>' : ports,
      age(svc, now),
      formatLabels(at(svc, 'spec', 'selector')),
    ];
  },
};

function formatEndpoints(ep: unknown): string {
  const subsets = arr(at(ep, 'subsets'));
  if (subsets.length === 0) return '<none>';
  const max = 3;
  const list: string[] = [];
  let more = false;
  let count = 0;
  for (const ss of subsets) {
    const addresses = arr(at(ss, 'addresses'));
    const ports = arr(at(ss, 'ports'));
    if (ports.length === 0) {
      // Headless services may have addresses without ports.
      count += addresses.length;
      for (const a of addresses) {
        if (list.length === max) {
          more = true;
          break;
        }
        list.push(str(at(a, 'ip')) ?? '');
      }
      continue;
    }
    for (const p of ports) {
      count += addresses.length;
      for (const a of addresses) {
        if (list.length === max) {
          more = true;
          break;
        }
        list.push(joinHostPort(str(at(a, 'ip')) ?? '', int64(at(p, 'port'))));
      }
    }
  }
  const joined = list.join(',');
  return more ? `${joined} + ${count - max} more...` : joined;
}

const endpointsPrinter: Printer = {
  columns: [nameCol, col('Endpoints', 'The set of all endpoints is the union of all subsets.'), ageCol],
  cells: (ep, now) => [name(ep), formatEndpoints(ep), age(ep, now)],
};

function nodeRoles(node: unknown): string {
  const roles = new Set<string>();
  for (const [k, v] of Object.entries(rec(at(node, 'metadata', 'labels')) ?? {})) {
    if (k.startsWith('node-role.kubernetes.io/')) {
      const role = k.slice('node-role.kubernetes.io/'.length);
      if (role !== '') roles.add(role);
    } else if (k === 'kubernetes.io/role' && typeof v === 'string' && v !== '') {
      roles.add(v);
    }
  }
  return roles.size === 0 ? '<none>' : [...roles].sort(compare).join(',');
}

function nodeAddress(node: unknown, type: string): string {
  const a = arr(at(node, 'status', 'addresses')).find((x) => str(at(x, 'type')) === type);
  return str(at(a, 'address')) ?? '<none>';
}

const nodePrinter: Printer = {
  columns: [
    nameCol,
    col('Status', 'The status of the node'),
    col('Roles', 'The roles of the node'),
    ageCol,
    col('Version', 'Kubelet Version reported by the node.'),
    wide('Internal-IP', 'List of addresses reachable to the node.'),
    wide('External-IP', 'List of addresses reachable to the node.'),
    wide('OS-Image', 'OS Image reported by the node from /etc/os-release.'),
    wide('Kernel-Version', "Kernel Version reported by the node from 'uname -r'."),
    wide('Container-Runtime', 'ContainerRuntime Version reported by the node through runtime remote API.'),
  ],
  cells(node, now) {
    const ready = arr(at(node, 'status', 'conditions')).find((c) => str(at(c, 'type')) === 'Ready');
    const status: string[] = [];
    if (ready !== undefined) status.push(str(at(ready, 'status')) === 'True' ? 'Ready' : 'NotReady');
    else status.push('Unknown');
    if (at(node, 'spec', 'unschedulable') === true) status.push('SchedulingDisabled');
    const info = (field: string): string => str(at(node, 'status', 'nodeInfo', field)) || '<unknown>';
    return [
      name(node),
      status.join(','),
      nodeRoles(node),
      age(node, now),
      str(at(node, 'status', 'nodeInfo', 'kubeletVersion')) ?? '',
      nodeAddress(node, 'InternalIP'),
      nodeAddress(node, 'ExternalIP'),
      info('osImage'),
      info('kernelVersion'),
      info('containerRuntimeVersion'),
    ];
  },
};

const configMapPrinter: Printer = {
  columns: [nameCol, int('Data', 'Data contains the configuration data.'), ageCol],
  cells: (cm, now) => [name(cm), size(at(cm, 'data')) + size(at(cm, 'binaryData')), age(cm, now)],
};

const secretPrinter: Printer = {
  columns: [
    nameCol,
    col('Type', 'Used to facilitate programmatic handling of secret data.'),
    int('Data', 'Data contains the secret data.'),
    ageCol,
  ],
  cells: (s, now) => [name(s), str(at(s, 'type')) || 'Opaque', size(at(s, 'data')), age(s, now)],
};

const namespacePrinter: Printer = {
  columns: [nameCol, col('Status', 'The status of the namespace'), ageCol],
  cells: (ns, now) => [
    name(ns),
    str(at(ns, 'status', 'phase')) ||
      (at(ns, 'metadata', 'deletionTimestamp') != null ? 'Terminating' : 'Active'),
    age(ns, now),
  ],
};

function eventSource(ev: unknown): string {
  const component = str(at(ev, 'source', 'component')) || str(at(ev, 'reportingComponent')) || '';
  const instance = str(at(ev, 'source', 'host')) || str(at(ev, 'reportingInstance')) || '';
  return instance === '' ? component : `${component}, ${instance}`;
}

const eventPrinter: Printer = {
  columns: [
    col('Last Seen', 'The time at which the most recent occurrence of this event was recorded.'),
    col('Type', 'Type of this event (Normal, Warning), new types could be added in the future'),
    col(
      'Reason',
      "This should be a short, machine understandable string that gives the reason for the transition into the object's current status.",
    ),
    col('Object', 'The object that this event is about.'),
    wide(
      'Subobject',
      'If referring to a piece of an object instead of an entire object, this string should contain a valid JSON/Go field access statement.',
    ),
    wide('Source', 'The component reporting this event.'),
    col('Message', 'A human-readable description of the status of this operation.'),
    wide('First Seen', 'The time at which the event was first recorded.'),
    wide('Count', 'The number of times this event has occurred.'),
    col('Name', 'Name must be unique within a namespace.', { format: 'name', priority: 1 }),
  ],
  cells(ev, now) {
    const first =
      at(ev, 'firstTimestamp') != null
        ? ageSince(at(ev, 'firstTimestamp'), now)
        : ageSince(at(ev, 'eventTime'), now);
    let last = at(ev, 'lastTimestamp') != null ? ageSince(at(ev, 'lastTimestamp'), now) : first;
    let count = int64(at(ev, 'count'));
    if (rec(at(ev, 'series')) !== undefined) {
      last = ageSince(at(ev, 'series', 'lastObservedTime'), now);
      count = int64(at(ev, 'series', 'count'));
    } else if (count === 0) {
      count = 1;
    }
    const kind = (str(at(ev, 'involvedObject', 'kind')) ?? '').toLowerCase();
    const objName = str(at(ev, 'involvedObject', 'name')) ?? '';
    return [
      last,
      str(at(ev, 'type')) ?? '',
      str(at(ev, 'reason')) ?? '',
      objName === '' ? kind : `${kind}/${objName}`,
      str(at(ev, 'involvedObject', 'fieldPath')) ?? '',
      eventSource(ev),
      (str(at(ev, 'message')) ?? '').trim(),
      first,
      count,
      name(ev),
    ];
  },
};

const controllerRevisionPrinter: Printer = {
  columns: [
    nameCol,
    col('Controller', 'Controller of the object'),
    col('Revision', 'Revision indicates the revision of the state represented by Data.'),
    ageCol,
  ],
  cells(cr, now) {
    const owner = arr(at(cr, 'metadata', 'ownerReferences')).find((o) => at(o, 'controller') === true);
    let controller = '<none>';
    if (owner !== undefined) {
      const apiVersion = str(at(owner, 'apiVersion')) ?? '';
      const slash = apiVersion.indexOf('/');
      const group = slash < 0 ? '' : apiVersion.slice(0, slash);
      const kind = str(at(owner, 'kind')) ?? '';
      const groupKind = group === '' ? kind : `${kind}.${group}`;
      controller =
        kind === ''
          ? (str(at(owner, 'name')) ?? '')
          : `${groupKind.toLowerCase()}/${str(at(owner, 'name')) ?? ''}`;
    }
    return [name(cr), controller, int64(at(cr, 'revision')), age(cr, now)];
  },
};

/** NAME and AGE, for any kind without a printer of its own. */
export const defaultPrinter: Printer = {
  columns: [nameCol, ageCol],
  cells: (obj, now) => [name(obj), age(obj, now)],
};

const byGroupKind = new Map<string, Printer>([
  ['/Pod', podPrinter],
  ['/Node', nodePrinter],
  ['/Service', servicePrinter],
  ['/Endpoints', endpointsPrinter],
  ['/ConfigMap', configMapPrinter],
  ['/Secret', secretPrinter],
  ['/Namespace', namespacePrinter],
  ['/Event', eventPrinter],
  ['apps/Deployment', deploymentPrinter],
  ['apps/ReplicaSet', replicaSetPrinter],
  ['apps/DaemonSet', daemonSetPrinter],
  ['apps/ControllerRevision', controllerRevisionPrinter],
  ['batch/Job', jobPrinter],
]);

/** The printer for a group and kind, falling back to {@link defaultPrinter}. */
export function printerFor(group: string, kind: string): Printer {
  return byGroupKind.get(`${group}/${kind}`) ?? defaultPrinter;
}

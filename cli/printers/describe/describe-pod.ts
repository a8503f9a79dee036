/**
 * `describe pod` and the pod-template section Deployments and ReplicaSets share, following kubectl's
 * `describePod`, `describeContainers`, `describeVolumes` and `DescribePodTemplate` line for line
 * (the common volume types; others print `<unknown>` as kubectl does for types it lacks).
 */

import { isJsonObject, type JsonObject } from '../../../api/patch/json-value.js';
import { arr, at, num, rec, str } from '../../../api/table/json.js';
import { toMilliValue } from '../../../api/validation/quantity.js';
import { describeEvents } from './describe-events.js';
import {
  controllerOf,
  LEVEL_0,
  LEVEL_1,
  LEVEL_2,
  LEVEL_3,
  PrefixWriter,
  printAnnotations,
  printLabels,
  printTolerations,
  rfc1123z,
  since,
  v,
  type DescribeContext,
} from './prefix-writer.js';

/** `kubectl describe pod` text for `pod` and its events. */
export function describePod(
  pod: JsonObject,
  events: readonly JsonObject[] | undefined,
  ctx: DescribeContext,
): string {
  const w = new PrefixWriter();
  const meta = rec(pod['metadata']) ?? {};
  const spec = rec(pod['spec']) ?? {};
  const status = rec(pod['status']) ?? {};
  w.write(LEVEL_0, `Name:\t${v(meta['name'])}\n`);
  w.write(LEVEL_0, `Namespace:\t${v(meta['namespace'])}\n`);
  if (num(spec['priority']) !== undefined) w.write(LEVEL_0, `Priority:\t${v(spec['priority'])}\n`);
  if (str(spec['priorityClassName']))
    w.write(LEVEL_0, `Priority Class Name:\t${v(spec['priorityClassName'])}\n`);
  if (str(spec['runtimeClassName']))
    w.write(LEVEL_0, `Runtime Class Name:\t${v(spec['runtimeClassName'])}\n`);
  if (str(spec['serviceAccountName']))
    w.write(LEVEL_0, `Service Account:\t${v(spec['serviceAccountName'])}\n`);
  const node = str(spec['nodeName']) ?? '';
  w.write(LEVEL_0, node === '' ? 'Node:\t<none>\n' : `Node:\t${node}/${str(status['hostIP']) ?? ''}\n`);
  if (str(status['startTime'])) w.write(LEVEL_0, `Start Time:\t${rfc1123z(status['startTime'], ctx)}\n`);
  printLabels(w, 'Labels', meta['labels']);
  printAnnotations(w, 'Annotations', meta['annotations']);
  const phase = str(status['phase']) ?? '';
  if (str(meta['deletionTimestamp']) && phase !== 'Failed' && phase !== 'Succeeded') {
    w.write(LEVEL_0, `Status:\tTerminating (lasts ${since(meta['deletionTimestamp'], ctx)})\n`);
    w.write(LEVEL_0, `Termination Grace Period:\t${v(meta['deletionGracePeriodSeconds'])}s\n`);
  } else {
    w.write(LEVEL_0, `Status:\t${phase}\n`);
  }
  if (str(status['reason'])) w.write(LEVEL_0, `Reason:\t${v(status['reason'])}\n`);
  if (str(status['message'])) w.write(LEVEL_0, `Message:\t${v(status['message'])}\n`);
  w.write(LEVEL_0, `IP:\t${str(status['podIP']) ?? ''}\n`);
  const ips = arr(status['podIPs']);
  if (ips.length === 0) {
    w.write(LEVEL_0, 'IPs:\t<none>\n');
  } else {
    w.write(LEVEL_0, 'IPs:\n');
    for (const ip of ips) w.write(LEVEL_1, `IP:\t${str(at(ip, 'ip')) ?? ''}\n`);
  }
  const controlledBy = controllerOf(pod);
  if (controlledBy !== '') w.write(LEVEL_0, `Controlled By:\t${controlledBy}\n`);
  if (str(status['nominatedNodeName']))
    w.write(LEVEL_0, `NominatedNodeName:\t${v(status['nominatedNodeName'])}\n`);
  const init = arr(spec['initContainers']).filter(isJsonObject);
  const resolve = (path: string): string => fieldPathValue(pod, path);
  if (init.length > 0) {
    describeContainers(w, 'Init Containers', init, {
      statuses: arr(status['initContainerStatuses']),
      resolve,
      ctx,
    });
  }
  describeContainers(w, 'Containers', arr(spec['containers']).filter(isJsonObject), {
    statuses: arr(status['containerStatuses']),
    resolve,
    ctx,
  });
  const gates = arr(spec['readinessGates']);
  const conditions = arr(status['conditions']);
  if (gates.length > 0) {
    w.write(LEVEL_0, 'Readiness Gates:\n  Type\tStatus\n');
    for (const g of gates) {
      const type = str(at(g, 'conditionType')) ?? '';
      const c = conditions.find((x) => at(x, 'type') === type);
      w.write(LEVEL_1, `${type} \t${c === undefined ? '<none>' : v(at(c, 'status'))} \n`);
    }
  }
  if (conditions.length > 0) {
    w.write(LEVEL_0, 'Conditions:\n  Type\tStatus\n');
    for (const c of conditions) w.write(LEVEL_1, `${v(at(c, 'type'))} \t${v(at(c, 'status'))} \n`);
  }
  describeVolumes(w, spec['volumes'], '');
  w.write(LEVEL_0, `QoS Class:\t${qosClass(pod)}\n`);
  printLabels(w, 'Node-Selectors', spec['nodeSelector']);
  printTolerations(w, 'Tolerations', spec['tolerations']);
  describeEvents(w, events, ctx);
  return w.text();
}

/** `DescribePodTemplate`: the `Pod Template:` block of workloads. */
export function describePodTemplate(w: PrefixWriter, template: unknown, ctx: DescribeContext): void {
  w.write(LEVEL_0, 'Pod Template:\n');
  if (!isJsonObject(template)) {
    w.write(LEVEL_1, '<unset>');
    return;
  }
  const meta = rec(template['metadata']) ?? {};
  const spec = rec(template['spec']) ?? {};
  printLabels(w, '  Labels', meta['labels']);
  if (Object.keys(rec(meta['annotations']) ?? {}).length > 0)
    printAnnotations(w, '  Annotations', meta['annotations']);
  if (str(spec['serviceAccountName']))
    w.write(LEVEL_1, `Service Account:\t${v(spec['serviceAccountName'])}\n`);
  const init = arr(spec['initContainers']).filter(isJsonObject);
  if (init.length > 0) describeContainers(w, 'Init Containers', init, { space: '  ', ctx });
  describeContainers(w, 'Containers', arr(spec['containers']).filter(isJsonObject), { space: '  ', ctx });
  describeVolumes(w, spec['volumes'], '  ');
  if (str(spec['priorityClassName']))
    w.write(LEVEL_1, `Priority Class Name:\t${v(spec['priorityClassName'])}\n`);
  printLabels(w, '  Node-Selectors', spec['nodeSelector']);
  printTolerations(w, '  Tolerations', spec['tolerations']);
}

interface ContainerContext {
  /** Container statuses (pods only). */
  readonly statuses?: readonly unknown[];
  /** Resolves an env `fieldRef` path against the pod (pods only). */
  readonly resolve?: (fieldPath: string) => string;
  /** `'  '` inside a pod template. */
  readonly space?: string;
  readonly ctx: DescribeContext;
}

/** The value of a downward-API field path (`metadata.name`, `metadata.labels['app']`) of `pod`. */
function fieldPathValue(pod: JsonObject, path: string): string {
  const m = /^metadata\.(labels|annotations)\['(.*)'\]$/.exec(path);
  if (m !== null) return v(at(pod, 'metadata', m[1] ?? '', m[2] ?? ''));
  return v(at(pod, ...path.split('.')));
}

function describeContainers(
  w: PrefixWriter,
  label: string,
  containers: readonly JsonObject[],
  cc: ContainerContext,
): void {
  const space = cc.space ?? '';
  const statuses = cc.statuses;
  w.write(LEVEL_0, `${space}${label}:${containers.length === 0 ? ' <none>' : ''}\n`);
  for (const c of containers) {
    const status = statuses?.find((s) => at(s, 'name') === c['name']);
    const nameIndent = space === '' ? '' : ' ';
    w.write(LEVEL_1, `${nameIndent}${v(c['name'])}:\n`);
    if (status !== undefined) w.write(LEVEL_2, `Container ID:\t${str(at(status, 'containerID')) ?? ''}\n`);
    w.write(LEVEL_2, `Image:\t${v(c['image'])}\n`);
    if (status !== undefined) w.write(LEVEL_2, `Image ID:\t${str(at(status, 'imageID')) ?? ''}\n`);
    const ports = arr(c['ports']);
    const portString = ports
      .map((p) => `${num(at(p, 'containerPort')) ?? 0}/${str(at(p, 'protocol')) ?? ''}`)
      .join(', ');
    const hostString = ports
      .map((p) => `${num(at(p, 'hostPort')) ?? 0}/${str(at(p, 'protocol')) ?? ''}`)
      .join(', ');
    if (portString.includes(',')) w.write(LEVEL_2, `Ports:\t${portString}\n`);
    else w.write(LEVEL_2, `Port:\t${portString === '' ? '<none>' : portString}\n`);
    if (hostString.includes(',')) w.write(LEVEL_2, `Host Ports:\t${hostString}\n`);
    else w.write(LEVEL_2, `Host Port:\t${hostString === '' ? '<none>' : hostString}\n`);
    for (const [title, field] of [
      ['Command', 'command'],
      ['Args', 'args'],
    ] as const) {
      const lines = arr(c[field]);
      if (lines.length === 0) continue;
      w.write(LEVEL_2, `${title}:\n`);
      for (const line of lines) for (const s of v(line).split('\n')) w.write(LEVEL_3, `${s}\n`);
    }
    if (status !== undefined) describeContainerState(w, status, cc.ctx);
    describeResources(w, c['resources'], LEVEL_2);
    for (const [title, field] of [
      ['Liveness', 'livenessProbe'],
      ['Readiness', 'readinessProbe'],
      ['Startup', 'startupProbe'],
    ] as const) {
      if (isJsonObject(c[field])) w.write(LEVEL_2, `${title}:\t${describeProbe(c[field])}\n`);
    }
    describeEnvFrom(w, c['envFrom']);
    describeEnv(w, c['env'], cc.resolve);
    const mounts = arr(c['volumeMounts'])
      .filter(isJsonObject)
      .sort((a, b) => ((str(a['mountPath']) ?? '') < (str(b['mountPath']) ?? '') ? -1 : 1));
    w.write(LEVEL_2, `Mounts:${mounts.length === 0 ? '\t<none>' : ''}\n`);
    for (const m of mounts) {
      const flags = [m['readOnly'] === true ? 'ro' : 'rw'];
      if (str(m['subPath'])) flags.push(`path=${JSON.stringify(m['subPath'])}`);
      w.write(LEVEL_3, `${v(m['mountPath'])} from ${v(m['name'])} (${flags.join(',')})\n`);
    }
  }
}

function describeContainerState(w: PrefixWriter, status: unknown, ctx: DescribeContext): void {
  describeState(w, 'State', at(status, 'state'), ctx);
  if (isJsonObject(at(status, 'lastState', 'terminated')))
    describeState(w, 'Last State', at(status, 'lastState'), ctx);
  w.write(LEVEL_2, `Ready:\t${at(status, 'ready') === true ? 'True' : 'False'}\n`);
  w.write(LEVEL_2, `Restart Count:\t${num(at(status, 'restartCount')) ?? 0}\n`);
}

function describeState(w: PrefixWriter, name: string, state: unknown, ctx: DescribeContext): void {
  const running = at(state, 'running');
  const waiting = at(state, 'waiting');
  const terminated = at(state, 'terminated');
  if (isJsonObject(running)) {
    w.write(LEVEL_2, `${name}:\tRunning\n`);
    w.write(LEVEL_3, `Started:\t${rfc1123z(running['startedAt'], ctx)}\n`);
  } else if (isJsonObject(waiting)) {
    w.write(LEVEL_2, `${name}:\tWaiting\n`);
    if (str(waiting['reason'])) w.write(LEVEL_3, `Reason:\t${v(waiting['reason'])}\n`);
  } else if (isJsonObject(terminated)) {
    w.write(LEVEL_2, `${name}:\tTerminated\n`);
    if (str(terminated['reason'])) w.write(LEVEL_3, `Reason:\t${v(terminated['reason'])}\n`);
    if (str(terminated['message'])) w.write(LEVEL_3, `Message:\t${v(terminated['message'])}\n`);
    w.write(LEVEL_3, `Exit Code:\t${num(terminated['exitCode']) ?? 0}\n`);
    if ((num(terminated['signal']) ?? 0) > 0) w.write(LEVEL_3, `Signal:\t${v(terminated['signal'])}\n`);
    w.write(LEVEL_3, `Started:\t${rfc1123z(terminated['startedAt'], ctx)}\n`);
    w.write(LEVEL_3, `Finished:\t${rfc1123z(terminated['finishedAt'], ctx)}\n`);
  } else {
    w.write(LEVEL_2, `${name}:\tWaiting\n`);
  }
}

function describeResources(w: PrefixWriter, resources: unknown, level: number): void {
  for (const [title, field] of [
    ['Limits', 'limits'],
    ['Requests', 'requests'],
  ] as const) {
    const list = rec(at(resources, field)) ?? {};
    const names = Object.keys(list).sort();
    if (names.length > 0) w.write(level, `${title}:\n`);
    for (const n of names) w.write(level + 1, `${n}:\t${v(list[n])}\n`);
  }
}

/** kubectl's `DescribeProbe`. */
function describeProbe(probe: JsonObject): string {
  const attrs =
    `delay=${num(probe['initialDelaySeconds']) ?? 0}s timeout=${num(probe['timeoutSeconds']) ?? 0}s ` +
    `period=${num(probe['periodSeconds']) ?? 0}s #success=${num(probe['successThreshold']) ?? 0} ` +
    `#failure=${num(probe['failureThreshold']) ?? 0}`;
  if (isJsonObject(probe['exec'])) return `exec [${arr(probe['exec']['command']).map(v).join(' ')}] ${attrs}`;
  const http = probe['httpGet'];
  if (isJsonObject(http)) {
    const host = str(http['host']) ?? '';
    const port = v(http['port']);
    const hostPort = port === '' ? host : `${host.includes(':') ? `[${host}]` : host}:${port}`;
    const scheme = (str(http['scheme']) ?? '').toLowerCase();
    return `http-get ${scheme === '' ? '' : `${scheme}:`}//${hostPort}${str(http['path']) ?? ''} ${attrs}`;
  }
  const tcp = probe['tcpSocket'];
  if (isJsonObject(tcp)) return `tcp-socket ${str(tcp['host']) ?? ''}:${v(tcp['port'])} ${attrs}`;
  const grpc = probe['grpc'];
  if (isJsonObject(grpc)) return `grpc <pod>:${v(grpc['port'])} ${str(grpc['service']) ?? ''} ${attrs}`;
  return `unknown ${attrs}`;
}

function describeEnvFrom(w: PrefixWriter, envFrom: unknown): void {
  const list = arr(envFrom);
  if (list.length === 0) return;
  w.write(LEVEL_2, 'Environment Variables from:\n');
  for (const e of list) {
    const cm = at(e, 'configMapRef');
    const secret = at(e, 'secretRef');
    const ref = isJsonObject(cm) ? cm : isJsonObject(secret) ? secret : undefined;
    const from = isJsonObject(cm) ? 'ConfigMap' : isJsonObject(secret) ? 'Secret' : '';
    const optional = at(ref, 'optional') === true;
    const prefix = str(at(e, 'prefix')) ?? '';
    const what = prefix === '' ? from : `${from} with prefix '${prefix}'`;
    w.write(LEVEL_3, `${str(at(ref, 'name')) ?? ''}\t${what}\tOptional: ${optional}\n`);
  }
}

function describeEnv(w: PrefixWriter, env: unknown, resolve: ((path: string) => string) | undefined): void {
  const list = arr(env).filter(isJsonObject);
  w.write(LEVEL_2, `Environment:${list.length === 0 ? '\t<none>' : ''}\n`);
  for (const e of list) {
    const name = v(e['name']);
    const from = e['valueFrom'];
    if (!isJsonObject(from)) {
      v(e['value'])
        .split('\n')
        .forEach((s, i) => {
          w.write(LEVEL_3, i === 0 ? `${name}:\t${s}\n` : `\t${s}\n`);
        });
      continue;
    }
    if (isJsonObject(from['fieldRef'])) {
      const f = from['fieldRef'];
      const value = resolve?.(v(f['fieldPath'])) ?? '';
      w.write(LEVEL_3, `${name}:\t${value} (${v(f['apiVersion'])}:${v(f['fieldPath'])})\n`);
    } else if (isJsonObject(from['resourceFieldRef'])) {
      w.write(LEVEL_3, `${name}:\t (${v(from['resourceFieldRef']['resource'])})\n`);
    } else if (isJsonObject(from['secretKeyRef'])) {
      const s = from['secretKeyRef'];
      w.write(
        LEVEL_3,
        `${name}:\t<set to the key '${v(s['key'])}' in secret '${v(s['name'])}'>\tOptional: ${s['optional'] === true}\n`,
      );
    } else if (isJsonObject(from['configMapKeyRef'])) {
      const c = from['configMapKeyRef'];
      w.write(
        LEVEL_3,
        `${name}:\t<set to the key '${v(c['key'])}' of config map '${v(c['name'])}'>\tOptional: ${c['optional'] === true}\n`,
      );
    }
  }
}

function describeVolumes(w: PrefixWriter, volumes: unknown, space: string): void {
  const list = arr(volumes).filter(isJsonObject);
  if (list.length === 0) {
    w.write(LEVEL_0, `${space}Volumes:\t<none>\n`);
    return;
  }
  w.write(LEVEL_0, `${space}Volumes:\n`);
  for (const vol of list) {
    w.write(LEVEL_1, `${space === '' ? '' : ' '}${v(vol['name'])}:\n`);
    const hostPath = vol['hostPath'];
    const emptyDir = vol['emptyDir'];
    const secret = vol['secret'];
    const configMap = vol['configMap'];
    const pvc = vol['persistentVolumeClaim'];
    if (isJsonObject(hostPath)) {
      w.write(
        LEVEL_2,
        `Type:\tHostPath (bare host directory volume)\n    Path:\t${v(hostPath['path'])}\n    HostPathType:\t${str(hostPath['type']) ?? '<none>'}\n`,
      );
    } else if (isJsonObject(emptyDir)) {
      const limit = str(emptyDir['sizeLimit']) ?? '';
      const sizeLimit = limit !== '' && (toMilliValue(limit) ?? 0) > 0 ? limit : '<unset>';
      w.write(
        LEVEL_2,
        `Type:\tEmptyDir (a temporary directory that shares a pod's lifetime)\n    Medium:\t${v(emptyDir['medium'])}\n    SizeLimit:\t${sizeLimit}\n`,
      );
    } else if (isJsonObject(secret)) {
      w.write(
        LEVEL_2,
        `Type:\tSecret (a volume populated by a Secret)\n    SecretName:\t${v(secret['secretName'])}\n    Optional:\t${secret['optional'] === true}\n`,
      );
    } else if (isJsonObject(configMap)) {
      w.write(
        LEVEL_2,
        `Type:\tConfigMap (a volume populated by a ConfigMap)\n    Name:\t${v(configMap['name'])}\n    Optional:\t${configMap['optional'] === true}\n`,
      );
    } else if (isJsonObject(pvc)) {
      w.write(
        LEVEL_2,
        `Type:\tPersistentVolumeClaim (a reference to a PersistentVolumeClaim in the same namespace)\n    ClaimName:\t${v(pvc['claimName'])}\n    ReadOnly:\t${pvc['readOnly'] === true}\n`,
      );
    } else {
      w.write(LEVEL_1, '<unknown>\n');
    }
  }
}

/** `qos.GetPodQOS`: the status field when set, else computed from the containers' cpu/memory. */
export function qosClass(pod: JsonObject): string {
  const set = str(at(pod, 'status', 'qosClass'));
  if (set !== undefined && set !== '') return set;
  const containers = [...arr(at(pod, 'spec', 'containers')), ...arr(at(pod, 'spec', 'initContainers'))];
  let any = false;
  let guaranteed = containers.length > 0;
  for (const c of containers) {
    const limits = rec(at(c, 'resources', 'limits')) ?? {};
    const requests = rec(at(c, 'resources', 'requests')) ?? {};
    for (const r of ['cpu', 'memory']) {
      const l = toMilliValue(limits[r]) ?? 0;
      const q = requests[r] === undefined ? l : (toMilliValue(requests[r]) ?? 0);
      if (l > 0 || q > 0) any = true;
      if (l === 0 || q !== l) guaranteed = false;
    }
  }
  if (!any) return 'BestEffort';
  return guaranteed ? 'Guaranteed' : 'Burstable';
}

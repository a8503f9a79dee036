/**
 * Pod and pod-template validation (pkg/apis/core/validation/validation.go: ValidatePodSpec,
 * validateContainers, ValidateVolumes, ValidateResourceRequirements, probes, tolerations,
 * ValidatePodUpdate), with Kubernetes' field paths and messages. Input is expected to be defaulted
 * (api/defaults), as in Kubernetes, where validation always runs after defaulting.
 *
 * Not covered (accepted as-is): affinity, topology spread, security contexts, DNS config, host
 * aliases, resource claims, ephemeral containers, OS-specific rules.
 */

import type { StatusCause } from '../status.js';
import {
  duplicate,
  forbiddenField,
  formatBadValue,
  goQuote,
  goSyntax,
  invalidValue,
  notFoundField,
  notSupported,
  required,
} from '../status.js';
import { goIntOrString } from './go-values.js';
import {
  asArray,
  asNumber,
  asObject,
  asString,
  jsonEqual,
  semanticEqual,
  type JsonObject,
} from './json-access.js';
import {
  isConfigMapKey,
  isDNS1123Label,
  isDNS1123Subdomain,
  isHTTPHeaderName,
  isQualifiedName,
  isRelaxedEnvVarName,
  isValidLabelValue,
  isValidPortName,
  isValidPortNum,
  inclusiveRangeError,
} from './names.js';
import {
  isNegativeErrorMsg,
  validateAnnotations,
  validateLabelName,
  validateLabels,
  validateNonnegative,
} from './object-meta.js';
import { compareQuantities, isNegative, parseQuantity, type Quantity } from './quantity.js';

const supportedPortProtocols = ['SCTP', 'TCP', 'UDP'];
const maxInt32 = 2147483647;

function dns1123Label(value: string, path: string): StatusCause[] {
  return isDNS1123Label(value).map((msg) => invalidValue(path, value, msg));
}

/** ValidatePortNumOrName for an IntOrString port. */
export function validatePortNumOrName(port: unknown, path: string): StatusCause[] {
  if (typeof port === 'number') return isValidPortNum(port).map((msg) => invalidValue(path, port, msg));
  if (typeof port === 'string') return isValidPortName(port).map((msg) => invalidValue(path, port, msg));
  return [invalidValue(path, goIntOrString(port), "must be an integer or percentage (e.g '5%')")];
}

/** Validates the protocol of a port: required, and TCP/UDP/SCTP. */
export function validateProtocol(protocol: unknown, path: string): StatusCause[] {
  const p = asString(protocol);
  if (p === '') return [required(path)];
  return supportedPortProtocols.includes(p) ? [] : [notSupported(path, p, supportedPortProtocols)];
}

// ---------------------------------------------------------------------------------------------------
// Volumes

const volumeSourceOrder = [
  'emptyDir',
  'hostPath',
  'gitRepo',
  'gcePersistentDisk',
  'awsElasticBlockStore',
  'secret',
  'nfs',
  'iscsi',
  'glusterfs',
  'flocker',
  'persistentVolumeClaim',
  'rbd',
  'quobyte',
  'cephfs',
  'cinder',
  'downwardAPI',
  'fc',
  'flexVolume',
  'configMap',
  'azureFile',
  'vsphereVolume',
  'photonPersistentDisk',
  'portworxVolume',
  'azureDisk',
  'storageos',
  'projected',
  'scaleIO',
  'csi',
  'ephemeral',
  'image',
];

const fileModeErrorMsg = 'must be a number between 0 and 0777 (octal), both inclusive';
const hostPathTypes = [
  '',
  'BlockDevice',
  'CharDevice',
  'Directory',
  'DirectoryOrCreate',
  'File',
  'FileOrCreate',
  'Socket',
];

function validateMode(mode: unknown, path: string): StatusCause[] {
  const m = asNumber(mode);
  return m !== undefined && (m > 0o777 || m < 0) ? [invalidValue(path, m, fileModeErrorMsg)] : [];
}

function validatePathNoBacksteps(p: string, path: string): StatusCause[] {
  return p.split(/[\\/]/).includes('..') ? [invalidValue(path, p, "must not contain '..'")] : [];
}

function validateLocalDescendingPath(p: string, path: string): StatusCause[] {
  const causes: StatusCause[] = [];
  if (p.startsWith('/')) causes.push(invalidValue(path, p, 'must be a relative path'));
  causes.push(...validatePathNoBacksteps(p, path));
  return causes;
}

function validateKeyToPaths(items: unknown, path: string): StatusCause[] {
  const causes: StatusCause[] = [];
  asArray(items).forEach((it, i) => {
    const item = asObject(it) ?? {};
    const ip = `${path}[${i}]`;
    if (asString(item['key']) === '') causes.push(required(`${ip}.key`));
    const p = asString(item['path']);
    if (p === '') causes.push(required(`${ip}.path`));
    else {
      causes.push(...validateLocalDescendingPath(p, `${ip}.path`));
      if (p.split('/')[0]?.startsWith('..'))
        causes.push(invalidValue(`${ip}.path`, p, "must not start with '..'"));
    }
    causes.push(...validateMode(item['mode'], `${ip}.mode`));
  });
  return causes;
}

function validateVolumeSource(vol: JsonObject, path: string): StatusCause[] {
  const causes: StatusCause[] = [];
  let count = 0;
  for (const source of volumeSourceOrder) {
    const value = vol[source];
    if (value === undefined || value === null) continue;
    if (count > 0) {
      causes.push(forbiddenField(`${path}.${source}`, 'may not specify more than 1 volume type'));
      continue;
    }
    count++;
    const src = asObject(value) ?? {};
    const sp = `${path}.${source}`;
    switch (source) {
      case 'emptyDir': {
        const limit = src['sizeLimit'];
        if (limit !== undefined) {
          const q = parseQuantity(limit);
          if (!q.ok) causes.push(invalidValue(`${sp}.sizeLimit`, limit, q.error));
          else if (isNegative(q.quantity))
            causes.push(
              forbiddenField(`${sp}.sizeLimit`, 'SizeLimit field must be a valid resource quantity'),
            );
        }
        const medium = asString(src['medium']);
        if (!['', 'Memory', 'HugePages'].includes(medium) && !medium.startsWith('HugePages-')) {
          causes.push(notSupported(`${sp}.medium`, medium, ['', 'Memory', 'HugePages']));
        }
        break;
      }
      case 'hostPath': {
        const p = asString(src['path']);
        if (p === '') {
          causes.push(required(`${sp}.path`));
          break;
        }
        causes.push(...validatePathNoBacksteps(p, `${sp}.path`));
        const t = asString(src['type']);
        if (!hostPathTypes.includes(t)) causes.push(notSupported(`${sp}.type`, t, hostPathTypes));
        break;
      }
      case 'secret':
        if (asString(src['secretName']) === '') causes.push(required(`${sp}.secretName`));
        causes.push(...validateMode(src['defaultMode'], `${sp}.defaultMode`));
        causes.push(...validateKeyToPaths(src['items'], `${sp}.items`));
        break;
      case 'configMap':
        if (asString(src['name']) === '') causes.push(required(`${sp}.name`));
        causes.push(...validateMode(src['defaultMode'], `${sp}.defaultMode`));
        causes.push(...validateKeyToPaths(src['items'], `${sp}.items`));
        break;
      case 'persistentVolumeClaim':
        if (asString(src['claimName']) === '') causes.push(required(`${sp}.claimName`));
        break;
      case 'nfs': {
        if (asString(src['server']) === '') causes.push(required(`${sp}.server`));
        const p = asString(src['path']);
        if (p === '') causes.push(required(`${sp}.path`));
        else if (!p.startsWith('/')) causes.push(invalidValue(`${sp}.path`, p, 'must be an absolute path'));
        break;
      }
      case 'downwardAPI':
      case 'projected':
        causes.push(...validateMode(src['defaultMode'], `${sp}.defaultMode`));
        break;
      default:
        break;
    }
  }
  if (count === 0) causes.push(required(path, 'must specify a volume type'));
  return causes;
}

/** ValidateVolumes: returns the causes and the names of the volumes that validated. */
export function validateVolumes(
  volumes: unknown,
  path: string,
): { causes: StatusCause[]; names: Set<string> } {
  const causes: StatusCause[] = [];
  const names = new Set<string>();
  asArray(volumes).forEach((v, i) => {
    const vol = asObject(v) ?? {};
    const ip = `${path}[${i}]`;
    const name = asString(vol['name']);
    const el = validateVolumeSource(vol, ip);
    if (name === '') el.push(required(`${ip}.name`));
    else el.push(...dns1123Label(name, `${ip}.name`));
    if (names.has(name)) el.push(duplicate(`${ip}.name`, name));
    if (el.length === 0) names.add(name);
    else causes.push(...el);
  });
  return { causes, names };
}

function validateVolumeMounts(mounts: unknown, volumes: Set<string>, path: string): StatusCause[] {
  const causes: StatusCause[] = [];
  const mountPoints = new Set<string>();
  asArray(mounts).forEach((m, i) => {
    const mnt = asObject(m) ?? {};
    const ip = `${path}[${i}]`;
    const name = asString(mnt['name']);
    if (name === '') causes.push(required(`${ip}.name`));
    if (!volumes.has(name)) causes.push(notFoundField(`${ip}.name`, name));
    const mountPath = asString(mnt['mountPath']);
    if (mountPath === '') causes.push(required(`${ip}.mountPath`));
    if (mountPoints.has(mountPath)) causes.push(invalidValue(`${ip}.mountPath`, mountPath, 'must be unique'));
    mountPoints.add(mountPath);
    // Kubernetes reports subPath errors on the list path, not the item.
    const subPath = asString(mnt['subPath']);
    if (subPath !== '') causes.push(...validateLocalDescendingPath(subPath, `${path}.subPath`));
    const propagation = mnt['mountPropagation'];
    if (propagation !== undefined && propagation !== null) {
      const valid = ['Bidirectional', 'HostToContainer', 'None'];
      const p = asString(propagation);
      if (!valid.includes(p)) causes.push(notSupported(`${ip}.mountPropagation`, p, valid));
    }
  });
  return causes;
}

// ---------------------------------------------------------------------------------------------------
// Containers

function validateContainerPorts(ports: unknown, path: string): StatusCause[] {
  const causes: StatusCause[] = [];
  const names = new Set<string>();
  asArray(ports).forEach((p, i) => {
    const port = asObject(p) ?? {};
    const ip = `${path}[${i}]`;
    const name = asString(port['name']);
    if (name !== '') {
      const msgs = isValidPortName(name);
      if (msgs.length > 0) for (const msg of msgs) causes.push(invalidValue(`${ip}.name`, name, msg));
      else if (names.has(name)) causes.push(duplicate(`${ip}.name`, name));
      else names.add(name);
    }
    const containerPort = asNumber(port['containerPort']) ?? 0;
    if (containerPort === 0) causes.push(required(`${ip}.containerPort`));
    else
      for (const msg of isValidPortNum(containerPort))
        causes.push(invalidValue(`${ip}.containerPort`, containerPort, msg));
    const hostPort = asNumber(port['hostPort']) ?? 0;
    if (hostPort !== 0)
      for (const msg of isValidPortNum(hostPort)) causes.push(invalidValue(`${ip}.hostPort`, hostPort, msg));
    causes.push(...validateProtocol(port['protocol'], `${ip}.protocol`));
  });
  return causes;
}

const envFieldPaths = [
  'metadata.name',
  'metadata.namespace',
  'metadata.uid',
  'spec.nodeName',
  'spec.serviceAccountName',
  'status.hostIP',
  'status.hostIPs',
  'status.podIP',
  'status.podIPs',
];
const downwardConvertible = new Set([
  ...envFieldPaths,
  'metadata.annotations',
  'metadata.labels',
  'spec.restartPolicy',
  'spec.schedulerName',
  'status.phase',
]);
const resourceFieldRefs = [
  'limits.cpu',
  'limits.ephemeral-storage',
  'limits.memory',
  'requests.cpu',
  'requests.ephemeral-storage',
  'requests.memory',
];

function validateObjectFieldSelector(ref: JsonObject, path: string): StatusCause[] {
  const apiVersion = asString(ref['apiVersion']);
  if (apiVersion === '') return [required(`${path}.apiVersion`)];
  const fieldPath = asString(ref['fieldPath']);
  if (fieldPath === '') return [required(`${path}.fieldPath`)];
  if (apiVersion !== 'v1') {
    return [
      invalidValue(
        `${path}.fieldPath`,
        fieldPath,
        `error converting fieldPath: unsupported pod version: ${apiVersion}`,
      ),
    ];
  }
  const sub = /^([^[]+)\[(.*)\]$/.exec(fieldPath);
  if (sub !== null) {
    const base = sub[1] ?? '';
    const key = (sub[2] ?? '').replace(/^'(.*)'$/, '$1');
    if (base === 'metadata.annotations')
      return isQualifiedName(key.toLowerCase()).map((m) => invalidValue(path, key.toLowerCase(), m));
    if (base === 'metadata.labels') return isQualifiedName(key).map((m) => invalidValue(path, key, m));
    if (!downwardConvertible.has(base)) {
      return [
        invalidValue(
          `${path}.fieldPath`,
          fieldPath,
          `error converting fieldPath: field label not supported: ${base}`,
        ),
      ];
    }
    return [invalidValue(path, base, 'does not support subscript')];
  }
  if (!downwardConvertible.has(fieldPath)) {
    return [
      invalidValue(
        `${path}.fieldPath`,
        fieldPath,
        `error converting fieldPath: field label not supported: ${fieldPath}`,
      ),
    ];
  }
  return envFieldPaths.includes(fieldPath)
    ? []
    : [notSupported(`${path}.fieldPath`, fieldPath, envFieldPaths)];
}

function validateKeySelector(ref: JsonObject, path: string): StatusCause[] {
  const causes: StatusCause[] = [];
  const name = asString(ref['name']);
  for (const msg of isDNS1123Subdomain(name)) causes.push(invalidValue(`${path}.name`, name, msg));
  const key = asString(ref['key']);
  if (key === '') causes.push(required(`${path}.key`));
  else for (const msg of isConfigMapKey(key)) causes.push(invalidValue(`${path}.key`, key, msg));
  return causes;
}

function validateEnv(env: unknown, path: string): StatusCause[] {
  const causes: StatusCause[] = [];
  asArray(env).forEach((e, i) => {
    const ev = asObject(e) ?? {};
    const ip = `${path}[${i}]`;
    const name = asString(ev['name']);
    if (name === '') causes.push(required(`${ip}.name`));
    for (const msg of isRelaxedEnvVarName(name)) causes.push(invalidValue(`${ip}.name`, name, msg));
    const valueFrom = asObject(ev['valueFrom']);
    if (valueFrom === undefined) return;
    const vp = `${ip}.valueFrom`;
    let sources = 0;
    const fieldRef = asObject(valueFrom['fieldRef']);
    if (fieldRef !== undefined) {
      sources++;
      causes.push(...validateObjectFieldSelector(fieldRef, `${vp}.fieldRef`));
    }
    const resourceFieldRef = asObject(valueFrom['resourceFieldRef']);
    if (resourceFieldRef !== undefined) {
      sources++;
      const resource = asString(resourceFieldRef['resource']);
      if (resource === '') causes.push(required(`${vp}.resourceFieldRef.resource`));
      else if (!resourceFieldRefs.includes(resource) && !/^(limits|requests)\.hugepages-/.test(resource)) {
        causes.push(notSupported(`${vp}.resourceFieldRef.resource`, resource, resourceFieldRefs));
      }
    }
    for (const key of ['configMapKeyRef', 'secretKeyRef']) {
      const ref = asObject(valueFrom[key]);
      if (ref === undefined) continue;
      sources++;
      causes.push(...validateKeySelector(ref, `${vp}.${key}`));
    }
    if (sources === 0) {
      causes.push(
        invalidValue(
          vp,
          '',
          'must specify one of: `fieldRef`, `resourceFieldRef`, `configMapKeyRef` or `secretKeyRef`',
        ),
      );
    } else if (asString(ev['value']) !== '') {
      causes.push(invalidValue(vp, '', 'may not be specified when `value` is not empty'));
    } else if (sources > 1) {
      causes.push(invalidValue(vp, '', 'may not have more than one field specified at a time'));
    }
  });
  return causes;
}

function validateEnvFrom(envFrom: unknown, path: string): StatusCause[] {
  const causes: StatusCause[] = [];
  asArray(envFrom).forEach((e, i) => {
    const ev = asObject(e) ?? {};
    const ip = `${path}[${i}]`;
    const prefix = asString(ev['prefix']);
    if (prefix !== '')
      for (const msg of isRelaxedEnvVarName(prefix)) causes.push(invalidValue(`${ip}.prefix`, prefix, msg));
    let sources = 0;
    for (const key of ['configMapRef', 'secretRef']) {
      const ref = asObject(ev[key]);
      if (ref === undefined) continue;
      sources++;
      const name = asString(ref['name']);
      if (name === '') causes.push(required(`${ip}.${key}.name`));
      else
        for (const msg of isDNS1123Subdomain(name)) causes.push(invalidValue(`${ip}.${key}.name`, name, msg));
    }
    if (sources === 0)
      causes.push(invalidValue(ip, '', 'must specify one of: `configMapRef` or `secretRef`'));
    else if (sources > 1)
      causes.push(invalidValue(ip, '', 'may not have more than one field specified at a time'));
  });
  return causes;
}

const standardContainerResources = new Set(['cpu', 'memory', 'ephemeral-storage']);
const standardResources = new Set([
  'cpu',
  'memory',
  'ephemeral-storage',
  'pods',
  'services',
  'replicationcontrollers',
  'resourcequotas',
  'secrets',
  'configmaps',
  'persistentvolumeclaims',
  'storage',
  'requests.cpu',
  'requests.memory',
  'requests.storage',
  'requests.ephemeral-storage',
  'limits.cpu',
  'limits.memory',
  'limits.ephemeral-storage',
  'services.nodeports',
  'services.loadbalancers',
]);

const isHugePages = (name: string): boolean => name.startsWith('hugepages-');
const isNative = (name: string): boolean => !name.includes('/') || name.includes('kubernetes.io/');
const isExtended = (name: string): boolean =>
  !isNative(name) && !name.startsWith('requests.') && isQualifiedName(`requests.${name}`).length === 0;
const overcommitAllowed = (name: string): boolean => isNative(name) && !isHugePages(name);

function validateContainerResourceName(name: string, path: string): StatusCause[] {
  const causes = isQualifiedName(name).map((msg) => invalidValue(path, name, msg));
  if (causes.length > 0) return causes;
  if (!name.includes('/')) {
    if (!standardResources.has(name) && !isHugePages(name)) {
      causes.push(invalidValue(path, name, 'must be a standard resource type or fully qualified'));
    }
    if (!standardContainerResources.has(name) && !isHugePages(name)) {
      causes.push(invalidValue(path, name, 'must be a standard resource for containers'));
    }
  } else if (!isNative(name) && !isExtended(name)) {
    causes.push(invalidValue(path, name, "doesn't follow extended resource name standard"));
  }
  return causes;
}

function parseResourceList(list: unknown, path: string, causes: StatusCause[]): Map<string, Quantity> {
  const out = new Map<string, Quantity>();
  const o = asObject(list);
  if (o === undefined) return out;
  for (const [name, raw] of Object.entries(o)) {
    const p = `${path}[${name}]`;
    causes.push(...validateContainerResourceName(name, p));
    const r = parseQuantity(raw);
    if (!r.ok) {
      causes.push(invalidValue(p, raw, r.error));
      continue;
    }
    const q = r.quantity;
    if (isNegative(q)) causes.push(invalidValue(p, q.canonical, isNegativeErrorMsg));
    if (isExtended(name) && q.milliValue % 1000 !== 0)
      causes.push(invalidValue(p, goSyntax(q.canonical), 'must be an integer'));
    out.set(name, q);
  }
  return out;
}

/** ValidateResourceRequirements: names, quantities, requests ≤ limits (= for non-overcommitable). */
export function validateResources(resources: unknown, path: string): StatusCause[] {
  const res = asObject(resources) ?? {};
  const causes: StatusCause[] = [];
  const limPath = `${path}.limits`;
  const reqPath = `${path}.requests`;
  const limits = parseResourceList(res['limits'], limPath, causes);
  const requests = parseResourceList(res['requests'], reqPath, causes);
  for (const [name, q] of requests) {
    const limit = limits.get(name);
    if (limit !== undefined) {
      const cmp = compareQuantities(q, limit);
      if (cmp !== 0 && !overcommitAllowed(name)) {
        causes.push(
          invalidValue(reqPath, q.canonical, `must be equal to ${name} limit of ${limit.canonical}`),
        );
      } else if (cmp > 0) {
        causes.push(
          invalidValue(
            reqPath,
            q.canonical,
            `must be less than or equal to ${name} limit of ${limit.canonical}`,
          ),
        );
      }
    } else if (!overcommitAllowed(name)) {
      causes.push(required(limPath, 'Limit must be set for non overcommitable resources'));
    }
  }
  return causes;
}

function validatePullPolicy(policy: unknown, path: string): StatusCause[] {
  const p = asString(policy);
  const valid = ['Always', 'IfNotPresent', 'Never'];
  if (p === '') return [required(path)];
  return valid.includes(p) ? [] : [notSupported(path, p, valid)];
}

function validateHandler(handler: JsonObject, path: string): StatusCause[] {
  const causes: StatusCause[] = [];
  let count = 0;
  const exec = asObject(handler['exec']);
  if (exec !== undefined) {
    count++;
    if (asArray(exec['command']).length === 0) causes.push(required(`${path}.exec.command`));
  }
  const httpGet = asObject(handler['httpGet']);
  if (httpGet !== undefined) {
    if (count > 0) causes.push(forbiddenField(`${path}.httpGet`, 'may not specify more than 1 handler type'));
    else {
      count++;
      const hp = `${path}.httpGet`;
      if (asString(httpGet['path']) === '') causes.push(required(`${hp}.path`));
      causes.push(...validatePortNumOrName(httpGet['port'], `${hp}.port`));
      const scheme = asString(httpGet['scheme']);
      if (scheme !== 'HTTP' && scheme !== 'HTTPS')
        causes.push(notSupported(`${hp}.scheme`, scheme, ['HTTP', 'HTTPS']));
      asArray(httpGet['httpHeaders']).forEach((h, i) => {
        const name = asString(asObject(h)?.['name']);
        for (const msg of isHTTPHeaderName(name))
          causes.push(invalidValue(`${hp}.httpHeaders[${i}].name`, name, msg));
      });
    }
  }
  const tcp = asObject(handler['tcpSocket']);
  if (tcp !== undefined) {
    if (count > 0)
      causes.push(forbiddenField(`${path}.tcpSocket`, 'may not specify more than 1 handler type'));
    else {
      count++;
      causes.push(...validatePortNumOrName(tcp['port'], `${path}.tcpSocket.port`));
    }
  }
  const grpc = asObject(handler['grpc']);
  if (grpc !== undefined) {
    if (count > 0) causes.push(forbiddenField(`${path}.grpc`, 'may not specify more than 1 handler type'));
    else {
      count++;
      const port = asNumber(grpc['port']) ?? 0;
      for (const msg of isValidPortNum(port)) causes.push(invalidValue(`${path}.grpc.port`, port, msg));
    }
  }
  const sleep = asObject(handler['sleep']);
  if (sleep !== undefined) {
    if (count > 0) causes.push(forbiddenField(`${path}.sleep`, 'may not specify more than 1 handler type'));
    else count++;
  }
  if (count === 0) causes.push(required(path, 'must specify a handler type'));
  return causes;
}

function validateProbe(
  probeValue: unknown,
  path: string,
  kind: 'liveness' | 'readiness' | 'startup',
): StatusCause[] {
  const probe = asObject(probeValue);
  if (probe === undefined) return [];
  const causes = validateHandler(probe, path);
  for (const f of [
    'initialDelaySeconds',
    'timeoutSeconds',
    'periodSeconds',
    'successThreshold',
    'failureThreshold',
  ]) {
    causes.push(...validateNonnegative(probe[f], `${path}.${f}`));
  }
  const tgp = asNumber(probe['terminationGracePeriodSeconds']);
  if (tgp !== undefined && tgp <= 0)
    causes.push(invalidValue(`${path}.terminationGracePeriodSeconds`, tgp, 'must be greater than 0'));
  const success = asNumber(probe['successThreshold']);
  if (kind !== 'readiness' && success !== undefined && success !== 1) {
    causes.push(invalidValue(`${path}.successThreshold`, success, 'must be 1'));
  }
  if (kind === 'readiness' && probe['terminationGracePeriodSeconds'] != null) {
    causes.push(
      forbiddenField(`${path}.terminationGracePeriodSeconds`, 'must not be set for readinessProbes'),
    );
  }
  return causes;
}

function validateLifecycle(lifecycle: JsonObject, path: string): StatusCause[] {
  const causes: StatusCause[] = [];
  for (const h of ['postStart', 'preStop']) {
    const handler = asObject(lifecycle[h]);
    if (handler !== undefined) causes.push(...validateHandler(handler, `${path}.${h}`));
  }
  return causes;
}

function validateContainerCommon(c: JsonObject, volumes: Set<string>, path: string): StatusCause[] {
  const causes: StatusCause[] = [];
  const name = asString(c['name']);
  if (name === '') causes.push(required(`${path}.name`));
  else causes.push(...dns1123Label(name, `${path}.name`));
  if (asString(c['image']) === '') causes.push(required(`${path}.image`));
  const tmp = asString(c['terminationMessagePolicy']);
  if (tmp === '') causes.push(required(`${path}.terminationMessagePolicy`));
  else if (tmp !== 'File' && tmp !== 'FallbackToLogsOnError') {
    causes.push(notSupported(`${path}.terminationMessagePolicy`, tmp, ['File', 'FallbackToLogsOnError']));
  }
  causes.push(...validateContainerPorts(c['ports'], `${path}.ports`));
  causes.push(...validateEnv(c['env'], `${path}.env`));
  causes.push(...validateEnvFrom(c['envFrom'], `${path}.envFrom`));
  causes.push(...validateVolumeMounts(c['volumeMounts'], volumes, `${path}.volumeMounts`));
  causes.push(...validatePullPolicy(c['imagePullPolicy'], `${path}.imagePullPolicy`));
  causes.push(...validateResources(c['resources'], `${path}.resources`));
  return causes;
}

function validateContainers(containers: unknown, volumes: Set<string>, path: string): StatusCause[] {
  const list = asArray(containers);
  const causes: StatusCause[] = [];
  if (list.length === 0) causes.push(required(path));
  const names = new Set<string>();
  list.forEach((x, i) => {
    const c = asObject(x) ?? {};
    const ip = `${path}[${i}]`;
    causes.push(...validateContainerCommon(c, volumes, ip));
    const name = asString(c['name']);
    if (names.has(name)) causes.push(duplicate(`${ip}.name`, name));
    else names.add(name);
    const lifecycle = asObject(c['lifecycle']);
    if (lifecycle !== undefined) causes.push(...validateLifecycle(lifecycle, `${ip}.lifecycle`));
    causes.push(...validateProbe(c['livenessProbe'], `${ip}.livenessProbe`, 'liveness'));
    causes.push(...validateProbe(c['readinessProbe'], `${ip}.readinessProbe`, 'readiness'));
    causes.push(...validateProbe(c['startupProbe'], `${ip}.startupProbe`, 'startup'));
    if (c['restartPolicy'] != null)
      causes.push(forbiddenField(`${ip}.restartPolicy`, 'may not be set for non-init containers'));
  });
  causes.push(...hostPortConflicts(list, path));
  return causes;
}

function validateInitContainers(
  init: unknown,
  containers: unknown,
  volumes: Set<string>,
  path: string,
): StatusCause[] {
  const causes: StatusCause[] = [];
  const names = new Set(asArray(containers).map((c) => asString(asObject(c)?.['name'])));
  const list = asArray(init);
  list.forEach((x, i) => {
    const c = asObject(x) ?? {};
    const ip = `${path}[${i}]`;
    causes.push(...validateContainerCommon(c, volumes, ip));
    let sidecar = false;
    if (c['restartPolicy'] != null) {
      const rp = asString(c['restartPolicy']);
      if (rp !== 'Always') causes.push(notSupported(`${ip}.restartPolicy`, rp, ['Always']));
      sidecar = rp === 'Always';
    }
    const name = asString(c['name']);
    if (names.has(name)) causes.push(duplicate(`${ip}.name`, name));
    else if (name !== '') names.add(name);
    if (sidecar) {
      const lifecycle = asObject(c['lifecycle']);
      if (lifecycle !== undefined) causes.push(...validateLifecycle(lifecycle, `${ip}.lifecycle`));
      causes.push(...validateProbe(c['livenessProbe'], `${ip}.livenessProbe`, 'liveness'));
      causes.push(...validateProbe(c['readinessProbe'], `${ip}.readinessProbe`, 'readiness'));
      causes.push(...validateProbe(c['startupProbe'], `${ip}.startupProbe`, 'startup'));
    } else {
      const msg = 'may not be set for init containers without restartPolicy=Always';
      if (c['lifecycle'] != null) causes.push(forbiddenField(`${ip}.lifecycle`, msg));
      if (c['livenessProbe'] != null) causes.push(forbiddenField(`${ip}.livenessProbe`, msg));
      if (c['readinessProbe'] != null)
        causes.push(forbiddenField(`${ip}.readinessProbe`, 'may not be set for init containers'));
      if (c['startupProbe'] != null) causes.push(forbiddenField(`${ip}.startupProbe`, msg));
    }
  });
  causes.push(...hostPortConflicts(list, path));
  return causes;
}

function hostPortConflicts(containers: unknown[], path: string): StatusCause[] {
  const causes: StatusCause[] = [];
  const seen = new Set<string>();
  containers.forEach((x, ci) => {
    asArray(asObject(x)?.['ports']).forEach((p, pi) => {
      const port = asObject(p) ?? {};
      const hostPort = asNumber(port['hostPort']) ?? 0;
      if (hostPort === 0) return;
      const key = `${asString(port['hostIP'])}/${asString(port['protocol'])}/${hostPort}`;
      if (seen.has(key)) causes.push(duplicate(`${path}[${ci}].ports[${pi}].hostPort`, key));
      else seen.add(key);
    });
  });
  return causes;
}

// ---------------------------------------------------------------------------------------------------
// Pod spec

const taintEffects = ['NoSchedule', 'PreferNoSchedule', 'NoExecute'];

function goToleration(tol: JsonObject): ReturnType<typeof goSyntax> {
  const secs = asNumber(tol['tolerationSeconds']);
  const q = (k: string): string => goQuote(asString(tol[k]));
  return goSyntax(
    `core.Toleration{Key:${q('key')}, Operator:${q('operator')}, Value:${q('value')}, Effect:${q('effect')}, TolerationSeconds:(*int64)(${secs === undefined ? 'nil' : String(secs)})}`,
  );
}

/** ValidateTolerations. */
export function validateTolerations(tolerations: unknown, path: string): StatusCause[] {
  const causes: StatusCause[] = [];
  asArray(tolerations).forEach((t, i) => {
    const tol = asObject(t) ?? {};
    const ip = `${path}[${i}]`;
    const key = asString(tol['key']);
    const op = asString(tol['operator']);
    const effect = asString(tol['effect']);
    const value = asString(tol['value']);
    if (key !== '') causes.push(...validateLabelName(key, `${ip}.key`));
    if (key === '' && op !== 'Exists') {
      causes.push(
        invalidValue(
          `${ip}.operator`,
          op,
          'operator must be Exists when `key` is empty, which means "match all values and all keys"',
        ),
      );
    }
    if (tol['tolerationSeconds'] != null && effect !== 'NoExecute') {
      causes.push(
        invalidValue(`${ip}.effect`, effect, "effect must be 'NoExecute' when `tolerationSeconds` is set"),
      );
    }
    if (op === 'Equal' || op === '') {
      const errs = isValidLabelValue(value);
      if (errs.length > 0) causes.push(invalidValue(`${ip}.operator`, value, errs.join(';')));
    } else if (op === 'Exists') {
      if (value !== '')
        causes.push(
          invalidValue(
            `${ip}.operator`,
            goToleration(tol),
            "value must be empty when `operator` is 'Exists'",
          ),
        );
    } else {
      causes.push(notSupported(`${ip}.operator`, op, ['Equal', 'Exists']));
    }
    if (effect !== '' && !taintEffects.includes(effect))
      causes.push(notSupported(`${ip}.effect`, effect, taintEffects));
  });
  return causes;
}

/** ValidatePodSpec (the parts listed in this file's header). */
export function validatePodSpec(specValue: unknown, path: string): StatusCause[] {
  const spec = asObject(specValue) ?? {};
  const { causes, names } = validateVolumes(spec['volumes'], `${path}.volumes`);
  causes.push(...validateContainers(spec['containers'], names, `${path}.containers`));
  causes.push(
    ...validateInitContainers(spec['initContainers'], spec['containers'], names, `${path}.initContainers`),
  );

  const restartPolicy = asString(spec['restartPolicy']);
  const restartPolicies = ['Always', 'OnFailure', 'Never'];
  if (restartPolicy === '') causes.push(required(`${path}.restartPolicy`));
  else if (!restartPolicies.includes(restartPolicy))
    causes.push(notSupported(`${path}.restartPolicy`, restartPolicy, restartPolicies));

  const dnsPolicy = asString(spec['dnsPolicy']);
  const dnsPolicies = ['ClusterFirstWithHostNet', 'ClusterFirst', 'Default', 'None'];
  if (dnsPolicy === '') causes.push(required(`${path}.dnsPolicy`));
  else if (!dnsPolicies.includes(dnsPolicy))
    causes.push(notSupported(`${path}.dnsPolicy`, dnsPolicy, dnsPolicies));

  causes.push(...validateLabels(spec['nodeSelector'], `${path}.nodeSelector`));

  for (const f of ['serviceAccountName', 'nodeName']) {
    const v = asString(spec[f]);
    if (v !== '') for (const msg of isDNS1123Subdomain(v)) causes.push(invalidValue(`${path}.${f}`, v, msg));
  }
  const ads = asNumber(spec['activeDeadlineSeconds']);
  if (ads !== undefined && (ads < 1 || ads > maxInt32)) {
    causes.push(invalidValue(`${path}.activeDeadlineSeconds`, ads, inclusiveRangeError(1, maxInt32)));
  }
  for (const f of ['hostname', 'subdomain']) {
    const v = asString(spec[f]);
    if (v !== '') causes.push(...dns1123Label(v, `${path}.${f}`));
  }
  causes.push(...validateTolerations(spec['tolerations'], `${path}.tolerations`));
  const pcn = asString(spec['priorityClassName']);
  if (pcn !== '')
    for (const msg of isDNS1123Subdomain(pcn))
      causes.push(invalidValue(`${path}.priorityClassName`, pcn, msg));
  return causes;
}

/**
 * ValidatePodTemplateSpec: template labels (reported at `<path>.labels`, as Kubernetes does),
 * annotations and the pod spec.
 */
export function validatePodTemplateSpec(templateValue: unknown, path: string): StatusCause[] {
  const template = asObject(templateValue) ?? {};
  const meta = asObject(template['metadata']) ?? {};
  const causes = validateLabels(meta['labels'], `${path}.labels`);
  causes.push(...validateAnnotations(meta['annotations'], `${path}.annotations`));
  causes.push(...validatePodSpec(template['spec'], `${path}.spec`));
  const spec = asObject(template['spec']) ?? {};
  if (asArray(spec['ephemeralContainers']).length > 0) {
    causes.push(
      forbiddenField(`${path}.spec.ephemeralContainers`, 'ephemeral containers not allowed in pod template'),
    );
  }
  return causes;
}

/** The Pod-specific checks beyond its metadata. */
export function validatePod(pod: JsonObject): StatusCause[] {
  return validatePodSpec(pod['spec'], 'spec');
}

// ---------------------------------------------------------------------------------------------------
// Pod update

/** The head of Kubernetes' message for a forbidden pod spec change. */
export const podUpdateForbiddenMsg =
  'pod updates may not change fields other than `spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)';

function validateContainerImageUpdates(
  newList: unknown[],
  oldList: unknown[],
  path: string,
): { causes: StatusCause[]; stop: boolean } {
  if (newList.length !== oldList.length) {
    return { causes: [forbiddenField(path, 'pod updates may not add or remove containers')], stop: true };
  }
  const causes: StatusCause[] = [];
  newList.forEach((c, i) => {
    const image = asString(asObject(c)?.['image']);
    if (image === '') causes.push(required(`${path}[${i}].image`));
    if (image.trim() !== image)
      causes.push(invalidValue(`${path}[${i}].image`, image, 'must not have leading or trailing whitespace'));
  });
  return { causes, stop: false };
}

/**
 * ValidatePodUpdate's spec rules: only container/initContainer images, activeDeadlineSeconds (only
 * down, never unset), tolerations (additions, or tolerationSeconds changes) and a negative grace
 * period set to 1 may change. Any other difference is one Forbidden cause on `spec` whose message
 * is Kubernetes' followed by a diff of the changed fields.
 */
export function validatePodUpdate(pod: JsonObject, old: JsonObject): StatusCause[] {
  const spec = asObject(pod['spec']) ?? {};
  const oldSpec = asObject(old['spec']) ?? {};
  const causes: StatusCause[] = [];
  for (const f of ['containers', 'initContainers']) {
    const r = validateContainerImageUpdates(asArray(spec[f]), asArray(oldSpec[f]), `spec.${f}`);
    causes.push(...r.causes);
    if (r.stop) return causes;
  }
  const ads = spec['activeDeadlineSeconds'];
  const oldAds = oldSpec['activeDeadlineSeconds'];
  if (ads != null) {
    const n = asNumber(ads) ?? 0;
    if (n < 0 || n > maxInt32) {
      causes.push(invalidValue('spec.activeDeadlineSeconds', n, inclusiveRangeError(0, maxInt32)));
      return causes;
    }
    const o = asNumber(oldAds);
    if (o !== undefined && o < n) {
      causes.push(
        invalidValue('spec.activeDeadlineSeconds', n, 'must be less than or equal to previous value'),
      );
      return causes;
    }
  } else if (oldAds != null) {
    causes.push(
      invalidValue(
        'spec.activeDeadlineSeconds',
        null,
        'must not update from a positive integer to nil value',
      ),
    );
  }

  // Tolerations: each old one must still be there (tolerationSeconds may differ).
  const newTols = asArray(spec['tolerations']);
  for (const t of asArray(oldSpec['tolerations'])) {
    const found = newTols.some((n) => {
      const a = { ...(asObject(t) ?? {}) };
      const b = { ...(asObject(n) ?? {}) };
      delete a['tolerationSeconds'];
      delete b['tolerationSeconds'];
      return jsonEqual(a, b);
    });
    if (!found) {
      causes.push(
        forbiddenField(
          'spec.tolerations',
          'existing toleration can not be modified except its tolerationSeconds',
        ),
      );
      break;
    }
  }

  // Munge the allowed fields back to the old values; anything still different is forbidden.
  const munged: JsonObject = structuredClone(spec);
  for (const f of ['containers', 'initContainers']) {
    const oldList = asArray(oldSpec[f]);
    asArray(munged[f]).forEach((c, i) => {
      const mc = asObject(c);
      if (mc !== undefined) mc['image'] = asObject(oldList[i])?.['image'];
    });
  }
  munged['activeDeadlineSeconds'] = oldSpec['activeDeadlineSeconds'];
  munged['tolerations'] = oldSpec['tolerations'];
  munged['schedulingGates'] = oldSpec['schedulingGates'];
  const oldGrace = asNumber(oldSpec['terminationGracePeriodSeconds']);
  if (oldGrace !== undefined && oldGrace < 0 && munged['terminationGracePeriodSeconds'] === 1) {
    munged['terminationGracePeriodSeconds'] = oldGrace;
  }
  if (!semanticEqual(munged, oldSpec)) {
    causes.push(forbiddenField('spec', `${podUpdateForbiddenMsg}\n${specDiff(oldSpec, munged)}`));
  }
  return causes;
}

/**
 * A readable diff in the spirit of the cmp.Diff Kubernetes appends: one `-`/`+` pair per changed
 * leaf, as `path: value`.
 */
export function specDiff(oldSpec: unknown, newSpec: unknown): string {
  const lines: string[] = ['  core.PodSpec{'];
  const walk = (a: unknown, b: unknown, path: string): void => {
    if (semanticEqual(a, b)) return;
    const oa = asObject(a);
    const ob = asObject(b);
    if (oa !== undefined && ob !== undefined) {
      for (const k of [...new Set([...Object.keys(oa), ...Object.keys(ob)])].sort()) {
        walk(oa[k], ob[k], path === '' ? k : `${path}.${k}`);
      }
      return;
    }
    if (Array.isArray(a) && Array.isArray(b) && a.length === b.length) {
      a.forEach((x, i) => {
        walk(x, b[i], `${path}[${i}]`);
      });
      return;
    }
    if (a !== undefined) lines.push(`- \t${path}: ${formatBadValue(a)},`);
    if (b !== undefined) lines.push(`+ \t${path}: ${formatBadValue(b)},`);
  };
  walk(oldSpec, newSpec, '');
  lines.push('  }');
  return lines.join('\n');
}

/**
 * Validation of core/v1 ConfigMap, Secret, Namespace, Node, Event and Endpoints
 * (pkg/apis/core/validation), create and update, minus metadata (object-meta.ts does that).
 */

import { Buffer } from 'node:buffer';

import type { StatusCause } from '../status.js';
import {
  duplicate,
  forbiddenField,
  goQuote,
  goSyntax,
  invalidValue,
  notSupported,
  required,
  tooLong,
} from '../status.js';
import { asArray, asNumber, asObject, asString, jsonEqual, type JsonObject } from './json-access.js';
import {
  byteLength,
  isConfigMapKey,
  isDNS1123Label,
  isDNS1123Subdomain,
  isQualifiedName,
  isValidCIDR,
  isValidIP,
  isValidLabelValue,
  isValidPortNum,
} from './names.js';
import { fieldImmutableErrorMsg, validateFinalizerName, validateLabelName } from './object-meta.js';
import { validateProtocol } from './pod.js';
import { isNegative, parseQuantity } from './quantity.js';

/** Largest total size of a ConfigMap's or Secret's data (MaxSecretSize, 1 MiB). */
export const maxDataSize = 1024 * 1024;

// Secret data and ConfigMap binaryData are base64 in JSON; Kubernetes counts decoded bytes.
function base64Size(value: unknown, path: string, causes: StatusCause[]): number {
  const s = asString(value);
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(s) || s.length % 4 === 1) {
    causes.push(invalidValue(path, '<value omitted>', 'illegal base64 data'));
    return 0;
  }
  return Buffer.from(s, 'base64').length;
}

/** ValidateConfigMap. */
export function validateConfigMap(cm: JsonObject): StatusCause[] {
  const causes: StatusCause[] = [];
  const data = asObject(cm['data']) ?? {};
  const binary = asObject(cm['binaryData']) ?? {};
  let total = 0;
  for (const [key, value] of Object.entries(data)) {
    for (const msg of isConfigMapKey(key)) causes.push(invalidValue(`data[${key}]`, key, msg));
    if (Object.hasOwn(binary, key))
      causes.push(invalidValue(`data[${key}]`, key, 'duplicate of key present in binaryData'));
    total += byteLength(asString(value));
  }
  for (const [key, value] of Object.entries(binary)) {
    for (const msg of isConfigMapKey(key)) causes.push(invalidValue(`binaryData[${key}]`, key, msg));
    total += base64Size(value, `binaryData[${key}]`, causes);
  }
  // Kubernetes reports the size error against the whole object: an empty field path.
  if (total > maxDataSize) causes.push(tooLong('', '', maxDataSize));
  return causes;
}

function immutableDataRules(obj: JsonObject, old: JsonObject, fields: string[]): StatusCause[] {
  if (old['immutable'] !== true) return [];
  const causes: StatusCause[] = [];
  if (obj['immutable'] !== true)
    causes.push(forbiddenField('immutable', 'field is immutable when `immutable` is set'));
  for (const f of fields) {
    if (!jsonEqual(obj[f] ?? {}, old[f] ?? {}))
      causes.push(forbiddenField(f, 'field is immutable when `immutable` is set'));
  }
  return causes;
}

/** ValidateConfigMapUpdate: data frozen once `immutable: true`. */
export function validateConfigMapUpdate(cm: JsonObject, old: JsonObject): StatusCause[] {
  return [...immutableDataRules(cm, old, ['data', 'binaryData']), ...validateConfigMap(cm)];
}

/** ValidateSecret: key syntax, 1 MiB, and the keys each well-known type requires. */
export function validateSecret(secret: JsonObject): StatusCause[] {
  const causes: StatusCause[] = [];
  const data = asObject(secret['data']) ?? {};
  let total = 0;
  for (const [key, value] of Object.entries(data)) {
    for (const msg of isConfigMapKey(key)) causes.push(invalidValue(`data[${key}]`, key, msg));
    total += base64Size(value, `data[${key}]`, causes);
  }
  if (total > maxDataSize) causes.push(tooLong('data', '', maxDataSize));
  const has = (k: string): boolean => Object.hasOwn(data, k);
  const decoded = (k: string): string => Buffer.from(asString(data[k]), 'base64').toString('utf8');
  const jsonKey = (k: string): void => {
    if (!has(k)) {
      causes.push(required(`data[${k}]`));
      return;
    }
    try {
      JSON.parse(decoded(k));
    } catch (err) {
      causes.push(
        invalidValue(
          `data[${k}]`,
          '<secret contents redacted>',
          err instanceof Error ? err.message : String(err),
        ),
      );
    }
  };
  switch (asString(secret['type'])) {
    case 'kubernetes.io/service-account-token': {
      const ann = asObject(asObject(secret['metadata'])?.['annotations']) ?? {};
      if (asString(ann['kubernetes.io/service-account.name']) === '') {
        causes.push(required('metadata.annotations[kubernetes.io/service-account.name]'));
      }
      break;
    }
    case 'kubernetes.io/dockercfg':
      jsonKey('.dockercfg');
      break;
    case 'kubernetes.io/dockerconfigjson':
      jsonKey('.dockerconfigjson');
      break;
    case 'kubernetes.io/basic-auth':
      if (!has('username') && !has('password')) {
        causes.push(required('data[username]'), required('data[password]'));
      }
      break;
    case 'kubernetes.io/ssh-auth':
      if (asString(data['ssh-privatekey']) === '') causes.push(required('data[ssh-privatekey]'));
      break;
    case 'kubernetes.io/tls':
      if (!has('tls.crt')) causes.push(required('data[tls.crt]'));
      if (!has('tls.key')) causes.push(required('data[tls.key]'));
      break;
    default:
      break;
  }
  return causes;
}

/** ValidateSecretUpdate: type immutable; data frozen once `immutable: true`. */
export function validateSecretUpdate(secret: JsonObject, old: JsonObject): StatusCause[] {
  const causes: StatusCause[] = [];
  const type = asString(secret['type']);
  if (type !== asString(old['type'])) causes.push(invalidValue('type', type, fieldImmutableErrorMsg));
  causes.push(...immutableDataRules(secret, old, ['data']));
  causes.push(...validateSecret(secret));
  return causes;
}

/** ValidateNamespace: spec.finalizers names. */
export function validateNamespace(ns: JsonObject): StatusCause[] {
  const finalizers = asArray(asObject(ns['spec'])?.['finalizers']);
  return finalizers.flatMap((f) => validateFinalizerName(asString(f), 'spec.finalizers'));
}

const taintEffects = ['NoSchedule', 'PreferNoSchedule', 'NoExecute'];

function validateTaints(taints: unknown, path: string): StatusCause[] {
  const causes: StatusCause[] = [];
  const unique = new Map<string, Set<string>>();
  asArray(taints).forEach((t, i) => {
    const taint = asObject(t) ?? {};
    const ip = `${path}[${i}]`;
    const key = asString(taint['key']);
    const value = asString(taint['value']);
    const effect = asString(taint['effect']);
    causes.push(...validateLabelName(key, `${ip}.key`));
    const errs = isValidLabelValue(value);
    if (errs.length > 0) causes.push(invalidValue(`${ip}.value`, value, errs.join(';')));
    if (effect === '') causes.push(required(`${ip}.effect`));
    else if (!taintEffects.includes(effect)) causes.push(notSupported(`${ip}.effect`, effect, taintEffects));
    const keys = unique.get(effect) ?? new Set<string>();
    if (keys.has(key)) {
      const d = duplicate(
        ip,
        goSyntax(
          `core.Taint{Key:${goQuote(key)}, Value:${goQuote(value)}, Effect:${goQuote(effect)}, TimeAdded:<nil>}`,
        ),
      );
      d.message = `${d.message ?? ''}: taints must be unique by key and effect pair`;
      causes.push(d);
      return;
    }
    keys.add(key);
    unique.set(effect, keys);
  });
  return causes;
}

function validateNodeResources(node: JsonObject): StatusCause[] {
  const causes: StatusCause[] = [];
  const status = asObject(node['status']) ?? {};
  for (const field of ['capacity', 'allocatable']) {
    for (const [name, raw] of Object.entries(asObject(status[field]) ?? {})) {
      const path = `status.${field}.${name}`;
      const r = parseQuantity(raw);
      if (!r.ok) causes.push(invalidValue(path, raw, r.error));
      else if (isNegative(r.quantity))
        causes.push(invalidValue(path, r.quantity.canonical, 'must be greater than or equal to 0'));
    }
  }
  return causes;
}

/** ValidateNode: taints, resource quantities, pod CIDRs. */
export function validateNode(node: JsonObject): StatusCause[] {
  const spec = asObject(node['spec']) ?? {};
  const causes = validateTaints(spec['taints'], 'spec.taints');
  causes.push(...validateNodeResources(node));
  const cidrs = asArray(spec['podCIDRs']).map(asString);
  cidrs.forEach((c, i) => {
    for (const msg of isValidCIDR(c)) causes.push(invalidValue(`spec.podCIDRs[${i}]`, c, msg));
  });
  const podCIDR = asString(spec['podCIDR']);
  if (podCIDR !== '' && cidrs.length > 0 && cidrs[0] !== podCIDR) {
    causes.push(
      invalidValue(
        'spec.podCIDRs',
        goSyntax(`[]string{${cidrs.map(goQuote).join(', ')}}`),
        'first value must match `podCIDR`',
      ),
    );
  }
  return causes;
}

/** ValidateNodeUpdate: pod CIDRs and providerID only go from unset to set; no duplicate addresses. */
export function validateNodeUpdate(node: JsonObject, old: JsonObject): StatusCause[] {
  const causes = validateNode(node);
  const spec = asObject(node['spec']) ?? {};
  const oldSpec = asObject(old['spec']) ?? {};
  const seen = new Set<string>();
  asArray(asObject(node['status'])?.['addresses']).forEach((a, i) => {
    const addr = asObject(a) ?? {};
    const key = JSON.stringify([asString(addr['type']), asString(addr['address'])]);
    if (seen.has(key)) {
      causes.push(
        duplicate(
          `status.addresses[${i}]`,
          goSyntax(
            `core.NodeAddress{Type:${goQuote(asString(addr['type']))}, Address:${goQuote(asString(addr['address']))}}`,
          ),
        ),
      );
    }
    seen.add(key);
  });
  const oldCIDRs = asArray(oldSpec['podCIDRs']).map(asString);
  const newCIDRs = asArray(spec['podCIDRs']).map(asString);
  if (oldCIDRs.length > 0 && !jsonEqual(oldCIDRs, newCIDRs)) {
    causes.push(
      forbiddenField('spec.podCIDRs', 'node updates may not change podCIDR except from "" to valid'),
    );
  }
  const oldProvider = asString(oldSpec['providerID']);
  if (oldProvider !== '' && oldProvider !== asString(spec['providerID'])) {
    causes.push(
      forbiddenField('spec.providerID', 'node updates may not change providerID except from "" to valid'),
    );
  }
  return causes;
}

/** legacyValidateEvent for core/v1 Events (what kubectl and kubelets create). */
export function validateEvent(ev: JsonObject): StatusCause[] {
  const causes: StatusCause[] = [];
  const namespace = asString(asObject(ev['metadata'])?.['namespace']);
  const involved = asObject(ev['involvedObject']) ?? {};
  const involvedNs = asString(involved['namespace']);
  if (ev['eventTime'] == null) {
    if (involvedNs === '') {
      if (namespace !== '' && namespace !== 'default') {
        causes.push(invalidValue('involvedObject.namespace', involvedNs, 'does not match event.namespace'));
      }
    } else if (namespace !== involvedNs) {
      causes.push(invalidValue('involvedObject.namespace', involvedNs, 'does not match event.namespace'));
    }
  } else {
    if (involvedNs === '' && namespace !== 'default' && namespace !== 'kube-system') {
      causes.push(invalidValue('involvedObject.namespace', involvedNs, 'does not match event.namespace'));
    }
    const controller = asString(ev['reportingComponent']);
    if (controller === '') causes.push(required('reportingComponent'));
    for (const msg of isQualifiedName(controller))
      causes.push(invalidValue('reportingComponent', controller, msg));
    const instance = asString(ev['reportingInstance']);
    if (instance === '') causes.push(required('reportingInstance'));
    if (byteLength(instance) > 128)
      causes.push(invalidValue('reportingInstance', '', 'can have at most 128 characters'));
    const action = asString(ev['action']);
    if (action === '') causes.push(required('action'));
    if (byteLength(action) > 128) causes.push(invalidValue('action', '', 'can have at most 128 characters'));
    const reason = asString(ev['reason']);
    if (reason === '') causes.push(required('reason'));
    if (byteLength(reason) > 128) causes.push(invalidValue('reason', '', 'can have at most 128 characters'));
    if (byteLength(asString(ev['message'])) > 1024)
      causes.push(invalidValue('message', '', 'can have at most 1024 characters'));
  }
  for (const msg of isDNS1123Subdomain(namespace)) causes.push(invalidValue('namespace', namespace, msg));
  return causes;
}

function validateEndpointAddress(addr: JsonObject, path: string): StatusCause[] {
  const causes: StatusCause[] = [];
  const ip = asString(addr['ip']);
  const ipErrs = isValidIP(ip);
  for (const msg of ipErrs) causes.push(invalidValue(`${path}.ip`, ip, msg));
  if (ipErrs.length === 0) {
    if (ip === '0.0.0.0' || ip === '::')
      causes.push(invalidValue(`${path}.ip`, ip, 'may not be unspecified (0.0.0.0)'));
    else if (ip.startsWith('127.') || ip === '::1') {
      causes.push(invalidValue(`${path}.ip`, ip, 'may not be in the loopback range (127.0.0.0/8, ::1/128)'));
    } else if (ip.startsWith('169.254.') || /^fe[89ab]/i.test(ip)) {
      causes.push(
        invalidValue(`${path}.ip`, ip, 'may not be in the link-local range (169.254.0.0/16, fe80::/10)'),
      );
    } else if (ip.startsWith('224.0.0.') || /^ff02:/i.test(ip)) {
      causes.push(
        invalidValue(
          `${path}.ip`,
          ip,
          'may not be in the link-local multicast range (224.0.0.0/24, ff02::/10)',
        ),
      );
    }
  }
  const hostname = asString(addr['hostname']);
  if (hostname !== '')
    for (const msg of isDNS1123Label(hostname)) causes.push(invalidValue(`${path}.hostname`, hostname, msg));
  if (addr['nodeName'] != null) {
    const nodeName = asString(addr['nodeName']);
    for (const msg of isDNS1123Subdomain(nodeName))
      causes.push(invalidValue(`${path}.nodeName`, nodeName, msg));
  }
  return causes;
}

/** ValidateEndpoints: subsets need addresses; addresses are valid unicast IPs; ports as for Services. */
export function validateEndpoints(ep: JsonObject): StatusCause[] {
  const causes: StatusCause[] = [];
  asArray(ep['subsets']).forEach((s, i) => {
    const subset = asObject(s) ?? {};
    const sp = `subsets[${i}]`;
    const addresses = asArray(subset['addresses']);
    const notReady = asArray(subset['notReadyAddresses']);
    if (addresses.length === 0 && notReady.length === 0) {
      causes.push(required(sp, 'must specify `addresses` or `notReadyAddresses`'));
    }
    addresses.forEach((a, j) =>
      causes.push(...validateEndpointAddress(asObject(a) ?? {}, `${sp}.addresses[${j}]`)),
    );
    notReady.forEach((a, j) =>
      causes.push(...validateEndpointAddress(asObject(a) ?? {}, `${sp}.notReadyAddresses[${j}]`)),
    );
    const ports = asArray(subset['ports']);
    ports.forEach((p, j) => {
      const port = asObject(p) ?? {};
      const pp = `${sp}.ports[${j}]`;
      const name = asString(port['name']);
      if (ports.length > 1 && name === '') causes.push(required(`${pp}.name`));
      else if (name !== '')
        for (const msg of isDNS1123Label(name)) causes.push(invalidValue(`${pp}.name`, name, msg));
      const n = asNumber(port['port']) ?? 0;
      for (const msg of isValidPortNum(n)) causes.push(invalidValue(`${pp}.port`, n, msg));
      causes.push(...validateProtocol(port['protocol'], `${pp}.protocol`));
    });
  });
  return causes;
}

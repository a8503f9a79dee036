/**
 * Defaulting for core/v1 Service, Secret, Namespace, Node and Endpoints (pkg/apis/core/v1/defaults.go),
 * plus what Kubernetes' registries set on create that users see as defaults: a Namespace's
 * `kubernetes` finalizer and Active phase, a Service's IP family. Functions mutate their argument.
 */

import { Buffer } from 'node:buffer';

import { asArray, asObject, asString, type JsonObject } from '../validation/json-access.js';
import { parseIP } from '../validation/names.js';
import { child, setDefault } from './pod.js';

/** SetDefaults_Service, and the single-stack IP family the service allocator would record. */
export function defaultService(svc: JsonObject): void {
  const spec = child(svc, 'spec');
  setDefault(spec, 'sessionAffinity', 'None');
  if (spec['sessionAffinity'] === 'None') delete spec['sessionAffinityConfig'];
  if (spec['sessionAffinity'] === 'ClientIP') {
    const cfg = asObject(spec['sessionAffinityConfig']);
    const clientIP = asObject(cfg?.['clientIP']);
    if (clientIP?.['timeoutSeconds'] == null)
      spec['sessionAffinityConfig'] = { clientIP: { timeoutSeconds: 10800 } };
  }
  setDefault(spec, 'type', 'ClusterIP');
  const type = asString(spec['type']);
  for (const p of asArray(spec['ports'])) {
    const port = asObject(p);
    if (port === undefined) continue;
    setDefault(port, 'protocol', 'TCP');
    if (port['targetPort'] === undefined || port['targetPort'] === 0 || port['targetPort'] === '') {
      port['targetPort'] = port['port'];
    }
  }
  const externallyAccessible =
    type === 'LoadBalancer' ||
    type === 'NodePort' ||
    (type === 'ClusterIP' && asArray(spec['externalIPs']).length > 0);
  if (externallyAccessible) setDefault(spec, 'externalTrafficPolicy', 'Cluster');
  if (
    spec['internalTrafficPolicy'] == null &&
    (type === 'ClusterIP' || type === 'NodePort' || type === 'LoadBalancer')
  ) {
    spec['internalTrafficPolicy'] = 'Cluster';
  }
  if (type === 'LoadBalancer') setDefault(spec, 'allocateLoadBalancerNodePorts', true);
  if (type !== 'ExternalName') {
    setDefault(spec, 'ipFamilyPolicy', 'SingleStack');
    if (asArray(spec['ipFamilies']).length === 0) {
      const ip = asString(spec['clusterIP']);
      spec['ipFamilies'] = [parseIP(ip) === 6 ? 'IPv6' : 'IPv4'];
    }
    const clusterIP = asString(spec['clusterIP']);
    if (clusterIP !== '' && asArray(spec['clusterIPs']).length === 0) spec['clusterIPs'] = [clusterIP];
  }
}

/**
 * On update Kubernetes keeps what the server allocated when the new object leaves it out
 * (service REST patchAllocatedValues): clusterIP(s), node ports, health-check node port, IP families.
 * Call before validating an update so that `kubectl replace` of a file without clusterIP works.
 */
export function carryOverServiceAllocations(newSvc: JsonObject, oldSvc: JsonObject): void {
  const spec = child(newSvc, 'spec');
  const oldSpec = asObject(oldSvc['spec']) ?? {};
  const type = asString(spec['type']);
  if (type === 'ExternalName') return;
  if (asString(spec['clusterIP']) === '' && asString(oldSpec['clusterIP']) !== '')
    spec['clusterIP'] = oldSpec['clusterIP'];
  if (asArray(spec['clusterIPs']).length === 0 && asArray(oldSpec['clusterIPs']).length > 0) {
    spec['clusterIPs'] = [...asArray(oldSpec['clusterIPs'])];
  }
  if (type === 'NodePort' || type === 'LoadBalancer') {
    const oldPorts = asArray(oldSpec['ports']).map(asObject);
    for (const p of asArray(spec['ports'])) {
      const port = asObject(p);
      if (port === undefined || (port['nodePort'] != null && port['nodePort'] !== 0)) continue;
      const match = oldPorts.find(
        (o) =>
          o !== undefined &&
          o['port'] === port['port'] &&
          (o['protocol'] ?? 'TCP') === (port['protocol'] ?? 'TCP'),
      );
      if (match?.['nodePort'] != null) port['nodePort'] = match['nodePort'];
    }
  }
  if (spec['healthCheckNodePort'] == null && oldSpec['healthCheckNodePort'] != null) {
    spec['healthCheckNodePort'] = oldSpec['healthCheckNodePort'];
  }
  if (asArray(spec['ipFamilies']).length === 0 && asArray(oldSpec['ipFamilies']).length > 0) {
    spec['ipFamilies'] = [...asArray(oldSpec['ipFamilies'])];
  }
  if (spec['ipFamilyPolicy'] == null && oldSpec['ipFamilyPolicy'] != null)
    spec['ipFamilyPolicy'] = oldSpec['ipFamilyPolicy'];
}

/**
 * SetDefaults_Secret (`type: Opaque`), and the v1→internal conversion that folds `stringData` into
 * `data` (base64, overwriting same-named keys) and drops `stringData`, so it is never stored.
 */
export function defaultSecret(secret: JsonObject): void {
  setDefault(secret, 'type', 'Opaque');
  const stringData = asObject(secret['stringData']);
  if (stringData !== undefined) {
    const data = child(secret, 'data');
    for (const [k, v] of Object.entries(stringData))
      data[k] = Buffer.from(asString(v), 'utf8').toString('base64');
  }
  delete secret['stringData'];
}

/**
 * SetDefaults_Namespace (label `kubernetes.io/metadata.name`), and on create what the namespace
 * registry sets: the `kubernetes` finalizer and phase Active.
 */
export function defaultNamespace(ns: JsonObject, create: boolean): void {
  const meta = child(ns, 'metadata');
  const name = asString(meta['name']);
  if (name !== '') child(meta, 'labels')['kubernetes.io/metadata.name'] = name;
  const status = child(ns, 'status');
  setDefault(status, 'phase', 'Active');
  if (create) {
    status['phase'] = 'Active';
    const spec = child(ns, 'spec');
    const finalizers = asArray(spec['finalizers']);
    if (!finalizers.includes('kubernetes')) spec['finalizers'] = [...finalizers, 'kubernetes'];
  }
}

/** SetDefaults_NodeStatus: allocatable defaults to capacity. */
export function defaultNode(node: JsonObject): void {
  const status = asObject(node['status']);
  if (status === undefined) return;
  const capacity = asObject(status['capacity']);
  if (capacity !== undefined && status['allocatable'] == null) status['allocatable'] = { ...capacity };
}

/** SetDefaults_EndpointPort: protocol TCP. */
export function defaultEndpoints(ep: JsonObject): void {
  for (const subset of asArray(ep['subsets'])) {
    for (const p of asArray(asObject(subset)?.['ports'])) {
      const port = asObject(p);
      if (port !== undefined) setDefault(port, 'protocol', 'TCP');
    }
  }
}

/**
 * Defaulting for pods and pod templates (k8s.io/kubernetes/pkg/apis/core/v1/defaults.go:
 * SetDefaults_PodSpec, _Container, _ContainerPort, _Probe, _HTTPGetAction, _Volume, …), plus the
 * pod-only defaults (SetDefaults_Pod and the Priority admission plugin) that templates never get.
 *
 * Functions here mutate the object they are given; `applyDefaults` (defaults.ts) hands them a copy.
 */

import { asArray, asObject, asString, type JsonObject } from '../validation/json-access.js';

/** Returns `parent[key]` as an object, creating `{}` there if it is missing or not an object. */
export function child(parent: JsonObject, key: string): JsonObject {
  const existing = asObject(parent[key]);
  if (existing !== undefined) return existing;
  const created: JsonObject = {};
  parent[key] = created;
  return created;
}

/** Sets `o[key] = value` when the field is absent, null or '' (Go's zero value for strings/pointers). */
export function setDefault(o: JsonObject, key: string, value: unknown): void {
  const cur = o[key];
  if (cur === undefined || cur === null || cur === '') o[key] = value;
}

const containerFields = ['containers', 'initContainers'] as const;

/** SetDefaults_PodSpec and everything nested in it: what both pods and pod templates get. */
export function defaultPodSpec(spec: JsonObject): void {
  setDefault(spec, 'dnsPolicy', 'ClusterFirst');
  setDefault(spec, 'restartPolicy', 'Always');
  if (asObject(spec['securityContext']) === undefined) spec['securityContext'] = {};
  setDefault(spec, 'terminationGracePeriodSeconds', 30);
  setDefault(spec, 'schedulerName', 'default-scheduler');
  if (spec['hostNetwork'] === true) {
    for (const f of containerFields) for (const c of asArray(spec[f])) defaultHostNetworkPorts(asObject(c));
  }
  for (const f of containerFields) for (const c of asArray(spec[f])) defaultContainer(asObject(c));
  for (const v of asArray(spec['volumes'])) defaultVolume(asObject(v));
}

function defaultHostNetworkPorts(c: JsonObject | undefined): void {
  if (c === undefined) return;
  for (const p of asArray(c['ports'])) {
    const port = asObject(p);
    if (port !== undefined && (port['hostPort'] === undefined || port['hostPort'] === 0)) {
      port['hostPort'] = port['containerPort'];
    }
  }
}

/**
 * The tag Kubernetes reads from an image reference: the explicit tag, 'latest' when there is neither
 * tag nor digest, '' for a digest-only or unparsable reference (parsers.ParseImageName).
 */
export function imageTag(image: string): string {
  if (image === '' || /\s/.test(image)) return '';
  const at = image.indexOf('@');
  const named = at >= 0 ? image.slice(0, at) : image;
  const slash = named.lastIndexOf('/');
  const colon = named.lastIndexOf(':');
  const hasTag = colon > slash;
  const repo = hasTag ? named.slice(0, colon) : named;
  const tag = hasTag ? named.slice(colon + 1) : '';
  if (!isValidRepository(repo)) return '';
  if (hasTag) return /^[\w][\w.-]{0,127}$/.test(tag) ? tag : '';
  return at >= 0 ? '' : 'latest';
}

function isValidRepository(repo: string): boolean {
  const parts = repo.split('/');
  const first = parts[0] ?? '';
  const hasDomain = parts.length > 1 && (first.includes('.') || first.includes(':') || first === 'localhost');
  const path = hasDomain ? parts.slice(1) : parts;
  if (hasDomain && !/^[a-zA-Z0-9.-]+(:\d+)?$/.test(first)) return false;
  return path.length > 0 && path.every((p) => /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/.test(p));
}

/** SetDefaults_Container plus its ports, probes, lifecycle handlers and env. */
export function defaultContainer(c: JsonObject | undefined): void {
  if (c === undefined) return;
  if (c['imagePullPolicy'] === undefined || c['imagePullPolicy'] === '') {
    c['imagePullPolicy'] = imageTag(asString(c['image'])) === 'latest' ? 'Always' : 'IfNotPresent';
  }
  setDefault(c, 'terminationMessagePath', '/dev/termination-log');
  setDefault(c, 'terminationMessagePolicy', 'File');
  for (const p of asArray(c['ports'])) {
    const port = asObject(p);
    if (port !== undefined) setDefault(port, 'protocol', 'TCP');
  }
  for (const probe of ['livenessProbe', 'readinessProbe', 'startupProbe']) defaultProbe(asObject(c[probe]));
  const lifecycle = asObject(c['lifecycle']);
  if (lifecycle !== undefined) {
    for (const h of ['postStart', 'preStop']) defaultHandler(asObject(lifecycle[h]));
  }
  for (const e of asArray(c['env'])) {
    const fieldRef = asObject(asObject(asObject(e)?.['valueFrom'])?.['fieldRef']);
    if (fieldRef !== undefined) setDefault(fieldRef, 'apiVersion', 'v1');
  }
  const resources = asObject(c['resources']);
  if (resources === undefined) c['resources'] = {};
}

function defaultProbe(p: JsonObject | undefined): void {
  if (p === undefined) return;
  setDefault(p, 'timeoutSeconds', 1);
  setDefault(p, 'periodSeconds', 10);
  setDefault(p, 'successThreshold', 1);
  setDefault(p, 'failureThreshold', 3);
  // Kubernetes treats 0 as unset for these int32 fields (SetDefaults_Probe checks == 0).
  for (const [k, v] of [
    ['timeoutSeconds', 1],
    ['periodSeconds', 10],
    ['successThreshold', 1],
    ['failureThreshold', 3],
  ] as const) {
    if (p[k] === 0) p[k] = v;
  }
  defaultHandler(p);
}

function defaultHandler(h: JsonObject | undefined): void {
  const httpGet = asObject(h?.['httpGet']);
  if (httpGet === undefined) return;
  setDefault(httpGet, 'path', '/');
  setDefault(httpGet, 'scheme', 'HTTP');
}

const volumeSources = [
  'hostPath',
  'emptyDir',
  'gcePersistentDisk',
  'awsElasticBlockStore',
  'gitRepo',
  'secret',
  'nfs',
  'iscsi',
  'glusterfs',
  'persistentVolumeClaim',
  'rbd',
  'flexVolume',
  'cinder',
  'cephfs',
  'flocker',
  'downwardAPI',
  'fc',
  'azureFile',
  'configMap',
  'vsphereVolume',
  'quobyte',
  'azureDisk',
  'photonPersistentDisk',
  'projected',
  'portworxVolume',
  'scaleIO',
  'storageos',
  'csi',
  'ephemeral',
  'image',
];

/** The volume-source keys a Volume may carry (exactly one of them). */
export const knownVolumeSources: readonly string[] = volumeSources;

function defaultVolume(v: JsonObject | undefined): void {
  if (v === undefined) return;
  if (!volumeSources.some((s) => v[s] !== undefined && v[s] !== null)) v['emptyDir'] = {};
  // 0644, the mode Kubernetes gives projected files.
  for (const s of ['configMap', 'secret', 'downwardAPI', 'projected']) {
    const src = asObject(v[s]);
    if (src !== undefined) setDefault(src, 'defaultMode', 420);
  }
  const hostPath = asObject(v['hostPath']);
  if (hostPath !== undefined && (hostPath['type'] === undefined || hostPath['type'] === null))
    hostPath['type'] = '';
}

/** A pod template (`{metadata, spec}`): the pod spec defaults only. */
export function defaultPodTemplate(template: JsonObject): void {
  defaultPodSpec(child(template, 'spec'));
}

/**
 * A Pod: template defaults, then SetDefaults_Pod (requests default to limits, enableServiceLinks) and
 * the Priority admission plugin's `priority: 0` when no priority class is named.
 */
export function defaultPod(pod: JsonObject): void {
  const spec = child(pod, 'spec');
  defaultPodSpec(spec);
  for (const f of containerFields) {
    for (const c of asArray(spec[f])) {
      const resources = asObject(asObject(c)?.['resources']);
      const limits = asObject(resources?.['limits']);
      if (resources === undefined || limits === undefined) continue;
      const requests = child(resources, 'requests');
      for (const [k, v] of Object.entries(limits)) if (!Object.hasOwn(requests, k)) requests[k] = v;
    }
  }
  setDefault(spec, 'enableServiceLinks', true);
  if (spec['priority'] === undefined && asString(spec['priorityClassName']) === '') spec['priority'] = 0;
}

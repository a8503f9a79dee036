/**
 * The pod as the pod workers read it: a typed, read-only view parsed defensively from the API's JSON
 * (`StoredObject`), with the defaults the kubelet would assume when a field is missing. Nothing here
 * talks to the runtime; everything downstream reads `PodView`, never the raw object.
 */
import { createHash } from 'node:crypto';
import type { StoredObject } from '../../api/object.js';
import {
  asArray,
  asNumber,
  asObject,
  asString,
  asStringMap,
  type JsonObject,
} from '../../api/validation/json-access.js';
import { toMilliValue, toValue } from '../../api/validation/quantity.js';

export type RestartPolicy = 'Always' | 'OnFailure' | 'Never';
export type PullPolicy = 'Always' | 'IfNotPresent' | 'Never';
export type QosClass = 'Guaranteed' | 'Burstable' | 'BestEffort';

/** What a probe or lifecycle hook runs. */
export type HandlerSpec =
  | { readonly kind: 'exec'; readonly command: readonly string[] }
  | {
      readonly kind: 'httpGet';
      readonly scheme: 'HTTP' | 'HTTPS';
      readonly host?: string;
      readonly port: number | string;
      readonly path: string;
      readonly headers: readonly { readonly name: string; readonly value: string }[];
    }
  | { readonly kind: 'tcpSocket'; readonly host?: string; readonly port: number | string }
  | { readonly kind: 'grpc'; readonly port: number; readonly service?: string }
  | { readonly kind: 'sleep'; readonly seconds: number };

export interface ProbeSpec {
  readonly handler: HandlerSpec;
  readonly initialDelaySeconds: number;
  readonly timeoutSeconds: number;
  readonly periodSeconds: number;
  readonly successThreshold: number;
  readonly failureThreshold: number;
  readonly terminationGracePeriodSeconds?: number;
}

export interface ContainerPortSpec {
  readonly name?: string;
  readonly containerPort: number;
  readonly hostPort?: number;
  readonly hostIP?: string;
  readonly protocol: 'TCP' | 'UDP' | 'SCTP';
}

/** cpu in millicores, memory in bytes. */
export interface ResourceAmounts {
  readonly cpuMilli?: number;
  readonly memoryBytes?: number;
}

export interface EnvVarSpec {
  readonly name: string;
  readonly value?: string;
  /** Raw `valueFrom`, resolved when the container is created. */
  readonly valueFrom?: JsonObject;
}

export interface VolumeMountSpec {
  readonly name: string;
  readonly mountPath: string;
  readonly readOnly: boolean;
  readonly subPath?: string;
}

export interface ContainerSpec {
  readonly name: string;
  readonly image: string;
  readonly imagePullPolicy: PullPolicy;
  readonly command: readonly string[];
  readonly args: readonly string[];
  readonly workingDir?: string;
  readonly env: readonly EnvVarSpec[];
  readonly ports: readonly ContainerPortSpec[];
  readonly limits: ResourceAmounts;
  readonly requests: ResourceAmounts;
  /** Raw `securityContext`, merged with the pod's when the container is created. */
  readonly securityContext?: JsonObject;
  readonly livenessProbe?: ProbeSpec;
  readonly readinessProbe?: ProbeSpec;
  readonly startupProbe?: ProbeSpec;
  readonly preStop?: HandlerSpec;
  readonly volumeMounts: readonly VolumeMountSpec[];
  readonly stdin: boolean;
  readonly stdinOnce: boolean;
  readonly tty: boolean;
  /** Hash of what, when changed, means the container must be recreated. */
  readonly hash: string;
}

export interface PodView {
  readonly uid: string;
  readonly name: string;
  readonly namespace: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly annotations: Readonly<Record<string, string>>;
  readonly deletionTimestamp?: string;
  readonly deletionGracePeriodSeconds?: number;
  readonly restartPolicy: RestartPolicy;
  readonly terminationGracePeriodSeconds: number;
  readonly hostNetwork: boolean;
  readonly shareProcessNamespace: boolean;
  readonly hostname: string;
  readonly nodeName?: string;
  readonly serviceAccountName?: string;
  readonly initContainers: readonly ContainerSpec[];
  readonly containers: readonly ContainerSpec[];
  /** Raw `spec.volumes`. */
  readonly volumes: readonly JsonObject[];
  /** Raw `spec.securityContext`. */
  readonly securityContext?: JsonObject;
  readonly qosClass: QosClass;
  /** The pod's status as the API holds it now (transition times, startTime, a terminal phase). */
  readonly apiStatus: {
    readonly phase?: string;
    readonly startTime?: string;
    readonly conditions: readonly JsonObject[];
  };
  /** The object as received, for downward-API lookups. */
  readonly raw: StoredObject;
}

/** `name_namespace(uid)`, the kubelet's `format.Pod`, used in messages. */
export function podDescription(pod: Pick<PodView, 'name' | 'namespace' | 'uid'>): string {
  return `${pod.name}_${pod.namespace}(${pod.uid})`;
}

/** Parses a pod; `undefined` when it has no uid or name (nothing can be done with it). */
export function parsePod(obj: StoredObject): PodView | undefined {
  const meta = obj.metadata;
  const uid = asString(meta.uid);
  const name = asString(meta.name);
  if (uid === '' || name === '') return undefined;
  const spec = asObject(obj.spec) ?? {};
  const status = asObject(obj.status) ?? {};
  const rp = asString(spec['restartPolicy']);
  const restartPolicy: RestartPolicy = rp === 'OnFailure' || rp === 'Never' ? rp : 'Always';
  const initContainers = asArray(spec['initContainers']).flatMap((c) => parseContainer(asObject(c)));
  const containers = asArray(spec['containers']).flatMap((c) => parseContainer(asObject(c)));
  const deletionTimestamp = asString(meta.deletionTimestamp);
  const deletionGrace = asNumber(meta.deletionGracePeriodSeconds);
  const nodeName = asString(spec['nodeName']);
  const sa = asString(spec['serviceAccountName']);
  const phase = asString(status['phase']);
  const startTime = asString(status['startTime']);
  const podSecurity = asObject(spec['securityContext']);
  const hostname = asString(spec['hostname']);
  return {
    uid,
    name,
    namespace: asString(meta.namespace) || 'default',
    labels: asStringMap(meta.labels),
    annotations: asStringMap(meta.annotations),
    ...(deletionTimestamp !== '' ? { deletionTimestamp } : {}),
    ...(deletionGrace !== undefined ? { deletionGracePeriodSeconds: deletionGrace } : {}),
    restartPolicy,
    terminationGracePeriodSeconds: asNumber(spec['terminationGracePeriodSeconds']) ?? 30,
    hostNetwork: spec['hostNetwork'] === true,
    shareProcessNamespace: spec['shareProcessNamespace'] === true,
    hostname: (hostname !== '' ? hostname : name).slice(0, 63),
    ...(nodeName !== '' ? { nodeName } : {}),
    ...(sa !== '' ? { serviceAccountName: sa } : {}),
    initContainers,
    containers,
    volumes: asArray(spec['volumes']).flatMap((v) => objects(v)),
    ...(podSecurity !== undefined ? { securityContext: podSecurity } : {}),
    qosClass: qosClassOf([...initContainers, ...containers]),
    apiStatus: {
      ...(phase !== '' ? { phase } : {}),
      ...(startTime !== '' ? { startTime } : {}),
      conditions: asArray(status['conditions']).flatMap((c) => objects(c)),
    },
    raw: obj,
  };
}

function parseContainer(c: JsonObject | undefined): ContainerSpec[] {
  if (c === undefined) return [];
  const name = asString(c['name']);
  if (name === '') return [];
  const image = asString(c['image']);
  const policy = asString(c['imagePullPolicy']);
  const imagePullPolicy: PullPolicy =
    policy === 'Always' || policy === 'IfNotPresent' || policy === 'Never'
      ? policy
      : imageHasLatestTag(image)
        ? 'Always'
        : 'IfNotPresent';
  const resources = asObject(c['resources']) ?? {};
  const limits = amounts(asObject(resources['limits']));
  const explicitRequests = amounts(asObject(resources['requests']));
  // Requests default to limits (SetDefaults_Pod), in case the object was not defaulted.
  const requests: ResourceAmounts = {
    ...(limits.cpuMilli !== undefined ? { cpuMilli: limits.cpuMilli } : {}),
    ...(limits.memoryBytes !== undefined ? { memoryBytes: limits.memoryBytes } : {}),
    ...explicitRequests,
  };
  const workingDir = asString(c['workingDir']);
  const securityContext = asObject(c['securityContext']);
  const liveness = parseProbe(asObject(c['livenessProbe']));
  const readiness = parseProbe(asObject(c['readinessProbe']));
  const startup = parseProbe(asObject(c['startupProbe']));
  const preStop = parseHandler(asObject(asObject(c['lifecycle'])?.['preStop']));
  return [
    {
      name,
      image,
      imagePullPolicy,
      command: asArray(c['command']).map(asString),
      args: asArray(c['args']).map(asString),
      ...(workingDir !== '' ? { workingDir } : {}),
      env: asArray(c['env']).flatMap((e) => {
        const o = asObject(e);
        const n = asString(o?.['name']);
        if (o === undefined || n === '') return [];
        const valueFrom = asObject(o['valueFrom']);
        return [
          {
            name: n,
            ...(typeof o['value'] === 'string' ? { value: o['value'] } : {}),
            ...(valueFrom !== undefined ? { valueFrom } : {}),
          },
        ];
      }),
      ports: asArray(c['ports']).flatMap((p) => {
        const o = asObject(p);
        const containerPort = asNumber(o?.['containerPort']);
        if (o === undefined || containerPort === undefined) return [];
        const proto = asString(o['protocol']);
        const portName = asString(o['name']);
        const hostPort = asNumber(o['hostPort']);
        const hostIP = asString(o['hostIP']);
        return [
          {
            containerPort,
            protocol: proto === 'UDP' || proto === 'SCTP' ? proto : 'TCP',
            ...(portName !== '' ? { name: portName } : {}),
            ...(hostPort !== undefined && hostPort > 0 ? { hostPort } : {}),
            ...(hostIP !== '' ? { hostIP } : {}),
          },
        ];
      }),
      limits,
      requests,
      ...(securityContext !== undefined ? { securityContext } : {}),
      ...(liveness !== undefined ? { livenessProbe: liveness } : {}),
      ...(readiness !== undefined ? { readinessProbe: readiness } : {}),
      ...(startup !== undefined ? { startupProbe: startup } : {}),
      ...(preStop !== undefined ? { preStop } : {}),
      volumeMounts: asArray(c['volumeMounts']).flatMap((m) => {
        const o = asObject(m);
        const mountName = asString(o?.['name']);
        const mountPath = asString(o?.['mountPath']);
        if (o === undefined || mountName === '' || mountPath === '') return [];
        const subPath = asString(o['subPath']);
        return [
          {
            name: mountName,
            mountPath,
            readOnly: o['readOnly'] === true,
            ...(subPath !== '' ? { subPath } : {}),
          },
        ];
      }),
      stdin: c['stdin'] === true,
      stdinOnce: c['stdinOnce'] === true,
      tty: c['tty'] === true,
      hash: containerHash(c),
    },
  ];
}

function amounts(o: JsonObject | undefined): ResourceAmounts {
  if (o === undefined) return {};
  const cpu = o['cpu'] !== undefined ? toMilliValue(o['cpu']) : undefined;
  const memory = o['memory'] !== undefined ? toValue(o['memory']) : undefined;
  return {
    ...(cpu !== undefined ? { cpuMilli: cpu } : {}),
    ...(memory !== undefined ? { memoryBytes: memory } : {}),
  };
}

function parseProbe(p: JsonObject | undefined): ProbeSpec | undefined {
  const handler = parseHandler(p);
  if (p === undefined || handler === undefined) return undefined;
  const positive = (key: string, dflt: number): number => {
    const v = asNumber(p[key]);
    return v !== undefined && v > 0 ? v : dflt;
  };
  const tgp = asNumber(p['terminationGracePeriodSeconds']);
  return {
    handler,
    initialDelaySeconds: Math.max(0, asNumber(p['initialDelaySeconds']) ?? 0),
    timeoutSeconds: positive('timeoutSeconds', 1),
    periodSeconds: positive('periodSeconds', 10),
    successThreshold: positive('successThreshold', 1),
    failureThreshold: positive('failureThreshold', 3),
    ...(tgp !== undefined && tgp > 0 ? { terminationGracePeriodSeconds: tgp } : {}),
  };
}

function parseHandler(h: JsonObject | undefined): HandlerSpec | undefined {
  if (h === undefined) return undefined;
  const exec = asObject(h['exec']);
  if (exec !== undefined) return { kind: 'exec', command: asArray(exec['command']).map(asString) };
  const http = asObject(h['httpGet']);
  if (http !== undefined) {
    const host = asString(http['host']);
    return {
      kind: 'httpGet',
      scheme: asString(http['scheme']) === 'HTTPS' ? 'HTTPS' : 'HTTP',
      ...(host !== '' ? { host } : {}),
      port: portOf(http['port']),
      path: asString(http['path']) || '/',
      headers: asArray(http['httpHeaders']).flatMap((x) => {
        const o = asObject(x);
        return o === undefined ? [] : [{ name: asString(o['name']), value: asString(o['value']) }];
      }),
    };
  }
  const tcp = asObject(h['tcpSocket']);
  if (tcp !== undefined) {
    const host = asString(tcp['host']);
    return { kind: 'tcpSocket', port: portOf(tcp['port']), ...(host !== '' ? { host } : {}) };
  }
  const grpc = asObject(h['grpc']);
  if (grpc !== undefined) {
    const service = asString(grpc['service']);
    return { kind: 'grpc', port: asNumber(grpc['port']) ?? 0, ...(service !== '' ? { service } : {}) };
  }
  const sleep = asObject(h['sleep']);
  if (sleep !== undefined) return { kind: 'sleep', seconds: asNumber(sleep['seconds']) ?? 0 };
  return undefined;
}

function objects(v: unknown): JsonObject[] {
  const o = asObject(v);
  return o === undefined ? [] : [o];
}

function portOf(v: unknown): number | string {
  if (typeof v === 'number') return v;
  const s = asString(v);
  return /^\d+$/.test(s) ? Number(s) : s;
}

/** True when the reference has the tag `latest` explicitly or implicitly (and no digest). */
export function imageHasLatestTag(image: string): boolean {
  if (image.includes('@')) return false;
  const slash = image.lastIndexOf('/');
  const colon = image.lastIndexOf(':');
  return colon <= slash || image.slice(colon + 1) === 'latest';
}

/** The kubelet's GetPodQOS, over cpu and memory. */
export function qosClassOf(containers: readonly ContainerSpec[]): QosClass {
  let any = false;
  let guaranteed = true;
  for (const c of containers) {
    for (const k of ['cpuMilli', 'memoryBytes'] as const) {
      const req = c.requests[k];
      const lim = c.limits[k];
      if ((req !== undefined && req > 0) || (lim !== undefined && lim > 0)) any = true;
      if (lim === undefined || lim <= 0 || req !== lim) guaranteed = false;
    }
  }
  if (!any) return 'BestEffort';
  return guaranteed ? 'Guaranteed' : 'Burstable';
}

// Fields whose change means "recreate the container". Resources and probes are left out: the
// kubelet no longer restarts containers for those (in-place resize, probe-only changes).
const hashedFields = [
  'name',
  'image',
  'command',
  'args',
  'workingDir',
  'env',
  'envFrom',
  'ports',
  'volumeMounts',
  'securityContext',
  'stdin',
  'tty',
];

function containerHash(c: JsonObject): string {
  const picked: JsonObject = {};
  for (const f of hashedFields) if (c[f] !== undefined) picked[f] = c[f];
  return createHash('sha256').update(canonicalJson(picked)).digest('hex').slice(0, 16);
}

/** JSON with object keys sorted, so equal values hash equally whatever their key order. */
export function canonicalJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(',')}]`;
  const o = asObject(v);
  if (o !== undefined) {
    const keys = Object.keys(o)
      .filter((k) => o[k] !== undefined)
      .sort();
    return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson(o[k])}`).join(',')}}`;
  }
  return v === undefined ? 'null' : JSON.stringify(v);
}

/**
 * Translates a pod into runtime configs, the way the kubelet's kuberuntime does: the sandbox config
 * (labels that let the agent find the pod again, log directory, port mappings, cgroup parent, network
 * namespace) and each container's config (restart count as attempt, env with the downward API and
 * `$(VAR)` expansion, `envFrom` and ConfigMap/Secret key references, requests/limits as cgroup
 * values, the merged security context, and the bind mounts of the pod's volumes (hostPath, or where
 * the volume manager put the others). Pure functions: no runtime calls; the objects env refers to
 * are fetched beforehand (`envObjectRefs`) and passed in.
 */
import type {
  ContainerImage,
  ContainerConfig,
  ContainerSecurityContext,
  KeyValue,
  LinuxContainerResources,
  Mount,
  PodSandboxConfig,
  PortMapping,
} from '../runtime/runtime.js';
import { runtimeAnnotations, runtimeLabels, type ContainerType } from '../runtime/labels.js';
import { asArray, asNumber, asObject, asString, type JsonObject } from '../../api/validation/json-access.js';
import type { ObjectKind } from '../object-source.js';
import type { ContainerSpec, PodView } from './pod-spec.js';
import type { MountedVolume } from './volumes/volume-manager.js';
import { notFoundMessage, objectData, resourceFieldValue } from './volumes/volume-payloads.js';

/** Node-level settings the configs depend on. */
export interface PodConfigContext {
  readonly nodeName: string;
  readonly nodeIP?: string;
  /** Directory holding `<namespace>_<name>_<uid>/` log directories (kubelet: /var/log/pods). */
  readonly podLogsDir: string;
  /** cgroupfs parent for pods, e.g. `/berth`; each pod gets `<root>/pod<uid>`. Unset: runtime default. */
  readonly cgroupRoot?: string;
}

/** Labels that identify a pod's sandbox and containers in the runtime. */
export function podLabels(
  pod: Pick<PodView, 'uid' | 'name' | 'namespace'>,
  nodeName: string,
): Record<string, string> {
  return {
    [runtimeLabels.podUid]: pod.uid,
    [runtimeLabels.podName]: pod.name,
    [runtimeLabels.podNamespace]: pod.namespace,
    [runtimeLabels.node]: nodeName,
  };
}

/** Every container port, with host ports where asked (CRI wants them all, like the kubelet sends). */
export function portMappingsOf(pod: PodView): PortMapping[] {
  const out: PortMapping[] = [];
  for (const c of pod.containers) {
    for (const p of c.ports) {
      out.push({
        protocol: p.protocol,
        containerPort: p.containerPort,
        ...(p.hostPort !== undefined ? { hostPort: p.hostPort } : {}),
        ...(p.hostIP !== undefined ? { hostIP: p.hostIP } : {}),
      });
    }
  }
  return out;
}

export function sandboxConfigFor(
  pod: PodView,
  ctx: PodConfigContext,
  attempt: number,
  networkNamespacePath: string | undefined,
): PodSandboxConfig {
  const linux = {
    ...(ctx.cgroupRoot !== undefined
      ? { cgroupParent: `${ctx.cgroupRoot.replace(/\/$/, '')}/pod${pod.uid}` }
      : {}),
    ...(networkNamespacePath !== undefined ? { networkNamespacePath } : {}),
    ...(pod.hostNetwork ? { hostNetwork: true } : {}),
    ...(pod.shareProcessNamespace ? { sharePidNamespace: true } : {}),
  };
  return {
    metadata: { name: pod.name, namespace: pod.namespace, uid: pod.uid, attempt },
    hostname: pod.hostname,
    logDirectory: `${ctx.podLogsDir.replace(/\/$/, '')}/${pod.namespace}_${pod.name}_${pod.uid}`,
    portMappings: portMappingsOf(pod),
    labels: { ...pod.labels, ...podLabels(pod, ctx.nodeName) },
    annotations: {
      ...pod.annotations,
      [runtimeAnnotations.terminationGracePeriod]: String(pod.terminationGracePeriodSeconds),
    },
    ...(Object.keys(linux).length > 0 ? { linux } : {}),
  };
}

export interface ContainerConfigInput {
  readonly pod: PodView;
  readonly container: ContainerSpec;
  readonly type: ContainerType;
  readonly restartCount: number;
  readonly image: ContainerImage;
  readonly podIPs: readonly string[];
  readonly ctx: PodConfigContext;
  /** The ConfigMaps/Secrets named by `envObjectRefs(container)`, as fetched. */
  readonly objects?: FetchedObjects;
  /**
   * Where the volume manager set up the pod's volumes. Absent (simulated nodes): hostPath volumes
   * are mounted as they are and every other volume is left out.
   */
  readonly volumes?: ReadonlyMap<string, MountedVolume>;
  /** `subPath` mounts already resolved and checked (volume-manager.ts `resolveSubPath`), by `subPathKey`. */
  readonly subPaths?: ReadonlyMap<string, string>;
}

/** The key of a resolved subPath in `ContainerConfigInput.subPaths`. */
export function subPathKey(volumeName: string, subPath: string): string {
  return `${volumeName}\0${subPath}`;
}

/** One fetched ConfigMap or Secret: the object (`undefined` if it does not exist), or why it could not be read. */
export type FetchedObject =
  | { readonly ok: true; readonly object: JsonObject | undefined }
  | { readonly ok: false; readonly message: string };

/** Fetched objects keyed by `objectKey(kind, name)`. */
export type FetchedObjects = ReadonlyMap<string, FetchedObject>;

/** The key of a fetched object in `FetchedObjects`. */
export function objectKey(kind: ObjectKind, name: string): string {
  return `${kind}/${name}`;
}

/** The ConfigMaps and Secrets a container's `env` and `envFrom` name (in the pod's namespace). */
export function envObjectRefs(pod: PodView, c: ContainerSpec): { kind: ObjectKind; name: string }[] {
  const out = new Map<string, { kind: ObjectKind; name: string }>();
  const add = (kind: ObjectKind, ref: JsonObject | undefined): void => {
    const name = asString(ref?.['name']);
    if (name !== '') out.set(objectKey(kind, name), { kind, name });
  };
  for (const e of envFromOf(pod, c)) {
    add('ConfigMap', asObject(e['configMapRef']));
    add('Secret', asObject(e['secretRef']));
  }
  for (const e of c.env) {
    add('ConfigMap', asObject(e.valueFrom?.['configMapKeyRef']));
    add('Secret', asObject(e.valueFrom?.['secretKeyRef']));
  }
  return [...out.values()];
}

/** A config, or why the pod spec cannot be turned into one (`CreateContainerConfigError`). */
export type ContainerConfigResult =
  { readonly ok: true; readonly config: ContainerConfig } | { readonly ok: false; readonly message: string };

export function containerConfigFor(input: ContainerConfigInput): ContainerConfigResult {
  const { pod, container: c, ctx } = input;
  const env = resolveEnv(pod, c, input.podIPs, ctx, input.objects);
  if (!env.ok) return env;
  const mounts = mountsOf(pod, c, input.volumes, input.subPaths);
  if (!mounts.ok) return mounts;
  const vars = new Map(env.envs.map((e) => [e.key, e.value]));
  const resources = resourcesOf(c);
  const security = securityContextOf(pod, c);
  const linux = {
    ...(resources !== undefined ? { resources } : {}),
    ...(security !== undefined ? { securityContext: security } : {}),
  };
  return {
    ok: true,
    config: {
      metadata: { name: c.name, attempt: input.restartCount },
      image: input.image,
      command: c.command.map((s) => expandVars(s, vars)),
      args: c.args.map((s) => expandVars(s, vars)),
      ...(c.workingDir !== undefined ? { workingDir: c.workingDir } : {}),
      envs: env.envs,
      mounts: mounts.mounts,
      labels: {
        ...podLabels(pod, ctx.nodeName),
        [runtimeLabels.containerName]: c.name,
        [runtimeLabels.containerType]: input.type,
      },
      annotations: {
        [runtimeAnnotations.restartCount]: String(input.restartCount),
        [runtimeAnnotations.containerHash]: c.hash,
        [runtimeAnnotations.terminationGracePeriod]: String(pod.terminationGracePeriodSeconds),
      },
      logPath: `${c.name}/${input.restartCount}.log`,
      ...(c.stdin ? { stdin: true } : {}),
      ...(c.stdinOnce ? { stdinOnce: true } : {}),
      ...(c.tty ? { tty: true } : {}),
      ...(Object.keys(linux).length > 0 ? { linux } : {}),
    },
  };
}

/** The kubelet's `MilliCPUToShares` / `MilliCPUToQuota` and the memory limit. */
export function resourcesOf(c: ContainerSpec): LinuxContainerResources | undefined {
  const period = 100_000;
  const reqCpu = c.requests.cpuMilli ?? 0;
  const cpuShares = Math.max(2, Math.floor((reqCpu * 1024) / 1000));
  const limCpu = c.limits.cpuMilli;
  const mem = c.limits.memoryBytes;
  return {
    cpuShares,
    ...(limCpu !== undefined && limCpu > 0
      ? { cpuPeriod: period, cpuQuota: Math.max(1000, Math.floor((limCpu * period) / 1000)) }
      : {}),
    ...(mem !== undefined && mem > 0 ? { memoryLimitInBytes: mem } : {}),
  };
}

function securityContextOf(pod: PodView, c: ContainerSpec): ContainerSecurityContext | undefined {
  const podSc = pod.securityContext ?? {};
  const sc = c.securityContext ?? {};
  const pick = (key: string): unknown => sc[key] ?? podSc[key];
  const runAsUser = asNumber(pick('runAsUser'));
  const runAsGroup = asNumber(pick('runAsGroup'));
  const groups = asArray(podSc['supplementalGroups']).flatMap((g) => (typeof g === 'number' ? [g] : []));
  const caps = asObject(sc['capabilities']);
  const seccomp = asObject(pick('seccompProfile'));
  const seccompType = asString(seccomp?.['type']);
  const out: ContainerSecurityContext = {
    ...(sc['privileged'] === true ? { privileged: true } : {}),
    ...(runAsUser !== undefined ? { runAsUser } : {}),
    ...(runAsGroup !== undefined ? { runAsGroup } : {}),
    ...(groups.length > 0 ? { supplementalGroups: groups } : {}),
    ...(sc['readOnlyRootFilesystem'] === true ? { readonlyRootfs: true } : {}),
    ...(sc['allowPrivilegeEscalation'] === false ? { noNewPrivs: true } : {}),
    ...(caps !== undefined
      ? {
          capabilities: {
            add: asArray(caps['add']).map(asString),
            drop: asArray(caps['drop']).map(asString),
          },
        }
      : {}),
    ...(seccompType === 'Localhost'
      ? { seccompProfile: `Localhost/${asString(seccomp?.['localhostProfile'])}` }
      : seccompType !== ''
        ? { seccompProfile: seccompType }
        : {}),
  };
  return Object.keys(out).length > 0 ? out : undefined;
}

/**
 * Each volumeMount as a bind mount: the volume's host path (plus `subPath`), read-only when the mount
 * or the volume says so (configMap, secret, downwardAPI and projected volumes always are).
 */
function mountsOf(
  pod: PodView,
  c: ContainerSpec,
  volumes: ReadonlyMap<string, MountedVolume> | undefined,
  subPaths: ReadonlyMap<string, string> | undefined,
): { readonly ok: true; readonly mounts: Mount[] } | { readonly ok: false; readonly message: string } {
  const out: Mount[] = [];
  for (const m of c.volumeMounts) {
    const vol = pod.volumes.find((v) => v['name'] === m.name);
    if (vol === undefined)
      return { ok: false, message: `cannot find volume "${m.name}" to mount into container "${c.name}"` };
    let mounted = volumes?.get(m.name);
    if (mounted === undefined) {
      const hostPath = asString(asObject(vol['hostPath'])?.['path']);
      if (volumes !== undefined || hostPath === '') {
        if (volumes === undefined) continue; // no volume manager (simulated node): only hostPath
        return { ok: false, message: `volume "${m.name}" is not set up` };
      }
      mounted = { hostPath, readOnly: false };
    }
    let hostPath = mounted.hostPath;
    const resolved = m.subPath !== undefined ? subPaths?.get(subPathKey(m.name, m.subPath)) : undefined;
    if (resolved !== undefined) {
      hostPath = resolved;
    } else if (m.subPath !== undefined) {
      const parts = m.subPath.split('/');
      if (m.subPath.startsWith('/') || parts.includes('..'))
        return { ok: false, message: `invalid subPath "${m.subPath}": must be a relative path without '..'` };
      hostPath = `${hostPath.replace(/\/$/, '')}/${parts.filter((p) => p !== '' && p !== '.').join('/')}`;
    }
    out.push({
      containerPath: m.mountPath,
      hostPath,
      ...(m.readOnly || mounted.readOnly ? { readonly: true } : {}),
    });
  }
  return { ok: true, mounts: out };
}

type EnvResult =
  { readonly ok: true; readonly envs: KeyValue[] } | { readonly ok: false; readonly message: string };

/**
 * The container's env as the kubelet makes it (makeEnvironmentVariables): `envFrom` sources first
 * (keys with `prefix`, keys that cannot be names skipped), then `env` in order, each value `$(VAR)`
 * expanded against what is defined before it; `fieldRef`s from the pod (downward API),
 * `resourceFieldRef`s from the container, `configMapKeyRef`/`secretKeyRef` from `objects`. A
 * missing object or key fails the config with the kubelet's message unless the reference is
 * `optional`; an object that could not be read fails it whatever `optional` says.
 */
export function resolveEnv(
  pod: PodView,
  c: ContainerSpec,
  podIPs: readonly string[],
  ctx: Pick<PodConfigContext, 'nodeName' | 'nodeIP'>,
  objects?: FetchedObjects,
): EnvResult {
  const vars = new Map<string, string>();
  const lookup = (kind: ObjectKind, name: string): FetchedObject =>
    objects?.get(objectKey(kind, name)) ?? {
      ok: false,
      message: `cannot read ${kind.toLowerCase()} "${name}": this node has no object source`,
    };
  for (const from of envFromOf(pod, c)) {
    const cm = asObject(from['configMapRef']);
    const sec = asObject(from['secretRef']);
    const kind: ObjectKind | undefined =
      cm !== undefined ? 'ConfigMap' : sec !== undefined ? 'Secret' : undefined;
    const ref = cm ?? sec;
    if (kind === undefined || ref === undefined) continue;
    const name = asString(ref['name']);
    const got = lookup(kind, name);
    if (!got.ok) return got;
    if (got.object === undefined) {
      if (ref['optional'] === true) continue;
      return { ok: false, message: notFoundMessage(kind, name) };
    }
    const prefix = asString(from['prefix']);
    for (const [k, v] of objectData(kind, got.object)) {
      const key = `${prefix}${k}`;
      if (!isEnvVarName(key)) continue;
      vars.set(key, Buffer.from(v).toString('utf8'));
    }
  }
  for (const e of c.env) {
    if (e.valueFrom === undefined) {
      vars.set(e.name, expandVars(e.value ?? '', vars));
      continue;
    }
    const fieldRef = asObject(e.valueFrom['fieldRef']);
    if (fieldRef !== undefined) {
      const v = fieldValue(pod, asString(fieldRef['fieldPath']), podIPs, ctx);
      if (v === undefined)
        return {
          ok: false,
          message: `unsupported fieldPath "${asString(fieldRef['fieldPath'])}" in env ${e.name}`,
        };
      vars.set(e.name, v);
      continue;
    }
    const cmRef = asObject(e.valueFrom['configMapKeyRef']);
    const secRef = asObject(e.valueFrom['secretKeyRef']);
    const keyRef = cmRef ?? secRef;
    if (keyRef !== undefined) {
      const kind: ObjectKind = cmRef !== undefined ? 'ConfigMap' : 'Secret';
      const name = asString(keyRef['name']);
      const key = asString(keyRef['key']);
      const optional = keyRef['optional'] === true;
      const got = lookup(kind, name);
      if (!got.ok) return got;
      if (got.object === undefined) {
        if (optional) continue;
        return { ok: false, message: notFoundMessage(kind, name) };
      }
      const value = objectData(kind, got.object).get(key);
      if (value === undefined) {
        if (optional) continue;
        return { ok: false, message: `couldn't find key ${key} in ${kind} ${pod.namespace}/${name}` };
      }
      vars.set(e.name, Buffer.from(value).toString('utf8'));
      continue;
    }
    const resourceRef = asObject(e.valueFrom['resourceFieldRef']);
    if (resourceRef !== undefined) {
      const resource = asString(resourceRef['resource']);
      const v = resourceFieldValue(c, resource, resourceRef['divisor']);
      if (v === undefined)
        return { ok: false, message: `unsupported resourceFieldRef "${resource}" in env ${e.name}` };
      vars.set(e.name, v);
      continue;
    }
  }
  return { ok: true, envs: [...vars].map(([key, value]) => ({ key, value })) };
}

/** The container's raw `envFrom` (pod-spec.ts does not parse it; read from the object as received). */
function envFromOf(pod: PodView, c: ContainerSpec): JsonObject[] {
  const spec = asObject(pod.raw.spec) ?? {};
  for (const list of ['initContainers', 'containers', 'ephemeralContainers']) {
    for (const raw of asArray(spec[list])) {
      const o = asObject(raw);
      if (o?.['name'] !== c.name) continue;
      return asArray(o['envFrom']).flatMap((e): JsonObject[] => {
        const eo = asObject(e);
        return eo === undefined ? [] : [eo];
      });
    }
  }
  return [];
}

/** Kubernetes' env var name rule (relaxed in 1.30): printable ASCII, no '=', not empty. */
function isEnvVarName(name: string): boolean {
  return name !== '' && /^[\x21-\x3c\x3e-\x7e]+$/.test(name);
}

function fieldValue(
  pod: PodView,
  path: string,
  podIPs: readonly string[],
  ctx: Pick<PodConfigContext, 'nodeName' | 'nodeIP'>,
): string | undefined {
  const m = /^metadata\.(labels|annotations)\['(.+)'\]$/.exec(path);
  if (m !== null) return (m[1] === 'labels' ? pod.labels : pod.annotations)[m[2] ?? ''] ?? '';
  switch (path) {
    case 'metadata.name':
      return pod.name;
    case 'metadata.namespace':
      return pod.namespace;
    case 'metadata.uid':
      return pod.uid;
    case 'spec.nodeName':
      return pod.nodeName ?? ctx.nodeName;
    case 'spec.serviceAccountName':
      return pod.serviceAccountName ?? '';
    case 'status.podIP':
      return pod.hostNetwork ? (ctx.nodeIP ?? '') : (podIPs[0] ?? '');
    case 'status.podIPs':
      return pod.hostNetwork ? (ctx.nodeIP ?? '') : podIPs.join(',');
    case 'status.hostIP':
    case 'status.hostIPs':
      return ctx.nodeIP ?? '';
    default:
      return undefined;
  }
}

/** Kubernetes' `$(VAR)` expansion: defined references replaced, `$$` escapes, unknown ones kept. */
export function expandVars(s: string, vars: ReadonlyMap<string, string>): string {
  if (!s.includes('$')) return s;
  return s.replace(/\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)/g, (whole, name: string | undefined) => {
    if (whole === '$$') return '$';
    const v = name !== undefined ? vars.get(name) : undefined;
    return v ?? whole;
  });
}

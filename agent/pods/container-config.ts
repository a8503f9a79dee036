/**
 * Translates a pod into runtime configs, the way the kubelet's kuberuntime does: the sandbox config
 * (labels that let the agent find the pod again, log directory, port mappings, cgroup parent, network
 * namespace) and each container's config (restart count as attempt, env with the downward API and
 * `$(VAR)` expansion, requests/limits as cgroup values, the merged security context, hostPath mounts).
 * Pure functions: no runtime calls.
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
import { asArray, asNumber, asObject, asString } from '../../api/validation/json-access.js';
import type { ContainerSpec, PodView } from './pod-spec.js';

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
}

/** A config, or why the pod spec cannot be turned into one (`CreateContainerConfigError`). */
export type ContainerConfigResult =
  { readonly ok: true; readonly config: ContainerConfig } | { readonly ok: false; readonly message: string };

export function containerConfigFor(input: ContainerConfigInput): ContainerConfigResult {
  const { pod, container: c, ctx } = input;
  const env = resolveEnv(pod, c, input.podIPs, ctx);
  if (!env.ok) return env;
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
      mounts: mountsOf(pod, c),
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

/** hostPath volumes become bind mounts; other volume types need the volume manager (not built yet). */
function mountsOf(pod: PodView, c: ContainerSpec): Mount[] {
  const out: Mount[] = [];
  for (const m of c.volumeMounts) {
    const vol = pod.volumes.find((v) => v['name'] === m.name);
    const hostPath = asString(asObject(vol?.['hostPath'])?.['path']);
    if (hostPath === '') continue;
    out.push({
      containerPath: m.mountPath,
      hostPath: m.subPath !== undefined ? `${hostPath.replace(/\/$/, '')}/${m.subPath}` : hostPath,
      ...(m.readOnly ? { readonly: true } : {}),
    });
  }
  return out;
}

type EnvResult =
  { readonly ok: true; readonly envs: KeyValue[] } | { readonly ok: false; readonly message: string };

/**
 * The container's env in order, `$(VAR)` expanded against the variables before it, `fieldRef`s
 * resolved from the pod (downward API). ConfigMap/Secret references cannot be resolved yet: optional
 * ones are skipped, required ones make the config fail with a message that says so.
 */
export function resolveEnv(
  pod: PodView,
  c: ContainerSpec,
  podIPs: readonly string[],
  ctx: Pick<PodConfigContext, 'nodeName' | 'nodeIP'>,
): EnvResult {
  const vars = new Map<string, string>();
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
    const ref = asObject(e.valueFrom['configMapKeyRef']) ?? asObject(e.valueFrom['secretKeyRef']);
    const kind = e.valueFrom['configMapKeyRef'] !== undefined ? 'configmap' : 'secret';
    if (ref !== undefined) {
      if (ref['optional'] === true) continue;
      return {
        ok: false,
        message: `${kind} "${asString(ref['name'])}" not found: the agent cannot read ${kind}s yet (env ${e.name})`,
      };
    }
    const resourceRef = asObject(e.valueFrom['resourceFieldRef']);
    if (resourceRef !== undefined) {
      vars.set(e.name, resourceFieldValue(c, asString(resourceRef['resource'])));
      continue;
    }
  }
  return { ok: true, envs: [...vars].map(([key, value]) => ({ key, value })) };
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

function resourceFieldValue(c: ContainerSpec, resource: string): string {
  // Kubelet rounds cpu up to whole cores and reports memory in bytes; unset limits are "node
  // allocatable", which the pod workers do not know, so they report 0.
  switch (resource) {
    case 'limits.cpu':
      return String(Math.ceil((c.limits.cpuMilli ?? 0) / 1000));
    case 'requests.cpu':
      return String(Math.ceil((c.requests.cpuMilli ?? 0) / 1000));
    case 'limits.memory':
      return String(c.limits.memoryBytes ?? 0);
    case 'requests.memory':
      return String(c.requests.memoryBytes ?? 0);
    default:
      return '';
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

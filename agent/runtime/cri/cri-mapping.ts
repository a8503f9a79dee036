/**
 * Pure translations between Berth's `Runtime` shapes (agent/runtime/runtime.ts) and CRI `runtime.v1`
 * messages (proto/runtime/v1/api.proto): camelCase both sides, but CRI has nanosecond int64 times
 * (bigint here), zero values instead of absent fields, enums as numbers and no sandbox id in a
 * container's status. Two annotations of our own ride on every container so that its status reads back
 * what it was created with: the image reference as the pod spec names it (CRI keeps only the resolved
 * one), and its sandbox id (CRI's `ContainerStatus` has none). They are stripped on the way out.
 */
import * as cri from '../../../proto/gen/runtime/v1/api.js';
import type { DeepPartial } from '../../../proto/gen/runtime/v1/api.js';
import type {
  Container,
  ContainerConfig,
  ContainerState,
  ContainerStats,
  ContainerStatus,
  LinuxContainerResources,
  Mount,
  MountPropagation,
  PodSandbox,
  PodSandboxConfig,
  PodSandboxMetadata,
  PodSandboxStatus,
  Protocol,
  RuntimeCondition,
  SandboxState,
} from '../runtime.js';

/** Annotations the cri runtime adds to containers (and removes from what it reports). */
export const criAnnotations = {
  /** `ContainerConfig.image.image`: CRI reports the resolved reference instead. */
  image: 'berth.dev/image',
  /** The sandbox the container was created in: CRI's `ContainerStatus` does not say. */
  sandboxId: 'berth.dev/sandbox-id',
} as const;

const internalAnnotations = new Set<string>(Object.values(criAnnotations));

/** Nanoseconds since the epoch → milliseconds (floored, so order is kept). */
export function nsToMs(ns: bigint): number {
  return Number(ns / 1_000_000n);
}

/** CRI's "0 means unset" for times. */
function optionalMs(ns: bigint): number | undefined {
  return ns === 0n ? undefined : nsToMs(ns);
}

function optionalString(s: string): string | undefined {
  return s === '' ? undefined : s;
}

function withoutInternal(annotations: Readonly<Record<string, string>>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(annotations)) if (!internalAnnotations.has(k)) out[k] = v;
  return out;
}

// ---------------------------------------------------------------------------------------------
// Sandboxes

const protocols: Readonly<Record<Protocol, cri.Protocol>> = {
  TCP: cri.Protocol.TCP,
  UDP: cri.Protocol.UDP,
  SCTP: cri.Protocol.SCTP,
};

/**
 * The CRI sandbox config. `linux.networkNamespacePath` has no CRI equivalent (containerd makes and
 * wires the namespace through CNI), so callers refuse configs that carry one before getting here.
 */
export function toCriSandboxConfig(config: PodSandboxConfig): DeepPartial<cri.PodSandboxConfig> {
  const linux = config.linux;
  return {
    metadata: toCriSandboxMetadata(config.metadata),
    hostname: config.hostname,
    logDirectory: config.logDirectory,
    ...(config.dnsConfig === undefined
      ? {}
      : {
          dnsConfig: {
            servers: [...config.dnsConfig.servers],
            searches: [...config.dnsConfig.searches],
            options: [...config.dnsConfig.options],
          },
        }),
    portMappings: config.portMappings.map((p) => ({
      protocol: protocols[p.protocol],
      containerPort: p.containerPort,
      hostPort: p.hostPort ?? 0,
      hostIp: p.hostIP ?? '',
    })),
    labels: { ...config.labels },
    annotations: { ...config.annotations },
    linux: {
      cgroupParent: linux?.cgroupParent ?? '',
      sysctls: { ...linux?.sysctls },
      securityContext: { namespaceOptions: sandboxNamespaces(config) },
    },
  };
}

function toCriSandboxMetadata(m: PodSandboxMetadata): cri.PodSandboxMetadata {
  return { name: m.name, uid: m.uid, namespace: m.namespace, attempt: m.attempt };
}

/** Pod-level namespaces: network from the pod (or the node), IPC shared, PID per container unless shared. */
function sandboxNamespaces(config: PodSandboxConfig): DeepPartial<cri.NamespaceOption> {
  return {
    network: config.linux?.hostNetwork === true ? cri.NamespaceMode.NODE : cri.NamespaceMode.POD,
    pid: config.linux?.sharePidNamespace === true ? cri.NamespaceMode.POD : cri.NamespaceMode.CONTAINER,
    ipc: cri.NamespaceMode.POD,
  };
}

function fromCriSandboxMetadata(m: cri.PodSandboxMetadata | undefined): PodSandboxMetadata {
  return { name: m?.name ?? '', namespace: m?.namespace ?? '', uid: m?.uid ?? '', attempt: m?.attempt ?? 0 };
}

function fromCriSandboxState(s: cri.PodSandboxState): SandboxState {
  return s === cri.PodSandboxState.SANDBOX_READY ? 'READY' : 'NOTREADY';
}

export function toCriSandboxState(s: SandboxState): cri.PodSandboxState {
  return s === 'READY' ? cri.PodSandboxState.SANDBOX_READY : cri.PodSandboxState.SANDBOX_NOTREADY;
}

export function fromCriSandbox(s: cri.PodSandbox): PodSandbox {
  return {
    id: s.id,
    metadata: fromCriSandboxMetadata(s.metadata),
    state: fromCriSandboxState(s.state),
    createdAt: nsToMs(s.createdAt),
    labels: { ...s.labels },
    annotations: { ...s.annotations },
  };
}

export function fromCriSandboxStatus(s: cri.PodSandboxStatus): PodSandboxStatus {
  const base: PodSandboxStatus = {
    id: s.id,
    metadata: fromCriSandboxMetadata(s.metadata),
    state: fromCriSandboxState(s.state),
    createdAt: nsToMs(s.createdAt),
    labels: { ...s.labels },
    annotations: { ...s.annotations },
  };
  const ip = s.network?.ip ?? '';
  if (ip === '') return base;
  return {
    ...base,
    network: { ip, additionalIps: (s.network?.additionalIps ?? []).map((p) => p.ip).filter((x) => x !== '') },
  };
}

// ---------------------------------------------------------------------------------------------
// Containers

const propagations: Readonly<Record<MountPropagation, cri.MountPropagation>> = {
  private: cri.MountPropagation.PROPAGATION_PRIVATE,
  'host-to-container': cri.MountPropagation.PROPAGATION_HOST_TO_CONTAINER,
  bidirectional: cri.MountPropagation.PROPAGATION_BIDIRECTIONAL,
};

function toCriMount(m: Mount): DeepPartial<cri.Mount> {
  return {
    containerPath: m.containerPath,
    hostPath: m.hostPath,
    readonly: m.readonly ?? false,
    selinuxRelabel: m.selinuxRelabel ?? false,
    propagation: propagations[m.propagation ?? 'private'],
  };
}

function fromCriMount(m: cri.Mount): Mount {
  const propagation: MountPropagation =
    m.propagation === cri.MountPropagation.PROPAGATION_BIDIRECTIONAL
      ? 'bidirectional'
      : m.propagation === cri.MountPropagation.PROPAGATION_HOST_TO_CONTAINER
        ? 'host-to-container'
        : 'private';
  return {
    containerPath: m.containerPath,
    hostPath: m.hostPath,
    readonly: m.readonly,
    propagation,
    ...(m.selinuxRelabel ? { selinuxRelabel: true } : {}),
  };
}

function toCriResources(r: LinuxContainerResources): DeepPartial<cri.LinuxContainerResources> {
  // pidsLimit has no CRI field (the kubelet limits pids on the pod cgroup); it is not applied here.
  return {
    cpuPeriod: BigInt(r.cpuPeriod ?? 0),
    cpuQuota: BigInt(r.cpuQuota ?? 0),
    cpuShares: BigInt(r.cpuShares ?? 0),
    memoryLimitInBytes: BigInt(r.memoryLimitInBytes ?? 0),
    oomScoreAdj: BigInt(r.oomScoreAdj ?? 0),
    cpusetCpus: r.cpusetCpus ?? '',
    cpusetMems: r.cpusetMems ?? '',
  };
}

function fromCriResources(r: cri.LinuxContainerResources | undefined): LinuxContainerResources | undefined {
  if (r === undefined) return undefined;
  const num = (v: bigint): number | undefined => (v === 0n ? undefined : Number(v));
  const out: { -readonly [K in keyof LinuxContainerResources]: LinuxContainerResources[K] } = {};
  const set = (
    k: 'cpuPeriod' | 'cpuQuota' | 'cpuShares' | 'memoryLimitInBytes' | 'oomScoreAdj',
    v: bigint,
  ): void => {
    const n = num(v);
    if (n !== undefined) out[k] = n;
  };
  set('cpuPeriod', r.cpuPeriod);
  set('cpuQuota', r.cpuQuota);
  set('cpuShares', r.cpuShares);
  set('memoryLimitInBytes', r.memoryLimitInBytes);
  set('oomScoreAdj', r.oomScoreAdj);
  if (r.cpusetCpus !== '') out.cpusetCpus = r.cpusetCpus;
  if (r.cpusetMems !== '') out.cpusetMems = r.cpusetMems;
  return out;
}

/** `RuntimeDefault`, `Unconfined` or `Localhost/<path>` → CRI's SecurityProfile. */
export function toCriSeccomp(profile: string | undefined): DeepPartial<cri.SecurityProfile> | undefined {
  if (profile === undefined) return undefined;
  if (profile === 'RuntimeDefault') return { profileType: cri.SecurityProfile_ProfileType.RuntimeDefault };
  if (profile === 'Unconfined') return { profileType: cri.SecurityProfile_ProfileType.Unconfined };
  if (profile.startsWith('Localhost/')) {
    return {
      profileType: cri.SecurityProfile_ProfileType.Localhost,
      localhostRef: profile.slice('Localhost/'.length),
    };
  }
  return undefined;
}

/** CRI's `Signal` enum value for a signal name (`SIGTERM`, `TERM`); the runtime default when unknown. */
export function toCriSignal(name: string | undefined): cri.Signal {
  if (name === undefined) return cri.Signal.SIGNAL_RUNTIME_DEFAULT;
  const upper = name.toUpperCase();
  const key = `SIGNAL_${upper.startsWith('SIG') ? upper : `SIG${upper}`}`;
  const v = (cri.Signal as Readonly<Record<string, cri.Signal>>)[key];
  return v ?? cri.Signal.SIGNAL_RUNTIME_DEFAULT;
}

/**
 * The CRI container config. The image is named by the resolved config digest when the image service
 * gave a record (what the kubelet sends: it pins the image the pull resolved), else by the reference.
 */
export function toCriContainerConfig(
  podSandboxId: string,
  config: ContainerConfig,
  sandbox: PodSandboxConfig,
): DeepPartial<cri.ContainerConfig> {
  const sc = config.linux?.securityContext;
  const seccomp = toCriSeccomp(sc?.seccompProfile);
  const securityContext: DeepPartial<cri.LinuxContainerSecurityContext> = {
    // PID per container unless the pod shares it: CRI's zero value (POD) would put every container's
    // processes in the sandbox's PID namespace.
    namespaceOptions: sandboxNamespaces(sandbox),
    privileged: sc?.privileged ?? false,
    ...(sc?.runAsUser === undefined ? {} : { runAsUser: { value: BigInt(sc.runAsUser) } }),
    ...(sc?.runAsGroup === undefined ? {} : { runAsGroup: { value: BigInt(sc.runAsGroup) } }),
    runAsUsername: sc?.runAsUsername ?? '',
    readonlyRootfs: sc?.readonlyRootfs ?? false,
    supplementalGroups: (sc?.supplementalGroups ?? []).map((g) => BigInt(g)),
    noNewPrivs: sc?.noNewPrivs ?? false,
    maskedPaths: [...(sc?.maskedPaths ?? [])],
    readonlyPaths: [...(sc?.readonlyPaths ?? [])],
    ...(sc?.capabilities === undefined
      ? {}
      : {
          capabilities: {
            addCapabilities: [...sc.capabilities.add],
            dropCapabilities: [...sc.capabilities.drop],
          },
        }),
    ...(seccomp === undefined ? {} : { seccomp }),
  };
  const resources = config.linux?.resources;
  return {
    metadata: { name: config.metadata.name, attempt: config.metadata.attempt },
    image: {
      image: config.image.record?.configDigest ?? config.image.image,
      userSpecifiedImage: config.image.image,
    },
    command: [...config.command],
    args: [...config.args],
    workingDir: config.workingDir ?? '',
    envs: config.envs.map((e) => ({ key: e.key, value: e.value })),
    mounts: config.mounts.map(toCriMount),
    labels: { ...config.labels },
    annotations: {
      ...config.annotations,
      [criAnnotations.image]: config.image.image,
      [criAnnotations.sandboxId]: podSandboxId,
    },
    logPath: config.logPath,
    stdin: config.stdin ?? false,
    stdinOnce: config.stdinOnce ?? false,
    tty: config.tty ?? false,
    linux: {
      ...(resources === undefined ? {} : { resources: toCriResources(resources) }),
      securityContext,
    },
    stopSignal: toCriSignal(config.stopSignal),
  };
}

const containerStates: Readonly<Record<number, ContainerState>> = {
  [cri.ContainerState.CONTAINER_CREATED]: 'CREATED',
  [cri.ContainerState.CONTAINER_RUNNING]: 'RUNNING',
  [cri.ContainerState.CONTAINER_EXITED]: 'EXITED',
};

function fromCriContainerState(s: cri.ContainerState): ContainerState {
  return containerStates[s] ?? 'UNKNOWN';
}

export function toCriContainerState(s: ContainerState): cri.ContainerState {
  switch (s) {
    case 'CREATED':
      return cri.ContainerState.CONTAINER_CREATED;
    case 'RUNNING':
      return cri.ContainerState.CONTAINER_RUNNING;
    case 'EXITED':
      return cri.ContainerState.CONTAINER_EXITED;
    case 'UNKNOWN':
      return cri.ContainerState.CONTAINER_UNKNOWN;
  }
}

export function fromCriContainer(c: cri.Container): Container {
  return {
    id: c.id,
    podSandboxId: c.podSandboxId,
    metadata: { name: c.metadata?.name ?? '', attempt: c.metadata?.attempt ?? 0 },
    image: c.annotations[criAnnotations.image] ?? c.image?.image ?? '',
    imageRef: c.imageRef,
    state: fromCriContainerState(c.state),
    createdAt: nsToMs(c.createdAt),
    labels: { ...c.labels },
    annotations: withoutInternal(c.annotations),
  };
}

export function fromCriContainerStatus(s: cri.ContainerStatus): ContainerStatus {
  const state = fromCriContainerState(s.state);
  const resources = fromCriResources(s.resources?.linux);
  const startedAt = optionalMs(s.startedAt);
  const finishedAt = optionalMs(s.finishedAt);
  const reason = optionalString(s.reason);
  const message = optionalString(s.message);
  return {
    id: s.id,
    podSandboxId: s.annotations[criAnnotations.sandboxId] ?? '',
    metadata: { name: s.metadata?.name ?? '', attempt: s.metadata?.attempt ?? 0 },
    image: s.annotations[criAnnotations.image] ?? s.image?.image ?? '',
    imageRef: s.imageRef,
    state,
    createdAt: nsToMs(s.createdAt),
    labels: { ...s.labels },
    annotations: withoutInternal(s.annotations),
    ...(startedAt === undefined ? {} : { startedAt }),
    ...(finishedAt === undefined ? {} : { finishedAt }),
    ...(state === 'EXITED' ? { exitCode: s.exitCode } : {}),
    ...(reason === undefined ? {} : { reason }),
    ...(message === undefined ? {} : { message }),
    mounts: s.mounts.map(fromCriMount),
    logPath: s.logPath,
    ...(resources === undefined ? {} : { resources }),
  };
}

export function fromCriStats(s: cri.ContainerStats): ContainerStats {
  const ts = s.cpu?.timestamp ?? s.memory?.timestamp ?? 0n;
  const out: {
    id: string;
    timestamp: number;
    cpuUsageCoreNanoSeconds: number;
    memoryWorkingSetBytes: number;
    memoryUsageBytes?: number;
    memoryRssBytes?: number;
    writableLayerBytes?: number;
  } = {
    id: s.attributes?.id ?? '',
    timestamp: nsToMs(ts),
    cpuUsageCoreNanoSeconds: Number(s.cpu?.usageCoreNanoSeconds?.value ?? 0n),
    memoryWorkingSetBytes: Number(s.memory?.workingSetBytes?.value ?? 0n),
  };
  if (s.memory?.usageBytes !== undefined) out.memoryUsageBytes = Number(s.memory.usageBytes.value);
  if (s.memory?.rssBytes !== undefined) out.memoryRssBytes = Number(s.memory.rssBytes.value);
  if (s.writableLayer?.usedBytes !== undefined)
    out.writableLayerBytes = Number(s.writableLayer.usedBytes.value);
  return out;
}

export function fromCriConditions(status: cri.RuntimeStatus | undefined): RuntimeCondition[] {
  return (status?.conditions ?? []).map((c) => ({
    type: c.type,
    status: c.status,
    ...(c.reason === '' ? {} : { reason: c.reason }),
    ...(c.message === '' ? {} : { message: c.message }),
  }));
}

/** Oldest first (CRI lists come in map order); ties by id so the order is stable. */
export function byCreation<T extends { readonly createdAt: bigint; readonly id: string }>(
  items: readonly T[],
): T[] {
  return [...items].sort((a, b) =>
    a.createdAt < b.createdAt ? -1 : a.createdAt > b.createdAt ? 1 : a.id < b.id ? -1 : a.id > b.id ? 1 : 0,
  );
}

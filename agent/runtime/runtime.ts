/**
 * The `Runtime` seam: a CRI-shaped container runtime (k8s.io/cri-api RuntimeService, trimmed to what
 * the pod workers use). The pod workers see only this; `runc` (default), `cri` (containerd over the
 * real CRI gRPC API) and `fake` (an in-memory simulator for unit tests and hollow agents) implement it,
 * and one contract suite (`testing/runtime-contract.ts`) runs against each.
 *
 * Shapes follow `runtime.v1` (see shared/reference/scripts/cri-subset.proto) with TypeScript habits:
 * camelCase, times in milliseconds since the epoch (CRI uses nanoseconds), optional instead of zero
 * values, and expected negatives returned as values instead of gRPC `NotFound` errors.
 *
 * Sandbox states (CRI has only two):
 *
 *     runPodSandbox ──▶ READY ── stopPodSandbox ──▶ NOTREADY ── removePodSandbox ──▶ (gone)
 *                                (stops every container          (removes every container
 *                                 of the sandbox, force)           of the sandbox)
 *
 * Container states:
 *
 *     createContainer ──▶ CREATED ── startContainer ──▶ RUNNING ── exits / stopContainer ──▶ EXITED
 *                            │                                                               │
 *                            └── start fails (EXITED, exitCode 128, reason StartError) ──────┤
 *                                                                     removeContainer ◀──────┘ (any state)
 *     UNKNOWN: the runtime lost track of it (e.g. its state files are unreadable); treat as not running.
 *
 * Contract for every implementation:
 * - Safe to call concurrently; calls on different objects do not wait for each other.
 * - `stop*` and `remove*` are idempotent: stopping a stopped or missing object, removing a missing
 *   object, resolve without error. Removing a RUNNING container kills it first.
 * - Long calls (`runPodSandbox`, `startContainer`, `stopContainer`, `execSync`) honour
 *   `CallOptions.signal`: when aborted they reject with the signal's reason (an `AbortError`) as soon
 *   as they can, leaving the object in a state that a later call can finish (stop again, remove).
 * - Lists are ordered by creation, oldest first.
 * - Exceptional failures (runtime daemon down, a bug) throw `BerthError` with code
 *   `BERTH_ERR_RUNTIME_FAILED`; expected outcomes (not found, name in use, bad config) are values.
 */
import type { ImageRecord } from '../images/image-service.js';

/** Go's `ctx`: cancellation for one call. */
export interface CallOptions {
  readonly signal?: AbortSignal;
}

/** Exact-match label filter (CRI's `label_selector`): every pair must be present with that value. */
export type LabelSelector = Readonly<Record<string, string>>;

// ---------------------------------------------------------------------------------------------
// Sandboxes

export type SandboxState = 'READY' | 'NOTREADY';

/** Identifies a sandbox across restarts; (namespace, name, uid, attempt) is unique in a runtime. */
export interface PodSandboxMetadata {
  readonly name: string;
  readonly namespace: string;
  readonly uid: string;
  /** 0 for the pod's first sandbox, +1 each time the pod's sandbox is recreated. */
  readonly attempt: number;
}

export type Protocol = 'TCP' | 'UDP' | 'SCTP';

export interface PortMapping {
  readonly protocol: Protocol;
  readonly containerPort: number;
  /** 0 or absent: no host port. */
  readonly hostPort?: number;
  readonly hostIP?: string;
}

export interface DnsConfig {
  readonly servers: readonly string[];
  readonly searches: readonly string[];
  readonly options: readonly string[];
}

/** Linux specifics of a sandbox. */
export interface LinuxSandboxConfig {
  /**
   * cgroupfs path (e.g. `/berth/pod<uid>`) under which the sandbox's and containers' cgroups are
   * created. Always a cgroupfs path; systemd slices are not supported.
   */
  readonly cgroupParent?: string;
  /**
   * A network namespace prepared by the agent's network (e.g. `/var/run/netns/berth-<uid>`) that the
   * sandbox and its containers join. Absent: the runtime creates and wires one itself (CRI + CNI), or
   * the pod uses the host network when `hostNetwork` is set.
   */
  readonly networkNamespacePath?: string;
  /** Share the node's network namespace (CRI `NamespaceMode.NODE` for network). */
  readonly hostNetwork?: boolean;
  /** Share one PID namespace between the pod's containers (`shareProcessNamespace`). */
  readonly sharePidNamespace?: boolean;
  readonly sysctls?: Readonly<Record<string, string>>;
}

/** CRI `PodSandboxConfig`. */
export interface PodSandboxConfig {
  readonly metadata: PodSandboxMetadata;
  readonly hostname: string;
  /** Absolute directory the containers' `logPath`s are relative to (`/var/log/pods/<ns>_<name>_<uid>`). */
  readonly logDirectory: string;
  readonly dnsConfig?: DnsConfig;
  readonly portMappings: readonly PortMapping[];
  readonly labels: Readonly<Record<string, string>>;
  readonly annotations: Readonly<Record<string, string>>;
  readonly linux?: LinuxSandboxConfig;
}

/** One sandbox as `listPodSandboxes` returns it (CRI `PodSandbox`). */
export interface PodSandbox {
  readonly id: string;
  readonly metadata: PodSandboxMetadata;
  readonly state: SandboxState;
  readonly createdAt: number;
  readonly labels: Readonly<Record<string, string>>;
  readonly annotations: Readonly<Record<string, string>>;
}

/** CRI `PodSandboxStatus`: a list item plus network and namespace details. */
export interface PodSandboxStatus extends PodSandbox {
  /** The pod's addresses when the runtime wired the network itself (CRI + CNI); absent otherwise. */
  readonly network?: { readonly ip: string; readonly additionalIps: readonly string[] };
  /** The network namespace the sandbox uses, when it has its own. */
  readonly networkNamespacePath?: string;
}

export interface PodSandboxFilter {
  readonly id?: string;
  readonly state?: SandboxState;
  readonly labelSelector?: LabelSelector;
}

// ---------------------------------------------------------------------------------------------
// Containers

export type ContainerState = 'CREATED' | 'RUNNING' | 'EXITED' | 'UNKNOWN';

/** (sandbox, name, attempt) is unique in a runtime: creating a second one is `NameConflict`. */
export interface ContainerMetadata {
  readonly name: string;
  /** The container's restart count when it was created (kubelet's convention). */
  readonly attempt: number;
}

/** What image a container runs. */
export interface ContainerImage {
  /** The reference as the pod spec names it, e.g. `busybox:1.36`. */
  readonly image: string;
  /**
   * The image as the image service resolved it (digest, config, size). Required by runtimes that
   * build the container themselves (runc, fake); the CRI runtime resolves `image` through
   * containerd's image service and may ignore it.
   */
  readonly record?: ImageRecord;
}

export interface KeyValue {
  readonly key: string;
  readonly value: string;
}

export type MountPropagation = 'private' | 'host-to-container' | 'bidirectional';

/** A bind mount from the node into the container (CRI `Mount`). */
export interface Mount {
  readonly containerPath: string;
  readonly hostPath: string;
  readonly readonly?: boolean;
  readonly propagation?: MountPropagation;
  readonly selinuxRelabel?: boolean;
}

/**
 * cgroup limits, already translated from the pod's requests/limits the way the kubelet does it
 * (CRI `LinuxContainerResources`): `cpuShares` from the CPU request, `cpuQuota`/`cpuPeriod` from the
 * CPU limit, `memoryLimitInBytes` from the memory limit. Absent fields mean "no limit".
 */
export interface LinuxContainerResources {
  readonly cpuPeriod?: number;
  readonly cpuQuota?: number;
  readonly cpuShares?: number;
  readonly memoryLimitInBytes?: number;
  /** Left unset by the pod workers today: this machine's runc cannot lower oom_score_adj unprivileged. */
  readonly oomScoreAdj?: number;
  readonly cpusetCpus?: string;
  readonly cpusetMems?: string;
  /** Not in CRI (the kubelet sets pids limits on the pod cgroup); runc applies it per container. */
  readonly pidsLimit?: number;
}

/** The subset of the pod's `securityContext` that runtimes apply (CRI `LinuxContainerSecurityContext`). */
export interface ContainerSecurityContext {
  readonly privileged?: boolean;
  readonly runAsUser?: number;
  readonly runAsGroup?: number;
  /** A user name from the image's /etc/passwd, when `runAsUser` is absent and the image names one. */
  readonly runAsUsername?: string;
  readonly supplementalGroups?: readonly number[];
  readonly readonlyRootfs?: boolean;
  /** `allowPrivilegeEscalation: false` ⇒ true. */
  readonly noNewPrivs?: boolean;
  readonly capabilities?: { readonly add: readonly string[]; readonly drop: readonly string[] };
  /** `RuntimeDefault` (the runtime's default profile), `Unconfined`, or `Localhost/<path>`. */
  readonly seccompProfile?: string;
  readonly maskedPaths?: readonly string[];
  readonly readonlyPaths?: readonly string[];
}

/** CRI `ContainerConfig`. */
export interface ContainerConfig {
  readonly metadata: ContainerMetadata;
  readonly image: ContainerImage;
  /**
   * The pod spec's `command` and `args`, with `$(VAR)` references expanded. The runtime merges them
   * with the image config the way Kubernetes defines (see {@link resolveProcessArgs}).
   */
  readonly command: readonly string[];
  readonly args: readonly string[];
  readonly workingDir?: string;
  /** The pod spec's env, resolved; the runtime adds them over the image config's env. */
  readonly envs: readonly KeyValue[];
  readonly mounts: readonly Mount[];
  readonly labels: Readonly<Record<string, string>>;
  readonly annotations: Readonly<Record<string, string>>;
  /** Relative to the sandbox's `logDirectory`, e.g. `app/0.log`; CRI log format. */
  readonly logPath: string;
  readonly stdin?: boolean;
  readonly stdinOnce?: boolean;
  readonly tty?: boolean;
  readonly linux?: {
    readonly resources?: LinuxContainerResources;
    readonly securityContext?: ContainerSecurityContext;
  };
  /** Signal name for a graceful stop (`SIGTERM` when absent). */
  readonly stopSignal?: string;
}

/** One container as `listContainers` returns it (CRI `Container`). */
export interface Container {
  readonly id: string;
  readonly podSandboxId: string;
  readonly metadata: ContainerMetadata;
  /** The reference the container was created from (`ContainerConfig.image.image`). */
  readonly image: string;
  /** The resolved image, `repo@sha256:…` (what `containerStatuses[].imageID` shows), or the digest. */
  readonly imageRef: string;
  readonly state: ContainerState;
  readonly createdAt: number;
  readonly labels: Readonly<Record<string, string>>;
  readonly annotations: Readonly<Record<string, string>>;
}

/** CRI `ContainerStatus`. */
export interface ContainerStatus extends Container {
  readonly startedAt?: number;
  readonly finishedAt?: number;
  /** Set once EXITED. 128+n when killed by signal n (137 for SIGKILL). */
  readonly exitCode?: number;
  /**
   * Why it exited, as containerd reports it: `Completed` (exit 0), `Error` (non-zero), `OOMKilled`,
   * `StartError` (start failed).
   */
  readonly reason?: string;
  readonly message?: string;
  readonly mounts: readonly Mount[];
  /** Absolute path of the log file. */
  readonly logPath: string;
  readonly resources?: LinuxContainerResources;
}

export interface ContainerFilter {
  readonly id?: string;
  readonly state?: ContainerState;
  readonly podSandboxId?: string;
  readonly labelSelector?: LabelSelector;
}

// ---------------------------------------------------------------------------------------------
// Results: expected negatives as values

/** Why a create/run/start did not happen. */
export type RuntimeFailureReason =
  /** The sandbox or container named does not exist. */
  | 'NotFound'
  /** The sandbox is not READY (containers cannot be created in it). */
  | 'SandboxNotReady'
  /** A sandbox/container with the same metadata (name, attempt) exists: nothing was created. */
  | 'NameConflict'
  /** The container is not in the state the call needs (e.g. starting one that is not CREATED). */
  | 'InvalidState'
  /** The configuration cannot be run (bad image, bad mount, bad user…); `message` says what. */
  | 'InvalidConfig'
  /** Anything else the runtime reports for this object; `message` says what. */
  | 'Failed';

export interface RuntimeFailure {
  readonly ok: false;
  readonly reason: RuntimeFailureReason;
  readonly message: string;
}

export type RunPodSandboxResult = { readonly ok: true; readonly id: string } | RuntimeFailure;
export type CreateContainerResult = { readonly ok: true; readonly id: string } | RuntimeFailure;
export type StartContainerResult = { readonly ok: true } | RuntimeFailure;

export interface ExecSyncRequest {
  readonly cmd: readonly string[];
  /** Seconds; 0 or absent: no timeout. On timeout the result has `timedOut: true` and exitCode 137. */
  readonly timeoutSeconds?: number;
}

export type ExecSyncResult =
  | {
      readonly ok: true;
      readonly exitCode: number;
      readonly stdout: Uint8Array;
      readonly stderr: Uint8Array;
      readonly timedOut?: boolean;
    }
  | RuntimeFailure;

/** CRI `ContainerStats`, flattened. Times in ms since the epoch. */
export interface ContainerStats {
  readonly id: string;
  readonly timestamp: number;
  /** Cumulative CPU time, nanoseconds. */
  readonly cpuUsageCoreNanoSeconds: number;
  readonly memoryWorkingSetBytes: number;
  readonly memoryUsageBytes?: number;
  readonly memoryRssBytes?: number;
  /** Bytes used by the writable layer, when known. */
  readonly writableLayerBytes?: number;
}

export interface RuntimeVersion {
  /** Also the scheme of container ids in pod status: `fake://…`, `runc://…`, `containerd://…`. */
  readonly runtimeName: string;
  readonly runtimeVersion: string;
  readonly runtimeApiVersion: string;
}

/** CRI `RuntimeCondition`: `RuntimeReady` and `NetworkReady` feed the node's Ready condition. */
export interface RuntimeCondition {
  readonly type: string;
  readonly status: boolean;
  readonly reason?: string;
  readonly message?: string;
}

/**
 * A streaming exec/attach session. Not implemented by any runtime yet (issue #6 adds it for
 * `kubectl exec -it`); declared so that runtimes and the controller proxy agree on the shape.
 */
export interface ExecStreamSession {
  readonly stdin?: NodeJS.WritableStream;
  readonly stdout: NodeJS.ReadableStream;
  /** Absent with a tty (stderr is merged into stdout). */
  readonly stderr?: NodeJS.ReadableStream;
  resize?(size: { readonly width: number; readonly height: number }): void;
  /** Resolves with the process's exit code. */
  readonly exit: Promise<number>;
}

export interface ExecStreamRequest {
  readonly cmd: readonly string[];
  readonly tty: boolean;
  readonly stdin: boolean;
}

// ---------------------------------------------------------------------------------------------
// The seam

/** A CRI-shaped container runtime; see the file header for states and the shared contract. */
export interface Runtime {
  /** Short name, also the scheme of container ids in pod status (`fake`, `runc`, `containerd`). */
  readonly name: string;

  version(opts?: CallOptions): Promise<RuntimeVersion>;
  /** Health of the runtime and its network (CRI `Status`). */
  status(opts?: CallOptions): Promise<readonly RuntimeCondition[]>;

  /** Creates and starts a sandbox (its namespaces, cgroup parent). `NameConflict` if the metadata exists. */
  runPodSandbox(config: PodSandboxConfig, opts?: CallOptions): Promise<RunPodSandboxResult>;
  /** Force-stops every container of the sandbox, then the sandbox. Idempotent; missing is fine. */
  stopPodSandbox(id: string, opts?: CallOptions): Promise<void>;
  /** Removes the sandbox and every container in it (killing running ones). Idempotent. */
  removePodSandbox(id: string, opts?: CallOptions): Promise<void>;
  /** `undefined` when there is no such sandbox. */
  podSandboxStatus(id: string, opts?: CallOptions): Promise<PodSandboxStatus | undefined>;
  listPodSandboxes(filter?: PodSandboxFilter, opts?: CallOptions): Promise<readonly PodSandbox[]>;

  /** Creates (does not start) a container in a READY sandbox. */
  createContainer(
    podSandboxId: string,
    config: ContainerConfig,
    sandboxConfig: PodSandboxConfig,
    opts?: CallOptions,
  ): Promise<CreateContainerResult>;
  /** Starts a CREATED container. A start that fails leaves it EXITED with reason `StartError`. */
  startContainer(id: string, opts?: CallOptions): Promise<StartContainerResult>;
  /**
   * Sends the stop signal, waits up to `timeoutSeconds` for the container to exit, then SIGKILLs it.
   * `0` kills at once. Resolves when the container is EXITED (or missing). Idempotent.
   */
  stopContainer(id: string, timeoutSeconds: number, opts?: CallOptions): Promise<void>;
  /** Removes the container (killing it if running). Idempotent. */
  removeContainer(id: string, opts?: CallOptions): Promise<void>;
  /** `undefined` when there is no such container. */
  containerStatus(id: string, opts?: CallOptions): Promise<ContainerStatus | undefined>;
  listContainers(filter?: ContainerFilter, opts?: CallOptions): Promise<readonly Container[]>;

  /** Runs a command in a RUNNING container and collects its output. `InvalidState` if not running. */
  execSync(id: string, request: ExecSyncRequest, opts?: CallOptions): Promise<ExecSyncResult>;
  /** Optional until issue #6: interactive exec with stdin and tty. */
  execStream?(
    id: string,
    request: ExecStreamRequest,
    opts?: CallOptions,
  ): Promise<ExecStreamSession | RuntimeFailure>;

  /** `undefined` when there is no such container (or it has no stats, e.g. not running). */
  containerStats(id: string, opts?: CallOptions): Promise<ContainerStats | undefined>;
  listContainerStats(filter?: ContainerFilter, opts?: CallOptions): Promise<readonly ContainerStats[]>;
}

/** The process a container runs, as Kubernetes defines the merge of pod spec and image config. */
export interface ResolvedProcess {
  readonly argv: readonly string[];
  readonly env: readonly KeyValue[];
  readonly workingDir: string;
  readonly user?: string;
}

/**
 * Merges a container config with its image config the Kubernetes way: `command` replaces the
 * entrypoint (and drops the image's cmd), `args` replaces the cmd; env is the image's env overlaid
 * with the config's (config wins, order kept); working dir defaults to the image's, then `/`.
 * Pure; for runtimes that build processes themselves (runc, fake).
 */
export function resolveProcessArgs(config: ContainerConfig): ResolvedProcess {
  const image = config.image.record?.config ?? {};
  const entrypoint = config.command.length > 0 ? config.command : (image.entrypoint ?? []);
  const cmd = config.args.length > 0 ? config.args : config.command.length > 0 ? [] : (image.cmd ?? []);
  const env = new Map<string, string>();
  for (const kv of image.env ?? []) {
    const eq = kv.indexOf('=');
    if (eq > 0) env.set(kv.slice(0, eq), kv.slice(eq + 1));
  }
  for (const kv of config.envs) env.set(kv.key, kv.value);
  const workingDir =
    config.workingDir ?? (image.workingDir !== undefined && image.workingDir !== '' ? image.workingDir : '/');
  const process: ResolvedProcess = {
    argv: [...entrypoint, ...cmd],
    env: [...env].map(([key, value]) => ({ key, value })),
    workingDir,
  };
  return image.user !== undefined && image.user !== '' ? { ...process, user: image.user } : process;
}

/** True when every pair of `selector` is in `labels`. */
export function matchesLabels(
  labels: Readonly<Record<string, string>>,
  selector: LabelSelector | undefined,
): boolean {
  if (selector === undefined) return true;
  for (const [k, v] of Object.entries(selector)) if (labels[k] !== v) return false;
  return true;
}

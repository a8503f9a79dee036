/**
 * `CriRuntime`: the `Runtime` seam (agent/runtime/runtime.ts) over the real Kubernetes CRI gRPC API
 * (`runtime.v1.RuntimeService`), as containerd 1.6 serves it. containerd does the work — sandboxes
 * (pause container + CNI network), containers, logs in CRI format, exec, stats — and this class
 * translates shapes (cri-mapping.ts) and outcomes:
 *
 * - CRI `NotFound` becomes `undefined` / `NotFound` values, or nothing for idempotent stop/remove.
 * - Expected refusals that containerd reports as plain errors (a name already reserved, a container
 *   in the wrong state, a sandbox that is not ready) are recognised — by a status read before the call
 *   where that is cheap, by containerd's message otherwise — and returned as values.
 * - Transport failures (daemon down, unimplemented) throw `BERTH_ERR_RUNTIME_FAILED` with the gRPC
 *   error as cause; an aborted call rejects with the signal's reason.
 *
 * Networking: containerd wires each sandbox through CNI and reports the IP in the sandbox status, so a
 * sandbox config must not name a network namespace (use `criPodNetwork`, which hands out none). Ids
 * in pod status are `containerd://<id>` (`name` is `containerd`).
 */
import { isAbsolute, normalize } from 'node:path';
import { status as grpcStatus } from '@grpc/grpc-js';
import * as cri from '../../../proto/gen/runtime/v1/api.js';
import type {
  CallOptions,
  Container,
  ContainerConfig,
  ContainerFilter,
  ContainerStats,
  ContainerStatus,
  CreateContainerResult,
  ExecStreamRequest,
  ExecStreamSession,
  ExecSyncRequest,
  ExecSyncResult,
  PodSandbox,
  PodSandboxConfig,
  PodSandboxFilter,
  PodSandboxStatus,
  RunPodSandboxResult,
  Runtime,
  RuntimeCondition,
  RuntimeFailure,
  RuntimeFailureReason,
  RuntimeVersion,
  StartContainerResult,
} from '../runtime.js';
import { matchesLabels } from '../runtime.js';
import {
  CriConnection,
  grpcCode,
  grpcDetails,
  isAbort,
  isNotFound,
  isTransportFailure,
  runtimeFailed,
  type RequestOf,
  type ResponseOf,
  type RuntimeMethod,
} from './cri-client.js';
import {
  byCreation,
  fromCriConditions,
  fromCriContainer,
  fromCriContainerStatus,
  fromCriSandbox,
  fromCriSandboxStatus,
  fromCriStats,
  toCriContainerConfig,
  toCriContainerState,
  toCriSandboxConfig,
  toCriSandboxState,
} from './cri-mapping.js';
import { Cgroups } from '../runc/cgroups.js';
import { openCriExecStream } from './cri-exec-stream.js';

export interface CriRuntimeOptions {
  /** gRPC target of the CRI socket, e.g. `unix:///run/containerd/containerd.sock`. */
  readonly endpoint: string;
  /** Share a connection with a `CriImageService`; closed by whoever created it. */
  readonly connection?: CriConnection;
  /** containerd runtime handler for new sandboxes (`runtime_handler`); default containerd's default. */
  readonly runtimeHandler?: string;
  /** Where pod cgroup parents are removed after their sandbox; default the host's cgroupfs. */
  readonly cgroups?: Cgroups;
}

function failure(reason: RuntimeFailureReason, message: string): RuntimeFailure {
  return { ok: false, reason, message };
}

/** containerd's registrar refuses a sandbox/container name in use with "… is reserved for …". */
const nameReserved = /is reserved for|name is reserved|failed to reserve/i;
/** containerd refuses exec/start on a container that is not running/created with "… is in <STATE> state". */
const wrongState = /is in CONTAINER_\w+ state|not running|container is in/i;

/** The `Runtime` seam over CRI; see the file header. */
export class CriRuntime implements Runtime {
  readonly name = 'containerd';
  readonly #conn: CriConnection;
  readonly #ownsConnection: boolean;
  readonly #handler: string;
  readonly #cgroups: Cgroups;

  constructor(opts: CriRuntimeOptions) {
    this.#conn = opts.connection ?? new CriConnection(opts.endpoint);
    this.#ownsConnection = opts.connection === undefined;
    this.#handler = opts.runtimeHandler ?? '';
    this.#cgroups = opts.cgroups ?? new Cgroups();
  }

  /** The connection, to share with a `CriImageService`. */
  get connection(): CriConnection {
    return this.#conn;
  }

  /** Closes the gRPC channel if this runtime opened it. */
  close(): void {
    if (this.#ownsConnection) this.#conn.close();
  }

  #call<K extends RuntimeMethod>(
    method: K,
    request: RequestOf<cri.RuntimeServiceClient, K>,
    opts: CallOptions | undefined,
  ): Promise<ResponseOf<cri.RuntimeServiceClient, K>> {
    return this.#conn.runtimeCall(method, request, { signal: opts?.signal }).catch((err: unknown) => {
      if (isAbort(err, opts?.signal)) throw err;
      if (isTransportFailure(err)) throw runtimeFailed(`cri ${method}`, err);
      throw err;
    });
  }

  /** Like #call, but every error other than an abort throws RUNTIME_FAILED (no expected negatives). */
  async #must<K extends RuntimeMethod>(
    method: K,
    request: RequestOf<cri.RuntimeServiceClient, K>,
    opts: CallOptions | undefined,
  ): Promise<ResponseOf<cri.RuntimeServiceClient, K>> {
    try {
      return await this.#call(method, request, opts);
    } catch (err) {
      if (isAbort(err, opts?.signal) || grpcCode(err) === undefined) throw err;
      throw runtimeFailed(`cri ${method}`, err);
    }
  }

  /** `#must`, except that NotFound is `undefined` (stop/remove are idempotent; a gone object has no status). */
  async #unlessNotFound<K extends RuntimeMethod>(
    method: K,
    request: RequestOf<cri.RuntimeServiceClient, K>,
    opts: CallOptions | undefined,
  ): Promise<ResponseOf<cri.RuntimeServiceClient, K> | undefined> {
    try {
      return await this.#call(method, request, opts);
    } catch (err) {
      if (isNotFound(err)) return undefined;
      if (isAbort(err, opts?.signal) || grpcCode(err) === undefined) throw err;
      throw runtimeFailed(`cri ${method}`, err);
    }
  }

  async version(opts?: CallOptions): Promise<RuntimeVersion> {
    const v = await this.#must('version', cri.VersionRequest.fromPartial({ version: 'v1' }), opts);
    return {
      runtimeName: v.runtimeName,
      runtimeVersion: v.runtimeVersion,
      runtimeApiVersion: v.runtimeApiVersion,
    };
  }

  async status(opts?: CallOptions): Promise<readonly RuntimeCondition[]> {
    const res = await this.#must('status', cri.StatusRequest.fromPartial({}), opts);
    return fromCriConditions(res.status);
  }

  // -------------------------------------------------------------------------------------------
  // Sandboxes

  async runPodSandbox(config: PodSandboxConfig, opts?: CallOptions): Promise<RunPodSandboxResult> {
    if (config.linux?.networkNamespacePath !== undefined) {
      return failure(
        'InvalidConfig',
        'the cri runtime cannot join a prepared network namespace: containerd wires the pod network through CNI ' +
          '(use criPodNetwork, which hands out no namespace)',
      );
    }
    const request = cri.RunPodSandboxRequest.fromPartial({
      config: toCriSandboxConfig(config),
      runtimeHandler: this.#handler,
    });
    try {
      const res = await this.#call('runPodSandbox', request, opts);
      return { ok: true, id: res.podSandboxId };
    } catch (err) {
      if (isAbort(err, opts?.signal) || grpcCode(err) === undefined) throw err;
      const msg = grpcDetails(err);
      if (nameReserved.test(msg)) return failure('NameConflict', msg);
      if (grpcCode(err) === grpcStatus.INVALID_ARGUMENT) return failure('InvalidConfig', msg);
      return failure('Failed', msg);
    }
  }

  async stopPodSandbox(id: string, opts?: CallOptions): Promise<void> {
    await this.#unlessNotFound(
      'stopPodSandbox',
      cri.StopPodSandboxRequest.fromPartial({ podSandboxId: id }),
      opts,
    );
  }

  async removePodSandbox(id: string, opts?: CallOptions): Promise<void> {
    // containerd and runc remove each container's own cgroup but not the pod's cgroup parent (the
    // kubelet's pod cgroup manager does that); read it first, while the sandbox still says it.
    const cgroupParent = await this.#podCgroupOf(id, opts);
    // containerd removes only stopped sandboxes (and their containers); stopping first makes remove
    // also kill what runs, as the seam promises.
    await this.stopPodSandbox(id, opts);
    await this.#unlessNotFound(
      'removePodSandbox',
      cri.RemovePodSandboxRequest.fromPartial({ podSandboxId: id }),
      opts,
    );
    // Only empty cgroups go; one still holding processes is left for the next removal.
    if (cgroupParent !== undefined) await this.#cgroups.remove(cgroupParent);
  }

  /**
   * The sandbox's cgroup parent when it is a per-pod one (`…/pod<uid>`), from containerd's verbose
   * status. Anything else (a shared parent, an unreadable answer) is never removed.
   */
  async #podCgroupOf(id: string, opts?: CallOptions): Promise<string | undefined> {
    let info: string | undefined;
    try {
      const res = await this.#call(
        'podSandboxStatus',
        cri.PodSandboxStatusRequest.fromPartial({ podSandboxId: id, verbose: true }),
        opts,
      );
      info = res.info['info'];
    } catch {
      return undefined;
    }
    if (info === undefined) return undefined;
    let parent: unknown;
    try {
      parent = (JSON.parse(info) as { config?: { linux?: { cgroup_parent?: unknown } } }).config?.linux
        ?.cgroup_parent;
    } catch {
      return undefined;
    }
    if (typeof parent !== 'string' || !isAbsolute(parent)) return undefined;
    const normalized = normalize(parent);
    return /^\/.+\/pod[^/]+$/.test(normalized) ? normalized : undefined;
  }

  async podSandboxStatus(id: string, opts?: CallOptions): Promise<PodSandboxStatus | undefined> {
    const res = await this.#unlessNotFound(
      'podSandboxStatus',
      cri.PodSandboxStatusRequest.fromPartial({ podSandboxId: id }),
      opts,
    );
    return res?.status === undefined ? undefined : fromCriSandboxStatus(res.status);
  }

  async listPodSandboxes(filter?: PodSandboxFilter, opts?: CallOptions): Promise<readonly PodSandbox[]> {
    const request = cri.ListPodSandboxRequest.fromPartial({
      filter: {
        id: filter?.id ?? '',
        ...(filter?.state === undefined ? {} : { state: { state: toCriSandboxState(filter.state) } }),
        labelSelector: { ...filter?.labelSelector },
      },
    });
    const res = await this.#must('listPodSandbox', request, opts);
    return byCreation(res.items)
      .map(fromCriSandbox)
      .filter(
        (s) =>
          // containerd matches `id` by prefix (truncindex); the seam means the exact id.
          (filter?.id === undefined || s.id === filter.id) && matchesLabels(s.labels, filter?.labelSelector),
      );
  }

  // -------------------------------------------------------------------------------------------
  // Containers

  async createContainer(
    podSandboxId: string,
    config: ContainerConfig,
    sandboxConfig: PodSandboxConfig,
    opts?: CallOptions,
  ): Promise<CreateContainerResult> {
    // containerd answers a stopped sandbox with a NotFound about its task, indistinguishable from a
    // missing sandbox; one status read tells the two apart.
    const sandbox = await this.podSandboxStatus(podSandboxId, opts);
    if (sandbox === undefined) return failure('NotFound', `sandbox ${podSandboxId} not found`);
    if (sandbox.state !== 'READY') return failure('SandboxNotReady', `sandbox ${podSandboxId} is not ready`);
    const request = cri.CreateContainerRequest.fromPartial({
      podSandboxId,
      config: toCriContainerConfig(podSandboxId, config, sandboxConfig),
      sandboxConfig: toCriSandboxConfig(sandboxConfig),
    });
    try {
      const res = await this.#call('createContainer', request, opts);
      return { ok: true, id: res.containerId };
    } catch (err) {
      if (isAbort(err, opts?.signal) || grpcCode(err) === undefined) throw err;
      const msg = grpcDetails(err);
      if (nameReserved.test(msg)) return failure('NameConflict', msg);
      // NotFound here is the image ("failed to resolve image …: not found"); bad mounts/users are
      // InvalidArgument or plain errors from spec generation.
      if (isNotFound(err) || grpcCode(err) === grpcStatus.INVALID_ARGUMENT)
        return failure('InvalidConfig', msg);
      return failure('Failed', msg);
    }
  }

  async startContainer(id: string, opts?: CallOptions): Promise<StartContainerResult> {
    const st = await this.containerStatus(id, opts);
    if (st === undefined) return failure('NotFound', `container ${id} not found`);
    if (st.state !== 'CREATED') return failure('InvalidState', `container ${id} is ${st.state}, not CREATED`);
    try {
      await this.#call('startContainer', cri.StartContainerRequest.fromPartial({ containerId: id }), opts);
      return { ok: true };
    } catch (err) {
      if (isAbort(err, opts?.signal) || grpcCode(err) === undefined) throw err;
      const msg = grpcDetails(err);
      if (isNotFound(err)) return failure('NotFound', msg);
      if (wrongState.test(msg)) return failure('InvalidState', msg);
      // containerd has recorded the container as EXITED with reason StartError.
      return failure('Failed', msg);
    }
  }

  async stopContainer(id: string, timeoutSeconds: number, opts?: CallOptions): Promise<void> {
    const request = cri.StopContainerRequest.fromPartial({
      containerId: id,
      timeout: BigInt(Math.max(0, Math.ceil(timeoutSeconds))),
    });
    await this.#unlessNotFound('stopContainer', request, opts);
  }

  async removeContainer(id: string, opts?: CallOptions): Promise<void> {
    await this.#unlessNotFound(
      'removeContainer',
      cri.RemoveContainerRequest.fromPartial({ containerId: id }),
      opts,
    );
  }

  async containerStatus(id: string, opts?: CallOptions): Promise<ContainerStatus | undefined> {
    try {
      const res = await this.#call(
        'containerStatus',
        cri.ContainerStatusRequest.fromPartial({ containerId: id }),
        opts,
      );
      if (res.status === undefined) return undefined;
      const st = fromCriContainerStatus(res.status);
      if (st.podSandboxId !== '') return st;
      // Created by someone else (no annotation of ours): one list call finds its sandbox.
      const listed = await this.listContainers({ id }, opts);
      return { ...st, podSandboxId: listed[0]?.podSandboxId ?? '' };
    } catch (err) {
      if (isNotFound(err)) return undefined;
      if (isAbort(err, opts?.signal) || grpcCode(err) === undefined) throw err;
      throw runtimeFailed('cri ContainerStatus', err);
    }
  }

  async listContainers(filter?: ContainerFilter, opts?: CallOptions): Promise<readonly Container[]> {
    const request = cri.ListContainersRequest.fromPartial({
      filter: {
        id: filter?.id ?? '',
        podSandboxId: filter?.podSandboxId ?? '',
        ...(filter?.state === undefined ? {} : { state: { state: toCriContainerState(filter.state) } }),
        labelSelector: { ...filter?.labelSelector },
      },
    });
    const res = await this.#must('listContainers', request, opts);
    return byCreation(res.containers)
      .map(fromCriContainer)
      .filter(
        (c) =>
          (filter?.id === undefined || c.id === filter.id) &&
          (filter?.podSandboxId === undefined || c.podSandboxId === filter.podSandboxId) &&
          matchesLabels(c.labels, filter?.labelSelector),
      );
  }

  // -------------------------------------------------------------------------------------------
  // Exec and stats

  async execSync(id: string, request: ExecSyncRequest, opts?: CallOptions): Promise<ExecSyncResult> {
    const timeout = Math.max(0, Math.ceil(request.timeoutSeconds ?? 0));
    const req = cri.ExecSyncRequest.fromPartial({
      containerId: id,
      cmd: [...request.cmd],
      timeout: BigInt(timeout),
    });
    try {
      const res = await this.#conn.runtimeCall('execSync', req, { signal: opts?.signal });
      return { ok: true, exitCode: res.exitCode, stdout: res.stdout, stderr: res.stderr };
    } catch (err) {
      if (isAbort(err, opts?.signal) || grpcCode(err) === undefined) throw err;
      const msg = grpcDetails(err);
      if (isNotFound(err)) return failure('NotFound', msg);
      // containerd kills the process on timeout and answers with an error instead of an exit code.
      if (
        timeout > 0 &&
        (grpcCode(err) === grpcStatus.DEADLINE_EXCEEDED || /timeout .*exceeded/i.test(msg))
      ) {
        return {
          ok: true,
          exitCode: 137,
          stdout: new Uint8Array(),
          stderr: new Uint8Array(),
          timedOut: true,
        };
      }
      if (isTransportFailure(err)) throw runtimeFailed('cri ExecSync', err);
      if (wrongState.test(msg)) return failure('InvalidState', msg);
      return failure('Failed', msg);
    }
  }

  /**
   * Interactive exec: CRI `Exec` returns a URL on containerd's streaming server, which this opens over
   * WebSocket (`v4.channel.k8s.io`). That protocol cannot half-close stdin: ending `stdin` does not
   * reach the process (use a tty and ^D, or a command that does not wait for EOF).
   */
  async execStream(
    id: string,
    request: ExecStreamRequest,
    opts?: CallOptions,
  ): Promise<ExecStreamSession | RuntimeFailure> {
    const st = await this.containerStatus(id, opts);
    if (st === undefined) return failure('NotFound', `container ${id} not found`);
    if (st.state !== 'RUNNING') return failure('InvalidState', `container ${id} is ${st.state}, not RUNNING`);
    const req = cri.ExecRequest.fromPartial({
      containerId: id,
      cmd: [...request.cmd],
      tty: request.tty,
      // containerd 1.6 drops a tty exec's output when stdin is not attached; the process's stdin is
      // the pty either way, so attach it (and send nothing unless the caller asked for stdin).
      stdin: request.stdin || request.tty,
      stdout: true,
      stderr: !request.tty,
    });
    let url: string;
    try {
      url = (await this.#call('exec', req, opts)).url;
    } catch (err) {
      if (isAbort(err, opts?.signal) || grpcCode(err) === undefined) throw err;
      const msg = grpcDetails(err);
      if (isNotFound(err)) return failure('NotFound', msg);
      if (wrongState.test(msg)) return failure('InvalidState', msg);
      return failure('Failed', msg);
    }
    return openCriExecStream(url, request, opts?.signal);
  }

  async containerStats(id: string, opts?: CallOptions): Promise<ContainerStats | undefined> {
    try {
      const res = await this.#call(
        'containerStats',
        cri.ContainerStatsRequest.fromPartial({ containerId: id }),
        opts,
      );
      return res.stats === undefined ? undefined : { ...fromCriStats(res.stats), id };
    } catch (err) {
      if (isAbort(err, opts?.signal) || grpcCode(err) === undefined) throw err;
      // A container without a task (created, exited) has no metrics: containerd says "not found".
      if (isNotFound(err) || /not found|no running task/i.test(grpcDetails(err))) return undefined;
      throw runtimeFailed('cri ContainerStats', err);
    }
  }

  async listContainerStats(filter?: ContainerFilter, opts?: CallOptions): Promise<readonly ContainerStats[]> {
    const request = cri.ListContainerStatsRequest.fromPartial({
      filter: {
        id: filter?.id ?? '',
        podSandboxId: filter?.podSandboxId ?? '',
        labelSelector: { ...filter?.labelSelector },
      },
    });
    const res = await this.#must('listContainerStats', request, opts);
    let stats = res.stats.map(fromCriStats);
    if (filter?.state !== undefined) {
      // CRI's stats filter has no state: keep the containers in that state.
      const ids = new Set((await this.listContainers({ state: filter.state }, opts)).map((c) => c.id));
      stats = stats.filter((s) => ids.has(s.id));
    }
    return stats;
  }
}

/**
 * What one pod worker does on each turn, the kubelet's `SyncPod` / `SyncTerminatingPod` /
 * `SyncTerminatedPod` over the CRI-shaped runtime:
 *
 * - `sync`: set up the pod's volumes (volumes/volume-manager.ts: nothing is created while one fails;
 *   configMap/secret content is refreshed on later turns), read what the runtime holds for the pod,
 *   then converge: a sandbox (network first), init containers one at a time in order, then every
 *   app container (env objects read, subPaths checked); restart exited ones as the restart policy
 *   says with CrashLoopBackOff; kill those whose liveness/startup probe failed or whose spec hash
 *   changed. Reports "finished" when nothing will run again (Job-like pods).
 * - `kill`: stop every container with the grace period (preStop first), then the sandbox, then the
 *   network, then the volumes (tmpfs unmounted, directories removed). Containers are kept, so their
 *   statuses and logs survive until the pod is deleted.
 * - `remove`: remove sandboxes and containers (after `kill`), when the pod is deleted.
 *
 * Every decision is made from the runtime's state read at the start of the turn plus the worker's
 * small memory (back-off entries, waiting reasons, IPs), so a lost event or an agent restart costs
 * one sync, never a duplicate container: containers are created with attempt = restart count, and
 * the runtime refuses a second container with the same name and attempt.
 */
import type { Clock } from '../../lib/clock.js';
import type { Logger } from '../../lib/logger.js';
import { errorMessage } from '../../lib/errors.js';
import type { ImageService, RegistryCredentials } from '../images/image-service.js';
import type { ContainerStatus, PodSandboxConfig, PodSandboxStatus, Runtime } from '../runtime/runtime.js';
import { runtimeAnnotations, runtimeLabels, type ContainerType } from '../runtime/labels.js';
import { goDuration, type Backoff } from './backoff.js';
import {
  containerConfigFor,
  envObjectRefs,
  objectKey,
  portMappingsOf,
  sandboxConfigFor,
  subPathKey,
  type FetchedObject,
  type PodConfigContext,
} from './container-config.js';
import type { ObjectSource } from '../object-source.js';
import { resolveSubPath, type MountedVolume, type VolumeManager } from './volumes/volume-manager.js';
import { ensureImage } from './image-puller.js';
import type { PodNetwork } from './pod-network.js';
import type { PodMetrics } from './pod-metrics.js';
import type { ContainerSpec, PodView } from './pod-spec.js';
import { podDescription } from './pod-spec.js';
import { shouldRestart, type WaitingReason } from './pod-status.js';
import type { Prober, ProbeManager } from './prober.js';
import { readPodRuntimeState, readySandbox, restartCountOf, type PodRuntimeState } from './runtime-state.js';

/** The kubelet never gives a container less than this to stop (minimumGracePeriodInSeconds). */
const minimumGraceSeconds = 2;

export type PodEventFn = (
  pod: Pick<PodView, 'uid' | 'name' | 'namespace'>,
  type: 'Normal' | 'Warning',
  reason: string,
  message: string,
  container?: { readonly name: string; readonly type: ContainerType },
) => void;

export interface PodSyncDeps {
  readonly runtime: Runtime;
  readonly images: ImageService;
  readonly network: PodNetwork;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly probes: ProbeManager;
  readonly prober: Prober;
  readonly metrics: PodMetrics;
  readonly crashBackoff: Backoff;
  readonly pullBackoff: Backoff;
  readonly config: PodConfigContext;
  /** Scheme of container ids in status. */
  readonly runtimeName: string;
  /** Retry delay after an error that has no back-off of its own (sandbox, create, start). */
  readonly errorRetryMs: number;
  readonly event: PodEventFn;
  readonly pullCredentials?: (pod: PodView) => ReadonlyMap<string, RegistryCredentials> | undefined;
  /** Sets up the pods' volumes; absent (simulated nodes): only hostPath volumes are mounted, as given. */
  readonly volumes?: VolumeManager;
  /** ConfigMaps and Secrets for env; absent: env references to them fail (CreateContainerConfigError). */
  readonly objects?: ObjectSource;
}

/** The sandbox a container is created in, and the pod's volumes. */
interface SandboxRef {
  readonly id: string;
  readonly config: PodSandboxConfig;
  readonly volumes: ReadonlyMap<string, MountedVolume> | undefined;
}

/** What a worker remembers about its pod between turns. */
export interface PodMemory {
  readonly uid: string;
  /** Why containers are not running, from the last attempt to start them. */
  readonly waiting: Map<string, WaitingReason>;
  podIPs: readonly string[];
  startTime?: string;
  /** When the worker first saw the pod (for kubelet_pod_start_duration_seconds). */
  readonly firstSeenAt: number;
  /** The pod already had containers when first seen (adopted after a restart): no start latency. */
  adopted?: boolean;
  startObserved: boolean;
  /** The worker wants another turn at this time (back-off end, retry); Infinity for none. */
  wakeAt: number;
  /** Last BackOff event key per container, so a back-off window is announced once. */
  readonly backoffEvents: Map<string, string>;
}

export function newPodMemory(uid: string, now: number): PodMemory {
  return {
    uid,
    waiting: new Map(),
    podIPs: [],
    firstSeenAt: now,
    startObserved: false,
    wakeAt: Infinity,
    backoffEvents: new Map(),
  };
}

export interface SyncResult {
  /** The runtime's state after this turn's actions. */
  readonly state: PodRuntimeState;
  /** Nothing in the pod will run again (all containers done and not to be restarted). */
  readonly finished: boolean;
}

export class PodSyncer {
  readonly #d: PodSyncDeps;

  constructor(deps: PodSyncDeps) {
    this.#d = deps;
  }

  /** One converging turn for a pod that should run. */
  async sync(pod: PodView, mem: PodMemory, signal: AbortSignal): Promise<SyncResult> {
    const d = this.#d;
    mem.wakeAt = Infinity;
    let state = await readPodRuntimeState(d.runtime, pod.uid, { signal });
    if (mem.adopted === undefined) mem.adopted = state.containers.length > 0;
    d.probes.retain(pod.uid, new Set(state.containers.filter((c) => c.state === 'RUNNING').map((c) => c.id)));

    // Volumes before anything else (the kubelet's WaitForAttachAndMount): nothing is created for a
    // pod whose volumes are not there, while containers already running keep running.
    let volumes: ReadonlyMap<string, MountedVolume> | undefined;
    if (d.volumes !== undefined) {
      const res = await d.volumes.setUp(pod, signal);
      if (!res.ok) {
        d.event(
          pod,
          'Warning',
          'FailedMount',
          `MountVolume.SetUp failed for volume "${res.volume}" : ${res.message}`,
        );
        mem.wakeAt = Math.min(mem.wakeAt, d.clock.now() + d.errorRetryMs);
        return { state, finished: false };
      }
      for (const p of res.problems) {
        d.event(
          pod,
          'Warning',
          'FailedMount',
          `MountVolume.SetUp failed for volume "${p.volume}" : ${p.message}`,
        );
      }
      volumes = res.volumes;
      const refreshAt = d.volumes.nextRefreshAt(pod);
      if (refreshAt !== undefined) mem.wakeAt = Math.min(mem.wakeAt, refreshAt);
    }

    let sandbox = readySandbox(state);
    if (sandbox === undefined) {
      if (this.#nothingToStartInNewSandbox(pod, state)) return { state, finished: true };
      await this.#stopLeftovers(pod, state, signal);
      const created = await this.#createSandbox(pod, mem, state, signal);
      if (created === undefined) return { state, finished: false };
      state = await readPodRuntimeState(d.runtime, pod.uid, { signal });
      sandbox = readySandbox(state);
      if (sandbox === undefined) return { state, finished: false };
    } else if (mem.podIPs.length === 0 && !pod.hostNetwork) {
      await this.#adoptAddresses(pod, mem, sandbox, signal);
    }
    const sbConfig = sandboxConfigFor(pod, d.config, sandbox.metadata.attempt, sandbox.networkNamespacePath);
    const sb: SandboxRef = { id: sandbox.id, config: sbConfig, volumes };
    const inSandbox = state.containers.filter((c) => c.podSandboxId === sandbox.id);
    const latestIn = (name: string): ContainerStatus | undefined =>
      inSandbox.find((c) => c.metadata.name === name);
    const latestAny = (name: string): ContainerStatus | undefined =>
      state.containers.find((c) => c.metadata.name === name);

    // Init containers: one at a time, in order, unless the app containers already started.
    const appStarted = pod.containers.some((c) => latestIn(c.name) !== undefined);
    if (!appStarted) {
      for (const c of pod.initContainers) {
        const latest = latestIn(c.name);
        if (latest?.state === 'EXITED' && latest.exitCode === 0) continue;
        if (latest?.state === 'RUNNING') return { state, finished: false };
        if (latest?.state === 'EXITED' && !shouldRestart(pod.restartPolicy, latest, false)) {
          return { state, finished: true }; // init failed under restartPolicy Never
        }
        await this.#startContainer(pod, mem, sb, c, 'init', latest, latestAny(c.name), signal);
        return { state: await readPodRuntimeState(d.runtime, pod.uid, { signal }), finished: false };
      }
    }

    let pending = false;
    let acted = false;
    for (const c of pod.containers) {
      let latest = latestIn(c.name);
      if (latest?.state === 'RUNNING') {
        const why = this.#killReason(latest, c);
        if (why === undefined) continue;
        await this.#killContainer(pod, latest, c, 'app', why.graceSeconds, why.message, signal);
        acted = true;
        latest = await d.runtime.containerStatus(latest.id, { signal });
      }
      if (!shouldRestart(pod.restartPolicy, latest, false)) continue;
      pending = true;
      const started = await this.#startContainer(pod, mem, sb, c, 'app', latest, latestAny(c.name), signal);
      acted ||= started;
    }
    if (acted) state = await readPodRuntimeState(d.runtime, pod.uid, { signal });
    let anyRunning = false;
    for (const c of state.containers) {
      if (c.podSandboxId !== sandbox.id || c.state !== 'RUNNING') continue;
      anyRunning = true;
      const spec = pod.containers.find((s) => s.name === c.metadata.name);
      if (spec !== undefined) d.probes.ensure(pod.uid, c.id, spec, c.startedAt ?? c.createdAt, mem.podIPs[0]);
    }
    return { state, finished: !pending && !anyRunning && pod.containers.length > 0 };
  }

  /**
   * Stops every container (preStop, SIGTERM, grace, SIGKILL), then the sandboxes and the network.
   * `pod` is undefined for orphans found in the runtime; their grace comes from the annotation.
   */
  async kill(
    pod: PodView | undefined,
    uid: string,
    graceSeconds: number | undefined,
    signal: AbortSignal,
  ): Promise<PodRuntimeState> {
    const d = this.#d;
    const state = await readPodRuntimeState(d.runtime, uid, { signal });
    const live = state.containers.filter((c) => c.state === 'RUNNING' || c.state === 'CREATED');
    await Promise.all(
      live.map((c) => {
        const spec = pod !== undefined ? findSpec(pod, c.metadata.name) : undefined;
        const grace = graceSeconds ?? graceOf(c.annotations);
        return this.#killContainer(pod, c, spec?.spec, spec?.type ?? 'app', grace, undefined, signal);
      }),
    );
    for (const sb of state.sandboxes)
      if (sb.state === 'READY') await d.runtime.stopPodSandbox(sb.id, { signal });
    await d.network.tearDown(uid, { signal });
    try {
      await d.volumes?.tearDown(uid);
    } catch (err) {
      // Not fatal here: the pod's final status still goes out; `remove` tries again (and must succeed).
      d.logger.warn({ podUid: uid, err: errorMessage(err) }, 'volume teardown failed');
      if (pod !== undefined) d.event(pod, 'Warning', 'FailedUnmount', errorMessage(err));
    }
    d.probes.forgetPod(uid);
    return readPodRuntimeState(d.runtime, uid, { signal });
  }

  /** What the runtime holds for the pod now. */
  state(uid: string, signal: AbortSignal): Promise<PodRuntimeState> {
    return readPodRuntimeState(this.#d.runtime, uid, { signal });
  }

  /** Removes the pod's sandboxes and containers (after `kill`). */
  async remove(uid: string, signal: AbortSignal): Promise<void> {
    const d = this.#d;
    const state = await readPodRuntimeState(d.runtime, uid, { signal });
    for (const sb of state.sandboxes) await d.runtime.removePodSandbox(sb.id, { signal });
    for (const c of state.containers) {
      if (!state.sandboxes.some((s) => s.id === c.podSandboxId))
        await d.runtime.removeContainer(c.id, { signal });
    }
    await d.volumes?.tearDown(uid);
    d.crashBackoff.resetPrefix(`${uid}/`);
    d.pullBackoff.resetPrefix(`${uid}/`);
  }

  /** The kubelet's rule: a new sandbox is pointless if nothing would start in it. */
  #nothingToStartInNewSandbox(pod: PodView, state: PodRuntimeState): boolean {
    if (state.containers.length === 0) return false;
    if (pod.restartPolicy === 'Never') return true;
    if (pod.restartPolicy === 'OnFailure') {
      const latest = (name: string): ContainerStatus | undefined =>
        state.containers.find((c) => c.metadata.name === name);
      return pod.containers.every((c) => {
        const l = latest(c.name);
        return l?.state === 'EXITED' && l.exitCode === 0;
      });
    }
    return false;
  }

  async #stopLeftovers(pod: PodView, state: PodRuntimeState, signal: AbortSignal): Promise<void> {
    const d = this.#d;
    if (state.sandboxes.length === 0) return;
    d.event(pod, 'Normal', 'SandboxChanged', 'Pod sandbox changed, it will be killed and re-created.');
    for (const c of state.containers)
      if (c.state === 'RUNNING') await d.runtime.stopContainer(c.id, 0, { signal });
    for (const sb of state.sandboxes)
      if (sb.state === 'READY') await d.runtime.stopPodSandbox(sb.id, { signal });
  }

  async #createSandbox(
    pod: PodView,
    mem: PodMemory,
    state: PodRuntimeState,
    signal: AbortSignal,
  ): Promise<string | undefined> {
    const d = this.#d;
    const attempt =
      state.sandboxes.length > 0 ? Math.max(...state.sandboxes.map((s) => s.metadata.attempt)) + 1 : 0;
    let netns: string | undefined;
    if (!pod.hostNetwork) {
      const net = await d.network.setUp(
        { uid: pod.uid, namespace: pod.namespace, name: pod.name, portMappings: portMappingsOf(pod) },
        { signal },
      );
      if (!net.ok) {
        this.#sandboxFailed(pod, mem, `failed to set up pod network: ${net.message}`);
        return undefined;
      }
      mem.podIPs = net.ips;
      netns = net.networkNamespacePath;
    }
    const res = await d.runtime.runPodSandbox(sandboxConfigFor(pod, d.config, attempt, netns), { signal });
    if (!res.ok) {
      this.#sandboxFailed(pod, mem, res.message);
      return undefined;
    }
    d.metrics.startedPods.inc();
    if (mem.podIPs.length === 0 && !pod.hostNetwork) {
      const st = await d.runtime.podSandboxStatus(res.id, { signal });
      if (st?.network !== undefined) mem.podIPs = [st.network.ip, ...st.network.additionalIps];
    }
    return res.id;
  }

  #sandboxFailed(pod: PodView, mem: PodMemory, message: string): void {
    const d = this.#d;
    d.metrics.startedPodsErrors.inc();
    d.event(pod, 'Warning', 'FailedCreatePodSandBox', `Failed to create pod sandbox: ${message}`);
    mem.wakeAt = Math.min(mem.wakeAt, d.clock.now() + d.errorRetryMs);
  }

  async #adoptAddresses(
    pod: PodView,
    mem: PodMemory,
    sandbox: PodSandboxStatus,
    signal: AbortSignal,
  ): Promise<void> {
    if (sandbox.network !== undefined) {
      mem.podIPs = [sandbox.network.ip, ...sandbox.network.additionalIps];
      return;
    }
    const net = await this.#d.network.setUp(
      { uid: pod.uid, namespace: pod.namespace, name: pod.name, portMappings: portMappingsOf(pod) },
      { signal },
    );
    if (net.ok) mem.podIPs = net.ips;
  }

  #killReason(
    c: ContainerStatus,
    spec: ContainerSpec,
  ): { message: string; graceSeconds: number | undefined } | undefined {
    const hash = c.annotations[runtimeAnnotations.containerHash];
    if (hash !== undefined && hash !== spec.hash) {
      return {
        message: `Container ${spec.name} definition changed, will be restarted`,
        graceSeconds: undefined,
      };
    }
    const failed = this.#d.probes.failed(c.id);
    if (failed !== undefined) {
      return {
        message: `Container ${spec.name} failed ${failed.kind} probe, will be restarted`,
        graceSeconds: failed.spec.terminationGracePeriodSeconds,
      };
    }
    return undefined;
  }

  /** Returns true when the runtime changed (a container was created or a start attempted). */
  async #startContainer(
    pod: PodView,
    mem: PodMemory,
    sb: SandboxRef,
    c: ContainerSpec,
    type: ContainerType,
    latestInSandbox: ContainerStatus | undefined,
    latestAny: ContainerStatus | undefined,
    signal: AbortSignal,
  ): Promise<boolean> {
    const d = this.#d;
    const now = d.clock.now();
    const key = `${pod.uid}/${c.name}`;
    const event = (t: 'Normal' | 'Warning', reason: string, message: string): void => {
      d.event(pod, t, reason, message, { name: c.name, type });
    };
    const waiting = (reason: string, message: string, retryAt?: number): false => {
      mem.waiting.set(c.name, { reason, message });
      if (retryAt !== undefined) mem.wakeAt = Math.min(mem.wakeAt, retryAt);
      return false;
    };

    if (latestInSandbox?.state === 'EXITED') {
      const finishedAt = latestInSandbox.finishedAt ?? now;
      if (d.crashBackoff.inBackoffSince(key, finishedAt, now)) {
        const delay = d.crashBackoff.get(key);
        const eventKey = latestInSandbox.id;
        if (mem.backoffEvents.get(c.name) !== eventKey) {
          mem.backoffEvents.set(c.name, eventKey);
          event(
            'Warning',
            'BackOff',
            `Back-off restarting failed container ${c.name} in pod ${podDescription(pod)}`,
          );
        }
        return waiting(
          'CrashLoopBackOff',
          `back-off ${goDuration(delay)} restarting failed container=${c.name} pod=${podDescription(pod)}`,
          finishedAt + delay,
        );
      }
      d.crashBackoff.next(key, finishedAt, now);
    }

    let containerId: string;
    if (latestInSandbox?.state === 'CREATED') {
      // Created by an earlier turn (or an agent that died) but never started: start that one.
      containerId = latestInSandbox.id;
    } else {
      const image = await ensureImage(
        {
          images: d.images,
          clock: d.clock,
          backoff: d.pullBackoff,
          ...(d.pullCredentials !== undefined ? { credentials: d.pullCredentials } : {}),
        },
        pod,
        c,
        event,
        signal,
      );
      if (!image.ok) {
        if (
          image.reason === 'ImagePullBackOff' &&
          mem.backoffEvents.get(c.name) !== `pull/${image.retryAt ?? 0}`
        ) {
          mem.backoffEvents.set(c.name, `pull/${image.retryAt ?? 0}`);
          event('Normal', 'BackOff', image.message);
          event('Warning', 'Failed', 'Error: ImagePullBackOff');
        }
        return waiting(image.reason, image.message, image.retryAt);
      }
      const restartCount = latestAny !== undefined ? restartCountOf(latestAny) + 1 : 0;
      const objects = await this.#envObjects(pod, c, signal);
      const subPaths = new Map<string, string>();
      for (const m of c.volumeMounts) {
        const vol = sb.volumes?.get(m.name);
        if (m.subPath === undefined || vol === undefined) continue;
        const sp = await resolveSubPath(vol, m.subPath);
        if (!sp.ok) {
          const message = `failed to prepare subPath for volumeMount "${m.name}" of container "${c.name}": ${sp.message}`;
          event('Warning', 'Failed', `Error: ${message}`);
          return waiting('CreateContainerConfigError', message, now + d.errorRetryMs);
        }
        subPaths.set(subPathKey(m.name, m.subPath), sp.hostPath);
      }
      const cfg = containerConfigFor({
        pod,
        container: c,
        type,
        restartCount,
        image: { image: c.image, record: image.image },
        podIPs: mem.podIPs,
        ctx: d.config,
        objects,
        subPaths,
        ...(sb.volumes !== undefined ? { volumes: sb.volumes } : {}),
      });
      if (!cfg.ok) {
        event('Warning', 'Failed', `Error: ${cfg.message}`);
        return waiting('CreateContainerConfigError', cfg.message, now + d.errorRetryMs);
      }
      const created = await d.runtime.createContainer(sb.id, cfg.config, sb.config, { signal });
      if (!created.ok) {
        if (created.reason === 'NameConflict') {
          // This attempt exists already (a turn raced an agent restart): the next turn sees it.
          mem.wakeAt = Math.min(mem.wakeAt, now);
          return false;
        }
        d.metrics.startedContainersErrors.inc({
          container_type: containerTypeLabel(type),
          code: 'CreateContainerError',
        });
        event('Warning', 'Failed', `Error: ${created.message}`);
        return waiting('CreateContainerError', created.message, now + d.errorRetryMs);
      }
      containerId = created.id;
      event('Normal', 'Created', `Created container: ${c.name}`);
      await this.#collectGarbage(pod.uid, c.name, containerId, signal);
    }
    const started = await d.runtime.startContainer(containerId, { signal });
    if (!started.ok) {
      d.metrics.startedContainersErrors.inc({
        container_type: containerTypeLabel(type),
        code: 'RunContainerError',
      });
      event('Warning', 'Failed', `Error: ${started.message}`);
      waiting('RunContainerError', started.message, now + d.errorRetryMs);
      return true;
    }
    mem.waiting.delete(c.name);
    d.metrics.startedContainers.inc({ container_type: containerTypeLabel(type) });
    event('Normal', 'Started', `Started container ${c.name}`);
    return true;
  }

  /** Reads the ConfigMaps and Secrets the container's env names (fresh, as the kubelet does at creation). */
  async #envObjects(
    pod: PodView,
    c: ContainerSpec,
    signal: AbortSignal,
  ): Promise<Map<string, FetchedObject>> {
    const out = new Map<string, FetchedObject>();
    const source = this.#d.objects;
    if (source === undefined) return out;
    for (const ref of envObjectRefs(pod, c)) {
      try {
        out.set(objectKey(ref.kind, ref.name), {
          ok: true,
          object: await source.get(ref.kind, pod.namespace, ref.name, signal),
        });
      } catch (err) {
        if (signal.aborted) throw err;
        out.set(objectKey(ref.kind, ref.name), { ok: false, message: errorMessage(err) });
      }
    }
    return out;
  }

  /** Keeps the newest two containers of a name (current and previous, for `lastState` and logs). */
  async #collectGarbage(uid: string, name: string, newest: string, signal: AbortSignal): Promise<void> {
    const d = this.#d;
    const all = await d.runtime.listContainers(
      { labelSelector: { [runtimeLabels.podUid]: uid, [runtimeLabels.containerName]: name } },
      { signal },
    );
    const old = all.filter((c) => c.id !== newest && c.state !== 'RUNNING').reverse();
    for (const c of old.slice(1)) await d.runtime.removeContainer(c.id, { signal });
  }

  async #killContainer(
    pod: PodView | undefined,
    c: ContainerStatus,
    spec: ContainerSpec | undefined,
    type: ContainerType,
    graceSeconds: number | undefined,
    message: string | undefined,
    signal: AbortSignal,
  ): Promise<void> {
    const d = this.#d;
    const start = d.clock.now();
    let grace = Math.max(
      minimumGraceSeconds,
      graceSeconds ?? (pod !== undefined ? effectiveGrace(pod) : graceOf(c.annotations)),
    );
    if (pod !== undefined) {
      d.event(pod, 'Normal', 'Killing', message ?? `Stopping container ${c.metadata.name}`, {
        name: c.metadata.name,
        type,
      });
    }
    if (spec?.preStop !== undefined && c.state === 'RUNNING') {
      try {
        const out = await d.prober.run(
          { containerId: c.id, container: spec, podIP: undefined },
          spec.preStop,
          grace,
        );
        if (!out.success && pod !== undefined) {
          d.event(pod, 'Warning', 'FailedPreStopHook', `PreStopHook failed: ${out.message}`, {
            name: c.metadata.name,
            type,
          });
        }
      } catch (err) {
        d.logger.warn({ err: errorMessage(err), container: c.metadata.name }, 'preStop hook failed');
      }
      grace = Math.max(minimumGraceSeconds, grace - Math.floor((d.clock.now() - start) / 1000));
    }
    await d.runtime.stopContainer(c.id, grace, { signal });
  }
}

/** The grace period a deletion asks for: the deletion's, else the spec's. */
export function effectiveGrace(pod: PodView): number {
  return pod.deletionGracePeriodSeconds ?? pod.terminationGracePeriodSeconds;
}

function graceOf(annotations: Readonly<Record<string, string>>): number {
  const n = Number(annotations[runtimeAnnotations.terminationGracePeriod]);
  return Number.isFinite(n) && n >= 0 ? n : 30;
}

function findSpec(pod: PodView, name: string): { spec: ContainerSpec; type: ContainerType } | undefined {
  const app = pod.containers.find((c) => c.name === name);
  if (app !== undefined) return { spec: app, type: 'app' };
  const init = pod.initContainers.find((c) => c.name === name);
  return init !== undefined ? { spec: init, type: 'init' } : undefined;
}

function containerTypeLabel(type: ContainerType): string {
  return type === 'init' ? 'init_container' : 'container';
}

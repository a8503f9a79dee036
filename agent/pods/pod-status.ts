/**
 * Builds a pod's status from its spec and what the runtime holds, the kubelet's way
 * (`generateAPIPodStatus`, `convertToAPIContainerStatuses`, `getPhase`): phase, conditions,
 * container statuses with waiting reasons from the last sync (ErrImagePull, CrashLoopBackOff…),
 * last termination state, restart count, readiness, addresses, start time and QoS class.
 * Pure: the worker supplies everything, including "now" and the previous status (for transition times).
 */
import type { ContainerStatus } from '../runtime/runtime.js';
import { asString, type JsonObject } from '../../api/validation/json-access.js';
import type { ContainerSpec, PodView, RestartPolicy } from './pod-spec.js';
import { containersNamed, readySandbox, restartCountOf, type PodRuntimeState } from './runtime-state.js';

export type PodPhase = 'Pending' | 'Running' | 'Succeeded' | 'Failed';

/** A reason a container is waiting, recorded by the last sync that tried to start it. */
export interface WaitingReason {
  readonly reason: string;
  readonly message: string;
}

export interface ProbeView {
  readonly ready: boolean;
  readonly started: boolean;
}

export interface StatusInputs {
  readonly pod: PodView;
  readonly state: PodRuntimeState;
  /** Scheme of container ids: `fake`, `runc`, `containerd`. */
  readonly runtimeName: string;
  readonly now: number;
  readonly waiting: ReadonlyMap<string, WaitingReason>;
  /** Readiness and startup of a running container (from probes; no probe ⇒ true). */
  readonly probes: (containerId: string, spec: ContainerSpec) => ProbeView;
  readonly podIPs: readonly string[];
  readonly hostIP?: string;
  readonly startTime?: string;
  /** The status this worker built last, for condition transition times. */
  readonly previous?: JsonObject;
  /** The pod's containers are being (or have been) stopped for good: nothing will restart. */
  readonly terminal: boolean;
}

/** metav1.Time: RFC 3339 with second precision. */
export function formatTime(ms: number): string {
  return new Date(Math.floor(ms / 1000) * 1000).toISOString().replace('.000Z', 'Z');
}

/** The kubelet's `ShouldContainerBeRestarted`. */
export function shouldRestart(
  restartPolicy: RestartPolicy,
  latest: Pick<ContainerStatus, 'state' | 'exitCode'> | undefined,
  terminating: boolean,
): boolean {
  if (terminating) return false;
  if (latest === undefined) return true;
  if (latest.state === 'RUNNING') return false;
  if (latest.state === 'UNKNOWN' || latest.state === 'CREATED') return true;
  if (restartPolicy === 'Never') return false;
  if (restartPolicy === 'OnFailure' && latest.exitCode === 0) return false;
  return true;
}

export function buildPodStatus(input: StatusInputs): { status: JsonObject; phase: PodPhase } {
  const { pod } = input;
  const hasInit = pod.initContainers.length > 0;
  const initStatuses = pod.initContainers.map((c) => containerStatusOf(input, c, true, hasInit));
  const appStatuses = pod.containers.map((c) => containerStatusOf(input, c, false, hasInit));
  let phase = phaseOf(pod.restartPolicy, initStatuses, appStatuses);
  if (input.terminal && (phase === 'Running' || phase === 'Pending') && !appStatuses.some(isRunning)) {
    // A pod whose containers were stopped for good ends Succeeded or Failed (kubelet ≥ 1.27).
    phase = appStatuses.length > 0 && appStatuses.every((s) => exitCodeOf(s) === 0) ? 'Succeeded' : 'Failed';
  }
  const apiPhase = pod.apiStatus.phase;
  if (apiPhase === 'Succeeded' || apiPhase === 'Failed') phase = apiPhase;

  const conditions = conditionsOf(input, phase, initStatuses, appStatuses);
  const hostIP = input.hostIP;
  const podIPs = pod.hostNetwork ? (hostIP !== undefined ? [hostIP] : []) : input.podIPs;
  const status: JsonObject = {
    phase,
    conditions,
    ...(hostIP !== undefined ? { hostIP, hostIPs: [{ ip: hostIP }] } : {}),
    ...(podIPs[0] !== undefined ? { podIP: podIPs[0], podIPs: podIPs.map((ip) => ({ ip })) } : {}),
    ...(input.startTime !== undefined ? { startTime: input.startTime } : {}),
    ...(hasInit ? { initContainerStatuses: initStatuses } : {}),
    containerStatuses: appStatuses,
    qosClass: pod.qosClass,
  };
  return { status, phase };
}

function containerStatusOf(
  input: StatusInputs,
  spec: ContainerSpec,
  isInit: boolean,
  hasInit: boolean,
): JsonObject {
  const list = containersNamed(input.state, spec.name);
  const current = list[0];
  const previous = list[1];
  const defaultReason = hasInit ? 'PodInitializing' : 'ContainerCreating';
  let state: JsonObject;
  let lastState: JsonObject = {};
  let ready = false;
  let started = false;
  const base: JsonObject = { name: spec.name, image: spec.image, imageID: '' };
  if (current === undefined) {
    state = { waiting: { reason: defaultReason } };
  } else {
    base['image'] = current.image;
    base['imageID'] = current.imageRef;
    base['containerID'] = `${input.runtimeName}://${current.id}`;
    state = runtimeStateOf(input.runtimeName, current, defaultReason);
    if (current.state === 'RUNNING') {
      const p = input.probes(current.id, spec);
      started = isInit ? false : p.started;
      ready = isInit ? false : p.ready && p.started;
    }
    if (isInit && current.state === 'EXITED' && current.exitCode === 0) ready = true;
    if (previous?.state === 'EXITED') lastState = { terminated: terminatedOf(input.runtimeName, previous) };
  }

  // A container that the next sync would restart shows why it is not running yet.
  const succeededInit = isInit && current?.state === 'EXITED' && current.exitCode === 0;
  const why = input.waiting.get(spec.name);
  if (
    !succeededInit &&
    why !== undefined &&
    shouldRestart(input.pod.restartPolicy, current, input.terminal)
  ) {
    if (state['terminated'] !== undefined) lastState = state;
    state = { waiting: { reason: why.reason, ...(why.message !== '' ? { message: why.message } : {}) } };
  }
  return {
    ...base,
    ready,
    restartCount: current !== undefined ? restartCountOf(current) : 0,
    started,
    state,
    lastState,
  };
}

function runtimeStateOf(runtimeName: string, c: ContainerStatus, defaultReason: string): JsonObject {
  switch (c.state) {
    case 'RUNNING':
      return { running: { startedAt: formatTime(c.startedAt ?? c.createdAt) } };
    case 'EXITED':
      return { terminated: terminatedOf(runtimeName, c) };
    case 'CREATED':
      return { waiting: { reason: defaultReason } };
    case 'UNKNOWN':
      return {
        terminated: {
          exitCode: 137,
          reason: 'ContainerStatusUnknown',
          message: 'The container could not be located when the pod was terminated',
          containerID: `${runtimeName}://${c.id}`,
        },
      };
  }
}

function terminatedOf(runtimeName: string, c: ContainerStatus): JsonObject {
  const exitCode = c.exitCode ?? 0;
  const reason =
    c.reason !== undefined && c.reason !== '' ? c.reason : exitCode === 0 ? 'Completed' : 'Error';
  return {
    exitCode,
    reason,
    ...(c.message !== undefined && c.message !== '' ? { message: c.message } : {}),
    ...(c.startedAt !== undefined ? { startedAt: formatTime(c.startedAt) } : {}),
    ...(c.finishedAt !== undefined ? { finishedAt: formatTime(c.finishedAt) } : {}),
    containerID: `${runtimeName}://${c.id}`,
  };
}

function stateOf(s: JsonObject): JsonObject {
  return (s['state'] ?? {}) as JsonObject;
}

function isRunning(s: JsonObject): boolean {
  return stateOf(s)['running'] !== undefined;
}

function exitCodeOf(s: JsonObject): number | undefined {
  const t = stateOf(s)['terminated'] as JsonObject | undefined;
  return typeof t?.['exitCode'] === 'number' ? t['exitCode'] : undefined;
}

function hasLastTermination(s: JsonObject): boolean {
  return (s['lastState'] as JsonObject | undefined)?.['terminated'] !== undefined;
}

/** The kubelet's `getPhase`. */
export function phaseOf(
  policy: RestartPolicy,
  init: readonly JsonObject[],
  app: readonly JsonObject[],
): PodPhase {
  let pendingInit = 0;
  let failedInit = 0;
  for (const s of init) {
    const st = stateOf(s);
    const code = exitCodeOf(s);
    if (st['running'] !== undefined) pendingInit++;
    else if (code === 0) continue;
    else if (code !== undefined) failedInit++;
    else if (st['waiting'] !== undefined && hasLastTermination(s)) failedInit++;
    else pendingInit++;
  }
  let running = 0;
  let waiting = 0;
  let stopped = 0;
  let succeeded = 0;
  for (const s of app) {
    const st = stateOf(s);
    if (st['running'] !== undefined) running++;
    else if (st['terminated'] !== undefined) {
      stopped++;
      if (exitCodeOf(s) === 0) succeeded++;
    } else if (hasLastTermination(s)) stopped++;
    else waiting++;
  }
  if (failedInit > 0 && policy === 'Never') return 'Failed';
  if (pendingInit > 0 || failedInit > 0 || waiting > 0) return 'Pending';
  if (running > 0) return 'Running';
  if (stopped > 0) {
    if (policy === 'Always') return 'Running';
    if (stopped === succeeded) return 'Succeeded';
    if (policy === 'Never') return 'Failed';
    return 'Running';
  }
  return 'Pending';
}

function conditionsOf(
  input: StatusInputs,
  phase: PodPhase,
  init: readonly JsonObject[],
  app: readonly JsonObject[],
): JsonObject[] {
  const names = (xs: readonly JsonObject[]): string => xs.map((s) => asString(s['name'])).join(' ');

  const sandboxReady = readySandbox(input.state) !== undefined;
  const appStarted = app.some((s) => asString(s['containerID']) !== '');
  const incompleteInit = init.filter((s) => exitCodeOf(s) !== 0);
  const initialized = incompleteInit.length === 0 || appStarted;
  const unready = app.filter((s) => s['ready'] !== true);
  const completed = phase === 'Succeeded';

  const cond = (type: string, ok: boolean, reason?: string, message?: string): JsonObject =>
    conditionOf(input, type, ok, reason, message);

  const readyReason = completed ? 'PodCompleted' : 'ContainersNotReady';
  const readyMessage = completed ? undefined : `containers with unready status: [${names(unready)}]`;
  const containersReady = unready.length === 0 && !completed;
  return [
    cond('PodReadyToStartContainers', sandboxReady),
    initialized
      ? cond('Initialized', true, completed && init.length > 0 ? 'PodCompleted' : undefined)
      : cond(
          'Initialized',
          false,
          'ContainersNotInitialized',
          `containers with incomplete status: [${names(incompleteInit)}]`,
        ),
    containersReady ? cond('Ready', true) : cond('Ready', false, readyReason, readyMessage),
    containersReady
      ? cond('ContainersReady', true)
      : cond('ContainersReady', false, readyReason, readyMessage),
    // The scheduler's condition; the agent only keeps it (and its transition time) in the status.
    cond('PodScheduled', true),
  ];
}

/** A condition whose lastTransitionTime moves only when its status changes. */
function conditionOf(
  input: StatusInputs,
  type: string,
  ok: boolean,
  reason?: string,
  message?: string,
): JsonObject {
  const status = ok ? 'True' : 'False';
  const prev =
    findCondition(input.previous?.['conditions'], type) ??
    findCondition(input.pod.apiStatus.conditions, type);
  const since = prev !== undefined && prev['status'] === status ? asString(prev['lastTransitionTime']) : '';
  return {
    type,
    status,
    lastProbeTime: null,
    lastTransitionTime: since !== '' ? since : formatTime(input.now),
    ...(reason !== undefined ? { reason } : {}),
    ...(message !== undefined ? { message } : {}),
  };
}

function findCondition(list: unknown, type: string): JsonObject | undefined {
  if (!Array.isArray(list)) return undefined;
  for (const c of list as unknown[]) {
    if (typeof c === 'object' && c !== null && (c as JsonObject)['type'] === type) return c as JsonObject;
  }
  return undefined;
}

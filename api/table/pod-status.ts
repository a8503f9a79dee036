/**
 * The READY, STATUS and RESTARTS cells of a pod, with the logic of Kubernetes' `printPod`
 * (pkg/printers/internalversion/printers.go, 1.32): init containers first (`Init:0/2`,
 * `Init:CrashLoopBackOff`, `Init:ExitCode:1`), restartable (sidecar) init containers counted as
 * containers, then app containers from last to first so the first container's reason wins
 * (`CrashLoopBackOff`, `Completed`, `Error`, `ExitCode:3`), `Completed` turned back into `Running` or
 * `NotReady` while a container still runs, and `Terminating` once a deletion timestamp is set.
 * RESTARTS reads `3 (5m ago)` when the last termination time is known.
 */

import { humanDuration, parseTimestamp } from './human-duration.js';
import { arr, at, num, str } from './json.js';

/** The status-derived cells of a pod row. */
export interface PodSummary {
  /** `ready/total`, e.g. `1/2`. */
  readonly ready: string;
  readonly status: string;
  /** `0`, or `3 (5m ago)`. */
  readonly restarts: string;
  /** Set for Succeeded/Failed pods, like Kubernetes' row conditions. */
  readonly completed?: 'Succeeded' | 'Failed';
}

function isRestartable(container: unknown): boolean {
  return str(at(container, 'restartPolicy')) === 'Always';
}

function conditionTrue(pod: unknown, type: string): boolean {
  return arr(at(pod, 'status', 'conditions')).some(
    (c) => str(at(c, 'type')) === type && str(at(c, 'status')) === 'True',
  );
}

function terminatedReason(terminated: unknown, prefix: string): string {
  const reason = str(at(terminated, 'reason')) ?? '';
  if (reason !== '') return prefix === '' ? reason : `${prefix}${reason}`;
  const signal = num(at(terminated, 'signal')) ?? 0;
  if (signal !== 0) return `${prefix}Signal:${signal}`;
  return `${prefix}ExitCode:${num(at(terminated, 'exitCode')) ?? 0}`;
}

/** Computes the READY, STATUS and RESTARTS cells of `pod` at `now` (ms since the epoch). */
export function summarizePod(pod: unknown, now: number): PodSummary {
  const specContainers = arr(at(pod, 'spec', 'containers'));
  const specInit = arr(at(pod, 'spec', 'initContainers'));
  const phase = str(at(pod, 'status', 'phase')) ?? '';
  let reason = str(at(pod, 'status', 'reason')) || phase;

  for (const c of arr(at(pod, 'status', 'conditions'))) {
    if (str(at(c, 'type')) === 'PodScheduled' && str(at(c, 'reason')) === 'SchedulingGated')
      reason = 'SchedulingGated';
  }

  const initByName = new Map<string, unknown>();
  let totalContainers = specContainers.length;
  for (const c of specInit) {
    const name = str(at(c, 'name'));
    if (name !== undefined) initByName.set(name, c);
    if (isRestartable(c)) totalContainers++;
  }

  let restarts = 0;
  let restartableInitRestarts = 0;
  let readyContainers = 0;
  let lastRestart: number | undefined;
  let lastRestartableInitRestart: number | undefined;
  const later = (a: number | undefined, b: number | undefined): number | undefined =>
    a === undefined ? b : b === undefined ? a : Math.max(a, b);

  let initializing = false;
  const initStatuses = arr(at(pod, 'status', 'initContainerStatuses'));
  for (const [i, cs] of initStatuses.entries()) {
    const count = num(at(cs, 'restartCount')) ?? 0;
    const finished = parseTimestamp(at(cs, 'lastState', 'terminated', 'finishedAt'));
    restarts += count;
    lastRestart = later(lastRestart, finished);
    const restartable = isRestartable(initByName.get(str(at(cs, 'name')) ?? ''));
    if (restartable) {
      restartableInitRestarts += count;
      lastRestartableInitRestart = later(lastRestartableInitRestart, finished);
    }
    const terminated = at(cs, 'state', 'terminated');
    const waitingReason = str(at(cs, 'state', 'waiting', 'reason')) ?? '';
    if (terminated !== undefined && (num(at(terminated, 'exitCode')) ?? 0) === 0) continue;
    if (restartable && at(cs, 'started') === true) {
      if (at(cs, 'ready') === true) readyContainers++;
      continue;
    }
    if (terminated !== undefined) {
      reason = terminatedReason(terminated, 'Init:');
    } else if (waitingReason !== '' && waitingReason !== 'PodInitializing') {
      reason = `Init:${waitingReason}`;
    } else {
      reason = `Init:${i}/${specInit.length}`;
    }
    initializing = true;
    break;
  }

  if (!initializing || conditionTrue(pod, 'Initialized')) {
    restarts = restartableInitRestarts;
    lastRestart = lastRestartableInitRestart;
    let hasRunning = false;
    const statuses = arr(at(pod, 'status', 'containerStatuses'));
    for (let i = statuses.length - 1; i >= 0; i--) {
      const cs = statuses[i];
      restarts += num(at(cs, 'restartCount')) ?? 0;
      lastRestart = later(lastRestart, parseTimestamp(at(cs, 'lastState', 'terminated', 'finishedAt')));
      const waitingReason = str(at(cs, 'state', 'waiting', 'reason')) ?? '';
      const terminated = at(cs, 'state', 'terminated');
      if (waitingReason !== '') {
        reason = waitingReason;
      } else if (terminated !== undefined) {
        reason = terminatedReason(terminated, '');
      } else if (at(cs, 'ready') === true && at(cs, 'state', 'running') !== undefined) {
        hasRunning = true;
        readyContainers++;
      }
    }
    // A pod whose first container completed while another still runs is not "Completed".
    if (reason === 'Completed' && hasRunning) reason = conditionTrue(pod, 'Ready') ? 'Running' : 'NotReady';
  }

  const deleting = at(pod, 'metadata', 'deletionTimestamp') != null;
  if (deleting && str(at(pod, 'status', 'reason')) === 'NodeLost') reason = 'Unknown';
  else if (deleting && phase !== 'Succeeded' && phase !== 'Failed') reason = 'Terminating';

  const restartsCell =
    restarts !== 0 && lastRestart !== undefined
      ? `${restarts} (${humanDuration(now - lastRestart)} ago)`
      : String(restarts);

  return {
    ready: `${readyContainers}/${totalContainers}`,
    status: reason,
    restarts: restartsCell,
    ...(phase === 'Succeeded' || phase === 'Failed' ? { completed: phase } : {}),
  };
}

/** The readiness-gates cell: `<none>`, or `true/total` over `spec.readinessGates`. */
export function readinessGates(pod: unknown): string {
  const gates = arr(at(pod, 'spec', 'readinessGates'));
  if (gates.length === 0) return '<none>';
  const conditions = arr(at(pod, 'status', 'conditions'));
  let trueCount = 0;
  for (const gate of gates) {
    const type = str(at(gate, 'conditionType'));
    const cond = conditions.find((c) => str(at(c, 'type')) === type);
    if (cond !== undefined && str(at(cond, 'status')) === 'True') trueCount++;
  }
  return `${trueCount}/${gates.length}`;
}

/**
 * What the runtime holds for one pod, read fresh on every sync (the kubelet's `GetPodStatus`): its
 * sandboxes and containers found by the pod-uid label, with full statuses, newest first. The pod
 * workers never trust their own memory over this: it is what makes syncs level-triggered and lets
 * a restarted agent adopt what is running.
 */
import type { CallOptions, ContainerStatus, PodSandboxStatus, Runtime } from '../runtime/runtime.js';
import { runtimeAnnotations, runtimeLabels } from '../runtime/labels.js';

export interface PodRuntimeState {
  /** Newest first. */
  readonly sandboxes: readonly PodSandboxStatus[];
  /** Newest first. */
  readonly containers: readonly ContainerStatus[];
}

export async function readPodRuntimeState(
  runtime: Runtime,
  uid: string,
  opts?: CallOptions,
): Promise<PodRuntimeState> {
  const selector = { labelSelector: { [runtimeLabels.podUid]: uid } };
  const [sandboxList, containerList] = await Promise.all([
    runtime.listPodSandboxes(selector, opts),
    runtime.listContainers(selector, opts),
  ]);
  const sandboxes = await Promise.all(sandboxList.map((s) => runtime.podSandboxStatus(s.id, opts)));
  const containers = await Promise.all(containerList.map((c) => runtime.containerStatus(c.id, opts)));
  // Lists are oldest first; reversing keeps creation order for equal timestamps.
  return {
    sandboxes: sandboxes.filter((s) => s !== undefined).reverse(),
    containers: containers.filter((c) => c !== undefined).reverse(),
  };
}

/** The containers of one name, newest first. */
export function containersNamed(state: PodRuntimeState, name: string): ContainerStatus[] {
  return state.containers.filter((c) => c.metadata.name === name);
}

/** The restart count recorded on a container when it was created. */
export function restartCountOf(c: Pick<ContainerStatus, 'annotations' | 'metadata'>): number {
  const n = Number(c.annotations[runtimeAnnotations.restartCount]);
  return Number.isInteger(n) && n >= 0 ? n : c.metadata.attempt;
}

/** The newest sandbox, if it is READY. */
export function readySandbox(state: PodRuntimeState): PodSandboxStatus | undefined {
  const s = state.sandboxes[0];
  return s?.state === 'READY' ? s : undefined;
}

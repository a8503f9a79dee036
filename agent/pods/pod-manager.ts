/**
 * The seam between the agent's connection to the controller (agent/gateway-client) and its pod
 * workers (agent/pods). The gateway feeds the pods bound to this node in, level-triggered: a full
 * set after every (re)connect, then changes; the pod workers report status and events back out.
 * Neither side knows how the other is built, so hollow agents, tests and the real agent compose
 * the same parts.
 */
import type { StoredObject } from '../../api/object.js';

/** What the gateway client tells the pod workers. Implemented by the pod manager. */
export interface DesiredPods {
  /** The full set of pods bound to this node, after a connect or resync; pods absent here are gone. */
  sync(pods: readonly StoredObject[]): void;
  /** A pod bound to this node was added or changed (a set `deletionTimestamp` means: stop it). */
  update(pod: StoredObject): void;
  /** A pod bound to this node was removed from the store (by uid). */
  remove(uid: string): void;
}

/** A pod's observed status, as the API's `PodStatus` JSON (phase, conditions, containerStatuses, podIP…). */
export interface PodStatusUpdate {
  readonly namespace: string;
  readonly name: string;
  readonly uid: string;
  readonly status: Record<string, unknown>;
}

/** A Kubernetes Event about a pod, as the agent sees it (Pulling, Pulled, Started, BackOff, Killing…). */
export interface PodEvent {
  readonly namespace: string;
  readonly podName: string;
  readonly podUid: string;
  /** `spec.containers{name}` style field path, when the event is about one container. */
  readonly fieldPath?: string;
  readonly type: 'Normal' | 'Warning';
  readonly reason: string;
  readonly message: string;
}

/** What the pod workers tell the controller. Implemented by the gateway client (or a test recorder). */
export interface PodReporter {
  /** Latest status of a pod; the reporter may coalesce several updates of one pod into the newest. */
  status(update: PodStatusUpdate): void;
  event(event: PodEvent): void;
  /**
   * The pod's containers and sandbox are gone after its deletion was requested; the controller may now
   * remove the pod object from the store (kubelet's final delete with grace period 0).
   */
  terminated(pod: { readonly namespace: string; readonly name: string; readonly uid: string }): void;
}

/**
 * Label and annotation keys that the pod workers put on sandboxes and containers, and that runtimes
 * may read (naming cgroups and log files, the fake's init-container default). The `io.kubernetes.*`
 * keys are the kubelet's own, so `crictl` and containerd tooling show Berth's pods as they show
 * Kubernetes'. They are how the agent finds its pods again after a restart: the runtime is the record.
 */

/** Labels: selectable with `LabelSelector`. */
export const runtimeLabels = {
  podUid: 'io.kubernetes.pod.uid',
  podName: 'io.kubernetes.pod.name',
  podNamespace: 'io.kubernetes.pod.namespace',
  containerName: 'io.kubernetes.container.name',
  /** `init` or `app`. */
  containerType: 'berth.dev/container-type',
  /** The node whose agent created the object, so several agents can share one runtime. */
  node: 'berth.dev/node',
} as const;

/** Annotations: state the agent needs back after a restart. */
export const runtimeAnnotations = {
  /** The container's restart count when it was created (kubelet's key). */
  restartCount: 'io.kubernetes.container.restartCount',
  /** Hash of the container spec it was created from; a different hash means "recreate". */
  containerHash: 'io.kubernetes.container.hash',
  /** The pod's termination grace period, for stopping orphans whose pod object is gone. */
  terminationGracePeriod: 'io.kubernetes.pod.terminationGracePeriod',
} as const;

export type ContainerType = 'init' | 'app';

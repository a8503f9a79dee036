/**
 * The shapes of Pod and Node the scheduler reads: the wire JSON of core/v1, readonly and trimmed to the
 * fields scheduling looks at. Both plain decoded JSON (what the store and informers hold) and
 * @kubernetes/client-node's `V1Pod`/`V1Node` models satisfy them without a cast, so the scheduler does
 * not care how objects arrive. Fields the scheduler never reads are left out on purpose.
 */

/** `metadata` as far as the scheduler reads it. */
export interface ObjectMetaLike {
  readonly name?: string | undefined;
  readonly namespace?: string | undefined;
  readonly uid?: string | undefined;
  readonly resourceVersion?: string | undefined;
  readonly labels?: Readonly<Record<string, string>> | undefined;
  /** Any value (string on the wire, `Date` in client-node models): only its presence matters. */
  readonly deletionTimestamp?: unknown;
}

/** A resource list (`requests`, `allocatable`, …): quantities as strings, or plain numbers. */
export type ResourceListLike = Readonly<Record<string, string | number>>;

/** metav1.LabelSelector. */
export interface LabelSelectorLike {
  readonly matchLabels?: Readonly<Record<string, string>> | undefined;
  readonly matchExpressions?:
    | readonly {
        readonly key: string;
        readonly operator: string;
        readonly values?: readonly string[] | undefined;
      }[]
    | undefined;
}

/** One node selector requirement (matchExpressions/matchFields item). */
export interface NodeSelectorRequirementLike {
  readonly key: string;
  readonly operator: string;
  readonly values?: readonly string[] | undefined;
}

/** One node selector term; terms are OR-ed. */
export interface NodeSelectorTermLike {
  readonly matchExpressions?: readonly NodeSelectorRequirementLike[] | undefined;
  readonly matchFields?: readonly NodeSelectorRequirementLike[] | undefined;
}

/** A pod (anti-)affinity term. */
export interface PodAffinityTermLike {
  readonly labelSelector?: LabelSelectorLike | undefined;
  readonly namespaces?: readonly string[] | undefined;
  readonly namespaceSelector?: LabelSelectorLike | undefined;
  readonly topologyKey: string;
}

/** A preferred pod (anti-)affinity term. */
export interface WeightedPodAffinityTermLike {
  readonly weight: number;
  readonly podAffinityTerm: PodAffinityTermLike;
}

/** `spec.affinity`. */
export interface AffinityLike {
  readonly nodeAffinity?:
    | {
        readonly requiredDuringSchedulingIgnoredDuringExecution?:
          { readonly nodeSelectorTerms: readonly NodeSelectorTermLike[] } | undefined;
        readonly preferredDuringSchedulingIgnoredDuringExecution?:
          readonly { readonly weight: number; readonly preference: NodeSelectorTermLike }[] | undefined;
      }
    | undefined;
  readonly podAffinity?:
    | {
        readonly requiredDuringSchedulingIgnoredDuringExecution?: readonly PodAffinityTermLike[] | undefined;
        readonly preferredDuringSchedulingIgnoredDuringExecution?:
          readonly WeightedPodAffinityTermLike[] | undefined;
      }
    | undefined;
  readonly podAntiAffinity?:
    | {
        readonly requiredDuringSchedulingIgnoredDuringExecution?: readonly PodAffinityTermLike[] | undefined;
        readonly preferredDuringSchedulingIgnoredDuringExecution?:
          readonly WeightedPodAffinityTermLike[] | undefined;
      }
    | undefined;
}

/** A pod toleration. */
export interface TolerationLike {
  readonly key?: string | undefined;
  readonly operator?: string | undefined;
  readonly value?: string | undefined;
  readonly effect?: string | undefined;
}

/** A node taint. */
export interface TaintLike {
  readonly key: string;
  readonly value?: string | undefined;
  readonly effect: string;
}

/** A container or init container. */
export interface ContainerLike {
  readonly name: string;
  readonly image?: string | undefined;
  readonly resources?: { readonly requests?: ResourceListLike | undefined } | undefined;
  readonly ports?:
    | readonly {
        readonly containerPort: number;
        readonly hostPort?: number | undefined;
        readonly hostIP?: string | undefined;
        readonly protocol?: string | undefined;
      }[]
    | undefined;
  /** `Always` marks a restartable init container (a sidecar). */
  readonly restartPolicy?: string | undefined;
}

/** A topology spread constraint. */
export interface TopologySpreadConstraintLike {
  readonly maxSkew: number;
  readonly topologyKey: string;
  readonly whenUnsatisfiable: string;
  readonly labelSelector?: LabelSelectorLike | undefined;
  readonly matchLabelKeys?: readonly string[] | undefined;
  readonly minDomains?: number | undefined;
  readonly nodeAffinityPolicy?: string | undefined;
  readonly nodeTaintsPolicy?: string | undefined;
}

/** `spec` of a Pod, as far as scheduling reads it. */
export interface PodSpecLike {
  readonly nodeName?: string | undefined;
  readonly schedulerName?: string | undefined;
  readonly priority?: number | undefined;
  readonly nodeSelector?: Readonly<Record<string, string>> | undefined;
  readonly affinity?: AffinityLike | undefined;
  readonly tolerations?: readonly TolerationLike[] | undefined;
  readonly containers: readonly ContainerLike[];
  readonly initContainers?: readonly ContainerLike[] | undefined;
  readonly overhead?: ResourceListLike | undefined;
  readonly topologySpreadConstraints?: readonly TopologySpreadConstraintLike[] | undefined;
  readonly schedulingGates?: readonly { readonly name: string }[] | undefined;
}

/** A core/v1 Pod as the scheduler reads it. */
export interface PodLike {
  readonly metadata?: ObjectMetaLike | undefined;
  readonly spec?: PodSpecLike | undefined;
  readonly status?: { readonly phase?: string | undefined } | undefined;
}

/** A node condition (only `Ready` is read). */
export interface NodeConditionLike {
  readonly type: string;
  readonly status: string;
}

/** A core/v1 Node as the scheduler reads it. */
export interface NodeLike {
  readonly metadata?: ObjectMetaLike | undefined;
  readonly spec?:
    | { readonly unschedulable?: boolean | undefined; readonly taints?: readonly TaintLike[] | undefined }
    | undefined;
  readonly status?:
    | {
        readonly allocatable?: ResourceListLike | undefined;
        readonly capacity?: ResourceListLike | undefined;
        readonly conditions?: readonly NodeConditionLike[] | undefined;
        readonly images?:
          | readonly {
              readonly names?: readonly string[] | undefined;
              readonly sizeBytes?: number | undefined;
            }[]
          | undefined;
      }
    | undefined;
}

/** The scheduler name a pod asks for; Kubernetes defaults an empty one to `default-scheduler`. */
export const defaultSchedulerName = 'default-scheduler';

/**
 * The key the queue and the cache file a pod under: its UID when it has one (a pod deleted and
 * re-created under the same name is a different pod), else `namespace/name`.
 */
export function podKey(pod: PodLike): string {
  const m = pod.metadata;
  const uid = m?.uid;
  if (uid !== undefined && uid !== '') return uid;
  return `${m?.namespace ?? 'default'}/${m?.name ?? ''}`;
}

/** `namespace/name`, as events and logs print a pod. */
export function podName(pod: PodLike): string {
  return `${pod.metadata?.namespace ?? 'default'}/${pod.metadata?.name ?? ''}`;
}

/** A pod in phase Succeeded or Failed holds no resources and is never scheduled again. */
export function isTerminalPod(pod: PodLike): boolean {
  const phase = pod.status?.phase;
  return phase === 'Succeeded' || phase === 'Failed';
}

/** The node a pod is bound to, or `undefined` while it is pending. */
export function assignedNode(pod: PodLike): string | undefined {
  const n = pod.spec?.nodeName;
  return n === undefined || n === '' ? undefined : n;
}

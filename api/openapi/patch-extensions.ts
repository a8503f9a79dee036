/**
 * Strategic-merge metadata for list and map fields (`x-kubernetes-patch-strategy`,
 * `x-kubernetes-patch-merge-key`), keyed by the client-node model that owns the field. Values are
 * the `patchStrategy`/`patchMergeKey` struct tags of k8s.io/api 1.32 for the types Berth serves
 * (shared/reference/kubectl-api.md §3b).
 *
 * kubectl does not read these from our documents: it builds strategic merge patches from OpenAPI v3
 * only when a PATCH operation declares a `application/strategic-merge-patch+json` request body, which
 * we deliberately do not (§2), and falls back to its compiled-in types. They are published so the
 * documents describe the same merge semantics the server implements, for any other client.
 */

/** The patch metadata of one field. */
export interface PatchMeta {
  readonly strategy: 'merge' | 'retainKeys' | 'merge,retainKeys';
  /** Absent for primitive merge lists (`finalizers`) and for `retainKeys`-only maps. */
  readonly mergeKey?: string;
}

const conditions: PatchMeta = { strategy: 'merge', mergeKey: 'type' };
const byName: PatchMeta = { strategy: 'merge', mergeKey: 'name' };

const containerFields: Readonly<Record<string, PatchMeta>> = {
  ports: { strategy: 'merge', mergeKey: 'containerPort' },
  env: byName,
  volumeMounts: { strategy: 'merge', mergeKey: 'mountPath' },
  volumeDevices: { strategy: 'merge', mergeKey: 'devicePath' },
};

/** Model name (client-node class) → JSON field name → patch metadata. */
export const patchMetaByModel: Readonly<Record<string, Readonly<Record<string, PatchMeta>>>> = {
  V1ObjectMeta: {
    finalizers: { strategy: 'merge' },
    ownerReferences: { strategy: 'merge', mergeKey: 'uid' },
  },
  V1PodSpec: {
    containers: byName,
    initContainers: byName,
    ephemeralContainers: byName,
    volumes: { strategy: 'merge,retainKeys', mergeKey: 'name' },
    imagePullSecrets: byName,
    hostAliases: { strategy: 'merge', mergeKey: 'ip' },
    topologySpreadConstraints: { strategy: 'merge', mergeKey: 'topologyKey' },
    schedulingGates: byName,
    resourceClaims: { strategy: 'merge,retainKeys', mergeKey: 'name' },
  },
  V1Container: containerFields,
  V1EphemeralContainer: containerFields,
  V1PodStatus: {
    conditions,
    podIPs: { strategy: 'merge', mergeKey: 'ip' },
    hostIPs: { strategy: 'merge', mergeKey: 'ip' },
  },
  V1NodeStatus: { conditions, addresses: { strategy: 'merge', mergeKey: 'type' } },
  V1NamespaceStatus: { conditions },
  V1ServiceSpec: { ports: { strategy: 'merge', mergeKey: 'port' } },
  V1ServiceStatus: { conditions },
  V1DeploymentSpec: { strategy: { strategy: 'retainKeys' } },
  V1DeploymentStatus: { conditions },
  V1ReplicaSetStatus: { conditions },
  V1DaemonSetStatus: { conditions },
  V1JobStatus: { conditions },
};

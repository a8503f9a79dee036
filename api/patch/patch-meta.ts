/**
 * The merge semantics of every field that is not "maps merge, lists replace", for the kinds Berth
 * serves — one data table, read by both patch engines:
 *
 * - strategic merge patch reads `patchStrategy`/`patchMergeKey`, the Go struct tags of k8s.io/api
 *   1.32 (`patchStrategy:"merge" patchMergeKey:"name"`);
 * - server-side apply reads `listType`/`listMapKeys`/`mapType` and atomic types, the
 *   `+listType`/`+listMapKey`/`+mapType`/`+structType` markers that become the OpenAPI
 *   `x-kubernetes-*` extensions structured-merge-diff uses.
 *
 * The two differ on purpose, exactly as in Kubernetes: `tolerations` and `taints` are replaced by a
 * strategic merge patch and atomic for apply; node `addresses` merge by `type` in a strategic patch
 * but are atomic for apply; container `ports` merge by `containerPort` in a strategic patch but are
 * keyed by `containerPort`+`protocol` for apply.
 *
 * A field missing from the table behaves as Kubernetes' default: objects merge key by key and lists
 * are replaced (strategic merge) or atomic (apply). Kinds missing from the table (custom resources)
 * have no strategic merge support at all (415, as Kubernetes answers for CRDs); apply still works on
 * them with those defaults, as Kubernetes does for schemaless custom resources.
 */

import type { JsonPrimitive } from './json-value.js';

/** Merge semantics of one field of a struct. */
export interface FieldMeta {
  /** The `patchStrategy` struct tag: `merge`, `replace`, `retainKeys` or `merge,retainKeys`. */
  readonly patchStrategy?: 'merge' | 'replace' | 'retainKeys' | 'merge,retainKeys';
  /** The `patchMergeKey` struct tag; absent for merged lists of primitives (`finalizers`). */
  readonly patchMergeKey?: string;
  /** `+listType` for apply; lists default to `atomic`. */
  readonly listType?: 'atomic' | 'set' | 'map';
  /** `+listMapKey` (in order) when `listType` is `map`. */
  readonly listMapKeys?: readonly string[];
  /** OpenAPI defaults of key fields, used when an element omits them (`protocol: TCP`). */
  readonly listMapKeyDefaults?: Readonly<Record<string, JsonPrimitive>>;
  /** Set when the field is a `map[string]T` rather than a struct; `atomic` is `+mapType=atomic`. */
  readonly mapType?: 'granular' | 'atomic';
  /** Name (in {@link types}) of the struct type of the value, or of each element of a list. */
  readonly type?: string;
}

/** A struct type: its fields with non-default semantics, and `+structType=atomic`. */
export interface TypeSchema {
  readonly atomic?: boolean;
  readonly fields: Readonly<Record<string, FieldMeta>>;
}

const granular: FieldMeta = { mapType: 'granular' };
const atomicMap: FieldMeta = { mapType: 'atomic' };
const conditions: FieldMeta = {
  patchStrategy: 'merge',
  patchMergeKey: 'type',
  listType: 'map',
  listMapKeys: ['type'],
};
/** Job conditions are merged by a strategic patch but atomic for apply (`+listType=atomic`). */
const atomicConditions: FieldMeta = { patchStrategy: 'merge', patchMergeKey: 'type', listType: 'atomic' };

function byKey(key: string, type?: string, patchStrategy: FieldMeta['patchStrategy'] = 'merge'): FieldMeta {
  const meta: FieldMeta = { patchStrategy, patchMergeKey: key, listType: 'map', listMapKeys: [key] };
  return type === undefined ? meta : { ...meta, type };
}

function struct(fields: Record<string, FieldMeta>, atomic = false): TypeSchema {
  return atomic ? { atomic, fields } : { fields };
}

const objectRoot = { metadata: { type: 'ObjectMeta' } } satisfies Record<string, FieldMeta>;

/** Struct types by Go type name. */
export const types = {
  ObjectMeta: struct({
    labels: granular,
    annotations: granular,
    finalizers: { patchStrategy: 'merge', listType: 'set' },
    ownerReferences: byKey('uid', 'OwnerReference'),
  }),
  OwnerReference: struct({}, true),
  ObjectReference: struct({}, true),
  LocalObjectReference: struct({}, true),
  LabelSelector: struct({ matchLabels: granular }, true),
  NodeSelector: struct({}, true),
  ObjectFieldSelector: struct({}, true),
  ResourceFieldSelector: struct({}, true),
  ConfigMapKeySelector: struct({}, true),
  SecretKeySelector: struct({}, true),

  PodTemplateSpec: struct({ metadata: { type: 'ObjectMeta' }, spec: { type: 'PodSpec' } }),
  PodSpec: struct({
    volumes: byKey('name', 'Volume', 'merge,retainKeys'),
    initContainers: byKey('name', 'Container'),
    containers: byKey('name', 'Container'),
    ephemeralContainers: byKey('name', 'Container'),
    imagePullSecrets: byKey('name', 'LocalObjectReference'),
    hostAliases: byKey('ip'),
    topologySpreadConstraints: {
      patchStrategy: 'merge',
      patchMergeKey: 'topologyKey',
      listType: 'map',
      listMapKeys: ['topologyKey', 'whenUnsatisfiable'],
      type: 'TopologySpreadConstraint',
    },
    schedulingGates: byKey('name'),
    resourceClaims: byKey('name', undefined, 'merge,retainKeys'),
    nodeSelector: atomicMap,
    overhead: granular,
    affinity: { type: 'Affinity' },
  }),
  Container: struct({
    ports: {
      patchStrategy: 'merge',
      patchMergeKey: 'containerPort',
      listType: 'map',
      listMapKeys: ['containerPort', 'protocol'],
      listMapKeyDefaults: { protocol: 'TCP' },
    },
    env: byKey('name', 'EnvVar'),
    volumeMounts: byKey('mountPath'),
    volumeDevices: byKey('devicePath'),
    resources: { type: 'ResourceRequirements' },
  }),
  EnvVar: struct({ valueFrom: { type: 'EnvVarSource' } }),
  EnvVarSource: struct({
    fieldRef: { type: 'ObjectFieldSelector' },
    resourceFieldRef: { type: 'ResourceFieldSelector' },
    configMapKeyRef: { type: 'ConfigMapKeySelector' },
    secretKeyRef: { type: 'SecretKeySelector' },
  }),
  ResourceRequirements: struct({
    limits: granular,
    requests: granular,
    // `+listType=map +listMapKey=name` without a patch strategy: replaced by a strategic patch.
    claims: { listType: 'map', listMapKeys: ['name'] },
  }),
  Volume: struct({}),
  Affinity: struct({ nodeAffinity: { type: 'NodeAffinity' } }),
  NodeAffinity: struct({ requiredDuringSchedulingIgnoredDuringExecution: { type: 'NodeSelector' } }),
  TopologySpreadConstraint: struct({ labelSelector: { type: 'LabelSelector' } }),
  PodStatus: struct({
    conditions,
    podIPs: byKey('ip'),
    hostIPs: { patchStrategy: 'merge', patchMergeKey: 'ip', listType: 'atomic' },
    resourceClaimStatuses: byKey('name', undefined, 'merge,retainKeys'),
  }),

  ServiceSpec: struct({
    ports: {
      patchStrategy: 'merge',
      patchMergeKey: 'port',
      listType: 'map',
      listMapKeys: ['port', 'protocol'],
      listMapKeyDefaults: { protocol: 'TCP' },
    },
    selector: atomicMap,
  }),
  ServiceStatus: struct({ conditions }),

  NamespaceStatus: struct({ conditions }),
  NodeSpec: struct({ podCIDRs: { patchStrategy: 'merge', listType: 'set' } }),
  NodeStatus: struct({
    conditions,
    addresses: { patchStrategy: 'merge', patchMergeKey: 'type', listType: 'atomic' },
    capacity: granular,
    allocatable: granular,
  }),

  DeploymentSpec: struct({
    selector: { type: 'LabelSelector' },
    template: { type: 'PodTemplateSpec' },
    strategy: { patchStrategy: 'retainKeys' },
  }),
  ReplicaSetSpec: struct({ selector: { type: 'LabelSelector' }, template: { type: 'PodTemplateSpec' } }),
  DaemonSetSpec: struct({ selector: { type: 'LabelSelector' }, template: { type: 'PodTemplateSpec' } }),
  JobSpec: struct({ selector: { type: 'LabelSelector' }, template: { type: 'PodTemplateSpec' } }),
  WorkloadStatus: struct({ conditions }),
  JobStatus: struct({ conditions: atomicConditions }),

  // Root kinds.
  Pod: struct({ ...objectRoot, spec: { type: 'PodSpec' }, status: { type: 'PodStatus' } }),
  Service: struct({ ...objectRoot, spec: { type: 'ServiceSpec' }, status: { type: 'ServiceStatus' } }),
  Endpoints: struct({ ...objectRoot }),
  ConfigMap: struct({ ...objectRoot, data: granular, binaryData: granular }),
  Secret: struct({ ...objectRoot, data: granular, stringData: granular }),
  Namespace: struct({ ...objectRoot, status: { type: 'NamespaceStatus' } }),
  Node: struct({ ...objectRoot, spec: { type: 'NodeSpec' }, status: { type: 'NodeStatus' } }),
  Event: struct({
    ...objectRoot,
    involvedObject: { type: 'ObjectReference' },
    related: { type: 'ObjectReference' },
  }),
  Deployment: struct({
    ...objectRoot,
    spec: { type: 'DeploymentSpec' },
    status: { type: 'WorkloadStatus' },
  }),
  ReplicaSet: struct({
    ...objectRoot,
    spec: { type: 'ReplicaSetSpec' },
    status: { type: 'WorkloadStatus' },
  }),
  DaemonSet: struct({
    ...objectRoot,
    spec: { type: 'DaemonSetSpec' },
    status: { type: 'WorkloadStatus' },
  }),
  // RawExtension `data` has no schema; apply owns it as a whole.
  ControllerRevision: struct({ ...objectRoot, data: { type: 'Raw' } }),
  Raw: struct({}, true),
  Job: struct({ ...objectRoot, spec: { type: 'JobSpec' }, status: { type: 'JobStatus' } }),
} satisfies Record<string, TypeSchema>;

/** The kinds with a schema, by `apiVersion` then `kind`, naming their root type in {@link types}. */
export const kindTypes: Readonly<Record<string, Readonly<Record<string, keyof typeof types>>>> = {
  v1: {
    Pod: 'Pod',
    Service: 'Service',
    Endpoints: 'Endpoints',
    ConfigMap: 'ConfigMap',
    Secret: 'Secret',
    Namespace: 'Namespace',
    Node: 'Node',
    Event: 'Event',
  },
  'apps/v1': {
    Deployment: 'Deployment',
    ReplicaSet: 'ReplicaSet',
    DaemonSet: 'DaemonSet',
    ControllerRevision: 'ControllerRevision',
  },
  'batch/v1': { Job: 'Job' },
};

/** The group/version/kind an object is, as written in it. */
export interface TypeIdentity {
  readonly apiVersion: string;
  readonly kind: string;
}

/** The root schema of a kind, or undefined when the kind has none (custom resources). */
export function schemaForKind(target: TypeIdentity): TypeSchema | undefined {
  const name = kindTypes[target.apiVersion]?.[target.kind];
  return name === undefined ? undefined : types[name];
}

/** The metadata of field `name` of a struct; undefined when the field has default semantics. */
export function fieldMeta(schema: TypeSchema | undefined, name: string): FieldMeta | undefined {
  return schema === undefined ? undefined : schema.fields[name];
}

/** The struct type of a field's value (or of its list elements); undefined when not described. */
export function fieldType(meta: FieldMeta | undefined): TypeSchema | undefined {
  if (meta?.type === undefined) return undefined;
  return (types as Readonly<Record<string, TypeSchema>>)[meta.type];
}

/** Whether the field's `patchStrategy` tag includes `strategy`. */
export function hasPatchStrategy(
  meta: FieldMeta | undefined,
  strategy: 'merge' | 'replace' | 'retainKeys',
): boolean {
  return meta?.patchStrategy?.split(',').includes(strategy) ?? false;
}

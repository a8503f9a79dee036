/**
 * Typed views of the fields the workload controllers read and write: apps/v1 Deployment and
 * ReplicaSet, and the core/v1 Pod fields that decide readiness and deletion order. Objects stay wire
 * JSON (camelCase, RFC 3339 timestamps at second precision); these types only name the fields.
 * Admission has defaulted and validated what is stored, but readers still tolerate missing fields.
 */
import type { StoredObject } from '../../api/object.js';
import type { LabelSelectorObject } from '../../api/selectors/label-selector.js';

export type IntOrString = number | string;
export type ConditionStatus = 'True' | 'False' | 'Unknown';

/** A status condition as Deployments, ReplicaSets and Pods carry them. */
export interface Condition {
  type: string;
  status: ConditionStatus;
  reason?: string;
  message?: string;
  lastUpdateTime?: string;
  lastTransitionTime?: string;
}

export interface PodTemplateSpec {
  metadata?: {
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    finalizers?: string[];
    [field: string]: unknown;
  };
  spec?: Record<string, unknown>;
}

export interface ReplicaSetSpec {
  replicas?: number;
  minReadySeconds?: number;
  selector?: LabelSelectorObject;
  template?: PodTemplateSpec;
}

export interface ReplicaSetStatus {
  replicas?: number;
  fullyLabeledReplicas?: number;
  readyReplicas?: number;
  availableReplicas?: number;
  observedGeneration?: number;
  conditions?: Condition[];
}

export interface ReplicaSet extends StoredObject {
  spec: ReplicaSetSpec;
  status?: ReplicaSetStatus;
}

export interface DeploymentStrategy {
  type?: string;
  rollingUpdate?: { maxSurge?: IntOrString; maxUnavailable?: IntOrString };
}

export interface DeploymentSpec {
  replicas?: number;
  selector?: LabelSelectorObject;
  template?: PodTemplateSpec;
  strategy?: DeploymentStrategy;
  minReadySeconds?: number;
  revisionHistoryLimit?: number;
  paused?: boolean;
  progressDeadlineSeconds?: number;
}

export interface DeploymentStatus {
  observedGeneration?: number;
  replicas?: number;
  updatedReplicas?: number;
  readyReplicas?: number;
  availableReplicas?: number;
  unavailableReplicas?: number;
  conditions?: Condition[];
  collisionCount?: number;
}

export interface Deployment extends StoredObject {
  spec: DeploymentSpec;
  status?: DeploymentStatus;
}

export interface PodStatus {
  phase?: string;
  conditions?: Condition[];
  containerStatuses?: { restartCount?: number }[];
}

export interface Pod extends StoredObject {
  spec?: { nodeName?: string; [field: string]: unknown };
  status?: PodStatus;
}

/** `obj` viewed as a ReplicaSet (no copy; the caller vouches for the kind). */
export function asReplicaSet(obj: StoredObject): ReplicaSet {
  const spec = obj.spec;
  return (typeof spec === 'object' && spec !== null ? obj : { ...obj, spec: {} }) as ReplicaSet;
}

/** `obj` viewed as a Deployment (no copy; the caller vouches for the kind). */
export function asDeployment(obj: StoredObject): Deployment {
  const spec = obj.spec;
  return (typeof spec === 'object' && spec !== null ? obj : { ...obj, spec: {} }) as Deployment;
}

/** `obj` viewed as a Pod. */
export function asPod(obj: StoredObject): Pod {
  return obj as Pod;
}

/** `spec.replicas`, defaulting to 1 as the API does. */
export function specReplicas(obj: ReplicaSet | Deployment): number {
  return obj.spec.replicas ?? 1;
}

/** A timestamp as the API writes it: RFC 3339, UTC, whole seconds (metav1.Time). */
export function rfc3339(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** Milliseconds since the epoch of an API timestamp, or undefined when absent or unparsable. */
export function parseTimestamp(value: string | undefined): number | undefined {
  if (value === undefined || value === '') return undefined;
  const ms = Date.parse(value);
  return Number.isNaN(ms) ? undefined : ms;
}

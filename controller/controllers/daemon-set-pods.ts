/**
 * Which nodes a DaemonSet's pod belongs on, and the pod it puts there (Kubernetes'
 * pkg/controller/daemon: NodeShouldRunDaemonPod, util.AddOrUpdateDaemonPodTolerations,
 * util.ReplaceDaemonSetPodNodeNameNodeAffinity). Pure functions over stored JSON.
 *
 * Placement: like Kubernetes ≥ 1.12, the controller does not bind pods itself. Each pod gets a
 * required node affinity `matchFields metadata.name In [node]` in place of the template's required
 * terms (which the controller has already checked against the node), and the scheduler binds it —
 * so resources, host ports and the other filters apply to DaemonSet pods as to any other, and
 * FailedScheduling explains a pod that does not fit. Without a running scheduler they stay Pending.
 */
import { cloneJson, type StoredObject } from '../../api/object.js';
import { compileTerm, anyTermMatches, nodeSelectorMatches } from '../scheduler/node-selector.js';
import { toleratesTaint } from '../scheduler/tolerations.js';
import type { NodeSelectorTermLike } from '../scheduler/types.js';
import { nodeTaints, taintKeys, type Toleration } from './node-health.js';
import { controllerRefTo } from './owner-references.js';

/** The label that carries the revision hash on DaemonSet pods and ControllerRevisions. */
export const revisionHashLabel = 'controller-revision-hash';

interface PodSpec {
  nodeName?: string;
  nodeSelector?: Record<string, string>;
  hostNetwork?: boolean;
  tolerations?: Toleration[];
  affinity?: {
    nodeAffinity?: {
      requiredDuringSchedulingIgnoredDuringExecution?: { nodeSelectorTerms?: NodeSelectorTermLike[] };
      preferredDuringSchedulingIgnoredDuringExecution?: unknown;
    };
    [field: string]: unknown;
  };
  [field: string]: unknown;
}

/** core/v1 PodTemplateSpec, as far as the DaemonSet controller reads it. */
export interface PodTemplate {
  metadata?: { labels?: Record<string, string>; annotations?: Record<string, string>; [f: string]: unknown };
  spec?: PodSpec;
}

/** `spec.template` of a DaemonSet (an empty template when missing). */
export function templateOf(ds: StoredObject): PodTemplate {
  return (ds.spec as { template?: PodTemplate } | undefined)?.template ?? {};
}

/**
 * The tolerations every DaemonSet pod gets on top of its template's: NoExecute not-ready and
 * unreachable without a time limit (taint-based eviction must not remove them), and NoSchedule for
 * the pressure conditions, cordon and — with host networking — an unavailable network.
 */
export function daemonPodTolerations(spec: PodSpec): Toleration[] {
  const out = [...(spec.tolerations ?? [])];
  const add = (key: string, effect: string): void => {
    const t: Toleration = { key, operator: 'Exists', effect };
    // AddOrUpdateTolerationInPodSpec: one with the same key, operator, value and effect is replaced.
    const i = out.findIndex(
      (x) =>
        x.key === key &&
        x.effect === effect &&
        (x.operator ?? 'Equal') === 'Exists' &&
        (x.value ?? '') === '',
    );
    if (i < 0) out.push(t);
    else out[i] = t;
  };
  add(taintKeys.notReady, 'NoExecute');
  add(taintKeys.unreachable, 'NoExecute');
  add(taintKeys.diskPressure, 'NoSchedule');
  add(taintKeys.memoryPressure, 'NoSchedule');
  add(taintKeys.pidPressure, 'NoSchedule');
  add(taintKeys.unschedulable, 'NoSchedule');
  if (spec.hostNetwork === true) add(taintKeys.networkUnavailable, 'NoSchedule');
  return out;
}

/** Whether the DaemonSet should start a pod on the node, and whether an existing one may stay. */
export interface NodeVerdict {
  readonly shouldRun: boolean;
  readonly shouldContinueRunning: boolean;
}

/**
 * NodeShouldRunDaemonPod: the template's `nodeName`, `nodeSelector` and required node affinity must
 * match the node; then its taints are checked against the template's tolerations plus the automatic
 * ones — an untolerated NoExecute taint means no pod at all, an untolerated NoSchedule taint means no
 * new pod (a running one may stay).
 */
export function nodeShouldRunDaemonPod(node: StoredObject, ds: StoredObject): NodeVerdict {
  const spec = templateOf(ds).spec ?? {};
  const name = node.metadata.name ?? '';
  const labels = node.metadata.labels ?? {};
  const no = { shouldRun: false, shouldContinueRunning: false };
  if (spec.nodeName !== undefined && spec.nodeName !== '' && spec.nodeName !== name) return no;
  if (spec.nodeSelector !== undefined && !nodeSelectorMatches(Object.entries(spec.nodeSelector), labels)) {
    return no;
  }
  const terms =
    spec.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution?.nodeSelectorTerms;
  if (terms !== undefined && !anyTermMatches(terms.map(compileTerm), name, labels)) return no;
  const tolerations = daemonPodTolerations(spec);
  let fits = true;
  for (const taint of nodeTaints(node)) {
    if (taint.effect !== 'NoSchedule' && taint.effect !== 'NoExecute') continue;
    if (tolerations.some((t) => toleratesTaint(t, taint))) continue;
    if (taint.effect === 'NoExecute') return no;
    fits = false;
  }
  return { shouldRun: fits, shouldContinueRunning: true };
}

/**
 * The pod the DaemonSet `ds` runs on `nodeName`: the template with the revision hash label, the
 * automatic tolerations, a controller reference, and a required node affinity pinning it to the node.
 */
export function newDaemonPod(ds: StoredObject, nodeName: string, hash: string): StoredObject {
  const template = cloneJson(templateOf(ds));
  const spec: PodSpec = template.spec ?? {};
  spec.tolerations = daemonPodTolerations(spec);
  const affinity = spec.affinity ?? {};
  const nodeAffinity = affinity.nodeAffinity ?? {};
  nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution = {
    nodeSelectorTerms: [{ matchFields: [{ key: 'metadata.name', operator: 'In', values: [nodeName] }] }],
  };
  affinity.nodeAffinity = nodeAffinity;
  spec.affinity = affinity;
  const meta = template.metadata ?? {};
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      generateName: `${ds.metadata.name ?? ''}-`,
      ...(ds.metadata.namespace === undefined ? {} : { namespace: ds.metadata.namespace }),
      labels: { ...meta.labels, [revisionHashLabel]: hash },
      ...(meta.annotations === undefined ? {} : { annotations: { ...meta.annotations } }),
      ownerReferences: [controllerRefTo(ds)],
    },
    spec,
  };
}

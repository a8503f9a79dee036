/**
 * `PodInfo`: everything scheduling needs to know about one pod, parsed once per pod version — requests,
 * host ports, tolerations, compiled node selection, compiled pod (anti-)affinity terms, topology
 * spread constraints, images. The queue keeps it with a pending pod (so retries do not re-parse) and
 * the cache keeps it with every assigned pod (existing pods' affinity terms are matched against
 * incoming pods). Immutable once built; a pod update builds a new one.
 */
import {
  labelSelectorFromObject,
  nothing,
  type LabelSelector,
  type LabelSelectorObject,
} from '../../api/selectors/label-selector.js';
import { compileTerm, type CompiledTerm } from './node-selector.js';
import { computePodRequests, type Resources } from './resources.js';
import {
  defaultSchedulerName,
  podKey,
  type LabelSelectorLike,
  type PodAffinityTermLike,
  type PodLike,
  type TolerationLike,
} from './types.js';

/** A host port a pod binds on its node. */
export interface HostPort {
  readonly ip: string;
  readonly protocol: string;
  readonly port: number;
}

/** A compiled pod (anti-)affinity term. `namespaces === undefined` means every namespace. */
export interface AffinityTerm {
  readonly selector: LabelSelector;
  readonly namespaces: ReadonlySet<string> | undefined;
  readonly topologyKey: string;
}

/** A preferred term with its weight (1–100). */
export interface WeightedAffinityTerm extends AffinityTerm {
  readonly weight: number;
}

/** A compiled topology spread constraint (defaults applied). */
export interface SpreadConstraint {
  readonly maxSkew: number;
  readonly topologyKey: string;
  readonly whenUnsatisfiable: 'DoNotSchedule' | 'ScheduleAnyway';
  readonly selector: LabelSelector;
  readonly minDomains: number;
  /** Whether nodes outside the pod's nodeSelector/required affinity count as domains (default Honor: no). */
  readonly nodeAffinityPolicy: 'Honor' | 'Ignore';
  /** Whether nodes with taints the pod does not tolerate count as domains (default Ignore: yes). */
  readonly nodeTaintsPolicy: 'Honor' | 'Ignore';
}

/** The parsed, immutable scheduling view of one pod version (see the module comment). */
export interface PodInfo {
  readonly pod: PodLike;
  readonly key: string;
  readonly namespace: string;
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly schedulerName: string;
  /** `spec.priority` (the admission plugin resolves priorityClassName into it); 0 when unset. */
  readonly priority: number;
  readonly nodeName: string | undefined;
  readonly terminating: boolean;
  readonly gated: boolean;
  readonly requests: Resources;
  readonly nonZero: { readonly milliCpu: number; readonly memory: number };
  /** True when every request is zero, so only the pod-count check applies. */
  readonly requestsNothing: boolean;
  readonly hostPorts: readonly HostPort[];
  readonly tolerations: readonly TolerationLike[];
  readonly nodeSelector: readonly (readonly [string, string])[] | undefined;
  readonly requiredNodeTerms: readonly CompiledTerm[] | undefined;
  readonly preferredNodeTerms:
    readonly { readonly weight: number; readonly term: CompiledTerm }[] | undefined;
  readonly requiredAffinity: readonly AffinityTerm[];
  readonly requiredAntiAffinity: readonly AffinityTerm[];
  readonly preferredAffinity: readonly WeightedAffinityTerm[];
  readonly preferredAntiAffinity: readonly WeightedAffinityTerm[];
  readonly spreadConstraints: readonly SpreadConstraint[];
  /** Normalised images of all containers and init containers. */
  readonly images: readonly string[];
}

const noTolerations: readonly TolerationLike[] = [];

function selectorOf(
  sel: LabelSelectorLike | undefined,
  extra?: LabelSelectorObject['matchExpressions'],
): LabelSelector {
  if (sel === undefined) return nothing;
  const obj: LabelSelectorObject =
    extra === undefined || extra.length === 0
      ? sel
      : { matchLabels: sel.matchLabels, matchExpressions: [...(sel.matchExpressions ?? []), ...extra] };
  const r = labelSelectorFromObject(obj);
  return r.ok ? r.selector : nothing;
}

function compileAffinityTerm(t: PodAffinityTermLike, ownNamespace: string): AffinityTerm {
  let namespaces: Set<string> | undefined = new Set(t.namespaces ?? []);
  const nsSel = t.namespaceSelector;
  if (nsSel !== undefined) {
    const empty =
      Object.keys(nsSel.matchLabels ?? {}).length === 0 && (nsSel.matchExpressions ?? []).length === 0;
    // `{}` selects every namespace. A non-empty namespaceSelector needs Namespace labels, which the
    // scheduler does not watch: it is narrowed to the pod's own namespace (documented limitation).
    if (empty) namespaces = undefined;
    else namespaces.add(ownNamespace);
  } else if (namespaces.size === 0) {
    namespaces.add(ownNamespace);
  }
  return { selector: selectorOf(t.labelSelector), namespaces, topologyKey: t.topologyKey };
}

/**
 * Normalises an image reference the way node status reports images: `nginx` →
 * `docker.io/library/nginx:latest`, `ghcr.io/a/b` → `ghcr.io/a/b:latest`; digests are kept as given.
 */
export function normalizeImage(image: string): string {
  let name = image;
  const slash = name.indexOf('/');
  const first = slash < 0 ? '' : name.slice(0, slash);
  const hasDomain = first.includes('.') || first.includes(':') || first === 'localhost';
  if (!hasDomain) name = slash < 0 ? `docker.io/library/${name}` : `docker.io/${name}`;
  if (!name.includes('@') && name.lastIndexOf(':') <= name.lastIndexOf('/')) name += ':latest';
  return name;
}

/** Builds the scheduling view of a pod. Never throws: malformed parts are treated as absent. */
export function podInfoOf(pod: PodLike): PodInfo {
  const meta = pod.metadata;
  const spec = pod.spec;
  const namespace = meta?.namespace ?? 'default';
  const labels = meta?.labels ?? {};
  const { requests, nonZero } = computePodRequests(spec);

  const hostPorts: HostPort[] = [];
  const images: string[] = [];
  for (const c of [...(spec?.initContainers ?? []), ...(spec?.containers ?? [])]) {
    if (c.image !== undefined && c.image !== '') images.push(normalizeImage(c.image));
    for (const p of c.ports ?? []) {
      if (p.hostPort === undefined || p.hostPort <= 0) continue;
      hostPorts.push({
        ip: p.hostIP === undefined || p.hostIP === '' ? '0.0.0.0' : p.hostIP,
        protocol: p.protocol === undefined || p.protocol === '' ? 'TCP' : p.protocol,
        port: p.hostPort,
      });
    }
  }

  const nodeSel = spec?.nodeSelector;
  const nodeAff = spec?.affinity?.nodeAffinity;
  const required = nodeAff?.requiredDuringSchedulingIgnoredDuringExecution;
  const preferred = nodeAff?.preferredDuringSchedulingIgnoredDuringExecution;
  const podAff = spec?.affinity?.podAffinity;
  const podAnti = spec?.affinity?.podAntiAffinity;

  const spread = (spec?.topologySpreadConstraints ?? []).map((c): SpreadConstraint => {
    const extra = (c.matchLabelKeys ?? [])
      .filter((k) => Object.hasOwn(labels, k))
      .map((k) => ({ key: k, operator: 'In', values: [labels[k] ?? ''] }));
    return {
      maxSkew: c.maxSkew,
      topologyKey: c.topologyKey,
      whenUnsatisfiable: c.whenUnsatisfiable === 'ScheduleAnyway' ? 'ScheduleAnyway' : 'DoNotSchedule',
      selector: c.labelSelector === undefined ? nothing : selectorOf(c.labelSelector, extra),
      minDomains: c.minDomains ?? 1,
      nodeAffinityPolicy: c.nodeAffinityPolicy === 'Ignore' ? 'Ignore' : 'Honor',
      nodeTaintsPolicy: c.nodeTaintsPolicy === 'Honor' ? 'Honor' : 'Ignore',
    };
  });

  const weighted = (ts: readonly { weight: number; podAffinityTerm: PodAffinityTermLike }[] | undefined) =>
    (ts ?? []).map((t) => ({ ...compileAffinityTerm(t.podAffinityTerm, namespace), weight: t.weight }));

  const requestsNothing =
    requests.milliCpu === 0 &&
    requests.memory === 0 &&
    (requests.scalar === undefined || [...requests.scalar.values()].every((v) => v === 0));

  return {
    pod,
    key: podKey(pod),
    namespace,
    name: meta?.name ?? '',
    labels,
    schedulerName:
      spec?.schedulerName === undefined || spec.schedulerName === ''
        ? defaultSchedulerName
        : spec.schedulerName,
    priority: spec?.priority ?? 0,
    nodeName: spec?.nodeName === undefined || spec.nodeName === '' ? undefined : spec.nodeName,
    terminating: meta?.deletionTimestamp !== undefined && meta.deletionTimestamp !== null,
    gated: (spec?.schedulingGates?.length ?? 0) > 0,
    requests,
    nonZero,
    requestsNothing,
    hostPorts,
    tolerations: spec?.tolerations ?? noTolerations,
    nodeSelector:
      nodeSel === undefined || Object.keys(nodeSel).length === 0 ? undefined : Object.entries(nodeSel),
    requiredNodeTerms: required === undefined ? undefined : required.nodeSelectorTerms.map(compileTerm),
    preferredNodeTerms:
      preferred === undefined || preferred.length === 0
        ? undefined
        : preferred.map((p) => ({ weight: p.weight, term: compileTerm(p.preference) })),
    requiredAffinity: (podAff?.requiredDuringSchedulingIgnoredDuringExecution ?? []).map((t) =>
      compileAffinityTerm(t, namespace),
    ),
    requiredAntiAffinity: (podAnti?.requiredDuringSchedulingIgnoredDuringExecution ?? []).map((t) =>
      compileAffinityTerm(t, namespace),
    ),
    preferredAffinity: weighted(podAff?.preferredDuringSchedulingIgnoredDuringExecution),
    preferredAntiAffinity: weighted(podAnti?.preferredDuringSchedulingIgnoredDuringExecution),
    spreadConstraints: spread,
    images,
  };
}

/** True when `term` selects `pod` (namespace and labels). */
export function affinityTermMatches(term: AffinityTerm, pod: PodInfo): boolean {
  if (term.namespaces !== undefined && !term.namespaces.has(pod.namespace)) return false;
  return term.selector.matches(pod.labels);
}

/** Whether the pod carries any pod (anti-)affinity term at all. */
export function hasPodAffinity(p: PodInfo): boolean {
  return (
    p.requiredAffinity.length > 0 ||
    p.requiredAntiAffinity.length > 0 ||
    p.preferredAffinity.length > 0 ||
    p.preferredAntiAffinity.length > 0
  );
}

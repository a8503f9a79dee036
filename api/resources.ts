/**
 * The resource registry: one table of every resource the API server serves, with the names, scope,
 * verbs and subresources that discovery, routing, the OpenAPI documents and Table printing derive from.
 * Nothing else in the code base should hard-code a plural, a short name or a kind→plural mapping.
 *
 * Values mirror what a real kube-apiserver 1.32 reports for the same resources (short names,
 * `categories: ["all"]`, verbs in sorted order), because kubectl's `get all`, `get deploy` and
 * `api-resources` read exactly these fields (shared/reference/kubectl-api.md §1). Resources are listed
 * main-resource-first per group so that derived discovery lists keep that order too.
 */

/**
 * A subresource a resource may expose under `/{plural}/{name}/{subresource}`. `portforward` is named
 * for completeness but no resource lists it: kubectl's port-forward needs SPDY framing (§7).
 */
export type Subresource =
  'status' | 'scale' | 'log' | 'binding' | 'exec' | 'attach' | 'portforward' | 'eviction';

/** One served resource (one plural in one group/version). */
export interface ResourceInfo {
  /** API group; `''` for the core (legacy) group served under `/api/v1`. */
  readonly group: string;
  readonly version: string;
  readonly kind: string;
  readonly listKind: string;
  readonly plural: string;
  readonly singular: string;
  readonly namespaced: boolean;
  readonly shortNames: readonly string[];
  readonly categories: readonly string[];
  /** Verbs on the main resource, sorted as Kubernetes reports them. */
  readonly verbs: readonly string[];
  readonly subresources: readonly Subresource[];
}

/** Every verb a full CRUD resource supports, in the order kube-apiserver lists them. */
const allVerbs = ['create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch'] as const;

function resource(
  group: string,
  version: string,
  kind: string,
  plural: string,
  namespaced: boolean,
  extra: {
    shortNames?: readonly string[];
    categories?: readonly string[];
    verbs?: readonly string[];
    subresources?: readonly Subresource[];
  } = {},
): ResourceInfo {
  return Object.freeze({
    group,
    version,
    kind,
    listKind: `${kind}List`,
    plural,
    singular: kind.toLowerCase(),
    namespaced,
    shortNames: Object.freeze([...(extra.shortNames ?? [])]),
    categories: Object.freeze([...(extra.categories ?? [])]),
    verbs: Object.freeze([...(extra.verbs ?? allVerbs)]),
    subresources: Object.freeze([...(extra.subresources ?? [])]),
  });
}

/**
 * Every resource Berth serves, grouped by group/version in the order discovery lists them
 * (core first, then apps, then batch).
 */
export const resources: readonly ResourceInfo[] = Object.freeze([
  // core/v1
  resource('', 'v1', 'Namespace', 'namespaces', false, {
    shortNames: ['ns'],
    // Kubernetes has no deletecollection on namespaces.
    verbs: ['create', 'delete', 'get', 'list', 'patch', 'update', 'watch'],
  }),
  resource('', 'v1', 'Pod', 'pods', true, {
    shortNames: ['po'],
    categories: ['all'],
    subresources: ['attach', 'binding', 'eviction', 'exec', 'log', 'status'],
  }),
  resource('', 'v1', 'Node', 'nodes', false, { shortNames: ['no'], subresources: ['status'] }),
  resource('', 'v1', 'Service', 'services', true, {
    shortNames: ['svc'],
    categories: ['all'],
    subresources: ['status'],
  }),
  resource('', 'v1', 'Endpoints', 'endpoints', true, { shortNames: ['ep'] }),
  resource('', 'v1', 'ConfigMap', 'configmaps', true, { shortNames: ['cm'] }),
  resource('', 'v1', 'Secret', 'secrets', true),
  resource('', 'v1', 'Event', 'events', true, { shortNames: ['ev'] }),
  // apps/v1
  resource('apps', 'v1', 'Deployment', 'deployments', true, {
    shortNames: ['deploy'],
    categories: ['all'],
    subresources: ['scale', 'status'],
  }),
  resource('apps', 'v1', 'ReplicaSet', 'replicasets', true, {
    shortNames: ['rs'],
    categories: ['all'],
    subresources: ['scale', 'status'],
  }),
  resource('apps', 'v1', 'DaemonSet', 'daemonsets', true, {
    shortNames: ['ds'],
    categories: ['all'],
    subresources: ['status'],
  }),
  resource('apps', 'v1', 'ControllerRevision', 'controllerrevisions', true),
  // batch/v1
  resource('batch', 'v1', 'Job', 'jobs', true, { categories: ['all'], subresources: ['status'] }),
]);

/** `apiVersion` as written in objects: `v1` for core, `group/version` otherwise. */
export function apiVersionOf(r: { readonly group: string; readonly version: string }): string {
  return r.group === '' ? r.version : `${r.group}/${r.version}`;
}

/** Splits an `apiVersion` string into group and version (`'v1'` → core). */
export function parseApiVersion(apiVersion: string): { group: string; version: string } {
  const slash = apiVersion.indexOf('/');
  return slash < 0
    ? { group: '', version: apiVersion }
    : { group: apiVersion.slice(0, slash), version: apiVersion.slice(slash + 1) };
}

/** The resource served at `group/version/plural`, or `undefined` if Berth does not serve it. */
export function findResource(group: string, version: string, plural: string): ResourceInfo | undefined {
  return resources.find((r) => r.group === group && r.version === version && r.plural === plural);
}

/** The resource whose objects have this `apiVersion` and `kind`, or `undefined`. */
export function findResourceByKind(apiVersion: string, kind: string): ResourceInfo | undefined {
  const { group, version } = parseApiVersion(apiVersion);
  return resources.find((r) => r.group === group && r.version === version && r.kind === kind);
}

/**
 * Resolves a name as a user types it on a command line — plural, singular, short name or kind, any
 * case, optionally qualified with `.group` (`deploy`, `Deployment`, `deployments.apps`) — the way
 * kubectl's RESTMapper does. Returns `undefined` when nothing matches.
 */
export function findResourceByName(name: string): ResourceInfo | undefined {
  const lower = name.toLowerCase();
  const dot = lower.indexOf('.');
  const bare = dot < 0 ? lower : lower.slice(0, dot);
  const group = dot < 0 ? undefined : lower.slice(dot + 1);
  return resources.find(
    (r) =>
      (group === undefined || r.group === group) &&
      (r.plural === bare ||
        r.singular === bare ||
        r.kind.toLowerCase() === bare ||
        r.shortNames.includes(bare)),
  );
}

/** Every served group/version, in registry order, core first; each appears once. */
export function groupVersions(): { group: string; version: string }[] {
  const seen = new Set<string>();
  const out: { group: string; version: string }[] = [];
  for (const r of resources) {
    const key = apiVersionOf(r);
    if (seen.has(key)) continue;
    seen.add(key);
    out.push({ group: r.group, version: r.version });
  }
  return out;
}

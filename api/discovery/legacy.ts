/**
 * Legacy (non-aggregated) discovery documents: `GET /api` (APIVersions), `GET /apis` (APIGroupList)
 * and `GET /api/v1` / `GET /apis/{group}/{version}` (APIResourceList).
 *
 * These endpoints are mandatory even though kubectl prefers aggregated discovery: client-node's
 * `KubernetesObjectApi` always reads the per-group/version list to map a kind to its plural and scope
 * (shared/reference/kubectl-api.md §1). Two ordering rules come from that client: each main resource
 * is listed before its subresources, because client-node takes the first entry whose `kind` matches
 * and `deployments/status` has kind `Deployment` too.
 *
 * Shapes follow the minimal ones observed to work with kubectl 1.32 and client-node 1.4;
 * `storageVersionHash` is left out because no client we serve reads it.
 */

import { apiVersionOf, groupVersions, resources } from '../resources.js';
import { subresourcesOf } from './subresources.js';

/** One entry of an `APIResourceList` (`metav1.APIResource`). */
export interface ApiResource {
  readonly name: string;
  readonly singularName: string;
  readonly namespaced: boolean;
  /** Set only when the response kind lives in another group (e.g. `autoscaling` for `*\/scale`). */
  readonly group?: string;
  readonly version?: string;
  readonly kind: string;
  readonly verbs: readonly string[];
  readonly shortNames?: readonly string[];
  readonly categories?: readonly string[];
}

export interface ApiResourceList {
  readonly kind: 'APIResourceList';
  readonly apiVersion: 'v1';
  readonly groupVersion: string;
  readonly resources: readonly ApiResource[];
}

export interface GroupVersionForDiscovery {
  readonly groupVersion: string;
  readonly version: string;
}

export interface ApiGroup {
  readonly name: string;
  readonly versions: readonly GroupVersionForDiscovery[];
  readonly preferredVersion: GroupVersionForDiscovery;
}

export interface ApiGroupList {
  readonly kind: 'APIGroupList';
  readonly apiVersion: 'v1';
  readonly groups: readonly ApiGroup[];
}

export interface ApiVersions {
  readonly kind: 'APIVersions';
  readonly versions: readonly string[];
  readonly serverAddressByClientCIDRs: readonly {
    readonly clientCIDR: string;
    readonly serverAddress: string;
  }[];
}

/**
 * The body of `GET /api`. `serverAddress` is the `host:port` clients should use (kube-apiserver
 * reports its advertise address; the request's Host header is a fine stand-in).
 */
export function legacyApiVersions(serverAddress: string): ApiVersions {
  const versions = groupVersions()
    .filter((gv) => gv.group === '')
    .map((gv) => gv.version);
  return {
    kind: 'APIVersions',
    versions,
    serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress }],
  };
}

/** The body of `GET /apis`: every non-core group, each with its single (preferred) version. */
export function apiGroupList(): ApiGroupList {
  const byGroup = new Map<string, GroupVersionForDiscovery[]>();
  for (const gv of groupVersions()) {
    if (gv.group === '') continue;
    const list = byGroup.get(gv.group) ?? [];
    list.push({ groupVersion: apiVersionOf(gv), version: gv.version });
    byGroup.set(gv.group, list);
  }
  const groups: ApiGroup[] = [];
  for (const [name, versions] of byGroup) {
    const preferred = versions[0];
    if (preferred === undefined) continue;
    groups.push({ name, versions, preferredVersion: preferred });
  }
  return { kind: 'APIGroupList', apiVersion: 'v1', groups };
}

/**
 * The body of `GET /api/v1` (group `''`) or `GET /apis/{group}/{version}`, or `undefined` when Berth
 * serves no such group/version (the server answers 404).
 */
export function apiResourceList(group: string, version: string): ApiResourceList | undefined {
  const served = resources.filter((r) => r.group === group && r.version === version);
  if (served.length === 0) return undefined;
  const out: ApiResource[] = [];
  for (const r of served) {
    out.push({
      name: r.plural,
      singularName: r.singular,
      namespaced: r.namespaced,
      kind: r.kind,
      verbs: r.verbs,
      ...(r.shortNames.length > 0 ? { shortNames: r.shortNames } : {}),
      ...(r.categories.length > 0 ? { categories: r.categories } : {}),
    });
    for (const sub of subresourcesOf(r)) {
      const foreign = sub.responseKind.group !== r.group || sub.responseKind.version !== r.version;
      out.push({
        name: `${r.plural}/${sub.subresource}`,
        singularName: '',
        namespaced: r.namespaced,
        ...(foreign ? { group: sub.responseKind.group, version: sub.responseKind.version } : {}),
        kind: sub.responseKind.kind,
        verbs: sub.verbs,
      });
    }
  }
  return {
    kind: 'APIResourceList',
    apiVersion: 'v1',
    groupVersion: apiVersionOf({ group, version }),
    resources: out,
  };
}

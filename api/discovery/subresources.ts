/**
 * What each subresource answers with and which verbs it takes, as kube-apiserver 1.32 reports them in
 * discovery. Both the legacy `APIResourceList` and the aggregated `APIGroupDiscoveryList` are built
 * from this one table, so the two forms cannot disagree.
 *
 * The response kind matters to clients: `kubectl scale` looks for `<plural>/scale` with
 * `autoscaling/v1 Scale` (client-go scale/util.go), and `kubectl drain` looks for `pods/eviction` with
 * `policy/v1 Eviction`.
 */

import type { ResourceInfo, Subresource } from '../resources.js';

/** A group/version/kind triple as discovery writes it (`group` is `''` for core). */
export interface GroupVersionKind {
  readonly group: string;
  readonly version: string;
  readonly kind: string;
}

/** How one subresource of one resource appears in discovery. */
export interface SubresourceDiscovery {
  readonly subresource: Subresource;
  readonly responseKind: GroupVersionKind;
  readonly verbs: readonly string[];
}

const readWrite = ['get', 'patch', 'update'] as const;

/**
 * The discovery facts for `subresource` of `r`. Subresources are returned in the order Kubernetes
 * lists them (alphabetical) by {@link subresourcesOf}.
 */
export function subresourceDiscovery(r: ResourceInfo, subresource: Subresource): SubresourceDiscovery {
  const own = (kind: string): GroupVersionKind => ({ group: r.group, version: r.version, kind });
  switch (subresource) {
    case 'status':
      return { subresource, responseKind: own(r.kind), verbs: readWrite };
    case 'scale':
      return {
        subresource,
        responseKind: { group: 'autoscaling', version: 'v1', kind: 'Scale' },
        verbs: readWrite,
      };
    case 'log':
      return { subresource, responseKind: own(r.kind), verbs: ['get'] };
    case 'binding':
      return { subresource, responseKind: own('Binding'), verbs: ['create'] };
    case 'exec':
      return { subresource, responseKind: own('PodExecOptions'), verbs: ['create', 'get'] };
    case 'attach':
      return { subresource, responseKind: own('PodAttachOptions'), verbs: ['create', 'get'] };
    case 'portforward':
      return { subresource, responseKind: own('PodPortForwardOptions'), verbs: ['create', 'get'] };
    case 'eviction':
      return {
        subresource,
        responseKind: { group: 'policy', version: 'v1', kind: 'Eviction' },
        verbs: ['create'],
      };
  }
}

/** Discovery facts for every subresource of `r`, sorted by name as kube-apiserver sorts them. */
export function subresourcesOf(r: ResourceInfo): SubresourceDiscovery[] {
  return [...r.subresources].sort().map((s) => subresourceDiscovery(r, s));
}

/**
 * Aggregated discovery (`apidiscovery.k8s.io` `APIGroupDiscoveryList`): the whole of `/api` or `/apis`
 * in one response, so kubectl skips its per-group/version round trips. kubectl 1.32 asks for v2 first
 * and v2beta1 second; the two versions have the same shape and differ only in `apiVersion` and the
 * response Content-Type, which is what client-go actually switches on
 * (shared/reference/kubectl-api.md §1).
 */

import { groupVersions, resources } from '../resources.js';
import type { GroupVersionKind } from './subresources.js';
import { subresourcesOf } from './subresources.js';

/** Which aggregated discovery version a client asked for. */
export type AggregatedVersion = 'v2' | 'v2beta1';

/** `/api` lists the core group only; `/apis` lists every named group. */
export type DiscoveryRoot = 'legacy' | 'apis';

export interface AggregatedSubresource {
  readonly subresource: string;
  readonly responseKind: GroupVersionKind;
  readonly verbs: readonly string[];
}

export interface AggregatedResource {
  readonly resource: string;
  readonly responseKind: GroupVersionKind;
  readonly scope: 'Namespaced' | 'Cluster';
  readonly singularResource: string;
  readonly verbs: readonly string[];
  readonly shortNames?: readonly string[];
  readonly categories?: readonly string[];
  readonly subresources?: readonly AggregatedSubresource[];
}

export interface AggregatedVersionDiscovery {
  readonly version: string;
  readonly resources: readonly AggregatedResource[];
  readonly freshness: 'Current';
}

export interface AggregatedGroupDiscovery {
  readonly metadata: { readonly name: string };
  readonly versions: readonly AggregatedVersionDiscovery[];
}

export interface AggregatedDiscoveryList {
  readonly kind: 'APIGroupDiscoveryList';
  readonly apiVersion: `apidiscovery.k8s.io/${AggregatedVersion}`;
  readonly metadata: Record<string, never>;
  readonly items: readonly AggregatedGroupDiscovery[];
}

/** The Content-Type that makes client-go parse a discovery response as aggregated `version`. */
export function aggregatedContentType(version: AggregatedVersion): string {
  return `application/json;g=apidiscovery.k8s.io;v=${version};as=APIGroupDiscoveryList`;
}

/**
 * The aggregated discovery body for `GET /api` (`root: 'legacy'`, one item named `""` for core v1)
 * or `GET /apis` (`root: 'apis'`, one item per named group). Serve it with
 * {@link aggregatedContentType}`(version)`.
 */
export function aggregatedDiscovery(
  root: DiscoveryRoot,
  version: AggregatedVersion,
): AggregatedDiscoveryList {
  const items: AggregatedGroupDiscovery[] = [];
  const byGroup = new Map<string, AggregatedVersionDiscovery[]>();
  for (const gv of groupVersions()) {
    if ((gv.group === '') !== (root === 'legacy')) continue;
    const versions = byGroup.get(gv.group) ?? [];
    versions.push({
      version: gv.version,
      resources: resourcesOf(gv.group, gv.version),
      freshness: 'Current',
    });
    byGroup.set(gv.group, versions);
  }
  for (const [name, versions] of byGroup) items.push({ metadata: { name }, versions });
  return { kind: 'APIGroupDiscoveryList', apiVersion: `apidiscovery.k8s.io/${version}`, metadata: {}, items };
}

function resourcesOf(group: string, version: string): AggregatedResource[] {
  return resources
    .filter((r) => r.group === group && r.version === version)
    .map((r) => {
      const subs = subresourcesOf(r).map((s) => ({
        subresource: s.subresource,
        responseKind: s.responseKind,
        verbs: s.verbs,
      }));
      return {
        resource: r.plural,
        responseKind: { group: r.group, version: r.version, kind: r.kind },
        scope: r.namespaced ? 'Namespaced' : 'Cluster',
        singularResource: r.singular,
        verbs: r.verbs,
        ...(r.shortNames.length > 0 ? { shortNames: r.shortNames } : {}),
        ...(r.categories.length > 0 ? { categories: r.categories } : {}),
        ...(subs.length > 0 ? { subresources: subs } : {}),
      };
    });
}

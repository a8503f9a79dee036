/**
 * The CLI's REST mapper: what the *server* says it serves, read from its discovery documents, and
 * the lookups kubectl's RESTMapper does on top — a command-line name (`deploy`, `deployments.apps`,
 * `Deployment`, `po`) or a manifest's apiVersion/kind to a resource with its path pieces and scope.
 * The CLI talks to a remote server, so it never imports the server's own table (api/resources.ts).
 *
 * Aggregated discovery (one request each for `/api` and `/apis`) is asked for first, as kubectl
 * does; a server answering with the legacy documents is read through them instead.
 */

import { isJsonObject, type JsonObject, type JsonValue } from '../../api/patch/json-value.js';

/** One served resource as discovery describes it. */
export interface ApiResource {
  /** `''` for the core group. */
  readonly group: string;
  readonly version: string;
  readonly kind: string;
  readonly plural: string;
  readonly singular: string;
  readonly namespaced: boolean;
  readonly shortNames: readonly string[];
  readonly categories: readonly string[];
  readonly verbs: readonly string[];
  readonly subresources: readonly string[];
}

/** `v1` or `apps/v1`. */
export function apiVersionOf(r: Pick<ApiResource, 'group' | 'version'>): string {
  return r.group === '' ? r.version : `${r.group}/${r.version}`;
}

/** `deployments.apps` / `pods`: how kubectl names a resource in errors. */
export function groupResourceOf(r: Pick<ApiResource, 'group' | 'plural'>): string {
  return r.group === '' ? r.plural : `${r.plural}.${r.group}`;
}

/** `deployment.apps` / `pod`: how kubectl names a kind in `created`/`deleted` lines. */
export function kindNameOf(r: Pick<ApiResource, 'group' | 'kind'>): string {
  const kind = r.kind.toLowerCase();
  return r.group === '' ? kind : `${kind}.${r.group}`;
}

/** The Accept header kubectl 1.32 sends for discovery. */
export const aggregatedDiscoveryAccept =
  'application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,' +
  'application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json';

/** Resolves names and kinds against a fixed set of resources. */
export class ResourceMapper {
  readonly resources: readonly ApiResource[];

  constructor(resources: readonly ApiResource[]) {
    this.resources = resources;
  }

  /** The resource serving objects of `apiVersion`/`kind`, or undefined if the server has none. */
  byKind(apiVersion: string, kind: string): ApiResource | undefined {
    return this.resources.find((r) => apiVersionOf(r) === apiVersion && r.kind === kind);
  }

  /**
   * A name as typed on a command line, matched as kubectl matches it: plural, singular, short name
   * or kind, case-insensitive, optionally qualified as `name.group` or `name.version.group`.
   * Undefined when the server has no such resource.
   */
  byName(arg: string): ApiResource | undefined {
    const lower = arg.toLowerCase();
    const dot = lower.indexOf('.');
    const bare = dot < 0 ? lower : lower.slice(0, dot);
    const qualifier = dot < 0 ? undefined : lower.slice(dot + 1);
    const matches = (r: ApiResource): boolean =>
      r.plural === bare ||
      r.singular === bare ||
      r.kind.toLowerCase() === bare ||
      r.shortNames.includes(bare);
    const qualified = (r: ApiResource): boolean =>
      qualifier === undefined || r.group === qualifier || `${r.version}.${r.group}` === qualifier;
    // Exact plural/singular/kind beats a short name, as in kubectl's priority RESTMapper.
    const candidates = this.resources.filter((r) => matches(r) && qualified(r));
    return (
      candidates.find((r) => r.plural === bare || r.singular === bare || r.kind.toLowerCase() === bare) ??
      candidates[0]
    );
  }

  /** Resources in a category (`all`), in discovery order. */
  byCategory(category: string): ApiResource[] {
    return this.resources.filter((r) => r.categories.includes(category));
  }
}

function strings(v: JsonValue | undefined): string[] {
  return Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : [];
}

function str(v: JsonValue | undefined): string {
  return typeof v === 'string' ? v : '';
}

/** Reads an aggregated `APIGroupDiscoveryList` (`/api` or `/apis`), preferred version first. */
export function resourcesFromAggregated(doc: JsonObject): ApiResource[] {
  const out: ApiResource[] = [];
  const items = Array.isArray(doc['items']) ? doc['items'] : [];
  for (const item of items) {
    if (!isJsonObject(item)) continue;
    const group = isJsonObject(item['metadata']) ? str(item['metadata']['name']) : '';
    const versions = Array.isArray(item['versions']) ? item['versions'] : [];
    for (const v of versions) {
      if (!isJsonObject(v)) continue;
      const version = str(v['version']);
      for (const r of Array.isArray(v['resources']) ? v['resources'] : []) {
        if (!isJsonObject(r)) continue;
        const kind = isJsonObject(r['responseKind']) ? str(r['responseKind']['kind']) : '';
        const subs = Array.isArray(r['subresources']) ? r['subresources'] : [];
        out.push({
          group,
          version,
          kind,
          plural: str(r['resource']),
          singular: str(r['singularResource']) || kind.toLowerCase(),
          namespaced: r['scope'] === 'Namespaced',
          shortNames: strings(r['shortNames']),
          categories: strings(r['categories']),
          verbs: strings(r['verbs']),
          subresources: subs.flatMap((s) => (isJsonObject(s) ? [str(s['subresource'])] : [])),
        });
      }
    }
  }
  return out;
}

/** Reads a legacy `APIResourceList` (`/api/v1`, `/apis/apps/v1`). */
export function resourcesFromLegacy(doc: JsonObject): ApiResource[] {
  const gv = str(doc['groupVersion']);
  const slash = gv.indexOf('/');
  const group = slash < 0 ? '' : gv.slice(0, slash);
  const version = slash < 0 ? gv : gv.slice(slash + 1);
  const list = Array.isArray(doc['resources']) ? doc['resources'].filter(isJsonObject) : [];
  const main = list.filter((r) => !str(r['name']).includes('/'));
  return main.map((r) => {
    const plural = str(r['name']);
    const kind = str(r['kind']);
    return {
      group,
      version,
      kind,
      plural,
      singular: str(r['singularName']) || kind.toLowerCase(),
      namespaced: r['namespaced'] === true,
      shortNames: strings(r['shortNames']),
      categories: strings(r['categories']),
      verbs: strings(r['verbs']),
      subresources: list
        .map((s) => str(s['name']))
        .filter((n) => n.startsWith(`${plural}/`))
        .map((n) => n.slice(plural.length + 1)),
    };
  });
}

/** The group/versions a legacy `/api` (`APIVersions`) or `/apis` (`APIGroupList`) document names. */
export function legacyGroupVersions(doc: JsonObject): string[] {
  if (doc['kind'] === 'APIVersions') return strings(doc['versions']);
  const groups = Array.isArray(doc['groups']) ? doc['groups'].filter(isJsonObject) : [];
  return groups.flatMap((g) => {
    const preferred = isJsonObject(g['preferredVersion']) ? str(g['preferredVersion']['groupVersion']) : '';
    return preferred === '' ? [] : [preferred];
  });
}

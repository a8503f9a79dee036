/**
 * Parses a request path into what it addresses, the way kube-apiserver's RequestInfoFactory does:
 * discovery documents, or a resource request with group, version, namespace, resource, name,
 * subresource and verb. Pure; the router acts on the result.
 */

export type RequestInfo =
  | { readonly kind: 'discovery-root'; readonly root: 'api' | 'apis' }
  | { readonly kind: 'discovery-group'; readonly group: string }
  | { readonly kind: 'discovery-version'; readonly group: string; readonly version: string }
  | ({ readonly kind: 'resource' } & ResourceRequest)
  | { readonly kind: 'other'; readonly path: string };

export type Verb = 'get' | 'list' | 'watch' | 'create' | 'update' | 'patch' | 'delete' | 'deletecollection';

export interface ResourceRequest {
  readonly group: string;
  readonly version: string;
  readonly namespace?: string;
  readonly resource: string;
  readonly name?: string;
  readonly subresource?: string;
  readonly verb: Verb | 'unknown';
}

/** Subresources of a namespace itself; anything else after `/namespaces/{ns}/` is a namespaced resource. */
const namespaceSubresources = new Set(['status', 'finalize']);

export function parseRequestInfo(method: string, pathname: string, query: URLSearchParams): RequestInfo {
  const parts = pathname
    .split('/')
    .filter((p) => p !== '')
    .map(decodeURIComponent);
  let group: string;
  let rest: string[];
  if (parts[0] === 'api') {
    if (parts.length === 1) return { kind: 'discovery-root', root: 'api' };
    group = '';
    rest = parts.slice(1);
  } else if (parts[0] === 'apis') {
    if (parts.length === 1) return { kind: 'discovery-root', root: 'apis' };
    if (parts.length === 2) return { kind: 'discovery-group', group: parts[1] ?? '' };
    group = parts[1] ?? '';
    rest = parts.slice(2);
  } else {
    return { kind: 'other', path: pathname };
  }
  const version = rest[0] ?? '';
  const segs = rest.slice(1);
  if (segs.length === 0) return { kind: 'discovery-version', group, version };

  let namespace: string | undefined;
  let resource: string;
  let name: string | undefined;
  let subresource: string | undefined;
  // /namespaces/{ns}/{resource}/... is namespaced; /namespaces/{name}[/{sub}] is the namespace itself.
  if (segs[0] === 'namespaces' && segs.length >= 3 && !namespaceSubresources.has(segs[2] ?? '')) {
    namespace = segs[1];
    resource = segs[2] ?? '';
    name = segs[3];
    subresource = segs[4];
    if (segs.length > 5) return { kind: 'other', path: pathname };
  } else {
    resource = segs[0] ?? '';
    name = segs[1];
    subresource = segs[2];
    if (segs.length > 3) return { kind: 'other', path: pathname };
  }
  const watch = query.get('watch') === 'true' || query.get('watch') === '1';
  const verb = verbFor(method, name !== undefined, watch);
  return {
    kind: 'resource',
    group,
    version,
    resource,
    verb,
    ...(namespace === undefined ? {} : { namespace }),
    ...(name === undefined ? {} : { name }),
    ...(subresource === undefined ? {} : { subresource }),
  };
}

function verbFor(method: string, named: boolean, watch: boolean): Verb | 'unknown' {
  switch (method) {
    case 'GET':
    case 'HEAD':
      if (watch) return 'watch';
      return named ? 'get' : 'list';
    case 'POST':
      return 'create';
    case 'PUT':
      return 'update';
    case 'PATCH':
      return 'patch';
    case 'DELETE':
      return named ? 'delete' : 'deletecollection';
    default:
      return 'unknown';
  }
}

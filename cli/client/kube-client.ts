/**
 * A small Kubernetes REST client for the CLI verbs, speaking JSON through a {@link Transport}:
 * discovery, get/list (optionally as a server-side `meta.k8s.io` Table, as kubectl asks),
 * create/patch/delete with the query parameters kubectl sends (`fieldManager`, `dryRun=All`,
 * `force`), and watch as an async stream of events. Objects stay plain JSON (not client-node's typed
 * models, which drop unknown fields), so apply can diff exactly what the user wrote.
 *
 * An HTTP error answer is an expected outcome and comes back as `{ ok: false, status }` with the
 * server's `Status` (or one synthesised the way client-go does for non-Status bodies); only failing
 * to reach the server throws.
 */

import { ApiError, type Status, type StatusReason } from '../../api/status.js';
import { isJsonObject, type JsonObject } from '../../api/patch/json-value.js';
import type { HttpRequest, HttpResponse, Transport } from './http-transport.js';
import {
  aggregatedDiscoveryAccept,
  apiVersionOf,
  groupResourceOf,
  legacyGroupVersions,
  ResourceMapper,
  resourcesFromAggregated,
  resourcesFromLegacy,
  type ApiResource,
} from './resource-mapper.js';

/** A value, or the server's Status explaining why not. */
export type ApiResult<T> =
  { readonly ok: true; readonly value: T } | { readonly ok: false; readonly status: Status };

/** The value of a result, or throws the Status as an {@link ApiError} for the verb to print. */
export function orThrow<T>(result: ApiResult<T>): T {
  if (!result.ok) throw new ApiError(result.status);
  return result.value;
}

/** The Accept header kubectl sends when it wants the server to render a Table. */
export const tableAccept =
  'application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json';

/** The patch content types, by the name kubectl's `--type` uses. */
export const patchContentTypes = {
  strategic: 'application/strategic-merge-patch+json',
  merge: 'application/merge-patch+json',
  json: 'application/json-patch+json',
  apply: 'application/apply-patch+yaml',
} as const;

/** `strategic`, `merge`, `json` or `apply` (server-side apply). */
export type PatchType = keyof typeof patchContentTypes;

/** LIST query: selectors, Table rendering, consistency. */
export interface ListOptions {
  readonly labelSelector?: string;
  readonly fieldSelector?: string;
  /** Ask for a `meta.k8s.io` Table instead of a List. */
  readonly table?: boolean;
  readonly resourceVersion?: string;
  readonly limit?: number;
}

/** Query parameters of create/update/patch: `dryRun=All`, `fieldManager`, `fieldValidation`. */
export interface WriteOptions {
  readonly dryRun?: boolean;
  readonly fieldManager?: string;
  readonly fieldValidation?: 'Strict' | 'Warn' | 'Ignore';
}

/** PATCH adds `force` (server-side apply conflicts) and a subresource (`scale`, `status`). */
export interface PatchOptions extends WriteOptions {
  readonly force?: boolean;
  readonly subresource?: string;
}

/** The DeleteOptions body kubectl sends. */
export interface DeleteOptions {
  readonly propagationPolicy?: 'Background' | 'Foreground' | 'Orphan';
  readonly gracePeriodSeconds?: number;
  readonly dryRun?: boolean;
}

/** A watch: LIST options plus where to start (`resourceVersion`) and when the server should end it. */
export interface WatchOptions extends ListOptions {
  readonly timeoutSeconds?: number;
  readonly allowWatchBookmarks?: boolean;
  /** Aborting ends the stream (the iterator then finishes normally). */
  readonly signal?: AbortSignal;
}

/** One watch event; `object` is a Table when the watch asked for one. */
export interface WatchEvent {
  readonly type: 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR';
  readonly object: JsonObject;
}

const reasonsByCode: Readonly<Record<number, StatusReason>> = {
  400: 'BadRequest',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'NotFound',
  405: 'MethodNotAllowed',
  406: 'NotAcceptable',
  409: 'Conflict',
  410: 'Gone',
  413: 'RequestEntityTooLarge',
  415: 'UnsupportedMediaType',
  422: 'Invalid',
  429: 'TooManyRequests',
  500: 'InternalError',
  503: 'ServiceUnavailable',
  504: 'Timeout',
};

/**
 * The Status in an error response, or client-go's stand-in for a body that is not one
 * (`the server could not find the requested resource`, `an error on the server ("…")`).
 */
export function statusFromResponse(code: number, body: string, verb: string, what: string): Status {
  try {
    const parsed: unknown = JSON.parse(body);
    if (isJsonObject(parsed) && parsed['kind'] === 'Status') return parsed as unknown as Status;
  } catch {
    // Not JSON: fall through to the synthesised Status.
  }
  const reason = reasonsByCode[code] ?? (code >= 500 ? 'InternalError' : 'BadRequest');
  const text = body.trim();
  const message =
    code === 404
      ? `the server could not find the requested resource (${verb} ${what})`
      : code >= 500
        ? `an error on the server (${JSON.stringify(text)}) has prevented the request from succeeding (${verb} ${what})`
        : text === ''
          ? `the server responded with the status code ${code} but did not return more information (${verb} ${what})`
          : text;
  return { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, code };
}

/** REST calls against one API server. Discovery is fetched once per client. */
export class KubeClient {
  readonly #transport: Transport;
  #mapper: Promise<ResourceMapper> | undefined;

  constructor(transport: Transport) {
    this.#transport = transport;
  }

  /** The server URL. */
  get server(): string {
    return this.#transport.server;
  }

  /** The resources the server serves (aggregated discovery, else legacy); cached. */
  discovery(): Promise<ResourceMapper> {
    this.#mapper ??= this.#discover();
    return this.#mapper;
  }

  async #discover(): Promise<ResourceMapper> {
    const resources: ApiResource[] = [];
    for (const root of ['/api', '/apis']) {
      const res = await this.#transport.request({
        method: 'GET',
        path: root,
        headers: { Accept: aggregatedDiscoveryAccept },
      });
      const doc = orThrow(this.#decode(res, 'get', root));
      if (res.contentType.includes('as=APIGroupDiscoveryList')) {
        resources.push(...resourcesFromAggregated(doc));
        continue;
      }
      for (const gv of legacyGroupVersions(doc)) {
        const path = root === '/api' ? `/api/${gv}` : `/apis/${gv}`;
        const list = await this.#json('GET', path, 'get', path);
        if (list.ok) resources.push(...resourcesFromLegacy(list.value));
      }
    }
    return new ResourceMapper(resources);
  }

  /** GET one object (or its subresource); as a Table when `table` is set. */
  get(
    r: ApiResource,
    namespace: string | undefined,
    name: string,
    opts: { table?: boolean; subresource?: string } = {},
  ): Promise<ApiResult<JsonObject>> {
    return this.#json(
      'GET',
      resourcePath(r, namespace, name, opts.subresource),
      'get',
      `${groupResourceOf(r)} ${name}`,
      {
        ...(opts.table === true ? { accept: tableAccept } : {}),
      },
    );
  }

  /** LIST a collection; `namespace` undefined lists across all namespaces (or a cluster-scoped resource). */
  list(
    r: ApiResource,
    namespace: string | undefined,
    opts: ListOptions = {},
  ): Promise<ApiResult<JsonObject>> {
    const q = new URLSearchParams();
    if (opts.labelSelector !== undefined && opts.labelSelector !== '')
      q.set('labelSelector', opts.labelSelector);
    if (opts.fieldSelector !== undefined && opts.fieldSelector !== '')
      q.set('fieldSelector', opts.fieldSelector);
    if (opts.limit !== undefined) q.set('limit', String(opts.limit));
    if (opts.resourceVersion !== undefined) q.set('resourceVersion', opts.resourceVersion);
    return this.#json('GET', withQuery(resourcePath(r, namespace), q), 'get', groupResourceOf(r), {
      ...(opts.table === true ? { accept: tableAccept } : {}),
    });
  }

  /** POST a new object. */
  create(
    r: ApiResource,
    namespace: string | undefined,
    body: JsonObject,
    opts: WriteOptions = {},
  ): Promise<ApiResult<JsonObject>> {
    return this.#json(
      'POST',
      withQuery(resourcePath(r, namespace), writeQuery(opts)),
      'post',
      groupResourceOf(r),
      {
        body: JSON.stringify(body),
        contentType: 'application/json',
      },
    );
  }

  /** PATCH an object (or a subresource) with a patch of `type`. */
  patch(
    r: ApiResource,
    namespace: string | undefined,
    name: string,
    type: PatchType,
    body: JsonObject | readonly JsonObject[],
    opts: PatchOptions = {},
  ): Promise<ApiResult<JsonObject>> {
    const q = writeQuery(opts);
    if (opts.force !== undefined) q.set('force', String(opts.force));
    return this.#json(
      'PATCH',
      withQuery(resourcePath(r, namespace, name, opts.subresource), q),
      'patch',
      `${groupResourceOf(r)} ${name}`,
      { body: JSON.stringify(body), contentType: patchContentTypes[type] },
    );
  }

  /** DELETE an object with DeleteOptions in the body, as kubectl sends them. */
  delete(
    r: ApiResource,
    namespace: string | undefined,
    name: string,
    opts: DeleteOptions = {},
  ): Promise<ApiResult<JsonObject>> {
    const body: JsonObject = {};
    if (opts.propagationPolicy !== undefined) body['propagationPolicy'] = opts.propagationPolicy;
    if (opts.gracePeriodSeconds !== undefined) body['gracePeriodSeconds'] = opts.gracePeriodSeconds;
    if (opts.dryRun === true) body['dryRun'] = ['All'];
    return this.#json('DELETE', resourcePath(r, namespace, name), 'delete', `${groupResourceOf(r)} ${name}`, {
      body: JSON.stringify(body),
      contentType: 'application/json',
    });
  }

  /**
   * Watches a collection. Resolves once the server has accepted the watch (or with its Status if
   * it refused); the events then arrive on the returned iterable until the server closes the stream
   * or `signal` aborts.
   */
  async watch(
    r: ApiResource,
    namespace: string | undefined,
    opts: WatchOptions = {},
  ): Promise<ApiResult<AsyncIterable<WatchEvent>>> {
    const q = new URLSearchParams();
    if (opts.allowWatchBookmarks === true) q.set('allowWatchBookmarks', 'true');
    if (opts.fieldSelector !== undefined && opts.fieldSelector !== '')
      q.set('fieldSelector', opts.fieldSelector);
    if (opts.labelSelector !== undefined && opts.labelSelector !== '')
      q.set('labelSelector', opts.labelSelector);
    if (opts.resourceVersion !== undefined) q.set('resourceVersion', opts.resourceVersion);
    if (opts.timeoutSeconds !== undefined) q.set('timeoutSeconds', String(opts.timeoutSeconds));
    q.set('watch', 'true');
    const req: HttpRequest = {
      method: 'GET',
      path: withQuery(resourcePath(r, namespace), q),
      headers: { Accept: opts.table === true ? tableAccept : 'application/json' },
      ...(opts.signal === undefined ? {} : { signal: opts.signal }),
    };
    let stream;
    try {
      stream = await this.#transport.stream(req);
    } catch (err) {
      if (opts.signal?.aborted === true) return { ok: true, value: emptyEvents() };
      throw err;
    }
    if (stream.status < 200 || stream.status > 299) {
      const body = await stream.text();
      return { ok: false, status: statusFromResponse(stream.status, body, 'get', groupResourceOf(r)) };
    }
    const s = stream;
    opts.signal?.addEventListener(
      'abort',
      () => {
        s.close();
      },
      { once: true },
    );
    return { ok: true, value: parseEvents(s.lines()) };
  }

  async #json(
    method: string,
    path: string,
    verb: string,
    what: string,
    opts: { accept?: string; body?: string; contentType?: string } = {},
  ): Promise<ApiResult<JsonObject>> {
    const res = await this.#transport.request({
      method,
      path,
      headers: {
        Accept: opts.accept ?? 'application/json',
        ...(opts.contentType === undefined ? {} : { 'Content-Type': opts.contentType }),
      },
      ...(opts.body === undefined ? {} : { body: opts.body }),
    });
    return this.#decode(res, verb, what);
  }

  #decode(res: HttpResponse, verb: string, what: string): ApiResult<JsonObject> {
    if (res.status < 200 || res.status > 299) {
      return { ok: false, status: statusFromResponse(res.status, res.body, verb, what) };
    }
    try {
      const parsed: unknown = JSON.parse(res.body);
      if (isJsonObject(parsed)) return { ok: true, value: parsed };
    } catch {
      // Reported below.
    }
    return {
      ok: false,
      status: statusFromResponse(500, `unexpected response body: ${res.body.slice(0, 200)}`, verb, what),
    };
  }
}

async function* emptyEvents(): AsyncGenerator<WatchEvent> {
  // An aborted watch has nothing to say.
}

async function* parseEvents(lines: AsyncIterable<string>): AsyncGenerator<WatchEvent> {
  for await (const line of lines) {
    if (line.trim() === '') continue;
    const parsed: unknown = JSON.parse(line);
    if (!isJsonObject(parsed) || typeof parsed['type'] !== 'string' || !isJsonObject(parsed['object']))
      continue;
    yield { type: parsed['type'] as WatchEvent['type'], object: parsed['object'] };
  }
}

/** `/api/v1/namespaces/ns/pods/name/sub` and friends. */
export function resourcePath(
  r: ApiResource,
  namespace?: string,
  name?: string,
  subresource?: string,
): string {
  const root = r.group === '' ? `/api/${r.version}` : `/apis/${apiVersionOf(r)}`;
  const ns = r.namespaced && namespace !== undefined ? `/namespaces/${encodeURIComponent(namespace)}` : '';
  const n = name === undefined ? '' : `/${encodeURIComponent(name)}`;
  const sub = subresource === undefined ? '' : `/${subresource}`;
  return `${root}${ns}/${r.plural}${n}${sub}`;
}

function withQuery(path: string, q: URLSearchParams): string {
  const s = q.toString();
  return s === '' ? path : `${path}?${s}`;
}

function writeQuery(opts: WriteOptions): URLSearchParams {
  const q = new URLSearchParams();
  if (opts.dryRun === true) q.set('dryRun', 'All');
  if (opts.fieldManager !== undefined) q.set('fieldManager', opts.fieldManager);
  if (opts.fieldValidation !== undefined) q.set('fieldValidation', opts.fieldValidation);
  return q;
}

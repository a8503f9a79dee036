/**
 * Serves resource requests — get, list, watch, create, update, patch, delete, deletecollection and the
 * status, scale and binding subresources — for every resource in the registry, translating HTTP
 * (query parameters, bodies, content types, Accept) into `ResourceStorage` calls and back.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { cloneJson, isPlainObject, type StoredObject } from '../../api/object.js';
import {
  cannotBeHandledAs,
  parseFieldValidation,
  validateFields,
  type FieldValidation,
} from '../../api/openapi/field-validation.js';
import { apiVersionOf, type ResourceInfo } from '../../api/resources.js';
import {
  ApiError,
  badRequest,
  invalid,
  methodNotAllowed,
  notFound,
  required,
  serviceUnavailable,
  unsupportedMediaType,
} from '../../api/status.js';
import type { Clock } from '../../lib/clock.js';
import {
  addWarnings,
  decodeBody,
  decodeBodyFields,
  mediaType,
  readBody,
  requireObject,
  sendJson,
} from './http-io.js';
import { bindPod } from './pod-binding.js';
import type { ResourceRequest } from './request-info.js';
import { groupResource, type DeleteOptions, type ResourceStorage } from './resource-storage.js';
import type { PatchContext, PatchEngine, PatchType, SelectorFactory, TableConverter } from './seams.js';
import type { WatchCache } from './watch-cache.js';
import { serveList, serveWatch } from './watch-cache-http.js';

export interface ResourceHandlerDeps {
  readonly storage: ResourceStorage;
  readonly clock: Clock;
  readonly patches: PatchEngine;
  readonly selectors: SelectorFactory;
  readonly tables: TableConverter;
  /** Serves LIST and WATCH from memory when it can; absent, both read the store. */
  readonly watchCache?: WatchCache;
}

const patchTypes: Record<string, PatchType> = {
  'application/json-patch+json': 'json',
  'application/merge-patch+json': 'merge',
  'application/strategic-merge-patch+json': 'strategic',
  'application/apply-patch+yaml': 'apply',
  'application/apply-patch+cbor': 'apply',
};

export class ResourceHandler {
  readonly #d: ResourceHandlerDeps;

  constructor(deps: ResourceHandlerDeps) {
    this.#d = deps;
  }

  /** Handles one request; resolves to the HTTP status code sent (for metrics). */
  async handle(
    req: IncomingMessage,
    res: ServerResponse,
    info: ResourceRequest,
    query: URLSearchParams,
    r: ResourceInfo,
  ): Promise<number> {
    const ns = r.namespaced ? info.namespace : undefined;
    if (r.namespaced && info.namespace === undefined && info.verb !== 'list' && info.verb !== 'watch') {
      throw new ApiError(notFound(groupResource(r), info.name ?? ''));
    }
    if (!r.namespaced && info.namespace !== undefined) {
      throw new ApiError(notFound(groupResource(r), info.name ?? ''));
    }
    const sub = info.subresource;
    if (
      sub !== undefined &&
      !r.subresources.includes(sub as never) &&
      !(r.kind === 'Namespace' && sub === 'finalize')
    ) {
      throw new ApiError(notFound(groupResource(r), info.name ?? ''));
    }
    if (sub === 'log' || sub === 'exec' || sub === 'attach' || sub === 'eviction') {
      throw new ApiError(
        serviceUnavailable(`pods/${sub} is not served yet: it needs a connected node agent`),
      );
    }
    const dryRun = query.getAll('dryRun').includes('All');
    const ctx = (): PatchContext => ({
      fieldManager: query.get('fieldManager') ?? managerFromUserAgent(req.headers['user-agent']),
      force: query.get('force') === 'true',
      now: this.#d.clock.now(),
      ...(sub === 'status' ? { subresource: 'status' as const } : {}),
    });

    switch (info.verb) {
      case 'get': {
        const obj = await this.#d.storage.get(r, ns, info.name ?? '');
        if (sub === 'scale') return this.#send(res, 200, toScale(obj));
        return this.#sendObject(req, res, r, 200, obj);
      }
      case 'list':
        return serveList(this.#d, req, res, r, ns, query);
      case 'watch':
        return serveWatch(this.#d, req, res, r, ns, query);
      case 'create': {
        const validation = fieldValidation(query, 'CreateOptions');
        const decoded = decodeBodyFields(await readBody(req), mediaType(req), validation !== 'Ignore');
        const raw = requireObject(decoded.value) as unknown as StoredObject;
        if (sub === 'binding') return this.#bind(res, r, ns, info.name ?? '', raw, dryRun);
        if (info.name !== undefined) throw new ApiError(methodNotAllowed(groupResource(r), 'create'));
        const body = validateBody(validation, r, raw, decoded.duplicates, res);
        checkNamespace(body, ns);
        const created = await this.#d.storage.create(
          r,
          ns,
          this.#d.patches.recordUpdate(body, undefined, r, ctx()),
          { dryRun },
        );
        return this.#sendObject(req, res, r, 201, created);
      }
      case 'update': {
        const validation = fieldValidation(query, 'UpdateOptions');
        const decoded = decodeBodyFields(await readBody(req), mediaType(req), validation !== 'Ignore');
        const raw = requireObject(decoded.value) as unknown as StoredObject;
        const name = info.name ?? '';
        if (sub === 'scale') return this.#updateScale(res, r, ns, name, () => raw, dryRun);
        const body = validateBody(validation, r, raw, decoded.duplicates, res);
        if (body.metadata.name !== undefined && body.metadata.name !== name) {
          throw new ApiError(
            badRequest(
              `the name of the object (${body.metadata.name}) does not match the name on the URL (${name})`,
            ),
          );
        }
        checkNamespace(body, ns);
        if (sub === 'finalize') {
          const { object } = await this.#d.storage.update(
            r,
            ns,
            name,
            (cur) => ({
              ...cur,
              spec: body.spec,
              metadata: { ...cur.metadata, resourceVersion: body.metadata.resourceVersion ?? '' },
            }),
            { dryRun },
          );
          return this.#sendObject(req, res, r, 200, object);
        }
        const { object, created } = await this.#d.storage.update(
          r,
          ns,
          name,
          (cur) =>
            this.#d.patches.recordUpdate({ ...body, metadata: { ...body.metadata, name } }, cur, r, ctx()),
          { dryRun, ...(sub === 'status' ? { subresource: 'status' as const } : {}) },
        );
        return this.#sendObject(req, res, r, created ? 201 : 200, object);
      }
      case 'patch': {
        const type = patchTypes[mediaType(req)];
        if (type === undefined) {
          throw new ApiError(unsupportedMediaType(mediaType(req), Object.keys(patchTypes)));
        }
        const validation = fieldValidation(query, 'PatchOptions');
        const decoded = decodeBodyFields(
          await readBody(req),
          type === 'apply' ? 'application/yaml' : 'application/json',
          // A JSON patch is a list of operations, not the object: only its result is checked.
          validation !== 'Ignore' && type !== 'json',
        );
        const name = info.name ?? '';
        const c = ctx();
        if (type === 'apply' && (c.fieldManager === undefined || c.fieldManager === '')) {
          throw new ApiError(
            badRequest('PATCH, application/apply-patch+yaml requires fieldManager to be set'),
          );
        }
        if (sub === 'scale') {
          return this.#updateScale(
            res,
            r,
            ns,
            name,
            (scale) => this.#d.patches.apply(type, scale, decoded.value, r, c),
            dryRun,
          );
        }
        // An apply patch is the applier's intent, and what field ownership is computed from: check the
        // patch itself. Other patches are checked on their result, as Kubernetes decodes that.
        const applied =
          type === 'apply' ? checkPatched(validation, r, decoded.value, decoded.duplicates) : undefined;
        let warnings = applied?.warnings ?? [];
        const { object, created } = await this.#d.storage.update(
          r,
          ns,
          name,
          (cur) => {
            if (applied !== undefined) return this.#d.patches.apply(type, cur, applied.value, r, c);
            const patched = checkPatched(
              validation,
              r,
              this.#d.patches.apply(type, cur, decoded.value, r, c),
              decoded.duplicates,
              cur,
            );
            // The mutation may run again after a lost compare-and-swap: keep the last run's warnings.
            warnings = patched.warnings;
            return this.#d.patches.recordUpdate(patched.value, cur, r, c);
          },
          {
            dryRun,
            createIfMissing: type === 'apply',
            ...(sub === 'status' ? { subresource: 'status' as const } : {}),
          },
        );
        addWarnings(res, warnings);
        return this.#sendObject(req, res, r, created ? 201 : 200, object);
      }
      case 'delete': {
        const opts = await this.#deleteOptions(req, query, dryRun);
        const { object } = await this.#d.storage.delete(r, ns, info.name ?? '', opts);
        return this.#sendObject(req, res, r, 200, object);
      }
      case 'deletecollection': {
        const opts = await this.#deleteOptions(req, query, dryRun);
        const filter = this.#filter(r, query);
        const list = await this.#d.storage.list(r, ns, filter === undefined ? {} : { filter });
        const deleted: StoredObject[] = [];
        for (const obj of list.items) {
          try {
            deleted.push(
              (await this.#d.storage.delete(r, obj.metadata.namespace, obj.metadata.name ?? '', opts)).object,
            );
          } catch (err) {
            if (!(err instanceof ApiError && err.status.code === 404)) throw err;
          }
        }
        return this.#send(res, 200, {
          apiVersion: apiVersionOf(r),
          kind: r.listKind,
          metadata: {},
          items: deleted,
        });
      }
      case 'unknown':
        throw new ApiError(methodNotAllowed(groupResource(r), req.method ?? ''));
    }
  }

  #filter(r: ResourceInfo, query: URLSearchParams): ((obj: StoredObject) => boolean) | undefined {
    return this.#d.selectors.filter(
      r,
      query.get('labelSelector') ?? undefined,
      query.get('fieldSelector') ?? undefined,
    );
  }

  /** pods/binding: validates the Binding object; `bindPod` (pod-binding.ts) does the write and its checks. */
  async #bind(
    res: ServerResponse,
    r: ResourceInfo,
    ns: string | undefined,
    name: string,
    binding: StoredObject,
    dryRun: boolean,
  ): Promise<number> {
    if (binding.metadata.name !== undefined && binding.metadata.name !== name) {
      throw new ApiError(badRequest('name in URL does not match name in Binding object'));
    }
    const target = binding['target'];
    const nodeName = isPlainObject(target) && typeof target['name'] === 'string' ? target['name'] : '';
    if (nodeName === '') {
      throw new ApiError(invalid({ group: '', kind: 'Binding' }, name, [required('target.name')]));
    }
    const { uid, resourceVersion, annotations } = binding.metadata;
    await bindPod(
      this.#d.storage.store,
      { namespace: ns ?? '', name, nodeName, uid, resourceVersion, annotations },
      { now: this.#d.clock.now(), dryRun },
    );
    return this.#send(res, 201, {
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: 'Success',
      code: 201,
    });
  }

  async #updateScale(
    res: ServerResponse,
    r: ResourceInfo,
    ns: string | undefined,
    name: string,
    change: (scale: StoredObject) => StoredObject,
    dryRun: boolean,
  ): Promise<number> {
    const { object } = await this.#d.storage.update(
      r,
      ns,
      name,
      (cur) => {
        const scale = change(toScale(cur));
        const replicas = (scale.spec as { replicas?: unknown } | undefined)?.replicas;
        if (typeof replicas !== 'number' || !Number.isInteger(replicas)) {
          throw new ApiError(badRequest('spec.replicas of the Scale must be an integer'));
        }
        const next = cloneJson(cur);
        next.spec = { ...(next.spec as object), replicas };
        if (scale.metadata.resourceVersion !== undefined)
          next.metadata.resourceVersion = scale.metadata.resourceVersion;
        return next;
      },
      { dryRun },
    );
    return this.#send(res, 200, toScale(object));
  }

  async #deleteOptions(
    req: IncomingMessage,
    query: URLSearchParams,
    dryRun: boolean,
  ): Promise<DeleteOptions> {
    const raw = await readBody(req);
    const body =
      raw.length > 0 && raw.toString('utf8').trim() !== '' ? decodeBody(raw, 'application/json') : {};
    const o = isPlainObject(body) ? body : {};
    const policy =
      query.get('propagationPolicy') ??
      (typeof o['propagationPolicy'] === 'string' ? o['propagationPolicy'] : undefined);
    if (policy !== undefined && policy !== 'Foreground' && policy !== 'Background' && policy !== 'Orphan') {
      throw new ApiError(
        badRequest(`unsupported propagationPolicy "${policy}": use Foreground, Background or Orphan`),
      );
    }
    const graceRaw = query.get('gracePeriodSeconds') ?? o['gracePeriodSeconds'];
    const grace = graceRaw === undefined || graceRaw === null ? undefined : Number(graceRaw);
    const pre = isPlainObject(o['preconditions']) ? o['preconditions'] : undefined;
    const bodyDryRun = Array.isArray(o['dryRun']) && o['dryRun'].includes('All');
    return {
      dryRun: dryRun || bodyDryRun,
      ...(policy === undefined ? {} : { propagationPolicy: policy }),
      ...(grace === undefined || !Number.isFinite(grace) ? {} : { gracePeriodSeconds: grace }),
      ...(pre === undefined
        ? {}
        : {
            preconditions: {
              ...(typeof pre['uid'] === 'string' ? { uid: pre['uid'] } : {}),
              ...(typeof pre['resourceVersion'] === 'string'
                ? { resourceVersion: pre['resourceVersion'] }
                : {}),
            },
          }),
    };
  }

  #sendObject(
    req: IncomingMessage,
    res: ServerResponse,
    r: ResourceInfo,
    code: number,
    obj: StoredObject,
  ): number {
    if (this.#d.tables.wants(req.headers.accept)) {
      return this.#send(res, code, this.#d.tables.convert(r, [obj], tableOptions(req, this.#d.clock.now())));
    }
    return this.#send(res, code, obj);
  }

  #send(res: ServerResponse, code: number, body: unknown): number {
    sendJson(res, code, body);
    return code;
  }
}

/** The request's `fieldValidation` directive; an unsupported value is kube-apiserver's 422 on the options. */
function fieldValidation(
  query: URLSearchParams,
  options: 'CreateOptions' | 'UpdateOptions' | 'PatchOptions',
): FieldValidation {
  const parsed = parseFieldValidation(query.get('fieldValidation'));
  if (!parsed.ok) throw new ApiError(invalid({ group: 'meta.k8s.io', kind: options }, '', [parsed.cause]));
  return parsed.directive;
}

/**
 * A create or update body after field validation, unknown fields dropped; warnings go on `res`. A
 * Strict failure is the 400 kube-apiserver's decoder gives (`Pod in version "v1" cannot be handled…`).
 */
function validateBody(
  directive: FieldValidation,
  r: ResourceInfo,
  body: StoredObject,
  duplicates: readonly string[],
  res: ServerResponse,
): StoredObject {
  const apiVersion = apiVersionOf(r);
  const result = validateFields({ directive, apiVersion, kind: r.kind, value: body, duplicates });
  if (!result.ok) throw new ApiError(badRequest(cannotBeHandledAs(apiVersion, r.kind, result.message)));
  addWarnings(res, result.warnings);
  return result.value;
}

/** A patch (apply) or patched object (the rest) after field validation; Strict failures are bare 400s. */
function checkPatched<T>(
  directive: FieldValidation,
  r: ResourceInfo,
  value: T,
  duplicates: readonly string[],
  current?: StoredObject,
): { value: T; warnings: readonly string[] } {
  const result = validateFields({
    directive,
    apiVersion: apiVersionOf(r),
    kind: r.kind,
    value,
    duplicates,
    ...(current === undefined ? {} : { current }),
  });
  if (!result.ok) throw new ApiError(badRequest(result.message));
  return result;
}

function checkNamespace(body: StoredObject, ns: string | undefined): void {
  const given = body.metadata.namespace;
  if (ns !== undefined && given !== undefined && given !== '' && given !== ns) {
    throw new ApiError(
      badRequest('the namespace of the provided object does not match the namespace sent on the request'),
    );
  }
}

function toScale(obj: StoredObject): StoredObject {
  const spec = (obj.spec ?? {}) as { replicas?: number; selector?: { matchLabels?: Record<string, string> } };
  const status = (obj.status ?? {}) as { replicas?: number };
  const selector = Object.entries(spec.selector?.matchLabels ?? {})
    .map(([k, v]) => `${k}=${v}`)
    .join(',');
  return {
    apiVersion: 'autoscaling/v1',
    kind: 'Scale',
    metadata: {
      name: obj.metadata.name ?? '',
      ...(obj.metadata.namespace === undefined ? {} : { namespace: obj.metadata.namespace }),
      ...(obj.metadata.uid === undefined ? {} : { uid: obj.metadata.uid }),
      ...(obj.metadata.resourceVersion === undefined
        ? {}
        : { resourceVersion: obj.metadata.resourceVersion }),
      ...(obj.metadata.creationTimestamp === undefined
        ? {}
        : { creationTimestamp: obj.metadata.creationTimestamp }),
    },
    spec: { replicas: spec.replicas ?? 0 },
    status: { replicas: status.replicas ?? 0, selector },
  };
}

function tableOptions(
  req: IncomingMessage,
  now: number,
): { includeObject: 'None' | 'Metadata' | 'Object'; wide: boolean; now: number } {
  const url = new URL(req.url ?? '/', 'http://x');
  const include = url.searchParams.get('includeObject');
  return {
    includeObject: include === 'None' || include === 'Object' ? include : 'Metadata',
    wide: false,
    now,
  };
}

/** Kubernetes names the default field manager after the client's user agent (`kubectl`, `node-fetch`…). */
function managerFromUserAgent(ua: string | undefined): string | undefined {
  if (ua === undefined || ua === '') return undefined;
  return ua.split('/')[0]?.slice(0, 128);
}

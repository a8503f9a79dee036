/**
 * Serves resource requests — get, list, watch, create, update, patch, delete, deletecollection and the
 * status, scale and binding subresources — for every resource in the registry, translating HTTP
 * (query parameters, bodies, content types, Accept) into `ResourceStorage` calls and back.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { cloneJson, isPlainObject, type StoredObject } from '../../api/object.js';
import { apiVersionOf, type ResourceInfo } from '../../api/resources.js';
import {
  ApiError,
  badRequest,
  methodNotAllowed,
  notFound,
  serviceUnavailable,
  unsupportedMediaType,
} from '../../api/status.js';
import type { Clock } from '../../lib/clock.js';
import { decodeBody, mediaType, readBody, requireObject, sendJson } from './http-io.js';
import type { ResourceRequest } from './request-info.js';
import { groupResource, type DeleteOptions, type ResourceStorage } from './resource-storage.js';
import type { PatchContext, PatchEngine, PatchType, SelectorFactory, TableConverter } from './seams.js';
import { parseResourceVersion, watchResource } from './watch-events.js';

export interface ResourceHandlerDeps {
  readonly storage: ResourceStorage;
  readonly clock: Clock;
  readonly patches: PatchEngine;
  readonly selectors: SelectorFactory;
  readonly tables: TableConverter;
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
        return this.#list(req, res, r, ns, query);
      case 'watch':
        return this.#watch(req, res, r, ns, query);
      case 'create': {
        const body = requireObject(
          decodeBody(await readBody(req), mediaType(req)),
        ) as unknown as StoredObject;
        if (sub === 'binding') return this.#bind(res, r, ns, info.name ?? '', body, dryRun);
        if (info.name !== undefined) throw new ApiError(methodNotAllowed(groupResource(r), 'create'));
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
        const body = requireObject(
          decodeBody(await readBody(req), mediaType(req)),
        ) as unknown as StoredObject;
        const name = info.name ?? '';
        if (sub === 'scale') return this.#updateScale(res, r, ns, name, () => body, dryRun);
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
        const patch = decodeBody(
          await readBody(req),
          type === 'apply' ? 'application/yaml' : 'application/json',
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
            (scale) => this.#d.patches.apply(type, scale, patch, r, c),
            dryRun,
          );
        }
        const { object, created } = await this.#d.storage.update(
          r,
          ns,
          name,
          (cur) => {
            const patched = this.#d.patches.apply(type, cur, patch, r, c);
            return type === 'apply' ? patched : this.#d.patches.recordUpdate(patched, cur, r, c);
          },
          {
            dryRun,
            createIfMissing: type === 'apply',
            ...(sub === 'status' ? { subresource: 'status' as const } : {}),
          },
        );
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

  async #list(
    req: IncomingMessage,
    res: ServerResponse,
    r: ResourceInfo,
    ns: string | undefined,
    query: URLSearchParams,
  ): Promise<number> {
    const filter = this.#filter(r, query);
    const limit = Number(query.get('limit') ?? '0');
    const cont = query.get('continue') ?? undefined;
    const list = await this.#d.storage.list(r, ns, {
      ...(Number.isInteger(limit) && limit > 0 ? { limit } : {}),
      ...(cont === undefined ? {} : { continue: cont }),
      ...(filter === undefined ? {} : { filter }),
    });
    const listMeta = {
      resourceVersion: list.resourceVersion,
      ...(list.continue === undefined ? {} : { continue: list.continue }),
      ...(list.remainingItemCount === undefined ? {} : { remainingItemCount: list.remainingItemCount }),
    };
    if (this.#d.tables.wants(req.headers.accept)) {
      return this.#send(
        res,
        200,
        this.#d.tables.convert(r, list.items, { ...tableOptions(req, this.#d.clock.now()), listMeta }),
      );
    }
    return this.#send(res, 200, {
      apiVersion: apiVersionOf(r),
      kind: r.listKind,
      metadata: listMeta,
      items: list.items,
    });
  }

  async #watch(
    req: IncomingMessage,
    res: ServerResponse,
    r: ResourceInfo,
    ns: string | undefined,
    query: URLSearchParams,
  ): Promise<number> {
    const filter = this.#filter(r, query);
    const abort = new AbortController();
    const onClose = (): void => {
      abort.abort();
    };
    res.on('close', onClose);
    const timeoutSeconds = Number(query.get('timeoutSeconds') ?? '0');
    const timer =
      Number.isFinite(timeoutSeconds) && timeoutSeconds > 0
        ? this.#d.clock.setTimer(timeoutSeconds * 1000, onClose)
        : undefined;
    const asTable = this.#d.tables.wants(req.headers.accept);
    const rv = query.get('resourceVersion') ?? undefined;
    const events = watchResource(this.#d.storage.store, r, ns, {
      ...(rv === undefined ? {} : { resourceVersion: rv }),
      ...(filter === undefined ? {} : { filter }),
      signal: abort.signal,
    });
    // Validate the resourceVersion (a bad one is a 400 Status) before committing to a 200; then flush
    // headers at once: clients (client-node's informer) wait for them before they consider the watch up.
    parseResourceVersion(rv);
    res.writeHead(200, {
      'Content-Type': 'application/json',
      'Cache-Control': 'no-cache, private',
      'Transfer-Encoding': 'chunked',
    });
    res.flushHeaders();
    let headersSent = false;
    try {
      let step = await events.next();
      while (step.done !== true && !abort.signal.aborted) {
        const ev = step.value;
        let object: object = ev.object;
        if (asTable && ev.type !== 'ERROR') {
          object = this.#d.tables.convert(r, [ev.object], {
            ...tableOptions(req, this.#d.clock.now()),
            omitHeaders: headersSent,
          });
          headersSent = true;
        }
        if (!res.write(`${JSON.stringify({ type: ev.type, object })}\n`)) {
          await new Promise<void>((resolve) => {
            const done = (): void => {
              res.off('drain', done);
              abort.signal.removeEventListener('abort', done);
              resolve();
            };
            res.once('drain', done);
            abort.signal.addEventListener('abort', done, { once: true });
          });
        }
        step = await events.next();
      }
    } finally {
      timer?.cancel();
      res.off('close', onClose);
      await events.return(undefined);
      res.end();
    }
    return 200;
  }

  async #bind(
    res: ServerResponse,
    r: ResourceInfo,
    ns: string | undefined,
    name: string,
    binding: StoredObject,
    dryRun: boolean,
  ): Promise<number> {
    const target = binding['target'];
    const nodeName = isPlainObject(target) && typeof target['name'] === 'string' ? target['name'] : '';
    if (nodeName === '') throw new ApiError(badRequest('binding target name is required'));
    await this.#d.storage.update(
      r,
      ns,
      name,
      (pod) => {
        const spec = (pod.spec ?? {}) as Record<string, unknown>;
        if (typeof spec['nodeName'] === 'string' && spec['nodeName'] !== '') {
          throw new ApiError({
            ...badRequest(''),
            code: 409,
            reason: 'Conflict',
            message: `pod ${name} is already assigned to node "${spec['nodeName']}"`,
          });
        }
        // Binding is the one way spec.nodeName changes on a live pod; validation allows it only from unset.
        return { ...pod, spec: { ...spec, nodeName } };
      },
      { dryRun },
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

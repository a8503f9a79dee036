/**
 * The OpenAPI v3 documents Berth publishes: the `/openapi/v3` index and one document per served
 * group/version (`/openapi/v3/api/v1`, `/openapi/v3/apis/apps/v1`, …).
 *
 * Decision (from shared/reference/kubectl-api.md §2):
 * - kubectl's default `--validate=strict` only asks OpenAPI whether the PATCH operation of the kind
 *   being applied takes a `fieldValidation` query parameter. When it does, kubectl skips client-side
 *   schema validation and sends `fieldValidation=Strict`, leaving unknown-field detection to the
 *   server (see unknown-fields.ts). So the operations below must exist for every kind, each with
 *   `x-kubernetes-group-version-kind` (an object) and a `fieldValidation` query parameter. Without
 *   them `apply`, `create -f` and `replace -f` fail unless the user passes `--validate=false`.
 * - PATCH operations deliberately declare no `requestBody`: with an
 *   `application/strategic-merge-patch+json` body kubectl would build strategic merge patches from
 *   these schemas, whereas without one it uses its compiled-in Go types, which are exact.
 * - Component schemas are real field structures (derived from client-node's models, model-schemas.ts)
 *   rather than `x-kubernetes-preserve-unknown-fields` stubs: they cost nothing to produce, make
 *   `kubectl explain` list fields, and give the server the field set for strict validation.
 * - `/openapi/v2` is not served (404): kubectl requests it only as protobuf (gnostic), only as a
 *   fallback, and copes with the 404.
 * - Each document's URL carries `?hash=<sha256 of its JSON>`, which is kubectl's cache key, so a
 *   changed document is re-fetched and an unchanged one is not.
 */

import { createHash } from 'node:crypto';
import type { ResourceInfo } from '../resources.js';
import { groupVersions, resources } from '../resources.js';
import type { Schema } from './model-schemas.js';
import { buildComponentSchemas, schemaName } from './model-schemas.js';

/** The `/openapi/v3` index body. */
export interface OpenApiV3Index {
  readonly paths: Readonly<Record<string, { readonly serverRelativeURL: string }>>;
}

interface Built {
  readonly document: Readonly<Record<string, unknown>>;
  readonly json: string;
  readonly hash: string;
}

/** The client-node model class of each kind we serve (client-node prefixes core Event as CoreV1Event). */
export function modelClassName(r: ResourceInfo): string {
  if (r.group === '' && r.kind === 'Event') return 'CoreV1Event';
  return `V${r.version.slice(1)}${r.kind}`;
}

/** The index key and URL path (without `/openapi/v3/`) of a group/version: `api/v1`, `apis/apps/v1`. */
export function openApiV3Key(group: string, version: string): string {
  return group === '' ? `api/${version}` : `apis/${group}/${version}`;
}

const built = new Map<string, Built>();

function build(group: string, version: string): Built | undefined {
  const key = openApiV3Key(group, version);
  const cached = built.get(key);
  if (cached !== undefined) return cached;
  const served = resources.filter((r) => r.group === group && r.version === version);
  if (served.length === 0) return undefined;
  const byClass = new Map(served.map((r) => [modelClassName(r), r]));
  const { schemas } = buildComponentSchemas([...byClass.keys()], (className) => {
    const r = byClass.get(className);
    return r === undefined
      ? {}
      : { 'x-kubernetes-group-version-kind': [{ group: r.group, kind: r.kind, version: r.version }] };
  });
  const paths: Record<string, unknown> = {};
  for (const r of served) Object.assign(paths, pathsOf(r, schemaName(modelClassName(r))));
  const document = {
    openapi: '3.0.0',
    info: { title: 'Berth', version: 'v1.32.0' },
    paths,
    components: { schemas: sortedKeys(schemas) },
  };
  const json = JSON.stringify(document);
  const result: Built = {
    document,
    json,
    hash: createHash('sha256').update(json).digest('hex').toUpperCase(),
  };
  built.set(key, result);
  return result;
}

/** The `/openapi/v3` index: one entry per served group/version, each URL carrying its content hash. */
export function openApiV3Index(): OpenApiV3Index {
  const paths: Record<string, { serverRelativeURL: string }> = {};
  for (const gv of groupVersions()) {
    const b = build(gv.group, gv.version);
    if (b === undefined) continue;
    const key = openApiV3Key(gv.group, gv.version);
    paths[key] = { serverRelativeURL: `/openapi/v3/${key}?hash=${b.hash}` };
  }
  return { paths };
}

/**
 * The OpenAPI v3 document of a group/version (`''` for core), or `undefined` if not served (404).
 * The same object is returned on every call; treat it as immutable.
 */
export function openApiV3Document(group: string, version: string): object | undefined {
  return build(group, version)?.document;
}

/** The document already serialised, for servers that want to avoid re-stringifying on each request. */
export function openApiV3Json(group: string, version: string): string | undefined {
  return build(group, version)?.json;
}

/** The content hash in the document's index URL (use it as the ETag), or `undefined` if not served. */
export function openApiV3Hash(group: string, version: string): string | undefined {
  return build(group, version)?.hash;
}

/**
 * Resolves a request path below `/openapi/v3/` (`api/v1`, `apis/apps/v1`; query string already
 * removed) to its group and version, or `undefined` for anything else.
 */
export function parseOpenApiV3Key(key: string): { group: string; version: string } | undefined {
  const parts = key.replace(/^\/+|\/+$/g, '').split('/');
  const gv =
    parts.length === 2 && parts[0] === 'api'
      ? { group: '', version: parts[1] ?? '' }
      : parts.length === 3 && parts[0] === 'apis'
        ? { group: parts[1] ?? '', version: parts[2] ?? '' }
        : undefined;
  if (gv === undefined) return undefined;
  return groupVersions().some((x) => x.group === gv.group && x.version === gv.version) ? gv : undefined;
}

function sortedKeys<T>(record: Record<string, T>): Record<string, T> {
  return Object.fromEntries(Object.entries(record).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

const stringParam = { type: 'string', uniqueItems: true };

function queryParam(name: string, description: string): Schema {
  return { name, in: 'query', description, schema: stringParam };
}

const params = {
  pretty: queryParam('pretty', "If 'true', then the output is pretty printed."),
  dryRun: queryParam('dryRun', 'When present, indicates that modifications should not be persisted (All).'),
  fieldManager: queryParam(
    'fieldManager',
    'A name associated with the actor or entity that is making these changes.',
  ),
  fieldValidation: queryParam(
    'fieldValidation',
    'How the server should handle unknown or duplicate fields in the request body: Ignore, Warn or Strict.',
  ),
  force: {
    name: 'force',
    in: 'query',
    description: 'Force is going to "force" Apply requests.',
    schema: { type: 'boolean', uniqueItems: true },
  },
} as const;

function pathParam(name: string, description: string): Schema {
  return { name, in: 'path', required: true, description, schema: stringParam };
}

function pathsOf(r: ResourceInfo, schema: string): Record<string, unknown> {
  const prefix = `/${openApiV3Key(r.group, r.version)}`;
  const collection = r.namespaced ? `${prefix}/namespaces/{namespace}/${r.plural}` : `${prefix}/${r.plural}`;
  const gvk = { group: r.group, version: r.version, kind: r.kind };
  const groupPart = r.group === '' ? 'Core' : capitalise(r.group.split('.')[0] ?? r.group);
  const idPart = `${groupPart}${capitalise(r.version)}${r.namespaced ? 'Namespaced' : ''}${r.kind}`;
  const ns = r.namespaced
    ? [pathParam('namespace', 'object name and auth scope, such as for teams and projects')]
    : [];
  const name = pathParam('name', `name of the ${r.kind}`);
  const ok = (description: string): Schema => ({
    description,
    content: { 'application/json': { schema: { $ref: `#/components/schemas/${schema}` } } },
  });
  const op = (action: string, verb: string, parameters: readonly Schema[], responses: Schema): Schema => ({
    operationId: `${verb}${idPart}`,
    parameters: [...parameters, params.pretty],
    responses,
    'x-kubernetes-action': action,
    'x-kubernetes-group-version-kind': gvk,
  });
  const writeParams = [params.dryRun, params.fieldManager, params.fieldValidation];
  return {
    [collection]: {
      get: op('list', 'list', ns, { '200': { description: 'OK' } }),
      post: op('post', 'create', [...ns, ...writeParams], { '200': ok('OK'), '201': ok('Created') }),
    },
    [`${collection}/{name}`]: {
      get: op('get', 'read', [...ns, name], { '200': ok('OK') }),
      put: op('put', 'replace', [...ns, name, ...writeParams], { '200': ok('OK'), '201': ok('Created') }),
      // No requestBody on purpose: see the module header.
      patch: op('patch', 'patch', [...ns, name, ...writeParams, params.force], {
        '200': ok('OK'),
        '201': ok('Created'),
      }),
      delete: op('delete', 'delete', [...ns, name, params.dryRun], { '200': ok('OK') }),
    },
  };
}

function capitalise(s: string): string {
  return s.charAt(0).toUpperCase() + s.slice(1);
}

/**
 * Unknown-field detection against the published OpenAPI schemas: what the server needs for
 * `fieldValidation=Strict` (kubectl's default `--validate=strict` sends it and then skips its own
 * client-side validation, see documents.ts). Paths are written the way kube-apiserver's strict
 * decoder reports them (`spec.template.spec.containers[0].imagee`), so the caller can answer
 * `400 BadRequest` with `strict decoding error: unknown field "<path>", …`.
 */

import { parseApiVersion } from '../resources.js';
import { openApiV3Document } from './documents.js';

type Json = Readonly<Record<string, unknown>>;

function obj(v: unknown): Json | undefined {
  return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Json) : undefined;
}

const refPrefix = '#/components/schemas/';

/**
 * The JSON paths of every field in `value` that the schema of `apiVersion`/`kind` does not declare,
 * in document order; empty when there are none. Returns `undefined` when Berth publishes no schema
 * for that kind (the caller decides whether that is an error).
 */
export function unknownFields(apiVersion: string, kind: string, value: unknown): string[] | undefined {
  const { group, version } = parseApiVersion(apiVersion);
  const schemas = obj(obj(obj(openApiV3Document(group, version))?.['components'])?.['schemas']);
  if (schemas === undefined) return undefined;
  const root = Object.values(schemas).find((s) => {
    const gvks = obj(s)?.['x-kubernetes-group-version-kind'];
    return (
      Array.isArray(gvks) &&
      gvks.some((g) => {
        const gvk = obj(g);
        return gvk?.['group'] === group && gvk['version'] === version && gvk['kind'] === kind;
      })
    );
  });
  if (root === undefined) return undefined;
  const out: string[] = [];
  walk(schemas, obj(root), value, '', out);
  return out;
}

/** The message kube-apiserver returns for a strict-decoding failure over `paths`. */
export function strictDecodingMessage(paths: readonly string[]): string {
  return `strict decoding error: ${paths.map((p) => `unknown field "${p}"`).join(', ')}`;
}

function resolve(schemas: Json, schema: Json | undefined): Json | undefined {
  let s = schema;
  // A chain of $ref/allOf indirections is short (one or two hops); the bound guards against cycles.
  for (let hops = 0; s !== undefined && hops < 8; hops++) {
    const ref = s['$ref'];
    if (typeof ref === 'string' && ref.startsWith(refPrefix)) {
      s = obj(schemas[ref.slice(refPrefix.length)]);
      continue;
    }
    const allOf = s['allOf'];
    if (Array.isArray(allOf) && allOf.length === 1 && s['properties'] === undefined) {
      s = obj(allOf[0]);
      continue;
    }
    return s;
  }
  return s;
}

function walk(schemas: Json, schema: Json | undefined, value: unknown, path: string, out: string[]): void {
  const s = resolve(schemas, schema);
  if (s === undefined || s['x-kubernetes-preserve-unknown-fields'] === true) return;
  if (Array.isArray(value)) {
    const items = obj(s['items']);
    if (items !== undefined)
      value.forEach((v, i) => {
        walk(schemas, items, v, `${path}[${i}]`, out);
      });
    return;
  }
  const fields = obj(value);
  if (fields === undefined) return;
  const properties = obj(s['properties']);
  const additional = obj(s['additionalProperties']);
  for (const [key, v] of Object.entries(fields)) {
    const child = path === '' ? key : `${path}.${key}`;
    if (properties !== undefined) {
      const prop = obj(properties[key]);
      if (prop === undefined) out.push(child);
      else walk(schemas, prop, v, child, out);
    } else if (additional !== undefined) {
      walk(schemas, additional, v, child, out);
    }
  }
}

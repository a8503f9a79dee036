/**
 * Unknown-field detection against the published OpenAPI schemas: what the server needs for
 * `fieldValidation=Strict` (kubectl's default `--validate=strict` sends it and then skips its own
 * client-side validation, see documents.ts). Paths are written the way kube-apiserver's strict
 * decoder reports them (`spec.template.spec.containers[0].imagee`), and so are the error texts
 * (`unknown field "<path>"`, `strict decoding error: …`). Also drops unknown fields, which is what
 * Kubernetes' typed decoding does to them under Warn and Ignore.
 */

import { parseApiVersion } from '../resources.js';
import { goQuote } from '../status.js';
import { openApiV3Document } from './documents.js';

type Json = Readonly<Record<string, unknown>>;

function obj(v: unknown): Json | undefined {
  return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Json) : undefined;
}

const refPrefix = '#/components/schemas/';

interface Root {
  readonly schemas: Json;
  readonly root: Json | undefined;
}

// Documents are built once per process, so the schema of a kind never changes: look it up once.
const roots = new Map<string, Root | undefined>();

function rootOf(apiVersion: string, kind: string): Root | undefined {
  const key = `${apiVersion}/${kind}`;
  if (roots.has(key)) return roots.get(key);
  const { group, version } = parseApiVersion(apiVersion);
  const schemas = obj(obj(obj(openApiV3Document(group, version))?.['components'])?.['schemas']);
  const root =
    schemas === undefined
      ? undefined
      : Object.values(schemas).find((s) => {
          const gvks = obj(s)?.['x-kubernetes-group-version-kind'];
          return (
            Array.isArray(gvks) &&
            gvks.some((g) => {
              const gvk = obj(g);
              return gvk?.['group'] === group && gvk['version'] === version && gvk['kind'] === kind;
            })
          );
        });
  const found = schemas === undefined || root === undefined ? undefined : { schemas, root: obj(root) };
  roots.set(key, found);
  return found;
}

/**
 * The JSON paths of every field in `value` that the schema of `apiVersion`/`kind` does not declare,
 * in document order; empty when there are none. Returns `undefined` when Berth publishes no schema
 * for that kind (the caller decides whether that is an error).
 */
export function unknownFields(apiVersion: string, kind: string, value: unknown): string[] | undefined {
  const found = rootOf(apiVersion, kind);
  if (found === undefined) return undefined;
  const out: string[] = [];
  walk(found.schemas, found.root, value, '', out, false);
  return out;
}

/**
 * `value` without the fields {@link unknownFields} reports, and their paths: what Kubernetes keeps of
 * a body it decodes into its typed structs (unknown fields are dropped unless fieldValidation is
 * Strict). `value` is never modified: a pruned deep copy is returned when something was removed,
 * `value` itself otherwise (also when the kind has no schema).
 */
export function dropUnknownFields<T>(
  apiVersion: string,
  kind: string,
  value: T,
): { readonly value: T; readonly removed: readonly string[] } {
  const found = rootOf(apiVersion, kind);
  if (found === undefined) return { value, removed: [] };
  const removed: string[] = [];
  walk(found.schemas, found.root, value, '', removed, false);
  if (removed.length === 0) return { value, removed };
  const copy = structuredClone(value);
  walk(found.schemas, found.root, copy, '', [], true);
  return { value: copy, removed };
}

/** `unknown field "spec.foo"`: one strict-decoding error as sigs.k8s.io/json words it. */
export function unknownFieldError(path: string): string {
  return `unknown field ${goQuote(path)}`;
}

/** `duplicate field "spec.replicas"`: one strict-decoding error as sigs.k8s.io/json words it. */
export function duplicateFieldError(path: string): string {
  return `duplicate field ${goQuote(path)}`;
}

/**
 * The message of runtime.StrictDecodingError over `errors` (each from {@link unknownFieldError} or
 * {@link duplicateFieldError}): `strict decoding error: unknown field "a", duplicate field "b"`.
 */
export function strictDecodingMessage(errors: readonly string[]): string {
  return `strict decoding error: ${errors.join(', ')}`;
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

function walk(
  schemas: Json,
  schema: Json | undefined,
  value: unknown,
  path: string,
  out: string[],
  prune: boolean,
): void {
  const s = resolve(schemas, schema);
  if (s === undefined || s['x-kubernetes-preserve-unknown-fields'] === true) return;
  if (Array.isArray(value)) {
    const items = obj(s['items']);
    if (items !== undefined)
      value.forEach((v, i) => {
        walk(schemas, items, v, `${path}[${i}]`, out, prune);
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
      if (prop === undefined) {
        out.push(child);
        // Only ever called on the private copy made by dropUnknownFields.
        if (prune) Reflect.deleteProperty(fields, key);
      } else walk(schemas, prop, v, child, out, prune);
    } else if (additional !== undefined) {
      walk(schemas, additional, v, child, out, prune);
    }
  }
}

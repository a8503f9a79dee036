/**
 * OpenAPI v3 component schemas derived from @kubernetes/client-node's generated models, so that the
 * field structure we publish is the one Kubernetes publishes (client-node is generated from the
 * upstream OpenAPI spec) without us hand-writing or vendoring thousands of lines of schema.
 *
 * Each model class carries `attributeTypeMap` (JSON name, TypeScript type, OpenAPI format); we walk
 * it from the kinds we serve and emit one schema per reachable class. What is lost: descriptions
 * (they exist only in the .d.ts comments), `required` lists and enums. kubectl needs neither for
 * validation (the server validates, §2); `kubectl explain` shows field names and types without prose.
 *
 * Schema names follow Kubernetes' (`io.k8s.api.apps.v1.DeploymentSpec`) because `kubectl explain`
 * prints the last dotted segment as the field's type. client-node is generated from a newer
 * Kubernetes than 1.32, so a few newer optional fields appear too; that only makes us more lenient.
 */

import * as k8s from '@kubernetes/client-node';
import { patchMetaByModel } from './patch-extensions.js';

/** A JSON Schema object as OpenAPI 3.0 writes it. */
export type Schema = Readonly<Record<string, unknown>>;

interface Attribute {
  readonly baseName: string;
  readonly type: string;
  readonly format: string;
}

interface ModelClass {
  getAttributeTypeMap(): readonly Attribute[];
}

const models = k8s as unknown as Readonly<Record<string, unknown>>;

/** The client-node class for a model name, or `undefined` when the name is not a model. */
export function modelClass(name: string): ModelClass | undefined {
  const candidate = models[name];
  if (typeof candidate !== 'function') return undefined;
  const getter = (candidate as { getAttributeTypeMap?: unknown }).getAttributeTypeMap;
  return typeof getter === 'function' ? (candidate as unknown as ModelClass) : undefined;
}

const metaTypes = new Set([
  'ObjectMeta',
  'ListMeta',
  'LabelSelector',
  'LabelSelectorRequirement',
  'OwnerReference',
  'ManagedFieldsEntry',
  'Condition',
  'Status',
  'StatusDetails',
  'StatusCause',
  'DeleteOptions',
  'Preconditions',
]);
const appsTypes =
  /^(Deployment|ReplicaSet|DaemonSet|ControllerRevision|RollingUpdate(Deployment|DaemonSet)|StatefulSet)/;
const batchTypes = /^(Job|CronJob|PodFailurePolicy|SuccessPolicy|UncountedTerminatedPods)/;

/** Kubernetes' own short name for a client-node model: `CoreV1Event` → `Event`, `V1PodSpec` → `PodSpec`. */
export function shortModelName(className: string): string {
  return className.replace(/^(?:[A-Z][a-z]+)*V\d+(?:(?:alpha|beta)\d+)?(?=[A-Z])/, '');
}

/** The component-schema name Kubernetes would give a client-node model. */
export function schemaName(className: string): string {
  const short = shortModelName(className);
  if (metaTypes.has(short)) return `io.k8s.apimachinery.pkg.apis.meta.v1.${short}`;
  if (appsTypes.test(short)) return `io.k8s.api.apps.v1.${short}`;
  if (batchTypes.test(short)) return `io.k8s.api.batch.v1.${short}`;
  return `io.k8s.api.core.v1.${short}`;
}

/** A component schema set: schema name → schema, plus the class each name came from. */
export interface ComponentSchemas {
  readonly schemas: Record<string, Schema>;
  readonly classOf: ReadonlyMap<string, string>;
}

/**
 * The schemas of `roots` and every model reachable from them. `decorate` may add properties (such as
 * `x-kubernetes-group-version-kind`) to a class's schema. Throws if a root is not a client-node model,
 * which is a programming error in the registry.
 */
export function buildComponentSchemas(
  roots: readonly string[],
  decorate: (className: string) => Schema = () => ({}),
): ComponentSchemas {
  const schemas: Record<string, Schema> = {};
  const classOf = new Map<string, string>();
  const queue = [...roots];
  for (const root of roots) {
    if (modelClass(root) === undefined) throw new TypeError(`not a client-node model: ${root}`);
  }
  const ref = (className: string): Schema => {
    queue.push(className);
    return { $ref: `#/components/schemas/${schemaName(className)}` };
  };
  for (let className = queue.shift(); className !== undefined; className = queue.shift()) {
    const name = schemaName(className);
    const seenFrom = classOf.get(name);
    if (seenFrom !== undefined) {
      if (seenFrom !== className)
        throw new TypeError(`schema name clash: ${seenFrom} and ${className} → ${name}`);
      continue;
    }
    const cls = modelClass(className);
    if (cls === undefined) continue;
    classOf.set(name, className);
    const properties: Record<string, Schema> = {};
    const patchMeta = patchMetaByModel[className] ?? {};
    for (const attr of cls.getAttributeTypeMap()) {
      const meta = patchMeta[attr.baseName];
      const base = typeSchema(attr.type, attr.format, ref);
      properties[attr.baseName] =
        meta === undefined
          ? base
          : {
              // OpenAPI 3.0 ignores siblings of `$ref`, hence Kubernetes' `allOf` wrapping.
              ...('$ref' in base ? { allOf: [base] } : base),
              'x-kubernetes-patch-strategy': meta.strategy,
              ...(meta.mergeKey === undefined ? {} : { 'x-kubernetes-patch-merge-key': meta.mergeKey }),
            };
    }
    schemas[name] = { type: 'object', properties, ...decorate(className) };
  }
  return { schemas, classOf };
}

const arrayOf = /^Array<(.+)>$/;
const mapOf = /^\{ \[key: string\]: (.+); \}$/;

function typeSchema(type: string, format: string, ref: (className: string) => Schema): Schema {
  const arr = arrayOf.exec(type);
  if (arr?.[1] !== undefined) return { type: 'array', items: typeSchema(arr[1], format, ref) };
  const map = mapOf.exec(type);
  if (map?.[1] !== undefined)
    return { type: 'object', additionalProperties: typeSchema(map[1], format, ref) };
  switch (type) {
    case 'string':
      return format === '' ? { type: 'string' } : { type: 'string', format };
    case 'boolean':
      return { type: 'boolean' };
    case 'number':
      if (format === 'int32' || format === 'int64') return { type: 'integer', format };
      return format === '' ? { type: 'number' } : { type: 'number', format };
    case 'Date':
      return { type: 'string', format: 'date-time' };
    case 'IntOrString':
      return { 'x-kubernetes-int-or-string': true, anyOf: [{ type: 'integer' }, { type: 'string' }] };
    case 'any':
    case 'object':
      return { type: 'object', 'x-kubernetes-preserve-unknown-fields': true };
    default:
      return modelClass(type) === undefined ? { 'x-kubernetes-preserve-unknown-fields': true } : ref(type);
  }
}

/**
 * `validateCreate` / `validateUpdate`: Kubernetes' validation for the kinds Berth serves, picked by
 * apiVersion and kind, returning the causes for a 422 Invalid Status (empty = valid). Build the
 * Status with `invalid({group, kind}, name, causes)` from api/status.ts.
 *
 * The object must already be defaulted (api/defaults) and carry its namespace (from the URL) and,
 * on create, its generated name and uid where the kind needs them (Jobs). Checks that need other
 * objects or the request (namespace matches the URL, the namespace exists, quota) are the server's.
 * Unknown kinds get metadata checks only.
 */

import type { StatusCause } from '../status.js';
import {
  validateConfigMap,
  validateConfigMapUpdate,
  validateEndpoints,
  validateEvent,
  validateNamespace,
  validateNode,
  validateNodeUpdate,
  validateSecret,
  validateSecretUpdate,
} from './core.js';
import { asObject, asString, type JsonObject } from './json-access.js';
import { nameIsDNS1035Label, nameIsDNSLabel, nameIsDNSSubdomain } from './names.js';
import { validateObjectMeta, validateObjectMetaUpdate, type MetaRules } from './object-meta.js';
import { validatePod, validatePodTemplateSpec, validatePodUpdate } from './pod.js';
import { validateService, validateServiceUpdate } from './service.js';
import {
  validateDaemonSet,
  validateDeployment,
  validateJob,
  validateJobUpdate,
  validateReplicaSet,
  validateSelectorImmutable,
} from './workloads.js';

interface KindRules {
  meta: MetaRules;
  /** Everything but metadata, on create. */
  create(obj: JsonObject): StatusCause[];
  /** Everything but metadata, on update (defaults to `create` of the new object). */
  update?(obj: JsonObject, old: JsonObject): StatusCause[];
}

const namespaced = (nameFn = nameIsDNSSubdomain): MetaRules => ({ namespaced: true, nameFn });
const clusterScoped = (nameFn = nameIsDNSSubdomain): MetaRules => ({ namespaced: false, nameFn });

const rules: Readonly<Record<string, KindRules>> = {
  '/Pod': {
    meta: namespaced(),
    create: validatePod,
    update: (obj, old) => [...validatePod(obj), ...validatePodUpdate(obj, old)],
  },
  '/PodTemplate': { meta: namespaced(), create: (o) => validatePodTemplateSpec(o['template'], 'template') },
  '/Service': {
    meta: namespaced(nameIsDNS1035Label),
    create: validateService,
    update: validateServiceUpdate,
  },
  '/ConfigMap': { meta: namespaced(), create: validateConfigMap, update: validateConfigMapUpdate },
  '/Secret': { meta: namespaced(), create: validateSecret, update: validateSecretUpdate },
  '/Namespace': { meta: clusterScoped(nameIsDNSLabel), create: validateNamespace, update: () => [] },
  '/Node': { meta: clusterScoped(), create: validateNode, update: validateNodeUpdate },
  '/Event': { meta: namespaced(), create: validateEvent },
  '/Endpoints': { meta: namespaced(), create: validateEndpoints },
  'apps/Deployment': {
    meta: namespaced(),
    create: validateDeployment,
    update: (o, old) => [...validateDeployment(o), ...validateSelectorImmutable(o, old)],
  },
  'apps/ReplicaSet': {
    meta: namespaced(),
    create: validateReplicaSet,
    update: (o, old) => [...validateReplicaSet(o), ...validateSelectorImmutable(o, old)],
  },
  'apps/DaemonSet': {
    meta: namespaced(),
    create: validateDaemonSet,
    update: (o, old) => [...validateDaemonSet(o), ...validateSelectorImmutable(o, old)],
  },
  'batch/Job': { meta: namespaced(), create: validateJob, update: validateJobUpdate },
};

function rulesFor(obj: JsonObject): KindRules | undefined {
  const apiVersion = asString(obj['apiVersion']);
  const group = apiVersion.includes('/') ? apiVersion.slice(0, apiVersion.indexOf('/')) : '';
  return rules[`${group}/${asString(obj['kind'])}`];
}

function fallbackMeta(obj: JsonObject): MetaRules {
  // An unknown kind: judge scope by whether a namespace was set.
  return {
    namespaced: asString(asObject(obj['metadata'])?.['namespace']) !== '',
    nameFn: nameIsDNSSubdomain,
  };
}

/** Validates a new object. */
export function validateCreate(obj: unknown): StatusCause[] {
  const o = asObject(obj) ?? {};
  const r = rulesFor(o);
  const causes = validateObjectMeta(o['metadata'], r?.meta ?? fallbackMeta(o));
  if (r !== undefined) causes.push(...r.create(o));
  return causes;
}

/** Validates an update of `oldObj` to `newObj` (both full objects, both defaulted). */
export function validateUpdate(newObj: unknown, oldObj: unknown): StatusCause[] {
  const o = asObject(newObj) ?? {};
  const old = asObject(oldObj) ?? {};
  const r = rulesFor(o);
  const causes = validateObjectMetaUpdate(o['metadata'], old['metadata']);
  if (r !== undefined) causes.push(...(r.update ? r.update(o, old) : r.create(o)));
  return causes;
}

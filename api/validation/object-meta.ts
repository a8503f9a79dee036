/**
 * ObjectMeta validation (k8s.io/apimachinery/pkg/api/validation/objectmeta.go and
 * pkg/apis/meta/v1/validation): name/generateName per kind, namespace presence, labels, annotations
 * and their 256 KiB budget, owner references, finalizers; and on update, the immutable identity
 * fields. Also the label-selector object check shared by workloads.
 */

import type { StatusCause } from '../status.js';
import { forbiddenField, formatBadValue, invalidValue, required, tooLong } from '../status.js';
import { goLabelSelector, goStringSlice, goTime } from './go-values.js';
import { asArray, asNumber, asObject, asString, jsonEqual, type JsonObject } from './json-access.js';
import {
  byteLength,
  isQualifiedName,
  isValidLabelValue,
  nameIsDNSLabel,
  type NameValidator,
} from './names.js';

/** `field is immutable`. */
export const fieldImmutableErrorMsg = 'field is immutable';
/** `must be greater than or equal to 0`. */
export const isNegativeErrorMsg = 'must be greater than or equal to 0';
/** Total bytes of annotation keys and values allowed on one object. */
export const totalAnnotationSizeLimitB = 256 * 1024;

/** ValidateNonnegativeField. */
export function validateNonnegative(value: unknown, path: string): StatusCause[] {
  const n = asNumber(value);
  return n !== undefined && n < 0 ? [invalidValue(path, n, isNegativeErrorMsg)] : [];
}

/** ValidateImmutableField, comparing JSON values; `shown` is how the new value prints. */
export function validateImmutable(
  newVal: unknown,
  oldVal: unknown,
  path: string,
  shown: unknown = newVal,
): StatusCause[] {
  return jsonEqual(newVal ?? null, oldVal ?? null) ? [] : [invalidValue(path, shown, fieldImmutableErrorMsg)];
}

/** ValidateLabelName: a qualified name. */
export function validateLabelName(name: string, path: string): StatusCause[] {
  return isQualifiedName(name).map((msg) => invalidValue(path, name, msg));
}

/** ValidateLabels: every key a qualified name, every value a label value; errors name the map path. */
export function validateLabels(labels: unknown, path: string): StatusCause[] {
  const o = asObject(labels);
  if (o === undefined) return [];
  const causes: StatusCause[] = [];
  for (const [k, v] of Object.entries(o)) {
    causes.push(...validateLabelName(k, path));
    const value = asString(v);
    for (const msg of isValidLabelValue(value)) causes.push(invalidValue(path, value, msg));
  }
  return causes;
}

/** ValidateAnnotations: keys are qualified names (case-insensitively); total size ≤ 256 KiB. */
export function validateAnnotations(annotations: unknown, path: string): StatusCause[] {
  const o = asObject(annotations);
  if (o === undefined) return [];
  const causes: StatusCause[] = [];
  let size = 0;
  for (const [k, v] of Object.entries(o)) {
    for (const msg of isQualifiedName(k.toLowerCase())) causes.push(invalidValue(path, k, msg));
    size += byteLength(k) + byteLength(asString(v));
  }
  if (size > totalAnnotationSizeLimitB) causes.push(tooLong(path, '', totalAnnotationSizeLimitB));
  return causes;
}

function validateOwnerReferences(refs: unknown, path: string): StatusCause[] {
  const causes: StatusCause[] = [];
  let firstController = '';
  for (const r of asArray(refs)) {
    const ref = asObject(r) ?? {};
    const apiVersion = asString(ref['apiVersion']);
    const version = apiVersion.includes('/') ? apiVersion.slice(apiVersion.indexOf('/') + 1) : apiVersion;
    if (version === '')
      causes.push(invalidValue(`${path}.apiVersion`, apiVersion, 'version must not be empty'));
    if (asString(ref['kind']) === '') causes.push(invalidValue(`${path}.kind`, '', 'kind must not be empty'));
    if (asString(ref['name']) === '') causes.push(invalidValue(`${path}.name`, '', 'name must not be empty'));
    if (asString(ref['uid']) === '') causes.push(invalidValue(`${path}.uid`, '', 'uid must not be empty'));
    if (ref['controller'] === true) {
      const current = `${asString(ref['kind'])}/${asString(ref['name'])}`;
      if (firstController !== '') {
        causes.push(
          invalidValue(
            path,
            asArray(refs).length,
            `Only one reference can have Controller set to true. Found "true" in references for ${firstController} and ${current}`,
          ),
        );
      } else firstController = current;
    }
  }
  return causes;
}

const standardFinalizers = new Set(['kubernetes', 'orphan', 'foregroundDeletion']);

/** A finalizer name: a qualified name; unprefixed ones must be standard (core's ValidateFinalizerName). */
export function validateFinalizerName(name: string, path: string): StatusCause[] {
  const causes = isQualifiedName(name).map((msg) => invalidValue(path, name, msg));
  if (causes.length === 0 && !name.includes('/') && !standardFinalizers.has(name)) {
    causes.push(
      invalidValue(path, name, 'name is neither a standard finalizer name nor is it fully qualified'),
    );
  }
  return causes;
}

function validateFinalizers(finalizers: unknown, path: string): StatusCause[] {
  const list = asArray(finalizers).map(asString);
  const causes = list.flatMap((f) => isQualifiedName(f).map((msg) => invalidValue(path, f, msg)));
  if (list.includes('orphan') && list.includes('foregroundDeletion')) {
    causes.push(
      invalidValue(path, goStringSlice(list), 'finalizer orphan and foregroundDeletion cannot be both set'),
    );
  }
  return causes;
}

/** How a kind's metadata is checked. */
export interface MetaRules {
  /** Namespaced kinds need metadata.namespace; cluster-scoped kinds must not have one. */
  namespaced: boolean;
  nameFn: NameValidator;
}

/**
 * ValidateObjectMeta for a create. A missing name is accepted when generateName is set (the server
 * generates the name); the namespace must already be filled in from the URL.
 */
export function validateObjectMeta(metaValue: unknown, rules: MetaRules, path = 'metadata'): StatusCause[] {
  const meta = asObject(metaValue) ?? {};
  const causes: StatusCause[] = [];
  const name = asString(meta['name']);
  const generateName = asString(meta['generateName']);
  if (generateName !== '') {
    for (const msg of rules.nameFn(generateName, true))
      causes.push(invalidValue(`${path}.generateName`, generateName, msg));
  }
  if (name === '') {
    if (generateName === '') causes.push(required(`${path}.name`, 'name or generateName is required'));
  } else {
    for (const msg of rules.nameFn(name, false)) causes.push(invalidValue(`${path}.name`, name, msg));
  }
  const namespace = asString(meta['namespace']);
  if (rules.namespaced) {
    if (namespace === '') causes.push(required(`${path}.namespace`));
    else
      for (const msg of nameIsDNSLabel(namespace, false))
        causes.push(invalidValue(`${path}.namespace`, namespace, msg));
  } else if (namespace !== '') {
    causes.push(forbiddenField(`${path}.namespace`, 'not allowed on this type'));
  }
  causes.push(...validateNonnegative(meta['generation'], `${path}.generation`));
  causes.push(...validateLabels(meta['labels'], `${path}.labels`));
  causes.push(...validateAnnotations(meta['annotations'], `${path}.annotations`));
  causes.push(...validateOwnerReferences(meta['ownerReferences'], `${path}.ownerReferences`));
  causes.push(...validateFinalizers(meta['finalizers'], `${path}.finalizers`));
  return causes;
}

/**
 * ValidateObjectMetaUpdate: name, namespace, uid, creationTimestamp, deletionTimestamp and
 * deletionGracePeriodSeconds are immutable; generation may not go down; no new finalizers once
 * deletion started; labels, annotations, owner references and finalizers of the new object valid.
 * The server should copy uid and creationTimestamp from the stored object when the client omits
 * them (Kubernetes' BeforeUpdate), so that only real changes are reported.
 */
export function validateObjectMetaUpdate(
  newMetaValue: unknown,
  oldMetaValue: unknown,
  path = 'metadata',
): StatusCause[] {
  const meta = asObject(newMetaValue) ?? {};
  const old = asObject(oldMetaValue) ?? {};
  const causes: StatusCause[] = [];
  if (old['deletionTimestamp'] != null) {
    const before = new Set(asArray(old['finalizers']).map(asString));
    const added = asArray(meta['finalizers'])
      .map(asString)
      .filter((f) => !before.has(f))
      .sort();
    if (added.length > 0) {
      causes.push(
        forbiddenField(
          `${path}.finalizers`,
          `no new finalizers can be added if the object is being deleted, found new finalizers ${formatBadValue(added)}`,
        ),
      );
    }
  }
  const newGen = asNumber(meta['generation']) ?? 0;
  const oldGen = asNumber(old['generation']) ?? 0;
  if (newGen < oldGen) causes.push(invalidValue(`${path}.generation`, newGen, 'must not be decremented'));
  const str = (m: JsonObject, k: string): string => asString(m[k]);
  causes.push(...validateImmutable(str(meta, 'name'), str(old, 'name'), `${path}.name`));
  causes.push(...validateImmutable(str(meta, 'namespace'), str(old, 'namespace'), `${path}.namespace`));
  causes.push(...validateImmutable(str(meta, 'uid'), str(old, 'uid'), `${path}.uid`));
  causes.push(
    ...validateImmutable(
      timeMs(meta['creationTimestamp']),
      timeMs(old['creationTimestamp']),
      `${path}.creationTimestamp`,
      goTime(meta['creationTimestamp']),
    ),
  );
  causes.push(
    ...validateImmutable(
      timeMs(meta['deletionTimestamp']),
      timeMs(old['deletionTimestamp']),
      `${path}.deletionTimestamp`,
      meta['deletionTimestamp'] == null ? null : goTime(meta['deletionTimestamp']),
    ),
  );
  causes.push(
    ...validateImmutable(
      meta['deletionGracePeriodSeconds'],
      old['deletionGracePeriodSeconds'],
      `${path}.deletionGracePeriodSeconds`,
    ),
  );
  causes.push(...validateLabels(meta['labels'], `${path}.labels`));
  causes.push(...validateAnnotations(meta['annotations'], `${path}.annotations`));
  causes.push(...validateOwnerReferences(meta['ownerReferences'], `${path}.ownerReferences`));
  causes.push(...validateFinalizers(meta['finalizers'], `${path}.finalizers`));
  return causes;
}

function timeMs(v: unknown): number | null {
  if (typeof v !== 'string') return null;
  const ms = Date.parse(v);
  return Number.isNaN(ms) ? null : Math.floor(ms / 1000);
}

/**
 * metav1 ValidateLabelSelector: matchLabels as labels; each expression's operator, values and key.
 */
export function validateLabelSelector(selector: unknown, path: string): StatusCause[] {
  const sel = asObject(selector);
  if (sel === undefined) return [];
  const causes = validateLabels(sel['matchLabels'], `${path}.matchLabels`);
  asArray(sel['matchExpressions']).forEach((e, i) => {
    const expr = asObject(e) ?? {};
    const p = `${path}.matchExpressions[${i}]`;
    const op = asString(expr['operator']);
    const values = asArray(expr['values']);
    switch (op) {
      case 'In':
      case 'NotIn':
        if (values.length === 0)
          causes.push(required(`${p}.values`, "must be specified when `operator` is 'In' or 'NotIn'"));
        break;
      case 'Exists':
      case 'DoesNotExist':
        if (values.length > 0) {
          causes.push(
            forbiddenField(
              `${p}.values`,
              "may not be specified when `operator` is 'Exists' or 'DoesNotExist'",
            ),
          );
        }
        break;
      default:
        causes.push(invalidValue(`${p}.operator`, op, 'not a valid selector operator'));
    }
    causes.push(...validateLabelName(asString(expr['key']), `${p}.key`));
    values.forEach((v, j) => {
      const value = asString(v);
      for (const msg of isValidLabelValue(value)) causes.push(invalidValue(`${p}.values[${j}]`, value, msg));
    });
  });
  return causes;
}

/** The `empty selector is invalid for <what>` check, with Kubernetes' rendering of the selector. */
export function emptySelectorError(selector: unknown, path: string, what: string): StatusCause[] {
  const sel = asObject(selector);
  if (sel === undefined) return [];
  const n = Object.keys(asObject(sel['matchLabels']) ?? {}).length + asArray(sel['matchExpressions']).length;
  return n === 0 ? [invalidValue(path, goLabelSelector(sel), `empty selector is invalid for ${what}`)] : [];
}

/**
 * Field selectors (k8s.io/apimachinery/pkg/fields): `?fieldSelector=f=v,f==v,f!=v` with backslash
 * escapes, the fields each kind supports (the apiserver's field-label conversion functions), and the
 * values those fields take on an object (each registry strategy's GetAttrs/ToSelectableFields).
 * Unsupported fields and malformed input are error values with Kubernetes' messages.
 */

import { asArray, asNumber, asObject, asString, type JsonObject } from '../validation/json-access.js';

/** One term; `!=` is `negate`. */
export interface FieldTerm {
  readonly field: string;
  readonly value: string;
  readonly negate: boolean;
}

/** A compiled field selector: an AND of terms. */
export interface FieldSelector {
  readonly terms: readonly FieldTerm[];
  /** True when every term holds; a field missing from `fields` counts as ''. */
  matches(fields: Readonly<Record<string, string>>): boolean;
  /** True when there are no terms. */
  isEverything(): boolean;
  /** The value a `f=v` term pins `field` to, if any. */
  requiresExactMatch(field: string): string | undefined;
  toString(): string;
}

/** Result of parsing or checking a selector; errors are values. */
export type FieldSelectorResult = { ok: true; selector: FieldSelector } | { ok: false; error: string };

class Terms implements FieldSelector {
  readonly terms: readonly FieldTerm[];

  constructor(terms: readonly FieldTerm[]) {
    this.terms = terms;
  }

  matches(fields: Readonly<Record<string, string>>): boolean {
    return this.terms.every((t) => {
      const v = Object.hasOwn(fields, t.field) ? (fields[t.field] ?? '') : '';
      return t.negate ? v !== t.value : v === t.value;
    });
  }

  isEverything(): boolean {
    return this.terms.length === 0;
  }

  requiresExactMatch(field: string): string | undefined {
    return this.terms.find((t) => t.field === field && !t.negate)?.value;
  }

  toString(): string {
    return this.terms.map((t) => `${t.field}${t.negate ? '!=' : '='}${escapeValue(t.value)}`).join(',');
  }
}

/** EscapeValue: backslash-escapes `\`, `,` and `=`. */
export function escapeValue(s: string): string {
  return s.replace(/[\\,=]/g, (c) => `\\${c}`);
}

function unescapeValue(s: string): { ok: true; value: string } | { ok: false; error: string } {
  if (!/[\\,=]/.test(s)) return { ok: true, value: s };
  let out = '';
  let inSlash = false;
  for (const c of s) {
    if (inSlash) {
      if (c === '\\' || c === ',' || c === '=') out += c;
      else return { ok: false, error: `invalid field selector: invalid escape sequence: \\${c}` };
      inSlash = false;
      continue;
    }
    if (c === '\\') inSlash = true;
    // Go prints the rune with %v, i.e. as its code point number.
    else if (c === ',' || c === '=') {
      return {
        ok: false,
        error: `invalid field selector: unescaped character in value: ${c.codePointAt(0) ?? 0}`,
      };
    } else out += c;
  }
  if (inSlash) return { ok: false, error: 'invalid field selector: invalid escape sequence: \\' };
  return { ok: true, value: out };
}

// Splits on commas not preceded by an escaping backslash.
function splitTerms(s: string): string[] {
  if (s === '') return [];
  const terms: string[] = [];
  let start = 0;
  let escaped = false;
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    if (escaped) escaped = false;
    else if (c === '\\') escaped = true;
    else if (c === ',') {
      terms.push(s.slice(start, i));
      start = i + 1;
    }
  }
  terms.push(s.slice(start));
  return terms;
}

const termOperators = ['!=', '==', '='] as const;

function splitTerm(term: string): { lhs: string; op: string; rhs: string } | undefined {
  for (let i = 0; i < term.length; i++) {
    const rest = term.slice(i);
    for (const op of termOperators) {
      if (rest.startsWith(op)) return { lhs: term.slice(0, i), op, rhs: term.slice(i + op.length) };
    }
  }
  return undefined;
}

/**
 * fields.ParseSelector. Terms are sorted (as Kubernetes does); an empty string selects everything.
 * Does not check field names: use {@link checkFieldSelector} (or {@link parseFieldSelectorFor}).
 */
export function parseFieldSelector(input: string): FieldSelectorResult {
  const parts = splitTerms(input).sort();
  const terms: FieldTerm[] = [];
  for (const part of parts) {
    if (part === '') continue;
    const t = splitTerm(part);
    if (t === undefined)
      return { ok: false, error: `invalid selector: '${input}'; can't understand '${part}'` };
    const v = unescapeValue(t.rhs);
    if (!v.ok) return v;
    terms.push({ field: t.lhs, value: v.value, negate: t.op === '!=' });
  }
  return { ok: true, selector: new Terms(terms) };
}

const metaFields = ['metadata.name', 'metadata.namespace'];

/**
 * Field labels each kind supports, keyed by `group/Kind` ('' group for core). Kinds not listed
 * support metadata.name and metadata.namespace only (runtime.DefaultMetaV1FieldSelectorConversion).
 */
export const supportedFields: Readonly<Record<string, readonly string[]>> = {
  '/Pod': [
    ...metaFields,
    'spec.nodeName',
    'spec.restartPolicy',
    'spec.schedulerName',
    'spec.serviceAccountName',
    'spec.hostNetwork',
    'status.phase',
    'status.podIP',
    'status.nominatedNodeName',
  ],
  '/Node': ['metadata.name', 'spec.unschedulable'],
  '/Namespace': ['metadata.name', 'status.phase'],
  '/Event': [
    ...metaFields,
    'involvedObject.kind',
    'involvedObject.namespace',
    'involvedObject.name',
    'involvedObject.uid',
    'involvedObject.apiVersion',
    'involvedObject.resourceVersion',
    'involvedObject.fieldPath',
    'reason',
    'reportingComponent',
    'source',
    'type',
  ],
  '/Secret': [...metaFields, 'type'],
  '/Service': [...metaFields, 'spec.clusterIP', 'spec.type'],
  '/ReplicationController': [...metaFields, 'status.replicas'],
  'apps/ReplicaSet': [...metaFields, 'status.replicas'],
  'batch/Job': [...metaFields, 'status.successful'],
};

/** Old clients send `spec.host` for pods; Kubernetes rewrites it to spec.nodeName. */
const fieldAliases: Readonly<Record<string, Readonly<Record<string, string>>>> = {
  '/Pod': { 'spec.host': 'spec.nodeName' },
};

function kindKey(group: string, kind: string): string {
  return `${group}/${kind}`;
}

/** The field labels `group/kind` supports. */
export function fieldsSupportedBy(group: string, kind: string): readonly string[] {
  return supportedFields[kindKey(group, kind)] ?? metaFields;
}

/**
 * Checks every term's field against the kind (rewriting aliases), like the apiserver's field-label
 * conversion: an unknown field is `field label not supported: <field>`.
 */
export function checkFieldSelector(
  selector: FieldSelector,
  group: string,
  kind: string,
): FieldSelectorResult {
  const key = kindKey(group, kind);
  const supported = fieldsSupportedBy(group, kind);
  const aliases = fieldAliases[key] ?? {};
  const terms: FieldTerm[] = [];
  for (const t of selector.terms) {
    const field = aliases[t.field] ?? t.field;
    if (!supported.includes(field)) return { ok: false, error: `field label not supported: ${t.field}` };
    terms.push({ ...t, field });
  }
  return { ok: true, selector: new Terms(terms) };
}

/** Parses and checks against a kind in one step. */
export function parseFieldSelectorFor(input: string, group: string, kind: string): FieldSelectorResult {
  const r = parseFieldSelector(input);
  return r.ok ? checkFieldSelector(r.selector, group, kind) : r;
}

function get(obj: JsonObject, path: string): unknown {
  let cur: unknown = obj;
  for (const part of path.split('.')) cur = asObject(cur)?.[part];
  return cur;
}

// Go prints bools as true/false and absent ones as false.
const boolString = (v: unknown): string => (v === true ? 'true' : 'false');

/**
 * The selectable field values of `obj` (GetAttrs), for matching a {@link FieldSelector}. `group` and
 * `kind` decide which fields exist; every kind has metadata.name and, if namespaced, metadata.namespace.
 */
export function fieldsOf(obj: unknown, group: string, kind: string): Record<string, string> {
  const o = asObject(obj) ?? {};
  const meta = asObject(o['metadata']) ?? {};
  const fields: Record<string, string> = {
    'metadata.name': asString(meta['name']),
    'metadata.namespace': asString(meta['namespace']),
  };
  const str = (path: string): string => asString(get(o, path));
  switch (kindKey(group, kind)) {
    case '/Pod': {
      const podIPs = asArray(get(o, 'status.podIPs')).map((p) => asString(asObject(p)?.['ip']));
      Object.assign(fields, {
        'spec.nodeName': str('spec.nodeName'),
        'spec.restartPolicy': str('spec.restartPolicy'),
        'spec.schedulerName': str('spec.schedulerName'),
        'spec.serviceAccountName': str('spec.serviceAccountName'),
        'spec.hostNetwork': boolString(get(o, 'spec.hostNetwork')),
        'status.phase': str('status.phase'),
        // Kubernetes exposes the first podIPs entry; podIP is the fallback for agents that set only it.
        'status.podIP': podIPs[0] ?? str('status.podIP'),
        'status.nominatedNodeName': str('status.nominatedNodeName'),
      });
      break;
    }
    case '/Node':
      fields['spec.unschedulable'] = boolString(get(o, 'spec.unschedulable'));
      break;
    case '/Namespace':
      fields['status.phase'] = str('status.phase');
      break;
    case '/Event':
      Object.assign(fields, {
        'involvedObject.kind': str('involvedObject.kind'),
        'involvedObject.namespace': str('involvedObject.namespace'),
        'involvedObject.name': str('involvedObject.name'),
        'involvedObject.uid': str('involvedObject.uid'),
        'involvedObject.apiVersion': str('involvedObject.apiVersion'),
        'involvedObject.resourceVersion': str('involvedObject.resourceVersion'),
        'involvedObject.fieldPath': str('involvedObject.fieldPath'),
        reason: str('reason'),
        reportingComponent: str('reportingComponent'),
        // Events written through events.k8s.io carry only the reporting controller; Kubernetes'
        // ToSelectableFields falls back to it so `source=` finds them too.
        source: str('source.component') === '' ? str('reportingComponent') : str('source.component'),
        type: str('type'),
      });
      break;
    case '/Secret':
      fields['type'] = str('type');
      break;
    case '/Service':
      fields['spec.clusterIP'] = str('spec.clusterIP');
      fields['spec.type'] = str('spec.type');
      break;
    case '/ReplicationController':
    case 'apps/ReplicaSet':
      fields['status.replicas'] = String(asNumber(get(o, 'status.replicas')) ?? 0);
      break;
    case 'batch/Job':
      fields['status.successful'] = String(asNumber(get(o, 'status.succeeded')) ?? 0);
      break;
    default:
      break;
  }
  return fields;
}

/**
 * Node selection rules, compiled once per pod: `spec.nodeSelector` and node affinity terms
 * (`matchExpressions` In/NotIn/Exists/DoesNotExist/Gt/Lt over labels, `matchFields` on
 * `metadata.name`), with k8s.io/component-helpers' semantics: terms are OR-ed, requirements inside a
 * term AND-ed, a term with no requirements matches nothing, and an invalid requirement makes its term
 * match nothing (the API server's validation keeps those out in practice).
 */
import type { NodeSelectorRequirementLike, NodeSelectorTermLike } from './types.js';

type Op = 'In' | 'NotIn' | 'Exists' | 'DoesNotExist' | 'Gt' | 'Lt';

interface Requirement {
  readonly key: string;
  readonly op: Op;
  readonly values: ReadonlySet<string>;
  /** The bound for Gt/Lt. */
  readonly bound: number;
}

/** One compiled term; `invalid` terms match nothing. */
export interface CompiledTerm {
  readonly labels: readonly Requirement[];
  readonly fields: readonly Requirement[];
  readonly invalid: boolean;
}

const ops: ReadonlySet<string> = new Set(['In', 'NotIn', 'Exists', 'DoesNotExist', 'Gt', 'Lt']);
const integer = /^-?[0-9]+$/;

function compileRequirement(r: NodeSelectorRequirementLike, field: boolean): Requirement | undefined {
  if (!ops.has(r.operator)) return undefined;
  const op = r.operator as Op;
  const values = r.values ?? [];
  if (field && (r.key !== 'metadata.name' || (op !== 'In' && op !== 'NotIn') || values.length !== 1)) {
    return undefined;
  }
  let bound = 0;
  if (op === 'Gt' || op === 'Lt') {
    const v = values[0];
    if (values.length !== 1 || v === undefined || !integer.test(v)) return undefined;
    bound = Number(v);
  }
  if ((op === 'In' || op === 'NotIn') && values.length === 0) return undefined;
  if ((op === 'Exists' || op === 'DoesNotExist') && values.length > 0) return undefined;
  return { key: r.key, op, values: new Set(values), bound };
}

/** Compiles one NodeSelectorTerm; never throws (invalid terms match nothing). */
export function compileTerm(term: NodeSelectorTermLike): CompiledTerm {
  const labels: Requirement[] = [];
  const fields: Requirement[] = [];
  let invalid = false;
  for (const r of term.matchExpressions ?? []) {
    const c = compileRequirement(r, false);
    if (c === undefined) invalid = true;
    else labels.push(c);
  }
  for (const r of term.matchFields ?? []) {
    const c = compileRequirement(r, true);
    if (c === undefined) invalid = true;
    else fields.push(c);
  }
  if (labels.length === 0 && fields.length === 0) invalid = true;
  return { labels, fields, invalid };
}

function requirementMatches(r: Requirement, value: string | undefined): boolean {
  switch (r.op) {
    case 'In':
      return value !== undefined && r.values.has(value);
    case 'NotIn':
      return value === undefined || !r.values.has(value);
    case 'Exists':
      return value !== undefined;
    case 'DoesNotExist':
      return value === undefined;
    case 'Gt':
    case 'Lt': {
      if (value === undefined || !integer.test(value)) return false;
      const n = Number(value);
      return r.op === 'Gt' ? n > r.bound : n < r.bound;
    }
  }
}

/** True when the node (name and labels) satisfies every requirement of the term. */
export function termMatches(
  term: CompiledTerm,
  nodeName: string,
  labels: Readonly<Record<string, string>>,
): boolean {
  if (term.invalid) return false;
  for (const r of term.labels) {
    if (!requirementMatches(r, Object.hasOwn(labels, r.key) ? labels[r.key] : undefined)) return false;
  }
  for (const r of term.fields) {
    if (!requirementMatches(r, nodeName)) return false;
  }
  return true;
}

/** True when any term matches (an empty list matches nothing). */
export function anyTermMatches(
  terms: readonly CompiledTerm[],
  nodeName: string,
  labels: Readonly<Record<string, string>>,
): boolean {
  for (const t of terms) if (termMatches(t, nodeName, labels)) return true;
  return false;
}

/**
 * The node names the terms can possibly match, when every term pins `metadata.name` with `In`
 * (how DaemonSet pods are targeted); `undefined` when some term could match any node.
 */
export function pinnedNodeNames(terms: readonly CompiledTerm[]): Set<string> | undefined {
  const names = new Set<string>();
  for (const t of terms) {
    if (t.invalid) continue;
    const pin = t.fields.find((f) => f.op === 'In');
    if (pin === undefined) return undefined;
    for (const v of pin.values) names.add(v);
  }
  return names;
}

/** `spec.nodeSelector`: every pair must be a label of the node. */
export function nodeSelectorMatches(
  selector: readonly (readonly [string, string])[],
  labels: Readonly<Record<string, string>>,
): boolean {
  for (const [k, v] of selector) {
    if (!Object.hasOwn(labels, k) || labels[k] !== v) return false;
  }
  return true;
}

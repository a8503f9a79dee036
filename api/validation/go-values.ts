/**
 * Go renderings of the structured values Kubernetes puts into field errors (`%#v` of a
 * LabelSelector, a label map, an IntOrString, a time), so that messages such as
 * `spec.selector: Invalid value: v1.LabelSelector{…}: field is immutable` read as they do against
 * a real API server.
 */

import type { GoSyntax } from '../status.js';
import { goQuote, goSyntax } from '../status.js';
import { asArray, asObject, asString } from './json-access.js';

function sortedEntries(o: Record<string, unknown>): [string, unknown][] {
  return Object.entries(o).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}

function stringMapText(v: unknown): string {
  const o = asObject(v);
  if (o === undefined) return 'map[string]string(nil)';
  return `map[string]string{${sortedEntries(o)
    .map(([k, x]) => `${goQuote(k)}:${goQuote(asString(x))}`)
    .join(', ')}}`;
}

/** `map[string]string{"a":"b"}`, or `map[string]string(nil)` when absent. */
export function goStringMap(v: unknown): GoSyntax {
  return goSyntax(stringMapText(v));
}

function stringSliceText(v: unknown): string {
  if (!Array.isArray(v)) return '[]string(nil)';
  return `[]string{${(v as unknown[]).map((x) => goQuote(asString(x))).join(', ')}}`;
}

/** `v1.LabelSelector{MatchLabels:map[string]string{…}, MatchExpressions:[]v1.LabelSelectorRequirement(nil)}`. */
export function goLabelSelector(v: unknown): GoSyntax {
  const o = asObject(v);
  if (o === undefined) return goSyntax('(*v1.LabelSelector)(nil)');
  const exprs = o['matchExpressions'];
  const exprText = Array.isArray(exprs)
    ? `[]v1.LabelSelectorRequirement{${(exprs as unknown[])
        .map((e) => {
          const r = asObject(e) ?? {};
          return `v1.LabelSelectorRequirement{Key:${goQuote(asString(r['key']))}, Operator:${goQuote(asString(r['operator']))}, Values:${stringSliceText(r['values'])}}`;
        })
        .join(', ')}}`
    : '[]v1.LabelSelectorRequirement(nil)';
  return goSyntax(
    `v1.LabelSelector{MatchLabels:${stringMapText(o['matchLabels'])}, MatchExpressions:${exprText}}`,
  );
}

/** An IntOrString prints through its String(): `25%` or `1`, unquoted. */
export function goIntOrString(v: unknown): GoSyntax {
  if (typeof v === 'number' || typeof v === 'string') return goSyntax(String(v));
  return goSyntax('0');
}

/** metav1.Time's String(): `2024-05-01 10:00:00 +0000 UTC`; the zero time when absent or unparsable. */
export function goTime(v: unknown): GoSyntax {
  const ms = typeof v === 'string' ? Date.parse(v) : NaN;
  if (Number.isNaN(ms)) return goSyntax('0001-01-01 00:00:00 +0000 UTC');
  const iso = new Date(ms).toISOString(); // 2024-05-01T10:00:00.000Z
  const frac = iso.slice(20, 23).replace(/0+$/, '');
  return goSyntax(`${iso.slice(0, 10)} ${iso.slice(11, 19)}${frac === '' ? '' : `.${frac}`} +0000 UTC`);
}

/** A value whose Go form is a large struct: shown as compact JSON rather than Go syntax. */
export function goJson(v: unknown): GoSyntax {
  return goSyntax(v === undefined ? 'null' : JSON.stringify(v));
}

/** `[]string{"a", "b"}`. */
export function goStringSlice(v: unknown): GoSyntax {
  return goSyntax(stringSliceText(asArray(v).length === 0 && !Array.isArray(v) ? undefined : v));
}

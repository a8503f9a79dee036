/**
 * Label and selector strings as Kubernetes prints them (`labels.FormatLabels`,
 * `metav1.LabelSelectorAsSelector(...).String()`, `metav1.FormatLabelSelector`): requirements sorted
 * by key, set values sorted, `key in (a,b)`, `!key`.
 */

import { arr, at, rec, str, stringMap } from './json.js';

/** `a=1,b=2` sorted by key, or `<none>` for no labels. */
export function formatLabels(labels: unknown): string {
  const entries = Object.entries(stringMap(labels)).sort(([a], [b]) => compare(a, b));
  return entries.length === 0 ? '<none>' : entries.map(([k, v]) => `${k}=${v}`).join(',');
}

/**
 * A LabelSelector as its selector string (`app=web,tier in (a,b)`); `''` for an empty or absent
 * selector, `<error>` for an invalid one.
 */
export function selectorString(selector: unknown): string {
  const sel = rec(selector);
  if (sel === undefined) return '';
  const reqs: { key: string; text: string }[] = [];
  for (const [k, v] of Object.entries(stringMap(sel['matchLabels'])))
    reqs.push({ key: k, text: `${k}=${v}` });
  for (const e of arr(sel['matchExpressions'])) {
    const key = str(at(e, 'key'));
    const op = str(at(e, 'operator'));
    const values = arr(at(e, 'values'))
      .filter((x): x is string => typeof x === 'string')
      .sort(compare);
    if (key === undefined) return '<error>';
    switch (op) {
      case 'In':
        reqs.push({ key, text: `${key} in (${values.join(',')})` });
        break;
      case 'NotIn':
        reqs.push({ key, text: `${key} notin (${values.join(',')})` });
        break;
      case 'Exists':
        reqs.push({ key, text: key });
        break;
      case 'DoesNotExist':
        reqs.push({ key, text: `!${key}` });
        break;
      default:
        return '<error>';
    }
  }
  // Stable sort by key only, as labels.ByKey does.
  return reqs
    .sort((a, b) => compare(a.key, b.key))
    .map((r) => r.text)
    .join(',');
}

/** {@link selectorString}, with `<none>` for an empty selector (`metav1.FormatLabelSelector`). */
export function formatLabelSelector(selector: unknown): string {
  const s = selectorString(selector);
  return s === '' ? '<none>' : s;
}

/** Byte-wise string order, as Go's sort.Strings. */
export function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

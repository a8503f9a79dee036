/**
 * Whether a request asked for a `meta.k8s.io` Table. kubectl's `get` sends
 * `application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json`;
 * `-o json|yaml|name` and client libraries send plain `application/json`.
 */

import { parseAccept } from '../discovery/media-type.js';

/** The Table version to answer with: the first acceptable entry decides, as Kubernetes negotiates. */
export function negotiateTable(accept: string | undefined): 'v1' | 'v1beta1' | undefined {
  for (const range of parseAccept(accept)) {
    if (range.type !== 'application' || range.subtype !== 'json') continue;
    const as = range.params['as'];
    if (as === undefined) return undefined;
    if (as !== 'Table' || range.params['g'] !== 'meta.k8s.io') continue;
    const v = range.params['v'];
    if (v === 'v1' || v === 'v1beta1') return v;
  }
  return undefined;
}

/** True when the response should be a Table rather than the object or list itself. */
export function wantsTable(accept: string | undefined): boolean {
  return negotiateTable(accept) !== undefined;
}

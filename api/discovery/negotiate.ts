/**
 * Chooses between aggregated and legacy discovery from a request's `Accept` header. kubectl 1.32
 * sends `…;v=v2;as=APIGroupDiscoveryList, …;v=v2beta1;as=APIGroupDiscoveryList, application/json`
 * and client-node sends `application/json` or `*\/*`; the first acceptable entry wins.
 */

import type { AggregatedDiscoveryList, AggregatedVersion } from './aggregated.js';
import { aggregatedContentType, aggregatedDiscovery } from './aggregated.js';
import type { ApiGroupList, ApiVersions } from './legacy.js';
import { apiGroupList, legacyApiVersions } from './legacy.js';
import { parseAccept, rangeMatches } from './media-type.js';

/** The discovery form to answer with, and the Content-Type to send it under. */
export type DiscoveryFormat =
  | { readonly form: 'aggregated'; readonly version: AggregatedVersion; readonly contentType: string }
  | { readonly form: 'legacy'; readonly contentType: 'application/json' };

/**
 * The best discovery form `accept` allows, or `undefined` when it allows none (answer 406
 * NotAcceptable). A missing header means legacy JSON.
 */
export function negotiateDiscovery(accept: string | undefined): DiscoveryFormat | undefined {
  for (const range of parseAccept(accept)) {
    if (!rangeMatches(range, 'application', 'json')) continue;
    const as = range.params['as'];
    if (as === undefined) return { form: 'legacy', contentType: 'application/json' };
    if (as !== 'APIGroupDiscoveryList' || range.params['g'] !== 'apidiscovery.k8s.io') continue;
    const v = range.params['v'];
    if (v === 'v2' || v === 'v2beta1')
      return { form: 'aggregated', version: v, contentType: aggregatedContentType(v) };
  }
  return undefined;
}

/**
 * The whole answer to `GET /api` (`root: 'legacy'`) or `GET /apis` (`root: 'apis'`) for a request
 * with this `Accept` header, or `undefined` for 406. `serverAddress` is used by the legacy `/api` body.
 */
export function discoveryResponse(
  root: 'legacy' | 'apis',
  accept: string | undefined,
  serverAddress: string,
):
  | { readonly contentType: string; readonly body: AggregatedDiscoveryList | ApiVersions | ApiGroupList }
  | undefined {
  const format = negotiateDiscovery(accept);
  if (format === undefined) return undefined;
  if (format.form === 'aggregated') {
    return { contentType: format.contentType, body: aggregatedDiscovery(root, format.version) };
  }
  return {
    contentType: format.contentType,
    body: root === 'legacy' ? legacyApiVersions(serverAddress) : apiGroupList(),
  };
}

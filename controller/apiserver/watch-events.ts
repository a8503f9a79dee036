/**
 * Kubernetes list/watch request semantics, and the watch path that reads the store directly (used when
 * the watch cache cannot serve a request: it is disabled, not ready, or the resourceVersion is older
 * than its in-memory history).
 *
 * - `parseListOptions` reads and validates `resourceVersion`, `resourceVersionMatch`,
 *   `sendInitialEvents`, `allowWatchBookmarks`, `timeoutSeconds`, `limit` and `continue` with
 *   kube-apiserver's rules and messages (422 Invalid `ListOptions.meta.k8s.io`).
 * - `watchResource` turns revisioned PUT/DELETE store events into ADDED / MODIFIED / DELETED events for
 *   one resource (optionally one namespace), applies the request's selectors with Kubernetes'
 *   transitions (an object that stops matching is DELETED for this watcher — carrying its previous
 *   content at the event's revision — and one that starts matching is ADDED), and implements
 *   `resourceVersion`: unset or "0" → synthetic ADDED for the current state, then changes; "N" →
 *   every change after N, or a 410 `Expired` ERROR event when N has been compacted. With
 *   `sendInitialEvents=true` (watch-list) the initial ADDED events are followed by a BOOKMARK
 *   annotated `k8s.io/initial-events-end` when bookmarks are allowed. This path sends no periodic
 *   bookmarks (they are optional hints); the watch cache does.
 */
import type { StoredObject } from '../../api/object.js';
import { apiVersionOf, type ResourceInfo } from '../../api/resources.js';
import {
  badRequest,
  ApiError,
  forbiddenField,
  invalid,
  notSupported,
  tooOldResourceVersion,
  type Status,
  type StatusCause,
} from '../../api/status.js';
import { CompactedError, WatcherDroppedError } from '../../lib/errors.js';
import type { Store } from '../store/store.js';
import { decodeObject, resourcePrefix } from './object-codec.js';
import { initialEventsEndAnnotation } from './watch-cache-event.js';

/** The object of a BOOKMARK event: the resource's kind with only a resourceVersion (and annotations). */
export interface BookmarkObject {
  readonly kind: string;
  readonly apiVersion: string;
  readonly metadata: { readonly resourceVersion: string; readonly annotations?: Record<string, string> };
}

export type ApiWatchEvent =
  | { readonly type: 'ADDED' | 'MODIFIED' | 'DELETED'; readonly object: StoredObject }
  | { readonly type: 'BOOKMARK'; readonly object: BookmarkObject }
  | { readonly type: 'ERROR'; readonly object: Status };

export interface WatchRequest {
  readonly resourceVersion?: string;
  /** See {@link ListOptions.sendInitialEvents}. */
  readonly sendInitialEvents?: boolean;
  readonly allowBookmarks?: boolean;
  readonly filter?: (obj: StoredObject) => boolean;
  readonly signal?: AbortSignal;
}

/** The list/watch query parameters of a request, validated. */
export interface ListOptions {
  /** As sent: unset, "0" or a decimal revision. */
  readonly resourceVersion?: string;
  readonly resourceVersionMatch?: 'NotOlderThan' | 'Exact';
  /**
   * Watch only. true: initial ADDED events for the current state, then (with bookmarks allowed) a
   * BOOKMARK annotated `k8s.io/initial-events-end`, then changes. false: no initial events. Unset: the
   * legacy rule — initial events only when resourceVersion is unset or "0".
   */
  readonly sendInitialEvents?: boolean;
  readonly allowWatchBookmarks: boolean;
  /** Watch only: close the stream after this many seconds. */
  readonly timeoutSeconds?: number;
  readonly limit?: number;
  readonly continue?: string;
}

/** Parses a client's resourceVersion; undefined means "from now, with the current state first". */
export function parseResourceVersion(rv: string | undefined): number | undefined {
  if (rv === undefined || rv === '' || rv === '0') return undefined;
  if (!/^\d+$/.test(rv)) throw new ApiError(badRequest(`invalid resource version "${rv}"`));
  return Number(rv);
}

/** Go's strconv.ParseBool, which kube-apiserver uses for boolean query parameters. */
function parseBool(name: string, value: string): boolean {
  if (['1', 't', 'T', 'TRUE', 'true', 'True'].includes(value)) return true;
  if (['0', 'f', 'F', 'FALSE', 'false', 'False'].includes(value)) return false;
  throw new ApiError(
    badRequest(`invalid value for ${name}: ${JSON.stringify(value)}: must be true or false`),
  );
}

/**
 * Reads the list/watch parameters of `query` and validates them as kube-apiserver's
 * `ValidateListOptions` does. Throws ApiError: 400 for a malformed value, 422 Invalid for a forbidden
 * combination (e.g. `sendInitialEvents` without `resourceVersionMatch=NotOlderThan`).
 */
export function parseListOptions(query: URLSearchParams, watch: boolean): ListOptions {
  const rv = query.get('resourceVersion') ?? undefined;
  parseResourceVersion(rv);
  const match = query.get('resourceVersionMatch') ?? '';
  const sieRaw = query.get('sendInitialEvents');
  const sendInitialEvents = sieRaw === null ? undefined : parseBool('sendInitialEvents', sieRaw);
  const bookmarksRaw = query.get('allowWatchBookmarks');
  const allowWatchBookmarks =
    bookmarksRaw === null || bookmarksRaw === '' ? false : parseBool('allowWatchBookmarks', bookmarksRaw);
  const cont = query.get('continue') ?? '';
  const limit = Number(query.get('limit') ?? '0');
  const timeout = Number(query.get('timeoutSeconds') ?? '0');

  const causes: StatusCause[] = [];
  const matchPath = 'resourceVersionMatch';
  if (watch) {
    if (sendInitialEvents !== undefined && match !== 'NotOlderThan') {
      causes.push(
        forbiddenField(matchPath, 'sendInitialEvents requires setting resourceVersionMatch to NotOlderThan'),
      );
    }
    if (match !== '') {
      if (sendInitialEvents === undefined) {
        causes.push(
          forbiddenField(
            matchPath,
            'resourceVersionMatch is forbidden for watch unless sendInitialEvents is provided',
          ),
        );
      }
      if (match !== 'NotOlderThan') causes.push(notSupported(matchPath, match, ['NotOlderThan']));
      if (cont !== '') {
        causes.push(forbiddenField(matchPath, 'resourceVersionMatch is forbidden when continue is provided'));
      }
    }
  } else {
    if (match !== '') {
      if (rv === undefined || rv === '') {
        causes.push(
          forbiddenField(matchPath, 'resourceVersionMatch is forbidden unless resourceVersion is provided'),
        );
      }
      if (cont !== '') {
        causes.push(forbiddenField(matchPath, 'resourceVersionMatch is forbidden when continue is provided'));
      }
      if (match !== 'Exact' && match !== 'NotOlderThan') {
        causes.push(notSupported(matchPath, match, ['Exact', 'NotOlderThan', '']));
      }
      if (match === 'Exact' && rv === '0') {
        causes.push(
          forbiddenField(matchPath, 'resourceVersionMatch "exact" is forbidden for resourceVersion "0"'),
        );
      }
    }
    if (sendInitialEvents !== undefined) {
      causes.push(forbiddenField('sendInitialEvents', 'sendInitialEvents is forbidden for list'));
    }
  }
  if (causes.length > 0) {
    throw new ApiError(invalid({ group: 'meta.k8s.io', kind: 'ListOptions' }, '', causes));
  }
  return {
    ...(rv === undefined ? {} : { resourceVersion: rv }),
    ...(match === 'NotOlderThan' || match === 'Exact' ? { resourceVersionMatch: match } : {}),
    ...(sendInitialEvents === undefined ? {} : { sendInitialEvents }),
    allowWatchBookmarks,
    ...(Number.isFinite(timeout) && timeout > 0 ? { timeoutSeconds: timeout } : {}),
    ...(Number.isInteger(limit) && limit > 0 ? { limit } : {}),
    ...(cont === '' ? {} : { continue: cont }),
  };
}

/** A BOOKMARK event for resource `r` at `revision`. */
export function bookmarkEvent(r: ResourceInfo, revision: number, initialEventsEnd = false): ApiWatchEvent {
  return {
    type: 'BOOKMARK',
    object: {
      kind: r.kind,
      apiVersion: apiVersionOf(r),
      metadata: {
        resourceVersion: String(revision),
        ...(initialEventsEnd ? { annotations: { [initialEventsEndAnnotation]: 'true' } } : {}),
      },
    },
  };
}

/** A watch read straight from the store: one store watch per call (see the module comment). */
export async function* watchResource(
  store: Store,
  r: ResourceInfo,
  namespace: string | undefined,
  req: WatchRequest,
): AsyncGenerator<ApiWatchEvent> {
  // The namespace is in the key prefix; only the selectors need checking.
  const prefix = resourcePrefix(r, namespace);
  const selected = req.filter ?? ((): boolean => true);
  let from = parseResourceVersion(req.resourceVersion);
  const sendInitial = req.sendInitialEvents ?? from === undefined;
  if (sendInitial) {
    const current = await store.list(prefix);
    for (const kv of current.items) {
      const obj = decodeObject(kv);
      if (selected(obj)) yield { type: 'ADDED', object: obj };
    }
    from = current.revision;
    if (req.sendInitialEvents === true && req.allowBookmarks === true) {
      yield bookmarkEvent(r, current.revision, true);
    }
  } else {
    from ??= await store.currentRevision();
  }
  const watch = store.watch(prefix, from + 1, req.signal === undefined ? {} : { signal: req.signal });
  try {
    for await (const batch of watch) {
      for (const e of batch) {
        if (e.type === 'DELETE') {
          const last = decodeObject(e.prevKv, e.revision);
          if (selected(last)) yield { type: 'DELETED', object: last };
          continue;
        }
        const obj = decodeObject(e.kv);
        const now = selected(obj);
        const prev = e.prevKv;
        const before = prev !== undefined && selected(decodeObject(prev));
        if (now && before) yield { type: 'MODIFIED', object: obj };
        else if (now) yield { type: 'ADDED', object: obj };
        else if (before) yield { type: 'DELETED', object: decodeObject(prev, e.revision) };
      }
    }
  } catch (err) {
    if (err instanceof CompactedError) {
      yield { type: 'ERROR', object: tooOldResourceVersion(from, err.compactedRevision + 1) };
      return;
    }
    // A dropped (too slow) watcher just ends its stream; the client re-watches from its last revision.
    if (err instanceof WatcherDroppedError) return;
    throw err;
  } finally {
    watch.close();
  }
}

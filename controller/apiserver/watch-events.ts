/**
 * Kubernetes watch semantics over the store's watch: turns revisioned PUT/DELETE events into
 * ADDED / MODIFIED / DELETED events for one resource (optionally one namespace), applies the
 * request's selectors with Kubernetes' transitions (an object that stops matching is DELETED for
 * this watcher, one that starts matching is ADDED), and implements `resourceVersion`:
 * unset or "0" → synthetic ADDED for the current state, then changes; "N" → every change after N,
 * or a 410 `Expired` ERROR event when N has been compacted.
 */
import type { StoredObject } from '../../api/object.js';
import type { ResourceInfo } from '../../api/resources.js';
import { badRequest, ApiError, tooOldResourceVersion, type Status } from '../../api/status.js';
import { CompactedError, WatcherDroppedError } from '../../lib/errors.js';
import type { Store } from '../store/store.js';
import { decodeObject, resourcePrefix } from './object-codec.js';

export type ApiWatchEvent =
  | { readonly type: 'ADDED' | 'MODIFIED' | 'DELETED'; readonly object: StoredObject }
  | { readonly type: 'ERROR'; readonly object: Status };

export interface WatchRequest {
  readonly resourceVersion?: string;
  readonly filter?: (obj: StoredObject) => boolean;
  readonly signal?: AbortSignal;
}

/** Parses a client's resourceVersion; undefined means "from now, with the current state first". */
export function parseResourceVersion(rv: string | undefined): number | undefined {
  if (rv === undefined || rv === '' || rv === '0') return undefined;
  if (!/^\d+$/.test(rv)) throw new ApiError(badRequest(`invalid resource version "${rv}"`));
  return Number(rv);
}

export async function* watchResource(
  store: Store,
  r: ResourceInfo,
  namespace: string | undefined,
  req: WatchRequest,
): AsyncGenerator<ApiWatchEvent> {
  const prefix = resourcePrefix(r, namespace);
  const matches = req.filter ?? ((): boolean => true);
  let from = parseResourceVersion(req.resourceVersion);
  if (from === undefined) {
    const current = await store.list(prefix);
    for (const kv of current.items) {
      const obj = decodeObject(kv);
      if (matches(obj)) yield { type: 'ADDED', object: obj };
    }
    from = current.revision;
  }
  const watch = store.watch(prefix, from + 1, req.signal === undefined ? {} : { signal: req.signal });
  try {
    for await (const batch of watch) {
      for (const e of batch) {
        if (e.type === 'DELETE') {
          const last = decodeObject(e.prevKv, e.revision);
          if (matches(last)) yield { type: 'DELETED', object: last };
          continue;
        }
        const obj = decodeObject(e.kv);
        const now = matches(obj);
        const before = e.prevKv !== undefined && matches(decodeObject(e.prevKv));
        if (now && before) yield { type: 'MODIFIED', object: obj };
        else if (now) yield { type: 'ADDED', object: obj };
        else if (before) yield { type: 'DELETED', object: obj };
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

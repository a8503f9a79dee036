/**
 * LIST and WATCH over HTTP: reads the request's list options and selectors, asks the watch cache
 * first, and falls back to the store when the cache cannot answer (watch-cache.ts says when).
 *
 * - LIST from the cache is a concatenation of the objects' cached JSON (nothing re-serialised), or a
 *   Table built from the cached objects; from the store it is decoded, filtered and serialised per
 *   request, with `limit`/`continue` paging at one revision.
 * - WATCH streams one JSON event per line, headers flushed at once (client-node waits for them). From
 *   the cache, the response is handed to a `CacheWatcher`; from the store, events are pulled from
 *   `watchResource` and written with back-pressure. `timeoutSeconds` ends either (the cache also sends
 *   a last BOOKMARK first when bookmarks are allowed).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { StoredObject } from '../../api/object.js';
import { apiVersionOf, type ResourceInfo } from '../../api/resources.js';
import type { Clock } from '../../lib/clock.js';
import { sendJson } from './http-io.js';
import type { ResourceStorage } from './resource-storage.js';
import type { SelectorFactory, TableConverter, TableOptions } from './seams.js';
import type { WatchCache } from './watch-cache.js';
import { bookmarkLine, listBody, type ObjectEventType } from './watch-cache-event.js';
import type { CacheWatcher, WatchEncoder } from './watch-cache-watcher.js';
import { parseListOptions, watchResource, type ListOptions } from './watch-events.js';

/** What LIST and WATCH need from the resource handler's dependencies. */
export interface ListWatchDeps {
  readonly storage: ResourceStorage;
  readonly clock: Clock;
  readonly selectors: SelectorFactory;
  readonly tables: TableConverter;
  /** Absent: every LIST and WATCH reads the store. */
  readonly watchCache?: WatchCache;
}

interface Selection {
  readonly filter: ((obj: StoredObject) => boolean) | undefined;
  readonly fieldSelector: string | undefined;
}

function selection(d: ListWatchDeps, r: ResourceInfo, query: URLSearchParams): Selection {
  const fieldSelector = query.get('fieldSelector') ?? undefined;
  const filter = d.selectors.filter(r, query.get('labelSelector') ?? undefined, fieldSelector);
  return { filter, fieldSelector };
}

/** Serves a LIST; resolves to the HTTP status sent. Throws ApiError for bad parameters. */
export async function serveList(
  d: ListWatchDeps,
  req: IncomingMessage,
  res: ServerResponse,
  r: ResourceInfo,
  ns: string | undefined,
  query: URLSearchParams,
): Promise<number> {
  const { filter, fieldSelector } = selection(d, r, query);
  const opts = parseListOptions(query, false);
  const asTable = d.tables.wants(req.headers.accept);
  const cached = await d.watchCache?.list(r, ns, {
    ...cacheReadOptions(opts),
    ...(opts.limit === undefined ? {} : { limit: opts.limit }),
    ...(opts.continue === undefined ? {} : { continue: opts.continue }),
    ...(filter === undefined ? {} : { filter }),
    ...(fieldSelector === undefined ? {} : { fieldSelector }),
  });
  if (cached !== undefined) {
    const listMeta = { resourceVersion: String(cached.revision) };
    if (asTable) {
      const objects = cached.items.map((o) => o.object);
      sendJson(res, 200, d.tables.convert(r, objects, { ...tableOptions(query, d.clock.now()), listMeta }));
      return 200;
    }
    const body = listBody(r, listMeta, cached.items);
    res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': body.length });
    res.end(body);
    return 200;
  }
  const list = await d.storage.list(r, ns, {
    ...(opts.limit === undefined ? {} : { limit: opts.limit }),
    ...(opts.continue === undefined ? {} : { continue: opts.continue }),
    ...(filter === undefined ? {} : { filter }),
  });
  const listMeta = {
    resourceVersion: list.resourceVersion,
    ...(list.continue === undefined ? {} : { continue: list.continue }),
    ...(list.remainingItemCount === undefined ? {} : { remainingItemCount: list.remainingItemCount }),
  };
  if (asTable) {
    sendJson(res, 200, d.tables.convert(r, list.items, { ...tableOptions(query, d.clock.now()), listMeta }));
    return 200;
  }
  sendJson(res, 200, {
    apiVersion: apiVersionOf(r),
    kind: r.listKind,
    metadata: listMeta,
    items: list.items,
  });
  return 200;
}

/** Serves a WATCH until it ends; resolves to the HTTP status sent. Throws ApiError for bad parameters. */
export async function serveWatch(
  d: ListWatchDeps,
  req: IncomingMessage,
  res: ServerResponse,
  r: ResourceInfo,
  ns: string | undefined,
  query: URLSearchParams,
): Promise<number> {
  const sel = selection(d, r, query);
  // Parameters are checked (a bad one is a 400/422 Status) before committing to a 200.
  const opts = parseListOptions(query, true);
  const asTable = d.tables.wants(req.headers.accept);
  const abort = new AbortController();
  const onClose = (): void => {
    abort.abort();
  };
  res.on('close', onClose);
  try {
    res.writeHead(200, {
      'Content-Type': 'application/json',
      'Cache-Control': 'no-cache, private',
      'Transfer-Encoding': 'chunked',
    });
    // Flush at once: clients (client-node's informer) wait for the headers before the watch counts as up.
    res.flushHeaders();
    const cache = d.watchCache;
    if (cache !== undefined) {
      const watcher = await cache.watch(r, ns, {
        ...cacheReadOptions(opts),
        ...(opts.sendInitialEvents === undefined ? {} : { sendInitialEvents: opts.sendInitialEvents }),
        allowBookmarks: opts.allowWatchBookmarks,
        ...(sel.filter === undefined ? {} : { filter: sel.filter }),
        ...(sel.fieldSelector === undefined ? {} : { fieldSelector: sel.fieldSelector }),
        output: res,
        ...(asTable ? { encoder: tableEncoder(d, r, query) } : {}),
      });
      if (watcher !== undefined) {
        await followCacheWatcher(d.clock, cache, watcher, res, abort.signal, opts.timeoutSeconds);
        return 200;
      }
    }
    if (!abort.signal.aborted) await streamFromStore(d, res, r, ns, sel, opts, asTable, query, abort);
    return 200;
  } finally {
    res.off('close', onClose);
  }
}

/** The resourceVersion options both cache reads take. */
function cacheReadOptions(opts: ListOptions): { resourceVersion?: string; resourceVersionMatch?: string } {
  return {
    ...(opts.resourceVersion === undefined ? {} : { resourceVersion: opts.resourceVersion }),
    ...(opts.resourceVersionMatch === undefined ? {} : { resourceVersionMatch: opts.resourceVersionMatch }),
  };
}

async function followCacheWatcher(
  clock: Clock,
  cache: WatchCache,
  watcher: CacheWatcher,
  res: ServerResponse,
  signal: AbortSignal,
  timeoutSeconds: number | undefined,
): Promise<void> {
  // The connection may go away after the watcher ended (a terminated one waits for its client to read
  // the end): then the grace timer that would cut it is no longer needed.
  res.once('close', () => {
    watcher.dispose();
  });
  const close = (): void => {
    watcher.close();
  };
  if (signal.aborted) close();
  else signal.addEventListener('abort', close, { once: true });
  const timer =
    timeoutSeconds === undefined
      ? undefined
      : clock.setTimer(timeoutSeconds * 1000, () => {
          watcher.close({ finalBookmark: cache.revision });
        });
  try {
    await watcher.done;
  } finally {
    timer?.cancel();
    signal.removeEventListener('abort', close);
  }
}

async function streamFromStore(
  d: ListWatchDeps,
  res: ServerResponse,
  r: ResourceInfo,
  ns: string | undefined,
  sel: Selection,
  opts: ListOptions,
  asTable: boolean,
  query: URLSearchParams,
  abort: AbortController,
): Promise<void> {
  const timer =
    opts.timeoutSeconds === undefined
      ? undefined
      : d.clock.setTimer(opts.timeoutSeconds * 1000, () => {
          abort.abort();
        });
  const events = watchResource(d.storage.store, r, ns, {
    ...(opts.resourceVersion === undefined ? {} : { resourceVersion: opts.resourceVersion }),
    ...(opts.sendInitialEvents === undefined ? {} : { sendInitialEvents: opts.sendInitialEvents }),
    allowBookmarks: opts.allowWatchBookmarks,
    ...(sel.filter === undefined ? {} : { filter: sel.filter }),
    signal: abort.signal,
  });
  let headersSent = false;
  try {
    let step = await events.next();
    while (step.done !== true && !abort.signal.aborted) {
      const ev = step.value;
      let object: object = ev.object;
      if (asTable && ev.type !== 'ERROR' && ev.type !== 'BOOKMARK') {
        object = d.tables.convert(r, [ev.object], {
          ...tableOptions(query, d.clock.now()),
          omitHeaders: headersSent,
        });
        headersSent = true;
      }
      if (!res.write(`${JSON.stringify({ type: ev.type, object })}\n`)) {
        await new Promise<void>((resolve) => {
          const done = (): void => {
            res.off('drain', done);
            abort.signal.removeEventListener('abort', done);
            resolve();
          };
          res.once('drain', done);
          abort.signal.addEventListener('abort', done, { once: true });
        });
      }
      step = await events.next();
    }
  } finally {
    timer?.cancel();
    await events.return(undefined);
    res.end();
  }
}

/** Watch events as one-row Tables (kubectl `get -w`): converted per watcher, headers in the first only. */
function tableEncoder(d: ListWatchDeps, r: ResourceInfo, query: URLSearchParams): WatchEncoder {
  let headersSent = false;
  const encode = (type: ObjectEventType, obj: StoredObject): Buffer => {
    const table = d.tables.convert(r, [obj], {
      ...tableOptions(query, d.clock.now()),
      omitHeaders: headersSent,
    });
    headersSent = true;
    return Buffer.from(`${JSON.stringify({ type, object: table })}\n`);
  };
  return {
    event: (e, type) => encode(type, e.objectFor(type).object),
    added: (o) => encode('ADDED', o.object),
    bookmark: (revision, initialEventsEnd) => bookmarkLine(r, revision, initialEventsEnd),
  };
}

function tableOptions(query: URLSearchParams, now: number): TableOptions {
  const include = query.get('includeObject');
  return {
    includeObject: include === 'None' || include === 'Object' ? include : 'Metadata',
    wide: false,
    now,
  };
}

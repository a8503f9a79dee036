import { afterEach, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { StoredObject } from '../../api/object.js';
import { findResource, type ResourceInfo } from '../../api/resources.js';
import { parseLabelSelector } from '../../api/selectors/label-selector.js';
import { FakeClock } from '../../lib/clock.js';
import { CompactedError, WatcherDroppedError } from '../../lib/errors.js';
import { SqliteStore } from '../store/sqlite-store.js';
import type {
  KeyValue,
  ListOptions,
  ListResult,
  Store,
  Watch,
  WatchEvent,
  WatchOptions,
} from '../store/store.js';
import { encodeObject, objectKey } from './object-codec.js';
import { WatchCache, type CacheWatchRequest } from './watch-cache.js';
import { listBody } from './watch-cache-event.js';
import type { CacheWatcher, WatchOutput } from './watch-cache-watcher.js';

const pods = findResource('', 'v1', 'pods') as ResourceInfo;
const configmaps = findResource('', 'v1', 'configmaps') as ResourceInfo;

/** Lets the SQLite store commit (setImmediate) and the cache apply what it published. */
async function settle(): Promise<void> {
  for (let i = 0; i < 3; i++) await new Promise<void>((resolve) => setImmediate(resolve));
}

interface Line {
  type: string;
  object: {
    kind?: string;
    metadata: {
      name?: string;
      resourceVersion?: string;
      labels?: Record<string, string>;
      annotations?: Record<string, string>;
    };
    data?: Record<string, string>;
  };
}

/** A response stand-in whose back-pressure the test controls. */
class FakeOutput implements WatchOutput {
  readonly chunks: Buffer[] = [];
  ended = false;
  destroyed = false;
  writableFinished = false;
  /** While true, write() reports a full buffer (the data is still accepted, as in node). */
  full = false;
  #drain: (() => void)[] = [];

  write(chunk: Uint8Array): boolean {
    this.chunks.push(Buffer.from(chunk));
    return !this.full;
  }
  once(_event: 'drain', listener: () => void): this {
    this.#drain.push(listener);
    return this;
  }
  end(): void {
    this.ended = true;
  }
  destroy(): void {
    this.destroyed = true;
  }
  drain(): void {
    this.full = false;
    const listeners = this.#drain;
    this.#drain = [];
    for (const l of listeners) l();
  }
  lines(): Line[] {
    return Buffer.concat(this.chunks)
      .toString('utf8')
      .split('\n')
      .filter((l) => l !== '')
      .map((l) => JSON.parse(l) as Line);
  }
  summary(): string[] {
    return this.lines().map(
      (l) =>
        `${l.type} ${l.object.metadata.name ?? ''}@${l.object.metadata.resourceVersion ?? ''}${
          l.object.metadata.annotations?.['k8s.io/initial-events-end'] === 'true' ? ' end' : ''
        }`,
    );
  }
}

/** A Store that delegates to SQLite but lets a test fail the cache's watch and skew the current revision. */
class ControlledStore implements Store {
  readonly backend = 'controlled';
  readonly inner: SqliteStore;
  revisionSkew = 0;
  #watches = new Set<{ fail(err: unknown): void }>();

  constructor(inner: SqliteStore) {
    this.inner = inner;
  }
  create(key: string, value: Uint8Array): ReturnType<Store['create']> {
    return this.inner.create(key, value);
  }
  update(key: string, value: Uint8Array, rev: number): ReturnType<Store['update']> {
    return this.inner.update(key, value, rev);
  }
  delete(key: string, rev?: number): ReturnType<Store['delete']> {
    return this.inner.delete(key, rev);
  }
  get(key: string): Promise<KeyValue | undefined> {
    return this.inner.get(key);
  }
  list(prefix: string, opts?: ListOptions): Promise<ListResult> {
    return this.inner.list(prefix, opts);
  }
  count(prefix: string): Promise<number> {
    return this.inner.count(prefix);
  }
  compact(revision: number): Promise<void> {
    return this.inner.compact(revision);
  }
  async currentRevision(): Promise<number> {
    return (await this.inner.currentRevision()) + this.revisionSkew;
  }
  compactedRevision(): Promise<number> {
    return this.inner.compactedRevision();
  }
  close(): Promise<void> {
    return this.inner.close();
  }
  watch(prefix: string, from: number, opts?: WatchOptions): Watch {
    const inner = this.inner.watch(prefix, from, opts);
    let failure: unknown;
    const handle = {
      fail: (err: unknown): void => {
        failure = err;
        inner.close();
      },
    };
    this.#watches.add(handle);
    const watches = this.#watches;
    return {
      close: () => {
        watches.delete(handle);
        inner.close();
      },
      async *[Symbol.asyncIterator](): AsyncIterator<readonly WatchEvent[]> {
        try {
          for await (const batch of inner) yield batch;
          if (failure !== undefined) throw failure as Error;
        } finally {
          watches.delete(handle);
        }
      },
    };
  }
  /** Ends every open watch with `err`, as a dropped or compacted store watch would. */
  failWatches(err: unknown): void {
    for (const w of [...this.#watches]) w.fail(err);
  }
}

function pod(
  name: string,
  opts: { ns?: string; node?: string; labels?: Record<string, string> } = {},
): StoredObject {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: opts.ns ?? 'default', ...(opts.labels ? { labels: opts.labels } : {}) },
    spec: { containers: [{ name: 'c', image: 'busybox' }], ...(opts.node ? { nodeName: opts.node } : {}) },
  };
}

describe('WatchCache', () => {
  let clock: FakeClock;
  let store: ControlledStore;
  let cache: WatchCache;
  const open: CacheWatcher[] = [];

  const start = async (opts: { historySize?: number; watcherBufferSize?: number } = {}): Promise<void> => {
    cache = new WatchCache({ store, clock, bookmarkIntervalMs: 60_000, freshnessTimeoutMs: 1000, ...opts });
    await cache.start();
  };
  const put = async (r: ResourceInfo, obj: StoredObject): Promise<number> => {
    const key = objectKey(r, obj.metadata.namespace, obj.metadata.name ?? '');
    const cur = await store.get(key);
    const res =
      cur === undefined
        ? await store.create(key, encodeObject(obj))
        : await store.update(key, encodeObject(obj), cur.modRevision);
    assert.ok(res.ok);
    await settle();
    return res.kv.modRevision;
  };
  const del = async (r: ResourceInfo, ns: string, name: string): Promise<number> => {
    const res = await store.delete(objectKey(r, ns, name));
    assert.ok(res.ok);
    await settle();
    return res.revision;
  };
  const watch = async (
    r: ResourceInfo,
    ns: string | undefined,
    req: Partial<CacheWatchRequest> = {},
  ): Promise<{ out: FakeOutput; w: CacheWatcher }> => {
    const out = new FakeOutput();
    const w = await cache.watch(r, ns, { allowBookmarks: false, output: out, ...req });
    assert.ok(w, 'served from the cache');
    open.push(w);
    return { out, w };
  };

  beforeEach(() => {
    clock = new FakeClock();
    store = new ControlledStore(new SqliteStore({ path: ':memory:', clock }));
  });
  afterEach(async () => {
    for (const w of open.splice(0)) w.close();
    await cache.stop();
    await store.close();
  });

  it('lists from memory in key order, by namespace and by node index, at its revision', async () => {
    await put(pods, pod('b', { node: 'n1' }));
    await put(pods, pod('a', { node: 'n2' }));
    await start();
    await put(pods, pod('c', { ns: 'other', node: 'n1' }));
    const rev = await put(configmaps, {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'x', namespace: 'default' },
    });

    const all = await cache.list(pods, undefined, {});
    assert.ok(all);
    assert.equal(all.revision, rev);
    assert.deepEqual(
      all.items.map((o) => o.object.metadata.name),
      ['a', 'b', 'c'],
    );
    const inDefault = await cache.list(pods, 'default', { resourceVersion: '0' });
    assert.deepEqual(
      inDefault?.items.map((o) => o.object.metadata.name),
      ['a', 'b'],
    );
    const onN1 = await cache.list(pods, undefined, { fieldSelector: 'spec.nodeName=n1' });
    assert.deepEqual(
      onN1?.items.map((o) => o.key),
      ['/registry/core/pods/default/b', '/registry/core/pods/other/c'],
    );
    // The body is the objects' own JSON, stamped with their resourceVersions.
    const body = JSON.parse(
      listBody(pods, { resourceVersion: String(all.revision) }, all.items).toString(),
    ) as {
      kind: string;
      metadata: { resourceVersion: string };
      items: StoredObject[];
    };
    assert.equal(body.kind, 'PodList');
    assert.equal(body.metadata.resourceVersion, String(rev));
    assert.equal(body.items[0]?.metadata.resourceVersion, '2');
  });

  it('leaves to the store what it cannot answer: continue, Exact, limit below the match count', async () => {
    await start();
    await put(pods, pod('a'));
    await put(pods, pod('b'));
    assert.equal(await cache.list(pods, undefined, { continue: 'tok' }), undefined);
    assert.equal(
      await cache.list(pods, undefined, { resourceVersion: '1', resourceVersionMatch: 'Exact' }),
      undefined,
    );
    assert.equal(await cache.list(pods, undefined, { limit: 1 }), undefined);
    assert.equal((await cache.list(pods, undefined, { limit: 2 }))?.items.length, 2);
    // resourceVersion=0 ignores the limit, as kube-apiserver's watch cache does.
    assert.equal((await cache.list(pods, undefined, { limit: 1, resourceVersion: '0' }))?.items.length, 2);
  });

  it('waits for the store revision on a consistent read, and gives up after the freshness timeout', async () => {
    await start();
    await put(pods, pod('a'));
    store.revisionSkew = 1; // the store is one write ahead of what the cache has seen
    let answered = false;
    const pending = cache.list(pods, undefined, {}).then((r) => {
      answered = true;
      return r;
    });
    await settle();
    assert.equal(answered, false, 'waits for the cache to catch up');
    store.revisionSkew = 0;
    await put(pods, pod('b')); // the write the store "had": the cache reaches it
    assert.deepEqual(
      (await pending)?.items.map((o) => o.object.metadata.name),
      ['a', 'b'],
    );

    store.revisionSkew = 5;
    const stale = cache.list(pods, undefined, {});
    await settle();
    await clock.advance(1000);
    assert.equal(await stale, undefined, 'the store serves it');
    // resourceVersion=0 never waits.
    assert.ok(await cache.list(pods, undefined, { resourceVersion: '0' }));
  });

  it('streams the current state as ADDED, then changes; DELETED carries the deletion revision', async () => {
    await put(pods, pod('a'));
    await start();
    const { out } = await watch(pods, 'default');
    const r2 = await put(pods, pod('b'));
    const r3 = await put(pods, pod('a', { labels: { x: '1' } }));
    const r4 = await del(pods, 'default', 'b');
    await put(pods, pod('z', { ns: 'elsewhere' }));
    assert.deepEqual(out.summary(), ['ADDED a@1', `ADDED b@${r2}`, `MODIFIED a@${r3}`, `DELETED b@${r4}`]);
  });

  it('resumes from a resourceVersion out of its history, and leaves older ones to the store', async () => {
    await start({ historySize: 3 });
    const r1 = await put(pods, pod('a'));
    const r2 = await put(pods, pod('b'));
    const r3 = await put(pods, pod('c'));
    const r4 = await put(pods, pod('d'));
    const { out } = await watch(pods, undefined, { resourceVersion: String(r2) });
    const r5 = await put(pods, pod('e'));
    assert.deepEqual(out.summary(), [`ADDED c@${r3}`, `ADDED d@${r4}`, `ADDED e@${r5}`]);
    const older = await cache.watch(pods, undefined, {
      resourceVersion: String(r1),
      allowBookmarks: false,
      output: new FakeOutput(),
    });
    assert.equal(older, undefined, 'history evicted: the store replays it');
  });

  it('leaves a resourceVersion at or below the store compaction point to the store (410)', async () => {
    await start();
    const r1 = await put(pods, pod('a'));
    await put(pods, pod('b'));
    await store.compact(r1 + 1);
    const w = await cache.watch(pods, undefined, {
      resourceVersion: String(r1),
      allowBookmarks: false,
      output: new FakeOutput(),
    });
    assert.equal(w, undefined);
  });

  it('applies selector transitions: stops matching → DELETED with the previous content, starts → ADDED', async () => {
    await start();
    const sel = parseLabelSelector('app=web');
    assert.ok(sel.ok);
    const filter = (o: StoredObject): boolean => sel.selector.matches(o.metadata.labels ?? {});
    const { out } = await watch(pods, undefined, { filter, resourceVersion: '0' });
    const r1 = await put(pods, pod('a', { labels: { app: 'web' } }));
    await put(pods, pod('b', { labels: { app: 'db' } }));
    const r3 = await put(pods, pod('a', { labels: { app: 'db' } }));
    const r4 = await put(pods, pod('b', { labels: { app: 'web' } }));
    assert.deepEqual(out.summary(), [`ADDED a@${r1}`, `DELETED a@${r3}`, `ADDED b@${r4}`]);
    const deleted = out.lines()[1];
    assert.deepEqual(deleted?.object.metadata.labels, { app: 'web' }, 'the last state that matched');
  });

  it('offers a pod event only to the watchers of its node (and the unfiltered ones)', async () => {
    await start();
    const byNode =
      (node: string): ((o: StoredObject) => boolean) =>
      (o) =>
        (o.spec as { nodeName?: string }).nodeName === node;
    const n1 = await watch(pods, undefined, { filter: byNode('n1'), fieldSelector: 'spec.nodeName=n1' });
    const n2 = await watch(pods, undefined, { filter: byNode('n2'), fieldSelector: 'spec.nodeName=n2' });
    const everyone = await watch(pods, undefined);
    await put(pods, pod('p1', { node: 'n1' }));
    await put(pods, pod('p2', { node: 'n2' }));
    await put(pods, pod('p3', { node: 'n1' }));
    assert.deepEqual(
      n1.out.summary().map((s) => s.split('@')[0]),
      ['ADDED p1', 'ADDED p3'],
    );
    assert.deepEqual(
      n2.out.summary().map((s) => s.split('@')[0]),
      ['ADDED p2'],
    );
    assert.equal(everyone.out.lines().length, 3);
  });

  it('shares one serialisation of an event between watchers', async () => {
    await start();
    const a = await watch(pods, undefined);
    const b = await watch(pods, undefined);
    await put(pods, pod('p'));
    assert.equal(a.out.chunks.length, 1);
    assert.equal(a.out.chunks[0]?.toString(), b.out.chunks[0]?.toString());
  });

  it('terminates a watcher that does not keep up, without holding up the others', async () => {
    await start({ watcherBufferSize: 5 });
    const slow = await watch(pods, undefined);
    const fast = await watch(pods, undefined);
    slow.out.full = true;
    await put(pods, pod('p0'));
    // The first write was accepted but reported a full buffer: the slow watcher now waits for 'drain'.
    for (let i = 1; i <= 6; i++) await put(pods, pod(`p${i}`));
    assert.equal(slow.w.state, 'terminated');
    assert.equal(slow.out.ended, true);
    assert.equal(fast.w.state, 'open');
    assert.equal(fast.out.lines().length, 7);
    assert.equal(await slow.w.done, 'terminated');
    // Its client never reads the end: after the grace the connection is cut.
    assert.equal(slow.out.destroyed, false);
    await clock.advance(5000);
    assert.equal(slow.out.destroyed, true);
    await put(pods, pod('p7'));
    assert.equal(fast.out.lines().length, 8);
  });

  it('keeps a watcher that catches up after a drain', async () => {
    await start({ watcherBufferSize: 5 });
    const { out, w } = await watch(pods, undefined);
    out.full = true;
    for (let i = 0; i < 4; i++) await put(pods, pod(`p${i}`));
    assert.equal(out.lines().length, 1, 'blocked after the first write');
    out.drain();
    assert.equal(w.state, 'open');
    assert.equal(out.lines().length, 4);
  });

  it('sends BOOKMARKs to watchers that allow them, when there is something new to say', async () => {
    await start();
    const withBookmarks = await watch(pods, undefined, { allowBookmarks: true });
    const without = await watch(pods, undefined);
    await put(pods, pod('a'));
    const r2 = await put(configmaps, {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'c', namespace: 'default' },
    });
    await clock.advance(60_000);
    assert.deepEqual(withBookmarks.out.summary(), ['ADDED a@1', `BOOKMARK @${r2}`]);
    const bookmark = withBookmarks.out.lines()[1];
    assert.deepEqual(bookmark?.object, {
      kind: 'Pod',
      apiVersion: 'v1',
      metadata: { resourceVersion: String(r2) },
    });
    assert.deepEqual(without.out.summary(), ['ADDED a@1']);
    await clock.advance(60_000);
    assert.equal(withBookmarks.out.lines().length, 2, 'nothing new: no second bookmark');
  });

  it('serves a watch-list: initial ADDED, the initial-events-end BOOKMARK, then changes', async () => {
    await put(pods, pod('a'));
    await put(pods, pod('b'));
    await start();
    const { out } = await watch(pods, undefined, { sendInitialEvents: true, allowBookmarks: true });
    const r3 = await put(pods, pod('c'));
    assert.deepEqual(out.summary(), ['ADDED a@1', 'ADDED b@2', 'BOOKMARK @2 end', `ADDED c@${r3}`]);
    const none = await watch(pods, undefined, { sendInitialEvents: false });
    const r4 = await put(pods, pod('d'));
    assert.deepEqual(none.out.summary(), [`ADDED d@${r4}`]);
  });

  it('sends the initial state at the pace the client reads it', async () => {
    const pad = { pad: 'x'.repeat(400) };
    for (let i = 0; i < 200; i++) await put(pods, pod(`p${String(i).padStart(3, '0')}`, { labels: pad }));
    await start();
    const out = new FakeOutput();
    out.full = true;
    const w = await cache.watch(pods, undefined, { allowBookmarks: false, output: out });
    assert.ok(w);
    open.push(w);
    const first = out.lines().length;
    assert.ok(first > 0 && first < 200, `one chunk written before waiting (${first})`);
    await put(pods, pod('zzz'));
    while (out.lines().length < 201) {
      const before = out.lines().length;
      out.full = true;
      out.drain();
      if (out.lines().length === before) out.drain();
    }
    assert.equal(out.lines().at(-1)?.object.metadata.name, 'zzz', 'live events after the initial ones');
    assert.equal(w.state, 'open');
  });

  it('resumes its store watch after being dropped, without disturbing its watchers', async () => {
    await start();
    const { out, w } = await watch(pods, undefined);
    await put(pods, pod('a'));
    store.failWatches(new WatcherDroppedError(1, 'test'));
    await settle();
    await put(pods, pod('b'));
    assert.deepEqual(
      out.summary().map((s) => s.split('@')[0]),
      ['ADDED a', 'ADDED b'],
    );
    assert.equal(w.state, 'open');
  });

  it('re-lists after its history was compacted away, closing the watchers that missed events', async () => {
    await start();
    const { out, w } = await watch(pods, undefined);
    await put(pods, pod('a'));
    store.failWatches(new CompactedError(2, 5));
    await settle();
    assert.equal(w.state, 'closed');
    assert.equal(out.ended, true);
    await put(pods, pod('b'));
    assert.deepEqual(
      (await cache.list(pods, undefined, {}))?.items.map((o) => o.object.metadata.name),
      ['a', 'b'],
    );
  });

  it('closes every watcher on stop and then serves nothing', async () => {
    await start();
    const { out, w } = await watch(pods, undefined);
    await cache.stop();
    assert.equal(w.state, 'closed');
    assert.equal(out.ended, true);
    assert.equal(await cache.list(pods, undefined, { resourceVersion: '0' }), undefined);
  });
});

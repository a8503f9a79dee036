import { afterEach, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { StoredObject } from '../../api/object.js';
import { findResource, type ResourceInfo } from '../../api/resources.js';
import { realClock } from '../../lib/clock.js';
import { silentLogger } from '../../lib/logger.js';
import { encodeObject, objectKey } from '../apiserver/object-codec.js';
import { openSqliteStore, type SqliteStore } from '../store/sqlite-store.js';
import { PodFeed, type FeedSubscriber } from './pod-feed.js';

const pods = findResource('', 'v1', 'pods') as ResourceInfo;
const decoder = new TextDecoder();

interface Seen {
  readonly kind: 'snapshot' | 'upsert' | 'delete';
  readonly names: string[];
  readonly revision: number;
}

function recorder(): FeedSubscriber & { seen: Seen[] } {
  const seen: Seen[] = [];
  const name = (b: Uint8Array): string => (JSON.parse(decoder.decode(b)) as StoredObject).metadata.name ?? '';
  return {
    seen,
    snapshot: (list, revision) => seen.push({ kind: 'snapshot', names: list.map(name).sort(), revision }),
    change: (type, pod, revision) => seen.push({ kind: type, names: [name(pod)], revision }),
  };
}

async function waitFor(what: string, cond: () => boolean): Promise<void> {
  const deadline = Date.now() + 5000;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

describe('PodFeed', () => {
  let store: SqliteStore;
  let feed: PodFeed | undefined;

  /** Writes a pod straight to the store (as the API server would store it); returns its revision. */
  async function put(
    name: string,
    nodeName: string | undefined,
    extra: Record<string, unknown> = {},
  ): Promise<number> {
    const key = objectKey(pods, 'default', name);
    const obj: StoredObject = {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name, namespace: 'default', uid: `uid-${name}`, ...extra },
      spec: {
        containers: [{ name: 'c', image: 'busybox' }],
        ...(nodeName === undefined ? {} : { nodeName }),
      },
    };
    const current = await store.get(key);
    const result =
      current === undefined
        ? await store.create(key, encodeObject(obj))
        : await store.update(key, encodeObject(obj), current.modRevision);
    assert.ok(result.ok);
    return result.kv.modRevision;
  }

  async function remove(name: string): Promise<number> {
    const result = await store.delete(objectKey(pods, 'default', name));
    assert.ok(result.ok);
    return result.revision;
  }

  async function startFeed(opts: { historySize?: number } = {}): Promise<PodFeed> {
    feed = new PodFeed({ store, clock: realClock, logger: silentLogger(), ...opts });
    await feed.start();
    return feed;
  }

  beforeEach(() => {
    store = openSqliteStore({ path: ':memory:', logger: silentLogger() });
  });
  afterEach(async () => {
    await feed?.close();
    feed = undefined;
    await store.close();
  });

  it('gives a new subscriber a snapshot of its node only, then its node changes only', async () => {
    await put('a1', 'n1');
    await put('a2', 'n1');
    await put('b1', 'n2');
    const unboundRev = await put('free', undefined);
    const f = await startFeed();
    assert.equal(f.revision, unboundRev);
    const n1 = recorder();
    const n2 = recorder();
    assert.equal(f.subscribe('n1', n1, 0).resumed, false);
    f.subscribe('n2', n2, 0);
    assert.deepEqual(n1.seen, [{ kind: 'snapshot', names: ['a1', 'a2'], revision: unboundRev }]);
    assert.deepEqual(n2.seen, [{ kind: 'snapshot', names: ['b1'], revision: unboundRev }]);

    const r1 = await put('a3', 'n1');
    const r2 = await put('free', 'n2'); // binding an unbound pod
    const r3 = await put('a1', 'n1', { deletionTimestamp: '2026-01-01T00:00:00Z' });
    const r4 = await remove('a1');
    await put('unbound-2', undefined);
    await waitFor('the changes', () => f.revision > r4);
    assert.deepEqual(n1.seen.slice(1), [
      { kind: 'upsert', names: ['a3'], revision: r1 },
      { kind: 'upsert', names: ['a1'], revision: r3 },
      { kind: 'delete', names: ['a1'], revision: r4 },
    ]);
    assert.deepEqual(n2.seen.slice(1), [{ kind: 'upsert', names: ['free'], revision: r2 }]);
    assert.equal(f.podCount('n1'), 2);
  });

  it('does not send a change of status only, but the snapshot has the newest status', async () => {
    await put('a1', 'n1');
    const f = await startFeed();
    const n1 = recorder();
    f.subscribe('n1', n1, 0);
    const labelled = await put('a1', 'n1', { labels: { x: 'y' } });
    const key = objectKey(pods, 'default', 'a1');
    const kv = await store.get(key);
    assert.ok(kv !== undefined);
    const obj = JSON.parse(decoder.decode(kv.value)) as StoredObject;
    const statusOnly = await store.update(
      key,
      encodeObject({ ...obj, status: { phase: 'Running' } }),
      kv.modRevision,
    );
    assert.ok(statusOnly.ok);
    await waitFor('both writes', () => f.revision >= statusOnly.kv.modRevision);
    assert.deepEqual(
      n1.seen.map((x) => [x.kind, x.revision]),
      [
        ['snapshot', labelled - 1],
        ['upsert', labelled],
      ],
    );
    const snap: StoredObject[] = [];
    f.subscribe(
      'n1',
      {
        snapshot: (list) => snap.push(...list.map((b) => JSON.parse(decoder.decode(b)) as StoredObject)),
        change: () => undefined,
      },
      0,
    );
    assert.deepEqual(snap[0]?.metadata.labels, { x: 'y' });
    assert.deepEqual(snap[0].status, { phase: 'Running' });
  });

  it('resumes a subscriber after its revision when the history covers it, with its node changes only', async () => {
    await put('a1', 'n1');
    const f = await startFeed();
    const first = recorder();
    const sub = f.subscribe('n1', first, 0);
    const lastSeen = await put('a2', 'n1');
    await waitFor('a2', () => first.seen.length === 2);
    sub.close();

    const r1 = await put('a3', 'n1');
    await put('b1', 'n2');
    const r2 = await remove('a2');
    await waitFor('the changes', () => f.revision >= r2);
    assert.equal(first.seen.length, 2, 'a closed subscription gets nothing more');

    const again = recorder();
    assert.equal(f.subscribe('n1', again, lastSeen).resumed, true);
    assert.deepEqual(again.seen, [
      { kind: 'upsert', names: ['a3'], revision: r1 },
      { kind: 'delete', names: ['a2'], revision: r2 },
    ]);
    // Up to date already: nothing to replay.
    const current = recorder();
    assert.equal(f.subscribe('n1', current, f.revision).resumed, true);
    assert.deepEqual(current.seen, []);
  });

  it('sends a snapshot when the history no longer reaches back, or the revision is from elsewhere', async () => {
    const start = await put('a1', 'n1');
    const f = await startFeed({ historySize: 4 });
    for (let i = 0; i < 10; i++) await put(`x${i}`, 'n2');
    const last = await put('a2', 'n1');
    await waitFor('the changes', () => f.revision >= last);
    const old = recorder();
    assert.equal(f.subscribe('n1', old, start).resumed, false);
    assert.deepEqual(old.seen, [{ kind: 'snapshot', names: ['a1', 'a2'], revision: last }]);
    const future = recorder();
    assert.equal(f.subscribe('n1', future, last + 1000).resumed, false);
    assert.equal(future.seen[0]?.kind, 'snapshot');
  });

  it("tells a node's own pods from other nodes' and from unknown ones, also just after deletion", async () => {
    await put('a1', 'n1');
    await put('b1', 'n2');
    const f = await startFeed();
    const ref = (name: string) => ({ namespace: 'default', name, uid: `uid-${name}` });
    assert.equal(f.ownership('n1', ref('a1')), 'own');
    assert.equal(f.ownership('n1', ref('b1')), 'other');
    assert.equal(f.ownership('n2', ref('b1')), 'own');
    assert.equal(f.ownership('n1', ref('nope')), 'unknown');
    assert.equal(f.ownership('n1', { namespace: 'default', name: 'renamed', uid: 'uid-a1' }), 'other');
    const r = await remove('a1');
    await waitFor('the delete', () => f.revision >= r);
    assert.equal(f.ownership('n1', ref('a1')), 'own');
    assert.equal(f.ownership('n2', ref('a1')), 'other');
  });
});

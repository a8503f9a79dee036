import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { StoredObject } from '../../api/object.js';
import { findResource, type ResourceInfo } from '../../api/resources.js';
import { isApiError } from '../../api/status.js';
import { FakeClock } from '../../lib/clock.js';
import { openSqliteStore } from '../store/sqlite-store.js';
import type { Store } from '../store/store.js';
import { defaultAdmission } from './admission.js';
import { ResourceStorage } from './resource-storage.js';

const namespaces = findResource('', 'v1', 'namespaces') as ResourceInfo;
const configmaps = findResource('', 'v1', 'configmaps') as ResourceInfo;

/** Two storages over one store: `b`'s writes make what `a` remembers stale. */
async function setup(): Promise<{
  store: Store;
  a: ResourceStorage;
  b: ResourceStorage;
  reads: () => number;
  writes: () => number;
}> {
  const clock = new FakeClock(Date.UTC(2026, 10, 1));
  const inner = openSqliteStore({ path: ':memory:' });
  let gets = 0;
  let updates = 0;
  // Count reads of `a`'s store to show that updates start from the remembered version.
  const counted: Store = {
    backend: inner.backend,
    create: (key, value) => inner.create(key, value),
    update: (key, value, rev) => {
      updates++;
      return inner.update(key, value, rev);
    },
    delete: (key, rev) => inner.delete(key, rev),
    get: (key) => {
      gets++;
      return inner.get(key);
    },
    list: (prefix, opts) => inner.list(prefix, opts),
    count: (prefix) => inner.count(prefix),
    watch: (prefix, from, opts) => inner.watch(prefix, from, opts),
    compact: (rev) => inner.compact(rev),
    currentRevision: () => inner.currentRevision(),
    compactedRevision: () => inner.compactedRevision(),
    close: () => inner.close(),
  };
  const a = new ResourceStorage({ store: counted, clock, admission: defaultAdmission });
  const b = new ResourceStorage({ store: inner, clock, admission: defaultAdmission });
  await b.create(namespaces, undefined, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'apps' } });
  return { store: inner, a, b, reads: () => gets, writes: () => updates };
}

function configMap(name: string, data: Record<string, string>): StoredObject {
  return { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name }, data };
}

const withData =
  (data: Record<string, string>) =>
  (cur: StoredObject): StoredObject => ({ ...cur, data });

describe('ResourceStorage write path', () => {
  it('updates from the version it wrote last, without reading the store', async () => {
    const { store, a, reads } = await setup();
    try {
      await a.create(configmaps, 'apps', configMap('cm', { v: '1' }));
      const before = reads();
      const { object } = await a.update(configmaps, 'apps', 'cm', withData({ v: '2' }));
      assert.equal(reads(), before, 'no store read for an update of a remembered object');
      assert.deepEqual((object as StoredObject & { data: unknown }).data, { v: '2' });
      const stored = await store.get('/registry/core/configmaps/apps/cm');
      assert.equal(String(stored?.modRevision), object.metadata.resourceVersion);
    } finally {
      await store.close();
    }
  });

  it("follows others' writes through its store watch, so its next update wins the first compare-and-swap", async () => {
    const { store, a, writes } = await setup();
    try {
      await a.create(configmaps, 'apps', configMap('cm', { v: '1' }));
      await a.update(configmaps, 'apps', 'cm', withData({ v: '2' })); // starts the watch
      // Written on the store directly, as the scheduler binds pods.
      const key = '/registry/core/configmaps/apps/cm';
      const kv = await store.get(key);
      assert.ok(kv !== undefined);
      const raw = JSON.parse(new TextDecoder().decode(kv.value)) as StoredObject;
      const put = await store.update(
        key,
        new TextEncoder().encode(
          JSON.stringify({ ...raw, metadata: { ...raw.metadata, labels: { raw: 'yes' } } }),
        ),
        kv.modRevision,
      );
      assert.ok(put.ok);
      await new Promise((resolve) => setTimeout(resolve, 20)); // the watch event arrives
      const before = writes();
      const { object } = await a.update(configmaps, 'apps', 'cm', withData({ v: '3' }));
      assert.equal(writes() - before, 1, 'one store write: no lost compare-and-swap');
      assert.deepEqual(object.metadata.labels, { raw: 'yes' });
    } finally {
      await store.close();
    }
  });

  it('applies an update to the current object when what it remembers is stale', async () => {
    const { store, a, b } = await setup();
    try {
      await a.create(configmaps, 'apps', configMap('cm', { v: '1' }));
      await b.update(configmaps, 'apps', 'cm', (cur) => ({
        ...cur,
        metadata: { ...cur.metadata, labels: { by: 'b' } },
      }));
      const { object } = await a.update(configmaps, 'apps', 'cm', withData({ v: '2' }));
      assert.deepEqual(
        object.metadata.labels,
        { by: 'b' },
        "b's write is kept: the mutation ran on the stored object",
      );
      assert.deepEqual((object as StoredObject & { data: unknown }).data, { v: '2' });
    } finally {
      await store.close();
    }
  });

  it('does not skip a write as a no-op on a stale remembered version', async () => {
    const { store, a, b } = await setup();
    try {
      await a.create(configmaps, 'apps', configMap('cm', { v: '1' }));
      await b.update(configmaps, 'apps', 'cm', withData({ v: '2' }));
      // A no-op against what `a` remembers, but not against the store.
      const { object } = await a.update(configmaps, 'apps', 'cm', withData({ v: '1' }));
      assert.deepEqual((object as StoredObject & { data: unknown }).data, { v: '1' });
      const now = await b.get(configmaps, 'apps', 'cm');
      assert.deepEqual((now as StoredObject & { data: unknown }).data, { v: '1' });
    } finally {
      await store.close();
    }
  });

  it('checks a pinned resourceVersion against the store, not against a stale remembered version', async () => {
    const { store, a, b } = await setup();
    try {
      await a.create(configmaps, 'apps', configMap('cm', { v: '1' }));
      const fresh = (await b.update(configmaps, 'apps', 'cm', withData({ v: '2' }))).object;
      // The client read the newest version (from elsewhere) and pins it: that must succeed.
      const { object } = await a.update(configmaps, 'apps', 'cm', (cur) => ({
        ...cur,
        data: { v: '3' },
        metadata: { ...cur.metadata, resourceVersion: fresh.metadata.resourceVersion ?? '' },
      }));
      assert.deepEqual((object as StoredObject & { data: unknown }).data, { v: '3' });
      // And an outdated pin is still a conflict.
      await assert.rejects(
        a.update(configmaps, 'apps', 'cm', (cur) => ({
          ...cur,
          metadata: { ...cur.metadata, resourceVersion: fresh.metadata.resourceVersion ?? '' },
        })),
        (err: unknown) => isApiError(err) && err.status.code === 409,
      );
    } finally {
      await store.close();
    }
  });

  it('reports 404 when the remembered object was deleted by someone else', async () => {
    const { store, a, b } = await setup();
    try {
      await a.create(configmaps, 'apps', configMap('cm', { v: '1' }));
      await b.delete(configmaps, 'apps', 'cm');
      await assert.rejects(
        a.update(configmaps, 'apps', 'cm', withData({ v: '2' })),
        (err: unknown) => isApiError(err) && err.status.code === 404,
      );
    } finally {
      await store.close();
    }
  });

  it("sees another writer's namespace deletion through its namespace watch", async () => {
    const { store, a, b } = await setup();
    try {
      await a.create(configmaps, 'apps', configMap('one', { v: '1' })); // caches "apps exists"
      await b.delete(namespaces, undefined, 'apps'); // terminating (the namespace has spec.finalizers)
      const refused = async (): Promise<boolean> => {
        try {
          await a.create(configmaps, 'apps', configMap(`cm-${Math.random().toString(36).slice(2)}`, {}));
          return false;
        } catch (err) {
          return isApiError(err) && err.status.code === 403;
        }
      };
      const deadline = Date.now() + 5000;
      while (!(await refused())) {
        assert.ok(Date.now() < deadline, 'creates in a terminating namespace are still accepted');
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
    } finally {
      await store.close();
    }
  });

  it('refuses content in a namespace it saw terminate itself, at once', async () => {
    const { store, a } = await setup();
    try {
      await a.create(configmaps, 'apps', configMap('one', { v: '1' }));
      await a.delete(namespaces, undefined, 'apps');
      await assert.rejects(
        a.create(configmaps, 'apps', configMap('two', {})),
        (err: unknown) => isApiError(err) && err.status.code === 403,
      );
      await assert.rejects(
        a.create(configmaps, 'nowhere', configMap('x', {})),
        (err: unknown) => isApiError(err) && err.status.code === 404,
      );
    } finally {
      await store.close();
    }
  });
});

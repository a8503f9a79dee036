import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { StoredObject } from '../../api/object.js';
import { findResource, type ResourceInfo } from '../../api/resources.js';
import { realClock } from '../../lib/clock.js';
import { silentLogger } from '../../lib/logger.js';
import { defaultAdmission } from '../apiserver/admission.js';
import { ResourceStorage } from '../apiserver/resource-storage.js';
import { openSqliteStore } from '../store/sqlite-store.js';
import { InformerFactory } from './informer-factory.js';
import { byOwnerUid, cacheKey, Informer, splitKey } from './informer.js';
import { eventually } from './testing/controller-fixture.js';
import { GatedStore } from './testing/gated-store.js';

const configmaps = findResource('', 'v1', 'configmaps') as ResourceInfo;
const namespaces = findResource('', 'v1', 'namespaces') as ResourceInfo;

interface Seen {
  adds: string[];
  updates: string[];
  deletes: string[];
}

function record(informer: Informer): Seen {
  const seen: Seen = { adds: [], updates: [], deletes: [] };
  const id = (o: StoredObject): string => `${o.metadata.name ?? ''}@${o.metadata.uid?.slice(0, 8) ?? ''}`;
  informer.addEventHandler({
    onAdd: (o) => seen.adds.push(id(o)),
    onUpdate: (old, o) => {
      assert.equal(old.metadata.uid, o.metadata.uid, 'an update never changes the uid');
      seen.updates.push(id(o));
    },
    onDelete: (o) => seen.deletes.push(id(o)),
  });
  return seen;
}

async function setup(watchBufferSize?: number): Promise<{
  store: GatedStore;
  storage: ResourceStorage;
  cm: (name: string, ns?: string, owner?: string) => Promise<StoredObject>;
}> {
  const store = new GatedStore(
    openSqliteStore({ path: ':memory:', ...(watchBufferSize === undefined ? {} : { watchBufferSize }) }),
  );
  const storage = new ResourceStorage({ store, clock: realClock, admission: defaultAdmission });
  for (const name of ['default', 'other']) {
    await storage.create(namespaces, undefined, { apiVersion: 'v1', kind: 'Namespace', metadata: { name } });
  }
  const cm = (name: string, ns = 'default', owner?: string): Promise<StoredObject> =>
    storage.create(configmaps, ns, {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: {
        name,
        ...(owner === undefined
          ? {}
          : { ownerReferences: [{ apiVersion: 'v1', kind: 'ConfigMap', name: 'owner', uid: owner }] }),
      },
      data: { v: '1' },
    });
  return { store, storage, cm };
}

describe('Informer', () => {
  it('lists, syncs, follows the watch, and keeps its indexes', async () => {
    const { store, storage, cm } = await setup();
    const abort = new AbortController();
    try {
      const a = await cm('a');
      await cm('b', 'other', 'owner-1');
      const informer = new Informer({
        store,
        resource: configmaps,
        clock: realClock,
        logger: silentLogger(),
      });
      const seen = record(informer);
      informer.addIndex(byOwnerUid);
      const running = informer.run(abort.signal);
      assert.equal(await informer.waitForSync(abort.signal), true);
      assert.equal(informer.hasSynced(), true);
      assert.deepEqual(seen.adds.map((s) => s.split('@')[0]).sort(), ['a', 'b']);
      assert.equal(informer.get('default', 'a')?.metadata.uid, a.metadata.uid);
      assert.equal(informer.getByUid(a.metadata.uid ?? '')?.metadata.name, 'a');
      assert.deepEqual(
        informer.listByNamespace('other').map((o) => o.metadata.name),
        ['b'],
      );
      assert.deepEqual(
        informer.byIndex(byOwnerUid, 'owner-1').map((o) => o.metadata.name),
        ['b'],
      );

      await cm('c', 'default', 'owner-1');
      await storage.update(configmaps, 'default', 'a', (o) => ({ ...o, data: { v: '2' } }));
      await storage.delete(configmaps, 'other', 'b');
      await eventually('watch changes applied', () => informer.size === 2 && seen.updates.length === 1);
      assert.deepEqual(
        seen.deletes.map((s) => s.split('@')[0]),
        ['b'],
      );
      assert.deepEqual((informer.get('default', 'a')?.['data'] as { v: string }).v, '2');
      assert.deepEqual(
        informer.byIndex(byOwnerUid, 'owner-1').map((o) => o.metadata.name),
        ['c'],
      );
      assert.equal(informer.revision, await store.currentRevision());

      // A late handler is told about everything cached.
      const late: string[] = [];
      const reg = informer.addEventHandler({ onAdd: (o) => late.push(o.metadata.name ?? '') });
      assert.deepEqual(late.sort(), ['a', 'c']);
      reg.remove();
      await cm('d');
      await eventually('d seen', () => informer.size === 3);
      assert.deepEqual(late.sort(), ['a', 'c'], 'a removed handler hears nothing more');

      abort.abort();
      await running;
    } finally {
      abort.abort();
      await store.close();
    }
  });

  it('after a dropped watch and compaction, re-lists and emits exactly the differences', async () => {
    const { store, storage, cm } = await setup(3);
    const abort = new AbortController();
    try {
      await cm('keep');
      await cm('update-me');
      await cm('delete-me');
      const recreated = await cm('recreate-me');
      const informer = new Informer({
        store,
        resource: configmaps,
        clock: realClock,
        logger: silentLogger(),
      });
      const seen = record(informer);
      const running = informer.run(abort.signal);
      await informer.waitForSync(abort.signal);
      assert.equal(store.lists, 1);
      await cm('warm-up'); // proves the watch is established
      await eventually('warm-up seen', () => informer.get('default', 'warm-up') !== undefined);
      seen.adds.length = 0;

      // Hold the informer back while more changes happen than its watch buffer holds, then compact
      // the history it would need to catch up.
      store.pause();
      await cm('marker'); // delivered to the informer, which then stops at the gate
      await eventually('marker seen', () => informer.get('default', 'marker') !== undefined);
      seen.adds.length = 0;
      const added = await cm('added');
      await storage.update(configmaps, 'default', 'update-me', (o) => ({ ...o, data: { v: 'new' } }));
      await storage.delete(configmaps, 'default', 'delete-me');
      await storage.delete(configmaps, 'default', 'recreate-me');
      const again = await cm('recreate-me');
      await storage.delete(configmaps, 'default', 'marker');
      await store.compact(await store.currentRevision());
      store.resume();

      await eventually('re-listed', () => store.lists === 2 && informer.size === 5);
      const names = (xs: string[]): string[] => xs.map((s) => s.split('@')[0] ?? '').sort();
      assert.deepEqual(names(seen.adds), ['added', 'recreate-me']);
      assert.deepEqual(names(seen.updates), ['update-me']);
      assert.deepEqual(names(seen.deletes), ['delete-me', 'marker', 'recreate-me']);
      assert.ok(seen.deletes.includes(`recreate-me@${recreated.metadata.uid?.slice(0, 8) ?? ''}`));
      assert.ok(seen.adds.includes(`recreate-me@${again.metadata.uid?.slice(0, 8) ?? ''}`));
      assert.equal(informer.get('default', 'added')?.metadata.uid, added.metadata.uid);
      assert.equal(informer.getByUid(recreated.metadata.uid ?? ''), undefined);
      assert.equal(informer.revision, await store.currentRevision());

      // And it keeps watching afterwards.
      await cm('later');
      await eventually('later seen', () => informer.get('default', 'later') !== undefined);
      abort.abort();
      await running;
    } finally {
      abort.abort();
      store.resume();
      await store.close();
    }
  });
});

describe('InformerFactory', () => {
  it('shares one informer per resource and starts late ones at once', async () => {
    const { store, cm } = await setup();
    const abort = new AbortController();
    try {
      await cm('x');
      const factory = new InformerFactory({ store, clock: realClock, logger: silentLogger() });
      const one = factory.informerFor(configmaps);
      assert.equal(factory.informerFor(configmaps), one);
      factory.start(abort.signal);
      assert.equal(await factory.waitForSync(abort.signal), true);
      const late = factory.informerFor(namespaces);
      assert.equal(await late.waitForSync(abort.signal), true);
      assert.equal(late.size, 2);
      abort.abort();
      await factory.stopped();
    } finally {
      abort.abort();
      await store.close();
    }
  });
});

describe('cache keys', () => {
  it('round-trip', () => {
    assert.equal(cacheKey('ns', 'n'), 'ns/n');
    assert.equal(cacheKey(undefined, 'n'), 'n');
    assert.deepEqual(splitKey('ns/n'), { namespace: 'ns', name: 'n' });
    assert.deepEqual(splitKey('n'), { namespace: undefined, name: 'n' });
  });
});

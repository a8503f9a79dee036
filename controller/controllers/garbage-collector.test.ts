import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { OwnerReference, StoredObject } from '../../api/object.js';
import { realClock } from '../../lib/clock.js';
import { silentLogger } from '../../lib/logger.js';
import { createMetricsRegistry } from '../../lib/metrics.js';
import { defaultAdmission } from '../apiserver/admission.js';
import { ResourceStorage } from '../apiserver/resource-storage.js';
import { openSqliteStore } from '../store/sqlite-store.js';
import type { ControllerContext } from './controller-manager.js';
import { EventBroadcaster } from './event-recorder.js';
import { GarbageCollector, garbageCollectorController } from './garbage-collector.js';
import { InformerFactory, requireResource } from './informer-factory.js';
import { GatedStore } from './testing/gated-store.js';
import { WorkQueue } from './work-queue.js';
import { updateObject } from './object-writes.js';
import { eventually, startControllerFixture, type ControllerFixture } from './testing/controller-fixture.js';

const configmaps = requireResource('', 'v1', 'configmaps');
const secrets = requireResource('', 'v1', 'secrets');
const replicasets = requireResource('apps', 'v1', 'replicasets');
const pods = requireResource('', 'v1', 'pods');
const nodes = requireResource('', 'v1', 'nodes');
const events = requireResource('', 'v1', 'events');
const namespaces = requireResource('', 'v1', 'namespaces');

function refTo(owner: StoredObject, block = false): OwnerReference {
  return {
    apiVersion: owner.apiVersion,
    kind: owner.kind,
    name: owner.metadata.name ?? '',
    uid: owner.metadata.uid ?? '',
    ...(block ? { blockOwnerDeletion: true, controller: true } : {}),
  };
}

function cm(
  storage: ResourceStorage,
  name: string,
  opts: { owners?: OwnerReference[]; finalizers?: string[]; ns?: string } = {},
): Promise<StoredObject> {
  return storage.create(configmaps, opts.ns ?? 'default', {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: {
      name,
      ...(opts.owners === undefined ? {} : { ownerReferences: opts.owners }),
      ...(opts.finalizers === undefined ? {} : { finalizers: opts.finalizers }),
    },
  });
}

async function gone(f: ControllerFixture, name: string, ns = 'default'): Promise<boolean> {
  return (await f.find(configmaps, ns, name)) === undefined;
}

async function release(f: ControllerFixture, name: string): Promise<void> {
  await updateObject(f.storage, configmaps, { namespace: 'default', name }, (o) => {
    delete o.metadata.finalizers;
    return true;
  });
}

async function withGc(
  fn: (f: ControllerFixture) => Promise<void>,
  before?: (s: ResourceStorage) => Promise<void>,
) {
  const f = await startControllerFixture({
    controllers: [garbageCollectorController({ workers: 4 })],
    logger: silentLogger(),
    ...(before === undefined ? {} : { before }),
  });
  try {
    await fn(f);
  } finally {
    await f.close();
  }
}

describe('garbage collector', () => {
  it('background: deleting an owner deletes its dependents, recursively, across kinds', () =>
    withGc(async (f) => {
      const owner = await cm(f.storage, 'owner');
      const child = await cm(f.storage, 'child', { owners: [refTo(owner)] });
      await cm(f.storage, 'grandchild', { owners: [refTo(child)] });
      await f.storage.create(secrets, 'default', {
        apiVersion: 'v1',
        kind: 'Secret',
        metadata: { name: 'owned-secret', ownerReferences: [refTo(owner)] },
      });
      await cm(f.storage, 'bystander');
      await f.storage.delete(configmaps, 'default', 'owner');
      await eventually(
        'dependents collected',
        async () => (await gone(f, 'child')) && (await gone(f, 'grandchild')),
      );
      await eventually(
        'secret collected',
        async () => (await f.find(secrets, 'default', 'owned-secret')) === undefined,
      );
      assert.equal(await gone(f, 'bystander'), false);
    }));

  it('keeps a dependent that still has a live owner, dropping the reference to the gone one', () =>
    withGc(async (f) => {
      const a = await cm(f.storage, 'a');
      const b = await cm(f.storage, 'b');
      await cm(f.storage, 'shared', { owners: [refTo(a), refTo(b)] });
      await f.storage.delete(configmaps, 'default', 'a');
      await eventually('reference to a dropped', async () => {
        const refs = (await f.find(configmaps, 'default', 'shared'))?.metadata.ownerReferences ?? [];
        return refs.length === 1 && refs[0]?.uid === b.metadata.uid;
      });
      await f.storage.delete(configmaps, 'default', 'b');
      await eventually('collected once b is gone', () => gone(f, 'shared'));
    }));

  it('collects dependents whose owner vanished while it was not running, confirming uid with the store', () => {
    let live: StoredObject | undefined;
    return withGc(
      async (f) => {
        await eventually(
          'orphans collected',
          async () => (await gone(f, 'orphan1')) && (await gone(f, 'orphan2')),
        );
        // The one whose owner exists with the referenced uid stays.
        await new Promise((r) => setTimeout(r, 200));
        assert.equal(await gone(f, 'kept'), false);
        assert.ok(live);
      },
      async (storage) => {
        // orphan1: owner never existed. orphan2: an object with the owner's name exists, but another uid.
        await cm(storage, 'orphan1', {
          owners: [{ apiVersion: 'v1', kind: 'ConfigMap', name: 'nope', uid: 'uid-nope' }],
        });
        await cm(storage, 'same-name');
        await cm(storage, 'orphan2', {
          owners: [{ apiVersion: 'v1', kind: 'ConfigMap', name: 'same-name', uid: 'uid-of-an-older-one' }],
        });
        live = await cm(storage, 'live-owner');
        await cm(storage, 'kept', { owners: [refTo(live)] });
      },
    );
  });

  it('foreground: the owner stays terminating until blocking dependents are gone', () =>
    withGc(async (f) => {
      const owner = await cm(f.storage, 'fg-owner');
      // blocker holds a finalizer so that it stays terminating for a while.
      await cm(f.storage, 'blocker', { owners: [refTo(owner, true)], finalizers: ['test.berth.dev/hold'] });
      await cm(f.storage, 'non-blocking', { owners: [refTo(owner)] });
      await f.storage.delete(configmaps, 'default', 'fg-owner', { propagationPolicy: 'Foreground' });
      await eventually('dependents deleted', async () => {
        const blocker = await f.find(configmaps, 'default', 'blocker');
        return blocker?.metadata.deletionTimestamp !== undefined && (await gone(f, 'non-blocking'));
      });
      await new Promise((r) => setTimeout(r, 200));
      const waiting = await f.find(configmaps, 'default', 'fg-owner');
      assert.ok(waiting, 'the owner must wait for its blocking dependent');
      assert.ok(waiting.metadata.deletionTimestamp);
      assert.deepEqual(waiting.metadata.finalizers, ['foregroundDeletion']);
      await release(f, 'blocker');
      await eventually('owner deleted after its blocker', () => gone(f, 'fg-owner'));
    }));

  it('foreground cascades down: a middle dependent is deleted in the foreground too', () =>
    withGc(async (f) => {
      const top = await cm(f.storage, 'top');
      const middle = await cm(f.storage, 'middle', { owners: [refTo(top, true)] });
      await cm(f.storage, 'bottom', { owners: [refTo(middle, true)], finalizers: ['test.berth.dev/hold'] });
      await f.storage.delete(configmaps, 'default', 'top', { propagationPolicy: 'Foreground' });
      await eventually('middle waits in the foreground', async () => {
        const m = await f.find(configmaps, 'default', 'middle');
        return m?.metadata.finalizers?.includes('foregroundDeletion') === true;
      });
      assert.ok(await f.find(configmaps, 'default', 'top'));
      await release(f, 'bottom');
      await eventually(
        'all gone',
        async () => (await gone(f, 'top')) && (await gone(f, 'middle')) && (await gone(f, 'bottom')),
      );
    }));

  it('orphan: dependents lose the reference and stay; the owner goes', () =>
    withGc(async (f) => {
      const owner = await cm(f.storage, 'orphaner');
      const other = await cm(f.storage, 'other-owner');
      await cm(f.storage, 'o1', { owners: [refTo(owner, true)] });
      await cm(f.storage, 'o2', { owners: [refTo(owner), refTo(other)] });
      await f.storage.delete(configmaps, 'default', 'orphaner', { propagationPolicy: 'Orphan' });
      await eventually('owner gone', () => gone(f, 'orphaner'));
      const o1 = await f.find(configmaps, 'default', 'o1');
      const o2 = await f.find(configmaps, 'default', 'o2');
      assert.ok(o1 && o2);
      assert.equal(o1.metadata.ownerReferences, undefined);
      assert.deepEqual(
        o2.metadata.ownerReferences?.map((r) => r.uid),
        [other.metadata.uid],
      );
      await new Promise((r) => setTimeout(r, 200));
      assert.equal(await gone(f, 'o1'), false, 'an orphaned dependent is not collected later');
    }));

  it('a reference to an owner in another namespace is dangling, with an OwnerRefInvalidNamespace event', () =>
    withGc(async (f) => {
      await f.storage.create(namespaces, undefined, {
        apiVersion: 'v1',
        kind: 'Namespace',
        metadata: { name: 'b' },
      });
      const owner = await cm(f.storage, 'owner-in-b', { ns: 'b' });
      await cm(f.storage, 'cross', { owners: [refTo(owner)] });
      await eventually('cross-namespace dependent collected', () => gone(f, 'cross'));
      assert.ok(await f.find(configmaps, 'b', 'owner-in-b'));
      await f.manager.events.flush();
      const evs = (await f.storage.list(events, 'default')).items;
      assert.ok(evs.some((e) => e['reason'] === 'OwnerRefInvalidNamespace'));
    }));

  it('leaves a cluster-scoped object naming a namespaced owner alone, and an unserved owner kind too', () =>
    withGc(async (f) => {
      await f.storage.create(nodes, undefined, {
        apiVersion: 'v1',
        kind: 'Node',
        metadata: {
          name: 'n1',
          ownerReferences: [{ apiVersion: 'v1', kind: 'ConfigMap', name: 'x', uid: 'uid-x' }],
        },
      });
      await cm(f.storage, 'custom-owned', {
        owners: [{ apiVersion: 'example.com/v1', kind: 'Widget', name: 'w', uid: 'uid-w' }],
      });
      await f.manager.events.flush();
      await eventually('invalid-namespace event', async () => {
        await f.manager.events.flush();
        const evs = (await f.storage.list(events, 'default')).items;
        return evs.some((e) => e['reason'] === 'OwnerRefInvalidNamespace');
      });
      await new Promise((r) => setTimeout(r, 200));
      assert.ok(await f.find(nodes, undefined, 'n1'));
      assert.equal(await gone(f, 'custom-owned'), false);
    }));

  it('deletes many dependents of one owner (ReplicaSet owning pods)', () =>
    withGc(async (f) => {
      const rs = await f.storage.create(replicasets, 'default', {
        apiVersion: 'apps/v1',
        kind: 'ReplicaSet',
        metadata: { name: 'web' },
        spec: {
          replicas: 0,
          selector: { matchLabels: { app: 'web' } },
          template: {
            metadata: { labels: { app: 'web' } },
            spec: { containers: [{ name: 'c', image: 'busybox' }] },
          },
        },
      });
      for (let i = 0; i < 50; i++) {
        await f.storage.create(pods, 'default', {
          apiVersion: 'v1',
          kind: 'Pod',
          metadata: { name: `web-${i}`, labels: { app: 'web' }, ownerReferences: [refTo(rs, true)] },
          spec: { containers: [{ name: 'c', image: 'busybox' }] },
        });
      }
      await f.storage.delete(replicasets, 'default', 'web', { propagationPolicy: 'Foreground' });
      await eventually('rs and pods gone', async () => {
        const left = (await f.storage.list(pods, 'default')).items.length;
        return left === 0 && (await f.find(replicasets, 'default', 'web')) === undefined;
      });
    }));

  it('decides on the stored object, not on a stale cache', async () => {
    const store = new GatedStore(openSqliteStore({ path: ':memory:' }));
    const storage = new ResourceStorage({ store, clock: realClock, admission: defaultAdmission });
    const abort = new AbortController();
    const informers = new InformerFactory({ store, clock: realClock, logger: silentLogger() });
    try {
      await storage.create(namespaces, undefined, {
        apiVersion: 'v1',
        kind: 'Namespace',
        metadata: { name: 'default' },
      });
      const ctx: ControllerContext = {
        storage,
        informers,
        clock: realClock,
        logger: silentLogger(),
        events: new EventBroadcaster({ storage, clock: realClock, logger: silentLogger() }).recorder('gc'),
        metrics: createMetricsRegistry({ processMetrics: false }),
        newQueue: <K>(name?: string) => new WorkQueue<K>({ name: name ?? 'gc', clock: realClock }),
      };
      const gc = new GarbageCollector(ctx); // reconciled by hand below: no workers run
      informers.start(abort.signal);
      await informers.waitForSync(abort.signal);
      const ghost: OwnerReference = { apiVersion: 'v1', kind: 'ConfigMap', name: 'ghost', uid: 'uid-ghost' };
      const dep1 = await cm(storage, 'dep1', { owners: [ghost] });
      const dep2 = await cm(storage, 'dep2', { owners: [ghost] });
      const live = await cm(storage, 'live');
      const cmInformer = informers.informerFor(configmaps);
      await eventually('cached', () => cmInformer.size === 3);
      // Freeze the cache: the next event goes through, then nothing until resume().
      store.pause();
      await cm(storage, 'marker');
      await eventually('marker cached', () => cmInformer.get('default', 'marker') !== undefined);
      // In the store, dep1 no longer has owners and dep2 got a live one; the cache still says "ghost only".
      await updateObject(storage, configmaps, { namespace: 'default', name: 'dep1' }, (o) => {
        delete o.metadata.ownerReferences;
        return true;
      });
      await updateObject(storage, configmaps, { namespace: 'default', name: 'dep2' }, (o) => {
        o.metadata.ownerReferences = [ghost, refTo(live)];
        return true;
      });
      assert.equal(
        cmInformer.get('default', 'dep1')?.metadata.ownerReferences?.length,
        1,
        'the cache is stale',
      );
      await gc.reconcile(dep1.metadata.uid ?? '');
      await gc.reconcile(dep2.metadata.uid ?? '');
      const after1 = await storage.get(configmaps, 'default', 'dep1');
      assert.equal(after1.metadata.ownerReferences, undefined, 'an object without owners is never collected');
      const after2 = await storage.get(configmaps, 'default', 'dep2');
      assert.deepEqual(
        after2.metadata.ownerReferences?.map((r) => r.uid),
        [live.metadata.uid],
        'kept for its live owner; the dangling reference dropped',
      );
    } finally {
      store.resume();
      abort.abort();
      await informers.stopped();
      await store.close();
    }
  });
});

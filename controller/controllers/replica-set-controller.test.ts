import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { StoredObject } from '../../api/object.js';
import type { ResourceInfo } from '../../api/resources.js';
import { ApiError, internalError } from '../../api/status.js';
import { FakeClock } from '../../lib/clock.js';
import { silentLogger } from '../../lib/logger.js';
import { createMetricsRegistry } from '../../lib/metrics.js';
import { defaultAdmission } from '../apiserver/admission.js';
import { ResourceStorage, type WriteOptions } from '../apiserver/resource-storage.js';
import type { Store } from '../store/store.js';
import { openSqliteStore } from '../store/sqlite-store.js';
import type { ControllerContext, ControllerDescriptor } from './controller-manager.js';
import { EventBroadcaster } from './event-recorder.js';
import { InformerFactory, requireResource } from './informer-factory.js';
import { updateObject } from './object-writes.js';
import { controllerRefOf } from './owner-references.js';
import { ReplicaSetController, type ReplicaSetControllerOptions } from './replica-set-controller.js';
import { eventually, startControllerFixture, type ControllerFixture } from './testing/controller-fixture.js';
import { GatedStore } from './testing/gated-store.js';
import {
  eventsAbout,
  getReplicaSet,
  listPods,
  markPodReady,
  markPodRunning,
  podsOf,
  podsResource,
  replicaSetsResource,
} from './testing/workload-simulation.js';
import { WorkQueue } from './work-queue.js';
import type { Pod } from './workload-objects.js';

const GENERATED_NAME = /^web-[bcdfghjklmnpqrstvwxz2456789]{5}$/;

function replicaSet(name: string, replicas: number, extra: { minReadySeconds?: number } = {}): StoredObject {
  return {
    apiVersion: 'apps/v1',
    kind: 'ReplicaSet',
    metadata: { name, labels: { app: name } },
    spec: {
      replicas,
      ...extra,
      selector: { matchLabels: { app: name } },
      template: {
        metadata: { labels: { app: name, tier: 'front' }, annotations: { note: 'from-template' } },
        spec: { containers: [{ name: 'app', image: 'busybox:1.36' }] },
      },
    },
  };
}

function orphanPod(name: string, labels: Record<string, string>, nodeName?: string): StoredObject {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, labels },
    spec: {
      ...(nodeName === undefined ? {} : { nodeName }),
      containers: [{ name: 'app', image: 'busybox:1.36' }],
    },
  };
}

async function setReplicas(f: { storage: ResourceStorage }, name: string, replicas: number): Promise<void> {
  await updateObject(f.storage, replicaSetsResource, { namespace: 'default', name }, (o) => {
    (o.spec as { replicas: number }).replicas = replicas;
    return true;
  });
}

/** A fixture running only the ReplicaSet controller, with a handle on the controller itself. */
async function withReplicaSets(
  fn: (f: ControllerFixture, clock: FakeClock, rsc: () => ReplicaSetController) => Promise<void>,
  opts: ReplicaSetControllerOptions = {},
): Promise<void> {
  const clock = new FakeClock();
  let rsc: ReplicaSetController | undefined;
  const descriptor: ControllerDescriptor = {
    name: 'replicaset-controller',
    create: (ctx) => (rsc = new ReplicaSetController(ctx, opts)),
  };
  const f = await startControllerFixture({ controllers: [descriptor], clock });
  try {
    await fn(f, clock, () => rsc!);
  } finally {
    await f.close();
  }
}

/** Active pods owned by the ReplicaSet `name`, once it is cached with that uid. */
async function ownedPods(f: ControllerFixture, name: string): Promise<Pod[]> {
  const rs = await getReplicaSet(f.storage, name);
  return podsOf(f.storage, rs.metadata.uid ?? '');
}

describe('replicaset controller', () => {
  it('creates pods to match spec.replicas, from the template, owned by the ReplicaSet', () =>
    withReplicaSets(async (f) => {
      const rs = await f.storage.create(replicaSetsResource, 'default', replicaSet('web', 3));
      await eventually('3 pods', async () => (await ownedPods(f, 'web')).length === 3);
      const pods = await ownedPods(f, 'web');
      for (const pod of pods) {
        assert.match(pod.metadata.name ?? '', GENERATED_NAME);
        assert.equal(pod.metadata.generateName, 'web-');
        assert.deepEqual(pod.metadata.labels, { app: 'web', tier: 'front' });
        assert.equal(pod.metadata.annotations?.['note'], 'from-template');
        assert.deepEqual(pod.metadata.ownerReferences, [
          {
            apiVersion: 'apps/v1',
            kind: 'ReplicaSet',
            name: 'web',
            uid: rs.metadata.uid,
            controller: true,
            blockOwnerDeletion: true,
          },
        ]);
        assert.equal((pod.spec?.['containers'] as { image: string }[])[0]?.image, 'busybox:1.36');
      }
      await eventually('status observed', async () => {
        const s = (await getReplicaSet(f.storage, 'web')).status;
        return s?.replicas === 3 && s.fullyLabeledReplicas === 3 && s.observedGeneration === 1;
      });
      const status = (await getReplicaSet(f.storage, 'web')).status;
      assert.equal(status?.readyReplicas, undefined, 'nothing ready: left out, as omitempty does');
      await f.manager.events.flush();
      const events = await eventsAbout(f.storage, 'web');
      assert.deepEqual(
        events.filter((e) => e.startsWith('SuccessfulCreate')).sort(),
        pods.map((p) => `SuccessfulCreate: Created pod: ${p.metadata.name ?? ''}`).sort(),
      );
    }));

  it('deletes pods when scaled down and replaces pods that go away', () =>
    withReplicaSets(async (f) => {
      await f.storage.create(replicaSetsResource, 'default', replicaSet('web', 3));
      await eventually('3 pods', async () => (await ownedPods(f, 'web')).length === 3);
      await setReplicas(f, 'web', 1);
      await eventually('1 pod', async () => (await listPods(f.storage)).length === 1);
      await eventually(
        'status 1',
        async () => (await getReplicaSet(f.storage, 'web')).status?.replicas === 1,
      );
      const [survivor] = await ownedPods(f, 'web');
      await f.storage.delete(podsResource, 'default', survivor?.metadata.name ?? '');
      await eventually('replaced', async () => {
        const pods = await ownedPods(f, 'web');
        return pods.length === 1 && pods[0]?.metadata.name !== survivor?.metadata.name;
      });
      await f.manager.events.flush();
      const deleted = (await eventsAbout(f.storage, 'web')).filter((e) => e.startsWith('SuccessfulDelete'));
      assert.equal(deleted.length, 2);
      assert.match(deleted[0] ?? '', /^SuccessfulDelete: Deleted pod: web-[a-z0-9]{5}$/);
    }));

  it('adopts matching orphans and releases pods whose labels stop matching', () =>
    withReplicaSets(async (f) => {
      const foreignOwner = { apiVersion: 'v1', kind: 'ConfigMap', name: 'x', uid: 'other', controller: true };
      await f.storage.create(podsResource, 'default', orphanPod('orphan-1', { app: 'web' }));
      await f.storage.create(podsResource, 'default', orphanPod('unrelated', { app: 'db' }));
      await f.storage.create(podsResource, 'default', {
        ...orphanPod('someone-elses', { app: 'web' }),
        metadata: { name: 'someone-elses', labels: { app: 'web' }, ownerReferences: [foreignOwner] },
      });
      const rs = await f.storage.create(replicaSetsResource, 'default', replicaSet('web', 2));
      await eventually('2 pods, one adopted', async () => (await ownedPods(f, 'web')).length === 2);
      const owned = (await ownedPods(f, 'web')).map((p) => p.metadata.name);
      assert.ok(owned.includes('orphan-1'), `adopted: ${owned.join(',')}`);
      const adopted = (await listPods(f.storage)).find((p) => p.metadata.name === 'orphan-1');
      assert.deepEqual(controllerRefOf(adopted!), {
        apiVersion: 'apps/v1',
        kind: 'ReplicaSet',
        name: 'web',
        uid: rs.metadata.uid,
        controller: true,
        blockOwnerDeletion: true,
      });
      const others = await listPods(f.storage);
      assert.equal(controllerRefOf(others.find((p) => p.metadata.name === 'unrelated')!), undefined);
      assert.equal(controllerRefOf(others.find((p) => p.metadata.name === 'someone-elses')!)?.uid, 'other');

      // Relabelled out of the selector: released (reference removed) and replaced.
      await updateObject(f.storage, podsResource, { namespace: 'default', name: 'orphan-1' }, (p) => {
        p.metadata.labels = { app: 'debugging' };
        return true;
      });
      await eventually('released and replaced', async () => {
        const pods = await ownedPods(f, 'web');
        return pods.length === 2 && !pods.some((p) => p.metadata.name === 'orphan-1');
      });
      await eventually('reference removed', async () => {
        const p = (await listPods(f.storage)).find((x) => x.metadata.name === 'orphan-1');
        return p !== undefined && p.metadata.ownerReferences === undefined;
      });
    }));

  it('deletes unscheduled, then not-ready, then most recently ready pods first', () =>
    withReplicaSets(async (f, clock) => {
      // Four orphans the ReplicaSet adopts: their state decides the order of deletion.
      const make = async (name: string, node: string | undefined, state: 'pending' | 'running' | 'ready') => {
        const pod = await f.storage.create(podsResource, 'default', orphanPod(name, { app: 'web' }, node));
        if (state === 'running') await markPodRunning(f.storage, pod, clock);
        if (state === 'ready') await markPodReady(f.storage, pod, clock);
      };
      await make('ready-old', 'n1', 'ready');
      await clock.advance(60_000);
      await make('ready-new', 'n2', 'ready');
      await make('not-ready', 'n3', 'running');
      await make('unscheduled', undefined, 'pending');
      await f.storage.create(replicaSetsResource, 'default', replicaSet('web', 4));
      await eventually('all adopted', async () => (await ownedPods(f, 'web')).length === 4);
      const survivors = async () => (await ownedPods(f, 'web')).map((p) => p.metadata.name).sort();
      await setReplicas(f, 'web', 3);
      await eventually('unscheduled first', async () => !(await survivors()).includes('unscheduled'));
      await setReplicas(f, 'web', 2);
      await eventually('then the not-ready one', async () => !(await survivors()).includes('not-ready'));
      await setReplicas(f, 'web', 1);
      await eventually('then the newest ready', async () => (await survivors()).length === 1);
      assert.deepEqual(await survivors(), ['ready-old']);
      // Bound pods terminate gracefully: they stay, with a deletionTimestamp, until an agent confirms.
      const notReady = (await listPods(f.storage)).find((p) => p.metadata.name === 'not-ready');
      assert.ok(notReady?.metadata.deletionTimestamp);
      await eventually('terminating pods not counted', async () => {
        return (await getReplicaSet(f.storage, 'web')).status?.replicas === 1;
      });
    }));

  it('counts pods available only after minReadySeconds of readiness, on the injected clock', () =>
    withReplicaSets(async (f, clock) => {
      await f.storage.create(replicaSetsResource, 'default', replicaSet('web', 2, { minReadySeconds: 10 }));
      await eventually('2 pods', async () => (await ownedPods(f, 'web')).length === 2);
      for (const pod of await ownedPods(f, 'web')) await markPodReady(f.storage, pod, clock);
      await eventually(
        'ready',
        async () => (await getReplicaSet(f.storage, 'web')).status?.readyReplicas === 2,
      );
      assert.equal((await getReplicaSet(f.storage, 'web')).status?.availableReplicas, undefined);
      await clock.advance(9_000);
      await new Promise((r) => setTimeout(r, 100));
      assert.equal((await getReplicaSet(f.storage, 'web')).status?.availableReplicas, undefined, 'not yet');
      await clock.advance(1_001);
      await eventually('available after 10 s', async () => {
        return (await getReplicaSet(f.storage, 'web')).status?.availableReplicas === 2;
      });
    }));
});

/** A storage whose pod creates fail while `failing` says so, counting every attempt. */
class FlakyStorage extends ResourceStorage {
  attempts = 0;
  failing: (attempt: number) => boolean = () => false;

  override async create(r: ResourceInfo, ns: string | undefined, obj: StoredObject, opts?: WriteOptions) {
    if (r.kind === 'Pod') {
      this.attempts++;
      if (this.failing(this.attempts)) throw new ApiError(internalError(new Error('etcd is on fire')));
    }
    return super.create(r, ns, obj, opts);
  }
}

interface Manual {
  storage: ResourceStorage;
  informers: InformerFactory;
  rsc: ReplicaSetController;
  events: EventBroadcaster;
  clock: FakeClock;
  abort: AbortController;
}

/** A ReplicaSet controller built by hand (no manager), so tests can call `reconcile` directly. */
async function manual(
  store: Store,
  storage: ResourceStorage,
  fn: (m: Manual) => Promise<void>,
): Promise<void> {
  const clock = new FakeClock();
  const abort = new AbortController();
  const informers = new InformerFactory({ store, clock, logger: silentLogger() });
  const events = new EventBroadcaster({ storage, clock, logger: silentLogger() });
  const ctx: ControllerContext = {
    storage,
    informers,
    clock,
    logger: silentLogger(),
    events: events.recorder('replicaset-controller'),
    metrics: createMetricsRegistry({ processMetrics: false }),
    newQueue: <K>(name?: string) => new WorkQueue<K>({ name: name ?? 'rs', clock }),
  };
  try {
    await storage.create(requireResource('', 'v1', 'namespaces'), undefined, {
      apiVersion: 'v1',
      kind: 'Namespace',
      metadata: { name: 'default' },
    });
    const rsc = new ReplicaSetController(ctx);
    informers.start(abort.signal);
    await informers.waitForSync(abort.signal);
    await fn({ storage, informers, rsc, events, clock, abort });
  } finally {
    // A paused watch would never end.
    if (store instanceof GatedStore) store.resume();
    abort.abort();
    await informers.stopped();
    await events.close();
    await store.close();
  }
}

describe('replicaset controller expectations and slow start', () => {
  it('never over-creates while its own pods are not yet in the informer cache', async () => {
    const store = new GatedStore(openSqliteStore({ path: ':memory:' }));
    const storage = new ResourceStorage({ store, clock: new FakeClock(), admission: defaultAdmission });
    await manual(store, storage, async ({ informers, rsc, clock }) => {
      const rs = await storage.create(replicaSetsResource, 'default', replicaSet('web', 4));
      const rsInformer = informers.informerFor(replicaSetsResource);
      const podInformer = informers.informerFor(podsResource);
      await eventually('rs cached', () => rsInformer.get('default', 'web') !== undefined);
      // Freeze the pod cache: the marker gets through, then nothing until resume().
      store.pause();
      await storage.create(podsResource, 'default', orphanPod('marker', { app: 'other' }));
      await eventually('marker cached', () => podInformer.get('default', 'marker') !== undefined);

      await rsc.reconcile('default/web');
      const owned = async () => (await podsOf(storage, rs.metadata.uid ?? '')).length;
      assert.equal(await owned(), 4);
      assert.deepEqual(rsc.expectations.pending('default/web'), { add: 4, del: 0 });
      // A burst of reconciles against a cache that still shows no pods.
      for (let i = 0; i < 5; i++) await rsc.reconcile('default/web');
      assert.equal(await owned(), 4, 'no pod created while creations are unobserved');
      assert.equal(podInformer.size, 1, 'the cache is still stale');

      // The check that makes this test honest: once the expectations expire, a stale cache does over-create.
      await clock.advance(5 * 60 * 1000 + 1);
      await rsc.reconcile('default/web');
      assert.equal(await owned(), 8, 'expired expectations let the stale cache over-create');

      store.resume();
      await eventually('cache caught up', () => podInformer.size === 9);
      assert.equal(rsc.expectations.satisfied('default/web'), true);
      await rsc.reconcile('default/web');
      assert.equal(await owned(), 4, 'the extra pods are deleted once seen');
      const pending = rsc.expectations.pending('default/web');
      assert.ok(pending !== undefined && pending.add === 0 && pending.del <= 4, JSON.stringify(pending));
      await eventually('deletions observed', () => rsc.expectations.satisfied('default/web'));
      await rsc.reconcile('default/web');
      assert.equal(await owned(), 4);
    });
  });

  it('creates in slow-start batches of 1, 2, 4, … and stops at the first failing batch', async () => {
    const store = openSqliteStore({ path: ':memory:' });
    const storage = new FlakyStorage({ store, clock: new FakeClock(), admission: defaultAdmission });
    await manual(store, storage, async ({ informers, rsc, events }) => {
      storage.failing = (n) => n > 3;
      await storage.create(replicaSetsResource, 'default', replicaSet('web', 10));
      const rsInformer = informers.informerFor(replicaSetsResource);
      await eventually('rs cached', () => rsInformer.get('default', 'web') !== undefined);
      await assert.rejects(rsc.reconcile('default/web'), /etcd is on fire/);
      // Batches 1 and 2 succeed (3 pods); the batch of 4 fails; the last 3 are never attempted.
      assert.equal(storage.attempts, 7);
      assert.equal((await listPods(storage)).length, 3);
      // The 7 creations that never happened are not awaited (the cache may have seen some of the 3).
      const pending = rsc.expectations.pending('default/web');
      assert.ok(pending !== undefined && pending.add >= 0 && pending.add <= 3, JSON.stringify(pending));
      const status = (await getReplicaSet(storage, 'web')).status;
      const failure = status?.conditions?.find((c) => c.type === 'ReplicaFailure');
      assert.equal(failure?.reason, 'FailedCreate');
      assert.match(failure.message ?? '', /etcd is on fire/);
      await events.flush();
      const failed = (await eventsAbout(storage, 'web')).filter((e) => e.startsWith('FailedCreate'));
      assert.ok(failed.length >= 1);
      assert.match(failed[0] ?? '', /^FailedCreate: Error creating: .*etcd is on fire/);

      storage.failing = () => false;
      await eventually('creations observed', () => rsc.expectations.satisfied('default/web'));
      await rsc.reconcile('default/web');
      assert.equal((await listPods(storage)).length, 10);
      await eventually('cache caught up', () => informers.informerFor(podsResource).size === 10);
      await rsc.reconcile('default/web');
      const after = (await getReplicaSet(storage, 'web')).status;
      assert.equal(after?.replicas, 10);
      assert.equal(after.conditions, undefined, 'ReplicaFailure cleared');
    });
  });
});

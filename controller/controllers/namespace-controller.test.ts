import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { StoredObject } from '../../api/object.js';
import type { ResourceStorage } from '../apiserver/resource-storage.js';
import { garbageCollectorController } from './garbage-collector.js';
import { requireResource } from './informer-factory.js';
import { conditionsFor, mergeConditions, type NamespaceCondition } from './namespace-conditions.js';
import { namespaceController } from './namespace-controller.js';
import { removeFinalizer, updateObject } from './object-writes.js';
import { eventually, startControllerFixture, type ControllerFixture } from './testing/controller-fixture.js';

const namespaces = requireResource('', 'v1', 'namespaces');
const configmaps = requireResource('', 'v1', 'configmaps');
const secrets = requireResource('', 'v1', 'secrets');
const pods = requireResource('', 'v1', 'pods');
const nodes = requireResource('', 'v1', 'nodes');
const deployments = requireResource('apps', 'v1', 'deployments');

async function withControllers(fn: (f: ControllerFixture) => Promise<void>): Promise<void> {
  const f = await startControllerFixture({
    controllers: [garbageCollectorController(), namespaceController({ maxRequeueMs: 1000 })],
  });
  try {
    await fn(f);
  } finally {
    await f.close();
  }
}

function pod(storage: ResourceStorage, ns: string, name: string, nodeName?: string): Promise<StoredObject> {
  return storage.create(pods, ns, {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name },
    spec: {
      containers: [{ name: 'c', image: 'busybox' }],
      ...(nodeName === undefined ? {} : { nodeName }),
    },
  });
}

async function namespace(storage: ResourceStorage, name: string): Promise<void> {
  await storage.create(namespaces, undefined, { apiVersion: 'v1', kind: 'Namespace', metadata: { name } });
}

function conditions(ns: StoredObject | undefined): NamespaceCondition[] {
  return ((ns?.status ?? {}) as { conditions?: NamespaceCondition[] }).conditions ?? [];
}

describe('namespace controller', () => {
  it('deletes everything in a terminating namespace, then the namespace', () =>
    withControllers(async (f) => {
      await namespace(f.storage, 'doomed');
      await f.storage.create(configmaps, 'doomed', {
        apiVersion: 'v1',
        kind: 'ConfigMap',
        metadata: { name: 'c' },
      });
      await f.storage.create(secrets, 'doomed', {
        apiVersion: 'v1',
        kind: 'Secret',
        metadata: { name: 's' },
      });
      await pod(f.storage, 'doomed', 'unbound');
      await f.storage.create(deployments, 'doomed', {
        apiVersion: 'apps/v1',
        kind: 'Deployment',
        metadata: { name: 'd' },
        spec: {
          selector: { matchLabels: { a: 'b' } },
          template: { metadata: { labels: { a: 'b' } }, spec: { containers: [{ name: 'c', image: 'x' }] } },
        },
      });
      await f.storage.create(configmaps, 'default', {
        apiVersion: 'v1',
        kind: 'ConfigMap',
        metadata: { name: 'c' },
      });
      const result = await f.storage.delete(namespaces, undefined, 'doomed');
      assert.equal(result.deleted, false, 'the storage keeps the namespace for the controller');
      await eventually(
        'namespace gone',
        async () => (await f.find(namespaces, undefined, 'doomed')) === undefined,
      );
      for (const r of [configmaps, secrets, pods, deployments]) {
        assert.equal((await f.storage.list(r, 'doomed')).items.length, 0, r.plural);
      }
      assert.ok(await f.find(configmaps, 'default', 'c'), 'other namespaces are untouched');
    }));

  it('waits for content held by finalizers and says so in its conditions', () =>
    withControllers(async (f) => {
      await namespace(f.storage, 'held');
      await f.storage.create(configmaps, 'held', {
        apiVersion: 'v1',
        kind: 'ConfigMap',
        metadata: { name: 'sticky', finalizers: ['example.com/keep'] },
      });
      await f.storage.delete(namespaces, undefined, 'held');
      await eventually('conditions written', async () =>
        conditions(await f.find(namespaces, undefined, 'held')).some(
          (c) => c.type === 'NamespaceContentRemaining' && c.status === 'True',
        ),
      );
      const ns = await f.find(namespaces, undefined, 'held');
      const byType = new Map(conditions(ns).map((c) => [c.type, c]));
      assert.equal(byType.get('NamespaceContentRemaining')?.reason, 'SomeResourcesRemain');
      assert.equal(
        byType.get('NamespaceContentRemaining')?.message,
        'Some resources are remaining: configmaps has 1 resource instances',
      );
      assert.equal(byType.get('NamespaceFinalizersRemaining')?.status, 'True');
      assert.equal(
        byType.get('NamespaceFinalizersRemaining')?.message,
        'Some content in the namespace has finalizers remaining: example.com/keep in 1 resource instances',
      );
      assert.equal(byType.get('NamespaceDeletionContentFailure')?.status, 'False');
      assert.equal((ns?.status as { phase?: string }).phase, 'Terminating');
      assert.deepEqual((ns?.spec as { finalizers?: string[] }).finalizers, ['kubernetes']);
      await updateObject(f.storage, configmaps, { namespace: 'held', name: 'sticky' }, (o) =>
        removeFinalizer(o, 'example.com/keep'),
      );
      await eventually(
        'namespace gone after the finalizer',
        async () => (await f.find(namespaces, undefined, 'held')) === undefined,
      );
    }));

  it('force-deletes bound pods of a node that does not exist; waits for pods of a real node', () =>
    withControllers(async (f) => {
      await f.storage.create(nodes, undefined, {
        apiVersion: 'v1',
        kind: 'Node',
        metadata: { name: 'real' },
      });
      await namespace(f.storage, 'pods');
      await pod(f.storage, 'pods', 'on-ghost', 'ghost-node');
      await pod(f.storage, 'pods', 'on-real', 'real');
      await f.storage.delete(namespaces, undefined, 'pods');
      await eventually('ghost pod gone, real one terminating', async () => {
        const ghost = await f.find(pods, 'pods', 'on-ghost');
        const real = await f.find(pods, 'pods', 'on-real');
        return ghost === undefined && real?.metadata.deletionTimestamp !== undefined;
      });
      assert.equal((await f.find(pods, 'pods', 'on-real'))?.metadata.deletionGracePeriodSeconds, 30);
      assert.ok(await f.find(namespaces, undefined, 'pods'), 'the namespace waits for the graceful pod');
      // The node's agent confirms the stop (a delete with grace 0).
      await f.storage.delete(pods, 'pods', 'on-real', { gracePeriodSeconds: 0 });
      await eventually(
        'namespace gone',
        async () => (await f.find(namespaces, undefined, 'pods')) === undefined,
      );
    }));

  it('foreground deletion of a namespace keeps it until the content is gone', () =>
    withControllers(async (f) => {
      await namespace(f.storage, 'fg');
      await f.storage.create(configmaps, 'fg', {
        apiVersion: 'v1',
        kind: 'ConfigMap',
        metadata: { name: 'sticky', finalizers: ['example.com/keep'] },
      });
      await f.storage.delete(namespaces, undefined, 'fg', { propagationPolicy: 'Foreground' });
      await new Promise((r) => setTimeout(r, 300));
      assert.ok(await f.find(namespaces, undefined, 'fg'), 'not deleted while content remains');
      await updateObject(f.storage, configmaps, { namespace: 'fg', name: 'sticky' }, (o) =>
        removeFinalizer(o, 'example.com/keep'),
      );
      await eventually(
        'namespace gone',
        async () => (await f.find(namespaces, undefined, 'fg')) === undefined,
      );
    }));
});

describe('namespace conditions', () => {
  it('move lastTransitionTime only when status, reason or message change', () => {
    const remaining = conditionsFor({
      remainingByResource: new Map([
        ['pods', 2],
        ['configmaps', 1],
      ]),
      remainingByFinalizer: new Map(),
      failures: [],
    });
    const first = mergeConditions([], remaining, 't1');
    assert.equal(first.changed, true);
    assert.equal(first.conditions.length, 5);
    assert.equal(
      first.conditions.find((c) => c.type === 'NamespaceContentRemaining')?.message,
      'Some resources are remaining: configmaps has 1 resource instances, pods has 2 resource instances',
    );
    const same = mergeConditions(first.conditions, remaining, 't2');
    assert.equal(same.changed, false);
    assert.ok(same.conditions.every((c) => c.lastTransitionTime === 't1'));
    const done = mergeConditions(
      first.conditions,
      conditionsFor({ remainingByResource: new Map(), remainingByFinalizer: new Map(), failures: [] }),
      't3',
    );
    assert.equal(done.changed, true);
    const content = done.conditions.find((c) => c.type === 'NamespaceContentRemaining');
    assert.deepEqual(content, {
      type: 'NamespaceContentRemaining',
      status: 'False',
      reason: 'ContentRemoved',
      message: 'All content successfully removed',
      lastTransitionTime: 't3',
    });
    assert.equal(
      done.conditions.find((c) => c.type === 'NamespaceDeletionDiscoveryFailure')?.lastTransitionTime,
      't1',
    );
  });
});

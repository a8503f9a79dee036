import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { StoredObject } from '../../api/object.js';
import { FakeClock } from '../../lib/clock.js';
import { requireResource } from './informer-factory.js';
import { timestamp } from './node-health.js';
import { updateObject } from './object-writes.js';
import { podGcController, type PodGcOptions } from './pod-gc-controller.js';
import { eventually, startControllerFixture, type ControllerFixture } from './testing/controller-fixture.js';

const nodes = requireResource('', 'v1', 'nodes');
const pods = requireResource('', 'v1', 'pods');

async function withPodGc(
  opts: PodGcOptions,
  fn: (f: ControllerFixture, clock: FakeClock) => Promise<void>,
): Promise<void> {
  const clock = new FakeClock();
  const f = await startControllerFixture({ controllers: [podGcController(opts)], clock });
  try {
    await fn(f, clock);
  } finally {
    await f.close();
  }
}

function pod(name: string, nodeName?: string, extra: Partial<StoredObject['metadata']> = {}): StoredObject {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: 'default', ...extra },
    spec: {
      ...(nodeName === undefined ? {} : { nodeName }),
      containers: [{ name: 'c', image: 'busybox:1.36' }],
    },
  };
}

function node(name: string, ready: 'True' | 'Unknown', taints: unknown[] = []): StoredObject {
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: { name },
    spec: taints.length === 0 ? {} : { taints },
    status: { conditions: [{ type: 'Ready', status: ready }] },
  };
}

async function setPhase(f: ControllerFixture, name: string, phase: string): Promise<void> {
  await updateObject(
    f.storage,
    pods,
    { namespace: 'default', name },
    (p) => {
      p.status = { ...(p.status as object), phase };
      return true;
    },
    { subresource: 'status' },
  );
}

const settle = (ms = 150): Promise<void> => new Promise((r) => setTimeout(r, ms));
const exists = async (f: ControllerFixture, name: string): Promise<boolean> =>
  (await f.find(pods, 'default', name)) !== undefined;

describe('pod GC controller', () => {
  it('force-deletes pods bound to a node that does not exist, after the quarantine', () =>
    withPodGc({ periodMs: 1000, quarantineMs: 5000 }, async (f, clock) => {
      await f.storage.create(nodes, undefined, node('real', 'True'));
      await f.storage.create(pods, 'default', pod('orphan', 'ghost'));
      await f.storage.create(pods, 'default', pod('kept', 'real'));
      await f.storage.create(pods, 'default', pod('unbound'));
      for (let t = 0; t < 4000; t += 1000) {
        await clock.advance(1000);
        await settle(50);
      }
      assert.ok(await exists(f, 'orphan'), 'still in quarantine');
      for (let t = 0; t < 2000; t += 1000) {
        await clock.advance(1000);
        await settle(50);
      }
      await eventually('orphan deleted', async () => !(await exists(f, 'orphan')));
      assert.ok(await exists(f, 'kept'));
      assert.ok(await exists(f, 'unbound'));
    }));

  it('does not delete pods of a node that comes back within the quarantine', () =>
    withPodGc({ periodMs: 1000, quarantineMs: 5000 }, async (f, clock) => {
      await f.storage.create(pods, 'default', pod('p', 'late'));
      await clock.advance(3000);
      await settle();
      await f.storage.create(nodes, undefined, node('late', 'True'));
      for (let t = 0; t < 6000; t += 1000) {
        await clock.advance(1000);
        await settle(50);
      }
      assert.ok(await exists(f, 'p'));
    }));

  it('force-deletes terminating pods on an unreachable node once their grace period is over', () =>
    withPodGc({ periodMs: 1000 }, async (f, clock) => {
      const unreachable = [
        { key: 'node.kubernetes.io/unreachable', effect: 'NoExecute', timeAdded: timestamp(clock.now()) },
      ];
      await f.storage.create(nodes, undefined, node('gone-quiet', 'Unknown', unreachable));
      await f.storage.create(nodes, undefined, node('healthy', 'True'));
      await f.storage.create(pods, 'default', pod('stuck', 'gone-quiet'));
      await f.storage.create(pods, 'default', pod('stopping', 'healthy'));
      await f.storage.delete(pods, 'default', 'stuck', { gracePeriodSeconds: 10 });
      await f.storage.delete(pods, 'default', 'stopping', { gracePeriodSeconds: 10 });
      await clock.advance(5000);
      await settle();
      assert.ok(await exists(f, 'stuck'), 'its grace period is not over');
      await clock.advance(6000);
      await eventually('stuck pod force-deleted', async () => !(await exists(f, 'stuck')));
      await clock.advance(10_000);
      await settle();
      assert.ok(await exists(f, 'stopping'), "a Ready node's agent confirms its own pods");
    }));

  it('deletes the oldest terminated pods above the threshold', () =>
    withPodGc({ periodMs: 1000, terminatedPodThreshold: 2 }, async (f, clock) => {
      await f.storage.create(nodes, undefined, node('n', 'True'));
      for (const name of ['t1', 't2', 't3', 't4']) {
        await f.storage.create(pods, 'default', pod(name, 'n'));
        await setPhase(f, name, name === 't2' ? 'Failed' : 'Succeeded');
        await clock.advance(1000); // creation times one second apart
      }
      await f.storage.create(pods, 'default', pod('running', 'n'));
      await eventually(
        'two oldest deleted',
        async () => !(await exists(f, 't1')) && !(await exists(f, 't2')),
      );
      await clock.advance(3000);
      await settle();
      assert.ok(await exists(f, 't3'));
      assert.ok(await exists(f, 't4'));
      assert.ok(await exists(f, 'running'));
    }));
});

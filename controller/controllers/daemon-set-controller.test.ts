import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { StoredObject } from '../../api/object.js';
import { FakeClock } from '../../lib/clock.js';
import { daemonSetController } from './daemon-set-controller.js';
import { nodeShouldRunDaemonPod } from './daemon-set-pods.js';
import { requireResource } from './informer-factory.js';
import { updateObject } from './object-writes.js';
import { eventually, startControllerFixture, type ControllerFixture } from './testing/controller-fixture.js';
import { targetNodeName } from './workload-pods.js';

const nodes = requireResource('', 'v1', 'nodes');
const pods = requireResource('', 'v1', 'pods');
const daemonSets = requireResource('apps', 'v1', 'daemonsets');
const revisions = requireResource('apps', 'v1', 'controllerrevisions');
const events = requireResource('', 'v1', 'events');

function node(name: string, labels: Record<string, string> = {}, taints: unknown[] = []): StoredObject {
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: { name, labels },
    spec: taints.length === 0 ? {} : { taints },
    status: { conditions: [{ type: 'Ready', status: 'True' }] },
  };
}

function daemonSet(
  name: string,
  opts: {
    image?: string;
    nodeSelector?: Record<string, string>;
    strategy?: unknown;
    tolerations?: unknown[];
  } = {},
): StoredObject {
  return {
    apiVersion: 'apps/v1',
    kind: 'DaemonSet',
    metadata: { name, namespace: 'default' },
    spec: {
      selector: { matchLabels: { app: name } },
      ...(opts.strategy === undefined ? {} : { updateStrategy: opts.strategy }),
      template: {
        metadata: { labels: { app: name } },
        spec: {
          containers: [{ name: 'agent', image: opts.image ?? 'busybox:1.36' }],
          ...(opts.nodeSelector === undefined ? {} : { nodeSelector: opts.nodeSelector }),
          ...(opts.tolerations === undefined ? {} : { tolerations: opts.tolerations }),
        },
      },
    },
  };
}

async function withDs(fn: (f: ControllerFixture, clock: FakeClock) => Promise<void>): Promise<void> {
  const clock = new FakeClock();
  const f = await startControllerFixture({ controllers: [daemonSetController()], clock });
  try {
    await fn(f, clock);
  } finally {
    await f.close();
  }
}

async function dsPods(f: ControllerFixture, name = 'agent'): Promise<StoredObject[]> {
  const list = await f.storage.list(pods, 'default');
  return list.items.filter(
    (p) => p.metadata.ownerReferences?.some((r) => r.kind === 'DaemonSet' && r.name === name) === true,
  );
}

async function podNodes(f: ControllerFixture, name = 'agent'): Promise<string> {
  return (await dsPods(f, name))
    .filter((p) => p.metadata.deletionTimestamp === undefined)
    .map((p) => targetNodeName(p) ?? '?')
    .sort()
    .join(',');
}

async function status(f: ControllerFixture, name = 'agent'): Promise<Record<string, unknown>> {
  return ((await f.find(daemonSets, 'default', name))?.status ?? {}) as Record<string, unknown>;
}

/** What the scheduler and an agent would do: bind the pod to its node and report it Ready. */
async function runPod(f: ControllerFixture, p: StoredObject): Promise<void> {
  const ref = { namespace: 'default', name: p.metadata.name ?? '', uid: p.metadata.uid };
  await updateObject(
    f.storage,
    pods,
    ref,
    (x) => {
      x.status = {
        phase: 'Running',
        conditions: [{ type: 'Ready', status: 'True', lastTransitionTime: '2026-01-01T00:00:00Z' }],
      };
      return true;
    },
    { subresource: 'status' },
  );
}

const settle = (ms = 150): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('DaemonSet controller', () => {
  it('puts one pod on each eligible node, pinned by node affinity for the scheduler', () =>
    withDs(async (f) => {
      await f.storage.create(nodes, undefined, node('a', { disk: 'ssd' }));
      await f.storage.create(nodes, undefined, node('b', { disk: 'ssd' }));
      await f.storage.create(nodes, undefined, node('c', { disk: 'hdd' }));
      await f.storage.create(
        nodes,
        undefined,
        node('d', { disk: 'ssd' }, [{ key: 'dedicated', value: 'db', effect: 'NoSchedule' }]),
      );
      await f.storage.create(
        nodes,
        undefined,
        node('e', { disk: 'ssd' }, [{ key: 'node.kubernetes.io/unschedulable', effect: 'NoSchedule' }]),
      );
      await f.storage.create(daemonSets, 'default', daemonSet('agent', { nodeSelector: { disk: 'ssd' } }));
      await eventually('pods on a, b, e', async () => (await podNodes(f)) === 'a,b,e');
      const p = (await dsPods(f))[0];
      assert.ok(p);
      const spec = p.spec as {
        nodeName?: string;
        tolerations: { key: string; effect: string; operator: string; tolerationSeconds?: number }[];
        affinity: unknown;
      };
      assert.equal(spec.nodeName, undefined, 'the scheduler binds it');
      assert.deepEqual(spec.affinity, {
        nodeAffinity: {
          requiredDuringSchedulingIgnoredDuringExecution: {
            nodeSelectorTerms: [
              { matchFields: [{ key: 'metadata.name', operator: 'In', values: [targetNodeName(p)] }] },
            ],
          },
        },
      });
      const tolerated = spec.tolerations.map((t) => `${t.key}:${t.effect}`).sort();
      assert.deepEqual(tolerated, [
        'node.kubernetes.io/disk-pressure:NoSchedule',
        'node.kubernetes.io/memory-pressure:NoSchedule',
        'node.kubernetes.io/not-ready:NoExecute',
        'node.kubernetes.io/pid-pressure:NoSchedule',
        'node.kubernetes.io/unreachable:NoExecute',
        'node.kubernetes.io/unschedulable:NoSchedule',
      ]);
      assert.ok(spec.tolerations.every((t) => t.tolerationSeconds === undefined && t.operator === 'Exists'));
      assert.match(p.metadata.labels?.['controller-revision-hash'] ?? '', /^[bcdfghjklmnpqrstvwxz2456789]+$/);
      assert.equal(p.metadata.ownerReferences?.[0]?.controller, true);
      await eventually('status counts', async () => {
        const s = await status(f);
        return (
          s['desiredNumberScheduled'] === 3 &&
          s['currentNumberScheduled'] === 3 &&
          s['numberReady'] === 0 &&
          s['updatedNumberScheduled'] === 3 &&
          s['numberUnavailable'] === 3 &&
          s['numberMisscheduled'] === 0 &&
          s['observedGeneration'] === 1
        );
      });
      await eventually('SuccessfulCreate events', async () => {
        const list = await f.storage.list(events, 'default');
        return list.items.filter((e) => e['reason'] === 'SuccessfulCreate').length === 3;
      });
      const revs = await f.storage.list(revisions, 'default');
      assert.equal(revs.items.length, 1);
      assert.equal(revs.items[0]?.['revision'], 1);
    }));

  it('follows nodes: added, relabelled, tainted NoExecute, tainted NoSchedule, removed', () =>
    withDs(async (f) => {
      await f.storage.create(nodes, undefined, node('a', { role: 'edge' }));
      await f.storage.create(daemonSets, 'default', daemonSet('agent', { nodeSelector: { role: 'edge' } }));
      await eventually('pod on a', async () => (await podNodes(f)) === 'a');
      await f.storage.create(nodes, undefined, node('b', { role: 'edge' }));
      await eventually('pod on b once added', async () => (await podNodes(f)) === 'a,b');
      await f.storage.create(nodes, undefined, node('c', {}));
      await settle();
      assert.equal(await podNodes(f), 'a,b', 'c does not match the selector');
      await updateObject(f.storage, nodes, { name: 'c' }, (n) => {
        n.metadata.labels = { role: 'edge' };
        return true;
      });
      await eventually('pod on c once labelled', async () => (await podNodes(f)) === 'a,b,c');
      await updateObject(f.storage, nodes, { name: 'a' }, (n) => {
        n.metadata.labels = {};
        return true;
      });
      await eventually('pod off a once unlabelled', async () => (await podNodes(f)) === 'b,c');
      // NoSchedule: an existing pod may stay.
      await updateObject(f.storage, nodes, { name: 'b' }, (n) => {
        n.spec = { taints: [{ key: 'maintenance', effect: 'NoSchedule' }] };
        return true;
      });
      await settle();
      assert.equal(await podNodes(f), 'b,c');
      await eventually('misscheduled? no: desired drops, pod kept', async () => {
        const s = await status(f);
        return s['desiredNumberScheduled'] === 1 && s['numberMisscheduled'] === 1;
      });
      // NoExecute: it must go.
      await updateObject(f.storage, nodes, { name: 'b' }, (n) => {
        n.spec = { taints: [{ key: 'maintenance', effect: 'NoExecute' }] };
        return true;
      });
      await eventually('pod off b once tainted NoExecute', async () => (await podNodes(f)) === 'c');
      await f.storage.delete(nodes, undefined, 'c');
      await eventually('unbound pod for removed node c deleted', async () => (await podNodes(f)) === '');
    }));

  it('rolls a new template out one node at a time (maxUnavailable 1), with revisions', () =>
    withDs(async (f) => {
      for (const n of ['a', 'b', 'c']) await f.storage.create(nodes, undefined, node(n));
      await f.storage.create(daemonSets, 'default', daemonSet('agent'));
      await eventually('three pods', async () => (await dsPods(f)).length === 3);
      for (const p of await dsPods(f)) await runPod(f, p);
      await eventually('all available', async () => (await status(f))['numberAvailable'] === 3);
      const oldHash = (await dsPods(f))[0]?.metadata.labels?.['controller-revision-hash'];
      await updateObject(f.storage, daemonSets, { namespace: 'default', name: 'agent' }, (d) => {
        const spec = d.spec as { template: { spec: { containers: { image: string }[] } } };
        (spec.template.spec.containers[0] as { image: string }).image = 'busybox:1.37';
        return true;
      });
      const hashes = async (): Promise<string[]> =>
        (await dsPods(f)).map((p) => p.metadata.labels?.['controller-revision-hash'] ?? '');
      await eventually(
        'one pod replaced',
        async () => (await hashes()).filter((h) => h !== oldHash).length === 1,
      );
      await settle();
      const h1 = await hashes();
      assert.equal(
        h1.filter((h) => h === oldHash).length,
        2,
        'the other two wait while the new pod is unavailable',
      );
      // The new pod becomes available: the next one goes, and so on.
      for (let round = 2; round <= 3; round++) {
        for (const p of await dsPods(f))
          if (p.metadata.labels?.['controller-revision-hash'] !== oldHash) await runPod(f, p);
        await eventually(
          `round ${round}`,
          async () => (await hashes()).filter((h) => h !== oldHash).length === round,
        );
      }
      for (const p of await dsPods(f)) await runPod(f, p);
      await eventually('rolled out', async () => {
        const s = await status(f);
        return (
          s['updatedNumberScheduled'] === 3 && s['numberAvailable'] === 3 && s['observedGeneration'] === 2
        );
      });
      const revs = (await f.storage.list(revisions, 'default')).items.map((r) => r['revision']).sort();
      assert.deepEqual(revs, [1, 2]);
    }));

  it('OnDelete: a new template reaches only pods that are deleted', () =>
    withDs(async (f) => {
      for (const n of ['a', 'b']) await f.storage.create(nodes, undefined, node(n));
      await f.storage.create(daemonSets, 'default', daemonSet('agent', { strategy: { type: 'OnDelete' } }));
      await eventually('two pods', async () => (await dsPods(f)).length === 2);
      const before = await dsPods(f);
      await updateObject(f.storage, daemonSets, { namespace: 'default', name: 'agent' }, (d) => {
        const spec = d.spec as { template: { metadata: { labels: Record<string, string> } } };
        spec.template.metadata.labels['v'] = '2';
        return true;
      });
      await eventually(
        'new revision',
        async () => (await f.storage.list(revisions, 'default')).items.length === 2,
      );
      await settle();
      assert.deepEqual(
        (await dsPods(f)).map((p) => p.metadata.name).sort(),
        before.map((p) => p.metadata.name).sort(),
        'nothing replaced by itself',
      );
      const victim = before[0];
      assert.ok(victim);
      await f.storage.delete(pods, 'default', victim.metadata.name ?? '');
      await eventually('replacement has the new template', async () => {
        const now = await dsPods(f);
        return (
          now.length === 2 &&
          now.some((p) => p.metadata.labels?.['v'] === '2' && targetNodeName(p) === targetNodeName(victim))
        );
      });
    }));

  it('decides eligibility like NodeShouldRunDaemonPod', () => {
    const ds = daemonSet('x', { tolerations: [{ key: 'gpu', operator: 'Exists', effect: 'NoExecute' }] });
    assert.deepEqual(nodeShouldRunDaemonPod(node('n'), ds), { shouldRun: true, shouldContinueRunning: true });
    assert.deepEqual(nodeShouldRunDaemonPod(node('n', {}, [{ key: 'gpu', effect: 'NoExecute' }]), ds), {
      shouldRun: true,
      shouldContinueRunning: true,
    });
    assert.deepEqual(nodeShouldRunDaemonPod(node('n', {}, [{ key: 'other', effect: 'NoSchedule' }]), ds), {
      shouldRun: false,
      shouldContinueRunning: true,
    });
    assert.deepEqual(nodeShouldRunDaemonPod(node('n', {}, [{ key: 'other', effect: 'NoExecute' }]), ds), {
      shouldRun: false,
      shouldContinueRunning: false,
    });
    // An unreachable node keeps its daemon pod (NoExecute tolerated forever) but gets no new one.
    const unreachable = [
      { key: 'node.kubernetes.io/unreachable', effect: 'NoExecute' },
      { key: 'node.kubernetes.io/unreachable', effect: 'NoSchedule' },
    ];
    assert.deepEqual(nodeShouldRunDaemonPod(node('n', {}, unreachable), ds), {
      shouldRun: false,
      shouldContinueRunning: true,
    });
  });
});

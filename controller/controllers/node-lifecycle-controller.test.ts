import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { StoredObject } from '../../api/object.js';
import { FakeClock } from '../../lib/clock.js';
import type { ControllerDescriptor } from './controller-manager.js';
import { requireResource } from './informer-factory.js';
import { NodeLifecycleController, type NodeLifecycleOptions } from './node-lifecycle-controller.js';
import { nodeTaints, readyCondition, timestamp } from './node-health.js';
import { updateObject } from './object-writes.js';
import { eventually, startControllerFixture, type ControllerFixture } from './testing/controller-fixture.js';

const nodes = requireResource('', 'v1', 'nodes');
const pods = requireResource('', 'v1', 'pods');
const events = requireResource('', 'v1', 'events');

interface Harness {
  readonly f: ControllerFixture;
  readonly clock: FakeClock;
  readonly heard: Map<string, number>;
  readonly controller: () => NodeLifecycleController;
}

async function withLifecycle(
  opts: NodeLifecycleOptions & { nodes?: { name: string; zone?: string }[] },
  fn: (h: Harness) => Promise<void>,
): Promise<void> {
  const clock = new FakeClock();
  const heard = new Map<string, number>();
  let controller: NodeLifecycleController | undefined;
  const descriptor: ControllerDescriptor = {
    name: 'node-lifecycle-controller',
    create: (ctx) =>
      (controller = new NodeLifecycleController(ctx, {
        heartbeats: { lastHeartbeat: (n) => heard.get(n) },
        ...opts,
      })),
  };
  const f = await startControllerFixture({
    controllers: [descriptor],
    clock,
    before: async (storage) => {
      for (const n of opts.nodes ?? []) {
        await storage.create(nodes, undefined, readyNode(n.name, clock.now(), n.zone));
        heard.set(n.name, clock.now());
      }
    },
  });
  try {
    await fn({
      f,
      clock,
      heard,
      controller: () => {
        assert.ok(controller);
        return controller;
      },
    });
  } finally {
    await f.close();
  }
}

function readyNode(name: string, nowMs: number, zone?: string): StoredObject {
  const at = timestamp(nowMs);
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: { name, labels: zone === undefined ? {} : { 'topology.kubernetes.io/zone': zone } },
    spec: {},
    status: {
      conditions: [
        {
          type: 'Ready',
          status: 'True',
          reason: 'KubeletReady',
          lastHeartbeatTime: at,
          lastTransitionTime: at,
        },
      ],
    },
  };
}

function boundPod(name: string, node: string, tolerations?: unknown[]): StoredObject {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: 'default' },
    spec: {
      nodeName: node,
      containers: [{ name: 'c', image: 'busybox:1.36' }],
      ...(tolerations === undefined ? {} : { tolerations }),
    },
  };
}

/** What the agent gateway's registrar writes on a heartbeat: Ready=True with a fresh heartbeat time. */
async function postReady(h: Harness, name: string): Promise<void> {
  h.heard.set(name, h.clock.now());
  await updateObject(
    h.f.storage,
    nodes,
    { name },
    (n) => {
      const at = timestamp(h.clock.now());
      n.status = {
        conditions: [
          {
            type: 'Ready',
            status: 'True',
            reason: 'KubeletReady',
            lastHeartbeatTime: at,
            lastTransitionTime: at,
          },
        ],
      };
      return true;
    },
    { subresource: 'status' },
  );
}

async function node(h: Harness, name: string): Promise<StoredObject> {
  const n = await h.f.find(nodes, undefined, name);
  assert.ok(n, `node ${name}`);
  return n;
}

async function ready(h: Harness, name: string): Promise<string | undefined> {
  return readyCondition(await node(h, name))?.status;
}

async function taints(h: Harness, name: string): Promise<string[]> {
  return nodeTaints(await node(h, name))
    .map((t) => `${t.key}:${t.effect}`)
    .sort();
}

async function noExecuteCount(h: Harness, names: string[]): Promise<number> {
  let n = 0;
  for (const name of names) if ((await taints(h, name)).some((t) => t.endsWith(':NoExecute'))) n++;
  return n;
}

/** Lets the controllers' asynchronous work (informer events, reconciles) run in real time. */
function settle(ms = 150): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

describe('node-lifecycle controller', () => {
  it('marks a silent node Unknown after the grace period, taints it, and untaints it when it is back', () =>
    withLifecycle({ gracePeriodMs: 8000, nodes: [{ name: 'n1' }, { name: 'n2' }] }, async (h) => {
      await settle();
      await h.clock.advance(7000);
      h.heard.set('n2', h.clock.now());
      await settle();
      assert.equal(await ready(h, 'n1'), 'True', 'still within the grace period');
      await h.clock.advance(1500);
      h.heard.set('n2', h.clock.now());
      await eventually('marked Unknown', async () => (await ready(h, 'n1')) === 'Unknown');
      assert.equal(await ready(h, 'n2'), 'True');
      const cond = readyCondition(await node(h, 'n1'));
      assert.equal(cond?.reason, 'NodeStatusUnknown');
      assert.equal(cond.message, 'Kubelet stopped posting node status.');
      await eventually(
        'tainted unreachable',
        async () =>
          (await taints(h, 'n1')).join() ===
          'node.kubernetes.io/unreachable:NoExecute,node.kubernetes.io/unreachable:NoSchedule',
      );
      const noExecute = nodeTaints(await node(h, 'n1')).find((t) => t.effect === 'NoExecute');
      assert.ok(noExecute?.timeAdded, 'a NoExecute taint says when it was added');
      await eventually('NodeNotReady event', async () => {
        const list = await h.f.storage.list(events, 'default');
        return list.items.some((e) => e['reason'] === 'NodeNotReady');
      });

      await postReady(h, 'n1');
      await eventually('taints removed once Ready again', async () => (await taints(h, 'n1')).length === 0);
      assert.equal(await ready(h, 'n1'), 'True');
    }));

  it('does not mark a node whose heartbeats pause for less than the grace period (SIGSTOP 3 s)', () =>
    withLifecycle({ gracePeriodMs: 8000, nodes: [{ name: 'n1' }] }, async (h) => {
      await settle();
      // Heartbeats every 2 s, then a 3 s pause on top of the interval (5 s silent), then more.
      for (const step of [2000, 2000, 5000, 2000, 2000, 7000, 2000]) {
        await h.clock.advance(step);
        h.heard.set('n1', h.clock.now());
        await settle(30);
      }
      await h.clock.advance(7000);
      await settle();
      assert.equal(await ready(h, 'n1'), 'True');
      assert.deepEqual(await taints(h, 'n1'), []);
    }));

  it('counts heartbeats written to the Node when no in-memory source has them', () =>
    withLifecycle(
      { gracePeriodMs: 8000, heartbeats: { lastHeartbeat: () => undefined }, nodes: [{ name: 'n1' }] },
      async (h) => {
        await settle();
        for (let i = 0; i < 4; i++) {
          await h.clock.advance(5000);
          await postReady(h, 'n1');
          await settle(50);
        }
        assert.equal(await ready(h, 'n1'), 'True');
        await h.clock.advance(9000);
        await eventually(
          'Unknown without stored heartbeats',
          async () => (await ready(h, 'n1')) === 'Unknown',
        );
      },
    ));

  it('taints not-ready when the agent reports Ready=False, and marks pods on a not-ready node NotReady', () =>
    withLifecycle({ gracePeriodMs: 8000, nodes: [{ name: 'n1' }, { name: 'n2' }] }, async (h) => {
      const pod = await h.f.storage.create(pods, 'default', boundPod('p', 'n1'));
      await updateObject(
        h.f.storage,
        pods,
        { namespace: 'default', name: 'p', uid: pod.metadata.uid },
        (p) => {
          p.status = { phase: 'Running', conditions: [{ type: 'Ready', status: 'True' }] };
          return true;
        },
        { subresource: 'status' },
      );
      await updateObject(
        h.f.storage,
        nodes,
        { name: 'n1' },
        (n) => {
          const at = timestamp(h.clock.now());
          n.status = {
            conditions: [
              { type: 'Ready', status: 'False', reason: 'KubeletNotReady', lastHeartbeatTime: at },
            ],
          };
          return true;
        },
        { subresource: 'status' },
      );
      await eventually(
        'not-ready taints',
        async () =>
          (await taints(h, 'n1')).join() ===
          'node.kubernetes.io/not-ready:NoExecute,node.kubernetes.io/not-ready:NoSchedule',
      );
      await eventually('pod marked not ready', async () => {
        const p = await h.f.find(pods, 'default', 'p');
        const conditions = (p?.status as { conditions?: { type: string; status: string }[] }).conditions;
        return conditions?.find((c) => c.type === 'Ready')?.status === 'False';
      });
    }));

  it('evicts pods once their toleration runs out: default 4 s, their own seconds, never without a limit', () =>
    withLifecycle(
      { gracePeriodMs: 8000, defaultTolerationSeconds: 4, nodes: [{ name: 'n1' }, { name: 'n2' }] },
      async (h) => {
        const unreachable = (seconds?: number) => [
          {
            key: 'node.kubernetes.io/unreachable',
            operator: 'Exists',
            effect: 'NoExecute',
            ...(seconds === undefined ? {} : { tolerationSeconds: seconds }),
          },
        ];
        const defaulted = await h.f.storage.create(pods, 'default', boundPod('defaulted', 'n1'));
        const own = await h.f.storage.create(pods, 'default', boundPod('own-30s', 'n1', unreachable(30)));
        await h.f.storage.create(pods, 'default', boundPod('forever', 'n1', unreachable()));
        await h.f.storage.create(pods, 'default', boundPod('elsewhere', 'n2'));
        await settle();
        // n2 keeps posting; n1 goes silent.
        for (let t = 0; t < 9000; t += 1000) {
          await h.clock.advance(1000);
          h.heard.set('n2', h.clock.now());
        }
        await eventually('n1 tainted NoExecute', async () =>
          (await taints(h, 'n1')).includes('node.kubernetes.io/unreachable:NoExecute'),
        );
        const ev = h.controller().taintEviction;
        await eventually(
          'evictions scheduled',
          () =>
            ev.evictionDue(defaulted.metadata.uid ?? '') !== undefined &&
            ev.evictionDue(own.metadata.uid ?? '') !== undefined,
        );
        const taintedAt = (ev.evictionDue(defaulted.metadata.uid ?? '') ?? 0) - 4000;
        assert.equal(ev.evictionDue(own.metadata.uid ?? ''), taintedAt + 30_000);
        await h.clock.advance(3000);
        h.heard.set('n2', h.clock.now());
        await settle();
        assert.ok(await h.f.find(pods, 'default', 'defaulted'), 'not before its 4 s');
        await h.clock.advance(1100);
        h.heard.set('n2', h.clock.now());
        // Bound to an unreachable node: force-deleted (grace 0), not left Terminating.
        await eventually(
          'defaulted pod evicted',
          async () => (await h.f.find(pods, 'default', 'defaulted')) === undefined,
        );
        assert.ok(await h.f.find(pods, 'default', 'own-30s'));
        for (let t = 0; t < 26_000; t += 2000) {
          await h.clock.advance(2000);
          h.heard.set('n2', h.clock.now());
        }
        await eventually(
          '30 s toleration evicted',
          async () => (await h.f.find(pods, 'default', 'own-30s')) === undefined,
        );
        assert.ok(await h.f.find(pods, 'default', 'forever'), 'an unlimited toleration keeps its pod');
        assert.ok(await h.f.find(pods, 'default', 'elsewhere'), 'pods on healthy nodes stay');
        await eventually('TaintManagerEviction events', async () => {
          const list = await h.f.storage.list(events, 'default');
          return list.items.filter((e) => e['reason'] === 'TaintManagerEviction').length === 2;
        });
      },
    ));

  it('does not evict when the node comes back within the toleration', () =>
    withLifecycle({ gracePeriodMs: 8000, nodes: [{ name: 'n1' }, { name: 'n2' }] }, async (h) => {
      await h.f.storage.create(pods, 'default', boundPod('p', 'n1'));
      await settle();
      for (let t = 0; t < 9000; t += 1000) {
        await h.clock.advance(1000);
        h.heard.set('n2', h.clock.now());
      }
      await eventually('n1 tainted', async () =>
        (await taints(h, 'n1')).includes('node.kubernetes.io/unreachable:NoExecute'),
      );
      await h.clock.advance(2000);
      await postReady(h, 'n1');
      await eventually('untainted', async () => (await taints(h, 'n1')).length === 0);
      await h.clock.advance(10_000);
      h.heard.set('n1', h.clock.now());
      h.heard.set('n2', h.clock.now());
      await settle();
      assert.ok(await h.f.find(pods, 'default', 'p'));
    }));

  it('rate-limits NoExecute taints per zone, slower in a partially disrupted zone', () => {
    const names = Array.from({ length: 10 }, (_, i) => `n${i}`);
    return withLifecycle(
      {
        gracePeriodMs: 8000,
        evictionRate: 1,
        secondaryEvictionRate: 0.1,
        nodes: [
          ...names.map((name) => ({ name, zone: 'a' })),
          ...names.map((n) => ({ name: `b-${n}`, zone: 'b' })),
        ],
      },
      async (h) => {
        // Zone a: 4 of 10 go silent (normal, 1 node/s). Zone b: 6 of 10 (partial, 0.1 node/s).
        const silentA = names.slice(0, 4);
        const silentB = names.slice(0, 6).map((n) => `b-${n}`);
        const alive = [...names.slice(4), ...names.slice(6).map((n) => `b-${n}`)];
        const beat = (): void => {
          for (const n of alive) h.heard.set(n, h.clock.now());
        };
        await settle();
        for (let t = 0; t < 9000; t += 1000) {
          await h.clock.advance(1000);
          beat();
        }
        await eventually('all silent nodes Unknown', async () => {
          for (const n of [...silentA, ...silentB]) if ((await ready(h, n)) !== 'Unknown') return false;
          return true;
        });
        await settle(300);
        assert.equal(await noExecuteCount(h, silentA), 1, 'zone a: one node at once');
        assert.equal(await noExecuteCount(h, silentB), 1, 'zone b: one node at once');
        for (let i = 0; i < 3; i++) {
          await h.clock.advance(1000);
          beat();
          await settle();
        }
        await eventually('zone a: one more per second', async () => (await noExecuteCount(h, silentA)) === 4);
        assert.equal(await noExecuteCount(h, silentB), 1, 'zone b waits 10 s per node');
        for (let i = 0; i < 7; i++) {
          await h.clock.advance(1000);
          beat();
          await settle(50);
        }
        await eventually(
          'zone b: the second after 10 s',
          async () => (await noExecuteCount(h, silentB)) === 2,
        );
        assert.deepEqual(
          (await Promise.all(alive.map((n) => taints(h, n)))).flat(),
          [],
          'healthy nodes are not touched',
        );
      },
    );
  });

  it('adds no NoExecute taints when every node is unreachable (the controller is the one cut off)', () =>
    withLifecycle(
      { gracePeriodMs: 8000, nodes: [{ name: 'n1' }, { name: 'n2' }, { name: 'n3' }] },
      async (h) => {
        await h.f.storage.create(pods, 'default', boundPod('p', 'n1'));
        await settle();
        await h.clock.advance(9000);
        await eventually('all Unknown', async () => {
          for (const n of ['n1', 'n2', 'n3']) if ((await ready(h, n)) !== 'Unknown') return false;
          return true;
        });
        await h.clock.advance(30_000);
        await settle(300);
        for (const n of ['n1', 'n2', 'n3']) {
          assert.deepEqual(await taints(h, n), ['node.kubernetes.io/unreachable:NoSchedule']);
        }
        assert.ok(await h.f.find(pods, 'default', 'p'), 'no eviction');
        // One node back: the others are an ordinary failure now and get evicted at the normal rate.
        await postReady(h, 'n3');
        await eventually('n1 and n2 tainted NoExecute', async () => {
          await h.clock.advance(200); // the default 10 nodes/s
          h.heard.set('n3', h.clock.now());
          return (await noExecuteCount(h, ['n1', 'n2'])) === 2;
        });
      },
    ));
});

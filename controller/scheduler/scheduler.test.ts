import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Registry } from 'prom-client';
import { FakeClock } from '../../lib/clock.js';
import { bindingFor } from './framework.js';
import { Scheduler, scheduledMessage, type SchedulerOptions } from './scheduler.js';
import { boundCopy, makeNode, makePod, RecordingBinder, RecordingSink } from './testing/fixtures.js';
import type { PodLike } from './types.js';

interface Harness {
  sched: Scheduler;
  binder: RecordingBinder;
  sink: RecordingSink;
  clock: FakeClock;
  registry: Registry;
  run: Promise<void>;
  /** Feeds successful bindings back as informer updates, like the real wiring would. */
  confirmBindings(pods: readonly PodLike[]): void;
  stop(): Promise<void>;
}

function start(opts: Partial<SchedulerOptions> = {}): Harness {
  const binder = new RecordingBinder();
  const sink = new RecordingSink();
  const clock = new FakeClock();
  const registry = new Registry();
  let seed = 1;
  const sched = new Scheduler({
    binder,
    sink,
    clock,
    registry,
    // Deterministic tie-breaking.
    random: () => ((seed = (seed * 16807) % 2147483647) - 1) / 2147483646,
    ...opts,
  });
  const run = sched.run();
  return {
    sched,
    binder,
    sink,
    clock,
    registry,
    run,
    confirmBindings(pods) {
      for (const p of pods) {
        const node = binder.bound.get(`${p.metadata?.namespace ?? 'default'}/${p.metadata?.name ?? ''}`);
        if (node !== undefined) sched.updatePod(boundCopy(p, node));
      }
    },
    async stop() {
      await sched.close();
      await run;
    },
  };
}

function countByNode(binder: RecordingBinder): Record<string, number> {
  const out: Record<string, number> = {};
  for (const node of binder.bound.values()) out[node] = (out[node] ?? 0) + 1;
  return out;
}

const replicas = (n: number, profile?: string): PodLike[] =>
  Array.from({ length: n }, (_, i) =>
    makePod(`web-${i}`, {
      cpu: '500m',
      memory: '1Gi',
      labels: { app: 'web' },
      ...(profile === undefined ? {} : { schedulerName: profile }),
    }),
  );

describe('Scheduler', () => {
  it('spreads a 9-pod ReplicaSet-like group evenly over 3 nodes with LeastAllocated (default-scheduler)', async () => {
    const h = start();
    try {
      for (const n of ['n1', 'n2', 'n3']) h.sched.addNode(makeNode(n, { cpu: '4', memory: '8Gi' }));
      const pods = replicas(9);
      for (const p of pods) h.sched.addPod(p);
      await h.sched.whenIdle();
      assert.deepEqual(countByNode(h.binder), { n1: 3, n2: 3, n3: 3 });
      assert.equal(h.sink.entries.filter((e) => e.kind === 'scheduled').length, 9);
    } finally {
      await h.stop();
    }
  });

  it('packs the same group onto as few nodes as possible with MostAllocated (bin-packing-scheduler)', async () => {
    const h = start();
    try {
      for (const n of ['n1', 'n2', 'n3']) h.sched.addNode(makeNode(n, { cpu: '4', memory: '8Gi' }));
      for (const p of replicas(9, 'bin-packing-scheduler')) h.sched.addPod(p);
      await h.sched.whenIdle();
      // 500m/1Gi each: 8 fit on a 4-CPU/8Gi node, the ninth goes to a second node.
      const counts = Object.values(countByNode(h.binder)).sort((a, b) => b - a);
      assert.deepEqual(counts, [8, 1]);
    } finally {
      await h.stop();
    }
  });

  it('leaves pods naming an unknown scheduler alone', async () => {
    const h = start();
    try {
      h.sched.addNode(makeNode('n1'));
      h.sched.addPod(makePod('other', { schedulerName: 'someone-else' }));
      await h.sched.whenIdle();
      assert.equal(h.binder.calls.length, 0);
      assert.deepEqual(h.sched.pendingPods(), { active: 0, backoff: 0, unschedulable: 0, gated: 0 });
    } finally {
      await h.stop();
    }
  });

  it("explains a failure in kube's words for a mixed cluster, sorted, and hands it to the sink", async () => {
    const h = start();
    try {
      h.sched.addNode(
        makeNode('cp', {
          cpu: '8',
          taints: [{ key: 'node-role.kubernetes.io/control-plane', effect: 'NoSchedule' }],
        }),
      );
      h.sched.addNode(makeNode('w1', { cpu: '1' }));
      h.sched.addNode(makeNode('w2', { cpu: '1' }));
      h.sched.addPod(makePod('big', { cpu: '2' }));
      await h.sched.whenIdle();
      assert.equal(
        h.sink.lastUnschedulable('default/big'),
        '0/3 nodes are available: 1 node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }, 2 Insufficient cpu.',
      );
      assert.deepEqual(h.sched.pendingPods(), { active: 0, backoff: 0, unschedulable: 1, gated: 0 });
    } finally {
      await h.stop();
    }
  });

  it('schedules an unschedulable pod once a node that fits is added', async () => {
    const h = start();
    try {
      h.sched.addNode(makeNode('small', { cpu: '1' }));
      h.sched.addPod(makePod('big', { cpu: '2' }));
      await h.sched.whenIdle();
      assert.equal(h.sched.pendingPods().unschedulable, 1);
      h.sched.addNode(makeNode('large', { cpu: '4' }));
      // The move is debounced (50 ms), then the pod's 1 s back-off from its failure must pass.
      await h.clock.advance(60);
      await h.sched.whenIdle();
      assert.equal(h.sched.pendingPods().backoff, 1);
      assert.equal(h.binder.bound.size, 0);
      await h.clock.advance(1000);
      await h.sched.whenIdle();
      assert.equal(h.binder.bound.get('default/big'), 'large');
    } finally {
      await h.stop();
    }
  });

  it('heartbeat-only node updates do not wake unschedulable pods', async () => {
    const h = start({ moveDebounceMs: 0 });
    try {
      const node = makeNode('small', { cpu: '1' });
      h.sched.addNode(node);
      h.sched.addPod(makePod('big', { cpu: '2' }));
      await h.sched.whenIdle();
      h.sched.updateNode({ ...node, metadata: { ...node.metadata, resourceVersion: '2' } });
      assert.equal(h.sched.pendingPods().unschedulable, 1);
      h.sched.updateNode(makeNode('small', { cpu: '2' }));
      assert.equal(h.sched.pendingPods().unschedulable, 0);
    } finally {
      await h.stop();
    }
  });

  it('assumes a pod at once, counts it for the next pod, and confirms it when the informer sees it bound', async () => {
    const h = start();
    try {
      h.sched.addNode(makeNode('n1', { cpu: '1' }));
      h.binder.hold();
      const a = makePod('a', { cpu: '600m' });
      const b = makePod('b', { cpu: '600m' });
      h.sched.addPod(a);
      h.sched.addPod(b);
      // Let the loop run both attempts while the first binding is held.
      for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
      assert.equal(h.sched.isAssumed(a), true);
      assert.equal(h.sched.nodeOf(a), 'n1');
      assert.equal(h.sink.lastUnschedulable('default/b'), '0/1 nodes are available: 1 Insufficient cpu.');
      h.binder.release();
      await h.sched.whenIdle();
      assert.equal(h.sched.isAssumed(a), true, 'still assumed until the informer reports the binding');
      h.confirmBindings([a]);
      assert.equal(h.sched.isAssumed(a), false);
      assert.equal(h.sched.nodeOf(a), 'n1');
      assert.equal(h.sched.snapshot.get('n1')?.requested.milliCpu, 600);
    } finally {
      await h.stop();
    }
  });

  it('binds at most `parallelism` pods at a time, scheduling on as slots free up', async () => {
    const h = start({ parallelism: 2 });
    try {
      h.sched.addNode(makeNode('n1'));
      h.binder.hold();
      for (let i = 0; i < 5; i++) h.sched.addPod(makePod(`p${i}`));
      for (let i = 0; i < 10; i++) await new Promise((r) => setImmediate(r));
      assert.equal(h.binder.calls.length, 2);
      assert.equal(h.sched.pendingPods().active, 3, 'the loop waits for a slot before taking the next pod');
      h.binder.release();
      // Released bindings free slots; later ones are not held any more.
      await h.sched.whenIdle();
      assert.equal(h.binder.bound.size, 5);
    } finally {
      await h.stop();
    }
  });

  it('expires an assumption whose binding is never observed', async () => {
    const h = start({ assumedPodTtlMs: 5000 });
    try {
      h.sched.addNode(makeNode('n1', { cpu: '1' }));
      const a = makePod('a', { cpu: '600m' });
      h.sched.addPod(a);
      await h.sched.whenIdle();
      assert.equal(h.sched.snapshot.get('n1')?.requested.milliCpu, 600);
      await h.clock.advance(6000);
      assert.equal(h.sched.nodeOf(a), undefined);
      assert.equal(h.sched.snapshot.get('n1')?.requested.milliCpu, 0);
    } finally {
      await h.stop();
    }
  });

  it('forgets the assumption when binding fails, re-queues with back-off, and retries', async () => {
    const h = start();
    try {
      h.sched.addNode(makeNode('n1', { cpu: '1' }));
      const a = makePod('a', { cpu: '600m' });
      h.binder.fail('default/a');
      h.sched.addPod(a);
      await h.sched.whenIdle();
      assert.equal(h.sched.nodeOf(a), undefined, 'forgotten');
      assert.equal(h.sched.snapshot.get('n1')?.requested.milliCpu, 0);
      assert.equal(h.sched.pendingPods().backoff, 1);
      assert.match(h.sink.entries.find((e) => e.kind === 'error')?.pod ?? '', /default\/a/);
      await h.clock.advance(999);
      await h.sched.whenIdle();
      assert.equal(h.binder.bound.size, 0, 'still backing off');
      await h.clock.advance(1);
      await h.sched.whenIdle();
      assert.equal(h.binder.bound.get('default/a'), 'n1');
      assert.equal(h.binder.calls.length, 2);
    } finally {
      await h.stop();
    }
  });

  it('does not re-queue a pod deleted while its binding was failing', async () => {
    const h = start();
    try {
      h.sched.addNode(makeNode('n1'));
      const a = makePod('a');
      h.binder.hold();
      h.binder.fail('default/a');
      h.sched.addPod(a);
      for (let i = 0; i < 3; i++) await new Promise((r) => setImmediate(r));
      h.sched.removePod(a);
      h.binder.release();
      await h.sched.whenIdle();
      assert.deepEqual(h.sched.pendingPods(), { active: 0, backoff: 0, unschedulable: 0, gated: 0 });
      assert.equal(h.sched.nodeOf(a), undefined);
      assert.equal(h.sink.entries.length, 0);
    } finally {
      await h.stop();
    }
  });

  it('keeps hostPort users apart', async () => {
    const h = start();
    try {
      h.sched.addNode(makeNode('n1'));
      h.sched.addNode(makeNode('n2'));
      for (const name of ['p1', 'p2', 'p3']) h.sched.addPod(makePod(name, { hostPort: 8080 }));
      await h.sched.whenIdle();
      assert.deepEqual(Object.values(countByNode(h.binder)).sort(), [1, 1]);
      assert.equal(
        h.sink.lastUnschedulable('default/p3') ??
          h.sink.lastUnschedulable('default/p2') ??
          h.sink.lastUnschedulable('default/p1'),
        "0/2 nodes are available: 2 node(s) didn't have free ports for the requested pod ports.",
      );
    } finally {
      await h.stop();
    }
  });

  it('places pods by taints and tolerations', async () => {
    const h = start();
    try {
      h.sched.addNode(makeNode('gpu', { taints: [{ key: 'gpu', value: 'true', effect: 'NoSchedule' }] }));
      h.sched.addNode(makeNode('plain'));
      h.sched.addPod(makePod('normal'));
      h.sched.addPod(
        makePod('gpu-job', {
          tolerations: [{ key: 'gpu', operator: 'Equal', value: 'true', effect: 'NoSchedule' }],
          nodeSelector: { 'kubernetes.io/hostname': 'gpu' },
        }),
      );
      await h.sched.whenIdle();
      assert.equal(h.binder.bound.get('default/normal'), 'plain');
      assert.equal(h.binder.bound.get('default/gpu-job'), 'gpu');
    } finally {
      await h.stop();
    }
  });

  it('honours required anti-affinity by hostname and affinity to it', async () => {
    const h = start();
    try {
      for (const n of ['n1', 'n2', 'n3']) h.sched.addNode(makeNode(n));
      const anti = {
        podAntiAffinity: {
          requiredDuringSchedulingIgnoredDuringExecution: [
            { labelSelector: { matchLabels: { app: 'db' } }, topologyKey: 'kubernetes.io/hostname' },
          ],
        },
      };
      const dbs = [0, 1, 2, 3].map((i) =>
        makePod(`db-${i}`, { labels: { app: 'db', idx: String(i) }, affinity: anti }),
      );
      for (const p of dbs) h.sched.addPod(p);
      await h.sched.whenIdle();
      h.confirmBindings(dbs);
      assert.deepEqual(Object.values(countByNode(h.binder)).sort(), [1, 1, 1]);
      const left = dbs.find((p) => !h.binder.bound.has(`default/${p.metadata?.name ?? ''}`));
      // The existing pods' identical terms are checked first (symmetry), as in kube.
      assert.equal(
        h.sink.lastUnschedulable(`default/${left?.metadata?.name ?? ''}`),
        "0/3 nodes are available: 3 node(s) didn't satisfy existing pods anti-affinity rules.",
      );
      // A cache pod that must sit next to db-1 (placed, since FIFO order gives db-0..2 the three nodes).
      const dbNode = h.binder.bound.get('default/db-1');
      h.sched.addPod(
        makePod('cache', {
          affinity: {
            podAffinity: {
              requiredDuringSchedulingIgnoredDuringExecution: [
                {
                  labelSelector: { matchLabels: { app: 'db', idx: '1' } },
                  topologyKey: 'kubernetes.io/hostname',
                },
              ],
            },
          },
        }),
      );
      await h.sched.whenIdle();
      assert.notEqual(dbNode, undefined);
      assert.equal(h.binder.bound.get('default/cache'), dbNode);
    } finally {
      await h.stop();
    }
  });

  it('spreads over zones with maxSkew 1 (DoNotSchedule)', async () => {
    const h = start();
    try {
      const zones = { a: ['a1', 'a2', 'a3'], b: ['b1'], c: ['c1'] };
      for (const [zone, nodes] of Object.entries(zones)) {
        for (const n of nodes)
          h.sched.addNode(makeNode(n, { labels: { 'topology.kubernetes.io/zone': zone } }));
      }
      const pods = Array.from({ length: 6 }, (_, i) =>
        makePod(`s-${i}`, {
          labels: { app: 's' },
          topologySpreadConstraints: [
            {
              maxSkew: 1,
              topologyKey: 'topology.kubernetes.io/zone',
              whenUnsatisfiable: 'DoNotSchedule',
              labelSelector: { matchLabels: { app: 's' } },
            },
          ],
        }),
      );
      // One at a time, confirming each binding, as the informer would between attempts.
      for (const p of pods) {
        h.sched.addPod(p);
        await h.sched.whenIdle();
        h.confirmBindings([p]);
      }
      const perZone: Record<string, number> = {};
      for (const node of h.binder.bound.values()) {
        const zone = node[0] ?? '?';
        perZone[zone] = (perZone[zone] ?? 0) + 1;
      }
      assert.deepEqual(perZone, { a: 2, b: 2, c: 2 });
    } finally {
      await h.stop();
    }
  });

  it('orders pending pods by priority, then FIFO', async () => {
    const binder = new RecordingBinder();
    const sched = new Scheduler({ binder, clock: new FakeClock() });
    sched.addNode(makeNode('n1'));
    sched.addPod(makePod('low-1', { priority: 0 }));
    sched.addPod(makePod('high', { priority: 1000 }));
    sched.addPod(makePod('low-2', { priority: 0 }));
    const run = sched.run();
    await sched.whenIdle();
    await sched.close();
    await run;
    assert.deepEqual(
      binder.calls.map((c) => c.pod),
      ['default/high', 'default/low-1', 'default/low-2'],
    );
  });

  it('keeps gated pods until their gates are removed', async () => {
    const h = start();
    try {
      h.sched.addNode(makeNode('n1'));
      const gated = makePod('g', { schedulingGates: ['example.com/wait'] });
      h.sched.addPod(gated);
      await h.sched.whenIdle();
      assert.equal(h.sched.pendingPods().gated, 1);
      h.sched.updatePod(makePod('g'));
      await h.sched.whenIdle();
      assert.equal(h.binder.bound.get('default/g'), 'n1');
    } finally {
      await h.stop();
    }
  });

  it('exports kube-scheduler metrics on the injected registry', async () => {
    const h = start();
    try {
      h.sched.addNode(makeNode('n1', { cpu: '1' }));
      h.sched.addPod(makePod('ok', { cpu: '100m' }));
      h.sched.addPod(makePod('too-big', { cpu: '2' }));
      await h.sched.whenIdle();
      const text = await h.registry.metrics();
      assert.match(text, /scheduler_pending_pods\{queue="unschedulable"\} 1/);
      assert.match(text, /scheduler_pending_pods\{queue="active"\} 0/);
      assert.match(
        text,
        /scheduler_schedule_attempts_total\{result="scheduled",profile="default-scheduler"\} 1/,
      );
      assert.match(
        text,
        /scheduler_schedule_attempts_total\{result="unschedulable",profile="default-scheduler"\} 1/,
      );
      assert.match(
        text,
        /scheduler_scheduling_attempt_duration_seconds_count\{result="scheduled",profile="default-scheduler"\} 1/,
      );
      assert.match(text, /scheduler_pod_scheduling_sli_duration_seconds_count\{attempts="1"\} 1/);
      assert.match(text, /scheduler_pod_scheduling_attempts_count 1/);
      assert.match(
        text,
        /scheduler_framework_extension_point_duration_seconds_count\{extension_point="Filter",status="Success",profile="default-scheduler"\} 1/,
      );
      assert.match(
        text,
        /scheduler_queue_incoming_pods_total\{queue="unschedulable",event="ScheduleAttemptFailure"\} 1/,
      );
    } finally {
      await h.stop();
    }
  });

  it('reports "no nodes available" on an empty cluster', async () => {
    const h = start();
    try {
      h.sched.addPod(makePod('p'));
      await h.sched.whenIdle();
      assert.equal(h.sink.lastUnschedulable('default/p'), 'no nodes available to schedule pods');
    } finally {
      await h.stop();
    }
  });

  it('builds the Binding body and the Scheduled event message', () => {
    const pod = makePod('web-1', { uid: 'u1' });
    assert.equal(scheduledMessage(pod, 'n1'), 'Successfully assigned default/web-1 to n1');
    assert.deepEqual(bindingFor(pod, 'n1'), {
      apiVersion: 'v1',
      kind: 'Binding',
      metadata: { name: 'web-1', namespace: 'default', uid: 'u1' },
      target: { apiVersion: 'v1', kind: 'Node', name: 'n1' },
    });
  });

  it('stops on abort and close() is idempotent', async () => {
    const ac = new AbortController();
    const sched = new Scheduler({ binder: new RecordingBinder(), clock: new FakeClock() });
    const run = sched.run(ac.signal);
    ac.abort();
    await run;
    await sched.close();
    await sched.close();
  });
});

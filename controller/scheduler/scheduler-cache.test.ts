import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { podInfoOf } from './pod-info.js';
import { SchedulerCache } from './scheduler-cache.js';
import { makeNode, makePod } from './testing/fixtures.js';

describe('SchedulerCache', () => {
  it('accounts requests, pod counts and ports of assumed and bound pods', () => {
    const cache = new SchedulerCache({ assumedTtlMs: 30_000 });
    cache.upsertNode(makeNode('n1'));
    const a = podInfoOf(makePod('a', { cpu: '250m', memory: '1Gi', hostPort: 80 }));
    cache.assume(a, 'n1');
    const n1 = cache.get('n1')!;
    assert.equal(n1.requested.milliCpu, 250);
    assert.equal(n1.requested.memory, 1024 ** 3);
    assert.equal(n1.podCount, 1);
    assert.equal(n1.portInUse({ ip: '0.0.0.0', protocol: 'TCP', port: 80 }), true);
    assert.equal(cache.isAssumed(a.key), true);
    // The informer reports it bound: confirmed, counted once.
    cache.upsertPod(
      podInfoOf(makePod('a', { cpu: '250m', memory: '1Gi', hostPort: 80, nodeName: 'n1' })),
      'n1',
    );
    assert.equal(cache.isAssumed(a.key), false);
    assert.equal(n1.requested.milliCpu, 250);
    assert.equal(n1.podCount, 1);
    assert.equal(cache.removePod(a.key), true);
    assert.equal(n1.requested.milliCpu, 0);
    assert.equal(n1.portInUse({ ip: '0.0.0.0', protocol: 'TCP', port: 80 }), false);
  });

  it('forgets a failed binding and expires a binding never observed', () => {
    const cache = new SchedulerCache({ assumedTtlMs: 1000 });
    cache.upsertNode(makeNode('n1'));
    const a = podInfoOf(makePod('a', { cpu: '1' }));
    const b = podInfoOf(makePod('b', { cpu: '1' }));
    cache.assume(a, 'n1');
    cache.assume(b, 'n1');
    cache.forget(a.key);
    assert.equal(cache.nodeOf(a.key), undefined);
    assert.deepEqual(cache.expireAssumed(1_000_000), [], 'a binding in progress never expires');
    cache.finishBinding(b.key, 10_000);
    assert.deepEqual(cache.expireAssumed(10_999), []);
    assert.deepEqual(
      cache.expireAssumed(11_000).map((p) => p.name),
      ['b'],
    );
    assert.equal(cache.get('n1')!.requested.milliCpu, 0);
  });

  it('moves a pod that another party bound elsewhere', () => {
    const cache = new SchedulerCache({ assumedTtlMs: 1000 });
    cache.upsertNode(makeNode('n1'));
    cache.upsertNode(makeNode('n2'));
    const a = podInfoOf(makePod('a', { cpu: '1' }));
    cache.assume(a, 'n1');
    cache.upsertPod(a, 'n2');
    assert.equal(cache.get('n1')!.requested.milliCpu, 0);
    assert.equal(cache.get('n2')!.requested.milliCpu, 1000);
  });

  it('keeps pods of a node that is gone until they are removed, without listing the node', () => {
    const cache = new SchedulerCache({ assumedTtlMs: 1000 });
    cache.upsertNode(makeNode('n1'));
    const a = podInfoOf(makePod('a'));
    cache.upsertPod(a, 'n1');
    cache.removeNode('n1');
    assert.equal(cache.nodeList().length, 0);
    assert.equal(cache.get('n1')?.podCount, 1);
    cache.removePod(a.key);
    assert.equal(cache.get('n1'), undefined);
  });

  it('tells real changes from heartbeats', () => {
    const cache = new SchedulerCache({ assumedTtlMs: 1000 });
    assert.equal(cache.upsertNode(makeNode('n1')), true, 'new node');
    assert.equal(cache.upsertNode(makeNode('n1')), false, 'same again');
    assert.equal(cache.upsertNode(makeNode('n1', { cpu: '8' })), true, 'allocatable');
    assert.equal(cache.upsertNode(makeNode('n1', { cpu: '8', unschedulable: true })), true, 'cordon');
    assert.equal(
      cache.upsertNode(makeNode('n1', { cpu: '8', unschedulable: true, ready: 'False' })),
      true,
      'ready',
    );
  });

  it('interleaves nodes across zones', () => {
    const cache = new SchedulerCache({ assumedTtlMs: 1000 });
    for (const [n, z] of [
      ['a1', 'a'],
      ['a2', 'a'],
      ['a3', 'a'],
      ['b1', 'b'],
      ['c1', 'c'],
      ['c2', 'c'],
    ]) {
      cache.upsertNode(makeNode(n!, { labels: { 'topology.kubernetes.io/zone': z! } }));
    }
    assert.deepEqual(
      cache.nodeList().map((n) => n.name),
      ['a1', 'b1', 'c1', 'a2', 'c2', 'a3'],
    );
  });

  it('counts nodes per image', () => {
    const cache = new SchedulerCache({ assumedTtlMs: 1000 });
    cache.upsertNode(makeNode('n1', { images: [{ names: ['docker.io/library/nginx:1'], sizeBytes: 1 }] }));
    cache.upsertNode(makeNode('n2', { images: [{ names: ['nginx:1'], sizeBytes: 1 }] }));
    assert.equal(cache.imageNodeCount('docker.io/library/nginx:1'), 2);
    cache.removeNode('n2');
    assert.equal(cache.imageNodeCount('docker.io/library/nginx:1'), 1);
  });
});

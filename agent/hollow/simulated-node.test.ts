import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Registry } from 'prom-client';
import type { StoredObject } from '../../api/object.js';
import { FakeClock } from '../../lib/clock.js';
import { silentLogger } from '../../lib/logger.js';
import { RecordingReporter } from '../pods/testing/recording-reporter.js';
import { hollowHostInfo } from './hollow-host.js';
import {
  podCidrForIndex,
  podCidrForName,
  simulatedPodManagerFactory,
  type SimulatedNodeParts,
} from './simulated-node.js';
import { FakeObjectSource } from '../object-source.js';

function pod(name: string, uid: string): StoredObject {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: 'default', uid },
    spec: {
      nodeName: 'hollow-3',
      restartPolicy: 'Always',
      containers: [{ name: 'app', image: 'busybox:1.36', imagePullPolicy: 'IfNotPresent' }],
    },
  };
}

async function until(clock: FakeClock, cond: () => boolean): Promise<void> {
  for (let i = 0; i < 200 && !cond(); i++) {
    await clock.advance(100);
    await new Promise((r) => setImmediate(r));
  }
  assert.ok(cond(), 'condition not reached');
}

describe('simulatedPodManagerFactory', () => {
  it('runs pods through the real pod workers on the fake runtime, with addresses from the pod CIDR', async () => {
    const clock = new FakeClock();
    const reporter = new RecordingReporter();
    const registry = new Registry();
    const got: { parts?: SimulatedNodeParts } = {};
    const pods = simulatedPodManagerFactory({
      nodeName: 'hollow-3',
      nodeIp: '127.0.0.1',
      clock,
      logger: silentLogger(),
      registry,
      podCidr: podCidrForIndex(3),
      onCreated: (p) => (got.parts = p),
    })(reporter, { objects: new FakeObjectSource() });
    try {
      pods.sync([pod('a', 'uid-a'), pod('b', 'uid-b')]);
      await until(
        clock,
        () =>
          reporter.latest('uid-a')?.['phase'] === 'Running' &&
          reporter.latest('uid-b')?.['phase'] === 'Running',
      );
      assert.equal(reporter.latest('uid-a')?.['podIP'], '10.128.3.2');
      assert.equal(reporter.latest('uid-a')?.['hostIP'], '127.0.0.1');
      const parts = got.parts;
      assert.ok(parts);
      assert.equal(parts.runtime.counters.containersStarted, 2);
      assert.equal(parts.network.allocated, 2);
      // Gauges are counted by the relist tick (1 s by default).
      await clock.advance(1100);
      assert.match(await registry.metrics(), /kubelet_running_pods 2/);

      pods.update({
        ...pod('a', 'uid-a'),
        metadata: {
          ...pod('a', 'uid-a').metadata,
          deletionTimestamp: '2026-01-01T00:00:00Z',
          deletionGracePeriodSeconds: 0,
        },
      });
      await until(clock, () => reporter.terminatedUids.includes('uid-a'));
      assert.equal(parts.network.allocated, 1);
    } finally {
      await (pods as { close(): Promise<void> }).close();
    }
  });
});

describe('pod CIDRs', () => {
  it('numbers /24s of 10.128.0.0/9 by index, and refuses indexes past the range', () => {
    assert.equal(podCidrForIndex(0), '10.128.0.0/24');
    assert.equal(podCidrForIndex(257), '10.129.1.0/24');
    assert.equal(podCidrForIndex(32_767), '10.255.255.0/24');
    assert.throws(() => podCidrForIndex(32_768), RangeError);
  });

  it('derives a stable /24 from a node name', () => {
    assert.equal(podCidrForName('n1'), podCidrForName('n1'));
    assert.match(podCidrForName('n1'), /^10\.(1[2-9]\d|2[0-5]\d)\.\d+\.0\/24$/);
  });
});

describe('hollowHostInfo', () => {
  it('reports a fixed size with kubelet-style allocatable', () => {
    const h = hollowHostInfo();
    assert.deepEqual(h.capacity, {
      cpu: '8',
      memory: '33554432Ki',
      pods: '110',
      ephemeralStorage: '104857600Ki',
    });
    assert.equal(h.allocatable.memory, `${33554432 - 102400}Ki`);
    assert.equal(h.osImage, 'Berth hollow node (simulated)');
    assert.equal(hollowHostInfo({ cpu: 2, memoryGi: 4, pods: 20 }).allocatable.pods, '20');
  });
});

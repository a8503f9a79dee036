import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { applyDefaults } from './defaults.js';
import { podQosClass } from './pod-qos.js';

const container = (resources?: object): object => ({
  name: 'c',
  image: 'busybox',
  ...(resources ? { resources } : {}),
});

describe('podQosClass', () => {
  it('is BestEffort without requests or limits', () => {
    assert.equal(podQosClass({ containers: [container()] }), 'BestEffort');
  });
  it('is Guaranteed when every container limits cpu and memory with equal requests', () => {
    const r = { limits: { cpu: '500m', memory: '64Mi' }, requests: { cpu: '0.5', memory: '64Mi' } };
    assert.equal(podQosClass({ containers: [container(r), container({ limits: r.limits })] }), 'Guaranteed');
  });
  it('is Burstable when something is set but not all is guaranteed', () => {
    assert.equal(podQosClass({ containers: [container({ requests: { cpu: '100m' } })] }), 'Burstable');
    const r = { limits: { cpu: '1', memory: '64Mi' }, requests: { cpu: '500m', memory: '64Mi' } };
    assert.equal(podQosClass({ containers: [container(r)] }), 'Burstable');
  });
});

describe('pod status on create', () => {
  it('starts Pending with its QoS class and ignores a client-sent status', () => {
    const pod = {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'p' },
      spec: { containers: [container()] },
      status: { phase: 'Running' },
    };
    const out = applyDefaults(pod, { operation: 'create' }) as { status: unknown };
    assert.deepEqual(out.status, { phase: 'Pending', qosClass: 'BestEffort' });
    const upd = applyDefaults(pod, { operation: 'update' }) as { status: unknown };
    assert.deepEqual(upd.status, { phase: 'Running' });
  });
});

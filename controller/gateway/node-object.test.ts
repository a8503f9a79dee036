import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { StoredObject } from '../../api/object.js';
import {
  heartbeatStatus,
  isReady,
  registeredObject,
  registeredStatus,
  restrictedLabels,
  type NodeRegistration,
} from './node-object.js';

const reg: NodeRegistration = {
  nodeName: 'n1',
  capacity: { cpu: '2', memory: '4Gi', pods: '110' },
  allocatable: { cpu: '2', memory: '3900Mi', pods: '110' },
  labels: { 'kubernetes.io/hostname': 'spoofed', team: 'a' },
  addresses: [{ type: 'InternalIP', address: '10.0.0.1' }],
  runtimeName: 'fake',
  runtimeVersion: '1.0',
  agentVersion: '0.1.0',
  metricsAddress: '',
  operatingSystem: 'linux',
  architecture: 'arm64',
  kernelVersion: '6.1',
  osImage: 'X',
  bootId: 'b',
};

describe('node-object', () => {
  it('merges labels: user labels kept, well-known ones set from the registration', () => {
    const current: StoredObject = {
      apiVersion: 'v1',
      kind: 'Node',
      metadata: {
        name: 'n1',
        labels: { 'node-role.kubernetes.io/worker': '', team: 'old' },
        annotations: { 'node.berth.io/metrics-address': 'x:1' },
      },
      spec: { unschedulable: true },
    };
    const next = registeredObject(current, reg);
    assert.deepEqual(next.metadata.labels, {
      'node-role.kubernetes.io/worker': '',
      team: 'a',
      'kubernetes.io/hostname': 'n1',
      'kubernetes.io/os': 'linux',
      'kubernetes.io/arch': 'arm64',
      'beta.kubernetes.io/os': 'linux',
      'beta.kubernetes.io/arch': 'arm64',
    });
    assert.equal(next.metadata.annotations, undefined, 'an empty metrics address removes the annotation');
    assert.deepEqual(next.spec, { unschedulable: true });
  });

  it('keeps a condition’s transition time while its status holds, and other writers’ conditions', () => {
    const first = registeredStatus(undefined, reg, 't1');
    const ready = (s: Record<string, unknown>) =>
      (s['conditions'] as { type: string; lastTransitionTime: string; lastHeartbeatTime: string }[]).find(
        (c) => c.type === 'Ready',
      );
    assert.equal(ready(first)?.lastTransitionTime, 't1');
    assert.ok(isReady(first));
    const withOther = {
      ...first,
      conditions: [...(first['conditions'] as object[]), { type: 'NetworkUnavailable', status: 'False' }],
    };
    const beat = heartbeatStatus(withOther, 't2');
    assert.equal(ready(beat)?.lastTransitionTime, 't1');
    assert.equal(ready(beat)?.lastHeartbeatTime, 't2');
    assert.ok((beat['conditions'] as { type: string }[]).some((c) => c.type === 'NetworkUnavailable'));
    // Marked Unknown by the node-lifecycle controller, then heard from again: a new transition.
    const unknown = {
      ...beat,
      conditions: (beat['conditions'] as { type: string }[]).map((c) =>
        c.type === 'Ready' ? { ...c, status: 'Unknown' } : c,
      ),
    };
    assert.equal(isReady(unknown), false);
    const back = heartbeatStatus(unknown, 't3');
    assert.equal(ready(back)?.lastTransitionTime, 't3');
    assert.equal(
      (registeredStatus(undefined, reg, 't')['nodeInfo'] as Record<string, string>)['kubeletVersion'],
      'v0.1.0',
    );
  });

  it('names the labels a node may not set on itself', () => {
    assert.deepEqual(
      restrictedLabels({
        'node-role.kubernetes.io/master': '',
        'node-restriction.kubernetes.io/x': 'y',
        zone: 'a',
      }),
      ['node-role.kubernetes.io/master', 'node-restriction.kubernetes.io/x'],
    );
  });
});

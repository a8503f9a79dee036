import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  maxSurge,
  maxUnavailable,
  newReplicaSetReplicas,
  proportionFor,
  resolveFenceposts,
  scaledValue,
  setNewReplicaSetAnnotations,
  deploymentTimedOut,
} from './deployment-util.js';
import { compareForDeletion, podsToDelete } from './pod-deletion-order.js';
import type { Deployment, IntOrString, Pod, ReplicaSet } from './workload-objects.js';

function deployment(
  replicas: number,
  maxSurge?: IntOrString,
  maxUnavailable?: IntOrString,
  type = 'RollingUpdate',
): Deployment {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'web', uid: 'd1', generation: 1 },
    spec: {
      replicas,
      strategy: {
        type,
        ...(type === 'RollingUpdate'
          ? {
              rollingUpdate: {
                ...(maxSurge === undefined ? {} : { maxSurge }),
                ...(maxUnavailable === undefined ? {} : { maxUnavailable }),
              },
            }
          : {}),
      },
    },
  };
}

function rs(
  name: string,
  replicas: number,
  status: ReplicaSet['status'] = {},
  annotations: Record<string, string> = {},
): ReplicaSet {
  return {
    apiVersion: 'apps/v1',
    kind: 'ReplicaSet',
    metadata: { name, uid: name, annotations, creationTimestamp: '2026-01-01T00:00:00Z' },
    spec: { replicas },
    status,
  };
}

describe('deployment arithmetic', () => {
  it('scales percentages like intstr: surge rounds up, unavailable down', () => {
    assert.equal(scaledValue('25%', 3, true), 1);
    assert.equal(scaledValue('25%', 3, false), 0);
    assert.equal(scaledValue('50%', 5, true), 3);
    assert.equal(scaledValue('50%', 5, false), 2);
    assert.equal(scaledValue(2, 10, false), 2);
    assert.equal(scaledValue('100%', 7, false), 7);
  });

  it('resolves fenceposts: both zero after rounding becomes one unavailable', () => {
    assert.deepEqual(resolveFenceposts(deployment(3, '25%', '25%')), { surge: 1, unavailable: 0 });
    assert.deepEqual(resolveFenceposts(deployment(10, '25%', '25%')), { surge: 3, unavailable: 2 });
    assert.deepEqual(resolveFenceposts(deployment(2, '0%', '1%')), { surge: 0, unavailable: 1 });
    assert.deepEqual(resolveFenceposts(deployment(3, 0, 0)), { surge: 0, unavailable: 1 });
    assert.equal(maxUnavailable(deployment(2, 0, 5)), 2, 'capped at replicas');
    assert.equal(maxUnavailable(deployment(0, 1, 1)), 0);
    assert.equal(maxSurge(deployment(3, 1, 0, 'Recreate')), 0);
    assert.equal(maxUnavailable(deployment(3, 1, 1, 'Recreate')), 0);
  });

  it('grows the new ReplicaSet only up to replicas + maxSurge, counting pods not yet removed', () => {
    const d = deployment(3, 1, 0);
    const newRS = rs('new', 0);
    assert.equal(newReplicaSetReplicas(d, [rs('old', 3, { replicas: 3 }), newRS], newRS), 1);
    const grown = rs('new', 1, { replicas: 1 });
    assert.equal(newReplicaSetReplicas(d, [rs('old', 3, { replicas: 3 }), grown], grown), 1, 'at the limit');
    // Old scaled to 2 but its third pod is still there: no room yet (Kubernetes would already grow).
    assert.equal(newReplicaSetReplicas(d, [rs('old', 2, { replicas: 3 }), grown], grown), 1);
    assert.equal(newReplicaSetReplicas(d, [rs('old', 2, { replicas: 2 }), grown], grown), 2);
    assert.equal(newReplicaSetReplicas(deployment(3, 1, 0, 'Recreate'), [grown], grown), 3);
  });

  it('shares a resize between active ReplicaSets by the max-replicas they were sized for', () => {
    // 10 replicas + 3 surge = 13, split 8 / 5; scaled to 20 (+5 surge = 25): +7 and +5 (with leftovers).
    const d = deployment(20, 5, 0);
    const a = rs('a', 8, {}, { 'deployment.kubernetes.io/max-replicas': '13' });
    const b = rs('b', 5, {}, { 'deployment.kubernetes.io/max-replicas': '13' });
    const toAdd = 25 - 13;
    const pa = proportionFor(a, d, toAdd, 0);
    const pb = proportionFor(b, d, toAdd, pa);
    assert.equal(pa, 7);
    assert.equal(pb, 5);
  });

  it('records a rollback: the old revision moves to revision-history', () => {
    const d = deployment(1, '25%', '25%');
    d.metadata.annotations = {
      'kubernetes.io/change-cause': 'undo',
      'kubectl.kubernetes.io/last-applied-configuration': '{}',
    };
    const old = rs('v1', 0, {}, { 'deployment.kubernetes.io/revision': '1' });
    assert.ok(setNewReplicaSetAnnotations(d, old, 3, true));
    assert.equal(old.metadata.annotations?.['deployment.kubernetes.io/revision'], '3');
    assert.equal(old.metadata.annotations['deployment.kubernetes.io/revision-history'], '1');
    assert.equal(old.metadata.annotations['kubernetes.io/change-cause'], 'undo');
    assert.equal(old.metadata.annotations['kubectl.kubernetes.io/last-applied-configuration'], undefined);
    assert.ok(setNewReplicaSetAnnotations(d, old, 5, true));
    assert.equal(old.metadata.annotations['deployment.kubernetes.io/revision-history'], '1,3');
    assert.ok(!setNewReplicaSetAnnotations(d, old, 4, true), 'never lowered');
    const fresh = rs('v2', 1);
    setNewReplicaSetAnnotations(d, fresh, 2, false);
    assert.equal(fresh.metadata.annotations?.['deployment.kubernetes.io/desired-replicas'], '1');
    assert.equal(fresh.metadata.annotations['deployment.kubernetes.io/max-replicas'], '2');
  });

  it('times out once the Progressing condition is older than the deadline (strictly)', () => {
    const d = deployment(1);
    d.spec.progressDeadlineSeconds = 60;
    const at = Date.UTC(2026, 0, 1);
    const status = {
      conditions: [
        {
          type: 'Progressing',
          status: 'True' as const,
          reason: 'ReplicaSetUpdated',
          lastUpdateTime: '2026-01-01T00:00:00Z',
        },
      ],
    };
    assert.equal(deploymentTimedOut(d, status, at + 60_000), false);
    assert.equal(deploymentTimedOut(d, status, at + 60_001), true);
    d.spec.progressDeadlineSeconds = 2147483647;
    assert.equal(deploymentTimedOut(d, status, at + 1e12), false, 'MaxInt32 means no deadline');
  });
});

function pod(
  name: string,
  opts: {
    node?: string;
    phase?: string;
    readySince?: string;
    created?: string;
    restarts?: number;
    cost?: string;
  },
): Pod {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name,
      creationTimestamp: opts.created ?? '2026-01-01T00:00:00Z',
      ...(opts.cost === undefined
        ? {}
        : { annotations: { 'controller.kubernetes.io/pod-deletion-cost': opts.cost } }),
    },
    spec: opts.node === undefined ? {} : { nodeName: opts.node },
    status: {
      ...(opts.phase === undefined ? {} : { phase: opts.phase }),
      conditions:
        opts.readySince === undefined
          ? []
          : [{ type: 'Ready', status: 'True', lastTransitionTime: opts.readySince }],
      containerStatuses: [{ restartCount: opts.restarts ?? 0 }],
    },
  };
}

describe('pod deletion order', () => {
  it('follows Kubernetes ranking', () => {
    const pods = [
      pod('ready-old', { node: 'n1', phase: 'Running', readySince: '2026-01-01T00:00:00Z' }),
      pod('ready-new', { node: 'n2', phase: 'Running', readySince: '2026-01-01T01:00:00Z' }),
      pod('running-not-ready', { node: 'n3', phase: 'Running' }),
      pod('pending', { node: 'n4', phase: 'Pending' }),
      pod('unscheduled', { phase: 'Pending' }),
    ];
    const order = podsToDelete(pods, pods, 4).map((p) => p.metadata.name);
    assert.deepEqual(order, ['unscheduled', 'pending', 'running-not-ready', 'ready-new']);
  });

  it('breaks ties by deletion cost, doubled-up nodes, restarts, then newest', () => {
    const a = pod('a', { node: 'n1', phase: 'Running', readySince: '2026-01-01T00:00:00Z', cost: '10' });
    const b = pod('b', { node: 'n1', phase: 'Running', readySince: '2026-01-01T00:00:00Z' });
    assert.ok(compareForDeletion(a, 0, b, 0) > 0, 'higher cost goes later');
    const c = pod('c', { node: 'n1', phase: 'Running' });
    const d = pod('d', { node: 'n2', phase: 'Running' });
    assert.ok(compareForDeletion(c, 3, d, 1) < 0, 'the pod with more siblings on its node goes first');
    const e = pod('e', { node: 'n1', phase: 'Running', restarts: 5 });
    const f = pod('f', { node: 'n1', phase: 'Running', restarts: 1 });
    assert.ok(compareForDeletion(e, 0, f, 0) < 0, 'more restarts first');
    const g = pod('g', { node: 'n1', phase: 'Running', created: '2026-01-02T00:00:00Z' });
    const h = pod('h', { node: 'n1', phase: 'Running', created: '2026-01-01T00:00:00Z' });
    assert.ok(compareForDeletion(g, 0, h, 0) < 0, 'newer first');
  });
});

// NodeUnschedulable, NodeReady and NodeName: the small per-node filters.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CycleState } from '../cycle-state.js';
import { podInfoOf } from '../pod-info.js';
import { clusterOf, makeNode, makePod } from '../testing/fixtures.js';
import { NodeName } from './node-name.js';
import { NodeReady } from './node-ready.js';
import { NodeUnschedulable } from './node-unschedulable.js';

const cache = clusterOf([
  makeNode('ok'),
  makeNode('cordoned', { unschedulable: true }),
  makeNode('notready', { ready: 'False' }),
  makeNode('unknown', { ready: 'Unknown' }),
  makeNode('fresh', { ready: undefined }),
]);
const node = (n: string) => cache.get(n)!;
const st = new CycleState();

describe('NodeUnschedulable', () => {
  const plugin = new NodeUnschedulable();
  it('keeps pods off cordoned nodes unless they tolerate the unschedulable taint', () => {
    assert.equal(plugin.filter(st, podInfoOf(makePod('p')), node('ok')), undefined);
    assert.deepEqual(plugin.filter(st, podInfoOf(makePod('p')), node('cordoned'))?.reasons, [
      'node(s) were unschedulable',
    ]);
    const ds = podInfoOf(
      makePod('ds', {
        tolerations: [{ key: 'node.kubernetes.io/unschedulable', operator: 'Exists', effect: 'NoSchedule' }],
      }),
    );
    assert.equal(plugin.filter(st, ds, node('cordoned')), undefined);
  });
});

describe('NodeReady', () => {
  const plugin = new NodeReady();
  it('only Ready=True nodes, unless the pod tolerates the matching not-ready/unreachable taint', () => {
    const p = podInfoOf(makePod('p'));
    assert.equal(plugin.filter(st, p, node('ok')), undefined);
    for (const n of ['notready', 'unknown', 'fresh']) {
      assert.deepEqual(plugin.filter(st, p, node(n))?.reasons, ['node(s) were not ready'], n);
    }
    const tolerant = podInfoOf(
      makePod('t', {
        tolerations: [
          { key: 'node.kubernetes.io/not-ready', operator: 'Exists', effect: 'NoSchedule' },
          { key: 'node.kubernetes.io/unreachable', operator: 'Exists', effect: 'NoSchedule' },
        ],
      }),
    );
    for (const n of ['notready', 'unknown', 'fresh'])
      assert.equal(plugin.filter(st, tolerant, node(n)), undefined, n);
  });
});

describe('NodeName', () => {
  const plugin = new NodeName();
  it('fits only the named node, and skips pods without one', () => {
    const pinned = podInfoOf(makePod('p', { nodeName: 'ok' }));
    assert.equal(plugin.filter(st, pinned, node('ok')), undefined);
    assert.deepEqual(plugin.filter(st, pinned, node('cordoned'))?.reasons, [
      "node(s) didn't match the requested node name",
    ]);
    assert.equal(plugin.preFilter(st, podInfoOf(makePod('q'))), 'skip');
  });
});

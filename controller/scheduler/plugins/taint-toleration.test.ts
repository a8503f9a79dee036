import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CycleState } from '../cycle-state.js';
import { podInfoOf } from '../pod-info.js';
import { clusterOf, makeNode, makePod } from '../testing/fixtures.js';
import type { TaintLike, TolerationLike } from '../types.js';
import { TaintToleration } from './taint-toleration.js';

const plugin = new TaintToleration();

function check(taints: TaintLike[], tolerations: TolerationLike[]): string | undefined {
  const node = clusterOf([makeNode('n', { taints })]).get('n')!;
  return plugin.filter(new CycleState(), podInfoOf(makePod('p', { tolerations })), node)?.reasons[0];
}

describe('TaintToleration filter', () => {
  const cp: TaintLike = { key: 'node-role.kubernetes.io/control-plane', effect: 'NoSchedule' };

  it("rejects an untolerated NoSchedule taint with kube's reason", () => {
    assert.equal(check([cp], []), 'node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }');
    assert.equal(
      check([{ key: 'dedicated', value: 'db', effect: 'NoExecute' }], []),
      'node(s) had untolerated taint {dedicated: db}',
    );
  });

  it('ignores PreferNoSchedule when filtering', () => {
    assert.equal(check([{ key: 'x', effect: 'PreferNoSchedule' }], []), undefined);
  });

  it('accepts Exists, Equal, empty-key Exists and effect-less tolerations', () => {
    assert.equal(check([cp], [{ key: cp.key, operator: 'Exists', effect: 'NoSchedule' }]), undefined);
    assert.equal(check([cp], [{ operator: 'Exists' }]), undefined);
    const t: TaintLike = { key: 'dedicated', value: 'db', effect: 'NoSchedule' };
    assert.equal(check([t], [{ key: 'dedicated', value: 'db' }]), undefined);
    assert.notEqual(check([t], [{ key: 'dedicated', value: 'web' }]), undefined);
    assert.notEqual(check([t], [{ key: 'dedicated', value: 'db', effect: 'NoExecute' }]), undefined);
  });

  it('reports the first untolerated taint', () => {
    const a: TaintLike = { key: 'a', effect: 'NoSchedule' };
    const b: TaintLike = { key: 'b', value: '1', effect: 'NoSchedule' };
    assert.equal(check([a, b], [{ key: 'a', operator: 'Exists' }]), 'node(s) had untolerated taint {b: 1}');
  });
});

describe('TaintToleration score', () => {
  it('prefers nodes with fewer untolerated PreferNoSchedule taints', () => {
    const cache = clusterOf([
      makeNode('clean'),
      makeNode('one', { taints: [{ key: 'a', effect: 'PreferNoSchedule' }] }),
      makeNode('two', {
        taints: [
          { key: 'a', effect: 'PreferNoSchedule' },
          { key: 'b', effect: 'PreferNoSchedule' },
        ],
      }),
    ]);
    const pod = podInfoOf(
      makePod('p', { tolerations: [{ key: 'b', operator: 'Exists', effect: 'PreferNoSchedule' }] }),
    );
    const nodes = ['clean', 'one', 'two'].map((n) => cache.get(n)!);
    const scores = new Float64Array(nodes.map((n) => plugin.score(new CycleState(), pod, n)));
    assert.deepEqual([...scores], [0, 1, 1]);
    plugin.normalizeScores(new CycleState(), pod, scores);
    assert.deepEqual([...scores], [100, 0, 0]);
  });
});

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CycleState } from '../cycle-state.js';
import { podInfoOf } from '../pod-info.js';
import { clusterOf, makeNode, makePod } from '../testing/fixtures.js';
import type { AffinityLike, NodeSelectorRequirementLike } from '../types.js';
import { NodeAffinity } from './node-affinity.js';

const plugin = new NodeAffinity();
const cache = clusterOf([
  makeNode('a', { labels: { zone: 'a', disk: 'ssd', cores: '16' } }),
  makeNode('b', { labels: { zone: 'b', cores: '4' } }),
  makeNode('c', { labels: { zone: 'c' } }),
]);
const nodes = ['a', 'b', 'c'].map((n) => cache.get(n)!);

function required(
  ...terms: { exprs?: NodeSelectorRequirementLike[]; fields?: NodeSelectorRequirementLike[] }[]
): AffinityLike {
  return {
    nodeAffinity: {
      requiredDuringSchedulingIgnoredDuringExecution: {
        nodeSelectorTerms: terms.map((t) => ({
          ...(t.exprs === undefined ? {} : { matchExpressions: t.exprs }),
          ...(t.fields === undefined ? {} : { matchFields: t.fields }),
        })),
      },
    },
  };
}

function fitting(spec: Parameters<typeof makePod>[1]): string[] {
  const pod = podInfoOf(makePod('p', spec));
  const state = new CycleState();
  plugin.preFilter(state, pod);
  return nodes.filter((n) => plugin.filter(state, pod, n) === undefined).map((n) => n.name);
}

describe('NodeAffinity filter', () => {
  it('nodeSelector needs every label', () => {
    assert.deepEqual(fitting({ nodeSelector: { zone: 'a', disk: 'ssd' } }), ['a']);
    assert.deepEqual(fitting({ nodeSelector: { zone: 'b', disk: 'ssd' } }), []);
  });

  it('matchExpressions operators', () => {
    const expr = (operator: string, values?: string[], key = 'zone') =>
      fitting({ affinity: required({ exprs: [{ key, operator, ...(values ? { values } : {}) }] }) });
    assert.deepEqual(expr('In', ['a', 'b']), ['a', 'b']);
    assert.deepEqual(expr('NotIn', ['a']), ['b', 'c']);
    assert.deepEqual(expr('Exists', undefined, 'disk'), ['a']);
    assert.deepEqual(expr('DoesNotExist', undefined, 'disk'), ['b', 'c']);
    assert.deepEqual(expr('Gt', ['8'], 'cores'), ['a']);
    assert.deepEqual(expr('Lt', ['8'], 'cores'), ['b']);
    assert.deepEqual(expr('Gt', ['x'], 'cores'), [], 'a malformed bound matches nothing');
  });

  it('ORs terms and ANDs requirements in a term; an empty term matches nothing', () => {
    assert.deepEqual(
      fitting({
        affinity: required(
          {
            exprs: [
              { key: 'zone', operator: 'In', values: ['a'] },
              { key: 'disk', operator: 'DoesNotExist' },
            ],
          },
          { exprs: [{ key: 'zone', operator: 'In', values: ['c'] }] },
        ),
      }),
      ['c'],
    );
    assert.deepEqual(fitting({ affinity: required({}) }), []);
  });

  it('pins nodes by metadata.name and narrows the attempt in PreFilter', () => {
    const affinity = required({ fields: [{ key: 'metadata.name', operator: 'In', values: ['b'] }] });
    assert.deepEqual(fitting({ affinity }), ['b']);
    const r = plugin.preFilter(new CycleState(), podInfoOf(makePod('p', { affinity })));
    assert.ok(r !== undefined && typeof r === 'object' && 'nodeNames' in r);
    assert.deepEqual([...r.nodeNames], ['b']);
  });

  it("says why with kube's reason, and skips pods without node constraints", () => {
    const pod = podInfoOf(makePod('p', { nodeSelector: { zone: 'x' } }));
    assert.equal(
      plugin.filter(new CycleState(), pod, nodes[0]!)?.reasons[0],
      "node(s) didn't match Pod's node affinity/selector",
    );
    assert.equal(plugin.preFilter(new CycleState(), podInfoOf(makePod('free'))), 'skip');
  });
});

describe('NodeAffinity preferred scoring', () => {
  it('sums the weights of matching preferred terms, scaled to 100', () => {
    const pod = podInfoOf(
      makePod('p', {
        affinity: {
          nodeAffinity: {
            preferredDuringSchedulingIgnoredDuringExecution: [
              {
                weight: 80,
                preference: { matchExpressions: [{ key: 'zone', operator: 'In', values: ['a'] }] },
              },
              { weight: 20, preference: { matchExpressions: [{ key: 'cores', operator: 'Exists' }] } },
            ],
          },
        },
      }),
    );
    assert.equal(plugin.preScore(new CycleState(), pod), undefined);
    const scores = new Float64Array(nodes.map((n) => plugin.score(new CycleState(), pod, n)));
    assert.deepEqual([...scores], [100, 20, 0]);
    plugin.normalizeScores(new CycleState(), pod, scores);
    assert.deepEqual([...scores], [100, 20, 0]);
    assert.equal(plugin.preScore(new CycleState(), podInfoOf(makePod('free'))), 'skip');
  });
});

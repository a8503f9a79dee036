import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CycleState } from '../cycle-state.js';
import { podInfoOf } from '../pod-info.js';
import { clusterOf, handleFor, makeNode, makePod } from '../testing/fixtures.js';
import type { NodeLike, TopologySpreadConstraintLike } from '../types.js';
import { PodTopologySpread } from './pod-topology-spread.js';

const zone = 'topology.kubernetes.io/zone';
const nodes: NodeLike[] = [
  makeNode('a1', { labels: { [zone]: 'a' } }),
  makeNode('a2', { labels: { [zone]: 'a' } }),
  makeNode('b1', { labels: { [zone]: 'b' } }),
  makeNode('c1', { labels: { [zone]: 'c' } }),
  makeNode('nozone'),
];

const constraint = (over: Partial<TopologySpreadConstraintLike> = {}): TopologySpreadConstraintLike => ({
  maxSkew: 1,
  topologyKey: zone,
  whenUnsatisfiable: 'DoNotSchedule',
  labelSelector: { matchLabels: { app: 's' } },
  ...over,
});

function verdicts(placed: Record<string, number>, c: TopologySpreadConstraintLike, podSpec = {}) {
  const existing: [ReturnType<typeof makePod>, string][] = [];
  for (const [node, n] of Object.entries(placed)) {
    for (let i = 0; i < n; i++) existing.push([makePod(`${node}-${i}`, { labels: { app: 's' } }), node]);
  }
  const cache = clusterOf(nodes, existing);
  const plugin = new PodTopologySpread(handleFor(cache));
  const pod = podInfoOf(makePod('p', { labels: { app: 's' }, topologySpreadConstraints: [c], ...podSpec }));
  const state = new CycleState();
  plugin.preFilter(state, pod);
  return Object.fromEntries(
    nodes.map((n) => {
      const name = n.metadata!.name!;
      return [name, plugin.filter(state, pod, cache.get(name)!)?.reasons[0] ?? 'fits'];
    }),
  );
}

describe('PodTopologySpread filter', () => {
  it('maxSkew 1 over zones admits only the emptiest zone when the others are ahead', () => {
    const v = verdicts({ a1: 1, a2: 1, b1: 1 }, constraint());
    assert.equal(v['a1'], "node(s) didn't match pod topology spread constraints");
    assert.equal(v['b1'], "node(s) didn't match pod topology spread constraints");
    assert.equal(v['c1'], 'fits');
    assert.equal(
      v['nozone'],
      "node(s) didn't match pod topology spread constraints (missing required label)",
    );
  });

  it('admits every zone when counts are level', () => {
    const v = verdicts({ a1: 1, b1: 1, c1: 1 }, constraint());
    assert.deepEqual([v['a1'], v['a2'], v['b1'], v['c1']], ['fits', 'fits', 'fits', 'fits']);
  });

  it('a larger maxSkew tolerates more imbalance', () => {
    const v = verdicts({ a1: 2, b1: 1 }, constraint({ maxSkew: 2 }));
    assert.deepEqual(
      [v['a1'], v['b1'], v['c1']],
      ["node(s) didn't match pod topology spread constraints", 'fits', 'fits'],
    );
  });

  it('minDomains above the number of domains makes the global minimum 0', () => {
    const v = verdicts({ a1: 1, b1: 1, c1: 1 }, constraint({ minDomains: 5 }));
    assert.equal(v['a1'], "node(s) didn't match pod topology spread constraints");
  });

  it("nodeAffinityPolicy Honor leaves domains the pod can't use out of the minimum", () => {
    // The pod may only use zones a and b; zone c's zero does not drag the minimum down.
    const v = verdicts({ a1: 1, b1: 1 }, constraint(), {
      affinity: {
        nodeAffinity: {
          requiredDuringSchedulingIgnoredDuringExecution: {
            nodeSelectorTerms: [{ matchExpressions: [{ key: zone, operator: 'In', values: ['a', 'b'] }] }],
          },
        },
      },
    });
    assert.equal(v['a1'], 'fits');
    assert.equal(v['b1'], 'fits');
  });

  it('ScheduleAnyway constraints do not filter; they score emptier domains higher', () => {
    const c = constraint({ whenUnsatisfiable: 'ScheduleAnyway' });
    const existing = [
      [makePod('x1', { labels: { app: 's' } }), 'a1'],
      [makePod('x2', { labels: { app: 's' } }), 'a2'],
      [makePod('x3', { labels: { app: 's' } }), 'b1'],
    ] as const;
    const cache = clusterOf(nodes, existing);
    const plugin = new PodTopologySpread(handleFor(cache));
    const pod = podInfoOf(makePod('p', { labels: { app: 's' }, topologySpreadConstraints: [c] }));
    const state = new CycleState();
    assert.equal(plugin.preFilter(state, pod), 'skip');
    assert.equal(plugin.preScore(state, pod), undefined);
    const scores = new Float64Array(
      ['a1', 'b1', 'c1', 'nozone'].map((n) => plugin.score(state, pod, cache.get(n)!)),
    );
    plugin.normalizeScores(state, pod, scores);
    const [a, b, cz, none] = [...scores];
    assert.ok(cz! > b! && b! > a!, `c (0 pods) > b (1) > a (2): ${String([...scores])}`);
    assert.equal(none, 0);
  });
});

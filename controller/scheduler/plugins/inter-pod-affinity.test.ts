import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CycleState } from '../cycle-state.js';
import { podInfoOf } from '../pod-info.js';
import { clusterOf, handleFor, makeNode, makePod } from '../testing/fixtures.js';
import type { AffinityLike, PodAffinityTermLike } from '../types.js';
import { InterPodAffinity } from './inter-pod-affinity.js';

const hostname = 'kubernetes.io/hostname';
const zone = 'topology.kubernetes.io/zone';
const term = (app: string, topologyKey: string): PodAffinityTermLike => ({
  labelSelector: { matchLabels: { app } },
  topologyKey,
});

// n1, n2 in zone a; n3 in zone b. A "db" pod runs on n1.
const nodes = [
  makeNode('n1', { labels: { [zone]: 'a' } }),
  makeNode('n2', { labels: { [zone]: 'a' } }),
  makeNode('n3', { labels: { [zone]: 'b' } }),
];

function run(
  affinity: AffinityLike | undefined,
  existing: [Parameters<typeof makePod>[1], string][],
  labels = {},
) {
  const cache = clusterOf(
    nodes,
    existing.map(([spec, node], i) => [makePod(`e${i}`, spec), node] as const),
  );
  const plugin = new InterPodAffinity(handleFor(cache));
  const pod = podInfoOf(makePod('p', { labels, ...(affinity === undefined ? {} : { affinity }) }));
  const state = new CycleState();
  const pre = plugin.preFilter(state, pod);
  const verdicts = Object.fromEntries(
    ['n1', 'n2', 'n3'].map((n) => [n, plugin.filter(state, pod, cache.get(n)!)?.reasons[0] ?? 'fits']),
  );
  return { pre, verdicts, plugin, cache, pod };
}

describe('InterPodAffinity filter', () => {
  it('required affinity by hostname: only the node running a matching pod', () => {
    const { verdicts } = run(
      { podAffinity: { requiredDuringSchedulingIgnoredDuringExecution: [term('db', hostname)] } },
      [[{ labels: { app: 'db' } }, 'n1']],
    );
    assert.deepEqual(verdicts, {
      n1: 'fits',
      n2: "node(s) didn't match pod affinity rules",
      n3: "node(s) didn't match pod affinity rules",
    });
  });

  it('required affinity by zone: every node of the zone', () => {
    const { verdicts } = run(
      { podAffinity: { requiredDuringSchedulingIgnoredDuringExecution: [term('db', zone)] } },
      [[{ labels: { app: 'db' } }, 'n1']],
    );
    assert.deepEqual(verdicts, { n1: 'fits', n2: 'fits', n3: "node(s) didn't match pod affinity rules" });
  });

  it('lets the first pod of a self-affine group go anywhere', () => {
    const { verdicts } = run(
      { podAffinity: { requiredDuringSchedulingIgnoredDuringExecution: [term('web', hostname)] } },
      [],
      { app: 'web' },
    );
    assert.deepEqual(verdicts, { n1: 'fits', n2: 'fits', n3: 'fits' });
  });

  it('required anti-affinity by hostname keeps replicas apart', () => {
    const { verdicts } = run(
      { podAntiAffinity: { requiredDuringSchedulingIgnoredDuringExecution: [term('web', hostname)] } },
      [[{ labels: { app: 'web' } }, 'n2']],
    );
    assert.deepEqual(verdicts, {
      n1: 'fits',
      n2: "node(s) didn't match pod anti-affinity rules",
      n3: 'fits',
    });
  });

  it("honours existing pods' anti-affinity (symmetry)", () => {
    const { verdicts } = run(
      undefined,
      [
        [
          {
            labels: { app: 'loner' },
            affinity: {
              podAntiAffinity: { requiredDuringSchedulingIgnoredDuringExecution: [term('p', zone)] },
            },
          },
          'n3',
        ],
      ],
      { app: 'p' },
    );
    assert.deepEqual(verdicts, {
      n1: 'fits',
      n2: 'fits',
      n3: "node(s) didn't satisfy existing pods anti-affinity rules",
    });
  });

  it('only counts pods in the namespaces the term names', () => {
    const { verdicts } = run(
      { podAntiAffinity: { requiredDuringSchedulingIgnoredDuringExecution: [term('web', hostname)] } },
      [[{ labels: { app: 'web' }, namespace: 'other' }, 'n2']],
    );
    assert.equal(verdicts['n2'], 'fits');
  });

  it('skips when neither the pod nor the cluster has affinity terms', () => {
    assert.equal(run(undefined, [[{ labels: { app: 'x' } }, 'n1']]).pre, 'skip');
  });
});

describe('InterPodAffinity scoring', () => {
  it('prefers domains with preferred-affinity matches and avoids preferred anti-affinity ones', () => {
    const { plugin, cache, pod } = run(
      {
        podAffinity: {
          preferredDuringSchedulingIgnoredDuringExecution: [
            { weight: 10, podAffinityTerm: term('cache', zone) },
          ],
        },
        podAntiAffinity: {
          preferredDuringSchedulingIgnoredDuringExecution: [
            { weight: 5, podAffinityTerm: term('noisy', hostname) },
          ],
        },
      },
      [
        [{ labels: { app: 'cache' } }, 'n1'],
        [{ labels: { app: 'noisy' } }, 'n2'],
      ],
    );
    const state = new CycleState();
    assert.equal(plugin.preScore(state, pod, []), undefined);
    const scores = new Float64Array(['n1', 'n2', 'n3'].map((n) => plugin.score(state, pod, cache.get(n)!)));
    assert.deepEqual([...scores], [10, 5, 0]);
    plugin.normalizeScores(state, pod, scores);
    assert.deepEqual([...scores], [100, 50, 0]);
  });
});

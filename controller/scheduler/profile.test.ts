import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CycleState } from './cycle-state.js';
import { podInfoOf } from './pod-info.js';
import { numFeasibleNodesToFind, Profile } from './profile.js';
import { clusterOf, handleFor, makeNode, makePod } from './testing/fixtures.js';

describe('numFeasibleNodesToFind', () => {
  it("is kube's adaptive percentage", () => {
    assert.equal(numFeasibleNodesToFind(undefined, 50), 50, 'below 100 nodes: all');
    assert.equal(numFeasibleNodesToFind(undefined, 100), 100);
    assert.equal(numFeasibleNodesToFind(undefined, 1000), 420, '50% − 1000/125 = 42%');
    assert.equal(numFeasibleNodesToFind(undefined, 5000), 500, '10%');
    assert.equal(numFeasibleNodesToFind(undefined, 15000), 750, 'floor 5%');
    assert.equal(numFeasibleNodesToFind(undefined, 150), 100, 'at least 100');
    assert.equal(numFeasibleNodesToFind(100, 1000), 1000);
    assert.equal(numFeasibleNodesToFind(20, 1000), 200);
  });
});

describe('Profile', () => {
  const nodes = Array.from({ length: 300 }, (_, i) => makeNode(`n${i}`));

  it('checks only the sample of nodes it needs, and starts the next attempt where this one stopped', () => {
    const cache = clusterOf(nodes);
    const seen: string[] = [];
    const profile = new Profile(
      {
        schedulerName: 'default-scheduler',
        extraPlugins: [
          {
            name: 'Recorder',
            factory: () => ({
              name: 'Recorder',
              filter: (_s: unknown, _p: unknown, n: { name: string }) => {
                seen.push(n.name);
                return undefined;
              },
            }),
          },
        ],
      },
      handleFor(cache),
      { random: () => 0 },
    );
    const pod = podInfoOf(makePod('p', { cpu: '10m' }));
    const first = profile.schedule(new CycleState(), pod);
    // 300 nodes: 50% − 300/125 (= 2) → 48% → 144 nodes.
    assert.deepEqual(
      first.kind === 'scheduled' ? [first.evaluatedNodes, first.feasibleNodes] : first,
      [144, 144],
    );
    assert.equal(seen[0], 'n0');
    seen.length = 0;
    profile.schedule(new CycleState(), pod);
    assert.equal(seen[0], 'n144');
    assert.equal(seen.length, 144);
    seen.length = 0;
    profile.schedule(new CycleState(), pod);
    assert.equal(seen[0], 'n288', 'wraps around');
    assert.equal(seen[12], 'n0');
  });

  it("names the plugin that narrowed nodes away, kube's way", () => {
    const cache = clusterOf(nodes.slice(0, 3));
    const profile = new Profile({ schedulerName: 'default-scheduler' }, handleFor(cache), {
      random: () => 0,
    });
    const pinned = podInfoOf(
      makePod('p', {
        cpu: '100',
        affinity: {
          nodeAffinity: {
            requiredDuringSchedulingIgnoredDuringExecution: {
              nodeSelectorTerms: [
                { matchFields: [{ key: 'metadata.name', operator: 'In', values: ['n1'] }] },
              ],
            },
          },
        },
      }),
    );
    const r = profile.schedule(new CycleState(), pinned);
    assert.ok(r.kind === 'unschedulable');
    assert.equal(
      r.message,
      "0/3 nodes are available: 1 Insufficient cpu, 2 node(s) didn't satisfy plugin(s) [NodeAffinity].",
    );
  });

  it('reports a PreFilter rejection for a pod pinned to a node that does not exist', () => {
    const cache = clusterOf(nodes.slice(0, 2));
    const profile = new Profile({ schedulerName: 'x' }, handleFor(cache), { random: () => 0 });
    const r = profile.schedule(
      new CycleState(),
      podInfoOf(
        makePod('p', {
          affinity: {
            nodeAffinity: {
              requiredDuringSchedulingIgnoredDuringExecution: {
                nodeSelectorTerms: [
                  { matchFields: [{ key: 'metadata.name', operator: 'In', values: ['gone'] }] },
                ],
              },
            },
          },
        }),
      ),
    );
    assert.equal(
      r.kind === 'unschedulable' ? r.message : r.kind,
      "0/2 nodes are available: 2 node(s) didn't satisfy plugin(s) [NodeAffinity].",
    );
  });

  it('turns a throwing plugin into an error outcome', () => {
    const cache = clusterOf(nodes.slice(0, 2));
    const profile = new Profile(
      {
        schedulerName: 'x',
        extraPlugins: [
          {
            name: 'Broken',
            factory: () => ({
              name: 'Broken',
              filter: () => {
                throw new Error('boom');
              },
            }),
          },
        ],
      },
      handleFor(cache),
      { random: () => 0 },
    );
    const r = profile.schedule(new CycleState(), podInfoOf(makePod('p')));
    assert.ok(r.kind === 'error');
    assert.match(r.message, /boom/);
  });

  it('lists plugins per extension point, honouring disabled plugins and weights', () => {
    const profile = new Profile(
      { schedulerName: 'x', disabledPlugins: ['ImageLocality'], scoreWeights: { NodeResourcesFit: 5 } },
      handleFor(clusterOf([])),
      { random: () => 0 },
    );
    const d = profile.describe();
    assert.deepEqual(d.filter, [
      'NodeUnschedulable',
      'NodeName',
      'TaintToleration',
      'NodeReady',
      'NodeAffinity',
      'NodePorts',
      'NodeResourcesFit',
      'PodTopologySpread',
      'InterPodAffinity',
    ]);
    assert.ok(d.score.includes('NodeResourcesFit×5'));
    assert.ok(!d.score.some((s) => s.startsWith('ImageLocality')));
    assert.deepEqual(d.bind, ['DefaultBinder']);
  });
});

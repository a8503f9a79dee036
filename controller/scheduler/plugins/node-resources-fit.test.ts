import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CycleState } from '../cycle-state.js';
import type { NodeInfo } from '../node-info.js';
import { podInfoOf } from '../pod-info.js';
import { clusterOf, makeNode, makePod } from '../testing/fixtures.js';
import { NodeResourcesFit } from './node-resources-fit.js';

function nodeWith(
  cpu: string,
  memory: string,
  pods: number,
  existing: { cpu: string; memory: string }[] = [],
): NodeInfo {
  const cache = clusterOf(
    [makeNode('n', { cpu, memory, pods })],
    existing.map((r, i) => [makePod(`e${i}`, r), 'n'] as const),
  );
  return cache.get('n')!;
}

const fit = new NodeResourcesFit('LeastAllocated');
const reasons = (pod: Parameters<typeof makePod>[1], node: NodeInfo): readonly string[] =>
  fit.filter(new CycleState(), podInfoOf(makePod('p', pod)), node)?.reasons ?? [];

describe('NodeResourcesFit filter', () => {
  it('fits while requests stay within allocatable minus what is requested', () => {
    const node = nodeWith('2', '4Gi', 10, [{ cpu: '1', memory: '1Gi' }]);
    assert.deepEqual(reasons({ cpu: '1', memory: '3Gi' }, node), []);
    assert.deepEqual(reasons({ cpu: '1001m' }, node), ['Insufficient cpu']);
    assert.deepEqual(reasons({ memory: '3073Mi' }, node), ['Insufficient memory']);
    assert.deepEqual(reasons({ cpu: '2', memory: '4Gi' }, node), ['Insufficient cpu', 'Insufficient memory']);
  });

  it('counts pod slots, even for pods that request nothing', () => {
    const node = nodeWith('8', '8Gi', 1, [{ cpu: '100m', memory: '1Mi' }]);
    assert.deepEqual(reasons({}, node), ['Too many pods']);
    assert.deepEqual(reasons({ cpu: '100' }, node), ['Too many pods', 'Insufficient cpu']);
  });

  it('applies the init-container max rule', () => {
    const node = nodeWith('2', '4Gi', 10);
    const pod = (initCpu: string) =>
      podInfoOf(
        makePod('p', {
          containers: [{ name: 'a', resources: { requests: { cpu: '500m' } } }],
          initContainers: [{ name: 'i', resources: { requests: { cpu: initCpu } } }],
        }),
      );
    assert.equal(
      fit.filter(new CycleState(), pod('2'), node),
      undefined,
      'init 2 CPU alone fits a 2-CPU node',
    );
    assert.deepEqual(fit.filter(new CycleState(), pod('2100m'), node)?.reasons, ['Insufficient cpu']);
  });

  it('checks extended resources by name', () => {
    const cache = clusterOf([
      {
        ...makeNode('n'),
        status: { allocatable: { cpu: '4', memory: '8Gi', pods: '10', 'example.com/gpu': '1' } },
      },
    ]);
    const pod = podInfoOf(
      makePod('p', { containers: [{ name: 'c', resources: { requests: { 'example.com/gpu': '2' } } }] }),
    );
    assert.deepEqual(fit.filter(new CycleState(), pod, cache.get('n')!)?.reasons, [
      'Insufficient example.com/gpu',
    ]);
  });
});

describe('NodeResourcesFit scoring', () => {
  const pod = podInfoOf(makePod('p', { cpu: '1', memory: '2Gi' }));
  const empty = nodeWith('4', '8Gi', 10);
  const half = nodeWith('4', '8Gi', 10, [{ cpu: '2', memory: '4Gi' }]);

  it('LeastAllocated prefers the emptier node', () => {
    const least = new NodeResourcesFit('LeastAllocated');
    // Empty: (4-1)/4 → 75 for cpu and memory; half-full: (4-3)/4 → 25.
    assert.equal(least.score(new CycleState(), pod, empty), 75);
    assert.equal(least.score(new CycleState(), pod, half), 25);
  });

  it('MostAllocated prefers the fuller node', () => {
    const most = new NodeResourcesFit('MostAllocated');
    assert.equal(most.score(new CycleState(), pod, empty), 25);
    assert.equal(most.score(new CycleState(), pod, half), 75);
  });

  it('counts request-less containers as 100m / 200Mi', () => {
    const least = new NodeResourcesFit('LeastAllocated');
    const bare = podInfoOf(makePod('bare'));
    const node = nodeWith('1', '2000Mi', 10);
    // cpu: (1000-100)/1000 → 90; memory: (2000-200)/2000 → 90.
    assert.equal(least.score(new CycleState(), bare, node), 90);
  });
});

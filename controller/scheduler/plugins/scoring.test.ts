// NodeResourcesBalancedAllocation and ImageLocality.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CycleState } from '../cycle-state.js';
import { podInfoOf } from '../pod-info.js';
import { clusterOf, handleFor, makeNode, makePod } from '../testing/fixtures.js';
import { BalancedAllocation } from './balanced-allocation.js';
import { ImageLocality } from './image-locality.js';

const st = new CycleState();

describe('NodeResourcesBalancedAllocation', () => {
  it('prefers the node where cpu and memory end up equally used', () => {
    const cache = clusterOf(
      [makeNode('balanced', { cpu: '4', memory: '4Gi' }), makeNode('skewed', { cpu: '4', memory: '4Gi' })],
      [[makePod('hog', { cpu: '2', memory: '100Mi' }), 'skewed']],
    );
    const pod = podInfoOf(makePod('p', { cpu: '1', memory: '1Gi' }));
    const plugin = new BalancedAllocation();
    assert.equal(plugin.score(st, pod, cache.get('balanced')!), 100);
    // skewed: cpu 3/4 = 0.75, memory 1124Mi/4096Mi ≈ 0.274 → std ≈ 0.238 → 76.
    assert.equal(plugin.score(st, pod, cache.get('skewed')!), 76);
  });
});

describe('ImageLocality', () => {
  const mb = 1024 * 1024;
  const cache = clusterOf([
    makeNode('has', { images: [{ names: ['docker.io/library/nginx:1.25'], sizeBytes: 500 * mb }] }),
    makeNode('also', { images: [{ names: ['docker.io/library/nginx:1.25'], sizeBytes: 500 * mb }] }),
    makeNode('none'),
  ]);
  const plugin = new ImageLocality(handleFor(cache));

  it('scores nodes holding the image, scaled by size and spread', () => {
    const pod = podInfoOf(makePod('p', { image: 'nginx:1.25' }));
    assert.equal(plugin.preScore(st, pod), undefined);
    // 500 MB × 2/3 of nodes ≈ 333 MB, on the 23 MB..1000 MB scale → 31.
    assert.equal(plugin.score(st, pod, cache.get('has')!), 31);
    assert.equal(plugin.score(st, pod, cache.get('none')!), 0);
  });

  it('skips when no node reports images', () => {
    const bare = new ImageLocality(handleFor(clusterOf([makeNode('n')])));
    assert.equal(bare.preScore(st, podInfoOf(makePod('p'))), 'skip');
  });
});

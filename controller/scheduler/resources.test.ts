import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { computePodRequests, quantityAmount } from './resources.js';
import type { ContainerLike, PodSpecLike } from './types.js';

const c = (name: string, cpu?: string, memory?: string, restartPolicy?: string): ContainerLike => ({
  name,
  resources: { requests: { ...(cpu ? { cpu } : {}), ...(memory ? { memory } : {}) } },
  ...(restartPolicy ? { restartPolicy } : {}),
});

describe('computePodRequests', () => {
  it('sums containers', () => {
    const r = computePodRequests({ containers: [c('a', '100m', '64Mi'), c('b', '1', '1Gi')] });
    assert.equal(r.requests.milliCpu, 1100);
    assert.equal(r.requests.memory, 64 * 2 ** 20 + 2 ** 30);
  });

  it('takes the largest init container when it exceeds the sum', () => {
    const spec: PodSpecLike = {
      containers: [c('a', '100m'), c('b', '200m')],
      initContainers: [c('i1', '1'), c('i2', '250m')],
    };
    assert.equal(computePodRequests(spec).requests.milliCpu, 1000);
    const small: PodSpecLike = { containers: [c('a', '500m')], initContainers: [c('i', '100m')] };
    assert.equal(computePodRequests(small).requests.milliCpu, 500);
  });

  it('adds sidecars (restartable init containers) to the running total and to later init containers', () => {
    const spec: PodSpecLike = {
      containers: [c('app', '300m')],
      initContainers: [c('sidecar', '200m', undefined, 'Always'), c('migrate', '1')],
    };
    // Running: 300m + 200m sidecar = 500m; during "migrate": 1000m + 200m sidecar = 1200m.
    assert.equal(computePodRequests(spec).requests.milliCpu, 1200);
  });

  it('adds overhead', () => {
    assert.equal(
      computePodRequests({ containers: [c('a', '100m')], overhead: { cpu: '50m' } }).requests.milliCpu,
      150,
    );
  });

  it('non-zero requests default unset cpu/memory to 100m / 200Mi, per container', () => {
    const r = computePodRequests({ containers: [c('a'), c('b', '1')] });
    assert.equal(r.requests.milliCpu, 1000);
    assert.equal(r.nonZero.milliCpu, 1100);
    assert.equal(r.nonZero.memory, 2 * 200 * 2 ** 20);
  });

  it('parses quantities once, cpu in millicores and the rest in whole units', () => {
    assert.equal(quantityAmount('cpu', '1.5'), 1500);
    assert.equal(quantityAmount('cpu', 2), 2000);
    assert.equal(quantityAmount('memory', '1Ki'), 1024);
    assert.equal(quantityAmount('memory', '10M'), 10_000_000);
    assert.equal(quantityAmount('memory', 'garbage'), 0);
  });
});

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { defaultImageGcPolicy, planImageGc, validateGcPolicy, type GcCandidate } from './image-gc.js';

const GB = 1e9;
const now = 10_000_000;
const img = (digest: string, lastUsedAt: number, gb: number, inUse = false): GcCandidate => ({
  digest,
  lastUsedAt,
  reclaimableBytes: gb * GB,
  inUse,
});

describe('planImageGc (kubelet thresholds)', () => {
  it('does nothing under the high threshold', () => {
    const plan = planImageGc(
      { capacityBytes: 100 * GB, availableBytes: 16 * GB },
      [img('a', 0, 10)],
      defaultImageGcPolicy,
      now,
    );
    assert.deepEqual(plan, { bytesToFree: 0, remove: [], expectedBytes: 0 });
  });

  it('frees down to the low threshold, least recently used first, skipping images in use or too young', () => {
    // 90% used: free 10 GB to reach 80%.
    const plan = planImageGc(
      { capacityBytes: 100 * GB, availableBytes: 10 * GB },
      [
        img('recent', now - 1000, 50),
        img('used', 100, 50, true),
        img('old', 200, 4),
        img('older', 150, 4),
        img('newer', 5_000_000, 4),
      ],
      defaultImageGcPolicy,
      now,
    );
    assert.equal(plan.bytesToFree, 10 * GB);
    assert.deepEqual(plan.remove, ['older', 'old', 'newer']);
    assert.equal(plan.expectedBytes, 12 * GB);
  });

  it('plans what it can when not enough is eligible', () => {
    const plan = planImageGc(
      { capacityBytes: 100 * GB, availableBytes: 0 },
      [img('a', 0, 1)],
      defaultImageGcPolicy,
      now,
    );
    assert.equal(plan.bytesToFree, 20 * GB);
    assert.deepEqual(plan.remove, ['a']);
  });

  it('validates policies', () => {
    assert.equal(validateGcPolicy(defaultImageGcPolicy), undefined);
    assert.match(
      validateGcPolicy({ ...defaultImageGcPolicy, lowThresholdPercent: 90 }) ?? '',
      /lowThreshold/,
    );
    assert.match(
      validateGcPolicy({ ...defaultImageGcPolicy, highThresholdPercent: 0 }) ?? '',
      /highThreshold/,
    );
  });
});

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Backoff, goDuration } from './backoff.js';

describe('Backoff', () => {
  it('arms the initial delay on the first retry, doubles, and caps', () => {
    const b = new Backoff({ initialMs: 10_000, maxMs: 40_000 });
    assert.equal(b.inBackoffSince('k', 0, 0), false, 'a first failure is retried at once');
    b.next('k', 0, 0);
    assert.equal(b.get('k'), 10_000);
    assert.equal(b.inBackoffSince('k', 1000, 5000), true);
    assert.equal(b.inBackoffSince('k', 1000, 11_000), false, 'counted from the failure');
    b.next('k', 1000, 11_000);
    assert.equal(b.get('k'), 20_000);
    b.next('k', 12_000, 31_000);
    b.next('k', 32_000, 71_000);
    assert.equal(b.get('k'), 40_000);
  });

  it('starts over when the failure comes long after the last retry', () => {
    const b = new Backoff({ initialMs: 1000, maxMs: 8000, resetAfterMs: 60_000 });
    b.next('k', 0, 0);
    b.next('k', 500, 1000);
    assert.equal(b.get('k'), 2000);
    assert.equal(b.inBackoffSince('k', 61_001, 61_002), false, 'expired entries do not hold back');
    b.next('k', 61_001, 61_002);
    assert.equal(b.get('k'), 1000);
  });

  it('counts pull back-off from the last attempt, and forgets by prefix', () => {
    const b = new Backoff();
    b.next('pod/img', 5000, 5000);
    assert.equal(b.inBackoffSinceUpdate('pod/img', 14_999), true);
    assert.equal(b.inBackoffSinceUpdate('pod/img', 15_000), false);
    assert.equal(b.expiresSinceUpdate('pod/img'), 15_000);
    b.next('other/img', 0, 0);
    b.resetPrefix('pod/');
    assert.equal(b.size, 1);
  });

  it('prints durations like Go', () => {
    assert.equal(goDuration(10_000), '10s');
    assert.equal(goDuration(80_000), '1m20s');
    assert.equal(goDuration(300_000), '5m0s');
    assert.equal(goDuration(3_600_000), '1h0m0s');
  });
});

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Backoff } from './backoff.js';

describe('Backoff', () => {
  it('doubles up to the ceiling, with equal jitter in [d/2, d)', () => {
    const low = new Backoff({ initialMs: 100, maxMs: 1000, random: () => 0 });
    assert.deepEqual(
      Array.from({ length: 6 }, () => low.next()),
      [50, 100, 200, 400, 500, 500],
    );
    const high = new Backoff({ initialMs: 100, maxMs: 1000, random: () => 0.999 });
    const delays = Array.from({ length: 6 }, () => high.next());
    assert.deepEqual(delays, [99, 199, 399, 799, 999, 999]);
  });

  it('starts over after reset, and counts attempts', () => {
    const b = new Backoff({ initialMs: 100, maxMs: 1000, random: () => 0 });
    b.next();
    b.next();
    assert.equal(b.attempt, 2);
    b.reset();
    assert.equal(b.attempt, 0);
    assert.equal(b.next(), 50);
  });

  it('spreads agents out: different random draws give different delays', () => {
    let seed = 1;
    const random = (): number => ((seed = (seed * 16807) % 2147483647) - 1) / 2147483646;
    const delays = new Set(
      Array.from({ length: 50 }, () => new Backoff({ initialMs: 1000, maxMs: 10_000, random }).next()),
    );
    assert.ok(delays.size > 40, `expected spread, got ${delays.size} distinct delays`);
  });

  it('refuses nonsense bounds', () => {
    assert.throws(() => new Backoff({ initialMs: 0, maxMs: 10 }), RangeError);
    assert.throws(() => new Backoff({ initialMs: 100, maxMs: 10 }), RangeError);
  });
});

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { EventRing } from './watch-cache-ring.js';

const ev = (revision: number): { revision: number } => ({ revision });

describe('EventRing', () => {
  it('returns the events after a revision, oldest first', () => {
    const ring = new EventRing(10, 4);
    for (const r of [5, 7, 9, 12]) ring.push(ev(r));
    assert.deepEqual(ring.since(4), [ev(5), ev(7), ev(9), ev(12)]);
    assert.deepEqual(ring.since(7), [ev(9), ev(12)]);
    assert.deepEqual(ring.since(8), [ev(9), ev(12)]);
    assert.deepEqual(ring.since(12), []);
    assert.deepEqual(ring.since(20), []);
  });

  it('refuses revisions older than its history', () => {
    const ring = new EventRing(10, 4);
    ring.push(ev(5));
    assert.equal(ring.since(3), undefined);
  });

  it('moves the start of its history up as it evicts', () => {
    const ring = new EventRing(3, 0);
    for (const r of [1, 2, 3, 4, 5]) ring.push(ev(r));
    assert.equal(ring.size, 3);
    assert.equal(ring.completeFrom, 2);
    assert.equal(ring.since(1), undefined);
    assert.deepEqual(ring.since(2), [ev(3), ev(4), ev(5)]);
    assert.deepEqual(ring.since(4), [ev(5)]);
  });

  it('starts over on reset', () => {
    const ring = new EventRing(3, 0);
    for (const r of [1, 2, 3, 4]) ring.push(ev(r));
    ring.reset(10);
    assert.equal(ring.size, 0);
    assert.equal(ring.since(9), undefined);
    assert.deepEqual(ring.since(10), []);
    ring.push(ev(11));
    assert.deepEqual(ring.since(10), [ev(11)]);
  });
});

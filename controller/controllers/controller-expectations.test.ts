import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { FakeClock } from '../../lib/clock.js';
import { ControllerExpectations } from './controller-expectations.js';

describe('controller expectations', () => {
  it('holds a controller back until every creation is observed', () => {
    const e = new ControllerExpectations({ clock: new FakeClock() });
    assert.equal(e.satisfied('ns/web'), true, 'no record');
    e.expectCreations('ns/web', 3);
    assert.equal(e.satisfied('ns/web'), false);
    e.creationObserved('ns/web');
    e.creationObserved('ns/web', 1);
    assert.equal(e.satisfied('ns/web'), false);
    e.creationObserved('ns/web');
    assert.equal(e.satisfied('ns/web'), true);
    assert.equal(e.satisfied('ns/other'), true, 'per key');
  });

  it('counts each awaited deletion once, by pod key, and ignores other pods', () => {
    const e = new ControllerExpectations({ clock: new FakeClock() });
    e.expectDeletions('ns/web', ['ns/a', 'ns/b']);
    e.deletionObserved('ns/web', 'ns/a');
    e.deletionObserved('ns/web', 'ns/a');
    e.deletionObserved('ns/web', 'ns/unrelated');
    assert.deepEqual(e.pending('ns/web'), { add: 0, del: 1 });
    assert.equal(e.satisfied('ns/web'), false);
    e.deletionObserved('ns/web', 'ns/b');
    assert.equal(e.satisfied('ns/web'), true);
  });

  it('expires after the TTL so that a lost event cannot stall a controller for ever', async () => {
    const clock = new FakeClock();
    const e = new ControllerExpectations({ clock, ttlMs: 60_000 });
    e.expectCreations('ns/web', 2);
    await clock.advance(60_000);
    assert.equal(e.satisfied('ns/web'), false);
    await clock.advance(1);
    assert.equal(e.satisfied('ns/web'), true);
    e.delete('ns/web');
    assert.equal(e.pending('ns/web'), undefined);
  });
});

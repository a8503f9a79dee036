import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Limiter } from './limiter.js';

describe('Limiter', () => {
  it('runs at most `limit` tasks at once, in arrival order', async () => {
    const l = new Limiter(2);
    let running = 0;
    let peak = 0;
    const order: number[] = [];
    const releases: (() => void)[] = [];
    const task = (i: number) =>
      l.run(async () => {
        running++;
        peak = Math.max(peak, running);
        order.push(i);
        await new Promise<void>((r) => releases.push(r));
        running--;
      });
    const all = Promise.all([0, 1, 2, 3].map(task));
    await new Promise((r) => setImmediate(r));
    assert.equal(running, 2);
    for (let i = 0; i < 100 && (releases.length > 0 || l.active > 0); i++) {
      releases.shift()?.();
      await new Promise((r) => setImmediate(r));
    }
    await all;
    assert.equal(peak, 2);
    assert.deepEqual(order, [0, 1, 2, 3]);
  });

  it('a waiter can give up', async () => {
    const l = new Limiter(1);
    let release: () => void = () => undefined;
    const first = l.run(() => new Promise<void>((r) => (release = r)));
    const ac = new AbortController();
    const second = l.run(() => Promise.resolve('ran'), ac.signal);
    ac.abort(new Error('gave up'));
    await assert.rejects(second, /gave up/);
    release();
    await first;
    assert.equal(l.active, 0);
    assert.equal(await l.run(() => Promise.resolve(7)), 7);
  });

  it('a holder can give its slot back early, once', async () => {
    const l = new Limiter(1);
    let finish: () => void = () => undefined;
    let giveBack: () => void = () => undefined;
    const first = l.runReleasable(
      (release) =>
        new Promise<void>((r) => {
          giveBack = release;
          finish = r;
        }),
    );
    let secondRan = false;
    const second = l.run(() => {
      secondRan = true;
      return new Promise<void>((r) => setImmediate(r));
    });
    await new Promise((r) => setImmediate(r));
    assert.equal(secondRan, false);
    giveBack();
    giveBack(); // a second call must not free a slot it no longer holds
    await new Promise((r) => setImmediate(r));
    assert.equal(secondRan, true);
    assert.equal(l.active, 1);
    finish();
    await Promise.all([first, second]);
    assert.equal(l.active, 0);
  });
});

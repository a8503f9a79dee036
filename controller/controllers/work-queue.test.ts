import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { FakeClock } from '../../lib/clock.js';
import { silentLogger } from '../../lib/logger.js';
import { createMetricsRegistry } from '../../lib/metrics.js';
import { WorkQueueMetricsProvider } from './work-queue-metrics.js';
import { runWorkers, WorkQueue } from './work-queue.js';

function queue(clock = new FakeClock()): { q: WorkQueue; clock: FakeClock } {
  return { q: new WorkQueue({ name: 'test', clock }), clock };
}

/** Resolves with the key if `get` settles within a few event-loop turns, else 'pending'. */
async function poll(p: Promise<string | undefined>): Promise<string | undefined> {
  return Promise.race([
    p,
    new Promise<string>((r) => {
      setImmediate(() => {
        r('pending');
      });
    }),
  ]);
}

describe('WorkQueue', () => {
  it('hands keys out in FIFO order and queues a key once', async () => {
    const { q } = queue();
    q.add('a');
    q.add('b');
    q.add('a');
    assert.equal(q.len, 2);
    assert.equal(await q.get(), 'a');
    assert.equal(await q.get(), 'b');
    assert.equal(q.len, 0);
  });

  it('never hands out a key being processed; re-queues it once after done', async () => {
    const { q } = queue();
    q.add('a');
    assert.equal(await q.get(), 'a');
    q.add('a');
    q.add('a');
    assert.equal(q.len, 0, 'a is held by a worker, so it must not be queued');
    const waiting = q.get();
    assert.equal(await poll(waiting), 'pending');
    q.done('a');
    assert.equal(await waiting, 'a', 'the waiting get receives the re-queued key');
    assert.equal(q.len, 0);
    q.done('a');
    assert.equal(q.len, 0, 'no add during the second run: nothing re-queued');
  });

  it('re-queues after done exactly once even with many adds meanwhile', async () => {
    const { q } = queue();
    q.add('x');
    const k = await q.get();
    assert.equal(k, 'x');
    for (let i = 0; i < 10; i++) q.add('x');
    q.done('x');
    assert.equal(q.len, 1);
    assert.equal(await q.get(), 'x');
    q.done('x');
    assert.equal(q.len, 0);
  });

  it('wakes a waiting get when a key arrives', async () => {
    const { q } = queue();
    const pending = q.get();
    assert.equal(await poll(pending), 'pending');
    q.add('k');
    assert.equal(await pending, 'k');
  });

  it('addAfter delays with the clock, and the earliest pending time wins', async () => {
    const { q, clock } = queue();
    q.addAfter('a', 1000);
    q.addAfter('a', 5000); // later: ignored
    q.addAfter('b', 500);
    q.addAfter('b', 100); // earlier: replaces
    assert.equal(q.len, 0);
    await clock.advance(100);
    assert.equal(q.len, 1);
    assert.equal(await q.get(), 'b');
    await clock.advance(899);
    assert.equal(q.len, 0);
    await clock.advance(1);
    assert.equal(await q.get(), 'a');
    await clock.advance(10_000);
    assert.equal(q.len, 0, 'the ignored later add must not fire again');
  });

  it('addRateLimited backs off exponentially per key until forget', async () => {
    const { q, clock } = queue();
    const delays: number[] = [];
    for (let i = 0; i < 4; i++) {
      const start = clock.now();
      q.addRateLimited('k');
      while (q.len === 0) await clock.advance(1);
      delays.push(clock.now() - start);
      assert.equal(await q.get(), 'k');
      q.done('k');
    }
    assert.deepEqual(delays, [5, 10, 20, 40]);
    assert.equal(q.numRequeues('k'), 4);
    q.forget('k');
    assert.equal(q.numRequeues('k'), 0);
    q.addRateLimited('k');
    await clock.advance(5);
    assert.equal(q.len, 1);
  });

  it('caps the back-off', () => {
    const q = new WorkQueue({ name: 't', clock: new FakeClock(), baseDelayMs: 10, maxDelayMs: 1000 });
    assert.equal(q.backoffFor(0), 10);
    assert.equal(q.backoffFor(6), 640);
    assert.equal(q.backoffFor(7), 1000);
    assert.equal(q.backoffFor(5000), 1000);
  });

  it('shutDown resolves waiting and later gets with undefined and drops pending keys', async () => {
    const { q, clock } = queue();
    const waiting = q.get();
    q.shutDown();
    assert.equal(await waiting, undefined);
    q.add('a');
    q.addAfter('b', 10);
    await clock.advance(100);
    assert.equal(q.len, 0);
    assert.equal(await q.get(), undefined);
    assert.equal(clock.pendingTimers, 0);
  });
});

describe('runWorkers', () => {
  it('retries a failing key with back-off, forgets it on success, and stops on abort', async () => {
    const clock = new FakeClock();
    const q = new WorkQueue({ name: 'w', clock });
    const calls: string[] = [];
    let failuresLeft = 2;
    const abort = new AbortController();
    const done = runWorkers(
      q,
      async (key) => {
        calls.push(key);
        await Promise.resolve();
        if (key === 'bad' && failuresLeft-- > 0) throw new Error('boom');
      },
      { workers: 2, signal: abort.signal, logger: silentLogger() },
    );
    q.add('bad');
    q.add('good');
    await clock.advance(0);
    assert.deepEqual(calls.sort(), ['bad', 'good']);
    assert.equal(q.numRequeues('bad'), 1);
    await clock.advance(5);
    assert.equal(calls.filter((c) => c === 'bad').length, 2);
    await clock.advance(10);
    assert.equal(calls.filter((c) => c === 'bad').length, 3);
    assert.equal(q.numRequeues('bad'), 0, 'success forgets the failures');
    abort.abort();
    await done;
    assert.equal(q.shuttingDown, true);
  });

  it('never runs one key on two workers at once', async () => {
    const clock = new FakeClock();
    const q = new WorkQueue({ name: 'w', clock });
    let running = 0;
    let maxRunning = 0;
    let runs = 0;
    const abort = new AbortController();
    const release: (() => void)[] = [];
    const done = runWorkers(
      q,
      async () => {
        running++;
        runs++;
        maxRunning = Math.max(maxRunning, running);
        await new Promise<void>((r) => release.push(r));
        running--;
      },
      { workers: 4, signal: abort.signal, logger: silentLogger() },
    );
    q.add('same');
    await clock.advance(0);
    for (let i = 0; i < 5; i++) q.add('same');
    await clock.advance(0);
    assert.equal(maxRunning, 1);
    release.shift()?.();
    await clock.advance(0);
    assert.equal(runs, 2, 'the adds during processing coalesce into one more run');
    release.shift()?.();
    await clock.advance(0);
    assert.equal(runs, 2);
    abort.abort();
    await done;
  });

  it('re-adds after requeueAfterMs', async () => {
    const clock = new FakeClock();
    const q = new WorkQueue({ name: 'w', clock });
    let runs = 0;
    const abort = new AbortController();
    const done = runWorkers(
      q,
      () => {
        runs++;
        return Promise.resolve({ requeueAfterMs: 1000 });
      },
      { signal: abort.signal, logger: silentLogger() },
    );
    q.add('k');
    await clock.advance(0);
    assert.equal(runs, 1);
    await clock.advance(999);
    assert.equal(runs, 1);
    await clock.advance(1);
    assert.equal(runs, 2);
    abort.abort();
    await done;
  });
});

describe('work-queue metrics', () => {
  it('exports client-go names with the queue name label', async () => {
    const registry = createMetricsRegistry({ processMetrics: false });
    const provider = new WorkQueueMetricsProvider(registry);
    // A second provider on the same registry reuses the families instead of throwing.
    const again = new WorkQueueMetricsProvider(registry);
    const clock = new FakeClock();
    const q = new WorkQueue({ name: 'demo', clock, metrics: provider.forQueue('demo') });
    new WorkQueue({ name: 'other', clock, metrics: again.forQueue('other') }).add('z');
    q.add('a');
    q.add('b');
    await clock.advance(2000);
    const a = await q.get();
    await clock.advance(500);
    q.done(a ?? '');
    q.addRateLimited('c');
    const text = await registry.metrics();
    assert.match(text, /^workqueue_depth\{name="demo"\} 1$/m);
    assert.match(text, /^workqueue_adds_total\{name="demo"\} 2$/m);
    assert.match(text, /^workqueue_adds_total\{name="other"\} 1$/m);
    assert.match(text, /^workqueue_retries_total\{name="demo"\} 1$/m);
    assert.match(text, /^workqueue_queue_duration_seconds_sum\{name="demo"\} 2$/m);
    assert.match(text, /^workqueue_work_duration_seconds_sum\{name="demo"\} 0.5$/m);
    assert.match(text, /^workqueue_work_duration_seconds_bucket\{le="1e-8",name="demo"\} 0$/m);
  });
});

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { FakeClock } from '../../lib/clock.js';
import { CachedEvent, CachedObject } from './watch-cache-event.js';
import { CacheWatcher, type WatchEncoder, type WatchOutput } from './watch-cache-watcher.js';

/** Encodes items as short readable lines so the tests can compare what was written. */
const encoder: WatchEncoder = {
  event: (e, type) => Buffer.from(`${type} ${e.key}@${e.revision}\n`),
  added: (o) => Buffer.from(`ADDED ${o.key}@${o.revision}\n`),
  bookmark: (revision, end) => Buffer.from(`BOOKMARK @${revision}${end ? ' end' : ''}\n`),
};

class Output implements WatchOutput {
  text = '';
  full = false;
  ended = false;
  destroyed = false;
  writableFinished = false;
  #drain: (() => void)[] = [];
  write(chunk: Uint8Array): boolean {
    this.text += Buffer.from(chunk).toString();
    return !this.full;
  }
  once(_event: 'drain', listener: () => void): this {
    this.#drain.push(listener);
    return this;
  }
  end(): void {
    this.ended = true;
  }
  destroy(): void {
    this.destroyed = true;
  }
  drain(): void {
    this.full = false;
    for (const l of this.#drain.splice(0)) l();
  }
  lines(): string[] {
    return this.text.split('\n').filter((l) => l !== '');
  }
}

const obj = (name: string, revision: number): CachedObject =>
  new CachedObject(name, { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name } }, revision);
const added = (name: string, revision: number): CachedEvent =>
  new CachedEvent('ADDED', revision, obj(name, revision));

function watcher(out: Output, opts: { bufferSize?: number; allowBookmarks?: boolean } = {}): CacheWatcher {
  return new CacheWatcher({
    output: out,
    encoder,
    clock: new FakeClock(),
    bufferSize: opts.bufferSize ?? 10,
    terminateGraceMs: 1000,
    allowBookmarks: opts.allowBookmarks ?? true,
    startRevision: 5,
    onEnd: () => undefined,
  });
}

describe('CacheWatcher', () => {
  it('sends initial items before live events, and live events in one write per flush', () => {
    const out = new Output();
    const w = watcher(out);
    w.start([
      { kind: 'added', object: obj('a', 3) },
      { kind: 'bookmark', revision: 5, initialEventsEnd: true },
    ]);
    w.enqueue(added('b', 6), 'ADDED');
    w.enqueue(added('c', 7), 'ADDED');
    w.flush();
    assert.deepEqual(out.lines(), ['ADDED a@3', 'BOOKMARK @5 end', 'ADDED b@6', 'ADDED c@7']);
  });

  it('sends a bookmark only when it says something new, and keeps only the newest of a run', () => {
    const out = new Output();
    const w = watcher(out);
    w.start([]);
    w.bookmark(5);
    w.flush();
    assert.deepEqual(out.lines(), [], 'the client is already at 5');
    out.full = true;
    w.enqueue(added('a', 6), 'ADDED');
    w.flush(); // written; the output now waits for 'drain'
    w.bookmark(8);
    w.bookmark(9);
    out.drain();
    assert.deepEqual(out.lines(), ['ADDED a@6', 'BOOKMARK @9']);
    assert.equal(w.queued, 0);
  });

  it('sends no bookmarks to a watcher that did not ask for them', () => {
    const out = new Output();
    const w = watcher(out, { allowBookmarks: false });
    w.start([]);
    w.bookmark(10);
    w.close({ finalBookmark: 11 });
    assert.deepEqual(out.lines(), []);
    assert.equal(out.ended, true);
  });

  it('sends a last bookmark when closed on a timeout', async () => {
    const out = new Output();
    const w = watcher(out);
    w.start([]);
    w.close({ finalBookmark: 12 });
    assert.deepEqual(out.lines(), ['BOOKMARK @12']);
    assert.equal(await w.done, 'closed');
    w.enqueue(added('late', 13), 'ADDED');
    w.flush();
    assert.deepEqual(out.lines(), ['BOOKMARK @12'], 'nothing after the end');
  });

  it('is terminated when its queue overflows, and only then', async () => {
    const out = new Output();
    const ends: string[] = [];
    const w = new CacheWatcher({
      output: out,
      encoder,
      clock: new FakeClock(),
      bufferSize: 2,
      terminateGraceMs: 1000,
      allowBookmarks: false,
      startRevision: 0,
      onEnd: (_w, how) => ends.push(how),
    });
    w.start([]);
    out.full = true;
    w.enqueue(added('a', 1), 'ADDED');
    w.flush();
    w.enqueue(added('b', 2), 'ADDED');
    w.enqueue(added('c', 3), 'ADDED');
    assert.equal(w.state, 'open');
    w.enqueue(added('d', 4), 'ADDED');
    assert.equal(w.state, 'terminated');
    assert.deepEqual(ends, ['terminated']);
    assert.equal(await w.done, 'terminated');
  });
});

/**
 * A `Store` wrapper for tests that need a lagging watcher: it delegates everything to a real store,
 * but `pause()` holds back watch delivery (after the batch in flight) until `resume()`, so a test can
 * make an informer's cache stale on purpose or overflow its watch buffer. It also counts first-page
 * lists, which is how tests see a re-list.
 */
import type { SqliteStore } from '../../store/sqlite-store.js';
import type { ListOptions, ListResult, Store, Watch, WatchEvent, WatchOptions } from '../../store/store.js';

export class GatedStore implements Store {
  readonly inner: SqliteStore;
  lists = 0;
  #gate: Promise<void> | undefined;
  #open: (() => void) | undefined;

  constructor(inner: SqliteStore) {
    this.inner = inner;
  }
  get backend(): string {
    return this.inner.backend;
  }
  pause(): void {
    this.#gate = new Promise((resolve) => (this.#open = resolve));
  }
  resume(): void {
    this.#open?.();
    this.#gate = undefined;
  }
  create(key: string, value: Uint8Array) {
    return this.inner.create(key, value);
  }
  update(key: string, value: Uint8Array, rev: number) {
    return this.inner.update(key, value, rev);
  }
  delete(key: string, rev?: number) {
    return this.inner.delete(key, rev);
  }
  get(key: string) {
    return this.inner.get(key);
  }
  list(prefix: string, opts?: ListOptions): Promise<ListResult> {
    if (opts?.continue === undefined) this.lists++;
    return this.inner.list(prefix, opts);
  }
  count(prefix: string) {
    return this.inner.count(prefix);
  }
  compact(rev: number) {
    return this.inner.compact(rev);
  }
  currentRevision() {
    return this.inner.currentRevision();
  }
  compactedRevision() {
    return this.inner.compactedRevision();
  }
  close() {
    return this.inner.close();
  }
  watch(prefix: string, from: number, opts?: WatchOptions): Watch {
    const inner = this.inner.watch(prefix, from, opts);
    const gated = async function* (self: GatedStore): AsyncGenerator<readonly WatchEvent[]> {
      const it = inner[Symbol.asyncIterator]();
      for (;;) {
        while (self.#gate !== undefined) await self.#gate;
        const next = await it.next();
        if (next.done === true) return;
        yield next.value;
      }
    };
    return {
      close: () => {
        inner.close();
      },
      [Symbol.asyncIterator]: () => gated(this),
    };
  }
}

/**
 * One watcher's delivery queue: a bounded buffer between a store that pushes event batches and a
 * consumer that iterates them. Back-pressure is by disconnection, as in kine's broadcaster: when the
 * consumer falls more than `bufferSize` events behind, the queue drops its buffer and ends with
 * `WatcherDroppedError(lastRevision)`, so a stalled watcher never holds up writers or other watchers.
 * The consumer recovers by re-watching from `lastRevision + 1` (or re-listing if that is compacted).
 *
 * An optional `replay` source is drained before live events: the store uses it to page through history
 * when a watch starts in the past, while live events already queue up behind it.
 *
 *   open ──push/replay──▶ open ──close()/abort──▶ closed (iteration ends)
 *     └──────overflow / fail(err)──────────────▶ failed (iteration throws err)
 */
import { WatcherDroppedError } from '../../lib/errors.js';
import type { Watch, WatchEvent } from './store.js';

export interface WatchQueueOptions {
  readonly bufferSize: number;
  readonly signal?: AbortSignal;
  /** Pulls the next page of history; returns undefined when history is exhausted. May throw. */
  readonly replay?: () => readonly WatchEvent[] | undefined;
  /** Called once when the queue ends for any reason, so the store can unsubscribe it. */
  readonly onEnd: () => void;
}

export class WatchQueue implements Watch {
  readonly #opts: WatchQueueOptions;
  #buffer: (readonly WatchEvent[])[] = [];
  #buffered = 0;
  #replaying: boolean;
  #state: 'open' | 'closed' | 'failed' = 'open';
  #error: unknown;
  #wake: (() => void) | undefined;
  #lastRevision = 0;
  #onAbort = (): void => {
    this.close();
  };

  constructor(opts: WatchQueueOptions) {
    this.#opts = opts;
    this.#replaying = opts.replay !== undefined;
    // Already aborted: born closed. onEnd is not called — the store has not registered us yet and
    // checks `ended` before it does.
    if (opts.signal?.aborted === true) this.#state = 'closed';
    else opts.signal?.addEventListener('abort', this.#onAbort, { once: true });
  }

  /** The revision of the last event handed to the consumer (0 before the first). */
  get lastRevision(): number {
    return this.#lastRevision;
  }

  get ended(): boolean {
    return this.#state !== 'open';
  }

  /** Queues a batch of live events (already filtered to this watcher). */
  push(events: readonly WatchEvent[]): void {
    if (this.#state !== 'open' || events.length === 0) return;
    this.#buffer.push(events);
    this.#buffered += events.length;
    if (this.#buffered > this.#opts.bufferSize) {
      this.fail(
        new WatcherDroppedError(this.#lastRevision, `more than ${this.#opts.bufferSize} events unread`),
      );
      return;
    }
    this.#notify();
  }

  /** Ends the watch with an error the consumer will see on its next read. */
  fail(err: unknown): void {
    if (this.#state !== 'open') return;
    this.#error = err;
    this.#buffer = [];
    this.#buffered = 0;
    this.#end('failed');
  }

  close(): void {
    if (this.#state !== 'open') return;
    this.#end('closed');
  }

  #end(state: 'closed' | 'failed'): void {
    this.#state = state;
    this.#opts.signal?.removeEventListener('abort', this.#onAbort);
    this.#opts.onEnd();
    this.#notify();
  }

  #notify(): void {
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  }

  async *[Symbol.asyncIterator](): AsyncIterator<readonly WatchEvent[]> {
    try {
      for (;;) {
        if (this.#state === 'failed') throw this.#error;
        if (this.#state === 'closed') return;
        if (this.#replaying && this.#opts.replay !== undefined) {
          let page: readonly WatchEvent[] | undefined;
          try {
            page = this.#opts.replay();
          } catch (err) {
            this.fail(err);
            continue;
          }
          if (page === undefined) this.#replaying = false;
          else if (page.length > 0) yield this.#deliver(page);
          continue;
        }
        const next = this.#buffer.shift();
        if (next !== undefined) {
          this.#buffered -= next.length;
          yield this.#deliver(next);
          continue;
        }
        await new Promise<void>((resolve) => {
          this.#wake = resolve;
        });
      }
    } finally {
      this.close();
    }
  }

  #deliver(events: readonly WatchEvent[]): readonly WatchEvent[] {
    const last = events[events.length - 1];
    if (last !== undefined) this.#lastRevision = last.revision;
    return events;
  }
}

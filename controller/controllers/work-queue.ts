/**
 * The keyed work queue every controller runs on, with client-go's `workqueue` semantics: events only
 * add keys; workers take keys and reconcile the object's current state (level-triggered), so a lost
 * or duplicated event does no harm.
 *
 * - Fair: keys are handed out in the order they were added (FIFO).
 * - Stingy: a key added while it waits is queued once; a key is never held by two workers at once — a
 *   key added while a worker holds it is queued again only when that worker calls `done`.
 * - Delayed and rate-limited adds: `addAfter(key, ms)` (the earliest pending time wins) and
 *   `addRateLimited(key)` with per-key exponential back-off (`baseDelayMs · 2^failures`, capped),
 *   reset by `forget(key)`. All timing goes through the injected `Clock`.
 *
 * A key's life:
 *
 *     (absent) ──add──▶ queued ──get──▶ processing ──done──▶ (absent)
 *                        ▲  add: no-op      │ add: marked dirty
 *                        └──────done────────┘ (re-queued once)
 *
 * `runWorkers` is the standard loop around it: N workers call a reconcile function, forget a key on
 * success, re-queue it with back-off when the function throws, and stop when the signal aborts.
 */
import type { Clock, Timer } from '../../lib/clock.js';
import { errorMessage } from '../../lib/errors.js';
import type { Logger } from '../../lib/logger.js';
import { isApiError } from '../../api/status.js';
import { noWorkQueueMetrics, type WorkQueueMetrics } from './work-queue-metrics.js';

export interface WorkQueueOptions {
  /** The queue's name: the `name` label of its metrics and a field of its log lines. */
  readonly name: string;
  readonly clock: Clock;
  readonly metrics?: WorkQueueMetrics;
  /** First back-off of `addRateLimited` (default 5 ms, client-go's). */
  readonly baseDelayMs?: number;
  /** Longest back-off of `addRateLimited` (default 1000 s, client-go's). */
  readonly maxDelayMs?: number;
}

interface Delayed {
  readonly readyAt: number;
  readonly timer: Timer;
}

/**
 * A de-duplicating FIFO of keys with delayed and rate-limited adds. Single-threaded (one event loop),
 * so no locking; every method is synchronous except `get`.
 */
export class WorkQueue<K = string> {
  readonly name: string;
  readonly #clock: Clock;
  readonly #metrics: WorkQueueMetrics;
  readonly #baseDelayMs: number;
  readonly #maxDelayMs: number;
  /** FIFO of queued keys; `#head` is the index of the next one (amortised O(1) shift). */
  #items: K[] = [];
  #head = 0;
  /** Keys that need processing: queued, or re-added while being processed. */
  readonly #dirty = new Set<K>();
  readonly #processing = new Map<K, number>();
  readonly #queuedAt = new Map<K, number>();
  readonly #delayed = new Map<K, Delayed>();
  readonly #failures = new Map<K, number>();
  #waiters: ((key: K | undefined) => void)[] = [];
  #shuttingDown = false;

  constructor(opts: WorkQueueOptions) {
    this.name = opts.name;
    this.#clock = opts.clock;
    this.#metrics = opts.metrics ?? noWorkQueueMetrics;
    this.#baseDelayMs = opts.baseDelayMs ?? 5;
    this.#maxDelayMs = opts.maxDelayMs ?? 1_000_000;
  }

  /** Keys waiting to be handed to a worker (not counting delayed ones or ones being processed). */
  get len(): number {
    return this.#items.length - this.#head;
  }

  get shuttingDown(): boolean {
    return this.#shuttingDown;
  }

  /** Queues `key` unless it is already queued; if a worker holds it, it is queued again on `done`. */
  add(key: K): void {
    if (this.#shuttingDown || this.#dirty.has(key)) return;
    this.#dirty.add(key);
    this.#metrics.added();
    if (this.#processing.has(key)) return;
    this.#push(key);
  }

  /** Adds `key` after `ms` (at once if `ms <= 0`). If it is already waiting, the earlier time wins. */
  addAfter(key: K, ms: number): void {
    if (this.#shuttingDown) return;
    if (ms <= 0) {
      this.add(key);
      return;
    }
    const readyAt = this.#clock.now() + ms;
    const pending = this.#delayed.get(key);
    if (pending !== undefined) {
      if (pending.readyAt <= readyAt) return;
      pending.timer.cancel();
    }
    const timer = this.#clock.setTimer(ms, () => {
      this.#delayed.delete(key);
      this.add(key);
    });
    this.#delayed.set(key, { readyAt, timer });
  }

  /** Adds `key` after its back-off: `baseDelayMs · 2^n` for its n-th failure since `forget`, capped. */
  addRateLimited(key: K): void {
    if (this.#shuttingDown) return;
    const failures = this.#failures.get(key) ?? 0;
    this.#failures.set(key, failures + 1);
    this.#metrics.retried();
    this.addAfter(key, this.backoffFor(failures));
  }

  /** The delay of a key's `failures`-th retry (0-based). */
  backoffFor(failures: number): number {
    // 2^failures overflows to Infinity past ~1000; Math.min keeps it at the cap.
    return Math.min(this.#baseDelayMs * 2 ** failures, this.#maxDelayMs);
  }

  /** Clears `key`'s failure count (call after it was processed successfully). */
  forget(key: K): void {
    this.#failures.delete(key);
  }

  /** How many times `key` has been rate-limited since its last `forget`. */
  numRequeues(key: K): number {
    return this.#failures.get(key) ?? 0;
  }

  /**
   * The next key, waiting for one if the queue is empty; the caller owns it until `done(key)`.
   * Resolves `undefined` once the queue is shut down.
   */
  get(): Promise<K | undefined> {
    if (this.#shuttingDown) return Promise.resolve(undefined);
    if (this.len > 0) return Promise.resolve(this.#take());
    return new Promise((resolve) => {
      this.#waiters.push(resolve);
    });
  }

  /** Ends processing of `key`; if it was added meanwhile, it is queued again. */
  done(key: K): void {
    const started = this.#processing.get(key);
    if (started === undefined) return;
    this.#processing.delete(key);
    this.#metrics.worked((this.#clock.now() - started) / 1000);
    if (this.#dirty.has(key) && !this.#shuttingDown) this.#push(key);
  }

  /** Stops the queue: pending and delayed keys are dropped, waiting and later `get`s resolve undefined. */
  shutDown(): void {
    if (this.#shuttingDown) return;
    this.#shuttingDown = true;
    for (const d of this.#delayed.values()) d.timer.cancel();
    this.#delayed.clear();
    this.#items = [];
    this.#head = 0;
    this.#dirty.clear();
    this.#queuedAt.clear();
    this.#metrics.depth(0);
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const w of waiters) w(undefined);
  }

  #push(key: K): void {
    this.#queuedAt.set(key, this.#clock.now());
    const waiter = this.#waiters.shift();
    if (waiter !== undefined) {
      // Someone is waiting, so the queue is empty: hand the key over directly.
      this.#items.push(key);
      waiter(this.#take());
      return;
    }
    this.#items.push(key);
    this.#metrics.depth(this.len);
  }

  #take(): K {
    const key = this.#items[this.#head] as K;
    this.#head++;
    if (this.#head > 1024 && this.#head * 2 > this.#items.length) {
      this.#items = this.#items.slice(this.#head);
      this.#head = 0;
    }
    const now = this.#clock.now();
    this.#dirty.delete(key);
    this.#processing.set(key, now);
    this.#metrics.queued((now - (this.#queuedAt.get(key) ?? now)) / 1000);
    this.#queuedAt.delete(key);
    this.#metrics.depth(this.len);
    return key;
  }
}

/** What a reconcile may ask for besides success: to be looked at again later. */
export interface ReconcileResult {
  /** Re-queue the key after this many milliseconds (level-triggered polling, e.g. grace periods). */
  readonly requeueAfterMs?: number;
}

/**
 * Brings the object behind `key` to its desired state. Throw to have the key retried with back-off;
 * return normally (optionally with `requeueAfterMs`) when done. The signal aborts on shutdown.
 */
export type Reconciler<K> = (
  key: K,
  signal: AbortSignal,
) => Promise<ReconcileResult | undefined> | Promise<void>;

export interface RunWorkersOptions {
  /** Workers processing keys concurrently (different keys only); default 1. */
  readonly workers?: number;
  /** Aborting shuts the queue down; `runWorkers` resolves when every worker has finished its key. */
  readonly signal: AbortSignal;
  readonly logger: Logger;
}

/**
 * Runs workers over `queue` until `opts.signal` aborts: each takes a key, calls `reconcile`, then
 * `forget`s it on success (re-adding it after `requeueAfterMs` if asked) or `addRateLimited`s it when
 * `reconcile` throws (logged; 409 conflicts at debug level since they are routine). Never rejects.
 */
export async function runWorkers<K>(
  queue: WorkQueue<K>,
  reconcile: Reconciler<K>,
  opts: RunWorkersOptions,
): Promise<void> {
  const { signal, logger } = opts;
  const onAbort = (): void => {
    queue.shutDown();
  };
  if (signal.aborted) onAbort();
  else signal.addEventListener('abort', onAbort, { once: true });
  const worker = async (): Promise<void> => {
    for (;;) {
      const key = await queue.get();
      if (key === undefined) return;
      try {
        const result = await reconcile(key, signal);
        queue.forget(key);
        const after = result?.requeueAfterMs;
        if (after !== undefined && !signal.aborted) queue.addAfter(key, after);
      } catch (err) {
        if (!signal.aborted) {
          const fields = { queue: queue.name, key, retries: queue.numRequeues(key), err: errorMessage(err) };
          if (isApiError(err) && err.status.code === 409)
            logger.debug(fields, 'reconcile conflict; retrying');
          else logger.warn(fields, 'reconcile failed; retrying with back-off');
          queue.addRateLimited(key);
        }
      } finally {
        queue.done(key);
      }
    }
  };
  try {
    await Promise.all(Array.from({ length: Math.max(1, opts.workers ?? 1) }, worker));
  } finally {
    signal.removeEventListener('abort', onAbort);
  }
}

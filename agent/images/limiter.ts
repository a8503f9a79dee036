/**
 * A counting semaphore for bounding concurrent work (pulls per node, layer downloads per pull),
 * first come first served. Waiting can be abandoned with an abort signal; a holder may give its slot
 * back before it finishes (`runReleasable`).
 */

export class Limiter {
  readonly #limit: number;
  #active = 0;
  readonly #waiting: { resolve: () => void; reject: (err: unknown) => void }[] = [];

  constructor(limit: number) {
    this.#limit = Math.max(1, Math.floor(limit));
  }

  get active(): number {
    return this.#active;
  }

  /** Runs `fn` when a slot is free. */
  async run<T>(fn: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    await this.#acquire(signal);
    try {
      return await fn();
    } finally {
      this.#release();
    }
  }

  /**
   * Like `run`, but `fn` may hand its slot back early by calling `release` (at most once counts), e.g.
   * when the scarce part of its work (a download) is over and the rest (unpacking) is bounded elsewhere.
   */
  async runReleasable<T>(fn: (release: () => void) => Promise<T>, signal?: AbortSignal): Promise<T> {
    await this.#acquire(signal);
    let held = true;
    const release = (): void => {
      if (!held) return;
      held = false;
      this.#release();
    };
    try {
      return await fn(release);
    } finally {
      release();
    }
  }

  #acquire(signal: AbortSignal | undefined): Promise<void> {
    signal?.throwIfAborted();
    if (this.#active < this.#limit) {
      this.#active++;
      return Promise.resolve();
    }
    return new Promise<void>((resolve, reject) => {
      const waiter = {
        resolve: () => {
          signal?.removeEventListener('abort', onAbort);
          resolve();
        },
        reject,
      };
      const onAbort = (): void => {
        const i = this.#waiting.indexOf(waiter);
        if (i >= 0) this.#waiting.splice(i, 1);
        reject(signal?.reason instanceof Error ? signal.reason : new Error('aborted'));
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.#waiting.push(waiter);
    });
  }

  #release(): void {
    const next = this.#waiting.shift();
    if (next === undefined) this.#active--;
    else next.resolve();
  }
}

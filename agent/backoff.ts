/**
 * Capped exponential back-off with jitter, for reconnecting to the controller: the first retry comes
 * quickly, later ones spread out up to a ceiling, and the jitter keeps a thousand agents that lost
 * the controller at the same moment from coming back at the same moment ("equal jitter": half the
 * delay fixed, half random).
 */

export interface BackoffOptions {
  /** Delay before the first retry, before jitter (ms). */
  readonly initialMs: number;
  /** Ceiling of the delay, before jitter (ms). */
  readonly maxMs: number;
  /** Growth per attempt (default 2). */
  readonly factor?: number;
  /** Uniform random numbers in [0, 1); injectable for tests (default Math.random). */
  readonly random?: () => number;
}

export class Backoff {
  readonly #opts: BackoffOptions;
  #attempt = 0;

  constructor(opts: BackoffOptions) {
    if (!(opts.initialMs > 0) || !(opts.maxMs >= opts.initialMs)) {
      throw new RangeError(`backoff: need 0 < initialMs <= maxMs, got ${opts.initialMs} and ${opts.maxMs}`);
    }
    this.#opts = opts;
  }

  /** Retries so far since the last reset. */
  get attempt(): number {
    return this.#attempt;
  }

  /** The delay before the next retry (ms), in [d/2, d) where d = min(max, initial·factor^attempt). */
  next(): number {
    const { initialMs, maxMs } = this.#opts;
    const factor = this.#opts.factor ?? 2;
    const ceiling = Math.min(maxMs, initialMs * factor ** Math.min(this.#attempt, 64));
    this.#attempt++;
    const random = this.#opts.random ?? Math.random;
    return Math.floor(ceiling / 2 + random() * (ceiling / 2));
  }

  /** After a success: the next retry is quick again. */
  reset(): void {
    this.#attempt = 0;
  }
}

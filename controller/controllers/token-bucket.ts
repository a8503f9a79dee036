/**
 * A token bucket on the injected clock (client-go's flowcontrol.TokenBucketRateLimiter, without
 * blocking): the node-lifecycle controller takes one token per node it taints for eviction, so that
 * many nodes failing at once are evicted at a bounded rate instead of in one storm.
 */
import type { Clock } from '../../lib/clock.js';

/** How a `TokenBucket` fills. */
export interface TokenBucketOptions {
  /** Tokens added per second; 0 means none are ever added (everything waits). */
  readonly ratePerSecond: number;
  /** Most tokens held at once (default 1); the bucket starts full. */
  readonly burst?: number;
  readonly clock: Clock;
}

/** A non-blocking token bucket: `tryTake` either takes a token or says how long to wait. Single-threaded. */
export class TokenBucket {
  readonly #clock: Clock;
  readonly #burst: number;
  #rate: number;
  #tokens: number;
  #at: number;

  constructor(opts: TokenBucketOptions) {
    this.#clock = opts.clock;
    this.#rate = Math.max(0, opts.ratePerSecond);
    this.#burst = Math.max(1, opts.burst ?? 1);
    this.#tokens = this.#burst;
    this.#at = opts.clock.now();
  }

  get ratePerSecond(): number {
    return this.#rate;
  }

  /** Changes the rate from now on (tokens already earned are kept). */
  setRate(ratePerSecond: number): void {
    this.#refill();
    this.#rate = Math.max(0, ratePerSecond);
  }

  /**
   * Takes a token if one is available and returns 0; otherwise takes nothing and returns the
   * milliseconds until one will be (Infinity at rate 0).
   */
  tryTake(): number {
    this.#refill();
    if (this.#tokens >= 1) {
      this.#tokens -= 1;
      return 0;
    }
    if (this.#rate === 0) return Infinity;
    return Math.ceil(((1 - this.#tokens) / this.#rate) * 1000);
  }

  #refill(): void {
    const now = this.#clock.now();
    const elapsed = Math.max(0, now - this.#at) / 1000;
    this.#at = now;
    this.#tokens = Math.min(this.#burst, this.#tokens + elapsed * this.#rate);
  }
}

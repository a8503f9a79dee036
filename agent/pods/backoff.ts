/**
 * Per-key exponential back-off, client-go's `flowcontrol.Backoff` as the kubelet uses it for crashing
 * containers (CrashLoopBackOff) and failing pulls (ImagePullBackOff): the first failure is retried at
 * once and arms `initialMs`; each retry while armed doubles the delay up to `maxMs`; a key whose last
 * retry is more than `resetAfterMs` before the next failure starts over (10 s → 5 min, reset after
 * 10 min by default, kubelet's values; configurable since users ask — kubernetes #57291).
 *
 * Pure bookkeeping: no timers. Callers ask "still backing off?" when they next look, and learn from
 * `expiresAt` when to look again.
 */

export interface BackoffOptions {
  /** First delay, ms. Default 10 000. */
  readonly initialMs?: number;
  /** Cap, ms. Default 300 000. */
  readonly maxMs?: number;
  /** A failure this long after the last retry resets the delay, ms. Default 600 000 (2 × max). */
  readonly resetAfterMs?: number;
}

interface Entry {
  delayMs: number;
  lastUpdate: number;
}

export class Backoff {
  readonly initialMs: number;
  readonly maxMs: number;
  readonly resetAfterMs: number;
  readonly #entries = new Map<string, Entry>();

  constructor(opts: BackoffOptions = {}) {
    this.initialMs = opts.initialMs ?? 10_000;
    this.maxMs = opts.maxMs ?? 300_000;
    this.resetAfterMs = opts.resetAfterMs ?? 2 * this.maxMs;
  }

  /** The current delay of `key`, 0 when it has none. */
  get(key: string): number {
    return this.#entries.get(key)?.delayMs ?? 0;
  }

  /**
   * Records a retry of `key` at `now`, after a failure at `eventTime`: arms `initialMs` on a new (or
   * reset) key, else doubles the delay up to the cap.
   */
  next(key: string, eventTime: number, now: number): void {
    const e = this.#entries.get(key);
    if (e === undefined || this.#expired(e, eventTime)) {
      this.#entries.set(key, { delayMs: this.initialMs, lastUpdate: now });
    } else {
      e.delayMs = Math.min(e.delayMs * 2, this.maxMs);
      e.lastUpdate = now;
    }
  }

  /** Kubelet's `IsInBackOffSince`: is `now` within the delay counted from the failure at `eventTime`? */
  inBackoffSince(key: string, eventTime: number, now: number): boolean {
    const e = this.#entries.get(key);
    if (e === undefined || this.#expired(e, eventTime)) return false;
    return now - eventTime < e.delayMs;
  }

  /** Kubelet's `IsInBackOffSinceUpdate`: is `now` within the delay counted from the last retry? */
  inBackoffSinceUpdate(key: string, now: number): boolean {
    const e = this.#entries.get(key);
    if (e === undefined || this.#expired(e, now)) return false;
    return now - e.lastUpdate < e.delayMs;
  }

  /** When the delay of `key` counted from the last retry ends (for scheduling the next look). */
  expiresSinceUpdate(key: string): number | undefined {
    const e = this.#entries.get(key);
    return e === undefined ? undefined : e.lastUpdate + e.delayMs;
  }

  /** Forgets `key`. */
  reset(key: string): void {
    this.#entries.delete(key);
  }

  /** Forgets every key that starts with `prefix` (a pod's keys when the pod goes away). */
  resetPrefix(prefix: string): void {
    for (const k of this.#entries.keys()) if (k.startsWith(prefix)) this.#entries.delete(k);
  }

  get size(): number {
    return this.#entries.size;
  }

  #expired(e: Entry, eventTime: number): boolean {
    return eventTime - e.lastUpdate > this.resetAfterMs;
  }
}

/** A duration as Go's `time.Duration.String()` prints whole seconds: `10s`, `1m20s`, `5m0s`. */
export function goDuration(ms: number): string {
  const total = Math.round(ms / 1000);
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  if (h > 0) return `${h}h${m}m${s}s`;
  if (m > 0) return `${m}m${s}s`;
  return `${s}s`;
}

/**
 * Controller expectations (client-go's UIDTrackingControllerExpectations, pkg/controller): what a
 * controller has asked for but not yet seen in its informer cache. A ReplicaSet that has just created
 * five pods must not create five more because its cache still shows none; so before each create or
 * delete burst it records how many creations (or which deletions, by pod key) it expects, the pod
 * informer's handlers count them off as the pods appear (or disappear), and the controller leaves
 * the replica count alone until the record is satisfied.
 *
 *     (no record) ──expect──▶ pending ──all observed──▶ satisfied
 *                               │ older than the TTL (default 5 min): treated as satisfied, so a
 *                               ▼ lost watch event can stall a controller for at most that long
 *                            expired
 *
 * Single-threaded (one event loop): handlers and reconciles interleave only at awaits.
 */
import type { Clock } from '../../lib/clock.js';

/** Kubernetes' ExpectationsTimeout. */
export const DEFAULT_EXPECTATIONS_TTL_MS = 5 * 60 * 1000;

interface Expectation {
  add: number;
  del: number;
  /** Keys of the pods whose deletion is awaited; a key is counted off once. */
  readonly deleteKeys: Set<string>;
  readonly setAt: number;
}

export interface ControllerExpectationsOptions {
  readonly clock: Clock;
  readonly ttlMs?: number;
}

/** Expectations per controller key (`namespace/name`). */
export class ControllerExpectations {
  readonly #clock: Clock;
  readonly #ttlMs: number;
  readonly #records = new Map<string, Expectation>();

  constructor(opts: ControllerExpectationsOptions) {
    this.#clock = opts.clock;
    this.#ttlMs = opts.ttlMs ?? DEFAULT_EXPECTATIONS_TTL_MS;
  }

  /**
   * Whether the controller behind `key` may act on its cache: no record, every expected creation and
   * deletion observed, or the record has expired.
   */
  satisfied(key: string): boolean {
    const e = this.#records.get(key);
    if (e === undefined) return true;
    if (e.add <= 0 && e.del <= 0) return true;
    return this.#clock.now() - e.setAt > this.#ttlMs;
  }

  /** Records that `count` creations are about to be issued (replacing any earlier record). */
  expectCreations(key: string, count: number): void {
    this.#records.set(key, { add: count, del: 0, deleteKeys: new Set(), setAt: this.#clock.now() });
  }

  /** Records that the pods with `podKeys` are about to be deleted (replacing any earlier record). */
  expectDeletions(key: string, podKeys: readonly string[]): void {
    this.#records.set(key, {
      add: 0,
      del: podKeys.length,
      deleteKeys: new Set(podKeys),
      setAt: this.#clock.now(),
    });
  }

  /** A pod the controller created has appeared (or a creation will never happen: it failed or was skipped). */
  creationObserved(key: string, count = 1): void {
    const e = this.#records.get(key);
    if (e !== undefined) e.add -= count;
  }

  /** The pod `podKey` has gone or started terminating (or its deletion failed); counted once per key. */
  deletionObserved(key: string, podKey: string): void {
    const e = this.#records.get(key);
    if (e?.deleteKeys.delete(podKey) === true) e.del--;
  }

  /** Forgets `key` (its controller object was deleted). */
  delete(key: string): void {
    this.#records.delete(key);
  }

  /** Outstanding creations and deletions of `key`, for tests and logs. */
  pending(key: string): { add: number; del: number } | undefined {
    const e = this.#records.get(key);
    return e === undefined ? undefined : { add: e.add, del: e.del };
  }
}

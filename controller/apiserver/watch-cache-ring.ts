/**
 * A resource's recent event history for the watch cache: a fixed-capacity ring of events in revision
 * order, so that a watch resuming from a recent resourceVersion (the usual LIST-then-WATCH, or a
 * re-watch after a dropped connection) is served from memory instead of from the store.
 *
 * The ring knows the revision from which it is complete: every event of its resource with a revision
 * above `completeFrom` is in it. A watch from N (which wants every event after N) can be served only
 * when N >= completeFrom; evicting an event moves `completeFrom` up to that event's revision.
 */

export interface Revisioned {
  readonly revision: number;
}

export class EventRing<T extends Revisioned> {
  readonly #items: (T | undefined)[];
  #start = 0;
  #size = 0;
  #completeFrom: number;

  /** `completeFrom`: the revision the history starts after (the revision of the list that filled the cache). */
  constructor(capacity: number, completeFrom: number) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError('ring capacity must be >= 1');
    this.#items = new Array<T | undefined>(capacity);
    this.#completeFrom = completeFrom;
  }

  /** Every event with a revision above this one is in the ring. */
  get completeFrom(): number {
    return this.#completeFrom;
  }

  get size(): number {
    return this.#size;
  }

  /** Forgets everything; the history now starts after `completeFrom`. */
  reset(completeFrom: number): void {
    this.#items.fill(undefined);
    this.#start = 0;
    this.#size = 0;
    this.#completeFrom = completeFrom;
  }

  /** Appends an event (revisions must not decrease), evicting the oldest when full. */
  push(item: T): void {
    const capacity = this.#items.length;
    if (this.#size === capacity) {
      const evicted = this.#items[this.#start];
      if (evicted !== undefined) this.#completeFrom = Math.max(this.#completeFrom, evicted.revision);
      this.#items[this.#start] = item;
      this.#start = (this.#start + 1) % capacity;
      return;
    }
    this.#items[(this.#start + this.#size) % capacity] = item;
    this.#size++;
  }

  /**
   * Events with a revision above `after`, oldest first — or undefined when the ring cannot prove it
   * holds all of them (`after` is older than its history).
   */
  since(after: number): T[] | undefined {
    if (after < this.#completeFrom) return undefined;
    // Binary search for the first event with revision > after.
    let lo = 0;
    let hi = this.#size;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if ((this.#at(mid) as T).revision <= after) lo = mid + 1;
      else hi = mid;
    }
    const out: T[] = [];
    for (let i = lo; i < this.#size; i++) out.push(this.#at(i) as T);
    return out;
  }

  #at(i: number): T | undefined {
    return this.#items[(this.#start + i) % this.#items.length];
  }
}

/**
 * A keyed binary heap: O(log n) push, pop, update and delete by key. The scheduling queue keeps its
 * active and back-off queues in these (kube-scheduler's internal heap).
 */

export class KeyedHeap<T> {
  readonly #items: T[] = [];
  readonly #index = new Map<string, number>();
  readonly #keyOf: (item: T) => string;
  readonly #less: (a: T, b: T) => boolean;

  /** `less(a, b)` is true when `a` must come out before `b`. */
  constructor(keyOf: (item: T) => string, less: (a: T, b: T) => boolean) {
    this.#keyOf = keyOf;
    this.#less = less;
  }

  get size(): number {
    return this.#items.length;
  }

  has(key: string): boolean {
    return this.#index.has(key);
  }

  get(key: string): T | undefined {
    const i = this.#index.get(key);
    return i === undefined ? undefined : this.#items[i];
  }

  peek(): T | undefined {
    return this.#items[0];
  }

  /** Inserts `item`, or replaces the item with the same key and restores order. */
  push(item: T): void {
    const key = this.#keyOf(item);
    const at = this.#index.get(key);
    if (at !== undefined) {
      this.#items[at] = item;
      this.#fix(at);
      return;
    }
    this.#items.push(item);
    this.#index.set(key, this.#items.length - 1);
    this.#up(this.#items.length - 1);
  }

  pop(): T | undefined {
    const items = this.#items;
    const top = items[0];
    if (top === undefined) return undefined;
    this.#removeAt(0);
    return top;
  }

  delete(key: string): T | undefined {
    const i = this.#index.get(key);
    if (i === undefined) return undefined;
    const item = this.#items[i];
    this.#removeAt(i);
    return item;
  }

  values(): IterableIterator<T> {
    return this.#items.values();
  }

  #removeAt(i: number): void {
    const items = this.#items;
    const removed = items[i] as T;
    this.#index.delete(this.#keyOf(removed));
    const last = items.pop() as T;
    if (i < items.length) {
      items[i] = last;
      this.#index.set(this.#keyOf(last), i);
      this.#fix(i);
    }
  }

  #fix(i: number): void {
    if (!this.#up(i)) this.#down(i);
  }

  #up(i: number): boolean {
    const items = this.#items;
    const item = items[i] as T;
    let moved = false;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      const p = items[parent] as T;
      if (!this.#less(item, p)) break;
      items[i] = p;
      this.#index.set(this.#keyOf(p), i);
      i = parent;
      moved = true;
    }
    items[i] = item;
    this.#index.set(this.#keyOf(item), i);
    return moved;
  }

  #down(i: number): void {
    const items = this.#items;
    const n = items.length;
    const item = items[i] as T;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      const r = l + 1;
      let c = l;
      if (r < n && this.#less(items[r] as T, items[l] as T)) c = r;
      const child = items[c] as T;
      if (!this.#less(child, item)) break;
      items[i] = child;
      this.#index.set(this.#keyOf(child), i);
      i = c;
    }
    items[i] = item;
    this.#index.set(this.#keyOf(item), i);
  }
}

/**
 * Per-attempt scratch space (kube-scheduler's CycleState): PreFilter and PreScore compute what they
 * need about the pod once, and Filter/Score read it for every node. Keys are typed and resolve to an
 * array slot, so a read in the per-node loop is an index, not a hash lookup.
 */

/** A typed slot in {@link CycleState}; create one per plugin and kind of data, at module load. */
export interface StateKey<T> {
  readonly name: string;
  readonly index: number;
  /** Phantom field carrying `T`; never set. */
  readonly _type?: T;
}

let nextIndex = 0;

/** Allocates a new slot; call once per key at module load, never per attempt. */
export function stateKey<T>(name: string): StateKey<T> {
  return { name, index: nextIndex++ };
}

/** One scheduling attempt's state. Not shared between attempts; single-threaded by construction. */
export class CycleState {
  readonly #slots: unknown[] = [];

  write<T>(key: StateKey<T>, value: T): void {
    this.#slots[key.index] = value;
  }

  /** The value written under `key` in this attempt, or `undefined`. */
  read<T>(key: StateKey<T>): T | undefined {
    return this.#slots[key.index] as T | undefined;
  }
}

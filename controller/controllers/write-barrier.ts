/**
 * Read-your-writes for controllers that reconcile from informer caches (what client-go's
 * ControllerExpectations are for). After a controller creates or deletes pods for a key, its cache
 * does not show them yet; reconciling again from that cache would create the pods twice. So each
 * write's revision is noted against the informer that will show it, and the key is not acted on until
 * every such informer has caught up to it. The informer event of the write itself wakes the key
 * again (its handler enqueues the owner), so a key held back needs no polling; callers requeue after
 * a short delay anyway, for the rare case where a re-list skips that event.
 */
import type { Informer } from './informer.js';

/** Per-key write revisions that a reconcile waits for its informers to reach. Single-threaded. */
export class WriteBarrier<K = string> {
  readonly #pending = new Map<K, Map<Informer, number>>();

  /** Notes that `informer` will show a write of revision `resourceVersion` made for `key`. */
  note(key: K, informer: Informer, resourceVersion: string | undefined): void {
    const rev = Number(resourceVersion);
    if (!Number.isFinite(rev) || rev <= 0 || informer.revision >= rev) return;
    let byInformer = this.#pending.get(key);
    if (byInformer === undefined) this.#pending.set(key, (byInformer = new Map<Informer, number>()));
    byInformer.set(informer, Math.max(rev, byInformer.get(informer) ?? 0));
  }

  /** True when every informer has caught up with `key`'s writes (and forgets them then). */
  caughtUp(key: K): boolean {
    const byInformer = this.#pending.get(key);
    if (byInformer === undefined) return true;
    for (const [informer, rev] of byInformer) {
      if (informer.revision < rev) return false;
    }
    this.#pending.delete(key);
    return true;
  }

  forget(key: K): void {
    this.#pending.delete(key);
  }
}

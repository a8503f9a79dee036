/**
 * One shared informer per resource, so that every controller in the process reads the same caches and
 * the store is listed and watched once per resource (client-go's SharedInformerFactory). Informers
 * asked for after `start` are started at once.
 */
import { findResource, type ResourceInfo } from '../../api/resources.js';
import type { Clock } from '../../lib/clock.js';
import { BerthError, errorCodes } from '../../lib/errors.js';
import type { Logger } from '../../lib/logger.js';
import type { Store } from '../store/store.js';
import { Informer } from './informer.js';

export interface InformerFactoryOptions {
  readonly store: Store;
  readonly clock: Clock;
  readonly logger: Logger;
}

export class InformerFactory {
  readonly #opts: InformerFactoryOptions;
  readonly #informers = new Map<string, Informer>();
  readonly #runs: Promise<void>[] = [];
  #signal: AbortSignal | undefined;

  constructor(opts: InformerFactoryOptions) {
    this.#opts = opts;
  }

  /** The informer of `r` (created on first request, shared afterwards). */
  informerFor(r: ResourceInfo): Informer {
    const id = `${r.group}/${r.plural}`;
    let informer = this.#informers.get(id);
    if (informer === undefined) {
      informer = new Informer({
        store: this.#opts.store,
        resource: r,
        clock: this.#opts.clock,
        logger: this.#opts.logger,
      });
      this.#informers.set(id, informer);
      if (this.#signal !== undefined) this.#runs.push(informer.run(this.#signal));
    }
    return informer;
  }

  /** Every informer created so far. */
  get informers(): readonly Informer[] {
    return [...this.#informers.values()];
  }

  /** Starts every informer, and any created later, until `signal` aborts. Idempotent. */
  start(signal: AbortSignal): void {
    if (this.#signal !== undefined) return;
    this.#signal = signal;
    for (const informer of this.#informers.values()) this.#runs.push(informer.run(signal));
  }

  /** Resolves true when every informer created so far has synced, false if `signal` aborts first. */
  async waitForSync(signal?: AbortSignal): Promise<boolean> {
    const results = await Promise.all(this.informers.map((i) => i.waitForSync(signal)));
    return results.every(Boolean);
  }

  /** Resolves when every started informer's loop has ended (after the start signal aborted). */
  async stopped(): Promise<void> {
    await Promise.all(this.#runs);
  }
}

/**
 * The served resource at `group/version/plural`. Throws (a programming error: a controller asked for a
 * resource that the registry in api/resources.ts does not have).
 */
export function requireResource(group: string, version: string, plural: string): ResourceInfo {
  const r = findResource(group, version, plural);
  if (r === undefined) {
    throw new BerthError(
      errorCodes.CONFIG_INVALID,
      `resource ${group === '' ? 'core' : group}/${version}/${plural} is not served`,
    );
  }
  return r;
}

/**
 * Automatic compaction, for any `Store`: keeps roughly `windowMs` of history (what watches and
 * old-revision lists can reach) and compacts the rest, so the embedded database does not grow without
 * bound — a long-standing complaint about kine — and etcd's history stays bounded too.
 *
 * Like etcd's periodic compactor it samples (time, revision) every `intervalMs` and compacts to the
 * newest sample that is at least `windowMs` old, so it needs nothing from the backend but
 * `currentRevision` and `compact`.
 */
import type { Clock, Timer } from '../../lib/clock.js';
import type { Logger } from '../../lib/logger.js';
import type { Store } from './store.js';

export interface CompactorOptions {
  readonly store: Store;
  readonly clock: Clock;
  readonly logger: Logger;
  /** History younger than this is kept (default 5 minutes, as kube-apiserver's compaction interval). */
  readonly windowMs?: number;
  /** How often to sample and compact (default a tenth of the window, at least 1 s). */
  readonly intervalMs?: number;
}

export class Compactor {
  readonly #opts: CompactorOptions;
  readonly #windowMs: number;
  readonly #intervalMs: number;
  #samples: { at: number; revision: number }[] = [];
  #timer: Timer | undefined;
  #running: Promise<unknown> | undefined;

  constructor(opts: CompactorOptions) {
    this.#opts = opts;
    this.#windowMs = opts.windowMs ?? 5 * 60_000;
    this.#intervalMs = opts.intervalMs ?? Math.max(1000, Math.floor(this.#windowMs / 10));
  }

  start(): void {
    if (this.#timer !== undefined) return;
    this.#timer = this.#opts.clock.setTimer(
      this.#intervalMs,
      () => {
        if (this.#running === undefined) {
          this.#running = this.tick().finally(() => {
            this.#running = undefined;
          });
        }
      },
      { repeat: true },
    );
    void this.tick();
  }

  async stop(): Promise<void> {
    this.#timer?.cancel();
    this.#timer = undefined;
    await this.#running;
  }

  /** One sample-and-compact step; returns the revision compacted to, if any. Never throws. */
  async tick(): Promise<number | undefined> {
    const { store, clock, logger } = this.#opts;
    try {
      const now = clock.now();
      this.#samples.push({ at: now, revision: await store.currentRevision() });
      let target: number | undefined;
      while (this.#samples.length > 0 && (this.#samples[0]?.at ?? now) <= now - this.#windowMs) {
        target = this.#samples.shift()?.revision;
      }
      if (target === undefined || target <= (await store.compactedRevision())) return undefined;
      await store.compact(target);
      logger.info({ revision: target, backend: store.backend }, 'compacted store history');
      return target;
    } catch (err) {
      logger.warn({ err }, 'store compaction failed; will retry');
      return undefined;
    }
  }
}

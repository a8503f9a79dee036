/**
 * One `Watch` over etcd: its own gRPC Watch stream carrying one etcd watcher (range + start revision +
 * prev_kv), turned into an async iterator of event batches with a bounded buffer.
 *
 *   starting ──(created)──▶ streaming ──close() / abort──────────────────────────▶ closed
 *      │                       │
 *      └───────────────────────┴── compacted │ buffer overflow │ stream lost ──▶ failed
 *   failed: queued batches are still delivered, then the error is thrown once, then iteration ends.
 *
 * Why a raw stream per watch rather than etcd3's `client.watch()` builder: the builder's shared
 * WatchManager reports a compacted start as a bare "Watcher canceled" error without the compaction
 * revision, and after a reconnect it resumes from the last *header* revision + 1, which skips events
 * still being replayed. A stream per watch also means cancelling one watch cannot disturb another.
 *
 * Connectivity loss is surfaced, not hidden: a broken stream fails the iterator with
 * STORE_UNAVAILABLE and the consumer re-watches from the last revision it saw (as client-go's
 * reflector does), so no event is skipped or duplicated behind its back.
 *
 * Batches are etcd's watch responses. etcd never splits one revision across responses unless
 * fragmentation is requested, which it is not. A consumer that has unread events and lets more than
 * `bufferSize` pile up is dropped with `WatcherDroppedError`; one response larger than the buffer is
 * still accepted when nothing is queued, so an attentive consumer is never dropped for etcd's batch size.
 */
import type { IDuplexStream, IEvent, IKeyValue, IWatchRequest, IWatchResponse } from 'etcd3';
import { BerthError, CompactedError, WatcherDroppedError, errorCodes } from '../../lib/errors.js';
import type { Logger } from '../../lib/logger.js';
import { etcdRevision, storeRevision, type EtcdKeyCodec } from './etcd-codec.js';
import { etcdError } from './etcd-errors.js';
import type { Watch, WatchEvent } from './store.js';

export type WatchStream = IDuplexStream<IWatchRequest, IWatchResponse>;

export interface EtcdWatchDeps {
  readonly codec: EtcdKeyCodec;
  readonly prefix: string;
  readonly fromRevision: number;
  readonly bufferSize: number;
  readonly logger: Logger;
  /** Rejects with `CompactedError` when `fromRevision` is at or below the compaction point. */
  readonly checkStart: () => Promise<void>;
  readonly openStream: () => Promise<WatchStream>;
  /** Tells the store about a compaction point etcd reported (an etcd revision). */
  readonly learnCompacted: (etcdCompactRevision: number) => void;
  /** The best-known compaction point, for errors raised without a round trip. */
  readonly knownCompacted: () => number;
  /** The store's set of live watches: the watch is in it from construction until it ends. */
  readonly registry: Set<EtcdWatch>;
  readonly signal?: AbortSignal | undefined;
}

export class EtcdWatch implements Watch {
  readonly #deps: EtcdWatchDeps;
  readonly #queue: (readonly WatchEvent[])[] = [];
  #queuedEvents = 0;
  /** Revision of the newest event accepted into the queue (fromRevision - 1 before any). */
  #lastQueued: number;
  #stream: WatchStream | undefined;
  #failure: BerthError | undefined;
  #closed = false;
  #released = false;
  #waiters: (() => void)[] = [];
  readonly #onAbort = (): void => {
    this.close();
  };

  constructor(deps: EtcdWatchDeps) {
    this.#deps = deps;
    this.#lastQueued = Math.max(0, deps.fromRevision - 1);
    deps.registry.add(this);
    if (deps.signal?.aborted === true) {
      this.close();
      return;
    }
    deps.signal?.addEventListener('abort', this.#onAbort, { once: true });
    void this.#start();
  }

  [Symbol.asyncIterator](): AsyncIterator<readonly WatchEvent[]> {
    return {
      next: () => this.#next(),
      return: () => {
        this.close();
        return Promise.resolve({ done: true, value: undefined });
      },
    };
  }

  /** Ends iteration and cancels the etcd watcher. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#queue.length = 0;
    this.#queuedEvents = 0;
    this.#end();
  }

  async #next(): Promise<IteratorResult<readonly WatchEvent[]>> {
    for (;;) {
      if (this.#closed) return { done: true, value: undefined };
      const batch = this.#queue.shift();
      if (batch !== undefined) {
        this.#queuedEvents -= batch.length;
        return { done: false, value: batch };
      }
      if (this.#failure !== undefined) {
        const failure = this.#failure;
        this.close();
        throw failure;
      }
      await new Promise<void>((resolve) => {
        this.#waiters.push(resolve);
      });
    }
  }

  async #start(): Promise<void> {
    try {
      await this.#deps.checkStart();
      if (this.#isOver()) return;
      const stream = await this.#deps.openStream();
      // Listen for errors before anything else: an unhandled 'error' event would crash the process.
      stream.on('error', (err) => {
        this.#onStreamLost(err);
      });
      stream.on('end', () => {
        this.#onStreamLost(new Error('watch stream ended by the server'));
      });
      if (this.#isOver()) {
        cancelStream(stream);
        return;
      }
      this.#stream = stream;
      stream.on('data', (res) => {
        this.#onResponse(res);
      });
      const { start, end } = this.#deps.codec.range(this.#deps.prefix);
      stream.write({
        create_request: {
          key: start,
          range_end: end,
          // Store revision 0 ("everything") is etcd revision 1; etcd would read 0 as "from now".
          start_revision: etcdRevision(this.#deps.fromRevision),
          prev_kv: true,
        },
      });
    } catch (err) {
      this.#fail(err instanceof BerthError ? err : etcdError(err, 'watch'));
    }
  }

  #onResponse(res: IWatchResponse): void {
    if (this.#isOver()) return;
    if (res.canceled) {
      const etcdCompactRevision = Number(res.compact_revision);
      if (etcdCompactRevision > 0) {
        this.#deps.learnCompacted(etcdCompactRevision);
        this.#fail(new CompactedError(this.#lastQueued + 1, storeRevision(etcdCompactRevision)));
      } else {
        this.#fail(
          new BerthError(
            errorCodes.STORE_UNAVAILABLE,
            `watch cancelled by etcd: ${res.cancel_reason || 'no reason given'}`,
          ),
        );
      }
      return;
    }
    if (res.events.length === 0) return; // the "created" answer, or a progress notification
    let batch: WatchEvent[];
    try {
      batch = res.events.map((ev) => this.#toWatchEvent(ev));
    } catch (err) {
      this.#fail(err instanceof BerthError ? err : etcdError(err, 'watch'));
      return;
    }
    if (this.#queuedEvents > 0 && this.#queuedEvents + batch.length > this.#deps.bufferSize) {
      this.#fail(
        new WatcherDroppedError(
          this.#lastQueued,
          `${this.#queuedEvents} events unread and ${batch.length} more arrived (buffer ${this.#deps.bufferSize})`,
        ),
      );
      return;
    }
    this.#queue.push(batch);
    this.#queuedEvents += batch.length;
    this.#lastQueued = batch[batch.length - 1]?.revision ?? this.#lastQueued;
    this.#wake();
  }

  #toWatchEvent(ev: IEvent): WatchEvent {
    const { codec } = this.#deps;
    const revision = storeRevision(ev.kv.mod_revision);
    // Typed as always present, but null on the wire when etcd has no previous value to send.
    const prev = ev.prev_kv as IKeyValue | null | undefined;
    const prevKv = prev ? codec.toKeyValue(prev) : undefined;
    if (ev.type === 'Delete') {
      if (prevKv === undefined) throw this.#prevKvCompacted(revision);
      return { type: 'DELETE', revision, key: codec.decode(ev.kv.key), prevKv };
    }
    const kv = codec.toKeyValue(ev.kv);
    if (kv.createRevision === kv.modRevision) return { type: 'PUT', revision, kv };
    // etcd omits prev_kv when the previous version has been compacted away; the event is then
    // incomplete, and the consumer has to re-list (kube-apiserver treats this the same way).
    if (prevKv === undefined) throw this.#prevKvCompacted(revision);
    return { type: 'PUT', revision, kv, prevKv };
  }

  #prevKvCompacted(revision: number): CompactedError {
    return new CompactedError(revision - 1, Math.max(this.#deps.knownCompacted(), revision - 1));
  }

  #onStreamLost(err: unknown): void {
    if (this.#isOver()) return;
    this.#fail(etcdError(err, 'watch stream lost'));
  }

  #fail(err: BerthError): void {
    if (this.#isOver()) return;
    this.#failure = err;
    const level = err instanceof CompactedError ? 'debug' : 'warn';
    this.#deps.logger[level](
      { err, prefix: this.#deps.prefix, lastRevision: this.#lastQueued },
      'etcd watch ended',
    );
    this.#end();
  }

  /** Releases the etcd side: cancels the stream, drops the abort listener, deregisters. */
  #end(): void {
    this.#wake();
    if (this.#released) return;
    this.#released = true;
    const stream = this.#stream;
    this.#stream = undefined;
    if (stream !== undefined) cancelStream(stream);
    this.#deps.signal?.removeEventListener('abort', this.#onAbort);
    this.#deps.registry.delete(this);
  }

  #isOver(): boolean {
    return this.#closed || this.#failure !== undefined;
  }

  #wake(): void {
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const wake of waiters) wake();
  }
}

/**
 * Half-closes, then cancels. The order matters: etcd3 marks the whole host failed (and resets every
 * gRPC client on it) when a stream that is still writable errors — and a cancel surfaces as an error.
 */
function cancelStream(stream: WatchStream): void {
  try {
    stream.end();
    stream.cancel();
  } catch {
    // already torn down
  }
}

/**
 * One API watch served by the watch cache: which events concern it, what it still has to send, and
 * how it sends it.
 *
 * The cache hands it events synchronously as they are dispatched; it writes them to the HTTP response
 * in batches, honouring back-pressure (`write()` returning false → wait for 'drain'). Live events that
 * cannot be written yet wait in a bounded queue; a watcher that falls more than `bufferSize` items
 * behind is *terminated*: its stream is ended and its client re-watches from the last resourceVersion
 * it received. Queuing is O(1) and never waits, so a stalled client costs the other watchers nothing
 * (kube-apiserver closes unresponsive watchers the same way).
 *
 * Before live events it sends its *initial* items — snapshot objects as ADDED (a watch from "now" or a
 * watch-list), or history replayed from the ring — at the pace the client reads them; live events
 * queue behind them.
 *
 *   open ──close(): client gone, timeoutSeconds, server stopping, cache re-synced──▶ closed
 *     └──queue overflow: the client does not keep up──▶ terminated (stream ended; destroyed after a grace)
 */
import type { StoredObject } from '../../api/object.js';
import type { Clock, Timer } from '../../lib/clock.js';
import type { ResourceInfo } from '../../api/resources.js';
import {
  bookmarkLine,
  eventLine,
  type CachedEvent,
  type CachedObject,
  type ObjectEventType,
} from './watch-cache-event.js';

/** The part of an HTTP response a watcher writes to (node's ServerResponse satisfies it). */
export interface WatchOutput {
  write(chunk: Uint8Array): boolean;
  once(event: 'drain', listener: () => void): unknown;
  end(): void;
  destroy(): void;
  readonly writableFinished: boolean;
}

/** Turns what a watcher sends into bytes: shared cached bytes for JSON, per-watcher for Tables. */
export interface WatchEncoder {
  event(e: CachedEvent, type: ObjectEventType): Buffer;
  added(o: CachedObject): Buffer;
  bookmark(revision: number, initialEventsEnd: boolean): Buffer;
}

/** The default JSON encoding: event lines shared between watchers, bookmark lines shared per revision. */
export function jsonWatchEncoder(r: ResourceInfo): WatchEncoder {
  let last: { revision: number; line: Buffer } | undefined;
  return {
    event: (e, type) => e.line(type),
    added: (o) => eventLine('ADDED', o.json),
    bookmark: (revision, initialEventsEnd) => {
      if (initialEventsEnd) return bookmarkLine(r, revision, true);
      if (last?.revision !== revision) last = { revision, line: bookmarkLine(r, revision) };
      return last.line;
    },
  };
}

/** Something a watcher will send. */
export type WatchItem =
  | { readonly kind: 'event'; readonly event: CachedEvent; readonly type: ObjectEventType }
  | { readonly kind: 'added'; readonly object: CachedObject }
  | { readonly kind: 'bookmark'; readonly revision: number; readonly initialEventsEnd: boolean };

export type WatcherEnd = 'closed' | 'terminated';

export interface CacheWatcherOptions {
  readonly output: WatchOutput;
  readonly encoder: WatchEncoder;
  readonly clock: Clock;
  /** Live items that may wait unsent before the watcher is terminated. */
  readonly bufferSize: number;
  /** After termination, how long the client gets to read to the end before the connection is destroyed. */
  readonly terminateGraceMs: number;
  /** Only objects in this namespace (absent: all). */
  readonly namespace?: string;
  /** The request's label/field selector (absent: everything). */
  readonly filter?: (obj: StoredObject) => boolean;
  readonly allowBookmarks: boolean;
  /** The revision the client is at once its initial items are sent (live events come after it). */
  readonly startRevision: number;
  /** Called once when the watcher ends, so the cache can deregister it. */
  readonly onEnd: (watcher: CacheWatcher, how: WatcherEnd) => void;
}

/** Initial items are written in chunks of about this many bytes, so one client cannot hog the loop. */
const CHUNK_BYTES = 64 * 1024;

export class CacheWatcher {
  readonly #o: CacheWatcherOptions;
  readonly #everything: boolean;
  #state: 'open' | WatcherEnd = 'open';
  #initial: readonly WatchItem[] = [];
  #initialIndex = 0;
  #queue: WatchItem[] = [];
  /** The revision the client will be at when everything queued has been sent. */
  #queuedRevision: number;
  #blocked = false;
  #graceTimer: Timer | undefined;
  #resolveDone!: (how: WatcherEnd) => void;
  /** Resolves when the watcher ends, with how it ended. */
  readonly done: Promise<WatcherEnd>;

  constructor(opts: CacheWatcherOptions) {
    this.#o = opts;
    this.#everything = opts.namespace === undefined && opts.filter === undefined;
    this.#queuedRevision = opts.startRevision;
    this.done = new Promise<WatcherEnd>((resolve) => {
      this.#resolveDone = resolve;
    });
  }

  get state(): 'open' | WatcherEnd {
    return this.#state;
  }

  get allowBookmarks(): boolean {
    return this.#o.allowBookmarks;
  }

  /** Live items waiting to be written. */
  get queued(): number {
    return this.#queue.length;
  }

  matches(o: CachedObject): boolean {
    if (this.#o.namespace !== undefined && o.namespace !== this.#o.namespace) return false;
    return this.#o.filter === undefined || this.#o.filter(o.object);
  }

  /**
   * What `e` is for this watcher, with Kubernetes' selector transitions: an object that starts
   * matching is ADDED, one that stops matching is DELETED; undefined when it does not concern it.
   */
  typeOf(e: CachedEvent): ObjectEventType | undefined {
    if (this.#everything) return e.type;
    if (this.#o.filter === undefined) return e.object.namespace === this.#o.namespace ? e.type : undefined;
    const now = e.type !== 'DELETED' && this.matches(e.object);
    const before = e.prev !== undefined && this.matches(e.prev);
    if (now) return before ? 'MODIFIED' : 'ADDED';
    return before ? 'DELETED' : undefined;
  }

  /**
   * Starts sending: first `initial` (snapshot objects as ADDED, or replayed history) at the client's
   * pace and without counting against `bufferSize`, then live events.
   */
  start(initial: readonly WatchItem[]): void {
    this.#initial = initial;
    this.#pump();
  }

  /** Queues a live event (already known to concern this watcher). Call `flush()` after a batch. */
  enqueue(event: CachedEvent, type: ObjectEventType): void {
    if (this.#state !== 'open') return;
    this.#queue.push({ kind: 'event', event, type });
    this.#queuedRevision = event.revision;
    if (this.#queue.length > this.#o.bufferSize) this.#terminate();
  }

  /** Queues a BOOKMARK at `revision` if bookmarks are allowed and it tells the client something new. */
  bookmark(revision: number): void {
    if (this.#state !== 'open' || !this.#o.allowBookmarks || revision <= this.#queuedRevision) return;
    const item: WatchItem = { kind: 'bookmark', revision, initialEventsEnd: false };
    const last = this.#queue[this.#queue.length - 1];
    // Consecutive bookmarks say the same thing; keep only the newest.
    if (last?.kind === 'bookmark' && !last.initialEventsEnd) this.#queue[this.#queue.length - 1] = item;
    else this.#queue.push(item);
    this.#queuedRevision = revision;
    if (this.#queue.length > this.#o.bufferSize) this.#terminate();
  }

  /** Writes what is queued, as far as the client's connection takes it. */
  flush(): void {
    this.#pump();
  }

  /**
   * Ends the watch normally. With `finalBookmark`, bookmark-enabled watchers get a last BOOKMARK at
   * that revision (sent when a watch times out, so the client resumes from a fresh resourceVersion).
   */
  close(opts: { finalBookmark?: number } = {}): void {
    if (this.#state !== 'open') return;
    if (opts.finalBookmark !== undefined) {
      this.bookmark(opts.finalBookmark);
      this.#pump();
    }
    this.#end('closed');
    this.#o.output.end();
  }

  #terminate(): void {
    this.#end('terminated');
    this.#o.output.end();
    // A stalled client never reads the end of the stream; do not keep its connection forever.
    this.#graceTimer = this.#o.clock.setTimer(this.#o.terminateGraceMs, () => {
      if (!this.#o.output.writableFinished) this.#o.output.destroy();
    });
  }

  #end(how: WatcherEnd): void {
    this.#state = how;
    this.#queue = [];
    this.#initial = [];
    this.#o.onEnd(this, how);
    this.#resolveDone(how);
  }

  /** Cancels the termination grace timer (the connection closed by itself). */
  dispose(): void {
    this.#graceTimer?.cancel();
    this.#graceTimer = undefined;
  }

  readonly #onDrain = (): void => {
    this.#blocked = false;
    this.#pump();
  };

  #pump(): void {
    while (this.#state === 'open' && !this.#blocked) {
      const chunk = this.#take();
      if (chunk === undefined) return;
      if (!this.#o.output.write(chunk)) {
        this.#blocked = true;
        this.#o.output.once('drain', this.#onDrain);
      }
    }
  }

  /** The next bytes to write: a chunk of initial items, else everything queued; undefined if nothing. */
  #take(): Buffer | undefined {
    const initial = this.#initial;
    if (this.#initialIndex < initial.length) {
      const parts: Buffer[] = [];
      let bytes = 0;
      while (this.#initialIndex < initial.length && bytes < CHUNK_BYTES) {
        const line = this.#encode(initial[this.#initialIndex++] as WatchItem);
        parts.push(line);
        bytes += line.length;
      }
      return parts.length === 1 ? parts[0] : Buffer.concat(parts, bytes);
    }
    if (this.#queue.length === 0) return undefined;
    const items = this.#queue;
    this.#queue = [];
    if (items.length === 1) return this.#encode(items[0] as WatchItem);
    return Buffer.concat(items.map((item) => this.#encode(item)));
  }

  #encode(item: WatchItem): Buffer {
    const enc = this.#o.encoder;
    switch (item.kind) {
      case 'event':
        return enc.event(item.event, item.type);
      case 'added':
        return enc.added(item.object);
      case 'bookmark':
        return enc.bookmark(item.revision, item.initialEventsEnd);
    }
  }
}

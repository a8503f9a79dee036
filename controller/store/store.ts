/**
 * The `Store` seam: a revisioned key-value log with etcd's semantics (k3s's kine is the model).
 *
 * - Every successful write (create, update, delete) gets one cluster-wide revision, strictly greater
 *   than every earlier one. A value carries `createRevision` (the write that created this incarnation
 *   of the key) and `modRevision` (its last write). The API server uses `modRevision` as an object's
 *   `metadata.resourceVersion`.
 * - `update` and `delete` compare on `modRevision` (optimistic concurrency). Losing the comparison,
 *   creating a key that exists, or touching one that does not, are expected outcomes returned as
 *   `{ ok: false }` values carrying what is there now — not exceptions.
 * - `list` is consistent at one revision, page after page (`continue` pins the first page's revision).
 * - `watch(prefix, fromRevision)` yields every event with `revision >= fromRevision`, in revision
 *   order, each with the previous value. Asking for history at or below the compaction point throws
 *   `CompactedError`; a watcher that stops reading is dropped with `WatcherDroppedError` instead of
 *   slowing writers or other watchers (it re-watches from its last revision, or re-lists).
 *
 * Implementations: `SqliteStore` (embedded, default; `:memory:` doubles as the fake for unit tests)
 * and `EtcdStore`. One contract suite (`testing/store-contract.ts`) runs against both.
 */

export interface KeyValue {
  readonly key: string;
  readonly value: Uint8Array;
  readonly createRevision: number;
  readonly modRevision: number;
}

export type WatchEvent =
  | { readonly type: 'PUT'; readonly revision: number; readonly kv: KeyValue; readonly prevKv?: KeyValue }
  | {
      readonly type: 'DELETE';
      readonly revision: number;
      readonly key: string;
      /** The value just before the delete. */
      readonly prevKv: KeyValue;
    };

export type CreateResult =
  | { readonly ok: true; readonly kv: KeyValue }
  | { readonly ok: false; readonly reason: 'exists'; readonly current: KeyValue };

export type UpdateResult =
  | { readonly ok: true; readonly kv: KeyValue; readonly prevKv: KeyValue }
  | { readonly ok: false; readonly reason: 'not-found' }
  | { readonly ok: false; readonly reason: 'conflict'; readonly current: KeyValue };

export type DeleteResult =
  | { readonly ok: true; readonly revision: number; readonly prevKv: KeyValue }
  | { readonly ok: false; readonly reason: 'not-found' }
  | { readonly ok: false; readonly reason: 'conflict'; readonly current: KeyValue };

export interface ListOptions {
  /** Read at this revision (must not be compacted). Default: the current revision. */
  readonly revision?: number;
  /** At most this many items; 0 or absent means no limit. */
  readonly limit?: number;
  /** The `continue` token of a previous page; the listing resumes at that page's revision. */
  readonly continue?: string;
}

export interface ListResult {
  readonly items: readonly KeyValue[];
  /** The revision the list is consistent at. */
  readonly revision: number;
  /** Set when more items remain; pass it back as `continue`. */
  readonly continue?: string;
  /** How many items remain after this page, when known. */
  readonly remainingItemCount?: number;
}

export interface WatchOptions {
  readonly signal?: AbortSignal;
}

/**
 * A running watch. Iterate it for batches of events (events of one revision are never split across
 * batches). Iteration ends when `close()` is called or the signal aborts, and throws
 * `CompactedError` / `WatcherDroppedError` / a `STORE_UNAVAILABLE` error when the watch is lost.
 */
export interface Watch extends AsyncIterable<readonly WatchEvent[]> {
  close(): void;
}

export interface Store {
  /** A short name for logs and metrics: "sqlite" or "etcd". */
  readonly backend: string;
  create(key: string, value: Uint8Array): Promise<CreateResult>;
  update(key: string, value: Uint8Array, expectedModRevision: number): Promise<UpdateResult>;
  /** Deletes `key`; with `expectedModRevision`, only if it still has that revision. */
  delete(key: string, expectedModRevision?: number): Promise<DeleteResult>;
  get(key: string): Promise<KeyValue | undefined>;
  /** Keys starting with `prefix`, in key order. */
  list(prefix: string, opts?: ListOptions): Promise<ListResult>;
  /** Number of live keys under `prefix` at the current revision. */
  count(prefix: string): Promise<number>;
  watch(prefix: string, fromRevision: number, opts?: WatchOptions): Watch;
  /** Drops history at and below `revision`; later reads and watches at or below it throw `CompactedError`. */
  compact(revision: number): Promise<void>;
  /** The revision of the newest write (0 for an empty store). */
  currentRevision(): Promise<number>;
  /** The highest compacted revision (0 if never compacted). */
  compactedRevision(): Promise<number>;
  close(): Promise<void>;
}

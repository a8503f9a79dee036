/**
 * The gateway's one watch on pods, fanned out to connected agents by `spec.nodeName` — a thousand
 * hollow agents cost one store watch, not a thousand. It keeps:
 *
 * - an index of every pod bound to a node (its API JSON, ready to send), from which a connecting
 *   agent gets a snapshot;
 * - a bounded history of recent changes to bound pods, so that an agent reconnecting with the last
 *   revision it applied gets only what it missed (when the history still reaches back that far);
 * - a short memory of pods deleted recently, so that late status reports about them are recognised
 *   as stale rather than as a node meddling with pods that are not its own.
 *
 * A write that changes only a pod's status is not sent: the agent is where pod status comes from,
 * so sending it back would double the stream's traffic for nothing (the kubelet ignores such
 * updates too). Snapshots carry the newest status all the same.
 *
 * Revisions are store revisions. `revision` is the newest one the feed has applied: every subscriber
 * has been sent every change to its node's pods up to it (that is what a bookmark promises). When
 * the watch is lost to compaction the feed re-lists, drops its history and sends every subscriber a
 * fresh snapshot; the agents converge level-triggered.
 *
 *   starting ──list──▶ watching ──compacted──▶ re-listing ──▶ watching
 *                         │ ▲                                    │
 *                         └─┘ dropped / store error: re-watch     └──close──▶ closed
 */
import { createHash } from 'node:crypto';
import type { StoredObject } from '../../api/object.js';
import { findResource, type ResourceInfo } from '../../api/resources.js';
import type { Clock } from '../../lib/clock.js';
import { CompactedError, errorMessage } from '../../lib/errors.js';
import type { Logger } from '../../lib/logger.js';
import type { KeyValue, Store, WatchEvent } from '../store/store.js';
import { decodeObject, resourcePrefix } from '../apiserver/object-codec.js';

/** What a connected agent's session is told. Calls happen synchronously, in revision order. */
export interface FeedSubscriber {
  /** Every pod bound to the node at `revision`; pods the agent has that are not listed are gone. */
  snapshot(pods: readonly Uint8Array[], revision: number): void;
  /** A pod bound to the node was added or changed (`upsert`), or removed from the store (`delete`). */
  change(type: 'upsert' | 'delete', pod: Uint8Array, revision: number): void;
}

export interface FeedSubscription {
  /** True when the subscriber got only the changes after its revision rather than a snapshot. */
  readonly resumed: boolean;
  close(): void;
}

/** Identifies a pod as an agent refers to it. */
export interface PodRef {
  readonly namespace: string;
  readonly name: string;
  readonly uid: string;
}

/**
 * Whose a pod is: bound to the asking node (`own`), bound elsewhere or named inconsistently
 * (`other`: refuse), or not known (`unknown`: deleted long ago or never existed; ignore).
 */
export type PodOwnership = 'own' | 'other' | 'unknown';

export interface PodFeedOptions {
  readonly store: Store;
  readonly clock: Clock;
  readonly logger: Logger;
  /** Changes kept for resuming agents (default 20,000). */
  readonly historySize?: number;
  /** Deleted pods remembered for ownership checks (default 10,000). */
  readonly recentDeletes?: number;
}

interface Entry {
  readonly key: string;
  readonly uid: string;
  readonly namespace: string;
  readonly name: string;
  readonly nodeName: string;
  readonly json: Uint8Array;
  /** Hash of everything but status and resourceVersion: equal hashes = a status-only change. */
  readonly semantic: string;
}

interface HistoryEntry {
  readonly revision: number;
  readonly nodeName: string;
  readonly type: 'upsert' | 'delete';
  readonly json: Uint8Array;
}

const pods = findResource('', 'v1', 'pods') as ResourceInfo;
const encoder = new TextEncoder();
const listPageSize = 500;
const retryDelayMs = 1000;

export class PodFeed {
  readonly #store: Store;
  readonly #clock: Clock;
  readonly #log: Logger;
  readonly #historySize: number;
  readonly #recentDeletesSize: number;
  readonly #prefix = resourcePrefix(pods);
  readonly #abort = new AbortController();

  readonly #byKey = new Map<string, Entry>();
  readonly #byUid = new Map<string, Entry>();
  readonly #byNode = new Map<string, Map<string, Entry>>();
  readonly #recentlyDeleted = new Map<string, Entry>();
  readonly #subscribers = new Map<string, Set<FeedSubscriber>>();
  #history: HistoryEntry[] = [];
  /** Every change after this revision is in `#history`. */
  #historyStart = 0;
  #revision = 0;
  #loop: Promise<void> | undefined;

  constructor(opts: PodFeedOptions) {
    this.#store = opts.store;
    this.#clock = opts.clock;
    this.#log = opts.logger;
    this.#historySize = opts.historySize ?? 20_000;
    this.#recentDeletesSize = opts.recentDeletes ?? 10_000;
  }

  /** Lists the pods and starts watching. Resolves once the index is loaded; throws if listing fails. */
  async start(): Promise<void> {
    await this.#relist();
    this.#loop = this.#watchLoop();
  }

  /** The newest store revision the feed has applied (see the module comment). */
  get revision(): number {
    return this.#revision;
  }

  /** Number of pods bound to `nodeName`. */
  podCount(nodeName: string): number {
    return this.#byNode.get(nodeName)?.size ?? 0;
  }

  /**
   * Sends `subscriber` what node `nodeName` needs — the changes after `lastAppliedRevision` when the
   * history covers them, else a snapshot — then every later change, until `close()`.
   */
  subscribe(nodeName: string, subscriber: FeedSubscriber, lastAppliedRevision: number): FeedSubscription {
    const resumed =
      lastAppliedRevision > 0 &&
      lastAppliedRevision >= this.#historyStart &&
      lastAppliedRevision <= this.#revision;
    if (resumed) {
      for (let i = this.#firstAfter(lastAppliedRevision); i < this.#history.length; i++) {
        const h = this.#history[i];
        if (h !== undefined && h.nodeName === nodeName) subscriber.change(h.type, h.json, h.revision);
      }
    } else {
      subscriber.snapshot(this.#snapshotOf(nodeName), this.#revision);
    }
    let set = this.#subscribers.get(nodeName);
    if (set === undefined) this.#subscribers.set(nodeName, (set = new Set()));
    set.add(subscriber);
    return {
      resumed,
      close: () => {
        const s = this.#subscribers.get(nodeName);
        s?.delete(subscriber);
        if (s?.size === 0) this.#subscribers.delete(nodeName);
      },
    };
  }

  /** Whose the pod `ref` is, from `nodeName`'s point of view (see {@link PodOwnership}). */
  ownership(nodeName: string, ref: PodRef): PodOwnership {
    const entry = this.#byUid.get(ref.uid) ?? this.#recentlyDeleted.get(ref.uid);
    if (entry === undefined) return 'unknown';
    if (entry.namespace !== ref.namespace || entry.name !== ref.name) return 'other';
    return entry.nodeName === nodeName ? 'own' : 'other';
  }

  /** Stops watching. Subscribers get nothing more. */
  async close(): Promise<void> {
    this.#abort.abort();
    this.#subscribers.clear();
    await this.#loop;
  }

  #snapshotOf(nodeName: string): Uint8Array[] {
    return [...(this.#byNode.get(nodeName)?.values() ?? [])].map((e) => e.json);
  }

  /** Index of the first history entry with a revision greater than `revision` (binary search). */
  #firstAfter(revision: number): number {
    let lo = 0;
    let hi = this.#history.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if ((this.#history[mid]?.revision ?? 0) <= revision) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  async #watchLoop(): Promise<void> {
    const signal = this.#abort.signal;
    while (!signal.aborted) {
      const watch = this.#store.watch(this.#prefix, this.#revision + 1, { signal });
      try {
        for await (const batch of watch) this.#apply(batch);
        // The iteration ended without an error: closed, or the store ended it. Re-watch.
      } catch (err) {
        if (this.#closing()) return;
        if (err instanceof CompactedError) {
          this.#log.warn(
            { revision: this.#revision },
            'pod watch compacted; re-listing and resending snapshots',
          );
          await this.#relistUntilDone();
          continue;
        }
        // Dropped for being slow, or a store error: re-watch from where we are after a pause.
        this.#log.warn({ err: errorMessage(err), revision: this.#revision }, 'pod watch lost; re-watching');
        await this.#pause();
      } finally {
        watch.close();
      }
    }
  }

  async #relistUntilDone(): Promise<void> {
    while (!this.#abort.signal.aborted) {
      try {
        await this.#relist();
        for (const [nodeName, set] of this.#subscribers) {
          const snapshot = this.#snapshotOf(nodeName);
          for (const sub of set) sub.snapshot(snapshot, this.#revision);
        }
        return;
      } catch (err) {
        this.#log.warn({ err: errorMessage(err) }, 'listing pods failed; retrying');
        await this.#pause();
      }
    }
  }

  #closing(): boolean {
    return this.#abort.signal.aborted;
  }

  async #pause(): Promise<void> {
    try {
      await this.#clock.sleep(retryDelayMs, this.#abort.signal);
    } catch {
      // aborted: the loop ends
    }
  }

  /** Loads every pod at one revision and resets the history to start there. */
  async #relist(): Promise<void> {
    const items: KeyValue[] = [];
    let token: string | undefined;
    let revision: number;
    do {
      const page = await this.#store.list(this.#prefix, {
        limit: listPageSize,
        ...(token === undefined ? {} : { continue: token }),
      });
      items.push(...page.items);
      revision = page.revision;
      token = page.continue;
    } while (token !== undefined);
    this.#byKey.clear();
    this.#byUid.clear();
    this.#byNode.clear();
    for (const kv of items) {
      const entry = entryOf(kv.key, decodeObject(kv));
      if (entry !== undefined) this.#index(entry);
    }
    this.#history = [];
    this.#historyStart = revision;
    this.#revision = revision;
  }

  #apply(batch: readonly WatchEvent[]): void {
    for (const e of batch) {
      if (e.revision <= this.#revision) continue; // already applied (a re-watch overlapping a re-list)
      const before = this.#byKey.get(e.type === 'PUT' ? e.kv.key : e.key);
      if (e.type === 'DELETE') {
        if (before !== undefined) {
          this.#unindex(before);
          this.#emit(e.revision, before.nodeName, 'delete', json(decodeObject(e.prevKv, e.revision)));
        }
      } else {
        const obj = decodeObject(e.kv);
        const after = entryOf(e.kv.key, obj);
        if (before !== undefined && (after === undefined || !sameBinding(before, after))) {
          // Unbound, or (never in practice: nodeName is immutable) moved: it is gone for the old node.
          this.#unindex(before);
          this.#emit(e.revision, before.nodeName, 'delete', before.json);
        }
        if (after !== undefined) {
          this.#index(after);
          const statusOnly =
            before !== undefined && sameBinding(before, after) && before.semantic === after.semantic;
          if (!statusOnly) this.#emit(e.revision, after.nodeName, 'upsert', after.json);
        }
      }
      this.#revision = e.revision;
    }
    this.#trimHistory();
  }

  #emit(revision: number, nodeName: string, type: 'upsert' | 'delete', data: Uint8Array): void {
    this.#history.push({ revision, nodeName, type, json: data });
    for (const sub of this.#subscribers.get(nodeName) ?? []) sub.change(type, data, revision);
  }

  #trimHistory(): void {
    // Trim in steps (a quarter of the size at a time) so that the splice is amortised.
    if (this.#history.length <= this.#historySize * 1.25) return;
    let cut = this.#history.length - this.#historySize;
    const last = this.#history[cut - 1]?.revision ?? this.#historyStart;
    // Never split one revision's entries: the history must hold all or none of a revision.
    while (this.#history[cut]?.revision === last) cut++;
    this.#history.splice(0, cut);
    this.#historyStart = Math.max(this.#historyStart, last);
  }

  #index(entry: Entry): void {
    this.#byKey.set(entry.key, entry);
    this.#byUid.set(entry.uid, entry);
    this.#recentlyDeleted.delete(entry.uid);
    let node = this.#byNode.get(entry.nodeName);
    if (node === undefined) this.#byNode.set(entry.nodeName, (node = new Map<string, Entry>()));
    node.set(entry.uid, entry);
  }

  #unindex(entry: Entry): void {
    this.#byKey.delete(entry.key);
    this.#byUid.delete(entry.uid);
    const node = this.#byNode.get(entry.nodeName);
    node?.delete(entry.uid);
    if (node?.size === 0) this.#byNode.delete(entry.nodeName);
    this.#recentlyDeleted.set(entry.uid, entry);
    if (this.#recentlyDeleted.size > this.#recentDeletesSize) {
      const oldest = this.#recentlyDeleted.keys().next();
      if (oldest.done !== true) this.#recentlyDeleted.delete(oldest.value);
    }
  }
}

/** The index entry of a pod bound to a node, or undefined for an unbound pod. */
function entryOf(key: string, obj: StoredObject): Entry | undefined {
  const nodeName = (obj.spec as { nodeName?: unknown } | undefined)?.nodeName;
  if (typeof nodeName !== 'string' || nodeName === '') return undefined;
  return {
    key,
    uid: obj.metadata.uid ?? '',
    namespace: obj.metadata.namespace ?? '',
    name: obj.metadata.name ?? '',
    nodeName,
    json: json(obj),
    semantic: semanticHash(obj),
  };
}

function sameBinding(a: Entry, b: Entry): boolean {
  return a.uid === b.uid && a.nodeName === b.nodeName;
}

function semanticHash(obj: StoredObject): string {
  const { resourceVersion: _rv, managedFields: _mf, ...metadata } = obj.metadata;
  return createHash('sha1')
    .update(JSON.stringify({ ...obj, metadata, status: undefined }))
    .digest('base64');
}

function json(obj: StoredObject): Uint8Array {
  return encoder.encode(JSON.stringify(obj));
}

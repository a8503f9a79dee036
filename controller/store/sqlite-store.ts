/**
 * The embedded store: `Store` on SQLite (better-sqlite3, WAL, synchronous=FULL). Default backend of
 * `berth server`; opened on `:memory:` it is also the fast, real-semantics fake for unit tests.
 *
 * Writes are group-committed: every write request joins a queue, and one transaction per turn of the
 * event loop applies the whole queue — so 64 concurrent writers share one fsync instead of paying 64 —
 * and only after that commit are the callers answered and the watchers told. better-sqlite3 is
 * synchronous and this process is the only writer, so revisions are assigned here, compare-and-swap
 * is checked inside the transaction, and a watch can replay history and subscribe to live events in
 * one tick without a gap or a duplicate.
 */
import Database from 'better-sqlite3';
import type { Database as Db } from 'better-sqlite3';
import { realClock, type Clock } from '../../lib/clock.js';
import { BerthError, CompactedError, errorCodes } from '../../lib/errors.js';
import { silentLogger, type Logger } from '../../lib/logger.js';
import { decodeContinue, encodeContinue, prefixEnd, validateKey } from './continue-token.js';
import {
  applySchema,
  OP_DELETE,
  OP_PUT,
  prepareStatements,
  type HistoryRow,
  type KvRow,
  type Statements,
} from './sqlite-schema.js';
import type {
  CreateResult,
  DeleteResult,
  KeyValue,
  ListOptions,
  ListResult,
  Store,
  UpdateResult,
  Watch,
  WatchEvent,
  WatchOptions,
} from './store.js';
import { WatchQueue } from './watch-queue.js';

export interface SqliteStoreOptions {
  /** Database file, or `:memory:`. */
  readonly path: string;
  readonly clock?: Clock;
  readonly logger?: Logger;
  /** Events a watcher may fall behind before it is dropped (default 1000). */
  readonly watchBufferSize?: number;
  /** History replayed per step when a watch starts in the past (default 500 rows). */
  readonly replayPageSize?: number;
}

/** Above every key: keys are validated to be shorter than this sentinel sorts. */
const KEY_SPACE_END = '\u{10ffff}';
const COMPACT_CHUNK = 5000;

type WriteOp =
  | { kind: 'create'; key: string; value: Uint8Array }
  | { kind: 'update'; key: string; value: Uint8Array; expected: number }
  | { kind: 'delete'; key: string; expected: number | undefined };

type WriteResult = CreateResult | UpdateResult | DeleteResult;

interface Pending {
  op: WriteOp;
  resolve: (r: WriteResult) => void;
  reject: (err: unknown) => void;
}

interface Subscriber {
  start: string;
  end: string;
  /** Live events below this revision are not for this watcher (it asked for a future revision). */
  minRevision: number;
  queue: WatchQueue;
}

export class SqliteStore implements Store {
  readonly backend = 'sqlite';
  readonly #db: Db;
  readonly #st: Statements;
  readonly #clock: Clock;
  readonly #log: Logger;
  readonly #watchBufferSize: number;
  readonly #replayPageSize: number;
  #revision: number;
  #compacted: number;
  #queue: Pending[] = [];
  #flushScheduled = false;
  #flushed: Promise<void> = Promise.resolve();
  #subscribers = new Set<Subscriber>();
  #closed = false;

  constructor(opts: SqliteStoreOptions) {
    this.#clock = opts.clock ?? realClock;
    this.#log = opts.logger ?? silentLogger();
    this.#watchBufferSize = opts.watchBufferSize ?? 1000;
    this.#replayPageSize = opts.replayPageSize ?? 500;
    try {
      this.#db = new Database(opts.path);
      applySchema(this.#db);
    } catch (err) {
      throw new BerthError(errorCodes.STORE_UNAVAILABLE, `open sqlite store ${opts.path}: ${String(err)}`, {
        cause: err,
      });
    }
    this.#st = prepareStatements(this.#db);
    this.#revision = this.#meta('current_revision');
    this.#compacted = this.#meta('compacted_revision');
  }

  #meta(name: string): number {
    return this.#st.getMeta.get(name)?.value ?? 0;
  }

  #assertOpen(): void {
    if (this.#closed) throw new BerthError(errorCodes.STORE_UNAVAILABLE, 'sqlite store is closed');
  }

  // ── writes ────────────────────────────────────────────────────────────────────────────────────

  create(key: string, value: Uint8Array): Promise<CreateResult> {
    return this.#enqueue({ kind: 'create', key, value }) as Promise<CreateResult>;
  }

  update(key: string, value: Uint8Array, expectedModRevision: number): Promise<UpdateResult> {
    return this.#enqueue({
      kind: 'update',
      key,
      value,
      expected: expectedModRevision,
    }) as Promise<UpdateResult>;
  }

  delete(key: string, expectedModRevision?: number): Promise<DeleteResult> {
    return this.#enqueue({ kind: 'delete', key, expected: expectedModRevision }) as Promise<DeleteResult>;
  }

  #enqueue(op: WriteOp): Promise<WriteResult> {
    return new Promise<WriteResult>((resolve, reject) => {
      this.#assertOpen();
      validateKey(op.key);
      this.#queue.push({ op, resolve, reject });
      if (!this.#flushScheduled) {
        this.#flushScheduled = true;
        // setImmediate, not a microtask: writers woken by the previous commit all get to queue first.
        this.#flushed = new Promise<void>((done) => {
          setImmediate(() => {
            this.#flush();
            done();
          });
        });
      }
    });
  }

  #flush(): void {
    this.#flushScheduled = false;
    const batch = this.#queue;
    this.#queue = [];
    if (batch.length === 0) return;
    const startRevision = this.#revision;
    const now = this.#clock.now();
    const results: WriteResult[] = [];
    const events: WatchEvent[] = [];
    try {
      this.#db.transaction(() => {
        for (const p of batch) results.push(this.#apply(p.op, now, events));
        if (this.#revision !== startRevision) this.#st.setMeta.run(this.#revision, 'current_revision');
      })();
    } catch (err) {
      this.#revision = startRevision;
      const failure = new BerthError(errorCodes.STORE_UNAVAILABLE, `sqlite commit: ${String(err)}`, {
        cause: err,
      });
      this.#log.error({ err }, 'sqlite commit failed');
      for (const p of batch) p.reject(failure);
      return;
    }
    batch.forEach((p, i) => {
      p.resolve(results[i] as WriteResult);
    });
    if (events.length > 0) this.#publish(events);
  }

  /** Applies one write inside the open transaction; returns the caller's result. */
  #apply(op: WriteOp, now: number, events: WatchEvent[]): WriteResult {
    const current = this.#st.getKv.get(op.key);
    const prev = current === undefined ? undefined : toKv(current);
    switch (op.kind) {
      case 'create': {
        if (prev !== undefined) return { ok: false, reason: 'exists', current: prev };
        const revision = ++this.#revision;
        const prevRevision = this.#st.lastLogRevision.get(op.key)?.revision ?? 0;
        this.#st.appendLog.run(revision, op.key, OP_PUT, revision, prevRevision, op.value, now);
        this.#st.upsertKv.run(op.key, op.value, revision, revision);
        const kv: KeyValue = {
          key: op.key,
          value: copy(op.value),
          createRevision: revision,
          modRevision: revision,
        };
        events.push({ type: 'PUT', revision, kv });
        return { ok: true, kv };
      }
      case 'update': {
        if (prev === undefined) return { ok: false, reason: 'not-found' };
        if (prev.modRevision !== op.expected) return { ok: false, reason: 'conflict', current: prev };
        const revision = ++this.#revision;
        this.#st.appendLog.run(
          revision,
          op.key,
          OP_PUT,
          prev.createRevision,
          prev.modRevision,
          op.value,
          now,
        );
        this.#st.upsertKv.run(op.key, op.value, prev.createRevision, revision);
        const kv: KeyValue = {
          key: op.key,
          value: copy(op.value),
          createRevision: prev.createRevision,
          modRevision: revision,
        };
        events.push({ type: 'PUT', revision, kv, prevKv: prev });
        return { ok: true, kv, prevKv: prev };
      }
      case 'delete': {
        if (prev === undefined) return { ok: false, reason: 'not-found' };
        if (op.expected !== undefined && prev.modRevision !== op.expected) {
          return { ok: false, reason: 'conflict', current: prev };
        }
        const revision = ++this.#revision;
        this.#st.appendLog.run(revision, op.key, OP_DELETE, prev.createRevision, prev.modRevision, null, now);
        this.#st.deleteKv.run(op.key);
        events.push({ type: 'DELETE', revision, key: op.key, prevKv: prev });
        return { ok: true, revision, prevKv: prev };
      }
    }
  }

  #publish(events: readonly WatchEvent[]): void {
    for (const sub of this.#subscribers) {
      const mine = events.filter((e) => {
        const key = e.type === 'PUT' ? e.kv.key : e.key;
        return e.revision >= sub.minRevision && key >= sub.start && key < sub.end;
      });
      sub.queue.push(mine);
    }
  }

  // ── reads ─────────────────────────────────────────────────────────────────────────────────────

  get(key: string): Promise<KeyValue | undefined> {
    return settle(() => {
      this.#assertOpen();
      const row = this.#st.getKv.get(key);
      return row === undefined ? undefined : toKv(row);
    });
  }

  count(prefix: string): Promise<number> {
    return settle(() => {
      this.#assertOpen();
      return this.#st.countCurrent.get(prefix, prefixEnd(prefix) ?? KEY_SPACE_END, '')?.n ?? 0;
    });
  }

  list(prefix: string, opts: ListOptions = {}): Promise<ListResult> {
    return settle(() => this.#list(prefix, opts));
  }

  #list(prefix: string, opts: ListOptions): ListResult {
    this.#assertOpen();
    let revision = opts.revision !== undefined && opts.revision > 0 ? opts.revision : this.#revision;
    let after = '';
    if (opts.continue !== undefined && opts.continue !== '') {
      const point = decodeContinue(opts.continue);
      revision = point.revision;
      after = point.afterKey;
    }
    if (revision > this.#revision) {
      throw new BerthError(
        errorCodes.STORE_FUTURE_REVISION,
        `revision ${revision} is newer than the current revision ${this.#revision}`,
      );
    }
    if (revision < this.#revision && revision <= this.#compacted)
      throw new CompactedError(revision, this.#compacted);
    const end = prefixEnd(prefix) ?? KEY_SPACE_END;
    const limit = opts.limit !== undefined && opts.limit > 0 ? opts.limit : -1;
    // One read transaction, so the page and the remaining count agree.
    const read = this.#db.transaction(() => {
      const atHead = revision === this.#revision;
      const rows = atHead
        ? this.#st.listCurrent.all(prefix, end, after, limit)
        : this.#st.listAt.all(prefix, end, after, revision, limit);
      const last = rows[rows.length - 1];
      let remaining = 0;
      if (limit > 0 && rows.length === limit && last !== undefined) {
        remaining = atHead
          ? (this.#st.countCurrent.get(prefix, end, last.key)?.n ?? 0)
          : (this.#st.countAt.get(prefix, end, last.key, revision)?.n ?? 0);
      }
      return { rows, remaining, last };
    });
    const { rows, remaining, last } = read();
    const result: ListResult = { items: rows.map(toKv), revision };
    if (remaining > 0 && last !== undefined) {
      return {
        ...result,
        continue: encodeContinue({ revision, afterKey: last.key }),
        remainingItemCount: remaining,
      };
    }
    return result;
  }

  watch(prefix: string, fromRevision: number, opts: WatchOptions = {}): Watch {
    this.#assertOpen();
    const start = prefix;
    const end = prefixEnd(prefix) ?? KEY_SPACE_END;
    const replayUntil = this.#revision;
    let cursor = fromRevision > 0 ? fromRevision : replayUntil + 1;
    const sub: Subscriber = {
      start,
      end,
      minRevision: cursor,
      queue: new WatchQueue({
        bufferSize: this.#watchBufferSize,
        ...(opts.signal === undefined ? {} : { signal: opts.signal }),
        replay: () => {
          if (cursor > replayUntil) return undefined;
          if (cursor <= this.#compacted) throw new CompactedError(cursor, this.#compacted);
          if (this.#closed) throw new BerthError(errorCodes.STORE_UNAVAILABLE, 'sqlite store is closed');
          const rows = this.#st.history.all(cursor, replayUntil, start, end, this.#replayPageSize);
          const lastRow = rows[rows.length - 1];
          cursor = lastRow === undefined ? replayUntil + 1 : lastRow.revision + 1;
          return rows.map(toEvent);
        },
        onEnd: () => this.#subscribers.delete(sub),
      }),
    };
    if (fromRevision > 0 && fromRevision <= this.#compacted) {
      sub.queue.fail(new CompactedError(fromRevision, this.#compacted));
    } else if (!sub.queue.ended) {
      this.#subscribers.add(sub);
    }
    return sub.queue;
  }

  currentRevision(): Promise<number> {
    return settle(() => {
      this.#assertOpen();
      return this.#revision;
    });
  }

  compactedRevision(): Promise<number> {
    return settle(() => {
      this.#assertOpen();
      return this.#compacted;
    });
  }

  /** The newest revision written at or before `timeMs` (0 if none): what the compactor aims at. */
  revisionAt(timeMs: number): number {
    return this.#st.revisionBefore.get(timeMs)?.revision ?? 0;
  }

  // ── compaction ────────────────────────────────────────────────────────────────────────────────

  async compact(revision: number): Promise<void> {
    this.#assertOpen();
    if (revision > this.#revision) {
      throw new BerthError(
        errorCodes.STORE_FUTURE_REVISION,
        `cannot compact to ${revision}: newer than the current revision ${this.#revision}`,
      );
    }
    if (revision <= this.#compacted) return;
    const target = revision;
    // Refuse new history reads at once; then delete in chunks so writers are not held up for long.
    // (A watch still replaying below the new point fails on its next page: `replay` checks it.)
    const from = this.#compacted;
    this.#compacted = target;
    this.#st.setMeta.run(target, 'compacted_revision');
    for (let lo = from; lo < target; lo += COMPACT_CHUNK) {
      const hi = Math.min(target, lo + COMPACT_CHUNK);
      this.#st.compactRange.run(lo, hi, target);
      await new Promise<void>((resolve) => setImmediate(resolve));
      if (this.#closed) return;
    }
    this.#db.pragma('incremental_vacuum');
    this.#db.pragma('wal_checkpoint(TRUNCATE)');
    this.#log.debug({ revision: target }, 'store compacted');
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    await this.#flushed;
    if (this.#queue.length > 0) this.#flush();
    this.#closed = true;
    for (const sub of [...this.#subscribers]) sub.queue.close();
    this.#db.close();
  }
}

export function openSqliteStore(opts: SqliteStoreOptions): SqliteStore {
  return new SqliteStore(opts);
}

/** Runs a synchronous read so that what it throws becomes a rejection, as callers of a Store expect. */
function settle<T>(read: () => T): Promise<T> {
  try {
    return Promise.resolve(read());
  } catch (err) {
    return Promise.reject(err instanceof Error ? err : new Error(String(err)));
  }
}

function copy(value: Uint8Array): Uint8Array {
  return Uint8Array.prototype.slice.call(value);
}

function toKv(row: KvRow): KeyValue {
  return {
    key: row.key,
    value: new Uint8Array(row.value.buffer, row.value.byteOffset, row.value.byteLength),
    createRevision: row.create_revision,
    modRevision: row.mod_revision,
  };
}

function toEvent(row: HistoryRow): WatchEvent {
  const prevKv: KeyValue | undefined =
    row.prev_type === OP_PUT && row.prev_value !== null && row.prev_create_revision !== null
      ? {
          key: row.key,
          value: new Uint8Array(row.prev_value),
          createRevision: row.prev_create_revision,
          modRevision: row.prev_revision,
        }
      : undefined;
  if (row.type === OP_DELETE) {
    return {
      type: 'DELETE',
      revision: row.revision,
      key: row.key,
      prevKv: prevKv ?? {
        key: row.key,
        value: new Uint8Array(),
        createRevision: row.create_revision,
        modRevision: row.prev_revision,
      },
    };
  }
  const kv: KeyValue = {
    key: row.key,
    value: new Uint8Array(row.value ?? new Uint8Array()),
    createRevision: row.create_revision,
    modRevision: row.revision,
  };
  return prevKv === undefined
    ? { type: 'PUT', revision: row.revision, kv }
    : { type: 'PUT', revision: row.revision, kv, prevKv };
}

/**
 * The embedded store: `Store` on SQLite (better-sqlite3, WAL, synchronous=FULL). Default backend of
 * `berth server`; opened on `:memory:` it is also the fast, real-semantics fake for unit tests.
 *
 * Writes are group-committed: every write request joins a queue, and one transaction applies the
 * whole queue — so 64 concurrent writers share one fsync instead of paying 64 — and only after that
 * commit are the callers answered and the watchers told. On a database file the transaction runs on
 * a writer thread (sqlite-writer.ts) that owns the only write connection, so the fsync never blocks
 * this event loop; while one batch commits, the next one gathers. Reads use this thread's own
 * connection (WAL readers never wait for the writer).
 *
 * Because the writer answers after its commit, this thread's reads can briefly see a commit whose
 * events are not published yet. So "the current revision" is always read from the database (in the
 * same read transaction as a list), and a watch ignores live events at or below the revision it
 * replays history up to: a list and a watch from its revision + 1 see every event exactly once.
 *
 *   write ─▶ queue ──flush (setImmediate, or as soon as the batch in flight commits)──▶ committing
 *   committing ──commit ok──▶ callers answered, watchers told │ commit failed ──▶ callers rejected
 */
import Database from 'better-sqlite3';
import type { Database as Db } from 'better-sqlite3';
import { realClock, type Clock } from '../../lib/clock.js';
import { BerthError, CompactedError, errorCodes } from '../../lib/errors.js';
import { silentLogger, type Logger } from '../../lib/logger.js';
import { decodeContinue, encodeContinue, prefixEnd, validateKey } from './continue-token.js';
import type { WireKv, WriteOp, WriteOutcome } from './sqlite-batch.js';
import {
  applySchema,
  OP_DELETE,
  OP_PUT,
  prepareStatements,
  type HistoryRow,
  type KvRow,
  type Statements,
} from './sqlite-schema.js';
import { InThreadWriter, ThreadWriter, type BatchWriter } from './sqlite-writer.js';
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
  /**
   * Commit on a writer thread (default: true for files; always false for `:memory:`, which only
   * its own connection can see).
   */
  readonly writerThread?: boolean;
}

/** Above every key: keys are validated to be shorter than this sentinel sorts. */
const KEY_SPACE_END = '\u{10ffff}';
const COMPACT_CHUNK = 5000;

type WriteResult = CreateResult | UpdateResult | DeleteResult;

interface Pending {
  op: WriteOp;
  resolve: (r: WriteResult) => void;
  reject: (err: unknown) => void;
}

interface Subscriber {
  start: string;
  end: string;
  /** Live events below this revision are not for this watcher (replayed, or before its start). */
  minRevision: number;
  queue: WatchQueue;
}

export class SqliteStore implements Store {
  readonly backend = 'sqlite';
  readonly #db: Db;
  readonly #st: Statements;
  readonly #writer: BatchWriter;
  readonly #clock: Clock;
  readonly #log: Logger;
  readonly #watchBufferSize: number;
  readonly #replayPageSize: number;
  #compacted: number;
  #queue: Pending[] = [];
  #flushScheduled = false;
  #committing = false;
  #idleWaiters: (() => void)[] = [];
  #subscribers = new Set<Subscriber>();
  #closed = false;

  constructor(opts: SqliteStoreOptions) {
    this.#clock = opts.clock ?? realClock;
    this.#log = opts.logger ?? silentLogger();
    this.#watchBufferSize = opts.watchBufferSize ?? 1000;
    this.#replayPageSize = opts.replayPageSize ?? 500;
    const inMemory = opts.path === ':memory:' || opts.path === '';
    try {
      this.#db = new Database(opts.path);
      applySchema(this.#db);
    } catch (err) {
      throw new BerthError(errorCodes.STORE_UNAVAILABLE, `open sqlite store ${opts.path}: ${String(err)}`, {
        cause: err,
      });
    }
    this.#st = prepareStatements(this.#db);
    this.#compacted = this.#meta('compacted_revision');
    this.#writer =
      inMemory || opts.writerThread === false ? new InThreadWriter(this.#db) : new ThreadWriter(opts.path);
  }

  #meta(name: string): number {
    return this.#st.getMeta.get(name)?.value ?? 0;
  }

  /** The newest committed revision, as this thread's connection sees it. */
  #head(): number {
    return this.#meta('current_revision');
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
      if (this.#flushScheduled || this.#committing) return;
      this.#flushScheduled = true;
      // setImmediate, not a microtask: writers woken by the previous commit all get to queue first.
      setImmediate(() => {
        this.#flushScheduled = false;
        this.#flush();
      });
    });
  }

  #flush(): void {
    const batch = this.#queue;
    this.#queue = [];
    if (batch.length === 0) {
      this.#wakeIdle();
      return;
    }
    this.#committing = true;
    this.#writer
      .apply(
        batch.map((p) => p.op),
        this.#clock.now(),
      )
      .then(
        (outcomes) => {
          const events: WatchEvent[] = [];
          batch.forEach((p, i) => {
            const outcome = outcomes[i];
            try {
              if (outcome === undefined) throw new Error('no outcome');
              p.resolve(toResult(p.op, outcome, events));
            } catch (err) {
              p.reject(
                new BerthError(errorCodes.STORE_UNAVAILABLE, `sqlite commit: ${String(err)}`, { cause: err }),
              );
            }
          });
          if (events.length > 0) this.#publish(events);
        },
        (err: unknown) => {
          this.#log.error({ err }, 'sqlite commit failed');
          const failure =
            err instanceof BerthError
              ? err
              : new BerthError(errorCodes.STORE_UNAVAILABLE, `sqlite commit: ${String(err)}`, { cause: err });
          for (const p of batch) p.reject(failure);
        },
      )
      .finally(() => {
        this.#committing = false;
        // What queued during the commit goes at once: it has waited one commit already.
        this.#flush();
      })
      .catch((err: unknown) => {
        this.#log.error({ err }, 'sqlite store: publishing a commit failed');
      });
  }

  #wakeIdle(): void {
    if (this.#committing || this.#queue.length > 0 || this.#flushScheduled) return;
    const waiters = this.#idleWaiters;
    this.#idleWaiters = [];
    for (const wake of waiters) wake();
  }

  /** Resolves when no write is queued or committing. */
  #idle(): Promise<void> {
    if (!this.#committing && this.#queue.length === 0 && !this.#flushScheduled) return Promise.resolve();
    return new Promise<void>((resolve) => this.#idleWaiters.push(resolve));
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
    let requested = opts.revision !== undefined && opts.revision > 0 ? opts.revision : undefined;
    let after = '';
    if (opts.continue !== undefined && opts.continue !== '') {
      const point = decodeContinue(opts.continue);
      requested = point.revision;
      after = point.afterKey;
    }
    const end = prefixEnd(prefix) ?? KEY_SPACE_END;
    const limit = opts.limit !== undefined && opts.limit > 0 ? opts.limit : -1;
    // One read transaction, so the head revision, the page and the remaining count agree.
    const read = this.#db.transaction(() => {
      const head = this.#head();
      const revision = requested ?? head;
      if (revision > head) {
        throw new BerthError(
          errorCodes.STORE_FUTURE_REVISION,
          `revision ${revision} is newer than the current revision ${head}`,
        );
      }
      if (revision < head && revision <= this.#compacted) throw new CompactedError(revision, this.#compacted);
      const atHead = revision === head;
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
      return { rows, remaining, last, revision };
    });
    const { rows, remaining, last, revision } = read();
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
    const replayUntil = this.#head();
    let cursor = fromRevision > 0 ? fromRevision : replayUntil + 1;
    const sub: Subscriber = {
      start,
      end,
      // Live events up to replayUntil come from history (a commit may be read before it is published).
      minRevision: Math.max(cursor, replayUntil + 1),
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
      return this.#head();
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
    const head = this.#head();
    if (revision > head) {
      throw new BerthError(
        errorCodes.STORE_FUTURE_REVISION,
        `cannot compact to ${revision}: newer than the current revision ${head}`,
      );
    }
    if (revision <= this.#compacted) return;
    // Refuse new history reads at once; the writer then deletes in chunks, so writes interleave.
    // (A watch still replaying below the new point fails on its next page: `replay` checks it.)
    const from = this.#compacted;
    this.#compacted = revision;
    await this.#writer.compact(from, revision, COMPACT_CHUNK);
    this.#log.debug({ revision }, 'store compacted');
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    await this.#idle();
    this.#closed = true;
    for (const sub of [...this.#subscribers]) sub.queue.close();
    await this.#writer.close();
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

/** The caller's result of one write, and its watch event if it changed anything. */
function toResult(op: WriteOp, outcome: WriteOutcome, events: WatchEvent[]): WriteResult {
  const key = op.key;
  if (!outcome.ok) {
    if (outcome.reason === 'not-found') return { ok: false, reason: 'not-found' };
    const current = withKey(key, outcome.current);
    return outcome.reason === 'exists'
      ? { ok: false, reason: 'exists', current }
      : { ok: false, reason: 'conflict', current };
  }
  const revision = outcome.revision;
  const prevKv = outcome.prev === undefined ? undefined : withKey(key, outcome.prev);
  if (op.kind === 'delete') {
    if (prevKv === undefined)
      throw new BerthError(errorCodes.STORE_UNAVAILABLE, 'sqlite delete without a previous value');
    events.push({ type: 'DELETE', revision, key, prevKv });
    return { ok: true, revision, prevKv };
  }
  const kv: KeyValue = {
    key,
    value: copy(op.value),
    createRevision: prevKv?.createRevision ?? revision,
    modRevision: revision,
  };
  if (prevKv === undefined) {
    events.push({ type: 'PUT', revision, kv });
    return { ok: true, kv };
  }
  events.push({ type: 'PUT', revision, kv, prevKv });
  return { ok: true, kv, prevKv };
}

function withKey(key: string, kv: WireKv): KeyValue {
  return { key, value: kv.value, createRevision: kv.createRevision, modRevision: kv.modRevision };
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

/**
 * The write half of the embedded store, shared by the in-thread writer (`:memory:`) and the writer
 * thread (database files): applies one batch of writes in one SQLite transaction, assigning
 * revisions and checking compare-and-swap inside it, and answers each write with a small outcome
 * that can cross a thread boundary (plain objects and byte arrays). Whoever owns the write
 * connection owns the revision counter: it is the only writer, so the counter is the truth.
 */
import type { Database as Db } from 'better-sqlite3';
import { OP_DELETE, OP_PUT, prepareStatements, type KvRow, type Statements } from './sqlite-schema.js';

/** One write as the store received it. */
export type WriteOp =
  | { readonly kind: 'create'; readonly key: string; readonly value: Uint8Array }
  | { readonly kind: 'update'; readonly key: string; readonly value: Uint8Array; readonly expected: number }
  | { readonly kind: 'delete'; readonly key: string; readonly expected: number | undefined };

/** A stored version without its key (the caller knows the key from its op). */
export interface WireKv {
  readonly value: Uint8Array;
  readonly createRevision: number;
  readonly modRevision: number;
}

/**
 * What became of one write: `revision` is the write's own revision; `prev` the version it replaced
 * (updates and deletes); a failed write carries what is there now, when anything is.
 */
export type WriteOutcome =
  | { readonly ok: true; readonly revision: number; readonly prev?: WireKv }
  | { readonly ok: false; readonly reason: 'exists' | 'conflict'; readonly current: WireKv }
  | { readonly ok: false; readonly reason: 'not-found' };

/** Applies batches to one write connection. Not thread-safe: one owner. */
export class BatchApplier {
  readonly #db: Db;
  readonly #st: Statements;
  #revision: number;

  constructor(db: Db) {
    this.#db = db;
    this.#st = prepareStatements(db);
    this.#revision = this.#st.getMeta.get('current_revision')?.value ?? 0;
  }

  /** The newest committed revision. */
  get revision(): number {
    return this.#revision;
  }

  /**
   * Applies `ops` in one transaction (one fsync with synchronous=FULL). Throws if the transaction
   * fails; then nothing of the batch is stored and the revision counter is unchanged.
   */
  apply(ops: readonly WriteOp[], now: number): WriteOutcome[] {
    const start = this.#revision;
    const outcomes: WriteOutcome[] = [];
    try {
      this.#db.transaction(() => {
        for (const op of ops) outcomes.push(this.#applyOne(op, now));
        if (this.#revision !== start) this.#st.setMeta.run(this.#revision, 'current_revision');
      })();
    } catch (err) {
      this.#revision = start;
      throw err;
    }
    return outcomes;
  }

  /**
   * Deletes history at and below `target` (keeping each key's newest version) in chunks, yielding
   * between chunks so that write batches interleave; then returns free pages and truncates the WAL.
   */
  async compact(from: number, target: number, chunk: number, isClosed: () => boolean): Promise<void> {
    this.#st.setMeta.run(target, 'compacted_revision');
    for (let lo = from; lo < target; lo += chunk) {
      const hi = Math.min(target, lo + chunk);
      this.#st.compactRange.run(lo, hi, target);
      await new Promise<void>((resolve) => setImmediate(resolve));
      if (isClosed()) return;
    }
    this.#db.pragma('incremental_vacuum');
    this.#db.pragma('wal_checkpoint(TRUNCATE)');
  }

  #applyOne(op: WriteOp, now: number): WriteOutcome {
    const row = this.#st.getKv.get(op.key);
    const prev = row === undefined ? undefined : wireKv(row);
    switch (op.kind) {
      case 'create': {
        if (prev !== undefined) return { ok: false, reason: 'exists', current: prev };
        const revision = ++this.#revision;
        const prevRevision = this.#st.lastLogRevision.get(op.key)?.revision ?? 0;
        this.#st.appendLog.run(revision, op.key, OP_PUT, revision, prevRevision, op.value, now);
        this.#st.upsertKv.run(op.key, op.value, revision, revision);
        return { ok: true, revision };
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
        return { ok: true, revision, prev };
      }
      case 'delete': {
        if (prev === undefined) return { ok: false, reason: 'not-found' };
        if (op.expected !== undefined && prev.modRevision !== op.expected) {
          return { ok: false, reason: 'conflict', current: prev };
        }
        const revision = ++this.#revision;
        this.#st.appendLog.run(revision, op.key, OP_DELETE, prev.createRevision, prev.modRevision, null, now);
        this.#st.deleteKv.run(op.key);
        return { ok: true, revision, prev };
      }
    }
  }
}

function wireKv(row: KvRow): WireKv {
  const v = row.value;
  // A view that owns its whole buffer: posting it to another thread then copies only these bytes.
  const value =
    v.byteOffset === 0 && v.byteLength === v.buffer.byteLength
      ? new Uint8Array(v.buffer, 0, v.byteLength)
      : Uint8Array.prototype.slice.call(v);
  return {
    value,
    createRevision: row.create_revision,
    modRevision: row.mod_revision,
  };
}

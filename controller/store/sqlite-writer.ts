/**
 * Who commits the embedded store's writes. `SqliteStore` hands whole batches to a `BatchWriter`:
 *
 * - `ThreadWriter` (database files): a worker thread (sqlite-write-worker.ts) owns the write
 *   connection, so SQLite's commit and its fsync run off the main event loop. One batch is in flight
 *   at a time; the store gathers the next batch while it commits (group commit).
 * - `InThreadWriter` (`:memory:`, which another thread cannot open): applies on the calling thread.
 *
 * Both answer a batch only after its transaction committed.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { Database as Db } from 'better-sqlite3';
import { BerthError, errorCodes } from '../../lib/errors.js';
import { BatchApplier, type WriteOp, type WriteOutcome } from './sqlite-batch.js';
import type { FromWriter, ToWriter, WriterData } from './sqlite-write-worker.js';

export interface BatchWriter {
  /** Applies `ops` in one transaction; rejects with STORE_UNAVAILABLE if it did not commit. */
  apply(ops: readonly WriteOp[], now: number): Promise<WriteOutcome[]>;
  /** Deletes history in (from, target] except each key's newest version, then trims the files. */
  compact(from: number, target: number, chunk: number): Promise<void>;
  close(): Promise<void>;
}

/** Applies on the calling thread (for `:memory:` databases and tests). */
export class InThreadWriter implements BatchWriter {
  readonly #applier: BatchApplier;
  #closed = false;

  constructor(db: Db) {
    this.#applier = new BatchApplier(db);
  }

  apply(ops: readonly WriteOp[], now: number): Promise<WriteOutcome[]> {
    try {
      return Promise.resolve(this.#applier.apply(ops, now));
    } catch (err) {
      return Promise.reject(
        new BerthError(errorCodes.STORE_UNAVAILABLE, `sqlite commit: ${String(err)}`, { cause: err }),
      );
    }
  }

  compact(from: number, target: number, chunk: number): Promise<void> {
    return this.#applier.compact(from, target, chunk, () => this.#closed);
  }

  close(): Promise<void> {
    this.#closed = true;
    return Promise.resolve();
  }
}

interface Request {
  resolve: (outcomes: WriteOutcome[] | undefined) => void;
  reject: (err: unknown) => void;
}

/**
 * Commits on a worker thread. The thread is referenced only while requests are outstanding, so an
 * idle store does not keep the process alive, but an awaited write does.
 */
export class ThreadWriter implements BatchWriter {
  readonly #worker: Worker;
  readonly #pending = new Map<number, Request>();
  #nextId = 1;
  #failure: Error | undefined;
  #exited: Promise<void>;

  constructor(path: string) {
    this.#worker = startWorker({ path });
    this.#worker.unref();
    this.#worker.on('message', (msg: FromWriter) => {
      const req = this.#pending.get(msg.id);
      if (req === undefined) return;
      this.#pending.delete(msg.id);
      if (this.#pending.size === 0) this.#worker.unref();
      if (msg.type === 'done') req.resolve(msg.outcomes as WriteOutcome[] | undefined);
      else req.reject(new BerthError(errorCodes.STORE_UNAVAILABLE, msg.message));
    });
    this.#exited = new Promise<void>((resolve) => {
      this.#worker.once('exit', () => {
        this.#fail(new BerthError(errorCodes.STORE_UNAVAILABLE, 'sqlite writer thread exited'));
        resolve();
      });
    });
    this.#worker.on('error', (err) => {
      this.#fail(
        new BerthError(errorCodes.STORE_UNAVAILABLE, `sqlite writer thread failed: ${String(err)}`, {
          cause: err,
        }),
      );
    });
  }

  apply(ops: readonly WriteOp[], now: number): Promise<WriteOutcome[]> {
    return this.#request((id) => ({ type: 'batch', id, ops, now })) as Promise<WriteOutcome[]>;
  }

  async compact(from: number, target: number, chunk: number): Promise<void> {
    await this.#request((id) => ({ type: 'compact', id, from, target, chunk }));
  }

  async close(): Promise<void> {
    if (this.#failure === undefined) {
      await this.#request((id) => ({ type: 'close', id })).catch(() => undefined);
    }
    this.#fail(new BerthError(errorCodes.STORE_UNAVAILABLE, 'sqlite store is closed'));
    await this.#worker.terminate();
    await this.#exited;
  }

  #request(make: (id: number) => ToWriter): Promise<WriteOutcome[] | undefined> {
    if (this.#failure !== undefined) return Promise.reject(this.#failure);
    const id = this.#nextId++;
    return new Promise<WriteOutcome[] | undefined>((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
      if (this.#pending.size === 1) this.#worker.ref();
      this.#worker.postMessage(make(id));
    });
  }

  #fail(err: Error): void {
    this.#failure ??= err;
    const pending = [...this.#pending.values()];
    this.#pending.clear();
    this.#worker.unref();
    for (const req of pending) req.reject(this.#failure);
  }
}

/**
 * The compiled `sqlite-write-worker.js` beside this module, or — running from source under tsx,
 * whose `--import` hook a worker thread does not get on Node 20 — a bootstrap that registers tsx in
 * the worker and then loads `sqlite-write-worker.ts` (as agent/images/worker-unpacker.ts does).
 */
function startWorker(data: WriterData): Worker {
  const js = new URL('./sqlite-write-worker.js', import.meta.url);
  if (existsSync(fileURLToPath(js))) return new Worker(js, { workerData: data });
  const ts = new URL('./sqlite-write-worker.ts', import.meta.url).href;
  return new Worker(
    `import('tsx/esm/api').then((m) => { m.register(); return import(${JSON.stringify(ts)}); });`,
    { eval: true, workerData: data },
  );
}

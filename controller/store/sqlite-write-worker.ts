/**
 * The writer thread of a file-backed `SqliteStore`: owns the only write connection, applies each
 * batch the store posts in one transaction (so the fsync of synchronous=FULL happens here, never on
 * the main event loop) and posts the outcomes back only after the commit returned. Messages are
 * handled strictly in order; compaction yields between chunks so batches interleave with it.
 *
 *   starting ──open ok──▶ serving ──close──▶ closed (thread exits)
 *       └──open failed──▶ every request answered `failed`
 */
import { parentPort, workerData } from 'node:worker_threads';
import Database from 'better-sqlite3';
import type { Database as Db } from 'better-sqlite3';
import { BatchApplier, type WriteOp, type WriteOutcome } from './sqlite-batch.js';
import { applySchema } from './sqlite-schema.js';

/** Requests from the store. */
export type ToWriter =
  | { readonly type: 'batch'; readonly id: number; readonly ops: readonly WriteOp[]; readonly now: number }
  | {
      readonly type: 'compact';
      readonly id: number;
      readonly from: number;
      readonly target: number;
      readonly chunk: number;
    }
  | { readonly type: 'close'; readonly id: number };

/** Answers, one per request id. */
export type FromWriter =
  | { readonly type: 'done'; readonly id: number; readonly outcomes?: readonly WriteOutcome[] }
  | { readonly type: 'failed'; readonly id: number; readonly message: string };

export interface WriterData {
  readonly path: string;
}

const port = parentPort;
if (port === null) throw new Error('sqlite-write-worker must run as a worker thread');
const { path } = workerData as WriterData;

let db: Db | undefined;
let applier: BatchApplier | undefined;
let openError = '';
let closed = false;
try {
  db = new Database(path);
  applySchema(db);
  applier = new BatchApplier(db);
} catch (err) {
  openError = `open sqlite store ${path}: ${String(err)}`;
}

port.on('message', (msg: ToWriter) => {
  if (applier === undefined || db === undefined || closed) {
    port.postMessage({
      type: 'failed',
      id: msg.id,
      message: openError === '' ? 'sqlite writer is closed' : openError,
    } satisfies FromWriter);
    return;
  }
  switch (msg.type) {
    case 'batch': {
      let answer: FromWriter;
      try {
        answer = { type: 'done', id: msg.id, outcomes: applier.apply(msg.ops, msg.now) };
      } catch (err) {
        answer = { type: 'failed', id: msg.id, message: `sqlite commit: ${String(err)}` };
      }
      port.postMessage(answer);
      return;
    }
    case 'compact': {
      applier
        .compact(msg.from, msg.target, msg.chunk, () => closed)
        .then(
          () => {
            port.postMessage({ type: 'done', id: msg.id } satisfies FromWriter);
          },
          (err: unknown) => {
            port.postMessage({
              type: 'failed',
              id: msg.id,
              message: `compact: ${String(err)}`,
            } satisfies FromWriter);
          },
        );
      return;
    }
    case 'close': {
      closed = true;
      try {
        db.close();
      } finally {
        port.postMessage({ type: 'done', id: msg.id } satisfies FromWriter);
        port.close();
      }
      return;
    }
  }
});

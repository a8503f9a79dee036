/**
 * Worker-thread side of layer unpacking (see worker-unpacker.ts): decompression, the diff_id hash,
 * tar parsing and every filesystem write of one layer at a time, so that the agent's event loop never
 * waits on a file creation (a synchronous `open` can take tens of milliseconds on a busy disk) and
 * layers of one pull create their files in parallel.
 *
 * Protocol (messages from the main thread → replies):
 *   { type: 'start', job }           → nothing
 *   { type: 'chunk', data }          → { type: 'ack', n } once n chunks are taken by the decompressor
 *   { type: 'end' }                  → { type: 'done', stats, tarBytes, diffId } | { type: 'error', … }
 *   { type: 'lowers', dirs }         (answer to the worker's { type: 'need-lowers' })
 * The worker says { type: 'ready' } once loaded. After 'done' or 'error' it waits for the next 'start'.
 */
import { parentPort } from 'node:worker_threads';
import { PassThrough, type Transform } from 'node:stream';
import * as zlib from 'node:zlib';
import { BerthError, errorCodes } from '../../lib/errors.js';
import { execCommandRunner } from '../../lib/command-runner.js';
import { DigestHasher, type DigestAlgorithm } from './digest.js';
import {
  defaultExtractLimits,
  extractLayer,
  type ExtractLimits,
  type ExtractStats,
} from './layer-extractor.js';
import type { LayerCompression } from './manifest.js';

/** What the main thread asks a worker to unpack. */
export interface LayerWorkerJob {
  readonly root: string;
  readonly compression: LayerCompression;
  readonly diffAlgorithm: DigestAlgorithm;
  readonly limits?: Partial<ExtractLimits>;
  readonly preserveOwnership?: boolean;
  readonly allowDevices?: boolean;
}

export type ToWorker =
  | { readonly type: 'start'; readonly job: LayerWorkerJob }
  | { readonly type: 'chunk'; readonly data: Uint8Array }
  | { readonly type: 'end' }
  | { readonly type: 'abort' }
  | { readonly type: 'lowers'; readonly dirs: readonly string[] };

export type FromWorker =
  | { readonly type: 'ready' }
  | { readonly type: 'ack'; readonly n: number }
  | { readonly type: 'need-lowers' }
  | {
      readonly type: 'done';
      readonly stats: ExtractStats;
      readonly tarBytes: number;
      readonly diffId: string;
    }
  | { readonly type: 'error'; readonly code: string | undefined; readonly message: string };

interface Running {
  readonly sink: Transform;
  lowersWaiters: ((dirs: readonly string[]) => void)[];
  /** Chunks written while the decompressor was full, acknowledged together at its next 'drain'. */
  unacked: number;
}

const port = parentPort;
let running: Running | undefined;

function post(m: FromWorker): void {
  port?.postMessage(m);
}

function start(job: LayerWorkerJob): void {
  let sink: Transform;
  if (job.compression === 'gzip') sink = zlib.createGunzip({ chunkSize: 256 * 1024 });
  else if (job.compression === 'zstd') {
    const create = (zlib as unknown as { createZstdDecompress?: (o: object) => Transform })
      .createZstdDecompress;
    if (create === undefined) {
      post({
        type: 'error',
        code: errorCodes.IMAGE_INVALID,
        message: 'zstd layers need Node 22.15 or later',
      });
      return;
    }
    sink = create({ chunkSize: 256 * 1024 });
  } else sink = new PassThrough({ highWaterMark: 1024 * 1024 });
  sink.on('error', () => undefined); // surfaced through the iteration below
  const limits = { ...defaultExtractLimits, ...job.limits };
  const tarCap = limits.maxBytes + limits.maxEntries * 2048;
  const diff = new DigestHasher(job.diffAlgorithm);
  let tarBytes = 0;
  async function* tapped(): AsyncGenerator<Uint8Array> {
    for await (const chunk of sink as AsyncIterable<Uint8Array>) {
      tarBytes += chunk.byteLength;
      if (tarBytes > tarCap) {
        throw new BerthError(
          errorCodes.IMAGE_LAYER_REJECTED,
          `layer rejected: uncompressed stream larger than ${tarCap} bytes`,
        );
      }
      diff.update(chunk);
      yield chunk;
    }
  }
  const r: Running = { sink, lowersWaiters: [], unacked: 0 };
  const flushAcks = (): void => {
    if (r.unacked > 0) post({ type: 'ack', n: r.unacked });
    r.unacked = 0;
  };
  sink.on('drain', flushAcks);
  sink.on('close', flushAcks);
  const lowerDirs = (): Promise<readonly string[]> =>
    new Promise((resolve) => {
      r.lowersWaiters.push(resolve);
      post({ type: 'need-lowers' });
    });
  void extractLayer(tapped(), {
    root: job.root,
    runner: execCommandRunner,
    lowerDirs,
    ...(job.limits === undefined ? {} : { limits: job.limits }),
    ...(job.preserveOwnership === undefined ? {} : { preserveOwnership: job.preserveOwnership }),
    ...(job.allowDevices === undefined ? {} : { allowDevices: job.allowDevices }),
  }).then(
    (stats) => {
      running = undefined;
      post({ type: 'done', stats, tarBytes, diffId: diff.finish() });
    },
    (err: unknown) => {
      running = undefined;
      sink.destroy();
      post({
        type: 'error',
        code: err instanceof BerthError ? err.code : undefined,
        message: err instanceof Error ? err.message : String(err),
      });
    },
  );
  running = r;
}

port?.on('message', (m: ToWorker) => {
  switch (m.type) {
    case 'start':
      start(m.job);
      return;
    case 'chunk': {
      const r = running;
      if (r === undefined || r.sink.destroyed) {
        post({ type: 'ack', n: 1 });
        return;
      }
      // Ack once the decompressor has room again, so the main thread never runs far ahead.
      if (r.sink.write(m.data) && r.unacked === 0) post({ type: 'ack', n: 1 });
      else r.unacked++;
      return;
    }
    case 'end':
      if (running !== undefined && !running.sink.destroyed) running.sink.end();
      return;
    case 'abort':
      running?.sink.destroy(new Error('aborted'));
      return;
    case 'lowers': {
      const waiters = running?.lowersWaiters ?? [];
      if (running !== undefined) running.lowersWaiters = [];
      for (const w of waiters) w(m.dirs);
      return;
    }
  }
});

post({ type: 'ready' });

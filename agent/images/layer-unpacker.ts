/**
 * One layer, one streaming pass: compressed bytes (from the registry or the content store) → sha256
 * of the compressed stream (and, optionally, a copy into the content store) → decompress (gzip, zstd
 * where Node has it, or none) → sha256 of the tar (the diff_id) → safe extraction. Both digests are
 * checked at the end; on any failure the caller discards the layer directory, so nothing unverified
 * is ever used. zlib gets 256 KiB output chunks (184 MB/s vs 132 MB/s at the default 16 KiB here).
 */
import { PassThrough, type Transform } from 'node:stream';
import * as zlib from 'node:zlib';
import { BerthError, errorCodes } from '../../lib/errors.js';
import type { ContentWriter } from './content-store.js';
import { DigestHasher, parseDigest } from './digest.js';
import {
  defaultExtractLimits,
  extractLayer,
  type ExtractOptions,
  type ExtractStats,
} from './layer-extractor.js';
import { layerCompression, type Descriptor } from './manifest.js';

export interface UnpackLayerOptions {
  /** The compressed layer bytes, exactly `descriptor.size` of them. */
  readonly source: AsyncIterable<Uint8Array> | Iterable<Uint8Array>;
  readonly descriptor: Descriptor;
  /** The layer's diff_id from the image config. */
  readonly diffId: string;
  /** When set, the compressed bytes are also written here; the caller commits it after success. */
  readonly writer?: ContentWriter;
  readonly extract: ExtractOptions;
  /** Called with the size of each compressed chunk as it arrives. */
  readonly onBytes?: (n: number) => void;
  /**
   * Called once every compressed byte has arrived while unpacking may still be going on (only by
   * unpackers that can continue from `writer`, see worker-unpacker.ts): the download slot is free.
   */
  readonly onDownloaded?: () => void;
}

export interface UnpackLayerResult {
  readonly stats: ExtractStats;
  /** Bytes of the uncompressed tar. */
  readonly tarBytes: number;
}

/** zstd decompression when this Node has it (22.15+/23.8+). */
function zstdDecompressor(): Transform | undefined {
  const create = (zlib as unknown as { createZstdDecompress?: (o: object) => Transform })
    .createZstdDecompress;
  return create?.({ chunkSize: 256 * 1024 });
}

/** Whether this Node can unpack zstd layers. */
export function zstdSupported(): boolean {
  return typeof (zlib as unknown as { createZstdDecompress?: unknown }).createZstdDecompress === 'function';
}

/** Resolves when `w` wants more data, or can take no more. */
function drainedOrDead(w: Transform): Promise<void> {
  return new Promise<void>((resolve) => {
    const done = (): void => {
      w.off('drain', done);
      w.off('close', done);
      w.off('error', done);
      resolve();
    };
    w.on('drain', done);
    w.on('close', done);
    w.on('error', done);
  });
}

export async function unpackLayer(opts: UnpackLayerOptions): Promise<UnpackLayerResult> {
  const desc = opts.descriptor;
  const compression = layerCompression(desc.mediaType);
  if (compression === undefined) {
    throw new BerthError(
      errorCodes.IMAGE_INVALID,
      `layer ${desc.digest}: unsupported media type ${desc.mediaType}`,
    );
  }
  const compressedAlg = parseDigest(desc.digest);
  const diffAlg = parseDigest(opts.diffId);
  if (compressedAlg === undefined || diffAlg === undefined) {
    throw new BerthError(errorCodes.IMAGE_INVALID, `layer ${desc.digest}: invalid digest or diff_id`);
  }
  let decompressor: Transform | undefined;
  if (compression === 'gzip') decompressor = zlib.createGunzip({ chunkSize: 256 * 1024 });
  else if (compression === 'zstd') {
    decompressor = zstdDecompressor();
    if (decompressor === undefined) {
      throw new BerthError(
        errorCodes.IMAGE_INVALID,
        `layer ${desc.digest}: zstd layers need Node 22.15 or later (this is ${process.version})`,
      );
    }
  }

  const writer = opts.writer;
  const compressedHasher = new DigestHasher(compressedAlg.algorithm);
  const onBytes = opts.onBytes;
  const sink: Transform = decompressor ?? new PassThrough({ highWaterMark: 1024 * 1024 });

  // The pump feeds the decompressor by hand (not through pipeline()) so that when decompression
  // fails it can keep hashing what is left: a corrupt blob is then reported as a digest mismatch,
  // its real cause, rather than as whatever zlib tripped over first.
  // Flags flipped by listeners and the error path, read by the pump (an object, so flow analysis sees them change).
  const state = { sinkDead: false, stopPump: false };
  const markDead = (): void => {
    state.sinkDead = true;
  };
  sink.on('error', markDead);
  sink.on('close', markDead);
  const pump = (async (): Promise<void> => {
    try {
      for await (const chunk of opts.source) {
        // With a writer, its hash is the compressed digest; hashing twice cost ~70 ms per 90 MB.
        if (writer === undefined) compressedHasher.update(chunk);
        else writer.write(chunk);
        onBytes?.(chunk.byteLength);
        if (state.stopPump) return;
        if (!state.sinkDead && !sink.write(chunk)) await drainedOrDead(sink);
      }
      if (!state.sinkDead) sink.end();
    } catch (err) {
      sink.destroy(err instanceof Error ? err : new Error(String(err)));
      throw err;
    }
  })();

  const limits = { ...defaultExtractLimits, ...opts.extract.limits };
  // The whole tar stream is bounded too: file bytes plus generous room for headers.
  const tarCap = limits.maxBytes + limits.maxEntries * 2048;
  const diffHasher = new DigestHasher(diffAlg.algorithm);
  let tarBytes = 0;
  async function* tapped(src: AsyncIterable<Uint8Array>): AsyncGenerator<Uint8Array> {
    for await (const chunk of src) {
      tarBytes += chunk.byteLength;
      if (tarBytes > tarCap) {
        throw new BerthError(
          errorCodes.IMAGE_LAYER_REJECTED,
          `layer rejected: uncompressed stream larger than ${tarCap} bytes`,
        );
      }
      diffHasher.update(chunk);
      yield chunk;
    }
  }

  let stats: ExtractStats;
  try {
    stats = await extractLayer(tapped(sink as AsyncIterable<Uint8Array>), opts.extract);
  } catch (err) {
    // Download errors win (they are why the stream broke); a layer that does not decompress is
    // checked against its digest first; anything else stops the download at once.
    const undecodable = err instanceof BerthError && err.code === errorCodes.IMAGE_INVALID;
    if (!undecodable) state.stopPump = true;
    state.sinkDead = true;
    sink.destroy();
    await pump;
    const seen =
      writer === undefined
        ? { size: compressedHasher.bytes, digest: compressedHasher.finish() }
        : writer.written();
    if (undecodable && seen.size === desc.size && seen.digest !== desc.digest) {
      throw new BerthError(
        errorCodes.IMAGE_INVALID,
        `layer ${desc.digest}: digest mismatch; the registry served different content`,
        { cause: err },
      );
    }
    throw err;
  }
  await pump;

  const got =
    writer === undefined
      ? { size: compressedHasher.bytes, digest: compressedHasher.finish() }
      : writer.written();
  if (got.size !== desc.size || got.digest !== desc.digest) {
    throw new BerthError(
      errorCodes.IMAGE_INVALID,
      got.size !== desc.size
        ? `layer ${desc.digest}: got ${got.size} bytes, descriptor says ${desc.size}`
        : `layer ${desc.digest}: digest mismatch (got ${got.digest}); the registry served different content`,
    );
  }
  const diff = diffHasher.finish();
  if (diff !== opts.diffId) {
    throw new BerthError(
      errorCodes.IMAGE_INVALID,
      `layer ${desc.digest}: uncompressed content is ${diff}, the image config says diff_id ${opts.diffId}`,
    );
  }
  return { stats, tarBytes };
}

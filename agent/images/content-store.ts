/**
 * The content store: blobs (manifests, configs, compressed layers) by digest under
 * `blobs/<algorithm>/<hex>`. A blob becomes visible only complete and verified: bytes go to a private
 * `ingest/` file while being hashed and counted, and only when size and digest match is the file
 * fsync'd and renamed into place (then the directory fsync'd). A blob that fails verification is
 * deleted, never renamed. No path is built from a digest that `parseDigest` has not accepted.
 *
 * Writers use synchronous writes on purpose: they run inside the layer pipeline, where a thread-pool
 * hop per 64 KiB chunk doubled the pull time (measured; see bench/pull.ts).
 */
import { randomBytes } from 'node:crypto';
import {
  closeSync,
  constants,
  createReadStream,
  fstatSync,
  openSync,
  readSync,
  writeSync,
  type ReadStream,
} from 'node:fs';
import { mkdir, open, readdir, readFile, rename, rm, stat, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { BerthError, errorCodes } from '../../lib/errors.js';
import { DigestHasher, parseDigest, type DigestAlgorithm } from './digest.js';

export interface BlobInfo {
  readonly digest: string;
  readonly size: number;
}

/** A blob being written. `write` as bytes arrive; then `commit` (verify + publish) or `abort`. */
export interface ContentWriter {
  write(chunk: Uint8Array): void;
  /** Bytes written so far. */
  readonly bytes: number;
  /** Digest and size of what was written (ends hashing: call after the last write). */
  written(): BlobInfo;
  /**
   * Reads back bytes already written, from `position`, into `target`; returns how many (fewer only
   * at the end of what was written). For a consumer that falls behind the download and continues
   * from the ingest file (the page cache, in practice) instead of holding the download up.
   */
  read(target: Uint8Array, position: number): number;
  /** Verifies, fsyncs and publishes the blob; returns its digest and size. Throws `IMAGE_INVALID` on mismatch (and removes the file). */
  commit(): Promise<BlobInfo>;
  /** Removes the partial file. Idempotent. */
  abort(): Promise<void>;
}

function storeError(message: string, cause?: unknown): BerthError {
  return new BerthError(errorCodes.IMAGE_STORE, message, cause === undefined ? undefined : { cause });
}

async function fsyncDir(dir: string): Promise<void> {
  const fh = await open(dir, constants.O_RDONLY | constants.O_DIRECTORY);
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

export class ContentStore {
  readonly root: string;
  readonly #ingestDir: string;

  constructor(root: string) {
    this.root = root;
    this.#ingestDir = join(root, 'ingest');
  }

  /** Creates the directories and removes ingest files left by a crash. */
  async init(): Promise<void> {
    try {
      await mkdir(join(this.root, 'blobs', 'sha256'), { recursive: true, mode: 0o700 });
      await mkdir(join(this.root, 'blobs', 'sha512'), { recursive: true, mode: 0o700 });
      await rm(this.#ingestDir, { recursive: true, force: true });
      await mkdir(this.#ingestDir, { recursive: true, mode: 0o700 });
    } catch (err) {
      throw storeError(`content store ${this.root}: cannot initialise`, err);
    }
  }

  /** The file of a blob; throws on an invalid digest, so no hostile string ever becomes a path. */
  blobPath(digest: string): string {
    const d = parseDigest(digest);
    if (d === undefined)
      throw new BerthError(errorCodes.IMAGE_INVALID, `invalid digest ${JSON.stringify(digest)}`);
    return join(this.root, 'blobs', d.algorithm, d.hex);
  }

  /** The blob's size, or undefined when absent. */
  async info(digest: string): Promise<BlobInfo | undefined> {
    try {
      const s = await stat(this.blobPath(digest));
      return { digest, size: s.size };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
  }

  async has(digest: string): Promise<boolean> {
    return (await this.info(digest)) !== undefined;
  }

  /**
   * A small blob's bytes, re-verified against its digest (the store is not trusted to be intact after
   * a crash or a disk error); undefined when absent; throws when larger than `maxBytes` or corrupt.
   */
  async readBlob(digest: string, maxBytes: number): Promise<Buffer | undefined> {
    const path = this.blobPath(digest);
    const info = await this.info(digest);
    if (info === undefined) return undefined;
    if (info.size > maxBytes)
      throw storeError(`blob ${digest} is ${info.size} bytes, over the ${maxBytes} limit`);
    const bytes = await readFile(path);
    const d = parseDigest(digest);
    const h = new DigestHasher(d?.algorithm ?? 'sha256');
    h.update(bytes);
    if (h.finish() !== digest)
      throw storeError(`blob ${digest} is corrupt on disk; remove the image and pull again`);
    return bytes;
  }

  /** A stream of a blob's bytes (not re-verified: callers hash as they read). */
  openReadStream(digest: string): ReadStream {
    return createReadStream(this.blobPath(digest), { highWaterMark: 1024 * 1024 });
  }

  /** Writes a small blob whose bytes are in memory, verified first. */
  async putBlob(expected: BlobInfo, bytes: Uint8Array): Promise<void> {
    const w = this.createWriter(expected);
    try {
      w.write(bytes);
    } catch (err) {
      await w.abort();
      throw err;
    }
    await w.commit();
  }

  /** A writer that must produce exactly `expected`. */
  createWriter(expected: BlobInfo): ContentWriter {
    const d = parseDigest(expected.digest);
    if (d === undefined)
      throw new BerthError(errorCodes.IMAGE_INVALID, `invalid digest ${JSON.stringify(expected.digest)}`);
    return this.#writer(d.algorithm, expected);
  }

  /** A writer for content whose digest is learnt from the bytes (imports of `docker save` layers). */
  createUnverifiedWriter(): ContentWriter {
    return this.#writer('sha256', undefined);
  }

  #writer(algorithm: DigestAlgorithm, expected: BlobInfo | undefined): ContentWriter {
    const tmp = join(this.#ingestDir, randomBytes(12).toString('hex'));
    let fd: number | undefined;
    try {
      fd = openSync(
        tmp,
        constants.O_RDWR | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW,
        0o600,
      );
    } catch (err) {
      throw storeError(`content store: cannot create ingest file`, err);
    }
    const hasher = new DigestHasher(algorithm);
    let final: BlobInfo | undefined;
    const written = (): BlobInfo => {
      final ??= { size: hasher.bytes, digest: hasher.finish() };
      return final;
    };
    let done = false;
    const closeFd = (): void => {
      if (fd !== undefined) {
        closeSync(fd);
        fd = undefined;
      }
    };
    const abort = async (): Promise<void> => {
      done = true;
      closeFd();
      await rm(tmp, { force: true });
    };
    return {
      write: (chunk) => {
        if (done || fd === undefined || final !== undefined)
          throw storeError('content store: write after commit/abort');
        if (expected !== undefined && hasher.bytes + chunk.byteLength > expected.size) {
          throw new BerthError(
            errorCodes.IMAGE_INVALID,
            `blob ${expected.digest}: more than the ${expected.size} bytes its descriptor declares`,
          );
        }
        let off = 0;
        while (off < chunk.byteLength) off += writeSync(fd, chunk, off, chunk.byteLength - off);
        hasher.update(chunk);
      },
      get bytes() {
        return hasher.bytes;
      },
      written,
      read: (target, position) => {
        if (fd === undefined) throw storeError('content store: read after commit/abort');
        const want = Math.min(target.byteLength, hasher.bytes - position);
        let got = 0;
        // pread: the write offset stays where the next write() expects it.
        while (got < want) {
          const n = readSync(fd, target, got, want - got, position + got);
          if (n === 0) break;
          got += n;
        }
        return got;
      },
      commit: async () => {
        if (done || fd === undefined) throw storeError('content store: commit after commit/abort');
        done = true;
        const { size, digest } = written();
        try {
          if (expected !== undefined && (size !== expected.size || digest !== expected.digest)) {
            throw new BerthError(
              errorCodes.IMAGE_INVALID,
              size !== expected.size
                ? `blob ${expected.digest}: got ${size} bytes, descriptor says ${expected.size}`
                : `blob ${expected.digest}: digest mismatch (got ${digest}); the registry served different content`,
            );
          }
          // fsync the data before the rename makes it visible: a crash leaves either nothing or the whole blob.
          const { size: onDisk } = fstatSync(fd);
          if (onDisk !== size)
            throw storeError(`content store: ingest file has ${onDisk} bytes, wrote ${size}`);
          const fh = await open(tmp, constants.O_RDONLY);
          try {
            await fh.sync();
          } finally {
            await fh.close();
          }
          closeFd();
          const dest = this.blobPath(digest);
          await rename(tmp, dest);
          await fsyncDir(join(dest, '..'));
          return { digest, size };
        } catch (err) {
          closeFd();
          await rm(tmp, { force: true });
          if (err instanceof BerthError) throw err;
          throw storeError(`content store: cannot commit blob ${digest}`, err);
        }
      },
      abort,
    };
  }

  /** Removes a blob; false when it was absent. */
  async delete(digest: string): Promise<boolean> {
    try {
      await unlink(this.blobPath(digest));
      return true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
      throw storeError(`content store: cannot delete ${digest}`, err);
    }
  }

  /** Every blob present. */
  async list(): Promise<BlobInfo[]> {
    const out: BlobInfo[] = [];
    for (const algorithm of ['sha256', 'sha512'] as const) {
      let names: string[];
      try {
        names = await readdir(join(this.root, 'blobs', algorithm));
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue;
        throw err;
      }
      for (const hex of names) {
        const digest = `${algorithm}:${hex}`;
        if (parseDigest(digest) === undefined) continue;
        const info = await this.info(digest);
        if (info !== undefined) out.push(info);
      }
    }
    return out;
  }

  /** Writes `bytes` to `path` atomically (temp, fsync, rename): for small metadata files beside the store. */
  static async writeFileAtomic(path: string, bytes: Uint8Array | string): Promise<void> {
    const tmp = `${path}.tmp-${randomBytes(6).toString('hex')}`;
    await writeFile(tmp, bytes, { mode: 0o600 });
    const fh = await open(tmp, constants.O_RDONLY);
    try {
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, path);
  }
}

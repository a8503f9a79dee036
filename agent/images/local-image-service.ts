/**
 * The node's image service: `ImageService` (pull, status, list, remove) and `RootfsProvider`
 * (overlayfs rootfs per container) over one image directory, plus what `berth image …` needs
 * (inspect, prune, import, export) and image GC by disk thresholds.
 *
 * Layout under `root` (e.g. `/var/lib/berth/images`):
 *   metadata.db            images, references, snapshots, rootfs leases (image-db.ts)
 *   content/blobs/sha256/  manifests, configs, compressed layers (content-store.ts)
 *   snapshots/<id>/        one unpacked layer per chain, overlay lower dirs (snapshot-store.ts)
 *   rootfs/<container>/    upper/ and work/ of each container's overlay
 *
 * Why one directory per layer chain with overlayfs whiteouts (mknod/setfattr), rather than one merged
 * tree per image: layers unpack in parallel, each straight from the network in one pass into a fresh
 * directory no earlier layer can have planted anything in; images sharing base layers share the
 * directories; and GC frees layers, not images. The cost — a `sh` running `mknod`/`setfattr` for
 * layers that have whiteouts, and root for it — is paid only by those layers (bench/pull.ts).
 *
 * GC: images are removed least recently used first while the filesystem is over the high threshold,
 * never while a container holds their rootfs; then snapshots and blobs nothing references (and no
 * pull in progress holds) are deleted. Orphans younger than `orphanGraceMs` are left alone, because a
 * `berth image` command may be pulling into the same directory.
 */
import { existsSync } from 'node:fs';
import { mkdir, rm, stat, statfs } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable, Writable } from 'node:stream';
import type { Registry } from 'prom-client';
import { realClock, type Clock } from '../../lib/clock.js';
import { BerthError, errorCodes, errorMessage } from '../../lib/errors.js';
import { silentLogger, type Logger } from '../../lib/logger.js';
import { execCommandRunner, type CommandRunner } from '../../lib/command-runner.js';
import { ContentStore } from './content-store.js';
import { emptyDockerConfig, type DockerConfig } from './credentials.js';
import { ImageDb, type StoredImage } from './image-db.js';
import { defaultImageGcPolicy, planImageGc, validateGcPolicy, type ImageGcPolicy } from './image-gc.js';
import { ImageMetrics, type ImageFsUsage } from './image-metrics.js';
import { ImagePuller, toImageRecord } from './image-puller.js';
import { formatReference, normalizeReference } from './image-reference.js';
import type {
  ImageRecord,
  ImageService,
  PrepareRootfsResult,
  PullOptions,
  PullProgress,
  PullResult,
  RootfsProvider,
} from './image-service.js';
import { readImageArchive, writeImageArchive } from './image-archive.js';
import type { ExtractLimits } from './layer-extractor.js';
import { hostPlatform, parsePlatform, type Platform } from './manifest.js';
import { emptyRegistriesConfig, type RegistriesConfig } from './registries-config.js';
import { RegistryClient } from './registry-client.js';
import type { RegistryHttp } from './registry-http.js';
import { SnapshotStore } from './snapshot-store.js';
import { LayerWorkerPool } from './worker-unpacker.js';

/** Something the image service did that a person may want to see as a Kubernetes Event on the Node. */
export interface ImageServiceEvent {
  readonly type: 'Normal' | 'Warning';
  /** `ImageGarbageCollected`, `FreeDiskSpaceFailed`, `ImageGCFailed`. */
  readonly reason: string;
  readonly message: string;
}

export interface LocalImageServiceOptions {
  /** The image directory, e.g. `<data-dir>/images`. */
  readonly root: string;
  /** HTTP for registries (`createNodeRegistryHttp(globalThis.fetch)` in production). */
  readonly http: RegistryHttp;
  readonly clock?: Clock;
  readonly logger?: Logger;
  /** Where to register metrics; none when absent. */
  readonly metricsRegistry?: Registry;
  readonly runner?: CommandRunner;
  /** Mirrors, insecure registries, CAs, per-registry credentials (k3s registries.yaml). */
  readonly registries?: RegistriesConfig;
  /** Node-level credentials (Docker config.json, credential helpers). */
  readonly dockerConfig?: DockerConfig;
  /** Layers per pull fetched at once. Default 3. */
  readonly layerConcurrency?: number;
  /** Distinct images pulled at once. Default 3. */
  readonly maxConcurrentPulls?: number;
  /** Keep compressed layer blobs after unpacking (needed for export). Default true. */
  readonly keepLayerBlobs?: boolean;
  /** syncfs each layer before it becomes visible. Default true. */
  readonly durable?: boolean;
  /** Default 30 min. */
  readonly pullTimeoutMs?: number;
  /** A download that delivers nothing for this long is cut and resumed. Default 60 s. */
  readonly noProgressTimeoutMs?: number;
  /** Per-request retry attempts for 429/5xx/connection failures. Default 5. */
  readonly maxAttempts?: number;
  readonly extractLimits?: Partial<ExtractLimits>;
  /** Create device nodes from layers. Default false. */
  readonly allowDevices?: boolean;
  /** Platform to pull from multi-platform images. Default this node's. */
  readonly platform?: string;
  readonly gcPolicy?: Partial<ImageGcPolicy>;
  /** Unreferenced snapshots/blobs younger than this are not collected. Default 10 min. */
  readonly orphanGraceMs?: number;
  readonly onEvent?: (e: ImageServiceEvent) => void;
  /** Filesystem capacity and free bytes of `root`; default `statfs`. Tests pass a fake. */
  readonly fsUsage?: (path: string) => Promise<{ capacityBytes: number; availableBytes: number }>;
  readonly userAgent?: string;
  /**
   * Decompress and extract layers on worker threads (default true), so that file creation — the
   * slowest part of a pull, kernel-side — runs on every core and never stalls the agent's event loop,
   * and a downloaded layer frees its download slot while its files are written. False unpacks in the
   * calling thread (a little less CPU, one core).
   */
  readonly unpackInWorkers?: boolean;
}

export interface GcReport {
  /** Bytes that had to be freed (0 when under the high threshold). */
  readonly bytesToFree: number;
  readonly freedBytes: number;
  readonly removed: readonly { readonly digest: string; readonly references: readonly string[] }[];
}

const containerIdRe = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;

async function defaultFsUsage(path: string): Promise<{ capacityBytes: number; availableBytes: number }> {
  const s = await statfs(path);
  return { capacityBytes: s.blocks * s.bsize, availableBytes: s.bavail * s.bsize };
}

export class LocalImageService implements ImageService, RootfsProvider {
  readonly root: string;
  readonly #db: ImageDb;
  readonly #content: ContentStore;
  readonly #snapshots: SnapshotStore;
  readonly #puller: ImagePuller;
  readonly #clock: Clock;
  readonly #logger: Logger;
  readonly #metrics: ImageMetrics | undefined;
  readonly #gcPolicy: ImageGcPolicy;
  readonly #orphanGraceMs: number;
  readonly #onEvent: ((e: ImageServiceEvent) => void) | undefined;
  readonly #fsUsage: (path: string) => Promise<{ capacityBytes: number; availableBytes: number }>;
  readonly #rootfsDir: string;
  readonly #overlayIndexOff: boolean;
  readonly #platform: Platform;
  readonly #workers: LayerWorkerPool | undefined;
  #gcRunning: Promise<GcReport> | undefined;

  private constructor(
    opts: LocalImageServiceOptions,
    parts: {
      db: ImageDb;
      content: ContentStore;
      snapshots: SnapshotStore;
      puller: ImagePuller;
      metrics: ImageMetrics | undefined;
      workers: LayerWorkerPool | undefined;
    },
    platform: Platform,
  ) {
    this.root = opts.root;
    this.#db = parts.db;
    this.#content = parts.content;
    this.#snapshots = parts.snapshots;
    this.#puller = parts.puller;
    this.#metrics = parts.metrics;
    this.#workers = parts.workers;
    this.#clock = opts.clock ?? realClock;
    this.#logger = opts.logger ?? silentLogger();
    this.#gcPolicy = { ...defaultImageGcPolicy, ...opts.gcPolicy };
    this.#orphanGraceMs = opts.orphanGraceMs ?? 10 * 60 * 1000;
    this.#onEvent = opts.onEvent;
    this.#fsUsage = opts.fsUsage ?? defaultFsUsage;
    this.#rootfsDir = join(opts.root, 'rootfs');
    // containerd passes index=off when the kernel knows the option, so that shared lower dirs never trip the index check.
    this.#overlayIndexOff = existsSync('/sys/module/overlay/parameters/index');
    this.#platform = platform;
  }

  /** Opens (creating) the image directory and recovers from a crash. */
  static async open(opts: LocalImageServiceOptions): Promise<LocalImageService> {
    const clock = opts.clock ?? realClock;
    const logger = opts.logger ?? silentLogger();
    const runner = opts.runner ?? execCommandRunner;
    const policyError = validateGcPolicy({ ...defaultImageGcPolicy, ...opts.gcPolicy });
    if (policyError !== undefined)
      throw new BerthError(errorCodes.CONFIG_INVALID, `image GC policy: ${policyError}`);
    let platform = hostPlatform();
    if (opts.platform !== undefined) {
      const p = parsePlatform(opts.platform);
      if (p === undefined)
        throw new BerthError(errorCodes.CONFIG_INVALID, `invalid platform "${opts.platform}"`);
      platform = p;
    }
    try {
      await mkdir(opts.root, { recursive: true, mode: 0o711 });
      await mkdir(join(opts.root, 'rootfs'), { recursive: true, mode: 0o711 });
    } catch (err) {
      throw new BerthError(errorCodes.IMAGE_STORE, `image directory ${opts.root}: cannot create`, {
        cause: err,
      });
    }
    const db = ImageDb.open(join(opts.root, 'metadata.db'));
    try {
      const content = new ContentStore(join(opts.root, 'content'));
      await content.init();
      const snapshots = new SnapshotStore({
        root: join(opts.root, 'snapshots'),
        db,
        clock,
        runner,
        logger,
        ...(opts.durable === undefined ? {} : { durable: opts.durable }),
      });
      await snapshots.init();
      const client = new RegistryClient({
        http: opts.http,
        clock,
        logger,
        ...(opts.noProgressTimeoutMs === undefined ? {} : { noProgressTimeoutMs: opts.noProgressTimeoutMs }),
        ...(opts.maxAttempts === undefined ? {} : { maxAttempts: opts.maxAttempts }),
        ...(opts.userAgent === undefined ? {} : { userAgent: opts.userAgent }),
      });
      // The metrics read usage from the service, which is built after them.
      const ref: { service?: LocalImageService } = {};
      const metrics =
        opts.metricsRegistry === undefined
          ? undefined
          : new ImageMetrics(opts.metricsRegistry, () => {
              if (ref.service === undefined) return Promise.reject(new Error('image service not open yet'));
              return ref.service.usage();
            });
      const workers =
        opts.unpackInWorkers === false
          ? undefined
          : new LayerWorkerPool(Math.min(6, (opts.layerConcurrency ?? 3) * (opts.maxConcurrentPulls ?? 3)));
      const puller = new ImagePuller({
        db,
        content,
        snapshots,
        client,
        clock,
        runner,
        logger,
        ...(metrics === undefined ? {} : { metrics }),
        registries: opts.registries ?? emptyRegistriesConfig,
        dockerConfig: opts.dockerConfig ?? emptyDockerConfig,
        ...(opts.layerConcurrency === undefined ? {} : { layerConcurrency: opts.layerConcurrency }),
        ...(opts.maxConcurrentPulls === undefined ? {} : { maxConcurrentPulls: opts.maxConcurrentPulls }),
        ...(opts.keepLayerBlobs === undefined ? {} : { keepLayerBlobs: opts.keepLayerBlobs }),
        ...(opts.pullTimeoutMs === undefined ? {} : { totalTimeoutMs: opts.pullTimeoutMs }),
        ...(opts.extractLimits === undefined ? {} : { extractLimits: opts.extractLimits }),
        ...(opts.allowDevices === undefined ? {} : { allowDevices: opts.allowDevices }),
        platform,
        ...(workers === undefined ? {} : { workers }),
      });
      ref.service = new LocalImageService(
        opts,
        { db, content, snapshots, puller, metrics, workers },
        platform,
      );
      return ref.service;
    } catch (err) {
      db.close();
      throw err;
    }
  }

  /**
   * Starts the layer worker threads ahead of the first pull (a long-running agent does this at start;
   * one-shot commands need not). Resolves when they are loaded.
   */
  prewarm(): Promise<void> {
    return this.#workers?.prewarm() ?? Promise.resolve();
  }

  /** Resolves once everything pulled so far is on disk (layer sync, compressed blobs kept). */
  flush(): Promise<void> {
    return this.#puller.idle();
  }

  /** Waits for background work, then closes the metadata database. Pulls in progress must have finished. */
  async close(): Promise<void> {
    await this.#puller.idle();
    await this.#workers?.close();
    this.#db.close();
  }

  // ImageService

  pull(ref: string, opts?: PullOptions): Promise<PullResult> {
    return this.#puller.pull(ref, opts);
  }

  /** An image counts as present only with every layer on disk (a layer lost in a reboot means: pull again). */
  status(ref: string): Promise<ImageRecord | undefined> {
    const img = this.#db.findImage(ref);
    const complete = img?.layers.every((l) => this.#snapshots.get(l.chainId) !== undefined) === true;
    return Promise.resolve(img === undefined || !complete ? undefined : toImageRecord(img));
  }

  list(): Promise<readonly ImageRecord[]> {
    return Promise.resolve(this.#db.listImages().map(toImageRecord));
  }

  /**
   * Removes a reference, or the whole image when given a digest/id or its last tag. An image a
   * container still uses loses its references but stays until the container's rootfs is released.
   */
  async remove(ref: string): Promise<boolean> {
    const img = this.#db.findImage(ref);
    if (img === undefined) return false;
    const normalized = normalizeReference(ref);
    const tags = img.references.filter((r) => !r.includes('@'));
    if (normalized !== undefined && tags.includes(normalized) && tags.length > 1) {
      this.#db.removeRef(normalized);
      return true;
    }
    await this.#deleteImage(img);
    return true;
  }

  /** Everything recorded about an image (`berth image inspect`). */
  inspect(ref: string): StoredImage | undefined {
    return this.#db.findImage(ref);
  }

  /** All images with full detail. */
  listDetailed(): StoredImage[] {
    return this.#db.listImages();
  }

  #inUse(): Set<string> {
    return new Set(this.#db.listRootfs().map((r) => r.imageDigest));
  }

  async #deleteImage(img: StoredImage): Promise<number> {
    if (this.#inUse().has(img.digest)) {
      for (const r of img.references) this.#db.removeRef(r);
      return 0;
    }
    this.#db.deleteImage(img.digest);
    return this.#sweep(new Set(img.layers.map((l) => l.chainId)), new Set(this.#blobsOf(img)));
  }

  #blobsOf(img: StoredImage): string[] {
    return [img.digest, img.manifestDigest, img.configDigest, ...img.layers.map((l) => l.digest)];
  }

  /**
   * Deletes snapshots and blobs nothing references: those in `forced` (just released) at any age,
   * the rest only past the orphan grace period. Returns the bytes freed.
   */
  async #sweep(forcedChains: ReadonlySet<string>, forcedBlobs: ReadonlySet<string>): Promise<number> {
    const held = this.#puller.held();
    const chains = new Set(held.chains);
    const blobs = new Set(held.blobs);
    for (const img of this.#db.listImages()) {
      for (const l of img.layers) chains.add(l.chainId);
      for (const b of this.#blobsOf(img)) blobs.add(b);
    }
    const now = this.#clock.now();
    let freed = 0;
    for (const s of this.#db.listSnapshots()) {
      if (chains.has(s.chainId) || s.state !== 'committed') continue;
      if (!forcedChains.has(s.chainId) && now - s.createdAt < this.#orphanGraceMs) continue;
      await this.#snapshots.remove(s);
      freed += s.size;
    }
    for (const b of await this.#content.list()) {
      if (blobs.has(b.digest)) continue;
      if (!forcedBlobs.has(b.digest) && !(await this.#olderThanGrace(b.digest, now))) continue;
      if (await this.#content.delete(b.digest)) freed += b.size;
    }
    return freed;
  }

  async #olderThanGrace(digest: string, now: number): Promise<boolean> {
    try {
      const s = await stat(this.#content.blobPath(digest));
      return now - s.mtimeMs >= this.#orphanGraceMs;
    } catch {
      return false;
    }
  }

  /**
   * Removes images: with `all`, every image no container uses; otherwise only dangling ones (no
   * references left). Then sweeps unreferenced layers and blobs.
   */
  async prune(opts: { all?: boolean } = {}): Promise<GcReport> {
    const inUse = this.#inUse();
    const removed: { digest: string; references: string[] }[] = [];
    const chains = new Set<string>();
    const blobs = new Set<string>();
    for (const img of this.#db.listImages()) {
      if (inUse.has(img.digest)) continue;
      if (opts.all !== true && img.references.length > 0) continue;
      this.#db.deleteImage(img.digest);
      removed.push({ digest: img.digest, references: [...img.references] });
      for (const l of img.layers) chains.add(l.chainId);
      for (const b of this.#blobsOf(img)) blobs.add(b);
    }
    const freedBytes = await this.#sweep(chains, blobs);
    return { bytesToFree: 0, freedBytes, removed };
  }

  /** One GC pass under the policy; concurrent calls share a pass. */
  garbageCollect(): Promise<GcReport> {
    this.#gcRunning ??= this.#gc().finally(() => {
      this.#gcRunning = undefined;
    });
    return this.#gcRunning;
  }

  async #gc(): Promise<GcReport> {
    const usage = await this.#fsUsage(this.root);
    const inUse = this.#inUse();
    const images = this.#db.listImages();
    // Bytes an image frees on its own: its layers no other image shares, plus its config/manifests.
    const chainUsers = new Map<string, number>();
    for (const img of images)
      for (const l of img.layers) chainUsers.set(l.chainId, (chainUsers.get(l.chainId) ?? 0) + 1);
    const candidates = images.map((img) => ({
      digest: img.digest,
      lastUsedAt: img.lastUsedAt,
      inUse: inUse.has(img.digest),
      reclaimableBytes: img.layers.reduce(
        (n, l) =>
          n + (chainUsers.get(l.chainId) === 1 ? (this.#snapshots.get(l.chainId)?.size ?? 0) + l.size : 0),
        0,
      ),
    }));
    const plan = planImageGc(usage, candidates, this.#gcPolicy, this.#clock.now());
    if (plan.bytesToFree <= 0) return { bytesToFree: 0, freedBytes: 0, removed: [] };
    const removed: { digest: string; references: string[] }[] = [];
    let freed = 0;
    for (const digest of plan.remove) {
      const img = this.#db.getImage(digest);
      if (img === undefined) continue;
      let bytes: number;
      try {
        bytes = await this.#deleteImage(img);
      } catch (err) {
        this.#emit('Warning', 'ImageGCFailed', `removing image ${digest}: ${errorMessage(err)}`);
        continue;
      }
      freed += bytes;
      removed.push({ digest, references: [...img.references] });
      this.#metrics?.imageCollected(bytes);
      this.#emit(
        'Normal',
        'ImageGarbageCollected',
        `removed unused image ${img.references.find((r) => !r.includes('@')) ?? digest} to free disk space`,
      );
      if (freed >= plan.bytesToFree) break;
    }
    freed += await this.#sweep(new Set(), new Set());
    if (freed < plan.bytesToFree) {
      this.#emit(
        'Warning',
        'FreeDiskSpaceFailed',
        `failed to garbage collect required amount of images. Attempted to free ${plan.bytesToFree} bytes, but only found ${freed} bytes eligible to free.`,
      );
    }
    return { bytesToFree: plan.bytesToFree, freedBytes: freed, removed };
  }

  /** Runs GC every `intervalMs` (kubelet: 5 min); returns a function that stops it. */
  startGarbageCollection(intervalMs = 5 * 60 * 1000): () => void {
    const timer = this.#clock.setTimer(
      intervalMs,
      () => {
        this.garbageCollect().catch((err: unknown) => {
          this.#emit('Warning', 'ImageGCFailed', errorMessage(err));
        });
      },
      { repeat: true },
    );
    return () => {
      timer.cancel();
    };
  }

  #emit(type: 'Normal' | 'Warning', reason: string, message: string): void {
    this.#logger[type === 'Normal' ? 'info' : 'warn']({ reason }, message);
    try {
      this.#onEvent?.({ type, reason, message });
    } catch (err) {
      this.#logger.warn({ err: errorMessage(err) }, 'image event listener threw');
    }
  }

  /** Capacity and usage of the image filesystem, for metrics and GC. */
  async usage(): Promise<ImageFsUsage> {
    const fs = await this.#fsUsage(this.root);
    const snapshots = this.#db.listSnapshots().reduce((n, s) => n + s.size, 0);
    const blobs = (await this.#content.list()).reduce((n, b) => n + b.size, 0);
    return { ...fs, imagesBytes: snapshots + blobs, images: this.#db.listImages().length };
  }

  // RootfsProvider

  async prepareRootfs(image: string, containerId: string): Promise<PrepareRootfsResult> {
    if (!containerIdRe.test(containerId)) {
      throw new BerthError(errorCodes.IMAGE_STORE, `invalid container id ${JSON.stringify(containerId)}`);
    }
    const img = this.#db.findImage(image);
    const existing = this.#db.getRootfs(containerId);
    if (existing !== undefined && img !== undefined && existing.imageDigest !== img.digest) {
      return {
        ok: false,
        reason: 'Conflict',
        message: `container ${containerId} already has a rootfs from image ${existing.imageDigest}`,
      };
    }
    if (img === undefined) {
      return { ok: false, reason: 'ImageNotFound', message: `image "${image}" is not present on this node` };
    }
    const lowerDirs: string[] = [];
    for (const l of [...img.layers].reverse()) {
      const row = this.#snapshots.get(l.chainId);
      if (row === undefined) {
        return {
          ok: false,
          reason: 'ImageNotFound',
          message: `image "${image}" is missing layer ${l.digest}; pull it again`,
        };
      }
      lowerDirs.push(this.#snapshots.dir(row));
    }
    const dir = join(this.#rootfsDir, containerId);
    const upperDir = join(dir, 'upper');
    const workDir = join(dir, 'work');
    await mkdir(upperDir, { recursive: true, mode: 0o755 });
    await mkdir(workDir, { recursive: true, mode: 0o700 });
    if (lowerDirs.length === 0) {
      // overlayfs needs a lower dir; an image with no layers gets an empty one.
      const empty = join(dir, 'empty');
      await mkdir(empty, { recursive: true, mode: 0o755 });
      lowerDirs.push(empty);
    }
    this.#db.putRootfs(containerId, img.digest, this.#clock.now());
    this.#db.touch(img.digest, this.#clock.now());
    const options = [
      `lowerdir=${lowerDirs.join(':')}`,
      `upperdir=${upperDir}`,
      `workdir=${workDir}`,
      ...(this.#overlayIndexOff ? ['index=off'] : []),
    ];
    if (options.join(',').length >= 4096) {
      throw new BerthError(
        errorCodes.IMAGE_STORE,
        `image has ${img.layers.length} layers: the overlay mount options exceed one page; move the image directory to a shorter path`,
      );
    }
    return {
      ok: true,
      rootfs: { lowerDirs, upperDir, workDir, mount: { type: 'overlay', source: 'overlay', options } },
    };
  }

  async releaseRootfs(containerId: string): Promise<boolean> {
    if (!containerIdRe.test(containerId)) return false;
    const had = this.#db.getRootfs(containerId) !== undefined;
    await rm(join(this.#rootfsDir, containerId), { recursive: true, force: true });
    this.#db.deleteRootfs(containerId);
    return had;
  }

  // Import and export

  /**
   * Imports every image in an OCI layout tar or `docker save` tar; returns what was recorded.
   * `baseName` names images the archive tags only (`v1` → `<baseName>:v1`).
   */
  async importArchive(
    input: Readable,
    opts: { baseName?: string; onProgress?: (p: PullProgress) => void; signal?: AbortSignal } = {},
  ): Promise<ImageRecord[]> {
    const images = await readImageArchive(input, this.#content, {
      ...(opts.baseName === undefined ? {} : { baseName: opts.baseName }),
      platform: this.#platform,
    });
    const out: ImageRecord[] = [];
    const signal = opts.signal ?? new AbortController().signal;
    for (const img of images) {
      const name = img.refs[0] === undefined ? img.digest : formatReference(img.refs[0]);
      const layers = await this.#puller.unpackLayers(
        { layers: img.manifest.layers, diffIds: img.config.diffIds, targets: [] },
        name,
        signal,
        opts.onProgress ?? (() => undefined),
      );
      const stored = this.#puller.record({
        ref: img.refs[0],
        extraRefs: img.refs.slice(1).map(formatReference),
        digest: img.digest,
        manifestDigest: img.digest,
        mediaType: img.mediaType,
        manifest: img.manifest,
        config: img.config,
        layers,
        platform: this.#platform,
      });
      out.push(toImageRecord(stored));
    }
    return out;
  }

  /** Writes the named images as one archive (OCI layout + Docker manifest.json). */
  async exportArchive(refs: readonly string[], output: Writable): Promise<void> {
    // Compressed layers of a pull that just returned may still be on their way into the content store.
    await this.#puller.idle();
    const images: StoredImage[] = [];
    for (const r of refs) {
      const img = this.#db.findImage(r);
      if (img === undefined) throw new BerthError(errorCodes.IMAGE_STORE, `image "${r}" is not present`);
      if (!images.some((i) => i.digest === img.digest)) images.push(img);
    }
    await writeImageArchive(images, this.#content, output);
  }
}

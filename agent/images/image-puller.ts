/**
 * Pulling one image, end to end:
 *
 *   resolve ──▶ (index? pick platform ──▶ manifest) ──▶ config ──▶ layers ──▶ record
 *      │ each endpoint (mirrors, then the registry), each credential candidate, until one answers
 *      └ NotFound / Unauthorized from the registry itself are the result; errors from a mirror fall through
 *
 * Layers go through the one-pass unpacker, up to `layerConcurrency` downloads at a time (default 3, as
 * containerd; on worker threads a layer whose bytes have all arrived frees its slot while its files
 * are still being written), each into its own snapshot directory keyed by chain ID; a chain already on the node is
 * skipped, and a chain another pull is unpacking right now is awaited rather than fetched twice.
 * Identical pulls running at the same time share one pull (and its progress); distinct pulls run in
 * parallel up to `maxConcurrentPulls`. A layer that fails from a mirror is retried from the next
 * endpoint. A no-progress timeout lives in the registry client; the total timeout is here.
 *
 * A pull returns when the rootfs is ready. What only durability needs — the one filesystem sync for
 * its layers and the fsync + rename of the compressed blobs kept for export — continues in the
 * background (`idle()` waits for it); see snapshot-store.ts for why that is safe.
 *
 * Failures come back as `PullResult` values with the reason the pod status shows (`ErrImagePull`).
 */
import type { Clock } from '../../lib/clock.js';
import { BerthError, errorCodes, errorMessage, isBerthError } from '../../lib/errors.js';
import type { Logger } from '../../lib/logger.js';
import type { CommandRunner } from '../../lib/command-runner.js';
import type { ContentStore } from './content-store.js';
import { dockerConfigCredentials, matchCredentials, type DockerConfig } from './credentials.js';
import { chainIds, parseDigest } from './digest.js';
import type { ImageDb, LayerRecord, SnapshotRow, StoredImage } from './image-db.js';
import type { ImageMetrics, PullErrorReason } from './image-metrics.js';
import {
  digestReference,
  formatReference,
  parseImageReference,
  repositoryName,
  type ImageReference,
} from './image-reference.js';
import type {
  ImageRecord,
  PullOptions,
  PullPhase,
  PullProgress,
  PullResult,
  RegistryCredentials,
} from './image-service.js';
import type { ExtractLimits } from './layer-extractor.js';
import { unpackLayer, type UnpackLayerOptions, type UnpackLayerResult } from './layer-unpacker.js';
import { Limiter } from './limiter.js';
import {
  formatPlatform,
  hostPlatform,
  maxConfigBytes,
  parseImageConfig,
  parseManifest,
  parsePlatform,
  selectPlatformManifest,
  type Descriptor,
  type ImageConfig,
  type ImageManifest,
  type Platform,
} from './manifest.js';
import { endpointsFor, type RegistriesConfig, type RegistryEndpoint } from './registries-config.js';
import type { RegistryClient, RegistryTarget } from './registry-client.js';
import type { SnapshotStore } from './snapshot-store.js';
import { unpackLayerInWorker, type LayerWorkerPool } from './worker-unpacker.js';

export interface ImagePullerOptions {
  readonly db: ImageDb;
  readonly content: ContentStore;
  readonly snapshots: SnapshotStore;
  readonly client: RegistryClient;
  readonly clock: Clock;
  readonly runner: CommandRunner;
  readonly logger: Logger;
  readonly metrics?: ImageMetrics;
  readonly registries: RegistriesConfig;
  readonly dockerConfig: DockerConfig;
  /** Layers of one pull downloaded and unpacked at once. Default 3. */
  readonly layerConcurrency?: number;
  /** Distinct images pulled at once on this node. Default 3. */
  readonly maxConcurrentPulls?: number;
  /** Keep compressed layers in the content store (needed by `export`). Default true. */
  readonly keepLayerBlobs?: boolean;
  /** A pull that takes longer than this fails. Default 30 min. */
  readonly totalTimeoutMs?: number;
  readonly extractLimits?: Partial<ExtractLimits>;
  readonly allowDevices?: boolean;
  readonly platform?: Platform;
  /** Decompress and extract on these worker threads; in the calling thread when absent. */
  readonly workers?: LayerWorkerPool;
}

/** An image as the seam reports it. */
export function toImageRecord(img: StoredImage): ImageRecord {
  const c = img.config;
  return {
    references: img.references,
    digest: img.digest,
    configDigest: img.configDigest,
    size: img.size,
    config: {
      ...(c.entrypoint === undefined ? {} : { entrypoint: c.entrypoint }),
      ...(c.cmd === undefined ? {} : { cmd: c.cmd }),
      ...(c.env === undefined ? {} : { env: c.env }),
      ...(c.workingDir === undefined ? {} : { workingDir: c.workingDir }),
      ...(c.user === undefined ? {} : { user: c.user }),
    },
  };
}

/** Something thrown or an abort reason, as an Error (keeping it when it is one). */
function asError(e: unknown): Error {
  return e instanceof Error ? e : new Error(String(e));
}

/** A failure the pull result reports as it is (not found, refused), as opposed to an error. */
class PullRefusal extends Error {
  readonly reason: PullErrorReason;
  constructor(reason: PullErrorReason, message: string) {
    super(message);
    this.reason = reason;
  }
}

interface Inflight {
  readonly promise: Promise<PullResult>;
  readonly listeners: Set<(p: PullProgress) => void>;
  participants: number;
  readonly abort: AbortController;
}

/** What one image's layers need, whether they come from a registry or the content store. */
export interface LayerPlan {
  readonly layers: readonly Descriptor[];
  readonly diffIds: readonly string[];
  /** Registry targets to fetch from, best first; empty when every blob must be in the content store. */
  readonly targets: readonly RegistryTarget[];
}

interface LayerJob {
  readonly desc: Descriptor;
  readonly diffId: string;
  readonly chainId: string;
  readonly parent: string | undefined;
  readonly targets: readonly RegistryTarget[];
  readonly lowerDirs: () => Promise<string[]>;
}

export class ImagePuller {
  readonly #o: ImagePullerOptions;
  readonly #pullLimiter: Limiter;
  readonly #inflight = new Map<string, Inflight>();
  readonly #layerInflight = new Map<string, Promise<SnapshotRow>>();
  /** Chains and blobs held by pulls in progress; GC keeps them. */
  readonly #heldChains = new Map<string, number>();
  readonly #heldBlobs = new Map<string, number>();
  /** Work that finishes after a pull has returned: blob fsync + rename, the layer sync. */
  readonly #background = new Set<Promise<void>>();

  constructor(opts: ImagePullerOptions) {
    this.#o = opts;
    this.#pullLimiter = new Limiter(opts.maxConcurrentPulls ?? 3);
  }

  /** Runs `p` past the pull's return; a failure is logged (content is verified again when used). */
  #track(p: Promise<unknown>, what: string): void {
    const done: Promise<void> = p.then(
      () => undefined,
      (err: unknown) => {
        this.#o.logger.warn({ err: errorMessage(err) }, `${what} failed`);
      },
    );
    this.#background.add(done);
    void done.finally(() => this.#background.delete(done));
  }

  /** Resolves when the background work of every pull so far is done (everything pulled is durable). */
  async idle(): Promise<void> {
    while (this.#background.size > 0) await Promise.all([...this.#background]);
  }

  /** Chain IDs and blob digests in use by pulls in progress. */
  held(): { chains: ReadonlySet<string>; blobs: ReadonlySet<string> } {
    return { chains: new Set(this.#heldChains.keys()), blobs: new Set(this.#heldBlobs.keys()) };
  }

  #hold(map: Map<string, number>, keys: readonly string[]): () => void {
    for (const k of keys) map.set(k, (map.get(k) ?? 0) + 1);
    return () => {
      for (const k of keys) {
        const n = (map.get(k) ?? 1) - 1;
        if (n <= 0) map.delete(k);
        else map.set(k, n);
      }
    };
  }

  async pull(refString: string, opts: PullOptions = {}): Promise<PullResult> {
    const parsed = parseImageReference(refString);
    if (!parsed.ok) return { ok: false, reason: 'InvalidReference', message: parsed.message };
    const ref = parsed.ref;
    let platform = this.#o.platform ?? hostPlatform();
    if (opts.platform !== undefined) {
      const p = parsePlatform(opts.platform);
      if (p === undefined) {
        return {
          ok: false,
          reason: 'Failed',
          message: `invalid platform "${opts.platform}" (want os/arch[/variant])`,
        };
      }
      platform = p;
    }
    const credKey = JSON.stringify([...(opts.credentials ?? new Map<string, RegistryCredentials>())].sort());
    const key = JSON.stringify([formatReference(ref), formatPlatform(platform), credKey]);

    let entry = this.#inflight.get(key);
    if (entry === undefined) {
      const abort = new AbortController();
      const listeners = new Set<(p: PullProgress) => void>();
      const emit = (p: PullProgress): void => {
        for (const l of listeners) {
          try {
            l(p);
          } catch (err) {
            this.#o.logger.warn({ err: errorMessage(err) }, 'pull progress listener threw');
          }
        }
      };
      const promise = this.#pullLimiter
        .run(() => this.#timedPull(ref, platform, opts.credentials, abort.signal, emit), abort.signal)
        .catch((err: unknown) => this.#failure(ref, err, abort.signal))
        .finally(() => this.#inflight.delete(key));
      entry = { promise, listeners, participants: 0, abort };
      this.#inflight.set(key, entry);
    }
    const e = entry;
    e.participants++;
    if (opts.onProgress !== undefined) e.listeners.add(opts.onProgress);
    const signal = opts.signal;
    const leave = (): void => {
      if (opts.onProgress !== undefined) e.listeners.delete(opts.onProgress);
      e.participants--;
    };
    if (signal === undefined) {
      try {
        return await e.promise;
      } finally {
        leave();
      }
    }
    // A caller that gives up leaves; the shared pull stops only when every caller has left.
    return new Promise<PullResult>((resolve) => {
      const onAbort = (): void => {
        leave();
        if (e.participants <= 0) e.abort.abort(signal.reason);
        resolve({ ok: false, reason: 'Failed', message: `pull of ${formatReference(ref)} cancelled` });
      };
      if (signal.aborted) {
        onAbort();
        return;
      }
      signal.addEventListener('abort', onAbort, { once: true });
      void e.promise.then((r) => {
        signal.removeEventListener('abort', onAbort);
        if (signal.aborted) return;
        leave();
        resolve(r);
      });
    });
  }

  #failure(ref: ImageReference, err: unknown, signal: AbortSignal): PullResult {
    const name = formatReference(ref);
    let result: Extract<PullResult, { ok: false }>;
    if (err instanceof PullRefusal) {
      result = { ok: false, reason: err.reason, message: err.message };
    } else if (isBerthError(err, errorCodes.IMAGE_UNAUTHORIZED)) {
      result = {
        ok: false,
        reason: 'Unauthorized',
        message: `failed to authorize: pull access denied for ${repositoryName(ref)}: ${err.message}`,
      };
    } else if (signal.aborted && !(signal.reason instanceof BerthError)) {
      result = { ok: false, reason: 'Failed', message: `pull of ${name} cancelled` };
    } else {
      const e = signal.aborted && signal.reason instanceof BerthError ? signal.reason : err;
      result = {
        ok: false,
        reason: 'Failed',
        message: `failed to pull and unpack image "${name}": ${errorMessage(e)}`,
      };
    }
    this.#o.metrics?.pullFinished({ ok: false, reason: result.reason });
    this.#o.logger.info({ image: name, reason: result.reason, err: result.message }, 'image pull failed');
    return result;
  }

  async #timedPull(
    ref: ImageReference,
    platform: Platform,
    podCredentials: ReadonlyMap<string, RegistryCredentials> | undefined,
    signal: AbortSignal,
    emit: (p: PullProgress) => void,
  ): Promise<PullResult> {
    const started = this.#o.clock.now();
    this.#o.metrics?.pullStarted();
    const timeoutMs = this.#o.totalTimeoutMs ?? 30 * 60 * 1000;
    const ac = new AbortController();
    const onAbort = (): void => {
      ac.abort(signal.reason);
    };
    signal.addEventListener('abort', onAbort, { once: true });
    const timer = this.#o.clock.setTimer(timeoutMs, () => {
      ac.abort(
        new BerthError(errorCodes.IMAGE_REGISTRY, `pull took longer than ${Math.round(timeoutMs / 1000)} s`),
      );
    });
    try {
      const img = await this.#pullOnce(ref, platform, podCredentials, ac.signal, emit);
      const seconds = (this.#o.clock.now() - started) / 1000;
      this.#o.metrics?.pullFinished({ ok: true, seconds, sizeBytes: img.size });
      this.#o.logger.info(
        { image: formatReference(ref), digest: img.digest, seconds, bytes: img.size },
        'image pulled',
      );
      return { ok: true, image: toImageRecord(img) };
    } catch (err) {
      if (ac.signal.aborted && ac.signal.reason instanceof BerthError) throw ac.signal.reason;
      throw err;
    } finally {
      timer.cancel();
      signal.removeEventListener('abort', onAbort);
    }
  }

  /** The credentials to try at `ep`, most specific first; empty means anonymous. */
  async #credentialsFor(
    ep: RegistryEndpoint,
    ref: ImageReference,
    podCredentials: ReadonlyMap<string, RegistryCredentials> | undefined,
    signal: AbortSignal,
  ): Promise<RegistryCredentials[]> {
    const out: RegistryCredentials[] = [];
    // Pod credentials are for the image's own registry; a mirror never sees them.
    if (!ep.mirror && podCredentials !== undefined)
      out.push(...matchCredentials(podCredentials, repositoryName(ref)));
    if (ep.credentials !== undefined) out.push(ep.credentials);
    const image = `${ep.host}/${ep.repository}`;
    const fromDocker = await dockerConfigCredentials(
      this.#o.dockerConfig,
      image,
      ep.host,
      this.#o.runner,
      signal,
    );
    if (fromDocker !== undefined) out.push(fromDocker);
    const seen = new Set<string>();
    return out.filter((c) => {
      const k = JSON.stringify(c);
      if (seen.has(k)) return false;
      seen.add(k);
      return true;
    });
  }

  async #pullOnce(
    ref: ImageReference,
    platform: Platform,
    podCredentials: ReadonlyMap<string, RegistryCredentials> | undefined,
    signal: AbortSignal,
    emit: (p: PullProgress) => void,
  ): Promise<StoredImage> {
    const name = formatReference(ref);
    emit({ ref: name, bytesDone: 0, bytesTotal: 0, phase: 'resolving' });
    const reference = ref.digest ?? ref.tag ?? 'latest';
    const endpoints = endpointsFor(this.#o.registries, ref.domain, ref.path);
    const targets: RegistryTarget[] = [];
    let resolved:
      { target: RegistryTarget; bytes: Buffer; contentType: string | undefined; digest: string } | undefined;
    let outcome: { reason: 'NotFound' | 'Unauthorized'; message: string } | undefined;
    let lastError: unknown;
    for (const ep of endpoints) {
      const creds = await this.#credentialsFor(ep, ref, podCredentials, signal);
      const candidates: (RegistryCredentials | undefined)[] = creds.length === 0 ? [undefined] : creds;
      if (resolved !== undefined) {
        // Later endpoints are fallbacks for layers.
        targets.push({
          endpoint: ep,
          ...(candidates[0] === undefined ? {} : { credentials: candidates[0] }),
        });
        continue;
      }
      outcome = undefined;
      lastError = undefined;
      for (const c of candidates) {
        const target: RegistryTarget = { endpoint: ep, ...(c === undefined ? {} : { credentials: c }) };
        try {
          const r = await this.#o.client.getManifest(target, reference, signal);
          if (r.ok) {
            resolved = { target, bytes: r.bytes, contentType: r.contentType, digest: r.digest };
            targets.push(target);
            break;
          }
          outcome = r;
          if (r.reason === 'NotFound') break;
        } catch (err) {
          if (signal.aborted) throw err;
          lastError = err;
          this.#o.logger.debug({ endpoint: ep.apiBase, err: errorMessage(err) }, 'registry endpoint failed');
          break;
        }
      }
    }
    if (resolved === undefined) {
      // The registry itself (the last endpoint) has the final word.
      if (lastError !== undefined) throw asError(lastError);
      if (outcome?.reason === 'NotFound') {
        throw new PullRefusal(
          'NotFound',
          `failed to resolve reference "${name}": ${name}: not found (${outcome.message})`,
        );
      }
      throw new PullRefusal(
        'Unauthorized',
        `failed to authorize: pull access denied for ${repositoryName(ref)}, repository does not exist or may require authorization: ${outcome?.message ?? 'no answer'}`,
      );
    }
    const target = resolved.target;

    // Manifest, via the index when there is one.
    const top = parseManifest(resolved.bytes, resolved.contentType);
    if (!top.ok) throw new BerthError(errorCodes.IMAGE_INVALID, `${name}: ${top.message}`);
    const blobsToKeep: { desc: Descriptor; bytes: Buffer }[] = [
      {
        desc: { mediaType: top.value.mediaType, digest: resolved.digest, size: resolved.bytes.length },
        bytes: resolved.bytes,
      },
    ];
    let manifest: ImageManifest;
    let manifestDigest = resolved.digest;
    if (top.value.kind === 'index') {
      const chosen = selectPlatformManifest(top.value, platform);
      if (chosen === undefined) {
        const available = top.value.manifests
          .flatMap((m) => (m.platform === undefined ? [] : [formatPlatform(m.platform)]))
          .join(', ');
        throw new PullRefusal(
          'Failed',
          `failed to pull "${name}": no image for platform ${formatPlatform(platform)} (the index has: ${available || 'none'})`,
        );
      }
      const child = await this.#o.client.getManifest(target, chosen.digest, signal);
      if (!child.ok) {
        throw new BerthError(
          errorCodes.IMAGE_INVALID,
          `${name}: manifest ${chosen.digest} listed in the index: ${child.message}`,
        );
      }
      if (child.bytes.length !== chosen.size) {
        throw new BerthError(
          errorCodes.IMAGE_INVALID,
          `${name}: manifest ${chosen.digest} has ${child.bytes.length} bytes, the index says ${chosen.size}`,
        );
      }
      const parsedChild = parseManifest(child.bytes, child.contentType ?? chosen.mediaType);
      if (!parsedChild.ok) throw new BerthError(errorCodes.IMAGE_INVALID, `${name}: ${parsedChild.message}`);
      if (parsedChild.value.kind !== 'manifest') {
        throw new BerthError(errorCodes.IMAGE_INVALID, `${name}: nested indexes are not supported`);
      }
      manifest = parsedChild.value;
      manifestDigest = child.digest;
      blobsToKeep.push({ desc: { ...chosen, size: child.bytes.length }, bytes: child.bytes });
    } else {
      manifest = top.value;
    }

    // Config.
    const config = await this.#config(manifest, target, signal);
    if (config.diffIds.length !== manifest.layers.length) {
      throw new BerthError(
        errorCodes.IMAGE_INVALID,
        `${name}: the manifest has ${manifest.layers.length} layers but the config lists ${config.diffIds.length} diff_ids`,
      );
    }
    for (const b of blobsToKeep)
      await this.#o.content.putBlob({ digest: b.desc.digest, size: b.desc.size }, b.bytes);

    const layers = await this.unpackLayers(
      { layers: manifest.layers, diffIds: config.diffIds, targets },
      name,
      signal,
      emit,
    );
    return this.record({
      ref,
      digest: resolved.digest,
      manifestDigest,
      mediaType: top.value.mediaType,
      manifest,
      config,
      layers,
      platform,
    });
  }

  async #config(manifest: ImageManifest, target: RegistryTarget, signal: AbortSignal): Promise<ImageConfig> {
    const desc = manifest.config;
    let bytes: Buffer | undefined;
    try {
      bytes = await this.#o.content.readBlob(desc.digest, maxConfigBytes);
    } catch (err) {
      // Corrupt on disk: fetch it again.
      this.#o.logger.warn(
        { digest: desc.digest, err: errorMessage(err) },
        'image config in the content store is bad',
      );
      await this.#o.content.delete(desc.digest);
    }
    if (bytes === undefined) {
      bytes = await this.#o.client.getBlobBytes(target, desc, maxConfigBytes, signal);
      await this.#o.content.putBlob({ digest: desc.digest, size: desc.size }, bytes);
    }
    const parsed = parseImageConfig(bytes);
    if (!parsed.ok)
      throw new BerthError(errorCodes.IMAGE_INVALID, `image config ${desc.digest}: ${parsed.message}`);
    return parsed.value;
  }

  /**
   * Makes sure every layer of `plan` is a committed snapshot: present ones are skipped, the rest are
   * fetched (registry, or the content store when the blob is there) and unpacked, `layerConcurrency`
   * at a time. Returns the layer records, bottom first.
   */
  async unpackLayers(
    plan: LayerPlan,
    name: string,
    signal: AbortSignal,
    emit: (p: PullProgress) => void,
  ): Promise<LayerRecord[]> {
    const chains = chainIds(plan.diffIds);
    const release = this.#hold(this.#heldChains, chains);
    const releaseBlobs = this.#hold(
      this.#heldBlobs,
      plan.layers.map((l) => l.digest),
    );
    const limiter = new Limiter(this.#o.layerConcurrency ?? 3);
    const ac = new AbortController();
    const onAbort = (): void => {
      ac.abort(signal.reason);
    };
    signal.addEventListener('abort', onAbort, { once: true });
    const rows: Promise<SnapshotRow>[] = [];
    try {
      for (const [i, desc] of plan.layers.entries()) {
        const chainId = chains[i] ?? '';
        const diffId = plan.diffIds[i] ?? '';
        const lower = rows.slice();
        const lowerDirs = async (): Promise<string[]> =>
          (await Promise.all(lower)).map((r) => this.#o.snapshots.dir(r)).reverse();
        const p = this.#layer(
          {
            desc,
            diffId,
            chainId,
            parent: i === 0 ? undefined : chains[i - 1],
            targets: plan.targets,
            lowerDirs,
          },
          name,
          limiter,
          ac.signal,
          emit,
        );
        // The first failure stops the others.
        p.catch((err: unknown) => {
          ac.abort(err);
        });
        rows.push(p);
      }
      const settled = await Promise.allSettled(rows);
      // One filesystem sync for all of this pull's layers, after rootfs-ready.
      this.#track(this.#o.snapshots.flush(), 'syncing layers to disk');
      const failed = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
      if (failed !== undefined) {
        throw asError(signal.aborted ? signal.reason : ac.signal.aborted ? ac.signal.reason : failed.reason);
      }
      return settled.map((s, i) => {
        const row = (s as PromiseFulfilledResult<SnapshotRow>).value;
        const desc = plan.layers[i] as Descriptor;
        return {
          digest: desc.digest,
          mediaType: desc.mediaType,
          size: desc.size,
          diffId: row.diffId,
          chainId: row.chainId,
        };
      });
    } finally {
      signal.removeEventListener('abort', onAbort);
      release();
      releaseBlobs();
    }
  }

  #layer(
    l: LayerJob,
    name: string,
    limiter: Limiter,
    signal: AbortSignal,
    emit: (p: PullProgress) => void,
  ): Promise<SnapshotRow> {
    const progress = (phase: PullPhase, bytesDone: number): void => {
      emit({ ref: name, layer: l.desc.digest, bytesDone, bytesTotal: l.desc.size, phase });
    };
    const existing = this.#o.snapshots.get(l.chainId);
    if (existing !== undefined) {
      progress('exists', l.desc.size);
      return Promise.resolve(existing);
    }
    const running = this.#layerInflight.get(l.chainId);
    if (running !== undefined) {
      progress('waiting', 0);
      return running.then((row) => {
        progress('done', l.desc.size);
        return row;
      });
    }
    progress('waiting', 0);
    // The slot bounds downloads (as containerd's does); a layer whose bytes have all arrived may
    // give it back while its files are still being created (worker-unpacker.ts). A retry from the
    // next endpoint after that (a mirror's layer that failed to verify) runs without a slot.
    const p = limiter
      .runReleasable((release) => this.#fetchLayer(l, progress, signal, release), signal)
      .finally(() => this.#layerInflight.delete(l.chainId));
    this.#layerInflight.set(l.chainId, p);
    return p;
  }

  async #fetchLayer(
    l: LayerJob,
    progress: (phase: PullPhase, bytesDone: number) => void,
    signal: AbortSignal,
    downloaded: () => void,
  ): Promise<SnapshotRow> {
    const { desc } = l;
    if (parseDigest(desc.digest) === undefined) {
      throw new BerthError(errorCodes.IMAGE_INVALID, `invalid layer digest ${desc.digest}`);
    }
    // Sources in order: the content store (if the blob is there), then each registry target.
    const sources: ('local' | RegistryTarget)[] = [];
    if (await this.#o.content.has(desc.digest)) sources.push('local');
    sources.push(...l.targets);
    if (sources.length === 0) {
      throw new BerthError(
        errorCodes.IMAGE_INVALID,
        `layer ${desc.digest} is not in the content store and there is no registry to fetch it from`,
      );
    }
    let lastError: unknown;
    for (const [i, source] of sources.entries()) {
      signal.throwIfAborted();
      const tmp = await this.#o.snapshots.createTemp();
      const writer =
        source !== 'local' && this.#o.keepLayerBlobs !== false && !(await this.#o.content.has(desc.digest))
          ? this.#o.content.createWriter({ digest: desc.digest, size: desc.size })
          : undefined;
      let done = 0;
      let lastEmit = 0;
      const onBytes = (n: number): void => {
        done += n;
        if (source !== 'local') this.#o.metrics?.bytesDownloaded(n);
        const now = this.#o.clock.now();
        if (now - lastEmit >= 100 || done === desc.size) {
          lastEmit = now;
          progress('downloading', done);
        }
      };
      try {
        progress('downloading', 0);
        const result = await this.#unpack({
          source:
            source === 'local'
              ? this.#o.content.openReadStream(desc.digest)
              : this.#o.client.blobStream(source, desc, signal),
          descriptor: desc,
          diffId: l.diffId,
          ...(writer === undefined ? {} : { writer }),
          onBytes,
          onDownloaded: downloaded,
          extract: {
            root: tmp,
            runner: this.#o.runner,
            ...(this.#o.extractLimits === undefined ? {} : { limits: this.#o.extractLimits }),
            ...(this.#o.allowDevices === undefined ? {} : { allowDevices: this.#o.allowDevices }),
            lowerDirs: l.lowerDirs,
          },
        });
        progress('committing', desc.size);
        // The layer is verified and usable; the compressed blob's fsync + rename need not hold it up.
        if (writer !== undefined) this.#track(writer.commit(), `keeping layer blob ${desc.digest}`);
        const row = await this.#o.snapshots.commit(tmp, {
          chainId: l.chainId,
          parent: l.parent,
          diffId: l.diffId,
          size: result.stats.bytes,
        });
        progress('done', desc.size);
        return row;
      } catch (err) {
        await writer?.abort();
        await this.#o.snapshots.discard(tmp);
        if (signal.aborted) throw asError(signal.reason);
        lastError = err;
        const more = i + 1 < sources.length;
        if (source === 'local' && isBerthError(err, errorCodes.IMAGE_INVALID)) {
          this.#o.logger.warn(
            { digest: desc.digest, err: errorMessage(err) },
            'layer in the content store is bad; removing it',
          );
          await this.#o.content.delete(desc.digest);
          if (more) continue;
        }
        const fromMirror = source !== 'local' && source.endpoint.mirror;
        if (
          more &&
          fromMirror &&
          (isBerthError(err, errorCodes.IMAGE_INVALID) || isBerthError(err, errorCodes.IMAGE_REGISTRY))
        ) {
          this.#o.logger.warn(
            { digest: desc.digest, mirror: source.endpoint.apiBase, err: errorMessage(err) },
            'layer from mirror failed; trying the next endpoint',
          );
          continue;
        }
        throw err;
      }
    }
    throw asError(lastError);
  }

  #unpack(opts: UnpackLayerOptions): Promise<UnpackLayerResult> {
    return this.#o.workers === undefined ? unpackLayer(opts) : unpackLayerInWorker(this.#o.workers, opts);
  }

  /** Records a pulled (or imported) image under `ref` and `repo@digest`. */
  record(r: {
    ref: ImageReference | undefined;
    extraRefs?: readonly string[];
    digest: string;
    manifestDigest: string;
    mediaType: string;
    manifest: ImageManifest;
    config: ImageConfig;
    layers: readonly LayerRecord[];
    platform: Platform;
  }): StoredImage {
    const size = r.layers.reduce((n, l) => n + (this.#o.snapshots.get(l.chainId)?.size ?? 0), 0);
    const c = r.config;
    const configPlatform: Platform | undefined =
      c.os !== '' && c.architecture !== ''
        ? {
            os: c.os,
            architecture: c.architecture,
            ...(c.variant === undefined ? {} : { variant: c.variant }),
          }
        : undefined;
    const img = {
      digest: r.digest,
      manifestDigest: r.manifestDigest,
      mediaType: r.mediaType,
      configDigest: r.manifest.config.digest,
      platform: formatPlatform(configPlatform ?? r.platform),
      layers: r.layers,
      size,
      config: {
        ...(c.entrypoint === undefined ? {} : { entrypoint: c.entrypoint }),
        ...(c.cmd === undefined ? {} : { cmd: c.cmd }),
        ...(c.env === undefined ? {} : { env: c.env }),
        ...(c.workingDir === undefined ? {} : { workingDir: c.workingDir }),
        ...(c.user === undefined ? {} : { user: c.user }),
        ...(c.labels === undefined ? {} : { labels: c.labels }),
        ...(c.exposedPorts === undefined ? {} : { exposedPorts: c.exposedPorts }),
        ...(c.volumes === undefined ? {} : { volumes: c.volumes }),
        ...(c.stopSignal === undefined ? {} : { stopSignal: c.stopSignal }),
        ...(c.created === undefined ? {} : { created: c.created }),
      },
    };
    const refs = [...(r.extraRefs ?? [])];
    if (r.ref !== undefined) {
      refs.push(formatReference(r.ref));
      refs.push(digestReference(r.ref, r.digest));
    }
    const now = this.#o.clock.now();
    if (refs.length === 0) this.#o.db.putImage(img, undefined, now);
    for (const ref of new Set(refs)) this.#o.db.putImage(img, ref, now);
    const stored = this.#o.db.getImage(r.digest);
    if (stored === undefined)
      throw new BerthError(errorCodes.IMAGE_STORE, `image ${r.digest} vanished after it was recorded`);
    return stored;
  }
}

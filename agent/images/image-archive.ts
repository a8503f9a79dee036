/**
 * Air-gap import and export of images as tar archives.
 *
 * Import reads, in one pass, an OCI image layout tar (`oci-layout`, `index.json`, `blobs/…`; what
 * `skopeo copy … oci-archive:`, `ctr export` and Docker 25+ `docker save` write) or a legacy `docker
 * save` tar (`manifest.json`, `<id>/layer.tar`, `<id>.json`). Blobs named by digest are verified as
 * they stream into the content store; legacy layer tars are hashed to learn their digest (it equals
 * the diff_id) and get a synthesised Docker schema 2 manifest, as containerd's importer does. The
 * archive itself is parsed by tar-stream and never extracted to disk: names are matched, not opened.
 *
 * Export writes an OCI layout plus Docker's `manifest.json`, so both `ctr import`/skopeo and
 * `docker load` read it. A multi-platform image is exported as the platform that was pulled.
 */
import type { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { extract as tarExtract, pack as tarPack } from 'tar-stream';
import { BerthError, errorCodes } from '../../lib/errors.js';
import type { ContentStore } from './content-store.js';
import { parseDigest, sha256Digest } from './digest.js';
import type { StoredImage } from './image-db.js';
import { familiarReference, parseImageReference, type ImageReference } from './image-reference.js';
import { safeComponents } from './layer-extractor.js';
import {
  hostPlatform,
  maxConfigBytes,
  maxManifestBytes,
  mediaTypes,
  parseImageConfig,
  parseManifest,
  selectPlatformManifest,
  type Descriptor,
  type ImageConfig,
  type ImageManifest,
  type Platform,
} from './manifest.js';

/** One image found in an archive, with everything needed to unpack and record it. */
export interface ArchiveImage {
  /** References to record (may be empty: the image is then known by digest only). */
  readonly refs: readonly ImageReference[];
  /** The digest to record the image under (the manifest's). */
  readonly digest: string;
  readonly mediaType: string;
  readonly manifest: ImageManifest;
  readonly config: ImageConfig;
}

export interface ImportOptions {
  /** Repository for images the archive names only by tag (`org.opencontainers.image.ref.name: v1`). */
  readonly baseName?: string;
  readonly platform?: Platform;
}

const annotationRefName = 'org.opencontainers.image.ref.name';
const annotationContainerdName = 'io.containerd.image.name';
const maxSmallFile = 16 * 1024 * 1024;

function invalid(message: string): BerthError {
  return new BerthError(errorCodes.IMAGE_INVALID, `image archive: ${message}`);
}

async function readAll(stream: AsyncIterable<Uint8Array>, cap: number): Promise<Buffer> {
  const parts: Uint8Array[] = [];
  let n = 0;
  for await (const c of stream) {
    n += c.byteLength;
    if (n > cap) throw invalid(`a metadata file is larger than ${cap} bytes`);
    parts.push(c);
  }
  return Buffer.concat(parts, n);
}

function resolveRefName(name: string, baseName: string | undefined): ImageReference | undefined {
  const full = parseImageReference(name);
  // A bare tag ("v1", "latest") is a tag of baseName, not an image called "v1".
  if (!name.includes('/') && !name.includes('@') && baseName !== undefined) {
    const withBase = parseImageReference(`${baseName}:${name}`);
    if (withBase.ok) return withBase.ref;
  }
  if (full.ok && (name.includes('/') || name.includes(':'))) return full.ref;
  return undefined;
}

/**
 * Streams an archive into the content store and returns the images it holds. Layers are not unpacked
 * here; the caller does that from the content store.
 */
export async function readImageArchive(
  input: Readable,
  content: ContentStore,
  opts: ImportOptions = {},
): Promise<ArchiveImage[]> {
  const ex = tarExtract();
  const small = new Map<string, Buffer>();
  /** Legacy files (layer tars) ingested by content: archive path → digest. */
  const byPath = new Map<string, { digest: string; size: number }>();
  const links = new Map<string, string>();
  const feeding = pipeline(input, ex as unknown as Writable).catch((err: unknown) => {
    ex.destroy(err instanceof Error ? err : new Error(String(err)));
  });
  try {
    await readEntries();
  } catch (err) {
    ex.destroy(err instanceof Error ? err : new Error(String(err)));
    input.destroy();
    await feeding;
    throw err instanceof BerthError ? err : invalid(err instanceof Error ? err.message : String(err));
  }
  await feeding;

  const platform = opts.platform ?? hostPlatform();
  const dockerManifest = small.get('manifest.json');
  const index = small.get('index.json');
  if (index !== undefined) return ociImages(index, dockerManifest, content, opts.baseName, platform);
  if (dockerManifest !== undefined) return legacyImages(dockerManifest, small, byPath, links, content);
  throw invalid('neither index.json (OCI layout) nor manifest.json (docker save) found');

  async function readEntries(): Promise<void> {
    for await (const entry of ex) {
      const h = entry.header;
      const body = entry as AsyncIterable<Uint8Array>;
      const parts = safeComponents(h.name, 4096, 'archive entry');
      const name = parts.join('/');
      if (h.type === 'symlink' || h.type === 'link') {
        // docker save links a repeated layer to the first copy: resolve relative to the link's directory.
        const base = h.type === 'symlink' ? parts.slice(0, -1) : [];
        const target: string[] = [...base];
        const linkname = h.linkname as string | null | undefined;
        for (const c of (linkname ?? '').split('/')) {
          if (c === '' || c === '.') continue;
          if (c === '..') target.pop();
          else target.push(c);
        }
        links.set(name, target.join('/'));
        for await (const _ of body) {
          // no content
        }
        continue;
      }
      if (h.type !== 'file' && h.type !== 'contiguous-file') {
        for await (const _ of body) {
          // directories and others carry nothing we need
        }
        continue;
      }
      const blob = /^blobs\/(sha256|sha512)\/([0-9a-f]+)$/.exec(name);
      if (blob !== null) {
        const digest = `${blob[1] ?? ''}:${blob[2] ?? ''}`;
        if (parseDigest(digest) === undefined) throw invalid(`bad blob name ${name}`);
        if (await content.has(digest)) {
          for await (const _ of body) {
            // already present (and verified when it was written)
          }
          continue;
        }
        const w = content.createWriter({ digest, size: h.size });
        try {
          for await (const c of body) w.write(c);
          await w.commit();
        } catch (err) {
          await w.abort();
          throw err;
        }
        continue;
      }
      if (
        name.endsWith('.json') ||
        name === 'oci-layout' ||
        name === 'repositories' ||
        name.endsWith('/json')
      ) {
        small.set(name, await readAll(body, maxSmallFile));
        continue;
      }
      if (name.endsWith('.tar') || name.endsWith('.tar.gz') || name.endsWith('.tgz')) {
        const w = content.createUnverifiedWriter();
        try {
          for await (const c of body) w.write(c);
          byPath.set(name, await w.commit());
        } catch (err) {
          await w.abort();
          throw err;
        }
        continue;
      }
      for await (const _ of body) {
        // VERSION files and the like
      }
    }
  }
}

async function readManifestBlob(
  content: ContentStore,
  desc: Descriptor,
): Promise<ReturnType<typeof parseManifest>> {
  const bytes = await content.readBlob(desc.digest, maxManifestBytes);
  if (bytes === undefined) throw invalid(`blob ${desc.digest} (${desc.mediaType}) is missing`);
  return parseManifest(bytes, desc.mediaType);
}

async function readConfig(content: ContentStore, desc: Descriptor): Promise<ImageConfig> {
  const bytes = await content.readBlob(desc.digest, maxConfigBytes);
  if (bytes === undefined) throw invalid(`config ${desc.digest} is missing`);
  const c = parseImageConfig(bytes);
  if (!c.ok) throw invalid(`config ${desc.digest}: ${c.message}`);
  return c.value;
}

async function ociImages(
  indexBytes: Buffer,
  dockerManifest: Buffer | undefined,
  content: ContentStore,
  baseName: string | undefined,
  platform: Platform,
): Promise<ArchiveImage[]> {
  const index = parseManifest(indexBytes, mediaTypes.ociIndex);
  if (!index.ok || index.value.kind !== 'index')
    throw invalid(`index.json: ${index.ok ? 'not an index' : index.message}`);
  // Docker 25+ writes both; its RepoTags name the images by config digest.
  const tagsByConfig = new Map<string, string[]>();
  if (dockerManifest !== undefined) {
    for (const e of parseLegacyManifest(dockerManifest)) {
      const m = /blobs\/(sha256)\/([0-9a-f]{64})$/.exec(e.config);
      if (m !== null) tagsByConfig.set(`sha256:${m[2] ?? ''}`, e.repoTags);
    }
  }
  const out: ArchiveImage[] = [];
  for (const desc of index.value.manifests) {
    let m = await readManifestBlob(content, desc);
    if (!m.ok) throw invalid(`${desc.digest}: ${m.message}`);
    let digest = desc.digest;
    let mediaType = desc.mediaType;
    if (m.value.kind === 'index') {
      const chosen = selectPlatformManifest(m.value, platform);
      if (chosen === undefined || !(await content.has(chosen.digest))) {
        throw invalid(`${desc.digest}: no manifest for this platform in the archive`);
      }
      m = await readManifestBlob(content, chosen);
      if (!m.ok) throw invalid(`${chosen.digest}: ${m.message}`);
      if (m.value.kind !== 'manifest') throw invalid(`${chosen.digest}: nested index`);
      digest = chosen.digest;
      mediaType = chosen.mediaType;
    }
    const manifest = m.value;
    const config = await readConfig(content, manifest.config);
    const refs: ImageReference[] = [];
    const named = desc.annotations?.[annotationContainerdName] ?? desc.annotations?.[annotationRefName];
    if (named !== undefined) {
      const r = resolveRefName(named, baseName);
      if (r !== undefined) refs.push(r);
    }
    for (const t of tagsByConfig.get(manifest.config.digest) ?? []) {
      const r = parseImageReference(t);
      if (r.ok) refs.push(r.ref);
    }
    out.push({ refs, digest, mediaType, manifest, config });
  }
  return out;
}

interface LegacyEntry {
  readonly config: string;
  readonly repoTags: string[];
  readonly layers: string[];
}

function parseLegacyManifest(bytes: Buffer): LegacyEntry[] {
  let v: unknown;
  try {
    v = JSON.parse(bytes.toString('utf8'));
  } catch {
    throw invalid('manifest.json is not valid JSON');
  }
  if (!Array.isArray(v)) throw invalid('manifest.json is not a list');
  return v.map((e: unknown) => {
    const o = (typeof e === 'object' && e !== null ? e : {}) as Record<string, unknown>;
    const strings = (x: unknown): string[] =>
      Array.isArray(x) ? x.filter((s): s is string => typeof s === 'string') : [];
    if (typeof o['Config'] !== 'string') throw invalid('manifest.json entry without Config');
    return { config: o['Config'], repoTags: strings(o['RepoTags']), layers: strings(o['Layers']) };
  });
}

async function legacyImages(
  manifestJson: Buffer,
  small: Map<string, Buffer>,
  byPath: Map<string, { digest: string; size: number }>,
  links: Map<string, string>,
  content: ContentStore,
): Promise<ArchiveImage[]> {
  const out: ArchiveImage[] = [];
  const follow = (p: string): string => {
    let cur = p;
    for (let i = 0; i < 10 && links.has(cur); i++) cur = links.get(cur) ?? cur;
    return cur;
  };
  for (const e of parseLegacyManifest(manifestJson)) {
    const configBytes = small.get(follow(safeComponents(e.config, 4096).join('/')));
    if (configBytes === undefined) throw invalid(`config ${e.config} is missing`);
    const parsed = parseImageConfig(configBytes);
    if (!parsed.ok) throw invalid(`${e.config}: ${parsed.message}`);
    const configDesc: Descriptor = {
      mediaType: mediaTypes.dockerConfig,
      digest: sha256Digest(configBytes),
      size: configBytes.length,
    };
    await content.putBlob(configDesc, configBytes);
    const layers: Descriptor[] = [];
    for (const l of e.layers) {
      const info = byPath.get(follow(safeComponents(l, 4096).join('/')));
      if (info === undefined) throw invalid(`layer ${l} is missing`);
      layers.push({
        mediaType: await sniffLayerType(content, info.digest),
        digest: info.digest,
        size: info.size,
      });
    }
    const manifestBody = {
      schemaVersion: 2,
      mediaType: mediaTypes.dockerManifest,
      config: configDesc,
      layers,
    };
    const manifestBytes = Buffer.from(JSON.stringify(manifestBody));
    const digest = sha256Digest(manifestBytes);
    await content.putBlob({ digest, size: manifestBytes.length }, manifestBytes);
    const refs: ImageReference[] = [];
    for (const t of e.repoTags) {
      const r = parseImageReference(t);
      if (r.ok) refs.push(r.ref);
    }
    out.push({
      refs,
      digest,
      mediaType: mediaTypes.dockerManifest,
      manifest: { kind: 'manifest', mediaType: mediaTypes.dockerManifest, config: configDesc, layers },
      config: parsed.value,
    });
  }
  return out;
}

/** `docker save` layers are usually plain tars, but `docker load` accepts compressed ones too. */
async function sniffLayerType(content: ContentStore, digest: string): Promise<string> {
  const s = content.openReadStream(digest);
  let head = Buffer.alloc(0);
  for await (const c of s as AsyncIterable<Buffer>) {
    head = Buffer.concat([head, c]);
    if (head.length >= 4) break;
  }
  s.destroy();
  if (head[0] === 0x1f && head[1] === 0x8b) return mediaTypes.dockerLayerGzip;
  if (head[0] === 0x28 && head[1] === 0xb5 && head[2] === 0x2f && head[3] === 0xfd)
    return mediaTypes.ociLayerZstd;
  return mediaTypes.dockerLayer;
}

/** Writes `images` as an OCI layout tar (plus Docker's manifest.json) to `output`. */
export async function writeImageArchive(
  images: readonly StoredImage[],
  content: ContentStore,
  output: Writable,
): Promise<void> {
  const pack = tarPack();
  const done = pipeline(pack as unknown as Readable, output);
  const written = new Set<string>();
  const addBytes = async (name: string, bytes: Buffer): Promise<void> => {
    await new Promise<void>((resolve, reject) => {
      pack.entry({ name, size: bytes.length, mode: 0o644, mtime: new Date(0) }, bytes, (err) => {
        if (err !== null && err !== undefined) reject(err);
        else resolve();
      });
    });
  };
  const addBlob = async (digest: string): Promise<void> => {
    if (written.has(digest)) return;
    const info = await content.info(digest);
    if (info === undefined) {
      throw new BerthError(
        errorCodes.IMAGE_STORE,
        `blob ${digest} is not in the content store (layers are not kept when keepLayerBlobs is off); pull the image again to export it`,
      );
    }
    const d = parseDigest(digest);
    const name = `blobs/${d?.algorithm ?? 'sha256'}/${d?.hex ?? ''}`;
    const entry = pack.entry({ name, size: info.size, mode: 0o644, mtime: new Date(0) });
    await pipeline(content.openReadStream(digest), entry as unknown as Writable);
    written.add(digest);
  };
  try {
    await addBytes('oci-layout', Buffer.from('{"imageLayoutVersion":"1.0.0"}'));
    const manifests: Record<string, unknown>[] = [];
    const dockerEntries: Record<string, unknown>[] = [];
    for (const img of images) {
      const manifestInfo = await content.info(img.manifestDigest);
      if (manifestInfo === undefined)
        throw new BerthError(errorCodes.IMAGE_STORE, `manifest ${img.manifestDigest} is missing`);
      const manifestBytes = await content.readBlob(img.manifestDigest, maxManifestBytes);
      const parsed = manifestBytes === undefined ? undefined : parseManifest(manifestBytes, undefined);
      const mediaType = parsed?.ok === true ? parsed.value.mediaType : mediaTypes.ociManifest;
      await addBlob(img.manifestDigest);
      await addBlob(img.configDigest);
      for (const l of img.layers) await addBlob(l.digest);
      const tagged = img.references.filter((r) => !r.includes('@'));
      const platformParts = img.platform.split('/');
      for (const ref of tagged.length === 0 ? [undefined] : tagged) {
        const parsedRef = ref === undefined ? undefined : parseImageReference(ref);
        manifests.push({
          mediaType,
          digest: img.manifestDigest,
          size: manifestInfo.size,
          platform: {
            os: platformParts[0] ?? 'linux',
            architecture: platformParts[1] ?? 'amd64',
            ...(platformParts[2] === undefined ? {} : { variant: platformParts[2] }),
          },
          ...(ref === undefined || parsedRef?.ok !== true
            ? {}
            : {
                annotations: {
                  [annotationContainerdName]: ref,
                  [annotationRefName]: parsedRef.ref.tag ?? 'latest',
                },
              }),
        });
      }
      dockerEntries.push({
        Config: `blobs/sha256/${img.configDigest.slice('sha256:'.length)}`,
        RepoTags: tagged.map((r) => {
          const p = parseImageReference(r);
          return p.ok ? familiarReference(p.ref) : r;
        }),
        Layers: img.layers.map((l) => `blobs/sha256/${l.digest.slice('sha256:'.length)}`),
      });
    }
    await addBytes(
      'index.json',
      Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: mediaTypes.ociIndex, manifests })),
    );
    await addBytes('manifest.json', Buffer.from(JSON.stringify(dockerEntries)));
    pack.finalize();
  } catch (err) {
    pack.destroy(err instanceof Error ? err : new Error(String(err)));
    await done.catch(() => undefined);
    throw err;
  }
  await done;
}

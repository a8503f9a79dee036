/**
 * OCI and Docker manifest formats: media types, parsing of indexes/manifest lists, image manifests and
 * image configs, and platform selection from an index. Everything here treats its input as hostile:
 * sizes are capped by the caller before parsing, every descriptor's digest is validated, a document
 * whose body `mediaType` disagrees with its `Content-Type`, or that has both `manifests` and
 * `layers`/`config`, is refused (CVE-2021-41190), and Docker schema 1 is refused with a clear message.
 */
import { arch as osArch } from 'node:process';
import { parseDigest } from './digest.js';

export const mediaTypes = {
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  dockerList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerSchema1: 'application/vnd.docker.distribution.manifest.v1+json',
  dockerSchema1Signed: 'application/vnd.docker.distribution.manifest.v1+prettyjws',
  ociConfig: 'application/vnd.oci.image.config.v1+json',
  dockerConfig: 'application/vnd.docker.container.image.v1+json',
  ociLayer: 'application/vnd.oci.image.layer.v1.tar',
  ociLayerGzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
  ociLayerZstd: 'application/vnd.oci.image.layer.v1.tar+zstd',
  dockerLayerGzip: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
  dockerLayer: 'application/vnd.docker.image.rootfs.diff.tar',
  dockerForeignLayerGzip: 'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip',
  ociNondistributable: 'application/vnd.oci.image.layer.nondistributable.v1.tar',
  ociNondistributableGzip: 'application/vnd.oci.image.layer.nondistributable.v1.tar+gzip',
  ociNondistributableZstd: 'application/vnd.oci.image.layer.nondistributable.v1.tar+zstd',
} as const;

/** The `Accept` header for manifest requests: all four types (distribution 2.8 404s OCI content otherwise). */
export const manifestAccept = [
  mediaTypes.ociIndex,
  mediaTypes.ociManifest,
  mediaTypes.dockerList,
  mediaTypes.dockerManifest,
].join(', ');

/** How a layer's bytes are compressed, from its media type. */
export type LayerCompression = 'gzip' | 'zstd' | 'none';

/** The compression a layer media type declares, or undefined when it is not a layer type we unpack. */
export function layerCompression(mediaType: string): LayerCompression | undefined {
  switch (mediaType) {
    case mediaTypes.ociLayerGzip:
    case mediaTypes.dockerLayerGzip:
    case mediaTypes.dockerForeignLayerGzip:
    case mediaTypes.ociNondistributableGzip:
      return 'gzip';
    case mediaTypes.ociLayerZstd:
    case mediaTypes.ociNondistributableZstd:
      return 'zstd';
    case mediaTypes.ociLayer:
    case mediaTypes.dockerLayer:
    case mediaTypes.ociNondistributable:
      return 'none';
    default:
      return undefined;
  }
}

export interface Platform {
  readonly os: string;
  readonly architecture: string;
  readonly variant?: string;
}

/** A content descriptor (OCI descriptor.md), validated. */
export interface Descriptor {
  readonly mediaType: string;
  readonly digest: string;
  readonly size: number;
  readonly platform?: Platform;
  readonly annotations?: Readonly<Record<string, string>>;
  /** Foreign-layer locations. Recorded but never fetched (CVE-2020-15157: credentials leaked there). */
  readonly urls?: readonly string[];
}

export interface ImageIndex {
  readonly kind: 'index';
  readonly mediaType: string;
  readonly manifests: readonly Descriptor[];
}

export interface ImageManifest {
  readonly kind: 'manifest';
  readonly mediaType: string;
  readonly config: Descriptor;
  readonly layers: readonly Descriptor[];
}

export type ParsedManifest = ImageIndex | ImageManifest;

export type Parsed<T> =
  { readonly ok: true; readonly value: T } | { readonly ok: false; readonly message: string };

/** The largest manifest or index read from anywhere (distribution's own limit). */
export const maxManifestBytes = 4 * 1024 * 1024;
/** The largest image config read (configs with long histories exceed 4 MiB in the wild, rarely). */
export const maxConfigBytes = 16 * 1024 * 1024;

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function stripParams(contentType: string | undefined): string | undefined {
  if (contentType === undefined) return undefined;
  const t = contentType.split(';')[0]?.trim().toLowerCase();
  return t === '' ? undefined : t;
}

function parseJson(bytes: Uint8Array): Parsed<Record<string, unknown>> {
  let v: unknown;
  try {
    v = JSON.parse(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8'));
  } catch (err) {
    return { ok: false, message: `not valid JSON: ${err instanceof Error ? err.message : String(err)}` };
  }
  if (!isRecord(v)) return { ok: false, message: 'not a JSON object' };
  return { ok: true, value: v };
}

function parseStringMap(v: unknown): Record<string, string> | undefined {
  if (!isRecord(v)) return undefined;
  const out: Record<string, string> = {};
  for (const [k, val] of Object.entries(v)) if (typeof val === 'string') out[k] = val;
  return out;
}

/** Validates one descriptor object. */
export function parseDescriptor(v: unknown, where: string): Parsed<Descriptor> {
  if (!isRecord(v)) return { ok: false, message: `${where}: not an object` };
  const { mediaType, digest, size } = v;
  if (typeof mediaType !== 'string' || mediaType === '') {
    return { ok: false, message: `${where}: missing mediaType` };
  }
  if (typeof digest !== 'string' || parseDigest(digest) === undefined) {
    return { ok: false, message: `${where}: invalid digest ${JSON.stringify(digest)}` };
  }
  if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0) {
    return { ok: false, message: `${where}: invalid size ${JSON.stringify(size)}` };
  }
  let platform: Platform | undefined;
  if (isRecord(v['platform'])) {
    const p = v['platform'];
    if (typeof p['os'] === 'string' && typeof p['architecture'] === 'string') {
      platform = {
        os: p['os'],
        architecture: p['architecture'],
        ...(typeof p['variant'] === 'string' && p['variant'] !== '' ? { variant: p['variant'] } : {}),
      };
    }
  }
  const annotations = parseStringMap(v['annotations']);
  const urls = Array.isArray(v['urls']) ? v['urls'].filter((u): u is string => typeof u === 'string') : [];
  return {
    ok: true,
    value: {
      mediaType,
      digest,
      size,
      ...(platform === undefined ? {} : { platform }),
      ...(annotations === undefined ? {} : { annotations }),
      ...(urls.length === 0 ? {} : { urls }),
    },
  };
}

const indexTypes = new Set<string>([mediaTypes.ociIndex, mediaTypes.dockerList]);
const manifestTypes = new Set<string>([mediaTypes.ociManifest, mediaTypes.dockerManifest]);

/**
 * Parses a manifest or index. `contentType` is the registry's `Content-Type` (or the descriptor's
 * media type for content read locally); it must agree with a `mediaType` in the body.
 */
export function parseManifest(bytes: Uint8Array, contentType: string | undefined): Parsed<ParsedManifest> {
  if (bytes.byteLength > maxManifestBytes) {
    return {
      ok: false,
      message: `manifest is ${bytes.byteLength} bytes, over the ${maxManifestBytes} limit`,
    };
  }
  const json = parseJson(bytes);
  if (!json.ok) return { ok: false, message: `manifest ${json.message}` };
  const body = json.value;
  const ct = stripParams(contentType);
  const bodyType = typeof body['mediaType'] === 'string' ? body['mediaType'] : undefined;
  if (
    ct === mediaTypes.dockerSchema1 ||
    ct === mediaTypes.dockerSchema1Signed ||
    body['schemaVersion'] === 1
  ) {
    return {
      ok: false,
      message:
        'Docker image manifest schema 1 is not supported (deprecated since Docker 1.10); re-push the image with a current client',
    };
  }
  if (body['schemaVersion'] !== 2) {
    return {
      ok: false,
      message: `unsupported manifest schemaVersion ${JSON.stringify(body['schemaVersion'])}`,
    };
  }
  const hasManifests = 'manifests' in body;
  const hasImageFields = 'layers' in body || 'config' in body;
  if (hasManifests && hasImageFields) {
    return { ok: false, message: 'ambiguous manifest: has both "manifests" and "layers"/"config"' };
  }
  const knownCt = ct !== undefined && (indexTypes.has(ct) || manifestTypes.has(ct)) ? ct : undefined;
  if (bodyType !== undefined && knownCt !== undefined && bodyType !== knownCt) {
    return {
      ok: false,
      message: `mismatched media type: Content-Type is ${knownCt} but the document says ${bodyType}`,
    };
  }
  const mediaType = knownCt ?? bodyType ?? (hasManifests ? mediaTypes.ociIndex : mediaTypes.ociManifest);
  if (indexTypes.has(mediaType)) {
    if (hasImageFields || !Array.isArray(body['manifests'])) {
      return { ok: false, message: `${mediaType} without a "manifests" list` };
    }
    const manifests: Descriptor[] = [];
    for (const [i, m] of body['manifests'].entries()) {
      const d = parseDescriptor(m, `manifests[${i}]`);
      if (!d.ok) return d;
      manifests.push(d.value);
    }
    return { ok: true, value: { kind: 'index', mediaType, manifests } };
  }
  if (manifestTypes.has(mediaType)) {
    if (hasManifests) return { ok: false, message: `${mediaType} with a "manifests" list` };
    const config = parseDescriptor(body['config'], 'config');
    if (!config.ok) return config;
    if (!Array.isArray(body['layers'])) return { ok: false, message: 'manifest without a "layers" list' };
    const layers: Descriptor[] = [];
    for (const [i, l] of body['layers'].entries()) {
      const d = parseDescriptor(l, `layers[${i}]`);
      if (!d.ok) return d;
      layers.push(d.value);
    }
    return { ok: true, value: { kind: 'manifest', mediaType, config: config.value, layers } };
  }
  return { ok: false, message: `unsupported manifest media type ${mediaType}` };
}

/** The parts of an image config Berth uses. */
export interface ImageConfig {
  readonly os: string;
  readonly architecture: string;
  readonly variant?: string;
  readonly diffIds: readonly string[];
  readonly entrypoint?: readonly string[];
  readonly cmd?: readonly string[];
  readonly env?: readonly string[];
  readonly workingDir?: string;
  readonly user?: string;
  readonly labels?: Readonly<Record<string, string>>;
  readonly exposedPorts?: readonly string[];
  readonly volumes?: readonly string[];
  readonly stopSignal?: string;
  /** RFC 3339 creation time, when the config says. */
  readonly created?: string;
}

function stringArray(v: unknown, where: string): Parsed<string[] | undefined> {
  if (v === undefined || v === null) return { ok: true, value: undefined };
  if (!Array.isArray(v) || !v.every((s): s is string => typeof s === 'string')) {
    return { ok: false, message: `${where} is not a list of strings` };
  }
  if (v.some((s) => s.includes('\0'))) return { ok: false, message: `${where} contains a NUL byte` };
  return { ok: true, value: v };
}

/** Parses an image config (OCI image-spec config.md / Docker image JSON). */
export function parseImageConfig(bytes: Uint8Array): Parsed<ImageConfig> {
  if (bytes.byteLength > maxConfigBytes) {
    return {
      ok: false,
      message: `image config is ${bytes.byteLength} bytes, over the ${maxConfigBytes} limit`,
    };
  }
  const json = parseJson(bytes);
  if (!json.ok) return { ok: false, message: `image config ${json.message}` };
  const body = json.value;
  const rootfs = body['rootfs'];
  if (!isRecord(rootfs) || rootfs['type'] !== 'layers' || !Array.isArray(rootfs['diff_ids'])) {
    return { ok: false, message: 'image config has no rootfs.diff_ids (not a container image?)' };
  }
  const diffIds: string[] = [];
  for (const d of rootfs['diff_ids']) {
    if (typeof d !== 'string' || parseDigest(d) === undefined) {
      return { ok: false, message: `image config has an invalid diff_id ${JSON.stringify(d)}` };
    }
    diffIds.push(d);
  }
  const c = isRecord(body['config']) ? body['config'] : {};
  const entrypoint = stringArray(c['Entrypoint'], 'config.Entrypoint');
  if (!entrypoint.ok) return entrypoint;
  const cmd = stringArray(c['Cmd'], 'config.Cmd');
  if (!cmd.ok) return cmd;
  const env = stringArray(c['Env'], 'config.Env');
  if (!env.ok) return env;
  const str = (v: unknown): string | undefined =>
    typeof v === 'string' && !v.includes('\0') ? v : undefined;
  const keys = (v: unknown): string[] | undefined => (isRecord(v) ? Object.keys(v) : undefined);
  const workingDir = str(c['WorkingDir']);
  const user = str(c['User']);
  const labels = parseStringMap(c['Labels']);
  const exposedPorts = keys(c['ExposedPorts']);
  const volumes = keys(c['Volumes']);
  const stopSignal = str(c['StopSignal']);
  const created = str(body['created']);
  const variant = str(body['variant']);
  return {
    ok: true,
    value: {
      os: str(body['os']) ?? '',
      architecture: str(body['architecture']) ?? '',
      ...(variant === undefined || variant === '' ? {} : { variant }),
      diffIds,
      ...(entrypoint.value === undefined ? {} : { entrypoint: entrypoint.value }),
      ...(cmd.value === undefined ? {} : { cmd: cmd.value }),
      ...(env.value === undefined ? {} : { env: env.value }),
      ...(workingDir === undefined ? {} : { workingDir }),
      ...(user === undefined ? {} : { user }),
      ...(labels === undefined ? {} : { labels }),
      ...(exposedPorts === undefined ? {} : { exposedPorts }),
      ...(volumes === undefined ? {} : { volumes }),
      ...(stopSignal === undefined ? {} : { stopSignal }),
      ...(created === undefined ? {} : { created }),
    },
  };
}

/** Normalises an architecture/variant pair the way containerd's `platforms.Normalize` does. */
export function normalizePlatform(p: Platform): Platform {
  const os = p.os.toLowerCase();
  let architecture = p.architecture.toLowerCase();
  let variant = p.variant?.toLowerCase();
  switch (architecture) {
    case 'x86_64':
    case 'x86-64':
    case 'amd64':
      architecture = 'amd64';
      if (variant === 'v1') variant = undefined;
      break;
    case 'i386':
      architecture = '386';
      variant = undefined;
      break;
    case 'aarch64':
    case 'arm64':
      architecture = 'arm64';
      if (variant === '8' || variant === 'v8') variant = undefined;
      break;
    case 'armhf':
      architecture = 'arm';
      variant = 'v7';
      break;
    case 'armel':
      architecture = 'arm';
      variant = 'v6';
      break;
    case 'arm':
      if (variant === undefined || variant === '7') variant = 'v7';
      else if (variant === '5' || variant === '6' || variant === '8') variant = `v${variant}`;
      break;
    default:
      break;
  }
  return { os, architecture, ...(variant === undefined ? {} : { variant }) };
}

/** The platform this node runs (Linux only; Berth runs Linux containers). */
export function hostPlatform(): Platform {
  const map: Record<string, Platform> = {
    x64: { os: 'linux', architecture: 'amd64' },
    arm64: { os: 'linux', architecture: 'arm64' },
    arm: { os: 'linux', architecture: 'arm', variant: 'v7' },
    ia32: { os: 'linux', architecture: '386' },
    ppc64: { os: 'linux', architecture: 'ppc64le' },
    s390x: { os: 'linux', architecture: 's390x' },
    riscv64: { os: 'linux', architecture: 'riscv64' },
  };
  return map[osArch] ?? { os: 'linux', architecture: osArch };
}

/** Parses `os/arch[/variant]`. */
export function parsePlatform(s: string): Platform | undefined {
  const parts = s.split('/');
  if (parts.length < 2 || parts.length > 3 || parts.some((p) => p === '')) return undefined;
  const [os, architecture, variant] = parts as [string, string, string | undefined];
  return normalizePlatform({ os, architecture, ...(variant === undefined ? {} : { variant }) });
}

export function formatPlatform(p: Platform): string {
  return `${p.os}/${p.architecture}${p.variant === undefined ? '' : `/${p.variant}`}`;
}

/**
 * How well `have` serves `want`: 0 is an exact match, larger is a worse but compatible match
 * (an older ARM variant), undefined is no match.
 */
export function platformRank(want: Platform, have: Platform): number | undefined {
  const w = normalizePlatform(want);
  const h = normalizePlatform(have);
  if (w.os !== h.os) return undefined;
  if (w.architecture === h.architecture) {
    if (w.variant === h.variant) return 0;
    if (w.architecture === 'arm' && w.variant !== undefined && h.variant !== undefined) {
      const wv = Number(w.variant.slice(1));
      const hv = Number(h.variant.slice(1));
      return hv < wv ? wv - hv : undefined;
    }
    if (w.variant === undefined && w.architecture !== 'amd64') return 1;
    return undefined;
  }
  // 64-bit ARM hosts run 32-bit ARM images (containerd's default matcher does the same).
  if (w.architecture === 'arm64' && h.architecture === 'arm')
    return 10 + (8 - Number(h.variant?.slice(1) ?? 7));
  return undefined;
}

/** The best manifest of an index for `want`; among equal matches the first listed wins. */
export function selectPlatformManifest(index: ImageIndex, want: Platform): Descriptor | undefined {
  let best: { d: Descriptor; rank: number } | undefined;
  for (const d of index.manifests) {
    if (!manifestTypes.has(d.mediaType) && !indexTypes.has(d.mediaType)) continue;
    // An entry without a platform is taken only when nothing better exists (single-platform indexes).
    const rank = d.platform === undefined ? 100 : platformRank(want, d.platform);
    if (rank === undefined) continue;
    if (best === undefined || rank < best.rank) best = { d, rank };
  }
  return best?.d;
}

export function isIndexMediaType(mediaType: string): boolean {
  return indexTypes.has(mediaType);
}

export function isManifestMediaType(mediaType: string): boolean {
  return manifestTypes.has(mediaType);
}

/**
 * Offline test images, built in memory: layer tars (tar-stream, deterministic: mtime 0, uid 0), gzip
 * or not, OCI or Docker schema 2 manifests, multi-platform indexes, and the fixtures the tests need —
 * a busybox rootfs from the host's static busybox, the three-layer whiteout image of
 * shared/reference/scripts/handmade-image.sh, and malicious tars. Pushed to a test registry over the
 * Distribution API (POST + PUT uploads, then the manifest), so no skopeo is needed.
 */
import { gzipSync } from 'node:zlib';
import { readFileSync, existsSync } from 'node:fs';
import { pack } from 'tar-stream';
import { sha256Digest } from '../../agent/images/digest.js';
import { mediaTypes } from '../../agent/images/manifest.js';
import { createNodeRegistryHttp, globalFetch, type RegistryHttp } from '../../agent/images/registry-http.js';
import type { RegistryHandle } from './registry.js';

/** One tar entry. `name` is written as given (malicious names included). */
export interface TarEntry {
  readonly name: string;
  readonly type?: 'file' | 'directory' | 'symlink' | 'link' | 'character-device' | 'block-device' | 'fifo';
  readonly content?: string | Buffer;
  readonly mode?: number;
  readonly linkname?: string;
  readonly uid?: number;
  readonly gid?: number;
  /** Overrides the size written in the header (for lying headers). */
  readonly size?: number;
  readonly pax?: Record<string, string>;
  readonly devmajor?: number;
  readonly devminor?: number;
}

/** A tar of `entries`, in order, deterministic. */
export async function makeTar(entries: readonly TarEntry[]): Promise<Buffer> {
  const p = pack();
  const chunks: Buffer[] = [];
  p.on('data', (c: unknown) => chunks.push(c as Buffer));
  const ended = new Promise<void>((resolve, reject) => {
    p.on('end', resolve);
    p.on('error', reject);
  });
  for (const e of entries) {
    const type = e.type ?? 'file';
    const body = e.content === undefined ? Buffer.alloc(0) : Buffer.from(e.content);
    const header = {
      name: e.name,
      type,
      mode: e.mode ?? (type === 'directory' ? 0o755 : type === 'symlink' ? 0o777 : 0o644),
      uid: e.uid ?? 0,
      gid: e.gid ?? 0,
      mtime: new Date(0),
      ...(e.linkname === undefined ? {} : { linkname: e.linkname }),
      ...(e.pax === undefined ? {} : { pax: e.pax }),
      ...(e.devmajor === undefined ? {} : { devmajor: e.devmajor, devminor: e.devminor ?? 0 }),
      ...(type === 'file' ? { size: body.length } : {}),
    };
    await new Promise<void>((resolve, reject) => {
      const cb = (err?: Error | null): void => {
        if (err !== null && err !== undefined) reject(err);
        else resolve();
      };
      if (type === 'file') p.entry(header, body, cb);
      else p.entry(header, cb);
    });
  }
  p.finalize();
  await ended;
  return Buffer.concat(chunks);
}

export interface Blob {
  readonly mediaType: string;
  readonly digest: string;
  readonly size: number;
  readonly bytes: Buffer;
}

export interface Layer extends Blob {
  readonly diffId: string;
}

function blob(mediaType: string, bytes: Buffer): Blob {
  return { mediaType, digest: sha256Digest(bytes), size: bytes.length, bytes };
}

export type ImageFormat = 'oci' | 'docker';

/** A layer blob from a tar: gzip by default. */
export function makeLayer(tar: Buffer, opts: { format?: ImageFormat; compress?: boolean } = {}): Layer {
  const format = opts.format ?? 'oci';
  const compress = opts.compress ?? true;
  const bytes = compress ? gzipSync(tar, { level: 1 }) : tar;
  const mediaType = compress
    ? format === 'oci'
      ? mediaTypes.ociLayerGzip
      : mediaTypes.dockerLayerGzip
    : format === 'oci'
      ? mediaTypes.ociLayer
      : mediaTypes.dockerLayer;
  return { ...blob(mediaType, bytes), diffId: sha256Digest(tar) };
}

export interface Image {
  readonly format: ImageFormat;
  readonly manifest: Blob;
  readonly config: Blob;
  readonly layers: readonly Layer[];
  readonly platform: { os: string; architecture: string; variant?: string };
}

export interface ImageConfigFields {
  readonly Cmd?: string[];
  readonly Entrypoint?: string[];
  readonly Env?: string[];
  readonly WorkingDir?: string;
  readonly User?: string;
}

/** An image manifest + config for `layers`. */
export function makeImage(
  layers: readonly Layer[],
  opts: {
    format?: ImageFormat;
    config?: ImageConfigFields;
    platform?: { os: string; architecture: string; variant?: string };
    /** Override the diff_ids written into the config (for lying configs). */
    diffIds?: string[];
  } = {},
): Image {
  const format = opts.format ?? 'oci';
  const platform = opts.platform ?? { os: 'linux', architecture: 'amd64' };
  const config = Buffer.from(
    JSON.stringify({
      architecture: platform.architecture,
      os: platform.os,
      ...(platform.variant === undefined ? {} : { variant: platform.variant }),
      config: { Env: ['PATH=/bin'], Cmd: ['/bin/sh'], ...opts.config },
      rootfs: { type: 'layers', diff_ids: opts.diffIds ?? layers.map((l) => l.diffId) },
      history: layers.map((_, i) => ({ created_by: `layer ${i}` })),
    }),
  );
  const configBlob = blob(format === 'oci' ? mediaTypes.ociConfig : mediaTypes.dockerConfig, config);
  const manifestType = format === 'oci' ? mediaTypes.ociManifest : mediaTypes.dockerManifest;
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: manifestType,
      config: { mediaType: configBlob.mediaType, digest: configBlob.digest, size: configBlob.size },
      layers: layers.map((l) => ({ mediaType: l.mediaType, digest: l.digest, size: l.size })),
    }),
  );
  return { format, manifest: blob(manifestType, manifest), config: configBlob, layers, platform };
}

/** An index (OCI) or manifest list (Docker) over `images`. */
export function makeIndex(images: readonly Image[], format: ImageFormat = 'oci'): Blob {
  const mediaType = format === 'oci' ? mediaTypes.ociIndex : mediaTypes.dockerList;
  return blob(
    mediaType,
    Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType,
        manifests: images.map((i) => ({
          mediaType: i.manifest.mediaType,
          digest: i.manifest.digest,
          size: i.manifest.size,
          platform: i.platform,
        })),
      }),
    ),
  );
}

const busyboxPath = ['/bin/busybox', '/usr/bin/busybox'].find((p) => existsSync(p));

/** Why busybox-based fixtures cannot be built here, or undefined. */
export function busyboxAvailable(): string | undefined {
  return busyboxPath === undefined
    ? 'no static busybox at /bin/busybox (Debian package busybox-static)'
    : undefined;
}

/** A small busybox root filesystem. */
export function busyboxEntries(): TarEntry[] {
  if (busyboxPath === undefined) throw new Error(busyboxAvailable());
  const entries: TarEntry[] = [
    { name: 'bin/', type: 'directory' },
    { name: 'bin/busybox', content: readFileSync(busyboxPath), mode: 0o755 },
  ];
  for (const a of ['sh', 'echo', 'cat', 'ls', 'sleep', 'httpd']) {
    entries.push({ name: `bin/${a}`, type: 'symlink', linkname: 'busybox' });
  }
  entries.push(
    { name: 'etc/', type: 'directory' },
    { name: 'etc/passwd', content: 'root:x:0:0:root:/root:/bin/sh\n' },
    { name: 'tmp/', type: 'directory', mode: 0o1777 },
    { name: 'proc/', type: 'directory' },
    { name: 'dev/', type: 'directory' },
  );
  return entries;
}

/**
 * The three-layer image of handmade-image.sh: layer 1 busybox + /data/opq/{old1,old2} +
 * /data/gone.txt; layer 2 /etc/motd=layer2; layer 3 a file whiteout for gone.txt, an opaque
 * /data/opq with `new`, /etc/motd=layer3.
 */
export async function whiteoutImageLayers(format: ImageFormat = 'oci'): Promise<Layer[]> {
  const l1 = await makeTar([
    ...busyboxEntries(),
    { name: 'data/', type: 'directory' },
    { name: 'data/opq/', type: 'directory' },
    { name: 'data/opq/old1', content: 'old1\n' },
    { name: 'data/opq/old2', content: 'old2\n' },
    { name: 'data/gone.txt', content: 'gone\n' },
    { name: 'data/keep.txt', content: 'keep\n' },
  ]);
  const l2 = await makeTar([
    { name: 'etc/', type: 'directory' },
    { name: 'etc/motd', content: 'layer2\n' },
  ]);
  const l3 = await makeTar([
    { name: 'data/', type: 'directory' },
    { name: 'data/.wh.gone.txt' },
    { name: 'data/opq/', type: 'directory' },
    { name: 'data/opq/.wh..wh..opq' },
    { name: 'data/opq/new', content: 'new\n' },
    { name: 'etc/', type: 'directory' },
    { name: 'etc/motd', content: 'layer3\n' },
  ]);
  return [makeLayer(l1, { format }), makeLayer(l2, { format }), makeLayer(l3, { format })];
}

/** Credentials for pushing. */
export interface PushAuth {
  readonly username: string;
  readonly password: string;
}

/** HTTP for pushing to `reg` (trusting its CA in TLS mode). */
export async function pushClient(): Promise<RegistryHttp> {
  return createNodeRegistryHttp(globalFetch());
}

async function authHeader(
  http: RegistryHttp,
  reg: RegistryHandle,
  repo: string,
  auth: PushAuth | undefined,
  dispatcher: unknown,
): Promise<Record<string, string>> {
  if (reg.mode === 'plain' || reg.mode === 'tls') return {};
  const u = auth ?? {
    username: Object.keys(reg.users)[0] ?? '',
    password: Object.values(reg.users)[0] ?? '',
  };
  const basic = `Basic ${Buffer.from(`${u.username}:${u.password}`).toString('base64')}`;
  if (reg.mode === 'htpasswd') return { authorization: basic };
  const probe = await http.fetch(`${reg.url}/v2/`, { redirect: 'manual', dispatcher });
  await probe.arrayBuffer();
  const challenge = probe.headers.get('www-authenticate') ?? '';
  const realm = /realm="([^"]+)"/.exec(challenge)?.[1] ?? '';
  const service = /service="([^"]+)"/.exec(challenge)?.[1] ?? '';
  const t = await http.fetch(
    `${realm}?service=${encodeURIComponent(service)}&scope=${encodeURIComponent(`repository:${repo}:pull,push`)}`,
    { redirect: 'manual', headers: { authorization: basic } },
  );
  const body = (await t.json()) as { token: string };
  return { authorization: `Bearer ${body.token}` };
}

/** Uploads a blob unless the registry has it. */
async function pushBlob(
  http: RegistryHttp,
  reg: RegistryHandle,
  repo: string,
  b: Blob,
  headers: Record<string, string>,
  dispatcher: unknown,
): Promise<void> {
  const head = await http.fetch(`${reg.url}/v2/${repo}/blobs/${b.digest}`, {
    method: 'HEAD',
    headers,
    redirect: 'manual',
    dispatcher,
  });
  await head.arrayBuffer();
  if (head.status === 200) return;
  const start = await http.fetch(`${reg.url}/v2/${repo}/blobs/uploads/`, {
    method: 'POST',
    headers,
    redirect: 'manual',
    dispatcher,
  });
  await start.arrayBuffer();
  if (start.status !== 202) throw new Error(`push ${repo} blob: POST uploads → ${start.status}`);
  const loc = new URL(start.headers.get('location') ?? '', reg.url);
  loc.searchParams.set('digest', b.digest);
  const put = await fetchWithBody(
    http,
    loc.href,
    'PUT',
    b.bytes,
    { ...headers, 'content-type': 'application/octet-stream' },
    dispatcher,
  );
  if (put.status !== 201)
    throw new Error(`push ${repo} blob ${b.digest}: PUT → ${put.status} ${await put.text()}`);
  await put.arrayBuffer().catch(() => undefined);
}

async function fetchWithBody(
  http: RegistryHttp,
  url: string,
  method: string,
  body: Buffer,
  headers: Record<string, string>,
  dispatcher: unknown,
): Promise<Response> {
  // RegistryRequestInit's body is a string; tests push binary, so go around the narrowed type.
  const f = http.fetch as unknown as (u: string, i: Record<string, unknown>) => Promise<Response>;
  return f(url, {
    method,
    body,
    headers,
    redirect: 'manual',
    ...(dispatcher === undefined ? {} : { dispatcher }),
  });
}

/** Pushes an image (blobs, then the manifest) as `repo:tag`; returns the manifest digest. */
export async function pushImage(
  reg: RegistryHandle,
  repo: string,
  tag: string,
  image: Image,
  auth?: PushAuth,
): Promise<string> {
  const http = await pushClient();
  try {
    const dispatcher = reg.caPem === undefined ? undefined : http.dispatcherFor({ ca: reg.caPem });
    const headers = await authHeader(http, reg, repo, auth, dispatcher);
    for (const b of [image.config, ...image.layers]) await pushBlob(http, reg, repo, b, headers, dispatcher);
    await putManifest(http, reg, repo, tag, image.manifest, headers, dispatcher);
    return image.manifest.digest;
  } finally {
    await http.close();
  }
}

/** Pushes several images and an index over them as `repo:tag`; returns the index digest. */
export async function pushIndex(
  reg: RegistryHandle,
  repo: string,
  tag: string,
  images: readonly Image[],
  format: ImageFormat = 'oci',
  auth?: PushAuth,
): Promise<string> {
  const http = await pushClient();
  try {
    const dispatcher = reg.caPem === undefined ? undefined : http.dispatcherFor({ ca: reg.caPem });
    const headers = await authHeader(http, reg, repo, auth, dispatcher);
    for (const img of images) {
      for (const b of [img.config, ...img.layers]) await pushBlob(http, reg, repo, b, headers, dispatcher);
      await putManifest(http, reg, repo, img.manifest.digest, img.manifest, headers, dispatcher);
    }
    const index = makeIndex(images, format);
    await putManifest(http, reg, repo, tag, index, headers, dispatcher);
    return index.digest;
  } finally {
    await http.close();
  }
}

async function putManifest(
  http: RegistryHttp,
  reg: RegistryHandle,
  repo: string,
  reference: string,
  m: Blob,
  headers: Record<string, string>,
  dispatcher: unknown,
): Promise<void> {
  const r = await fetchWithBody(
    http,
    `${reg.url}/v2/${repo}/manifests/${reference}`,
    'PUT',
    m.bytes,
    { ...headers, 'content-type': m.mediaType },
    dispatcher,
  );
  if (r.status !== 201)
    throw new Error(`push ${repo}:${reference} manifest: PUT → ${r.status} ${await r.text()}`);
  await r.arrayBuffer().catch(() => undefined);
}

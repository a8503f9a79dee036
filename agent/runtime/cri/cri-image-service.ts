/**
 * `CriImageService`: the agent's `ImageService` (agent/images/image-service.ts) over CRI's
 * `runtime.v1.ImageService`, for the `cri` runtime — containerd pulls, stores and unpacks; Berth's own
 * registry client and content store are not used. Credentials from imagePullSecrets are matched to the
 * image the kubelet's way (`matchCredentials`) and sent as CRI `AuthConfig`; registry mirrors and
 * plain-HTTP registries are containerd's configuration (`certs.d/<host>/hosts.toml`).
 *
 * What CRI cannot do: report progress (one `done` event is sent after the pull), choose a platform
 * (containerd pulls its own), or tell failures apart other than by message — not found / unauthorized
 * are recognised in containerd's text, everything else is `Failed` with that text.
 */
import * as cri from '../../../proto/gen/runtime/v1/api.js';
import { matchCredentials } from '../../images/credentials.js';
import { parseImageReference, repositoryName } from '../../images/image-reference.js';
import type {
  ImageRecord,
  ImageService,
  PullOptions,
  PullResult,
  RegistryCredentials,
} from '../../images/image-service.js';
import {
  CriConnection,
  grpcCode,
  grpcDetails,
  isAbort,
  isNotFound,
  isTransportFailure,
  runtimeFailed,
} from './cri-client.js';

export interface CriImageServiceOptions {
  /** gRPC target of the CRI socket, e.g. `unix:///run/containerd/containerd.sock`. */
  readonly endpoint: string;
  /** Share a connection with a `CriRuntime`; closed by whoever created it. */
  readonly connection?: CriConnection;
}

/** The image config fields an `ImageRecord` carries, as containerd's verbose ImageStatus has them. */
interface VerboseImageInfo {
  readonly imageSpec?: {
    readonly config?: {
      readonly Entrypoint?: string[] | null;
      readonly Cmd?: string[] | null;
      readonly Env?: string[] | null;
      readonly WorkingDir?: string;
      readonly User?: string;
    };
  };
}

function imageConfigOf(info: Readonly<Record<string, string>>): ImageRecord['config'] {
  const raw = info['info'];
  if (raw === undefined) return {};
  let parsed: VerboseImageInfo;
  try {
    parsed = JSON.parse(raw) as VerboseImageInfo;
  } catch {
    return {};
  }
  const c = parsed.imageSpec?.config;
  if (c === undefined) return {};
  return {
    ...(c.Entrypoint == null ? {} : { entrypoint: c.Entrypoint }),
    ...(c.Cmd == null ? {} : { cmd: c.Cmd }),
    ...(c.Env == null ? {} : { env: c.Env }),
    ...(c.WorkingDir === undefined || c.WorkingDir === '' ? {} : { workingDir: c.WorkingDir }),
    ...(c.User === undefined || c.User === '' ? {} : { user: c.User }),
  };
}

/** An `ImageRecord` from a CRI image (+ its verbose info for the config). */
export function imageRecordOf(image: cri.Image, info: Readonly<Record<string, string>> = {}): ImageRecord {
  const repoDigest = image.repoDigests[0];
  const at = repoDigest?.indexOf('@') ?? -1;
  return {
    references: [...image.repoTags],
    digest: repoDigest !== undefined && at >= 0 ? repoDigest.slice(at + 1) : image.id,
    configDigest: image.id,
    size: Number(image.size),
    config: imageConfigOf(info),
  };
}

/**
 * CRI `AuthConfig` for pulling `repository` (`domain/path`) with the first matching credentials.
 * `server_address` stays empty: the match is already scoped to the image, and containerd 1.6 parses
 * the field as a URL (a bare `host:port` fails the pull).
 */
export function authFor(
  credentials: ReadonlyMap<string, RegistryCredentials> | undefined,
  repository: string,
): cri.AuthConfig | undefined {
  if (credentials === undefined) return undefined;
  const c = matchCredentials(credentials, repository)[0];
  if (c === undefined) return undefined;
  return cri.AuthConfig.fromPartial({
    username: c.username ?? '',
    password: c.password ?? '',
    identityToken: c.identityToken ?? '',
    registryToken: c.registryToken ?? '',
  });
}

/** How containerd words a failed pull, to the reason the pod status shows. */
export function classifyPullError(message: string): 'NotFound' | 'Unauthorized' | 'Failed' {
  if (/\b401\b|\b403\b|unauthorized|authorization failed|authentication required|denied/i.test(message)) {
    return 'Unauthorized';
  }
  if (/not found|manifest unknown|name unknown/i.test(message)) return 'NotFound';
  return 'Failed';
}

/** The `ImageService` seam over CRI; see the file header. */
export class CriImageService implements ImageService {
  readonly #conn: CriConnection;
  readonly #ownsConnection: boolean;

  constructor(opts: CriImageServiceOptions) {
    this.#conn = opts.connection ?? new CriConnection(opts.endpoint);
    this.#ownsConnection = opts.connection === undefined;
  }

  /** Closes the gRPC channel if this service opened it. */
  close(): void {
    if (this.#ownsConnection) this.#conn.close();
  }

  async pull(ref: string, opts: PullOptions = {}): Promise<PullResult> {
    const parsed = parseImageReference(ref);
    if (!parsed.ok) return { ok: false, reason: 'InvalidReference', message: parsed.message };
    const repo = repositoryName(parsed.ref);
    const auth = authFor(opts.credentials, repo);
    const request = cri.PullImageRequest.fromPartial({
      image: { image: ref },
      ...(auth === undefined ? {} : { auth }),
    });
    let imageRef: string;
    try {
      imageRef = (await this.#conn.imageCall('pullImage', request, { signal: opts.signal })).imageRef;
    } catch (err) {
      if (isAbort(err, opts.signal) || grpcCode(err) === undefined) throw err;
      if (isTransportFailure(err)) throw runtimeFailed('cri PullImage', err);
      const message = grpcDetails(err);
      return { ok: false, reason: classifyPullError(message), message };
    }
    const image = await this.#status(imageRef, opts.signal);
    if (image === undefined) {
      return {
        ok: false,
        reason: 'Failed',
        message: `containerd pulled ${ref} as ${imageRef} but does not list it`,
      };
    }
    opts.onProgress?.({ ref, bytesDone: image.size, bytesTotal: image.size, phase: 'done' });
    return { ok: true, image };
  }

  status(ref: string): Promise<ImageRecord | undefined> {
    return this.#status(ref, undefined);
  }

  async #status(ref: string, signal: AbortSignal | undefined): Promise<ImageRecord | undefined> {
    try {
      const res = await this.#conn.imageCall(
        'imageStatus',
        cri.ImageStatusRequest.fromPartial({ image: { image: ref }, verbose: true }),
        { signal },
      );
      return res.image === undefined ? undefined : imageRecordOf(res.image, res.info);
    } catch (err) {
      if (isNotFound(err)) return undefined;
      if (isAbort(err, signal) || grpcCode(err) === undefined) throw err;
      throw runtimeFailed('cri ImageStatus', err);
    }
  }

  async list(): Promise<readonly ImageRecord[]> {
    let images: cri.Image[];
    try {
      images = (await this.#conn.imageCall('listImages', cri.ListImagesRequest.fromPartial({}))).images;
    } catch (err) {
      throw runtimeFailed('cri ListImages', err);
    }
    // The list has no image config; a verbose status per image adds it (an image removed meanwhile drops out).
    const records = await Promise.all(images.map((i) => this.#status(i.id, undefined)));
    return records.filter((r): r is ImageRecord => r !== undefined);
  }

  async remove(ref: string): Promise<boolean> {
    const present = await this.status(ref);
    if (present === undefined) return false;
    try {
      await this.#conn.imageCall(
        'removeImage',
        cri.RemoveImageRequest.fromPartial({ image: { image: ref } }),
      );
      return true;
    } catch (err) {
      if (isNotFound(err)) return false;
      throw runtimeFailed('cri RemoveImage', err);
    }
  }
}

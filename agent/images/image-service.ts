/**
 * The agent's image seam, shaped like CRI's ImageService: pull, status, list, remove. The pod workers
 * and runtimes see only this; the registry client, content store, unpacker and snapshots behind it
 * belong to the image service (agent/images/local-image-service.ts), and a fake stands in for hollow
 * agents and unit tests (agent/runtime/fake/fake-image-service.ts).
 *
 * `RootfsProvider` is the second, narrower seam the runc runtime uses: it turns a pulled image into an
 * overlayfs mount for one container (lower = the image's layer snapshots, upper/work private to the
 * container) and releases it when the container is removed. While a container holds its rootfs, the
 * image it came from is "in use" and image GC leaves it alone.
 */

/** Credentials for one registry, from imagePullSecrets, the registries file or a Docker config. */
export interface RegistryCredentials {
  readonly username?: string;
  readonly password?: string;
  /** An OAuth2 refresh token (`identitytoken`, or a helper's `<token>` user), exchanged at the token realm. */
  readonly identityToken?: string;
  /** A bearer token sent to the registry as-is (`registrytoken` in a Docker config). */
  readonly registryToken?: string;
}

/** An image present on the node. */
export interface ImageRecord {
  /** Normalised references that name it, e.g. `docker.io/library/busybox:latest`. */
  readonly references: readonly string[];
  /**
   * The digest the reference resolved to — the index's digest for a multi-platform image, as
   * Kubernetes reports it (`containerStatuses[].imageID` is `repository@digest`).
   */
  readonly digest: string;
  /** `sha256:…` of the image config (the image id). */
  readonly configDigest: string;
  /** Total uncompressed size on disk, bytes. */
  readonly size: number;
  /** From the image config: what a container runs and with which environment when the pod says nothing. */
  readonly config: {
    readonly entrypoint?: readonly string[];
    readonly cmd?: readonly string[];
    readonly env?: readonly string[];
    readonly workingDir?: string;
    readonly user?: string;
  };
}

/** Where one layer (or the whole pull) stands. */
export type PullPhase = 'resolving' | 'waiting' | 'downloading' | 'committing' | 'done' | 'exists';

export interface PullProgress {
  readonly ref: string;
  /** Layer digest, or undefined for the manifest/config phase and for the pull as a whole. */
  readonly layer?: string;
  readonly bytesDone: number;
  readonly bytesTotal: number;
  /** What is happening; a layer already on the node is `exists`. Undefined from older producers. */
  readonly phase?: PullPhase;
}

export interface PullOptions {
  /**
   * Credentials from the pod's imagePullSecrets, keyed as in the secret (`host`, `host/path`,
   * `https://index.docker.io/v1/`, `*.example.com`); see `credentialsFromPullSecret` in credentials.ts.
   */
  readonly credentials?: ReadonlyMap<string, RegistryCredentials>;
  readonly signal?: AbortSignal;
  readonly onProgress?: (p: PullProgress) => void;
  /** `os/arch[/variant]` to pull from a multi-platform index; default this node's platform. */
  readonly platform?: string;
}

/** Why a pull failed, as the pod status should say it (`ErrImagePull` message). */
export type PullResult =
  | { readonly ok: true; readonly image: ImageRecord }
  | {
      readonly ok: false;
      readonly reason: 'NotFound' | 'Unauthorized' | 'InvalidReference' | 'Failed';
      readonly message: string;
    };

export interface ImageService {
  pull(ref: string, opts?: PullOptions): Promise<PullResult>;
  /** The image a reference names, if present on the node. */
  status(ref: string): Promise<ImageRecord | undefined>;
  list(): Promise<readonly ImageRecord[]>;
  /** Removes the image (by reference or digest); false when it was not present. */
  remove(ref: string): Promise<boolean>;
}

/** An overlayfs mount as an OCI runtime-spec `mounts[]` entry (also what `mount -t overlay` needs). */
export interface OverlayMount {
  readonly type: 'overlay';
  readonly source: 'overlay';
  /** `lowerdir=…`, `upperdir=…`, `workdir=…` (plus `index=off` so lowers may be shared). */
  readonly options: readonly string[];
}

/** A container's root filesystem, ready to mount at the bundle's `rootfs`. */
export interface PreparedRootfs {
  /** Layer directories, top layer first (overlayfs `lowerdir` order). */
  readonly lowerDirs: readonly string[];
  /** The container's private writable layer. */
  readonly upperDir: string;
  /** overlayfs' work directory, on the same filesystem as `upperDir`. */
  readonly workDir: string;
  readonly mount: OverlayMount;
}

export type PrepareRootfsResult =
  | { readonly ok: true; readonly rootfs: PreparedRootfs }
  | { readonly ok: false; readonly reason: 'ImageNotFound' | 'Conflict'; readonly message: string };

export interface RootfsProvider {
  /**
   * Creates (or returns, when it exists for the same image) the rootfs of `containerId` from the
   * image `image` names — a reference, the resolved digest, or the config digest. The image counts as
   * in use until `releaseRootfs`. `Conflict` when the container already has a rootfs of another image.
   */
  prepareRootfs(image: string, containerId: string): Promise<PrepareRootfsResult>;
  /** Removes the container's upper/work dirs and its hold on the image; false when there was none. The caller unmounts first. */
  releaseRootfs(containerId: string): Promise<boolean>;
}

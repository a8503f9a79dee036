/**
 * The agent's image seam, shaped like CRI's ImageService: pull, status, list, remove. The pod workers
 * and runtimes see only this; the registry client, content store, unpacker and snapshots behind it
 * belong to the image service (issue #5), and a fake stands in for hollow agents and unit tests.
 */

/** Credentials for one registry, from imagePullSecrets, the registries file or a Docker config. */
export interface RegistryCredentials {
  readonly username?: string;
  readonly password?: string;
  /** A bearer/identity token, when the credential store provides one instead of a password. */
  readonly identityToken?: string;
}

/** An image present on the node. */
export interface ImageRecord {
  /** Normalised references that name it, e.g. `docker.io/library/busybox:latest`. */
  readonly references: readonly string[];
  /** The digest of the manifest that was resolved (what `containerStatuses[].imageID` reports). */
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

export interface PullProgress {
  readonly ref: string;
  /** Layer digest, or undefined for the manifest/config phase. */
  readonly layer?: string;
  readonly bytesDone: number;
  readonly bytesTotal: number;
}

export interface PullOptions {
  readonly credentials?: ReadonlyMap<string, RegistryCredentials>;
  readonly signal?: AbortSignal;
  readonly onProgress?: (p: PullProgress) => void;
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

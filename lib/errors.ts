/**
 * The error catalogue. Every exceptional failure Berth throws is a `BerthError` with a stable `code`
 * (fastify's FST_ERR_* / undici's UND_ERR_* habit) and the underlying error kept as `cause`.
 * Expected negatives — a lost compare-and-swap, a missing key — are returned as values, not thrown.
 *
 * Messages are lower-case context joined with ": ", like Go's `fmt.Errorf("open store: %w", err)`.
 */

export const errorCodes = {
  /** A watch or list asked for a revision older than the store's compaction point. */
  STORE_COMPACTED: 'BERTH_ERR_STORE_COMPACTED',
  /** A watcher fell too far behind and was dropped; re-watch from its last revision or re-list. */
  STORE_WATCHER_DROPPED: 'BERTH_ERR_STORE_WATCHER_DROPPED',
  /** The store is closed, or its backend is unreachable. */
  STORE_UNAVAILABLE: 'BERTH_ERR_STORE_UNAVAILABLE',
  /** A request to the store was malformed (bad key, bad continue token, value too large). */
  STORE_INVALID: 'BERTH_ERR_STORE_INVALID',
  /** A revision asked for is newer than anything the store has written. */
  STORE_FUTURE_REVISION: 'BERTH_ERR_STORE_FUTURE_REVISION',
  /** Configuration given on the command line or in a file is unusable. */
  CONFIG_INVALID: 'BERTH_ERR_CONFIG_INVALID',
  /** A child process (etcd, runc, …) could not be started or failed. */
  PROCESS_FAILED: 'BERTH_ERR_PROCESS_FAILED',
  /** An API request failed with a Kubernetes `Status` (api/status.ts `ApiError`) to send back as-is. */
  API_STATUS: 'BERTH_ERR_API_STATUS',
  /** A certificate, key or signing request is malformed, forged, or of a kind Berth does not accept. */
  CERT_INVALID: 'BERTH_ERR_CERT_INVALID',
  /** The controller refused a node's join: unknown, expired or revoked token, or a CA that does not match it. */
  JOIN_REFUSED: 'BERTH_ERR_JOIN_REFUSED',
  /** The container runtime failed unexpectedly (daemon down, corrupt state); expected negatives are values. */
  RUNTIME_FAILED: 'BERTH_ERR_RUNTIME_FAILED',
  /** A container's config cannot become a runtime spec (bad mount, path, capability, seccomp file); runtimes report it as `InvalidConfig`. */
  CONTAINER_CONFIG_INVALID: 'BERTH_ERR_CONTAINER_CONFIG_INVALID',
  /** A registry could not be reached or kept failing (network, 5xx, 429, timeouts) after retries. */
  IMAGE_REGISTRY: 'BERTH_ERR_IMAGE_REGISTRY',
  /** A registry refused our credentials (401/403), or none were given where they are needed. */
  IMAGE_UNAUTHORIZED: 'BERTH_ERR_IMAGE_UNAUTHORIZED',
  /** Image content does not verify or parse: digest/size mismatch, bad manifest/config, unsupported media type. */
  IMAGE_INVALID: 'BERTH_ERR_IMAGE_INVALID',
  /** A layer tar tried to escape its root, or broke a limit (bytes, entries, path length). */
  IMAGE_LAYER_REJECTED: 'BERTH_ERR_IMAGE_LAYER_REJECTED',
  /** The node's image store (content, snapshots, metadata) failed: disk full, I/O error, corrupt state. */
  IMAGE_STORE: 'BERTH_ERR_IMAGE_STORE',
  /** The CLI could not reach the API server (connection refused, TLS failure, reset) or read its answer. */
  API_UNREACHABLE: 'BERTH_ERR_API_UNREACHABLE',
  /** A controller's reconcile could not finish (it is retried with back-off); the cause says why. */
  RECONCILE_FAILED: 'BERTH_ERR_RECONCILE_FAILED',
  /** The agent could not read a ConfigMap or Secret from the controller (unreachable, refused, bad answer). */
  OBJECT_UNAVAILABLE: 'BERTH_ERR_OBJECT_UNAVAILABLE',
  /** The pod network (bridge, netns, veth, nft, IPAM state) could not be changed or read; the cause says why. */
  NETWORK_FAILED: 'BERTH_ERR_NETWORK_FAILED',
} as const;

export type ErrorCode = (typeof errorCodes)[keyof typeof errorCodes];

export class BerthError extends Error {
  readonly code: ErrorCode;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'BerthError';
    this.code = code;
  }
}

/** The store cannot serve `requested` because history up to `compactedRevision` is gone. */
export class CompactedError extends BerthError {
  readonly requestedRevision: number;
  readonly compactedRevision: number;

  constructor(requestedRevision: number, compactedRevision: number, options?: { cause?: unknown }) {
    super(
      errorCodes.STORE_COMPACTED,
      `revision ${requestedRevision} has been compacted (compacted up to ${compactedRevision})`,
      options,
    );
    this.name = 'CompactedError';
    this.requestedRevision = requestedRevision;
    this.compactedRevision = compactedRevision;
  }
}

/** A slow watcher was cut off; `lastRevision` is the revision of the last event it was given. */
export class WatcherDroppedError extends BerthError {
  readonly lastRevision: number;

  constructor(lastRevision: number, reason: string) {
    super(errorCodes.STORE_WATCHER_DROPPED, `watcher dropped after revision ${lastRevision}: ${reason}`);
    this.name = 'WatcherDroppedError';
    this.lastRevision = lastRevision;
  }
}

export function isBerthError(err: unknown, code?: ErrorCode): err is BerthError {
  return err instanceof BerthError && (code === undefined || err.code === code);
}

/** A message for any thrown value, for logs and CLI output. */
export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

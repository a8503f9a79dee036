/**
 * The gRPC connection to a CRI endpoint (containerd's `unix:///…/containerd.sock`): one channel
 * shared by the generated `runtime.v1` RuntimeService and ImageService clients, a promise wrapper for
 * unary calls that turns an `AbortSignal` into a call cancel, and the classification of gRPC errors
 * into "expected negative" (NotFound and friends, which callers turn into values) and "the runtime is
 * broken" (`BERTH_ERR_RUNTIME_FAILED`).
 */
import {
  credentials,
  Metadata,
  status as grpcStatus,
  type CallOptions as GrpcCallOptions,
  type ClientUnaryCall,
  type ServiceError,
} from '@grpc/grpc-js';
import { BerthError, errorCodes } from '../../../lib/errors.js';
import { ImageServiceClient, RuntimeServiceClient } from '../../../proto/gen/runtime/v1/api.js';

/** The (request, metadata, options, callback) form of a generated client's unary method. */
type UnaryForm<Req, Res> = (
  request: Req,
  metadata: Metadata,
  options: Partial<GrpcCallOptions>,
  callback: (error: ServiceError | null, response: Res) => void,
) => ClientUnaryCall;

/** Names of a client's unary methods (their last overload is the four-argument form). */
export type UnaryName<C> = {
  [K in keyof C]: C[K] extends UnaryForm<infer _Req, infer _Res> ? K : never;
}[keyof C] &
  string;
/** The request type of unary method `K` of client `C`. */
export type RequestOf<C, K extends keyof C> = C[K] extends UnaryForm<infer Req, infer _Res> ? Req : never;
/** The response type of unary method `K` of client `C`. */
export type ResponseOf<C, K extends keyof C> = C[K] extends UnaryForm<infer _Req, infer Res> ? Res : never;

export type RuntimeMethod = UnaryName<RuntimeServiceClient>;
export type ImageMethod = UnaryName<ImageServiceClient>;

/** No deadline is set: stop and exec calls last as long as their own timeouts; cancel with the signal. */
export interface UnaryOptions {
  readonly signal?: AbortSignal | undefined;
}

/** The two CRI services over one channel. */
export class CriConnection {
  readonly endpoint: string;
  readonly runtime: RuntimeServiceClient;
  readonly images: ImageServiceClient;

  /**
   * `endpoint` is a gRPC target: `unix:///run/containerd/containerd.sock` (a bare absolute path is
   * taken as a unix socket). Connecting is lazy: a daemon that is down shows up as a failed call.
   */
  constructor(endpoint: string) {
    this.endpoint = endpoint.startsWith('/') ? `unix://${endpoint}` : endpoint;
    const options = {
      // containerd answers ListContainers/ListImages with every object; the default 4 MiB is tight on busy nodes.
      'grpc.max_receive_message_length': 64 * 1024 * 1024,
    };
    this.runtime = new RuntimeServiceClient(this.endpoint, credentials.createInsecure(), options);
    // The second client shares the first one's channel, so the two services use one connection.
    this.images = new ImageServiceClient(this.endpoint, credentials.createInsecure(), {
      ...options,
      channelOverride: this.runtime.getChannel(),
    });
  }

  /** Calls RuntimeService's `method`; see {@link CriConnection.unary} for how it settles. */
  runtimeCall<K extends RuntimeMethod>(
    method: K,
    request: RequestOf<RuntimeServiceClient, K>,
    opts: UnaryOptions = {},
  ): Promise<ResponseOf<RuntimeServiceClient, K>> {
    return this.unary(this.runtime, method, request, opts);
  }

  /** Calls ImageService's `method`; see {@link CriConnection.unary} for how it settles. */
  imageCall<K extends ImageMethod>(
    method: K,
    request: RequestOf<ImageServiceClient, K>,
    opts: UnaryOptions = {},
  ): Promise<ResponseOf<ImageServiceClient, K>> {
    return this.unary(this.images, method, request, opts);
  }

  /**
   * Calls unary `method` of `client`. Rejects with the signal's reason when aborted (the call is
   * cancelled), else with the gRPC `ServiceError` for the caller to classify.
   */
  unary<C, K extends UnaryName<C>>(
    client: C,
    method: K,
    request: RequestOf<C, K>,
    opts: UnaryOptions = {},
  ): Promise<ResponseOf<C, K>> {
    const { signal } = opts;
    if (signal?.aborted === true) return Promise.reject(abortReason(signal));
    const fn = client[method] as unknown as UnaryForm<RequestOf<C, K>, ResponseOf<C, K>>;
    return new Promise<ResponseOf<C, K>>((resolve, reject) => {
      let onAbort: (() => void) | undefined;
      const call = fn.call(client, request, new Metadata(), {}, (err, res) => {
        if (onAbort !== undefined) signal?.removeEventListener('abort', onAbort);
        if (signal?.aborted === true) reject(abortReason(signal));
        else if (err !== null) reject(err);
        else resolve(res);
      });
      if (signal !== undefined) {
        onAbort = () => {
          call.cancel();
        };
        signal.addEventListener('abort', onAbort, { once: true });
      }
    });
  }

  /** Closes the channel; calls in flight fail. */
  close(): void {
    this.images.close();
    this.runtime.close();
  }
}

/** The signal's reason (an `AbortError` DOMException unless the caller gave another). */
function abortReason(signal: AbortSignal): Error {
  const reason: unknown = signal.reason;
  return reason instanceof Error ? reason : new DOMException('This operation was aborted', 'AbortError');
}

/** The gRPC status code of `err`, or undefined when it is not a gRPC error (e.g. an abort). */
export function grpcCode(err: unknown): number | undefined {
  if (typeof err !== 'object' || err === null) return undefined;
  const code = (err as { code?: unknown }).code;
  return typeof code === 'number' && 'details' in err ? code : undefined;
}

/** The daemon's own message (gRPC `details`), or the error's message. */
export function grpcDetails(err: unknown): string {
  if (typeof err === 'object' && err !== null && typeof (err as { details?: unknown }).details === 'string') {
    return (err as { details: string }).details;
  }
  return err instanceof Error ? err.message : String(err);
}

/** True for a gRPC NotFound answer. */
export function isNotFound(err: unknown): boolean {
  return grpcCode(err) === grpcStatus.NOT_FOUND;
}

/**
 * True when `err` says the daemon could not be asked or answered nonsense (down, unreachable, our
 * deadline, unimplemented, an oversized answer): such failures throw instead of becoming values.
 */
const transportCodes: ReadonlySet<number> = new Set([
  grpcStatus.UNAVAILABLE,
  grpcStatus.UNIMPLEMENTED,
  grpcStatus.RESOURCE_EXHAUSTED,
  grpcStatus.DEADLINE_EXCEEDED,
  grpcStatus.CANCELLED,
]);

export function isTransportFailure(err: unknown): boolean {
  const code = grpcCode(err);
  return code === undefined || transportCodes.has(code);
}

/** True when `err` is the rejection of an aborted call (the signal's reason), which callers re-throw as is. */
export function isAbort(err: unknown, signal: AbortSignal | undefined): boolean {
  return signal?.aborted === true && grpcCode(err) === undefined;
}

/** `BERTH_ERR_RUNTIME_FAILED` for `what` (e.g. `cri RunPodSandbox`), keeping the gRPC error as cause. */
export function runtimeFailed(what: string, err: unknown): BerthError {
  return new BerthError(errorCodes.RUNTIME_FAILED, `${what}: ${grpcDetails(err)}`, { cause: err });
}

/**
 * The contract between the agent's tunnel plumbing (tunnel-client.ts: one gRPC `Tunnel` per request
 * the controller makes) and whatever serves logs and exec on a node (`StreamHandlers`; the default
 * is default-stream-handlers.ts, over a `Runtime` and the pod log directory). Handlers see bytes and
 * channels, never gRPC.
 *
 * Channels are those of v5.channel.k8s.io: 0 stdin, 1 stdout, 2 stderr, 3 status, 4 resize.
 */
import type { ExecRequest, LogRequest } from '../../proto/gen/berth/v1/agent.js';

export type { ExecRequest, LogRequest };

export const channels = { stdin: 0, stdout: 1, stderr: 2, status: 3, resize: 4 } as const;

/** Why a request cannot be served, as the HTTP status the client gets (kube's wording in `message`). */
export interface StreamFailure {
  /** 400 BadRequest (the pod or container is not in a state to serve it), 404 NotFound, 500 InternalError. */
  readonly code: 400 | 404 | 500;
  readonly message: string;
}

/** Where a handler writes. */
export interface TunnelSink {
  /** The request is valid and output follows (writing implies it). For `logs -f` of an empty log. */
  accept(): void;
  /** The request cannot be served; call before any output, then return. */
  reject(failure: StreamFailure): void;
  /** Sends `data` on channel 1 (stdout) or 2 (stderr); resolves when the transport took it. */
  write(channel: 1 | 2, data: Uint8Array): Promise<void>;
}

export interface TerminalSize {
  readonly width: number;
  readonly height: number;
}

/** An exec's streams. */
export interface TunnelIo extends TunnelSink {
  /** The client's stdin; ends at the client's EOF. Empty when the request has no stdin. */
  readonly stdin: AsyncIterable<Uint8Array>;
  /** Terminal size changes (tty only). */
  onResize(listener: (size: TerminalSize) => void): void;
  /** The command exited with `code`: sends the final status (Success, or NonZeroExitCode). */
  exit(code: number): void;
}

/**
 * Serves the controller's stream requests on one node. Both resolve when done; `signal` aborts when
 * the client went away. Expected refusals go through `reject`; a throw becomes an InternalError.
 */
export interface StreamHandlers {
  logs(req: LogRequest, sink: TunnelSink, signal: AbortSignal): Promise<void>;
  exec(req: ExecRequest, io: TunnelIo, signal: AbortSignal): Promise<void>;
}

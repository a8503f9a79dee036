/**
 * The controller's side of logs and exec tunnels. The API server asks for a byte stream to a node
 * with `open(nodeName, request)`; the broker sends `StreamOpen{stream_id}` on the node's Connect
 * stream and waits for the agent to call `AgentGateway.Tunnel` naming that stream id in its first
 * frame. The tunnel call must come from the same node (its client certificate), so one node can
 * never read another node's logs or answer another node's exec.
 *
 *   open ──StreamOpen sent──▶ pending ──agent's Tunnel, same node──▶ open ──either side ends──▶ closed
 *                               │
 *                               └──timeout / node gone / caller aborts──▶ failed (a value, not thrown)
 *
 * Frame protocol on a tunnel (both directions are `TunnelFrame`s; channels as v5.channel.k8s.io):
 * - The agent's first frame names the stream (`stream_id`) and carries nothing else.
 * - Controller → agent: channel 0 stdin bytes (`close` = stdin EOF), channel 4 resize JSON.
 * - Agent → controller: channel 1/2 output; channel 3 a metav1.Status JSON. For logs, an empty
 *   channel-1 frame means "accepted, output follows" and a channel-3 frame before it means the
 *   request failed (its Status is the HTTP answer). For exec, channel 3 is the final exit status.
 * - The agent half-closes when it is done; the controller then ends the call. The controller ends
 *   the call early when its client goes away, which aborts the agent's work.
 */
import { randomBytes } from 'node:crypto';
import { status as grpcStatus, type ServerDuplexStream } from '@grpc/grpc-js';
import type { Clock, Timer } from '../../lib/clock.js';
import { errorMessage } from '../../lib/errors.js';
import type { Logger } from '../../lib/logger.js';
import type { StreamOpen, TunnelFrame } from '../../proto/gen/berth/v1/agent.js';

/** What to stream: the `request` of a `StreamOpen`. */
export type TunnelRequest = NonNullable<StreamOpen['request']>;

/** A frame received from the agent. */
export interface TunnelFrameIn {
  readonly channel: number;
  readonly data: Buffer;
  readonly close: boolean;
}

/** An open tunnel to an agent. Iterate it for the agent's frames; iteration ends when the agent is done. */
export interface Tunnel extends AsyncIterable<TunnelFrameIn> {
  readonly streamId: string;
  readonly nodeName: string;
  /** Sends bytes on `channel`. Returns false when the transport's buffer is full (see `drained`). */
  send(channel: number, data: Uint8Array): boolean;
  /** Tells the agent nothing more will come on `channel` (stdin EOF). */
  closeChannel(channel: number): void;
  /** Resolves when the send buffer has room again (immediately if it has). */
  drained(): Promise<void>;
  /** Ends the tunnel both ways (the agent's work is aborted). Idempotent. */
  close(): void;
}

/** Why a tunnel could not be opened. */
export type TunnelOpenResult =
  | { readonly ok: true; readonly tunnel: Tunnel }
  | {
      readonly ok: false;
      readonly reason: 'NodeNotConnected' | 'Timeout' | 'Aborted';
      readonly message: string;
    };

/** The one thing the API server needs from the gateway. */
export interface TunnelOpener {
  open(nodeName: string, request: TunnelRequest, signal?: AbortSignal): Promise<TunnelOpenResult>;
  /** Whether `nodeName` has a Connect session now (an open would be sent). */
  connected(nodeName: string): boolean;
}

/** How the broker reaches a node's Connect stream. */
export type StreamOpenSender = (nodeName: string, open: StreamOpen) => boolean;

export interface TunnelBrokerOptions {
  /** Sends a StreamOpen on the node's Connect session; false when the node has none. */
  readonly sendStreamOpen: StreamOpenSender;
  /** Whether the node has a Connect session now. */
  readonly isConnected: (nodeName: string) => boolean;
  readonly clock: Clock;
  readonly logger: Logger;
  /** Time for the agent to call Tunnel after StreamOpen (default 10 s). */
  readonly openTimeoutMs?: number;
  /** Time for a Tunnel call to name its stream (default 10 s). */
  readonly helloTimeoutMs?: number;
}

interface Pending {
  readonly nodeName: string;
  readonly resolve: (result: TunnelOpenResult) => void;
  readonly timer: Timer;
}

/** Frames queued from the agent before the consumer pauses the call. */
const highWaterFrames = 64;

export class TunnelBroker implements TunnelOpener {
  readonly #o: TunnelBrokerOptions;
  readonly #log: Logger;
  readonly #pending = new Map<string, Pending>();
  readonly #open = new Set<Tunnel>();

  constructor(opts: TunnelBrokerOptions) {
    this.#o = opts;
    this.#log = opts.logger;
  }

  /** Number of tunnels waiting for their agent, and open. */
  get size(): { readonly pending: number; readonly open: number } {
    return { pending: this.#pending.size, open: this.#open.size };
  }

  connected(nodeName: string): boolean {
    return this.#o.isConnected(nodeName);
  }

  open(nodeName: string, request: TunnelRequest, signal?: AbortSignal): Promise<TunnelOpenResult> {
    if (signal?.aborted === true) {
      return Promise.resolve({ ok: false, reason: 'Aborted', message: 'the request was cancelled' });
    }
    const streamId = randomBytes(16).toString('hex');
    return new Promise<TunnelOpenResult>((resolve) => {
      const onAbort = (): void => {
        settle({ ok: false, reason: 'Aborted', message: 'the request was cancelled' });
      };
      const settle = (result: TunnelOpenResult): void => {
        const p = this.#pending.get(streamId);
        if (p === undefined) {
          // Already settled; a tunnel that arrived after an abort is closed by the caller's check.
          if (result.ok) result.tunnel.close();
          return;
        }
        this.#pending.delete(streamId);
        p.timer.cancel();
        signal?.removeEventListener('abort', onAbort);
        resolve(result);
      };
      const timeoutMs = this.#o.openTimeoutMs ?? 10_000;
      this.#pending.set(streamId, {
        nodeName,
        resolve: settle,
        timer: this.#o.clock.setTimer(timeoutMs, () => {
          settle({
            ok: false,
            reason: 'Timeout',
            message: `node "${nodeName}" did not open the stream within ${Math.round(timeoutMs / 1000)} s`,
          });
        }),
      });
      signal?.addEventListener('abort', onAbort, { once: true });
      const sent = this.#o.sendStreamOpen(nodeName, { streamId, request });
      this.#log.debug({ node: nodeName, stream: streamId, kind: request.$case, sent }, 'stream open sent');
      if (!sent) {
        settle({
          ok: false,
          reason: 'NodeNotConnected',
          message: `node "${nodeName}" is not connected to the controller`,
        });
      }
    });
  }

  /**
   * Serves one `AgentGateway.Tunnel` call. `nodeName` is the verified certificate's node (undefined:
   * not a node certificate).
   */
  accept(call: ServerDuplexStream<TunnelFrame, TunnelFrame>, nodeName: string | undefined): void {
    if (nodeName === undefined) {
      call.emit('error', {
        code: grpcStatus.UNAUTHENTICATED,
        details: 'Tunnel needs a node client certificate issued by this cluster',
      });
      return;
    }
    let named = false;
    const hello = this.#o.clock.setTimer(this.#o.helloTimeoutMs ?? 10_000, () => {
      if (!named) fail(grpcStatus.DEADLINE_EXCEEDED, 'the tunnel did not name its stream in time');
    });
    const fail = (code: grpcStatus, details: string): void => {
      hello.cancel();
      call.removeListener('data', onFirst);
      call.emit('error', { code, details });
    };
    const onFirst = (frame: TunnelFrame): void => {
      named = true;
      hello.cancel();
      call.removeListener('data', onFirst);
      call.pause();
      const p = this.#pending.get(frame.streamId);
      if (p === undefined) {
        fail(grpcStatus.NOT_FOUND, `no stream "${frame.streamId}" is waiting (timed out or cancelled)`);
        return;
      }
      if (p.nodeName !== nodeName) {
        // The pending stream stays pending: a wrong node must not be able to cancel it either.
        this.#log.warn(
          { node: nodeName, streamNode: p.nodeName },
          "refused a tunnel for another node's stream",
        );
        fail(
          grpcStatus.PERMISSION_DENIED,
          `node "${nodeName}" may not open a stream that was asked of node "${p.nodeName}"`,
        );
        return;
      }
      this.#log.debug({ node: nodeName, stream: frame.streamId }, 'tunnel accepted');
      const tunnel = new CallTunnel(frame.streamId, nodeName, call, () => this.#open.delete(tunnel));
      this.#open.add(tunnel);
      p.resolve({ ok: true, tunnel });
    };
    call.on('data', onFirst);
    call.on('error', () => {
      hello.cancel();
    });
    call.on('cancelled', () => {
      hello.cancel();
    });
    call.on('end', () => {
      hello.cancel();
      if (!named) call.end();
    });
  }

  /** Fails every pending open and closes every open tunnel (controller shutdown). */
  close(): void {
    for (const p of [...this.#pending.values()]) {
      p.resolve({ ok: false, reason: 'NodeNotConnected', message: 'the controller is shutting down' });
    }
    for (const t of [...this.#open]) t.close();
  }
}

/** A tunnel over a grpc-js server duplex call, with a bounded receive queue. */
class CallTunnel implements Tunnel {
  readonly streamId: string;
  readonly nodeName: string;
  readonly #call: ServerDuplexStream<TunnelFrame, TunnelFrame>;
  readonly #onClosed: () => void;
  readonly #queue: TunnelFrameIn[] = [];
  #waiter: (() => void) | undefined;
  #ended = false;
  #closed = false;

  constructor(
    streamId: string,
    nodeName: string,
    call: ServerDuplexStream<TunnelFrame, TunnelFrame>,
    onClosed: () => void,
  ) {
    this.streamId = streamId;
    this.nodeName = nodeName;
    this.#call = call;
    this.#onClosed = onClosed;
    call.on('data', (frame: TunnelFrame) => {
      this.#queue.push({ channel: frame.channel, data: frame.data, close: frame.close });
      if (this.#queue.length >= highWaterFrames) call.pause();
      this.#wake();
    });
    const ended = (): void => {
      this.#ended = true;
      this.#wake();
    };
    call.on('end', () => {
      ended();
      // The agent is done: finish the call with OK.
      this.close();
    });
    call.on('error', (err: Error) => {
      if (!this.#closed) this.#closedNow(errorMessage(err));
      ended();
    });
    call.on('cancelled', () => {
      this.#closedNow('cancelled');
      ended();
    });
    call.resume();
  }

  send(channel: number, data: Uint8Array): boolean {
    if (this.#closed) return true;
    return this.#call.write({ streamId: '', channel, data: asBuffer(data), close: false });
  }

  closeChannel(channel: number): void {
    if (this.#closed) return;
    this.#call.write({ streamId: '', channel, data: Buffer.alloc(0), close: true });
  }

  drained(): Promise<void> {
    if (this.#closed || !this.#call.writableNeedDrain) return Promise.resolve();
    return new Promise((resolve) => {
      const done = (): void => {
        this.#call.removeListener('drain', done);
        this.#call.removeListener('close', done);
        resolve();
      };
      this.#call.once('drain', done);
      this.#call.once('close', done);
    });
  }

  close(): void {
    if (this.#closed) return;
    this.#closedNow('closed');
    try {
      this.#call.end();
    } catch {
      // already torn down by the transport
    }
  }

  async *[Symbol.asyncIterator](): AsyncIterator<TunnelFrameIn> {
    for (;;) {
      const frame = this.#queue.shift();
      if (frame !== undefined) {
        if (this.#queue.length < highWaterFrames / 2 && this.#call.isPaused()) this.#call.resume();
        yield frame;
        continue;
      }
      if (this.#ended) return;
      await new Promise<void>((resolve) => {
        this.#waiter = resolve;
      });
    }
  }

  #closedNow(_why: string): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#ended = true;
    this.#wake();
    this.#onClosed();
  }

  #wake(): void {
    const w = this.#waiter;
    this.#waiter = undefined;
    w?.();
  }
}

function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

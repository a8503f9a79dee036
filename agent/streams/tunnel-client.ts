/**
 * The agent's side of one tunnel: the controller sent `StreamOpen`, so the agent calls
 * `AgentGateway.Tunnel` (same mTLS identity as its Connect stream), names the stream in its first
 * frame, and runs the node's `StreamHandlers` with the tunnel as their sink/io. Frame protocol as in
 * controller/gateway/tunnel-broker.ts:
 *
 *   → {stream_id}                          hello
 *   → ch3 Status (failure), end            the request was refused (`reject`)
 *   → ch1 empty                            accepted (logs); then ch1/ch2 output
 *   → ch3 Status (exec exit), end          exec finished
 *   ← ch0 bytes / ch0 close, ch4 resize    stdin, stdin EOF, terminal size
 *
 * Either side ending the call ends the tunnel; the controller ending it (its client went away)
 * aborts the handler through its signal.
 */
import { status as grpcStatus, type ClientDuplexStream, type StatusObject } from '@grpc/grpc-js';
import { errorMessage } from '../../lib/errors.js';
import type { Logger } from '../../lib/logger.js';
import type { StreamOpen, TunnelFrame } from '../../proto/gen/berth/v1/agent.js';
import {
  channels,
  type StreamFailure,
  type StreamHandlers,
  type TerminalSize,
  type TunnelIo,
  type TunnelSink,
} from './stream-types.js';

/** Opens the Tunnel call (the gateway client owns the gRPC client and its credentials). */
export type TunnelDialer = () => ClientDuplexStream<TunnelFrame, TunnelFrame>;

/** Serves one StreamOpen to the end. Never throws. */
export async function serveTunnel(
  open: StreamOpen,
  dial: TunnelDialer,
  handlers: StreamHandlers,
  logger: Logger,
): Promise<void> {
  const request = open.request;
  if (request === undefined) return;
  const log = logger.child({ stream: open.streamId, kind: request.$case });
  let call: ClientDuplexStream<TunnelFrame, TunnelFrame>;
  try {
    call = dial();
  } catch (err) {
    log.warn({ err: errorMessage(err) }, 'cannot open tunnel');
    return;
  }
  const abort = new AbortController();
  // The call is over only when its status arrives; until then the channel must stay open, or frames
  // still queued behind a connecting channel are lost.
  const ended = new Promise<void>((resolve) => {
    call.on('status', () => {
      resolve();
    });
    call.on('error', () => {
      resolve();
    });
  });
  const stdin = new ChunkQueue();
  const resizeListeners: ((size: TerminalSize) => void)[] = [];
  let finished = false;
  call.on('data', (frame: TunnelFrame) => {
    if (frame.channel === channels.stdin) {
      if (frame.data.length > 0) stdin.push(frame.data);
      if (frame.close) stdin.end();
    } else if (frame.channel === channels.resize && frame.data.length > 0) {
      const size = parseResize(frame.data);
      if (size !== undefined) for (const l of resizeListeners) l(size);
    }
  });
  const gone = (): void => {
    stdin.end();
    if (!finished) abort.abort(new Error('the controller closed the stream'));
  };
  call.on('end', gone);
  call.on('error', gone);
  call.on('status', (s: StatusObject) => {
    if (s.code !== grpcStatus.OK && !finished)
      log.info({ details: s.details }, 'tunnel ended by the controller');
    gone();
  });

  const send = (channel: number, data: Uint8Array, close = false): Promise<void> => {
    if (abort.signal.aborted) return Promise.resolve();
    const ok = call.write({ streamId: '', channel, data: Buffer.from(data), close });
    if (ok) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const done = (): void => {
        call.removeListener('drain', done);
        abort.signal.removeEventListener('abort', done);
        resolve();
      };
      call.once('drain', done);
      abort.signal.addEventListener('abort', done, { once: true });
    });
  };
  // Mutated from the sink's callbacks, so kept in an object (not narrowed by control flow).
  const state = { accepted: false, statusSent: false };
  const sendStatus = (status: Record<string, unknown>): void => {
    if (state.statusSent) return;
    state.statusSent = true;
    void send(channels.status, Buffer.from(JSON.stringify(status)));
  };
  const sink: TunnelSink = {
    accept: () => {
      if (state.accepted || state.statusSent) return;
      state.accepted = true;
      void send(channels.stdout, new Uint8Array());
    },
    reject: (failure) => {
      if (state.accepted) {
        log.warn({ message: failure.message }, 'stream failed after it started');
        return;
      }
      sendStatus(failureStatus(failure));
    },
    write: (channel, data) => {
      if (!state.accepted) sink.accept();
      return send(channel, data);
    },
  };

  call.write({ streamId: open.streamId, channel: 0, data: Buffer.alloc(0), close: false });
  log.debug('tunnel opened');
  try {
    if (request.$case === 'logs') {
      await handlers.logs(request.logs, sink, abort.signal);
    } else {
      const exec = request.exec;
      const io: TunnelIo = {
        ...sink,
        stdin: exec.stdin ? stdin : emptyChunks(),
        onResize: (l) => {
          resizeListeners.push(l);
        },
        exit: (code) => {
          sendStatus(exitStatus(code, exec.command));
        },
      };
      await handlers.exec(exec, io, abort.signal);
      // A handler that neither refused nor reported an exit: say something rather than hang kubectl.
      if (!state.statusSent)
        sendStatus(failureStatus({ code: 500, message: 'the command ended without an exit status' }));
    }
  } catch (err) {
    if (!abort.signal.aborted) {
      log.warn({ err: errorMessage(err) }, 'stream handler failed');
      if (!state.accepted || request.$case === 'exec')
        sendStatus(failureStatus({ code: 500, message: errorMessage(err) }));
    }
  } finally {
    finished = true;
    stdin.end();
    call.end();
    await ended;
    log.debug(state, 'tunnel done');
  }
}

/** The metav1.Status a refused request answers with. */
export function failureStatus(f: StreamFailure): Record<string, unknown> {
  const reason = f.code === 400 ? 'BadRequest' : f.code === 404 ? 'NotFound' : 'InternalError';
  return { metadata: {}, status: 'Failure', message: f.message, reason, code: f.code };
}

/**
 * The final status of an exec, as the kubelet sends it on the v4/v5 error channel: `Success`, or
 * `NonZeroExitCode` with the code in `details.causes[ExitCode]` (what kubectl turns into its exit code).
 */
export function exitStatus(code: number, command: readonly string[]): Record<string, unknown> {
  if (code === 0) return { metadata: {}, status: 'Success' };
  return {
    metadata: {},
    status: 'Failure',
    message: `command terminated with non-zero exit code: error executing command [${command.join(' ')}], exit code ${code}`,
    reason: 'NonZeroExitCode',
    details: { causes: [{ reason: 'ExitCode', message: String(code) }] },
  };
}

function parseResize(data: Buffer): TerminalSize | undefined {
  try {
    const v = JSON.parse(data.toString('utf8')) as { Width?: unknown; Height?: unknown };
    if (typeof v.Width === 'number' && typeof v.Height === 'number')
      return { width: v.Width, height: v.Height };
  } catch {
    // ignored: a malformed resize changes nothing
  }
  return undefined;
}

async function* emptyChunks(): AsyncGenerator<Uint8Array> {
  // no stdin
}

/** An unbounded async queue of stdin chunks (the client's typing rate bounds it in practice). */
class ChunkQueue implements AsyncIterable<Uint8Array> {
  readonly #chunks: Uint8Array[] = [];
  #ended = false;
  #waiter: (() => void) | undefined;

  push(chunk: Uint8Array): void {
    if (this.#ended) return;
    this.#chunks.push(chunk);
    this.#wake();
  }

  end(): void {
    this.#ended = true;
    this.#wake();
  }

  async *[Symbol.asyncIterator](): AsyncIterator<Uint8Array> {
    for (;;) {
      const c = this.#chunks.shift();
      if (c !== undefined) {
        yield c;
        continue;
      }
      if (this.#ended) return;
      await new Promise<void>((resolve) => {
        this.#waiter = resolve;
      });
    }
  }

  #wake(): void {
    const w = this.#waiter;
    this.#waiter = undefined;
    w?.();
  }
}

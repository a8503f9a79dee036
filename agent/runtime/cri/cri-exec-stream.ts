/**
 * The client side of the CRI streaming exec: containerd's `Exec` answers with a URL on its streaming
 * server (k8s.io/kubelet/cri/streaming), which speaks SPDY or WebSocket. We speak WebSocket with the
 * `v4.channel.k8s.io` subprotocol — every binary frame starts with a channel byte:
 *
 *     0 stdin (client → server)   1 stdout   2 stderr   3 error (one v1.Status JSON, at the end)
 *     4 resize (client → server, `{"Width":…,"Height":…}`)
 *
 * The server first sends an empty frame on the lowest output channel; the error channel's Status says
 * `Success`, or `Failure` with reason `NonZeroExitCode` and the code in `details.causes`. v4 has no
 * way to half-close stdin (v5 added it; containerd 1.6 does not speak v5), so ending `stdin` only
 * stops sending.
 */
import { PassThrough, Writable } from 'node:stream';
import { WebSocket, type RawData } from 'ws';
import { BerthError, errorCodes } from '../../../lib/errors.js';
import type { ExecStreamRequest, ExecStreamSession } from '../runtime.js';

const protocol = 'v4.channel.k8s.io';
const channel = { stdin: 0, stdout: 1, stderr: 2, error: 3, resize: 4 } as const;

/** A Kubernetes `Status` as the error channel carries it. */
interface ChannelStatus {
  readonly status?: string;
  readonly message?: string;
  readonly reason?: string;
  readonly details?: { readonly causes?: readonly { readonly reason?: string; readonly message?: string }[] };
}

/**
 * The exit code a v4 Status reports: 0 for `Success`, the `ExitCode` cause for `NonZeroExitCode`,
 * undefined when the exec itself failed (e.g. the executable was not found).
 */
export function exitCodeOfStatus(status: ChannelStatus): number | undefined {
  if (status.status === 'Success') return 0;
  if (status.reason === 'NonZeroExitCode') {
    const cause = status.details?.causes?.find((c) => c.reason === 'ExitCode');
    const code = Number(cause?.message);
    return Number.isInteger(code) ? code : undefined;
  }
  return undefined;
}

/**
 * Opens the exec session at `url` (http:// from containerd; the WebSocket is on the same address).
 * Resolves once the connection is up; `exit` resolves with the exit code, or rejects with
 * `BERTH_ERR_RUNTIME_FAILED` when the exec could not run or the connection dropped.
 */
export async function openCriExecStream(
  url: string,
  request: ExecStreamRequest,
  signal?: AbortSignal,
): Promise<ExecStreamSession> {
  signal?.throwIfAborted();
  const ws = new WebSocket(url.replace(/^http/, 'ws'), [protocol]);
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let status: ChannelStatus | undefined;

  const exit = new Promise<number>((resolve, reject) => {
    ws.on('close', () => {
      stdout.end();
      stderr.end();
      if (status === undefined) {
        reject(
          new BerthError(errorCodes.RUNTIME_FAILED, 'cri exec: the stream closed without an exit status'),
        );
        return;
      }
      const code = exitCodeOfStatus(status);
      if (code !== undefined) resolve(code);
      else reject(new BerthError(errorCodes.RUNTIME_FAILED, `cri exec: ${status.message ?? 'failed'}`));
    });
  });
  // A caller that never reads `exit` must not see an unhandled rejection.
  exit.catch(() => undefined);

  ws.on('message', (data: RawData) => {
    const buf = Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data as ArrayBuffer);
    if (buf.length === 0) return;
    const body = buf.subarray(1);
    switch (buf[0]) {
      case channel.stdout:
        if (body.length > 0) stdout.write(body);
        break;
      case channel.stderr:
        if (body.length > 0) stderr.write(body);
        break;
      case channel.error:
        try {
          status = JSON.parse(body.toString('utf8')) as ChannelStatus;
        } catch {
          status = { status: 'Failure', message: body.toString('utf8') };
        }
        break;
      default:
        break;
    }
  });

  const onAbort = (): void => {
    ws.terminate();
  };
  signal?.addEventListener('abort', onAbort, { once: true });
  ws.once('close', () => signal?.removeEventListener('abort', onAbort));

  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => {
      ws.removeAllListeners('error');
      ws.on('error', () => undefined);
      resolve();
    });
    ws.once('error', (err) => {
      reject(
        new BerthError(errorCodes.RUNTIME_FAILED, `cri exec: connect ${url}: ${err.message}`, { cause: err }),
      );
    });
    signal?.addEventListener(
      'abort',
      () => {
        const reason: unknown = signal.reason;
        ws.terminate();
        reject(
          reason instanceof Error ? reason : new DOMException('This operation was aborted', 'AbortError'),
        );
      },
      { once: true },
    );
  });

  const send = (ch: number, payload: Buffer): Promise<void> =>
    new Promise((resolve, reject) => {
      if (ws.readyState !== WebSocket.OPEN) {
        reject(new BerthError(errorCodes.RUNTIME_FAILED, 'cri exec: the stream is closed'));
        return;
      }
      ws.send(Buffer.concat([Buffer.from([ch]), payload]), { binary: true }, (err) => {
        if (err === undefined) resolve();
        else reject(err);
      });
    });

  const stdin = request.stdin
    ? new Writable({
        write(chunk: Buffer, _enc, cb) {
          send(channel.stdin, chunk).then(() => {
            cb();
          }, cb);
        },
      })
    : undefined;

  const session: ExecStreamSession = {
    stdout,
    ...(request.tty ? {} : { stderr }),
    ...(stdin === undefined ? {} : { stdin }),
    resize(size) {
      if (!request.tty) return;
      send(channel.resize, Buffer.from(JSON.stringify({ Width: size.width, Height: size.height }))).catch(
        () => undefined,
      );
    },
    exit,
  };
  return session;
}

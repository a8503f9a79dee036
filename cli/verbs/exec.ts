/**
 * `berth exec [-i] [-t] POD [-c C] -- CMD…`: kubectl's exec over WebSocket (`v5.channel.k8s.io`):
 * stdout/stderr frames to the terminal, stdin (with `-i`) as channel-0 frames and `[255, 0]` at EOF,
 * the terminal size on channel 4 (with `-t`, again on SIGWINCH), and the final channel-3 Status
 * turned into the exit code — the remote command's own code for `NonZeroExitCode`, as kubectl does
 * ("command terminated with exit code N" on stderr).
 *
 * With `-t` and a terminal on stdin the local terminal is put in raw mode while the command runs;
 * `-t` without a terminal warns and runs without one, as kubectl does ("Unable to use a TTY").
 */
import { Command } from 'commander';
import WebSocket from 'ws';
import { formatStatusError } from '../client/error-message.js';
import { statusFromResponse } from '../client/kube-client.js';
import { defaultContainer, getPodJson, rawConnection, readText, tlsOnly } from './logs.js';
import { runVerb, usageError, withClientOptions, type ClientFlags, type VerbDeps } from './verb-support.js';

/** `exec` flags. */
export interface ExecFlags extends ClientFlags {
  readonly stdin?: boolean;
  readonly tty?: boolean;
  readonly container?: string;
}

/** The process streams exec uses (tests give their own). */
export interface ExecStreams {
  readonly stdin: NodeJS.ReadableStream & { isTTY?: boolean; setRawMode?: (raw: boolean) => unknown };
  readonly stdout: NodeJS.WritableStream & { columns?: number; rows?: number };
  readonly stderr: NodeJS.WritableStream;
}

/** The `exec` command. */
export function execCommand(deps: VerbDeps): Command {
  return withClientOptions(
    new Command('exec')
      .description('run a command in a container (kubectl exec)')
      .argument('<pod>', 'pod name (or pod/NAME)')
      .argument('<command...>', 'the command and its arguments, after --')
      .option('-i, --stdin', "pass this process's stdin to the command")
      .option('-t, --tty', 'stdin is a terminal')
      .option('-c, --container <name>', 'the container (default: the only one, else the first)'),
  ).action(async (pod: string, command: string[], flags: ExecFlags) => {
    await runVerb(deps, () =>
      runExec(pod, command, flags, deps, {
        stdin: process.stdin,
        stdout: process.stdout,
        stderr: process.stderr,
      }),
    );
  });
}

/** Runs `exec`; returns the exit code (the remote command's). */
export async function runExec(
  podArg: string,
  command: readonly string[],
  flags: ExecFlags,
  deps: VerbDeps,
  streams: ExecStreams,
): Promise<number> {
  const pod = podArg.startsWith('pod/')
    ? podArg.slice(4)
    : podArg.startsWith('pods/')
      ? podArg.slice(5)
      : podArg;
  if (pod === '' || pod.includes('/')) throw usageError(`berth exec takes a pod name, not "${podArg}"`);
  if (command.length === 0) throw usageError('you must specify at least one command for the container');
  const conn = await rawConnection(flags);
  const got = await getPodJson(conn, pod);
  if (!got.ok) {
    deps.io.stderr.write(formatStatusError(got.status));
    return 1;
  }
  const phase = (got.pod['status'] as { phase?: string } | undefined)?.phase;
  if (phase === 'Succeeded' || phase === 'Failed') {
    deps.io.stderr.write(
      `error: cannot exec into a container in a completed pod; current phase is ${phase}\n`,
    );
    return 1;
  }
  let container = flags.container;
  if (container === undefined) {
    const picked = defaultContainer(got.pod);
    if (picked?.notice !== undefined) deps.io.stderr.write(picked.notice);
    container = picked?.name;
  }
  let tty = flags.tty === true;
  const stdin = flags.stdin === true;
  if (tty && (!stdin || streams.stdin.isTTY !== true)) {
    deps.io.stderr.write('Unable to use a TTY - input is not a terminal or the right kind of file\n');
    tty = false;
  }
  const q = new URLSearchParams();
  for (const word of command) q.append('command', word);
  if (container !== undefined) q.set('container', container);
  if (stdin) q.set('stdin', 'true');
  q.set('stdout', 'true');
  if (tty) q.set('tty', 'true');
  else q.set('stderr', 'true');
  const url = `${conn.server.replace(/^http/, 'ws')}/api/v1/namespaces/${encodeURIComponent(conn.namespace)}/pods/${encodeURIComponent(pod)}/exec?${q.toString()}`;

  const ws = new WebSocket(url, ['v5.channel.k8s.io'], {
    headers: { ...conn.headers },
    ...tlsOnly(conn),
    perMessageDeflate: false,
  });
  const restore: (() => void)[] = [];
  try {
    return await new Promise<number>((resolve) => {
      let status:
        | {
            status?: string;
            reason?: string;
            message?: string;
            details?: { causes?: { reason?: string; message?: string }[] };
          }
        | undefined;
      ws.on('unexpected-response', (_req, res) => {
        void readText(res).then((body) => {
          deps.io.stderr.write(
            formatStatusError(statusFromResponse(res.statusCode ?? 0, body, 'create', `pods ${pod}`)),
          );
          resolve(1);
        });
      });
      ws.on('error', (err) => {
        deps.io.stderr.write(`error: ${err.message}\n`);
        resolve(1);
      });
      ws.on('open', () => {
        if (tty) {
          streams.stdin.setRawMode?.(true);
          restore.push(() => streams.stdin.setRawMode?.(false));
          const sendSize = (): void => {
            const size = { Width: streams.stdout.columns ?? 80, Height: streams.stdout.rows ?? 24 };
            ws.send(Buffer.concat([Buffer.from([4]), Buffer.from(JSON.stringify(size))]));
          };
          sendSize();
          process.on('SIGWINCH', sendSize);
          restore.push(() => process.removeListener('SIGWINCH', sendSize));
        }
        if (stdin) {
          const onData = (chunk: Buffer | string): void => {
            const bytes = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
            ws.send(Buffer.concat([Buffer.from([0]), bytes]));
          };
          const onEnd = (): void => {
            if (ws.readyState === WebSocket.OPEN) ws.send(Buffer.from([255, 0]));
          };
          streams.stdin.on('data', onData);
          streams.stdin.once('end', onEnd);
          streams.stdin.resume();
          restore.push(() => {
            streams.stdin.removeListener('data', onData);
            streams.stdin.removeListener('end', onEnd);
            streams.stdin.pause();
          });
        }
      });
      ws.on('message', (data: Buffer) => {
        const channel = data[0];
        const payload = data.subarray(1);
        if (channel === 1) streams.stdout.write(payload);
        else if (channel === 2) streams.stderr.write(payload);
        else if (channel === 3) {
          try {
            status = JSON.parse(payload.toString('utf8')) as typeof status;
          } catch {
            status = { status: 'Failure', message: 'unreadable status from the server' };
          }
        }
      });
      ws.on('close', () => {
        if (status === undefined || status.status === 'Success') {
          resolve(0);
          return;
        }
        if (status.reason === 'NonZeroExitCode') {
          const cause = status.details?.causes?.find((c) => c.reason === 'ExitCode');
          const code = Number(cause?.message ?? '1');
          const exitCode = Number.isInteger(code) && code > 0 ? code : 1;
          deps.io.stderr.write(`command terminated with exit code ${exitCode}\n`);
          resolve(exitCode);
          return;
        }
        deps.io.stderr.write(`error: ${status.message ?? 'exec failed'}\n`);
        resolve(1);
      });
    });
  } finally {
    for (const r of restore.reverse()) r();
    ws.terminate();
  }
}

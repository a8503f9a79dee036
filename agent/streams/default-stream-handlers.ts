/**
 * The node's default `StreamHandlers`, built from its `Runtime` and pod log directory:
 *
 * - logs: finds the pod's containers of that name in the runtime (labels `io.kubernetes.pod.uid`,
 *   `io.kubernetes.container.name`), the newest attempt being the current one and the attempt
 *   before it `previous`; reads its CRI log file (`<podLogsDir>/<ns>_<name>_<uid>/<container>/
 *   <attempt>.log`, or the path the runtime reports) with log-reader.ts; following stops when that
 *   container is no longer running.
 * - exec: runs the command in the pod's running container with `Runtime.execStream` (stdin, tty,
 *   resize) when the runtime has it, else with `execSync` (output arrives when the command ends;
 *   stdin and tty are refused).
 *
 * `attach` is refused: no runtime keeps a container's stdio open to attach to yet.
 *
 * Refusals use the kubelet's wording, e.g. `container not found ("web")`,
 * `previous terminated container "web" in pod "web-0" not found`.
 */
import { access } from 'node:fs/promises';
import { join } from 'node:path';
import type { Clock } from '../../lib/clock.js';
import { runtimeLabels } from '../runtime/labels.js';
import type { Container, Runtime } from '../runtime/runtime.js';
import { readCriLog } from './log-reader.js';
import type { ExecRequest, LogRequest, StreamHandlers, TunnelIo, TunnelSink } from './stream-types.js';

export interface DefaultStreamHandlersOptions {
  /** The node's runtime; a function when it is built after the handlers (by the pod manager factory). */
  readonly runtime: Runtime | (() => Runtime | undefined);
  /** Where the pod workers put pod log directories (their `podLogsDir`). */
  readonly podLogsDir: string;
  readonly clock: Clock;
  /** How often a followed log is checked for new lines (default 250 ms). */
  readonly pollIntervalMs?: number;
}

/** The default handlers; see the module header. */
export function createStreamHandlers(opts: DefaultStreamHandlersOptions): StreamHandlers {
  const runtimeOf = (): Runtime | undefined =>
    typeof opts.runtime === 'function' ? opts.runtime() : opts.runtime;

  const containersOf = async (
    runtime: Runtime,
    podUid: string,
    name: string,
    signal: AbortSignal,
  ): Promise<Container[]> => {
    const list = await runtime.listContainers(
      { labelSelector: { [runtimeLabels.podUid]: podUid, [runtimeLabels.containerName]: name } },
      { signal },
    );
    return [...list].sort((a, b) => a.metadata.attempt - b.metadata.attempt || a.createdAt - b.createdAt);
  };

  return {
    async logs(req: LogRequest, sink: TunnelSink, signal: AbortSignal): Promise<void> {
      const runtime = runtimeOf();
      if (runtime === undefined) {
        sink.reject({ code: 500, message: 'the container runtime is not ready' });
        return;
      }
      const containers = await containersOf(runtime, req.podUid, req.container, signal);
      const podDir = join(opts.podLogsDir, `${req.namespace}_${req.podName}_${req.podUid}`, req.container);
      const current = containers.at(-1);
      let path: string | undefined;
      let follows: Container | undefined;
      if (req.previous) {
        const prev = containers.at(-2);
        if (prev !== undefined) {
          path = (await runtime.containerStatus(prev.id, { signal }))?.logPath;
        } else if (current !== undefined && current.metadata.attempt > 0) {
          const candidate = join(podDir, `${current.metadata.attempt - 1}.log`);
          if (await exists(candidate)) path = candidate;
        }
        if (path === undefined) {
          sink.reject({
            code: 400,
            message: `previous terminated container "${req.container}" in pod "${req.podName}" not found`,
          });
          return;
        }
      } else {
        if (current === undefined) {
          sink.reject({
            code: 400,
            message: `container "${req.container}" in pod "${req.podName}" is not available`,
          });
          return;
        }
        path =
          (await runtime.containerStatus(current.id, { signal }))?.logPath ??
          join(podDir, `${current.metadata.attempt}.log`);
        follows = current;
      }
      sink.accept();
      await readCriLog(
        path,
        {
          tailLines: req.tailLines,
          sinceMs:
            req.sinceTimeMs > 0
              ? req.sinceTimeMs
              : req.sinceSeconds > 0
                ? opts.clock.now() - req.sinceSeconds * 1000
                : 0,
          timestamps: req.timestamps,
          limitBytes: req.limitBytes,
          follow: req.follow && follows !== undefined,
        },
        (data) => sink.write(1, data),
        signal,
        {
          clock: opts.clock,
          ...(opts.pollIntervalMs === undefined ? {} : { pollIntervalMs: opts.pollIntervalMs }),
          stillRunning: async () => {
            if (follows === undefined) return false;
            const s = await runtime.containerStatus(follows.id);
            return s !== undefined && (s.state === 'RUNNING' || s.state === 'CREATED');
          },
        },
      );
    },

    async exec(req: ExecRequest, io: TunnelIo, signal: AbortSignal): Promise<void> {
      const runtime = runtimeOf();
      if (runtime === undefined) {
        io.reject({ code: 500, message: 'the container runtime is not ready' });
        return;
      }
      if (req.attach) {
        // Attaching needs the container's own stdio kept open by the runtime; none of ours does yet.
        io.reject({ code: 400, message: `attach is not supported by the ${runtime.name} runtime` });
        return;
      }
      const containers = await containersOf(runtime, req.podUid, req.container, signal);
      const running = containers.filter((c) => c.state === 'RUNNING').at(-1);
      if (running === undefined) {
        io.reject({ code: 400, message: `container not found ("${req.container}")` });
        return;
      }
      if (req.command.length === 0) {
        io.reject({ code: 400, message: 'you must specify at least one command for the container' });
        return;
      }
      if (runtime.execStream !== undefined) {
        const s = await runtime.execStream(
          running.id,
          { cmd: req.command, tty: req.tty, stdin: req.stdin },
          { signal },
        );
        if ('ok' in s) {
          io.reject({ code: s.reason === 'NotFound' ? 404 : 400, message: s.message });
          return;
        }
        io.accept();
        io.onResize((size) => s.resize?.(size));
        const pumps: Promise<void>[] = [pump(s.stdout, 1, io, signal)];
        if (s.stderr !== undefined) pumps.push(pump(s.stderr, req.tty ? 1 : 2, io, signal));
        if (s.stdin !== undefined) void feedStdin(io.stdin, s.stdin);
        const code = await s.exit;
        await Promise.all(pumps);
        io.exit(code);
        return;
      }
      if (req.tty || req.stdin) {
        io.reject({
          code: 400,
          message: `the ${runtime.name} runtime cannot attach stdin or a terminal to exec`,
        });
        return;
      }
      const result = await runtime.execSync(running.id, { cmd: req.command }, { signal });
      if (!result.ok) {
        io.reject({ code: 400, message: result.message });
        return;
      }
      io.accept();
      if (result.stdout.length > 0 && req.stdout) await io.write(1, result.stdout);
      if (result.stderr.length > 0 && req.stderr) await io.write(2, result.stderr);
      io.exit(result.exitCode);
    },
  };
}

async function pump(
  from: NodeJS.ReadableStream,
  channel: 1 | 2,
  io: TunnelIo,
  signal: AbortSignal,
): Promise<void> {
  try {
    for await (const chunk of from as AsyncIterable<Buffer | string>) {
      if (signal.aborted) return;
      await io.write(channel, typeof chunk === 'string' ? Buffer.from(chunk) : chunk);
    }
  } catch {
    // The process's pipe broke: its exit status says what happened.
  }
}

async function feedStdin(from: AsyncIterable<Uint8Array>, to: NodeJS.WritableStream): Promise<void> {
  try {
    for await (const chunk of from) {
      if (!to.write(chunk)) await new Promise<void>((resolve) => to.once('drain', resolve));
    }
  } catch {
    // the client went away; closing stdin below is all that is left to do
  }
  to.end();
}

async function exists(path: string): Promise<boolean> {
  try {
    await access(path);
    return true;
  } catch {
    return false;
  }
}

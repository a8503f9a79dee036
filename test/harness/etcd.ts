/**
 * A real, throw-away etcd 3.4 for tests: one member on free loopback ports, in a fresh temp dir, with
 * the fast test flags (10 ms heartbeat, 100 ms election → healthy in ~200 ms).
 *
 * Nothing may outlive the test process: `stop()` kills etcd (SIGTERM, then SIGKILL) and removes the
 * temp dir; a process `exit` hook does the same for handles a test forgot; and a tiny watchdog shell,
 * holding a pipe from us, kills etcd when that pipe closes — which also covers a test process killed by
 * a signal (the runner's timeout), where no JavaScript runs.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants, closeSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { Socket } from 'node:net';
import { delimiter, join } from 'node:path';
import { tmpdir } from 'node:os';
import { freePorts } from './ports.js';

export interface StartEtcdOptions {
  /** Member name (also the temp dir's label). Default "berth-test". */
  readonly name?: string;
  /** Use this data dir instead of a fresh one (to restart etcd on the same data); it is not removed. */
  readonly dataDir?: string;
  /** Client port to listen on (to restart on the same endpoint); default a free port. */
  readonly clientPort?: number;
  /** How long to wait for `/health`. Default 15 s (the VM is shared and can be slow). */
  readonly timeoutMs?: number;
  /** More etcd flags, e.g. `['--auto-compaction-retention', '1']`. */
  readonly extraArgs?: readonly string[];
  /** Serve clients over TLS and require client certificates signed by `caFile` (PEM file paths). */
  readonly tls?: { readonly certFile: string; readonly keyFile: string; readonly caFile: string };
}

export interface EtcdHandle {
  /** `http://127.0.0.1:PORT` (`https://` with `tls`), the client URL. */
  readonly endpoint: string;
  readonly clientPort: number;
  readonly dataDir: string;
  readonly pid: number;
  /** etcd's own log (stdout and stderr), for diagnosing failures. */
  readonly logPath: string;
  /** Kills etcd (SIGTERM, SIGKILL after 5 s) and removes the temp dir. Idempotent. */
  stop(): Promise<void>;
}

const defaultBinary = '/usr/bin/etcd';

/** The etcd binary to run: `$ETCD_BIN`, else /usr/bin/etcd, else the first `etcd` on PATH. */
export function etcdBinary(): string | undefined {
  const candidates = [
    process.env['ETCD_BIN'],
    defaultBinary,
    ...(process.env['PATH'] ?? '').split(delimiter).map((dir) => join(dir, 'etcd')),
  ];
  for (const candidate of candidates) {
    if (candidate === undefined || candidate === '' || candidate === 'etcd') continue;
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // try the next one
    }
  }
  return undefined;
}

/** Why etcd tests must be skipped here, or undefined when etcd can be started. */
export function etcdAvailable(): string | undefined {
  return etcdBinary() === undefined
    ? `etcd not found (looked at $ETCD_BIN, ${defaultBinary} and PATH; Debian package etcd-server)`
    : undefined;
}

interface Live {
  readonly child: ChildProcess;
  readonly watchdog: ChildProcess | undefined;
  readonly tempDir: string;
}

const live = new Set<Live>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // 'exit' handlers must be synchronous: signal and remove, nothing awaited.
  process.on('exit', () => {
    for (const entry of live) {
      killQuietly(entry.child, 'SIGKILL');
      killQuietly(entry.watchdog, 'SIGKILL');
      rmSync(entry.tempDir, { recursive: true, force: true });
    }
    live.clear();
  });
}

function killQuietly(child: ChildProcess | undefined, signal: NodeJS.Signals): void {
  if (child?.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  try {
    process.kill(child.pid, signal);
  } catch {
    // already gone
  }
}

/** Starts a single-member etcd and resolves once `/health` reports healthy. */
export async function startEtcd(opts: StartEtcdOptions = {}): Promise<EtcdHandle> {
  const binary = etcdBinary();
  if (binary === undefined) throw new Error(etcdAvailable());
  installExitHook();
  // A port chosen free can be taken before etcd binds it; retry with new ports in that case.
  let lastError: unknown;
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      return await startOnce(binary, opts);
    } catch (err) {
      lastError = err;
      if (!(err instanceof PortInUseError) || opts.clientPort !== undefined) throw err;
    }
  }
  throw lastError;
}

class PortInUseError extends Error {}

async function startOnce(binary: string, opts: StartEtcdOptions): Promise<EtcdHandle> {
  const name = opts.name ?? 'berth-test';
  const tempDir = mkdtempSync(join(tmpdir(), `${name}-etcd-`));
  const dataDir = opts.dataDir ?? join(tempDir, 'data');
  const logPath = join(tempDir, 'etcd.log');
  const [freeClient, peerPort, metricsPort] = await freePorts(3);
  const clientPort = opts.clientPort ?? freeClient;
  if (clientPort === undefined || peerPort === undefined || metricsPort === undefined) {
    throw new Error('startEtcd: could not allocate ports');
  }
  const endpoint = `${opts.tls === undefined ? 'http' : 'https'}://127.0.0.1:${clientPort}`;
  const peerUrl = `http://127.0.0.1:${peerPort}`;
  // The metrics listener also serves /health, over plain HTTP even when clients need TLS.
  const metricsUrl = `http://127.0.0.1:${metricsPort}`;
  const args = [
    '--name',
    name,
    '--data-dir',
    dataDir,
    '--listen-client-urls',
    endpoint,
    '--advertise-client-urls',
    endpoint,
    '--listen-peer-urls',
    peerUrl,
    '--initial-advertise-peer-urls',
    peerUrl,
    '--initial-cluster',
    `${name}=${peerUrl}`,
    '--initial-cluster-state',
    'new',
    '--listen-metrics-urls',
    metricsUrl,
    '--heartbeat-interval',
    '10',
    '--election-timeout',
    '100',
    '--logger',
    'zap',
    '--log-level',
    'warn',
    ...(opts.tls === undefined
      ? []
      : [
          '--cert-file',
          opts.tls.certFile,
          '--key-file',
          opts.tls.keyFile,
          '--trusted-ca-file',
          opts.tls.caFile,
          '--client-cert-auth',
        ]),
    ...(opts.extraArgs ?? []),
  ];

  const logFd = openSync(logPath, 'a');
  let child: ChildProcess;
  try {
    child = spawn(binary, args, { stdio: ['ignore', logFd, logFd] });
  } finally {
    closeSync(logFd);
  }
  // The test process must be able to exit even if a test forgets stop(); the exit hook then kills etcd.
  child.unref();
  let hasExited = false;
  const exited = new Promise<void>((resolve) => {
    child.once('exit', () => {
      hasExited = true;
      resolve();
    });
  });
  const spawnError = new Promise<never>((_, reject) => {
    child.once('error', reject);
  });
  spawnError.catch(() => undefined);

  const watchdog = child.pid === undefined ? undefined : startWatchdog(child.pid, tempDir);
  const entry: Live = { child, watchdog, tempDir };
  live.add(entry);

  let stopped: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopped ??= (async () => {
      killQuietly(child, 'SIGTERM');
      const killTimer = setTimeout(() => {
        killQuietly(child, 'SIGKILL');
      }, 5000);
      try {
        await exited;
      } finally {
        clearTimeout(killTimer);
      }
      killQuietly(watchdog, 'SIGKILL');
      live.delete(entry);
      rmSync(tempDir, { recursive: true, force: true });
    })();
    return stopped;
  };

  try {
    await Promise.race([
      waitHealthy(metricsUrl, opts.timeoutMs ?? 15_000, () => hasExited, logPath),
      spawnError,
    ]);
  } catch (err) {
    const log = readTail(logPath);
    await stop();
    if (/address already in use/.test(log)) throw new PortInUseError(log);
    throw new Error(
      `etcd did not become healthy: ${err instanceof Error ? err.message : String(err)}\n${log}`,
      {
        cause: err,
      },
    );
  }
  if (child.pid === undefined) throw new Error('etcd started without a pid');
  return { endpoint, clientPort, dataDir, pid: child.pid, logPath, stop };
}

/**
 * A shell that blocks reading a pipe whose only writer is this process; when we die in any way the
 * pipe closes and it kills etcd and removes the temp dir. It runs in its own process group so a
 * Ctrl-C aimed at the test run does not kill it before it has done its job.
 */
function startWatchdog(pid: number, tempDir: string): ChildProcess | undefined {
  try {
    const watchdog = spawn(
      '/bin/sh',
      [
        '-c',
        'cat >/dev/null; kill -KILL "$1" 2>/dev/null; rm -rf "$2"',
        'berth-etcd-watchdog',
        String(pid),
        tempDir,
      ],
      { stdio: ['pipe', 'ignore', 'ignore'], detached: true },
    );
    watchdog.on('error', () => undefined);
    watchdog.unref();
    // Child pipes are sockets; an un-unref'd one would keep the test process alive.
    if (watchdog.stdin instanceof Socket) watchdog.stdin.unref();
    return watchdog;
  } catch {
    return undefined;
  }
}

async function waitHealthy(
  baseUrl: string,
  timeoutMs: number,
  hasExited: () => boolean,
  logPath: string,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = 'no answer yet';
  while (Date.now() < deadline) {
    if (hasExited()) throw new Error(`etcd exited during startup (log ${logPath})`);
    try {
      const res = await fetch(`${baseUrl}/health`, { signal: AbortSignal.timeout(1000) });
      const body = await res.text();
      if (res.ok && (JSON.parse(body) as { health?: unknown }).health === 'true') return;
      last = `HTTP ${res.status}: ${body}`;
    } catch (err) {
      last = err instanceof Error ? err.message : String(err);
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${baseUrl}/health (last: ${last})`);
}

function readTail(path: string): string {
  try {
    return readFileSync(path, 'utf8').slice(-4000);
  } catch {
    return '';
  }
}

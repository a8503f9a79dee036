/**
 * Starts a real `berth server` process (from source, through tsx) on a free port with its own data
 * dir, waits until it serves, and stops it again — killing it and removing the dir even if a test
 * fails. Also finds real kubectl 1.32 and runs it with a per-test `--cache-dir`.
 */
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './ports.js';

const root = new URL('../..', import.meta.url).pathname;
const live = new Set<ChildProcess>();
process.on('exit', () => {
  for (const child of live) child.kill('SIGKILL');
});

export interface BerthServerHandle {
  readonly url: string;
  readonly port: number;
  readonly dataDir: string;
  readonly kubeconfig: string;
  readonly token: string;
  readonly caPem: string;
  /** The agent gateway's port (agents pass `--gateway 127.0.0.1:<agentPort>`). */
  readonly agentPort: number;
  /** The server process's pid (for /proc readings and signals). */
  readonly pid: number;
  /** Everything the process wrote to stdout/stderr so far. */
  output(): string;
  /** Stops the process (SIGTERM, then SIGKILL); keeps the data dir for a restart. */
  stop(): Promise<void>;
  /** Stops the process and removes the data dir. */
  destroy(): Promise<void>;
}

export interface StartOptions {
  readonly dataDir?: string;
  readonly port?: number;
  /** Agent gateway port; a free one unless given (or unless args carry --agent-listen). */
  readonly agentPort?: number;
  readonly args?: readonly string[];
  /** Arguments for node itself, before the script (`--cpu-prof`, `--max-old-space-size=…`). */
  readonly nodeArgs?: readonly string[];
  /** How long to wait for the server to serve (default 30 s). */
  readonly readyTimeoutMs?: number;
  /** Extra environment for the server process. */
  readonly env?: Readonly<Record<string, string>>;
}

export async function startBerthServer(opts: StartOptions = {}): Promise<BerthServerHandle> {
  const ownDir = opts.dataDir === undefined;
  const dataDir = opts.dataDir ?? mkdtempSync(join(tmpdir(), 'berth-server-'));
  const port = opts.port ?? (await freePort());
  // Never the default 0.0.0.0:6444: tests run side by side on a shared machine.
  const given = (opts.args ?? []).indexOf('--agent-listen');
  const agentPort =
    given >= 0
      ? Number(/:(\d+)$/.exec(opts.args?.[given + 1] ?? '')?.[1])
      : (opts.agentPort ?? (await freePort()));
  const agentArgs = given >= 0 ? [] : ['--agent-listen', `127.0.0.1:${agentPort}`];
  const child = spawn(
    process.execPath,
    [
      ...(opts.nodeArgs ?? []),
      '--import',
      'tsx',
      join(root, 'cli/main.ts'),
      'server',
      '--data-dir',
      dataDir,
      '--listen',
      `127.0.0.1:${port}`,
      ...agentArgs,
      ...(opts.args ?? []),
    ],
    {
      cwd: root,
      stdio: ['ignore', 'pipe', 'pipe'],
      // `--with-agent` runs containers for real as root; tests opt in (BERTH_LOCAL_RUNTIME=runc, with
      // their own bridge, cgroup and netns names) so that no test touches the host's default ones.
      env: { BERTH_LOCAL_RUNTIME: 'fake', ...process.env, ...opts.env },
    },
  );
  live.add(child);
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<void>((resolve) =>
    child.once('exit', () => {
      live.delete(child);
      resolve();
    }),
  );
  const stop = async (): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    const t = setTimeout(() => child.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(t);
  };
  const kubeconfig = join(dataDir, 'kubeconfig.yaml');
  const readyTimeoutMs = opts.readyTimeoutMs ?? 30_000;
  const deadline = Date.now() + readyTimeoutMs;
  for (;;) {
    if (child.exitCode !== null) {
      if (ownDir) rmSync(dataDir, { recursive: true, force: true });
      throw new Error(`berth server exited with ${child.exitCode}:\n${out}`);
    }
    if (existsSync(kubeconfig) && (await healthy(port))) break;
    if (Date.now() > deadline) {
      await stop();
      if (ownDir) rmSync(dataDir, { recursive: true, force: true });
      throw new Error(`berth server did not become ready in ${readyTimeoutMs / 1000} s:\n${out}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    url: `https://127.0.0.1:${port}`,
    port,
    dataDir,
    kubeconfig,
    token: readFileSync(join(dataDir, 'admin-token'), 'utf8').trim(),
    caPem: readFileSync(join(dataDir, 'pki', 'ca.crt'), 'utf8'),
    agentPort,
    pid: child.pid ?? 0,
    output: () => out,
    stop,
    destroy: async () => {
      await stop();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

function healthy(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const req = request(
      { host: '127.0.0.1', port, path: '/readyz', rejectUnauthorized: false, timeout: 1000 },
      (res) => {
        res.resume();
        resolve(res.statusCode === 200);
      },
    );
    req.on('error', () => {
      resolve(false);
    });
    req.on('timeout', () => {
      req.destroy();
      resolve(false);
    });
    req.end();
  });
}

/** Real kubectl 1.32, or undefined with the reason to skip. */
export function findKubectl(): { path?: string; skip?: string } {
  const pinned = '/usr/lib/google-cloud-sdk/bin/kubectl.1.32';
  if (existsSync(pinned)) return { path: pinned };
  if (existsSync('/usr/bin/kubectl')) return { path: '/usr/bin/kubectl' };
  return { skip: 'kubectl is not installed (apt package kubectl / google-cloud-cli)' };
}

export interface KubectlResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs kubectl against `server` with its own cache dir; never throws on a non-zero exit. */
export function kubectl(
  server: BerthServerHandle,
  args: readonly string[],
  opts: { input?: string; kubectlPath: string; timeoutMs?: number },
): Promise<KubectlResult> {
  return new Promise((resolve) => {
    const child = execFile(
      opts.kubectlPath,
      ['--kubeconfig', server.kubeconfig, '--cache-dir', join(server.dataDir, 'kubectl-cache'), ...args],
      { timeout: opts.timeoutMs ?? 30_000, maxBuffer: 16 * 1024 * 1024 },
      (err, stdout, stderr) => {
        const code = err === null ? 0 : typeof err.code === 'number' ? err.code : 1;
        resolve({ code, stdout, stderr });
      },
    );
    if (opts.input !== undefined) child.stdin?.end(opts.input);
    else child.stdin?.end();
  });
}

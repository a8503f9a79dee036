/**
 * Spawns real `berth agent --runtime fake` and `berth hollow` processes (from source, through tsx)
 * against a `berth server` from berth-server.ts: each with its own temp data dir, /metrics on a free
 * loopback port, and the server's gateway port — never the machine-wide defaults. Every process is
 * killed and every dir removed by `destroy()`, and killed by a process `exit` hook if a test forgot.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BerthServerHandle } from './berth-server.js';

const root = new URL('../..', import.meta.url).pathname;
const live = new Set<ChildProcess>();
process.on('exit', () => {
  for (const child of live) child.kill('SIGKILL');
});

export interface BerthProcess {
  readonly child: ChildProcess;
  readonly pid: number;
  readonly dataDir: string;
  /** Everything the process wrote to stdout/stderr so far. */
  output(): string;
  /** Resolves with the exit code (null when killed by a signal). */
  exited(): Promise<number | null>;
  /** Resolves when `pattern` appears in the output; rejects if the process exits first or on timeout. */
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<void>;
  /** Sends a signal (SIGKILL, SIGSTOP, SIGCONT …). */
  signal(sig: NodeJS.Signals): void;
  /** SIGTERM, then SIGKILL after 5 s; keeps the data dir. */
  stop(): Promise<void>;
  /** Stops the process and removes its data dir. */
  destroy(): Promise<void>;
}

export interface AgentProcessOptions {
  readonly server: BerthServerHandle;
  readonly nodeName: string;
  readonly labels?: Readonly<Record<string, string>>;
  /** Default: a fresh temp dir, removed by `destroy()`. */
  readonly dataDir?: string;
  /** Default 127.0.0.1 (what the node reports as InternalIP). */
  readonly nodeIp?: string;
  readonly extraArgs?: readonly string[];
}

/** Starts `berth agent --runtime fake` and resolves once it has joined (printed its banner). */
export async function startBerthAgent(opts: AgentProcessOptions): Promise<BerthProcess> {
  const labels = Object.entries(opts.labels ?? {})
    .map(([k, v]) => `${k}=${v}`)
    .join(',');
  const proc = spawnBerth(
    [
      'agent',
      '--server',
      opts.server.url,
      '--gateway',
      `127.0.0.1:${opts.server.agentPort}`,
      '--token-file',
      join(opts.server.dataDir, 'node-token'),
      '--node-name',
      opts.nodeName,
      '--node-ip',
      opts.nodeIp ?? '127.0.0.1',
      '--runtime',
      'fake',
      '--metrics-listen',
      '127.0.0.1:0',
      ...(labels === '' ? [] : ['--labels', labels]),
      ...(opts.extraArgs ?? []),
    ],
    opts.dataDir,
    `berth-agent-${opts.nodeName}-`,
  );
  await startedOrDestroyed(proc, new RegExp(`Berth agent ${opts.nodeName} joined`));
  return proc;
}

export interface HollowProcessOptions {
  readonly server: BerthServerHandle;
  readonly count: number;
  readonly dataDir?: string;
  /** More `berth hollow` flags (`--zones 3`, `--metrics-host 127.0.0.1`, …). */
  readonly extraArgs?: readonly string[];
  /** Extra arguments for node itself, before the script (`--cpu-prof` …). */
  readonly nodeArgs?: readonly string[];
  /** How long joining and connecting may take (default 10 min: a thousand joins are slow). */
  readonly timeoutMs?: number;
}

/** Starts `berth hollow --count N` and resolves once every agent has joined and connected. */
export async function startHollow(opts: HollowProcessOptions): Promise<BerthProcess> {
  const proc = spawnBerth(
    [
      'hollow',
      '--server',
      opts.server.url,
      '--gateway',
      `127.0.0.1:${opts.server.agentPort}`,
      '--token-file',
      join(opts.server.dataDir, 'node-token'),
      '--count',
      String(opts.count),
      ...(opts.extraArgs ?? []),
    ],
    opts.dataDir,
    'berth-hollow-',
    opts.nodeArgs,
  );
  await startedOrDestroyed(proc, /hollow agents joined in .* and connected in/, opts.timeoutMs ?? 600_000);
  return proc;
}

async function startedOrDestroyed(proc: BerthProcess, banner: RegExp, timeoutMs = 60_000): Promise<void> {
  try {
    await proc.waitFor(banner, timeoutMs);
  } catch (err) {
    await proc.destroy();
    throw err;
  }
}

function spawnBerth(
  args: readonly string[],
  dataDir: string | undefined,
  tempPrefix: string,
  nodeArgs: readonly string[] = [],
): BerthProcess {
  const ownDir = dataDir === undefined;
  const dir = dataDir ?? mkdtempSync(join(tmpdir(), tempPrefix));
  const child = spawn(
    process.execPath,
    [...nodeArgs, '--import', 'tsx', join(root, 'cli/main.ts'), ...args, '--data-dir', dir],
    { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  live.add(child);
  let out = '';
  const listeners = new Set<() => void>();
  const onOutput = (d: Buffer): void => {
    out += d.toString();
    for (const l of listeners) l();
  };
  child.stdout.on('data', onOutput);
  child.stderr.on('data', onOutput);
  let exitCode: number | null | undefined;
  const exit = new Promise<number | null>((resolve) =>
    child.once('exit', (code) => {
      live.delete(child);
      exitCode = code;
      for (const l of listeners) l();
      resolve(code);
    }),
  );
  const stop = async (): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGCONT'); // a stopped process cannot act on SIGTERM
    child.kill('SIGTERM');
    const t = setTimeout(() => child.kill('SIGKILL'), 5000);
    await exit;
    clearTimeout(t);
  };
  return {
    child,
    pid: child.pid ?? 0,
    dataDir: dir,
    output: () => out,
    exited: () => exit,
    waitFor: (pattern, timeoutMs = 60_000) =>
      new Promise<void>((resolve, reject) => {
        const check = (): void => {
          if (pattern.test(out)) {
            done();
            resolve();
          } else if (exitCode !== undefined) {
            done();
            reject(new Error(`berth ${args[0] ?? ''} exited (${exitCode}) before ${pattern}:\n${out}`));
          }
        };
        const timer = setTimeout(() => {
          done();
          reject(
            new Error(`berth ${args[0] ?? ''}: no ${pattern} within ${timeoutMs} ms:\n${out.slice(-4000)}`),
          );
        }, timeoutMs);
        const done = (): void => {
          clearTimeout(timer);
          listeners.delete(check);
        };
        listeners.add(check);
        check();
      }),
    signal: (sig) => {
      if (child.exitCode === null && child.signalCode === null) child.kill(sig);
    },
    stop,
    destroy: async () => {
      await stop();
      if (ownDir) rmSync(dir, { recursive: true, force: true });
    },
  };
}
